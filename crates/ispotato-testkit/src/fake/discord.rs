//! A fake Discord on 127.0.0.1: the REST routes the bot calls (recorded, with failure
//! injection on the verdict edit) and a gateway websocket (HELLO, READY after IDENTIFY,
//! heartbeat ACKs, RESUMED, and dispatches pushed by the test). Plain text frames.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub const APP_ID: &str = "999";
pub const BOT_ID: &str = "999";
pub const CHANNEL: &str = "200";

#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// A 429 asking for 0.2 s.
    RateLimited,
    /// A 429 asking for this many milliseconds, in the body's `retry_after` and (rounded up to
    /// whole seconds) the `Retry-After` header, as Discord sends them.
    RateLimitedFor(u64),
    Internal,
}

pub struct FakeState {
    pub calls: Mutex<Vec<(String, String, Value)>>,
    events: broadcast::Sender<Value>,
    /// Tells the connected gateway session to drop.
    drop_conn: broadcast::Sender<()>,
    pub identifies: AtomicU64,
    /// `[shard, total]` of every IDENTIFY, in order.
    pub identified_shards: Mutex<Vec<(u64, u64)>>,
    pub resumes: AtomicU64,
    next_message: AtomicU64,
    seq: AtomicU64,
    files: Mutex<HashMap<String, Vec<u8>>>,
    edit_failures: Mutex<VecDeque<Failure>>,
    /// When each `RateLimitedFor` answer was sent (Unix ms).
    pub rate_limited_at: Mutex<Vec<u128>>,
    addr: Mutex<Option<SocketAddr>>,
    /// Files uploaded (multipart requests): (path, file name, bytes).
    uploads: Mutex<Vec<(String, String, Vec<u8>)>>,
}

#[derive(Clone)]
pub struct Fake {
    pub state: Arc<FakeState>,
    pub addr: SocketAddr,
}

impl Fake {
    pub async fn start() -> Self {
        let (events, _) = broadcast::channel(64);
        let (drop_conn, _) = broadcast::channel(4);
        let state = Arc::new(FakeState {
            calls: Mutex::new(Vec::new()),
            events,
            drop_conn,
            identifies: AtomicU64::new(0),
            identified_shards: Mutex::new(Vec::new()),
            resumes: AtomicU64::new(0),
            next_message: AtomicU64::new(5000),
            seq: AtomicU64::new(1),
            files: Mutex::new(HashMap::new()),
            edit_failures: Mutex::new(VecDeque::new()),
            rate_limited_at: Mutex::new(Vec::new()),
            addr: Mutex::new(None),
            uploads: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/ws", get(gateway))
            .route("/attachments/{name}", get(serve_attachment))
            .fallback(any(rest))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        *state.addr.lock().unwrap() = Some(addr);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, addr }
    }

    pub fn url(&self) -> url::Url {
        format!("http://{}", self.addr).parse().unwrap()
    }

    pub fn add_attachment(&self, name: &str, bytes: Vec<u8>) {
        self.state.files.lock().unwrap().insert(name.to_string(), bytes);
    }

    pub fn attachment_url(&self, name: &str) -> String {
        format!("http://{}/attachments/{name}", self.addr)
    }

    /// Sends a dispatch event to the connected bot (waits until a session is ready).
    pub async fn dispatch(&self, kind: &str, data: Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.state.events.receiver_count() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.state.events.send(json!({ "t": kind, "d": data }));
    }

    /// Waits until `n` gateway sessions have identified (several shards, or processes).
    pub async fn wait_for_identifies(&self, n: u64, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.state.identifies.load(Ordering::SeqCst) < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    pub fn drop_gateway(&self) {
        let _ = self.state.drop_conn.send(());
    }

    pub fn fail_next_edits(&self, failures: &[Failure]) {
        self.state
            .edit_failures
            .lock()
            .unwrap()
            .extend(failures.iter().copied());
    }

    /// Recorded REST calls whose "METHOD path" contains `pattern`.
    /// Files the bot uploaded to paths containing `pattern`: (file name, bytes).
    pub fn uploads(&self, pattern: &str) -> Vec<(String, Vec<u8>)> {
        self.state
            .uploads
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p.contains(pattern))
            .map(|(_, name, bytes)| (name.clone(), bytes.clone()))
            .collect()
    }

    pub fn calls(&self, pattern: &str) -> Vec<(String, Value)> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| format!("{m} {p}").contains(pattern))
            .map(|(_, p, b)| (p.clone(), b.clone()))
            .collect()
    }

    pub async fn wait_for(&self, pattern: &str, n: usize, within: Duration) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let calls = self.calls(pattern);
            if calls.len() >= n || tokio::time::Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn user(id: &str, bot: bool) -> Value {
    json!({ "id": id, "username": format!("user{id}"), "discriminator": "0", "global_name": null, "avatar": null, "bot": bot })
}

