//! `ispotato health`: a dependency-free HTTP probe of the admin listener, for container
//! health checks (the runtime image has no curl).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn run(admin: &str, ready: bool) -> anyhow::Result<ExitCode> {
    // A listener on all interfaces is probed on loopback.
    let target = admin.replace("0.0.0.0", "127.0.0.1");
    let path = if ready { "/readyz" } else { "/healthz" };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(&target)
            .await
            .with_context(|| format!("connecting to {target}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), probe)
        .await
        .context("no answer within 5 s")??;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim().to_string();
    if response.starts_with("HTTP/1.1 200") {
        println!("{body}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "unhealthy: {}",
            if body.is_empty() {
                response.lines().next().unwrap_or_default().to_string()
            } else {
                body
            }
        );
        Ok(ExitCode::FAILURE)
    }
}
