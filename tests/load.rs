//! Bounded load tests of the real binary with both front ends: simulated users send images
//! through the fake Telegram and Discord servers on 127.0.0.1. They prove no reply and no verdict
//! row is lost, nothing is answered twice, and print throughput, latency percentiles, time to
//! ready and memory. One process on SQLite (Telegram long polling), and two replicas on one
//! PostgreSQL database (Telegram webhook updates spread over both as a load balancer would,
//! Discord shards 0/2 and 1/2; skipped, saying why, where no PostgreSQL server answers).
//!
//! Small by default (they run in `cargo test`); scale them with ISPOTATO_LOAD_USERS and
//! ISPOTATO_LOAD_IMAGES, and time a release build with ISPOTATO_LOAD_BIN=target/release/ispotato
//! (run with --nocapture to see the numbers). `bots_replica_load_benchmark` (ignored) compares
//! the three deployments in alternating rounds and prints a table.

mod support;

use ispotato_testkit::fake::discord as dc;
use ispotato_testkit::fake::telegram as tg;
use ispotato_testkit::postgres::TestDatabase;

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TG_TOKEN: &str = "77:LOAD-test-token";
const DC_TOKEN: &str = "MTIz.load-test-token.x";
const HOOK_SECRET: &str = "load-hook-secret-0123";
const WAIT: Duration = Duration::from_secs(300);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn load_bin() -> String {
    std::env::var("ISPOTATO_LOAD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ispotato").to_string())
}

fn proc_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0.0)
}

async fn ready(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let _ = s
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out.starts_with("HTTP/1.1 200")
}

/// How Telegram updates reach the bots.
#[derive(Clone, Copy, PartialEq)]
enum TelegramDelivery {
    /// The bot polls the fake (one process only: Telegram allows one poller per token).
    Polling,
    /// The test posts each update to one replica's webhook, round-robin, as a load balancer would.
    Webhook,
}

/// The bots under load: which binary, on which database, how many replicas.
struct Deployment<'a> {
    bin: &'a str,
    database: &'a str,
    replicas: usize,
    telegram: TelegramDelivery,
}

/// One replica: the process, its admin port and (in webhook mode) its webhook URL.
struct Replica {
    child: Child,
    admin: u16,
    hook: Option<String>,
}

fn start_replica(deployment: &Deployment, index: usize, tgf: &tg::Fake, dcf: &dc::Fake) -> Replica {
    let admin = support::free_port();
    let shards = if deployment.replicas == 1 {
        "1".to_string()
    } else {
        format!("{index}/{}", deployment.replicas)
    };
    let mut command = support::bot_command(deployment.bin, std::path::Path::new(deployment.database), admin);
    command
        .env("TELEGRAM_TOKEN", TG_TOKEN)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("TELEGRAM_TOKEN_FILE")
        .env_remove("DISCORD_TOKEN_FILE")
        .env("ISPOTATO_TELEGRAM_API_URL", tgf.url().as_str())
        .env("DISCORD_TOKEN", DC_TOKEN)
        .env("ISPOTATO_DISCORD_API_URL", dcf.url().as_str())
        .env("ISPOTATO_DISCORD_SHARDS", shards)
        .env("ISPOTATO_USER_IMAGES_PER_MINUTE", "100000")
        .env("ISPOTATO_GLOBAL_IMAGES_PER_MINUTE", "100000")
        .env("ISPOTATO_DATABASE_POOL", "4");
    let hook = (deployment.telegram == TelegramDelivery::Webhook).then(|| {
        let port = support::free_port();
        let hook = format!("http://127.0.0.1:{port}/tg/hook");
        support::telegram_webhook(&mut command, TG_TOKEN, tgf.url().as_str(), port, &hook, HOOK_SECRET);
        hook
    });
    Replica {
        child: command.spawn().expect("starting a replica"),
        admin,
        hook,
    }
}

/// What one load run measured.
struct LoadRun {
    /// Images sent (users x images, on each platform).
    requests: usize,
    /// Replies received, all platforms.
    replies: usize,
    /// Requests answered more than once.
    answered_twice: usize,
    /// Replies that carry a verdict.
    verdicts: u64,
    /// Verdict rows in the store afterwards.
    rows: u64,
    images_per_s: f64,
    /// Sorted, milliseconds from sending to the reply.
    latencies: Vec<u128>,
    /// The slowest replica's time to ready.
    ready_ms: u128,
    /// The largest replica's resident memory when ready and at its peak, MB.
    idle_rss_mb: f64,
    peak_rss_mb: f64,
    /// Every replica exited cleanly after SIGTERM.
    clean_exit: bool,
}

