//! A bounded load test of the web API on loopback, against the real binary: 4 clients post
//! 40 images each to `/api/v1/classify` at once. Prints images/s, latency p50/p99 and the
//! server's peak memory; fails if any request is lost or refused, if the stored verdicts do
//! not match, or if the server's memory runs away.

mod support;

use std::time::{Duration, Instant};

use support::{free_port, percentile, serve_command, terminate, wait_for_url, KillOnDrop};

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 40;

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_under_load_answers_every_image_once() {
    let dir = std::env::temp_dir().join(format!("ispotato-web-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = KillOnDrop::new(
        serve_command(&dir.join("db.sqlite"), free_port())
            .env("ISPOTATO_USER_IMAGES_PER_MINUTE", "100000")
            .env("ISPOTATO_GLOBAL_IMAGES_PER_MINUTE", "100000")
            .env("ISPOTATO_WEB_REQUESTS_PER_MINUTE", "100000")
            .env("ISPOTATO_QUEUE_CAPACITY", "64")
            .spawn()
            .unwrap(),
    );
    let base = wait_for_url(server.child());
    let images = support::sample_images();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    // Warm up (the first inference pays for lazy initialisation).
    assert_eq!(support::classify(&http, &base, &images[0]).await.0, 200);

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (http, base, images) = (http.clone(), base.clone(), images.clone());
        tasks.spawn(async move {
            let mut results = Vec::with_capacity(PER_CLIENT);
            for i in 0..PER_CLIENT {
                let sent = Instant::now();
                let (status, body) = support::classify(&http, &base, &images[(client + i) % 2]).await;
                let id = body["verdict_id"].as_str().map(str::to_string);
                results.push((status, id, sent.elapsed().as_micros()));
            }
            results
        });
    }
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        results.extend(done.unwrap());
    }
    let wall = started.elapsed();
    let total = CLIENTS * PER_CLIENT;
    let ok = results.iter().filter(|(s, id, _)| *s == 200 && id.is_some()).count();
    let ids: std::collections::HashSet<_> = results.iter().filter_map(|(_, id, _)| id.clone()).collect();
    let mut latencies: Vec<u128> = results.iter().map(|(_, _, us)| *us).collect();
    latencies.sort_unstable();
    let rss = peak_rss_mb(server.child().id());
    let stats = http
        .get(format!("{base}stats?window=all"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!("| images | clients | ok | images/s | p50 ms | p99 ms | peak RSS MB |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {total} | {CLIENTS} | {ok} | {:.1} | {:.1} | {:.1} | {} |",
        total as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.5) as f64 / 1e3,
        percentile(&latencies, 0.99) as f64 / 1e3,
        rss.map(|r| format!("{r:.0}")).unwrap_or_else(|| "?".into()),
    );
    let (status, _) = terminate(server.take()).await;
    assert_eq!(
        ok,
        total,
        "every image answered: {:?}",
        results.iter().filter(|r| r.0 != 200).take(3).collect::<Vec<_>>()
    );
    assert_eq!(ids.len(), total, "each verdict has its own id");
    // The warm-up image and the load, each stored once.
    assert!(
        stats.contains(&format!("<strong id=\"verdicts-total\">{}</strong>", total + 1)),
        "every verdict stored once"
    );
    if let Some(rss) = rss {
        assert!(rss < 400.0, "peak memory {rss:.0} MB");
    }
    assert!(status.success(), "{status}");
}
