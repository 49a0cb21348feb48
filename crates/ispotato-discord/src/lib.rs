//! IsPotato's Discord front end: serenity over the shared core services.
//!
//! `/ispotato image:<attachment>` or `url:<text>`, the message context menu "Is it a potato?",
//! `/potatofact [topic]` (autocompleted), `/potatostats` and `/help`. Verdicts are public
//! replies carrying 👍/👎 reactions and Right/Wrong buttons; both are stored as votes.

mod commands;
pub mod config;
mod dispatch;
mod feedback;
mod media;
mod proxy_hop;
mod reply;
mod retry;
mod state;
mod why;

use std::sync::Arc;

use ispotato_core::prelude::Services;
use serenity::all::{ClientBuilder, GatewayIntents, HttpBuilder};

pub use config::{DiscordConfig, Shards, ShardsError};

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord client failed: {0}")]
    Client(String),
}

/// Runs the bot until `shutdown` resolves.
pub async fn run(
    services: Arc<Services>,
    config: DiscordConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), DiscordError> {
    let token = config.token.clone();
    let mut http = HttpBuilder::new(token.expose());
    // Behind a proxy serenity's rate limiter must be off (it ignores the proxy while on), so
    // serenity talks to a loopback hop in front of the proxy that honours 429s' retry_after.
    // The hop lives as long as this function runs.
    let hop = match &config.api_url {
        Some(url) => Some(
            proxy_hop::start(url)
                .await
                .map_err(|e| DiscordError::Client(format!("cannot start the local hop to the API proxy: {e}")))?,
        ),
        None => None,
    };
    if let Some(hop) = &hop {
        http = http.proxy(hop.url()).ratelimiter_disabled(true);
    }
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGE_REACTIONS
        | if config.auto_channels.is_empty() {
            GatewayIntents::empty()
        } else {
            GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT
        };
    let handler = state::Handler::new(services, config.clone());
    let mut client = ClientBuilder::new_with_http(http.build(), intents)
        .event_handler(handler)
        .await
        .map_err(|e| DiscordError::Client(token.scrub(&e.to_string())))?;
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        shutdown.await;
        shards.shutdown_all().await;
    });
    let started = match config.shards {
        Shards::Auto => client.start_autosharded().await,
        Shards::Count(n) => client.start_shards(n).await,
        // serenity 0.12 reads the range's end as the last shard, inclusive (its own example:
        // `4..7` starts shards 4 through 7), so `first..last` starts exactly first..=last.
        Shards::Range { first, last, total } => client.start_shard_range(first..last, total).await,
    };
    started.map_err(|e| DiscordError::Client(token.scrub(&e.to_string())))?;
    tracing::info!("discord bot stopped");
    Ok(())
}

/// Parses one message as the gateway delivers it and lists its images the way the bot does:
/// how many, or `None` when the body is not a message. For the fuzz targets
/// (`crates/ispotato-fuzz`); the bot itself never calls it.
#[doc(hidden)]
pub fn images_in_message(body: &[u8], max_bytes: u64) -> Option<usize> {
    let message: serenity::all::Message = serde_json::from_slice(body).ok()?;
    Some(media::message_images(&message, max_bytes).len())
}
