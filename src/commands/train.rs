//! `ispotato train`: retrain the head on features the serving pipeline computes, recalibrate,
//! write a new model version, and report its validation metrics beside the base model's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget};
use ispotato_core::image::{ingest_file, IngestLimits};
use ispotato_core::model::preprocess;
use ispotato_core::model::scores::{BinaryMetrics, Scored};
use ispotato_core::model::{
    calibrate_kinds, fit_platt, fit_temperature, is_validation, kind_of_slice, kinds_accuracy, scan_labelled_dir,
    train_head, train_kinds, Classifier, EvalItem, Example, Kind, KindHead, Label, LinearHead, ModelCard, TrainOptions,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli::GlobalArgs;
use crate::setup;

pub struct TrainArgs<'a> {
    pub dirs: &'a [PathBuf],
    pub out: &'a Path,
    pub version: Option<&'a str>,
    pub validation_fraction: f64,
    pub epochs: usize,
    pub l2: f64,
}

struct Featurised {
    example: Example,
    validation: bool,
    sha: [u8; 32],
}

/// Features of every readable image, computed on all cores.
fn featurise(
    classifier: &Classifier,
    items: &[EvalItem],
    limits: &IngestLimits,
    fraction: f64,
) -> (Vec<Featurised>, usize) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len().max(1));
    let bar = ProgressBar::with_draw_target(Some(items.len() as u64), ProgressDrawTarget::stderr());
    let chunks: Vec<&[EvalItem]> = items.chunks(items.len().div_ceil(threads).max(1)).collect();
    let results: Vec<Vec<Option<Featurised>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let bar = bar.clone();
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|item| {
                            let out = ingest_file(&item.path, limits).ok().and_then(|img| {
                                let features = classifier
                                    .features(preprocess(img.rgb(), &classifier.card().input))
                                    .ok()?;
                                let sha = img.sha256();
                                Some(Featurised {
                                    example: Example {
                                        features,
                                        potato: item.positive,
                                        kind: kind_of_slice(&item.slice),
                                    },
                                    validation: is_validation(&sha, fraction),
                                    sha,
                                })
                            });
                            if out.is_none() {
                                tracing::warn!(file = %item.path.display(), "skipped: not a readable image");
                            }
                            bar.inc(1);
                            out
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    bar.finish_and_clear();
    let all: Vec<Option<Featurised>> = results.into_iter().flatten().collect();
    let skipped = all.iter().filter(|f| f.is_none()).count();
    (all.into_iter().flatten().collect(), skipped)
}

fn scored(head: &LinearHead, temperature: f32, lower: f32, upper: f32, examples: &[&Example]) -> Vec<Scored> {
    examples
        .iter()
        .map(|e| {
            let p = 1.0 / (1.0 + (-head.logit(&e.features) / temperature).exp());
            Scored {
                probability: p,
                positive: e.potato,
                label: Label::from_probability(p, lower, upper),
            }
        })
        .collect()
}

/// The metrics as the card writes them (precision, recall, F1, AUROC, average precision, ECE,
/// unsure rate, confusion).
/// The four-way head of the new version, and what the report says about it.
struct FourWay {
    head: Option<KindHead>,
    /// For the card's training record.
    note: String,
    temperature: Option<f32>,
    accuracy_before: Option<f64>,
    accuracy_after: Option<f64>,
}

