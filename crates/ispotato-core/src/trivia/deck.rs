//! Loading and validating the trivia deck (`trivia/*.yaml`). Every problem is reported with its
//! file and line, all at once, so a contributor fixes a file in one pass.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::near_duplicates::near_duplicates;
use crate::yaml::first_anchor_or_alias;

/// Topics a fact may have. Users pick from these with `/potatofact TOPIC`.
pub const TOPICS: &[&str] = &[
    "history",
    "botany",
    "nutrition",
    "cooking",
    "agriculture",
    "culture",
    "science",
    "records",
    "language",
    "varieties",
];

/// Answers a fact may be `about`: a reply that names one of them adds a fact about it.
pub const ANSWERS: &[&str] = &["sweet_potato", "potato_dish"];

/// Longest fact text, in characters (a tweet).
pub const MAX_TEXT_CHARS: usize = 280;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fact {
    pub id: String,
    pub topic: String,
    pub text: String,
    pub source: Source,
    /// The answers this fact goes with (`sweet_potato`, `potato_dish`), for the reply that
    /// names one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub about: Vec<String>,
}

/// A validated set of facts, in file order.
#[derive(Debug, Clone, Default)]
pub struct Deck {
    facts: Vec<Fact>,
    by_id: HashMap<String, usize>,
}

impl Deck {
    pub fn len(&self) -> usize {
        self.facts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }
    pub fn get(&self, id: &str) -> Option<&Fact> {
        self.by_id.get(id).map(|&i| &self.facts[i])
    }
    /// Ids of the facts in `topic` (all facts for `None`), in file order.
    pub fn ids(&self, topic: Option<&str>) -> Vec<&str> {
        self.facts
            .iter()
            .filter(|f| topic.is_none_or(|t| f.topic == t))
            .map(|f| f.id.as_str())
            .collect()
    }
    /// Ids of the facts about `answer` (one of [`ANSWERS`]), in file order.
    pub fn ids_about(&self, answer: &str) -> Vec<&str> {
        self.facts
            .iter()
            .filter(|f| f.about.iter().any(|a| a == answer))
            .map(|f| f.id.as_str())
            .collect()
    }
    /// Topics that have at least one fact, with their counts.
    pub fn topics(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for f in &self.facts {
            *out.entry(f.topic.as_str()).or_insert(0) += 1;
        }
        out
    }
}

/// One problem in a deck file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for DeckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Everything wrong with a deck.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} problem(s) in the trivia deck:\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct DeckErrors(pub Vec<DeckProblem>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFact {
    id: Option<String>,
    topic: Option<String>,
    text: Option<String>,
    source: Option<RawSource>,
    about: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    title: Option<String>,
    url: Option<String>,
}

/// Line numbers (1-based) of the top-level list entries (`- ...` at column 0).
fn entry_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("- ") || *l == "-")
        .map(|(i, _)| i + 1)
        .collect()
}

/// Parses one file's text. Problems are appended to `problems`; valid facts are returned.
fn parse_file(text: &str, file: &Path, problems: &mut Vec<DeckProblem>) -> Vec<(Fact, usize)> {
    let problem = |line: usize, message: String| DeckProblem {
        file: file.to_path_buf(),
        line,
        message,
    };
    if let Some(line) = first_anchor_or_alias(text) {
        problems.push(problem(
            line,
            "YAML anchors and aliases (&name, *name) aren't allowed in a deck; write each fact out".into(),
        ));
        return Vec::new();
    }
    let raw: Vec<RawFact> = match serde_yaml::from_str::<Option<Vec<RawFact>>>(text) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => {
            let line = e.location().map(|l| l.line()).unwrap_or(1);
            problems.push(problem(line, format!("not a valid fact list: {e}")));
            return Vec::new();
        }
    };
    let lines = entry_lines(text);
    let mut out = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        let mut bad = |m: String| problems.push(problem(line, m));
        let id = r.id.unwrap_or_default().trim().to_string();
        let label = if id.is_empty() {
            format!("entry {}", i + 1)
        } else {
            format!("fact '{id}'")
        };
        if id.is_empty() {
            bad(format!("{label}: missing id"));
        } else if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bad(format!("{label}: id must be lowercase letters, digits and dashes"));
        }
        let topic = r.topic.unwrap_or_default().trim().to_string();
        if !TOPICS.contains(&topic.as_str()) {
            bad(format!("{label}: topic '{topic}' is not one of {}", TOPICS.join(", ")));
        }
        let text = r.text.unwrap_or_default().trim().to_string();
        let chars = text.chars().count();
        if text.is_empty() {
            bad(format!("{label}: missing text"));
        } else if chars > MAX_TEXT_CHARS {
            bad(format!(
                "{label}: text is {chars} characters; the limit is {MAX_TEXT_CHARS}"
            ));
        } else if sentence_count(&text) > 2 {
            bad(format!("{label}: text should be one or two sentences"));
        }
        let about = r.about.unwrap_or_default();
        for answer in &about {
            if !ANSWERS.contains(&answer.as_str()) {
                bad(format!(
                    "{label}: about '{answer}' is not one of {}",
                    ANSWERS.join(", ")
                ));
            }
        }
        let (title, url) = match r.source {
            Some(s) => (
                s.title.unwrap_or_default().trim().to_string(),
                s.url.unwrap_or_default().trim().to_string(),
            ),
            None => (String::new(), String::new()),
        };
        if title.is_empty() {
            bad(format!("{label}: source needs a title"));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(' ') {
            bad(format!("{label}: source needs an http(s) URL"));
        }
        out.push((
            Fact {
                id,
                topic,
                text,
                source: Source { title, url },
                about,
            },
            line,
        ));
    }
    out
}

