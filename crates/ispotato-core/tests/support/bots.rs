//! What the chat front ends' end-to-end tests share: the repository's model and samples, one
//! core `Services` per test over a temporary database, a log capture that proves no token
//! leaks, and polling helpers. Included with `#[path]` by the bot crates' tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ispotato_core::fetch::FetchConfig;
use ispotato_core::judge::Judge;
use ispotato_core::net_guard::LoopbackPolicy;
use ispotato_core::privacy::UserHasher;
use ispotato_core::queue::InferenceQueue;
use ispotato_core::rate_limit::RateLimiter;
use ispotato_core::services::Services;
use ispotato_core::store::{SqliteStore, Store, StoreConfig};
use ispotato_core::trivia::TriviaService;
use ispotato_core::{Classifier, IngestLimits, Ingestor};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(root().join("samples").join(name)).unwrap()
}

/// The shipped model, loaded once per test binary.
pub fn classifier() -> Arc<Classifier> {
    static C: OnceLock<Arc<Classifier>> = OnceLock::new();
    C.get_or_init(|| Arc::new(Classifier::load(&root().join("models/ispotato.json")).expect("model")))
        .clone()
}

/// Core services over a fresh database in a temporary folder; URL downloads may reach the
/// loopback fakes.
pub fn services(name: &str, images_per_minute: usize) -> (Arc<Services>, Arc<SqliteStore>) {
    let dir = std::env::temp_dir().join(format!("ispotato-bot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(SqliteStore::open(StoreConfig::new(dir.join("db.sqlite"))).unwrap());
    let fetch = FetchConfig {
        loopback: LoopbackPolicy::Allow,
        ..FetchConfig::default()
    };
    let services = Arc::new(Services {
        judge: Judge::new(
            Ingestor::new(IngestLimits::default(), fetch).unwrap(),
            InferenceQueue::new(classifier(), 1, 16),
        ),
        store: store.clone(),
        trivia: Arc::new(TriviaService::load(&root().join("trivia"), store.clone() as Arc<dyn Store>).unwrap()),
        hasher: UserHasher::new(b"test-salt-0123456789".to_vec()),
        user_limiter: RateLimiter::per_minute(images_per_minute),
        global_limiter: RateLimiter::per_minute(1000),
        keep_images: false,
        telemetry: Default::default(),
    });
    (services, store)
}

/// Everything logged in this test binary (installed once, at debug level).
pub fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
    .clone()
}

pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

/// Fails the test if `secret` (or a distinctive part of it) was ever logged.
pub fn assert_not_logged(secret: &str, part: &str) {
    let logs = logs();
    assert!(!logs.is_empty(), "nothing was logged, so the check would prove nothing");
    assert!(
        !logs.contains(secret) && !logs.contains(part),
        "the token leaked into the logs"
    );
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Polls `done` until it holds or `within` passes; returns whether it held.
pub async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
