//! The scale-out deployment's proxy layer for real: Debian's nginx with
//! `deploy/scale-out/nginx.conf` (its upstream host names pointed at loopback ports, nothing
//! else changed) in front of two `ispotato run` replicas on one PostgreSQL database, as the
//! compose file runs them. Web uploads and Telegram webhook updates through nginx are answered,
//! an update delivered twice is answered once, and with one replica killed (SIGKILL) nginx's
//! passive health check sends everything to the other. Skipped, saying why, where nginx or
//! PostgreSQL is missing (`.ci/run` installs nginx and starts PostgreSQL).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ispotato_testkit::fake::telegram as fake;
use ispotato_testkit::postgres::TestDatabase;
use serde_json::{json, Value};

const TOKEN: &str = "43:SCALE-OUT-test-token";
const SECRET: &str = "scale-out-hook-secret-0123";
const WAIT: Duration = Duration::from_secs(60);

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Says why the test does not run, past the harness's output capture.
fn skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "scale_out: skipped: {why}");
}

struct Ports {
    web: u16,
    hook: u16,
}

/// The shipped nginx.conf with the replicas' host names pointed at loopback ports and nginx
/// listening on `listen`; panics if the file no longer has what it replaces.
fn nginx_conf(replicas: &[Ports; 2], listen: u16) -> String {
    let shipped = std::fs::read_to_string(support::root().join("deploy/scale-out/nginx.conf")).unwrap();
    let mut conf = shipped.clone();
    for (from, to) in [
        ("ispotato-1:8080", format!("127.0.0.1:{}", replicas[0].web)),
        ("ispotato-2:8080", format!("127.0.0.1:{}", replicas[1].web)),
        ("ispotato-1:8443", format!("127.0.0.1:{}", replicas[0].hook)),
        ("ispotato-2:8443", format!("127.0.0.1:{}", replicas[1].hook)),
        ("listen 80;", format!("listen 127.0.0.1:{listen};")),
    ] {
        assert!(
            conf.contains(from),
            "deploy/scale-out/nginx.conf no longer has `{from}`"
        );
        conf = conf.replace(from, &to);
    }
    conf
}

fn start_replica(database: &str, api: &str, ports: &Ports, public: &str) -> support::KillOnDrop {
    let mut command = support::bot_command(
        env!("CARGO_BIN_EXE_ispotato"),
        Path::new(database),
        support::free_port(),
    );
    let url = format!("{public}/telegram/webhook");
    support::telegram_webhook(&mut command, TOKEN, api, ports.hook, &url, SECRET)
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_TOKEN_FILE")
        .env("ISPOTATO_WEB_LISTEN", format!("127.0.0.1:{}", ports.web))
        .env("ISPOTATO_TRUSTED_PROXY", "127.0.0.1")
        .env("ISPOTATO_DATABASE_POOL", "4")
        .env("ISPOTATO_LOG", "warn");
    support::KillOnDrop::new(command.spawn().expect("starting a replica"))
}

/// nginx in the foreground under `prefix` (its logs and temporary files there, so it runs
/// without root: Debian's build keeps them under /var otherwise).
fn start_nginx(nginx: &Path, prefix: &Path, conf: &str) -> support::KillOnDrop {
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let mut paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|kind| format!("\n    {kind}_temp_path {}/{kind}_temp;", prefix.display()))
        .collect();
    paths += &format!("\n    access_log {}/logs/access.log;", prefix.display());
    assert!(conf.contains("http {"), "nginx.conf has an http block");
    let conf = conf.replacen("http {", &format!("http {{{paths}"), 1);
    std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
    // Workers may run as another user (nginx started as root drops to `nobody`).
    let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(prefix).status();
    let globals = format!(
        "daemon off; pid {0}/nginx.pid; error_log {0}/logs/error.log warn;",
        prefix.display()
    );
    support::KillOnDrop::new(
        Command::new(nginx)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .args(["-g", &globals])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nginx"),
    )
}

