//! Everything a chat front end needs from the core, built once and shared by all front ends.

use std::sync::Arc;

use crate::judge::Judge;
use crate::privacy::UserHasher;
use crate::rate_limit::RateLimiter;
use crate::store::Store;
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
