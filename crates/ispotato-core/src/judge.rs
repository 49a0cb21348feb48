//! The whole job for one image, shared by every front end: load (bytes, path or URL, with all
//! the ingest guards) once admitted to the bounded queue, then decode and classify in one of its
//! worker slots.

use std::sync::Arc;

use crate::decode::decode;
use crate::error::{ClassifyError, IngestError};
use crate::ingest::{ImageSource, Ingestor};
use crate::queue::{Admission, InferenceQueue};
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

    /// A place in the inference queue, or "busy": take it before downloading anything.
    pub fn admit(&self) -> Result<Admission, JudgeError> {
        Ok(self.queue.admit()?)
    }

    pub async fn judge(&self, source: ImageSource) -> Result<Judged, JudgeError> {
        let admission = self.admit()?;
        let bytes = self.ingestor.load_bytes(source).await?;
        self.judge_admitted(admission, bytes).await
    }

    pub async fn judge_bytes(&self, bytes: Vec<u8>) -> Result<Judged, JudgeError> {
        let admission = self.admit()?;
        self.judge_admitted(admission, bytes).await
    }

    /// Decodes (with the ingest guards) and classifies `bytes` in one worker slot.
    pub async fn judge_admitted(&self, admission: Admission, bytes: Vec<u8>) -> Result<Judged, JudgeError> {
        let bytes = Arc::new(bytes);
        let limits = *self.ingestor.limits();
        let for_job = bytes.clone();
        let (verdict, sha256) = admission
            .run(move |classifier| -> Result<(Verdict, String), JudgeError> {
                let image = decode(&for_job, &limits)?;
                Ok((classifier.classify(&image)?, image.sha256_hex()))
            })
            .await??;
        Ok(Judged { verdict, sha256, bytes })
    }
}
