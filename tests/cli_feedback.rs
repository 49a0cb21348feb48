//! `ispotato fact`, `facts check`, `stats` and `feedback export` end to end, against a database
//! the test fills through the core API.

use std::path::PathBuf;
use std::process::{Command, Output};

use ispotato_core::model::Label;
use ispotato_core::store::{NewVerdict, SqliteStore, Store, StoreConfig, Vote, VoteSource};
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-clifb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bin(db: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    cmd.env("ISPOTATO_DATABASE_PATH", db)
        .env_remove("ISPOTATO_TRIVIA")
        .env_remove("ISPOTATO_KEEP_IMAGES");
    cmd
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn facts_do_not_repeat_between_runs_and_topics_are_checked() {
    let dir = scratch("fact");
    let db = dir.join("db.sqlite");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        let out = bin(&db).args(["fact", "--topic", "varieties"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let first_line = text(&out).lines().next().unwrap().to_string();
        assert!(first_line.starts_with("🥔 "), "{first_line}");
        assert!(seen.insert(first_line), "a fact repeated within one pass");
    }
    let out = bin(&db).args(["fact", "--topic", "gossip"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Try one of: agriculture, botany"), "{err}");
}

#[test]
fn facts_check_reports_problems_with_lines() {
    let dir = scratch("check");
    let ok = bin(&dir.join("db")).args(["facts", "check"]).output().unwrap();
    assert!(ok.status.success());
    assert!(text(&ok).starts_with("ok: "), "{}", text(&ok));
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "- id: a\n  topic: history\n  text: \"Fine.\"\n  source: {title: T, url: \"https://x.org\"}\n- id: a\n  topic: nope\n").unwrap();
    let out = bin(&dir.join("db"))
        .args(["facts", "check", &bad.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out);
    assert!(report.contains("bad.yaml:5: fact 'a': topic 'nope'"), "{report}");
    assert!(
        report.contains("bad.yaml:5: fact 'a': duplicate id (first at"),
        "{report}"
    );
    assert!(report.contains("bad.yaml:5: fact 'a': missing text"), "{report}");
}

/// A SHA-256-shaped hash made of one hex digit.
fn hash(c: char) -> String {
    c.to_string().repeat(64)
}

fn fill(db: &std::path::Path) {
    fill_rows(
        db,
        &[
            ("m1", Label::Potato, true, &hash('a'), "0.1.0", 60),
            ("m2", Label::Potato, false, &hash('b'), "0.1.0", 60),
            ("m3", Label::NotPotato, false, &hash('c'), "0.1.0", 60),
            ("m4", Label::NotPotato, true, &hash('d'), "0.1.0", 20 * 86_400),
        ],
    );
}

/// Verdicts with one vote each: (message, verdict, vote agrees, image hash, model version, age in s).
type Row<'a> = (&'a str, Label, bool, &'a str, &'a str, i64);

fn fill_rows(db: &std::path::Path, rows: &[Row]) {
    let mut config = StoreConfig::new(db);
    config.keep_images = true;
    let store = SqliteStore::open(config).unwrap();
    let now = ispotato_core::store::unix_now();
    let png = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(4, 4)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    for &(m, label, agree, sha, version, age) in rows {
        let at = now - age;
        store
            .record_verdict(
                &NewVerdict {
                    platform: "telegram".into(),
                    chat_id: "1".into(),
                    message_id: m.into(),
                    image_index: 0,
                    user_hash: "h".into(),
                    image_sha256: sha.into(),
                    label,
                    probability: 0.5,
                    model_version: version.into(),
                    decode_ms: 1.0,
                    preprocess_ms: 1.0,
                    inference_ms: 1.0,
                    created_at: at,
                },
                Some(&png),
            )
            .unwrap();
        store
            .record_vote(&Vote {
                platform: "telegram".into(),
                chat_id: "1".into(),
                message_id: m.into(),
                user_hash: "voter".into(),
                is_bot: false,
                agree,
                source: VoteSource::Button,
                emoji: None,
                created_at: at,
            })
            .unwrap();
    }
}

#[test]
fn stats_and_export_reflect_stored_votes() {
    let dir = scratch("stats");
    let db = dir.join("db.sqlite");
    fill(&db);
    let out = bin(&db).args(["stats", "--json", "--since", "7d"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: Value = serde_json::from_str(&text(&out)).unwrap();
    assert_eq!(s["verdicts_total"], 3, "m4 is older than 7 days");
    assert_eq!(s["votes_total"], 3);
    assert_eq!(s["precision"]["value"], 0.5);
    assert_eq!(s["recall"]["value"], 0.5);
    let all: Value = serde_json::from_str(&text(&bin(&db).args(["stats", "--json"]).output().unwrap())).unwrap();
    assert_eq!(all["verdicts_total"], 4);
    let human = text(&bin(&db).args(["stats"]).output().unwrap());
    assert!(
        human.contains("4 images judged") && human.contains("telegram, model 0.1.0: 4"),
        "{human}"
    );

    let export = dir.join("export");
    export_to(&db, &export);
    // m1 confirmed potato, m3 not-potato voted wrong => potato; m2 potato voted wrong, m4 confirmed => not potato.
    assert!(export.join(format!("potato/{}.png", hash('a'))).is_file());
    assert!(export.join(format!("potato/{}.png", hash('c'))).is_file());
    assert!(export.join(format!("not_potato/{}.png", hash('b'))).is_file());
    assert!(export.join(format!("not_potato/{}.png", hash('d'))).is_file());
    let csv = std::fs::read_to_string(export.join("feedback.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.lines().next().unwrap().starts_with("file,label,verdict"));

    // Cleanup with a 7-day retention removes m4's image only.
    let out = bin(&db)
        .args(["--image-retention", "7d", "feedback", "cleanup"])
        .output()
        .unwrap();
    assert!(text(&out).contains("deleted 1 kept image"), "{}", text(&out));
}

/// Runs `feedback export` into `to`, which must succeed.
fn export_to(db: &std::path::Path, to: &std::path::Path) -> std::process::Output {
    let out = bin(db)
        .args(["feedback", "export", &to.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn export_trusts_no_file_name_or_cell_from_the_database() {
    let dir = scratch("hostile-export");
    let db = dir.join("db.sqlite");
    fill_rows(
        &db,
        &[
            (
                "h1",
                Label::Potato,
                true,
                "../../escaped",
                "=HYPERLINK(\"http://x\",\"y\")",
                60,
            ),
            ("h2", Label::Potato, true, &hash('e'), "0.1.0,evil\nrow", 60),
        ],
    );
    let export = dir.join("export");
    let out = export_to(&db, &export);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid recorded hash"));
    assert!(!dir.join("escaped.png").exists() && !dir.join("escaped").exists());
    let files: Vec<_> = std::fs::read_dir(export.join("potato")).unwrap().collect();
    assert_eq!(files.len(), 1, "only the image with a real hash is written");
    let csv = std::fs::read_to_string(export.join("feedback.csv")).unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""), "{csv}");
    assert!(csv.contains("\"0.1.0,evil\nrow\""), "{csv}");
    assert!(!csv.contains(",=HYPERLINK"), "{csv}");
}
