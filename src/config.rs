//! The layered configuration: defaults < YAML file (`--config`/`ISPOTATO_CONFIG`) <
//! `ISPOTATO_*` variables < command-line options. Every key of the file is optional; unknown
//! keys and bad values fail naming the key. Secrets are never read from the file itself, only
//! from `*_file` paths (or the environment).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Deserialize;

use crate::cli::{Cli, Command, LogFormat};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub model: Option<PathBuf>,
    pub database: Option<String>,
    pub database_password_file: Option<PathBuf>,
    pub trivia: Option<PathBuf>,
    pub log_format: Option<String>,
    #[serde(default)]
    pub ingest: Ingest,
    #[serde(default)]
    pub feedback: Feedback,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub discord: Discord,
    #[serde(default)]
    pub telegram: Telegram,
    #[serde(default)]
    pub web: Web,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ingest {
    pub max_bytes: Option<u64>,
    pub max_pixels: Option<u64>,
    pub max_side: Option<u32>,
    pub jpeg_reduce_min_side: Option<u32>,
    pub allow_loopback: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub keep_images: Option<bool>,
    pub image_retention: Option<String>,
    pub salt_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub user_images_per_minute: Option<usize>,
    pub global_images_per_minute: Option<usize>,
    pub queue_capacity: Option<usize>,
    pub drain_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discord {
    pub token_file: Option<PathBuf>,
    pub api_url: Option<String>,
    pub guild_id: Option<u64>,
    pub shards: Option<String>,
    pub auto_channels: Option<Vec<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    pub token_file: Option<PathBuf>,
    pub api_url: Option<String>,
    #[serde(default)]
    pub webhook: Webhook,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Web {
    pub listen: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub requests_per_minute: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub listen: Option<String>,
    pub url: Option<String>,
    pub secret_file: Option<PathBuf>,
}

pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = ispotato_core::local_file::read_text_capped(path, ispotato_core::local_file::MAX_CONFIG_BYTES)
        .with_context(|| format!("reading the configuration {}", path.display()))?;
    from_yaml(&text).map_err(|e| anyhow::anyhow!("configuration {}: {e}", path.display()))
}

/// Parses a configuration file's text. Anchors and aliases are refused before parsing (an
/// alias can repeat a long value many times over).
pub fn from_yaml(text: &str) -> anyhow::Result<FileConfig> {
    if let Some(line) = ispotato_core::yaml::first_anchor_or_alias(text) {
        bail!("line {line}: YAML anchors and aliases (&name, *name) aren't allowed; write each value out");
    }
    serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Parses `text` as a configuration file and applies it over the command line `args`, as
/// `ispotato --config FILE ARGS...` would. For the fuzz targets (`crates/ispotato-fuzz`).
#[doc(hidden)]
pub fn apply_text(text: &str, args: &[&str]) -> anyhow::Result<Cli> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    apply_file(&mut cli, &matches, &from_yaml(text)?)?;
    Ok(cli)
}

/// True when the user left `id` at its default (neither an option nor a variable set it).
fn unset(m: &ArgMatches, id: &str) -> bool {
    !matches!(
        m.value_source(id),
        Some(ValueSource::CommandLine) | Some(ValueSource::EnvVariable)
    )
}

fn parse<T: std::str::FromStr>(key: &str, text: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>()
        .map_err(|e| anyhow::anyhow!("configuration key {key}: '{text}' is not valid: {e}"))
}

/// Applies the file to everything the command line and the environment left at its default.
pub fn apply(cli: &mut Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    let Some(path) = cli.global.config.clone() else {
        return Ok(());
    };
    apply_file(cli, matches, &load(&path)?)
}

fn apply_file(cli: &mut Cli, matches: &ArgMatches, file: &FileConfig) -> anyhow::Result<()> {
    let g = &mut cli.global;
    macro_rules! take {
        ($m:expr, $id:literal, $target:expr, $value:expr) => {
            if let Some(v) = $value {
                if unset($m, $id) {
                    $target = v;
                }
            }
        };
    }
    take!(matches, "model", g.model, file.model.clone().map(Some));
    if let Some(text) = &file.database {
        take!(matches, "database", g.database, Some(Some(parse("database", text)?)));
    }
    take!(
        matches,
        "database_password_file",
        g.database_password_file,
        file.database_password_file.clone().map(Some)
    );
    take!(matches, "trivia", g.trivia, file.trivia.clone().map(Some));
    if let Some(f) = &file.log_format {
        let format = match f.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => bail!("configuration key log_format: '{other}' must be human or json"),
        };
        take!(matches, "log_format", g.log_format, Some(format));
    }
    take!(matches, "max_bytes", g.limits.max_bytes, file.ingest.max_bytes);
    take!(matches, "max_pixels", g.limits.max_pixels, file.ingest.max_pixels);
    take!(matches, "max_side", g.limits.max_side, file.ingest.max_side);
    take!(
        matches,
        "jpeg_reduce_min_side",
        g.limits.jpeg_reduce_min_side,
        file.ingest.jpeg_reduce_min_side
    );
    take!(
        matches,
        "allow_loopback",
        g.limits.allow_loopback,
        file.ingest.allow_loopback
    );
    take!(matches, "keep_images", g.keep_images, file.feedback.keep_images);
    if let Some(r) = &file.feedback.image_retention {
        let d = ispotato_core::stats::parse_duration(r)
            .map_err(|e| anyhow::anyhow!("configuration key feedback.image_retention: {e}"))?;
        take!(matches, "image_retention", g.image_retention, Some(d));
    }
    let run = match &mut cli.command {
        Command::Run(args) => matches.subcommand_matches("run").map(|m| (args, m)),
        Command::Serve(args) => matches.subcommand_matches("serve").map(|m| (args, m)),
        _ => None,
    };
    if let Some((args, m)) = run {
        if let Some(l) = &file.web.listen {
            take!(m, "web_listen", args.web_listen, Some(Some(parse("web.listen", l)?)));
        }
        if let Some(proxies) = &file.web.trusted_proxies {
            let parsed = proxies
                .iter()
                .map(|p| parse("web.trusted_proxies", p))
                .collect::<anyhow::Result<Vec<std::net::IpAddr>>>()?;
            take!(m, "trusted_proxies", args.trusted_proxies, Some(parsed));
        }
        take!(
            m,
            "web_requests_per_minute",
            args.web_requests_per_minute,
            file.web.requests_per_minute
        );
        take!(
            m,
            "user_images_per_minute",
            args.user_images_per_minute,
            file.limits.user_images_per_minute
        );
        take!(
            m,
            "global_images_per_minute",
            args.global_images_per_minute,
            file.limits.global_images_per_minute
        );
        take!(m, "queue_capacity", args.queue_capacity, file.limits.queue_capacity);
        take!(m, "drain_seconds", args.drain_seconds, file.limits.drain_seconds);
        take!(m, "admin_listen", args.admin_listen, file.admin.listen.clone());
        take!(
            m,
            "salt_file",
            args.salt_file,
            file.feedback.salt_file.clone().map(Some)
        );
        take!(
            m,
            "discord_token_file",
            args.discord_token_file,
            file.discord.token_file.clone().map(Some)
        );
        if let Some(u) = &file.discord.api_url {
            take!(
                m,
                "discord_api_url",
                args.discord_api_url,
                Some(Some(parse("discord.api_url", u)?))
            );
        }
        take!(
            m,
            "discord_guild_id",
            args.discord_guild_id,
            file.discord.guild_id.map(Some)
        );
        if let Some(s) = &file.discord.shards {
            take!(
                m,
                "discord_shards",
                args.discord_shards,
                Some(parse("discord.shards", s)?)
            );
        }
        take!(
            m,
            "discord_auto_channels",
            args.discord_auto_channels,
            file.discord.auto_channels.clone()
        );
        take!(
            m,
            "telegram_token_file",
            args.telegram_token_file,
            file.telegram.token_file.clone().map(Some)
        );
        if let Some(u) = &file.telegram.api_url {
            take!(
                m,
                "telegram_api_url",
                args.telegram_api_url,
                Some(Some(parse("telegram.api_url", u)?))
            );
        }
        if let Some(l) = &file.telegram.webhook.listen {
            take!(
                m,
                "telegram_webhook_listen",
                args.telegram_webhook_listen,
                Some(Some(parse("telegram.webhook.listen", l)?))
            );
        }
        if let Some(u) = &file.telegram.webhook.url {
            take!(
                m,
                "telegram_webhook_url",
                args.telegram_webhook_url,
                Some(Some(parse("telegram.webhook.url", u)?))
            );
        }
        take!(
            m,
            "telegram_webhook_secret_file",
            args.telegram_webhook_secret_file,
            file.telegram.webhook.secret_file.clone().map(Some)
        );
    }
    Ok(())
}

