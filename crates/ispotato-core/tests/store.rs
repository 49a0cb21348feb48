//! The SQLite feedback store through its public API: votes, retractions, stats, kept images and
//! their retention, migrations, many concurrent writers, and a writer killed with SIGKILL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ispotato_core::retention::delete_expired_images;
use ispotato_core::store::{
    NewVerdict, Retraction, SqliteStore, Store, StoreConfig, StoreError, Vote, VoteOutcome, VoteSource,
};
use ispotato_core::Label;

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ispotato.db")
}

fn verdict(message: &str, label: Label, at: i64) -> NewVerdict {
    NewVerdict {
        platform: "discord".into(),
        chat_id: "c1".into(),
        message_id: message.into(),
        image_index: 0,
        user_hash: "asker".into(),
        image_sha256: format!("sha-{message}"),
        label,
        probability: if label == Label::Potato { 0.95 } else { 0.05 },
        model_version: "0.1.0".into(),
        decode_ms: 1.0,
        preprocess_ms: 2.0,
        inference_ms: 30.0,
        created_at: at,
    }
}

fn vote(message: &str, user: &str, agree: bool, source: VoteSource, emoji: Option<&str>) -> Vote {
    Vote {
        platform: "discord".into(),
        chat_id: "c1".into(),
        message_id: message.into(),
        user_hash: user.into(),
        is_bot: false,
        agree,
        source,
        emoji: emoji.map(str::to_string),
        created_at: 1000,
    }
}

fn retraction(message: &str, user: &str, emoji: &str) -> Retraction {
    Retraction {
        platform: "discord".into(),
        chat_id: "c1".into(),
        message_id: message.into(),
        user_hash: user.into(),
        is_bot: false,
        emoji: Some(emoji.into()),
    }
}

#[test]
fn one_vote_per_user_latest_wins_and_reactions_retract() {
    let store = SqliteStore::open(StoreConfig::new(temp_db("votes"))).unwrap();
    store.record_verdict(&verdict("m1", Label::Potato, 100), None).unwrap();
    use VoteSource::*;
    assert_eq!(
        store
            .record_vote(&vote("m1", "u1", true, Reaction, Some("👍")))
            .unwrap(),
        VoteOutcome::Recorded
    );
    assert_eq!(
        store.record_vote(&vote("m1", "u1", true, Button, None)).unwrap(),
        VoteOutcome::Unchanged
    );
    assert_eq!(
        store.record_vote(&vote("m1", "u1", false, Button, None)).unwrap(),
        VoteOutcome::Changed
    );
    assert_eq!(store.counts().unwrap().1, 1, "still one vote for u1");
    // The button vote is not retracted by removing the old reaction.
    assert!(!store.retract_vote(&retraction("m1", "u1", "👍")).unwrap());
    assert_eq!(
        store
            .record_vote(&vote("m1", "u2", false, Reaction, Some("👎")))
            .unwrap(),
        VoteOutcome::Recorded
    );
    assert!(store.retract_vote(&retraction("m1", "u2", "👎")).unwrap());
    assert_eq!(store.counts().unwrap().1, 1);
    let mut bot = vote("m1", "bot", true, Reaction, Some("👍"));
    bot.is_bot = true;
    assert_eq!(store.record_vote(&bot).unwrap(), VoteOutcome::IgnoredBot);
    assert_eq!(
        store.record_vote(&vote("nope", "u1", true, Reaction, None)).unwrap(),
        VoteOutcome::UnknownMessage
    );
    assert_eq!(store.counts().unwrap(), (1, 1, 0));
}

#[test]
fn stats_estimate_precision_and_recall_from_votes() {
    let store = SqliteStore::open(StoreConfig::new(temp_db("stats"))).unwrap();
    use VoteSource::*;
    // p1: potato, confirmed 2-0 (TP). p2: potato, refuted 0-1 (FP). n1: not potato, refuted (FN).
    // n2: not potato, confirmed (TN). p3: potato, tie 1-1 (left out). old: before the window.
    for (m, label) in [
        ("p1", Label::Potato),
        ("p2", Label::Potato),
        ("n1", Label::NotPotato),
        ("n2", Label::NotPotato),
        ("p3", Label::Potato),
    ] {
        store.record_verdict(&verdict(m, label, 5000), None).unwrap();
    }
    store.record_verdict(&verdict("old", Label::Potato, 10), None).unwrap();
    for (m, u, agree) in [
        ("p1", "a", true),
        ("p1", "b", true),
        ("p2", "a", false),
        ("n1", "a", false),
        ("n2", "b", true),
        ("p3", "a", true),
        ("p3", "b", false),
        ("old", "a", false),
    ] {
        store
            .record_vote(&vote(m, u, agree, if u == "a" { Reaction } else { Button }, Some("x")))
            .unwrap();
    }
    let s = store.stats(Some(1000)).unwrap();
    assert_eq!(s.verdicts_total, 5);
    assert_eq!(s.votes_total, 7);
    assert_eq!((s.votes_agree, s.votes_disagree), (4, 3));
    assert_eq!(s.precision.value, Some(0.5), "{:?}", s.precision);
    assert_eq!((s.precision.verdicts, s.precision.votes), (2, 3));
    assert_eq!(s.recall.value, Some(0.5), "{:?}", s.recall);
    assert_eq!((s.recall.verdicts, s.recall.votes), (2, 3));
    assert!((s.agreement_rate.value.unwrap() - 4.0 / 7.0).abs() < 1e-9);
    let all = store.stats(None).unwrap();
    assert_eq!(all.verdicts_total, 6);
    assert_eq!(all.precision.value, Some(1.0 / 3.0));
    let text = ispotato_core::stats::render(&s, "this week");
    assert!(
        text.contains("5 images judged") && text.contains("Estimated precision 50%"),
        "{text}"
    );
}

