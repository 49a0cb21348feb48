//! The web front end over HTTP: every route and every refusal, against services built by the
//! same composition root as `ispotato serve`. Each API answer is checked against the served
//! OpenAPI document.

mod support;

use std::time::{Duration, Instant};

use ispotato_testkit::sample;
use serde_json::{json, Value};
use support::openapi::OpenApi;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const POTATO: &str = "potatoes_in_store_bin.jpg";
const NOT_POTATO: &str = "red_peppers.jpg";

async fn openapi(web: &TestWeb) -> OpenApi {
    let doc: Value = web
        .program()
        .get(web.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    OpenApi::new(doc)
}

/// Sends an API request, checks the answer against the document, returns status and body.
async fn api(
    api: &OpenApi,
    method: &str,
    path: &str,
    request: reqwest::RequestBuilder,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{method} {path} {status}"
    );
    let body: Value = response.json().await.unwrap();
    api.check(method, path, status, &body);
    (status, body, headers)
}

/// The page's form as a browser posts it: the page's token, one image file, the empty URL field.
fn page_form(csrf: &str, name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .part("image", image_part(name, bytes))
        .text("url", "")
}

#[tokio::test]
async fn the_page_sets_a_browser_cookie_and_strict_security_headers() {
    let web = spawn_web("page", |_| {}, |_| {}).await;
    let response = web.program().get(web.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("ispotato_browser=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let page = response.text().await.unwrap();
    // The form works without script: a multipart post to /judge with the token.
    assert!(page.contains("action=\"/judge\"") && page.contains("enctype=\"multipart/form-data\""));
    assert!(page.contains("capture=\"environment\"") && page.contains("name=\"url\""));
    assert_eq!(csrf_in(&page).len(), 32);
    // No inline script or style for the policy to block.
    assert_eq!(page.matches("<script").count(), page.matches("<script src=").count());
    assert!(!page.contains("style=\"") && !page.contains("<style"));
    // Every asset is embedded and served.
    for (path, kind) in [
        ("/assets/style.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = web.program().get(web.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
    }
    // Unknown pages get a friendly page, the API gets JSON.
    let missing = web.program().get(web.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("not even a potato"));
    let missing = web.program().get(web.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "not_found");
}

#[tokio::test]
async fn a_form_post_judges_then_votes_change_and_stats_count_them() {
    let web = spawn_web("form", |_| {}, |_| {}).await;
    let browser = web.browser();
    let csrf = open_page(&web, &browser).await;
    let form = page_form(&csrf, "spud.jpg", sample(POTATO));
    let response = browser.post(web.url("/judge")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    // A whole page (no script needed) with the verdict, the bar, the crop, the votes, a fact.
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("Potato!"), "{page}");
    assert!(page.contains("% sure") && page.contains("Potato probability"));
    assert!(
        page.contains("src=\"data:image/jpeg;base64,"),
        "the judged crop is shown"
    );
    assert!(page.contains("Model 0.") && page.contains("spud.jpg"));
    assert!(page.contains("🥔 Potato fact"));
    let verdict = verdict_in(&page);
    assert_eq!(verdict.len(), 32);
    assert_eq!(web.test.counts(), (1, 0, 0), "one verdict, no votes, no image kept");

    let vote = |agree: &'static str| {
        browser
            .post(web.url("/vote"))
            .form(&[("csrf", csrf.as_str()), ("verdict", verdict.as_str()), ("agree", agree)])
            .send()
    };
    let first = vote("no").await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("Thanks for your vote!"));
    let changed = vote("yes").await.unwrap().text().await.unwrap();
    assert!(changed.contains("Vote changed"), "{changed}");
    let again = vote("yes").await.unwrap().text().await.unwrap();
    assert!(again.contains("Already counted"), "{again}");
    assert_eq!(
        web.test.counts(),
        (1, 1, 0),
        "one vote per browser per verdict, the latest wins"
    );

    let stats = text_of(&browser, &web.url("/stats?window=all")).await;
    assert!(stats.contains("<strong id=\"verdicts-total\">1</strong>"), "{stats}");
    assert!(stats.contains("<span id=\"votes-total\">1</span>"));
    assert!(
        stats.contains("<span id=\"votes-agree\">1</span>") && stats.contains("<span id=\"votes-disagree\">0</span>")
    );
    assert!(
        stats.contains("<th scope=\"row\">web</th><td>1</td>"),
        "counted under web as potato: {stats}"
    );
    for window in ["24h", "7d"] {
        let s = browser
            .get(web.url(&format!("/stats?window={window}")))
            .send()
            .await
            .unwrap();
        assert_eq!(s.status(), 200);
    }
    assert_eq!(
        browser.get(web.url("/stats?window=1y")).send().await.unwrap().status(),
        400
    );

    // The script's request gets the result alone, to swap in.
    let form = page_form(&csrf, "peppers.jpg", sample(NOT_POTATO));
    let fragment = browser
        .post(web.url("/judge"))
        .header("x-requested-with", "fetch")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(fragment.starts_with("<section id=\"result\""), "{fragment}");
    assert!(fragment.contains("Not a potato"));

    let metrics = web.metrics();
    assert!(
        metrics.contains("ispotato_images_judged_total{platform=\"web\",verdict=\"potato\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispotato_feedback_votes_total{platform=\"web\",source=\"button\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispotato_http_requests_total{route=\"/judge\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispotato_http_request_seconds_count{route=\"/vote\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn form_posts_without_the_browsers_token_are_refused_and_store_nothing() {
    let web = spawn_web("csrf", |_| {}, |_| {}).await;
    let browser = web.browser();
    let _ = open_page(&web, &browser).await;
    let post = |csrf: Option<String>| {
        let mut form = reqwest::multipart::Form::new().part("image", image_part("a.jpg", sample(POTATO)));
        if let Some(c) = csrf {
            form = form.text("csrf", c);
        }
        browser.post(web.url("/judge")).multipart(form).send()
    };
    let missing = post(None).await.unwrap();
    assert_eq!(missing.status(), 403);
    assert!(missing.text().await.unwrap().contains("reload the page"));
    // Another browser's token does not fit this browser's cookie.
    let other = web.browser();
    let foreign = open_page(&web, &other).await;
    assert_eq!(post(Some(foreign)).await.unwrap().status(), 403);
    // A cookie-less post (a cross-site form: the cookie is SameSite=Lax) is refused too.
    let form = reqwest::multipart::Form::new().part("image", image_part("a.jpg", sample(POTATO)));
    assert_eq!(
        web.program()
            .post(web.url("/judge"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Votes need the token as well.
    let vote = browser
        .post(web.url("/vote"))
        .form(&[("verdict", "0".repeat(32).as_str()), ("agree", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(vote.status(), 403);
    // The page's script calling the API with its cookie must send the token in a header.
    let api = post_jpeg(&browser, web.url("/api/v1/classify"), sample(POTATO))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    assert_eq!(web.test.counts(), (0, 0, 0));
    assert!(
        web.metrics()
            .contains("ispotato_rejections_total{platform=\"web\",reason=\"csrf\"} 5"),
        "{}",
        web.metrics()
    );
}

#[tokio::test]
async fn the_api_judges_multipart_raw_and_url_bodies_as_documented() {
    let web = spawn_web("api", |_| {}, |_| {}).await;
    let doc = openapi(&web).await;
    let client = web.program();
    let classify = web.url("/api/v1/classify");

    let form = reqwest::multipart::Form::new().part("image", image_part("spud.jpg", sample(POTATO)));
    let (status, multipart, _) = api(&doc, "post", "/api/v1/classify", client.post(&classify).multipart(form)).await;
    assert_eq!(status, 200, "{multipart}");
    assert_eq!(multipart["label"], "potato");
    assert_eq!(multipart["input"], "spud.jpg");
    assert!(multipart.get("thumbnail").is_none());

    let raw = post_jpeg(&client, format!("{classify}?thumbnail=true"), sample(NOT_POTATO));
    let (status, raw, _) = api(&doc, "post", "/api/v1/classify", raw).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(raw["label"], "not_potato");
    assert!(raw["thumbnail"]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg;base64,"));

    let url = image_server(sample(POTATO), Duration::ZERO).await;
    let (status, by_url, _) = api(
        &doc,
        "post",
        "/api/v1/classify",
        client.post(&classify).json(&json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200, "{by_url}");
    assert_eq!(by_url["input"], url.as_str());
    // The same image answers the same, whichever way it came.
    assert_eq!(by_url["sha256"], multipart["sha256"]);
    assert_eq!(by_url["probability"], multipart["probability"]);
    assert_eq!(web.test.counts().0, 3);

    // Feedback on it, then a changed mind; an unknown verdict is a 404.
    let feedback = web.url("/api/v1/feedback");
    let vote = |agree: bool| {
        client
            .post(&feedback)
            .json(&json!({ "verdict_id": multipart["verdict_id"], "agree": agree }))
    };
    let (status, first, _) = api(&doc, "post", "/api/v1/feedback", vote(true)).await;
    assert_eq!((status, first["outcome"].as_str()), (200, Some("recorded")));
    let (_, second, _) = api(&doc, "post", "/api/v1/feedback", vote(false)).await;
    assert_eq!(second["outcome"], "changed");
    let unknown = client
        .post(&feedback)
        .json(&json!({ "verdict_id": "f".repeat(32), "agree": true }));
    let (status, body, _) = api(&doc, "post", "/api/v1/feedback", unknown).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_verdict")));
    let malformed = client
        .post(&feedback)
        .header("content-type", "application/json")
        .body("{\"agree\": 1}");
    let (status, body, _) = api(&doc, "post", "/api/v1/feedback", malformed).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));

    // Facts do not repeat for the same client.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let (status, fact, _) = api(&doc, "get", "/api/v1/fact", client.get(web.url("/api/v1/fact"))).await;
        assert_eq!(status, 200);
        assert!(
            seen.insert(fact["id"].as_str().unwrap().to_string()),
            "a fact repeated: {fact}"
        );
    }
}

#[tokio::test]
async fn the_api_refuses_bad_images_and_urls_with_json_errors() {
    let web = spawn_web("refusals", |_| {}, |_| {}).await;
    let doc = openapi(&web).await;
    let client = web.program();
    let classify = web.url("/api/v1/classify");
    let raw = |body: Vec<u8>, kind: &str| client.post(&classify).header("content-type", kind).body(body);

    let (status, body, _) = api(
        &doc,
        "post",
        "/api/v1/classify",
        raw(b"just some text, not pixels".to_vec(), "image/png"),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (415, Some("not_an_image")), "{body}");
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.resize(4096, 0);
    let (status, body, _) = api(&doc, "post", "/api/v1/classify", raw(heic, "image/heic")).await;
    assert_eq!(status, 415, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("HEIC"),
        "the format is named: {body}"
    );
    let (status, body, _) = api(&doc, "post", "/api/v1/classify", raw(Vec::new(), "image/jpeg")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("no_image")));
    let (status, body, _) = api(&doc, "post", "/api/v1/classify", raw(b"x".to_vec(), "text/plain")).await;
    assert_eq!((status, body["error"].as_str()), (415, Some("unsupported_media_type")));
    let (status, body, _) = api(
        &doc,
        "post",
        "/api/v1/classify",
        raw(b"{\"uri\": 1}".to_vec(), "application/json"),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    // The SSRF guard: private and link-local addresses, other schemes.
    for (url, code) in [
        ("http://169.254.169.254/latest/meta-data", "forbidden_address"),
        ("http://10.1.2.3/x.jpg", "forbidden_address"),
        ("file:///etc/passwd", "unsupported_scheme"),
    ] {
        let (status, body, _) = api(
            &doc,
            "post",
            "/api/v1/classify",
            client.post(&classify).json(&json!({ "url": url })),
        )
        .await;
        assert_eq!(body["error"], code, "{url}: {body}");
        assert!(status == 422 || status == 400, "{url}: {status}");
        assert!(
            !body["message"].as_str().unwrap().contains("169.254.169.254/latest"),
            "no echo of internals"
        );
    }
    assert_eq!(web.test.counts(), (0, 0, 0));
    // Each refusal counted once under web.
    let metrics = web.metrics();
    assert!(
        metrics.contains("ispotato_rejections_total{platform=\"web\",reason=\"forbidden_address\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispotato_rejections_total{platform=\"web\",reason=\"not_an_image\"} 1"),
        "{metrics}"
    );
}

/// Reads an HTTP answer off a raw socket (up to `within`).
async fn raw_answer(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    let mut buf = vec![0u8; 16 * 1024];
    let mut text = String::new();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) if !text.is_empty() => break,
            Err(_) => {}
        }
    }
    text
}

#[tokio::test]
async fn too_large_uploads_are_refused_before_the_whole_body_is_read() {
    let web = spawn_web("too-large", |c| c.limits.max_bytes = 300 * 1024, |_| {}).await;
    // Declared too large: refused at once, having sent only the head.
    let mut stream = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    let head =
        "POST /api/v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 50000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = raw_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\":\"too_large\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Undeclared (chunked): refused once the stream passes the cap, not at its end.
    let mut stream = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    let head = "POST /judge HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk, b"\r\n".to_vec()].concat();
    let total = 64 * 1024 * 1024;
    let (mut sent, mut answer) = (0usize, String::new());
    while sent < total {
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&framed)).await {
            Ok(Ok(())) => sent += 64 * 1024,
            _ => break,
        }
        let mut buf = [0u8; 4096];
        if let Ok(n) = stream.try_read(&mut buf) {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            if n > 0 {
                break;
            }
        }
    }
    assert!(sent < total / 2, "the server kept reading: {sent} bytes");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Through the page, a file over the cap gets the friendly page.
    let browser = web.browser();
    let csrf = open_page(&web, &browser).await;
    let big = vec![0xAB; 400 * 1024];
    let form = page_form(&csrf, "big.jpg", big);
    let page = browser.post(web.url("/judge")).multipart(form).send().await.unwrap();
    assert_eq!(page.status(), 413);
    assert!(page.text().await.unwrap().contains("too large"));
    assert_eq!(web.test.counts(), (0, 0, 0));
}

#[tokio::test]
async fn clients_over_their_budget_get_429_with_retry_after() {
    let web = spawn_web("rate", |c| c.user_images_per_minute = 2, |w| w.requests_per_minute = 12).await;
    let doc = openapi(&web).await;
    let client = web.program();
    let classify = || post_jpeg(&client, web.url("/api/v1/classify"), sample(NOT_POTATO));
    for _ in 0..2 {
        assert_eq!(api(&doc, "post", "/api/v1/classify", classify()).await.0, 200);
    }
    let (status, body, headers) = api(&doc, "post", "/api/v1/classify", classify()).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("rate_limited")), "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(body["retry_after_s"], retry);
    // The request budget (12 a minute, the openapi fetch and three classify so far) covers
    // pages too; assets are free.
    for _ in 0..8 {
        assert_eq!(
            client.get(web.url("/assets/style.css")).send().await.unwrap().status(),
            200
        );
        let _ = client.get(web.url("/")).send().await.unwrap();
    }
    let page = client.get(web.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("a lot of requests"));
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    for trusted in [false, true] {
        let web = spawn_web(
            &format!("proxy-{trusted}"),
            |c| c.user_images_per_minute = 1,
            |w| {
                if trusted {
                    w.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
                }
            },
        )
        .await;
        let client = web.program();
        let mut statuses = Vec::new();
        for forwarded in ["198.51.100.1", "198.51.100.2"] {
            let r = client
                .post(web.url("/api/v1/classify"))
                .header("content-type", "image/jpeg")
                .header("x-forwarded-for", forwarded)
                .body(sample(NOT_POTATO))
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        // Behind a trusted proxy the two clients have a quota each; otherwise the header is
        // ignored and the second image is over the one loopback client's quota.
        let expected = if trusted { vec![200, 200] } else { vec![200, 429] };
        assert_eq!(statuses, expected, "trusted proxy: {trusted}");
    }
}

#[tokio::test]
async fn a_full_queue_answers_busy_without_waiting() {
    let web = spawn_web("busy", |c| c.queue_capacity = 1, |_| {}).await;
    let doc = openapi(&web).await;
    // A slow image server holds the only queue place while its download trickles.
    let slow = image_server(sample(POTATO), Duration::from_secs(3)).await;
    let client = web.program();
    let first = {
        let (client, url) = (client.clone(), web.url("/api/v1/classify"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "url": slow }))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other = reqwest::Client::new();
    let started = Instant::now();
    let request = post_jpeg(&other, web.url("/api/v1/classify"), sample(NOT_POTATO));
    let (status, body, headers) = api(&doc, "post", "/api/v1/classify", request).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("busy")), "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered without waiting for the queue"
    );
    assert_eq!(first.await.unwrap(), 200);
}

#[tokio::test]
async fn uploads_are_kept_only_when_the_operator_keeps_images() {
    let web = spawn_web("keep", |c| c.database.set_keep_images(true), |_| {}).await;
    let r = post_jpeg(&web.program(), web.url("/api/v1/classify"), sample(POTATO))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(web.test.counts(), (1, 0, 1));
}

#[tokio::test]
async fn the_model_page_renders_the_card_and_serves_only_its_images() {
    let web = spawn_web("model", |_| {}, |_| {}).await;
    let client = web.program();
    let page = text_of(&client, &web.url("/model")).await;
    let card: Value =
        serde_json::from_str(&std::fs::read_to_string(ispotato_testkit::root().join("models/ispotato.json")).unwrap())
            .unwrap();
    let version = card["version"].as_str().unwrap();
    assert!(page.contains(&format!("{version}</h1>")), "the version heads the page");
    assert!(page.contains("<table>"), "the card's tables are rendered");
    assert!(page.contains("Validation precision"));
    let png = client.get(web.url("/model/reliability.png")).send().await.unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    for path in [
        "/model/ispotato.json",
        "/model/..%2Fispotato.json",
        "/model/MODEL_CARD.md",
    ] {
        assert_eq!(client.get(web.url(path)).send().await.unwrap().status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweet_potato_is_named_and_the_evidence_map_is_shown_and_served() {
    let web = spawn_web("kinds", |_| {}, |_| {}).await;
    let browser = web.browser();
    let csrf = open_page(&web, &browser).await;
    let form = page_form(&csrf, "sweet.jpg", sample("sweet_potatoes.jpg"));
    let page = browser
        .post(web.url("/judge"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("That's a sweet potato, not a potato"), "{page}");
    assert!(page.contains("Sweet potatoes are morning glories."), "{page}");
    let fact = page.split("Potato fact</h3><p>").nth(1).unwrap_or_default();
    assert!(
        fact.to_lowercase().contains("sweet potato"),
        "a fact about sweet potatoes: {fact}"
    );
    let why = page
        .split("<details class=\"why\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no Why? block: {page}"));
    assert!(
        why.contains("src=\"data:image/jpeg;base64,") && why.contains("Red: where I saw potato"),
        "{why}"
    );
    // Shown with the verdict, so the chats' Why? memory keeps none of it.
    let place = ispotato_core::prelude::ReplyPlace {
        platform: ispotato_core::prelude::Platform::Web,
        chat_id: "web".into(),
        message_id: verdict_in(&page),
    };
    assert!(web.test.services.explanations.recall(&place).is_none());

    let doc = openapi(&web).await;
    let client = web.program();
    let classify = web.url("/api/v1/classify");
    let (status, sweet, _) = api(
        &doc,
        "post",
        "/api/v1/classify",
        post_jpeg(&client, classify.clone(), sample("sweet_potatoes.jpg")),
    )
    .await;
    assert_eq!(status, 200, "{sweet}");
    assert_eq!(
        (sweet["label"].as_str(), sweet["answer"].as_str()),
        (Some("not_potato"), Some("sweet_potato"))
    );
    assert!(sweet["kinds"]["sweet_potato"].as_f64().unwrap() > 0.5, "{sweet}");
    assert!(sweet.get("evidence").is_none(), "only when asked");

    let (status, potato, _) = api(
        &doc,
        "post",
        "/api/v1/classify",
        post_jpeg(&client, format!("{classify}?explain=true"), sample(POTATO)),
    )
    .await;
    assert_eq!(status, 200, "{potato}");
    assert_eq!(potato["answer"], "potato");
    let evidence = &potato["evidence"];
    assert_eq!(
        (evidence["rows"].as_u64(), evidence["cols"].as_u64()),
        (Some(7), Some(7)),
        "{evidence}"
    );
    let cells: Vec<f64> = evidence["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(cells.len(), 49);
    // The map's mean plus the bias is the head's logit: positive for this potato.
    let logit = cells.iter().sum::<f64>() / 49.0 + evidence["bias"].as_f64().unwrap();
    assert!(logit > 0.0, "{logit}");
    assert!(evidence["overlay"]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg;base64,"));
}
