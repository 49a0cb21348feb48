//! The bodies of IsPotato's fuzz targets. Each takes arbitrary bytes, runs one entry point that
//! reads untrusted input, and asserts what must hold for any input (the oracle) beyond "does not
//! panic". The `fuzz/` crate wraps each in `fuzz_target!`; `tests/corpus.rs` replays the
//! committed seeds and regressions through the same functions, so a found input stays a test.
//! libFuzzer adds the per-input time and memory bounds (`-timeout`, `-rss_limit_mb`,
//! `-malloc_limit_mb`; see `fuzz/README.md`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ispotato_core::image::{
    check_url, decode, forbidden_class, jpeg_shape, looks_like_image, redact, sniff_format, AcceptedFormat,
    IngestLimits, LoopbackPolicy,
};

/// A fuzz target's body: any bytes in, a panic when its oracle fails.
pub type Body = fn(&[u8]);

/// Every fuzz target: its name (the folder under `fuzz/corpus/`) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("decode_image", decode_image),
    ("image_structure", image_structure),
    ("trivia_deck", trivia_deck),
    ("config_file", config_file),
    ("ip_address", ip_address),
    ("user_url", user_url),
    ("duration", duration),
    ("telegram_update", telegram_update),
    ("discord_message", discord_message),
];

/// Bytes -> validated image under the default caps: anything accepted is within them, RGB, and
/// hashed from exactly these bytes.
pub fn decode_image(data: &[u8]) {
    let limits = IngestLimits::default();
    if let Ok(image) = decode(data, &limits) {
        let (w, h) = image.original_dimensions();
        assert!(w as u64 * h as u64 <= limits.max_pixels && w <= limits.max_side && h <= limits.max_side);
        assert!(image.width() >= 1 && image.height() >= 1);
        assert!(image.width() <= w.max(h) && image.height() <= w.max(h));
        assert_eq!(
            image.rgb().as_raw().len(),
            3 * image.width() as usize * image.height() as usize
        );
        assert_eq!(image.byte_len(), data.len());
        assert_eq!(
            image.format(),
            sniff_format(data).expect("an accepted image has a format")
        );
    }
}

/// Format sniffing and the JPEG marker walk: total, and consistent with each other.
pub fn image_structure(data: &[u8]) {
    let sniffed = sniff_format(data);
    assert_eq!(looks_like_image(data), sniffed.is_ok());
    let shape = jpeg_shape(data);
    assert!(shape.scans <= data.len() / 2 + 1, "{shape:?}");
    assert!(shape.scan_bytes <= data.len() as u64, "{shape:?}");
    // A JPEG whose scans cannot cover its frame is never decoded into an image.
    if matches!(sniffed, Ok(AcceptedFormat::Jpeg)) && !shape.data_covers_frame() {
        assert!(decode(data, &IngestLimits::default()).is_err(), "{shape:?}");
    }
}

/// A deck file's text: a valid deck holds only facts that pass every rule.
pub fn trivia_deck(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let files = [(std::path::PathBuf::from("fuzz.yaml"), text.to_string())];
    if let Ok(deck) = ispotato_core::trivia::parse_deck(&files) {
        assert!(!deck.is_empty());
        for id in deck.ids(None) {
            let fact = deck.get(id).expect("listed ids resolve");
            assert!(fact.text.chars().count() <= ispotato_core::trivia::MAX_TEXT_CHARS);
            assert!(ispotato_core::trivia::TOPICS.contains(&fact.topic.as_str()));
        }
    }
}

/// A configuration file's text, parsed and applied over the defaults of `ispotato run`.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ispotato::config::apply_text(text, &["ispotato", "run"]);
}

/// The address guard: total, and an IPv4 address is judged the same in every IPv6 spelling
/// that reaches it (v4-mapped, v4-translated, NAT64).
pub fn ip_address(data: &[u8]) {
    let ip = match data.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(data).expect("4 bytes"))),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(data).expect("16 bytes"))),
        _ => return,
    };
    for policy in [LoopbackPolicy::Refuse, LoopbackPolicy::Allow] {
        let class = forbidden_class(ip, policy);
        if let IpAddr::V4(v4) = ip {
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert_eq!(
                forbidden_class(mapped, policy).is_some(),
                class.is_some(),
                "{ip} vs {mapped}"
            );
        }
    }
    if let IpAddr::V6(v6) = ip {
        // Whatever an IPv6 address embeds, a forbidden IPv4 inside a mapping stays forbidden.
        if let Some(v4) = v6.to_ipv4_mapped() {
            if forbidden_class(IpAddr::V4(v4), LoopbackPolicy::Refuse).is_some() {
                assert!(forbidden_class(ip, LoopbackPolicy::Refuse).is_some(), "{ip}");
            }
        }
    }
}

/// A link as a user types it: the guard is total, and a redacted URL (what logs show) is a URL
/// with no username, password, query or fragment left in it.
pub fn user_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(url) = url::Url::parse(text.trim()) else { return };
    let _ = check_url(&url, LoopbackPolicy::Refuse);
    let shown = redact(&url);
    let back = url::Url::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} is not a URL: {e}"));
    assert!(back.username().is_empty() && back.password().is_none(), "{shown}");
    assert!(back.query().is_none() && back.fragment().is_none(), "{shown}");
}

/// Durations from the command line and the configuration: whatever parses is what it says.
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(d) = ispotato_core::store::stats::parse_duration(text) {
        let (number, unit) = text.trim().split_at(text.trim().len() - 1);
        let n: u64 = number.parse().expect("a parsed duration starts with its number");
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => 7 * 86_400,
        };
        assert_eq!(d.as_secs(), n * secs);
    }
}

/// One webhook body as Telegram would POST it: parsed the way the bot parses it, and its images
/// extracted the way the handlers extract them (never more than a message may carry).
pub fn telegram_update(data: &[u8]) {
    if let Some(images) = ispotato_telegram::images_in_update(data, 20 << 20) {
        assert!(images <= 10, "{images}");
    }
}

/// One Discord message as the gateway delivers it: parsed, and its images listed the way the
/// bot lists them (never more than a message may carry).
pub fn discord_message(data: &[u8]) {
    if let Some(images) = ispotato_discord::images_in_message(data, 20 << 20) {
        assert!(images <= 10, "{images}");
    }
}
