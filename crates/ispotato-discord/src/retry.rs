//! Bounded retries for Discord REST calls that failed transiently (429, 5xx, network).
//!
//! A 429 seldom reaches this code: talking to Discord directly, serenity's own rate limiter
//! sleeps for `Retry-After` and retries itself; behind a proxy (`ISPOTATO_DISCORD_API_URL`),
//! the loopback hop (`proxy_hop`) waits the `retry_after` Discord asks for and resends. What
//! still arrives (a wait longer than the hop sits out, or one it could not read) is retried here
//! after 1, 2 and 3 s, serenity's error keeping neither the header nor the body's `retry_after`.

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
