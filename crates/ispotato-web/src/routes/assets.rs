//! The embedded assets: style, script, icon, and the API's OpenAPI document.

use axum::http::header;
use axum::response::IntoResponse;

/// Assets change only with the binary; an hour of caching keeps a redeploy visible soon.
const CACHE: &str = "public, max-age=3600";

pub const STYLE: &str = include_str!("../../assets/style.css");
pub const SCRIPT: &str = include_str!("../../assets/app.js");
pub const FAVICON: &str = include_str!("../../assets/favicon.svg");
pub const OPENAPI: &str = include_str!("../../assets/openapi.json");

pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        STYLE,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        SCRIPT,
    )
}

pub async fn favicon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, CACHE)],
        FAVICON,
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
