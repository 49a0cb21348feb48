//! What front ends plug into: the use cases ([`Services`]), the user-safe [`Refusal`], the
//! [`Platform`] names, how a reply reads ([`words`]) or answers in JSON ([`answer`]), and the one
//! composition root ([`compose::build`]) that `ispotato run` and every test use.
//!
//! Behind them, every image goes the one road of [`Judge::judge`]: a place in the bounded
//! [`InferenceQueue`], the download, then decode and classify on the queue's worker threads,
//! with [`Telemetry`] recorded once per image and per-user and global budgets ([`Quotas`]).

pub mod answer;
pub mod compose;
pub mod explanations;
pub(crate) mod judge;
mod platform;
pub(crate) mod queue;
mod quotas;
mod refusal;
mod services;
pub(crate) mod telemetry;
pub mod words;
pub(crate) mod worker_pool;

pub use judge::{Download, ImageInput, Judge, JudgeError, Judged, DOWNLOAD_BUDGET};
pub use platform::Platform;
pub use queue::InferenceQueue;
pub use quotas::{Quotas, Throttled};
pub use refusal::{Refusal, BUSY_RETRY_AFTER};
pub use services::{ImageOutcome, Judgement, NamedImage, Quota, ReplyPlace, Services, Voter};
pub use telemetry::Telemetry;
