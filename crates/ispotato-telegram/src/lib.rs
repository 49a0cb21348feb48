//! IsPotato's Telegram front end: a teloxide dispatcher over the shared core services.
//!
//! Photos, image documents, static stickers and image URLs are judged (all of them in private
//! chats; in groups only when the caption mentions the bot or `/ispotato` replies to an image);
//! albums get one reply. Verdict replies carry 👍/👎 buttons, and reactions on them count too.

mod commands;
pub mod config;
mod dispatch;
mod feedback;
mod media;
mod reply;
mod retry;
mod state;
mod throttle;
mod webhook;
mod why;

use std::sync::Arc;

use ispotato_core::prelude::Services;
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;

pub use config::{TelegramConfig, WebhookConfig, WebhookSecret, WebhookSecretError};
pub use state::TgBot;
pub use throttle::limits;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram start-up failed: {0}")]
    Startup(String),
    #[error("webhook server failed: {0}")]
    Webhook(String),
}

/// Runs the bot until `shutdown` resolves (polling or webhook mode, from the config).
pub async fn run(
    services: Arc<Services>,
    config: TelegramConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), TelegramError> {
    let token = config.token.clone();
    let mut bot = Bot::new(token.expose());
    if let Some(url) = &config.api_url {
        bot = bot.set_api_url(url.clone());
    }
    let bot = bot.throttle(throttle::limits());
    let scrub = |e: &dyn std::fmt::Display| token.scrub(&e.to_string());
    let me = retry::with_retries("getMe", || bot.get_me().send())
        .await
        .map_err(|e| TelegramError::Startup(scrub(&e)))?;
    tracing::info!(bot = %me.username(), "telegram bot connected");
    let telemetry = services.telemetry.clone();
    if let Err(e) = retry::with_retries("setMyCommands", || {
        bot.set_my_commands(commands::Command::bot_commands()).send()
    })
    .await
    {
        tracing::warn!(error = %scrub(&e), "could not publish the command list");
    }
    let store = services.store.clone();
    let context = Arc::new(state::Context::new(services, config.clone()));
    let mut dispatcher = Dispatcher::builder(bot.clone(), dispatch::schema())
        .dependencies(dptree::deps![context, me])
        .default_handler(|_| async {})
        .error_handler(Arc::new(dispatch::ScrubbingErrorHandler { token: token.clone() }))
        .build();
    let shutdown_token = dispatcher.shutdown_token();
    tokio::spawn(async move {
        shutdown.await;
        if let Ok(wait) = shutdown_token.shutdown() {
            wait.await;
        }
    });
    let listener_errors = Arc::new(dispatch::ScrubbingErrorHandler { token: token.clone() });
    match &config.webhook {
        None => {
            let listener = Polling::builder(bot.clone())
                .allowed_updates(vec![
                    AllowedUpdate::Message,
                    AllowedUpdate::CallbackQuery,
                    AllowedUpdate::MessageReaction,
                ])
                .timeout(std::time::Duration::from_secs(config.poll_timeout_secs))
                .delete_webhook()
                .await
                .build();
            telemetry.set_connected(state::PLATFORM.as_str(), true);
            dispatcher.dispatch_with_listener(listener, listener_errors).await;
        }
        Some(webhook) => {
            let listener = webhook::start(bot.clone(), webhook, store).await?;
            // Ready only once the webhook accepts connections (a replica behind a load balancer
            // is sent updates as soon as /readyz says so).
            telemetry.set_connected(state::PLATFORM.as_str(), true);
            dispatcher.dispatch_with_listener(listener, listener_errors).await;
        }
    }
    tracing::info!("telegram bot stopped");
    Ok(())
}

/// Parses one webhook body the way the bot does and extracts its images the way the handlers
/// do: how many images a message in it carries, or `None` when it holds no message. For the
/// fuzz targets (`crates/ispotato-fuzz`); the bot itself never calls it.
#[doc(hidden)]
pub fn images_in_update(body: &[u8], max_bytes: u64) -> Option<usize> {
    use teloxide::types::{Update, UpdateKind};
    let update: Update = serde_json::from_slice(body).ok()?;
    let message = match update.kind {
        UpdateKind::Message(m) | UpdateKind::EditedMessage(m) | UpdateKind::ChannelPost(m) => m,
        _ => return None,
    };
    Some(match media::extract(&message, max_bytes) {
        media::Extracted::Images(images) => images.len(),
        media::Extracted::NotStill(_) | media::Extracted::Nothing => 0,
    })
}
