//! The application commands the bot registers, and one async function per command. Each
//! returns `Err(Refusal)` for the one error path in [`crate::dispatch`] to answer.

use ispotato_core::prelude::{Judgement, NamedImage, Refusal, ReplyPlace, TOPICS};
use serenity::all::{
    CommandDataOptionValue, CommandInteraction, CommandOptionType, CommandType, Context, CreateCommand,
    CreateCommandOption, EditInteractionResponse, Message, ReactionType,
};

use crate::media;
use crate::reply;
use crate::retry::with_retries;
use crate::state::{Handler, PLATFORM};

/// What a command did before it failed: whether its answer was deferred already.
pub struct Failed {
    pub deferred: bool,
    pub refusal: Refusal,
}

impl From<Refusal> for Failed {
    fn from(refusal: Refusal) -> Self {
        Self {
            deferred: false,
            refusal,
        }
    }
}

type CommandResult = Result<(), Failed>;

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

/// `/ispotato image:<attachment>` or `url:<text>`.
pub async fn is_potato(h: &Handler, ctx: &Context, cmd: &CommandInteraction) -> CommandResult {
    let mut images = Vec::new();
    for option in &cmd.data.options {
        match &option.value {
            CommandDataOptionValue::Attachment(id) => match cmd.data.resolved.attachments.get(id) {
                // A refused attachment is answered at once, before any quota or deferral.
                Some(a) => images.push(media::attachment(a, h.max_bytes())?),
                None => return Err(Refusal::declined("missing", "I couldn't find that attachment").into()),
            },
            CommandDataOptionValue::String(url) => images.push(media::link(url)),
            _ => {}
        }
    }
    if images.is_empty() {
        return Err(Refusal::declined("no_image", "attach an image or give a link").into());
    }
    judge_and_answer(h, ctx, cmd, images).await
}

/// The message context menu "Is it a potato?": every image of the chosen message.
pub async fn context_menu(h: &Handler, ctx: &Context, cmd: &CommandInteraction) -> CommandResult {
    let target = cmd
        .data
        .target_id
        .and_then(|id| cmd.data.resolved.messages.get(&id.to_message_id()));
    let images = target
        .map(|m| media::message_images(m, h.max_bytes()))
        .unwrap_or_default();
    if images.is_empty() {
        return Err(Refusal::declined("no_image", "I don't see an image in that message").into());
    }
    judge_and_answer(h, ctx, cmd, images).await
}

/// `/potatofact [topic]`.
pub async fn potato_fact(h: &Handler, ctx: &Context, cmd: &CommandInteraction) -> CommandResult {
    let topic = cmd
        .data
        .options
        .iter()
        .find(|o| o.name == "topic")
        .and_then(|o| o.value.as_str());
    let fact = h.services.fact(PLATFORM, &cmd.channel_id.to_string(), topic).await?;
    reply::respond(h, ctx, cmd, reply::fact_text(&fact), false).await;
    Ok(())
}

/// `/potatostats`.
pub async fn potato_stats(h: &Handler, ctx: &Context, cmd: &CommandInteraction) -> CommandResult {
    let text = h.services.stats_text().await?;
    reply::respond(h, ctx, cmd, text, false).await;
    Ok(())
}

/// `/help`.
pub async fn help(h: &Handler, ctx: &Context, cmd: &CommandInteraction) -> CommandResult {
    reply::respond(h, ctx, cmd, HELP_TEXT.to_string(), true).await;
    Ok(())
}

/// Rate check, deferral within Discord's 3 s (before any download), judging, then the public
/// verdict with vote buttons.
async fn judge_and_answer(
    h: &Handler,
    ctx: &Context,
    cmd: &CommandInteraction,
    images: Vec<NamedImage>,
) -> CommandResult {
    let quota = h
        .services
        .take_quota(PLATFORM, &cmd.user.id.to_string(), images.len())
        .await?;
    if let Err(e) = with_retries("defer", || cmd.defer(&ctx.http)).await {
        tracing::error!(error = %h.scrub(&e), "could not defer");
        return Ok(());
    }
    let judgement = h.services.judge(quota, images).await;
    if let Some(refusal) = judgement.all_refused() {
        return Err(Failed {
            deferred: true,
            refusal,
        });
    }
    let edit = EditInteractionResponse::new()
        .content(reply::verdict_text(&judgement.images))
        .components(reply::feedback_buttons(judgement.any_evidence()));
    match with_retries("edit", || cmd.edit_response(&ctx.http, edit.clone())).await {
        Ok(sent) => after_verdict(h, ctx, &sent, &judgement).await,
        Err(e) => tracing::error!(error = %h.scrub(&e), "could not deliver the verdict"),
    }
    Ok(())
}

/// Pre-adds the vote reactions and stores the verdicts under the reply's message id.
pub async fn after_verdict(h: &Handler, ctx: &Context, sent: &Message, judgement: &Judgement) {
    for emoji in [reply::THUMBS_UP, reply::THUMBS_DOWN] {
        let reaction = ReactionType::Unicode(emoji.into());
        if let Err(e) = with_retries("react", || sent.react(&ctx.http, reaction.clone())).await {
            tracing::warn!(error = %h.scrub(&e), "could not add a vote reaction");
        }
    }
    let place = ReplyPlace {
        platform: PLATFORM,
        chat_id: sent.channel_id.to_string(),
        message_id: sent.id.to_string(),
    };
    h.services.record_verdicts(&place, judgement).await;
}
