//! The one composition root: [`build`] makes the [`Services`] from resolved settings, the same
//! way for `ispotato run` and for every test that runs a front end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::classifier::Classifier;
use crate::error::{IngestError, ModelError};
use crate::fetch::FetchConfig;
use crate::ingest::Ingestor;
use crate::judge::Judge;
use crate::limits::IngestLimits;
use crate::privacy::UserHasher;
use crate::queue::InferenceQueue;
use crate::rate_limit::RateLimiter;
use crate::serve::Services;
use crate::store::{SqliteStore, Store, StoreConfig, StoreError};
use crate::trivia::{DeckErrors, TriviaService};

/// Everything the services are made of, resolved (paths found, secrets read).
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// The model card (`models/ispotato.json`).
    pub model_card: PathBuf,
    pub limits: IngestLimits,
    pub fetch: FetchConfig,
    /// Threads that decode and classify.
    pub workers: usize,
    /// Images admitted at once (downloading, waiting or running); more are told "busy".
    pub queue_capacity: usize,
    pub database: StoreConfig,
    /// The salt file for hashing user ids (created on first use).
    pub salt_file: PathBuf,
    /// The trivia deck: a YAML file or a folder of them.
    pub trivia: PathBuf,
    pub user_images_per_minute: usize,
    pub global_images_per_minute: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("loading the model: {0}")]
    Model(#[from] ModelError),
    #[error("setting up image downloads: {0}")]
    Fetch(#[from] IngestError),
    #[error("opening the database: {0}")]
    Store(#[from] StoreError),
    #[error("reading the salt {path}: {source}")]
    Salt {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the trivia deck: {0}")]
    Trivia(#[from] DeckErrors),
}

/// The judge alone (model, queue and ingest), for front ends without a store such as
/// `ispotato classify`.
pub fn judge(
    classifier: Arc<Classifier>,
    limits: IngestLimits,
    fetch: FetchConfig,
    workers: usize,
    capacity: usize,
) -> Result<Judge, BuildError> {
    Ok(Judge::new(
        Ingestor::new(limits, fetch)?,
        InferenceQueue::new(classifier, workers, capacity),
    ))
}

/// Loads and optimises the model at `card`, saying so in the log.
pub fn load_classifier(card: &Path) -> Result<Arc<Classifier>, ModelError> {
    let classifier = Classifier::load(card)?;
    tracing::info!(
        version = %classifier.card().version,
        card = %card.display(),
        load_ms = classifier.load_time().as_millis() as u64,
        "model loaded"
    );
    if classifier.card().placeholder {
        tracing::warn!("this model's head is a placeholder, not trained for potatoes");
    }
    Ok(Arc::new(classifier))
}

/// Loads the model, opens the store and the deck, and wires the use cases.
pub fn build(config: ServicesConfig) -> Result<Services, BuildError> {
    let classifier = load_classifier(&config.model_card)?;
    let judge = judge(
        classifier,
        config.limits,
        config.fetch,
        config.workers,
        config.queue_capacity,
    )?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(config.database)?);
    let hasher = UserHasher::load_or_create(&config.salt_file).map_err(|source| BuildError::Salt {
        path: config.salt_file.display().to_string(),
        source,
    })?;
    let trivia = Arc::new(TriviaService::load(&config.trivia, store.clone())?);
    Ok(Services {
        judge,
        store,
        trivia,
        hasher,
        user_limiter: RateLimiter::per_minute(config.user_images_per_minute),
        global_limiter: RateLimiter::per_minute(config.global_images_per_minute),
        telemetry: Default::default(),
        in_flight: Default::default(),
    })
}
