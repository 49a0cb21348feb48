//! Server-rendered HTML, written by hand: every value that did not come from this file goes
//! through [`esc`]. No inline script or style anywhere (the Content-Security-Policy forbids
//! both); the page's script and style sheet are the embedded assets.

mod pages;
mod result;

use axum::http::StatusCode;
use axum::response::Html;
use ispotato_core::prelude::Refusal;

pub use pages::{home_page, model_page, stats_page, vote_answer};
pub use result::{result_section, ResultView};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A size for people: "20 MB", "300 KB".
pub fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{} MB", n / (1024 * 1024))
    } else {
        format!("{} KB", n.div_ceil(1024))
    }
}

/// "1 vote", "2 votes".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Which part of the site a page belongs to (for the navigation's `aria-current`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Stats,
    Model,
    None,
}

/// A whole page: head, navigation, `main`, footer. `csrf` goes into a meta tag for the script.
pub fn layout(title: &str, section: Section, csrf: Option<&str>, main: &str) -> Html<String> {
    let nav = [
        ("/", "Judge a photo", Section::Home),
        ("/stats", "Stats", Section::Stats),
        ("/model", "The model", Section::Model),
    ]
    .iter()
    .map(|(href, label, s)| {
        let current = if *s == section { " aria-current=\"page\"" } else { "" };
        format!("<a href=\"{href}\"{current}>{label}</a>")
    })
    .collect::<Vec<_>>()
    .join("");
    let csrf_meta = csrf
        .map(|t| format!("<meta name=\"csrf-token\" content=\"{}\">", esc(t)))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n{csrf_meta}\n\
         <title>{title} · IsPotato</title>\n\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/assets/style.css\">\n\
         <script src=\"/assets/app.js\" defer></script>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"top\"><a class=\"brand\" href=\"/\"><img src=\"/favicon.svg\" alt=\"\" width=\"28\" height=\"28\"> IsPotato</a>\
         <nav aria-label=\"Main\">{nav}</nav></header>\n\
         <main id=\"main\" tabindex=\"-1\">\n{main}\n</main>\n\
         <footer><p>IsPotato judges one thing: whether a photo shows a potato. Uploads are not kept unless the operator \
         turned that on for retraining. <a href=\"/api/v1/openapi.json\">API</a></p></footer>\n</body>\n</html>\n",
        title = esc(title),
    ))
}

/// A piece of a page, for the script to swap in.
pub fn fragment(inner: String) -> Html<String> {
    Html(inner)
}

/// A refusal as a notice: the user-safe message only.
pub fn refusal_box(refusal: &Refusal) -> String {
    let reference = refusal
        .reference()
        .map(|r| format!(" <span class=\"muted\">Reference: <code>{}</code></span>", esc(r)))
        .unwrap_or_default();
    format!(
        "<section id=\"result\" class=\"card notice\" role=\"alert\" tabindex=\"-1\"><h2>That didn't work</h2><p>{}{reference}</p></section>",
        esc(&refusal.sorry())
    )
}

/// A friendly error page: the status, the user-safe message, a way back.
pub fn error_page(status: StatusCode, refusal: &Refusal) -> Html<String> {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        Section::None,
        None,
        &format!(
            "{}<p><a class=\"button\" href=\"/\">Back to the potato judge</a></p>",
            refusal_box(refusal)
        ),
    )
}
