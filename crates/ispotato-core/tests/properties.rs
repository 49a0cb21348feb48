//! Properties that hold for every input, checked on generated ones (proptest): the address
//! guard across IPv6 spellings, durations, and the evaluation metrics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ispotato_core::image::{forbidden_class, LoopbackPolicy};
use ispotato_core::model::scores::{auroc, average_precision, expected_calibration_error};
use ispotato_core::store::stats::parse_duration;
use proptest::prelude::*;

/// Every IPv6 spelling that reaches `v4`: v4-mapped, v4-translated, v4-compatible, NAT64, 6to4.
fn spellings(v4: Ipv4Addr) -> Vec<Ipv6Addr> {
    let [a, b, c, d] = v4.octets();
    let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    vec![
        v4.to_ipv6_mapped(),
        Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo),
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo),
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
        Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_forbidden_ipv4_is_forbidden_in_every_ipv6_spelling(octets in any::<[u8; 4]>()) {
        let v4 = Ipv4Addr::from(octets);
        if forbidden_class(IpAddr::V4(v4), LoopbackPolicy::Refuse).is_some() {
            for v6 in spellings(v4) {
                prop_assert!(forbidden_class(IpAddr::V6(v6), LoopbackPolicy::Refuse).is_some(), "{v4} as {v6}");
            }
        }
    }

    #[test]
    fn v4_mapped_is_judged_exactly_like_ipv4(octets in any::<[u8; 4]>()) {
        let v4 = Ipv4Addr::from(octets);
        for policy in [LoopbackPolicy::Refuse, LoopbackPolicy::Allow] {
            prop_assert_eq!(
                forbidden_class(IpAddr::V4(v4), policy),
                forbidden_class(IpAddr::V6(v4.to_ipv6_mapped()), policy)
            );
        }
    }

    #[test]
    fn allowing_loopback_allows_only_loopback(segments in any::<[u16; 8]>(), octets in any::<[u8; 4]>()) {
        for ip in [IpAddr::V6(Ipv6Addr::from(segments)), IpAddr::V4(Ipv4Addr::from(octets))] {
            let refused = forbidden_class(ip, LoopbackPolicy::Refuse);
            let allowed = forbidden_class(ip, LoopbackPolicy::Allow);
            if refused != Some("loopback") {
                prop_assert_eq!(refused, allowed, "{}", ip);
            } else {
                prop_assert_eq!(allowed, None);
            }
        }
    }

    #[test]
    fn durations_read_back_what_was_written(n in 0u64..10_000_000, unit in 0usize..5, pad in "[ \t]{0,2}") {
        let (suffix, secs) = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)][unit];
        let text = format!("{pad}{n}{suffix}{pad}");
        prop_assert_eq!(parse_duration(&text).map(|d| d.as_secs()), Ok(n * secs));
    }

    #[test]
    fn anything_else_is_an_error_not_a_panic(text in "\\PC{0,12}") {
        if let Ok(d) = parse_duration(&text) {
            prop_assert!(text.trim().ends_with(['s', 'm', 'h', 'd', 'w']), "{text:?} -> {d:?}");
        }
    }

    #[test]
    fn auroc_depends_only_on_the_order_of_scores(
        items in prop::collection::vec((0u16..1000, any::<bool>()), 2..200)
    ) {
        let scores: Vec<(f32, bool)> = items.iter().map(|&(s, y)| (s as f32 / 1000.0, y)).collect();
        let squashed: Vec<(f32, bool)> = items.iter().map(|&(s, y)| (0.25 + 0.5 * (s as f32 / 1000.0).sqrt(), y)).collect();
        let flipped: Vec<(f32, bool)> = scores.iter().map(|&(s, y)| (s, !y)).collect();
        match (auroc(&scores), auroc(&squashed), auroc(&flipped)) {
            (Some(a), Some(b), Some(f)) => {
                prop_assert!((0.0..=1.0).contains(&a));
                prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}");
                prop_assert!((a + f - 1.0).abs() < 1e-9, "{a} + {f}");
            }
            (a, b, f) => {
                // Undefined exactly when one class is missing.
                let both = items.iter().any(|i| i.1) && items.iter().any(|i| !i.1);
                prop_assert!(!both && a.is_none() && b.is_none() && f.is_none());
            }
        }
    }

    #[test]
    fn precision_and_calibration_stay_in_range(
        items in prop::collection::vec((0.0f32..=1.0, any::<bool>()), 1..200),
        bins in 1usize..20
    ) {
        if let Some(ap) = average_precision(&items) {
            prop_assert!((0.0..=1.0 + 1e-9).contains(&ap), "{ap}");
        }
        if let Some(ece) = expected_calibration_error(&items, bins) {
            prop_assert!((0.0..=1.0 + 1e-9).contains(&ece), "{ece}");
        }
    }
}
