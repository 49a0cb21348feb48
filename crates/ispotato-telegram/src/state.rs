//! What every Telegram handler shares: the core services, the settings, albums waiting for
//! their siblings and the group pacer.

use std::sync::Arc;

use ispotato_core::prelude::{Platform, Services};
use teloxide::adaptors::Throttle;
use teloxide::Bot;

use crate::config::TelegramConfig;
use crate::media::Albums;
use crate::throttle::GroupPacer;

pub const PLATFORM: Platform = Platform::Telegram;

/// The bot type every handler gets: requests go through teloxide's `Throttle` with
/// [`crate::throttle::limits`].
pub type TgBot = Throttle<Bot>;

pub struct Context {
    pub services: Arc<Services>,
    pub config: TelegramConfig,
    pub albums: Albums,
    pub groups: GroupPacer,
}

impl Context {
    pub fn new(services: Arc<Services>, config: TelegramConfig) -> Self {
        Self {
            services,
            config,
            albums: Albums::default(),
            groups: GroupPacer::default(),
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.services.judge.ingestor().limits().max_bytes
    }

    /// Error text with the token scrubbed out, for logs.
    pub fn scrub(&self, e: &dyn std::fmt::Display) -> String {
        self.config.token.scrub(&e.to_string())
    }
}
