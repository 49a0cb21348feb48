//! The feedback store: every verdict the bots send, every vote on them, the trivia decks' state,
//! and (only when asked to) the images behind verdicts. SQLite by default ([`SqliteStore`]);
//! PostgreSQL ([`PostgresStore`]) for several replicas sharing one database. [`open`] picks the
//! backend the [`DatabaseConfig`] names.
//!
//! User ids never reach the store: callers hash them first with [`UserHasher`]. Kept images are
//! deleted after the [`retention`] period; [`stats`] reads durations and renders the store's
//! [`Stats`] for people; [`transfer`] copies one database into another.

mod migrations;
mod postgresql;
pub(crate) mod privacy;
pub mod retention;
mod sqlite;
pub mod stats;
mod tally;
pub mod target;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use postgresql::{PostgresConfig, PostgresStore};
pub use privacy::UserHasher;
pub use sqlite::{SqliteStore, StoreConfig};
pub use target::{DatabaseTarget, PostgresUrl, TlsMode};

/// The schema version this build writes (the same on both backends).
pub const SCHEMA_VERSION: i64 = migrations::SQLITE.len() as i64;

/// How long a claimed update is remembered.
const DELIVERY_MEMORY_SECONDS: i64 = 24 * 3600;

/// Which backend to open, and its settings.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    Sqlite(StoreConfig),
    Postgres(PostgresConfig),
}

impl DatabaseConfig {
    /// The backend `target` names, with default settings.
    pub fn new(target: DatabaseTarget, keep_images: bool) -> Self {
        let mut config = match target {
            DatabaseTarget::Sqlite(path) => Self::Sqlite(StoreConfig::new(path)),
            DatabaseTarget::Postgres(url) => Self::Postgres(PostgresConfig::new(url)),
        };
        config.set_keep_images(keep_images);
        config
    }

    /// Whether the store keeps the bytes of judged images.
    pub fn set_keep_images(&mut self, keep: bool) {
        match self {
            Self::Sqlite(c) => c.keep_images = keep,
            Self::Postgres(c) => c.keep_images = keep,
        }
    }

    /// Where it is, safe to show (a PostgreSQL URL without its password).
    pub fn shown(&self) -> String {
        match self {
            Self::Sqlite(c) => c.path.display().to_string(),
            Self::Postgres(c) => c.url.to_string(),
        }
    }
}

/// Opens the store `config` names (creating and migrating its schema as needed).
pub fn open(config: DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match config {
        DatabaseConfig::Sqlite(c) => Arc::new(SqliteStore::open(c)?),
        DatabaseConfig::Postgres(c) => Arc::new(PostgresStore::open(c)?),
    })
}

use crate::model::verdict::Label;
use crate::rate_limit::{Refused, WindowRule};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("no database connection: {0}")]
    Pool(String),
    #[error("cannot open the database at {path}: {detail}")]
    Open { path: String, detail: String },
    #[error("the database at {path} was written by a newer IsPotato (schema {found}, this build knows {known})")]
    TooNew { path: String, found: i64, known: i64 },
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
    #[error("the store task stopped before answering: {0}")]
    Task(String),
}

/// Where a chat is in its current pass through the deck (persisted by the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DrawState {
    /// Facts already served in this pass.
    pub served: Vec<String>,
    /// The last fact served (also across passes).
    pub last: Option<String>,
}

/// A verdict a front end has sent to a chat.
#[derive(Debug, Clone)]
pub struct NewVerdict {
    /// "discord", "telegram", "cli", ...
    pub platform: String,
    pub chat_id: String,
    /// Id of the reply message that carries the verdict (votes find the verdict through it).
    pub message_id: String,
    /// Which image of that message (0 for the first), when one reply covers several images.
    pub image_index: u32,
    /// Hashed id of the user who asked.
    pub user_hash: String,
    pub image_sha256: String,
    pub label: Label,
    pub probability: f32,
    pub model_version: String,
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    /// Unix seconds.
    pub created_at: i64,
}

