//! The one road from an image to a verdict, shared by every front end: take a place in the
//! bounded queue, then fetch the bytes (a URL through the guarded fetcher, a local file under
//! the byte cap, or a platform download the front end hands in), then decode (with the ingest
//! guards) and classify on one of the queue's worker threads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use image::RgbImage;

use crate::image::error::IngestError;
use crate::image::ingest::{ImageSource, Ingestor};
use crate::model::error::ClassifyError;
use crate::model::explain::Evidence;
use crate::model::verdict::Verdict;
use crate::serve::queue::{InferenceQueue, Place};
use crate::serve::Refusal;

/// Why an image got no verdict; turned into a [`Refusal`] before it reaches a front end.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

/// A platform file download: awaited only once the image holds a place in the queue.
pub type Download = Pin<Box<dyn Future<Output = Result<Vec<u8>, IngestError>> + Send>>;

/// One image of a request, as the front end found it.
pub enum ImageInput {
    /// A URL or a local path.
    Source(ImageSource),
    /// A platform file (Telegram's getFile, ...), fetched under the byte cap by the front end.
    Download(Download),
    /// Refused by the front end before any download (declared size or type).
    Refused(Refusal),
}

impl ImageInput {
    pub fn url(url: impl Into<String>) -> Self {
        Self::Source(ImageSource::Url(url.into()))
    }
}

/// A verdict with what the store needs about its image.
#[derive(Debug, Clone)]
pub struct Judged {
    pub verdict: Verdict,
    pub sha256: String,
    /// The original file, for stores that keep images.
    pub bytes: Arc<Vec<u8>>,
    /// The image as the model saw it: the resized centre crop (224x224 RGB for the bundled
    /// model), for front ends that show what was judged.
    pub view: Arc<RgbImage>,
    /// Where the potato evidence lies in `view` (red/blue overlay for "Why?"), on backends
    /// that yield the last feature map.
    pub evidence: Option<Arc<Evidence>>,
}

/// Longest a download may hold a queue place, whatever its source (URL or platform file).
pub const DOWNLOAD_BUDGET: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct Judge {
    ingestor: Ingestor,
    queue: InferenceQueue,
    download_budget: Duration,
}

impl Judge {
    pub fn new(ingestor: Ingestor, queue: InferenceQueue) -> Self {
        Self {
            ingestor,
            queue,
            download_budget: DOWNLOAD_BUDGET,
        }
    }

    /// Sets how long a download may hold its queue place before it is given up.
    pub fn with_download_budget(mut self, budget: Duration) -> Self {
        self.download_budget = budget;
        self
    }

    pub fn ingestor(&self) -> &Ingestor {
        &self.ingestor
    }

    pub fn queue(&self) -> &InferenceQueue {
        &self.queue
    }

    /// Judges one image. A place in the queue is taken before anything is downloaded, so an
    /// overloaded bot answers "busy" without spending a download or a decode.
    pub async fn judge(&self, input: ImageInput) -> Result<Judged, Refusal> {
        self.judge_in("", input).await
    }

    /// Like [`judge`](Self::judge), decoding and classifying in `lane`'s turn on the workers
    /// (one lane per user: lanes take turns, so one user's pile of slow images cannot hold up
    /// everyone else's).
    pub async fn judge_in(&self, lane: &str, input: ImageInput) -> Result<Judged, Refusal> {
        let fetch: Download = match input {
            ImageInput::Refused(refusal) => return Err(refusal),
            ImageInput::Download(download) => download,
            ImageInput::Source(source) => {
                let ingestor = self.ingestor.clone();
                Box::pin(async move { ingestor.load_bytes(source).await })
            }
        };
        let place = self.queue.take_place_in(lane).map_err(JudgeError::from)?;
        // A slow source (a trickling server, a stalled platform file) gives its place back
        // after the budget instead of holding it.
        let bytes = tokio::time::timeout(self.download_budget, fetch)
            .await
            .unwrap_or(Err(IngestError::Timeout {
                after: self.download_budget,
            }))
            .map_err(JudgeError::from)?;
        Ok(self.classify(place, bytes).await?)
    }

    /// Decodes (with the ingest guards) and classifies `bytes` in the place's worker slot.
    async fn classify(&self, place: Place, bytes: Vec<u8>) -> Result<Judged, JudgeError> {
        let bytes = Arc::new(bytes);
        let (seen, sha256) = place
            .decode_and_classify(bytes.clone(), *self.ingestor.limits())
            .await?;
        Ok(Judged {
            verdict: seen.verdict,
            sha256,
            bytes,
            view: Arc::new(seen.view),
            evidence: seen.evidence.map(Arc::new),
        })
    }
}
