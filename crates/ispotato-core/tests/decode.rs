//! The guarded decoder: every rejection, EXIF orientation, formats and alpha.

mod common;

use common::*;
use image::ImageFormat;
use ispotato_core::image::{decode, AcceptedFormat, IngestError, IngestLimits};

fn limits() -> IngestLimits {
    IngestLimits::default()
}

#[test]
fn accepts_each_supported_format() {
    let img = two_tone(64, 48);
    for (format, accepted) in [
        (ImageFormat::Png, AcceptedFormat::Png),
        (ImageFormat::Jpeg, AcceptedFormat::Jpeg),
        (ImageFormat::WebP, AcceptedFormat::Webp),
        (ImageFormat::Gif, AcceptedFormat::Gif),
    ] {
        let v = decode(&encode(&img, format), &limits()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((v.width(), v.height(), v.format()), (64, 48, accepted));
        let left = v.rgb().get_pixel(8, 24);
        assert!(
            left[0] > 150 && left[2] < 100,
            "{format:?} left half should be red, got {left:?}"
        );
    }
}

#[test]
fn gif_uses_the_first_frame() {
    let v = decode(&animated_gif(), &limits()).expect("gif");
    let px = v.rgb().get_pixel(5, 5);
    assert!(px[0] > 200 && px[1] < 50, "first frame is red, got {px:?}");
}

#[test]
fn oversized_bytes_are_refused_with_sizes_in_the_message() {
    let bytes = vec![0u8; 48 * 1024 * 1024];
    let err = decode(&bytes, &limits()).unwrap_err();
    assert!(matches!(err, IngestError::TooLarge { .. }), "{err:?}");
    assert_eq!(err.to_string(), "that file is 48 MB; the limit is 20 MB");
    assert_eq!(err.reason(), "too_large");
}

#[test]
fn pixel_caps_are_checked_from_the_header() {
    let small = IngestLimits {
        max_pixels: 1000,
        max_side: 100,
        ..limits()
    };
    let err = decode(&png(40, 30), &small).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::TooManyPixels {
                width: 40,
                height: 30,
                ..
            }
        ),
        "{err:?}"
    );
    let err = decode(&png(101, 2), &small).unwrap_err();
    assert!(matches!(err, IngestError::TooManyPixels { width: 101, .. }), "{err:?}");
    assert!(decode(&png(30, 30), &small).is_ok());
}

#[test]
fn declared_giants_are_refused_for_every_format() {
    let err = decode(&png_declaring(100_000, 100_000), &limits()).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("100000x100000"), "{err}");
    // Within the side cap but over the pixel cap: 8000 x 8000 = 64 MP > 40 MP.
    let err = decode(&png_declaring(8000, 8000), &limits()).unwrap_err();
    assert!(matches!(err, IngestError::TooManyPixels { .. }), "{err:?}");
    let err = decode(&jpeg_declaring(60_000, 60_000), &limits()).unwrap_err();
    assert!(matches!(err, IngestError::TooManyPixels { .. }), "{err:?}");
}

#[test]
fn truncated_files_are_refused() {
    let png = png(200, 200);
    let err = decode(&png[..png.len() / 2], &limits()).unwrap_err();
    assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
    let jpeg = jpeg(200, 200);
    let err = decode(&jpeg[..jpeg.len() * 2 / 3], &limits()).unwrap_err();
    assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
    assert_eq!(err.to_string(), "that image is damaged or cut off, so I can't open it");
}

#[test]
fn wrong_formats_are_named() {
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0u8; 60]);
    let err = decode(&bmp, &limits()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "BMP images aren't supported; send a JPEG, PNG, WebP or GIF"
    );
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    assert!(matches!(decode(&heic, &limits()), Err(IngestError::UnsupportedFormat { what }) if what == "HEIC"));
    let err = decode(b"<html><body>not an image</body></html>", &limits()).unwrap_err();
    assert!(matches!(err, IngestError::NotAnImage), "{err:?}");
    assert!(matches!(decode(&[], &limits()), Err(IngestError::Empty)));
}