impl LoadRun {
    fn print(&self, title: &str) {
        println!(
            "{title}: {} images; {} replies ({} lost, {} answered twice), {} verdicts, {} busy or refused, {} verdict rows",
            self.requests,
            self.replies,
            self.requests.saturating_sub(self.replies),
            self.answered_twice,
            self.verdicts,
            self.replies as u64 - self.verdicts,
            self.rows
        );
        println!(
            "throughput {:.1} images/s; latency p50 {} ms, p99 {} ms; ready after {} ms; RSS idle {:.1} MB, peak {:.1} MB",
            self.images_per_s,
            support::percentile(&self.latencies, 0.5),
            support::percentile(&self.latencies, 0.99),
            self.ready_ms,
            self.idle_rss_mb,
            self.peak_rss_mb
        );
    }

    /// Every request answered exactly once, every verdict stored, every replica stopped cleanly.
    fn assert_nothing_lost(&self, title: &str) {
        assert_eq!(self.replies, self.requests, "{title}: every request gets a reply");
        assert_eq!(self.answered_twice, 0, "{title}: no request is answered twice");
        assert_eq!(self.rows, self.verdicts, "{title}: every verdict reply has its row");
        assert!(self.clean_exit, "{title}: clean exit after SIGTERM");
    }
}

/// The guild a user's Discord commands come from: consecutive users land on consecutive shards
/// (Discord routes a guild to shard `(guild_id >> 22) % shards`).
fn guild_of(user: usize) -> u64 {
    (user as u64 + 1) << 22
}

