//! The model card's Markdown as HTML. Raw HTML in the card is shown as text (the card is a
//! file an operator ships, but a page must not run what it did not write), relative images
//! point at `/model/`, and only web and in-page links stay links.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// The files next to the card the page serves (under `/model/`).
pub const CARD_IMAGES: [&str; 1] = ["reliability.png"];

pub fn card_to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: image_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: link_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

fn image_url(url: CowStr<'_>) -> CowStr<'_> {
    match CARD_IMAGES.iter().find(|name| url.as_ref() == **name) {
        Some(name) => CowStr::from(format!("/model/{name}")),
        None if url.starts_with("https://") => url,
        None => CowStr::from(""),
    }
}

fn link_url(url: CowStr<'_>) -> CowStr<'_> {
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with('#') {
        url
    } else {
        CowStr::from("#")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_text_and_links_are_tamed() {
        let html = card_to_html(
            "# Card\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
             ![diagram](reliability.png) ![x](../../etc/passwd) [js](javascript:alert(1)) [ok](https://example.org)",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("src=\"/model/reliability.png\""), "{html}");
        assert!(!html.contains("passwd"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://example.org\""), "{html}");
    }
}
