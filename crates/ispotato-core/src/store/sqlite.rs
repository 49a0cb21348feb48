//! SQLite implementation of [`Store`]: one file, WAL mode, a busy timeout, and every write in
//! one `BEGIN IMMEDIATE` transaction, so concurrent writers queue instead of failing and a crash
//! leaves either the whole write or none of it.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::migrations::{checked_version, SQLITE as MIGRATIONS};
use super::tally::{StatsRows, VotedVerdict};
use super::{format_hits, parse_hits};
use super::{
    DrawState, FeedbackExample, NewVerdict, Retraction, Stats, Store, StoreError, VerdictCount, Vote, VoteOutcome,
    DELIVERY_MEMORY_SECONDS,
};
use crate::rate_limit::{admit, Refused, WindowRule};

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Keep the bytes of judged images (for retraining); off by default.
    pub keep_images: bool,
    /// How long a writer waits for another process's lock before giving up.
    pub busy_timeout: Duration,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            keep_images: false,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
    config: StoreConfig,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.config.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        let shown = config.path.display().to_string();
        let open_err = |detail: String| StoreError::Open {
            path: shown.clone(),
            detail,
        };
        create_private(&config.path).map_err(|e| open_err(e.to_string()))?;
        let mut conn = Connection::open(&config.path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(config.busy_timeout)?;
        // Refuse a database this build does not understand before changing anything in it.
        check_schema(&conn, &shown)?;
        let mode = switch_to_wal(&conn, config.busy_timeout)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(format!("cannot switch to WAL mode (got {mode})")));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn, &shown)?;
        Ok(Self {
            conn: Mutex::new(conn),
            config,
        })
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.lock().query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` says "ok".
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let result: String = self.lock().query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(result == "ok")
    }

    /// The connection itself, for copying the database out (`transfer`).
    pub(super) fn connection(&self) -> MutexGuard<'_, Connection> {
        self.lock()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back on
        // drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_draw_state(conn: &Connection, deck_key: &str) -> Result<Option<DrawState>, StoreError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT served, last_id FROM draw_states WHERE deck_key = ?1",
            params![deck_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(served, last)| {
        let served: Vec<String> =
            serde_json::from_str(&served).map_err(|e| StoreError::Corrupt(format!("draw state {deck_key}: {e}")))?;
        Ok(DrawState { served, last })
    })
    .transpose()
}

/// Creates the database's folder (owner-only, when it is new) and the database file
/// (owner-only read and write, when it is new): verdicts and votes are nobody else's business.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Switches the database to WAL mode. The switch needs the database to itself, and SQLite
/// answers "busy" at once (without its busy handler) while another connection reads it, as
/// when several processes open a new database together; so it is retried within `patience`.
fn switch_to_wal(conn: &Connection, patience: Duration) -> Result<String, StoreError> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) => return Ok(mode),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The schema version, refused when it is newer than this build or not a version at all.
fn check_schema(conn: &Connection, shown: &str) -> Result<i64, StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    checked_version(current, MIGRATIONS.len(), shown)
}

/// Applies the pending migrations in one immediate transaction that reads the version inside
/// it, so two processes opening a new database at once migrate it once, one after the other.
fn migrate(conn: &mut Connection, shown: &str) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = check_schema(&tx, shown)?;
    let known = MIGRATIONS.len();
    if current as usize == known {
        return Ok(());
    }
    for sql in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known as i64)?;
    tx.commit()?;
    tracing::info!(from = current, to = known, path = shown, "applied database migrations");
    Ok(())
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> Result<(), StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()))?)
    }

    fn keeps_images(&self) -> bool {
        self.config.keep_images
    }

    fn record_verdict(&self, v: &NewVerdict, image: Option<&[u8]>) -> Result<i64, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO verdicts (platform, chat_id, message_id, image_index, user_hash, image_sha256, label,
                probability, model_version, decode_ms, preprocess_ms, inference_ms, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                v.platform,
                v.chat_id,
                v.message_id,
                v.image_index,
                v.user_hash,
                v.image_sha256,
                v.label.key(),
                v.probability as f64,
                v.model_version,
                v.decode_ms,
                v.preprocess_ms,
                v.inference_ms,
                v.created_at
            ],
        )?;
        let id = tx.last_insert_rowid();
        if let (true, Some(bytes)) = (self.config.keep_images, image) {
            tx.execute(
                "INSERT INTO kept_images (sha256, bytes, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sha256) DO UPDATE SET created_at = max(created_at, excluded.created_at)",
                params![v.image_sha256, bytes, v.created_at],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    fn record_vote(&self, vote: &Vote) -> Result<VoteOutcome, StoreError> {
        if vote.is_bot {
            return Ok(VoteOutcome::IgnoredBot);
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM verdicts WHERE platform = ?1 AND chat_id = ?2 AND message_id = ?3)",
            params![vote.platform, vote.chat_id, vote.message_id],
            |r| r.get(0),
        )?;
        if !known {
            return Ok(VoteOutcome::UnknownMessage);
        }
        let previous: Option<bool> = tx
            .query_row(
                "SELECT agree FROM votes WHERE platform = ?1 AND chat_id = ?2 AND message_id = ?3 AND user_hash = ?4",
                params![vote.platform, vote.chat_id, vote.message_id, vote.user_hash],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT INTO votes (platform, chat_id, message_id, user_hash, agree, source, emoji, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (platform, chat_id, message_id, user_hash) DO UPDATE SET
                agree = excluded.agree, source = excluded.source, emoji = excluded.emoji,
                created_at = excluded.created_at",
            params![
                vote.platform,
                vote.chat_id,
                vote.message_id,
                vote.user_hash,
                vote.agree,
                vote.source.as_str(),
                vote.emoji,
                vote.created_at
            ],
        )?;
        tx.commit()?;
        Ok(VoteOutcome::after(previous, vote.agree))
    }

    fn retract_vote(&self, r: &Retraction) -> Result<bool, StoreError> {
        if r.is_bot {
            return Ok(false);
        }
        let conn = self.lock();
        let removed = conn.execute(
            "DELETE FROM votes WHERE platform = ?1 AND chat_id = ?2 AND message_id = ?3 AND user_hash = ?4
                AND source = 'reaction' AND emoji IS ?5",
            params![r.platform, r.chat_id, r.message_id, r.user_hash, r.emoji],
        )?;
        Ok(removed > 0)
    }

    fn load_draw_state(&self, deck_key: &str) -> Result<Option<DrawState>, StoreError> {
        read_draw_state(&self.lock(), deck_key)
    }

    fn draw(
        &self,
        deck_key: &str,
        pick: &mut dyn FnMut(&mut DrawState) -> Option<String>,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.lock();
        // IMMEDIATE takes the write lock before reading, so another process's draw for the
        // same deck waits for this one's commit instead of reading the same state.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut state = read_draw_state(&tx, deck_key)?.unwrap_or_default();
        let Some(id) = pick(&mut state) else {
            return Ok(None);
        };
        let served = serde_json::to_string(&state.served).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO draw_states (deck_key, served, last_id, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (deck_key) DO UPDATE SET served = excluded.served, last_id = excluded.last_id,
                updated_at = excluded.updated_at",
            params![deck_key, served, state.last, super::unix_now()],
        )?;
        tx.commit()?;
        Ok(Some(id))
    }

    fn claim_update(&self, platform: &str, update_id: &str) -> Result<bool, StoreError> {
        let now = super::unix_now();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let claimed = tx.execute(
            "INSERT INTO deliveries (platform, update_id, received_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (platform, update_id) DO NOTHING",
            params![platform, update_id, now],
        )? == 1;
        // Forget expired claims (an indexed range, usually empty).
        tx.execute(
            "DELETE FROM deliveries WHERE received_at < ?1",
            params![now - DELIVERY_MEMORY_SECONDS],
        )?;
        tx.commit()?;
        Ok(claimed)
    }

    fn shared_value(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO shared_values (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, fresh],
        )?;
        let value = tx.query_row("SELECT value FROM shared_values WHERE name = ?1", params![name], |r| {
            r.get(0)
        })?;
        tx.commit()?;
        Ok(value)
    }

    fn take_windows(
        &self,
        windows: &[(&str, WindowRule)],
        n: usize,
        now_ms: i64,
    ) -> Result<Result<(), Refused>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut taken = Ok(());
        for (index, &(key, rule)) in windows.iter().enumerate() {
            let stored: Option<String> = tx
                .query_row("SELECT hits FROM quota_windows WHERE key = ?1", params![key], |r| {
                    r.get(0)
                })
                .optional()?;
            let mut hits = stored.map(|h| parse_hits(key, &h)).transpose()?.unwrap_or_default();
            if let Err(wait) = admit(&mut hits, rule, n, now_ms) {
                taken = Err(Refused { window: index, wait });
                break;
            }
            let text = format_hits(&hits)?;
            tx.execute(
                "INSERT INTO quota_windows (key, hits, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET hits = excluded.hits, expires_ms = excluded.expires_ms",
                params![key, text, now_ms + rule.window.as_millis() as i64],
            )?;
        }
        // Windows whose hits have all expired are forgotten (an indexed range, usually empty).
        tx.execute("DELETE FROM quota_windows WHERE expires_ms <= ?1", params![now_ms])?;
        tx.commit()?;
        Ok(taken)
    }

    fn stats(&self, since: Option<i64>) -> Result<Stats, StoreError> {
        let since_ts = since.unwrap_or(i64::MIN);
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT platform, model_version, label, COUNT(*) FROM verdicts WHERE created_at >= ?1
             GROUP BY platform, model_version, label ORDER BY platform, model_version, label",
        )?;
        let verdicts: Vec<VerdictCount> = stmt
            .query_map(params![since_ts], |r| {
                Ok(VerdictCount {
                    platform: r.get(0)?,
                    model_version: r.get(1)?,
                    label: r.get(2)?,
                    count: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        // Votes on verdict messages from the period.
        let mut stmt = conn.prepare(
            "SELECT v.source, v.agree, COUNT(*) FROM votes v
             WHERE EXISTS (SELECT 1 FROM verdicts d WHERE d.platform = v.platform AND d.chat_id = v.chat_id
                            AND d.message_id = v.message_id AND d.created_at >= ?1)
             GROUP BY v.source, v.agree",
        )?;
        let rows: Vec<(String, bool, u64)> = stmt
            .query_map(params![since_ts], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        // Per verdict: label and its votes.
        let mut stmt = conn.prepare(
            "SELECT d.label, SUM(v.agree), SUM(1 - v.agree) FROM verdicts d
             JOIN votes v ON v.platform = d.platform AND v.chat_id = d.chat_id AND v.message_id = d.message_id
             WHERE d.created_at >= ?1 GROUP BY d.id",
        )?;
        let per_verdict: Vec<(String, u64, u64)> = stmt
            .query_map(params![since_ts], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(StatsRows {
            since,
            verdicts,
            votes: rows,
            per_verdict,
        }
        .into_stats())
    }

    fn feedback_examples(&self) -> Result<Vec<FeedbackExample>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT d.image_sha256, d.label, d.probability, d.model_version, d.platform,
                    SUM(v.agree), SUM(1 - v.agree), k.bytes
             FROM verdicts d
             JOIN votes v ON v.platform = d.platform AND v.chat_id = d.chat_id AND v.message_id = d.message_id
             LEFT JOIN kept_images k ON k.sha256 = d.image_sha256
             WHERE d.label != 'unsure'
             GROUP BY d.id ORDER BY d.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(VotedVerdict {
                image_sha256: r.get(0)?,
                label: r.get(1)?,
                probability: r.get(2)?,
                model_version: r.get(3)?,
                platform: r.get(4)?,
                agree: r.get(5)?,
                disagree: r.get(6)?,
                image: r.get(7)?,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?.into_example());
        }
        Ok(out)
    }

    fn kept_images_of_reply(
        &self,
        platform: &str,
        chat_id: &str,
        message_id: &str,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT k.bytes FROM verdicts d JOIN kept_images k ON k.sha256 = d.image_sha256
             WHERE d.platform = ?1 AND d.chat_id = ?2 AND d.message_id = ?3 ORDER BY d.image_index",
        )?;
        let rows = stmt.query_map(params![platform, chat_id, message_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_images_before(&self, older_than: i64) -> Result<usize, StoreError> {
        Ok(self
            .lock()
            .execute("DELETE FROM kept_images WHERE created_at < ?1", params![older_than])?)
    }

    fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let conn = self.lock();
        let count = |table: &str| -> Result<u64, StoreError> {
            Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
        };
        Ok((count("verdicts")?, count("votes")?, count("kept_images")?))
    }
}
