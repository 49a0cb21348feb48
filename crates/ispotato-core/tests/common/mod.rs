//! Images the tests synthesise themselves: nothing here comes from outside the project.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::PathBuf;

use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Left half red, right half blue.
pub fn two_tone(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    })
}

pub fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    encode(&two_tone(w, h), ImageFormat::Png)
}

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(&two_tone(w, h), ImageFormat::Jpeg)
}

pub fn transparent_png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_pixel(w, h, Rgba([0, 0, 0, 0]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("encode");
    out.into_inner()
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A ~60-byte PNG whose header declares `w` x `h` RGB pixels (a decompression bomb's header).
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    png_declaring_as(w, h, 8, 2)
}

/// A tiny PNG whose header declares `w` x `h` pixels of the given bit depth and colour type
/// (2 RGB, 6 RGBA).
pub fn png_declaring_as(w: u32, h: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    out.extend(png_chunk(b"IHDR", &ihdr));
    // A zlib stream of a few zero bytes: the rows it would expand to are never allocated.
    out.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    ));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// A JPEG whose SOF0 header is patched to declare `w` x `h`.
pub fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut bytes = jpeg(16, 16);
    let sof = bytes.windows(2).position(|p| p == [0xFF, 0xC0]).expect("SOF0");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    bytes
}

/// Inserts an EXIF APP1 segment carrying `orientation` right after the JPEG's SOI marker.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // Big-endian TIFF: header, IFD0 with one entry (0x0112 Orientation, SHORT, count 1).
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A two-frame animated GIF: red first, then green.
pub fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame};
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        for color in [Rgba([230, 10, 10, 255]), Rgba([10, 230, 10, 255])] {
            let frame = Frame::from_parts(
                RgbaImage::from_pixel(20, 10, color),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            );
            enc.encode_frame(frame).expect("gif frame");
        }
    }
    out
}

/// Peak resident memory of this process so far, in MB (Linux).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// A progressive JPEG (4:4:4, the decoder's largest coefficient store) of a gentle gradient.
pub fn progressive_jpeg(w: u16, h: u16) -> Vec<u8> {
    let data: Vec<u8> = (0..h as usize)
        .flat_map(|y| (0..w as usize).flat_map(move |x| [(x / 32) as u8, (y / 32) as u8, 128]))
        .collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(true);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    encoder
        .encode(&data, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("progressive jpeg");
    out
}

/// One GIF frame of a single pixel at (0, 0): its descriptor, then LZW data (clear, index 0,
/// end).
pub const GIF_ONE_PIXEL_FRAME: [u8; 15] = [0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0];

/// A ~40-byte GIF whose canvas is `w` x `h` and whose one frame is a single pixel.
pub fn gif_canvas(w: u16, h: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0]); // a 2-colour global table
    out.extend_from_slice(&[200, 30, 30, 30, 30, 200]);
    out.extend_from_slice(&GIF_ONE_PIXEL_FRAME);
    out.push(0x3B);
    out
}

/// A 16-bit RGBA PNG (8 bytes a pixel decoded), half transparent.
pub fn png16_rgba(w: u32, h: u32) -> Vec<u8> {
    let img = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(w, h, |x, _| {
        image::Rgba([(x % 65_536) as u16, 40_000, 9_000, 32_768])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("png16");
    out.into_inner()
}

/// A lossless RGBA WebP of one colour.
pub fn webp_rgba(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_pixel(w, h, Rgba([200, 120, 40, 200]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::WebP).expect("webp");
    out.into_inner()
}

/// Pseudo-random pixels (deterministic): the slowest kind of image to compress and decode.
pub fn noise(w: u32, h: u32) -> RgbImage {
    let mut x: u32 = 0x9E37_79B9;
    RgbImage::from_fn(w, h, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let [a, b, c, _] = x.to_le_bytes();
        Rgb([a, b, c])
    })
}
