//! Command-line interface definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ispotato",
    version,
    about = "Is this a potato? A calibrated potato classifier."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// YAML configuration file (see config/ispotato.example.yaml). Command-line options and
    /// ISPOTATO_* variables override it; it overrides the defaults.
    #[arg(long, global = true, env = "ISPOTATO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Model card (JSON) or a folder holding ispotato.json. Default: models/ next to the
    /// binary (or up to three folders above it), then ./models.
    #[arg(long, global = true, env = "ISPOTATO_MODEL")]
    pub model: Option<PathBuf>,
    /// The runtime that runs the model: tract (built in, with the project's own depthwise
    /// kernels), tract-stock (tract's kernels only) or onnxruntime (a build with the
    /// `onnxruntime` feature, and --onnxruntime-lib).
    #[arg(long, global = true, env = "ISPOTATO_BACKEND", default_value = "tract")]
    pub backend: ispotato_core::model::Backend,
    /// onnxruntime's shared library, e.g. onnxruntime/capi/libonnxruntime.so.1.* inside the PyPI
    /// `onnxruntime` wheel, for --backend onnxruntime.
    #[arg(long, global = true, env = "ISPOTATO_ONNXRUNTIME_LIB")]
    pub onnxruntime_lib: Option<PathBuf>,
    /// Log format on stderr (the level comes from ISPOTATO_LOG or RUST_LOG, default "warn").
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "ISPOTATO_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The feedback database: a SQLite file's path, or a PostgreSQL URL
    /// (postgres://user@host[:port]/db[?sslmode=disable|prefer|require|verify-full&sslrootcert=PEM])
    /// for several replicas sharing one database. Default: $XDG_DATA_HOME/ispotato/ispotato.db, or
    /// ~/.local/share/ispotato/ispotato.db.
    #[arg(long, global = true, env = "ISPOTATO_DATABASE_PATH", value_parser = parse_database_arg)]
    pub database: Option<ispotato_core::store::DatabaseTarget>,
    /// File holding the PostgreSQL password (else the URL's, else PGPASSWORD).
    #[arg(long, global = true, env = "ISPOTATO_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
    /// PostgreSQL connections this process keeps at most.
    #[arg(long, global = true, env = "ISPOTATO_DATABASE_POOL", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub database_pool: u32,
    /// Trivia deck: a YAML file or a folder of them. Default: trivia/ next to the binary (or up
    /// to three folders above it), then ./trivia.
    #[arg(long, global = true, env = "ISPOTATO_TRIVIA")]
    pub trivia: Option<PathBuf>,
    /// Keep the bytes of judged images in the database (for retraining); off by default.
    #[arg(long, global = true, env = "ISPOTATO_KEEP_IMAGES", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub keep_images: bool,
    /// How long kept images are stored before the cleanup deletes them (30m, 24h, 7d, 2w).
    #[arg(long, global = true, env = "ISPOTATO_IMAGE_RETENTION", default_value = "30d", value_parser = parse_duration_arg)]
    pub image_retention: std::time::Duration,
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn parse_database_arg(s: &str) -> Result<ispotato_core::store::DatabaseTarget, String> {
    s.parse()
        .map_err(|e: ispotato_core::store::target::TargetError| e.to_string())
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    ispotato_core::store::stats::parse_duration(s)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest accepted image file, in bytes.
    #[arg(long, global = true, env = "ISPOTATO_MAX_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_bytes: u64,
    /// Largest accepted image, in pixels (width x height).
    #[arg(long, global = true, env = "ISPOTATO_MAX_PIXELS", default_value_t = 40_000_000)]
    pub max_pixels: u64,
    /// Largest accepted width or height, in pixels.
    #[arg(long, global = true, env = "ISPOTATO_MAX_SIDE", default_value_t = 8192)]
    pub max_side: u32,
    /// Decode big JPEGs at 1/2, 1/4 or 1/8 scale while their shorter side stays at least this
    /// many pixels (0: always decode at full size).
    #[arg(long, global = true, env = "ISPOTATO_JPEG_REDUCE_MIN_SIDE", default_value_t = 512)]
    pub jpeg_reduce_min_side: u32,
    /// Let URL downloads reach 127.0.0.1 / ::1 (for tests and fake platforms only; private
    /// networks stay refused). Off by default.
    #[arg(long, global = true, env = "ISPOTATO_ALLOW_LOOPBACK", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub allow_loopback: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge images: file paths or http(s) URLs. One line per image, or JSON lines with --json.
    Classify {
        /// Image files or http(s) URLs.
        #[arg(required = true)]
        inputs: Vec<String>,
        /// Print one JSON object per image instead of a line of text.
        #[arg(long)]
        json: bool,
        /// Also write why the model decided, one PNG per judged image into DIR: the image as
        /// the model saw it, red where it looks like potato, blue where it does not.
        #[arg(long, value_name = "DIR")]
        explain: Option<PathBuf>,
    },
    /// Measure the model on a labelled folder: DIR/potato/ is positive, every other subfolder
    /// is negative and reported as its own slice.
    Eval {
        dir: PathBuf,
        /// Print one JSON object with every metric.
        #[arg(long)]
        json: bool,
    },
    /// Print a potato fact (no repeats until every fact has been shown, per --chat).
    Fact {
        /// Only facts on this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Whose deck to draw from; each chat goes through the facts in its own order.
        #[arg(long, default_value = "cli")]
        chat: String,
    },
    /// Work with the trivia deck files.
    Facts {
        #[command(subcommand)]
        command: FactsCommand,
    },
    /// Verdicts, votes, and precision/recall estimated from the votes.
    Stats {
        #[arg(long)]
        json: bool,
        /// Only verdicts from this long ago until now (30m, 24h, 7d, 2w).
        #[arg(long, value_parser = parse_duration_arg)]
        since: Option<std::time::Duration>,
    },
    /// Users' feedback: export it for retraining, delete expired images.
    Feedback {
        #[command(subcommand)]
        command: FeedbackCommand,
    },
    /// The database itself: move a SQLite install onto PostgreSQL.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Retrain the potato head on frozen backbone features from labelled folders (DIR/potato/
    /// and DIR/<anything else>/, e.g. `feedback export` output), recalibrate, and write a new
    /// model version to --out.
    Train {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Folder for the new model (card + backbone).
        #[arg(long)]
        out: PathBuf,
        /// Version of the new model (default: the base version with "+retrained").
        #[arg(long)]
        version: Option<String>,
        /// Share of images (by content hash) held out for calibration and metrics.
        #[arg(long, default_value_t = 0.2)]
        validation_fraction: f64,
        #[arg(long, default_value_t = 400)]
        epochs: usize,
        /// L2 penalty on the head's weights.
        #[arg(long, default_value_t = 1e-3)]
        l2: f64,
    },
    /// Run the configured chat front ends (Discord, Telegram, or both; the web page too with
    /// --web-listen) until SIGINT/SIGTERM.
    Run(Box<RunArgs>),
    /// Serve the web page and its JSON API (on 127.0.0.1:8080 unless --web-listen says
    /// otherwise), beside any configured chat front end, until SIGINT/SIGTERM. Prints the URL.
    Serve(Box<RunArgs>),
    /// Validate the configuration (file, variables, options) without starting anything.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Ask a running `ispotato run` whether it is healthy (for container health checks): GET
    /// /healthz (or /readyz with --ready) on the admin listener; exit 0 when it answers 200.
    Health {
        /// Admin listener address.
        #[arg(long, env = "ISPOTATO_ADMIN_LISTEN", default_value = "127.0.0.1:9184")]
        admin: String,
        /// Check readiness (front ends connected) instead of liveness.
        #[arg(long)]
        ready: bool,
    },
    /// Time decode, preprocessing and inference per image size, with peak memory.
    Bench {
        /// Folder of images (default: ../shared/data/bench, the phone photos).
        dir: Option<PathBuf>,
        /// Timed runs per image (after one warm-up run).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print the rows as one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Measure every backend this build can run here (tract, tract-stock, and onnxruntime in a
        /// build with the feature and --onnxruntime-lib), alternating them per size, not
        /// --backend alone.
        #[arg(long)]
        all_backends: bool,
        /// Internal: measure only these files and print one JSON row (used in a child process
        /// so each size's peak memory is its own).
        #[arg(long, hide = true, num_args = 1.., value_delimiter = ',')]
        child: Option<Vec<PathBuf>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FactsCommand {
    /// Validate a deck (default: the configured trivia folder); every problem with its line.
    Check { path: Option<PathBuf> },
}

#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Write kept images of voted verdicts into DIR/potato/ and DIR/not_potato/ by the voters'
    /// majority, plus DIR/feedback.csv, ready for `ispotato train`.
    Export { dir: PathBuf },
    /// Delete kept images older than --image-retention now (the bots also do this daily).
    Cleanup,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a SQLite database (verdicts, votes, kept images, fact decks, update claims and the
    /// user-id salt) into PostgreSQL in one transaction, verifying the row counts before it
    /// commits. A target that holds data is refused unless --replace is given.
    Migrate {
        /// The SQLite database to copy (it is opened, and brought to this build's schema).
        #[arg(long)]
        from: PathBuf,
        /// postgres://user@host[:port]/db (the password as for --database).
        #[arg(long, value_parser = parse_database_arg)]
        to: ispotato_core::store::DatabaseTarget,
        /// Empty the target first instead of refusing a target that holds data.
        #[arg(long)]
        replace: bool,
        /// The SQLite install's salt file (default: ispotato.salt beside --from); copied so
        /// users keep their identity. Missing: the target keeps (or makes) its own.
        #[arg(long)]
        salt_file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Discord bot token; prefer --discord-token-file in production.
    #[arg(long, env = "DISCORD_TOKEN", hide_env_values = true)]
    pub discord_token: Option<String>,
    /// File holding the Discord bot token.
    #[arg(long, env = "DISCORD_TOKEN_FILE")]
    pub discord_token_file: Option<PathBuf>,
    /// Discord REST base or proxy URL (the gateway URL then comes from that API).
    #[arg(long, env = "ISPOTATO_DISCORD_API_URL")]
    pub discord_api_url: Option<url::Url>,
    /// Register the commands to this guild only (instant; global registration can take an hour).
    #[arg(long, env = "ISPOTATO_DISCORD_GUILD_ID")]
    pub discord_guild_id: Option<u64>,
    /// Shards: "auto", a count ("4"), or a range of a total ("0-1/4") to split one bot over
    /// several processes.
    #[arg(long, env = "ISPOTATO_DISCORD_SHARDS", default_value = "auto")]
    pub discord_shards: ispotato_discord::Shards,
    /// Channel ids where every posted image is judged (needs the message-content intent).
    #[arg(long, env = "ISPOTATO_DISCORD_AUTO_CHANNELS", value_delimiter = ',')]
    pub discord_auto_channels: Vec<u64>,
    /// Telegram bot token (or TELOXIDE_TOKEN); prefer --telegram-token-file in production.
    #[arg(long, env = "TELEGRAM_TOKEN", hide_env_values = true)]
    pub telegram_token: Option<String>,
    /// File holding the Telegram bot token.
    #[arg(long, env = "TELEGRAM_TOKEN_FILE")]
    pub telegram_token_file: Option<PathBuf>,
    /// Bot API base URL (a self-hosted Bot API server; tests use a fake).
    #[arg(long, env = "ISPOTATO_TELEGRAM_API_URL")]
    pub telegram_api_url: Option<url::Url>,
    /// Webhook mode: local listen address (e.g. 0.0.0.0:8443). Without it: long polling.
    #[arg(long, env = "ISPOTATO_TELEGRAM_WEBHOOK_LISTEN", requires_all = ["telegram_webhook_url"])]
    pub telegram_webhook_listen: Option<std::net::SocketAddr>,
    /// Webhook mode: the public HTTPS URL Telegram posts to.
    #[arg(long, env = "ISPOTATO_TELEGRAM_WEBHOOK_URL")]
    pub telegram_webhook_url: Option<url::Url>,
    /// Webhook secret token (or ISPOTATO_TELEGRAM_WEBHOOK_SECRET_FILE).
    #[arg(long, env = "ISPOTATO_TELEGRAM_WEBHOOK_SECRET", hide_env_values = true)]
    pub telegram_webhook_secret: Option<String>,
    #[arg(long, env = "ISPOTATO_TELEGRAM_WEBHOOK_SECRET_FILE")]
    pub telegram_webhook_secret_file: Option<PathBuf>,
    /// Images per user per minute.
    #[arg(long, env = "ISPOTATO_USER_IMAGES_PER_MINUTE", default_value_t = 10)]
    pub user_images_per_minute: usize,
    /// Images per minute across all users.
    #[arg(long, env = "ISPOTATO_GLOBAL_IMAGES_PER_MINUTE", default_value_t = 600)]
    pub global_images_per_minute: usize,
    /// Images waiting for the classifier before new ones get "busy".
    #[arg(long, env = "ISPOTATO_QUEUE_CAPACITY", default_value_t = 32)]
    pub queue_capacity: usize,
    /// Judge two images as one batch when they wait behind busy workers, on backends where that
    /// is faster per image (onnxruntime: 2-4% less time per image, ~30 MB more peak memory).
    #[arg(long, env = "ISPOTATO_BATCH_WAITING", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub batch_waiting: bool,
    /// Admin HTTP listener (/healthz, /readyz, /metrics); "off" to disable. Keep it private.
    #[arg(long, env = "ISPOTATO_ADMIN_LISTEN", default_value = "127.0.0.1:9184")]
    pub admin_listen: crate::admin::AdminListen,
    /// Seconds in-flight verdicts get to finish after SIGTERM/SIGINT before the process exits.
    #[arg(long, env = "ISPOTATO_DRAIN_SECONDS", default_value_t = 20)]
    pub drain_seconds: u64,
    /// File with the per-install salt for hashing user ids (created on first run). Default: beside
    /// a SQLite database; with PostgreSQL the salt is kept in the database, shared by replicas.
    #[arg(long, env = "ISPOTATO_SALT_FILE")]
    pub salt_file: Option<PathBuf>,
    /// Web page and API listen address (`ispotato serve` default: 127.0.0.1:8080; `run` serves
    /// no page without it).
    #[arg(long, env = "ISPOTATO_WEB_LISTEN")]
    pub web_listen: Option<std::net::SocketAddr>,
    /// Reverse proxies (IP addresses) whose X-Forwarded-For / X-Forwarded-Proto the web page
    /// believes; from anyone else those headers are ignored.
    #[arg(long = "trusted-proxy", env = "ISPOTATO_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Web requests per client address per minute (pages and API; images are limited by
    /// --user-images-per-minute as well).
    #[arg(long, env = "ISPOTATO_WEB_REQUESTS_PER_MINUTE", default_value_t = 120)]
    pub web_requests_per_minute: usize,
    /// File holding the token that admin actions (POST /admin/reload-model) require as
    /// `Authorization: Bearer TOKEN`; without it those actions are off (SIGHUP still reloads).
    #[arg(long, env = "ISPOTATO_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and check the configuration; print the effective settings (secrets redacted).
    Check,
}
