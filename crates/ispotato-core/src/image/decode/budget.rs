//! What one decode may spend: wall time, checked as the decoder reads, and memory,
//! estimated from the header before any pixel is decoded.

use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::time::Instant;

use image::ColorType;

use super::jpeg::JpegShape;
use super::AcceptedFormat;

/// Reads between two looks at the clock. The reduced JPEG decoder reads its entropy-coded data
/// a byte at a time; asking the time on each of those reads doubled the decode of a 12 MP photo
/// (60 ms instead of 30). A few hundred one-byte reads take microseconds, so the deadline is
/// still noticed promptly.
const READS_PER_CLOCK_CHECK: u32 = 256;

/// A reader that fails once the decode's deadline has passed, so a decoder that streams its
/// input (PNG, GIF, WebP, the reduced JPEG decoder) stops at one of its next reads instead of
/// running on. The first read always looks at the clock.
pub(super) struct DeadlineReader<R> {
    inner: R,
    deadline: Instant,
    reads_until_check: u32,
}

impl<R> DeadlineReader<R> {
    pub(super) fn new(inner: R, deadline: Instant) -> Self {
        Self {
            inner,
            deadline,
            reads_until_check: 0,
        }
    }

    fn check(&mut self) -> io::Result<()> {
        if self.reads_until_check > 0 {
            self.reads_until_check -= 1;
            return Ok(());
        }
        self.reads_until_check = READS_PER_CLOCK_CHECK;
        if Instant::now() >= self.deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the decode time budget is spent",
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for DeadlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.read(buf)
    }
}

impl<R: BufRead> BufRead for DeadlineReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.check()?;
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount)
    }
}

impl<R: Seek> Seek for DeadlineReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// How a decode will run: the full image from `image`'s decoder, or a large JPEG at reduced
/// scale (`1/scale` a side) from the IDCT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    Full,
    ReducedJpeg { scale: u32 },
}

/// The most memory a decode of this image will hold at once, in bytes: the decoder's output
/// buffer, what the decoder keeps beside it, the RGB copy when the output cannot be converted in
/// place, and the upright copy when EXIF orientation turns it. Measured against a counting
/// allocator for every format (`tests/decode_memory.rs`); the estimate stays above what is used.
pub(super) fn peak_bytes(
    format: AcceptedFormat,
    color: ColorType,
    (width, height): (u32, u32),
    jpeg: Option<&JpegShape>,
    plan: Plan,
) -> u64 {
    let pixels = width as u64 * height as u64;
    // Progressive JPEG decoders keep every DCT coefficient (an i16 per sample) until the last scan.
    let coefficients = jpeg.filter(|s| s.progressive).map_or(0, |s| 2 * s.samples);
    match plan {
        Plan::ReducedJpeg { scale } => {
            let reduced = pixels.div_ceil(scale as u64 * scale as u64);
            // Output, its RGB copy and its upright copy, at reduced size.
            coefficients + 3 * 3 * reduced
        }
        Plan::Full => {
            let output = color.bytes_per_pixel() as u64 * pixels;
            let beside = match format {
                AcceptedFormat::Jpeg => coefficients.max(output),
                // A frame smaller than the canvas is decoded into its own buffer first.
                AcceptedFormat::Gif => 4 * pixels,
                // Lossless WebP decodes to 32-bit ARGB before converting; lossy keeps YUV planes.
                AcceptedFormat::Webp => 4 * pixels,
                AcceptedFormat::Png => 0,
            };
            let rgb = match color {
                ColorType::Rgb8 | ColorType::Rgba8 => 0, // converted in place
                c if c.has_alpha() => 4 * pixels,        // to RGBA8, then in place
                _ => 3 * pixels,
            };
            (output + beside + rgb).max(2 * 3 * pixels)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_spent_deadline_fails_the_first_read() {
        let data = [0u8; 16];
        let mut reader = DeadlineReader::new(&data[..], Instant::now());
        let err = reader.read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_deadline_passing_mid_decode_stops_one_byte_reads_within_a_check_interval() {
        let data = vec![0u8; 4096];
        let mut reader = DeadlineReader::new(&data[..], Instant::now() + Duration::from_millis(30));
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).expect("before the deadline");
        std::thread::sleep(Duration::from_millis(40));
        let reads = (0..4000).take_while(|_| reader.read_exact(&mut byte).is_ok()).count();
        assert!(
            reads <= READS_PER_CLOCK_CHECK as usize,
            "{reads} reads went through after the deadline"
        );
    }
}