#[test]
fn exif_orientation_is_applied() {
    // 40x20, red left / blue right. Orientation 6 = rotate 90 degrees clockwise to display, so
    // the upright image is 20x40 with red on top.
    let rotated = with_exif_orientation(&jpeg(40, 20), 6);
    let v = decode(&rotated, &limits()).expect("decode");
    assert_eq!((v.width(), v.height()), (20, 40));
    let top = v.rgb().get_pixel(10, 5);
    let bottom = v.rgb().get_pixel(10, 35);
    assert!(top[0] > 150 && top[2] < 100, "top should be red, got {top:?}");
    assert!(
        bottom[2] > 150 && bottom[0] < 100,
        "bottom should be blue, got {bottom:?}"
    );

    // Orientation 3 = rotate 180: red moves to the right.
    let v = decode(&with_exif_orientation(&jpeg(40, 20), 3), &limits()).expect("decode");
    assert_eq!((v.width(), v.height()), (40, 20));
    assert!(v.rgb().get_pixel(35, 10)[0] > 150);

    // No EXIF: unchanged.
    let v = decode(&jpeg(40, 20), &limits()).expect("decode");
    assert_eq!((v.width(), v.height()), (40, 20));
}

#[test]
fn transparency_is_composited_over_white() {
    let v = decode(&transparent_png(10, 10), &limits()).expect("decode");
    assert_eq!(v.rgb().get_pixel(3, 3).0, [255, 255, 255]);
}

#[test]
fn hash_is_of_the_original_bytes() {
    let bytes = png(10, 10);
    let v = decode(&bytes, &limits()).expect("decode");
    use sha2::Digest;
    let expected: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    assert_eq!(v.sha256(), expected);
    assert_eq!(v.sha256_hex().len(), 64);
}

#[test]
fn big_jpegs_decode_at_reduced_scale_upright() {
    let big = jpeg(2400, 1400);
    let v = decode(&big, &limits()).expect("decode");
    assert_eq!(v.original_dimensions(), (2400, 1400));
    assert_eq!(
        (v.width(), v.height()),
        (1200, 700),
        "1/2 scale keeps the shorter side >= 512"
    );
    let left = v.rgb().get_pixel(100, 350);
    assert!(
        left[0] > 150 && left[2] < 100,
        "colours survive reduction, got {left:?}"
    );

    let rotated = decode(&with_exif_orientation(&big, 6), &limits()).expect("decode");
    assert_eq!(rotated.original_dimensions(), (1400, 2400));
    assert_eq!((rotated.width(), rotated.height()), (700, 1200));
    assert!(rotated.rgb().get_pixel(350, 100)[0] > 150, "red on top after rotation");

    let full = decode(
        &big,
        &IngestLimits {
            jpeg_reduce_min_side: 0,
            ..limits()
        },
    )
    .expect("decode");
    assert_eq!((full.width(), full.height()), (2400, 1400));
    // Small JPEGs are never reduced.
    let small = decode(&jpeg(900, 700), &limits()).expect("decode");
    assert_eq!((small.width(), small.height()), (900, 700));
}

/// A baseline JPEG cut into (everything before its scan, the scan, the end marker).
fn jpeg_parts() -> (Vec<u8>, Vec<u8>) {
    let jpeg = encode(&two_tone(64, 48), ImageFormat::Jpeg);
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).expect("a scan");
    let eoi = jpeg.windows(2).rposition(|w| w == [0xFF, 0xD9]).expect("an end");
    (jpeg[..sos].to_vec(), jpeg[sos..eoi].to_vec())
}

