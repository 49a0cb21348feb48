//! Fact draws are atomic across processes sharing one database: 40 `ispotato fact` in one
//! chat, run as 20 concurrent pairs, serve 40 different facts; and processes opening a new
//! database at the same moment all succeed (the migration runs once).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fact(db: &Path, chat: &str) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    command
        .args(["fact", "--chat", chat])
        .env("ISPOTATO_DATABASE_PATH", db)
        .env("ISPOTATO_TRIVIA", root.join("trivia"))
        .env_remove("ISPOTATO_CONFIG");
    command
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-fact-draws-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `n` copies at once and waits for all.
fn at_once(n: usize, make: impl Fn() -> Command) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            make()
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children.into_iter().map(|c| c.wait_with_output().unwrap()).collect()
}

#[test]
fn concurrent_draws_from_several_processes_never_repeat_a_fact() {
    let dir = temp("pairs");
    let db = dir.join("db.sqlite");
    let mut facts = Vec::new();
    for _ in 0..20 {
        for out in at_once(2, || fact(&db, "chat-42")) {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(!text.is_empty());
            facts.push(text);
        }
    }
    let distinct: HashSet<_> = facts.iter().collect();
    assert_eq!(
        distinct.len(),
        40,
        "a fact was served twice in one pass through the deck"
    );
}

#[test]
fn processes_creating_a_new_database_at_once_all_succeed() {
    for trial in 0..5 {
        let dir = temp(&format!("new-{trial}"));
        let db = dir.join("db.sqlite");
        let outs = at_once(4, || fact(&db, "c"));
        for out in &outs {
            assert!(
                out.status.success(),
                "trial {trial}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let distinct: HashSet<_> = outs.iter().map(|o| o.stdout.clone()).collect();
        assert_eq!(distinct.len(), 4, "trial {trial}: four different facts");
    }
}
