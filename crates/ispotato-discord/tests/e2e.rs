//! The real serenity client against a fake Discord (REST + gateway) on 127.0.0.1. Each
//! scenario asserts what the fake received and what the store holds.

use ispotato_testkit as support;
use ispotato_testkit::fake::discord as fake;

use std::time::Duration;

use fake::{Failure, Fake};
use ispotato_core::secret::SecretString;
use ispotato_discord::{DiscordConfig, Shards};
use serde_json::{json, Value};
use support::{sample, WAIT};

const TOKEN: &str = "MTIz.discord-TEST-token.do-not-log";

struct Harness {
    fake: Fake,
    services: support::TestServices,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start(name: &str) -> Self {
        support::log_buffer();
        let fake = Fake::start().await;
        fake.add_attachment("potato.jpg", sample("potatoes_in_store_bin.jpg"));
        fake.add_attachment("peppers.jpg", sample("red_peppers.jpg"));
        let test_services = support::services(&format!("dc-{name}"), 10);
        let services = test_services.services.clone();
        let mut config = DiscordConfig::new(SecretString::new(TOKEN));
        config.api_url = Some(fake.url());
        config.shards = Shards::Count(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(e) = ispotato_discord::run(services, config, async move {
                let _ = stopped.await;
            })
            .await
            {
                panic!("bot failed: {e}");
            }
        });
        let registered = fake.wait_for("PUT /api/v10/applications/999/commands", 1, WAIT).await;
        assert_eq!(registered.len(), 1, "commands were not registered");
        Self {
            fake,
            services: test_services,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        support::assert_not_logged(TOKEN, "discord-TEST-token");
    }

    fn counts(&self) -> (u64, u64, u64) {
        self.services.counts()
    }

    /// The `/metrics` text of the running bot.
    fn metrics(&self) -> String {
        self.services.services.telemetry.render(0)
    }
}

fn slash(id: &str, token: &str, attachment: Value) -> Value {
    let att_id = attachment["id"].as_str().unwrap().to_string();
    fake::command(
        id,
        token,
        json!({ "id": "801", "name": "ispotato", "type": 1, "options": [{ "name": "image", "type": 11, "value": att_id }],
                "resolved": { "attachments": { att_id: attachment } } }),
    )
}