#[test]
fn images_are_kept_only_when_asked_and_expire() {
    let off = SqliteStore::open(StoreConfig::new(temp_db("noimg"))).unwrap();
    off.record_verdict(&verdict("m1", Label::Potato, 100), Some(b"JPEGDATA"))
        .unwrap();
    assert_eq!(off.counts().unwrap().2, 0, "no image bytes unless keep_images is on");

    let mut config = StoreConfig::new(temp_db("img"));
    config.keep_images = true;
    let on = SqliteStore::open(config).unwrap();
    let day = 86_400;
    let now = 100 * day;
    on.record_verdict(&verdict("old", Label::Potato, now - 31 * day), Some(b"OLD"))
        .unwrap();
    on.record_verdict(&verdict("new", Label::NotPotato, now - 2 * day), Some(b"NEW"))
        .unwrap();
    assert_eq!(on.counts().unwrap().2, 2);
    let deleted = delete_expired_images(&on, now, Duration::from_secs(30 * day as u64)).unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        on.counts().unwrap(),
        (2, 0, 1),
        "verdicts stay, only the old image goes"
    );

    // Feedback export sees the kept image with the voters' label.
    on.record_vote(&vote("new", "u", false, VoteSource::Button, None))
        .unwrap();
    on.record_vote(&vote("old", "u", true, VoteSource::Button, None))
        .unwrap();
    let examples = on.feedback_examples().unwrap();
    assert_eq!(examples.len(), 2);
    let new = examples.iter().find(|e| e.image_sha256 == "sha-new").unwrap();
    assert!(new.label_potato, "a not-potato verdict voted wrong is a potato");
    assert_eq!(new.image.as_deref(), Some(&b"NEW"[..]));
    let old = examples.iter().find(|e| e.image_sha256 == "sha-old").unwrap();
    assert!(old.label_potato && old.image.is_none());
}

#[test]
fn migrations_apply_once_and_refuse_newer_schemas() {
    let path = temp_db("migrate");
    {
        let store = SqliteStore::open(StoreConfig::new(&path)).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        store.record_verdict(&verdict("m1", Label::Potato, 1), None).unwrap();
    }
    // A database at version 1 (before deliveries) is brought up to date, its data kept.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE deliveries; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    {
        let store = SqliteStore::open(StoreConfig::new(&path)).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        assert!(store.claim_update("telegram", "1").unwrap(), "the new table is there");
    }
    let store = SqliteStore::open(StoreConfig::new(&path)).unwrap();
    assert_eq!(store.counts().unwrap().0, 1, "data survives reopening");
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(StoreConfig::new(&path)),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn an_update_is_claimed_once_per_platform_across_store_handles() {
    let path = temp_db("claims");
    let first = SqliteStore::open(StoreConfig::new(&path)).unwrap();
    // A second handle on the same file stands for a second replica (or process).
    let second = SqliteStore::open(StoreConfig::new(&path)).unwrap();
    assert!(first.claim_update("telegram", "1001").unwrap());
    assert!(
        !second.claim_update("telegram", "1001").unwrap(),
        "a redelivery is not claimed again"
    );
    assert!(!first.claim_update("telegram", "1001").unwrap());
    assert!(second.claim_update("telegram", "1002").unwrap());
    assert!(first.claim_update("discord", "1001").unwrap(), "ids are per platform");
    // Sixteen threads over both handles racing for the same 50 ids: each claimed exactly once.
    let stores = [std::sync::Arc::new(first), std::sync::Arc::new(second)];
    let claimed: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|t| {
                let store = stores[t % 2].clone();
                scope.spawn(move || {
                    (0..50)
                        .filter(|i| store.claim_update("telegram", &format!("race-{i}")).unwrap())
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(claimed, 50);
}

#[test]
fn a_database_this_build_cannot_read_is_refused_untouched() {
    for (name, version) in [("newer", 99i64), ("negative", -1)] {
        let path = temp_db(name);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE other (x INTEGER)").unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
        drop(conn);
        let refused = SqliteStore::open(StoreConfig::new(&path));
        assert!(refused.is_err(), "schema {version} was opened");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "delete", "schema {version}: the journal mode was switched");
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, version, "no migration ran");
    }
}

#[test]
fn a_new_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_db("private").with_file_name("private-dir");
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("nested").join("db.sqlite");
    let store = SqliteStore::open(StoreConfig::new(&path)).unwrap();
    store.record_verdict(&verdict("m1", Label::Potato, 1), None).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.join("nested")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    let wal = path.with_file_name("db.sqlite-wal");
    if wal.exists() {
        assert_eq!(mode(&wal) & 0o077, 0, "the WAL follows the database's permissions");
    }
}

