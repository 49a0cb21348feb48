//! The guarded decoder: the only way to build a [`ValidatedImage`].
//!
//! Order matters: byte cap, then the format allow-list from magic bytes, the JPEG marker checks
//! (scan count, end marker, enough scan data for the frame), the header's dimensions against the
//! pixel caps and the decode's estimated peak memory against its budget, and only then are pixels
//! decoded, under a time budget and the decoder's own allocation cap.

mod budget;
mod flatten;
mod jpeg;

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

use self::budget::{DeadlineReader, Plan};
pub use self::jpeg::{jpeg_shape, JpegShape, MAX_JPEG_SCANS};
use crate::image::error::IngestError;
use crate::image::limits::IngestLimits;

/// Largest spread of a channel, in levels of 255, that still counts as "no content" (JPEG
/// noise on a flat colour stays within a few levels).
pub const BLANK_RANGE: u8 = 6;

/// The image formats IsPotato accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptedFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl AcceptedFormat {
    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Webp => ImageFormat::WebP,
            Self::Gif => ImageFormat::Gif,
        }
    }
}

/// An image that passed every cap and decoded cleanly: upright (EXIF orientation applied),
/// RGB, with alpha composited over white. Only [`decode`] can build one.
#[derive(Clone)]
pub struct ValidatedImage {
    rgb: RgbImage,
    sha256: [u8; 32],
    format: AcceptedFormat,
    byte_len: usize,
    original: (u32, u32),
    decode_time: Duration,
}

impl std::fmt::Debug for ValidatedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedImage")
            .field("width", &self.rgb.width())
            .field("height", &self.rgb.height())
            .field("format", &self.format)
            .field("byte_len", &self.byte_len)
            .finish()
    }
}

impl ValidatedImage {
    pub fn rgb(&self) -> &RgbImage {
        &self.rgb
    }
    pub fn width(&self) -> u32 {
        self.rgb.width()
    }
    pub fn height(&self) -> u32 {
        self.rgb.height()
    }
    /// SHA-256 of the original file bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
    pub fn format(&self) -> AcceptedFormat {
        self.format
    }
    /// Size of the original file in bytes.
    pub fn byte_len(&self) -> usize {
        self.byte_len
    }
    pub fn decode_time(&self) -> Duration {
        self.decode_time
    }
    /// Whether the image has no content: every channel stays within `BLANK_RANGE` levels
    /// over the whole image (a plain white photo, a fully transparent sticker over white).
    /// Real photos leave the loop within a few pixels.
    pub fn is_blank(&self) -> bool {
        let mut pixels = self.rgb.pixels();
        let Some(first) = pixels.next() else { return true };
        let (mut lo, mut hi) = (first.0, first.0);
        for p in pixels {
            for c in 0..3 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
                if hi[c] - lo[c] > BLANK_RANGE {
                    return false;
                }
            }
        }
        true
    }

    /// Upright width and height of the file as sent (larger than `width()`/`height()` when a big
    /// JPEG was decoded at reduced scale).
    pub fn original_dimensions(&self) -> (u32, u32) {
        self.original
    }
}

/// Identifies the format from magic bytes; refuses anything outside the allow-list with a
/// message that names what it is when we can tell.
pub fn sniff_format(bytes: &[u8]) -> Result<AcceptedFormat, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => Ok(AcceptedFormat::Jpeg),
        Ok(ImageFormat::Png) => Ok(AcceptedFormat::Png),
        Ok(ImageFormat::WebP) => Ok(AcceptedFormat::Webp),
        Ok(ImageFormat::Gif) => Ok(AcceptedFormat::Gif),
        Ok(other) => Err(IngestError::UnsupportedFormat {
            what: format!("{other:?}").to_uppercase(),
        }),
        Err(_) => match other_known_format(bytes) {
            Some(what) => Err(IngestError::UnsupportedFormat { what: what.to_string() }),
            None => Err(IngestError::NotAnImage),
        },
    }
}

/// Formats the `image` crate was built without but users commonly send.
fn other_known_format(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(64)];
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        return Some(match brand {
            b"avif" | b"avis" => "AVIF",
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc" => "HEIC",
            _ => "video",
        });
    }
    if head.starts_with(b"BM") {
        return Some("BMP");
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Some("TIFF");
    }
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.trim_start().starts_with("<svg") || text.contains("<svg") {
        return Some("SVG");
    }
    None
}

/// True when the bytes start like an accepted image format.
pub fn looks_like_image(bytes: &[u8]) -> bool {
    sniff_format(bytes).is_ok()
}

