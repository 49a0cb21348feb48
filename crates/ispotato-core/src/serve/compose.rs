//! The one composition root: [`build`] makes the [`Services`] from resolved settings, the same
//! way for `ispotato run` and for every test that runs a front end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::image::error::IngestError;
use crate::image::fetch::FetchConfig;
use crate::image::ingest::Ingestor;
use crate::image::limits::IngestLimits;
use crate::model::backend::BackendChoice;
use crate::model::classifier::Classifier;
use crate::model::error::ModelError;
use crate::rate_limit::WindowRule;
use crate::serve::judge::Judge;
use crate::serve::queue::InferenceQueue;
use crate::serve::{Quotas, Services};
use crate::store::privacy::UserHasher;
use crate::store::{DatabaseConfig, Store, StoreError};
use crate::trivia::{DeckErrors, TriviaService};

/// Everything the services are made of, resolved (paths found, secrets read).
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// The model card (`models/ispotato.json`).
    pub model_card: PathBuf,
    /// The runtime that runs the model.
    pub backend: BackendChoice,
    pub limits: IngestLimits,
    pub fetch: FetchConfig,
    /// Threads that decode and classify.
    pub workers: usize,
    /// Images admitted at once (downloading, waiting or running); more are told "busy".
    pub queue_capacity: usize,
    /// Judge images waiting behind busy workers in batches, where the backend is faster per
    /// image that way ([`InferenceQueue::batching_waiting_images`]).
    pub batch_waiting: bool,
    pub database: DatabaseConfig,
    /// Where the salt that hashes user ids comes from.
    pub salt: SaltSource,
    /// The trivia deck: a YAML file or a folder of them.
    pub trivia: PathBuf,
    pub user_images_per_minute: usize,
    pub global_images_per_minute: usize,
}

/// Where the salt that hashes user ids is kept. Every process sharing a database must hash with
/// the same salt, or one user would count as several.
#[derive(Debug, Clone, PartialEq)]
pub enum SaltSource {
    /// A file, created on first use (one machine: beside the SQLite database).
    File(PathBuf),
    /// The database itself, made by the first process that needs it (replicas on PostgreSQL).
    Store,
}

/// The name the salt is kept under in the store.
const SALT_NAME: &str = "user_salt";

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
    #[error("reading the salt from the database: {0}")]
    SharedSalt(#[source] StoreError),
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

/// Loads and optimises the model at `card` on `backend`, saying so in the log.
pub fn load_classifier(card: &Path, backend: &BackendChoice) -> Result<Arc<Classifier>, ModelError> {
    let classifier = Classifier::load_on(card, backend)?;
    tracing::info!(
        version = %classifier.card().version,
        card = %card.display(),
        backend = %backend.backend,
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
    let classifier = load_classifier(&config.model_card, &config.backend)?;
    let judge = Judge::new(
        Ingestor::new(config.limits, config.fetch)?,
        InferenceQueue::new(classifier, config.workers, config.queue_capacity)
            .batching_waiting_images(config.batch_waiting),
    );
    let shared = matches!(config.database, DatabaseConfig::Postgres(_));
    let store = crate::store::open(config.database)?;
    let quotas = quotas(
        shared.then(|| store.clone()),
        config.user_images_per_minute,
        config.global_images_per_minute,
    );
    let hasher = user_hasher(&config.salt, store.as_ref())?;
    let trivia = Arc::new(TriviaService::load(&config.trivia, store.clone())?);
    Ok(Services {
        judge,
        store,
        trivia,
        hasher,
        quotas,
        telemetry: Default::default(),
        in_flight: Default::default(),
        explanations: Default::default(),
    })
}

/// The image budgets: in this process's memory on SQLite (one process), in the database on
/// PostgreSQL (replicas share it, so a user's budget holds across them).
fn quotas(shared: Option<Arc<dyn Store>>, user_per_minute: usize, global_per_minute: usize) -> Quotas {
    let (user, global) = (
        WindowRule::per_minute(user_per_minute),
        WindowRule::per_minute(global_per_minute),
    );
    match shared {
        Some(store) => Quotas::shared(store, user, global),
        None => Quotas::local(user, global),
    }
}

/// The user-id hasher with the salt `source` names.
fn user_hasher(source: &SaltSource, store: &dyn Store) -> Result<UserHasher, BuildError> {
    match source {
        SaltSource::File(path) => UserHasher::load_or_create(path).map_err(|source| BuildError::Salt {
            path: path.display().to_string(),
            source,
        }),
        SaltSource::Store => {
            let fresh = UserHasher::fresh_salt();
            // Start-up may run on an async task; the store blocks.
            let salt = crate::store::on_own_thread(|| store.shared_value(SALT_NAME, &fresh))
                .map_err(BuildError::SharedSalt)?;
            Ok(UserHasher::new(salt))
        }
    }
}
