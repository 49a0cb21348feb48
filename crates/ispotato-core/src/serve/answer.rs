//! The machine-readable answer for one image, written once: `ispotato classify --json` prints
//! it and the web API returns it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::serve::judge::Judged;
use crate::serve::{words, Refusal};

/// A verdict as JSON: label, the answer a reply gives (`sweet_potato` or `potato_dish` where
/// it names one, else the label), probability, confidence, the four-way head's probabilities
/// (`kinds`, for models that have one), model, timings, the image's hash, and the hint a chat
/// reply gives when the model is unsure.
pub fn verdict_json(input: &str, judged: &Judged, elapsed: Duration) -> Value {
    let v = &judged.verdict;
    json!({
        "input": input,
        "label": v.label,
        "answer": v.named_kind().map_or(v.label.key(), |kind| kind.key()),
        "kinds": v.kinds,
        "probability": v.probability,
        "confidence": v.confidence(),
        "model_version": v.model_version,
        "placeholder_model": v.placeholder_model,
        "blank": v.blank,
        "hint": words::hint(v),
        "timings_ms": v.timings,
        "elapsed_ms": (elapsed.as_secs_f64() * 1e5).round() / 100.0,
        "sha256": judged.sha256,
    })
}

/// A refusal as JSON: a stable `error` code and the `message` a person reads (never internal
/// error text; an unexpected failure carries its log reference).
pub fn refusal_json(input: Option<&str>, refusal: &Refusal) -> Value {
    let mut body = json!({ "error": refusal.code(), "message": refusal.message() });
    if let Some(input) = input {
        body["input"] = json!(input);
    }
    if let Some(reference) = refusal.reference() {
        body["reference"] = json!(reference);
    }
    if let Some(after) = refusal.retry_after() {
        body["retry_after_s"] = json!(after.as_secs().max(1));
    }
    body
}
