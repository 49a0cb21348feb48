//! The one way IsPotato serves HTTP. Every listener (the admin endpoints, the Telegram webhook,
//! the web page) runs through [`serve`], which gives it:
//!
//! - a **connection cap**: past it a new connection is closed at once, so half-open or slow
//!   clients cannot take every file descriptor and starve `/healthz` or real updates;
//! - a **header timeout** that also bounds the idle wait for the next request on a kept-alive
//!   connection, and a header size cap;
//! - a **body limit and body timeout**: the body is read whole, under both, before any handler
//!   runs (413 past the limit, refused as it streams in; 408 past the time);
//! - a **budget for buffered bodies** across all connections: a body that would take the
//!   listener past it is refused (503) while it streams, so many large uploads at once cannot
//!   exhaust memory;
//! - a **connection lifetime**: after it the connection finishes its request and closes, so a
//!   client that never reads its response cannot hold a slot.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service;

/// What one listener allows each client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once; past it new ones are closed without a reply.
    pub max_connections: usize,
    /// Time to send a request's headers, and to start the next request on a kept-alive
    /// connection (the idle timeout).
    pub header_timeout: Duration,
    /// Time to send a request's whole body.
    pub body_timeout: Duration,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How long one connection may stay open; then it finishes its request and closes.
    pub max_connection_age: Duration,
    /// Bytes of request bodies held at once across every connection (read, or being read,
    /// and not yet answered).
    pub max_buffered_bytes: usize,
}

impl ListenerLimits {
    /// 128 connections, 10 s for headers (and idle), 30 s and 1 MB for a body, 16 KB of head,
    /// 5 minutes a connection, 64 MB of bodies at once.
    pub const DEFAULT: Self = Self {
        max_connections: 128,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        max_body_bytes: 1024 * 1024,
        max_header_bytes: 16 * 1024,
        max_connection_age: Duration::from_secs(300),
        max_buffered_bytes: 64 * 1024 * 1024,
    };
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a request body was refused before the handler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Over `max_body_bytes` (declared or streamed).
    TooLarge { limit: usize },
    /// Not sent within `body_timeout`.
    TooSlow,
    /// The listener holds `max_buffered_bytes` of bodies already.
    Busy,
    /// The connection broke or the framing was invalid.
    Unreadable,
}

/// How a listener words a [`BodyRefusal`] for the request it refused (plain text by default;
/// the web page answers JSON or a page).
pub type RefusalAnswer = fn(BodyRefusal, &axum::http::request::Parts) -> Response;

/// The default answer: a status and one line of text.
pub fn plain_answer(refusal: BodyRefusal, _: &axum::http::request::Parts) -> Response {
    let (status, text) = match refusal {
        BodyRefusal::TooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the {limit} byte limit\n"),
        ),
        BodyRefusal::TooSlow => (StatusCode::REQUEST_TIMEOUT, "the request body took too long\n".into()),
        BodyRefusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many uploads at once; try again soon\n".into(),
        ),
        BodyRefusal::Unreadable => (StatusCode::BAD_REQUEST, "the request body could not be read\n".into()),
    };
    let mut response = (status, text).into_response();
    if refusal == BodyRefusal::Busy {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
    }
    response
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes. Handlers can read
/// the client's address with `ConnectInfo<SocketAddr>`.
pub async fn serve<F>(listener: TcpListener, router: Router, limits: ListenerLimits, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    serve_with(listener, router, limits, plain_answer, shutdown).await
}

/// [`serve`], answering refused bodies with `answer`.
pub async fn serve_with<F>(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    answer: RefusalAnswer,
    shutdown: F,
) where
    F: Future<Output = ()> + Send,
{
    let router = guard(router, limits, answer);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused_logged = 0u32;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors (or a transient error): back off instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if refused_logged.is_multiple_of(100) {
                tracing::warn!(%peer, cap = limits.max_connections, "connection cap reached; new connections are closed");
            }
            refused_logged = refused_logged.wrapping_add(1);
            drop(stream);
            continue;
        };
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().call(request)
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192))
                .keep_alive(true);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = tokio::time::sleep(limits.max_connection_age) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.body_timeout, connection).await;
                }
            }
            drop(slot);
        });
    }
}

/// What the body guard needs: the limits, the answer, and the listener's buffered bytes.
#[derive(Clone)]
struct Guard {
    limits: ListenerLimits,
    answer: RefusalAnswer,
    buffered: Arc<Semaphore>,
}

/// The body limit, timeout and budget around every handler.
fn guard(router: Router, limits: ListenerLimits, answer: RefusalAnswer) -> Router {
    let guard = Guard {
        limits,
        answer,
        buffered: Arc::new(Semaphore::new(limits.max_buffered_bytes.min(Semaphore::MAX_PERMITS))),
    };
    router
        .layer(axum::middleware::from_fn_with_state(guard, read_body_whole))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
}

/// Reads the request body under the listener's limit, timeout and budget before the handler
/// sees it; the body's share of the budget is held until the handler has answered.
async fn read_body_whole(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let limits = guard.limits;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return (guard.answer)(
            BodyRefusal::TooLarge {
                limit: limits.max_body_bytes,
            },
            &parts,
        );
    }
    let read = tokio::time::timeout(limits.body_timeout, read_within(body, &guard)).await;
    match read {
        Err(_) => {
            tracing::debug!("request body not sent in time");
            (guard.answer)(BodyRefusal::TooSlow, &parts)
        }
        Ok(Err(refusal)) => {
            if refusal == BodyRefusal::Busy {
                tracing::warn!(
                    budget = limits.max_buffered_bytes,
                    "request bodies over the listener's budget; refused one"
                );
            }
            (guard.answer)(refusal, &parts)
        }
        Ok(Ok((bytes, held))) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            drop(held);
            response
        }
    }
}

/// Collects a body frame by frame, refusing it as soon as it passes the size limit or the
/// listener's budget.
async fn read_within(
    mut body: Body,
    guard: &Guard,
) -> Result<(Vec<u8>, Option<tokio::sync::OwnedSemaphorePermit>), BodyRefusal> {
    let limit = guard.limits.max_body_bytes;
    let mut bytes = Vec::new();
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            tracing::debug!(error = %e, "request body unreadable");
            BodyRefusal::Unreadable
        })?;
        let Ok(data) = frame.into_data() else { continue };
        if bytes.len() + data.len() > limit {
            return Err(BodyRefusal::TooLarge { limit });
        }
        let n = u32::try_from(data.len()).map_err(|_| BodyRefusal::TooLarge { limit })?;
        let permit = guard
            .buffered
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| BodyRefusal::Busy)?;
        match held.as_mut() {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes, held))
}
