//! The web page in a real browser (Debian's Chromium through chromedriver) against the real
//! binary: upload a photo with the file input and read the verdict, press Wrong, see the vote
//! on /stats; the same upload with JavaScript off; a phone-sized window. Screenshots are saved
//! under `target/tmp/web-screenshots/`.
//!
//! Skips, saying why, where chromedriver is not installed (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs them).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{free_port, serve_command, terminate, wait_for_url, KillOnDrop};

const WAIT: Duration = Duration::from_secs(60);

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .display()
        .to_string()
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(binary: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A headless Chromium session; `javascript: false` switches script off for the whole profile.
async fn browser(driver: &Driver, javascript: bool, size: (u32, u32)) -> Client {
    let mut options = json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            format!("--window-size={},{}", size.0, size.1),
        ],
    });
    if !javascript {
        options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn wait_for_text(client: &Client, css: &str, wanted: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if text.contains(wanted) {
                    return text;
                }
            }
        }
        assert!(started.elapsed() < WAIT, "{css} never showed {wanted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Chooses a bundled sample in the page's file input (the script sends it at once).
async fn choose_file(client: &Client, name: &str) {
    let input = client.find(Locator::Css("#image")).await.unwrap();
    input.send_keys(&sample(name)).await.unwrap();
}

/// Presses the button whose text contains `label`.
async fn press(client: &Client, label: &str) {
    let xpath = format!("//button[contains(., '{label}')]");
    client
        .find(Locator::XPath(&xpath))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Whether the page is no wider than the window (no sideways scrolling).
async fn fits_the_width(client: &Client) -> bool {
    let script = "return document.documentElement.scrollWidth <= window.innerWidth;";
    client.execute(script, vec![]).await.unwrap() == json!(true)
}

async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let path = screenshots().join(name);
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    println!("screenshot: {}", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_chromium_judges_takes_a_vote_and_works_without_script_and_on_a_phone() {
    let Some(driver_bin) = chromedriver() else {
        eprintln!(
            "SKIPPED: chromedriver not found (/usr/bin/chromedriver); install the browser with \
             `apt-get install chromium chromium-driver` to run the browser tests"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("ispotato-web-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = KillOnDrop::new(serve_command(&dir.join("db.sqlite"), free_port()).spawn().unwrap());
    let base = wait_for_url(server.child());
    let driver = start_driver(&driver_bin).await;

    // With script: choosing the file sends it; the answer appears without a reload.
    let c = browser(&driver, true, (1280, 900)).await;
    c.goto(&base).await.unwrap();
    c.execute("window.__noReload = 1; return null;", vec![]).await.unwrap();
    choose_file(&c, "potatoes_in_store_bin.jpg").await;
    let headline = wait_for_text(&c, "#result h2", "Potato!").await;
    assert!(headline.contains("Potato!"), "{headline}");
    let still = c.execute("return window.__noReload === 1;", vec![]).await.unwrap();
    assert_eq!(still, json!(true), "the page was not reloaded");
    let thumb = c.find(Locator::Css("#result img.thumb")).await.unwrap();
    assert!(thumb.attr("src").await.unwrap().unwrap().starts_with("data:image/jpeg"));
    assert!(thumb.attr("alt").await.unwrap().is_some_and(|a| !a.is_empty()));
    screenshot(&c, "1-verdict.png").await;
    press(&c, "Wrong").await;
    wait_for_text(&c, "#result .thanks", "Thanks for your vote!").await;
    c.goto(&format!("{base}stats?window=all")).await.unwrap();
    assert_eq!(wait_for_text(&c, "#votes-disagree", "1").await, "1");
    assert_eq!(
        c.find(Locator::Css("#verdicts-total"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "1"
    );
    screenshot(&c, "2-stats.png").await;
    c.goto(&format!("{base}model")).await.unwrap();
    wait_for_text(&c, "h1", "The model").await;
    c.close().await.unwrap();

    // Without script: the same form posts and the server answers with the result page.
    let c = browser(&driver, false, (1280, 900)).await;
    c.goto(&base).await.unwrap();
    choose_file(&c, "red_peppers.jpg").await;
    c.find(Locator::Css("#submit")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, "#result h2", "Not a potato").await;
    assert!(
        c.current_url().await.unwrap().as_str().ends_with("/judge"),
        "a form post, not a script"
    );
    screenshot(&c, "3-no-script.png").await;
    press(&c, "Right").await;
    wait_for_text(&c, "h1", "Thanks for your vote!").await;
    c.close().await.unwrap();

    // A phone-sized window: nothing wider than the screen, before and after a verdict.
    let c = browser(&driver, true, (390, 844)).await;
    c.goto(&base).await.unwrap();
    assert!(fits_the_width(&c).await, "no sideways scrolling on a phone");
    choose_file(&c, "potatoes_in_store_bin.jpg").await;
    wait_for_text(&c, "#result h2", "Potato!").await;
    assert!(fits_the_width(&c).await, "the result fits a phone too");
    screenshot(&c, "4-phone.png").await;
    c.close().await.unwrap();

    drop(driver);
    let (status, _) = terminate(server.take()).await;
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}
