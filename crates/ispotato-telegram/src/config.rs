//! Telegram settings.

use std::net::SocketAddr;

use ispotato_core::prelude::SecretString;
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
    pub secret: WebhookSecret,
}

/// A webhook secret in the form Telegram accepts: 1 to 256 of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone)]
pub struct WebhookSecret(SecretString);

/// Why a webhook secret was refused (it never names the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    #[error("the webhook secret is empty")]
    Empty,
    #[error("the webhook secret is {0} characters long; Telegram allows at most 256")]
    TooLong(usize),
    #[error("the webhook secret may hold only A-Z, a-z, 0-9, _ and - (Telegram's rule)")]
    BadCharacter,
}

impl WebhookSecret {
    pub fn parse(secret: SecretString) -> Result<Self, WebhookSecretError> {
        let text = secret.expose();
        match text.chars().count() {
            0 => return Err(WebhookSecretError::Empty),
            n if n > 256 => return Err(WebhookSecretError::TooLong(n)),
            _ => {}
        }
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(WebhookSecretError::BadCharacter);
        }
        Ok(Self(secret))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_follow_telegrams_rule() {
        let parse = |s: &str| WebhookSecret::parse(SecretString::new(s)).map(|_| ());
        assert_eq!(parse("abc_DEF-123"), Ok(()));
        assert_eq!(parse(&"a".repeat(256)), Ok(()));
        assert_eq!(parse(""), Err(WebhookSecretError::Empty));
        assert_eq!(parse(&"a".repeat(257)), Err(WebhookSecretError::TooLong(257)));
        assert_eq!(parse("has space"), Err(WebhookSecretError::BadCharacter));
        assert_eq!(parse("slash/no"), Err(WebhookSecretError::BadCharacter));
        assert_eq!(parse("é"), Err(WebhookSecretError::BadCharacter));
    }
}
