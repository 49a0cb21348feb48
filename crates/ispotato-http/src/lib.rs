//! The one way IsPotato serves HTTP. Every listener (the admin endpoints, the Telegram webhook,
//! the web page) runs through [`serve`], which gives it:
//!
//! - a **connection cap**: past it a new connection is closed at once, so half-open or slow
//!   clients cannot take every file descriptor and starve `/healthz` or real updates;
//! - a **header timeout** that also bounds the idle wait for the next request on a kept-alive
//!   connection, and a header size cap;
//! - a **body limit and body timeout**: the body is read whole, under both, before any handler
//!   runs (413 past the limit, 408 past the time);
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
use http_body_util::{BodyExt, LengthLimitError, Limited};
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
}

impl ListenerLimits {
    /// 128 connections, 10 s for headers (and idle), 30 s and 1 MB for a body, 16 KB of head,
    /// 5 minutes a connection.
    pub const DEFAULT: Self = Self {
        max_connections: 128,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        max_body_bytes: 1024 * 1024,
        max_header_bytes: 16 * 1024,
        max_connection_age: Duration::from_secs(300),
    };
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes. Handlers can read
/// the client's address with `ConnectInfo<SocketAddr>`.
pub async fn serve<F>(listener: TcpListener, router: Router, limits: ListenerLimits, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    let router = guard(router, limits);
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
            if refused_logged % 100 == 0 {
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

/// The body limit and timeout around every handler.
fn guard(router: Router, limits: ListenerLimits) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(limits, read_body_whole))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
}

/// Reads the request body under the listener's limit and timeout before the handler sees it.
async fn read_body_whole(State(limits): State<ListenerLimits>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return too_large(limits);
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(limits.body_timeout, Limited::new(body, limits.max_body_bytes).collect()).await;
    match read {
        Err(_) => {
            tracing::debug!("request body not sent in time");
            (StatusCode::REQUEST_TIMEOUT, "the request body took too long\n").into_response()
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(limits),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body unreadable");
            (StatusCode::BAD_REQUEST, "the request body could not be read\n").into_response()
        }
        Ok(Ok(collected)) => {
            next.run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await
        }
    }
}

fn too_large(limits: ListenerLimits) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is over the {} byte limit\n", limits.max_body_bytes),
    )
        .into_response()
}