/// How a vote arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VoteSource {
    Reaction,
    Button,
}

impl VoteSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reaction => "reaction",
            Self::Button => "button",
        }
    }
}

/// A user's opinion on a verdict message.
#[derive(Debug, Clone)]
pub struct Vote {
    pub platform: String,
    pub chat_id: String,
    pub message_id: String,
    pub user_hash: String,
    /// Votes from bots (the verdict bot's own reactions included) are ignored.
    pub is_bot: bool,
    /// The user says the verdict was right.
    pub agree: bool,
    pub source: VoteSource,
    pub emoji: Option<String>,
    pub created_at: i64,
}

/// A reaction taken back.
#[derive(Debug, Clone)]
pub struct Retraction {
    pub platform: String,
    pub chat_id: String,
    pub message_id: String,
    pub user_hash: String,
    pub is_bot: bool,
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// A first vote from this user on these verdicts.
    Recorded,
    /// The user's earlier vote was replaced.
    Changed,
    /// Same vote as before; nothing changed.
    Unchanged,
    IgnoredBot,
    /// The message is not one of our verdicts.
    UnknownMessage,
}

impl VoteOutcome {
    /// The outcome of storing a vote `agree` where the user's earlier vote was `previous`.
    pub(crate) fn after(previous: Option<bool>, agree: bool) -> Self {
        match previous {
            None => Self::Recorded,
            Some(p) if p == agree => Self::Unchanged,
            Some(_) => Self::Changed,
        }
    }

    /// The short answer a voter sees.
    pub fn thanks(self) -> &'static str {
        match self {
            Self::Recorded => "Thanks for your vote!",
            Self::Changed => "Vote changed. Thanks!",
            Self::Unchanged => "Already counted. Thanks!",
            Self::UnknownMessage => "I can't find that verdict any more.",
            Self::IgnoredBot => "Bots don't vote.",
        }
    }
}

/// Verdict count for one platform, model version and label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictCount {
    pub platform: String,
    pub model_version: String,
    pub label: String,
    pub count: u64,
}

/// A figure estimated from votes, with how much evidence stands behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub value: Option<f64>,
    /// Verdicts with a majority opinion that the figure uses.
    pub verdicts: u64,
    /// Votes on those verdicts.
    pub votes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Unix seconds; `None` = all time.
    pub since: Option<i64>,
    pub verdicts_total: u64,
    pub verdicts: Vec<VerdictCount>,
    pub votes_total: u64,
    pub votes_agree: u64,
    pub votes_disagree: u64,
    pub votes_by_source: Vec<(String, u64)>,
    /// Share of votes that agree with the verdict.
    pub agreement_rate: Estimate,
    /// Potato verdicts the voters confirmed / all potato verdicts with a majority opinion.
    pub precision: Estimate,
    /// Confirmed potato verdicts / (those + not-potato verdicts the voters said were wrong).
    pub recall: Estimate,
}

/// A verdict with its users' majority opinion and, when kept, the image: one training example.
#[derive(Debug, Clone)]
pub struct FeedbackExample {
    pub image_sha256: String,
    /// What the voters say the image is.
    pub label_potato: bool,
    pub verdict: String,
    pub probability: f64,
    pub model_version: String,
    pub platform: String,
    pub agree: u64,
    pub disagree: u64,
    pub image: Option<Vec<u8>>,
}

