//! The bot's commands, published with setMyCommands, and one async function per command. Each
//! returns `Err(Refusal)` for the one error path in [`crate::dispatch`] to answer.

use ispotato_core::prelude::Refusal;
use teloxide::prelude::*;
use teloxide::utils::command::BotCommands;

use crate::media::{self, Extracted};
use crate::state::{Context, TgBot, PLATFORM};
use crate::{dispatch, reply};

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

type CommandResult = Result<(), Refusal>;

/// `/start` and `/help`.
pub async fn help(bot: &TgBot, ctx: &Context, msg: &Message) -> CommandResult {
    reply::send(bot, ctx, msg, HELP.to_string(), None).await;
    Ok(())
}

/// `/ispotato`, replying to an image (or, in a private chat, as the image's caption).
pub async fn is_potato(bot: &TgBot, ctx: &Context, msg: &Message) -> CommandResult {
    if let Some(target) = msg.reply_to_message() {
        return dispatch::judge_messages(bot, ctx, msg, std::slice::from_ref(target)).await;
    }
    let carries_image = !matches!(media::extract(msg, ctx.max_bytes()), Extracted::Nothing);
    if msg.chat.is_private() && carries_image {
        return dispatch::judge_messages(bot, ctx, msg, std::slice::from_ref(msg)).await;
    }
    reply::send(
        bot,
        ctx,
        msg,
        "Reply /ispotato to a photo and I'll judge it.".into(),
        None,
    )
    .await;
    Ok(())
}

/// `/potatofact [topic]`.
pub async fn potato_fact(bot: &TgBot, ctx: &Context, msg: &Message, topic: &str) -> CommandResult {
    let fact = ctx
        .services
        .fact(PLATFORM, &msg.chat.id.0.to_string(), Some(topic))
        .await?;
    reply::send(bot, ctx, msg, reply::fact_text(&fact), None).await;
    Ok(())
}

/// `/potatostats`.
pub async fn potato_stats(bot: &TgBot, ctx: &Context, msg: &Message) -> CommandResult {
    let text = ctx.services.stats_text().await?;
    reply::send(bot, ctx, msg, text, None).await;
    Ok(())
}
