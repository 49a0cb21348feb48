//! Bounded retries for Bot API calls: honour `retry_after` (429) and retry transient failures
//! (5xx, network) a few times with backoff, so a hiccup does not cost the user their answer.

use std::future::Future;
use std::time::Duration;

use teloxide::RequestError;

/// Attempts per call, the first included.
pub const MAX_ATTEMPTS: usize = 4;
/// Longest `retry_after` we wait for; beyond it the call fails.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

fn transient(err: &RequestError) -> Option<Duration> {
    match err {
        RequestError::RetryAfter(secs) => Some(secs.duration()),
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => Some(Duration::ZERO),
        // Errors Telegram does not document, such as "Internal Server Error" or "Bad Gateway".
        RequestError::Api(teloxide::ApiError::Unknown(_)) => Some(Duration::ZERO),
        _ => None,
    }
}

pub async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(err) => {
                let wait = match transient(&err) {
                    Some(w) if attempt < MAX_ATTEMPTS && w <= MAX_RETRY_AFTER => w,
                    _ => return Err(err),
                };
                let wait = wait.max(Duration::from_millis(200 * (1 << attempt)));
                tracing::warn!(
                    call = what,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "Bot API call failed, retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}
