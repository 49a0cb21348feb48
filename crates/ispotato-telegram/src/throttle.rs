//! Outgoing message pacing by Telegram's rules per chat kind
//! (<https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this>): about
//! one message a second in any chat, at most 20 a minute in a group, about 30 a second
//! overall. teloxide's `Throttle` knows supergroups and channels by their ids but holds basic
//! groups and private chats to one per-minute figure; so it is given the private chats' figure
//! and [`GroupPacer`] holds basic groups to 20 a minute.

use std::time::Duration;

use ispotato_core::rate_limit::RateLimiter;
use teloxide::adaptors::throttle::Limits;
use teloxide::types::Chat;

/// Messages a minute Telegram allows in one group.
pub const GROUP_PER_MINUTE: u32 = 20;

pub fn limits() -> Limits {
    Limits {
        messages_per_sec_chat: 1,
        // Private chats: only the one-a-second rule applies.
        messages_per_min_chat: 60,
        messages_per_min_channel_or_supergroup: GROUP_PER_MINUTE,
        messages_per_sec_overall: 30,
    }
}

/// Holds basic groups to [`GROUP_PER_MINUTE`] messages a minute.
pub struct GroupPacer {
    window: RateLimiter,
}

impl Default for GroupPacer {
    fn default() -> Self {
        Self {
            window: RateLimiter::per_minute(GROUP_PER_MINUTE as usize),
        }
    }
}

impl GroupPacer {
    /// Waits until a message to `chat` fits its per-minute budget (at once outside basic groups).
    pub async fn wait_turn(&self, chat: &Chat) {
        if !chat.is_group() {
            return;
        }
        let key = chat.id.0.to_string();
        while let Err(wait) = self.window.try_take(&key, 1) {
            tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_chats_are_not_throttled_like_groups() {
        let l = limits();
        assert_eq!(l.messages_per_sec_chat, 1);
        assert!(
            l.messages_per_min_chat >= 60,
            "a private chat may get one message a second"
        );
        assert_eq!(l.messages_per_min_channel_or_supergroup, 20);
    }
}
