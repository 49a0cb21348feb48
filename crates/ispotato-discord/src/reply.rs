//! How verdicts read in Discord.

use ispotato_core::judge::Judged;
use ispotato_core::Label;
use serenity::all::{ButtonStyle, CreateActionRow, CreateButton, ReactionType};

pub const AGREE: &str = "ispotato:agree";
pub const DISAGREE: &str = "ispotato:disagree";
pub const THUMBS_UP: &str = "👍";
pub const THUMBS_DOWN: &str = "👎";

pub fn bar(confidence: f32) -> String {
    ispotato_core::verdict::confidence_bar(confidence, "█", "░")
}

fn line(j: &Judged) -> String {
    let v = &j.verdict;
    let pct = v.confidence() * 100.0;
    let mut s = match v.label {
        Label::Potato => format!("🥔 **Potato!** {pct:.0}% sure `{}`", bar(v.confidence())),
        Label::NotPotato => format!("🚫 **Not a potato.** {pct:.0}% sure `{}`", bar(v.confidence())),
        Label::Unsure => format!(
            "🤔 **Not sure:** {:.0}% potato. Try a closer, well-lit photo of just the thing.",
            v.probability * 100.0
        ),
    };
    if v.placeholder_model {
        s += " *(placeholder model)*";
    }
    s
}

/// One line per image (numbered when several); failed images say why in place.
pub fn verdict_text(results: &[(String, Result<Judged, String>)]) -> String {
    if let [(_, only)] = results {
        return match only {
            Ok(j) => line(j),
            Err(e) => format!("Sorry, {e}."),
        };
    }
    results
        .iter()
        .enumerate()
        .map(|(i, (name, r))| match r {
            Ok(j) => format!("{}. {name}: {}", i + 1, line(j)),
            Err(e) => format!("{}. {name}: sorry, {e}.", i + 1),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn feedback_buttons() -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(AGREE)
            .label("Right")
            .emoji(ReactionType::Unicode(THUMBS_UP.into()))
            .style(ButtonStyle::Success),
        CreateButton::new(DISAGREE)
            .label("Wrong")
            .emoji(ReactionType::Unicode(THUMBS_DOWN.into()))
            .style(ButtonStyle::Danger),
    ])]
}