/// Retrains the four-way head when the folders hold every answer (`potato/`, `sweet_potato/`,
/// `potato_dish/` and anything else), warm-started from the base card's, temperature-scaled on
/// the validation images; otherwise keeps the base card's (the backbone, hence the features,
/// is the same).
async fn four_way(
    base: Option<KindHead>,
    train: &[&Example],
    val: &[&Example],
    options: TrainOptions,
) -> anyhow::Result<FourWay> {
    let accuracy_before = base.as_ref().and_then(|h| kinds_accuracy(h, val));
    let missing: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| !train.iter().any(|e| e.kind == **k))
        .map(|k| k.key())
        .collect();
    if !missing.is_empty() {
        let note = match &base {
            Some(_) => format!(
                "kept from the base model (no {} folder to learn from)",
                missing.join(", ")
            ),
            None => format!("none (no {} folder to learn from)", missing.join(", ")),
        };
        return Ok(FourWay {
            accuracy_after: accuracy_before,
            head: base,
            note,
            temperature: None,
            accuracy_before,
        });
    }
    let owned: Vec<Example> = train.iter().map(|e| (*e).clone()).collect();
    let head = tokio::task::spawn_blocking(move || train_kinds(&owned, base.as_ref(), options))
        .await
        .context("training the four-way head failed")?
        .context("the four-way head needs every answer")?;
    let (head, temperature) = if val.is_empty() {
        (head, 1.0)
    } else {
        calibrate_kinds(&head, val)
    };
    Ok(FourWay {
        accuracy_after: kinds_accuracy(&head, val),
        head: Some(head),
        note: "retrained: class-balanced softmax regression (Adam) on the same features, warm-started from the base \
               head, temperature-scaled on the validation images"
            .into(),
        temperature: Some(temperature),
        accuracy_before,
    })
}

fn summary(m: &BinaryMetrics) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or(serde_json::Value::Null)
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}

