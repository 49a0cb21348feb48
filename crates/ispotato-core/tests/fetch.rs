//! The SSRF-guarded fetcher against a local HTTP server: each refusal, and the happy path with
//! the loopback switch on.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ispotato_core::image::{FetchConfig, Fetcher, ImageSource, IngestError, IngestLimits, Ingestor, LoopbackPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does for one path.
enum Reply {
    Raw(Vec<u8>),
    /// Sends the head, then the body slowly forever (until the client gives up).
    Stall,
}

type Routes = Arc<dyn Fn(&str, SocketAddr) -> Reply + Send + Sync>;

async fn serve(routes: Routes) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                match routes(&path, addr) {
                    Reply::Raw(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        let _ = sock.shutdown().await;
                    }
                    Reply::Stall => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
                            .await;
                        for _ in 0..600 {
                            if sock.write_all(b"x").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn ok(content_type: &str, body: &[u8]) -> Reply {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    Reply::Raw(r)
}

fn redirect(to: &str) -> Reply {
    Reply::Raw(
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
    )
}

fn routes(path: &str, addr: SocketAddr) -> Reply {
    let png = common::png(32, 32);
    match path {
        "/potato.png" => ok("image/png", &png),
        "/no-type.png" => ok("application/octet-stream", &png),
        "/page.html" => ok(
            "text/html",
            b"<html><body>hello, this is definitely not an image at all</body></html>",
        ),
        "/missing" => Reply::Raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()),
        "/declared-huge" => Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 50331648\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        "/endless" => {
            // No Content-Length: the body runs until the connection closes.
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n".to_vec();
            r.extend_from_slice(&png);
            r.extend(std::iter::repeat_n(0u8, 300_000));
            Reply::Raw(r)
        }
        "/stall" => Reply::Stall,
        "/to-private" => redirect("http://10.0.0.1/potato.png"),
        "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-ftp" => redirect("ftp://example.com/potato.png"),
        "/to-creds" => redirect(&format!("http://user:pw@{addr}/potato.png")),
        p if p.starts_with("/hop/") => {
            let n: usize = p[5..].parse().unwrap_or(0);
            if n == 0 {
                ok("image/png", &png)
            } else {
                redirect(&format!("/hop/{}", n - 1))
            }
        }
        _ => Reply::Raw(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec()),
    }
}

fn fetcher(loopback: LoopbackPolicy) -> Fetcher {
    Fetcher::new(FetchConfig {
        loopback,
        total_timeout: Duration::from_secs(3),
        ..FetchConfig::default()
    })
    .expect("client")
}

async fn get(path: &str, loopback: LoopbackPolicy) -> Result<Vec<u8>, IngestError> {
    let addr = serve(Arc::new(routes)).await;
    fetcher(loopback).fetch(&format!("http://{addr}{path}"), 200_000).await
}

const ALLOW: LoopbackPolicy = LoopbackPolicy::Allow;

#[tokio::test]
async fn happy_path_downloads_and_decodes_with_loopback_allowed() {
    let addr = serve(Arc::new(routes)).await;
    let ingestor = Ingestor::new(
        IngestLimits::default(),
        FetchConfig {
            loopback: ALLOW,
            ..FetchConfig::default()
        },
    )
    .unwrap();
    let bytes = ingestor
        .load_bytes(ImageSource::Url(format!("http://{addr}/potato.png")))
        .await
        .expect("download");
    let image = ispotato_core::image::decode(&bytes, ingestor.limits()).expect("decode");
    assert_eq!((image.width(), image.height()), (32, 32));
    // Magic bytes are enough when the content type is generic.
    assert!(get("/no-type.png", ALLOW).await.is_ok());
}

#[tokio::test]
async fn loopback_is_refused_by_default_by_literal_and_by_name() {
    let addr = serve(Arc::new(routes)).await;
    let f = fetcher(LoopbackPolicy::Refuse);
    let err = f
        .fetch(&format!("http://{addr}/potato.png"), 200_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IngestError::ForbiddenAddress { class: "loopback", .. }),
        "{err:?}"
    );
    let err = f
        .fetch(&format!("http://localhost:{}/potato.png", addr.port()), 200_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IngestError::ForbiddenAddress { class: "loopback", .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "that link points to a loopback address, which I won't fetch"
    );
    let err = f
        .fetch(
            &format!("http://[::ffff:127.0.0.1]:{}/potato.png", addr.port()),
            200_000,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::ForbiddenAddress { .. }), "{err:?}");
}

