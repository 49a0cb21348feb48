//! The store conformance suite: every test runs against both backends, SQLite (`sqlite::*`)
//! and PostgreSQL (`postgres::*`, on a throwaway database of a real server; skipped, saying
//! why, where none answers). Votes, retractions, bots, stats, kept images and their retention,
//! export, migrations, update claims, fact draws, shared values, writers in two processes, and a
//! writer killed with SIGKILL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ispotato_core::model::Label;
use ispotato_core::rate_limit::WindowRule;
use ispotato_core::store::retention::delete_expired_images;
use ispotato_core::store::{
    self, DatabaseConfig, DatabaseTarget, DrawState, NewVerdict, Retraction, SqliteStore, Store, StoreConfig,
    StoreError, Vote, VoteOutcome, VoteSource, SCHEMA_VERSION,
};
use ispotato_testkit::postgres::TestDatabase;

/// Runs each named test (a `fn(Backend)`) once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::sqlite(stringify!($name))); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(backend) = super::Backend::postgres(stringify!($name)) {
                    super::$name(backend);
                }
            } )*
        }
    };
}

on_both_backends!(
    one_vote_per_user_latest_wins_and_reactions_retract,
    stats_estimate_precision_and_recall_from_votes,
    images_are_kept_only_when_asked_and_expire,
    a_replys_kept_images_come_back_in_image_order_from_any_handle,
    migrations_apply_once_and_refuse_newer_schemas,
    an_update_is_claimed_once_per_platform_across_store_handles,
    openers_of_a_new_database_at_once_migrate_it_once,
    duplicate_verdicts_write_nothing_partial,
    writers_in_two_processes_lose_nothing,
    committed_rows_survive_kill_9,
    the_cleanup_task_deletes_expired_images_by_itself,
    draws_from_two_handles_never_repeat_a_fact,
    a_shared_value_is_made_once,
    rate_limit_windows_hold_across_handles,
    windows_taken_together_stop_at_the_first_without_room,
);

/// One database on one backend; every `open` is a new handle on it (a second replica).
enum Backend {
    Sqlite(PathBuf),
    Postgres(TestDatabase),
}

impl Backend {
    fn sqlite(name: &str) -> Self {
        Self::Sqlite(temp_db(name))
    }

    fn postgres(name: &str) -> Option<Self> {
        TestDatabase::create(name).map(Self::Postgres)
    }

    /// What `--database` would say.
    fn target(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(db) => db.url().to_string(),
        }
    }

    fn config(&self, keep_images: bool) -> DatabaseConfig {
        DatabaseConfig::new(self.target().parse::<DatabaseTarget>().unwrap(), keep_images)
    }

    fn try_open(&self) -> Result<Arc<dyn Store>, StoreError> {
        store::open(self.config(false))
    }

    fn open(&self) -> Arc<dyn Store> {
        self.try_open().expect("opening the store")
    }

    fn open_keeping_images(&self) -> Arc<dyn Store> {
        store::open(self.config(true)).expect("opening the store")
    }

    /// Runs SQL behind the store's back.
    fn sql(&self, sql: &str) {
        match self {
            Self::Sqlite(path) => rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap(),
            Self::Postgres(db) => db.execute(sql),
        }
    }

    fn schema_version(&self) -> i64 {
        match self {
            Self::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap(),
            Self::Postgres(db) => db.query_i64("SELECT version FROM ispotato_schema"),
        }
    }

    fn set_schema_version(&self, version: i64) {
        match self {
            Self::Sqlite(_) => self.sql(&format!("PRAGMA user_version = {version}")),
            Self::Postgres(_) => self.sql(&format!("UPDATE ispotato_schema SET version = {version}")),
        }
    }

    fn count_message(&self, message: &str) -> i64 {
        match self {
            Self::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row("SELECT COUNT(*) FROM verdicts WHERE message_id = ?1", [message], |r| {
                    r.get(0)
                })
                .unwrap(),
            Self::Postgres(db) => {
                db.query_i64(&format!("SELECT COUNT(*) FROM verdicts WHERE message_id = '{message}'"))
            }
        }
    }
}

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

