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

/// The `p` quantile (0..=1) of sorted latencies, by nearest rank; 0 when there are none.
pub fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
