//! Two `ispotato run` replicas (the real binary) sharing one PostgreSQL database, behind one
//! Telegram webhook URL as a load balancer would spread it: every update answered exactly once
//! (one posted to both included), 30 `/potatofact` in one chat over both with no repeat, a
//! user's per-minute budget holding across both, a vote cast through one replica counted in
//! the `/potatostats` the other serves, and "Why?" on a verdict answered by either replica (the
//! one that did not judge it from the image the store keeps). Skipped, saying why, where no PostgreSQL server answers
//! (`.ci/run` starts one).

mod support;

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::time::Duration;

use ispotato_testkit::fake::telegram as fake;
use ispotato_testkit::postgres::TestDatabase;
use serde_json::{json, Value};

const TOKEN: &str = "42:REPLICA-test-token";
const SECRET: &str = "replica-hook-secret-0123";
const IMAGES_PER_MINUTE: usize = 3;
const WAIT: Duration = Duration::from_secs(60);

struct Replica {
    child: Child,
    hook: String,
    admin_port: u16,
}

fn start_replica(database: &str, api: &str) -> Replica {
    let (admin_port, hook_port) = (support::free_port(), support::free_port());
    let hook = format!("http://127.0.0.1:{hook_port}/tg/hook");
    let mut command = support::bot_command(
        env!("CARGO_BIN_EXE_ispotato"),
        std::path::Path::new(database),
        admin_port,
    );
    support::telegram_webhook(&mut command, TOKEN, api, hook_port, &hook, SECRET)
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_TOKEN_FILE")
        .env("ISPOTATO_USER_IMAGES_PER_MINUTE", IMAGES_PER_MINUTE.to_string())
        .env("ISPOTATO_DATABASE_POOL", "4")
        .env("ISPOTATO_KEEP_IMAGES", "1")
        .env("ISPOTATO_LOG", "warn")
        .stderr(Stdio::piped());
    Replica {
        child: command.spawn().expect("starting a replica"),
        hook,
        admin_port,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn wait_ready(client: &reqwest::Client, replica: &Replica) {
    let url = format!("http://127.0.0.1:{}/readyz", replica.admin_port);
    for _ in 0..600 {
        if let Ok(r) = client.get(&url).send().await {
            if r.status() == 200 {
                let body = r.text().await.unwrap_or_default();
                assert!(body.contains("database: postgresql ok"), "{body}");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("replica on admin port {} never became ready", replica.admin_port);
}

async fn post(client: &reqwest::Client, replica: &Replica, update: Value) {
    let status = client
        .post(&replica.hook)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&update)
        .send()
        .await
        .expect("posting an update")
        .status();
    assert_eq!(status, 200, "update {}", update["update_id"]);
}

fn command(update_id: i64, chat: i64, from: i64, text: &str) -> Value {
    let mut message = fake::text_message(
        update_id,
        chat,
        text,
        json!([{ "type": "bot_command", "offset": 0, "length": text.len() }]),
    );
    message["from"] = fake::user(from);
    json!({ "update_id": update_id, "message": message })
}

/// The texts sent to `chat` so far.
fn sent_to(fake: &fake::Fake, chat: i64) -> Vec<String> {
    fake.calls("sendMessage")
        .iter()
        .filter(|c| c["chat_id"].as_i64() == Some(chat))
        .map(|c| c["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn wait_for_chat(fake: &fake::Fake, chat: i64, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let sent = sent_to(fake, chat);
        if sent.len() >= n || std::time::Instant::now() > deadline {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_answer_like_one_bot() {
    let Some(db) = TestDatabase::create("replicas") else {
        return;
    };
    let fake = fake::Fake::start(TOKEN).await;
    let api = fake.url().to_string();
    let replicas = [start_replica(db.url(), &api), start_replica(db.url(), &api)];
    let client = client();
    for r in &replicas {
        wait_ready(&client, r).await;
    }

    // 30 facts in one chat, the requests arriving in pairs at both replicas at once.
    for pair in 0..15 {
        let id = 1 + 2 * pair;
        tokio::join!(
            post(&client, &replicas[0], command(id, 42, 7, "/potatofact")),
            post(&client, &replicas[1], command(id + 1, 42, 7, "/potatofact")),
        );
    }
    let facts = wait_for_chat(&fake, 42, 30).await;

    // One update delivered to both replicas at once is answered once.
    tokio::join!(
        post(&client, &replicas[0], command(100, 43, 7, "/potatofact")),
        post(&client, &replicas[1], command(100, 43, 7, "/potatofact")),
    );

    // One user's six photos spread over both replicas: the per-minute budget holds in total.
    let photo = std::fs::read(support::root().join("samples/potatoes_in_store_bin.jpg")).unwrap();
    fake.add_file("spud", Some(photo), 30_000);
    for i in 0..6 {
        let mut message = fake::photo_message(200 + i, 44, "spud", 30_000);
        message["from"] = fake::user(9);
        post(
            &client,
            &replicas[i as usize % 2],
            json!({ "update_id": 200 + i, "message": message }),
        )
        .await;
    }
    let photos = wait_for_chat(&fake, 44, 6).await;

    // A vote through the first replica shows in the stats the second serves.
    let verdict_message = db.query_i64("SELECT MIN(message_id::bigint) FROM verdicts WHERE chat_id = '44'");
    let mut verdict = fake::message(verdict_message, 44, fake::BOT_ID);
    verdict["from"] = fake::bot_user();
    verdict["text"] = json!("🥔 Potato!");
    let press =
        json!({ "id": "cb1", "from": fake::user(11), "chat_instance": "ci", "data": "fb:1", "message": verdict });
    post(
        &client,
        &replicas[0],
        json!({ "update_id": 300, "callback_query": press }),
    )
    .await;
    let answered = fake.wait_for("answerCallbackQuery", 1, WAIT).await;
    // "Why?" on that verdict through each replica: one of them did not judge it.
    for (i, replica) in replicas.iter().enumerate() {
        let id = format!("why{i}");
        let press =
            json!({ "id": id, "from": fake::user(12), "chat_instance": "ci", "data": "why", "message": verdict });
        post(
            &client,
            replica,
            json!({ "update_id": 310 + i, "callback_query": press }),
        )
        .await;
    }
    let whys = fake.wait_for("sendPhoto", 2, WAIT).await;
    post(&client, &replicas[1], command(301, 45, 11, "/potatostats")).await;
    let stats = wait_for_chat(&fake, 45, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let twice = sent_to(&fake, 43);

    let mut logs = Vec::new();
    for r in replicas {
        let (status, log) = support::terminate(r.child).await;
        assert!(status.success(), "a replica exited with {status:?}:\n{log}");
        logs.push(log);
    }
    let logs = logs.join("\n");

    assert_eq!(facts.len(), 30, "every /potatofact answered: {facts:?}\n{logs}");
    let unique: HashSet<&String> = facts.iter().collect();
    assert_eq!(unique.len(), 30, "a fact was repeated across replicas: {facts:?}");
    assert_eq!(
        twice.len(),
        1,
        "an update posted to both replicas was answered {} times",
        twice.len()
    );
    assert_eq!(photos.len(), 6, "every photo answered: {photos:?}\n{logs}");
    let verdicts = photos.iter().filter(|t| t.starts_with("🥔 Potato!")).count();
    let throttled = photos.iter().filter(|t| t.contains("faster than I can peel")).count();
    assert_eq!(
        (verdicts, throttled),
        (IMAGES_PER_MINUTE, 6 - IMAGES_PER_MINUTE),
        "the budget holds across replicas: {photos:?}"
    );
    assert_eq!(answered[0]["text"], "Thanks for your vote!");
    assert_eq!(whys.len(), 2, "Why? answered by both replicas: {whys:?}\n{logs}");
    for why in &whys {
        assert!(
            why["caption"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Why: red is where I saw potato"),
            "{why}"
        );
    }
    let uploads = fake.uploads("sendPhoto");
    assert_eq!(uploads.len(), 2);
    assert_eq!(uploads[0].1, uploads[1].1, "the same picture from both replicas");
    assert!(
        stats[0].contains(&format!("{IMAGES_PER_MINUTE} images judged")) && stats[0].contains("Votes: 1 (1 👍, 0 👎)"),
        "{}",
        stats[0]
    );
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM deliveries"), 30 + 1 + 6 + 2 + 2);
    assert!(
        !logs.contains(TOKEN) && !logs.contains(SECRET),
        "a secret reached the logs:\n{logs}"
    );
}

/// Discord: two processes, shards 0/2 and 1/2 of one bot, against one fake gateway that routes
/// each guild's events to its shard as Discord does: every guild's command answered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_discord_processes_split_the_guilds_by_shard() {
    use ispotato_testkit::fake::discord as dfake;
    let Some(db) = TestDatabase::create("discord_shards") else {
        return;
    };
    let fake = dfake::Fake::start().await;
    let photo = std::fs::read(support::root().join("samples/potatoes_in_store_bin.jpg")).unwrap();
    fake.add_attachment("potato.jpg", photo);
    let start = |shards: &str| {
        support::bot_command(
            env!("CARGO_BIN_EXE_ispotato"),
            std::path::Path::new(db.url()),
            support::free_port(),
        )
        .env("DISCORD_TOKEN", "discord-replica-token")
        .env("ISPOTATO_DISCORD_API_URL", fake.url().as_str())
        .env("ISPOTATO_DISCORD_SHARDS", shards)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("TELEGRAM_TOKEN")
        .env_remove("TELEGRAM_TOKEN_FILE")
        .env("ISPOTATO_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a Discord process")
    };
    let processes = [start("0/2"), start("1/2")];
    let identified = fake.wait_for_identifies(2, WAIT).await;
    // Six guilds, three on each shard ((guild_id >> 22) % 2).
    let guilds: Vec<u64> = (1..=6).map(|k| k << 22).collect();
    for (i, guild) in guilds.iter().enumerate() {
        let attachment = dfake::attachment(
            "11",
            "spud.jpg",
            &fake.attachment_url("potato.jpg"),
            30_000,
            "image/jpeg",
        );
        let data = json!({ "id": "801", "name": "ispotato", "type": 1, "options": [{ "name": "image", "type": 11, "value": "11" }],
                           "resolved": { "attachments": { "11": attachment } } });
        let mut interaction = dfake::command(&format!("{}", 9100 + i), &format!("tok-{guild}"), data);
        interaction["guild_id"] = json!(guild.to_string());
        fake.dispatch("INTERACTION_CREATE", interaction).await;
    }
    let answers = fake.wait_for("/messages/@original", guilds.len(), WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers_later = fake.calls("/messages/@original");
    let mut logs = String::new();
    for p in processes {
        let (status, log) = support::terminate(p).await;
        assert!(status.success(), "a Discord process exited with {status:?}:\n{log}");
        logs += &log;
    }
    assert!(identified, "both shards identify; logs:\n{logs}");
    let mut shards = fake.state.identified_shards.lock().unwrap().clone();
    shards.sort();
    assert_eq!(shards, [(0, 2), (1, 2)], "one process per shard");
    assert_eq!(answers.len(), guilds.len(), "every guild answered; logs:\n{logs}");
    for guild in &guilds {
        let n = answers_later
            .iter()
            .filter(|(path, _)| path.contains(&format!("tok-{guild}")))
            .count();
        assert_eq!(n, 1, "guild {guild} answered {n} times");
    }
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM verdicts WHERE platform = 'discord'"),
        6
    );
}

/// One run of the replica benchmark: images/s, latency p50 and p99 (ms), answers that were
/// not a verdict, verdict rows stored.
struct LoadRun {
    images_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: usize,
    rows: i64,
}

/// `ispotato serve` (the binary under test, or ISPOTATO_LOAD_BIN) on `database`, budgets
/// opened wide; returns the process and its URL.
fn load_server(bin: &str, database: &str) -> (support::KillOnDrop, String) {
    let root = support::root();
    let mut server = support::KillOnDrop::new(
        std::process::Command::new(bin)
            .arg("serve")
            .env("ISPOTATO_DATABASE_PATH", database)
            .env("ISPOTATO_WEB_LISTEN", format!("127.0.0.1:{}", support::free_port()))
            .env("ISPOTATO_ADMIN_LISTEN", "off")
            .env("ISPOTATO_MODEL", root.join("models"))
            .env("ISPOTATO_TRIVIA", root.join("trivia"))
            .env("ISPOTATO_USER_IMAGES_PER_MINUTE", "100000")
            .env("ISPOTATO_GLOBAL_IMAGES_PER_MINUTE", "100000")
            .env("ISPOTATO_WEB_REQUESTS_PER_MINUTE", "100000")
            .env("ISPOTATO_QUEUE_CAPACITY", "64")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting `ispotato serve`"),
    );
    let url = support::wait_for_url(server.child());
    (server, url)
}

/// `clients` clients post `per_client` images each, spread round-robin over `urls`.
async fn load(urls: &[String], clients: usize, per_client: usize) -> (f64, Vec<u128>, usize) {
    let images = support::sample_images();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    for url in urls {
        // Warm up each replica (the first inference pays for lazy initialisation).
        assert_eq!(support::classify(&http, url, &images[0]).await.0, 200);
    }
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (http, urls, images) = (http.clone(), urls.to_vec(), images.clone());
        tasks.spawn(async move {
            let mut results = Vec::new();
            for i in 0..per_client {
                let sent = std::time::Instant::now();
                let (status, _) = support::classify(&http, &urls[(client + i) % urls.len()], &images[i % 2]).await;
                results.push((status == 200, sent.elapsed().as_micros()));
            }
            results
        });
    }
    let results: Vec<(bool, u128)> = tasks.join_all().await.into_iter().flatten().collect();
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<u128> = results.iter().map(|r| r.1).collect();
    latencies.sort();
    let failed = results.iter().filter(|r| !r.0).count();
    (results.len() as f64 / elapsed, latencies, failed)
}

/// A benchmark, not a test (`cargo test` skips it): the web API under load on SQLite with one
/// process, on PostgreSQL with one replica and with two (clients spread round-robin, as a
/// proxy would), in alternating rounds. Run it on a release build:
///
///   cargo build --release && ISPOTATO_LOAD_BIN=target/release/ispotato \
///     cargo test --test replicas -- --ignored --nocapture replica_load
///
/// On two cores the replicas share the same CPUs: this shows the overhead of the shared
/// database and that nothing is lost, not a speed-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: run it with --ignored --nocapture"]
async fn replica_load_benchmark() {
    let bin = std::env::var("ISPOTATO_LOAD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ispotato").to_string());
    let rounds: usize = std::env::var("ISPOTATO_LOAD_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (clients, per_client) = (8, 20);
    let setups = ["SQLite, 1 process", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas"];
    let mut runs: Vec<Vec<LoadRun>> = setups.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..setups.len() {
            // Rotate which setup goes first: machines drift.
            let setup = (k + round) % setups.len();
            let dir = std::env::temp_dir().join(format!("ispotato-replica-load-{}-{round}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let sqlite = dir.join("load.db").display().to_string();
            let pg = if setup == 0 {
                None
            } else {
                let Some(db) = TestDatabase::create("replica_load") else {
                    return;
                };
                Some(db)
            };
            let database = pg.as_ref().map_or(sqlite.clone(), |db| db.url().to_string());
            let servers: Vec<_> = (0..if setup == 2 { 2 } else { 1 })
                .map(|_| load_server(&bin, &database))
                .collect();
            let urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
            let (images_per_s, latencies, failed) = load(&urls, clients, per_client).await;
            for (server, _) in servers {
                support::terminate(server.take()).await;
            }
            let rows = match &pg {
                Some(db) => db.query_i64("SELECT COUNT(*) FROM verdicts"),
                None => {
                    let store =
                        ispotato_core::store::SqliteStore::open(ispotato_core::store::StoreConfig::new(&sqlite))
                            .unwrap();
                    ispotato_core::store::Store::counts(&store).unwrap().0 as i64
                }
            };
            let ms = |p: f64| support::percentile(&latencies, p) as f64 / 1000.0;
            runs[setup].push(LoadRun {
                images_per_s,
                p50_ms: ms(0.5),
                p99_ms: ms(0.99),
                failed,
                rows,
            });
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let images = clients * per_client;
    println!("\n{rounds} rounds, {clients} clients x {per_client} images each ({images} per run) on /api/v1/classify; medians\n");
    println!("| setup | images/s | p50 ms | p99 ms | failed | verdict rows per run |");
    println!("|---|---|---|---|---|---|");
    for (setup, runs) in setups.iter().zip(&runs) {
        println!(
            "| {setup} | {:.1} | {:.0} | {:.0} | {} | {} |",
            median(runs.iter().map(|r| r.images_per_s).collect()),
            median(runs.iter().map(|r| r.p50_ms).collect()),
            median(runs.iter().map(|r| r.p99_ms).collect()),
            runs.iter().map(|r| r.failed).sum::<usize>(),
            runs.iter().map(|r| r.rows.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    for (setup, runs) in setups.iter().zip(&runs) {
        for r in runs {
            assert_eq!(r.failed, 0, "{setup}: a request failed");
            // The warm-up image of each replica is a verdict too.
            let warm = if *setup == "PostgreSQL, 2 replicas" { 2 } else { 1 };
            assert_eq!(r.rows, (images + warm) as i64, "{setup}: a verdict row was lost");
        }
    }
}