fn one_vote_per_user_latest_wins_and_reactions_retract(backend: Backend) {
    let store = backend.open();
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
    // Only the same reaction takes a reaction vote back.
    assert!(!store.retract_vote(&retraction("m1", "u2", "👍")).unwrap());
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

fn stats_estimate_precision_and_recall_from_votes(backend: Backend) {
    let store = backend.open();
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
    assert_eq!(s.verdicts.len(), 2, "{:?}", s.verdicts);
    assert_eq!(
        (s.verdicts[0].label.as_str(), s.verdicts[0].count),
        ("not_potato", 2),
        "grouped and ordered by label"
    );
    assert_eq!(s.votes_total, 7);
    assert_eq!((s.votes_agree, s.votes_disagree), (4, 3));
    assert_eq!(
        s.votes_by_source,
        vec![("button".to_string(), 3), ("reaction".to_string(), 4)]
    );
    assert_eq!(s.precision.value, Some(0.5), "{:?}", s.precision);
    assert_eq!((s.precision.verdicts, s.precision.votes), (2, 3));
    assert_eq!(s.recall.value, Some(0.5), "{:?}", s.recall);
    assert_eq!((s.recall.verdicts, s.recall.votes), (2, 3));
    assert!((s.agreement_rate.value.unwrap() - 4.0 / 7.0).abs() < 1e-9);
    let all = store.stats(None).unwrap();
    assert_eq!(all.verdicts_total, 6);
    assert_eq!(all.precision.value, Some(1.0 / 3.0));
    let text = ispotato_core::store::stats::render(&s, "this week");
    assert!(
        text.contains("5 images judged") && text.contains("Estimated precision 50%"),
        "{text}"
    );
}

fn images_are_kept_only_when_asked_and_expire(backend: Backend) {
    let off = backend.open();
    off.record_verdict(&verdict("m0", Label::Potato, 100), Some(b"JPEGDATA"))
        .unwrap();
    assert_eq!(off.counts().unwrap().2, 0, "no image bytes unless keep_images is on");

    let on = backend.open_keeping_images();
    let day = 86_400;
    let now = 100 * day;
    on.record_verdict(&verdict("old", Label::Potato, now - 31 * day), Some(b"OLD"))
        .unwrap();
    on.record_verdict(&verdict("new", Label::NotPotato, now - 2 * day), Some(b"NEW"))
        .unwrap();
    assert_eq!(on.counts().unwrap().2, 2);
    let deleted = delete_expired_images(on.as_ref(), now, Duration::from_secs(30 * day as u64)).unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        on.counts().unwrap(),
        (3, 0, 1),
        "verdicts stay, only the old image goes"
    );

    // Feedback export sees the kept image with the voters' label.
    on.record_vote(&vote("new", "u", false, VoteSource::Button, None))
        .unwrap();
    on.record_vote(&vote("old", "u", true, VoteSource::Button, None))
        .unwrap();
    on.record_vote(&vote("m0", "u", true, VoteSource::Button, None))
        .unwrap();
    on.record_vote(&vote("m0", "v", false, VoteSource::Button, None))
        .unwrap();
    let examples = on.feedback_examples().unwrap();
    assert_eq!(examples.len(), 2, "the tied verdict is left out");
    let new = examples.iter().find(|e| e.image_sha256 == "sha-new").unwrap();
    assert!(new.label_potato, "a not-potato verdict voted wrong is a potato");
    assert_eq!(new.image.as_deref(), Some(&b"NEW"[..]));
    assert_eq!((new.agree, new.disagree, new.verdict.as_str()), (0, 1, "not_potato"));
    let old = examples.iter().find(|e| e.image_sha256 == "sha-old").unwrap();
    assert!(old.label_potato && old.image.is_none());
}

