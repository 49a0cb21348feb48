//! 👍/👎 buttons and reactions on verdict messages become votes in the store.

use std::sync::Arc;

use ispotato_core::prelude::{VoteSource, Voter};
use teloxide::prelude::*;
use teloxide::types::{MessageReactionUpdated, ReactionType};

use crate::reply;
use crate::state::{Context, TgBot, PLATFORM};

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
    let voter = Voter {
        chat_id: message.chat().id.0.to_string(),
        message_id: message.id().0.to_string(),
        user_id: q.from.id.0.to_string(),
        is_bot: q.from.is_bot,
    };
    let toast = match ctx
        .services
        .vote(PLATFORM, voter, agree, VoteSource::Button, None)
        .await
    {
        Ok(outcome) => outcome.thanks().to_string(),
        Err(refusal) => {
            ctx.services.report(PLATFORM, "vote", &refusal);
            refusal.sorry()
        }
    };
    if let Err(e) = bot.answer_callback_query(q.id.clone()).text(toast).await {
        tracing::warn!(error = %ctx.scrub(&e), "could not answer a button press");
    }
    Ok(())
}

pub async fn on_reaction(update: MessageReactionUpdated, ctx: Arc<Context>) -> HandlerResult {
    // Anonymous (chat) reactions have no user to count.
    let Some(user) = update.user() else { return Ok(()) };
    let voter = Voter {
        chat_id: update.chat.id.0.to_string(),
        message_id: update.message_id.0.to_string(),
        user_id: user.id.0.to_string(),
        is_bot: user.is_bot,
    };
    let old: Vec<(bool, String)> = update.old_reaction.iter().filter_map(emoji_vote).collect();
    let new: Vec<(bool, String)> = update.new_reaction.iter().filter_map(emoji_vote).collect();
    for (_, emoji) in old.iter().filter(|o| !new.contains(o)) {
        if let Err(refusal) = ctx.services.retract(PLATFORM, voter.clone(), Some(emoji.clone())).await {
            ctx.services.report(PLATFORM, "reaction", &refusal);
        }
    }
    for (agree, emoji) in new.into_iter().filter(|n| !old.contains(n)) {
        let voted = ctx
            .services
            .vote(PLATFORM, voter.clone(), agree, VoteSource::Reaction, Some(emoji))
            .await;
        if let Err(refusal) = voted {
            ctx.services.report(PLATFORM, "reaction", &refusal);
        }
    }
    Ok(())
}
