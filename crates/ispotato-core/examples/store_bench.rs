//! Store operations per second, SQLite against PostgreSQL, at 1 and 16 concurrent writers:
//! verdict rows, votes, fact draws (each writer its own chat) and rate-limit takes (a user's window and everyone's in one transaction, as a request is charged). Rounds
//! alternate which backend goes first (machines drift); the table shows the median of the
//! rounds with their range.
//!
//!   cargo run --release -p ispotato-core --example store_bench [-- ROUNDS [OPS_PER_WRITER]]
//!
//! PostgreSQL: a throwaway database on the server `ISPOTATO_TEST_POSTGRES` names (default
//! postgres://postgres@127.0.0.1:5432/postgres), as the tests use; SQLite: a temporary file.
//! On a 2-core machine 16 writers measure contention and overhead, not parallel speed-up.

use std::sync::Arc;
use std::time::Instant;

use ispotato_core::model::Label;
use ispotato_core::rate_limit::WindowRule;
use ispotato_core::store::{self, DatabaseConfig, DrawState, NewVerdict, Store, Vote, VoteSource};
use ispotato_testkit::postgres::TestDatabase;

#[derive(Clone, Copy)]
enum Op {
    Verdict,
    Vote,
    Draw,
    Quota,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Verdict => "verdict rows",
            Op::Vote => "votes",
            Op::Draw => "fact draws",
            Op::Quota => "rate-limit takes (user + global)",
        }
    }
}

fn verdict(message: &str) -> NewVerdict {
    NewVerdict {
        platform: "bench".into(),
        chat_id: "c".into(),
        message_id: message.into(),
        image_index: 0,
        user_hash: "u".into(),
        image_sha256: message.into(),
        label: Label::Potato,
        probability: 0.9,
        model_version: "bench".into(),
        decode_ms: 1.0,
        preprocess_ms: 1.0,
        inference_ms: 30.0,
        created_at: store::unix_now(),
    }
}

/// `ops` operations on each of `writers` threads; operations per second overall.
fn measure(store: &Arc<dyn Store>, op: Op, writers: usize, ops: usize, round: usize) -> f64 {
    // The verdicts votes land on, made before the clock starts.
    if let Op::Vote = op {
        for w in 0..writers {
            let _ = store.record_verdict(&verdict(&format!("target-{round}-{writers}-{w}")), None);
        }
    }
    let started = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..ops {
                    let key = format!("{round}-{writers}-{w}-{i}");
                    match op {
                        Op::Verdict => {
                            store.record_verdict(&verdict(&key), None).expect("verdict");
                        }
                        Op::Vote => {
                            let vote = Vote {
                                platform: "bench".into(),
                                chat_id: "c".into(),
                                message_id: format!("target-{round}-{writers}-{w}"),
                                user_hash: key,
                                is_bot: false,
                                agree: i % 2 == 0,
                                source: VoteSource::Button,
                                emoji: None,
                                created_at: store::unix_now(),
                            };
                            store.record_vote(&vote).expect("vote");
                        }
                        Op::Draw => {
                            store
                                .draw(&format!("chat-{round}-{writers}-{w}"), &mut |s: &mut DrawState| {
                                    let fact = format!("f{}", s.served.len() % 200);
                                    if s.served.len() >= 200 {
                                        s.served.clear();
                                    }
                                    s.served.push(fact.clone());
                                    s.last = Some(fact.clone());
                                    Some(fact)
                                })
                                .expect("draw");
                        }
                        Op::Quota => {
                            // As a request is charged: the user's window, then everyone's.
                            let rule = WindowRule::per_minute(1_000_000);
                            let _ = store
                                .take_windows(&[(&format!("user-{w}"), rule), ("*", rule)], 1, store::unix_now_ms())
                                .expect("take");
                        }
                    }
                }
            });
        }
    });
    (writers * ops) as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let ops: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("ispotato-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let sqlite_target = dir.join("bench.db").display().to_string();
    let Some(pg) = TestDatabase::create("store_bench") else {
        eprintln!("no PostgreSQL server: nothing to compare");
        std::process::exit(1);
    };
    let open = |target: &str| store::open(DatabaseConfig::new(target.parse().expect("target"), false)).expect("open");
    let backends: [(&str, Arc<dyn Store>); 2] = [("SQLite", open(&sqlite_target)), ("PostgreSQL", open(pg.url()))];
    println!("{rounds} rounds, {ops} operations per writer; operations per second, median (min-max)\n");
    println!("| operation | writers | SQLite | PostgreSQL | PostgreSQL / SQLite |");
    println!("|---|---|---|---|---|");
    for op in [Op::Verdict, Op::Vote, Op::Draw, Op::Quota] {
        for writers in [1, 16] {
            let mut results: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            for round in 0..rounds {
                // Alternate which backend goes first.
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for b in order {
                    results[b].push(measure(&backends[b].1, op, writers, ops / writers.min(4), round));
                }
            }
            let range = |v: &[f64]| {
                let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
                format!("{lo:.0}-{hi:.0}")
            };
            let (s, p) = (median(&mut results[0].clone()), median(&mut results[1].clone()));
            println!(
                "| {} | {writers} | {s:.0} ({}) | {p:.0} ({}) | {:.2} |",
                op.name(),
                range(&results[0]),
                range(&results[1]),
                p / s
            );
        }
    }
    drop(backends);
    let _ = std::fs::remove_dir_all(&dir);
}
