//! A focused fake of the Telegram Bot API on 127.0.0.1: it queues updates for getUpdates,
//! serves files, answers the methods the bot uses, records every call, and can fail
//! sendMessage on demand (429 with retry_after, or 500).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{json, Value};

pub const BOT_ID: i64 = 999;
pub const BOT_USERNAME: &str = "ispotato_bot";

#[derive(Debug, Clone, Copy)]
pub enum Failure {
    RetryAfter(u64),
    Internal,
}

/// File id -> (file path, bytes or None for a failing download, declared size).
type Files = HashMap<String, (String, Option<Vec<u8>>, u64)>;

#[derive(Default)]
pub struct FakeState {
    pub token: String,
    updates: Mutex<VecDeque<Value>>,
    next_update: AtomicI64,
    next_message: AtomicI64,
    pub calls: Mutex<Vec<(String, Value)>>,
    files: Mutex<Files>,
    send_failures: Mutex<VecDeque<Failure>>,
    /// Files uploaded: (method, file name, bytes).
    uploads: Mutex<Vec<(String, String, Vec<u8>)>>,
}

#[derive(Clone)]
pub struct Fake {
    pub state: Arc<FakeState>,
    pub addr: SocketAddr,
}

impl Fake {
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(FakeState {
            token: token.to_string(),
            ..Default::default()
        });
        state.next_update.store(1, Ordering::SeqCst);
        state.next_message.store(1000, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/{bot}/{method}", post(api))
            .route("/file/{bot}/{*path}", get(file))
            .route("/img/{name}", get(image_by_name))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, addr }
    }

    pub fn url(&self) -> url::Url {
        format!("http://{}/", self.addr).parse().unwrap()
    }

    pub fn push_update(&self, kind: &str, payload: Value) {
        let id = self.state.next_update.fetch_add(1, Ordering::SeqCst);
        let mut update = json!({ "update_id": id });
        update[kind] = payload;
        self.state.updates.lock().unwrap().push_back(update);
    }

    /// A file the bot can fetch with getFile + download; `bytes: None` makes the download 404.
    pub fn add_file(&self, id: &str, bytes: Option<Vec<u8>>, declared_size: u64) {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(id.to_string(), (format!("photos/{id}.jpg"), bytes, declared_size));
    }

    pub fn fail_next_sends(&self, failures: &[Failure]) {
        self.state
            .send_failures
            .lock()
            .unwrap()
            .extend(failures.iter().copied());
    }

    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Waits until `method` has been called at least `n` times (or `within` passes).
    /// Files the bot uploaded with `method` (e.g. "sendphoto"): (file name, bytes).
    pub fn uploads(&self, method: &str) -> Vec<(String, Vec<u8>)> {
        self.state
            .uploads
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, name, bytes)| (name.clone(), bytes.clone()))
            .collect()
    }

    pub async fn wait_for(&self, method: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let calls = self.calls(method);
            if calls.len() >= n || tokio::time::Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Milliseconds since the Unix epoch, stamped on recorded calls (load tests measure latency).
pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn ok(result: Value) -> Response {
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

fn fail(status: StatusCode, description: &str, extra: Value) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if !extra.is_null() {
        body["parameters"] = extra;
    }
    (status, axum::Json(body)).into_response()
}

pub fn bot_user() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "IsPotato", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false })
}

pub fn chat(id: i64) -> Value {
    if id < 0 {
        json!({ "id": id, "type": "group", "title": "Potato Lovers" })
    } else {
        json!({ "id": id, "type": "private", "first_name": "Pat" })
    }
}

