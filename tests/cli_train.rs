//! `ispotato train` on small generated data: a new model version that loads, classifies and
//! evaluates; plus the refusals.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{Rgb, RgbImage};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ispotato"));
    cmd.env_remove("ISPOTATO_MODEL");
    cmd
}

/// Deterministic pseudo-random numbers for the generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.next() % (hi - lo)
    }
}

/// "Potatoes": brown blobs on a pale background. "Not potatoes": green and blue stripes.
fn draw(potato: bool, seed: u64) -> RgbImage {
    let mut rng = Lcg(seed);
    let (w, h) = (rng.range(200, 320), rng.range(200, 320));
    let bg = [
        rng.range(200, 250) as u8,
        rng.range(200, 250) as u8,
        rng.range(190, 240) as u8,
    ];
    let mut img = RgbImage::from_pixel(w, h, Rgb(bg));
    if potato {
        for _ in 0..rng.range(2, 6) {
            let (cx, cy) = (rng.range(40, w - 40) as f32, rng.range(40, h - 40) as f32);
            let (rx, ry) = (rng.range(25, 45) as f32, rng.range(18, 35) as f32);
            let tone = rng.range(0, 40) as u8;
            for (x, y, p) in img.enumerate_pixels_mut() {
                let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                if dx * dx + dy * dy < 1.0 {
                    *p = Rgb([150 + tone, 105 + tone / 2, 60]);
                }
            }
        }
    } else {
        let period = rng.range(8, 30);
        for (x, y, p) in img.enumerate_pixels_mut() {
            if ((x + y) / period).is_multiple_of(2) {
                *p = Rgb([30, 140 + (seed % 60) as u8, 60]);
            } else {
                *p = Rgb([40, 60, 180]);
            }
        }
    }
    img
}

/// "Sweet potatoes": long orange-red spindles on dark soil. "Potato dishes": yellow sticks (fries)
/// on a white plate on a wooden table.
fn draw_kind(kind: &str, seed: u64) -> RgbImage {
    let mut rng = Lcg(seed);
    let (w, h) = (rng.range(220, 320), rng.range(220, 320));
    match kind {
        "sweet_potato" => {
            let mut img = RgbImage::from_pixel(w, h, Rgb([60, 45, 35]));
            for _ in 0..rng.range(3, 6) {
                let (cx, cy) = (rng.range(50, w - 50) as f32, rng.range(40, h - 40) as f32);
                let (rx, ry) = (rng.range(45, 60) as f32, rng.range(12, 18) as f32);
                let tone = rng.range(0, 30) as u8;
                for (x, y, p) in img.enumerate_pixels_mut() {
                    let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                    if dx * dx + dy * dy < 1.0 {
                        *p = Rgb([190 + tone, 80 + tone, 60]);
                    }
                }
            }
            img
        }
        _ => {
            let mut img = RgbImage::from_pixel(w, h, Rgb([150, 100, 60]));
            let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, w.min(h) as f32 * 0.45);
            for (x, y, p) in img.enumerate_pixels_mut() {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if dx * dx + dy * dy < r * r {
                    *p = Rgb([245, 245, 240]);
                }
            }
            for _ in 0..rng.range(15, 30) {
                let (x0, y0) = (rng.range(w / 4, 3 * w / 4), rng.range(h / 4, 3 * h / 4));
                let (len, vertical) = (rng.range(25, 45), rng.next().is_multiple_of(2));
                for i in 0..len {
                    for j in 0..6 {
                        let (x, y) = if vertical { (x0 + j, y0 + i) } else { (x0 + i, y0 + j) };
                        if x < w && y < h {
                            img.put_pixel(x, y, Rgb([235, 190, 70]));
                        }
                    }
                }
            }
            img
        }
    }
}

/// [`make_set`] plus `sweet_potato/` and `potato_dish/` folders.
fn make_four(dir: &Path, per_class: u64, seed: u64) {
    make_set(dir, per_class, seed);
    for kind in ["sweet_potato", "potato_dish"] {
        std::fs::create_dir_all(dir.join(kind)).unwrap();
        for i in 0..per_class {
            draw_kind(kind, seed + 7 * i + kind.len() as u64)
                .save(dir.join(kind).join(format!("{i}.png")))
                .unwrap();
        }
    }
}

