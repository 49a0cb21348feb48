//! The images of a command or a message: attachments (checked by declared size and content
//! type before any download) and image embeds.

use serenity::all::{Attachment, Message};

/// Most images judged for one message.
pub const MAX_IMAGES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLink {
    pub name: String,
    pub url: String,
}

/// Why an attachment is refused before downloading it.
pub fn check_attachment(a: &Attachment, max_bytes: u64) -> Result<ImageLink, String> {
    let ct = a.content_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    if !ct.is_empty() && !ct.starts_with("image/") {
        return Err(format!("{} isn't an image; send a JPEG, PNG, WebP or GIF", a.filename));
    }
    if a.size as u64 > max_bytes {
        return Err(format!(
            "{} is {}; the limit is {}",
            a.filename,
            ispotato_core::limits::human_bytes(a.size as u64),
            ispotato_core::limits::human_bytes(max_bytes)
        ));
    }
    Ok(ImageLink {
        name: a.filename.clone(),
        url: a.url.clone(),
    })
}

/// Every image attachment and image embed of a message, up to [`MAX_IMAGES`]. Non-image
/// attachments are skipped; oversized images are returned as errors to report in place.
pub fn message_images(msg: &Message, max_bytes: u64) -> Vec<Result<ImageLink, (String, String)>> {
    let mut out = Vec::new();
    for a in &msg.attachments {
        let is_image = a.content_type.as_deref().is_some_and(|c| c.starts_with("image/")) || a.width.is_some();
        if is_image {
            out.push(check_attachment(a, max_bytes).map_err(|e| (a.filename.clone(), e)));
        }
    }
    for e in &msg.embeds {
        let url = e.image.as_ref().map(|i| i.url.clone()).or_else(|| {
            (e.kind.as_deref() == Some("image"))
                .then(|| e.thumbnail.as_ref().map(|t| t.url.clone()))
                .flatten()
        });
        if let Some(url) = url {
            out.push(Ok(ImageLink {
                name: "embed".into(),
                url,
            }));
        }
    }
    out.truncate(MAX_IMAGES);
    out
}
