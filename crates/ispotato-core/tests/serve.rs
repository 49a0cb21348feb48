//! The judge use case under hostile timing: slow downloads give their queue place back after
//! the budget, and one user's slow requests cannot keep other users from being served. "Why?"
//! on a reply another replica judged.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ispotato_core::image::{FetchConfig, IngestLimits, LoopbackPolicy};
use ispotato_core::serve::compose::{self, SaltSource, ServicesConfig};
use ispotato_core::serve::{ImageInput, NamedImage, Platform, ReplyPlace, Services};
use ispotato_core::store::{DatabaseConfig, StoreConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `/slow` (headers, then one byte every 200 ms, forever) and `/fast` (a sample photo).
async fn server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let photo = Arc::new(std::fs::read(common::repo_root().join("samples/red_peppers.jpg")).unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let photo = photo.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                if request.starts_with("GET /fast") {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        photo.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&photo).await;
                } else {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: 1000000\r\n\r\n";
                    let _ = sock.write_all(head.as_bytes()).await;
                    for _ in 0..600 {
                        if sock.write_all(&[0xFF]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            });
        }
    });
    addr
}

fn services(name: &str, budget: Duration) -> Arc<Services> {
    let dir = std::env::temp_dir().join(format!("ispotato-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    services_on(&dir, budget, false)
}

/// Services on the database and salt in `dir` (a second call on the same `dir` is another
/// replica sharing them), keeping judged images in the store or not.
fn services_on(dir: &std::path::Path, budget: Duration, keep_images: bool) -> Arc<Services> {
    let mut store = StoreConfig::new(dir.join("db.sqlite"));
    store.keep_images = keep_images;
    let config = ServicesConfig {
        model_card: common::repo_root().join("models/ispotato.json"),
        backend: ispotato_core::model::BackendChoice::tract(),
        limits: IngestLimits::default(),
        fetch: FetchConfig {
            loopback: LoopbackPolicy::Allow,
            ..FetchConfig::default()
        },
        workers: 1,
        queue_capacity: 3,
        batch_waiting: false,
        database: DatabaseConfig::Sqlite(store),
        salt: SaltSource::File(dir.join("salt")),
        trivia: common::repo_root().join("trivia"),
        user_images_per_minute: 100,
        global_images_per_minute: 1000,
    };
    let mut services = compose::build(config).expect("services");
    services.judge = services.judge.clone().with_download_budget(budget);
    Arc::new(services)
}

fn url(addr: std::net::SocketAddr, path: &str) -> Vec<NamedImage> {
    vec![NamedImage {
        name: path.into(),
        input: ImageInput::url(format!("http://{addr}{path}")),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_downloads_give_their_place_back_and_other_users_are_still_served() {
    let addr = server().await;
    let services = services("slow", Duration::from_secs(3));
    let started = Instant::now();
    // One user sends three slow links at once: two are taken, the third is refused at once.
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let s = services.clone();
            tokio::spawn(async move { s.judge_images(Platform::Telegram, "attacker", url(addr, "/slow")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile someone else is answered, before the slow downloads run out of time.
    let other = services
        .judge_images(Platform::Telegram, "someone", url(addr, "/fast"))
        .await
        .expect("not throttled");
    assert!(
        other.images[0].result.is_ok(),
        "{:?}",
        other.images[0].result.as_ref().err()
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let mut reasons = Vec::new();
    for task in slow {
        reasons.push(match task.await.unwrap() {
            Ok(judgement) => judgement.images[0]
                .result
                .as_ref()
                .err()
                .map(|r| r.reason())
                .unwrap_or("judged"),
            Err(refusal) => refusal.reason(),
        });
    }
    reasons.sort();
    assert_eq!(reasons, vec!["timeout", "timeout", "user_busy"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "the budget bounds the slow ones: {took:?}"
    );
    assert_eq!(services.judge.queue().depth(), 0, "every place is given back");
    // The user may send again once the earlier requests are answered.
    assert!(services.take_quota(Platform::Telegram, "attacker", 1).await.is_ok());
}

/// "Why?" pressed on a reply another replica judged (this one never saw it): answered from the
/// image the store keeps, judged again, with the very picture the judging replica shows; refused,
/// saying to send the photo again, when the store keeps no images.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_on_another_replicas_reply_is_answered_from_the_kept_image() {
    let photo = std::fs::read(common::repo_root().join("samples/potatoes_in_store_bin.jpg")).unwrap();
    for keep_images in [true, false] {
        let dir = std::env::temp_dir().join(format!("ispotato-serve-why-{keep_images}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let judging = services_on(&dir, Duration::from_secs(5), keep_images);
        let other = services_on(&dir, Duration::from_secs(5), keep_images);
        let bytes = photo.clone();
        let image = NamedImage {
            name: "spud.jpg".into(),
            input: ImageInput::Download(Box::pin(async move { Ok(bytes) })),
        };
        let judgement = judging
            .judge_images(Platform::Telegram, "asker", vec![image])
            .await
            .expect("judged");
        let place = ReplyPlace {
            platform: Platform::Telegram,
            chat_id: "42".into(),
            message_id: "1000".into(),
        };
        judging.record_verdicts(&place, &judgement).await;

        let here = judging
            .why(&place, "presser")
            .await
            .expect("the judging replica remembers");
        let there = other.why(&place, "presser").await;
        if keep_images {
            let there = there.expect("answered from the kept image");
            assert_eq!(there, here, "the same picture on both replicas");
            let png = image::load_from_memory(&there).expect("a PNG");
            assert_eq!((png.width(), png.height()), (448, 448));
            // Kept now: a second press on that replica needs no store and no judging.
            assert!(other.explanations.recall(&place).is_some());
        } else {
            let refusal = there.expect_err("nothing kept to explain");
            assert_eq!(refusal.reason(), "explanation_gone");
        }
        let unknown = ReplyPlace {
            message_id: "999".into(),
            ..place
        };
        assert_eq!(
            other
                .why(&unknown, "presser")
                .await
                .expect_err("no such reply")
                .reason(),
            "explanation_gone"
        );
    }
}