fn a_replys_kept_images_come_back_in_image_order_from_any_handle(backend: Backend) {
    let judging = backend.open_keeping_images();
    let day = 86_400;
    let now = 100 * day;
    let image = |message: &str, index: u32, sha: &str, at: i64| NewVerdict {
        image_index: index,
        image_sha256: sha.into(),
        ..verdict(message, Label::Potato, at)
    };
    // A reply of two images, recorded second image first; another reply; an expired one.
    judging
        .record_verdict(&image("reply", 1, "sha-b", now), Some(b"SECOND"))
        .unwrap();
    judging
        .record_verdict(&image("reply", 0, "sha-a", now), Some(b"FIRST"))
        .unwrap();
    judging
        .record_verdict(&image("other", 0, "sha-c", now), Some(b"OTHER"))
        .unwrap();
    judging
        .record_verdict(&image("stale", 0, "sha-d", now - 31 * day), Some(b"STALE"))
        .unwrap();
    delete_expired_images(judging.as_ref(), now, Duration::from_secs(30 * day as u64)).unwrap();

    let another = backend.open();
    let kept = another.kept_images_of_reply("discord", "c1", "reply").unwrap();
    assert_eq!(
        kept,
        vec![b"FIRST".to_vec(), b"SECOND".to_vec()],
        "in the reply's image order"
    );
    assert_eq!(
        another.kept_images_of_reply("discord", "c1", "other").unwrap(),
        vec![b"OTHER".to_vec()]
    );
    assert!(
        another
            .kept_images_of_reply("discord", "c1", "stale")
            .unwrap()
            .is_empty(),
        "expired"
    );
    assert!(
        another
            .kept_images_of_reply("discord", "c2", "reply")
            .unwrap()
            .is_empty(),
        "another chat"
    );
    assert!(
        another
            .kept_images_of_reply("telegram", "c1", "reply")
            .unwrap()
            .is_empty(),
        "another platform"
    );

    // A store that keeps no images has none to give back.
    let off = backend.open();
    off.record_verdict(&verdict("unkept", Label::Potato, now), Some(b"BYTES"))
        .unwrap();
    assert!(off.kept_images_of_reply("discord", "c1", "unkept").unwrap().is_empty());
}

fn migrations_apply_once_and_refuse_newer_schemas(backend: Backend) {
    {
        let store = backend.open();
        assert_eq!(backend.schema_version(), SCHEMA_VERSION);
        store.record_verdict(&verdict("m1", Label::Potato, 1), None).unwrap();
    }
    // A database at version 1 (before deliveries and shared values) is brought up to date, its
    // data kept.
    backend.sql("DROP TABLE deliveries; DROP TABLE shared_values; DROP TABLE quota_windows;");
    backend.set_schema_version(1);
    {
        let store = backend.open();
        assert_eq!(backend.schema_version(), SCHEMA_VERSION);
        assert!(store.claim_update("telegram", "1").unwrap(), "the new table is there");
        assert_eq!(store.counts().unwrap().0, 1, "data survives the migration");
    }
    backend.set_schema_version(99);
    assert!(matches!(backend.try_open(), Err(StoreError::TooNew { found: 99, .. })));
    assert_eq!(backend.schema_version(), 99, "a refused database is left alone");
}

