//! Shared start-up: logging, and the settings resolved (model, database, deck, salt) for the
//! core's composition root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ispotato_core::image::{FetchConfig, IngestLimits, LoopbackPolicy};
use ispotato_core::model::{asset_candidates, locate_model, BackendChoice, Classifier};
use ispotato_core::secret::SecretString;
use ispotato_core::serve::compose::{self, SaltSource, ServicesConfig};
use ispotato_core::serve::{Judge, Services};
use ispotato_core::store::{DatabaseConfig, DatabaseTarget, PostgresUrl, Store};
use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LimitArgs, LogFormat, RunArgs};

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ISPOTATO_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub fn limits(args: &LimitArgs) -> IngestLimits {
    IngestLimits {
        max_bytes: args.max_bytes,
        max_pixels: args.max_pixels,
        max_side: args.max_side,
        jpeg_reduce_min_side: args.jpeg_reduce_min_side,
        ..IngestLimits::default()
    }
}

fn fetch_config(args: &LimitArgs) -> FetchConfig {
    FetchConfig {
        loopback: if args.allow_loopback {
            LoopbackPolicy::Allow
        } else {
            LoopbackPolicy::Refuse
        },
        ..FetchConfig::default()
    }
}

fn workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn classifier(global: &GlobalArgs) -> anyhow::Result<Arc<Classifier>> {
    let card = locate_model(global.model.as_deref()).context("finding the model")?;
    compose::load_classifier(&card, &backend(global))
        .with_context(|| format!("loading the model from {} on {}", card.display(), global.backend))
}

/// The runtime the model runs on (--backend, --onnxruntime-lib).
pub fn backend(global: &GlobalArgs) -> BackendChoice {
    BackendChoice {
        backend: global.backend,
        onnxruntime_lib: global.onnxruntime_lib.clone(),
    }
}

/// The judge alone (model, queue, guarded ingest), for `classify`: room for `inputs` images.
pub fn judge(global: &GlobalArgs, inputs: usize) -> anyhow::Result<Judge> {
    let workers = workers();
    Ok(compose::judge(
        classifier(global)?,
        limits(&global.limits),
        fetch_config(&global.limits),
        workers,
        workers.max(inputs),
    )?)
}

/// Resolves the settings of `run` and builds the services through the core's composition root.
pub fn services(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<Services> {
    let model_card = locate_model(global.model.as_deref()).context("finding the model")?;
    let database = database_config(global)?;
    let salt = match (&args.salt_file, &database) {
        (Some(path), _) => SaltSource::File(path.clone()),
        (None, DatabaseConfig::Sqlite(c)) => {
            SaltSource::File(c.path.parent().unwrap_or(Path::new(".")).join("ispotato.salt"))
        }
        (None, DatabaseConfig::Postgres(_)) => SaltSource::Store,
    };
    let config = ServicesConfig {
        model_card,
        backend: backend(global),
        limits: limits(&global.limits),
        fetch: fetch_config(&global.limits),
        workers: workers(),
        queue_capacity: args.queue_capacity,
        batch_waiting: args.batch_waiting,
        database,
        salt,
        trivia: trivia_path(global)?,
        user_images_per_minute: args.user_images_per_minute,
        global_images_per_minute: args.global_images_per_minute,
    };
    Ok(compose::build(config)?)
}

/// The database: --database / ISPOTATO_DATABASE_PATH (a path or a PostgreSQL URL), else a
/// SQLite file in the user's data folder.
pub fn database_target(global: &GlobalArgs) -> DatabaseTarget {
    if let Some(target) = &global.database {
        return target.clone();
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    DatabaseTarget::Sqlite(match data {
        Some(dir) => dir.join("ispotato").join("ispotato.db"),
        None => PathBuf::from("ispotato.db"),
    })
}

/// The database settings, the PostgreSQL password resolved ([`with_password`]).
pub fn database_config(global: &GlobalArgs) -> anyhow::Result<DatabaseConfig> {
    let target = match database_target(global) {
        DatabaseTarget::Postgres(url) => DatabaseTarget::Postgres(with_password(url, global)?),
        sqlite => sqlite,
    };
    let mut config = DatabaseConfig::new(target, global.keep_images);
    if let DatabaseConfig::Postgres(c) = &mut config {
        c.pool_size = global.database_pool;
    }
    Ok(config)
}

/// `url` with its password: the password file's when one is set, else the URL's own, else
/// PGPASSWORD's.
pub fn with_password(mut url: PostgresUrl, global: &GlobalArgs) -> anyhow::Result<PostgresUrl> {
    if let Some(file) = &global.database_password_file {
        let text = ispotato_core::local_file::read_text_capped(file, 4096)
            .with_context(|| format!("reading the database password file {}", file.display()))?;
        url.password = Some(SecretString::new(text.trim_end_matches(['\n', '\r'])));
    } else if url.password.is_none() {
        url.password = std::env::var("PGPASSWORD").ok().map(SecretString::new);
    }
    Ok(url)
}

/// Opens the configured database (for the commands that only read or tidy it).
pub fn open_store(global: &GlobalArgs) -> anyhow::Result<Arc<dyn Store>> {
    let config = database_config(global)?;
    let shown = config.shown();
    ispotato_core::store::open(config).with_context(|| format!("opening the database {shown}"))
}

/// The trivia deck path: --trivia / ISPOTATO_TRIVIA, else trivia/ beside the binary or above it.
pub fn trivia_path(global: &GlobalArgs) -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = &global.trivia {
        return Ok(path.clone());
    }
    let candidates = asset_candidates(std::path::Path::new("trivia"));
    candidates.iter().find(|p| p.is_dir()).cloned().with_context(|| {
        format!(
            "no trivia folder found; looked in {}. Set --trivia or ISPOTATO_TRIVIA",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
