//! One bounded inference queue for every front end: at most `capacity` images are admitted
//! (downloading, waiting or running), `workers` dedicated threads decode and classify them, and
//! the rest are refused at once with [`ClassifyError::Busy`] instead of piling up in memory.

use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::image::decode::decode;
use crate::image::limits::IngestLimits;
use crate::model::classifier::{Classifier, Seen};
use crate::model::error::{ClassifyError, ModelError};
use crate::serve::judge::JudgeError;
use crate::serve::worker_pool::{Work, WorkerPool};

#[derive(Clone)]
pub struct InferenceQueue {
    classifier: Arc<RwLock<Arc<Classifier>>>,
    admitted: Arc<Semaphore>,
    workers: WorkerPool<InferenceJob>,
    capacity: usize,
    batching: bool,
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
            batching: false,
        }
    }

    /// Lets a worker judge images already waiting behind busy workers as one batch, up to the
    /// backend's [`Classifier::batch_limit`] (onnxruntime: 2; tract: 1, no batches): a little
    /// less time per image for more peak memory (docs/benchmarks.md). Off by default; a lone
    /// image, or one an idle worker can start, never waits for a partner either way.
    pub fn batching_waiting_images(mut self, on: bool) -> Self {
        self.batching = on;
        self
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

    fn submit(&self, lane: &str, job: InferenceJob) -> Result<(), ClassifyError> {
        self.workers.submit(lane, job).map_err(|_| stopped())
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
        let (done, result) = tokio::sync::oneshot::channel();
        let job = InferenceJob::Run(Box::new(move || {
            let answer = job(&classifier);
            // Given back before the answer, so a caller that has its answer finds its place free.
            drop(permit);
            let _ = done.send(answer);
        }));
        self.queue.submit(&self.lane, job)?;
        result.await.map_err(|_| stopped())
    }

    /// Decodes `bytes` under `limits` and classifies the image with the model serving now, in
    /// the lane's turn, like [`run`](Self::run); the image's SHA-256 comes with the verdict. With
    /// [`batching_waiting_images`](InferenceQueue::batching_waiting_images) on, images already
    /// waiting behind busy workers may run with it as one batch; a lone image never waits for one.
    pub async fn decode_and_classify(
        self,
        bytes: Arc<Vec<u8>>,
        limits: IngestLimits,
    ) -> Result<(Seen, String), JudgeError> {
        let (reply, result) = tokio::sync::oneshot::channel();
        let classifier = self.queue.classifier();
        let job = InferenceJob::Classify(ClassifyJob {
            room: if self.queue.batching {
                classifier.batch_limit().saturating_sub(1)
            } else {
                0
            },
            classifier,
            bytes,
            limits,
            reply,
            permit: self.permit,
        });
        self.queue.submit(&self.lane, job)?;
        result.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ClassifyError {
    ClassifyError::Inference(crate::serve::worker_pool::PoolStopped.to_string())
}

/// What the inference workers run.
enum InferenceJob {
    /// Any CPU-bound work with the model: runs alone.
    Run(Box<dyn FnOnce() + Send + 'static>),
    /// One image to decode and judge: runs with other waiting images where that is faster.
    Classify(ClassifyJob),
}

struct ClassifyJob {
    classifier: Arc<Classifier>,
    /// How many waiting images this one may take along (0 unless the queue batches).
    room: usize,
    bytes: Arc<Vec<u8>>,
    limits: IngestLimits,
    reply: tokio::sync::oneshot::Sender<Result<(Seen, String), JudgeError>>,
    /// The queue place, given back as the job answers.
    permit: OwnedSemaphorePermit,
}

impl ClassifyJob {
    fn answer(self, result: Result<(Seen, String), JudgeError>) {
        drop(self.permit);
        let _ = self.reply.send(result);
    }
}

impl Work for InferenceJob {
    fn room(&self) -> usize {
        match self {
            Self::Run(_) => 0,
            Self::Classify(job) => job.room,
        }
    }

    /// Images judged by the same model (a reload between them makes two).
    fn joins(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Classify(a), Self::Classify(b)) => Arc::ptr_eq(&a.classifier, &b.classifier),
            _ => false,
        }
    }

    fn run(jobs: Vec<Self>) {
        let mut images = Vec::new();
        for job in jobs {
            match job {
                Self::Run(run) => run(),
                Self::Classify(job) => match decode(&job.bytes, &job.limits) {
                    // An image that fails its guards is answered at once.
                    Err(e) => job.answer(Err(e.into())),
                    Ok(image) => images.push((image, job)),
                },
            }
        }
        let Some((_, first)) = images.first() else {
            return;
        };
        let classifier = first.classifier.clone();
        if images.len() > 1 {
            tracing::debug!(images = images.len(), "judging waiting images as one batch");
        }
        let prepared = images.iter().map(|(image, _)| classifier.prepare(image)).collect();
        let seen = classifier.classify_prepared(prepared);
        for ((image, job), seen) in images.into_iter().zip(seen) {
            job.answer(seen.map(|seen| (seen, image.sha256_hex())).map_err(Into::into));
        }
    }
}