fn an_update_is_claimed_once_per_platform_across_store_handles(backend: Backend) {
    let first = backend.open();
    // A second handle on the same database stands for a second replica (or process).
    let second = backend.open();
    assert!(first.claim_update("telegram", "1001").unwrap());
    assert!(
        !second.claim_update("telegram", "1001").unwrap(),
        "a redelivery is not claimed again"
    );
    assert!(!first.claim_update("telegram", "1001").unwrap());
    assert!(second.claim_update("telegram", "1002").unwrap());
    assert!(first.claim_update("discord", "1001").unwrap(), "ids are per platform");
    // Sixteen threads over both handles racing for the same 50 ids: each claimed exactly once.
    let stores = [first, second];
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

fn openers_of_a_new_database_at_once_migrate_it_once(backend: Backend) {
    let backend = &backend;
    std::thread::scope(|scope| {
        let opened: Vec<_> = (0..8)
            .map(|_| scope.spawn(move || backend.try_open().map(|_| ())))
            .collect();
        for (i, t) in opened.into_iter().enumerate() {
            let result = t.join().unwrap();
            assert!(result.is_ok(), "opener {i}: {result:?}");
        }
    });
    assert_eq!(backend.schema_version(), SCHEMA_VERSION);
}

fn duplicate_verdicts_write_nothing_partial(backend: Backend) {
    let store = backend.open_keeping_images();
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
    // The store is still usable after the failed transaction.
    store.record_verdict(&verdict("m2", Label::Potato, 1), None).unwrap();
}

/// Runs this test binary's `name` test as a child process with `env`.
fn child(name: &str, env: &[(&str, String)]) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", name, "--nocapture", "--test-threads", "1"]);
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Child half of the two-process test: 8 threads x 50 verdicts and votes.
#[test]
fn writer_child() {
    let (Ok(target), Ok(name)) = (
        std::env::var("ISPOTATO_WRITER_DB"),
        std::env::var("ISPOTATO_WRITER_NAME"),
    ) else {
        return;
    };
    let store = store::open(DatabaseConfig::new(target.parse().unwrap(), false)).unwrap();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (store, name) = (store.clone(), &name);
            scope.spawn(move || {
                for i in 0..50 {
                    let m = format!("{name}-t{t}-m{i}");
                    store
                        .record_verdict(&verdict(&m, Label::Potato, i), None)
                        .expect("verdict");
                    store
                        .record_vote(&vote(&m, "u", i % 2 == 0, VoteSource::Reaction, Some("👍")))
                        .expect("vote");
                }
            });
        }
    });
}

fn writers_in_two_processes_lose_nothing(backend: Backend) {
    // Created first, so the children race on writes, not on the migration.
    let store = backend.open();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            child(
                "writer_child",
                &[
                    ("ISPOTATO_WRITER_DB", backend.target()),
                    ("ISPOTATO_WRITER_NAME", name.to_string()),
                ],
            )
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer failed");
    }
    assert_eq!(store.counts().unwrap(), (800, 800, 0));
}

