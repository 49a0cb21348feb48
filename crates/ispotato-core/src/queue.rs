//! One bounded inference queue for every front end: at most `workers` images are classified at
//! once on blocking threads, at most `capacity` are admitted (running or waiting), and the rest
//! are refused at once with [`ClassifyError::Busy`] instead of piling up in memory.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::classifier::Classifier;
use crate::decode::ValidatedImage;
use crate::error::ClassifyError;
use crate::verdict::Verdict;

#[derive(Clone)]
pub struct InferenceQueue {
    classifier: Arc<Classifier>,
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: usize,
}

impl InferenceQueue {
    pub fn new(classifier: Arc<Classifier>, workers: usize, capacity: usize) -> Self {
        let workers = workers.max(1);
        let capacity = capacity.max(workers);
        Self {
            classifier,
            admitted: Arc::new(Semaphore::new(capacity)),
            running: Arc::new(Semaphore::new(workers)),
            capacity,
        }
    }

    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.classifier
    }

    /// Images admitted and not yet finished.
    pub fn depth(&self) -> usize {
        self.capacity - self.admitted.available_permits()
    }

    pub async fn classify(&self, image: ValidatedImage) -> Result<Verdict, ClassifyError> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ClassifyError::Busy)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ClassifyError::Inference("queue closed".into()))?;
        let classifier = self.classifier.clone();
        tokio::task::spawn_blocking(move || classifier.classify(&image))
            .await
            .map_err(|e| ClassifyError::Inference(format!("inference task failed: {e}")))?
    }
}
