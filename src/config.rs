//! The layered configuration: defaults < YAML file (`--config`/`ISPOTATO_CONFIG`) <
//! `ISPOTATO_*` variables < command-line options. Every key of the file is optional; unknown
//! keys and bad values fail naming the key. Secrets are never read from the file itself, only
//! from `*_file` paths (or the environment).
//!
//! Each setting is written once, as a clap option in [`crate::cli`] (its type, parser, default,
//! variable and help); [`KEYS`] only says which option a file key sets. The file's values become
//! those options' defaults before the command line is parsed, so clap's own precedence (option,
//! then variable, then default) gives the layering, and clap's parsers check the file's values.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches};
use serde_yaml::Value;

use crate::cli::Cli;

/// Every key of the configuration file, and the id of the option (in [`crate::cli`]) it sets.
/// `config/ispotato.example.yaml` lists each of them (a unit test holds it to that).
pub const KEYS: &[(&str, &str)] = &[
    ("model", "model"),
    ("backend", "backend"),
    ("onnxruntime_lib", "onnxruntime_lib"),
    ("database", "database"),
    ("database_password_file", "database_password_file"),
    ("database_pool", "database_pool"),
    ("trivia", "trivia"),
    ("log_format", "log_format"),
    ("ingest.max_bytes", "max_bytes"),
    ("ingest.max_pixels", "max_pixels"),
    ("ingest.max_side", "max_side"),
    ("ingest.jpeg_reduce_min_side", "jpeg_reduce_min_side"),
    ("ingest.allow_loopback", "allow_loopback"),
    ("feedback.keep_images", "keep_images"),
    ("feedback.image_retention", "image_retention"),
    ("feedback.salt_file", "salt_file"),
    ("limits.user_images_per_minute", "user_images_per_minute"),
    ("limits.global_images_per_minute", "global_images_per_minute"),
    ("limits.queue_capacity", "queue_capacity"),
    ("limits.batch_waiting", "batch_waiting"),
    ("limits.drain_seconds", "drain_seconds"),
    ("admin.listen", "admin_listen"),
    ("admin.token_file", "admin_token_file"),
    ("discord.token_file", "discord_token_file"),
    ("discord.api_url", "discord_api_url"),
    ("discord.guild_id", "discord_guild_id"),
    ("discord.shards", "discord_shards"),
    ("discord.auto_channels", "discord_auto_channels"),
    ("telegram.token_file", "telegram_token_file"),
    ("telegram.api_url", "telegram_api_url"),
    ("telegram.webhook.listen", "telegram_webhook_listen"),
    ("telegram.webhook.url", "telegram_webhook_url"),
    ("telegram.webhook.secret_file", "telegram_webhook_secret_file"),
    ("web.listen", "web_listen"),
    ("web.trusted_proxies", "trusted_proxies"),
    ("web.requests_per_minute", "web_requests_per_minute"),
];

/// The keys whose value names a file that must exist (`config check` looks).
const FILE_KEYS: &[&str] = &[
    "discord.token_file",
    "telegram.token_file",
    "telegram.webhook.secret_file",
    "admin.token_file",
];

/// One key set by a configuration file: its values as text, for the option's own parser.
#[derive(Debug, Clone, PartialEq)]
pub struct FileValue {
    pub key: &'static str,
    pub id: &'static str,
    pub values: Vec<String>,
}

/// Why the command line could not be turned into a [`Cli`].
#[derive(Debug)]
pub enum ParseError {
    /// clap's own: usage, `--help`, `--version` (`exit()` prints it with the right code).
    Usage(clap::Error),
    /// The configuration file could not be read, or one of its keys is wrong.
    Config(anyhow::Error),
}

/// Parses the command line with the configuration file it names (if any) under it.
pub fn parse<I, T>(args: I) -> Result<Cli, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let first = Cli::command().try_get_matches_from(&args).map_err(ParseError::Usage)?;
    let Some(path) = first.get_one::<std::path::PathBuf>("config") else {
        return Cli::from_arg_matches(&first).map_err(ParseError::Usage);
    };
    let file = load(path).map_err(ParseError::Config)?;
    parse_with(&file, &args)
}

/// Parses `text` as a configuration file and applies it under the command line `args`, as
/// `ispotato --config FILE ARGS...` would. For the fuzz targets (`crates/ispotato-fuzz`).
#[doc(hidden)]
pub fn apply_text(text: &str, args: &[&str]) -> anyhow::Result<Cli> {
    let file = from_yaml(text)?;
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    parse_with(&file, &args).map_err(|e| match e {
        ParseError::Usage(e) => anyhow::anyhow!("{e}"),
        ParseError::Config(e) => e,
    })
}

