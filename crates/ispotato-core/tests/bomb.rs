//! A decompression bomb is refused fast and without memory growth. Its own test binary (one
//! test, one process) so the peak RSS measured is this test's alone.

mod common;

use std::time::{Duration, Instant};

use ispotato_core::image::{decode, IngestError, IngestLimits};

#[test]
fn decompression_bomb_is_refused_in_under_100ms_and_100mb() {
    let bombs = [
        common::png_declaring(100_000, 100_000),
        common::png_declaring(8192, 8192),
        common::jpeg_declaring(65_000, 65_000),
    ];
    let limits = IngestLimits::default();
    for bomb in &bombs {
        assert!(bomb.len() < 1024, "the bomb itself is tiny");
        let started = Instant::now();
        let err = decode(bomb, &limits).unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, IngestError::TooManyPixels { .. }), "{err:?}");
        assert!(elapsed < Duration::from_millis(100), "refusal took {elapsed:?}");
    }
    if let Some(peak) = common::peak_rss_mb() {
        assert!(peak < 100.0, "peak RSS {peak:.1} MB");
    }
}
