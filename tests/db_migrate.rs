//! `ispotato db migrate` end to end: a SQLite install (verdicts, votes, a kept image, a deck
//! position, an update claim, its salt file) copied into a throwaway PostgreSQL database; the
//! copy read back through the binary (`stats --json` the same on both), a non-empty target
//! refused untouched, `--replace` copying again without doubling, the password never shown.
//! Skipped, saying why, where no PostgreSQL server answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ispotato_core::model::Label;
use ispotato_core::store::{DatabaseConfig, DrawState, NewVerdict, SqliteStore, Store, StoreConfig, Vote, VoteSource};
use ispotato_testkit::postgres::TestDatabase;

const PASSWORD: &str = "s3cret-pw-never-shown";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-dbmig-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ispotato(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .args(args)
        .env_remove("ISPOTATO_DATABASE_PATH")
        .env_remove("ISPOTATO_DATABASE_PASSWORD_FILE")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap()
}

fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A SQLite install with a little of everything.
fn fill(db: &Path) {
    let mut config = StoreConfig::new(db);
    config.keep_images = true;
    let store = SqliteStore::open(config).unwrap();
    for (i, label) in [Label::Potato, Label::NotPotato, Label::Potato].into_iter().enumerate() {
        let verdict = NewVerdict {
            platform: "telegram".into(),
            chat_id: "42".into(),
            message_id: format!("{}", 1000 + i),
            image_index: 0,
            user_hash: "asker".into(),
            image_sha256: format!("{i:064x}"),
            label,
            probability: 0.9,
            model_version: "0.4.0".into(),
            decode_ms: 1.5,
            preprocess_ms: 2.5,
            inference_ms: 30.25,
            created_at: 1_700_000_000 + i as i64,
        };
        store
            .record_verdict(&verdict, (i == 0).then_some(&b"JPEG"[..]))
            .unwrap();
    }
    for (user, agree) in [("u1", true), ("u2", false)] {
        let vote = Vote {
            platform: "telegram".into(),
            chat_id: "42".into(),
            message_id: "1000".into(),
            user_hash: user.into(),
            is_bot: false,
            agree,
            source: VoteSource::Reaction,
            emoji: Some("👍".into()),
            created_at: 1_700_000_100,
        };
        store.record_vote(&vote).unwrap();
    }
    store
        .draw("telegram:42", &mut |s: &mut DrawState| {
            s.served.push("fact-1".into());
            s.last = Some("fact-1".into());
            Some("fact-1".into())
        })
        .unwrap();
    assert!(store.claim_update("telegram", "77").unwrap());
}

#[test]
fn a_sqlite_install_moves_to_postgres_whole_and_once() {
    let Some(db) = TestDatabase::create("db_migrate") else {
        return;
    };
    let dir = scratch("whole");
    let sqlite = dir.join("ispotato.db");
    fill(&sqlite);
    let salt = b"0123456789abcdef0123456789abcdef";
    std::fs::write(dir.join("ispotato.salt"), salt).unwrap();
    let target = db.url().replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    assert_ne!(target, db.url(), "the test URL carries a password");
    let from = sqlite.display().to_string();

    let out = ispotato(&["db", "migrate", "--from", &from, "--to", &target]);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    for (table, rows) in [
        ("verdicts", 3),
        ("votes", 2),
        ("kept_images", 1),
        ("draw_states", 1),
        ("deliveries", 1),
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [table, &rows.to_string()]),
            "{table} {rows} missing from:\n{text}"
        );
        assert_eq!(db.query_i64(&format!("SELECT COUNT(*) FROM {table}")), rows, "{table}");
    }
    assert!(text.contains("salt came along"), "{text}");
    assert!(!text.contains(PASSWORD), "the password was shown:\n{text}");

    // The copy reads the same through the binary, and new rows continue after it.
    let stats = |database: &str| {
        let out = ispotato(&["--database", database, "stats", "--json"]);
        assert!(out.status.success(), "{}", all_output(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(stats(&from), stats(db.url()));
    let store = ispotato_core::store::open(DatabaseConfig::new(db.url().parse().unwrap(), false)).unwrap();
    assert_eq!(
        store.shared_value("user_salt", b"another-salt-0123").unwrap(),
        salt,
        "the salt came along"
    );
    assert_eq!(
        store.load_draw_state("telegram:42").unwrap().unwrap().last.as_deref(),
        Some("fact-1")
    );
    assert!(
        !store.claim_update("telegram", "77").unwrap(),
        "the update claim came along"
    );
    let next = NewVerdict {
        platform: "web".into(),
        chat_id: "web".into(),
        message_id: "2000".into(),
        image_index: 0,
        user_hash: "h".into(),
        image_sha256: "s".into(),
        label: Label::Unsure,
        probability: 0.5,
        model_version: "0.4.0".into(),
        decode_ms: 0.0,
        preprocess_ms: 0.0,
        inference_ms: 0.0,
        created_at: 1_700_000_200,
    };
    assert!(
        store.record_verdict(&next, None).unwrap() > 3,
        "ids continue after the copied ones"
    );

    // A target with data is refused and left as it was.
    let again = ispotato(&["db", "migrate", "--from", &from, "--to", &target]);
    let text = all_output(&again);
    assert!(!again.status.success());
    assert!(
        text.contains("already holds data") && text.contains("--replace"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "the password was shown:\n{text}");
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM verdicts"), 4);

    // --replace copies again, exactly once.
    let replaced = ispotato(&["db", "migrate", "--from", &from, "--to", &target, "--replace"]);
    assert!(replaced.status.success(), "{}", all_output(&replaced));
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM verdicts"), 3);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM votes"), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_refuses_what_it_cannot_copy() {
    let dir = scratch("refuse");
    let out = ispotato(&[
        "db",
        "migrate",
        "--from",
        &dir.join("none.db").display().to_string(),
        "--to",
        "postgres://u@127.0.0.1/x",
    ]);
    assert!(!out.status.success());
    assert!(
        all_output(&out).contains("no such SQLite database"),
        "{}",
        all_output(&out)
    );
    let db = dir.join("a.db");
    fill(&db);
    let out = ispotato(&[
        "db",
        "migrate",
        "--from",
        &db.display().to_string(),
        "--to",
        dir.join("b.db").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        all_output(&out).contains("--to must be a postgres:// URL"),
        "{}",
        all_output(&out)
    );
}