fn parse_with(file: &[FileValue], args: &[OsString]) -> Result<Cli, ParseError> {
    let command = with_file_defaults(file).map_err(ParseError::Config)?;
    let matches = command.try_get_matches_from(args).map_err(ParseError::Usage)?;
    Cli::from_arg_matches(&matches).map_err(ParseError::Usage)
}

/// Reads and checks a configuration file (size-capped; every key known, every value parsed by
/// its option's parser).
pub fn load(path: &Path) -> anyhow::Result<Vec<FileValue>> {
    let text = ispotato_core::local_file::read_text_capped(path, ispotato_core::local_file::MAX_CONFIG_BYTES)
        .with_context(|| format!("reading the configuration {}", path.display()))?;
    let values = from_yaml(&text).map_err(|e| anyhow::anyhow!("configuration {}: {e}", path.display()))?;
    with_file_defaults(&values).map_err(|e| anyhow::anyhow!("configuration {}: {e}", path.display()))?;
    Ok(values)
}

/// Parses a configuration file's text into the keys it sets. Anchors and aliases are refused
/// before parsing (an alias can repeat a long value many times over).
pub fn from_yaml(text: &str) -> anyhow::Result<Vec<FileValue>> {
    if let Some(line) = ispotato_core::yaml::first_anchor_or_alias(text) {
        bail!("line {line}: YAML anchors and aliases (&name, *name) aren't allowed; write each value out");
    }
    let root: Value = serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    match root {
        Value::Null => {}
        Value::Mapping(map) => flatten("", &map, &mut out)?,
        _ => bail!("the configuration must be a mapping of keys to values"),
    }
    Ok(out)
}

fn flatten(prefix: &str, map: &serde_yaml::Mapping, out: &mut Vec<FileValue>) -> anyhow::Result<()> {
    for (name, value) in map {
        let Some(name) = name.as_str() else {
            bail!(
                "{}: keys must be names",
                if prefix.is_empty() { "the top level" } else { prefix }
            );
        };
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let section = format!("{path}.");
        let is_section = KEYS.iter().any(|(key, _)| key.starts_with(&section));
        match value {
            Value::Mapping(inner) if is_section => {
                flatten(&path, inner, out)?;
                continue;
            }
            Value::Mapping(_) if KEYS.iter().any(|(key, _)| *key == path) => {
                bail!("configuration key {path}: expected a value, not a mapping")
            }
            Value::Mapping(_) => bail!("unknown configuration key {path}"),
            // An empty section sets nothing.
            Value::Null if is_section => continue,
            _ => {}
        }
        let Some(&(key, id)) = KEYS.iter().find(|(key, _)| *key == path) else {
            bail!("unknown configuration key {path}");
        };
        let values = match value {
            Value::Null => continue,
            Value::Sequence(items) => items
                .iter()
                .map(|item| scalar_text(item).with_context(|| format!("configuration key {key}: a list of values")))
                .collect::<anyhow::Result<Vec<_>>>()?,
            other => vec![scalar_text(other).with_context(|| format!("configuration key {key}: one value"))?],
        };
        out.push(FileValue { key, id, values });
    }
    Ok(())
}

fn scalar_text(value: &Value) -> anyhow::Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => bail!("expected a plain value here"),
    }
}

/// The command line's definition with the file's values as its options' defaults, each value
/// checked by its option's own parser first so a bad one names its key.
fn with_file_defaults(file: &[FileValue]) -> anyhow::Result<clap::Command> {
    let mut built = Cli::command();
    built.build();
    for value in file {
        let mut found = false;
        for arg in options_with_id(&built, value.id) {
            found = true;
            check_value(arg, value)?;
        }
        if !found {
            bail!("configuration key {}: no option {} (a bug)", value.key, value.id);
        }
    }
    let mut command = Cli::command();
    let subcommands: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for value in file {
        let defaults = value.values.clone();
        if command.get_arguments().any(|a| a.get_id() == value.id) {
            command = command.mut_arg(value.id, |a| a.default_values(defaults.clone()));
        }
        for name in &subcommands {
            let has = command
                .find_subcommand(name)
                .is_some_and(|s| s.get_arguments().any(|a| a.get_id() == value.id && !a.is_global_set()));
            if has {
                let defaults = defaults.clone();
                command = command.mut_subcommand(name, |s| s.mut_arg(value.id, |a| a.default_values(defaults)));
            }
        }
    }
    Ok(command)
}

