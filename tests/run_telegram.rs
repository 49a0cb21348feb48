//! The `ispotato` binary itself, driven from outside through environment variables: `run`
//! against a fake Bot API on 127.0.0.1, stopped with SIGTERM.

mod support;

use ispotato_testkit::fake::telegram as fake;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "42:BINARY-test-token";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn run_without_a_front_end_says_what_to_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .arg("run")
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("TELEGRAM_TOKEN")
        .env_remove("TELEGRAM_TOKEN_FILE")
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_TOKEN_FILE")
        .env_remove("ISPOTATO_WEB_LISTEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no front end is configured") && err.contains("TELOXIDE_TOKEN") && err.contains("ispotato serve"),
        "{err}"
    );
}

#[test]
fn a_webhook_secret_telegram_would_refuse_stops_run_with_a_message_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .arg("run")
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("ISPOTATO_TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1:1")
        .env("ISPOTATO_TELEGRAM_WEBHOOK_URL", "https://potato.example.org/hook")
        .env("ISPOTATO_TELEGRAM_WEBHOOK_SECRET", "not allowed/secret")
        .env("ISPOTATO_ADMIN_LISTEN", "off")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("may hold only A-Z, a-z, 0-9, _ and -"), "{err}");
    assert!(
        !err.contains("not allowed/secret"),
        "the secret itself is never printed: {err}"
    );
}

