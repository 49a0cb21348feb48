//! `ispotato run` and `ispotato serve`: the front ends (web page, Discord, Telegram) over one
//! shared model, store, trivia deck and set of limits, in one process.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use ispotato_core::secret::SecretString;
use ispotato_core::serve::Platform;
use ispotato_core::store::retention::spawn_image_cleanup;
use ispotato_discord::DiscordConfig;
use ispotato_telegram::{TelegramConfig, WebhookConfig, WebhookSecret};
use ispotato_web::{BoundWeb, WebConfig};

use crate::cli::{GlobalArgs, RunArgs};
use crate::setup;

/// A secret from a flag/variable or from a file (trailing newline trimmed).
fn secret(
    value: &Option<String>,
    file: &Option<std::path::PathBuf>,
    what: &str,
) -> anyhow::Result<Option<SecretString>> {
    if let Some(v) = value.as_ref().filter(|v| !v.trim().is_empty()) {
        return Ok(Some(SecretString::new(v.trim())));
    }
    match file {
        Some(path) => {
            let text = ispotato_core::local_file::read_text_capped(path, ispotato_core::local_file::MAX_SECRET_BYTES)
                .with_context(|| format!("reading the {what} file {}", path.display()))?;
            let text = text.trim();
            if text.is_empty() {
                bail!("the {what} file {} is empty", path.display());
            }
            Ok(Some(SecretString::new(text)))
        }
        None => Ok(None),
    }
}

fn telegram_config(args: &RunArgs) -> anyhow::Result<Option<TelegramConfig>> {
    let from_teloxide = std::env::var("TELOXIDE_TOKEN").ok();
    let token_value = args.telegram_token.clone().or(from_teloxide);
    let Some(token) = secret(&token_value, &args.telegram_token_file, "Telegram token")? else {
        return Ok(None);
    };
    let mut config = TelegramConfig::new(token);
    config.api_url = args.telegram_api_url.clone();
    if let Some(listen) = args.telegram_webhook_listen {
        let public_url = args
            .telegram_webhook_url
            .clone()
            .context("webhook mode needs ISPOTATO_TELEGRAM_WEBHOOK_URL")?;
        let secret = secret(
            &args.telegram_webhook_secret,
            &args.telegram_webhook_secret_file,
            "webhook secret",
        )?
        .context("webhook mode needs ISPOTATO_TELEGRAM_WEBHOOK_SECRET (or _FILE)")?;
        let secret = WebhookSecret::parse(secret).context("ISPOTATO_TELEGRAM_WEBHOOK_SECRET (or _FILE)")?;
        config.webhook = Some(WebhookConfig {
            listen,
            public_url,
            secret,
        });
    }
    Ok(Some(config))
}

fn discord_config(args: &RunArgs) -> anyhow::Result<Option<DiscordConfig>> {
    let Some(token) = secret(&args.discord_token, &args.discord_token_file, "Discord token")? else {
        return Ok(None);
    };
    let mut config = DiscordConfig::new(token);
    config.api_url = args.discord_api_url.clone();
    config.guild_id = args.discord_guild_id;
    config.shards = args.discord_shards;
    config.auto_channels = args.discord_auto_channels.clone();
    Ok(Some(config))
}

/// Reloads the model on every SIGHUP (the trivia deck reloads on the same signal).
fn spawn_sighup_model_reload(state: crate::admin::AdminState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hangup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hangup.recv().await.is_some() {
                match crate::admin::reload_model(&state).await {
                    Ok(version) => tracing::info!(version, "model reloaded on SIGHUP"),
                    Err(e) => tracing::error!(error = %e, "model reload on SIGHUP refused"),
                }
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}

/// Whether the web page is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Web {
    /// `ispotato serve`: always, on --web-listen or the default address.
    Always,
    /// `ispotato run`: only with --web-listen.
    WhenAsked,
}

