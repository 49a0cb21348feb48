//! The bot's commands, published with setMyCommands.

use teloxide::utils::command::BotCommands;

#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase", description = "I tell potatoes from everything else.")]
pub enum Command {
    #[command(description = "what I do")]
    Start,
    #[command(description = "how to use me")]
    Help,
    #[command(description = "judge the image you reply to")]
    IsPotato,
    #[command(description = "a potato fact (optionally: a topic)")]
    PotatoFact(String),
    #[command(description = "how I'm doing, from your votes")]
    PotatoStats,
}

pub const HELP: &str = "Send me a photo and I'll tell you whether it shows a potato, and how sure I am. \
Image files, stickers and image links work too. In groups, mention me in the caption or reply /ispotato to an image.\n\n\
Vote 👍 or 👎 on my answers to help me learn.\n\
/potatofact [topic] — a potato fact\n/potatostats — how I'm doing";
