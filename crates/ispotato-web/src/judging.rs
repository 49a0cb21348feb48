//! The web's side of the one judge use case: one image per request, through the core's quota
//! and judge, the verdict stored under a fresh unguessable id that votes refer to.

use std::io::Cursor;
use std::time::{Duration, Instant};

use base64::Engine;
use ispotato_core::prelude::{Fact, Judged, NamedImage, Platform, Refusal, ReplyPlace};

use crate::client::Client;
use crate::state::WebState;

/// Every web verdict is stored under this chat; its message id is the verdict id.
pub const WEB_CHAT: &str = "web";

/// A judged image and the id it was stored under.
pub struct WebVerdict {
    pub id: String,
    pub name: String,
    pub judged: Judged,
    pub elapsed: Duration,
    /// A fact about what the verdict names (a sweet potato, a potato dish).
    pub fact: Option<Fact>,
}

/// A verdict id: 32 hex characters, random.
pub fn new_verdict_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub fn is_verdict_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Judges one image for `client` and stores the verdict. A refusal of the image comes back
/// already counted (the core counts each refused image once).
pub async fn judge_one(state: &WebState, client: &Client, image: NamedImage) -> Result<WebVerdict, Refusal> {
    let started = Instant::now();
    let services = &state.services;
    let judgement = services
        .judge_images(Platform::Web, &client.quota_id(), vec![image])
        .await?;
    if let Some(refused) = judgement.all_refused() {
        return Err(refused);
    }
    let id = new_verdict_id();
    let place = ReplyPlace {
        platform: Platform::Web,
        chat_id: WEB_CHAT.into(),
        message_id: id.clone(),
    };
    services.record_verdicts(&place, &judgement).await;
    let elapsed = started.elapsed();
    let outcome = judgement
        .images
        .into_iter()
        .next()
        .ok_or_else(|| Refusal::declined("no_image", "I didn't get an image"))?;
    let judged = outcome.result?;
    Ok(WebVerdict {
        id,
        name: outcome.name,
        judged,
        elapsed,
        fact: outcome.fact,
    })
}

/// The centre crop the model judged, as a `data:` URL of a JPEG (a few kilobytes).
pub fn thumbnail_data_url(judged: &Judged) -> Option<String> {
    jpeg_data_url(&judged.view)
}

/// The centre crop with the evidence laid over it (red: potato, blue: not), as a `data:` URL
/// of a JPEG; `None` on backends without an evidence map.
pub fn evidence_data_url(judged: &Judged) -> Option<String> {
    let evidence = judged.evidence.as_ref()?;
    jpeg_data_url(&evidence.overlay(&judged.view))
}

fn jpeg_data_url(view: &image::RgbImage) -> Option<String> {
    let mut jpeg = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), 85);
    match view.write_with_encoder(encoder) {
        Ok(()) => Some(format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&jpeg)
        )),
        Err(e) => {
            tracing::warn!(error = %e, "could not encode a thumbnail");
            None
        }
    }
}

/// The next fact for this browser (or address), without repeats: its deck is kept under a
/// hash of the browser id, never the id itself.
pub async fn next_fact(state: &WebState, client: &Client) -> Result<Fact, Refusal> {
    let services = &state.services;
    let deck = services.hasher.hash(Platform::Web.as_str(), &client.person_id());
    services.fact(Platform::Web, &deck, None).await
}

/// [`next_fact`] for a page that shows a fact by the way: `None` (logged and counted) when
/// there is none to give.
pub async fn fact_for(state: &WebState, client: &Client) -> Option<Fact> {
    next_fact(state, client)
        .await
        .map_err(|refusal| state.services.report(Platform::Web, "fact", &refusal))
        .ok()
}
