//! Right/Wrong buttons and 👍/👎 reactions on verdict messages become votes in the store.

use ispotato_core::prelude::{VoteSource, Voter};
use serenity::all::{
    ComponentInteraction, Context, CreateInteractionResponse, CreateInteractionResponseMessage, Reaction, ReactionType,
};

use crate::reply;
use crate::retry::with_retries;
use crate::state::{Handler, PLATFORM};

pub async fn on_button(h: &Handler, ctx: &Context, c: &ComponentInteraction) {
    let agree = match c.data.custom_id.as_str() {
        reply::AGREE => true,
        reply::DISAGREE => false,
        _ => return,
    };
    let voter = Voter {
        chat_id: c.channel_id.to_string(),
        message_id: c.message.id.to_string(),
        user_id: c.user.id.to_string(),
        is_bot: c.user.bot,
    };
    let text = match h.services.vote(PLATFORM, voter, agree, VoteSource::Button, None).await {
        Ok(outcome) => outcome.thanks().to_string(),
        Err(refusal) => {
            h.services.report(PLATFORM, "vote", &refusal);
            refusal.sorry()
        }
    };
    let msg = CreateInteractionResponseMessage::new().content(text).ephemeral(true);
    if let Err(e) = with_retries("button", || {
        c.create_response(&ctx.http, CreateInteractionResponse::Message(msg.clone()))
    })
    .await
    {
        tracing::warn!(error = %h.scrub(&e), "could not answer a button press");
    }
}

pub async fn on_reaction(h: &Handler, r: Reaction, added: bool) {
    let emoji = match &r.emoji {
        ReactionType::Unicode(e) if e == reply::THUMBS_UP || e == reply::THUMBS_DOWN => e.clone(),
        _ => return,
    };
    let Some(user) = r.user_id else { return };
    let voter = Voter {
        chat_id: r.channel_id.to_string(),
        message_id: r.message_id.to_string(),
        user_id: user.to_string(),
        is_bot: Some(user) == h.me.get().copied() || r.member.as_ref().is_some_and(|m| m.user.bot),
    };
    let result = if added {
        let agree = emoji == reply::THUMBS_UP;
        h.services
            .vote(PLATFORM, voter, agree, VoteSource::Reaction, Some(emoji))
            .await
            .map(|_| ())
    } else {
        h.services.retract(PLATFORM, voter, Some(emoji)).await
    };
    if let Err(refusal) = result {
        h.services.report(PLATFORM, "reaction", &refusal);
    }
}
