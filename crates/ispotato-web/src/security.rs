//! What wraps every route: security headers, the per-client request budget, the browser
//! cookie, and request telemetry.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ispotato_core::prelude::{Platform, Refusal};

use crate::client::{browser_from_cookies, client_of, BrowserId, IssuedBrowser, BROWSER_COOKIE};
use crate::errors::{Face, Failure};
use crate::state::WebState;

/// No inline script or style, nothing from elsewhere; images may be `data:` (the judged
/// crop) or `blob:` (the preview of a chosen file).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A browser cookie lives a year.
const COOKIE_MAX_AGE_S: u64 = 365 * 24 * 3600;

pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(self), microphone=(), geolocation=()"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Static assets do not count against a client's request budget.
fn is_asset(path: &str) -> bool {
    path.starts_with("/assets/") || path.starts_with("/favicon")
}

/// Refuses a client past its requests per minute, with `Retry-After`.
pub async fn request_budget(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    if is_asset(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let client = client_of(&parts, &state);
    // Kept under a keyed hash, like every other id: the limiter's memory holds no addresses.
    let key = state.services.hasher.hash("web-addr", &client.addr_key());
    if let Err(retry_after) = state.requests.try_take(&key, 1) {
        let refusal = Refusal::later(
            "rate_limited",
            format!(
                "that's a lot of requests; try again in {} s",
                retry_after.as_secs().max(1)
            ),
            retry_after,
        );
        state.services.report(Platform::Web, "request", &refusal);
        return Failure::new(Face::of(&parts), refusal).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Gives a browser without our cookie an id, set as a cookie on the page it gets.
pub async fn browser_cookie(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    // Secure when the client reached a trusted proxy over HTTPS.
    let https = client_of(&parts, &state).https;
    let mut request = Request::from_parts(parts, body);
    let issued = match browser_from_cookies(request.headers()) {
        Some(_) => None,
        None => {
            let id = BrowserId::new_random();
            request.extensions_mut().insert(IssuedBrowser(id.clone()));
            Some(id)
        }
    };
    let mut response = next.run(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if let (Some(id), true) = (issued, is_page) {
        let secure = if https { "; Secure" } else { "" };
        let cookie = format!(
            "{BROWSER_COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax{secure}",
            id.as_str()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Counts every answered request by route pattern and status, with its latency.
pub async fn telemetry(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    state
        .services
        .telemetry
        .http_request(&route, response.status().as_u16(), started.elapsed());
    response
}