fn command(update_id: i64, chat: i64, text: &str) -> Value {
    let message = fake::text_message(
        update_id,
        chat,
        text,
        json!([{ "type": "bot_command", "offset": 0, "length": text.len() }]),
    );
    json!({ "update_id": update_id, "message": message })
}

async fn post_update(http: &reqwest::Client, public: &str, update: Value) -> u16 {
    http.post(format!("{public}/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&update)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn wait_until_ok(http: &reqwest::Client, url: &str) -> bool {
    for _ in 0..600 {
        if http.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_spreads_web_and_webhook_traffic_over_two_replicas_and_survives_losing_one() {
    let Some(nginx) = nginx_binary() else {
        return skip("nginx is not installed (apt-get install nginx)");
    };
    let Some(db) = TestDatabase::create("scale_out") else {
        return;
    };
    let prefix = std::env::temp_dir().join(format!("ispotato-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    let listen = support::free_port();
    let public = format!("http://127.0.0.1:{listen}");
    let ports = [
        Ports {
            web: support::free_port(),
            hook: support::free_port(),
        },
        Ports {
            web: support::free_port(),
            hook: support::free_port(),
        },
    ];
    let tg = fake::Fake::start(TOKEN).await;
    let api = tg.url().to_string();
    let mut replicas = vec![
        start_replica(db.url(), &api, &ports[0], &public),
        start_replica(db.url(), &api, &ports[1], &public),
    ];
    let mut proxy = start_nginx(&nginx, &prefix, &nginx_conf(&ports, listen));
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    assert!(
        wait_until_ok(&http, &format!("{public}/healthz")).await,
        "nginx answers"
    );
    for p in &ports {
        assert!(
            wait_until_ok(&http, &format!("http://127.0.0.1:{}/", p.web)).await,
            "a replica's web page answers"
        );
    }

    // Web: uploads through nginx are judged; the page is served.
    let [potato, _] = support::sample_images();
    let page = http.get(format!("{public}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    for _ in 0..4 {
        let (status, verdict) = support::classify(&http, &public, &potato).await;
        assert_eq!(status, 200, "{verdict}");
        assert_eq!(verdict["label"], "potato", "{verdict}");
    }

    // Telegram: updates through nginx, one of them delivered twice.
    for id in 1..=4 {
        assert_eq!(post_update(&http, &public, command(id, 70, "/potatofact")).await, 200);
    }
    assert_eq!(post_update(&http, &public, command(4, 70, "/potatofact")).await, 200);
    let facts = tg.wait_for("sendMessage", 4, WAIT).await;

    // One replica dies: nginx's passive health check sends everything to the other.
    let victim = replicas.remove(0);
    drop(victim); // SIGKILL
    let mut after = Vec::new();
    for _ in 0..4 {
        after.push(support::classify(&http, &public, &potato).await.0);
    }
    for id in 10..=13 {
        after.push(post_update(&http, &public, command(id, 71, "/potatofact")).await);
    }
    let facts_after = tg.wait_for("sendMessage", 8, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = tg.calls("sendMessage");

    let survivor = replicas.remove(0).take();
    let (status, logs) = support::terminate(survivor).await;
    let _ = Command::new("kill")
        .args(["-QUIT", &proxy.child().id().to_string()])
        .status();
    let nginx_log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
    drop(proxy);
    let _ = std::fs::remove_dir_all(&prefix);

    assert_eq!(
        facts.len(),
        4,
        "every update through nginx answered:\n{nginx_log}\n{logs}"
    );
    assert!(
        after.iter().all(|s| *s == 200),
        "with one replica gone every request still succeeds through nginx: {after:?}\n{nginx_log}"
    );
    assert_eq!(
        facts_after.len(),
        8,
        "updates after the loss answered:\n{nginx_log}\n{logs}"
    );
    assert_eq!(sent.len(), 8, "the update delivered twice was answered once");
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM verdicts WHERE platform = 'web'"),
        8,
        "every upload's verdict stored once"
    );
    assert!(
        status.success(),
        "the surviving replica stops cleanly: {status:?}\n{logs}"
    );
}
