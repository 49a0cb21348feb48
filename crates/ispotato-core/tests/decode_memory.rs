//! The real memory bound of one decode, per format: a counting allocator measures the peak bytes
//! held while each hostile-but-accepted image decodes, and the same kinds a little larger must be
//! refused before decoding. One test in its own binary, so nothing else allocates meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ispotato_core::image::{decode, IngestError, IngestLimits};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            // Count the old and new blocks together: a moving realloc holds both for a moment.
            let now = CURRENT.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MB: f64 = 1024.0 * 1024.0;

/// Decodes `bytes` and returns the result with the most bytes held at once above what was held
/// before (the input itself is allocated beforehand).
fn measured(bytes: &[u8], limits: &IngestLimits) -> (Result<(u32, u32), IngestError>, usize) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = decode(bytes, limits).map(|v| (v.width(), v.height()));
    (result, PEAK.load(Ordering::Relaxed) - before)
}

/// What an image is, the bytes accepted at the budget's edge, and the same kind too large for
/// it (`None` when the pixel caps refuse anything larger first).
type Case = (&'static str, Vec<u8>, Option<Vec<u8>>);

#[test]
fn every_format_decodes_within_the_memory_budget_and_larger_ones_are_refused_first() {
    // Memory is the question here: no time budget to trip on a busy test machine.
    let limits = IngestLimits {
        max_decode_ms: 600_000,
        ..IngestLimits::default()
    };
    let budget = limits.max_alloc as usize;
    // (what, accepted at the budget's edge, the same kind too large for it if the caps let one
    // get this far)
    let cases: Vec<Case> = vec![
        (
            "16-bit RGBA PNG",
            common::png16_rgba(4000, 4000),
            Some(common::png_declaring_as(5000, 5000, 16, 6)),
        ),
        (
            "GIF canvas around one pixel",
            common::gif_canvas(5000, 5000),
            Some(common::gif_canvas(8000, 5000)),
        ),
        (
            "RGBA WebP",
            common::webp_rgba(5000, 5000),
            Some(common::webp_rgba(6000, 6000)),
        ),
        // At the pixel cap its coefficients (240 MB) still fit: nothing larger gets this far.
        (
            "progressive 4:4:4 JPEG at the pixel cap (reduced decode)",
            common::progressive_jpeg(8192, 4880),
            None,
        ),
        (
            "progressive 4:4:4 JPEG (full decode)",
            common::progressive_jpeg(1000, 8192),
            None,
        ),
        ("RGB PNG at the pixel cap", common::png(8000, 5000), None),
    ];
    for (what, fits, too_large) in &cases {
        let (result, peak) = measured(fits, &limits);
        let (w, h) = result.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        eprintln!("{what}: decoded to {w}x{h}, peak {:.0} MB", peak as f64 / MB);
        assert!(
            peak <= budget,
            "{what}: peak {:.0} MB over the {:.0} MB budget",
            peak as f64 / MB,
            budget as f64 / MB
        );
        if let Some(too_large) = too_large {
            let (result, peak) = measured(too_large, &limits);
            assert!(matches!(result, Err(IngestError::TooMuchMemory)), "{what}: {result:?}");
            assert!(peak < 64 << 20, "{what}: refused only after {:.0} MB", peak as f64 / MB);
        }
    }
}
