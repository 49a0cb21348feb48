//! `ispotato stats`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ispotato_core::store::unix_now;

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn run(global: &GlobalArgs, json: bool, since: Option<Duration>) -> anyhow::Result<ExitCode> {
    let store = setup::open_store(global)?;
    let since_ts = since.map(|d| unix_now() - d.as_secs() as i64);
    let stats = tokio::task::spawn_blocking(move || store.stats(since_ts))
        .await
        .context("stats task failed")??;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        let period = match since {
            Some(d) => format!("for the last {}", humanise(d)),
            None => "of all time".to_string(),
        };
        print!("{}", ispotato_core::store::stats::render(&stats, &period));
    }
    Ok(ExitCode::SUCCESS)
}

fn humanise(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 604_800 == 0 => format!("{} week(s)", s / 604_800),
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} seconds"),
    }
}
