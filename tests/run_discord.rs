//! The `ispotato` binary serving Discord through environment-configured fakes: the fake REST
//! API and gateway on 127.0.0.1 from the test kit.

mod support;

use ispotato_testkit::fake::discord as fake;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

const TOKEN: &str = "MTIz.binary-discord-token.x";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_discord_through_env_configured_fakes() {
    let fake = fake::Fake::start().await;
    fake.add_attachment(
        "potato.jpg",
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/potatoes_in_store_bin.jpg")).unwrap(),
    );
    let dir = std::env::temp_dir().join(format!("ispotato-run-dc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .arg("run")
        .env("DISCORD_TOKEN", TOKEN)
        .env("ISPOTATO_ADMIN_LISTEN", "off")
        .env("ISPOTATO_DISCORD_API_URL", fake.url().as_str())
        .env("ISPOTATO_DISCORD_SHARDS", "1")
        .env("ISPOTATO_DATABASE_PATH", dir.join("bot.db"))
        .env("ISPOTATO_ALLOW_LOOPBACK", "1")
        .env("ISPOTATO_LOG", "info")
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("TELEGRAM_TOKEN")
        .env_remove("TELEGRAM_TOKEN_FILE")
        .env_remove("ISPOTATO_MODEL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let registered = fake
        .wait_for("PUT /api/v10/applications/999/commands", 1, Duration::from_secs(60))
        .await;
    let att = fake::attachment(
        "11",
        "spud.jpg",
        &fake.attachment_url("potato.jpg"),
        30_000,
        "image/jpeg",
    );
    let data = json!({ "id": "801", "name": "ispotato", "type": 1, "options": [{ "name": "image", "type": 11, "value": "11" }],
                       "resolved": { "attachments": { "11": att } } });
    fake.dispatch("INTERACTION_CREATE", fake::command("9001", "tok-bin", data))
        .await;
    let edits = fake
        .wait_for(
            "PATCH /api/v10/webhooks/999/tok-bin/messages/@original",
            1,
            Duration::from_secs(60),
        )
        .await;
    let (status, logs) = support::terminate(child).await;
    assert_eq!(registered.len(), 1, "commands not registered; logs:\n{logs}");
    assert_eq!(edits.len(), 1, "no verdict; logs:\n{logs}");
    assert!(edits[0].1["content"].as_str().unwrap().starts_with("🥔 **Potato!**"));
    assert!(status.success(), "exit status {status:?}; logs:\n{logs}");
    assert!(
        !logs.contains(TOKEN) && !logs.contains("binary-discord-token"),
        "token in logs:\n{logs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
