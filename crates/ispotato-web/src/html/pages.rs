//! The pages: home (the form, and a result when there is one), stats, the model card, and the
//! answer to a vote.

use std::collections::BTreeMap;

use axum::response::Html;
use ispotato_core::model::ModelCard;
use ispotato_core::store::{Estimate, Stats};

use super::{count, esc, human_bytes, layout, Section};

/// The home page: the form, and under it the result of the last request (if any).
pub fn home_page(csrf: &str, max_image_bytes: u64, result: Option<&str>) -> Html<String> {
    let main = format!(
        "<section class=\"card intro\"><h1>Is this a potato?</h1>\
         <p>Show me a photo and I'll tell you, and how sure I am.</p>\
         <form id=\"judge\" method=\"post\" action=\"/judge\" enctype=\"multipart/form-data\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"drop\" id=\"drop\">\
         <label class=\"button secondary\" for=\"image\">Choose a photo</label>\
         <input id=\"image\" name=\"image\" type=\"file\" accept=\"image/jpeg,image/png,image/webp,image/gif\" \
          aria-describedby=\"image-help\">\
         <p id=\"image-help\" class=\"muted\">Or drop it here, or paste it. JPEG, PNG, WebP or GIF, up to {max_size}.</p>\
         <img id=\"preview\" class=\"preview\" alt=\"The photo you chose\" hidden>\
         </div>\
         <p class=\"camera\"><label class=\"button secondary\" for=\"camera\">📷 Take a photo</label>\
         <input id=\"camera\" name=\"image\" type=\"file\" accept=\"image/*\" capture=\"environment\"></p>\
         <p><label for=\"url\">Or the web address of an image</label>\
         <input id=\"url\" name=\"url\" type=\"url\" inputmode=\"url\" autocomplete=\"off\" placeholder=\"https://example.com/potato.jpg\"></p>\
         <p><button id=\"submit\" type=\"submit\">Is it a potato?</button></p>\
         <div class=\"progress\" id=\"progress\" hidden><progress id=\"progress-bar\" max=\"100\" aria-label=\"Upload\"></progress></div>\
         <p id=\"status\" class=\"muted\" role=\"status\" aria-live=\"polite\"></p>\
         </form></section>\n{result}",
        csrf = esc(csrf),
        max_size = human_bytes(max_image_bytes),
        result = result.unwrap_or("<div id=\"result\" tabindex=\"-1\"></div>"),
    );
    layout("Is this a potato?", Section::Home, Some(csrf), &main)
}

/// After a vote (without script): the thanks and a way on.
pub fn vote_answer(thanks: &str) -> Html<String> {
    layout(
        "Thanks",
        Section::None,
        None,
        &format!(
            "<section class=\"card\"><h1>{}</h1><p><a class=\"button\" href=\"/\">Judge another photo</a> \
             <a href=\"/stats\">See how I'm doing</a></p></section>",
            esc(thanks)
        ),
    )
}

fn estimate(e: &Estimate) -> String {
    match e.value {
        Some(v) => format!(
            "{:.1}% <span class=\"muted\">(from {} with {})</span>",
            v * 100.0,
            count(e.verdicts, "verdict", "verdicts"),
            count(e.votes, "vote", "votes")
        ),
        None => "<span class=\"muted\">not enough votes yet</span>".into(),
    }
}

/// The time windows the stats page offers: query value, label.
pub const WINDOWS: [(&str, &str); 3] = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("all", "All time")];