/// Telegram's form for webhook secrets, checked without ever printing the secret.
fn check_webhook_secret(key: &str, secret: &str) -> anyhow::Result<()> {
    ispotato_telegram::WebhookSecret::parse(ispotato_core::secret::SecretString::new(secret))
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("configuration key {key}: {e}"))
}

/// Checks every value of the file (also the ones only `run` uses) and describes the result.
pub fn check(cli: &Cli) -> anyhow::Result<String> {
    let g = &cli.global;
    let mut out = Vec::new();
    if let Some(path) = &g.config {
        let file = load(path)?;
        if let Some(u) = &file.discord.api_url {
            parse::<url::Url>("discord.api_url", u)?;
        }
        if let Some(s) = &file.discord.shards {
            parse::<ispotato_discord::Shards>("discord.shards", s)?;
        }
        if let Some(u) = &file.telegram.api_url {
            parse::<url::Url>("telegram.api_url", u)?;
        }
        if let Some(l) = &file.telegram.webhook.listen {
            parse::<std::net::SocketAddr>("telegram.webhook.listen", l)?;
        }
        if let Some(u) = &file.telegram.webhook.url {
            parse::<url::Url>("telegram.webhook.url", u)?;
        }
        if let Some(l) = &file.web.listen {
            parse::<std::net::SocketAddr>("web.listen", l)?;
        }
        for p in file.web.trusted_proxies.iter().flatten() {
            parse::<std::net::IpAddr>("web.trusted_proxies", p)?;
        }
        if let Some(l) = &file.admin.listen {
            if !l.eq_ignore_ascii_case("off") {
                parse::<std::net::SocketAddr>("admin.listen", l)?;
            }
        }
        for (key, path) in [
            ("discord.token_file", &file.discord.token_file),
            ("telegram.token_file", &file.telegram.token_file),
            ("telegram.webhook.secret_file", &file.telegram.webhook.secret_file),
        ] {
            if let Some(p) = path {
                if !p.is_file() {
                    bail!("configuration key {key}: {} does not exist", p.display());
                }
            }
        }
        if let Some(p) = &file.telegram.webhook.secret_file {
            let text = ispotato_core::local_file::read_text_capped(p, ispotato_core::local_file::MAX_SECRET_BYTES)
                .map_err(|e| anyhow::anyhow!("configuration key telegram.webhook.secret_file: {}: {e}", p.display()))?;
            check_webhook_secret("telegram.webhook.secret_file", text.trim())?;
        }
        out.push(format!("configuration file {}: ok", path.display()));
    } else {
        out.push("no configuration file (defaults, ISPOTATO_* variables and options only)".into());
    }
    if let Ok(secret) = std::env::var("ISPOTATO_TELEGRAM_WEBHOOK_SECRET") {
        check_webhook_secret("ISPOTATO_TELEGRAM_WEBHOOK_SECRET", secret.trim())?;
    }
    let model = ispotato_core::classifier::locate_model(g.model.as_deref())?;
    out.push(format!("model card: {}", model.display()));
    out.push(format!("database: {}", crate::setup::database_target(g)));
    out.push(format!("trivia: {}", crate::setup::trivia_path(g)?.display()));
    let l = &g.limits;
    out.push(format!(
        "ingest: max {} bytes, {} pixels, {} px a side, JPEG reduce floor {}, loopback {}",
        l.max_bytes,
        l.max_pixels,
        l.max_side,
        l.jpeg_reduce_min_side,
        if l.allow_loopback { "allowed" } else { "refused" }
    ));
    out.push(format!(
        "feedback: keep images {}, retention {} s",
        g.keep_images,
        g.image_retention.as_secs()
    ));
    Ok(out.join("\n"))
}
