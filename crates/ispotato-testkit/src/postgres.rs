//! A throwaway PostgreSQL database per test, on a real server: the one `.ci/run` starts (its URL
//! in `ISPOTATO_TEST_POSTGRES`), else a local server on 127.0.0.1:5432 as user `postgres`. Where
//! none answers, [`TestDatabase::create`] prints why and returns `None` so the test can skip;
//! with `ISPOTATO_REQUIRE_POSTGRES=1` (CI) it fails instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use postgres::{Client, NoTls};

/// The server tests use when `ISPOTATO_TEST_POSTGRES` names none.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

/// A database made for one test and dropped (with its connections) after it.
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new empty database named after `tag`, or `None` (with the reason printed) where no
    /// server can be had.
    pub fn create(tag: &str) -> Option<Self> {
        let admin = server()?.to_string();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "ispotato_t_{tag}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin_run(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        admin_run(&admin, &format!("CREATE DATABASE {name}"));
        let url = with_database(&admin, &name);
        Some(Self { admin, name, url })
    }

    /// `postgres://...` for this database (what `--database` takes).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A direct connection, for what a test does behind the store's back.
    pub fn connect(&self) -> Client {
        off_runtime(|| Client::connect(&self.url, NoTls).expect("connecting to the test database"))
    }

    /// Runs `sql` directly (a batch; no results).
    pub fn execute(&self, sql: &str) {
        let url = self.url.clone();
        let sql = sql.to_string();
        off_runtime(move || {
            Client::connect(&url, NoTls)
                .and_then(|mut c| c.batch_execute(&sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    /// The first column of the first row of `sql`, as an i64.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let url = self.url.clone();
        let sql = sql.to_string();
        off_runtime(move || {
            let mut client = Client::connect(&url, NoTls).expect("connecting to the test database");
            client
                .query_one(&sql, &[])
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0)
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin_run(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The server's admin URL, found once per test binary.
fn server() -> Option<&'static str> {
    static SERVER: OnceLock<Option<String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let url = std::env::var("ISPOTATO_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_string());
            let probe = url.clone();
            let reached = off_runtime(move || {
                let mut config: postgres::Config = probe.parse().map_err(|e| format!("{e}"))?;
                config.connect_timeout(Duration::from_secs(3));
                config
                    .connect(NoTls)
                    .and_then(|mut c| c.simple_query("SELECT 1").map(|_| ()))
                    .map_err(|e| match std::error::Error::source(&e) {
                        Some(cause) => format!("{e}: {cause}"),
                        None => e.to_string(),
                    })
            });
            match reached {
                Ok(()) => Some(url),
                Err(why) => {
                    let shown = url.split('@').next_back().unwrap_or("");
                    if std::env::var_os("ISPOTATO_REQUIRE_POSTGRES").is_some() {
                        panic!("ISPOTATO_REQUIRE_POSTGRES is set but no PostgreSQL server answers at {shown}: {why}");
                    }
                    // Straight to stderr, past the test harness's capture, so the skip shows.
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED PostgreSQL tests: no server at {shown} ({why}); set ISPOTATO_TEST_POSTGRES \
                         to a server's URL, or run .ci/run, which starts one"
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// `admin` with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > base.find("//").map_or(0, |j| j + 1) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn admin_run(admin: &str, sql: &str) {
    let (admin, sql) = (admin.to_string(), sql.to_string());
    off_runtime(move || {
        Client::connect(&admin, NoTls)
            .and_then(|mut c| c.batch_execute(&sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// Runs `f` on a thread of its own: `postgres`'s blocking client must not run inside a tokio
/// runtime, and tests call these helpers from async tests too.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_is_swapped_in_the_url() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
    }
}