pub fn message(id: &str, author: Value, content: &str, attachments: Value, components: Value) -> Value {
    json!({ "id": id, "channel_id": CHANNEL, "author": author, "content": content, "timestamp": "2026-11-28T12:00:00+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": attachments, "embeds": [], "pinned": false, "type": 0, "components": components })
}

pub fn attachment(id: &str, filename: &str, url: &str, size: u64, content_type: &str) -> Value {
    json!({ "id": id, "filename": filename, "size": size, "url": url, "proxy_url": url, "content_type": content_type,
            "width": 348, "height": 348 })
}

fn interaction_base(id: &str, kind: u8, token: &str, user_id: &str) -> Value {
    json!({ "id": id, "application_id": APP_ID, "type": kind, "token": token, "version": 1,
            "channel_id": CHANNEL, "channel": { "id": CHANNEL, "type": 1 }, "user": user(user_id, false),
            "locale": "en-US", "app_permissions": "0", "entitlements": [], "authorizing_integration_owners": {},
            "context": 1, "attachment_size_limit": 26_214_400 })
}

/// A slash command or context-menu interaction.
pub fn command(id: &str, token: &str, data: Value) -> Value {
    let mut i = interaction_base(id, 2, token, "7");
    i["data"] = data;
    i
}

/// A button press on `message`.
pub fn button(id: &str, token: &str, user_id: &str, custom_id: &str, message: Value) -> Value {
    let mut i = interaction_base(id, 3, token, user_id);
    i["data"] = json!({ "custom_id": custom_id, "component_type": 2 });
    i["message"] = message;
    i
}

pub fn reaction(user_id: &str, message_id: &str, emoji: &str) -> Value {
    json!({ "user_id": user_id, "channel_id": CHANNEL, "message_id": message_id, "emoji": { "id": null, "name": emoji },
            "burst": false, "type": 0 })
}

/// Milliseconds since the Unix epoch, stamped on recorded calls (load tests measure latency).
pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn rest(State(state): State<Arc<FakeState>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        // Messages with files come as multipart/form-data: the JSON in `payload_json`.
        let parts = super::multipart_parts(&body);
        let mut uploads = state.uploads.lock().unwrap();
        let mut payload = Value::Null;
        for part in parts {
            match part.filename {
                Some(name) => uploads.push((path.clone(), name, part.content)),
                None if part.name == "payload_json" => {
                    payload = serde_json::from_slice(&part.content).unwrap_or(Value::Null)
                }
                None => {}
            }
        }
        payload
    });
    let addr = state.addr.lock().unwrap().unwrap();
    let gateway = json!({ "url": format!("ws://{addr}/ws") });
    if path.ends_with("/gateway") {
        return json_response(StatusCode::OK, gateway);
    }
    if path.ends_with("/gateway/bot") {
        let mut g = gateway;
        g["shards"] = json!(1);
        g["session_start_limit"] = json!({ "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1 });
        return json_response(StatusCode::OK, g);
    }
    let is_edit = method == Method::PATCH && path.ends_with("/messages/@original");
    if is_edit {
        if let Some(f) = state.edit_failures.lock().unwrap().pop_front() {
            return match f {
                Failure::RateLimited => json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "message": "You are being rate limited.", "retry_after": 0.2, "global": false }),
                ),
                Failure::RateLimitedFor(ms) => {
                    let mut response = json_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        json!({ "message": "You are being rate limited.", "retry_after": ms as f64 / 1000.0, "global": false }),
                    );
                    if let Ok(seconds) = ms.div_ceil(1000).to_string().parse() {
                        response.headers_mut().insert("retry-after", seconds);
                    }
                    state.rate_limited_at.lock().unwrap().push(now_ms());
                    response
                }
                Failure::Internal => json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "message": "500: Internal Server Error", "code": 0 }),
                ),
            };
        }
    }
    let mut recorded = if body.is_object() {
        body.clone()
    } else {
        json!({ "body": body.clone() })
    };
    recorded["_at_ms"] = json!(now_ms());
    state
        .calls
        .lock()
        .unwrap()
        .push((method.to_string(), path.clone(), recorded));
    if path.contains("/commands") && method == Method::PUT {
        let cmds: Vec<Value> = body
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c["id"] = json!(format!("{}", 800 + i));
                c["application_id"] = json!(APP_ID);
                c["version"] = json!("1");
                if c.get("type").is_none() {
                    c["type"] = json!(1);
                }
                if c.get("description").is_none() {
                    c["description"] = json!("");
                }
                c["default_member_permissions"] = Value::Null;
                c
            })
            .collect();
        return json_response(StatusCode::OK, Value::Array(cmds));
    }
    if path.contains("/callback") || method == Method::DELETE || path.contains("/reactions/") {
        return StatusCode::NO_CONTENT.into_response();
    }
    if is_edit
        || (method == Method::POST && path.contains("/webhooks/"))
        || (method == Method::POST && path.ends_with("/messages"))
    {
        let id = state.next_message.fetch_add(1, Ordering::SeqCst).to_string();
        let content = body["content"].as_str().unwrap_or_default();
        let components = body.get("components").cloned().unwrap_or(json!([]));
        return json_response(
            StatusCode::OK,
            message(&id, user(BOT_ID, true), content, json!([]), components),
        );
    }
    json_response(StatusCode::NOT_FOUND, json!({ "message": "404: Not Found", "code": 0 }))
}

