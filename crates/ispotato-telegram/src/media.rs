//! What to judge in a message: photos (the largest size within the limit), image documents,
//! static stickers and image URLs; and how to fetch a Telegram file under the byte cap.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::StreamExt;
use ispotato_core::image::IngestError;
use ispotato_core::prelude::{ImageInput, NamedImage, SecretString};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{FileId, MessageEntityKind, PhotoSize};

use crate::state::TgBot;

/// Most images answered in one reply.
pub const MAX_IMAGES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A Telegram file; `size` is `None` when Telegram did not say.
    File {
        id: FileId,
        size: Option<u64>,
    },
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted {
    Images(Vec<ImageRef>),
    /// Media I don't judge ("a video", "an animated sticker", "a file").
    NotStill(&'static str),
    Nothing,
}

impl ImageRef {
    /// The core's input for this image: a URL, or a Telegram download that runs only once the
    /// image holds a place in the queue.
    pub fn into_image(self, bot: &TgBot, token: &SecretString, max_bytes: u64) -> NamedImage {
        let input = match self {
            Self::Url(url) => ImageInput::url(url),
            Self::File { id, size } => {
                let (bot, token) = (bot.clone(), token.clone());
                ImageInput::Download(Box::pin(
                    async move { download(&bot, &token, &id, size, max_bytes).await },
                ))
            }
        };
        NamedImage {
            name: String::new(),
            input,
        }
    }
}

/// teloxide reports a missing `file_size` as `u32::MAX`: unknown, not huge.
fn known_size(size: u32) -> Option<u64> {
    (size != u32::MAX).then_some(size as u64)
}

/// The largest photo size within `max_bytes` (unknown sizes count as fitting); the smallest when
/// none fits, so the refusal can name its size.
pub fn pick_photo(sizes: &[PhotoSize], max_bytes: u64) -> Option<ImageRef> {
    let area = |p: &PhotoSize| p.width as u64 * p.height as u64;
    let fits = sizes
        .iter()
        .filter(|p| known_size(p.file.size).is_none_or(|s| s <= max_bytes))
        .max_by_key(|p| area(p));
    let chosen = fits.or_else(|| sizes.iter().min_by_key(|p| area(p)))?;
    Some(ImageRef::File {
        id: chosen.file.id.clone(),
        size: known_size(chosen.file.size),
    })
}

pub fn extract(msg: &Message, max_bytes: u64) -> Extracted {
    if let Some(sizes) = msg.photo() {
        return pick_photo(sizes, max_bytes).map_or(Extracted::Nothing, |r| Extracted::Images(vec![r]));
    }
    if let Some(doc) = msg.document() {
        let mime = doc
            .mime_type
            .as_ref()
            .map(|m| m.essence_str().to_string())
            .unwrap_or_default();
        return if mime.starts_with("image/") {
            Extracted::Images(vec![ImageRef::File {
                id: doc.file.id.clone(),
                size: known_size(doc.file.size),
            }])
        } else if mime.starts_with("video/") {
            Extracted::NotStill("a video")
        } else {
            Extracted::NotStill("a file")
        };
    }
    if let Some(sticker) = msg.sticker() {
        return if sticker.is_static() {
            Extracted::Images(vec![ImageRef::File {
                id: sticker.file.id.clone(),
                size: known_size(sticker.file.size),
            }])
        } else {
            Extracted::NotStill("an animated sticker")
        };
    }
    if msg.video().is_some() || msg.video_note().is_some() {
        return Extracted::NotStill("a video");
    }
    if msg.animation().is_some() {
        return Extracted::NotStill("an animation");
    }
    let urls = urls_in(msg);
    if urls.is_empty() {
        Extracted::Nothing
    } else {
        Extracted::Images(urls.into_iter().take(MAX_IMAGES).map(ImageRef::Url).collect())
    }
}

/// http(s) links in the text or caption (plain URLs and text links). An entity whose span does
/// not fit its text (a forged update) is skipped: teloxide's own `parse_entities` would panic.
fn urls_in(msg: &Message) -> Vec<String> {
    let (text, entities) = match (msg.text(), msg.entities()) {
        (Some(text), Some(entities)) => (text, entities),
        _ => match (msg.caption(), msg.caption_entities()) {
            (Some(text), Some(entities)) => (text, entities),
            _ => return Vec::new(),
        },
    };
    let mut out = Vec::new();
    for e in entities {
        let url = match &e.kind {
            MessageEntityKind::Url => match utf16_span(text, e.offset, e.length) {
                Some(span) => span.to_string(),
                None => continue,
            },
            MessageEntityKind::TextLink { url } => url.to_string(),
            _ => continue,
        };
        if url.starts_with("http://") || url.starts_with("https://") {
            out.push(url);
        }
    }
    out
}

/// The part of `text` an entity names, in UTF-16 code units as Telegram counts them; `None`
/// when the span falls outside the text or inside a character.
fn utf16_span(text: &str, offset: usize, length: usize) -> Option<&str> {
    let end_units = offset.checked_add(length)?;
    let (mut units, mut start, mut end) = (0usize, None, None);
    for (byte, c) in text.char_indices().chain(std::iter::once((text.len(), '\0'))) {
        if units == offset {
            start = Some(byte);
        }
        if units == end_units {
            end = Some(byte);
            break;
        }
        units += c.len_utf16();
    }
    text.get(start?..end?)
}

/// Downloads a Telegram file, refusing it by its declared size first and cutting the stream off
/// past `max_bytes` whatever was declared.
pub async fn download(
    bot: &TgBot,
    token: &SecretString,
    id: &FileId,
    declared: Option<u64>,
    max_bytes: u64,
) -> Result<Vec<u8>, IngestError> {
    if let Some(size) = declared.filter(|s| *s > max_bytes) {
        return Err(IngestError::TooLarge { size, limit: max_bytes });
    }
    let file = bot.get_file(id.clone()).await.map_err(|e| IngestError::Download {
        detail: format!("getFile failed: {}", token.scrub(&e.to_string())),
    })?;
    if let Some(size) = known_size(file.size).filter(|s| *s > max_bytes) {
        return Err(IngestError::TooLarge { size, limit: max_bytes });
    }
    let mut stream = bot.download_file_stream(&file.path);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| IngestError::Download {
            detail: e.without_url().to_string(),
        })?;
        if bytes.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(IngestError::TooLargeStreamed { limit: max_bytes });
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    Ok(bytes)
}

