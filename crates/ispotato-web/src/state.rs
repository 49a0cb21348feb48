//! What every handler shares: the core services and the web front end's own settings.

use std::net::IpAddr;
use std::sync::Arc;

use ispotato_core::prelude::Services;
use ispotato_core::rate_limit::RateLimiter;

use crate::WebConfig;

/// Room in a request body for the form's framing around the image.
const FORM_OVERHEAD_BYTES: usize = 64 * 1024;

pub struct WebState {
    pub services: Arc<Services>,
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per client per minute (all routes but the static assets).
    pub requests: RateLimiter,
}

impl WebState {
    pub fn new(services: Arc<Services>, config: &WebConfig) -> Self {
        Self {
            services,
            trusted_proxies: config.trusted_proxies.clone(),
            requests: RateLimiter::per_minute(config.requests_per_minute.max(1)),
        }
    }

    /// The largest image the ingest accepts, in bytes.
    pub fn max_image_bytes(&self) -> u64 {
        self.services.judge.ingestor().limits().max_bytes
    }

    /// The largest request body: one image and its form.
    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_image_bytes())
            .unwrap_or(usize::MAX)
            .saturating_add(FORM_OVERHEAD_BYTES)
    }
}
