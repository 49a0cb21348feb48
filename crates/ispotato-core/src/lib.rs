//! IsPotato core: everything the front ends share.
//!
//! Untrusted bytes, paths and URLs go through [`ingest`] (size and pixel caps, an SSRF-guarded
//! fetcher, a format allow-list and EXIF orientation) and come out as a [`ValidatedImage`], which
//! only the guarded decoder can build. [`preprocess`] turns it into the model's input tensor,
//! [`Classifier`] runs the ONNX model with tract and returns a calibrated [`Verdict`], and
//! [`eval`] with [`metrics`] measures a model on a labelled folder. [`trivia`] serves potato
//! facts, [`store`] keeps verdicts and votes, and [`stats`] summarises them.
//!
//! Front ends plug in through [`serve`]: one composition root builds the [`serve::Services`],
//! whose use cases (judge images, a fact, the stats text, a vote) answer with verdicts or a
//! user-safe [`serve::Refusal`]. Every image goes the one road of [`judge::Judge::judge`].

pub mod classifier;
pub mod decode;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod head_training;
pub mod ingest;
pub mod judge;
pub mod limits;
pub mod local_file;
pub mod metrics;
pub mod model_card;
pub mod net_guard;
pub mod pillow_resize;
pub mod preprocess;
pub mod privacy;
pub mod queue;
pub mod rate_limit;
pub mod retention;
pub mod secret;
pub mod serve;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod trivia;
pub mod verdict;
pub mod worker_pool;
pub mod yaml;

pub use classifier::Classifier;
pub use decode::ValidatedImage;
pub use error::{ClassifyError, IngestError, ModelError};
pub use ingest::{ImageSource, Ingestor};
pub use limits::IngestLimits;
pub use model_card::ModelCard;
pub use verdict::{Label, Timings, Verdict};