/// Every option called `id`: on the top level (global options) and on each subcommand.
fn options_with_id<'a>(command: &'a clap::Command, id: &'a str) -> impl Iterator<Item = &'a Arg> {
    std::iter::once(command)
        .chain(command.get_subcommands())
        .flat_map(move |c| c.get_arguments().filter(move |a| a.get_id() == id))
}

fn check_value(arg: &Arg, value: &FileValue) -> anyhow::Result<()> {
    let many = matches!(arg.get_action(), ArgAction::Append);
    if value.values.len() != 1 && !many {
        bail!("configuration key {}: takes one value, not a list", value.key);
    }
    // The option's own parser, on its own: flags take their value here as `--value=true`.
    let probe = clap::Command::new("ispotato").no_binary_name(true).arg(
        Arg::new("value")
            .long("value")
            .value_parser(arg.get_value_parser().clone())
            .action(ArgAction::Set),
    );
    for text in &value.values {
        if let Err(e) = probe.clone().try_get_matches_from([format!("--value={text}")]) {
            bail!(
                "configuration key {}: '{text}' is not valid: {}",
                value.key,
                clap_reason(&e)
            );
        }
    }
    Ok(())
}

/// clap's reason for refusing a value, without its usage lines.
fn clap_reason(e: &clap::Error) -> String {
    use std::error::Error as _;
    if let Some(source) = e.source() {
        return source.to_string();
    }
    let mut text = e.render().to_string();
    if let Some(possible) = e.get(clap::error::ContextKind::ValidValue) {
        text = format!("expected one of {possible}");
    }
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

/// Telegram's form for webhook secrets, checked without ever printing the secret.
fn check_webhook_secret(key: &str, secret: &str) -> anyhow::Result<()> {
    ispotato_telegram::WebhookSecret::parse(ispotato_core::secret::SecretString::new(secret))
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("configuration key {key}: {e}"))
}