#[test]
fn a_jpeg_with_hundreds_of_scans_is_refused_before_decoding() {
    use ispotato_core::image::{jpeg_shape, MAX_JPEG_SCANS};
    let (head, scan) = jpeg_parts();
    let mut bomb = head.clone();
    for _ in 0..300 {
        bomb.extend_from_slice(&scan);
    }
    bomb.extend_from_slice(&[0xFF, 0xD9]);
    assert_eq!(jpeg_shape(&bomb).scans, 300);
    let started = std::time::Instant::now();
    let err = decode(&bomb, &limits()).unwrap_err();
    assert!(
        matches!(err, IngestError::TooManyScans { scans: 300, limit } if limit == MAX_JPEG_SCANS),
        "{err:?}"
    );
    assert_eq!(err.reason(), "too_many_scans");
    assert!(started.elapsed() < std::time::Duration::from_millis(200));
    // Real files pass: a baseline JPEG has one scan, the bundled photos a handful.
    let mut one = head;
    one.extend_from_slice(&scan);
    one.extend_from_slice(&[0xFF, 0xD9]);
    assert_eq!(jpeg_shape(&one).scans, 1);
    for name in ["potatoes_in_store_bin.jpg", "red_peppers.jpg"] {
        let bytes = std::fs::read(repo_root().join("samples").join(name)).unwrap();
        let shape = jpeg_shape(&bytes);
        assert!(
            shape.complete && (1..=MAX_JPEG_SCANS).contains(&shape.scans),
            "{name}: {shape:?}"
        );
    }
}

#[test]
fn data_after_the_end_of_image_is_ignored_not_refused() {
    // A phone "motion photo" appends a video; any bytes may follow the image, scan markers too.
    let jpeg = encode(&two_tone(64, 48), ImageFormat::Jpeg);
    for trailer_len in [1usize, 4096, 200_000] {
        let mut with_trailer = jpeg.clone();
        let mut x: u32 = trailer_len as u32;
        with_trailer.extend((0..trailer_len).map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if i % 997 == 0 {
                0xFF
            } else if i % 997 == 1 {
                0xDA
            } else {
                (x >> 24) as u8
            }
        }));
        let v = decode(&with_trailer, &limits()).unwrap_or_else(|e| panic!("{trailer_len}-byte trailer: {e:?}"));
        assert_eq!((v.width(), v.height()), (64, 48));
    }
    // Cut inside the scan it is still refused.
    let cut = &jpeg[..jpeg.len() - 40];
    assert!(matches!(decode(cut, &limits()), Err(IngestError::Corrupt { .. })));
}

#[test]
fn flat_images_and_transparent_stickers_are_blank_and_photos_are_not() {
    let white = image::RgbImage::from_pixel(300, 200, image::Rgb([255, 255, 255]));
    let jpeg = encode(&white, ImageFormat::Jpeg);
    assert!(decode(&jpeg, &limits()).unwrap().is_blank(), "a plain white JPEG");
    let clear = image::RgbaImage::from_pixel(120, 120, image::Rgba([200, 30, 30, 0]));
    let mut png = std::io::Cursor::new(Vec::new());
    clear.write_to(&mut png, ImageFormat::Png).unwrap();
    assert!(
        decode(&png.into_inner(), &limits()).unwrap().is_blank(),
        "a fully transparent sticker"
    );
    assert!(!decode(&encode(&two_tone(64, 48), ImageFormat::Png), &limits())
        .unwrap()
        .is_blank());
    for name in ["potatoes_in_store_bin.jpg", "red_peppers.jpg"] {
        let bytes = std::fs::read(repo_root().join("samples").join(name)).unwrap();
        assert!(!decode(&bytes, &limits()).unwrap().is_blank(), "{name}");
    }
}

