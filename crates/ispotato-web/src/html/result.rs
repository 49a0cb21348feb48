//! One judged image as the page shows it: the answer, how sure, the calibrated probability as
//! a bar against the thresholds, what the model saw, Right/Wrong, and a fact.

use std::time::Duration;

use ispotato_core::prelude::{words, Fact, Judged, Kind, Label, Verdict};

use super::esc;

pub struct ResultView<'a> {
    /// The verdict's id, for votes.
    pub verdict_id: &'a str,
    pub name: &'a str,
    pub judged: &'a Judged,
    pub elapsed: Duration,
    /// A `data:` URL of the centre crop the model judged.
    pub thumbnail: Option<&'a str>,
    /// A `data:` URL of the same crop with the evidence laid over it.
    pub evidence: Option<&'a str>,
    /// The model's thresholds: `not potato` below the first, `potato` from the second.
    pub thresholds: (f32, f32),
    pub fact: Option<&'a Fact>,
    pub csrf: &'a str,
}

/// The headline, its class (for colour), an emoji, and what a named answer adds.
fn headline(v: &Verdict) -> (&'static str, &'static str, &'static str, Option<&'static str>) {
    match v.label {
        _ if v.blank => ("That image looks blank", "unsure", "🤔", None),
        Label::Potato => ("Potato!", "potato", "🥔", None),
        Label::NotPotato => match v.named_kind() {
            Some(Kind::SweetPotato) => (
                "That's a sweet potato, not a potato",
                "not-potato",
                "🍠",
                Some("Sweet potatoes are morning glories."),
            ),
            Some(Kind::PotatoDish) => (
                "That's a potato dish",
                "not-potato",
                "🍟",
                Some("The potato is in there, but it's been cooked."),
            ),
            _ => ("Not a potato", "not-potato", "🚫", None),
        },
        Label::Unsure => ("Not sure", "unsure", "🤔", None),
    }
}

/// The probability as a bar with the two thresholds marked (SVG attributes, no inline style).
fn probability_bar(p: f32, (lower, upper): (f32, f32)) -> String {
    let pct = |x: f32| (x.clamp(0.0, 1.0) * 100.0 * 10.0).round() / 10.0;
    format!(
        "<svg class=\"bar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"Potato probability {p:.0} percent\">\
         <rect class=\"track\" x=\"0\" y=\"0\" width=\"100\" height=\"10\" rx=\"2\"/>\
         <rect class=\"fill\" x=\"0\" y=\"0\" width=\"{w}\" height=\"10\" rx=\"2\"/>\
         <line class=\"mark\" x1=\"{l}\" x2=\"{l}\" y1=\"0\" y2=\"10\"/>\
         <line class=\"mark\" x1=\"{u}\" x2=\"{u}\" y1=\"0\" y2=\"10\"/></svg>",
        p = p * 100.0,
        w = pct(p),
        l = pct(lower),
        u = pct(upper),
    )
}

/// The vote buttons: one form, two submit buttons.
fn vote_form(verdict_id: &str, csrf: &str) -> String {
    format!(
        "<form class=\"vote\" method=\"post\" action=\"/vote\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"verdict\" value=\"{id}\">\
         <p id=\"vote-q-{id}\">Was I right?</p>\
         <div class=\"buttons\" role=\"group\" aria-labelledby=\"vote-q-{id}\">\
         <button type=\"submit\" name=\"agree\" value=\"yes\">👍 Right</button>\
         <button type=\"submit\" name=\"agree\" value=\"no\">👎 Wrong</button></div></form>",
        csrf = esc(csrf),
        id = esc(verdict_id),
    )
}

/// "Why?": the crop with the evidence over it, folded away until asked for (no script needed).
fn why_block(src: &str, name: &str) -> String {
    format!(
        "<details class=\"why\"><summary>🔍 Why?</summary><figure><img class=\"thumb\" src=\"{}\" \
         width=\"224\" height=\"224\" alt=\"Where the model saw potato in {}: red regions lean potato, blue \
         regions lean not potato\"><figcaption>Red: where I saw potato. Blue: where I saw something else. \
         Brighter is stronger.</figcaption></figure></details>",
        esc(src),
        esc(name)
    )
}

/// A fact with its source.
pub fn fact_block(fact: &Fact) -> String {
    format!(
        "<aside class=\"fact\" aria-label=\"Potato fact\"><h3>🥔 Potato fact</h3><p>{}</p>\
         <p class=\"muted\">Source: <a href=\"{}\" rel=\"noopener noreferrer\">{}</a></p></aside>",
        esc(&fact.text),
        esc(safe_href(&fact.source.url)),
        esc(&fact.source.title)
    )
}

/// Only web links are rendered as links.
pub fn safe_href(url: &str) -> &str {
    if url.starts_with("https://") || url.starts_with("http://") {
        url
    } else {
        "#"
    }
}

/// The result section (`#result`), the same for the whole page and the script's fragment.
pub fn result_section(view: &ResultView) -> String {
    let v = &view.judged.verdict;
    let (title, class, emoji, kind) = headline(v);
    let kind = kind.map(|k| format!("<p class=\"kind\">{k}</p>")).unwrap_or_default();
    let sure = match v.label {
        Label::Potato | Label::NotPotato if !v.blank => {
            format!("<p class=\"sure\">{:.0}% sure</p>", v.confidence() * 100.0)
        }
        _ => String::new(),
    };
    let hint = words::hint(v)
        .map(|h| format!("<p class=\"hint\">{}</p>", esc(h)))
        .unwrap_or_default();
    let placeholder = if v.placeholder_model {
        "<p class=\"notice\">This model is a placeholder, not trained for potatoes.</p>"
    } else {
        ""
    };
    let thumb = view
        .thumbnail
        .map(|src| {
            format!(
                "<figure><img class=\"thumb\" src=\"{}\" width=\"224\" height=\"224\" \
                 alt=\"The centre of {} as the model saw it\"><figcaption>What the model saw</figcaption></figure>",
                esc(src),
                esc(view.name)
            )
        })
        .unwrap_or_default();
    let why = view.evidence.map(|src| why_block(src, view.name)).unwrap_or_default();
    let fact = view.fact.map(fact_block).unwrap_or_default();
    format!(
        "<section id=\"result\" class=\"card result {class}\" aria-live=\"polite\" tabindex=\"-1\">\
         <div class=\"answer\">{thumb}<div>\
         <h2><span aria-hidden=\"true\">{emoji}</span> {title}</h2>{kind}{sure}\
         {bar}<p class=\"muted\">Potato probability <strong>{p:.1}%</strong> (calibrated). \
         Model {model} · {ms:.0} ms · {name}</p>{hint}{placeholder}</div></div>\
         {why}{vote}{fact}</section>",
        bar = probability_bar(v.probability, view.thresholds),
        p = v.probability * 100.0,
        model = esc(&v.model_version),
        ms = view.elapsed.as_secs_f64() * 1e3,
        name = esc(view.name),
        vote = vote_form(view.verdict_id, view.csrf),
    )
}
