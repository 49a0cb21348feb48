//! The image budgets every request is charged against: per user and across everyone. One
//! process on its own database keeps the windows in memory; replicas sharing PostgreSQL keep
//! them in it, so a user cannot double their budget by reaching two replicas.

use std::sync::Arc;
use std::time::Duration;

use crate::rate_limit::{RateLimiter, WindowRule};
use crate::store::{unix_now_ms, Store};

/// Why a request was over budget.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Throttled {
    #[error("you're sending images faster than I can peel them ({limit} a minute); try again in {} s", .retry_after.as_secs())]
    User { limit: usize, retry_after: Duration },
    #[error("I'm very busy right now; try again in {} s", .retry_after.as_secs())]
    Global { retry_after: Duration },
}

impl Throttled {
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::User { retry_after, .. } | Self::Global { retry_after } => *retry_after,
        }
    }
}

/// The key the global window is kept under (user keys are hex hashes, never this).
const GLOBAL_KEY: &str = "*";

pub enum Quotas {
    /// Windows in this process's memory.
    Local { user: RateLimiter, global: RateLimiter },
    /// Windows in the database every replica shares.
    Shared {
        store: Arc<dyn Store>,
        user: WindowRule,
        global: WindowRule,
    },
}

impl Quotas {
    pub fn local(user: WindowRule, global: WindowRule) -> Self {
        Self::Local {
            user: RateLimiter::new(user.limit, user.window),
            global: RateLimiter::new(global.limit, global.window),
        }
    }

    pub fn shared(store: Arc<dyn Store>, user: WindowRule, global: WindowRule) -> Self {
        Self::Shared { store, user, global }
    }

    /// Images per user per window.
    pub fn user_limit(&self) -> usize {
        match self {
            Self::Local { user, .. } => user.limit(),
            Self::Shared { user, .. } => user.limit,
        }
    }

    /// Takes `n` images from `user_hash`'s budget, then from everyone's. The user's units stay
    /// taken when the global budget refuses (as a refused request still cost the user a try).
    pub async fn take(&self, user_hash: &str, n: usize) -> Result<(), Throttled> {
        match self {
            Self::Local { user, global } => {
                user.try_take(user_hash, n).map_err(|retry_after| Throttled::User {
                    limit: user.limit(),
                    retry_after,
                })?;
                global
                    .try_take(GLOBAL_KEY, n)
                    .map_err(|retry_after| Throttled::Global { retry_after })
            }
            Self::Shared { store, user, global } => {
                take_shared(store, user_hash, *user, n)
                    .await
                    .map_err(|retry_after| Throttled::User {
                        limit: user.limit,
                        retry_after,
                    })?;
                take_shared(store, GLOBAL_KEY, *global, n)
                    .await
                    .map_err(|retry_after| Throttled::Global { retry_after })
            }
        }
    }
}

/// One shared window, asked from the blocking pool. When the database cannot answer, the
/// request is let through (logged): a database outage should not stop the judging too.
async fn take_shared(store: &Arc<dyn Store>, key: &str, rule: WindowRule, n: usize) -> Result<(), Duration> {
    let (store, owned) = (store.clone(), key.to_string());
    match tokio::task::spawn_blocking(move || store.take_window(&owned, rule, n, unix_now_ms())).await {
        Ok(Ok(taken)) => taken,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the shared rate-limit window could not be read; letting the request through");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "the rate-limit task failed; letting the request through");
            Ok(())
        }
    }
}
