//! The use cases every front end calls: judge these images for this user, a fact for this chat,
//! the stats text, a vote. A front end only translates its platform to and from these calls.
//!
//! Counting: refusals of single images inside a reply are counted here, once each. A refusal
//! a call returns as `Err` is the front end's to report, through [`Services::report`], from
//! its one error path.

use std::sync::Arc;
use std::time::Duration;

use crate::serve::explanations::{self, Explained, Explanations};
use crate::serve::judge::{ImageInput, Judge, Judged};
use crate::serve::quotas::Quotas;
use crate::serve::telemetry::Telemetry;
use crate::serve::{Platform, Refusal, BUSY_RETRY_AFTER};
use crate::store::privacy::UserHasher;
use crate::store::{unix_now, NewVerdict, Retraction, Stats, Store, StoreError, Vote, VoteOutcome, VoteSource};
use crate::trivia::{Fact, TriviaError, TriviaService};

pub struct Services {
    pub judge: Judge,
    pub store: Arc<dyn Store>,
    pub trivia: Arc<TriviaService>,
    pub hasher: UserHasher,
    /// Images per user per minute, and across everyone (to keep the host from drowning).
    pub quotas: Quotas,
    /// Counters and latencies for `/metrics`, front-end readiness for `/readyz`.
    pub telemetry: Arc<Telemetry>,
    /// Requests each user has being judged now.
    pub in_flight: InFlight,
    /// Recent replies' evidence maps, for "Why?".
    pub explanations: Arc<Explanations>,
}

/// Most requests one user may have being judged at once: a quarter of the queue's places (at
/// least 2), so a user whose images download slowly cannot take the whole queue from everyone
/// else, while one sending a few photos at once is never refused for it.
pub fn requests_in_flight_per_user(queue_capacity: usize) -> usize {
    (queue_capacity / 4).max(2)
}

/// Requests being judged, per user.
#[derive(Default, Clone)]
pub struct InFlight {
    users: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl InFlight {
    fn enter(&self, user_hash: &str, limit: usize) -> Option<InFlightGuard> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let n = users.entry(user_hash.to_string()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            users: self.users.clone(),
            user_hash: user_hash.to_string(),
        })
    }
}

/// One request in flight; leaves when dropped (also when the request is cancelled).
#[derive(Debug)]
struct InFlightGuard {
    users: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    user_hash: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = users.get_mut(&self.user_hash) {
            *n -= 1;
            if *n == 0 {
                users.remove(&self.user_hash);
            }
        }
    }
}

/// Why a request was refused before any work: the message for the user.
/// One image of a request: a name to show beside its answer and where to get it.
pub struct NamedImage {
    pub name: String,
    pub input: ImageInput,
}

/// Proof that a user's images fit their rate budget: what [`Services::judge`] needs.
#[derive(Debug)]
pub struct Quota {
    platform: Platform,
    user_hash: String,
    _in_flight: InFlightGuard,
}

impl Quota {
    pub fn user_hash(&self) -> &str {
        &self.user_hash
    }
}

/// The answer for one image of a request.
pub struct ImageOutcome {
    pub name: String,
    pub result: Result<Judged, Refusal>,
    /// A fact about what the verdict names (a sweet potato, a potato dish), for the reply.
    pub fact: Option<Fact>,
}

/// Every image of a request, judged or refused, in the order they were given.
pub struct Judgement {
    pub platform: Platform,
    pub user_hash: String,
    pub images: Vec<ImageOutcome>,
}

impl Judgement {
    pub fn any_verdict(&self) -> bool {
        self.images.iter().any(|i| i.result.is_ok())
    }

    /// Whether any verdict has an evidence map, so "Why?" has something to show.
    pub fn any_evidence(&self) -> bool {
        self.images
            .iter()
            .any(|i| i.result.as_ref().is_ok_and(|j| j.evidence.is_some()))
    }

    /// When no image got a verdict: one refusal for the whole request (each image's refusal
    /// was counted already).
    pub fn all_refused(&self) -> Option<Refusal> {
        (!self.images.is_empty() && !self.any_verdict()).then(|| {
            Refusal::NoVerdict(
                self.images
                    .iter()
                    .filter_map(|i| i.result.as_ref().err().cloned())
                    .collect(),
            )
        })
    }
}

/// Where a verdict reply was posted: votes find the verdicts through it.
#[derive(Debug, Clone)]
pub struct ReplyPlace {
    pub platform: Platform,
    pub chat_id: String,
    pub message_id: String,
}

/// Who voted on which verdict message.
#[derive(Debug, Clone)]
pub struct Voter {
    pub chat_id: String,
    pub message_id: String,
    /// The platform's user id (hashed before it goes anywhere).
    pub user_id: String,
    pub is_bot: bool,
}