async fn api(
    State(state): State<Arc<FakeState>>,
    Path((bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if bot != format!("bot{}", state.token) {
        return fail(StatusCode::UNAUTHORIZED, "Unauthorized", Value::Null);
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        // teloxide sends setWebhook and uploads (sendPhoto) as multipart/form-data.
        let parts = super::multipart_parts(&body);
        let mut uploads = state.uploads.lock().unwrap();
        for part in &parts {
            if let Some(filename) = &part.filename {
                uploads.push((method.to_lowercase(), filename.clone(), part.content.clone()));
            }
        }
        super::multipart_json(&parts)
    });
    let method = method.to_lowercase();
    if method != "getupdates" {
        let mut recorded = body.clone();
        if let Value::Object(map) = &mut recorded {
            map.insert("_at_ms".into(), json!(now_ms()));
        }
        state.calls.lock().unwrap().push((method.clone(), recorded));
    }
    match method.as_str() {
        "getme" => ok(bot_user()),
        "getwebhookinfo" => ok(json!({ "url": "", "has_custom_certificate": false, "pending_update_count": 0 })),
        "deletewebhook" | "setwebhook" | "setmycommands" | "sendchataction" | "answercallbackquery" => ok(json!(true)),
        "getupdates" => {
            if body.get("allowed_updates").is_some() {
                state
                    .calls
                    .lock()
                    .unwrap()
                    .push(("getupdates_allowed".into(), body.clone()));
            }
            let wait = body["timeout"].as_u64().unwrap_or(0).min(1);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
            loop {
                let pending: Vec<Value> = state.updates.lock().unwrap().drain(..).collect();
                if !pending.is_empty() || tokio::time::Instant::now() >= deadline {
                    return ok(Value::Array(pending));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "getfile" => {
            let id = body["file_id"].as_str().unwrap_or_default().to_string();
            let found = state.files.lock().unwrap().get(&id).cloned();
            match found {
                Some((path, _, size)) => ok(
                    json!({ "file_id": id, "file_unique_id": format!("u{id}"), "file_size": size, "file_path": path }),
                ),
                None => fail(StatusCode::BAD_REQUEST, "Bad Request: invalid file_id", Value::Null),
            }
        }
        "sendmessage" => {
            let failure = state.send_failures.lock().unwrap().pop_front();
            if let Some(failure) = failure {
                // Not a delivered message: drop the recorded call.
                state.calls.lock().unwrap().pop();
                return match failure {
                    Failure::RetryAfter(secs) => fail(
                        StatusCode::TOO_MANY_REQUESTS,
                        &format!("Too Many Requests: retry after {secs}"),
                        json!({ "retry_after": secs }),
                    ),
                    Failure::Internal => fail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", Value::Null),
                };
            }
            let id = state.next_message.fetch_add(1, Ordering::SeqCst);
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            let mut message = json!({ "message_id": id, "date": 1_700_000_000, "chat": chat(chat_id), "from": bot_user(),
                                      "text": body["text"].clone() });
            if let Some(markup) = body.get("reply_markup") {
                message["reply_markup"] = markup.clone();
            }
            ok(message)
        }
        "sendphoto" => {
            let id = state.next_message.fetch_add(1, Ordering::SeqCst);
            let chat_id = body["chat_id"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .or(body["chat_id"].as_i64())
                .unwrap_or(0);
            ok(
                json!({ "message_id": id, "date": 1_700_000_000, "chat": chat(chat_id), "from": bot_user(),
                       "caption": body["caption"].clone(),
                       "photo": [{ "file_id": format!("sent{id}"), "file_unique_id": format!("usent{id}"),
                                   "width": 448, "height": 448, "file_size": 1000 }] }),
            )
        }
        _ => fail(StatusCode::NOT_FOUND, "Not Found", Value::Null),
    }
}

async fn file(State(state): State<Arc<FakeState>>, Path((bot, path)): Path<(String, String)>) -> Response {
    if bot != format!("bot{}", state.token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let files = state.files.lock().unwrap();
    match files.values().find(|(p, _, _)| *p == path) {
        Some((_, Some(bytes), _)) => bytes.clone().into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Images on plain URLs (the "someone pasted a link" case).
async fn image_by_name(State(state): State<Arc<FakeState>>, Path(name): Path<String>) -> Response {
    let files = state.files.lock().unwrap();
    match files.get(&name) {
        Some((_, Some(bytes), _)) => ([("content-type", "image/jpeg")], bytes.clone()).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---- update builders -------------------------------------------------------------------------

pub fn user(id: i64) -> Value {
    json!({ "id": id, "is_bot": false, "first_name": "Pat" })
}

pub fn message(id: i64, chat_id: i64, from: i64) -> Value {
    json!({ "message_id": id, "date": 1_700_000_000, "chat": chat(chat_id), "from": user(from) })
}

pub fn photo_message(id: i64, chat_id: i64, file_id: &str, size: u64) -> Value {
    let mut m = message(id, chat_id, 7);
    m["photo"] = json!([
        { "file_id": format!("{file_id}-thumb"), "file_unique_id": "t", "width": 90, "height": 90, "file_size": 1000 },
        { "file_id": file_id, "file_unique_id": format!("u{file_id}"), "width": 348, "height": 348, "file_size": size }
    ]);
    m
}

pub fn text_message(id: i64, chat_id: i64, text: &str, entities: Value) -> Value {
    let mut m = message(id, chat_id, 7);
    m["text"] = json!(text);
    m["entities"] = entities;
    m
}
