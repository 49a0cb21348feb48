//! Shared by the tests that run the `ispotato` binary as a child process.

use std::io::Read;
use std::process::{Child, Command, ExitStatus};

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
