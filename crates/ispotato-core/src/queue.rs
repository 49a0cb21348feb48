//! One bounded inference queue for every front end: at most `workers` images are classified at
//! once on blocking threads, at most `capacity` are admitted (running or waiting), and the rest
//! are refused at once with [`ClassifyError::Busy`] instead of piling up in memory.

use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

use crate::classifier::Classifier;
use crate::decode::ValidatedImage;
use crate::error::{ClassifyError, ModelError};
use crate::verdict::Verdict;

#[derive(Clone)]
pub struct InferenceQueue {
    classifier: Arc<RwLock<Arc<Classifier>>>,
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: usize,
}

impl InferenceQueue {
    pub fn new(classifier: Arc<Classifier>, workers: usize, capacity: usize) -> Self {
        let workers = workers.max(1);
        let capacity = capacity.max(workers);
        Self {
            classifier: Arc::new(RwLock::new(classifier)),
            admitted: Arc::new(Semaphore::new(capacity)),
            running: Arc::new(Semaphore::new(workers)),
            capacity,
        }
    }

    /// The model serving now.
    pub fn classifier(&self) -> Arc<Classifier> {
        self.classifier.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the model at `card_path` and swaps it in atomically: requests already running
    /// finish on the old model, new ones use the new one. A model that fails to load is refused
    /// and the old one keeps serving. Blocking (loads and optimises the model).
    pub fn reload(&self, card_path: &Path) -> Result<Arc<Classifier>, ModelError> {
        let fresh = Arc::new(Classifier::load(card_path)?);
        *self.classifier.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        tracing::info!(version = %fresh.card().version, "model reloaded");
        Ok(fresh)
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
        let classifier = self.classifier();
        tokio::task::spawn_blocking(move || classifier.classify(&image))
            .await
            .map_err(|e| ClassifyError::Inference(format!("inference task failed: {e}")))?
    }
}
