//! How verdicts and failures read in Telegram.

use ispotato_core::judge::Judged;
use ispotato_core::Label;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Callback data of the feedback buttons.
pub const AGREE: &str = "fb:1";
pub const DISAGREE: &str = "fb:0";

/// A ten-step bar for a confidence in [0, 1].
pub fn bar(confidence: f32) -> String {
    ispotato_core::verdict::confidence_bar(confidence, "▰", "▱")
}

pub fn verdict_line(j: &Judged) -> String {
    let v = &j.verdict;
    let pct = v.confidence() * 100.0;
    let mut line = match v.label {
        Label::Potato => format!("🥔 Potato! {pct:.0}% sure {}", bar(v.confidence())),
        Label::NotPotato => format!("🚫 Not a potato. {pct:.0}% sure {}", bar(v.confidence())),
        Label::Unsure => format!(
            "🤔 Not sure: {:.0}% potato. Try a closer, well-lit photo of just the thing.",
            v.probability * 100.0
        ),
    };
    if v.placeholder_model {
        line += " (placeholder model)";
    }
    line
}

/// One line per image; numbered when there are several. Failures appear in place.
pub fn verdict_text(results: &[Result<Judged, String>]) -> String {
    if let [only] = results {
        return match only {
            Ok(j) => verdict_line(j),
            Err(e) => format!("Sorry, {e}."),
        };
    }
    results
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(j) => format!("{}. {}", i + 1, verdict_line(j)),
            Err(e) => format!("{}. Sorry, {e}.", i + 1),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn feedback_keyboard() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![
        InlineKeyboardButton::callback("👍 Right", AGREE),
        InlineKeyboardButton::callback("👎 Wrong", DISAGREE),
    ]])
}
