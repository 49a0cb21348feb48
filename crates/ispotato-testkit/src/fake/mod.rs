//! Fake platforms on 127.0.0.1 that the real bot clients talk to in tests.

pub mod discord;
pub mod telegram;
