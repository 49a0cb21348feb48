//! `ispotato serve` as a person starts it: it prints the URL to open, takes its address from
//! the configuration file like every other setting, fails fast on a taken port, and stops
//! cleanly on SIGTERM.

mod support;

use std::time::{Duration, Instant};

use support::{free_port, serve_command, terminate, wait_for_url, KillOnDrop};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-web-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn serve_takes_its_address_from_the_file_prints_it_and_stops_on_sigterm() {
    let dir = temp("file");
    let port = free_port();
    let config = dir.join("ispotato.yaml");
    std::fs::write(
        &config,
        format!("web:\n  listen: 127.0.0.1:{port}\n  requests_per_minute: 50\n"),
    )
    .unwrap();
    let mut child = KillOnDrop::new(
        serve_command(&dir.join("db.sqlite"), 1)
            .env_remove("ISPOTATO_WEB_LISTEN")
            .env("ISPOTATO_CONFIG", &config)
            .spawn()
            .unwrap(),
    );
    let url = wait_for_url(child.child());
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Is this a potato?"));
    let (status, _) = terminate(child.take()).await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn serve_on_a_taken_port_fails_at_once_naming_the_address() {
    let dir = temp("taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let started = Instant::now();
    let out = serve_command(&dir.join("db.sqlite"), port)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "before loading anything slow"
    );
    drop(taken);
}

#[test]
fn a_bad_proxy_address_in_the_file_names_its_key() {
    let dir = temp("proxy");
    let config = dir.join("bad.yaml");
    std::fs::write(&config, "web:\n  trusted_proxies: [\"10.0.0.300\"]\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .args(["--config", &config.display().to_string(), "config", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web.trusted_proxies") && err.contains("10.0.0.300"),
        "{err}"
    );
}
