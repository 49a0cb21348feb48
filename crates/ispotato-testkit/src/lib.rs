//! What the front ends' end-to-end tests share (a dev-dependency only): the repository's model
//! and samples, [`services`] built by the same composition root as `ispotato run` over a
//! temporary database, faults to inject into that database, a log capture that proves no
//! secret leaks, and polling helpers.

pub mod fake;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ispotato_core::image::{FetchConfig, IngestLimits, LoopbackPolicy};
use ispotato_core::serve::compose::{self, SaltSource, ServicesConfig};
use ispotato_core::serve::Services;
use ispotato_core::store::{DatabaseConfig, StoreConfig};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(root().join("samples").join(name)).expect("a bundled sample")
}

/// Width and height of a PNG, read from its IHDR chunk; `None` for anything that is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.len() < 24 {
        return None;
    }
    let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// The settings a test front end runs with: the shipped model and deck, a database in `dir`,
/// one worker, URL downloads allowed to reach the loopback fakes.
pub fn config(dir: &Path, images_per_minute: usize) -> ServicesConfig {
    ServicesConfig {
        model_card: root().join("models/ispotato.json"),
        backend: ispotato_core::model::BackendChoice::tract(),
        limits: IngestLimits::default(),
        fetch: FetchConfig {
            loopback: LoopbackPolicy::Allow,
            ..FetchConfig::default()
        },
        workers: 1,
        queue_capacity: 16,
        batch_waiting: false,
        database: DatabaseConfig::Sqlite(StoreConfig::new(dir.join("db.sqlite"))),
        salt: SaltSource::File(dir.join("salt")),
        trivia: root().join("trivia"),
        user_images_per_minute: images_per_minute,
        global_images_per_minute: 1000,
    }
}

/// A test's services and where its database lives.
pub struct TestServices {
    pub services: Arc<Services>,
    pub database: PathBuf,
}

impl TestServices {
    /// Verdicts, votes and kept images in the store.
    pub fn counts(&self) -> (u64, u64, u64) {
        self.services.store.counts().expect("counts")
    }

    /// Breaks the database under the running services, as a damaged file would: the draw
    /// states and verdicts tables disappear, so fact draws and stats fail.
    pub fn break_database(&self) {
        let conn = rusqlite::Connection::open(&self.database).expect("open the test database");
        conn.execute_batch("DROP TABLE draw_states; DROP TABLE kept_images; DROP TABLE votes; DROP TABLE verdicts;")
            .expect("break the test database");
    }
}

/// Services built from [`config`] by the composition root, in a fresh folder named for the test.
pub fn services(name: &str, images_per_minute: usize) -> TestServices {
    services_with(name, |c| c.user_images_per_minute = images_per_minute)
}

/// Like [`services`], after `adjust` changed the settings.
pub fn services_with(name: &str, adjust: impl FnOnce(&mut ServicesConfig)) -> TestServices {
    let dir = temp_dir(&format!("bot-{name}"));
    let mut config = config(&dir, 10);
    adjust(&mut config);
    let DatabaseConfig::Sqlite(sqlite) = &config.database else {
        panic!("the test services use SQLite (break_database opens the file)");
    };
    let database = sqlite.path.clone();
    let services = Arc::new(compose::build(config).expect("services"));
    TestServices { services, database }
}

/// A model card whose head overflows to a non-finite score on real photos, so judging fails
/// inside inference. Written into `dir`, next to a copy of nothing: it names the shipped
/// backbone by absolute path.
pub fn broken_head_card(dir: &Path) -> PathBuf {
    let shipped = root().join("models/ispotato.json");
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shipped).expect("the shipped card")).expect("card JSON");
    let backbone = root()
        .join("models")
        .join(card["backbone"]["file"].as_str().expect("backbone file"));
    card["backbone"]["file"] = serde_json::Value::String(backbone.display().to_string());
    let weights = card["head"]["weights"].as_array().expect("head weights").len();
    card["head"]["weights"] = (0..weights)
        .map(|i| if i % 2 == 0 { 3.0e38_f32 } else { -3.0e38 })
        .collect();
    let path = dir.join("broken-head.json");
    std::fs::write(&path, card.to_string()).expect("write the card");
    path
}

/// Everything logged in this test binary (installed once, at debug level).
pub fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
    .clone()
}

pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
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

/// The line logged for an unexpected failure with this reference.
pub fn logged_failure(reference: &str) -> Option<String> {
    logs()
        .lines()
        .find(|l| l.contains(reference) && l.contains("unexpected failure"))
        .map(str::to_string)
}

/// The reference quoted in a user's message ("... (reference 1a2b3c4d) ...").
pub fn reference_in(text: &str) -> Option<String> {
    let start = text.find("(reference ")? + "(reference ".len();
    let reference: String = text[start..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    (reference.len() == 8).then_some(reference)
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
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
