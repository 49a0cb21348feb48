//! The `ispotato` binary end to end: classify, eval and bench on the bundled samples and images
//! the test makes (flips and crops of the samples, generated noise).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    cmd.env_remove("ISPOTATO_MODEL").env_remove("ISPOTATO_ALLOW_LOOPBACK");
    cmd
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(name: &str) -> String {
    root().join("samples").join(name).display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn classify_prints_one_line_per_image() {
    let out = bin()
        .args([
            "classify",
            &sample("potatoes_in_store_bin.jpg"),
            &sample("red_peppers.jpg"),
            &sample("sweet_potatoes.jpg"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[2].starts_with("sweet_potato "),
        "a not-potato the four-way head names: {}",
        lines[2]
    );
    assert!(lines[0].starts_with("potato "), "{}", lines[0]);
    assert!(lines[0].contains('%') && lines[0].contains(" ms "), "{}", lines[0]);
    assert!(lines[1].starts_with("not potato"), "{}", lines[1]);
    assert!(!text.contains("placeholder"));
}

#[test]
fn classify_json_and_errors() {
    let dir = scratch("classify");
    let text_file = dir.join("notes.txt");
    std::fs::write(&text_file, "potatoes are great").unwrap();
    let out = bin()
        .args([
            "classify",
            "--json",
            &sample("potatoes_in_store_bin.jpg"),
            &text_file.display().to_string(),
            "http://10.0.0.1/a.jpg",
            &sample("sweet_potatoes.jpg"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a refused input makes the exit status 1");
    let rows: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["label"], "potato");
    assert_eq!(rows[0]["answer"], "potato");
    // The four-way head's probabilities: a distribution over the four answers.
    let kinds = rows[0]["kinds"].as_object().expect("kinds");
    assert_eq!(kinds.len(), 4);
    let total: f64 = kinds.values().filter_map(Value::as_f64).sum();
    assert!((total - 1.0).abs() < 1e-4, "{kinds:?}");
    assert!(kinds["potato"].as_f64().unwrap() > 0.5, "{kinds:?}");
    assert_eq!(
        (rows[3]["label"].as_str(), rows[3]["answer"].as_str()),
        (Some("not_potato"), Some("sweet_potato"))
    );
    assert!(rows[3]["kinds"]["sweet_potato"].as_f64().unwrap() > 0.5);
    let p = rows[0]["probability"].as_f64().unwrap();
    assert!(p > 0.8 && p <= 1.0);
    assert!(rows[0]["timings_ms"]["inference"].as_f64().unwrap() > 0.0);
    assert_eq!(rows[0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(rows[1]["error"], "not_an_image");
    assert_eq!(rows[2]["error"], "forbidden_address");
    assert_eq!(
        rows[2]["message"],
        "that link points to a private address, which I won't fetch"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--explain DIR` writes one PNG per judged image (none for a refused one): the image as the
/// model saw it (224x224) with the evidence over it, mostly red for potatoes, not for peppers.
#[test]
fn classify_explain_writes_a_heatmap_per_judged_image() {
    let dir = scratch("explain");
    let out_dir = dir.join("why");
    let text_file = dir.join("notes.txt");
    std::fs::write(&text_file, "not an image").unwrap();
    let out = bin()
        .args(["classify", "--explain"])
        .arg(&out_dir)
        .args([
            &sample("potatoes_in_store_bin.jpg"),
            &sample("red_peppers.jpg"),
            &text_file.display().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the text file is refused");
    let mut written: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["01-potatoes_in_store_bin.png", "02-red_peppers.png"]);
    let redness = |name: &str| {
        let img = image::open(out_dir.join(name)).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (224, 224));
        let red = img.pixels().filter(|p| p[0] as i32 > p[2] as i32 + 60).count();
        red as f64 / (224.0 * 224.0)
    };
    let potatoes = redness("01-potatoes_in_store_bin.png");
    let blue = |name: &str| {
        let img = image::open(out_dir.join(name)).unwrap().to_rgb8();
        img.pixels().filter(|p| p[2] as i32 > p[0] as i32 + 60).count() as f64 / (224.0 * 224.0)
    };
    assert!(
        blue("02-red_peppers.png") > blue("01-potatoes_in_store_bin.png"),
        "peppers lean 'not potato'"
    );
    assert!(potatoes > 0.3, "the potatoes' map is mostly red: {potatoes}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let out = bin()
        .args([
            "--model",
            "/nonexistent/card.json",
            "classify",
            &sample("red_peppers.jpg"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no model found") && err.contains("/nonexistent/card.json"),
        "{err}"
    );
}

fn write_variants(src: &Path, dir: &Path, stem: &str) {
    let img = image::open(src).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    img.save(dir.join(format!("{stem}.png"))).unwrap();
    img.fliph().save(dir.join(format!("{stem}_flipped.jpg"))).unwrap();
    img.crop_imm(20, 20, 300, 300)
        .save(dir.join(format!("{stem}_crop.webp")))
        .unwrap();
}

#[test]
fn eval_reports_metrics_with_known_answers() {
    let dir = scratch("eval");
    write_variants(
        Path::new(&sample("potatoes_in_store_bin.jpg")),
        &dir.join("potato"),
        "bin",
    );
    write_variants(
        Path::new(&sample("red_peppers.jpg")),
        &dir.join("not_potato"),
        "peppers",
    );
    let out = bin()
        .args(["eval", "--json", &dir.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for key in [
        "precision",
        "recall",
        "f1",
        "auroc",
        "average_precision",
        "ece",
        "unsure_rate",
        "slices",
        "images_per_second",
    ] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    assert_eq!(r["n"], 6);
    assert_eq!(r["precision"], 1.0);
    assert_eq!(r["recall"], 1.0);
    assert_eq!(r["auroc"], 1.0);
    assert_eq!(r["average_precision"], 1.0);
    assert_eq!(r["unsure_rate"], 0.0);
    assert_eq!(r["slices"]["potato"]["recall"], 1.0);
    assert_eq!(r["slices"]["not_potato"]["false_positive_rate"], 0.0);
    assert!(r["ece"].as_f64().unwrap() < 0.2);
    assert!(r["images_per_second"].as_f64().unwrap() > 0.0);

    let out = bin().args(["eval", &dir.display().to_string()]).output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("precision 100.0%") && text.contains("not_potato"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_prints_a_table_per_size() {
    let dir = scratch("bench");
    let img = image::open(sample("red_peppers.jpg")).unwrap();
    img.resize_exact(640, 360, image::imageops::FilterType::Triangle)
        .save(dir.join("a.jpg"))
        .unwrap();
    img.save(dir.join("b.jpg")).unwrap();
    let out = bin()
        .args(["bench", "--runs", "1", &dir.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(
        text.contains("640x360") && text.contains("348x348") && text.contains("peak MB"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the binary with `args`, failing the test if it has not exited within 20 s.
fn run_bounded(args: &[&str]) -> Output {
    let child = bin()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match waited.recv_timeout(std::time::Duration::from_secs(20)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("ispotato {args:?} hung");
        }
    }
}

#[test]
fn devices_and_fifos_are_refused_instead_of_read_forever() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let fifo = fifo.display().to_string();
    let mut cases = vec![vec!["--config", "/dev/zero", "config", "check"]];
    if made.is_ok_and(|s| s.success()) {
        cases.push(vec!["classify", &fifo]);
        cases.push(vec!["--config", &fifo, "config", "check"]);
        cases.push(vec!["facts", "check", &fifo]);
    } else {
        eprintln!("mkfifo is not available: only /dev/zero is checked");
    }
    for args in cases {
        let out = run_bounded(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("not a regular file") || text.contains("couldn't read that file"),
            "{args:?}: {text}"
        );
    }
}
