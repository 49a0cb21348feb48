//! `ispotato`: the command-line front end over `ispotato-core` (the binary is `src/main.rs`).
//! A library too, so the fuzz targets can reach the configuration loader.

pub mod admin;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cpu_level;
pub mod setup;
