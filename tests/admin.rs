//! The admin listener as an operator meets it: open reads, a token for the reload, one reload at
//! a time (409 for a second), and the shared listener's body limit.

use std::net::SocketAddr;
use std::time::Duration;

use ispotato::admin::{self, AdminState, ReloadRefused};
use ispotato_core::secret::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reload_at_a_time_behind_the_token() {
    let test = ispotato_testkit::services("admin", 10);
    let state = AdminState::new(test.services.clone(), Some(SecretString::new("admin-token-1")));
    let addr = admin::start("127.0.0.1:0".parse().unwrap(), state.clone())
        .await
        .unwrap()
        .expect("listening");
    let bearer = "Authorization: Bearer admin-token-1\r\n";

    assert!(request(addr, "GET", "/healthz", "", b"")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(request(addr, "POST", "/admin/reload-model", "", b"")
        .await
        .starts_with("HTTP/1.1 401"));
    let wrong = "Authorization: Bearer admin-token-2\r\n";
    assert!(request(addr, "POST", "/admin/reload-model", wrong, b"")
        .await
        .starts_with("HTTP/1.1 401"));

    // While a reload runs (its lock held), a second one is refused, over HTTP and from SIGHUP's
    // path alike; the old model keeps serving.
    {
        let _running = state.reloading.lock().await;
        let busy = request(addr, "POST", "/admin/reload-model", bearer, b"").await;
        assert!(busy.starts_with("HTTP/1.1 409"), "{busy}");
        assert!(busy.contains("already running"), "{busy}");
        assert!(matches!(admin::reload_model(&state).await, Err(ReloadRefused::Busy)));
    }
    let done = request(addr, "POST", "/admin/reload-model", bearer, b"").await;
    assert!(
        done.starts_with("HTTP/1.1 200") && done.contains("reloaded: model"),
        "{done}"
    );

    // Admin requests carry no body; a large one is refused by the listener before any handler
    // (declared here, not sent, so the refusal is read before the connection closes).
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /admin/reload-model HTTP/1.1\r\nHost: x\r\n{bearer}Content-Length: 65536\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let big = String::from_utf8_lossy(&buf[..n]);
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
}