#[test]
fn a_jpeg_header_declaring_more_than_its_scan_data_holds_is_refused() {
    // 348x348 of scan data under a frame header claiming 8192x4882: it used to be judged on
    // grey padding.
    let small = jpeg(348, 348);
    let sof = small.windows(2).position(|p| p == [0xFF, 0xC0]).expect("SOF0");
    let mut claimed = small.clone();
    claimed[sof + 5..sof + 7].copy_from_slice(&4882u16.to_be_bytes());
    claimed[sof + 7..sof + 9].copy_from_slice(&8192u16.to_be_bytes());
    let err = decode(&claimed, &limits()).unwrap_err();
    assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
    assert_eq!(err.to_string(), "that image is damaged or cut off, so I can't open it");
    // The real thing, and flat images (the least scan data a frame can have), still open.
    assert_eq!(decode(&small, &limits()).unwrap().width(), 348);
    let white = image::RgbImage::from_pixel(2000, 1500, image::Rgb([255, 255, 255]));
    let flat = decode(&encode(&white, ImageFormat::Jpeg), &limits()).unwrap();
    assert_eq!(flat.original_dimensions(), (2000, 1500));
    let progressive = progressive_jpeg(640, 480);
    let shape = ispotato_core::image::jpeg_shape(&progressive);
    assert!(
        shape.progressive && shape.scans > 1 && shape.data_covers_frame(),
        "{shape:?}"
    );
    assert_eq!(decode(&progressive, &limits()).unwrap().width(), 640);
}

#[test]
fn every_decode_has_a_time_budget() {
    let big = encode(&noise(3000, 2000), ImageFormat::Png);
    let started = std::time::Instant::now();
    let generous = decode(&big, &limits());
    let normal = started.elapsed();
    assert!(generous.is_ok(), "{generous:?}");
    let tight = IngestLimits {
        max_decode_ms: 5,
        ..limits()
    };
    let started = std::time::Instant::now();
    let err = decode(&big, &tight).unwrap_err();
    let cut = started.elapsed();
    assert!(matches!(err, IngestError::TooSlowToDecode { .. }), "{err:?}");
    assert_eq!(err.reason(), "too_slow_to_decode");
    // The refusal itself shows the decode stopped part-way (it comes from a read past the
    // deadline); the time shows it stopped near the budget, not at the end.
    assert!(
        cut < normal + std::time::Duration::from_millis(50),
        "stopped after {cut:?}; a full decode takes {normal:?}"
    );
    let spent = IngestLimits {
        max_decode_ms: 0,
        ..limits()
    };
    for bytes in [big, jpeg(64, 48), progressive_jpeg(2400, 2400), gif_canvas(10, 10)] {
        let err = decode(&bytes, &spent).unwrap_err();
        assert!(matches!(err, IngestError::TooSlowToDecode { .. }), "{err:?}");
    }
}

#[test]
fn a_large_jpeg_out_of_time_is_refused_not_decoded_again_at_full_size() {
    // Reduced-scale path (shorter side >= 1024): when its budget runs out, the full decoder
    // (which reads everything up front and cannot be stopped) must not start over.
    let big = progressive_jpeg(4000, 3000);
    let tight = IngestLimits {
        max_decode_ms: 30,
        ..limits()
    };
    let started = std::time::Instant::now();
    let result = decode(&big, &tight);
    assert!(matches!(result, Err(IngestError::TooSlowToDecode { .. })), "{result:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(decode(&big, &limits()).unwrap().original_dimensions(), (4000, 3000));
}

#[test]
fn many_gif_frames_and_png_chunks_cost_little() {
    // Only a GIF's first frame is decoded: 50,000 frames behind it are never read.
    let mut gif = gif_canvas(64, 64);
    gif.pop();
    for _ in 0..50_000 {
        gif.extend_from_slice(&GIF_ONE_PIXEL_FRAME);
    }
    gif.push(0x3B);
    let started = std::time::Instant::now();
    assert_eq!(decode(&gif, &limits()).unwrap().width(), 64);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // 100,000 text chunks before the pixels: read once, linearly.
    let png = png(64, 48);
    let idat = png.windows(4).position(|w| w == b"IDAT").expect("IDAT") - 4;
    let mut chunky = png[..idat].to_vec();
    for i in 0..100_000u32 {
        chunky.extend(png_chunk(b"tEXt", format!("k\0{i}").as_bytes()));
    }
    chunky.extend_from_slice(&png[idat..]);
    let started = std::time::Instant::now();
    assert_eq!(decode(&chunky, &limits()).unwrap().width(), 64);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
