//! The guarded decoder: the only way to build a [`ValidatedImage`].
//!
//! Order matters: byte cap, then the format allow-list from magic bytes, then the header's
//! dimensions against the pixel caps, and only then are pixels decoded, under an allocation cap.

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

use crate::error::IngestError;
use crate::limits::IngestLimits;

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
    /// Whether the image has no content: every channel stays within [`BLANK_RANGE`] levels
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

/// Decodes untrusted bytes under `limits`.
pub fn decode(bytes: &[u8], limits: &IngestLimits) -> Result<ValidatedImage, IngestError> {
    let started = Instant::now();
    if bytes.len() as u64 > limits.max_bytes {
        return Err(IngestError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    let format = sniff_format(bytes)?;
    if format == AcceptedFormat::Jpeg {
        let shape = jpeg_shape(bytes);
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
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(|e| map_decode_error(e, bytes, limits))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let reduced = match format {
        AcceptedFormat::Jpeg => decode_jpeg_reduced(bytes, width, height, limits),
        _ => None,
    };
    let mut image = match reduced {
        Some(image) => {
            drop(decoder);
            image
        }
        None => DynamicImage::from_decoder(decoder).map_err(|e| map_decode_error(e, bytes, limits))?,
    };
    image.apply_orientation(orientation);
    let rgb = flatten_to_rgb(image);
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

/// Decodes a large JPEG at 1/2, 1/4 or 1/8 scale in the IDCT when its shorter side stays at
/// least `limits.jpeg_reduce_min_side`. `None` means "decode at full size instead": the image
/// is not large enough, or the reduced decoder cannot handle this file (it is then left to the
/// full decoder, which reports real errors).
fn decode_jpeg_reduced(bytes: &[u8], width: u32, height: u32, limits: &IngestLimits) -> Option<DynamicImage> {
    let min_side = limits.jpeg_reduce_min_side;
    let shorter = width.min(height);
    if min_side == 0 || shorter < 2 * min_side {
        return None;
    }
    let want = |side: u32| {
        (side as u64 * min_side as u64)
            .div_ceil(shorter as u64)
            .min(u16::MAX as u64) as u16
    };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    let (w, h) = decoder.scale(want(width), want(height)).ok()?;
    let info = decoder.info()?;
    let pixels = decoder.decode().ok()?;
    let (w, h) = (w as u32, h as u32);
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => None,
    }
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

/// Most scans a JPEG may have. Real files have 1 (baseline) or about 10-20 (progressive);
/// each scan costs the decoder a pass over the whole image.
pub const MAX_JPEG_SCANS: usize = 64;

/// What the marker structure of a JPEG says before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegShape {
    /// Start-of-scan segments up to the end-of-image marker.
    pub scans: usize,
    /// Whether an end-of-image marker follows the last scan. Data after it (a phone's "motion
    /// photo" video, an editor's trailer) is not part of the image and is ignored.
    pub complete: bool,
}

/// Walks the JPEG's segments from the start: marker segments by their lengths (so an EXIF
/// thumbnail inside APP1 is skipped whole), entropy-coded data up to the next real marker
/// (0xFF00 is a stuffed byte, 0xFFD0-0xFFD7 restart markers). Stops at the first end-of-image.
pub fn jpeg_shape(bytes: &[u8]) -> JpegShape {
    let n = bytes.len();
    let mut scans = 0;
    let mut i = 2; // after SOI
    let length = |at: usize| -> Option<usize> {
        let len = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]) as usize;
        (len >= 2).then_some(len)
    };
    loop {
        // Find the next marker, tolerating stray bytes and fill bytes before it.
        while i < n && bytes[i] != 0xFF {
            i += 1;
        }
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return JpegShape { scans, complete: false };
        };
        i += 1;
        match marker {
            0xD9 => return JpegShape { scans, complete: true },
            0xD8 | 0x01 | 0xD0..=0xD7 | 0x00 => {}
            0xDA => {
                scans += 1;
                let Some(len) = length(i) else {
                    return JpegShape { scans, complete: false };
                };
                i += len;
                // Entropy-coded data runs to the next marker that is not a stuffed byte or a
                // restart marker.
                while i + 1 < n {
                    if bytes[i] == 0xFF && bytes[i + 1] != 0x00 && !(0xD0..=0xD7).contains(&bytes[i + 1]) {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                let Some(len) = length(i) else {
                    return JpegShape { scans, complete: false };
                };
                i += len;
            }
        }
    }
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

/// RGB8, compositing any alpha over white (transparent stickers would otherwise turn black).
fn flatten_to_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = src[3] as u32;
        for c in 0..3 {
            // Integer over-white compositing, rounded: c*a/255 + 255*(255-a)/255.
            dst[c] = ((src[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}
