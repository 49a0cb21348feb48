//! `ispotato fact` and `ispotato facts check`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ispotato_core::store::Store;
use ispotato_core::trivia::{load_deck, TriviaService};

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn fact(global: &GlobalArgs, topic: Option<&str>, chat: &str) -> anyhow::Result<ExitCode> {
    let store: Arc<dyn Store> = setup::open_store(global)?;
    let path = setup::trivia_path(global)?;
    let service = TriviaService::load(&path, store).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (topic, chat) = (topic.map(str::to_string), format!("cli:{chat}"));
    let fact = tokio::task::spawn_blocking(move || service.next_fact(&chat, topic.as_deref()))
        .await
        .context("fact task failed")?;
    match fact {
        Ok(f) => {
            println!("🥔 {}\n   ({}: {}, {})", f.text, f.topic, f.source.title, f.source.url);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn check(global: &GlobalArgs, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => setup::trivia_path(global)?,
    };
    match load_deck(&path) {
        Ok(deck) => {
            let topics: Vec<String> = deck.topics().iter().map(|(t, n)| format!("{t} {n}")).collect();
            println!(
                "ok: {} facts in {} topics ({})",
                deck.len(),
                deck.topics().len(),
                topics.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for p in &errors.0 {
                println!("{p}");
            }
            eprintln!("{} problem(s) in {}", errors.0.len(), path.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
