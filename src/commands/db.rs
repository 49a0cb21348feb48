//! `ispotato db migrate`: a SQLite install moved onto PostgreSQL.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use ispotato_core::store::transfer::{self, Overwrite};
use ispotato_core::store::{DatabaseTarget, PostgresConfig, PostgresStore, SqliteStore, StoreConfig};

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn migrate(
    global: &GlobalArgs,
    from: &Path,
    to: &DatabaseTarget,
    replace: bool,
    salt_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let DatabaseTarget::Postgres(url) = to.clone() else {
        bail!("--to must be a postgres:// URL, not {to}");
    };
    if !from.is_file() {
        bail!("--from {}: no such SQLite database", from.display());
    }
    let url = setup::with_password(url, global)?;
    let shown = url.to_string();
    let salt_path = salt_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| from.parent().unwrap_or(Path::new(".")).join("ispotato.salt"));
    let salt = match std::fs::read(&salt_path) {
        Ok(salt) if salt.len() >= 16 => Some(salt),
        Ok(_) => bail!("the salt file {} is shorter than 16 bytes", salt_path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && salt_file.is_none() => None,
        Err(e) => return Err(e).with_context(|| format!("reading the salt file {}", salt_path.display())),
    };
    let (from, overwrite) = (
        from.to_path_buf(),
        if replace { Overwrite::Replace } else { Overwrite::Refuse },
    );
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let source = SqliteStore::open(StoreConfig::new(&from))
            .with_context(|| format!("opening the SQLite database {}", from.display()))?;
        let target = PostgresStore::open(PostgresConfig::new(url)).with_context(|| format!("opening {shown}"))?;
        transfer::sqlite_to_postgres(&source, &target, overwrite, salt.as_deref())
            .with_context(|| format!("copying {} into {shown}", from.display()))
    })
    .await
    .context("the copy task failed")??;
    println!("{:<14} {:>10}", "table", "rows");
    for (table, rows) in &report.tables {
        println!("{table:<14} {rows:>10}");
    }
    println!(
        "copied and verified; the user-id salt {}",
        if salt_file.is_some() || salt_path.is_file() {
            "came along"
        } else {
            "file was not found, so the target keeps its own"
        }
    );
    Ok(ExitCode::SUCCESS)
}