impl Services {
    /// Takes `images` units from the user's and the global budget, or refuses the request.
    pub async fn take_quota(&self, platform: Platform, user_id: &str, images: usize) -> Result<Quota, Refusal> {
        let user_hash = self.hasher.hash(platform.as_str(), user_id);
        let limit = requests_in_flight_per_user(self.judge.queue().capacity());
        let in_flight = self.in_flight.enter(&user_hash, limit).ok_or_else(|| {
            Refusal::later(
                "user_busy",
                "I'm still on your earlier images; send more once I've answered those",
                BUSY_RETRY_AFTER,
            )
        })?;
        self.quotas.take(&user_hash, images).await?;
        Ok(Quota {
            platform,
            user_hash,
            _in_flight: in_flight,
        })
    }

    /// Judges every image of a request within its quota, one after the other, each through
    /// the one road ([`Judge::judge_in`], in the user's lane). Each refused image is logged and
    /// counted here.
    pub async fn judge(&self, quota: Quota, images: Vec<NamedImage>) -> Judgement {
        let Quota {
            platform,
            user_hash,
            _in_flight,
        } = quota;
        let mut outcomes = Vec::with_capacity(images.len());
        for image in images {
            let result = self.judge.judge_in(&user_hash, image.input).await;
            if let Err(refusal) = &result {
                tracing::info!(platform = %platform, reason = refusal.reason(), "image refused: {refusal}");
                self.telemetry.rejected(platform.as_str(), refusal.reason());
            }
            let fact = result.as_ref().ok().and_then(|judged| {
                let kind = judged.verdict.named_kind()?;
                self.trivia.fact_about(kind.key(), &judged.sha256)
            });
            outcomes.push(ImageOutcome {
                name: image.name,
                result,
                fact,
            });
        }
        Judgement {
            platform,
            user_hash,
            images: outcomes,
        }
    }

    /// [`Self::take_quota`] then [`Self::judge`], for front ends with nothing to do between.
    pub async fn judge_images(
        &self,
        platform: Platform,
        user_id: &str,
        images: Vec<NamedImage>,
    ) -> Result<Judgement, Refusal> {
        if images.is_empty() {
            return Err(Refusal::declined("no_image", "I don't see an image there"));
        }
        let quota = self.take_quota(platform, user_id, images.len()).await?;
        Ok(self.judge(quota, images).await)
    }

    /// The front end's one error path calls this: a log line and the metric, once per refusal.
    pub fn report(&self, platform: Platform, what: &str, refusal: &Refusal) {
        if refusal.is_counted() {
            return;
        }
        match refusal {
            Refusal::Unexpected { reference, .. } => {
                tracing::warn!(platform = %platform, what, reason = refusal.reason(), reference = %reference, "request failed")
            }
            _ => tracing::info!(platform = %platform, what, reason = refusal.reason(), "request refused: {refusal}"),
        }
        self.telemetry.rejected(platform.as_str(), refusal.reason());
    }

    /// Stores every verdict of one reply under the reply's message (each by its position),
    /// off the async runtime, and counts them as delivered. Failures are logged: the user
    /// already has the answer.
    pub async fn record_verdicts(&self, place: &ReplyPlace, judgement: &Judgement) {
        // The web page shows the evidence with the verdict; the chats ask for it later.
        if place.platform != Platform::Web {
            self.explanations.remember(place, judgement);
        }
        let platform = place.platform.as_str();
        let keep = self.store.keeps_images();
        let mut rows = Vec::new();
        for (i, outcome) in judgement.images.iter().enumerate() {
            let Ok(j) = &outcome.result else { continue };
            self.telemetry.judged(platform, &j.verdict);
            let t = j.verdict.timings;
            let row = NewVerdict {
                platform: platform.to_string(),
                chat_id: place.chat_id.clone(),
                message_id: place.message_id.clone(),
                image_index: i as u32,
                user_hash: judgement.user_hash.clone(),
                image_sha256: j.sha256.clone(),
                label: j.verdict.label,
                probability: j.verdict.probability,
                model_version: j.verdict.model_version.clone(),
                decode_ms: t.decode.as_secs_f64() * 1e3,
                preprocess_ms: t.preprocess.as_secs_f64() * 1e3,
                inference_ms: t.inference.as_secs_f64() * 1e3,
                created_at: unix_now(),
            };
            rows.push((row, keep.then(|| j.bytes.clone())));
        }
        let written = self
            .blocking(move |store| {
                rows.iter().try_for_each(|(row, bytes)| {
                    store
                        .record_verdict(row, bytes.as_ref().map(|b| b.as_slice()))
                        .map(|_| ())
                })
            })
            .await;
        if let Err(e) = written {
            self.telemetry.error(platform, "store");
            tracing::error!(platform, error = %e, "could not store verdicts");
        }
    }

    /// "Why?" pressed by `user_id` on the reply at `place`: a PNG of each image as the model saw
    /// it with its evidence laid over it (see [`explanations::CAPTION`]). The press counts as one
    /// image against the presser's budget. Answered from this process's memory while it keeps
    /// the reply's evidence, else from the images the store keeps of the reply (another replica
    /// judged it, or the memory let it go), each judged again on the one road and counted against
    /// the presser's budget; else refused ([`explanations::gone`]).
    pub async fn why(&self, place: &ReplyPlace, user_id: &str) -> Result<Vec<u8>, Refusal> {
        let quota = self.take_quota(place.platform, user_id, 1).await?;
        let images = match self.explanations.recall(place) {
            Some(images) => images,
            None => self.explain_kept_images(place, &quota).await?,
        };
        tokio::task::spawn_blocking(move || explanations::why_png(&images))
            .await
            .map_err(|e| Refusal::unexpected("internal", &e))?
    }

