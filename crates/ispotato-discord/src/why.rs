//! The Why? button under a verdict: the image as the model saw it with its evidence laid over
//! it, answered to the presser alone (ephemeral). Each press counts against their image budget.

use ispotato_core::prelude::{Refusal, ReplyPlace};
use ispotato_core::serve::explanations::CAPTION;
use serenity::all::{
    ComponentInteraction, Context, CreateAttachment, CreateInteractionResponse, CreateInteractionResponseMessage,
};

use crate::retry::with_retries;
use crate::state::{Handler, PLATFORM};

pub async fn on_why(h: &Handler, ctx: &Context, c: &ComponentInteraction) {
    let answer = match explain(h, c).await {
        Ok(png) => CreateInteractionResponseMessage::new()
            .content(CAPTION)
            .add_file(CreateAttachment::bytes(png, "why.png")),
        Err(refusal) => {
            h.services.report(PLATFORM, "why", &refusal);
            CreateInteractionResponseMessage::new().content(refusal.sorry())
        }
    };
    let answer = answer.ephemeral(true);
    if let Err(e) = with_retries("why", || {
        c.create_response(&ctx.http, CreateInteractionResponse::Message(answer.clone()))
    })
    .await
    {
        tracing::warn!(error = %h.scrub(&e), "could not answer a why button");
    }
}

/// The PNG for the verdict message the button sits under.
async fn explain(h: &Handler, c: &ComponentInteraction) -> Result<Vec<u8>, Refusal> {
    let place = ReplyPlace {
        platform: PLATFORM,
        chat_id: c.channel_id.to_string(),
        message_id: c.message.id.to_string(),
    };
    h.services.why(&place, &c.user.id.to_string()).await
}
