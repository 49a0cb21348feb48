//! The routes: pages, the API, the embedded assets; and the layers every route runs in.

mod api;
mod assets;
mod pages;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ispotato_core::prelude::Refusal;

use crate::errors::{Face, Failure};
use crate::security;
use crate::state::WebState;

pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/judge", post(pages::judge).get(pages::home))
        .route("/vote", post(pages::vote))
        .route("/stats", get(pages::stats))
        .route("/model", get(pages::model))
        .route("/model/{file}", get(pages::model_file))
        .route("/api/v1/classify", post(api::classify))
        .route("/api/v1/feedback", post(api::feedback))
        .route("/api/v1/fact", get(api::fact))
        .route("/api/v1/openapi.json", get(assets::openapi))
        .route("/assets/style.css", get(assets::style))
        .route("/assets/app.js", get(assets::script))
        .route("/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), security::browser_cookie))
        .layer(from_fn_with_state(state.clone(), security::request_budget))
        .layer(from_fn_with_state(state.clone(), security::telemetry))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    refuse(
        request,
        Refusal::declined("not_found", "there's nothing here (not even a potato)"),
    )
}

async fn method_not_allowed(request: Request) -> Response {
    refuse(
        request,
        Refusal::declined("method_not_allowed", "that address doesn't take that kind of request"),
    )
}

/// A refusal in the face the request asked for (a page, a fragment, JSON).
fn refuse(request: Request, refusal: Refusal) -> Response {
    let (parts, _) = request.into_parts();
    Failure::new(Face::of(&parts), refusal).into_response()
}
