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
