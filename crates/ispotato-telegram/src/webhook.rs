//! Webhook mode: teloxide's axum listener behind our own constant-time check of
//! `X-Telegram-Bot-Api-Secret-Token`; anything without the right secret gets 401 and is never
//! parsed or dispatched.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

use ispotato_core::rate_limit::RateLimiter;
use ispotato_core::secret::SecretString;
use teloxide::update_listeners::webhooks::{axum_to_router, Options};
use teloxide::update_listeners::UpdateListener;

use crate::config::WebhookConfig;
use crate::{TelegramError, TgBot};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Refused requests logged at WARN per minute; the rest only at DEBUG, so a flood of
/// unauthenticated requests cannot flood the log.
const REFUSALS_LOGGED_PER_MINUTE: usize = 5;

async fn check_secret(secret: SecretString, warnings: Arc<RateLimiter>, request: Request, next: Next) -> Response {
    let ok = request
        .headers()
        .get(SECRET_HEADER)
        .is_some_and(|v| secret.matches(v.as_bytes()));
    if !ok {
        if warnings.try_take("*", 1).is_ok() {
            tracing::warn!(path = %request.uri().path(), "webhook request without the right secret refused");
        } else {
            tracing::debug!(path = %request.uri().path(), "webhook request without the right secret refused");
        }
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    next.run(request).await
}

/// Registers the webhook with Telegram and serves it; returns the update listener.
pub async fn start(
    bot: TgBot,
    config: &WebhookConfig,
) -> Result<impl UpdateListener<Err = std::convert::Infallible>, TelegramError> {
    let secret = config.secret.secret().clone();
    // The secret's form was checked when it was parsed, so teloxide accepts it.
    let options = Options::new(config.listen, config.public_url.clone()).secret_token(secret.expose().to_string());
    let (listener, stop, router) = axum_to_router(bot, options)
        .await
        .map_err(|e| TelegramError::Startup(secret.scrub(&e.to_string())))?;
    let warnings = Arc::new(RateLimiter::per_minute(REFUSALS_LOGGED_PER_MINUTE));
    let router = router.layer(axum::middleware::from_fn(move |req, next| {
        check_secret(secret.clone(), warnings.clone(), req, next)
    }));
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| TelegramError::Webhook(format!("cannot listen on {}: {e}", config.listen)))?;
    tracing::info!(listen = %config.listen, "telegram webhook listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(tcp, router).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "webhook server stopped");
        }
    });
    Ok(listener)
}
