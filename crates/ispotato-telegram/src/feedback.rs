//! 👍/👎 buttons and reactions on verdict messages become votes in the store.

use std::sync::Arc;

use ispotato_core::store::{unix_now, Retraction, Vote, VoteSource};
use teloxide::prelude::*;
use teloxide::types::{MessageReactionUpdated, ReactionType};

use crate::{reply, Context, TgBot};

type HandlerResult = Result<(), teloxide::RequestError>;

fn emoji_vote(r: &ReactionType) -> Option<(bool, String)> {
    match r {
        ReactionType::Emoji { emoji } if emoji == "👍" => Some((true, emoji.clone())),
        ReactionType::Emoji { emoji } if emoji == "👎" => Some((false, emoji.clone())),
        _ => None,
    }
}

pub async fn on_button(bot: TgBot, q: CallbackQuery, ctx: Arc<Context>) -> HandlerResult {
    let agree = match q.data.as_deref() {
        Some(reply::AGREE) => true,
        Some(reply::DISAGREE) => false,
        _ => return Ok(()),
    };
    let Some(message) = q.message.as_ref() else {
        return Ok(());
    };
    let vote = Vote {
        platform: "telegram".into(),
        chat_id: message.chat().id.0.to_string(),
        message_id: message.id().0.to_string(),
        user_hash: ctx.services.hasher.hash("telegram", &q.from.id.0.to_string()),
        is_bot: q.from.is_bot,
        agree,
        source: VoteSource::Button,
        emoji: None,
        created_at: unix_now(),
    };
    let toast = ctx.services.vote(vote).await;
    if let Err(e) = bot.answer_callback_query(q.id.clone()).text(toast).await {
        tracing::warn!(error = %ctx.config.token.scrub(&e.to_string()), "could not answer a button press");
    }
    Ok(())
}

pub async fn on_reaction(update: MessageReactionUpdated, ctx: Arc<Context>) -> HandlerResult {
    // Anonymous (chat) reactions have no user to count.
    let Some(user) = update.user() else { return Ok(()) };
    let user_hash = ctx.services.hasher.hash("telegram", &user.id.0.to_string());
    let (chat_id, message_id) = (update.chat.id.0.to_string(), update.message_id.0.to_string());
    let old: Vec<(bool, String)> = update.old_reaction.iter().filter_map(emoji_vote).collect();
    let new: Vec<(bool, String)> = update.new_reaction.iter().filter_map(emoji_vote).collect();
    for (_, emoji) in old.iter().filter(|o| !new.contains(o)) {
        let r = Retraction {
            platform: "telegram".into(),
            chat_id: chat_id.clone(),
            message_id: message_id.clone(),
            user_hash: user_hash.clone(),
            is_bot: user.is_bot,
            emoji: Some(emoji.clone()),
        };
        ctx.services.retract(r).await;
    }
    for (agree, emoji) in new.into_iter().filter(|n| !old.contains(n)) {
        let vote = Vote {
            platform: "telegram".into(),
            chat_id: chat_id.clone(),
            message_id: message_id.clone(),
            user_hash: user_hash.clone(),
            is_bot: user.is_bot,
            agree,
            source: VoteSource::Reaction,
            emoji: Some(emoji),
            created_at: unix_now(),
        };
        ctx.services.vote(vote).await;
    }
    Ok(())
}