/// Storage for verdicts, votes and trivia state. Implementations must be safe to share between
/// threads and must never leave a partial write behind.
pub trait Store: Send + Sync {
    /// Which backend this is ("sqlite", "postgresql"), for health answers and logs.
    fn backend(&self) -> &'static str;
    /// A cheap round trip to the database (readiness probes).
    fn ping(&self) -> Result<(), StoreError>;
    /// Whether `record_verdict` keeps the image bytes it is given (configured at open).
    fn keeps_images(&self) -> bool;
    /// Records a verdict and, when the store keeps images, its image. Returns its id.
    fn record_verdict(&self, verdict: &NewVerdict, image: Option<&[u8]>) -> Result<i64, StoreError>;
    /// Stores a vote: one per user per verdict message, the latest wins.
    fn record_vote(&self, vote: &Vote) -> Result<VoteOutcome, StoreError>;
    /// Removes a reaction vote (only a vote that came from that same reaction). Returns whether
    /// a vote was removed.
    fn retract_vote(&self, retraction: &Retraction) -> Result<bool, StoreError>;
    /// A deck's draw state as stored (none before its first draw).
    fn load_draw_state(&self, deck_key: &str) -> Result<Option<DrawState>, StoreError>;
    /// Draws from a deck in one transaction: reads its state, lets `pick` change it and name a
    /// fact, writes it back. Draws for the same deck, from any thread or process sharing the
    /// store, are serialised, so two at once never serve the same fact.
    fn draw(
        &self,
        deck_key: &str,
        pick: &mut dyn FnMut(&mut DrawState) -> Option<String>,
    ) -> Result<Option<String>, StoreError>;
    /// Claims a platform update by its id: `true` the first time, `false` when this update was
    /// claimed before (a redelivery, or another replica took it). Claims older than a day are
    /// forgotten (platforms stop redelivering long before).
    fn claim_update(&self, platform: &str, update_id: &str) -> Result<bool, StoreError>;
    /// The value every process sharing the store uses under `name`: the one stored, or `fresh`
    /// when there was none yet (stored now; of two processes racing, both get the first's).
    fn shared_value(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Takes `n` units from each of `windows` (a key and its rule) in order, in one transaction,
    /// at `now_ms` (Unix milliseconds), from windows every process sharing the store counts
    /// against. `Ok(Err(Refused { window, wait }))` names the first window without room; the
    /// windows before it stay taken, the ones after it are untouched. Takes for the same key are
    /// serialised across processes; keep one order of keys everywhere (it avoids deadlocks).
    fn take_windows(
        &self,
        windows: &[(&str, WindowRule)],
        n: usize,
        now_ms: i64,
    ) -> Result<Result<(), Refused>, StoreError>;
    /// [`Store::take_windows`] for one window: `Ok(Err(wait))` when there is no room.
    fn take_window(
        &self,
        key: &str,
        rule: WindowRule,
        n: usize,
        now_ms: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        Ok(self.take_windows(&[(key, rule)], n, now_ms)?.map_err(|r| r.wait))
    }
    fn stats(&self, since: Option<i64>) -> Result<Stats, StoreError>;
    /// Verdicts that have a majority opinion (ties and `unsure` verdicts are left out).
    fn feedback_examples(&self) -> Result<Vec<FeedbackExample>, StoreError>;
    /// The images the store keeps of the reply posted as `message_id` in `chat_id` on `platform`,
    /// in the reply's image order (none when it keeps no images, or they expired): for "Why?" on
    /// a reply another replica judged.
    fn kept_images_of_reply(&self, platform: &str, chat_id: &str, message_id: &str)
        -> Result<Vec<Vec<u8>>, StoreError>;
    /// Deletes kept images stored before `older_than` (unix seconds). Returns how many.
    fn delete_images_before(&self, older_than: i64) -> Result<usize, StoreError>;
    /// Counts, for tests and health checks: (verdicts, votes, kept images).
    fn counts(&self) -> Result<(u64, u64, u64), StoreError>;
}

/// Runs `f` on a thread of its own and waits for it: for a store call made where the caller may
/// be an async task (start-up), since a blocking database client must not run on one.
pub fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A window's hits as stored (a JSON array of Unix milliseconds, oldest first).
fn parse_hits(key: &str, text: &str) -> Result<Vec<i64>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("rate-limit window {key}: {e}")))
}

/// A window's hits as stored.
fn format_hits(hits: &[i64]) -> Result<String, StoreError> {
    serde_json::to_string(hits).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
