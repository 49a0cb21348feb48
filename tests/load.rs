//! A bounded load test of the real binary with both front ends: simulated users send images
//! through the fake Telegram and Discord servers on 127.0.0.1. It proves no reply and no
//! verdict row is lost and prints throughput, latency percentiles, time to ready and memory.
//! Small by default (it runs in `cargo test`); scale it with ISPOTATO_LOAD_USERS and
//! ISPOTATO_LOAD_IMAGES, and time a release build with ISPOTATO_LOAD_BIN=target/release/ispotato
//! (run with --nocapture to see the table).

mod support;

use ispotato_testkit::fake::discord as dc;
use ispotato_testkit::fake::telegram as tg;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

const TG_TOKEN: &str = "77:LOAD-test-token";
const DC_TOKEN: &str = "MTIz.load-test-token.x";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_through_both_fakes_loses_nothing() {
    let users = env_usize("ISPOTATO_LOAD_USERS", 4);
    let per_user = env_usize("ISPOTATO_LOAD_IMAGES", 3);
    let bin = std::env::var("ISPOTATO_LOAD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ispotato").to_string());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let potato = std::fs::read(root.join("samples/potatoes_in_store_bin.jpg")).unwrap();
    let peppers = std::fs::read(root.join("samples/red_peppers.jpg")).unwrap();

    let tgf = tg::Fake::start(TG_TOKEN).await;
    let dcf = dc::Fake::start().await;
    tgf.add_file("potato", Some(potato.clone()), potato.len() as u64);
    tgf.add_file("peppers", Some(peppers.clone()), peppers.len() as u64);
    dcf.add_attachment("potato.jpg", potato.clone());
    dcf.add_attachment("peppers.jpg", peppers.clone());

    let dir = std::env::temp_dir().join(format!("ispotato-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("load.db");
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let child = support::bot_command(&bin, &db, admin)
        .env("TELOXIDE_TOKEN", TG_TOKEN)
        .env("ISPOTATO_TELEGRAM_API_URL", tgf.url().as_str())
        .env("DISCORD_TOKEN", DC_TOKEN)
        .env("ISPOTATO_DISCORD_API_URL", dcf.url().as_str())
        .env("ISPOTATO_DISCORD_SHARDS", "1")
        .env("ISPOTATO_USER_IMAGES_PER_MINUTE", "100000")
        .env("ISPOTATO_GLOBAL_IMAGES_PER_MINUTE", "100000")
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut ready_after = None;
    for _ in 0..600 {
        if ready(admin).await {
            ready_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = ready_after.expect("never ready");
    let idle_rss = proc_kb(pid, "VmRSS:") / 1024.0;

    // Each user sends `per_user` images on each platform.
    let mut sent_at: HashMap<String, u128> = HashMap::new();
    let t0 = tg::now_ms();
    for u in 0..users {
        for k in 0..per_user {
            let file = if (u + k) % 2 == 0 { "potato" } else { "peppers" };
            let id = (u * 1000 + k + 1) as i64;
            let mut m = tg::photo_message(id, 10_000 + u as i64, file, 30_000);
            m["from"] = tg::user(500 + u as i64);
            sent_at.insert(format!("tg:{}:{id}", 10_000 + u), tg::now_ms());
            tgf.push_update("message", m);
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
            sent_at.insert(format!("dc:{token}"), tg::now_ms());
            dcf.dispatch("INTERACTION_CREATE", interaction).await;
        }
    }
    let expected = users * per_user;
    let tg_replies = tgf.wait_for("sendMessage", expected, Duration::from_secs(300)).await;
    let dc_replies = {
        let deadline = Instant::now() + Duration::from_secs(300);
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
    let peak_rss = proc_kb(pid, "VmHWM:") / 1024.0;
    let (status, _) = support::terminate(child).await;

    let mut latencies = Vec::new();
    let mut verdict_replies = 0u64;
    for r in &tg_replies {
        let chat = r["chat_id"].as_i64().unwrap();
        let msg = r["reply_parameters"]["message_id"].as_i64().unwrap();
        if let Some(t) = sent_at.get(&format!("tg:{chat}:{msg}")) {
            latencies.push(r["_at_ms"].as_u64().unwrap() as u128 - t);
        }
        let text = r["text"].as_str().unwrap_or_default();
        verdict_replies += (text.starts_with("🥔") || text.starts_with("🚫") || text.starts_with("🤔")) as u64;
    }
    let (edits, follow) = &dc_replies;
    for (path, body) in edits.iter().chain(follow.iter()) {
        let token = path.split('/').nth(5).unwrap_or_default();
        if let Some(t) = sent_at.get(&format!("dc:{token}")) {
            let at = body["_at_ms"].as_u64().unwrap_or_else(|| panic!("{path}: {body}"));
            latencies.push(at as u128 - t);
        }
    }
    verdict_replies += edits
        .iter()
        .filter(|(_, b)| b["content"].as_str().is_some_and(|c| !c.starts_with("Sorry")))
        .count() as u64;
    latencies.sort();
    let store = ispotato_core::store::SqliteStore::open(ispotato_core::store::StoreConfig::new(&db)).unwrap();
    let rows = ispotato_core::store::Store::counts(&store).unwrap().0;
    let requests = 2 * expected;
    let replies = tg_replies.len() + edits.len() + follow.len();
    println!(
        "load: {requests} images ({users} users x {per_user} images on each platform); {replies} replies ({} lost), {verdict_replies} verdicts, {} busy or refused, {rows} verdict rows",
        requests.saturating_sub(replies),
        replies as u64 - verdict_replies
    );
    println!(
        "throughput {:.1} images/s; latency p50 {} ms, p99 {} ms; ready after {} ms; RSS idle {:.1} MB, peak {:.1} MB",
        replies as f64 * 1000.0 / elapsed_ms as f64,
        support::percentile(&latencies, 0.5),
        support::percentile(&latencies, 0.99),
        ready_after.as_millis(),
        idle_rss,
        peak_rss
    );
    assert_eq!(replies, requests, "every request gets exactly one reply");
    assert_eq!(rows, verdict_replies, "every verdict reply has its row");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
