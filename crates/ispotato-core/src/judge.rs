//! The whole job for one image, shared by every front end: load (bytes, path or URL, with all
//! the ingest guards), decode off the runtime, classify through the bounded queue.

use std::sync::Arc;

use crate::decode::decode;
use crate::error::{ClassifyError, IngestError};
use crate::ingest::{ImageSource, Ingestor};
use crate::queue::InferenceQueue;
use crate::verdict::Verdict;

/// Why an image got no verdict. `Display` is the message for the user.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("{0}")]
    Ingest(#[from] IngestError),
    #[error("{0}")]
    Classify(#[from] ClassifyError),
}

impl JudgeError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Ingest(e) => e.reason(),
            Self::Classify(e) => e.reason(),
        }
    }
}

/// A verdict with what the store needs about its image.
#[derive(Debug, Clone)]
pub struct Judged {
    pub verdict: Verdict,
    pub sha256: String,
    /// The original file, for `keep_images`.
    pub bytes: Arc<Vec<u8>>,
}

#[derive(Clone)]
pub struct Judge {
    ingestor: Ingestor,
    queue: InferenceQueue,
}

impl Judge {
    pub fn new(ingestor: Ingestor, queue: InferenceQueue) -> Self {
        Self { ingestor, queue }
    }

    pub fn ingestor(&self) -> &Ingestor {
        &self.ingestor
    }

    pub fn queue(&self) -> &InferenceQueue {
        &self.queue
    }

    pub async fn judge(&self, source: ImageSource) -> Result<Judged, JudgeError> {
        let bytes = self.ingestor.load_bytes(source).await?;
        self.judge_bytes(bytes).await
    }

    pub async fn judge_bytes(&self, bytes: Vec<u8>) -> Result<Judged, JudgeError> {
        let bytes = Arc::new(bytes);
        let limits = *self.ingestor.limits();
        let for_decode = bytes.clone();
        let image = tokio::task::spawn_blocking(move || decode(&for_decode, &limits))
            .await
            .map_err(|e| IngestError::Corrupt {
                detail: format!("decoder task failed: {e}"),
            })??;
        let sha256 = image.sha256_hex();
        let verdict = self.queue.classify(image).await?;
        Ok(Judged { verdict, sha256, bytes })
    }
}
