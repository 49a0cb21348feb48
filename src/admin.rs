//! The admin HTTP listener: `/healthz` (the process answers), `/readyz` (model loaded, store
//! usable, every configured front end connected), `/metrics` (Prometheus text) and
//! `POST /admin/reload-model` (load the model card again and swap it in; a broken one is
//! refused and the old one keeps serving). The reads are open; the reload needs the admin
//! token as `Authorization: Bearer TOKEN` and runs one at a time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ispotato_core::secret::SecretString;
use ispotato_core::serve::Services;

async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Clone)]
pub struct AdminState {
    pub services: Arc<Services>,
    /// What admin actions require as a bearer token; `None` turns them off.
    pub token: Option<SecretString>,
    /// Held while a model reloads: one at a time.
    pub reloading: Arc<tokio::sync::Mutex<()>>,
}

impl AdminState {
    pub fn new(services: Arc<Services>, token: Option<SecretString>) -> Self {
        Self {
            services,
            token,
            reloading: Default::default(),
        }
    }
}

/// Reloads the model from the serving model's card file; shared by the endpoint and SIGHUP.
/// A second reload while one runs is refused (each one holds a second model in memory).
pub async fn reload_model(state: &AdminState) -> Result<String, ReloadRefused> {
    let Ok(_one_at_a_time) = state.reloading.try_lock() else {
        return Err(ReloadRefused::Busy);
    };
    let services = state.services.clone();
    let reloaded = tokio::task::spawn_blocking(move || {
        let queue = services.judge.queue();
        let card = queue.classifier().card_path().to_path_buf();
        queue.reload(&card)
    });
    match reloaded.await {
        Ok(Ok(model)) => Ok(model.card().version.clone()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "model reload refused; the old model keeps serving");
            Err(ReloadRefused::Failed(e.to_string()))
        }
        Err(e) => Err(ReloadRefused::Failed(format!("reload task failed: {e}"))),
    }
}

/// Why a reload did not happen.
#[derive(Debug)]
pub enum ReloadRefused {
    /// Another reload holds the lock.
    Busy,
    /// The card or model did not load; the old model keeps serving.
    Failed(String),
}

impl std::fmt::Display for ReloadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Busy => f.write_str("a reload is already running"),
            Self::Failed(detail) => f.write_str(detail),
        }
    }
}

/// Whether the request carries the admin token (compared in constant time).
fn authorised(token: &SecretString, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| token.matches(given))
}

async fn reload(State(state): State<AdminState>, headers: HeaderMap) -> (StatusCode, String) {
    let Some(token) = &state.token else {
        return (
            StatusCode::FORBIDDEN,
            "admin actions are off; set ISPOTATO_ADMIN_TOKEN_FILE to turn them on\n".into(),
        );
    };
    if !authorised(token, &headers) {
        tracing::warn!("admin request without the right token refused");
        return (StatusCode::UNAUTHORIZED, "the admin token is missing or wrong\n".into());
    }
    match reload_model(&state).await {
        Ok(version) => (StatusCode::OK, format!("reloaded: model {version}\n")),
        Err(ReloadRefused::Busy) => (StatusCode::CONFLICT, "a reload is already running\n".into()),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("refused, the old model keeps serving: {e}\n"),
        ),
    }
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    let services = state.services;
    let mut problems = Vec::new();
    let store = services.store.clone();
    let backend = store.backend();
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            problems.push(format!("database ({backend}) unavailable"));
        }
        Err(_) => problems.push(format!("database ({backend}) unavailable")),
    }
    for frontend in services.telemetry.disconnected() {
        problems.push(format!("{frontend} not connected"));
    }
    if problems.is_empty() {
        (
            StatusCode::OK,
            format!(
                "ready: model {}\ndatabase: {backend} ok\n",
                services.judge.queue().classifier().card().version
            ),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join(", ")),
        )
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let services = state.services;
    let body = services.telemetry.render(services.judge.queue().depth());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// The admin endpoints take no request body and serve a scraper and a health check or two.
const ADMIN_LIMITS: ispotato_http::ListenerLimits = ispotato_http::ListenerLimits {
    max_connections: 32,
    max_body_bytes: 4096,
    ..ispotato_http::ListenerLimits::DEFAULT
};

/// Binds the listener now (so a bad address fails start-up) and serves it in the background.
/// Where the admin endpoints listen: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    Off,
    On(SocketAddr),
}

impl std::str::FromStr for AdminListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse()
            .map(Self::On)
            .map_err(|_| format!("'{s}' is neither HOST:PORT nor off"))
    }
}

pub async fn start(listen: AdminListen, state: AdminState) -> anyhow::Result<Option<SocketAddr>> {
    let AdminListen::On(addr) = listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the admin endpoints: {e}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/reload-model", post(reload))
        .with_state(state);
    tokio::spawn(ispotato_http::serve(
        listener,
        app,
        ADMIN_LIMITS,
        std::future::pending(),
    ));
    tracing::info!(listen = %bound, "admin endpoints listening");
    Ok(Some(bound))
}
