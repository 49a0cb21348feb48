//! 🔍 Why? under a verdict: the image as the model saw it, with its evidence laid over it, sent
//! as a photo in reply to the verdict. Each press counts against the user's image budget.

use std::sync::Arc;

use ispotato_core::prelude::{Refusal, ReplyPlace};
use ispotato_core::serve::explanations::{self, CAPTION};
use teloxide::prelude::*;
use teloxide::types::{InputFile, MaybeInaccessibleMessage, ReplyParameters};

use crate::retry::with_retries;
use crate::state::{Context, TgBot, PLATFORM};

type HandlerResult = Result<(), teloxide::RequestError>;

pub async fn on_why(bot: TgBot, q: CallbackQuery, ctx: Arc<Context>) -> HandlerResult {
    let Some(verdict) = q.message.as_ref() else {
        answer(&bot, &ctx, &q, Some(explanations::gone().sorry())).await;
        return Ok(());
    };
    match explain(&bot, &ctx, &q, verdict).await {
        Ok(()) => answer(&bot, &ctx, &q, None).await,
        Err(refusal) => {
            ctx.services.report(PLATFORM, "why", &refusal);
            answer(&bot, &ctx, &q, Some(refusal.sorry())).await;
        }
    }
    Ok(())
}

/// Renders the reply's evidence and sends it under the verdict.
async fn explain(
    bot: &TgBot,
    ctx: &Context,
    q: &CallbackQuery,
    verdict: &MaybeInaccessibleMessage,
) -> Result<(), Refusal> {
    let (chat, id) = (verdict.chat(), verdict.id());
    let place = ReplyPlace {
        platform: PLATFORM,
        chat_id: chat.id.0.to_string(),
        message_id: id.0.to_string(),
    };
    let png = ctx.services.why(&place, &q.from.id.0.to_string()).await?;
    ctx.groups.wait_turn(chat).await;
    let reply_to = ReplyParameters::new(id).allow_sending_without_reply();
    let sent = with_retries("sendPhoto", || {
        bot.send_photo(chat.id, InputFile::memory(png.clone()).file_name("why.png"))
            .caption(CAPTION)
            .reply_parameters(reply_to.clone())
            .send()
    })
    .await;
    if let Err(e) = sent {
        tracing::error!(chat = chat.id.0, error = %ctx.scrub(&e), "could not send a why image");
    }
    Ok(())
}

/// Stops the button's spinner, with a message when there is one.
async fn answer(bot: &TgBot, ctx: &Context, q: &CallbackQuery, text: Option<String>) {
    let request = bot.answer_callback_query(q.id.clone());
    let request = match text {
        Some(text) => request.text(text),
        None => request,
    };
    if let Err(e) = request.await {
        tracing::warn!(error = %ctx.scrub(&e), "could not answer a button press");
    }
}
