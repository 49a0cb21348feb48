//! Bounded retries for Discord REST calls that failed transiently (429, 5xx, network).
//!
//! With serenity's own rate limiter on (talking to Discord directly) a 429 never reaches this
//! code: serenity sleeps for `Retry-After` and retries itself. Behind a proxy
//! (`ISPOTATO_DISCORD_API_URL`) serenity's limiter is off and its error keeps neither the
//! `Retry-After` header nor the body's `retry_after`, so a 429 is retried after 1, 2 and 3 s.

use std::future::Future;
use std::time::Duration;

/// Attempts per call, the first included.
pub const MAX_ATTEMPTS: usize = 4;

fn transient(e: &serenity::Error) -> Option<Duration> {
    use serenity::http::HttpError;
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => match r.status_code.as_u16() {
            429 => Some(Duration::from_secs(1)),
            code if code >= 500 => Some(Duration::from_millis(300)),
            _ => None,
        },
        serenity::Error::Http(HttpError::Request(_)) => Some(Duration::from_millis(300)),
        _ => None,
    }
}

/// Runs a Discord call again on 429/5xx/network errors, at most [`MAX_ATTEMPTS`] times.
pub async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> serenity::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = serenity::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => match transient(&e) {
                Some(wait) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(call = what, attempt, "Discord call failed, retrying");
                    tokio::time::sleep(wait * attempt as u32).await;
                    attempt += 1;
                }
                _ => return Err(e),
            },
        }
    }
}