/// Checks what the parse cannot (the files the file names, a webhook secret's form) and
/// describes the effective settings. Every value of the file was parsed by its option already,
/// also the ones only `run` uses.
pub fn check(cli: &Cli) -> anyhow::Result<String> {
    let g = &cli.global;
    let mut out = Vec::new();
    if let Some(path) = &g.config {
        let file = load(path)?;
        for value in file.iter().filter(|v| FILE_KEYS.contains(&v.key)) {
            for p in &value.values {
                if !Path::new(p).is_file() {
                    bail!("configuration key {}: {p} does not exist", value.key);
                }
            }
        }
        if let Some(value) = file.iter().find(|v| v.key == "telegram.webhook.secret_file") {
            for p in &value.values {
                let text = ispotato_core::local_file::read_text_capped(
                    Path::new(p),
                    ispotato_core::local_file::MAX_SECRET_BYTES,
                )
                .map_err(|e| anyhow::anyhow!("configuration key {}: {p}: {e}", value.key))?;
                check_webhook_secret(value.key, text.trim())?;
            }
        }
        out.push(format!("configuration file {}: ok", path.display()));
    } else {
        out.push("no configuration file (defaults, ISPOTATO_* variables and options only)".into());
    }
    if let Ok(secret) = std::env::var("ISPOTATO_TELEGRAM_WEBHOOK_SECRET") {
        check_webhook_secret("ISPOTATO_TELEGRAM_WEBHOOK_SECRET", secret.trim())?;
    }
    let model = ispotato_core::model::locate_model(g.model.as_deref())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(text: &str, args: &[&str]) -> anyhow::Result<Cli> {
        apply_text(text, args)
    }

    fn run_args(cli: &Cli) -> &crate::cli::RunArgs {
        match &cli.command {
            crate::cli::Command::Run(args) | crate::cli::Command::Serve(args) => args,
            other => panic!("not run: {other:?}"),
        }
    }

    /// The keys the example file spells (set or commented out), by indentation.
    fn example_keys() -> Vec<String> {
        let text = include_str!("../config/ispotato.example.yaml");
        let mut sections: Vec<String> = Vec::new();
        let mut keys = Vec::new();
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            let body = line.trim_start().trim_start_matches("# ");
            let Some((name, rest)) = body.split_once(':') else {
                continue;
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                continue;
            }
            sections.truncate(indent / 2);
            let path = sections
                .iter()
                .chain([&name.to_string()])
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            if rest.trim().is_empty() {
                sections.push(name.to_string());
                if KEYS.iter().any(|(k, _)| *k == path) {
                    keys.push(path);
                }
            } else {
                keys.push(path);
            }
        }
        keys
    }

    #[test]
    fn every_key_names_an_option_and_the_example_file_lists_each_key_once() {
        let mut command = Cli::command();
        command.build();
        for (key, id) in KEYS {
            assert!(options_with_id(&command, id).next().is_some(), "{key}: no option {id}");
        }
        let mut listed = example_keys();
        listed.sort();
        let mut known: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
        known.sort();
        let mut once = listed.clone();
        once.dedup_by(|a, b| a == b && !a.starts_with("database"));
        assert_eq!(once, listed, "a key listed twice");
        listed.dedup();
        assert_eq!(listed, known, "the example file and KEYS differ");
    }

    #[test]
    fn the_file_sets_options_under_the_command_line() {
        let text = "ingest:\n  max_bytes: 1000\n  allow_loopback: true\nfeedback:\n  image_retention: 2h\n\
                    limits:\n  queue_capacity: 7\n  batch_waiting: true\nadmin:\n  listen: \"off\"\nlog_format: json\n\
                    discord:\n  shards: 0-1/4\n  auto_channels: [1, 2]\nweb:\n  trusted_proxies: [10.0.0.2]\n";
        let c = cli(text, &["ispotato", "run"]).unwrap();
        assert_eq!(c.global.limits.max_bytes, 1000);
        assert!(c.global.limits.allow_loopback);
        assert_eq!(c.global.image_retention, std::time::Duration::from_secs(7200));
        assert!(matches!(c.global.log_format, crate::cli::LogFormat::Json));
        let run = run_args(&c);
        assert_eq!(run.queue_capacity, 7);
        assert!(run.batch_waiting);
        assert_eq!(run.admin_listen, crate::admin::AdminListen::Off);
        assert_eq!(run.discord_shards, "0-1/4".parse::<ispotato_discord::Shards>().unwrap());
        assert_eq!(run.discord_auto_channels, vec![1, 2]);
        assert_eq!(
            run.trusted_proxies,
            vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        );
        // Keys unset keep the option's default.
        assert_eq!(c.global.limits.max_pixels, 40_000_000);
        assert_eq!(run.user_images_per_minute, 10);

        let c = cli(text, &["ispotato", "--max-bytes", "5", "run", "--queue-capacity", "3"]).unwrap();
        assert_eq!(c.global.limits.max_bytes, 5, "the option wins over the file");
        assert_eq!(run_args(&c).queue_capacity, 3);
        // The run keys are checked but harmless for other commands.
        let c = cli(text, &["ispotato", "stats"]).unwrap();
        assert_eq!(c.global.limits.max_bytes, 1000);
    }

    #[test]
    fn mistakes_name_their_key() {
        for (text, words) in [
            ("ingest:\n  max_byts: 1\n", "unknown configuration key ingest.max_byts"),
            ("ingst:\n  max_bytes: 1\n", "unknown configuration key ingst"),
            (
                "ingest:\n  max_bytes: lots\n",
                "configuration key ingest.max_bytes: 'lots' is not valid",
            ),
            ("log_format: xml\n", "configuration key log_format: 'xml' is not valid"),
            ("admin:\n  listen: nowhere\n", "neither HOST:PORT nor off"),
            ("discord:\n  shards: 5-9/4\n", "configuration key discord.shards"),
            (
                "discord:\n  auto_channels: [1, x]\n",
                "configuration key discord.auto_channels: 'x'",
            ),
            ("ingest:\n  max_bytes: [1, 2]\n", "ingest.max_bytes: takes one value"),
            (
                "web:\n  listen: {a: 1}\n",
                "configuration key web.listen: expected a value",
            ),
            (
                "feedback:\n  image_retention: 3 fortnights\n",
                "feedback.image_retention",
            ),
            ("- a\n- b\n", "must be a mapping"),
        ] {
            let err = format!("{:#}", cli(text, &["ispotato", "stats"]).unwrap_err());
            assert!(err.contains(words), "{text:?}: {err}");
            assert!(!err.contains("Usage"), "{text:?}: {err}");
        }
        assert!(cli("", &["ispotato", "stats"]).is_ok(), "an empty file sets nothing");
        assert!(
            cli("ingest:\n", &["ispotato", "stats"]).is_ok(),
            "an empty section sets nothing"
        );
    }
}