/// Counts sentence ends ('. ', '! ', '? ' and the final one), ignoring common abbreviations.
fn sentence_count(text: &str) -> usize {
    let cleaned = ["Mr.", "Mrs.", "Dr.", "St.", "e.g.", "i.e.", "U.S.", "vs.", "approx."]
        .iter()
        .fold(text.to_string(), |t, abbr| t.replace(abbr, "X"));
    let mut count = 0;
    let chars: Vec<char> = cleaned.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '.' | '!' | '?') {
            let next = chars.get(i + 1);
            let ends = match next {
                None => true,
                Some(n) => n.is_whitespace() && chars.get(i + 2).is_none_or(|c| c.is_uppercase() || *c == '\''),
            };
            if ends {
                count += 1;
            }
        }
    }
    count.max(1)
}

/// Two facts sharing this much of their vocabulary are near-duplicates.
pub const NEAR_DUPLICATE_SIMILARITY: f64 = 0.6;

/// Builds a deck from several files' texts, checking everything across files too (unique ids,
/// near-duplicate texts).
pub fn parse_deck(files: &[(PathBuf, String)]) -> Result<Deck, DeckErrors> {
    let mut problems = Vec::new();
    let mut facts: Vec<(Fact, PathBuf, usize)> = Vec::new();
    for (path, text) in files {
        for (fact, line) in parse_file(text, path, &mut problems) {
            facts.push((fact, path.clone(), line));
        }
    }
    let mut seen: HashMap<&str, (&Path, usize)> = HashMap::new();
    for (fact, path, line) in &facts {
        if fact.id.is_empty() {
            continue;
        }
        if let Some((first_path, first_line)) = seen.get(fact.id.as_str()) {
            problems.push(DeckProblem {
                file: path.clone(),
                line: *line,
                message: format!(
                    "fact '{}': duplicate id (first at {}:{})",
                    fact.id,
                    first_path.display(),
                    first_line
                ),
            });
        } else {
            seen.insert(&fact.id, (path, *line));
        }
    }
    let texts: Vec<&str> = facts.iter().map(|(f, _, _)| f.text.as_str()).collect();
    for d in near_duplicates(&texts, NEAR_DUPLICATE_SIMILARITY) {
        let (fact, path, line) = &facts[d.later];
        problems.push(DeckProblem {
            file: path.clone(),
            line: *line,
            message: format!(
                "fact '{}' nearly repeats '{}' ({:.0}% of words shared)",
                fact.id,
                facts[d.earlier].0.id,
                d.similarity * 100.0
            ),
        });
    }
    if facts.is_empty() && problems.is_empty() {
        problems.push(DeckProblem {
            file: files.first().map(|(p, _)| p.clone()).unwrap_or_default(),
            line: 1,
            message: "the deck has no facts".into(),
        });
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        return Err(DeckErrors(problems));
    }
    let facts: Vec<Fact> = facts.into_iter().map(|(f, _, _)| f).collect();
    let by_id = facts.iter().enumerate().map(|(i, f)| (f.id.clone(), i)).collect();
    Ok(Deck { facts, by_id })
}

