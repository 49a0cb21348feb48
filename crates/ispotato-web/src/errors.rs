//! How a refusal reaches a web client: an HTTP status from its stable reason, then a page, a
//! fragment for the page's script, or JSON `{error, message}` for the API. Only the refusal's
//! user-safe message is ever shown; unexpected failures show their log reference.

use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ispotato_core::prelude::{answer, Refusal};
use ispotato_http::BodyRefusal;

use crate::html;

/// Who reads the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// A whole page (plain browser navigation, no script).
    Page,
    /// The part of a page the page's script swaps in.
    Fragment,
    /// A program, through `/api/`.
    Json,
}

impl Face {
    pub fn of(parts: &Parts) -> Self {
        Self::of_request(parts.uri.path(), &parts.headers)
    }

    /// `/api/` answers JSON; the page's script (`X-Requested-With: fetch`) gets fragments.
    pub fn of_request(path: &str, headers: &axum::http::HeaderMap) -> Self {
        if path.starts_with("/api/") {
            Self::Json
        } else if headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"fetch"))
        {
            Self::Fragment
        } else {
            Self::Page
        }
    }
}

/// The status a refusal is answered with.
pub fn status_for(refusal: &Refusal) -> StatusCode {
    if let Refusal::NoVerdict(all) = refusal {
        return match all.as_slice() {
            [only] => status_for(only),
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
    }
    if matches!(refusal, Refusal::Unexpected { .. }) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match refusal.code() {
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
        "busy" | "user_busy" => StatusCode::SERVICE_UNAVAILABLE,
        "csrf" => StatusCode::FORBIDDEN,
        "not_found" | "unknown_verdict" => StatusCode::NOT_FOUND,
        "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
        "no_image" | "bad_request" | "invalid_url" | "unsupported_scheme" | "credentials_in_url" => {
            StatusCode::BAD_REQUEST
        }
        "unsupported_media_type" | "unsupported_format" | "not_an_image" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "host_not_found" | "http_status" | "download" | "too_many_redirects" => StatusCode::BAD_GATEWAY,
        "timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A refused request, ready to answer.
#[derive(Debug)]
pub struct Failure {
    pub refusal: Refusal,
    pub face: Face,
}

impl Failure {
    pub fn new(face: Face, refusal: Refusal) -> Self {
        Self { refusal, face }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = status_for(&self.refusal);
        let mut response = match self.face {
            Face::Json => (status, Json(answer::refusal_json(None, &self.refusal))).into_response(),
            Face::Fragment => (status, html::fragment(html::refusal_box(&self.refusal))).into_response(),
            Face::Page => (status, html::error_page(status, &self.refusal)).into_response(),
        };
        if let Some(after) = self.refusal.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The listener's answer to a body it refused before any handler ran.
pub fn body_refused(refused: BodyRefusal, parts: &Parts) -> Response {
    let refusal = match refused {
        BodyRefusal::TooLarge { limit } => Refusal::declined(
            "too_large",
            format!(
                "that upload is too large (the limit is {})",
                html::human_bytes(limit as u64)
            ),
        ),
        BodyRefusal::TooSlow => Refusal::declined("too_slow", "the upload took too long; try a smaller image"),
        BodyRefusal::Busy => Refusal::later(
            "busy",
            "I'm receiving too many uploads at once; try again in a few seconds",
            ispotato_core::serve::BUSY_RETRY_AFTER,
        ),
        BodyRefusal::Unreadable => Refusal::declined("bad_request", "that upload could not be read"),
    };
    tracing::info!(path = %parts.uri.path(), reason = refusal.reason(), "web request body refused");
    let mut response = Failure::new(Face::of(parts), refusal).into_response();
    if refused == BodyRefusal::TooSlow {
        *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    }
    // The rest of an over-large body is not read: close rather than drain it.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
