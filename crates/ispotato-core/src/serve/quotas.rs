//! The image budgets every request is charged against: per user and across everyone. One
//! process on its own database keeps the windows in memory; replicas sharing PostgreSQL keep
//! them in it, so a user cannot double their budget by reaching two replicas.

use std::sync::Arc;
use std::time::Duration;

use crate::rate_limit::{RateLimiter, Refused, WindowRule};
use crate::serve::Refusal;
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

impl From<Throttled> for Refusal {
    /// What the user is told: slow down, and when to try again.
    fn from(t: Throttled) -> Self {
        Refusal::later("rate_limited", t.to_string(), t.retry_after())
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
                // Both windows in one transaction (one round trip), the user's first: every
                // take locks them in that order, so two never wait on each other in a circle.
                let user_rule = *user;
                let windows = [(user_hash.to_string(), user_rule), (GLOBAL_KEY.to_string(), *global)];
                take_shared(store, windows, n)
                    .await
                    .map_err(|refused| match refused.window {
                        0 => Throttled::User {
                            limit: user_rule.limit,
                            retry_after: refused.wait,
                        },
                        _ => Throttled::Global {
                            retry_after: refused.wait,
                        },
                    })
            }
        }
    }
}

/// The shared windows, asked from the blocking pool. When the database cannot answer, the
/// request is let through (logged): a database outage should not stop the judging too.
async fn take_shared(store: &Arc<dyn Store>, windows: [(String, WindowRule); 2], n: usize) -> Result<(), Refused> {
    let store = store.clone();
    let taken = tokio::task::spawn_blocking(move || {
        let windows = windows.each_ref().map(|(key, rule)| (key.as_str(), *rule));
        store.take_windows(&windows, n, unix_now_ms())
    })
    .await;
    match taken {
        Ok(Ok(taken)) => taken,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the shared rate-limit windows could not be read; letting the request through");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "the rate-limit task failed; letting the request through");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, StoreConfig};

    /// Shared windows on a database: the user's budget refuses first, then everyone's, each
    /// refusal saying which one it was.
    #[tokio::test]
    async fn shared_budgets_refuse_per_user_then_for_everyone() {
        let dir = std::env::temp_dir().join(format!("ispotato-quotas-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(StoreConfig::new(dir.join("q.db"))).unwrap());
        let quotas = Quotas::shared(store, WindowRule::per_minute(2), WindowRule::per_minute(3));
        assert_eq!(quotas.user_limit(), 2);
        assert_eq!(quotas.take("a", 1).await, Ok(()));
        assert_eq!(quotas.take("a", 1).await, Ok(()));
        match quotas.take("a", 1).await {
            Err(Throttled::User { limit: 2, retry_after }) => assert!(retry_after > Duration::from_secs(58)),
            other => panic!("the user's budget refuses: {other:?}"),
        }
        assert_eq!(quotas.take("b", 1).await, Ok(()), "the third unit of everyone's budget");
        assert!(
            matches!(quotas.take("c", 1).await, Err(Throttled::Global { .. })),
            "everyone's budget is spent"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
