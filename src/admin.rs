//! The admin HTTP listener: `/healthz` (the process answers), `/readyz` (model loaded, store
//! usable, every configured front end connected) and `/metrics` (Prometheus text).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use ispotato_core::services::Services;

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(services): State<Arc<Services>>) -> (StatusCode, String) {
    let mut problems = Vec::new();
    let store = services.store.clone();
    match tokio::task::spawn_blocking(move || store.counts()).await {
        Ok(Ok(_)) => {}
        _ => problems.push("store unavailable".to_string()),
    }
    for frontend in services.telemetry.disconnected() {
        problems.push(format!("{frontend} not connected"));
    }
    if problems.is_empty() {
        (
            StatusCode::OK,
            format!("ready: model {}\n", services.judge.queue().classifier().card().version),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join(", ")),
        )
    }
}

async fn metrics(State(services): State<Arc<Services>>) -> impl IntoResponse {
    let body = services.telemetry.render(services.judge.queue().depth());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Binds the listener now (so a bad address fails start-up) and serves it in the background.
pub async fn start(listen: &str, services: Arc<Services>) -> anyhow::Result<Option<SocketAddr>> {
    if listen.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| anyhow::anyhow!("admin listen address '{listen}' is not HOST:PORT"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the admin endpoints: {e}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(services);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin listener stopped");
        }
    });
    tracing::info!(listen = %bound, "admin endpoints listening");
    Ok(Some(bound))
}
