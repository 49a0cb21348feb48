//! Deletes kept images once they are older than the retention period (default 30 days).

use std::sync::Arc;
use std::time::Duration;

use crate::store::{unix_now, Store, StoreError};

/// Default retention for kept images.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Deletes images stored more than `retention` before `now` (unix seconds). Returns how many.
pub fn delete_expired_images(store: &dyn Store, now: i64, retention: Duration) -> Result<usize, StoreError> {
    store.delete_images_before(now.saturating_sub(retention.as_secs() as i64))
}

/// Runs [`delete_expired_images`] now and then every `interval`, until the task is aborted.
pub fn spawn_image_cleanup(
    store: Arc<dyn Store>,
    retention: Duration,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let s = store.clone();
            match tokio::task::spawn_blocking(move || delete_expired_images(s.as_ref(), unix_now(), retention)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(deleted = n, "expired kept images deleted"),
                Ok(Err(e)) => tracing::error!(error = %e, "image cleanup failed"),
                Err(e) => tracing::error!(error = %e, "image cleanup task failed"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}
