//! Discord's `retry_after`, honoured behind an API proxy.
//!
//! Talking to Discord directly, serenity's rate limiter reads `Retry-After` and waits itself.
//! Behind a proxy (`ISPOTATO_DISCORD_API_URL`) serenity turns its limiter off, and the error it
//! returns for a 429 keeps neither the header nor the body's `retry_after`: the bot could only
//! guess the wait. So in that mode serenity talks to this loopback hop instead, which forwards
//! every call to the proxy unchanged and, when the answer is a 429 asking for at most
//! [`MAX_HONOURED_WAIT`], waits exactly what it asked and sends the call again (at most
//! [`ATTEMPTS`] sends). Everything else, a longer wait included, goes back to serenity as it
//! came, where `retry::with_retries` deals with it.
//!
//! Paths carry interaction tokens and headers the bot token: neither is ever logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

/// Sends of one call, the first included, while the proxy keeps answering 429.
pub const ATTEMPTS: usize = 3;
/// The longest wait the hop sits out itself; a longer one is passed back.
pub const MAX_HONOURED_WAIT: Duration = Duration::from_secs(10);
/// The largest request body forwarded (Discord's own attachment limit is 25 MiB).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// How long one forwarded call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers that belong to one connection, not to the call.
const HOP_BY_HOP: [&str; 5] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
];

/// The running hop; stops when dropped.
pub struct ProxyHop {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ProxyHop {
    /// The base URL to give serenity as its proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ProxyHop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// Starts the hop on 127.0.0.1 in front of `upstream` (the configured API URL).
pub async fn start(upstream: &url::Url) -> std::io::Result<ProxyHop> {
    let client = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let state = Arc::new(Upstream {
        base: upstream.as_str().trim_end_matches('/').to_string(),
        client,
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the Discord proxy hop stopped");
        }
    });
    Ok(ProxyHop { addr, task })
}

/// Forwards one call, sitting out the 429s it may.
async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let target = format!(
        "{}{}",
        upstream.base,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let headers = without_hop_by_hop(&parts.headers);
    let mut attempt = 1;
    loop {
        let sent = upstream
            .client
            .request(parts.method.clone(), &target)
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                // A 502 is retried by `retry::with_retries` like any server error.
                tracing::warn!(method = %parts.method, error = %e.without_url(), "the Discord API proxy did not answer");
                return (StatusCode::BAD_GATEWAY, "the Discord API proxy did not answer").into_response();
            }
        };
        let status = answer.status();
        let answer_headers = without_hop_by_hop(answer.headers());
        let answer_body = answer.bytes().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS && attempt < ATTEMPTS {
            if let Some(wait) = retry_after(&answer_headers, &answer_body).filter(|w| *w <= MAX_HONOURED_WAIT) {
                tracing::warn!(method = %parts.method, attempt, wait_ms = wait.as_millis() as u64, "Discord rate limit: waiting as asked");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
        }
        let mut response = Response::new(Body::from(answer_body));
        *response.status_mut() = status;
        *response.headers_mut() = answer_headers;
        return response;
    }
}

fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(HeaderName::from_static(name));
    }
    kept
}

/// The wait a 429 asks for: the body's `retry_after` (seconds, fractional), else the
/// `Retry-After` header (seconds). `None` when neither says, or says something unusable.
fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after")?.as_f64());
    let from_header = || headers.get("retry-after")?.to_str().ok()?.trim().parse::<f64>().ok();
    let seconds = from_body.or_else(from_header)?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("retry-after", value.parse().unwrap());
        h
    }

    #[test]
    fn the_wait_comes_from_the_body_else_the_header() {
        let body = br#"{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}"#;
        assert_eq!(retry_after(&header("3"), body), Some(Duration::from_millis(2500)));
        assert_eq!(retry_after(&header("3"), b"not json"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&HeaderMap::new(), b"{}"), None);
        assert_eq!(retry_after(&header("soon"), b"{}"), None);
        assert_eq!(retry_after(&header("-1"), b"{}"), None, "a negative wait is unusable");
        assert_eq!(
            retry_after(&HeaderMap::new(), br#"{"retry_after": 1e300}"#),
            Some(Duration::from_secs(86_400)),
            "an absurd wait is bounded (and then passed back, being over the limit)"
        );
    }

    #[test]
    fn connection_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:1".parse().unwrap());
        h.insert("content-length", "12".parse().unwrap());
        h.insert("authorization", "Bot x".parse().unwrap());
        let kept = without_hop_by_hop(&h);
        assert!(kept.get("host").is_none() && kept.get("content-length").is_none());
        assert_eq!(kept.get("authorization").unwrap(), "Bot x");
    }
}
