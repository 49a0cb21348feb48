//! The web tests' harness: the page served over services from the core's composition root
//! (as `ispotato serve` builds them), a cookie-keeping client, and the OpenAPI checker.

#![allow(dead_code)]

pub mod openapi;

use std::net::SocketAddr;
use std::time::Duration;

use ispotato_core::serve::compose::ServicesConfig;
use ispotato_testkit::TestServices;
use ispotato_web::{BoundWeb, WebConfig};

pub struct TestWeb {
    pub base: String,
    pub addr: SocketAddr,
    pub test: TestServices,
}

impl TestWeb {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.trim_end_matches('/'), path)
    }

    /// A browser: keeps cookies, follows no redirects.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    /// A program: no cookies.
    pub fn program(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    pub fn metrics(&self) -> String {
        self.test.services.telemetry.render(0)
    }
}

/// Serves the page on a free loopback port over fresh services.
pub async fn spawn_web(
    name: &str,
    adjust: impl FnOnce(&mut ServicesConfig),
    web: impl FnOnce(&mut WebConfig),
) -> TestWeb {
    let test = ispotato_testkit::services_with(&format!("web-{name}"), |c| {
        c.user_images_per_minute = 1000;
        adjust(c)
    });
    let mut config = WebConfig::new("127.0.0.1:0".parse().unwrap());
    config.requests_per_minute = 10_000;
    web(&mut config);
    let bound = BoundWeb::bind(config).await.expect("bind the web listener");
    let base = bound.url();
    let addr = bound.local_addr();
    let services = test.services.clone();
    tokio::spawn(async move { bound.serve(services, std::future::pending()).await });
    TestWeb { base, addr, test }
}

/// GETs `url` and returns the body as text.
pub async fn text_of(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// A POST of `body` as a raw JPEG.
pub fn post_jpeg(client: &reqwest::Client, url: impl reqwest::IntoUrl, body: Vec<u8>) -> reqwest::RequestBuilder {
    client.post(url).header("content-type", "image/jpeg").body(body)
}

/// The CSRF token a page carries.
pub fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = page.find(marker).expect("a csrf meta tag") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// The verdict id a result's vote form carries.
pub fn verdict_in(page: &str) -> String {
    let marker = "name=\"verdict\" value=\"";
    let start = page.find(marker).expect("a vote form") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// Loads the home page in `browser` and returns its CSRF token.
pub async fn open_page(web: &TestWeb, browser: &reqwest::Client) -> String {
    csrf_in(&text_of(browser, &web.url("/")).await)
}

pub fn image_part(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("image/jpeg")
        .unwrap()
}

/// Serves `bytes` at `/img.jpg` on a loopback port, after `delay`.
pub async fn image_server(bytes: Vec<u8>, delay: Duration) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/img.jpg",
        get(move || {
            let bytes = bytes.clone();
            async move {
                tokio::time::sleep(delay).await;
                ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], bytes)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/img.jpg")
}
