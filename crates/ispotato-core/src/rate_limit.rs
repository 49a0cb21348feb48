//! Per-key sliding-window rate limits ("10 images a minute per user"): [`admit`] is the rule,
//! [`RateLimiter`] keeps the windows in this process's memory, and the store keeps them in the
//! database when replicas share one ([`Store::take_windows`](crate::store::Store::take_windows)).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A window's rule: at most `limit` units in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRule {
    pub limit: usize,
    pub window: Duration,
}

impl WindowRule {
    pub fn per_minute(limit: usize) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
        }
    }

    fn window_ms(&self) -> i64 {
        self.window.as_millis().min(i64::MAX as u128) as i64
    }
}

/// Which of several windows taken together had no room (its index), and how long until it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub window: usize,
    pub wait: Duration,
}

/// The sliding-window rule on one key's past hits (milliseconds, oldest first): forgets hits
/// older than the window, then takes `n` units at `now_ms`, or says how long until there is room
/// (at least a second). A batch larger than the limit never fits.
pub fn admit(hits: &mut Vec<i64>, rule: WindowRule, n: usize, now_ms: i64) -> Result<(), Duration> {
    let window_ms = rule.window_ms();
    let expired = hits.iter().take_while(|t| now_ms - **t >= window_ms).count();
    hits.drain(..expired);
    if hits.len() + n > rule.limit {
        let wait_ms = match hits.get((hits.len() + n).saturating_sub(rule.limit + 1)) {
            Some(t) => (window_ms - (now_ms - t)).max(0),
            None => window_ms,
        };
        return Err(Duration::from_millis(wait_ms as u64).max(Duration::from_secs(1)));
    }
    hits.extend(std::iter::repeat_n(now_ms, n));
    Ok(())
}

/// Windows kept in this process's memory.
pub struct RateLimiter {
    rule: WindowRule,
    origin: Instant,
    hits: Mutex<HashMap<String, Vec<i64>>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            rule: WindowRule { limit, window },
            origin: Instant::now(),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// `limit` per minute.
    pub fn per_minute(limit: usize) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    pub fn limit(&self) -> usize {
        self.rule.limit
    }

    pub fn rule(&self) -> WindowRule {
        self.rule
    }

    /// Takes `n` units for `key` at `now`, or says how long until there is room.
    pub fn try_take_at(&self, key: &str, n: usize, now: Instant) -> Result<(), Duration> {
        let now_ms = now.saturating_duration_since(self.origin).as_millis() as i64;
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        // Forget idle keys now and then so the map cannot grow without bound.
        if hits.len() > 10_000 {
            let window_ms = self.rule.window_ms();
            hits.retain(|_, q| q.last().is_some_and(|t| now_ms - t < window_ms));
        }
        admit(hits.entry(key.to_string()).or_default(), self.rule, n, now_ms)
    }

    pub fn try_take(&self, key: &str, n: usize) -> Result<(), Duration> {
        self.try_take_at(key, n, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_recovers() {
        let rl = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(rl.try_take_at("a", 2, t0).is_ok());
        assert!(rl.try_take_at("a", 1, t0).is_ok());
        let wait = rl.try_take_at("a", 1, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(rl.try_take_at("b", 3, t0).is_ok(), "keys are independent");
        assert!(rl.try_take_at("a", 1, t0 + Duration::from_secs(61)).is_ok());
        assert!(
            rl.try_take_at("c", 4, t0).is_err(),
            "a batch larger than the limit never fits"
        );
    }

    #[test]
    fn the_wait_is_until_enough_old_hits_leave_the_window() {
        let rule = WindowRule::per_minute(3);
        let mut hits = vec![1_000, 20_000, 40_000];
        // Two units need the two oldest hits gone: the second leaves at 80 s.
        assert_eq!(admit(&mut hits, rule, 2, 50_000), Err(Duration::from_secs(30)));
        assert_eq!(hits, [1_000, 20_000, 40_000], "a refusal takes nothing");
        assert_eq!(admit(&mut hits, rule, 1, 61_000), Ok(()));
        assert_eq!(hits, [20_000, 40_000, 61_000]);
    }
}
