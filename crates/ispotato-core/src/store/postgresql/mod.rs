//! PostgreSQL implementation of [`Store`], for several replicas sharing one database: a
//! connection pool, migrations under an advisory lock (two replicas starting together migrate
//! once), every write in one transaction, and the same answers as [`SqliteStore`](super::SqliteStore)
//! (the conformance suite in `tests/store.rs` runs on both).
//!
//! The client is `postgres`'s blocking one: like SQLite, call the store from a blocking thread
//! (`spawn_blocking`), never from an async task itself.

mod tls;

use std::time::Duration;

use postgres::{Client, GenericClient};
use r2d2::{ManageConnection, Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::migrations::{checked_version, POSTGRES as MIGRATIONS};
use super::tally::{StatsRows, VotedVerdict};
use super::target::{PostgresUrl, TlsMode};
use super::{format_hits, parse_hits};
use super::{
    DrawState, FeedbackExample, NewVerdict, Retraction, Stats, Store, StoreError, VerdictCount, Vote, VoteOutcome,
    DELIVERY_MEMORY_SECONDS,
};
use crate::rate_limit::{admit, Refused, WindowRule};

/// Advisory lock keys ("isPotato" + a number): only IsPotato takes these.
const MIGRATION_LOCK: i64 = 0x6973_506f_7461_0001;
const RETENTION_LOCK: i64 = 0x6973_506f_7461_0002;

#[derive(Debug, Clone)]
pub struct PostgresConfig {
    pub url: PostgresUrl,
    /// Keep the bytes of judged images (for retraining); off by default.
    pub keep_images: bool,
    /// Connections this process keeps at most (each is one server backend).
    pub pool_size: u32,
    /// How long a call waits for a free connection before failing.
    pub checkout_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: PostgresUrl) -> Self {
        Self {
            url,
            keep_images: false,
            pool_size: 8,
            checkout_timeout: Duration::from_secs(10),
        }
    }
}

type Manager = PostgresConnectionManager<MakeRustlsConnect>;

pub struct PostgresStore {
    /// Always `Some` until dropped (see `Drop`).
    pool: Option<Pool<Manager>>,
    config: PostgresConfig,
}

impl Drop for PostgresStore {
    /// Closing a connection blocks, and the last handle may go on an async task (at shutdown):
    /// the pool is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            super::on_own_thread(move || drop(pool));
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.config.url.to_string())
            .finish()
    }
}

impl PostgresStore {
    /// Connects, refuses a schema newer than this build, applies pending migrations (one replica
    /// at a time) and keeps a pool. Safe to call from anywhere, an async task included: the
    /// connection is made on a thread of its own.
    pub fn open(config: PostgresConfig) -> Result<Self, StoreError> {
        super::on_own_thread(|| Self::open_here(config))
    }

    fn open_here(config: PostgresConfig) -> Result<Self, StoreError> {
        let shown = config.url.to_string();
        let open_err = |detail: String| StoreError::Open {
            path: shown.clone(),
            detail,
        };
        let manager = manager(&config.url).map_err(&open_err)?;
        // One connection made directly first: its error says what is wrong (refused, password,
        // no such database), which the pool's timeout would not.
        let mut first = manager.connect().map_err(|e| {
            let detail = describe(&e);
            open_err(
                config
                    .url
                    .password
                    .as_ref()
                    .map_or(detail.clone(), |p| p.scrub(&detail)),
            )
        })?;
        migrate(&mut first, &shown)?;
        drop(first);
        let pool = Pool::builder()
            .max_size(config.pool_size.max(1))
            .min_idle(Some(0))
            .connection_timeout(config.checkout_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(manager);
        tracing::info!(database = %shown, pool = config.pool_size, tls = ?config.url.tls, "PostgreSQL store open");
        Ok(Self {
            pool: Some(pool),
            config,
        })
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema_version(&mut *self.client()?)
    }

    pub(in crate::store) fn client(&self) -> Result<PooledConnection<Manager>, StoreError> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| StoreError::Pool("the store is closed".into()))?;
        pool.get().map_err(|e| StoreError::Pool(e.to_string()))
    }
}

fn manager(url: &PostgresUrl) -> Result<Manager, String> {
    let mut config = postgres::Config::new();
    config
        .host(&url.host)
        .port(url.port)
        .dbname(&url.database)
        .application_name(&url.application_name)
        .connect_timeout(url.connect_timeout)
        .ssl_mode(match url.tls {
            TlsMode::Disable => postgres::config::SslMode::Disable,
            TlsMode::Prefer => postgres::config::SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyFull => postgres::config::SslMode::Require,
        });
    if let Some(user) = &url.user {
        config.user(user);
    }
    if let Some(password) = &url.password {
        config.password(password.expose());
    }
    Ok(PostgresConnectionManager::new(
        config,
        tls::connector(url.tls, url.root_cert.as_deref())?,
    ))
}