/// Child half of the kill test: writes verdicts forever, printing each id after its commit.
#[test]
fn kill_writer_child() {
    let Ok(target) = std::env::var("ISPOTATO_KILL_TEST_DB") else {
        return;
    };
    let store = store::open(DatabaseConfig::new(target.parse().unwrap(), true)).unwrap();
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

fn committed_rows_survive_kill_9(backend: Backend) {
    use std::io::{BufRead, BufReader};
    drop(backend.open());
    let mut child = child("kill_writer_child", &[("ISPOTATO_KILL_TEST_DB", backend.target())])
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
    if let Backend::Sqlite(path) = &backend {
        assert!(SqliteStore::open(StoreConfig::new(path))
            .unwrap()
            .integrity_ok()
            .unwrap());
    }
    for m in &committed {
        assert_eq!(backend.count_message(m), 1, "committed row {m} lost");
    }
    let (verdicts, _, _) = backend.open().counts().unwrap();
    assert!(verdicts as usize >= committed.len());
}

fn the_cleanup_task_deletes_expired_images_by_itself(backend: Backend) {
    let store = backend.open_keeping_images();
    let now = ispotato_core::store::unix_now();
    store
        .record_verdict(&verdict("old", Label::Potato, now - 40 * 86_400), Some(b"OLD"))
        .unwrap();
    store
        .record_verdict(&verdict("new", Label::Potato, now), Some(b"NEW"))
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let remaining = runtime.block_on(async {
        let task = ispotato_core::store::retention::spawn_image_cleanup(
            store.clone(),
            ispotato_core::store::retention::DEFAULT_RETENTION,
            Duration::from_secs(3600),
        );
        let mut remaining = 2;
        for _ in 0..100 {
            let s = store.clone();
            // The store blocks: ask it from the blocking pool, as the services do.
            remaining = tokio::task::spawn_blocking(move || s.counts().unwrap().2)
                .await
                .unwrap();
            if remaining == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        remaining
    });
    assert_eq!(remaining, 1, "the 40-day-old image is gone, today's stays");
}

fn draws_from_two_handles_never_repeat_a_fact(backend: Backend) {
    let stores = [backend.open(), backend.open()];
    assert_eq!(stores[0].load_draw_state("chat").unwrap(), None);
    // A deck of 40 facts; each draw serves the first one this pass has not served.
    let deck: Vec<String> = (0..40).map(|i| format!("f{i:02}")).collect();
    let drawn: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let (store, deck) = (stores[t % 2].clone(), &deck);
                scope.spawn(move || {
                    (0..5)
                        .map(|_| {
                            store
                                .draw("chat", &mut |state: &mut DrawState| {
                                    let next = deck.iter().find(|f| !state.served.contains(f))?.clone();
                                    state.served.push(next.clone());
                                    state.last = Some(next.clone());
                                    Some(next)
                                })
                                .unwrap()
                                .expect("a fact")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut unique = drawn.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 40, "a fact was served twice: {drawn:?}");
    let state = stores[1].load_draw_state("chat").unwrap().unwrap();
    assert_eq!(state.served.len(), 40);
    // A draw that serves nothing changes nothing.
    assert_eq!(stores[0].draw("empty", &mut |_| None).unwrap(), None);
    assert_eq!(stores[0].load_draw_state("empty").unwrap(), None);
}

fn a_shared_value_is_made_once(backend: Backend) {
    let stores = [backend.open(), backend.open()];
    let first = stores[0].shared_value("user_salt", b"first-salt-0123456789").unwrap();
    assert_eq!(first, b"first-salt-0123456789");
    let second = stores[1].shared_value("user_salt", b"second-salt-012345678").unwrap();
    assert_eq!(second, first, "a second replica gets the first one's value");
    assert_eq!(stores[1].shared_value("other", b"x").unwrap(), b"x");
}

fn rate_limit_windows_hold_across_handles(backend: Backend) {
    let stores = [backend.open(), backend.open()];
    let rule = WindowRule::per_minute(10);
    let now = 1_000_000_000;
    // 16 threads over two handles (two replicas) each take one unit at once: exactly 10 fit.
    let taken: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|t| {
                let store = stores[t % 2].clone();
                scope.spawn(move || store.take_window("user-a", rule, 1, now).unwrap().is_ok() as usize)
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(taken, 10, "the limit holds across handles");
    let wait = stores[0]
        .take_window("user-a", rule, 1, now + 15_000)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        wait,
        Duration::from_secs(45),
        "room comes when the first hits leave the window"
    );
    assert!(
        stores[1].take_window("user-b", rule, 10, now).unwrap().is_ok(),
        "keys are independent"
    );
    assert!(
        stores[1].take_window("user-c", rule, 11, now).unwrap().is_err(),
        "a batch over the limit never fits"
    );
    assert!(
        stores[1].take_window("user-a", rule, 10, now + 60_000).unwrap().is_ok(),
        "a minute later"
    );
}

fn windows_taken_together_stop_at_the_first_without_room(backend: Backend) {
    let stores = [backend.open(), backend.open()];
    let (user, global) = (WindowRule::per_minute(3), WindowRule::per_minute(4));
    let now = 1_000_000_000;
    let take = |store: usize, key: &str, at: i64| {
        stores[store]
            .take_windows(&[(key, user), ("*", global)], 1, now + at)
            .unwrap()
    };
    for at in 0..3 {
        assert_eq!(take(at as usize % 2, "user-a", at), Ok(()));
    }
    // The user's window is full: refused there, the global window untouched.
    let refused = take(0, "user-a", 10).unwrap_err();
    assert_eq!(refused.window, 0, "the user's window refuses");
    assert_eq!(
        refused.wait,
        Duration::from_millis(59_990),
        "room when the first hit leaves"
    );
    assert_eq!(take(1, "user-b", 20), Ok(()), "the fourth global unit was still free");
    // Everyone's window is full now: refused there, the user's unit stays taken (the request
    // cost the user a try).
    let refused = take(0, "user-c", 30).unwrap_err();
    assert_eq!(refused.window, 1, "the global window refuses");
    assert_eq!(
        stores[1].take_window("user-c", user, 2, now + 40).unwrap(),
        Ok(()),
        "user-c had one unit taken, two left"
    );
    assert!(stores[1].take_window("user-c", user, 1, now + 50).unwrap().is_err());
    // A minute after the first takes, the global window has room again.
    assert_eq!(take(1, "user-d", 60_000), Ok(()));
}

#[test]
fn a_sqlite_database_this_build_cannot_read_is_refused_untouched() {
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
fn a_postgres_database_this_build_cannot_read_is_refused_untouched() {
    let Some(db) = TestDatabase::create("too_new") else {
        return;
    };
    db.execute("CREATE TABLE ispotato_schema (version BIGINT NOT NULL); INSERT INTO ispotato_schema VALUES (99);");
    let config = DatabaseConfig::new(db.url().parse().unwrap(), false);
    assert!(matches!(store::open(config), Err(StoreError::TooNew { found: 99, .. })));
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'verdicts'"),
        0,
        "no migration ran"
    );
}

#[test]
fn a_postgres_server_that_cannot_be_reached_is_a_clear_error() {
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://bot:hunter2@127.0.0.1:{port}/potatoes?sslmode=disable&connect_timeout=2");
    let Err(error) = store::open(DatabaseConfig::new(url.parse().unwrap(), false)) else {
        panic!("a server that is not there was opened");
    };
    let error = error.to_string();
    assert!(error.contains("postgres://bot@127.0.0.1:"), "{error}");
    assert!(error.contains("refused"), "the cause is named: {error}");
    assert!(!error.contains("hunter2"), "the password leaked: {error}");
}

#[test]
fn postgres_tls_encrypts_and_verify_full_checks_the_certificate() {
    let Some(db) = TestDatabase::create("tls") else {
        return;
    };
    if db.query_i64("SELECT COUNT(*) FROM pg_settings WHERE name = 'ssl' AND setting = 'on'") == 0 {
        eprintln!("SKIPPED: this PostgreSQL server has ssl off (.ci/run's cluster turns it on)");
        return;
    }
    let plain = db.url().to_string();
    assert!(plain.contains("sslmode=disable"), "{plain}");
    let with = |mode: &str| {
        let url = plain.replace(
            "sslmode=disable",
            &format!("sslmode={mode}&application_name=ispotato-tls-{mode}"),
        );
        store::open(DatabaseConfig::new(url.parse().unwrap(), false))
    };
    // `require`: encrypted (the server's own view of the connection says so).
    let encrypted = with("require").expect("a TLS connection");
    encrypted.ping().unwrap();
    assert_eq!(
        db.query_i64(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'ispotato-tls-require' AND s.ssl"
        ),
        1,
        "the pooled connection is encrypted"
    );
    // `verify-full`: a self-signed certificate that no root vouches for is refused.
    let Err(refused) = with("verify-full") else {
        panic!("verify-full accepted a certificate no root signed");
    };
    let refused = refused.to_string();
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
}

#[test]
fn a_new_sqlite_database_is_private_to_its_owner() {
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
