//! How answers read and travel in Discord: verdict text and vote buttons, command responses,
//! and the one error path that turns a refusal into the user's message, the metric and the
//! log line.

use ispotato_core::prelude::{Fact, ImageOutcome, Refusal};
use ispotato_core::serve::words::{self, Style};
use serenity::all::{
    ButtonStyle, CommandInteraction, Context, CreateActionRow, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, ReactionType,
};

use crate::retry::with_retries;
use crate::state::{Handler, PLATFORM};

pub const AGREE: &str = "ispotato:agree";
pub const DISAGREE: &str = "ispotato:disagree";
pub const WHY: &str = "ispotato:why";
pub const THUMBS_UP: &str = "👍";
pub const THUMBS_DOWN: &str = "👎";

const STYLE: Style = Style {
    strong: |s| format!("**{s}**"),
    bar: ("█", "░"),
    bar_wrap: |b| format!("`{b}`"),
    names: true,
    link: |title, url| format!("-# Source: [{title}](<{url}>)"),
};

pub fn verdict_text(images: &[ImageOutcome]) -> String {
    words::reply_text(images, &STYLE)
}

pub fn fact_text(fact: &Fact) -> String {
    words::fact_text(fact, STYLE.link)
}

/// Right / Wrong, and Why? when the verdicts have an evidence map to show.
pub fn feedback_buttons(why: bool) -> Vec<CreateActionRow> {
    let mut buttons = vec![
        CreateButton::new(AGREE)
            .label("Right")
            .emoji(ReactionType::Unicode(THUMBS_UP.into()))
            .style(ButtonStyle::Success),
        CreateButton::new(DISAGREE)
            .label("Wrong")
            .emoji(ReactionType::Unicode(THUMBS_DOWN.into()))
            .style(ButtonStyle::Danger),
    ];
    if why {
        buttons.push(
            CreateButton::new(WHY)
                .label("Why?")
                .emoji(ReactionType::Unicode("🔍".into()))
                .style(ButtonStyle::Secondary),
        );
    }
    vec![CreateActionRow::Buttons(buttons)]
}

/// Answers a command with a message.
pub async fn respond(h: &Handler, ctx: &Context, cmd: &CommandInteraction, text: String, ephemeral: bool) {
    let msg = CreateInteractionResponseMessage::new()
        .content(text)
        .ephemeral(ephemeral);
    if let Err(e) = with_retries("respond", || {
        cmd.create_response(&ctx.http, CreateInteractionResponse::Message(msg.clone()))
    })
    .await
    {
        tracing::error!(error = %h.scrub(&e), "could not answer a command");
    }
}

/// The one error path of every command: counted and logged once (by the core), then a short
/// ephemeral message. After a deferral the public placeholder is replaced by an ephemeral
/// follow-up.
pub async fn refuse(h: &Handler, ctx: &Context, cmd: &CommandInteraction, deferred: bool, refusal: &Refusal) {
    h.services.report(PLATFORM, &cmd.data.name, refusal);
    let text = refusal.sorry();
    let sent = if deferred {
        let _ = cmd.delete_response(&ctx.http).await;
        let follow = CreateInteractionResponseFollowup::new().content(text).ephemeral(true);
        with_retries("followup", || cmd.create_followup(&ctx.http, follow.clone()))
            .await
            .map(|_| ())
    } else {
        let msg = CreateInteractionResponseMessage::new().content(text).ephemeral(true);
        with_retries("respond", || {
            cmd.create_response(&ctx.http, CreateInteractionResponse::Message(msg.clone()))
        })
        .await
    };
    if let Err(e) = sent {
        tracing::error!(error = %h.scrub(&e), "could not tell the user about a failure");
    }
}
