//! The pages: each handler asks the core and renders; refusals go through [`Failure`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ispotato_core::local_file;
use ispotato_core::prelude::{Platform, Refusal, Voter};
use ispotato_core::store::{VoteOutcome, VoteSource};

use crate::client::{csrf_ok, csrf_token, Client};
use crate::errors::{Face, Failure};
use crate::html::{self, ResultView};
use crate::judging::{self, WEB_CHAT};
use crate::markdown::{card_to_html, CARD_IMAGES};
use crate::state::WebState;
use crate::upload;

/// The refusal of a form post whose token is missing or wrong.
pub fn csrf_refusal() -> Refusal {
    Refusal::declined(
        "csrf",
        "this form has expired or came from another site; reload the page and try again (cookies must be on)",
    )
}

fn page_csrf(state: &WebState, client: &Client) -> String {
    client.page_browser().map(|b| csrf_token(state, b)).unwrap_or_default()
}

pub async fn home(State(state): State<Arc<WebState>>, client: Client) -> Response {
    html::home_page(&page_csrf(&state, &client), state.max_image_bytes(), None).into_response()
}

/// The form post: judge the file or URL, answer with the page (or, for the script, the result).
pub async fn judge(State(state): State<Arc<WebState>>, client: Client, request: Request) -> Response {
    let face = Face::of_request(request.uri().path(), request.headers());
    let csrf = page_csrf(&state, &client);
    match judge_form(&state, &client, &csrf, request).await {
        Ok(section) => match face {
            Face::Fragment => html::fragment(section).into_response(),
            _ => html::home_page(&csrf, state.max_image_bytes(), Some(&section)).into_response(),
        },
        Err(refusal) => {
            state.services.report(Platform::Web, "judge", &refusal);
            Failure::new(face, refusal).into_response()
        }
    }
}

async fn judge_form(state: &WebState, client: &Client, csrf: &str, request: Request) -> Result<String, Refusal> {
    let submitted = upload::read(request).await?;
    if !csrf_ok(state, client, submitted.csrf.as_deref()) {
        return Err(csrf_refusal());
    }
    let image = submitted.into_image()?;
    let verdict = judging::judge_one(state, client, image).await?;
    let thumbnail = judging::thumbnail_data_url(&verdict.judged);
    let evidence = judging::evidence_data_url(&verdict.judged);
    // A sweet potato or a dish gets a fact about it; anything else the browser's next fact.
    let fact = match verdict.fact.clone() {
        Some(fact) => Some(fact),
        None => judging::fact_for(state, client).await,
    };
    let thresholds = state.services.judge.queue().classifier().card().thresholds;
    Ok(html::result_section(&ResultView {
        verdict_id: &verdict.id,
        name: &verdict.name,
        judged: &verdict.judged,
        elapsed: verdict.elapsed,
        thumbnail: thumbnail.as_deref(),
        evidence: evidence.as_deref(),
        thresholds: (thresholds.lower, thresholds.upper),
        fact: fact.as_ref(),
        csrf,
    }))
}

#[derive(serde::Deserialize)]
pub struct VoteForm {
    csrf: Option<String>,
    verdict: String,
    agree: String,
}

/// Right / Wrong on a verdict: one vote per browser per verdict, the latest wins.
pub async fn vote(State(state): State<Arc<WebState>>, client: Client, request: Request) -> Response {
    let face = Face::of_request(request.uri().path(), request.headers());
    let voted = async {
        let axum::Form(form) = axum::Form::<VoteForm>::from_request(request, &())
            .await
            .map_err(|_| Refusal::declined("bad_request", "that vote could not be read"))?;
        if !csrf_ok(&state, &client, form.csrf.as_deref()) {
            return Err(csrf_refusal());
        }
        let agree = match form.agree.as_str() {
            "yes" => true,
            "no" => false,
            _ => return Err(Refusal::declined("bad_request", "a vote is \"yes\" or \"no\"")),
        };
        cast_vote(&state, &client, &form.verdict, agree).await
    }
    .await;
    match voted {
        Ok(outcome) => match face {
            Face::Fragment => html::fragment(format!(
                "<p class=\"thanks\" role=\"status\">{}</p>",
                html::esc(outcome.thanks())
            ))
            .into_response(),
            _ => html::vote_answer(outcome.thanks()).into_response(),
        },
        Err(refusal) => {
            state.services.report(Platform::Web, "vote", &refusal);
            Failure::new(face, refusal).into_response()
        }
    }
}

