//! "Why?": the evidence maps of recent replies, kept for a while so a button under a verdict can
//! answer with the image as the model saw it and where its potato evidence lies (red for potato,
//! blue against). Kept in this process's memory, bounded in images and in age. Nothing more is
//! written to the store: a button pressed after that, or on another replica, is answered from the
//! images the store keeps when the operator keeps them (`--keep-images`; judged again), and is
//! otherwise told to send the photo again.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::imageops::{self, FilterType};
use image::RgbImage;

use crate::model::explain::Evidence;
use crate::serve::services::{Judgement, ReplyPlace};
use crate::serve::Refusal;

/// Images kept at most (each view is 224x224 RGB, ~150 kB: ~10 MB in all).
pub const KEPT_IMAGES: usize = 64;
/// How long a reply's "Why?" keeps working.
pub const KEPT_FOR: Duration = Duration::from_secs(30 * 60);
/// What a "Why?" image shows, for its caption.
pub const CAPTION: &str = "Why: red is where I saw potato, blue is where I saw something else (brighter = stronger).";

/// One judged image of a reply, with its evidence.
#[derive(Clone)]
pub struct Explained {
    pub view: Arc<RgbImage>,
    pub evidence: Arc<Evidence>,
}

struct Entry {
    key: (String, String, String),
    at: Instant,
    images: Vec<Explained>,
}

/// The recent replies' evidence, oldest first.
pub struct Explanations {
    entries: Mutex<VecDeque<Entry>>,
    max_images: usize,
    max_age: Duration,
}

impl Default for Explanations {
    fn default() -> Self {
        Self::new(KEPT_IMAGES, KEPT_FOR)
    }
}

fn key(place: &ReplyPlace) -> (String, String, String) {
    (
        place.platform.as_str().to_string(),
        place.chat_id.clone(),
        place.message_id.clone(),
    )
}

impl Explanations {
    pub fn new(max_images: usize, max_age: Duration) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            max_images,
            max_age,
        }
    }

    /// Keeps the evidence of every judged image of the reply posted at `place` (images without
    /// an evidence map are left out; a reply with none is not kept).
    pub fn remember(&self, place: &ReplyPlace, judgement: &Judgement) {
        let images: Vec<Explained> = judgement
            .images
            .iter()
            .filter_map(|outcome| {
                let judged = outcome.result.as_ref().ok()?;
                Some(Explained {
                    view: judged.view.clone(),
                    evidence: judged.evidence.clone()?,
                })
            })
            .collect();
        self.keep(place, images);
    }

    /// Keeps `images` (at most the bound) as the evidence of the reply at `place`.
    pub fn keep(&self, place: &ReplyPlace, mut images: Vec<Explained>) {
        images.truncate(self.max_images);
        if images.is_empty() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.forget_old(&mut entries, images.len());
        entries.push_back(Entry {
            key: key(place),
            at: Instant::now(),
            images,
        });
    }

    /// The evidence kept for the reply at `place`, if it is still here.
    pub fn recall(&self, place: &ReplyPlace) -> Option<Vec<Explained>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.forget_old(&mut entries, 0);
        let wanted = key(place);
        entries.iter().find(|e| e.key == wanted).map(|e| e.images.clone())
    }

    /// Drops entries past their age, then the oldest until `incoming` more images fit.
    fn forget_old(&self, entries: &mut VecDeque<Entry>, incoming: usize) {
        while entries.front().is_some_and(|e| e.at.elapsed() > self.max_age) {
            entries.pop_front();
        }
        let mut held: usize = entries.iter().map(|e| e.images.len()).sum();
        while held + incoming > self.max_images {
            let Some(oldest) = entries.pop_front() else { break };
            held -= oldest.images.len();
        }
    }
}

/// The "Why?" answer for a reply's images: each view with its evidence laid over it, side by side
/// (four to a row), twice the model's size when there is one image, as a PNG. CPU-bound
/// (a few milliseconds): call it from a blocking thread.
pub fn why_png(images: &[Explained]) -> Result<Vec<u8>, Refusal> {
    let overlays: Vec<RgbImage> = images.iter().map(|i| i.evidence.overlay(&i.view)).collect();
    let Some(first) = overlays.first() else {
        return Err(gone());
    };
    let sheet = if let [only] = overlays.as_slice() {
        imageops::resize(only, only.width() * 2, only.height() * 2, FilterType::Triangle)
    } else {
        let (w, h) = first.dimensions();
        let columns = overlays.len().min(4) as u32;
        let rows = (overlays.len() as u32).div_ceil(columns);
        let mut sheet = RgbImage::from_pixel(w * columns, h * rows, image::Rgb([255, 255, 255]));
        for (i, overlay) in overlays.iter().enumerate() {
            let (col, row) = (i as u32 % columns, i as u32 / columns);
            imageops::overlay(&mut sheet, overlay, (col * w) as i64, (row * h) as i64);
        }
        sheet
    };
    let mut png = Vec::new();
    sheet
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Refusal::unexpected("explain", &e))?;
    Ok(png)
}

