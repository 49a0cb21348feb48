//! Every limit of the shared listener, against real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;
use ispotato_http::{serve, ListenerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits() -> ListenerLimits {
    ListenerLimits {
        max_connections: 4,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        max_body_bytes: 1000,
        max_header_bytes: 8192,
        max_connection_age: Duration::from_secs(30),
        max_buffered_bytes: 1500,
    }
}

async fn start(limits: ListenerLimits) -> SocketAddr {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route(
            "/echo",
            post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        .route(
            "/slow",
            post(|body: String| async move {
                tokio::time::sleep(Duration::from_millis(600)).await;
                format!("{} bytes", body.len())
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    addr
}

/// Sends `raw` and reads what comes back until the server closes or 2 s pass.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Whether the server closes `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_open_connections_are_capped_and_timed_out() {
    let addr = start(limits()).await;
    assert!(exchange(addr, &get_request("/healthz")).await.contains("200 OK"));
    // Four silent connections take every slot: a fifth is closed at once, unanswered.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = exchange(addr, &get_request("/healthz")).await;
    assert!(refused.is_empty(), "over the cap: {refused:?}");
    // The header timeout closes them, and the listener answers again.
    let started = Instant::now();
    for stream in &mut silent {
        assert!(closed_within(stream, Duration::from_secs(2)).await);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(exchange(addr, &get_request("/healthz")).await.contains("200 OK"));
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_are_closed() {
    let addr = start(limits()).await;
    // Headers dribbled past the timeout.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(2)).await);
    // A kept-alive connection idle after its answer.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(2)).await);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    // Oversized headers are refused.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = exchange(addr, big.as_bytes()).await;
    assert!(!answer.contains("200 OK"), "{answer:?}");
}

#[tokio::test]
async fn bodies_are_limited_in_size_and_time() {
    let addr = start(limits()).await;
    let post = |body: &str, declared: usize| {
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {declared}\r\n\r\n{body}")
    };
    let ok = exchange(addr, post(&"a".repeat(900), 900).as_bytes()).await;
    assert!(ok.contains("200 OK") && ok.contains("900 bytes"), "{ok:?}");
    let declared = exchange(addr, post("", 5000).as_bytes()).await;
    assert!(declared.contains("413"), "{declared:?}");
    let chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        2000,
        "a".repeat(2000)
    );
    let undeclared = exchange(addr, chunked.as_bytes()).await;
    assert!(undeclared.contains("413"), "{undeclared:?}");
    // A body that never finishes.
    let started = Instant::now();
    let slow = exchange(addr, post("abc", 900).as_bytes()).await;
    assert!(slow.contains("408"), "{slow:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn bodies_held_at_once_stay_within_the_listener_budget() {
    let addr = start(limits()).await;
    let post = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 900\r\n\r\n{}",
            "a".repeat(900)
        )
    };
    // The first body (900 of the 1500 bytes) is held while its handler works...
    let first = tokio::spawn(async move { exchange(addr, post("/slow").as_bytes()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...so a second one does not fit: refused with a Retry-After, not buffered.
    let second = exchange(addr, post("/echo").as_bytes()).await;
    assert!(second.contains("503"), "{second:?}");
    assert!(second.to_ascii_lowercase().contains("retry-after: 5"), "{second:?}");
    let first = first.await.unwrap();
    assert!(first.contains("200 OK") && first.contains("900 bytes"), "{first:?}");
    // Once the first is answered its share is back.
    let third = exchange(addr, post("/echo").as_bytes()).await;
    assert!(third.contains("200 OK"), "{third:?}");
}

#[tokio::test]
async fn handlers_see_the_client_address() {
    let addr = start(limits()).await;
    assert!(exchange(addr, &get_request("/peer")).await.ends_with("127.0.0.1"));
}