/// Decodes untrusted bytes under `limits`: within `limits.max_decode_ms` of wall time (checked
/// as the decoder reads) and an estimated peak memory of `limits.max_alloc`.
pub fn decode(bytes: &[u8], limits: &IngestLimits) -> Result<ValidatedImage, IngestError> {
    let started = Instant::now();
    let budget = Duration::from_millis(limits.max_decode_ms);
    let deadline = started + budget;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(IngestError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    let format = sniff_format(bytes)?;
    let jpeg = (format == AcceptedFormat::Jpeg).then(|| jpeg_shape(bytes));
    if let Some(shape) = &jpeg {
        if shape.scans > MAX_JPEG_SCANS {
            // Each scan of a progressive JPEG costs a pass over the whole image: refuse before
            // decoding what could hold a worker for minutes.
            return Err(IngestError::TooManyScans {
                scans: shape.scans,
                limit: MAX_JPEG_SCANS,
            });
        }
        if !shape.complete {
            return Err(IngestError::Corrupt {
                detail: "JPEG ends before its end-of-image marker".into(),
            });
        }
    }
    let reader = || DeadlineReader::new(Cursor::new(bytes), deadline);
    let mut image_reader = ImageReader::with_format(reader(), format.image_format());
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    image_reader.limits(decoder_limits);
    let timed_out = |e: image::ImageError| {
        if Instant::now() >= deadline {
            IngestError::TooSlowToDecode { budget }
        } else {
            map_decode_error(e, bytes, limits)
        }
    };
    let mut decoder = image_reader.into_decoder().map_err(timed_out)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    if let Some(shape) = jpeg.as_ref().filter(|s| !s.data_covers_frame()) {
        return Err(IngestError::Corrupt {
            detail: format!(
                "JPEG declares {width}x{height} ({} blocks) but holds {} bytes of scan data",
                shape.blocks, shape.scan_bytes
            ),
        });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let plan = match jpeg.and_then(|_| jpeg::reduced_scale(width, height, limits)) {
        Some(scale) => Plan::ReducedJpeg { scale },
        None => Plan::Full,
    };
    let fits = |plan: Plan| -> Result<(), IngestError> {
        let peak = budget::peak_bytes(format, decoder.color_type(), (width, height), jpeg.as_ref(), plan);
        if peak > limits.max_alloc {
            tracing::debug!(
                width,
                height,
                peak,
                limit = limits.max_alloc,
                "decode would exceed its memory budget"
            );
            return Err(IngestError::TooMuchMemory);
        }
        Ok(())
    };
    fits(plan)?;
    let reduced = match plan {
        Plan::ReducedJpeg { scale } => match jpeg::decode_reduced(reader(), width, height, scale, limits) {
            Ok(image) => Some(image),
            Err(jpeg::ReducedFailure::OutOfTime) => return Err(IngestError::TooSlowToDecode { budget }),
            // Left to the full decoder, which must fit the budgets on its own terms.
            Err(jpeg::ReducedFailure::Unsupported) if Instant::now() < deadline => {
                fits(Plan::Full)?;
                None
            }
            Err(jpeg::ReducedFailure::Unsupported) => return Err(IngestError::TooSlowToDecode { budget }),
        },
        Plan::Full => None,
    };
    let image = match reduced {
        Some(image) => {
            drop(decoder);
            image
        }
        None => DynamicImage::from_decoder(decoder).map_err(timed_out)?,
    };
    let rgb = upright(flatten::to_rgb(image), orientation);
    let original = match orientation {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (height, width)
        }
        _ => (width, height),
    };
    Ok(ValidatedImage {
        rgb,
        sha256: Sha256::digest(bytes).into(),
        format,
        byte_len: bytes.len(),
        original,
        decode_time: started.elapsed(),
    })
}

/// Turns the RGB image as EXIF says it was held (one copy at a time).
fn upright(rgb: RgbImage, orientation: Orientation) -> RgbImage {
    if orientation == Orientation::NoTransforms {
        return rgb;
    }
    let mut image = DynamicImage::ImageRgb8(rgb);
    image.apply_orientation(orientation);
    image.into_rgb8()
}

fn check_dimensions(width: u32, height: u32, limits: &IngestLimits) -> Result<(), IngestError> {
    if width == 0 || height == 0 {
        return Err(IngestError::Corrupt {
            detail: format!("image declares {width}x{height}"),
        });
    }
    let pixels = width as u64 * height as u64;
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        return Err(IngestError::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        });
    }
    Ok(())
}

fn map_decode_error(err: image::ImageError, bytes: &[u8], limits: &IngestLimits) -> IngestError {
    use image::error::{ImageError, LimitErrorKind};
    match err {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError => match header_dimensions(bytes) {
                Some((width, height)) => IngestError::TooManyPixels {
                    width,
                    height,
                    max_pixels: limits.max_pixels,
                    max_side: limits.max_side,
                },
                None => IngestError::TooMuchMemory,
            },
            _ => IngestError::TooMuchMemory,
        },
        ImageError::Unsupported(e) => IngestError::Corrupt { detail: e.to_string() },
        ImageError::IoError(e) => IngestError::Corrupt { detail: e.to_string() },
        other => IngestError::Corrupt {
            detail: other.to_string(),
        },
    }
}

/// Reads the declared dimensions without any limit, for the error message only.
fn header_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(16 * 1024 * 1024);
    reader.limits(limits);
    reader.into_dimensions().ok()
}
