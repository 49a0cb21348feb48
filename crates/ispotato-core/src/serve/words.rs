//! How verdicts read in a chat, written once for every front end; each platform gives its own
//! emphasis and bar characters.

use crate::model::verdict::{confidence_bar, Kind, Label, Verdict};
use crate::serve::judge::Judged;
use crate::serve::ImageOutcome;
use crate::trivia::Fact;

/// A platform's way of writing a reply.
pub struct Style {
    /// Wraps the headline ("**Potato!**" on Discord).
    pub strong: fn(&str) -> String,
    /// Filled and empty cells of the confidence bar.
    pub bar: (&'static str, &'static str),
    /// Wraps the bar (in backticks on Discord).
    pub bar_wrap: fn(String) -> String,
    /// Whether several images are listed with their names ("2. b.jpg: ...").
    pub names: bool,
    /// A fact's source as a link (title, URL).
    pub link: fn(&str, &str) -> String,
}

/// What to try next when the model could not decide (`None` when it did).
pub fn hint(v: &Verdict) -> Option<&'static str> {
    match v.label {
        _ if v.blank => Some("That image looks blank: send a photo of the thing itself."),
        Label::Unsure => Some("Try a closer, well-lit photo of just the thing."),
        Label::Potato | Label::NotPotato => None,
    }
}

/// One image's verdict line.
pub fn verdict_line(j: &Judged, style: &Style) -> String {
    let v = &j.verdict;
    let pct = v.confidence() * 100.0;
    let bar = (style.bar_wrap)(confidence_bar(v.confidence(), style.bar.0, style.bar.1));
    let mut line = match v.label {
        _ if v.blank => format!(
            "🤔 {} there's nothing in it for me to judge. Send a photo of the thing itself.",
            (style.strong)("That image looks blank:")
        ),
        Label::Potato => format!("🥔 {} {pct:.0}% sure {bar}", (style.strong)("Potato!")),
        Label::NotPotato => match v.named_kind() {
            Some(Kind::SweetPotato) => format!(
                "🍠 {} sweet potatoes are morning glories. {pct:.0}% sure {bar}",
                (style.strong)("That's a sweet potato, not a potato:")
            ),
            Some(Kind::PotatoDish) => format!(
                "🍟 {} the potato is in there, but it's been cooked. {pct:.0}% sure {bar}",
                (style.strong)("That's a potato dish:")
            ),
            _ => format!("🚫 {} {pct:.0}% sure {bar}", (style.strong)("Not a potato.")),
        },
        Label::Unsure => format!(
            "🤔 {} {:.0}% potato. Try a closer, well-lit photo of just the thing.",
            (style.strong)("Not sure:"),
            v.probability * 100.0
        ),
    };
    if v.placeholder_model {
        line += " (placeholder model)";
    }
    line
}

/// One line per image, numbered when there are several; refused images say why in place. A
/// reply that names a sweet potato or a potato dish ends with a fact about it (the first one).
pub fn reply_text(images: &[ImageOutcome], style: &Style) -> String {
    let mut text = verdict_lines(images, style);
    if let Some(fact) = images.iter().find_map(|i| i.fact.as_ref()) {
        text += "\n\n";
        text += &fact_text(fact, style.link);
    }
    text
}

