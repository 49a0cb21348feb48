//! `ispotato eval` on the card's validation split reproduces the card's numbers.
//!
//! The split (manifest paths and labels) is committed in `training/validation_split.csv`; the
//! photos are not: they come from `../shared/data`, and where that folder is absent this test
//! prints why and passes. The card's metrics were computed in Python (Pillow decoding,
//! onnxruntime); the Rust pipeline decodes JPEGs with a different IDCT, so the numbers agree
//! within small tolerances rather than exactly (see models/MODEL_CARD.md).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ispotato <command> --json --model models/ <inputs>`: the shipped model, machine-readable output.
fn shipped_model_json(command: &str, inputs: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ispotato"))
        .args([command, "--json", "--model"])
        .arg(root().join("models"))
        .args(inputs)
        .output()
        .unwrap()
}

#[test]
fn eval_on_the_validation_split_reproduces_the_card() {
    let data = root().join("../shared/data");
    if !data.join("manifest.csv").is_file() {
        eprintln!("skipped: {} is not there", data.display());
        return;
    }
    let split = std::fs::read_to_string(root().join("training/validation_split.csv")).unwrap();
    let dir = std::env::temp_dir().join(format!("ispotato-card-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut n = 0;
    for (i, line) in split.lines().filter(|l| !l.starts_with('#')).enumerate() {
        let (path, label) = line.rsplit_once(',').expect("path,label");
        let folder = dir.join(label);
        std::fs::create_dir_all(&folder).unwrap();
        let name = format!("{i:05}-{}", path.rsplit('/').next().unwrap());
        std::os::unix::fs::symlink(data.join(path), folder.join(name)).unwrap();
        n += 1;
    }
    let card = support::shipped_card();
    let expected = &card["metrics"]["validation"];
    assert_eq!(
        expected["n"].as_u64(),
        Some(n as u64),
        "the split list matches the card"
    );

    let out = shipped_model_json("eval", std::slice::from_ref(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["n"].as_u64(), Some(n as u64));
    assert_eq!(got["errors"].as_u64(), Some(0));
    assert_eq!(got["model_version"], card["version"]);
    for (key, tolerance) in [
        ("precision", 0.02),
        ("recall", 0.02),
        ("auroc", 0.005),
        ("average_precision", 0.01),
        ("ece", 0.01),
        ("unsure_rate", 0.015),
    ] {
        let (want, have) = (expected[key].as_f64().unwrap(), got[key].as_f64().unwrap());
        eprintln!("{key}: card {want:.4}, ispotato eval {have:.4}");
        assert!(
            (want - have).abs() <= tolerance,
            "{key}: card {want:.4} vs eval {have:.4} (tolerance {tolerance})"
        );
    }
    // The four-way head: accuracy and each answer's recall on the same split (the folders are
    // the manifest's labels; drawings and every other negative count as `other`).
    let kinds = &card["metrics"]["kinds"]["validation"];
    if kinds.is_null() {
        return;
    }
    let confusion = &got["kinds"]["confusion"];
    let row = |i: usize| -> Vec<f64> { (0..4).map(|j| confusion[i][j].as_f64().unwrap()).collect() };
    let have_accuracy = got["kinds"]["accuracy"].as_f64().unwrap();
    let want_accuracy = kinds["accuracy"].as_f64().unwrap();
    eprintln!("four-way accuracy: card {want_accuracy:.4}, ispotato eval {have_accuracy:.4}");
    assert!((want_accuracy - have_accuracy).abs() <= 0.015, "four-way accuracy");
    for (i, kind) in ["potato", "sweet_potato", "potato_dish", "other"].iter().enumerate() {
        let r = row(i);
        let have = r[i] / r.iter().sum::<f64>();
        let want = kinds[kind]["recall"].as_f64().unwrap();
        eprintln!("{kind} recall: card {want:.4}, ispotato eval {have:.4}");
        assert!(
            (want - have).abs() <= 0.05,
            "{kind} recall: card {want:.4} vs eval {have:.4}"
        );
    }
}

/// The 16 untouched phone photos of potatoes in `../shared/data/bench` (8 at 4096x2304, 8 at
/// 1280x719; never trained on) are what real uploads look like: the shipped model must call
/// every one of them potato through the full serving path (ingest, EXIF, downscale, model).
#[test]
fn untouched_phone_photos_of_potatoes_are_called_potato() {
    let bench = root().join("../shared/data/bench");
    if !bench.is_dir() {
        eprintln!("skipped: {} is not there", bench.display());
        return;
    }
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&bench)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    assert_eq!(photos.len(), 16, "the bench folder holds 16 phone photos");
    let out = shipped_model_json("classify", &photos);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), photos.len());
    for v in &lines {
        eprintln!("{}: {} {:.3}", v["input"], v["label"], v["probability"]);
    }
    let missed: Vec<&Value> = lines.iter().filter(|v| v["label"] != "potato").collect();
    assert!(missed.is_empty(), "not called potato: {missed:?}");
}