fn web_config(args: &RunArgs, web: Web) -> anyhow::Result<Option<WebConfig>> {
    let listen = match (args.web_listen, web) {
        (Some(listen), _) => listen,
        (None, Web::Always) => ispotato_web::DEFAULT_LISTEN,
        (None, Web::WhenAsked) => return Ok(None),
    };
    let mut config = WebConfig::new(listen);
    config.trusted_proxies = args.trusted_proxies.clone();
    config.requests_per_minute = args.web_requests_per_minute;
    Ok(Some(config))
}

pub async fn run(global: &GlobalArgs, args: &RunArgs, web: Web) -> anyhow::Result<ExitCode> {
    let telegram = telegram_config(args)?;
    let discord = discord_config(args)?;
    let web = web_config(args, web)?;
    if telegram.is_none() && discord.is_none() && web.is_none() {
        bail!(
            "no front end is configured. To use IsPotato in your browser, run `ispotato serve`. For Discord set \
             DISCORD_TOKEN (or DISCORD_TOKEN_FILE); for Telegram set TELOXIDE_TOKEN (or TELEGRAM_TOKEN, or \
             TELEGRAM_TOKEN_FILE) to the token BotFather gave you. To judge files, use `ispotato classify IMAGE`."
        );
    }
    // Bind the page's address first: a taken port fails start-up before the model loads.
    let web = match web {
        Some(config) => Some(BoundWeb::bind(config).await?),
        None => None,
    };
    let services = Arc::new(setup::services(global, args)?);
    let store = services.store.clone();
    let trivia = services.trivia.clone();
    if telegram.is_some() {
        services.telemetry.set_connected(Platform::Telegram.as_str(), false);
    }
    if discord.is_some() {
        services.telemetry.set_connected(Platform::Discord.as_str(), false);
    }
    let admin_token = secret(&None, &args.admin_token_file, "admin token")?;
    let admin = crate::admin::AdminState::new(services.clone(), admin_token);
    crate::admin::start(args.admin_listen, admin.clone()).await?;
    let model_reloader = spawn_sighup_model_reload(admin);
    let watcher = trivia.watch(Duration::from_secs(5));
    let cleanup = spawn_image_cleanup(store, global.image_retention, Duration::from_secs(24 * 3600));
    // One signal stops every front end.
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopper = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stopper.send(());
    });
    let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(config) = telegram {
        let (services, stop) = (services.clone(), stopped(&stop_tx));
        tasks.spawn(async move {
            ispotato_telegram::run(services, config, stop)
                .await
                .map_err(|e| anyhow::anyhow!(e))
        });
    }
    if let Some(web) = web {
        let (services, stop) = (services.clone(), stopped(&stop_tx));
        println!("IsPotato is ready: open {} in your browser", web.url());
        tasks.spawn(async move {
            web.serve(services, stop).await;
            Ok(())
        });
    }
    if let Some(config) = discord {
        let (services, stop) = (services.clone(), stopped(&stop_tx));
        tasks.spawn(async move {
            ispotato_discord::run(services, config, stop)
                .await
                .map_err(|e| anyhow::anyhow!(e))
        });
    }
    // After a stop signal, in-flight work gets `drain` to finish; then the process exits anyway.
    let drain = Duration::from_secs(args.drain_seconds);
    let mut stop_seen = stop_tx.subscribe();
    tokio::spawn(async move {
        if stop_seen.recv().await.is_ok() {
            tokio::time::sleep(drain).await;
            tracing::warn!(
                seconds = drain.as_secs(),
                "in-flight work did not finish within the drain bound; exiting"
            );
            std::process::exit(0);
        }
    });
    let mut failed = false;
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = format!("{e:#}"), "a front end failed");
                eprintln!("error: {e:#}");
                failed = true;
                let _ = stop_tx.send(());
            }
            Err(e) => {
                tracing::error!(error = %e, "a front end task panicked");
                failed = true;
                let _ = stop_tx.send(());
            }
        }
    }
    watcher.abort();
    cleanup.abort();
    model_reloader.abort();
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