fn verdict_lines(images: &[ImageOutcome], style: &Style) -> String {
    if let [only] = images {
        return match &only.result {
            Ok(j) => verdict_line(j, style),
            Err(r) => r.sorry(),
        };
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let name = if style.names {
                format!("{}: ", image.name)
            } else {
                String::new()
            };
            match &image.result {
                Ok(j) => format!("{}. {name}{}", i + 1, verdict_line(j, style)),
                Err(r) if style.names => format!("{}. {name}sorry, {}.", i + 1, r.message()),
                Err(r) => format!("{}. {}", i + 1, r.sorry()),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fact with its source, `link` formatting the source for the platform.
pub fn fact_text(fact: &Fact, link: fn(&str, &str) -> String) -> String {
    format!("🥔 {}\n{}", fact.text, link(&fact.source.title, &fact.source.url))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::verdict::{KindScores, Timings};
    use crate::trivia::Source;

    const PLAIN: Style = Style {
        strong: |s| s.to_string(),
        bar: ("#", "."),
        bar_wrap: |b| b,
        names: false,
        link: |title, url| format!("({title}: {url})"),
    };

    fn judged(label: Label, probability: f32, kinds: Option<[f32; 4]>) -> Judged {
        Judged {
            verdict: Verdict {
                label,
                probability,
                model_version: "t".into(),
                placeholder_model: false,
                blank: false,
                kinds: kinds.map(KindScores::from_logits),
                timings: Timings::default(),
            },
            sha256: "00".repeat(32),
            bytes: Arc::new(Vec::new()),
            view: Arc::new(image::RgbImage::new(1, 1)),
            evidence: None,
        }
    }

    fn outcome(judged: Judged, fact: Option<Fact>) -> ImageOutcome {
        ImageOutcome {
            name: "a.jpg".into(),
            result: Ok(judged),
            fact,
        }
    }

    fn fact(about: &str) -> Fact {
        Fact {
            id: "f".into(),
            topic: "botany".into(),
            text: "Sweet potatoes are morning glories.".into(),
            source: Source {
                title: "Sweet potato".into(),
                url: "https://en.wikipedia.org/wiki/Sweet_potato".into(),
            },
            about: vec![about.into()],
        }
    }

    #[test]
    fn a_sweet_potato_is_named_with_a_fact_about_it() {
        let sweet = judged(Label::NotPotato, 0.03, Some([0.0, 5.0, 0.0, 0.0]));
        let text = reply_text(&[outcome(sweet, Some(fact("sweet_potato")))], &PLAIN);
        assert!(
            text.starts_with("🍠 That's a sweet potato, not a potato: sweet potatoes are morning glories. 97% sure"),
            "{text}"
        );
        assert!(
            text.ends_with("\n\n🥔 Sweet potatoes are morning glories.\n(Sweet potato: https://en.wikipedia.org/wiki/Sweet_potato)"),
            "{text}"
        );
    }

    #[test]
    fn a_potato_dish_is_named_and_a_plain_not_potato_is_not() {
        let dish = judged(Label::NotPotato, 0.1, Some([0.0, 0.0, 5.0, 0.0]));
        let text = reply_text(&[outcome(dish, None)], &PLAIN);
        assert!(
            text.starts_with("🍟 That's a potato dish: the potato is in there, but it's been cooked. 90% sure"),
            "{text}"
        );
        let other = judged(Label::NotPotato, 0.1, Some([0.0, 0.0, 0.0, 5.0]));
        assert!(reply_text(&[outcome(other, None)], &PLAIN).starts_with("🚫 Not a potato. 90% sure"));
        // The binary verdict decides: a potato stays a potato whatever the four-way head says.
        let potato = judged(Label::Potato, 0.9, Some([0.0, 5.0, 0.0, 0.0]));
        assert!(reply_text(&[outcome(potato, None)], &PLAIN).starts_with("🥔 Potato! 90% sure"));
    }

    #[test]
    fn several_images_get_one_fact_at_the_end() {
        let sweet = judged(Label::NotPotato, 0.03, Some([0.0, 5.0, 0.0, 0.0]));
        let potato = judged(Label::Potato, 0.9, None);
        let text = reply_text(
            &[outcome(potato, None), outcome(sweet, Some(fact("sweet_potato")))],
            &PLAIN,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("1. 🥔 Potato!"), "{text}");
        assert!(lines[1].starts_with("2. 🍠 That's a sweet potato"), "{text}");
        assert_eq!(lines[2], "");
        assert_eq!(
            text.matches("Sweet potatoes are morning glories.\n").count(),
            1,
            "{text}"
        );
    }
}