async fn serve_attachment(State(state): State<Arc<FakeState>>, Path(name): Path<String>) -> Response {
    match state.files.lock().unwrap().get(&name) {
        Some(bytes) => ([("content-type", "image/jpeg")], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn gateway(State(state): State<Arc<FakeState>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(state, socket))
}

fn text(v: Value) -> WsMessage {
    WsMessage::Text(v.to_string().into())
}

async fn session(state: Arc<FakeState>, mut socket: WebSocket) {
    if socket
        .send(text(json!({ "op": 10, "d": { "heartbeat_interval": 1500 } })))
        .await
        .is_err()
    {
        return;
    }
    let mut events = state.events.subscribe();
    let mut drops = state.drop_conn.subscribe();
    let addr = state.addr.lock().unwrap().unwrap();
    let mut ready = false;
    let (mut shard_id, mut shard_total) = (0u64, 1u64);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(WsMessage::Text(frame))) = incoming else { return };
                let Ok(v) = serde_json::from_str::<Value>(frame.as_str()) else { continue };
                match v["op"].as_u64() {
                    Some(1) => { let _ = socket.send(text(json!({ "op": 11 }))).await; }
                    Some(2) => {
                        // Which shard this session is: Discord sends a guild's events to shard
                        // (guild_id >> 22) % total only, and direct messages to shard 0.
                        let shard = &v["d"]["shard"];
                        (shard_id, shard_total) = (shard[0].as_u64().unwrap_or(0), shard[1].as_u64().unwrap_or(1).max(1));
                        state.identified_shards.lock().unwrap().push((shard_id, shard_total));
                        state.identifies.fetch_add(1, Ordering::SeqCst);
                        let s = state.seq.fetch_add(1, Ordering::SeqCst);
                        let ready_payload = json!({ "op": 0, "t": "READY", "s": s, "d": {
                            "v": 10, "user": user(BOT_ID, true), "guilds": [], "session_id": "session-1",
                            "resume_gateway_url": format!("ws://{addr}/ws"), "shard": [shard_id, shard_total],
                            "application": { "id": APP_ID, "flags": 0 } } });
                        let _ = socket.send(text(ready_payload)).await;
                        ready = true;
                    }
                    Some(6) => {
                        state.resumes.fetch_add(1, Ordering::SeqCst);
                        let s = state.seq.fetch_add(1, Ordering::SeqCst);
                        let _ = socket.send(text(json!({ "op": 0, "t": "RESUMED", "s": s, "d": {} }))).await;
                        ready = true;
                    }
                    _ => {}
                }
            }
            event = events.recv(), if ready => {
                let Ok(event) = event else { continue };
                let guild = event["d"]["guild_id"].as_str().and_then(|g| g.parse::<u64>().ok());
                if guild.map_or(0, |g| (g >> 22) % shard_total) != shard_id {
                    continue;
                }
                let s = state.seq.fetch_add(1, Ordering::SeqCst);
                let frame = json!({ "op": 0, "t": event["t"], "s": s, "d": event["d"] });
                if socket.send(text(frame)).await.is_err() { return; }
            }
            _ = drops.recv() => {
                let _ = socket.send(WsMessage::Close(None)).await;
                return;
            }
        }
    }
}