#[tokio::test]
async fn each_ssrf_class_is_refused_without_connecting() {
    let f = fetcher(ALLOW);
    for (url, class) in [
        ("http://10.1.2.3/a.png", "private"),
        ("http://192.168.0.1/a.png", "private"),
        ("http://172.20.0.1/a.png", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.100.100.200/a.png", "shared (CGNAT)"),
        ("http://224.0.0.251/a.png", "multicast"),
        ("http://0.0.0.0/a.png", "unspecified"),
        ("http://[fd00::1]/a.png", "private"),
        ("http://[fe80::1]/a.png", "link-local"),
        ("http://[ff02::1]/a.png", "multicast"),
        ("http://[::]/a.png", "unspecified"),
        ("http://[::ffff:10.0.0.1]/a.png", "private"),
        ("http://[::ffff:a9fe:a9fe]/a.png", "link-local"),
    ] {
        let err = f.fetch(url, 1000).await.unwrap_err();
        assert!(
            matches!(err, IngestError::ForbiddenAddress { class: c, .. } if c == class),
            "{url}: {err:?}"
        );
    }
}

#[tokio::test]
async fn schemes_and_credentials_are_refused() {
    let f = fetcher(ALLOW);
    for url in [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "data:image/png;base64,AAAA",
        "gopher://x/",
    ] {
        let err = f.fetch(url, 1000).await.unwrap_err();
        assert!(
            matches!(err, IngestError::UnsupportedScheme { .. } | IngestError::InvalidUrl),
            "{url}: {err:?}"
        );
    }
    let err = f
        .fetch("https://user:secret@example.com/a.png", 1000)
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::CredentialsInUrl), "{err:?}");
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn every_redirect_hop_is_rechecked() {
    for (path, want) in [("/to-private", "private"), ("/to-metadata", "link-local")] {
        let err = get(path, ALLOW).await.unwrap_err();
        assert!(
            matches!(err, IngestError::ForbiddenAddress { class, .. } if class == want),
            "{path}: {err:?}"
        );
    }
    assert!(matches!(
        get("/to-ftp", ALLOW).await,
        Err(IngestError::UnsupportedScheme { .. })
    ));
    assert!(matches!(
        get("/to-creds", ALLOW).await,
        Err(IngestError::CredentialsInUrl)
    ));
}

#[tokio::test]
async fn at_most_three_redirects() {
    assert!(get("/hop/3", ALLOW).await.is_ok(), "three hops are fine");
    let err = get("/hop/4", ALLOW).await.unwrap_err();
    assert!(matches!(err, IngestError::TooManyRedirects { limit: 3 }), "{err:?}");
}

#[tokio::test]
async fn byte_cap_holds_with_and_without_content_length() {
    let err = get("/declared-huge", ALLOW).await.unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::TooLarge {
                size: 50_331_648,
                limit: 200_000
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "that file is 48 MB; the limit is 195 KB");
    let err = get("/endless", ALLOW).await.unwrap_err();
    assert!(
        matches!(err, IngestError::TooLargeStreamed { limit: 200_000 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_images_and_http_errors_are_refused() {
    assert!(matches!(get("/page.html", ALLOW).await, Err(IngestError::NotAnImage)));
    assert!(matches!(
        get("/missing", ALLOW).await,
        Err(IngestError::HttpStatus { status: 404 })
    ));
}

#[tokio::test]
async fn slow_servers_time_out() {
    let addr = serve(Arc::new(routes)).await;
    let f = Fetcher::new(FetchConfig {
        loopback: ALLOW,
        total_timeout: Duration::from_millis(700),
        ..FetchConfig::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let err = f.fetch(&format!("http://{addr}/stall"), 200_000).await.unwrap_err();
    assert!(matches!(err, IngestError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
