//! Telegram settings.

use std::net::SocketAddr;

use ispotato_core::secret::SecretString;
use url::Url;

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// The bot token from BotFather (never logged).
    pub token: SecretString,
    /// Bot API base URL override: a self-hosted Bot API server, or a fake in tests.
    pub api_url: Option<Url>,
    /// Webhook mode; `None` = long polling.
    pub webhook: Option<WebhookConfig>,
    /// Long-poll timeout in seconds.
    pub poll_timeout_secs: u64,
    /// How long to wait for the rest of an album before answering it.
    pub album_wait_ms: u64,
}

impl TelegramConfig {
    pub fn new(token: SecretString) -> Self {
        Self {
            token,
            api_url: None,
            webhook: None,
            poll_timeout_secs: 10,
            album_wait_ms: 1200,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Local address the webhook server listens on.
    pub listen: SocketAddr,
    /// Public HTTPS URL Telegram posts updates to (forwarded to `listen`).
    pub public_url: Url,
    /// Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token`; requests without it get 401.
    pub secret: SecretString,
}
