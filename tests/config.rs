//! The layered configuration: the example file checks, the file applies where nothing else
//! set a value, variables override the file, and mistakes name their key.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    for var in [
        "ISPOTATO_CONFIG",
        "ISPOTATO_MAX_BYTES",
        "ISPOTATO_MODEL",
        "ISPOTATO_TRIVIA",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_file_is_valid() {
    let example = root().join("config/ispotato.example.yaml");
    let out = bin()
        .args(["--config", &example.display().to_string(), "config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ispotato.example.yaml: ok") && text.contains("max 20971520 bytes"),
        "{text}"
    );
}

#[test]
fn the_file_applies_and_variables_override_it() {
    let cfg = write("small.yaml", "ingest:\n  max_bytes: 1000\n");
    let sample = root().join("samples/red_peppers.jpg").display().to_string();
    let out = bin()
        .args(["--config", &cfg.display().to_string(), "classify", &sample])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the limit is 1000 bytes"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = bin()
        .env("ISPOTATO_CONFIG", &cfg)
        .env("ISPOTATO_MAX_BYTES", "20000000")
        .args(["classify", &sample])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the variable wins over the file: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = bin()
        .args([
            "--config",
            &cfg.display().to_string(),
            "--max-bytes",
            "20000000",
            "classify",
            &sample,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "the option wins over the file");
}

#[test]
fn mistakes_name_their_key() {
    let typo = write("typo.yaml", "ingest:\n  max_byts: 1000\n");
    let out = bin()
        .args(["--config", &typo.display().to_string(), "config", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_byts"), "{err}");

    let bad = write("bad.yaml", "telegram:\n  api_url: \"not a url\"\n");
    let out = bin()
        .args(["--config", &bad.display().to_string(), "config", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("telegram.api_url"));

    let shards = write("shards.yaml", "discord:\n  shards: \"5-9/4\"\n");
    let out = bin()
        .args(["--config", &shards.display().to_string(), "config", "check"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("discord.shards"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A webhook secret Telegram would refuse (it made `run` panic) is caught by the check,
    // from the file and from the environment, without printing it.
    let secret = write("secret", "with space/and-slash\n");
    let hook = write(
        "hook.yaml",
        &format!("telegram:\n  webhook:\n    secret_file: \"{}\"\n", secret.display()),
    );
    let out = bin()
        .args(["--config", &hook.display().to_string(), "config", "check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("telegram.webhook.secret_file") && err.contains("A-Z, a-z, 0-9, _ and -"),
        "{err}"
    );
    assert!(!err.contains("with space"), "{err}");
    let out = bin()
        .args(["config", "check"])
        .env("ISPOTATO_TELEGRAM_WEBHOOK_SECRET", "x".repeat(300))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("at most 256"), "{err}");

    let missing = bin()
        .args(["--config", "/nonexistent.yaml", "config", "check"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.yaml"));
}
