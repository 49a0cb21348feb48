//! One bounded inference queue for every front end: at most `capacity` images are admitted
//! (downloading, waiting or running), `workers` dedicated threads decode and classify them, and
//! the rest are refused at once with [`ClassifyError::Busy`] instead of piling up in memory.

use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::classifier::Classifier;
use crate::model::error::{ClassifyError, ModelError};
use crate::serve::worker_pool::WorkerPool;

#[derive(Clone)]
pub struct InferenceQueue {
    classifier: Arc<RwLock<Arc<Classifier>>>,
    admitted: Arc<Semaphore>,
    workers: WorkerPool,
    capacity: usize,
}

impl InferenceQueue {
    pub fn new(classifier: Arc<Classifier>, workers: usize, capacity: usize) -> Self {
        let workers = workers.max(1);
        let capacity = capacity.max(workers);
        Self {
            classifier: Arc::new(RwLock::new(classifier)),
            admitted: Arc::new(Semaphore::new(capacity)),
            workers: WorkerPool::new("ispotato-inference", workers),
            capacity,
        }
    }

    /// The model serving now.
    pub fn classifier(&self) -> Arc<Classifier> {
        self.classifier.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the model at `card_path` and swaps it in atomically: requests already running
    /// finish on the old model, new ones use the new one. A model that fails to load is refused
    /// and the old one keeps serving. The new model runs on the backend the old one ran on.
    /// Blocking (loads and optimises the model).
    pub fn reload(&self, card_path: &Path) -> Result<Arc<Classifier>, ModelError> {
        let backend = self.classifier().backend().clone();
        let fresh = Arc::new(Classifier::load_on(card_path, &backend)?);
        *self.classifier.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        tracing::info!(version = %fresh.card().version, "model reloaded");
        Ok(fresh)
    }

    /// Places in the queue.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Images admitted and not yet finished.
    pub fn depth(&self) -> usize {
        self.capacity - self.admitted.available_permits()
    }

    /// Takes a place in the queue, or refuses at once with [`ClassifyError::Busy`] when it is
    /// full. Front ends admit an image before they download it, so overload costs neither a
    /// download nor a decode, and at most `capacity` images are held in memory.
    pub fn take_place(&self) -> Result<Place, ClassifyError> {
        self.take_place_in("")
    }

    /// Like [`take_place`](Self::take_place), for a job that waits in `lane` (one per user):
    /// lanes take turns on the workers, so one user's pile delays others by at most a job.
    pub fn take_place_in(&self, lane: &str) -> Result<Place, ClassifyError> {
        let permit = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ClassifyError::Busy)?;
        Ok(Place {
            queue: self.clone(),
            permit,
            lane: lane.to_string(),
        })
    }
}

/// A place in the [`InferenceQueue`], held from admission until the job is done.
pub struct Place {
    queue: InferenceQueue,
    permit: OwnedSemaphorePermit,
    lane: String,
}

impl Place {
    /// Runs `job` (decode and inference: the CPU-bound part) on one of the `workers` threads
    /// with the model serving now, in its lane's turn (lanes are served round-robin). At most `workers` jobs run
    /// at once, so at most that many decoded images and inference states exist at any time.
    pub async fn run<T, F>(self, job: F) -> Result<T, ClassifyError>
    where
        T: Send + 'static,
        F: FnOnce(&Classifier) -> T + Send + 'static,
    {
        let classifier = self.queue.classifier();
        // The place is given back when the job has run, not when the caller stops waiting: a
        // cancelled request cannot let more than `capacity` jobs pile up on the workers.
        let permit = self.permit;
        self.queue
            .workers
            .run_in_lane(&self.lane, move || {
                let _permit = permit;
                job(&classifier)
            })
            .await
            .map_err(|e| ClassifyError::Inference(e.to_string()))
    }
}
