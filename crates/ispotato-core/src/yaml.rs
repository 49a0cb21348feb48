//! Finds YAML anchors and aliases before a file is deserialised. An alias repeats the node it
//! names wherever it appears, so a small file of aliases to one long text expands to gigabytes;
//! neither a fact deck nor the configuration has any use for them, so both refuse them outright.

use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_yaml;

/// The 1-based line of the first anchor (`&name`) or alias (`*name`) in `text`, if any. A
/// syntax error stops the scan (the deserialiser reports it with its own message).
pub fn first_anchor_or_alias(text: &str) -> Option<usize> {
    let mut parser = MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit();
    let mut event = MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
    // SAFETY: the parser is initialised before use and deleted once; it reads `text`, which
    // outlives it. Each event is read only after `yaml_parser_parse` filled it, only through the
    // union field its `type_` names, and deleted before the next one is parsed.
    unsafe {
        if unsafe_yaml::yaml_parser_initialize(parser.as_mut_ptr()).fail {
            return None;
        }
        let parser = parser.as_mut_ptr();
        unsafe_yaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as _);
        let mut found = None;
        loop {
            if unsafe_yaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                break;
            }
            let e = &*event.as_ptr();
            let anchored = match e.type_ {
                unsafe_yaml::YAML_ALIAS_EVENT => true,
                unsafe_yaml::YAML_SCALAR_EVENT => !e.data.scalar.anchor.is_null(),
                unsafe_yaml::YAML_SEQUENCE_START_EVENT => !e.data.sequence_start.anchor.is_null(),
                unsafe_yaml::YAML_MAPPING_START_EVENT => !e.data.mapping_start.anchor.is_null(),
                _ => false,
            };
            let end = e.type_ == unsafe_yaml::YAML_STREAM_END_EVENT;
            let line = e.start_mark.line as usize + 1;
            unsafe_yaml::yaml_event_delete(event.as_mut_ptr());
            if anchored {
                found = Some(line);
            }
            if anchored || end {
                break;
            }
        }
        unsafe_yaml::yaml_parser_delete(parser);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_aliases_are_found_and_plain_text_is_not() {
        assert_eq!(first_anchor_or_alias("- a: 1\n- b: &x 2\n- c: *x\n"), Some(2));
        assert_eq!(first_anchor_or_alias("- &f {a: 1}\n"), Some(1));
        assert_eq!(first_anchor_or_alias("x: [1]\ny: *nowhere\n"), Some(2));
        // Ampersands and asterisks inside text are just text.
        let plain = "- text: \"Fish & chips: *the* classic\"\n  other: fish &chips *x\n";
        assert_eq!(first_anchor_or_alias(plain), None);
        assert_eq!(first_anchor_or_alias("- [unclosed\n"), None);
        assert_eq!(first_anchor_or_alias(""), None);
    }
}