/// Album messages waiting for their siblings, by (chat, media group).
#[derive(Default)]
pub struct Albums {
    pending: Mutex<HashMap<(i64, String), Vec<Message>>>,
}

impl Albums {
    /// Adds a message to its album; true for the first one (whose handler answers the album).
    pub fn add(&self, group: &str, msg: Message) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let entry = pending.entry((msg.chat.id.0, group.to_string())).or_default();
        entry.push(msg);
        entry.len() == 1
    }

    /// Takes every message of the album, in message order.
    pub fn take(&self, chat: ChatId, group: &str) -> Vec<Message> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut msgs = pending.remove(&(chat.0, group.to_string())).unwrap_or_default();
        msgs.sort_by_key(|m| m.id.0);
        msgs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_spans_are_read_in_utf16_units_and_never_out_of_bounds() {
        assert_eq!(
            utf16_span("look https://x.org/p.jpg", 5, 19),
            Some("https://x.org/p.jpg")
        );
        // An emoji is two UTF-16 units.
        assert_eq!(utf16_span("🥔 https://x.org", 3, 13), Some("https://x.org"));
        assert_eq!(utf16_span("short", 2, 10), None);
        assert_eq!(utf16_span("short", 6, 0), None);
        assert_eq!(utf16_span("🥔x", 1, 1), None, "inside a character");
        assert_eq!(utf16_span("abc", usize::MAX, 2), None);
        assert_eq!(utf16_span("abc", 3, 0), Some(""));
    }

    fn size(id: &str, w: u32, bytes: u32) -> PhotoSize {
        serde_json::from_value(serde_json::json!({
            "file_id": id, "file_unique_id": id, "width": w, "height": w, "file_size": bytes
        }))
        .unwrap()
    }

    #[test]
    fn the_largest_photo_that_fits_is_chosen_and_unknown_sizes_fit() {
        let sizes = [size("s", 90, 1_000), size("m", 320, 20_000), size("l", 1280, 2_000_000)];
        assert_eq!(
            pick_photo(&sizes, 5_000_000),
            Some(ImageRef::File {
                id: FileId("l".into()),
                size: Some(2_000_000)
            })
        );
        assert_eq!(
            pick_photo(&sizes, 100_000),
            Some(ImageRef::File {
                id: FileId("m".into()),
                size: Some(20_000)
            })
        );
        assert_eq!(
            pick_photo(&sizes, 10),
            Some(ImageRef::File {
                id: FileId("s".into()),
                size: Some(1_000)
            })
        );
        // teloxide turns a missing file_size into u32::MAX: unknown, so it counts as fitting.
        let unknown = [size("s", 90, 1_000), size("x", 2000, u32::MAX)];
        assert_eq!(
            pick_photo(&unknown, 100_000),
            Some(ImageRef::File {
                id: FileId("x".into()),
                size: None
            })
        );
        assert_eq!(pick_photo(&[], 100), None);
    }
}
