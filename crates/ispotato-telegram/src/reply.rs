//! How answers read and travel in Telegram: verdict text and vote buttons, one send path
//! (group pacing, bounded retries, token-free logs), and the one error path that turns a
//! refusal into the user's message, the metric and the log line.

use ispotato_core::prelude::{Fact, ImageOutcome, Refusal};
use ispotato_core::serve::words::{self, Style};
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters};

use crate::retry::with_retries;
use crate::state::{Context, TgBot, PLATFORM};

/// Callback data of the feedback buttons.
pub const AGREE: &str = "fb:1";
pub const DISAGREE: &str = "fb:0";
/// Callback data of the "Why?" button.
pub const WHY: &str = "why";

const STYLE: Style = Style {
    strong: |s| s.to_string(),
    bar: ("▰", "▱"),
    bar_wrap: |b| b,
    names: false,
    link: |title, url| format!("\nSource: {title} — {url}"),
};

pub fn verdict_text(images: &[ImageOutcome]) -> String {
    words::reply_text(images, &STYLE)
}

pub fn fact_text(fact: &Fact) -> String {
    words::fact_text(fact, STYLE.link)
}

/// 👍 Right / 👎 Wrong, and 🔍 Why? when the verdicts have an evidence map to show.
pub fn feedback_keyboard(why: bool) -> InlineKeyboardMarkup {
    let mut row = vec![
        InlineKeyboardButton::callback("👍 Right", AGREE),
        InlineKeyboardButton::callback("👎 Wrong", DISAGREE),
    ];
    if why {
        row.push(InlineKeyboardButton::callback("🔍 Why?", WHY));
    }
    InlineKeyboardMarkup::new(vec![row])
}

/// Replies to `msg` (paced in groups, retried on transient failures); logs a failure.
pub async fn send(
    bot: &TgBot,
    ctx: &Context,
    msg: &Message,
    text: String,
    keyboard: Option<InlineKeyboardMarkup>,
) -> Option<Message> {
    ctx.groups.wait_turn(&msg.chat).await;
    let chat = msg.chat.id;
    let reply_to = ReplyParameters::new(msg.id).allow_sending_without_reply();
    let sent = with_retries("sendMessage", || {
        let req = bot.send_message(chat, text.clone()).reply_parameters(reply_to.clone());
        match &keyboard {
            Some(k) => req.reply_markup(k.clone()).send(),
            None => req.send(),
        }
    })
    .await;
    match sent {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(chat = chat.0, error = %ctx.scrub(&e), "could not send a reply");
            None
        }
    }
}

/// The one error path: counted and logged once (by the core), then "Sorry, ..." to the user.
pub async fn refuse(bot: &TgBot, ctx: &Context, msg: &Message, what: &str, refusal: &Refusal) {
    ctx.services.report(PLATFORM, what, refusal);
    send(bot, ctx, msg, refusal.sorry(), None).await;
}