#[test]
fn processes_opening_a_new_database_at_once_migrate_it_once() {
    for round in 0..5 {
        let path = temp_db(&format!("race-{round}"));
        let opened: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SqliteStore::open(StoreConfig::new(path)).map(|_| ()))
            })
            .collect();
        for (i, t) in opened.into_iter().enumerate() {
            let result = t.join().unwrap();
            assert!(result.is_ok(), "round {round}, opener {i}: {result:?}");
        }
    }
}

#[test]
fn duplicate_verdicts_write_nothing_partial() {
    let mut config = StoreConfig::new(temp_db("dup"));
    config.keep_images = true;
    let store = SqliteStore::open(config).unwrap();
    store
        .record_verdict(&verdict("m1", Label::Potato, 1), Some(b"A"))
        .unwrap();
    let mut again = verdict("m1", Label::Potato, 1);
    again.image_sha256 = "other".into();
    assert!(store.record_verdict(&again, Some(b"B")).is_err());
    assert_eq!(
        store.counts().unwrap(),
        (1, 0, 1),
        "the failed write left no image behind"
    );
}

#[test]
fn many_concurrent_writers_lose_nothing() {
    let path = temp_db("concurrent");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(StoreConfig::new(&path)).unwrap());
    // A second connection to the same file stands in for a second process.
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(StoreConfig::new(&path)).unwrap());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                for i in 0..50 {
                    let m = format!("t{t}-m{i}");
                    store
                        .record_verdict(&verdict(&m, Label::Potato, i), None)
                        .expect("verdict");
                    store
                        .record_vote(&vote(&m, "u", i % 2 == 0, VoteSource::Reaction, Some("👍")))
                        .expect("vote");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.counts().unwrap(), (800, 800, 0));
}

/// Child half of the kill test: writes verdicts forever, printing each id after its commit.
#[test]
fn kill_writer_child() {
    let Ok(path) = std::env::var("ISPOTATO_KILL_TEST_DB") else {
        return;
    };
    let store = SqliteStore::open(StoreConfig::new(path)).unwrap();
    use std::io::Write;
    let mut out = std::io::stdout();
    for i in 0.. {
        let m = format!("k{i}");
        store
            .record_verdict(&verdict(&m, Label::Potato, i), Some(&[0u8; 512]))
            .unwrap();
        writeln!(out, "COMMITTED {m}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn committed_rows_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    let path = temp_db("kill");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_writer_child", "--nocapture", "--test-threads", "1"])
        .env("ISPOTATO_KILL_TEST_DB", &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut committed = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(m) = line.strip_prefix("COMMITTED ") {
            committed.push(m.to_string());
            if committed.len() >= 300 {
                break;
            }
        }
    }
    // SIGKILL mid-stream: the child is writing as fast as it can.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(committed.len() >= 300);
    let store = SqliteStore::open(StoreConfig::new(&path)).unwrap();
    assert!(store.integrity_ok().unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    for m in &committed {
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM verdicts WHERE message_id = ?1", [m], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "committed row {m} lost");
    }
    let (verdicts, _, _) = store.counts().unwrap();
    assert!(verdicts as usize >= committed.len());
}

#[tokio::test]
async fn the_cleanup_task_deletes_expired_images_by_itself() {
    let mut config = StoreConfig::new(temp_db("task"));
    config.keep_images = true;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(config).unwrap());
    let now = ispotato_core::store::unix_now();
    store
        .record_verdict(&verdict("old", Label::Potato, now - 40 * 86_400), Some(b"OLD"))
        .unwrap();
    store
        .record_verdict(&verdict("new", Label::Potato, now), Some(b"NEW"))
        .unwrap();
    let task = ispotato_core::retention::spawn_image_cleanup(
        store.clone(),
        ispotato_core::retention::DEFAULT_RETENTION,
        Duration::from_secs(3600),
    );
    let mut remaining = 2;
    for _ in 0..100 {
        remaining = store.counts().unwrap().2;
        if remaining == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(remaining, 1, "the 40-day-old image is gone, today's stays");
}
