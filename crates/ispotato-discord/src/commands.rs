//! The application commands the bot registers.

use ispotato_core::trivia::TOPICS;
use serenity::all::{CommandOptionType, CommandType, CreateCommand, CreateCommandOption};

pub const IS_POTATO: &str = "ispotato";
pub const CONTEXT_MENU: &str = "Is it a potato?";
pub const FACT: &str = "potatofact";
pub const STATS: &str = "potatostats";
pub const HELP: &str = "help";

pub fn all() -> Vec<CreateCommand> {
    vec![
        CreateCommand::new(IS_POTATO)
            .description("Is this a potato? Attach an image or give a link.")
            .add_option(CreateCommandOption::new(
                CommandOptionType::Attachment,
                "image",
                "the image to judge",
            ))
            .add_option(CreateCommandOption::new(
                CommandOptionType::String,
                "url",
                "a link to an image",
            )),
        CreateCommand::new(CONTEXT_MENU).kind(CommandType::Message),
        CreateCommand::new(FACT).description("A potato fact").add_option(
            CreateCommandOption::new(CommandOptionType::String, "topic", "only facts on this topic")
                .set_autocomplete(true),
        ),
        CreateCommand::new(STATS).description("How I'm doing, from your votes"),
        CreateCommand::new(HELP).description("What I do and how to use me"),
    ]
}

pub const HELP_TEXT: &str = "I tell potatoes from everything else. Use `/ispotato` with an image or a link, \
or right-click a message → Apps → **Is it a potato?**. Vote 👍/👎 (or press Right/Wrong) on my answers to help me learn. \
`/potatofact [topic]` for a fact, `/potatostats` for how I'm doing.";

/// Topics matching what the user typed so far (at most 25, Discord's limit).
pub fn topic_choices(typed: &str) -> Vec<&'static str> {
    let typed = typed.trim().to_lowercase();
    TOPICS
        .iter()
        .copied()
        .filter(|t| t.starts_with(&typed) || t.contains(&typed))
        .take(25)
        .collect()
}