/// The YAML files a deck path names: the file itself, or every `*.yaml`/`*.yml` in a folder
/// (sorted).
pub fn deck_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Reads and validates the deck at `path` (a file or a folder of YAML files).
pub fn load_deck(path: &Path) -> Result<Deck, DeckErrors> {
    let io_problem = |file: &Path, e: std::io::Error| {
        DeckErrors(vec![DeckProblem {
            file: file.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        }])
    };
    let files = deck_files(path).map_err(|e| io_problem(path, e))?;
    let mut texts = Vec::with_capacity(files.len());
    for file in files {
        let text = crate::local_file::read_text_capped(&file, crate::local_file::MAX_DECK_FILE_BYTES)
            .map_err(|e| io_problem(&file, e))?;
        texts.push((file, text));
    }
    if texts.is_empty() {
        return Err(DeckErrors(vec![DeckProblem {
            file: path.to_path_buf(),
            line: 0,
            message: "no .yaml files here".into(),
        }]));
    }
    parse_deck(&texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Deck, DeckErrors> {
        parse_deck(&[(PathBuf::from("t.yaml"), text.to_string())])
    }

    const GOOD: &str = r#"
- id: one
  topic: history
  text: "Potatoes come from the Andes."
  source: {title: "Potato", url: "https://en.wikipedia.org/wiki/Potato"}
- id: two
  topic: botany
  text: "Sweet potatoes are not potatoes. They are morning glories."
  source: {title: "Sweet potato", url: "https://en.wikipedia.org/wiki/Sweet_potato"}
"#;

    #[test]
    fn a_good_deck_loads() {
        let deck = parse(GOOD).unwrap();
        assert_eq!(deck.len(), 2);
        assert_eq!(deck.get("two").unwrap().topic, "botany");
        assert_eq!(deck.ids(Some("history")), vec!["one"]);
        assert_eq!(deck.topics().len(), 2);
    }

    #[test]
    fn facts_about_an_answer_are_found_and_unknown_answers_refused() {
        let text = GOOD.replace("  topic: botany\n", "  topic: botany\n  about: [sweet_potato]\n");
        let deck = parse(&text).unwrap();
        assert_eq!(deck.ids_about("sweet_potato"), vec!["two"]);
        assert!(deck.ids_about("potato_dish").is_empty());
        assert!(deck.get("one").unwrap().about.is_empty());

        let bad = GOOD.replace("  topic: botany\n", "  topic: botany\n  about: [yam]\n");
        let errs = parse(&bad).unwrap_err().0;
        assert!(
            errs.iter().any(|p| p
                .message
                .contains("about 'yam' is not one of sweet_potato, potato_dish")),
            "{errs:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = format!(
            "{GOOD}- id: one\n  topic: gossip\n  text: \"{}\"\n  source: {{title: \"\", url: \"ftp://x\"}}\n- topic: history\n  text: \"\"\n",
            "x".repeat(281)
        );
        let errs = parse(&text).unwrap_err().0;
        let msgs: Vec<String> = errs.iter().map(|p| format!("{}: {}", p.line, p.message)).collect();
        let joined = msgs.join("\n");
        assert!(
            joined.contains("10: fact 'one': topic 'gossip' is not one of"),
            "{joined}"
        );
        assert!(
            joined.contains("10: fact 'one': text is 281 characters; the limit is 280"),
            "{joined}"
        );
        assert!(joined.contains("10: fact 'one': source needs a title"), "{joined}");
        assert!(
            joined.contains("10: fact 'one': source needs an http(s) URL"),
            "{joined}"
        );
        assert!(
            joined.contains("10: fact 'one': duplicate id (first at t.yaml:2)"),
            "{joined}"
        );
        assert!(joined.contains("14: entry 4: missing id"), "{joined}");
        assert!(joined.contains("14: entry 4: missing text"), "{joined}");
    }

    #[test]
    fn syntax_errors_and_unknown_fields_are_located() {
        let errs = parse("- id: a\n  topic: history\n  colour: blue\n").unwrap_err().0;
        assert!(errs[0].message.contains("colour"), "{:?}", errs);
        let errs = parse("- id: [unclosed\n").unwrap_err().0;
        assert_eq!(errs[0].line, 1);
    }

    #[test]
    fn near_duplicates_and_long_texts_are_refused() {
        let dup = r#"
- id: a
  topic: history
  text: "Potatoes were domesticated in the Andes of southern Peru thousands of years ago."
  source: {title: "P", url: "https://example.org/p"}
- id: b
  topic: history
  text: "Potatoes were domesticated in the Andes of southern Peru many thousands of years ago."
  source: {title: "P", url: "https://example.org/p"}
- id: c
  topic: history
  text: "One. Two. Three sentences are too many."
  source: {title: "P", url: "https://example.org/p"}
"#;
        let errs = parse(dup).unwrap_err().0;
        assert!(
            errs.iter().any(|p| p.message.contains("'b' nearly repeats 'a'")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|p| p.message.contains("one or two sentences")),
            "{errs:?}"
        );
    }

    #[test]
    fn anchors_and_aliases_are_refused_before_they_expand() {
        // 20,000 aliases to one long text would expand to gigabytes.
        let mut bomb = String::from(
            "- id: a\n  topic: history\n  text: &t \"Potatoes were domesticated in the Andes.\"\n  source: {title: P, url: https://example.org/p}\n",
        );
        for i in 0..20_000 {
            bomb.push_str(&format!(
                "- {{id: b{i}, topic: history, text: *t, source: {{title: P, url: https://example.org/p}}}}\n"
            ));
        }
        let started = std::time::Instant::now();
        let errs = parse(&bomb).unwrap_err().0;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 3);
        assert!(errs[0].message.contains("anchors and aliases"), "{errs:?}");
    }

    #[test]
    fn sentences_are_counted_sensibly() {
        assert_eq!(sentence_count("Mr. Potato Head was first sold in 1952."), 1);
        assert_eq!(sentence_count("One thing. Another thing."), 2);
        assert_eq!(sentence_count("It grows 4.5 tonnes per hectare."), 1);
    }

    #[test]
    fn the_shipped_deck_is_valid_and_big_enough() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../trivia");
        let deck = load_deck(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(deck.len() >= 150, "only {} facts", deck.len());
        assert!(deck.topics().len() >= 8);
    }
}