/// The error with its causes ("error connecting to server: Connection refused (os error 111)").
fn describe(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Pool errors (a replica losing the database) go to the log; calls then fail with `Pool`.
#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<postgres::Error> for LogPoolErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(error = %describe(&error), "PostgreSQL connection failed");
    }
}

fn schema_version(client: &mut impl GenericClient) -> Result<i64, StoreError> {
    // A catalog query under this statement's snapshot (not `to_regclass`, whose cache may not
    // yet show a table another replica's migration just committed).
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                            WHERE schemaname = current_schema() AND tablename = 'ispotato_schema')",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM ispotato_schema", &[])?;
    Ok(row.map_or(0, |r| r.get(0)))
}

fn check_schema(client: &mut impl GenericClient, shown: &str) -> Result<i64, StoreError> {
    let current = schema_version(client)?;
    checked_version(current, MIGRATIONS.len(), shown)
}

/// Applies the pending migrations in one transaction under an advisory lock, reading the version
/// inside it: replicas starting together wait for each other and the later ones find nothing to
/// do. DDL is transactional in PostgreSQL, so a failed migration leaves nothing behind.
fn migrate(client: &mut Client, shown: &str) -> Result<(), StoreError> {
    // Refuse a newer schema before taking any lock or changing anything.
    let before = check_schema(client, shown)?;
    if before as usize == MIGRATIONS.len() {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let current = check_schema(&mut tx, shown)?;
    let known = MIGRATIONS.len();
    if current as usize == known {
        return Ok(());
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ispotato_schema (version BIGINT NOT NULL)")?;
    for sql in &MIGRATIONS[current as usize..] {
        tx.batch_execute(sql)?;
    }
    tx.execute("DELETE FROM ispotato_schema", &[])?;
    tx.execute("INSERT INTO ispotato_schema (version) VALUES ($1)", &[&(known as i64)])?;
    tx.commit()?;
    tracing::info!(
        from = current,
        to = known,
        database = shown,
        "applied database migrations"
    );
    Ok(())
}

fn read_draw_state(
    client: &mut impl GenericClient,
    deck_key: &str,
    lock: bool,
) -> Result<Option<DrawState>, StoreError> {
    let sql = if lock {
        "SELECT served, last_id FROM draw_states WHERE deck_key = $1 FOR UPDATE"
    } else {
        "SELECT served, last_id FROM draw_states WHERE deck_key = $1"
    };
    let Some(row) = client.query_opt(sql, &[&deck_key])? else {
        return Ok(None);
    };
    let served: String = row.get(0);
    let served: Vec<String> =
        serde_json::from_str(&served).map_err(|e| StoreError::Corrupt(format!("draw state {deck_key}: {e}")))?;
    Ok(Some(DrawState {
        served,
        last: row.get(1),
    }))
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgresql"
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.client()?.simple_query("SELECT 1")?;
        Ok(())
    }

    fn keeps_images(&self) -> bool {
        self.config.keep_images
    }

    fn record_verdict(&self, v: &NewVerdict, image: Option<&[u8]>) -> Result<i64, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO verdicts (platform, chat_id, message_id, image_index, user_hash, image_sha256, label,
                    probability, model_version, decode_ms, preprocess_ms, inference_ms, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                &[
                    &v.platform,
                    &v.chat_id,
                    &v.message_id,
                    &(v.image_index as i32),
                    &v.user_hash,
                    &v.image_sha256,
                    &v.label.key(),
                    &(v.probability as f64),
                    &v.model_version,
                    &v.decode_ms,
                    &v.preprocess_ms,
                    &v.inference_ms,
                    &v.created_at,
                ],
            )?
            .get(0);
        if let (true, Some(bytes)) = (self.config.keep_images, image) {
            tx.execute(
                "INSERT INTO kept_images (sha256, bytes, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256) DO UPDATE SET created_at = GREATEST(kept_images.created_at, excluded.created_at)",
                &[&v.image_sha256, &bytes, &v.created_at],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    fn record_vote(&self, vote: &Vote) -> Result<VoteOutcome, StoreError> {
        if vote.is_bot {
            return Ok(VoteOutcome::IgnoredBot);
        }
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let known: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM verdicts WHERE platform = $1 AND chat_id = $2 AND message_id = $3)",
                &[&vote.platform, &vote.chat_id, &vote.message_id],
            )?
            .get(0);
        if !known {
            return Ok(VoteOutcome::UnknownMessage);
        }
        // The row lock makes a second vote by the same user wait for this one and then see it.
        let previous: Option<bool> = tx
            .query_opt(
                "SELECT agree FROM votes
                 WHERE platform = $1 AND chat_id = $2 AND message_id = $3 AND user_hash = $4 FOR UPDATE",
                &[&vote.platform, &vote.chat_id, &vote.message_id, &vote.user_hash],
            )?
            .map(|r| r.get(0));
        tx.execute(
            "INSERT INTO votes (platform, chat_id, message_id, user_hash, agree, source, emoji, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (platform, chat_id, message_id, user_hash) DO UPDATE SET
                agree = excluded.agree, source = excluded.source, emoji = excluded.emoji,
                created_at = excluded.created_at",
            &[
                &vote.platform,
                &vote.chat_id,
                &vote.message_id,
                &vote.user_hash,
                &vote.agree,
                &vote.source.as_str(),
                &vote.emoji,
                &vote.created_at,
            ],
        )?;
        tx.commit()?;
        Ok(VoteOutcome::after(previous, vote.agree))
    }

    fn retract_vote(&self, r: &Retraction) -> Result<bool, StoreError> {
        if r.is_bot {
            return Ok(false);
        }
        let removed = self.client()?.execute(
            "DELETE FROM votes WHERE platform = $1 AND chat_id = $2 AND message_id = $3 AND user_hash = $4
                AND source = 'reaction' AND emoji IS NOT DISTINCT FROM $5",
            &[&r.platform, &r.chat_id, &r.message_id, &r.user_hash, &r.emoji],
        )?;
        Ok(removed > 0)
    }

    fn load_draw_state(&self, deck_key: &str) -> Result<Option<DrawState>, StoreError> {
        read_draw_state(&mut *self.client()?, deck_key, false)
    }

    fn draw(
        &self,
        deck_key: &str,
        pick: &mut dyn FnMut(&mut DrawState) -> Option<String>,
    ) -> Result<Option<String>, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        // Make sure the deck's row exists, then lock it: a second draw for the same deck, from
        // this replica or another, waits here until this one commits and then reads its state.
        tx.execute(
            "INSERT INTO draw_states (deck_key, served, last_id, updated_at) VALUES ($1, '[]', NULL, $2)
             ON CONFLICT (deck_key) DO NOTHING",
            &[&deck_key, &super::unix_now()],
        )?;
        let mut state = read_draw_state(&mut tx, deck_key, true)?.unwrap_or_default();
        let Some(id) = pick(&mut state) else {
            // Rolled back: a deck that served nothing keeps no row.
            return Ok(None);
        };
        let served = serde_json::to_string(&state.served).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "UPDATE draw_states SET served = $2, last_id = $3, updated_at = $4 WHERE deck_key = $1",
            &[&deck_key, &served, &state.last, &super::unix_now()],
        )?;
        tx.commit()?;
        Ok(Some(id))
    }

    fn claim_update(&self, platform: &str, update_id: &str) -> Result<bool, StoreError> {
        let now = super::unix_now();
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let claimed = tx.execute(
            "INSERT INTO deliveries (platform, update_id, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (platform, update_id) DO NOTHING",
            &[&platform, &update_id, &now],
        )? == 1;
        tx.execute(
            "DELETE FROM deliveries WHERE received_at < $1",
            &[&(now - DELIVERY_MEMORY_SECONDS)],
        )?;
        tx.commit()?;
        Ok(claimed)
    }

    fn shared_value(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut client = self.client()?;
        client.execute(
            "INSERT INTO shared_values (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &fresh],
        )?;
        Ok(client
            .query_one("SELECT value FROM shared_values WHERE name = $1", &[&name])?
            .get(0))
    }

    fn take_windows(
        &self,
        windows: &[(&str, WindowRule)],
        n: usize,
        now_ms: i64,
    ) -> Result<Result<(), Refused>, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let mut taken = Ok(());
        let mut held: Vec<&str> = Vec::with_capacity(windows.len());
        for (index, &(key, rule)) in windows.iter().enumerate() {
            // The key's row, made if new, then locked: takes for this key from every replica
            // queue here, each seeing the hits the one before it added.
            tx.execute(
                "INSERT INTO quota_windows (key, hits, expires_ms) VALUES ($1, '[]', $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &now_ms],
            )?;
            let stored: String = tx
                .query_one("SELECT hits FROM quota_windows WHERE key = $1 FOR UPDATE", &[&key])?
                .get(0);
            held.push(key);
            let mut hits = parse_hits(key, &stored)?;
            if let Err(wait) = admit(&mut hits, rule, n, now_ms) {
                taken = Err(Refused { window: index, wait });
                break;
            }
            let text = format_hits(&hits)?;
            tx.execute(
                "UPDATE quota_windows SET hits = $2, expires_ms = $3 WHERE key = $1",
                &[&key, &text, &(now_ms + rule.window.as_millis() as i64)],
            )?;
        }
        // Forget windows whose hits have all expired; rows another take holds are skipped, so
        // two takes never wait on each other here.
        tx.execute(
            "DELETE FROM quota_windows WHERE key IN (
                SELECT key FROM quota_windows WHERE expires_ms <= $1 AND key <> ALL($2) FOR UPDATE SKIP LOCKED)",
            &[&now_ms, &held],
        )?;
        tx.commit()?;
        Ok(taken)
    }

    fn stats(&self, since: Option<i64>) -> Result<Stats, StoreError> {
        let since_ts = since.unwrap_or(i64::MIN);
        let mut client = self.client()?;
        // One snapshot for the three reads, so the figures agree with each other.
        let mut tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()?;
        let verdicts = tx
            .query(
                "SELECT platform, model_version, label, COUNT(*) FROM verdicts WHERE created_at >= $1
                 GROUP BY platform, model_version, label ORDER BY platform, model_version, label",
                &[&since_ts],
            )?
            .iter()
            .map(|r| VerdictCount {
                platform: r.get(0),
                model_version: r.get(1),
                label: r.get(2),
                count: count(r.get(3)),
            })
            .collect();
        let votes = tx
            .query(
                "SELECT v.source, v.agree, COUNT(*) FROM votes v
                 WHERE EXISTS (SELECT 1 FROM verdicts d WHERE d.platform = v.platform AND d.chat_id = v.chat_id
                                AND d.message_id = v.message_id AND d.created_at >= $1)
                 GROUP BY v.source, v.agree",
                &[&since_ts],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), count(r.get(2))))
            .collect();
        let per_verdict = tx
            .query(
                "SELECT d.label, COUNT(*) FILTER (WHERE v.agree), COUNT(*) FILTER (WHERE NOT v.agree)
                 FROM verdicts d
                 JOIN votes v ON v.platform = d.platform AND v.chat_id = d.chat_id AND v.message_id = d.message_id
                 WHERE d.created_at >= $1 GROUP BY d.id",
                &[&since_ts],
            )?
            .iter()
            .map(|r| (r.get(0), count(r.get(1)), count(r.get(2))))
            .collect();
        tx.commit()?;
        Ok(StatsRows {
            since,
            verdicts,
            votes,
            per_verdict,
        }
        .into_stats())
    }

    fn feedback_examples(&self) -> Result<Vec<FeedbackExample>, StoreError> {
        let rows = self.client()?.query(
            "SELECT d.image_sha256, d.label, d.probability, d.model_version, d.platform,
                    COUNT(*) FILTER (WHERE v.agree), COUNT(*) FILTER (WHERE NOT v.agree), k.bytes
             FROM verdicts d
             JOIN votes v ON v.platform = d.platform AND v.chat_id = d.chat_id AND v.message_id = d.message_id
             LEFT JOIN kept_images k ON k.sha256 = d.image_sha256
             WHERE d.label != 'unsure'
             GROUP BY d.id, k.bytes ORDER BY d.id",
            &[],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                VotedVerdict {
                    image_sha256: r.get(0),
                    label: r.get(1),
                    probability: r.get(2),
                    model_version: r.get(3),
                    platform: r.get(4),
                    agree: count(r.get(5)),
                    disagree: count(r.get(6)),
                    image: r.get(7),
                }
                .into_example()
            })
            .collect())
    }

    fn kept_images_of_reply(
        &self,
        platform: &str,
        chat_id: &str,
        message_id: &str,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.client()?.query(
            "SELECT k.bytes FROM verdicts d JOIN kept_images k ON k.sha256 = d.image_sha256
             WHERE d.platform = $1 AND d.chat_id = $2 AND d.message_id = $3 ORDER BY d.image_index",
            &[&platform, &chat_id, &message_id],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn delete_images_before(&self, older_than: i64) -> Result<usize, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        // One replica cleans at a time; the others find the lock taken and leave it to it.
        let mine: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&RETENTION_LOCK])?
            .get(0);
        if !mine {
            tracing::debug!("another replica is deleting expired images");
            return Ok(0);
        }
        let deleted = tx.execute("DELETE FROM kept_images WHERE created_at < $1", &[&older_than])?;
        tx.commit()?;
        Ok(deleted as usize)
    }

    fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let row = self.client()?.query_one(
            "SELECT (SELECT COUNT(*) FROM verdicts), (SELECT COUNT(*) FROM votes), (SELECT COUNT(*) FROM kept_images)",
            &[],
        )?;
        Ok((count(row.get(0)), count(row.get(1)), count(row.get(2))))
    }
}