/// Stores a vote from this browser (or address) on a web verdict.
pub async fn cast_vote(state: &WebState, client: &Client, verdict: &str, agree: bool) -> Result<VoteOutcome, Refusal> {
    if !judging::is_verdict_id(verdict) {
        return Err(unknown_verdict());
    }
    let voter = Voter {
        chat_id: WEB_CHAT.into(),
        message_id: verdict.to_ascii_lowercase(),
        user_id: client.person_id(),
        is_bot: false,
    };
    match state
        .services
        .vote(Platform::Web, voter, agree, VoteSource::Button, None)
        .await?
    {
        VoteOutcome::UnknownMessage => Err(unknown_verdict()),
        outcome => Ok(outcome),
    }
}

fn unknown_verdict() -> Refusal {
    Refusal::declined("unknown_verdict", "I can't find that verdict")
}

#[derive(serde::Deserialize)]
pub struct StatsQuery {
    window: Option<String>,
}

pub async fn stats(State(state): State<Arc<WebState>>, Query(q): Query<StatsQuery>) -> Response {
    let window = q.window.unwrap_or_else(|| "7d".into());
    let span = match window.as_str() {
        "24h" => Some(Duration::from_secs(24 * 3600)),
        "7d" => Some(Duration::from_secs(7 * 24 * 3600)),
        "all" => None,
        _ => {
            return Failure::new(
                Face::Page,
                Refusal::declined("bad_request", "the window is 24h, 7d or all"),
            )
            .into_response()
        }
    };
    match state.services.stats(span).await {
        Ok(stats) => html::stats_page(&stats, &window).into_response(),
        Err(refusal) => {
            state.services.report(Platform::Web, "stats", &refusal);
            Failure::new(Face::Page, refusal).into_response()
        }
    }
}

/// The card's written part, read from beside the loaded card (at most 1 MB).
async fn card_markdown(card_path: std::path::PathBuf) -> Option<String> {
    let path = card_path.parent()?.join("MODEL_CARD.md");
    tokio::task::spawn_blocking(move || local_file::read_text_capped(&path, local_file::MAX_CONFIG_BYTES))
        .await
        .ok()?
        .map_err(|e| tracing::warn!(error = %e, "the model card's MODEL_CARD.md is unreadable"))
        .ok()
}

pub async fn model(State(state): State<Arc<WebState>>) -> Response {
    let classifier = state.services.judge.queue().classifier();
    let markdown = card_markdown(classifier.card_path().to_path_buf()).await;
    let card_html = markdown.as_deref().map(card_to_html);
    html::model_page(classifier.card(), card_html.as_deref()).into_response()
}

/// Largest image beside the card the page serves.
const MAX_CARD_IMAGE_BYTES: u64 = 4 * 1024 * 1024;

/// An image beside the card (only the names the page links to).
pub async fn model_file(State(state): State<Arc<WebState>>, Path(file): Path<String>) -> Response {
    let not_found = || Failure::new(Face::Page, Refusal::declined("not_found", "there's no such file")).into_response();
    let Some(name) = CARD_IMAGES.iter().find(|n| **n == file) else {
        return not_found();
    };
    let classifier = state.services.judge.queue().classifier();
    let Some(path) = classifier.card_path().parent().map(|d| d.join(name)) else {
        return not_found();
    };
    let read = tokio::task::spawn_blocking(move || local_file::read_capped(&path, MAX_CARD_IMAGE_BYTES)).await;
    match read {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "public, max-age=600"),
            ],
            bytes,
        )
            .into_response(),
        _ => not_found(),
    }
}
