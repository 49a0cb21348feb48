//! The JSON API for programs: classify, feedback, a fact. Errors are `{error, message}` with a
//! stable `error` code. A request carrying the page's browser cookie is the page's script and
//! must send the CSRF token in `X-CSRF-Token`; a program without the cookie needs none (a
//! cross-site page cannot send our cookie with a POST: it is `SameSite=Lax`).

use std::sync::Arc;

use axum::extract::{FromRequest, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ispotato_core::prelude::{answer, Platform, Refusal};
use ispotato_core::store::VoteOutcome;
use serde_json::{json, Value};

use super::pages::{cast_vote, csrf_refusal};
use crate::client::{csrf_ok, Client, CSRF_HEADER};
use crate::errors::{Face, Failure};
use crate::judging;
use crate::state::WebState;
use crate::upload;

fn failed(state: &WebState, what: &str, refusal: Refusal) -> Response {
    state.services.report(Platform::Web, what, &refusal);
    Failure::new(Face::Json, refusal).into_response()
}

/// The page's script must prove it is the page; programs without the cookie need not.
fn csrf_header_ok(state: &WebState, client: &Client, request: &Request) -> bool {
    client.browser.is_none()
        || csrf_ok(
            state,
            client,
            request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()),
        )
}

#[derive(serde::Deserialize, Default)]
pub struct ClassifyQuery {
    /// Add the judged centre crop as a `data:` URL ("true" or "1"; anything else: no).
    #[serde(default)]
    thumbnail: Option<String>,
    /// Add the evidence map: its cells and the crop with it laid over (`evidence`).
    #[serde(default)]
    explain: Option<String>,
}

fn yes(flag: Option<&str>) -> bool {
    matches!(flag, Some("true" | "1" | "yes"))
}

impl ClassifyQuery {
    fn thumbnail(&self) -> bool {
        yes(self.thumbnail.as_deref())
    }
    fn explain(&self) -> bool {
        yes(self.explain.as_deref())
    }
}

pub async fn classify(
    State(state): State<Arc<WebState>>,
    client: Client,
    Query(query): Query<ClassifyQuery>,
    request: Request,
) -> Response {
    if !csrf_header_ok(&state, &client, &request) {
        return failed(&state, "classify", csrf_refusal());
    }
    let image = match upload::read(request).await.and_then(|s| s.into_image()) {
        Ok(image) => image,
        Err(refusal) => return failed(&state, "classify", refusal),
    };
    let input = image.name.clone();
    match judging::judge_one(&state, &client, image).await {
        Ok(verdict) => {
            let mut body = answer::verdict_json(&input, &verdict.judged, verdict.elapsed);
            body["verdict_id"] = json!(verdict.id);
            if query.thumbnail() {
                body["thumbnail"] = json!(judging::thumbnail_data_url(&verdict.judged));
            }
            if query.explain() {
                body["evidence"] = match &verdict.judged.evidence {
                    Some(e) => json!({
                        "rows": e.rows,
                        "cols": e.cols,
                        "cells": e.cells,
                        "bias": e.bias,
                        "peak": e.peak(),
                        "overlay": judging::evidence_data_url(&verdict.judged),
                    }),
                    None => Value::Null,
                };
            }
            Json(body).into_response()
        }
        Err(refusal) => failed(&state, "classify", refusal),
    }
}

#[derive(serde::Deserialize)]
pub struct Feedback {
    verdict_id: String,
    /// The verdict was right.
    agree: bool,
}

pub async fn feedback(State(state): State<Arc<WebState>>, client: Client, request: Request) -> Response {
    if !csrf_header_ok(&state, &client, &request) {
        return failed(&state, "feedback", csrf_refusal());
    }
    let Json(body) = match Json::<Feedback>::from_request(request, &()).await {
        Ok(body) => body,
        Err(_) => {
            return failed(
                &state,
                "feedback",
                Refusal::declined(
                    "bad_request",
                    "send JSON {\"verdict_id\": \"...\", \"agree\": true|false} as application/json",
                ),
            )
        }
    };
    match cast_vote(&state, &client, &body.verdict_id, body.agree).await {
        Ok(outcome) => Json(json!({
            "outcome": match outcome {
                VoteOutcome::Recorded => "recorded",
                VoteOutcome::Changed => "changed",
                VoteOutcome::Unchanged => "unchanged",
                VoteOutcome::IgnoredBot | VoteOutcome::UnknownMessage => "ignored",
            },
            "message": outcome.thanks(),
        }))
        .into_response(),
        Err(refusal) => failed(&state, "feedback", refusal),
    }
}

pub async fn fact(State(state): State<Arc<WebState>>, client: Client) -> Response {
    match judging::next_fact(&state, &client).await {
        Ok(fact) => Json(json!({
            "id": fact.id,
            "topic": fact.topic,
            "text": fact.text,
            "source": { "title": fact.source.title, "url": fact.source.url },
        }))
        .into_response(),
        Err(refusal) => failed(&state, "fact", refusal),
    }
}
