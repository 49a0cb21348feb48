//! What a JPEG's marker structure says before any pixel is decoded, and the reduced-scale
//! decoder for large JPEGs.

use std::io::{BufRead, Read};

use image::{DynamicImage, RgbImage};

use crate::image::limits::IngestLimits;

/// Most scans a JPEG may have. Real files have 1 (baseline) or about 10-20 (progressive);
/// each scan costs the decoder a pass over the whole image.
pub const MAX_JPEG_SCANS: usize = 64;

/// What the marker structure of a JPEG says before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JpegShape {
    /// Start-of-scan segments up to the end-of-image marker.
    pub scans: usize,
    /// Whether an end-of-image marker follows the last scan. Data after it (a phone's "motion
    /// photo" video, an editor's trailer) is not part of the image and is ignored.
    pub complete: bool,
    /// Whether the frame is Huffman-coded DCT (baseline, extended or progressive): the kinds
    /// whose every 8x8 block costs at least one bit of scan data.
    pub huffman_dct: bool,
    /// Whether the frame is progressive (the decoder keeps every coefficient until the end).
    pub progressive: bool,
    /// 8x8 blocks the frame header declares, over all components (without MCU padding).
    pub blocks: u64,
    /// Samples the decoder stores for the frame, over all components (with MCU padding).
    pub samples: u64,
    /// Bytes of entropy-coded data over all scans.
    pub scan_bytes: u64,
}

impl JpegShape {
    /// Whether the scans hold enough data to cover the frame: each block of a Huffman-coded
    /// JPEG needs at least one bit. A header that declares far more than the data fills would
    /// otherwise be decoded as grey padding and judged.
    pub fn data_covers_frame(&self) -> bool {
        !self.huffman_dct || self.scan_bytes.saturating_mul(8) >= self.blocks
    }
}

/// Walks the JPEG's segments from the start: marker segments by their lengths (so an EXIF
/// thumbnail inside APP1 is skipped whole), entropy-coded data up to the next real marker
/// (0xFF00 is a stuffed byte, 0xFFD0-0xFFD7 restart markers). Stops at the first end-of-image.
pub fn jpeg_shape(bytes: &[u8]) -> JpegShape {
    let n = bytes.len();
    let mut shape = JpegShape::default();
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
            return shape;
        };
        i += 1;
        match marker {
            0xD9 => {
                shape.complete = true;
                return shape;
            }
            0xD8 | 0x01 | 0xD0..=0xD7 | 0x00 => {}
            0xDA => {
                shape.scans += 1;
                let Some(len) = length(i) else {
                    return shape;
                };
                i += len;
                // Entropy-coded data runs to the next marker that is not a stuffed byte or a
                // restart marker.
                let start = i.min(n);
                while i + 1 < n {
                    if bytes[i] == 0xFF && bytes[i + 1] != 0x00 && !(0xD0..=0xD7).contains(&bytes[i + 1]) {
                        break;
                    }
                    i += 1;
                }
                shape.scan_bytes += i.min(n).saturating_sub(start) as u64;
            }
            _ => {
                let Some(len) = length(i) else {
                    return shape;
                };
                if is_frame_header(marker) {
                    if let Some(segment) = bytes.get(i + 2..i + len) {
                        read_frame_header(marker, segment, &mut shape);
                    }
                }
                i += len;
            }
        }
    }
}

/// SOF0-SOF15, less DHT (C4), JPG (C8) and DAC (CC).
fn is_frame_header(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Reads the frame size and component sampling of a start-of-frame segment (after its length).
fn read_frame_header(marker: u8, segment: &[u8], shape: &mut JpegShape) {
    let [_precision, h1, h0, w1, w0, count, ref components @ ..] = *segment else {
        return;
    };
    let (height, width) = (u16::from_be_bytes([h1, h0]) as u64, u16::from_be_bytes([w1, w0]) as u64);
    let sampling: Vec<(u64, u64)> = components
        .chunks_exact(3)
        .take(count as usize)
        .map(|c| (((c[1] >> 4) as u64).max(1), ((c[1] & 0x0F) as u64).max(1)))
        .collect();
    let h_max = sampling.iter().map(|s| s.0).max().unwrap_or(1);
    let v_max = sampling.iter().map(|s| s.1).max().unwrap_or(1);
    let (mcus_x, mcus_y) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
    shape.huffman_dct = matches!(marker, 0xC0..=0xC2);
    shape.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    shape.blocks = 0;
    shape.samples = 0;
    for (h, v) in sampling {
        let blocks_x = (width * h).div_ceil(h_max).div_ceil(8);
        let blocks_y = (height * v).div_ceil(v_max).div_ceil(8);
        shape.blocks += blocks_x * blocks_y;
        shape.samples += mcus_x * h * mcus_y * v * 64;
    }
}

/// The factor (2, 4 or 8) a large JPEG is decoded at, keeping its shorter side at least
/// `limits.jpeg_reduce_min_side`; `None` when it is not large enough to reduce.
pub(super) fn reduced_scale(width: u32, height: u32, limits: &IngestLimits) -> Option<u32> {
    let min_side = limits.jpeg_reduce_min_side;
    let shorter = width.min(height);
    if min_side == 0 || shorter < 2 * min_side {
        return None;
    }
    [8, 4, 2].into_iter().find(|s| shorter / s >= min_side)
}

/// Why the reduced decoder gave no image.
pub(super) enum ReducedFailure {
    /// It cannot decode this kind of JPEG (CMYK, 12-bit, ...) or finds it malformed: the full
    /// decoder may still open it (and reports the real error if not).
    Unsupported,
    /// A read failed: the decode's time budget ran out.
    OutOfTime,
}

/// Decodes a large JPEG at `1/scale` a side in the IDCT.
pub(super) fn decode_reduced<R: Read + BufRead>(
    reader: R,
    width: u32,
    height: u32,
    scale: u32,
    limits: &IngestLimits,
) -> Result<DynamicImage, ReducedFailure> {
    let want = |side: u32| side.div_ceil(scale).min(u16::MAX as u32) as u16;
    let failed = |e: jpeg_decoder::Error| match e {
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => ReducedFailure::OutOfTime,
        _ => ReducedFailure::Unsupported,
    };
    let mut decoder = jpeg_decoder::Decoder::new(reader);
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    let (w, h) = decoder.scale(want(width), want(height)).map_err(failed)?;
    let pixels = decoder.decode().map_err(failed)?;
    let info = decoder.info().ok_or(ReducedFailure::Unsupported)?;
    let (w, h) = (w as u32, h as u32);
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => None,
    }
    .ok_or(ReducedFailure::Unsupported)
}