pub async fn run(global: &GlobalArgs, args: TrainArgs<'_>) -> anyhow::Result<ExitCode> {
    if !(0.0..1.0).contains(&args.validation_fraction) || args.validation_fraction == 0.0 {
        bail!("--validation-fraction must be between 0 and 1");
    }
    let mut items = Vec::new();
    for dir in args.dirs {
        items.extend(scan_labelled_dir(dir).with_context(|| format!("reading {}", dir.display()))?);
    }
    if items.is_empty() {
        bail!("no images found: each folder needs potato/ and other label subfolders");
    }
    let base = setup::classifier(global)?;
    let limits = setup::limits(&global.limits);
    let fraction = args.validation_fraction;
    let base_for_features = base.clone();
    let (data, skipped) = tokio::task::spawn_blocking(move || featurise(&base_for_features, &items, &limits, fraction))
        .await
        .context("feature extraction failed")?;
    let train: Vec<&Example> = data.iter().filter(|d| !d.validation).map(|d| &d.example).collect();
    let val: Vec<&Example> = data.iter().filter(|d| d.validation).map(|d| &d.example).collect();
    let has_both = |set: &[&Example]| set.iter().any(|e| e.potato) && set.iter().any(|e| !e.potato);
    if !has_both(&train) || !has_both(&val) {
        bail!(
            "need potatoes and non-potatoes on both sides of the split (train {}, validation {}): add images or change --validation-fraction",
            train.len(),
            val.len()
        );
    }
    let card = base.card().clone();
    let options = TrainOptions {
        l2: args.l2,
        epochs: args.epochs,
        ..TrainOptions::default()
    };
    let train_owned: Vec<Example> = train.iter().map(|e| (*e).clone()).collect();
    let init = card.head.clone();
    let mut head = tokio::task::spawn_blocking(move || train_head(&train_owned, Some(&init), options))
        .await
        .context("training failed")?
        .context("training needs both classes")?;
    let logits: Vec<f32> = val.iter().map(|e| head.logit(&e.features)).collect();
    let labels: Vec<bool> = val.iter().map(|e| e.potato).collect();
    // Recalibrate the way the base card was calibrated: Platt scaling (its shift folded into the
    // head's bias) or temperature scaling alone.
    let platt = card.calibration.is_platt();
    let temperature = if platt {
        let (temperature, shift) = fit_platt(&logits, &labels);
        head.bias += shift;
        temperature
    } else {
        fit_temperature(&logits, &labels)
    };
    let kinds = four_way(card.kinds.clone(), &train, &val, options).await?;
    let (lower, upper) = (card.thresholds.lower, card.thresholds.upper);
    let before = BinaryMetrics::compute(&scored(&card.head, card.calibration.temperature, lower, upper, &val));
    let after = BinaryMetrics::compute(&scored(&head, temperature, lower, upper, &val));

    let mut shas: Vec<String> = data
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d.sha.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                d.example.potato
            )
        })
        .collect();
    shas.sort();
    let data_sha: String = Sha256::digest(shas.join("\n"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let version = args
        .version
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}+retrained", card.version));
    let new_card = ModelCard {
        version: version.clone(),
        placeholder: false,
        description: format!(
            "{} backbone (frozen) + linear head retrained by `ispotato train`",
            card.backbone.architecture
        ),
        head,
        kinds: kinds.head.clone(),
        calibration: ispotato_core::model::Calibration {
            method: if platt {
                ispotato_core::model::PLATT_METHOD.into()
            } else {
                "temperature".into()
            },
            temperature,
        },
        created: Some(ispotato_core::store::unix_now().to_string()),
        training: json!({
            "method": "ispotato train: class-balanced logistic regression (Adam) on frozen serving features, warm-started from the base head",
            "base_version": card.version,
            "folders": args.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
            "train_images": train.len(),
            "validation_images": val.len(),
            "skipped_files": skipped,
            "split": format!("by SHA-256 of the file, {:.0}% validation", fraction * 100.0),
            "data_sha256": data_sha,
            "epochs": args.epochs,
            "l2": args.l2,
            "kinds": kinds.note,
            "kinds_temperature": kinds.temperature,
        }),
        metrics: json!({
            "validation": summary(&after),
            "base_model_on_same_validation": summary(&before),
            "kinds_accuracy": { "validation": kinds.accuracy_after, "base_model_on_same_validation": kinds.accuracy_before },
        }),
        ..card.clone()
    };
    std::fs::create_dir_all(args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let src_onnx = card.backbone_path(base.card_path());
    let dst_onnx = args.out.join(&card.backbone.file);
    if std::fs::canonicalize(&src_onnx).ok() != std::fs::canonicalize(&dst_onnx).ok() {
        std::fs::copy(&src_onnx, &dst_onnx)
            .with_context(|| format!("copying the backbone to {}", dst_onnx.display()))?;
    }
    let card_path = args.out.join(ispotato_core::model::DEFAULT_CARD);
    new_card
        .save(&card_path)
        .with_context(|| format!("writing {}", card_path.display()))?;
    // The new version must load and run before anyone is told it exists.
    Classifier::load(&card_path).with_context(|| format!("the new model at {} does not load", card_path.display()))?;
    println!("model {version} written to {}", card_path.display());
    println!(
        "trained on {} images, validated on {} ({} files skipped); {} scaling, temperature {temperature:.3}",
        train.len(),
        val.len(),
        skipped,
        if platt { "Platt" } else { "temperature" }
    );
    println!(
        "{:<18} {:>10} {:>10}",
        "validation",
        format!("base {}", card.version),
        "new"
    );
    for (name, b, a) in [
        ("precision", before.precision, after.precision),
        ("recall", before.recall, after.recall),
        ("F1", before.f1, after.f1),
        ("AUROC", before.auroc, after.auroc),
        ("avg precision", before.average_precision, after.average_precision),
        ("ECE", before.ece, after.ece),
        ("unsure rate", before.unsure_rate, after.unsure_rate),
    ] {
        println!("{name:<18} {:>10} {:>10}", fmt(b), fmt(a));
    }
    println!(
        "{:<18} {:>10} {:>10}",
        "four-way accuracy",
        fmt(kinds.accuracy_before),
        fmt(kinds.accuracy_after)
    );
    println!("four-way head: {}", kinds.note);
    Ok(ExitCode::SUCCESS)
}
