//! IsPotato's web front end: the page where anyone can ask "is this a potato?" with a photo (a
//! file, a drop, a paste, the phone's camera or a URL), vote on the answer and read a fact; the
//! `/stats` and `/model` pages; and a JSON API for programs (`/api/v1/...`, described by
//! `/api/v1/openapi.json`).
//!
//! Like the chat bots it only translates: every image goes through the core's one judge use
//! case ([`Services::take_quota`] then [`Services::judge`]), votes through [`Services::vote`],
//! facts through [`Services::fact`]. The page works without JavaScript (form posts answered by
//! server-rendered pages); with it, the same posts are answered in place.
//!
//! Everything it serves is embedded in the binary. It runs behind the shared hardened listener
//! ([`ispotato_http::serve_with`]): bodies are capped while they stream, slow clients time out,
//! connections are capped. On top of that: a request budget per client (429 with
//! `Retry-After`), a CSRF token on every form post, a strict Content-Security-Policy.

mod client;
mod errors;
mod html;
mod judging;
mod markdown;
mod routes;
mod security;
mod state;
mod upload;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ispotato_core::prelude::{Platform, Services};
use tokio::net::TcpListener;

pub use state::WebState;

/// The address the page is served on unless told otherwise: 127.0.0.1:8080.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080));

/// How the web front end is served.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; from anyone
    /// else those headers are ignored and the peer address is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per client (hashed address) per minute, all routes together except the static
    /// assets; the images judged are limited separately by the core's per-user limit.
    pub requests_per_minute: usize,
    /// Request bodies held at once across all uploads, in bytes.
    pub max_buffered_bytes: usize,
}

impl WebConfig {
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            trusted_proxies: Vec::new(),
            requests_per_minute: 120,
            max_buffered_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound web listener, not yet serving.
pub struct BoundWeb {
    listener: TcpListener,
    config: WebConfig,
}

impl BoundWeb {
    /// Binds the listener now, so a bad address fails start-up before anything else runs.
    pub async fn bind(config: WebConfig) -> Result<Self, WebError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| WebError::Bind {
                addr: config.listen,
                source,
            })?;
        Ok(Self { listener, config })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// The URL to open in a browser.
    pub fn url(&self) -> String {
        let addr = self.local_addr();
        let host = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        format!("http://{host}:{}/", addr.port())
    }

    /// Serves the page and the API until `shutdown` completes.
    pub async fn serve(self, services: Arc<Services>, shutdown: impl std::future::Future<Output = ()> + Send) {
        let state = Arc::new(WebState::new(services, &self.config));
        let limits = listener_limits(&state, &self.config);
        state.services.telemetry.set_connected(Platform::Web.as_str(), true);
        tracing::info!(url = %self.url(), "web page serving");
        ispotato_http::serve_with(
            self.listener,
            routes::router(state),
            limits,
            errors::body_refused,
            shutdown,
        )
        .await;
    }
}

/// The listener's limits: an upload may be as large as the ingest allows plus the form's
/// framing; more connections than the admin listener, for browsers open several.
fn listener_limits(state: &WebState, config: &WebConfig) -> ispotato_http::ListenerLimits {
    ispotato_http::ListenerLimits {
        max_connections: 256,
        max_body_bytes: state.max_body_bytes(),
        max_buffered_bytes: config.max_buffered_bytes.max(state.max_body_bytes()),
        ..ispotato_http::ListenerLimits::DEFAULT
    }
}