/// Starts `deployment`, sends `users` x `per_user` images on each platform, waits for every
/// answer, stops the replicas and counts what the store holds.
async fn run_load(deployment: &Deployment<'_>, users: usize, per_user: usize) -> LoadRun {
    assert!(
        deployment.replicas == 1 || deployment.telegram == TelegramDelivery::Webhook,
        "several replicas take Telegram updates by webhook"
    );
    let [potato, peppers] = support::sample_images();
    let tgf = tg::Fake::start(TG_TOKEN).await;
    let dcf = dc::Fake::start().await;
    tgf.add_file("potato", Some(potato.clone()), potato.len() as u64);
    tgf.add_file("peppers", Some(peppers.clone()), peppers.len() as u64);
    dcf.add_attachment("potato.jpg", potato);
    dcf.add_attachment("peppers.jpg", peppers);

    let started = Instant::now();
    let replicas: Vec<Replica> = (0..deployment.replicas)
        .map(|i| start_replica(deployment, i, &tgf, &dcf))
        .collect();
    let mut ready_ms = 0;
    for replica in &replicas {
        let mut ok = false;
        for _ in 0..1500 {
            if ready(replica.admin).await {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ok, "a replica never became ready");
        ready_ms = started.elapsed().as_millis();
    }
    assert!(
        dcf.wait_for_identifies(deployment.replicas as u64, Duration::from_secs(60))
            .await,
        "every Discord shard identifies"
    );
    let mut shards = dcf.state.identified_shards.lock().unwrap().clone();
    shards.sort();
    let expected_shards: Vec<(u64, u64)> = (0..deployment.replicas as u64)
        .map(|i| (i, deployment.replicas as u64))
        .collect();
    assert_eq!(shards, expected_shards, "one shard per replica");
    let idle_rss_mb = replicas
        .iter()
        .map(|r| proc_kb(r.child.id(), "VmRSS:") / 1024.0)
        .fold(0.0, f64::max);

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut sent_at: HashMap<String, u128> = HashMap::new();
    let mut posts = tokio::task::JoinSet::new();
    let t0 = tg::now_ms();
    let mut next_hook = 0;
    for u in 0..users {
        for k in 0..per_user {
            let file = if (u + k) % 2 == 0 { "potato" } else { "peppers" };
            let id = (u * 1000 + k + 1) as i64;
            let chat = 10_000 + u as i64;
            let mut m = tg::photo_message(id, chat, file, 30_000);
            m["from"] = tg::user(500 + u as i64);
            sent_at.insert(format!("tg:{chat}:{id}"), tg::now_ms());
            match deployment.telegram {
                TelegramDelivery::Polling => tgf.push_update("message", m),
                TelegramDelivery::Webhook => {
                    let hook = replicas[next_hook % replicas.len()].hook.clone().unwrap_or_default();
                    next_hook += 1;
                    let request = http
                        .post(hook)
                        .header("X-Telegram-Bot-Api-Secret-Token", HOOK_SECRET)
                        .json(&json!({ "update_id": id, "message": m }));
                    posts.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
                }
            }
            let token = format!("tok-{u}-{k}");
            let att = dc::attachment(
                "11",
                "spud.jpg",
                &dcf.attachment_url(&format!("{file}.jpg")),
                30_000,
                "image/jpeg",
            );
            let data = json!({ "id": "801", "name": "ispotato", "type": 1, "options": [{ "name": "image", "type": 11, "value": "11" }],
                               "resolved": { "attachments": { "11": att } } });
            let mut interaction = dc::command(&format!("{}", 900_000 + u * 1000 + k), &token, data);
            interaction["user"] = dc::user(&format!("{}", 500 + u), false);
            interaction["guild_id"] = json!(guild_of(u).to_string());
            sent_at.insert(format!("dc:{token}"), tg::now_ms());
            dcf.dispatch("INTERACTION_CREATE", interaction).await;
        }
    }
    for posted in posts.join_all().await {
        assert_eq!(posted.ok(), Some(200), "the webhook takes every update");
    }

    let expected = users * per_user;
    let tg_replies = tgf.wait_for("sendMessage", expected, WAIT).await;
    let dc_replies = {
        let deadline = Instant::now() + WAIT;
        loop {
            let edits = dcf.calls("PATCH /api/v10/webhooks/999/tok-");
            let follow = dcf.calls("POST /api/v10/webhooks/999/tok-");
            if edits.len() + follow.len() >= expected || Instant::now() > deadline {
                break (edits, follow);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let elapsed_ms = (tg::now_ms() - t0).max(1);
    // Anything answered twice would arrive a little after the first answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tg_replies_later = tgf.calls("sendMessage");
    let dc_replies_later: Vec<(String, Value)> = dcf
        .calls("PATCH /api/v10/webhooks/999/tok-")
        .into_iter()
        .chain(dcf.calls("POST /api/v10/webhooks/999/tok-"))
        .collect();
    let peak_rss_mb = replicas
        .iter()
        .map(|r| proc_kb(r.child.id(), "VmHWM:") / 1024.0)
        .fold(0.0, f64::max);
    let mut clean_exit = true;
    for replica in replicas {
        let (status, _) = support::terminate(replica.child).await;
        clean_exit &= status.success();
    }

    let mut latencies = Vec::new();
    let mut verdicts = 0u64;
    let mut answers: HashMap<String, usize> = HashMap::new();
    for r in &tg_replies_later {
        let chat = r["chat_id"].as_i64().unwrap_or_default();
        let msg = r["reply_parameters"]["message_id"].as_i64().unwrap_or_default();
        *answers.entry(format!("tg:{chat}:{msg}")).or_default() += 1;
    }
    for (path, _) in &dc_replies_later {
        let token = path.split('/').nth(5).unwrap_or_default();
        *answers.entry(format!("dc:{token}")).or_default() += 1;
    }
    for r in &tg_replies {
        let chat = r["chat_id"].as_i64().unwrap_or_default();
        let msg = r["reply_parameters"]["message_id"].as_i64().unwrap_or_default();
        if let Some(t) = sent_at.get(&format!("tg:{chat}:{msg}")) {
            latencies.push(r["_at_ms"].as_u64().unwrap_or_default() as u128 - t);
        }
        let text = r["text"].as_str().unwrap_or_default();
        verdicts += (text.starts_with("🥔") || text.starts_with("🚫") || text.starts_with("🤔")) as u64;
    }
    let (edits, follow) = &dc_replies;
    for (path, body) in edits.iter().chain(follow.iter()) {
        let token = path.split('/').nth(5).unwrap_or_default();
        if let Some(t) = sent_at.get(&format!("dc:{token}")) {
            let at = body["_at_ms"].as_u64().unwrap_or_else(|| panic!("{path}: {body}"));
            latencies.push(at as u128 - t);
        }
    }
    verdicts += edits
        .iter()
        .filter(|(_, b)| b["content"].as_str().is_some_and(|c| !c.starts_with("Sorry")))
        .count() as u64;
    latencies.sort();
    let answered_twice = answers.values().filter(|&&n| n > 1).count();
    let target: ispotato_core::store::DatabaseTarget = deployment.database.parse().expect("a database setting");
    let rows = tokio::task::spawn_blocking(move || {
        let store = ispotato_core::store::open(ispotato_core::store::DatabaseConfig::new(target, false))
            .expect("opening the store after the run");
        ispotato_core::store::Store::counts(&*store)
            .expect("counting the store")
            .0
    })
    .await
    .unwrap();
    LoadRun {
        requests: 2 * expected,
        replies: tg_replies.len() + edits.len() + follow.len(),
        answered_twice,
        verdicts,
        rows,
        images_per_s: (tg_replies.len() + edits.len() + follow.len()) as f64 * 1000.0 / elapsed_ms as f64,
        latencies,
        ready_ms,
        idle_rss_mb,
        peak_rss_mb,
        clean_exit,
    }
}

/// A scratch folder for one SQLite run, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ispotato-load-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn database(&self) -> String {
        self.0.join("load.db").display().to_string()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_through_both_fakes_loses_nothing() {
    let (users, per_user) = (
        env_usize("ISPOTATO_LOAD_USERS", 4),
        env_usize("ISPOTATO_LOAD_IMAGES", 3),
    );
    let scratch = ScratchDir::new("one");
    let database = scratch.database();
    let bin = load_bin();
    let deployment = Deployment {
        bin: &bin,
        database: &database,
        replicas: 1,
        telegram: TelegramDelivery::Polling,
    };
    let run = run_load(&deployment, users, per_user).await;
    run.print("load, one process on SQLite");
    run.assert_nothing_lost("one process on SQLite");
}

/// The same load on two replicas sharing one PostgreSQL database: Telegram webhook updates
/// alternate between them, Discord guilds split between shards 0/2 and 1/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_on_two_replicas_loses_nothing_and_answers_once() {
    let Some(db) = TestDatabase::create("bots_load") else {
        return;
    };
    let (users, per_user) = (
        env_usize("ISPOTATO_LOAD_USERS", 4),
        env_usize("ISPOTATO_LOAD_IMAGES", 3),
    );
    let bin = load_bin();
    let deployment = Deployment {
        bin: &bin,
        database: db.url(),
        replicas: 2,
        telegram: TelegramDelivery::Webhook,
    };
    let run = run_load(&deployment, users, per_user).await;
    run.print("load, two replicas on PostgreSQL");
    run.assert_nothing_lost("two replicas on PostgreSQL");
    // Both replicas did part of the work: each Discord shard answered its guilds.
    assert_eq!(
        db.query_i64("SELECT COUNT(DISTINCT chat_id) FROM verdicts WHERE platform = 'telegram'"),
        users as i64
    );
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM deliveries"),
        (users * per_user) as i64
    );
}

/// A benchmark, not a test (`cargo test` skips it): both bots under load on SQLite with one
/// process, on PostgreSQL with one replica and with two, in alternating rounds, every setup
/// taking Telegram updates by webhook so the three compare. Run it on a release build:
///
///   cargo build --release && ISPOTATO_LOAD_BIN=target/release/ispotato \
///     cargo test --test load -- --ignored --nocapture bots_replica_load
///
/// On two cores the replicas share the same CPUs: this shows the overhead of the shared
/// database and that nothing is lost, not a speed-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: run it with --ignored --nocapture"]
async fn bots_replica_load_benchmark() {
    let bin = load_bin();
    let rounds = env_usize("ISPOTATO_LOAD_ROUNDS", 3);
    let (users, per_user) = (
        env_usize("ISPOTATO_LOAD_USERS", 8),
        env_usize("ISPOTATO_LOAD_IMAGES", 5),
    );
    let setups = ["SQLite, 1 process", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas"];
    let mut runs: Vec<Vec<LoadRun>> = setups.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..setups.len() {
            // Rotate which setup goes first: machines drift.
            let setup = (k + round) % setups.len();
            let scratch = ScratchDir::new(&format!("bench-{round}-{setup}"));
            let sqlite = scratch.database();
            let pg = if setup == 0 {
                None
            } else {
                let Some(db) = TestDatabase::create("bots_load_bench") else {
                    return;
                };
                Some(db)
            };
            let deployment = Deployment {
                bin: &bin,
                database: pg.as_ref().map_or(sqlite.as_str(), |db| db.url()),
                replicas: if setup == 2 { 2 } else { 1 },
                telegram: TelegramDelivery::Webhook,
            };
            let run = run_load(&deployment, users, per_user).await;
            run.assert_nothing_lost(setups[setup]);
            runs[setup].push(run);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "\n{rounds} rounds, {users} users x {per_user} images on Telegram (webhook) and on Discord each ({} per run); medians\n",
        2 * users * per_user
    );
    println!("| setup | images/s | p50 ms | p99 ms | lost | answered twice | ready ms | peak RSS per process MB |");
    println!("|---|---|---|---|---|---|---|---|");
    for (setup, runs) in setups.iter().zip(&runs) {
        let ms = |p: f64| {
            median(
                runs.iter()
                    .map(|r| support::percentile(&r.latencies, p) as f64)
                    .collect(),
            )
        };
        println!(
            "| {setup} | {:.1} | {:.0} | {:.0} | {} | {} | {:.0} | {:.1} |",
            median(runs.iter().map(|r| r.images_per_s).collect()),
            ms(0.5),
            ms(0.99),
            runs.iter().map(|r| r.requests - r.replies).sum::<usize>(),
            runs.iter().map(|r| r.answered_twice).sum::<usize>(),
            median(runs.iter().map(|r| r.ready_ms as f64).collect()),
            median(runs.iter().map(|r| r.peak_rss_mb).collect()),
        );
    }
}
