//! `evaluate` over a generated labelled folder with a scorer whose answers are known, so every
//! aggregate can be checked exactly.

mod common;

use std::path::PathBuf;

use ispotato_core::model::{evaluate, scan_labelled_dir, EvalItem, KindScores, Label, Timings, Verdict};

fn make_folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ispotato-eval-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // File names carry the probability the scorer below will return.
    for (label, probs) in [
        ("potato", vec![95, 90, 50, 10]),
        ("not_potato", vec![5, 15, 85]),
        ("sweet_potato", vec![30, 2]),
    ] {
        std::fs::create_dir_all(dir.join(label)).unwrap();
        for (i, p) in probs.into_iter().enumerate() {
            std::fs::write(dir.join(label).join(format!("{i}_{p:02}.png")), common::png(8, 8)).unwrap();
        }
    }
    std::fs::write(dir.join("not_potato").join("9_broken.png"), b"not an image").unwrap();
    std::fs::write(dir.join(".hidden"), b"ignored").unwrap();
    dir
}

/// The scorer: the probability its file name carries (`{i}_{percent}`), with `kinds` as given; a
/// name without one is an unreadable image.
fn scored_by_name(item: &EvalItem, kinds: Option<KindScores>) -> Result<Verdict, String> {
    let name = item.path.file_stem().unwrap().to_string_lossy().into_owned();
    let percent = name.split('_').nth(1).unwrap();
    let p = percent.parse::<f32>().map_err(|_| "unreadable".to_string())? / 100.0;
    Ok(Verdict {
        label: Label::from_probability(p, 0.2, 0.8),
        probability: p,
        model_version: "test".into(),
        placeholder_model: false,
        blank: false,
        kinds,
        timings: Timings::default(),
    })
}

#[test]
fn evaluation_aggregates_exactly() {
    let dir = make_folder("aggregates");
    let items = scan_labelled_dir(&dir).unwrap();
    assert_eq!(items.len(), 10);
    let report = evaluate(&items, "test", |item| scored_by_name(item, None), || {});
    // potato: 0.95 P, 0.90 P, 0.50 U, 0.10 N; not_potato: 0.05 N, 0.15 N, 0.85 P; sweet: 0.30 U, 0.02 N.
    assert_eq!(report.n, 9);
    assert_eq!(report.errors, 1);
    let c = report.metrics.confusion;
    assert_eq!(
        (c.true_positive, c.false_positive, c.false_negative, c.true_negative),
        (2, 1, 2, 4)
    );
    assert_eq!((c.unsure_positive, c.unsure_negative), (1, 1));
    assert!((report.metrics.precision.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert!((report.metrics.recall.unwrap() - 0.5).abs() < 1e-9);
    assert!((report.metrics.unsure_rate.unwrap() - 2.0 / 9.0).abs() < 1e-9);
    // AUROC: positives {.95,.90,.50,.10} vs negatives {.05,.15,.85,.30,.02}: wins 5+5+4+2 = 16 of 20.
    assert!(
        (report.metrics.auroc.unwrap() - 16.0 / 20.0).abs() < 1e-9,
        "{:?}",
        report.metrics.auroc
    );
    let potato = &report.slices["potato"];
    assert_eq!((potato.n, potato.called_potato, potato.unsure), (4, 2, 1));
    assert_eq!(potato.recall, Some(0.5));
    let not = &report.slices["not_potato"];
    assert_eq!((not.n, not.errors), (3, 1));
    assert!((not.false_positive_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(report.slices["sweet_potato"].false_positive_rate, Some(0.0));
    let json = serde_json::to_value(&report).unwrap();
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
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert!(report.kinds.is_none(), "no four-way head, no four-way report");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a four-way head: the confusion matrix against the folders (anything not named after a
/// kind is `other`) and what the replies named, per folder.
#[test]
fn the_four_way_head_is_scored_against_the_folders() {
    let dir = make_folder("kinds");
    let items = scan_labelled_dir(&dir).unwrap();
    let report = evaluate(
        &items,
        "test",
        |item| {
            let name = item.path.file_stem().unwrap().to_string_lossy().into_owned();
            // Logits in Kind::ALL order (potato, sweet potato, potato dish, other).
            let logits = match (item.slice.as_str(), name.as_str()) {
                ("potato", _) => [4.0, 0.0, 0.0, 0.0],
                ("sweet_potato", "1_02") => [0.0, 4.0, 0.0, 0.0],
                ("not_potato", "0_05") => [0.0, 0.0, 4.0, 0.0],
                _ => [0.0, 0.0, 0.0, 4.0],
            };
            scored_by_name(item, Some(KindScores::from_logits(logits)))
        },
        || {},
    );
    let kinds = report.kinds.clone().expect("a four-way report");
    assert_eq!(kinds.labels, ["potato", "sweet_potato", "potato_dish", "other"]);
    // sweet_potato/0_30 is `other`; not_potato/0_05 is a dish; the broken file is not counted.
    assert_eq!(
        kinds.confusion,
        [[4, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 1, 2]]
    );
    assert!((kinds.accuracy - 7.0 / 9.0).abs() < 1e-9);
    // Named only where the binary verdict is `not potato`: sweet 0.02 yes, not_potato 0.05 yes.
    let sweet = kinds.replies["sweet_potato"];
    assert_eq!((sweet.n, sweet.named_sweet_potato, sweet.named_potato_dish), (2, 1, 0));
    let other = kinds.replies["not_potato"];
    assert_eq!((other.n, other.named_sweet_potato, other.named_potato_dish), (3, 0, 1));
    assert_eq!(
        kinds.replies["potato"].named_sweet_potato + kinds.replies["potato"].named_potato_dish,
        0
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["kinds"]["confusion"][1][1], 1);
    let _ = std::fs::remove_dir_all(&dir);
}
