//! The handler tree: commands, images, albums, feedback buttons and reactions. Every command
//! and image failure goes through one path: [`reply::refuse`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ispotato_core::prelude::{Refusal, ReplyPlace, SecretString};
use teloxide::dispatching::{DpHandlerDescription, UpdateFilterExt};
use teloxide::error_handlers::ErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{ChatAction, Me};

use crate::commands::{self, Command};
use crate::media::{self, Extracted, ImageRef};
use crate::state::{Context, TgBot, PLATFORM};
use crate::{feedback, reply, why};

type HandlerResult = Result<(), teloxide::RequestError>;

pub fn schema() -> Handler<'static, HandlerResult, DpHandlerDescription> {
    dptree::entry()
        .branch(
            Update::filter_message()
                .branch(dptree::entry().filter_command::<Command>().endpoint(on_command))
                .branch(dptree::endpoint(on_message)),
        )
        .branch(
            Update::filter_callback_query()
                .branch(dptree::filter(|q: CallbackQuery| q.data.as_deref() == Some(reply::WHY)).endpoint(why::on_why))
                .branch(dptree::endpoint(feedback::on_button)),
        )
        .branch(Update::filter_message_reaction_updated().endpoint(feedback::on_reaction))
}

/// Logs dispatcher and polling errors with the token scrubbed out.
pub struct ScrubbingErrorHandler {
    pub token: SecretString,
}

impl<E: std::fmt::Display + Send + 'static> ErrorHandler<E> for ScrubbingErrorHandler {
    fn handle_error(self: Arc<Self>, error: E) -> BoxFuture<'static, ()> {
        let text = self.token.scrub(&error.to_string());
        Box::pin(async move { tracing::error!(error = %text, "telegram error") })
    }
}

async fn on_command(bot: TgBot, msg: Message, cmd: Command, ctx: Arc<Context>) -> HandlerResult {
    let result = match &cmd {
        Command::Start | Command::Help => commands::help(&bot, &ctx, &msg).await,
        Command::IsPotato => commands::is_potato(&bot, &ctx, &msg).await,
        Command::PotatoFact(topic) => commands::potato_fact(&bot, &ctx, &msg, topic).await,
        Command::PotatoStats => commands::potato_stats(&bot, &ctx, &msg).await,
    };
    if let Err(refusal) = result {
        let what = format!("{cmd:?}").to_lowercase();
        reply::refuse(&bot, &ctx, &msg, &what, &refusal).await;
    }
    Ok(())
}

/// In groups, a caption or text that mentions the bot.
fn mentions_me(msg: &Message, me: &Me) -> bool {
    let mention = format!("@{}", me.username()).to_lowercase();
    msg.caption()
        .or(msg.text())
        .is_some_and(|t| t.to_lowercase().contains(&mention))
}

async fn on_message(bot: TgBot, msg: Message, ctx: Arc<Context>, me: Me) -> HandlerResult {
    if msg.from.as_ref().is_some_and(|u| u.is_bot) {
        return Ok(());
    }
    let extracted = media::extract(&msg, ctx.max_bytes());
    if matches!(extracted, Extracted::Nothing) {
        return Ok(());
    }
    // In groups only images that mention the bot (or /ispotato replies, handled as a command).
    if !msg.chat.is_private() && !mentions_me(&msg, &me) {
        return Ok(());
    }
    let images = match extracted {
        Extracted::Images(images) => images,
        Extracted::NotStill(what) => {
            not_still(&bot, &ctx, &msg, what).await;
            return Ok(());
        }
        Extracted::Nothing => return Ok(()),
    };
    if let Some(group) = msg.media_group_id() {
        let group = group.to_string();
        if ctx.albums.add(&group, msg.clone()) {
            // The first message of an album answers for all of it once the rest has arrived.
            // Updates of one chat are handled in order, so wait in a task of its own.
            let (bot, ctx, chat) = (bot.clone(), ctx.clone(), msg.chat.id);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ctx.config.album_wait_ms)).await;
                let album = ctx.albums.take(chat, &group);
                if let Some(first) = album.first().cloned() {
                    if let Err(refusal) = judge_messages(&bot, &ctx, &first, &album).await {
                        reply::refuse(&bot, &ctx, &first, "album", &refusal).await;
                    }
                }
            });
        }
        return Ok(());
    }
    if let Err(refusal) = judge_images(&bot, &ctx, &msg, images).await {
        reply::refuse(&bot, &ctx, &msg, "image", &refusal).await;
    }
    Ok(())
}

/// Videos, animations and files: counted once and answered with what to send instead.
async fn not_still(bot: &TgBot, ctx: &Context, msg: &Message, what: &str) {
    let refusal = Refusal::declined(
        "not_still_image",
        format!("I only judge still images, and that's {what}"),
    );
    ctx.services.report(PLATFORM, "message", &refusal);
    reply::send(bot, ctx, msg, format!("{refusal}. Send me a photo!"), None).await;
}

/// Judges every image in `sources` and answers `reply_to` with one message.
pub async fn judge_messages(
    bot: &TgBot,
    ctx: &Context,
    reply_to: &Message,
    sources: &[Message],
) -> Result<(), Refusal> {
    let mut refs: Vec<ImageRef> = Vec::new();
    for m in sources {
        match media::extract(m, ctx.max_bytes()) {
            Extracted::Images(images) => refs.extend(images),
            Extracted::NotStill(what) => {
                not_still(bot, ctx, reply_to, what).await;
                return Ok(());
            }
            Extracted::Nothing => {}
        }
    }
    judge_images(bot, ctx, reply_to, refs).await
}

/// Judges the images `refs` (already extracted) and answers `reply_to` with one message.
async fn judge_images(bot: &TgBot, ctx: &Context, reply_to: &Message, mut refs: Vec<ImageRef>) -> Result<(), Refusal> {
    refs.truncate(media::MAX_IMAGES);
    if refs.is_empty() {
        return Err(Refusal::declined("no_image", "I don't see an image there"));
    }
    let user = reply_to
        .from
        .as_ref()
        .map(|u| u.id.0.to_string())
        .unwrap_or_else(|| format!("chat{}", reply_to.chat.id.0));
    let quota = ctx.services.take_quota(PLATFORM, &user, refs.len()).await?;
    let _ = bot.send_chat_action(reply_to.chat.id, ChatAction::Typing).await;
    let images = refs
        .into_iter()
        .map(|r| r.into_image(bot, &ctx.config.token, ctx.max_bytes()))
        .collect();
    let judgement = ctx.services.judge(quota, images).await;
    let keyboard = judgement
        .any_verdict()
        .then(|| reply::feedback_keyboard(judgement.any_evidence()));
    let text = reply::verdict_text(&judgement.images);
    let Some(sent) = reply::send(bot, ctx, reply_to, text, keyboard).await else {
        return Ok(());
    };
    let place = ReplyPlace {
        platform: PLATFORM,
        chat_id: sent.chat.id.0.to_string(),
        message_id: sent.id.0.to_string(),
    };
    ctx.services.record_verdicts(&place, &judgement).await;
    Ok(())
}