    /// The evidence of the reply at `place` rebuilt from the images the store keeps of it: each
    /// judged again in the presser's lane (the first is the press's own image; the others take
    /// more of the presser's budget), then kept in memory for the next press.
    async fn explain_kept_images(&self, place: &ReplyPlace, quota: &Quota) -> Result<Vec<Explained>, Refusal> {
        let (platform, chat, message) = (place.platform.as_str(), place.chat_id.clone(), place.message_id.clone());
        let kept = self
            .blocking(move |store| store.kept_images_of_reply(platform, &chat, &message))
            .await
            .map_err(|e| Refusal::unexpected("store", &e))?;
        if kept.is_empty() {
            return Err(explanations::gone());
        }
        if kept.len() > 1 {
            self.quotas.take(&quota.user_hash, kept.len() - 1).await?;
        }
        let mut images = Vec::with_capacity(kept.len());
        for bytes in kept {
            let input = ImageInput::Download(Box::pin(async move { Ok(bytes) }));
            let judged = self.judge.judge_in(&quota.user_hash, input).await?;
            if let Some(evidence) = judged.evidence {
                images.push(Explained {
                    view: judged.view,
                    evidence,
                });
            }
        }
        if images.is_empty() {
            // A backend without an evidence map: nothing to show, whoever judged the reply.
            return Err(explanations::gone());
        }
        self.explanations.keep(place, images.clone());
        Ok(images)
    }

    /// The next fact for a chat (no repeats until the chat has seen the whole deck).
    pub async fn fact(&self, platform: Platform, chat_id: &str, topic: Option<&str>) -> Result<Fact, Refusal> {
        let trivia = self.trivia.clone();
        let key = format!("{platform}:{chat_id}");
        let topic = topic.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
        let drawn = tokio::task::spawn_blocking(move || trivia.next_fact(&key, topic.as_deref())).await;
        match drawn {
            Ok(Ok(fact)) => Ok(fact),
            Ok(Err(e @ TriviaError::UnknownTopic { .. })) => Err(Refusal::declined("unknown_topic", e.to_string())),
            Ok(Err(TriviaError::Empty)) => Err(Refusal::declined("no_facts", "I have no facts to share just now")),
            Ok(Err(TriviaError::Store(e))) => Err(Refusal::unexpected("store", &e)),
            Err(e) => Err(Refusal::unexpected("internal", &e)),
        }
    }

    /// Verdicts and what the votes say about them over the last `window` (all time: `None`).
    pub async fn stats(&self, window: Option<Duration>) -> Result<Stats, Refusal> {
        let since = window.map(|w| unix_now() - w.as_secs() as i64);
        self.blocking(move |store| store.stats(since))
            .await
            .map_err(|e| Refusal::unexpected("store", &e))
    }

    /// The `/potatostats` text: verdicts and what the votes say, all time.
    pub async fn stats_text(&self) -> Result<String, Refusal> {
        self.stats(None)
            .await
            .map(|s| crate::store::stats::render(&s, "so far"))
    }

    /// Stores a vote on a verdict message; the outcome's [`VoteOutcome::thanks`] is the short
    /// answer for the voter.
    pub async fn vote(
        &self,
        platform: Platform,
        voter: Voter,
        agree: bool,
        source: VoteSource,
        emoji: Option<String>,
    ) -> Result<VoteOutcome, Refusal> {
        if !voter.is_bot {
            self.telemetry.vote(platform.as_str(), source.as_str());
        }
        let vote = Vote {
            platform: platform.as_str().to_string(),
            user_hash: self.hasher.hash(platform.as_str(), &voter.user_id),
            chat_id: voter.chat_id,
            message_id: voter.message_id,
            is_bot: voter.is_bot,
            agree,
            source,
            emoji,
            created_at: unix_now(),
        };
        let outcome = self.blocking(move |store| store.record_vote(&vote)).await;
        outcome.map_err(|e| Refusal::unexpected("store", &e))
    }

    /// Removes a reaction vote (the reaction was taken back).
    pub async fn retract(&self, platform: Platform, voter: Voter, emoji: Option<String>) -> Result<(), Refusal> {
        let retraction = Retraction {
            platform: platform.as_str().to_string(),
            user_hash: self.hasher.hash(platform.as_str(), &voter.user_id),
            chat_id: voter.chat_id,
            message_id: voter.message_id,
            is_bot: voter.is_bot,
            emoji,
        };
        let removed = self.blocking(move |store| store.retract_vote(&retraction)).await;
        removed.map(|_| ()).map_err(|e| Refusal::unexpected("store", &e))
    }

    /// Runs a store call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
    }
}
