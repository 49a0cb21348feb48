//! Shared by the integration tests; each test binary uses only some of it.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, ExitStatus};

/// The shipped machine-readable model card, `models/ispotato.json`.
pub fn shipped_card() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ispotato.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Stops the bot the way a service manager would (SIGTERM), waits for it to exit and returns its
/// exit status with whatever it wrote to stderr (empty unless stderr was piped).
pub async fn terminate(mut child: Child) -> (ExitStatus, String) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut logs = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            stderr.read_to_string(&mut logs).unwrap();
        }
        (status, logs)
    })
    .await
    .unwrap()
}

/// `ispotato run` (the binary under test, or `bin`) against the fakes: the shipped model and
/// deck, the database at `db`, admin endpoints on 127.0.0.1:`admin_port`, loopback URLs allowed,
/// output discarded. Callers add their platforms' variables.
pub fn bot_command(bin: &str, db: &std::path::Path, admin_port: u16) -> Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(bin);
    command
        .arg("run")
        .env("ISPOTATO_DATABASE_PATH", db)
        .env("ISPOTATO_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("ISPOTATO_ALLOW_LOOPBACK", "1")
        .env("ISPOTATO_MODEL", root.join("models"))
        .env("ISPOTATO_TRIVIA", root.join("trivia"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Telegram in webhook mode for `command`: the bot `token` against the (fake) API at `api`,
/// taking updates on 127.0.0.1:`listen` behind the public `url`, checked against `secret`.
pub fn telegram_webhook<'a>(
    command: &'a mut Command,
    token: &str,
    api: &str,
    listen: u16,
    url: &str,
    secret: &str,
) -> &'a mut Command {
    command
        .env("TELEGRAM_TOKEN", token)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("TELEGRAM_TOKEN_FILE")
        .env("ISPOTATO_TELEGRAM_API_URL", api)
        .env("ISPOTATO_TELEGRAM_WEBHOOK_LISTEN", format!("127.0.0.1:{listen}"))
        .env("ISPOTATO_TELEGRAM_WEBHOOK_URL", url)
        .env("ISPOTATO_TELEGRAM_WEBHOOK_SECRET", secret)
}

/// The two committed sample photos: a potato, then red peppers.
pub fn sample_images() -> [Vec<u8>; 2] {
    ["potatoes_in_store_bin.jpg", "red_peppers.jpg"]
        .map(|name| std::fs::read(root().join("samples").join(name)).expect("a committed sample"))
}

/// Posts a JPEG to the web API's `/api/v1/classify` under `base`: the status (0 when no answer
/// came) and the JSON body (null when there was none).
pub async fn classify(http: &reqwest::Client, base: &str, image: &[u8]) -> (u16, serde_json::Value) {
    let url = format!("{}/api/v1/classify", base.trim_end_matches('/'));
    match http
        .post(url)
        .header("content-type", "image/jpeg")
        .body(image.to_vec())
        .send()
        .await
    {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null)),
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// The `p` quantile (0..=1) of sorted latencies, by nearest rank; 0 when there are none.
pub fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A free loopback port (bound and released; fine for tests that start one server each).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ispotato serve` (the binary under test) on 127.0.0.1:`port` with the shipped model and
/// deck, the database at `db`, no admin listener; its stdout is piped (it prints the URL).
pub fn serve_command(db: &std::path::Path, port: u16) -> Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    command
        .arg("serve")
        .env("ISPOTATO_DATABASE_PATH", db)
        .env("ISPOTATO_WEB_LISTEN", format!("127.0.0.1:{port}"))
        .env("ISPOTATO_ADMIN_LISTEN", "off")
        .env("ISPOTATO_MODEL", root.join("models"))
        .env("ISPOTATO_TRIVIA", root.join("trivia"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    command
}

/// Waits (up to 60 s) for the served page's "open URL" line on the child's stdout; returns the URL.
pub fn wait_for_url(child: &mut Child) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = tx.send(url.to_string());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("`ispotato serve` printed the URL to open")
}

/// A child process killed if the test ends (or panics) before taking it back.
pub struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    pub fn new(child: Child) -> Self {
        Self(Some(child))
    }

    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child is still here")
    }

    /// Takes the child back (to stop it gracefully).
    pub fn take(mut self) -> Child {
        self.0.take().expect("the child is still here")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The repository's root (models, samples, trivia).
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
