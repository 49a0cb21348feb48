//! Normal users stay served while hostile ones send CPU-heavy images. The real binary, the fake
//! Telegram on 127.0.0.1: four normal users send photos at a steady pace, first alone (the
//! baseline), then while two hostile users each send eight 40-megapixel progressive JPEGs with
//! nearly the most scans allowed (eight is as many as one user may have in flight), each as
//! heavy as one image can be: opened or refused at the decode's time budget.
//!
//! The bound: the workers serve users' lanes in turn, so a normal image waits for at most the
//! heavy jobs already running plus one heavy job per hostile user ahead of it in the round:
//! normal p99 under attack <= baseline p99 + (1 + hostile users / workers) x (the cost of one
//! heavy image, measured here) + 2 s. First-come-first-served would make it wait for every
//! heavy image queued before it (16 / workers of them). And every request, normal or hostile,
//! gets exactly one reply.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ispotato_testkit::fake::telegram as tg;

const TOKEN: &str = "78:HOSTILE-test-token";
const NORMAL_USERS: i64 = 4;
const ROUNDS: i64 = 3;
const HOSTILE_USERS: i64 = 2;
const HOSTILE_IMAGES: i64 = 8;

/// A 40 MP progressive JPEG with nearly as many scans as the decoder accepts (64), within the
/// 20 MB file cap.
fn heavy_jpeg() -> Vec<u8> {
    let (w, h) = (8192u16, 4880u16);
    let data: Vec<u8> = (0..h as usize)
        .flat_map(|y| (0..w as usize).flat_map(move |x| [(x / 4 + y / 6) as u8, ((x ^ y) / 16) as u8, (y / 3) as u8]))
        .collect();
    for quality in [50, 30, 15] {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        encoder.set_progressive(true);
        encoder.set_progressive_scans(21);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
        encoder
            .encode(&data, w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        if out.len() < 18 << 20 {
            return out;
        }
    }
    panic!("no quality fits the file cap")
}

/// Sends `ROUNDS` photos from each normal user (chats `base..`), one round every 400 ms, and
/// returns when each was sent, by (chat, message id).
async fn normal_traffic(fake: &tg::Fake, base: i64) -> HashMap<(i64, i64), u128> {
    let mut sent = HashMap::new();
    for round in 0..ROUNDS {
        for u in 0..NORMAL_USERS {
            let (chat, id) = (base + u, round + 1);
            let mut m = tg::photo_message(id, chat, "potato", 30_000);
            m["from"] = tg::user(chat);
            sent.insert((chat, id), tg::now_ms());
            fake.push_update("message", m);
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    sent
}

fn latencies(replies: &[serde_json::Value], sent: &HashMap<(i64, i64), u128>) -> Vec<u128> {
    let mut out: Vec<u128> = replies
        .iter()
        .filter_map(|r| {
            let key = (r["chat_id"].as_i64()?, r["reply_parameters"]["message_id"].as_i64()?);
            Some(r["_at_ms"].as_u64()? as u128 - sent.get(&key)?)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_users_stay_served_while_hostile_ones_send_heavy_images() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let potato = std::fs::read(root.join("samples/potatoes_in_store_bin.jpg")).unwrap();
    let heavy = heavy_jpeg();
    let shape = ispotato_core::image::jpeg_shape(&heavy);
    assert!(
        shape.scans > 48 && shape.scans <= ispotato_core::image::MAX_JPEG_SCANS,
        "{shape:?}"
    );
    // The cost of one heavy image here, decoded the way the bot decodes it: opened, or refused
    // when the decode's time budget runs out.
    let started = Instant::now();
    match ispotato_core::image::decode(&heavy, &ispotato_core::image::IngestLimits::default()) {
        Ok(_) | Err(ispotato_core::image::IngestError::TooSlowToDecode { .. }) => {}
        Err(e) => panic!("heavy but valid: {e:?}"),
    }
    let heavy_cost = started.elapsed();

    let fake = tg::Fake::start(TOKEN).await;
    fake.add_file("potato", Some(potato.clone()), potato.len() as u64);
    fake.add_file("heavy", Some(heavy.clone()), heavy.len() as u64);
    let dir = std::env::temp_dir().join(format!("ispotato-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = support::bot_command(env!("CARGO_BIN_EXE_ispotato"), &dir.join("hostile.db"), admin)
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("ISPOTATO_TELEGRAM_API_URL", fake.url().as_str())
        .spawn()
        .unwrap();
    fake.wait_for("getUpdates", 1, Duration::from_secs(60)).await;

    // Baseline: normal users alone.
    let baseline_sent = normal_traffic(&fake, 10_000).await;
    let replies = fake
        .wait_for("sendMessage", baseline_sent.len(), Duration::from_secs(120))
        .await;
    let baseline = latencies(&replies, &baseline_sent);
    assert_eq!(baseline.len(), baseline_sent.len(), "every baseline photo answered");

    // Attack: hostile users send all their heavy images at once, then normal users as before.
    let answered_before = replies.len();
    for u in 0..HOSTILE_USERS {
        for k in 0..HOSTILE_IMAGES {
            let chat = 20_000 + u;
            let mut m = tg::photo_message(k + 1, chat, "heavy", heavy.len() as u64);
            m["from"] = tg::user(chat);
            fake.push_update("message", m);
        }
    }
    let attacked_sent = normal_traffic(&fake, 30_000).await;
    let expected = answered_before + attacked_sent.len() + (HOSTILE_USERS * HOSTILE_IMAGES) as usize;
    let replies = fake.wait_for("sendMessage", expected, Duration::from_secs(300)).await;
    let attacked = latencies(&replies, &attacked_sent);
    let (status, _) = support::terminate(child).await;

    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u32;
    let bound = support::percentile(&baseline, 0.99)
        + (heavy_cost * (1 + (HOSTILE_USERS as u32).div_ceil(workers))).as_millis()
        + 2000;
    println!(
        "hostile load: one heavy image costs {} ms; normal p50/p99 {} / {} ms alone, {} / {} ms under attack (bound {} ms); {} replies",
        heavy_cost.as_millis(),
        support::percentile(&baseline, 0.5),
        support::percentile(&baseline, 0.99),
        support::percentile(&attacked, 0.5),
        support::percentile(&attacked, 0.99),
        bound,
        replies.len()
    );
    assert_eq!(
        replies.len(),
        expected,
        "every request, normal or hostile, gets exactly one reply"
    );
    assert_eq!(
        attacked.len(),
        attacked_sent.len(),
        "every normal photo under attack answered"
    );
    assert!(
        support::percentile(&attacked, 0.99) <= bound,
        "normal p99 {} ms over the bound {bound} ms",
        support::percentile(&attacked, 0.99)
    );
    assert!(status.success(), "clean exit: {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