fn make_set(dir: &Path, per_class: u64, seed: u64) {
    for (label, potato) in [("potato", true), ("not_potato", false)] {
        std::fs::create_dir_all(dir.join(label)).unwrap();
        for i in 0..per_class {
            draw(potato, seed + i * 2 + potato as u64)
                .save(dir.join(label).join(format!("{i}.png")))
                .unwrap();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ispotato train DATA --out OUT --version VERSION --validation-fraction 0.3`: its stdout, after
/// checking it succeeded; and the card it wrote.
fn train(data: &Path, out: &Path, version: &str) -> (String, serde_json::Value) {
    let run = bin()
        .args([
            "train",
            &data.display().to_string(),
            "--out",
            &out.display().to_string(),
        ])
        .args(["--version", version, "--validation-fraction", "0.3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    let card = serde_json::from_str(&std::fs::read_to_string(out.join("ispotato.json")).unwrap()).unwrap();
    (stdout, card)
}

/// `ispotato --model MODEL eval --json DIR`, after checking it succeeded.
fn eval_json(model: &Path, dir: &Path) -> serde_json::Value {
    let eval = bin()
        .args([
            "--model",
            &model.display().to_string(),
            "eval",
            "--json",
            &dir.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    serde_json::from_slice(&eval.stdout).unwrap()
}

#[test]
fn train_writes_a_working_new_version() {
    let dir = scratch("ok");
    make_set(&dir.join("data"), 30, 1);
    let out = dir.join("model");
    let (stdout, card) = train(&dir.join("data"), &out, "0.1.0-test");
    assert!(
        stdout.contains("model 0.1.0-test written") && stdout.contains("precision"),
        "{stdout}"
    );
    assert!(
        stdout.contains("four-way head: kept from the base model (no sweet_potato, potato_dish folder"),
        "{stdout}"
    );
    assert_eq!(card["version"], "0.1.0-test");
    let shipped = support::shipped_card();
    assert_eq!(card["training"]["base_version"], shipped["version"]);
    assert_eq!(
        card["calibration"]["method"], shipped["calibration"]["method"],
        "recalibrated the way the base card was"
    );
    assert!(card["metrics"]["validation"]["auroc"].as_f64().unwrap() > 0.95);
    assert!(
        out.join(card["backbone"]["file"].as_str().unwrap()).is_file(),
        "backbone copied"
    );

    // Fresh images the training never saw: the new model gets them right.
    let fresh = dir.join("fresh");
    make_set(&fresh, 8, 10_000);
    let r = eval_json(&out, &fresh);
    assert_eq!(r["model_version"], "0.1.0-test");
    assert!(r["auroc"].as_f64().unwrap() > 0.95, "{r}");
    assert!(
        r["recall"].as_f64().unwrap() >= 0.75 && r["precision"].as_f64().unwrap() >= 0.75,
        "{r}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Folders for every answer: the four-way head is retrained (and says so), the binary head still
/// decides, and fresh images of each kind get their answer.
#[test]
fn train_learns_the_four_answers_from_labelled_folders() {
    let dir = scratch("kinds");
    make_four(&dir.join("data"), 16, 3);
    let out = dir.join("model");
    let (stdout, card) = train(&dir.join("data"), &out, "0.1.0-kinds");
    assert!(
        stdout.contains("four-way head: retrained") && stdout.contains("four-way accuracy"),
        "{stdout}"
    );
    assert_eq!(
        card["kinds"]["labels"],
        serde_json::json!(["potato", "sweet_potato", "potato_dish", "other"])
    );
    let accuracy = card["metrics"]["kinds_accuracy"]["validation"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "{accuracy}");

    let fresh = dir.join("fresh");
    make_four(&fresh, 6, 20_000);
    let r = eval_json(&out, &fresh);
    assert!(r["kinds"]["accuracy"].as_f64().unwrap() >= 0.85, "{}", r["kinds"]);
    // The binary head decides: sweet potatoes and dishes are negatives, never called potato.
    for kind in ["sweet_potato", "potato_dish"] {
        assert_eq!(r["slices"][kind]["called_potato"], 0, "{kind}: {}", r["slices"][kind]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The other calibration method than the shipped card's (Platt <-> temperature): `train` follows
/// the base card, so both paths run between this test and the one above.
#[test]
fn train_recalibrates_the_way_the_base_card_does() {
    let dir = scratch("method");
    make_set(&dir.join("data"), 20, 5);
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut base = support::shipped_card();
    let flipped = if base["calibration"]["method"].as_str().unwrap().starts_with("platt") {
        "temperature"
    } else {
        ispotato_core::model::PLATT_METHOD
    };
    base["calibration"]["method"] = flipped.into();
    std::fs::create_dir_all(dir.join("base")).unwrap();
    std::fs::write(dir.join("base/ispotato.json"), base.to_string()).unwrap();
    let backbone = base["backbone"]["file"].as_str().unwrap();
    std::fs::copy(models.join(backbone), dir.join("base").join(backbone)).unwrap();
    let out = dir.join("model");
    let run = bin()
        .args(["--model", &dir.join("base").display().to_string(), "train"])
        .arg(dir.join("data"))
        .arg("--out")
        .arg(&out)
        .args(["--validation-fraction", "0.3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    let scaling = if flipped == "temperature" {
        "temperature scaling"
    } else {
        "Platt scaling"
    };
    assert!(stdout.contains(scaling), "{stdout}");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ispotato.json")).unwrap()).unwrap();
    assert_eq!(card["calibration"]["method"], flipped);
    let t = card["calibration"]["temperature"].as_f64().unwrap();
    assert!(t.is_finite() && t > 0.0, "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_refuses_data_without_both_classes() {
    let dir = scratch("oneclass");
    std::fs::create_dir_all(dir.join("data/potato")).unwrap();
    for i in 0..6 {
        draw(true, i)
            .save(dir.join("data/potato").join(format!("{i}.png")))
            .unwrap();
    }
    let run = bin()
        .args([
            "train",
            &dir.join("data").display().to_string(),
            "--out",
            &dir.join("m").display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("need potatoes and non-potatoes"));
    assert!(!dir.join("m/ispotato.json").exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}