/// The refusal when a reply's evidence is no longer kept.
pub fn gone() -> Refusal {
    Refusal::declined(
        "explanation_gone",
        "I don't have that image any more (I keep them for 30 minutes): send it again and press Why? on the new answer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::verdict::{Label, Timings, Verdict};
    use crate::serve::judge::Judged;
    use crate::serve::services::ImageOutcome;
    use crate::serve::Platform;

    fn judgement(images: usize, with_evidence: bool) -> Judgement {
        let judged = || Judged {
            verdict: Verdict {
                label: Label::Potato,
                probability: 0.9,
                model_version: "t".into(),
                placeholder_model: false,
                blank: false,
                kinds: None,
                timings: Timings::default(),
            },
            sha256: String::new(),
            bytes: Arc::new(Vec::new()),
            view: Arc::new(RgbImage::from_pixel(8, 8, image::Rgb([128, 128, 128]))),
            evidence: with_evidence.then(|| {
                Arc::new(Evidence {
                    rows: 2,
                    cols: 2,
                    cells: vec![4.0, 0.0, 0.0, -4.0],
                    bias: 0.0,
                })
            }),
        };
        Judgement {
            platform: Platform::Telegram,
            user_hash: "u".into(),
            images: (0..images)
                .map(|i| ImageOutcome {
                    name: format!("{i}.jpg"),
                    result: Ok(judged()),
                    fact: None,
                })
                .collect(),
        }
    }

    fn place(message: &str) -> ReplyPlace {
        ReplyPlace {
            platform: Platform::Telegram,
            chat_id: "c".into(),
            message_id: message.into(),
        }
    }

    #[test]
    fn a_reply_is_recalled_by_its_place_until_newer_ones_push_it_out() {
        let kept = Explanations::new(4, Duration::from_secs(60));
        kept.remember(&place("1"), &judgement(2, true));
        kept.remember(&place("2"), &judgement(1, true));
        assert_eq!(kept.recall(&place("1")).map(|i| i.len()), Some(2));
        assert!(kept.recall(&place("3")).is_none());
        // Two more images: 5 > 4, so the oldest reply goes, whole.
        kept.remember(&place("3"), &judgement(2, true));
        assert!(kept.recall(&place("1")).is_none());
        assert_eq!(kept.recall(&place("2")).map(|i| i.len()), Some(1));
        assert_eq!(kept.recall(&place("3")).map(|i| i.len()), Some(2));
        // Another platform's message with the same ids is another reply.
        let discord = ReplyPlace {
            platform: Platform::Discord,
            ..place("3")
        };
        assert!(kept.recall(&discord).is_none());
    }

    #[test]
    fn old_replies_and_replies_without_evidence_are_not_kept() {
        let kept = Explanations::new(10, Duration::ZERO);
        kept.remember(&place("1"), &judgement(1, true));
        std::thread::sleep(Duration::from_millis(5));
        assert!(kept.recall(&place("1")).is_none(), "past its age");
        let kept = Explanations::new(10, Duration::from_secs(60));
        kept.remember(&place("1"), &judgement(1, false));
        assert!(kept.recall(&place("1")).is_none());
    }

    #[test]
    fn the_why_image_is_a_png_of_the_overlays() {
        let one = Explanations::new(10, Duration::from_secs(60));
        one.remember(&place("1"), &judgement(1, true));
        let png = why_png(&one.recall(&place("1")).unwrap()).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (16, 16), "one image at twice the size");
        // Top left leans potato (red), bottom right not (blue).
        assert!(img.get_pixel(1, 1).0[0] > 180 && img.get_pixel(14, 14).0[2] > 180);

        one.remember(&place("5"), &judgement(5, true));
        let png = why_png(&one.recall(&place("5")).unwrap()).unwrap();
        let sheet = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(sheet.dimensions(), (32, 16), "four to a row, two rows");
        assert_eq!(sheet.get_pixel(31, 15).0, [255, 255, 255], "an empty place stays white");
        assert_eq!(why_png(&[]).unwrap_err().reason(), "explanation_gone");
    }
}
