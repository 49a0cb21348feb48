//! The images of a command or a message: attachments (checked by declared size and content
//! type before any download) and image embeds, as inputs for the core's judge.

use ispotato_core::image::human_bytes_over;
use ispotato_core::prelude::{ImageInput, NamedImage, Refusal};
use serenity::all::{Attachment, Message};

/// Most images judged for one message.
pub const MAX_IMAGES: usize = 10;

/// An attachment to download, or why it is refused before downloading it (not an image by its
/// content type, or over the size cap by its declared size).
pub fn attachment(a: &Attachment, max_bytes: u64) -> Result<NamedImage, Refusal> {
    let ct = a.content_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    if !ct.is_empty() && !ct.starts_with("image/") {
        return Err(Refusal::declined(
            "not_an_image",
            format!("{} isn't an image; send a JPEG, PNG, WebP or GIF", a.filename),
        ));
    }
    if a.size as u64 > max_bytes {
        let (size, limit) = human_bytes_over(a.size as u64, max_bytes);
        return Err(Refusal::declined(
            "too_large",
            format!("{} is {size}; the limit is {limit}", a.filename),
        ));
    }
    Ok(NamedImage {
        name: a.filename.clone(),
        input: ImageInput::url(a.url.clone()),
    })
}

pub fn link(url: &str) -> NamedImage {
    NamedImage {
        name: "link".into(),
        input: ImageInput::url(url.trim()),
    }
}

/// Every image attachment and image embed of a message, up to [`MAX_IMAGES`]. Non-image
/// attachments are skipped; oversized images come back refused, to report in place.
pub fn message_images(msg: &Message, max_bytes: u64) -> Vec<NamedImage> {
    let mut out = Vec::new();
    for a in &msg.attachments {
        let is_image = a.content_type.as_deref().is_some_and(|c| c.starts_with("image/")) || a.width.is_some();
        if is_image {
            // A refused image is kept, to be reported in place among the others.
            out.push(attachment(a, max_bytes).unwrap_or_else(|refusal| NamedImage {
                name: a.filename.clone(),
                input: ImageInput::Refused(refusal),
            }));
        }
    }
    for e in &msg.embeds {
        let url = e.image.as_ref().map(|i| i.url.clone()).or_else(|| {
            (e.kind.as_deref() == Some("image"))
                .then(|| e.thumbnail.as_ref().map(|t| t.url.clone()))
                .flatten()
        });
        if let Some(url) = url {
            out.push(NamedImage {
                name: "embed".into(),
                input: ImageInput::url(url),
            });
        }
    }
    out.truncate(MAX_IMAGES);
    out
}
