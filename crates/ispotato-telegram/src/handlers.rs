//! The handler tree: commands, images, albums, feedback buttons and reactions.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ispotato_core::ingest::ImageSource;
use ispotato_core::judge::{JudgeError, Judged};
use ispotato_core::secret::SecretString;
use ispotato_core::services::ReplyPlace;
use teloxide::dispatching::{DpHandlerDescription, UpdateFilterExt};
use teloxide::error_handlers::ErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{ChatAction, Me, ReplyParameters};

use crate::commands::{Command, HELP};
use crate::media::{self, Extracted, ImageRef};
use crate::{feedback, reply, retry, Context, TgBot};

type HandlerResult = Result<(), teloxide::RequestError>;

pub fn schema() -> Handler<'static, HandlerResult, DpHandlerDescription> {
    dptree::entry()
        .branch(
            Update::filter_message()
                .branch(dptree::entry().filter_command::<Command>().endpoint(on_command))
                .branch(dptree::endpoint(on_message)),
        )
        .branch(Update::filter_callback_query().endpoint(feedback::on_button))
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

fn is_private(msg: &Message) -> bool {
    msg.chat.is_private()
}

/// In groups, a caption or text that mentions the bot.
fn mentions_me(msg: &Message, me: &Me) -> bool {
    let mention = format!("@{}", me.username()).to_lowercase();
    msg.caption()
        .or(msg.text())
        .is_some_and(|t| t.to_lowercase().contains(&mention))
}

async fn send_text(bot: &TgBot, ctx: &Context, msg: &Message, text: String) -> Result<Message, teloxide::RequestError> {
    let chat = msg.chat.id;
    let reply_to = ReplyParameters::new(msg.id).allow_sending_without_reply();
    let sent = retry::with_retries("sendMessage", || {
        bot.send_message(chat, text.clone())
            .reply_parameters(reply_to.clone())
            .send()
    })
    .await;
    if let Err(e) = &sent {
        tracing::error!(chat = chat.0, error = %ctx.config.token.scrub(&e.to_string()), "could not send a reply");
    }
    sent
}

async fn on_command(bot: TgBot, msg: Message, cmd: Command, ctx: Arc<Context>) -> HandlerResult {
    match cmd {
        Command::Start | Command::Help => {
            let _ = send_text(&bot, &ctx, &msg, HELP.to_string()).await;
        }
        Command::IsPotato => match msg.reply_to_message() {
            Some(target) => judge_messages(&bot, &ctx, &msg, std::slice::from_ref(target)).await,
            None => {
                // In a private chat the command can carry the image itself (as a caption).
                if is_private(&msg) && !matches!(media::extract(&msg, max_bytes(&ctx)), Extracted::Nothing) {
                    judge_messages(&bot, &ctx, &msg, std::slice::from_ref(&msg)).await;
                } else {
                    let _ = send_text(&bot, &ctx, &msg, "Reply /ispotato to a photo and I'll judge it.".into()).await;
                }
            }
        },
        Command::PotatoFact(topic) => {
            let services = ctx.services.clone();
            let chat_key = format!("telegram:{}", msg.chat.id.0);
            let topic = Some(topic.trim().to_string()).filter(|t| !t.is_empty());
            let fact =
                tokio::task::spawn_blocking(move || services.trivia.next_fact(&chat_key, topic.as_deref())).await;
            let text = match fact {
                Ok(Ok(f)) => format!("🥔 {}\n\nSource: {} — {}", f.text, f.source.title, f.source.url),
                Ok(Err(e)) => {
                    tracing::info!(error = %e, "fact request refused");
                    e.to_string()
                }
                Err(e) => {
                    tracing::error!(error = %e, "fact task failed");
                    "Sorry, I couldn't find a fact just now.".into()
                }
            };
            let _ = send_text(&bot, &ctx, &msg, text).await;
        }
        Command::PotatoStats => {
            let store = ctx.services.store.clone();
            let text = match tokio::task::spawn_blocking(move || store.stats(None)).await {
                Ok(Ok(stats)) => ispotato_core::stats::render(&stats, "so far"),
                other => {
                    tracing::error!(result = ?other.err(), "stats failed");
                    "Sorry, I couldn't read my stats just now.".into()
                }
            };
            let _ = send_text(&bot, &ctx, &msg, text).await;
        }
    }
    Ok(())
}