/// The callbacks (type, flags) and edits recorded for one interaction token.
fn callbacks(h: &Harness, id: &str) -> Vec<Value> {
    h.fake
        .calls(&format!("/interactions/{id}/"))
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

fn edits(h: &Harness, token: &str) -> Vec<Value> {
    h.fake
        .calls(&format!("PATCH /api/v10/webhooks/999/{token}/messages/@original"))
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_command_defers_then_edits_with_the_verdict() {
    let h = Harness::start("slash").await;
    let potato = fake::attachment(
        "11",
        "spud.jpg",
        &h.fake.attachment_url("potato.jpg"),
        30_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9001", "tok-a", potato))
        .await;
    let edit = h.fake.wait_for("webhooks/999/tok-a/messages/@original", 1, WAIT).await;
    assert_eq!(edit.len(), 1);
    let cb = callbacks(&h, "9001");
    assert_eq!(cb[0]["type"], 5, "deferred first: {cb:?}");
    let content = edits(&h, "tok-a")[0]["content"].as_str().unwrap().to_string();
    assert!(content.starts_with("🥔 **Potato!**"), "{content}");
    assert_eq!(
        edits(&h, "tok-a")[0]["components"][0]["components"][0]["custom_id"],
        "ispotato:agree"
    );

    let peppers = fake::attachment(
        "12",
        "peppers.jpg",
        &h.fake.attachment_url("peppers.jpg"),
        30_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9002", "tok-b", peppers))
        .await;
    h.fake.wait_for("webhooks/999/tok-b/messages/@original", 1, WAIT).await;
    let content = edits(&h, "tok-b")[0]["content"].as_str().unwrap().to_string();
    assert!(content.starts_with("🚫 **Not a potato.**"), "{content}");
    // Both verdict messages get the vote reactions pre-added.
    let reactions = h.fake.wait_for("/reactions/", 4, WAIT).await;
    assert_eq!(reactions.len(), 4, "{reactions:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.counts().0, 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_ephemeral_and_store_nothing() {
    let h = Harness::start("refusals").await;
    let pdf = fake::attachment(
        "21",
        "menu.pdf",
        &h.fake.attachment_url("menu.pdf"),
        3_000,
        "application/pdf",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9101", "tok-pdf", pdf))
        .await;
    let huge = fake::attachment(
        "22",
        "huge.png",
        &h.fake.attachment_url("huge.png"),
        50 * 1024 * 1024,
        "image/png",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9102", "tok-huge", huge))
        .await;
    let gone = fake::attachment(
        "23",
        "gone.jpg",
        &h.fake.attachment_url("gone.jpg"),
        3_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9103", "tok-gone", gone))
        .await;

    h.fake.wait_for("/interactions/9101/", 1, WAIT).await;
    let pdf_cb = callbacks(&h, "9101");
    assert_eq!(pdf_cb[0]["type"], 4);
    assert_eq!(pdf_cb[0]["data"]["flags"], 64, "ephemeral");
    assert_eq!(
        pdf_cb[0]["data"]["content"],
        "Sorry, menu.pdf isn't an image; send a JPEG, PNG, WebP or GIF."
    );
    h.fake.wait_for("/interactions/9102/", 1, WAIT).await;
    assert_eq!(
        callbacks(&h, "9102")[0]["data"]["content"],
        "Sorry, huge.png is 50 MB; the limit is 20 MB."
    );
    // The download failure happens after deferring: the public placeholder is deleted and an
    // ephemeral follow-up explains.
    let follow = h.fake.wait_for("POST /api/v10/webhooks/999/tok-gone", 1, WAIT).await;
    assert_eq!(follow.len(), 1);
    assert_eq!(follow[0].1["flags"], 64);
    assert!(
        follow[0].1["content"]
            .as_str()
            .unwrap()
            .starts_with("Sorry, the server answered 404"),
        "{:?}",
        follow[0].1
    );
    assert_eq!(callbacks(&h, "9103")[0]["type"], 5);
    assert_eq!(
        h.fake
            .calls("DELETE /api/v10/webhooks/999/tok-gone/messages/@original")
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.counts().0, 0, "no verdict rows");
    // Each refusal is counted once, under what happened; a command whose every image failed
    // is not counted a second time.
    let metrics = h.metrics();
    for reason in ["not_an_image", "too_large", "http_status"] {
        let line = format!("ispotato_rejections_total{{platform=\"discord\",reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    assert_eq!(metrics.matches("ispotato_rejections_total{").count(), 3, "{metrics}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_store_gets_a_generic_reply_with_a_reference_counted_once() {
    let h = Harness::start("broken-store").await;
    h.services.break_database();
    let fact = json!({ "id": "803", "name": "potatofact", "type": 1, "options": [] });
    h.fake
        .dispatch("INTERACTION_CREATE", fake::command("9501", "tok-f", fact))
        .await;
    let stats = json!({ "id": "804", "name": "potatostats", "type": 1, "options": [] });
    h.fake
        .dispatch("INTERACTION_CREATE", fake::command("9502", "tok-s", stats))
        .await;
    let mut references = Vec::new();
    for id in ["9501", "9502"] {
        h.fake.wait_for(&format!("/interactions/{id}/"), 1, WAIT).await;
        let cb = &callbacks(&h, id)[0];
        assert_eq!(cb["data"]["flags"], 64, "ephemeral: {cb}");
        let text = cb["data"]["content"].as_str().unwrap_or_default();
        assert!(text.starts_with("Sorry, something went wrong on my side"), "{text}");
        assert!(!text.contains("no such table"), "{text}");
        let reference = support::reference_in(text).unwrap_or_else(|| panic!("no reference in {text}"));
        let logged = support::logged_failure(&reference).unwrap_or_else(|| panic!("no log line for {reference}"));
        assert!(logged.contains("no such table"), "{logged}");
        references.push(reference);
    }
    assert_ne!(references[0], references[1]);
    let metrics = h.metrics();
    assert!(
        metrics.contains("ispotato_rejections_total{platform=\"discord\",reason=\"store\"} 2"),
        "{metrics}"
    );
    assert_eq!(metrics.matches("ispotato_rejections_total{").count(), 1, "{metrics}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_menu_judges_every_image_of_the_message() {
    let h = Harness::start("menu").await;
    let atts = json!([
        fake::attachment(
            "31",
            "a.jpg",
            &h.fake.attachment_url("potato.jpg"),
            30_000,
            "image/jpeg"
        ),
        fake::attachment(
            "32",
            "b.jpg",
            &h.fake.attachment_url("peppers.jpg"),
            30_000,
            "image/jpeg"
        ),
        fake::attachment(
            "33",
            "c.jpg",
            &h.fake.attachment_url("potato.jpg"),
            30_000,
            "image/jpeg"
        ),
    ]);
    let target = fake::message("4000", fake::user("8", false), "look at these", atts, json!([]));
    let data = json!({ "id": "802", "name": "Is it a potato?", "type": 3, "target_id": "4000",
                       "resolved": { "messages": { "4000": target } } });
    h.fake
        .dispatch("INTERACTION_CREATE", fake::command("9201", "tok-menu", data))
        .await;
    h.fake
        .wait_for("webhooks/999/tok-menu/messages/@original", 1, WAIT)
        .await;
    let content = edits(&h, "tok-menu")[0]["content"].as_str().unwrap().to_string();
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 3, "{content}");
    assert!(
        lines[0].starts_with("1. a.jpg: 🥔")
            && lines[1].starts_with("2. b.jpg: 🚫")
            && lines[2].starts_with("3. c.jpg: 🥔"),
        "{content}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.counts().0, 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_votes_reactions_and_stats() {
    let h = Harness::start("votes").await;
    for i in 0..3 {
        let data = json!({ "id": "803", "name": "potatofact", "type": 1, "options": [] });
        h.fake
            .dispatch(
                "INTERACTION_CREATE",
                fake::command(&format!("930{i}"), &format!("tok-f{i}"), data),
            )
            .await;
    }
    let mut facts = Vec::new();
    for i in 0..3 {
        h.fake.wait_for(&format!("/interactions/930{i}/"), 1, WAIT).await;
        facts.push(
            callbacks(&h, &format!("930{i}"))[0]["data"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let unique: std::collections::HashSet<&String> = facts.iter().collect();
    assert_eq!(unique.len(), 3, "{facts:?}");
    assert!(facts.iter().all(|f| f.starts_with("🥔 ") && f.contains("Source: [")));

    let potato = fake::attachment(
        "41",
        "spud.jpg",
        &h.fake.attachment_url("potato.jpg"),
        30_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9400", "tok-v", potato))
        .await;
    h.fake.wait_for("webhooks/999/tok-v/messages/@original", 1, WAIT).await;
    h.fake.wait_for("/reactions/", 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let verdict_id = "5000";
    // The bot's own pre-added reactions come back as events: ignored.
    h.fake
        .dispatch("MESSAGE_REACTION_ADD", fake::reaction(fake::BOT_ID, verdict_id, "👍"))
        .await;
    h.fake
        .dispatch("MESSAGE_REACTION_ADD", fake::reaction("7", verdict_id, "👍"))
        .await;
    h.fake
        .dispatch("MESSAGE_REACTION_ADD", fake::reaction("8", verdict_id, "👎"))
        .await;
    support::wait_until(WAIT, || h.counts().1 >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.counts().1, 2, "two human votes, the bot's ignored");
    h.fake
        .dispatch("MESSAGE_REACTION_REMOVE", fake::reaction("8", verdict_id, "👎"))
        .await;
    support::wait_until(WAIT, || h.counts().1 <= 1).await;
    assert_eq!(h.counts().1, 1, "removing the reaction retracts the vote");

    let verdict_msg = fake::message(
        verdict_id,
        fake::user(fake::BOT_ID, true),
        "🥔 Potato!",
        json!([]),
        json!([]),
    );
    h.fake
        .dispatch(
            "INTERACTION_CREATE",
            fake::button("9500", "tok-btn", "9", "ispotato:disagree", verdict_msg),
        )
        .await;
    h.fake.wait_for("/interactions/9500/", 1, WAIT).await;
    let answer = &callbacks(&h, "9500")[0];
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(answer["data"]["content"], "Thanks for your vote!");
    assert_eq!(h.counts().1, 2);

    let data = json!({ "id": "804", "name": "potatostats", "type": 1, "options": [] });
    h.fake
        .dispatch("INTERACTION_CREATE", fake::command("9600", "tok-s", data))
        .await;
    h.fake.wait_for("/interactions/9600/", 1, WAIT).await;
    let stats = callbacks(&h, "9600")[0]["data"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        stats.contains("1 images judged") && stats.contains("Votes: 2 (1 👍, 1 👎)"),
        "{stats}"
    );
    h.stop().await;
}

/// Behind an API proxy (as the fake is), a 429's `retry_after` is honoured: the call goes out
/// again once the wait Discord asked for has passed, not after a guessed second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_call_is_sent_again_after_the_wait_discord_asks_for() {
    let h = Harness::start("retry_after").await;
    h.fake.fail_next_edits(&[Failure::RateLimitedFor(2500)]);
    let potato = fake::attachment(
        "52",
        "spud.jpg",
        &h.fake.attachment_url("potato.jpg"),
        30_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9710", "tok-wait", potato))
        .await;
    let edit = h
        .fake
        .wait_for("webhooks/999/tok-wait/messages/@original", 1, WAIT)
        .await;
    assert_eq!(edit.len(), 1, "the verdict arrives after the wait");
    let limited = h.fake.state.rate_limited_at.lock().unwrap().clone();
    assert_eq!(limited.len(), 1, "one 429, then the call succeeded");
    let answered = edit[0].1["_at_ms"].as_u64().unwrap() as u128;
    let waited = answered - limited[0];
    assert!(
        (2500..4500).contains(&waited),
        "the call went out again {waited} ms after the 429 asking for 2500 ms"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_the_gateway_reconnects() {
    let h = Harness::start("faults").await;
    h.fake.fail_next_edits(&[Failure::RateLimited, Failure::Internal]);
    let potato = fake::attachment(
        "51",
        "spud.jpg",
        &h.fake.attachment_url("potato.jpg"),
        30_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9700", "tok-r", potato.clone()))
        .await;
    let edit = h.fake.wait_for("webhooks/999/tok-r/messages/@original", 1, WAIT).await;
    assert_eq!(edit.len(), 1, "the verdict arrives after the retries");
    assert!(edits(&h, "tok-r")[0]["content"]
        .as_str()
        .unwrap()
        .starts_with("🥔 **Potato!**"));

    h.fake.drop_gateway();
    let sessions = || {
        use std::sync::atomic::Ordering::SeqCst;
        h.fake.state.resumes.load(SeqCst) + h.fake.state.identifies.load(SeqCst)
    };
    support::wait_until(WAIT, || sessions() >= 2).await;
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9701", "tok-after", potato))
        .await;
    let edit = h
        .fake
        .wait_for("webhooks/999/tok-after/messages/@original", 1, WAIT)
        .await;
    if edit.is_empty() {
        let logs = support::logs();
        let tail: String = logs
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "not serving after the reconnect (identifies {}, resumes {}); last logs:\n{tail}",
            h.fake.state.identifies.load(std::sync::atomic::Ordering::SeqCst),
            h.fake.state.resumes.load(std::sync::atomic::Ordering::SeqCst)
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweet_potato_is_named_and_why_shows_the_evidence() {
    let h = Harness::start("why").await;
    h.fake.add_attachment("sweet.jpg", sample("sweet_potatoes.jpg"));
    let sweet = fake::attachment(
        "61",
        "sweet.jpg",
        &h.fake.attachment_url("sweet.jpg"),
        30_000,
        "image/jpeg",
    );
    h.fake
        .dispatch("INTERACTION_CREATE", slash("9600", "tok-w", sweet))
        .await;
    h.fake.wait_for("webhooks/999/tok-w/messages/@original", 1, WAIT).await;
    let edit = &edits(&h, "tok-w")[0];
    let content = edit["content"].as_str().unwrap().to_string();
    assert!(
        content.starts_with("🍠 **That's a sweet potato, not a potato:**"),
        "{content}"
    );
    assert!(
        content.to_lowercase().contains("sweet potato") && content.contains("-# Source: ["),
        "{content}"
    );
    assert_eq!(
        edit["components"][0]["components"][2]["custom_id"], "ispotato:why",
        "{edit}"
    );
    h.fake.wait_for("/reactions/", 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Presses Why? under the message `message`: the interaction's answer and the files it carried.
    let press_why = async |interaction: &str, message: &str| {
        let verdict = fake::message(message, fake::user(fake::BOT_ID, true), "🍠", json!([]), json!([]));
        let token = format!("tok-{interaction}");
        h.fake
            .dispatch(
                "INTERACTION_CREATE",
                fake::button(interaction, &token, "9", "ispotato:why", verdict),
            )
            .await;
        let path = format!("/interactions/{interaction}/");
        h.fake.wait_for(&path, 1, WAIT).await;
        (callbacks(&h, interaction).remove(0), h.fake.uploads(&path))
    };
    let (answer, uploads) = press_why("9601", "5000").await;
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(content.starts_with("Why: red is where I saw potato"), "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "only the presser sees it");
    assert_eq!(uploads.len(), 1, "one PNG attached");
    assert_eq!(
        support::png_size(&uploads[0].1),
        Some((448, 448)),
        "the crop the model saw, twice its size"
    );

    // A message whose evidence is not kept.
    let (answer, uploads) = press_why("9602", "4999").await;
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("send it again"),
        "{answer}"
    );
    assert!(uploads.is_empty());
    h.stop().await;
}
