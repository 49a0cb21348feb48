//! Everything a chat front end needs from the core, built once and shared by all front ends.

use std::sync::Arc;

use crate::judge::{Judge, Judged};
use crate::privacy::UserHasher;
use crate::rate_limit::RateLimiter;
use crate::store::{unix_now, NewVerdict, Retraction, Store, Vote};
use crate::telemetry::Telemetry;
use crate::trivia::TriviaService;

pub struct Services {
    pub judge: Judge,
    pub store: Arc<dyn Store>,
    pub trivia: Arc<TriviaService>,
    pub hasher: UserHasher,
    /// Images per user per minute.
    pub user_limiter: RateLimiter,
    /// Images per minute across everyone, to keep one host from drowning.
    pub global_limiter: RateLimiter,
    /// Whether image bytes are passed to the store (it keeps them only when configured to).
    pub keep_images: bool,
    /// Counters and latencies for `/metrics`, front-end readiness for `/readyz`.
    pub telemetry: Arc<Telemetry>,
}

/// Why a request was refused before any work: the message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Throttled {
    #[error("you're sending images faster than I can peel them ({limit} a minute); try again in {} s", .retry_after.as_secs())]
    User {
        limit: usize,
        retry_after: std::time::Duration,
    },
    #[error("I'm very busy right now; try again in {} s", .retry_after.as_secs())]
    Global { retry_after: std::time::Duration },
}

impl Services {
    /// Takes `images` units from the user's and the global budget, or says why not.
    pub fn admit(&self, user_hash: &str, images: usize) -> Result<(), Throttled> {
        self.user_limiter
            .try_take(user_hash, images)
            .map_err(|retry_after| Throttled::User {
                limit: self.user_limiter.limit(),
                retry_after,
            })?;
        self.global_limiter
            .try_take("*", images)
            .map_err(|retry_after| Throttled::Global { retry_after })
    }
}

/// Where a verdict reply was posted.
#[derive(Debug, Clone)]
pub struct ReplyPlace {
    pub platform: &'static str,
    pub chat_id: String,
    pub message_id: String,
}

impl Services {
    /// Stores every verdict of one reply (the `Ok` entries, by their position in the reply),
    /// off the async runtime. Failures are logged: the user already has the answer.
    pub async fn record_verdicts<E>(&self, place: &ReplyPlace, user_hash: &str, results: &[Result<Judged, E>]) {
        for judged in results.iter().filter_map(|r| r.as_ref().ok()) {
            self.telemetry.judged(place.platform, &judged.verdict);
        }
        let keep = self.keep_images;
        let rows: Vec<(NewVerdict, Option<Arc<Vec<u8>>>)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().ok().map(|j| (i, j)))
            .map(|(i, j)| {
                let t = j.verdict.timings;
                let row = NewVerdict {
                    platform: place.platform.to_string(),
                    chat_id: place.chat_id.clone(),
                    message_id: place.message_id.clone(),
                    image_index: i as u32,
                    user_hash: user_hash.to_string(),
                    image_sha256: j.sha256.clone(),
                    label: j.verdict.label,
                    probability: j.verdict.probability,
                    model_version: j.verdict.model_version.clone(),
                    decode_ms: t.decode.as_secs_f64() * 1e3,
                    preprocess_ms: t.preprocess.as_secs_f64() * 1e3,
                    inference_ms: t.inference.as_secs_f64() * 1e3,
                    created_at: unix_now(),
                };
                (row, keep.then(|| j.bytes.clone()))
            })
            .collect();
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            rows.iter().try_for_each(|(row, bytes)| {
                store
                    .record_verdict(row, bytes.as_ref().map(|b| b.as_slice()))
                    .map(|_| ())
            })
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.telemetry.error(place.platform, "store");
                tracing::error!(error = %e, "could not store verdicts")
            }
            Err(e) => tracing::error!(error = %e, "verdict store task failed"),
        }
    }

    /// Stores a vote off the async runtime and returns the short answer for the voter.
    pub async fn vote(&self, vote: Vote) -> &'static str {
        if !vote.is_bot {
            self.telemetry.vote(&vote.platform, vote.source.as_str());
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.record_vote(&vote)).await {
            Ok(Ok(outcome)) => outcome.thanks(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not store a vote");
                "Sorry, I couldn't save that. Try again later."
            }
            Err(e) => {
                tracing::error!(error = %e, "vote task failed");
                "Sorry, I couldn't save that. Try again later."
            }
        }
    }

    /// Removes a reaction vote off the async runtime (errors are logged).
    pub async fn retract(&self, retraction: Retraction) {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.retract_vote(&retraction)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not retract a vote"),
            Err(e) => tracing::error!(error = %e, "retract task failed"),
        }
    }
}
