//! The binary on every backend: `--backend onnxruntime` classifies like tract, `bench
//! --all-backends` measures each, and a build or a machine without onnxruntime says so. Test
//! builds have the `onnxruntime` feature (a dev-dependency feature); the onnxruntime runs need
//! ISPOTATO_ONNXRUNTIME_LIB naming the library (`.ci/run` sets it) and skip, saying why, without.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    cmd.env_remove("ISPOTATO_MODEL").env_remove("ISPOTATO_BACKEND");
    cmd
}

fn sample(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .display()
        .to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The onnxruntime library to test with, or why these tests skip here.
fn onnxruntime_lib() -> Option<String> {
    let Some(lib) = std::env::var_os("ISPOTATO_ONNXRUNTIME_LIB") else {
        eprintln!("skipped: ISPOTATO_ONNXRUNTIME_LIB is not set (no onnxruntime library to test with)");
        return None;
    };
    let lib = lib.to_string_lossy().into_owned();
    let out = bin()
        .args([
            "--backend",
            "onnxruntime",
            "--onnxruntime-lib",
            &lib,
            "classify",
            &sample("red_peppers.jpg"),
        ])
        .output()
        .unwrap();
    if text(&out.stderr).contains("--features onnxruntime") {
        eprintln!("skipped: this build has no onnxruntime backend (cargo test --features ispotato-core/onnxruntime)");
        return None;
    }
    Some(lib)
}

fn classify_json(extra: &[&str]) -> Vec<Value> {
    let out: Output = bin()
        .args(extra)
        .args([
            "classify",
            "--json",
            &sample("potatoes_in_store_bin.jpg"),
            &sample("red_peppers.jpg"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn onnxruntime_answers_like_tract_from_the_command_line() {
    let Some(lib) = onnxruntime_lib() else {
        return;
    };
    let tract = classify_json(&[]);
    let ort = classify_json(&["--backend", "onnxruntime", "--onnxruntime-lib", &lib]);
    assert_eq!(tract.len(), 2);
    for (t, o) in tract.iter().zip(&ort) {
        assert_eq!(t["label"], o["label"], "{t} vs {o}");
        let (p, q) = (t["probability"].as_f64().unwrap(), o["probability"].as_f64().unwrap());
        assert!((p - q).abs() <= 1e-4, "tract {p} vs onnxruntime {q}");
    }
}

#[test]
fn bench_measures_every_backend_it_can() {
    let dir = std::env::temp_dir().join(format!("ispotato-backends-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(sample("red_peppers.jpg"), dir.join("a.jpg")).unwrap();
    let lib = onnxruntime_lib();
    let mut cmd = bin();
    cmd.args(["bench", "--runs", "1", "--json", "--all-backends"]);
    if let Some(lib) = &lib {
        cmd.args(["--onnxruntime-lib", lib]);
    }
    let out = cmd.arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let backends: Vec<&str> = rows.iter().map(|r| r["backend"].as_str().unwrap()).collect();
    if lib.is_some() {
        assert_eq!(backends, ["onnxruntime", "tract", "tract-stock"], "{rows:?}");
    } else {
        assert_eq!(backends, ["tract", "tract-stock"], "{rows:?}");
    }
    for row in &rows {
        for key in ["inference_ms", "judge_ms", "pair_judge_ms"] {
            assert!(row[key].as_f64().unwrap() > 0.0, "{key}: {row}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unusable_backend_is_refused_with_its_reason() {
    let out = bin()
        .args(["--backend", "onnxruntime", "classify", &sample("red_peppers.jpg")])
        .env_remove("ISPOTATO_ONNXRUNTIME_LIB")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("--features onnxruntime") || err.contains("--onnxruntime-lib"),
        "either this build lacks the backend or the library was not named: {err}"
    );
    let out = bin()
        .args(["--backend", "tensorflow", "classify", &sample("red_peppers.jpg")])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("tract, tract-stock or onnxruntime"),
        "{}",
        text(&out.stderr)
    );
}
