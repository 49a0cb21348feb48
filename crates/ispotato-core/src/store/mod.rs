//! The feedback store: every verdict the bots send, every vote on them, the trivia decks' state,
//! and (only when asked to) the images behind verdicts. SQLite by default ([`SqliteStore`]);
//! the [`Store`] trait is what a PostgreSQL backend would implement.
//!
//! User ids never reach the store: callers hash them first with
//! [`UserHasher`](crate::privacy::UserHasher).

mod migrations;
mod sqlite;

use serde::Serialize;

pub use sqlite::{SqliteStore, StoreConfig};

use crate::verdict::Label;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
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
    fn stats(&self, since: Option<i64>) -> Result<Stats, StoreError>;
    /// Verdicts that have a majority opinion (ties and `unsure` verdicts are left out).
    fn feedback_examples(&self) -> Result<Vec<FeedbackExample>, StoreError>;
    /// Deletes kept images stored before `older_than` (unix seconds). Returns how many.
    fn delete_images_before(&self, older_than: i64) -> Result<usize, StoreError>;
    /// Counts, for tests and health checks: (verdicts, votes, kept images).
    fn counts(&self) -> Result<(u64, u64, u64), StoreError>;
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
