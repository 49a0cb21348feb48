//! Per-key sliding-window rate limits ("10 images a minute per user").

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    limit: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// `limit` per minute.
    pub fn per_minute(limit: usize) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `n` units for `key` at `now`, or says how long until there is room.
    pub fn try_take_at(&self, key: &str, n: usize, now: Instant) -> Result<(), Duration> {
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        // Forget idle keys now and then so the map cannot grow without bound.
        if hits.len() > 10_000 {
            let window = self.window;
            hits.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let queue = hits.entry(key.to_string()).or_default();
        while queue.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            queue.pop_front();
        }
        if queue.len() + n > self.limit {
            let wait = match queue.get((queue.len() + n).saturating_sub(self.limit + 1)) {
                Some(t) => self.window.saturating_sub(now.duration_since(*t)),
                None => self.window,
            };
            return Err(wait.max(Duration::from_secs(1)));
        }
        queue.extend(std::iter::repeat_n(now, n));
        Ok(())
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
}
