//! IsPotato core: everything the front ends share, in rooms by job.
//!
//! - [`image`]: untrusted bytes, paths and URLs in (size and pixel caps, an SSRF-guarded fetcher,
//!   a format allow-list, decode budgets), a [`ValidatedImage`](image::ValidatedImage) out.
//! - [`model`]: the input tensor, the ONNX backbone run by tract with the card's calibrated
//!   head, the [`Verdict`](model::Verdict); evaluating a model and retraining its head.
//! - [`store`]: verdicts, votes, trivia state and kept images, on SQLite or PostgreSQL.
//! - [`trivia`]: potato facts, validated and drawn per chat without repeats.
//! - [`serve`]: what front ends plug into: one composition root builds the
//!   [`Services`](serve::Services), whose use cases (judge images, a fact, the stats text, a vote)
//!   answer with verdicts or a user-safe [`Refusal`](serve::Refusal). Every image goes the one
//!   road of [`Judge::judge`](serve::Judge::judge).
//! - [`rate_limit`], [`secret`], [`local_file`]: small shared tools.
//!
//! Front ends start from [`prelude`]. Rooms depend downwards only: `serve` on `trivia`, `store`,
//! `model` and `image`; `trivia` on `store`; `store` on `model`; `model` on `image`.

pub mod image;
pub mod local_file;
pub mod model;
pub mod prelude;
pub mod rate_limit;
pub mod secret;
pub mod serve;
pub mod store;
pub mod trivia;
pub mod yaml;
