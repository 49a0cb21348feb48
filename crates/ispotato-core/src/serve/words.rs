//! How verdicts read in a chat, written once for every front end; each platform gives its own
//! emphasis and bar characters.

use crate::model::verdict::{confidence_bar, Label, Verdict};
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
        Label::NotPotato => format!("🚫 {} {pct:.0}% sure {bar}", (style.strong)("Not a potato.")),
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

/// One line per image, numbered when there are several; refused images say why in place.
pub fn reply_text(images: &[ImageOutcome], style: &Style) -> String {
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
