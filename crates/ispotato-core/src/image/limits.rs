//! The caps every image must pass before it is decoded.

use serde::{Deserialize, Serialize};

/// Caps on untrusted images, checked before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestLimits {
    /// Largest accepted file, in bytes (downloads are cut off past it).
    pub max_bytes: u64,
    /// Largest accepted width x height.
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_side: u32,
    /// Most memory the decoder may allocate at once, in bytes.
    pub max_alloc: u64,
    /// Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale (in the IDCT, far cheaper than decoding
    /// everything and resizing) when their shorter side stays at least this many pixels.
    /// 0 decodes every image at full size.
    pub jpeg_reduce_min_side: u32,
    /// Most wall time one decode may take, in milliseconds; checked as the decoder reads, so a
    /// file built to be slow is refused instead of holding a worker.
    pub max_decode_ms: u64,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_side: 8192,
            max_alloc: 256 * 1024 * 1024,
            jpeg_reduce_min_side: 512,
            max_decode_ms: 3000,
        }
    }
}

/// Formats a byte count the way a chat user reads it ("48 MB", "512 KB", "1.5 MB").
pub fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= MIB {
        let mb = b / MIB;
        if mb < 10.0 {
            format!("{:.1} MB", mb)
        } else {
            format!("{:.0} MB", mb)
        }
    } else if b >= KIB {
        format!("{:.0} KB", b / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A size over a limit and the limit, as a user reads them, never the same text: "20.3 MB" and
/// "20 MB" when whole megabytes would read "20 MB" for both.
pub fn human_bytes_over(size: u64, limit: u64) -> (String, String) {
    let (a, b) = (human_bytes(size), human_bytes(limit));
    if a != b {
        return (a, b);
    }
    const MIB: f64 = 1024.0 * 1024.0;
    let (a, b) = if limit as f64 >= MIB {
        (
            format!("{:.2} MB", size as f64 / MIB),
            format!("{:.2} MB", limit as f64 / MIB),
        )
    } else {
        (format!("{size} bytes"), format!("{limit} bytes"))
    };
    if a != b {
        (a, b)
    } else {
        (format!("{size} bytes"), format!("{limit} bytes"))
    }
}

/// Formats a pixel count as megapixels ("40 MP", "10000 MP").
pub fn human_pixels(pixels: u64) -> String {
    let mp = pixels as f64 / 1e6;
    if mp < 10.0 {
        format!("{:.1} MP", mp)
    } else {
        format!("{:.0} MP", mp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units_read_naturally() {
        assert_eq!(human_bytes(48 * 1024 * 1024), "48 MB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20 MB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MB");
        assert_eq!(human_bytes(2048), "2 KB");
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_pixels(40_000_000), "40 MP");
        assert_eq!(human_pixels(10_000_000_000), "10000 MP");
        let limit = 20 * 1024 * 1024;
        assert_eq!(
            human_bytes_over(limit + 300_000, limit),
            ("20.29 MB".to_string(), "20.00 MB".to_string())
        );
        assert_eq!(
            human_bytes_over(limit + 1, limit),
            ("20971521 bytes".to_string(), "20971520 bytes".to_string())
        );
        assert_eq!(
            human_bytes_over(48 << 20, limit),
            ("48 MB".to_string(), "20 MB".to_string())
        );
    }
}
