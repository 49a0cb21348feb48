//! `ispotato eval DIR`: metrics of the model on a labelled folder.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ispotato_core::image::ingest_file;
use ispotato_core::model::{evaluate, scan_labelled_dir, EvalReport};

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn run(global: &GlobalArgs, dir: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let items = scan_labelled_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    anyhow::ensure!(
        !items.is_empty(),
        "{} has no images in label subfolders (expected {}/potato/...)",
        dir.display(),
        dir.display()
    );
    let classifier = setup::classifier(global)?;
    let limits = setup::limits(&global.limits);
    let version = classifier.card().version.clone();
    let report = tokio::task::spawn_blocking(move || {
        let bar = ProgressBar::with_draw_target(Some(items.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let report = evaluate(
            &items,
            &version,
            |item| {
                let image = ingest_file(&item.path, &limits).map_err(|e| e.to_string())?;
                classifier.classify(&image).map_err(|e| e.to_string())
            },
            || bar.inc(1),
        );
        bar.finish_and_clear();
        report
    })
    .await
    .context("evaluation task failed")?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "n/a".into())
}

fn num(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}

fn render(report: &EvalReport) -> String {
    let r = &report.metrics;
    let c = &r.confusion;
    let mut s = format!(
        "model {}: {} images judged, {} could not be read, {:.1} images/s\n\
         precision {}  recall {}  F1 {}\n\
         AUROC {}  average precision {}  ECE(15 bins) {}  unsure {}\n\
         confusion: {} true potato, {} false potato, {} true not-potato, {} missed potato \
         ({} potatoes and {} others answered unsure)\n\nslice                 images  called potato  unsure  rate\n",
        report.model_version,
        report.n,
        report.errors,
        report.images_per_second,
        pct(r.precision),
        pct(r.recall),
        num(r.f1),
        num(r.auroc),
        num(r.average_precision),
        num(r.ece),
        pct(r.unsure_rate),
        c.true_positive,
        c.false_positive,
        c.true_negative,
        c.false_negative,
        c.unsure_positive,
        c.unsure_negative,
    );
    for (name, slice) in &report.slices {
        let rate = match (slice.recall, slice.false_positive_rate) {
            (Some(recall), _) => format!("recall {}", pct(Some(recall))),
            (_, Some(fpr)) => format!("false positive {}", pct(Some(fpr))),
            _ => "n/a".into(),
        };
        s += &format!(
            "{name:<20} {:>7} {:>14} {:>7}  {rate}\n",
            slice.n, slice.called_potato, slice.unsure
        );
    }
    for (path, err) in report.failures.iter().take(10) {
        s += &format!("could not judge {path}: {err}\n");
    }
    s
}