#[test]
fn health_fails_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .args(["health", "--admin", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_telegram_through_env_configured_fakes() {
    let fake = fake::Fake::start(TOKEN).await;
    let dir = std::env::temp_dir().join(format!("ispotato-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bot.db");
    // A private copy of the model, so the test can change it under the running bot.
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for f in ["ispotato.json", "efficientnet_lite0_features.onnx"] {
        std::fs::copy(root().join("models").join(f), models.join(f)).unwrap();
    }
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, "admin-token-0123456789\n").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .arg("run")
        .env("ISPOTATO_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("ISPOTATO_ADMIN_TOKEN_FILE", &token_file)
        .env("TELOXIDE_TOKEN", TOKEN)
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_TOKEN_FILE")
        .env("ISPOTATO_TELEGRAM_API_URL", fake.url().as_str())
        .env("ISPOTATO_DATABASE_PATH", &db)
        .env("ISPOTATO_ALLOW_LOOPBACK", "1")
        .env("ISPOTATO_LOG", "info")
        .env("ISPOTATO_MODEL", &models)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let photo = std::fs::read(root().join("samples/potatoes_in_store_bin.jpg")).unwrap();
    fake.add_file("spud", Some(photo), 30_000);
    fake.push_update("message", fake::photo_message(1, 42, "spud", 30_000));
    let sent = fake.wait_for("sendMessage", 1, Duration::from_secs(60)).await;
    let health = http_get(admin_port, "/healthz").await;
    let ready = http_get(admin_port, "/readyz").await;
    // The verdict is counted just after the reply is sent: poll briefly.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = http_get(admin_port, "/metrics").await;
        if metrics.contains("ispotato_images_judged_total{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Hot reload: a new version through the endpoint, a broken card refused, then SIGHUP.
    let set_version = |v: &str| {
        let mut card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(models.join("ispotato.json")).unwrap()).unwrap();
        card["version"] = serde_json::Value::String(v.into());
        std::fs::write(models.join("ispotato.json"), card.to_string()).unwrap();
    };
    let original_card = std::fs::read_to_string(models.join("ispotato.json")).unwrap();
    set_version("0.1.0-reloaded");
    // Admin actions need the token; reads stay open.
    let anonymous = http_request_with(admin_port, "POST", "/admin/reload-model", "").await;
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let wrong = http_request_with(
        admin_port,
        "POST",
        "/admin/reload-model",
        "Authorization: Bearer nope\r\n",
    )
    .await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(
        !http_get(admin_port, "/readyz").await.contains("0.1.0-reloaded"),
        "refused requests reload nothing"
    );
    let reloaded = http_request(admin_port, "POST", "/admin/reload-model").await;
    let ready_after_reload = http_get(admin_port, "/readyz").await;
    std::fs::write(models.join("ispotato.json"), "{ broken").unwrap();
    let refused = http_request(admin_port, "POST", "/admin/reload-model").await;
    let ready_after_refusal = http_get(admin_port, "/readyz").await;
    std::fs::write(models.join("ispotato.json"), &original_card).unwrap();
    set_version("0.1.0-sighup");
    let _ = Command::new("kill").args(["-HUP", &child.id().to_string()]).status();
    let mut ready_after_hup = String::new();
    for _ in 0..100 {
        ready_after_hup = http_get(admin_port, "/readyz").await;
        if ready_after_hup.contains("0.1.0-sighup") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let probe = Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .args(["health", "--ready", "--admin", &format!("127.0.0.1:{admin_port}")])
        .output()
        .unwrap();
    // Stop it the way a service manager would.
    let (status, logs) = support::terminate(child).await;
    assert_eq!(sent.len(), 1, "no reply; bot logs:\n{logs}");
    assert!(
        sent[0]["text"].as_str().unwrap().starts_with("🥔 Potato!"),
        "{:?}",
        sent[0]
    );
    assert!(status.success(), "exit status {status:?}; logs:\n{logs}");
    assert!(
        !logs.contains(TOKEN) && !logs.contains("BINARY-test"),
        "token in logs:\n{logs}"
    );
    assert!(logs.contains("telegram bot connected"), "{logs}");
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    assert!(String::from_utf8_lossy(&probe.stdout).contains("ready: model"));
    assert!(
        reloaded.starts_with("HTTP/1.1 200") && reloaded.contains("reloaded: model 0.1.0-reloaded"),
        "{reloaded}"
    );
    assert!(
        ready_after_reload.contains("ready: model 0.1.0-reloaded"),
        "{ready_after_reload}"
    );
    assert!(refused.starts_with("HTTP/1.1 422"), "{refused}");
    assert!(
        ready_after_refusal.contains("ready: model 0.1.0-reloaded"),
        "old model keeps serving: {ready_after_refusal}"
    );
    assert!(
        ready_after_hup.contains("ready: model 0.1.0-sighup"),
        "SIGHUP reload: {ready_after_hup}"
    );
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let shipped = support::shipped_card();
    let shipped = shipped["version"].as_str().unwrap();
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains(&format!("ready: model {shipped}\n")),
        "{ready}"
    );
    assert!(
        metrics.contains("ispotato_images_judged_total{platform=\"telegram\",verdict=\"potato\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispotato_frontend_connected{frontend=\"telegram\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispotato_stage_seconds_count{stage=\"inference\"} 1"),
        "{metrics}"
    );
    assert!(
        dir.join("ispotato.salt").is_file(),
        "the salt is created next to the database"
    );
    let conn_rows = {
        let store = ispotato_core::store::SqliteStore::open(ispotato_core::store::StoreConfig::new(&db)).unwrap();
        use ispotato_core::store::Store;
        store.counts().unwrap().0
    };
    assert_eq!(conn_rows, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn http_get(port: u16, path: &str) -> String {
    http_request(port, "GET", path).await
}

/// An admin action with the token the test's bot was given.
async fn http_request(port: u16, method: &str, path: &str) -> String {
    let auth = if method == "POST" {
        "Authorization: Bearer admin-token-0123456789\r\n"
    } else {
        ""
    };
    http_request_with(port, method, path, auth).await
}

/// A minimal HTTP/1.1 request against the admin listener; returns the whole response.
async fn http_request_with(port: u16, method: &str, path: &str, headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..50 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut out = String::new();
            stream.read_to_string(&mut out).await.unwrap();
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("admin listener on port {port} never answered");
}
