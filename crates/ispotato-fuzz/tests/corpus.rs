//! Replays every fuzz target's committed seeds (`fuzz/corpus/<target>/`) and regression inputs
//! (`fuzz/regressions/<target>/`, inputs fuzzing once found) through the targets' own bodies, so
//! a plain `cargo test` keeps each one a regression test. Each input must also finish quickly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut found = Vec::new();
    for kind in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) {
            found.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()));
        }
    }
    found.sort();
    found
}

#[test]
fn every_target_replays_its_seeds_and_regressions() {
    for (target, body) in ispotato_fuzz::TARGETS {
        let inputs = inputs(target);
        assert!(!inputs.is_empty(), "{target}: no seeds under fuzz/corpus/{target}");
        for path in inputs {
            let data = std::fs::read(&path).expect("input");
            let started = Instant::now();
            body(&data);
            let took = started.elapsed();
            assert!(took < Duration::from_secs(5), "{}: {took:?}", path.display());
        }
    }
}

#[test]
fn the_fuzz_crate_has_a_target_for_each_body() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (target, _) in ispotato_fuzz::TARGETS {
        let source = std::fs::read_to_string(fuzz.join("fuzz_targets").join(format!("{target}.rs")))
            .unwrap_or_else(|_| panic!("fuzz/fuzz_targets/{target}.rs"));
        assert!(source.contains(&format!("ispotato_fuzz::{target}")), "{target}");
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} in fuzz/Cargo.toml"
        );
    }
}
