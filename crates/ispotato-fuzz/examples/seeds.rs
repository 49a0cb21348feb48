//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: small inputs the
//! project makes itself (images synthesised here, the example configuration, facts written for
//! the purpose, payloads built the way the fake platforms build them). Run it after changing a
//! target: `cargo run -p ispotato-fuzz --example seeds`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use ispotato_testkit::fake::{discord, telegram};
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    std::fs::write(dir.join(name), bytes).expect("seed");
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]))
}

fn encoded(image: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn images() -> Vec<(&'static str, Vec<u8>)> {
    let rgb = image::DynamicImage::ImageRgb8(gradient(24, 16));
    let rgba = image::DynamicImage::ImageRgba8(RgbaImage::from_fn(16, 16, |x, _| Rgba([200, 40, 40, (x * 16) as u8])));
    let mut progressive = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 70);
    encoder.set_progressive(true);
    encoder
        .encode(gradient(32, 24).as_raw(), 32, 24, jpeg_encoder::ColorType::Rgb)
        .expect("progressive");
    let mut gif = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        for colour in [Rgba([230, 10, 10, 255]), Rgba([10, 230, 10, 255])] {
            let frame = image::Frame::new(RgbaImage::from_pixel(8, 6, colour));
            enc.encode_frame(frame).expect("gif frame");
        }
    }
    vec![
        ("baseline.jpg", encoded(&rgb, ImageFormat::Jpeg)),
        ("progressive.jpg", progressive),
        ("rgb.png", encoded(&rgb, ImageFormat::Png)),
        ("rgba.png", encoded(&rgba, ImageFormat::Png)),
        ("lossless.webp", encoded(&rgba, ImageFormat::WebP)),
        ("animated.gif", gif),
    ]
}

fn main() {
    for (name, bytes) in images() {
        write("decode_image", name, &bytes);
        write("image_structure", name, &bytes);
    }
    write(
        "trivia_deck",
        "two-facts.yaml",
        r#"- id: andes-origin
  topic: history
  text: "Potatoes were first domesticated in the Andes of southern Peru."
  source: {title: "Potato", url: "https://en.wikipedia.org/wiki/Potato"}
- id: nightshade
  topic: botany
  text: "The potato belongs to the nightshade family, with tomatoes and peppers."
  source:
    title: "Solanaceae"
    url: "https://en.wikipedia.org/wiki/Solanaceae"
"#,
    );
    write(
        "trivia_deck",
        "anchored.yaml",
        "- id: a\n  topic: &t history\n  text: x\n- {id: b, topic: *t}\n",
    );
    let example = std::fs::read(root().join("config/ispotato.example.yaml")).expect("example config");
    write("config_file", "example.yaml", example);
    write(
        "config_file",
        "small.yaml",
        "ingest:\n  max_bytes: 1000000\nfeedback:\n  image_retention: 7d\n",
    );
    for (name, bytes) in [
        ("v4-public", vec![93, 184, 216, 34]),
        ("v4-private", vec![10, 0, 0, 1]),
        ("v4-loopback", vec![127, 0, 0, 1]),
        (
            "v6-mapped",
            std::net::Ipv4Addr::new(192, 168, 1, 1)
                .to_ipv6_mapped()
                .octets()
                .to_vec(),
        ),
        (
            "v6-nat64",
            "64:ff9b::a00:1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec(),
        ),
        (
            "v6-public",
            "2606:4700::1111"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec(),
        ),
    ] {
        write("ip_address", name, bytes);
    }
    for (name, text) in [
        ("plain", "https://example.org/potato.jpg"),
        ("credentials", "http://user:secret@example.org/a.png?token=abcdef"),
        ("literal", "http://[::ffff:127.0.0.1]:8080/x"),
        ("decimal", "http://2130706433/"),
        ("scheme", "ftp://example.org/a.jpg"),
    ] {
        write("user_url", name, text);
    }
    for text in ["90s", "30m", "24h", "7d", "2w", " 1d "] {
        write("duration", text.trim(), text);
    }
    let photo = json!({ "update_id": 1, "message": telegram::photo_message(5, 42, "f1", 30_000) });
    let link = json!({ "update_id": 2, "message": telegram::text_message(6, -100, "look https://example.org/p.jpg",
        json!([{ "type": "url", "offset": 5, "length": 25 }])) });
    let mut document = telegram::message(7, 42, 7);
    document["document"] =
        json!({ "file_id": "d1", "file_unique_id": "ud1", "mime_type": "image/png", "file_size": 2000 });
    let mut sticker = telegram::message(8, 42, 7);
    sticker["sticker"] = json!({ "file_id": "s1", "file_unique_id": "us1", "type": "regular", "width": 512,
        "height": 512, "is_animated": false, "is_video": false, "file_size": 9000 });
    for (name, update) in [
        ("photo", photo),
        ("link", link),
        ("document", json!({ "update_id": 3, "message": document })),
        ("sticker", json!({ "update_id": 4, "message": sticker })),
    ] {
        write("telegram_update", name, update.to_string());
    }
    let author = discord::user("7", false);
    let attachments = json!([discord::attachment(
        "1",
        "potato.jpg",
        "https://cdn.example/potato.jpg",
        30_000,
        "image/jpeg"
    )]);
    let mut with_embed = discord::message("11", author.clone(), "look", json!([]), json!([]));
    with_embed["embeds"] = json!([{ "type": "image", "url": "https://example.org/p.png",
        "thumbnail": { "url": "https://example.org/p.png", "proxy_url": "https://example.org/p.png" } }]);
    for (name, message) in [
        (
            "attachment",
            discord::message("10", author.clone(), "", attachments, json!([])),
        ),
        ("embed", with_embed),
    ] {
        write("discord_message", name, message.to_string());
    }
    println!("seeds written under {}", Path::new("fuzz/corpus").display());
}
