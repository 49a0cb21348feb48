//! Webhook mode: teloxide's axum listener behind our own constant-time check of
//! `X-Telegram-Bot-Api-Secret-Token`; anything without the right secret gets 401 and is never
//! parsed or dispatched. The listener is the shared one (`ispotato_http::serve`: connection cap,
//! header, idle and body timeouts, body limit), and an update that does not parse is answered
//! and logged by its size and error here, never whole. Each update is claimed in the store by
//! its `update_id` before it is dispatched: one Telegram redelivers (a slow answer, a restart)
//! or several replicas behind one URL each receive, is answered once.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

use ispotato_core::prelude::SecretString;
use ispotato_core::rate_limit::RateLimiter;
use ispotato_core::store::Store;
use teloxide::update_listeners::webhooks::{axum_to_router, Options};
use teloxide::update_listeners::UpdateListener;

use crate::config::WebhookConfig;
use crate::state::PLATFORM;
use crate::{TelegramError, TgBot};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Refused requests, and updates that do not parse, logged at WARN per minute (each kind); the
/// rest only at DEBUG, so a flood of either cannot flood the log.
const REFUSALS_LOGGED_PER_MINUTE: usize = 5;

async fn check_secret(
    secret: SecretString,
    warnings: Arc<RateLimiter>,
    store: Arc<dyn Store>,
    request: Request,
    next: Next,
) -> Response {
    let ok = request
        .headers()
        .get(SECRET_HEADER)
        .is_some_and(|v| secret.matches(v.as_bytes()));
    if !ok {
        if warnings.try_take("refused", 1).is_ok() {
            tracing::warn!(path = %request.uri().path(), "webhook request without the right secret refused");
        } else {
            tracing::debug!(path = %request.uri().path(), "webhook request without the right secret refused");
        }
        return status(StatusCode::UNAUTHORIZED);
    }
    let (parts, body) = request.into_parts();
    // The listener already read the body whole, under its limit.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let update = match serde_json::from_slice::<teloxide::types::Update>(&bytes) {
        Ok(update) => update,
        Err(e) => {
            if warnings.try_take("unparsable", 1).is_ok() {
                tracing::warn!(bytes = bytes.len(), error = %e, "webhook update that does not parse dropped");
            } else {
                tracing::debug!(bytes = bytes.len(), error = %e, "webhook update that does not parse dropped");
            }
            // 200: Telegram would otherwise send the same broken update again and again.
            return status(StatusCode::OK);
        }
    };
    if !first_delivery(store, update.id.0).await {
        return status(StatusCode::OK);
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Whether this update is new (claimed now in the store); a store that cannot answer lets the
/// update through: answering twice beats not answering.
async fn first_delivery(store: Arc<dyn Store>, update_id: u32) -> bool {
    let claimed =
        tokio::task::spawn_blocking(move || store.claim_update(PLATFORM.as_str(), &update_id.to_string())).await;
    match claimed {
        Ok(Ok(true)) => true,
        Ok(Ok(false)) => {
            tracing::info!(update_id, "webhook update delivered again; it was taken already");
            false
        }
        Ok(Err(e)) => {
            tracing::warn!(update_id, error = %e, "could not claim a webhook update; handling it anyway");
            true
        }
        Err(e) => {
            tracing::warn!(update_id, error = %e, "could not claim a webhook update; handling it anyway");
            true
        }
    }
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = code;
    response
}

/// Telegram sends one update per request, small (a message is at most 4096 characters):
/// the default megabyte is far above any real one.
const WEBHOOK_LIMITS: ispotato_http::ListenerLimits = ispotato_http::ListenerLimits::DEFAULT;

/// Registers the webhook with Telegram and serves it; returns the update listener.
pub async fn start(
    bot: TgBot,
    config: &WebhookConfig,
    store: Arc<dyn Store>,
) -> Result<impl UpdateListener<Err = std::convert::Infallible>, TelegramError> {
    let secret = config.secret.secret().clone();
    // The secret's form was checked when it was parsed, so teloxide accepts it.
    let options = Options::new(config.listen, config.public_url.clone()).secret_token(secret.expose().to_string());
    let (listener, stop, router) = axum_to_router(bot, options)
        .await
        .map_err(|e| TelegramError::Startup(secret.scrub(&e.to_string())))?;
    let warnings = Arc::new(RateLimiter::per_minute(REFUSALS_LOGGED_PER_MINUTE));
    let router = router.layer(axum::middleware::from_fn(move |req, next| {
        check_secret(secret.clone(), warnings.clone(), store.clone(), req, next)
    }));
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| TelegramError::Webhook(format!("cannot listen on {}: {e}", config.listen)))?;
    tracing::info!(listen = %config.listen, "telegram webhook listening");
    tokio::spawn(ispotato_http::serve(tcp, router, WEBHOOK_LIMITS, stop));
    Ok(listener)
}
