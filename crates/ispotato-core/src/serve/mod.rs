//! What front ends plug into: the use cases ([`Services`]), the user-safe [`Refusal`], the
//! [`Platform`] names, how a reply reads ([`words`]), and the one composition root
//! ([`compose::build`]) that `ispotato run` and every test use.

pub mod answer;
pub mod compose;
mod platform;
pub mod quotas;
mod refusal;
mod services;
pub mod words;

pub use platform::Platform;
pub use quotas::{Quotas, Throttled};
pub use refusal::{Refusal, BUSY_RETRY_AFTER};
pub use services::{ImageOutcome, Judgement, NamedImage, Quota, ReplyPlace, Services, Voter};
