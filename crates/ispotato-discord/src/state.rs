//! What every Discord handler shares: the core services, the settings and the bot's own id.

use std::sync::{Arc, OnceLock};

use ispotato_core::prelude::{Platform, Services};
use serenity::all::UserId;

use crate::config::DiscordConfig;

pub const PLATFORM: Platform = Platform::Discord;

pub struct Handler {
    pub services: Arc<Services>,
    pub config: DiscordConfig,
    pub me: OnceLock<UserId>,
}

impl Handler {
    pub fn new(services: Arc<Services>, config: DiscordConfig) -> Self {
        Self {
            services,
            config,
            me: OnceLock::new(),
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