async fn on_message(bot: TgBot, msg: Message, ctx: Arc<Context>, me: Me) -> HandlerResult {
    if msg.from.as_ref().is_some_and(|u| u.is_bot) {
        return Ok(());
    }
    let extracted = media::extract(&msg, max_bytes(&ctx));
    if matches!(extracted, Extracted::Nothing) {
        return Ok(());
    }
    // In groups only images that mention the bot (or /ispotato replies, handled as a command).
    if !is_private(&msg) && !mentions_me(&msg, &me) {
        return Ok(());
    }
    if let Extracted::NotStill(what) = extracted {
        tracing::info!(chat = msg.chat.id.0, what, "not a still image");
        ctx.services.telemetry.rejected("telegram", "not_still_image");
        let _ = send_text(
            &bot,
            &ctx,
            &msg,
            format!("I only judge still images, and that's {what}. Send me a photo!"),
        )
        .await;
        return Ok(());
    }
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
                    judge_messages(&bot, &ctx, &first, &album).await;
                }
            });
        }
        return Ok(());
    }
    judge_messages(&bot, &ctx, &msg, std::slice::from_ref(&msg)).await;
    Ok(())
}

fn max_bytes(ctx: &Context) -> u64 {
    ctx.services.judge.ingestor().limits().max_bytes
}

/// Judges every image in `sources` and answers `reply_to` with one message.
async fn judge_messages(bot: &TgBot, ctx: &Context, reply_to: &Message, sources: &[Message]) {
    let mut refs: Vec<ImageRef> = Vec::new();
    for m in sources {
        match media::extract(m, max_bytes(ctx)) {
            Extracted::Images(images) => refs.extend(images),
            Extracted::NotStill(what) => {
                let _ = send_text(
                    bot,
                    ctx,
                    reply_to,
                    format!("I only judge still images, and that's {what}."),
                )
                .await;
                return;
            }
            Extracted::Nothing => {}
        }
    }
    refs.truncate(media::MAX_IMAGES);
    if refs.is_empty() {
        let _ = send_text(bot, ctx, reply_to, "I don't see an image there.".into()).await;
        return;
    }
    let user = reply_to
        .from
        .as_ref()
        .map(|u| u.id.0.to_string())
        .unwrap_or_else(|| format!("chat{}", reply_to.chat.id.0));
    let user_hash = ctx.services.hasher.hash("telegram", &user);
    if let Err(throttled) = ctx.services.admit(&user_hash, refs.len()) {
        tracing::info!(chat = reply_to.chat.id.0, reason = "rate_limited", "request refused");
        ctx.services.telemetry.rejected("telegram", "rate_limited");
        let _ = send_text(bot, ctx, reply_to, format!("Sorry, {throttled}.")).await;
        return;
    }
    let _ = bot.send_chat_action(reply_to.chat.id, ChatAction::Typing).await;
    let mut results: Vec<Result<Judged, String>> = Vec::with_capacity(refs.len());
    for r in &refs {
        let outcome = judge_one(bot, ctx, r).await;
        if let Err(e) = &outcome {
            tracing::info!(chat = reply_to.chat.id.0, reason = e.reason(), "image refused");
            ctx.services.telemetry.rejected("telegram", e.reason());
        }
        results.push(outcome.map_err(|e| e.to_string()));
    }
    let text = reply::verdict_text(&results);
    let any_verdict = results.iter().any(Result::is_ok);
    let chat = reply_to.chat.id;
    let reply_params = ReplyParameters::new(reply_to.id).allow_sending_without_reply();
    let sent = retry::with_retries("sendMessage", || {
        let req = bot
            .send_message(chat, text.clone())
            .reply_parameters(reply_params.clone());
        if any_verdict {
            req.reply_markup(reply::feedback_keyboard()).send()
        } else {
            req.send()
        }
    })
    .await;
    let sent = match sent {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(chat = chat.0, error = %ctx.config.token.scrub(&e.to_string()), "could not send the verdict");
            return;
        }
    };
    let place = ReplyPlace {
        platform: "telegram",
        chat_id: sent.chat.id.0.to_string(),
        message_id: sent.id.0.to_string(),
    };
    ctx.services.record_verdicts(&place, &user_hash, &results).await;
}

async fn judge_one(bot: &TgBot, ctx: &Context, r: &ImageRef) -> Result<Judged, JudgeError> {
    let judge = &ctx.services.judge;
    match r {
        ImageRef::Url(url) => judge.judge(ImageSource::Url(url.clone())).await,
        ImageRef::File { id, size } => {
            let admission = judge.admit()?;
            let bytes = media::download(bot, &ctx.config.token, id, *size, max_bytes(ctx)).await?;
            judge.judge_admitted(admission, bytes).await
        }
    }
}