/// `/stats`: what `/potatostats` says, as tables, for one window; and the reliability diagram.
pub fn stats_page(stats: &Stats, window: &str) -> Html<String> {
    let tabs = WINDOWS
        .iter()
        .map(|(key, label)| {
            let current = if *key == window { " aria-current=\"true\"" } else { "" };
            format!("<a href=\"/stats?window={key}\"{current}>{label}</a>")
        })
        .collect::<Vec<_>>()
        .join("");
    let labels = ["potato", "not_potato", "unsure"];
    let mut by_platform: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    for v in &stats.verdicts {
        let row = by_platform.entry(v.platform.as_str()).or_default();
        if let Some(i) = labels.iter().position(|l| *l == v.label) {
            row[i] += v.count;
        }
    }
    let rows = if by_platform.is_empty() {
        "<tr><td colspan=\"5\" class=\"muted\">No verdicts in this window yet.</td></tr>".to_string()
    } else {
        by_platform
            .iter()
            .map(|(platform, counts)| {
                format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(platform),
                    counts[0],
                    counts[1],
                    counts[2],
                    counts.iter().sum::<u64>()
                )
            })
            .collect()
    };
    let main = format!(
        "<section class=\"card\"><h1>How IsPotato is doing</h1>\
         <nav class=\"tabs\" aria-label=\"Time window\">{tabs}</nav>\
         <p class=\"big\"><strong id=\"verdicts-total\">{total}</strong> {images} judged</p>\
         <table><caption>Verdicts by front end</caption><thead><tr><th scope=\"col\">Front end</th>\
         <th scope=\"col\">Potato</th><th scope=\"col\">Not potato</th><th scope=\"col\">Unsure</th><th scope=\"col\">All</th></tr></thead>\
         <tbody>{rows}</tbody></table></section>\
         <section class=\"card\"><h2>What the votes say</h2>\
         <dl class=\"figures\"><dt>Votes</dt><dd><span id=\"votes-total\">{votes}</span> \
         (<span id=\"votes-agree\">{agree}</span> right, <span id=\"votes-disagree\">{disagree}</span> wrong)</dd>\
         <dt>Agreement</dt><dd>{agreement}</dd><dt>Estimated precision</dt><dd>{precision}</dd>\
         <dt>Estimated recall</dt><dd>{recall}</dd></dl>\
         <p class=\"muted\">Precision: of the potato verdicts voters judged, the share they confirmed. Recall: of the potatoes \
         voters confirmed or reported missed, the share called potato. Each verdict counts by its voters' majority.</p></section>\
         <section class=\"card\"><h2>Is the model's confidence honest?</h2>\
         <figure><img class=\"wide\" src=\"/model/reliability.png\" alt=\"Reliability diagram of the current model: predicted \
         potato probability against the observed share of potatoes on the validation images\">\
         <figcaption>Reliability diagram from the model card: points on the diagonal mean a stated 70% is right 70% of the \
         time. <a href=\"/model\">More about the model</a></figcaption></figure></section>",
        total = stats.verdicts_total,
        images = if stats.verdicts_total == 1 { "image" } else { "images" },
        votes = stats.votes_total,
        agree = stats.votes_agree,
        disagree = stats.votes_disagree,
        agreement = estimate(&stats.agreement_rate),
        precision = estimate(&stats.precision),
        recall = estimate(&stats.recall),
    );
    layout("Stats", Section::Stats, None, &main)
}

fn metric(card: &ModelCard, key: &str) -> String {
    card.metrics
        .get("validation")
        .and_then(|v| v.get(key))
        .and_then(|v| v.as_f64())
        .map(|v| format!("{v:.3}"))
        .unwrap_or_else(|| "–".into())
}

/// `/model`: the card's key facts, then the whole card (`MODEL_CARD.md`) rendered.
pub fn model_page(card: &ModelCard, card_html: Option<&str>) -> Html<String> {
    let summary = format!(
        "<section class=\"card\"><h1>The model: {name} {version}</h1><p>{description}</p>\
         <dl class=\"figures\"><dt>Potato from</dt><dd>P ≥ {upper:.2}</dd><dt>Not a potato below</dt><dd>P &lt; {lower:.2}</dd>\
         <dt>Validation precision</dt><dd>{precision}</dd><dt>Validation recall</dt><dd>{recall}</dd>\
         <dt>AUROC</dt><dd>{auroc}</dd><dt>Calibration error (ECE)</dt><dd>{ece}</dd></dl></section>",
        name = esc(&card.name),
        version = esc(&card.version),
        description = esc(&card.description),
        upper = card.thresholds.upper,
        lower = card.thresholds.lower,
        precision = metric(card, "precision"),
        recall = metric(card, "recall"),
        auroc = metric(card, "auroc"),
        ece = metric(card, "ece"),
    );
    let body = card_html
        .map(|h| format!("<article class=\"card prose\">{h}</article>"))
        .unwrap_or_else(|| "<p class=\"muted\">This model has no written card (MODEL_CARD.md).</p>".into());
    layout(
        &format!("Model {}", card.version),
        Section::Model,
        None,
        &format!("{summary}{body}"),
    )
}
