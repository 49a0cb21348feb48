//! Discord settings.

use ispotato_core::secret::SecretString;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shards {
    /// As many as Discord recommends (GET /gateway/bot).
    Auto,
    /// This many shards, all in this process.
    Count(u32),
    /// Shards `first..=last` of `total`, so several processes can share one bot.
    Range { first: u32, last: u32, total: u32 },
}

#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot token (never logged).
    pub token: SecretString,
    /// REST base (or proxy) URL instead of https://discord.com; the gateway URL then comes
    /// from that API.
    pub api_url: Option<Url>,
    /// Register commands to this guild only (instant, for testing) instead of globally.
    pub guild_id: Option<u64>,
    pub shards: Shards,
    /// Channels where every posted image is judged (needs the message-content intent).
    pub auto_channels: Vec<u64>,
}

impl DiscordConfig {
    pub fn new(token: SecretString) -> Self {
        Self {
            token,
            api_url: None,
            guild_id: None,
            shards: Shards::Auto,
            auto_channels: Vec::new(),
        }
    }
}
