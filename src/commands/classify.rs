//! `ispotato classify`: judge files and URLs, one line (or JSON object) per input, through the
//! same road as every front end ([`Judge::judge`]); with `--explain DIR`, also the evidence map
//! of each judged image as a PNG.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use ispotato_core::image::ImageSource;
use ispotato_core::model::{Label, Verdict};
use ispotato_core::serve::{answer, ImageInput, Judge, Judged};

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn run(
    global: &GlobalArgs,
    inputs: &[String],
    as_json: bool,
    explain: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let judge: Judge = setup::judge(global, inputs.len())?;
    if let Some(dir) = explain {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut failed = 0usize;
    let mut out = std::io::stdout().lock();
    for (index, input) in inputs.iter().enumerate() {
        let started = Instant::now();
        let result = judge.judge(ImageInput::Source(ImageSource::from_arg(input))).await;
        let elapsed = started.elapsed();
        let line = match result {
            Ok(judged) => {
                if let Some(dir) = explain {
                    let path = dir.join(explanation_name(index, input));
                    match write_explanation(&judged, path.clone()).await {
                        Ok(()) => tracing::info!(input = %input, file = %path.display(), "explanation written"),
                        Err(e) => {
                            failed += 1;
                            tracing::error!(input = %input, error = %format!("{e:#}"), "explanation failed");
                            eprintln!("cannot explain {input}: {e:#}");
                        }
                    }
                }
                let verdict = &judged.verdict;
                tracing::info!(input = %input, label = %verdict.label, probability = verdict.probability, elapsed_ms = elapsed.as_secs_f64() * 1e3, "classified");
                if as_json {
                    answer::verdict_json(input, &judged, elapsed).to_string()
                } else {
                    text_line(input, verdict, elapsed.as_secs_f64() * 1e3)
                }
            }
            Err(refusal) => {
                failed += 1;
                tracing::warn!(input = %input, reason = refusal.reason(), "image refused");
                if as_json {
                    answer::refusal_json(Some(input), &refusal).to_string()
                } else {
                    format!("{:<10} {input}: {}", "error", refusal.message())
                }
            }
        };
        writeln!(out, "{line}")?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn text_line(input: &str, v: &Verdict, elapsed_ms: f64) -> String {
    let answer = match v.label {
        _ if v.blank => format!("{:<10} {:>5}", "unsure", "blank"),
        Label::Unsure => format!("{:<10} {:>5.1}% potato", "unsure", v.probability * 100.0),
        Label::NotPotato if v.named_kind().is_some() => format!(
            "{:<12} {:>5.1}%",
            v.named_kind().map_or("", |k| k.key()),
            v.confidence() * 100.0
        ),
        label => format!("{:<10} {:>5.1}%", label.words(), v.confidence() * 100.0),
    };
    let warn = if v.placeholder_model {
        "  [placeholder model: not trained for potatoes]"
    } else {
        ""
    };
    format!("{answer:<20} {elapsed_ms:>7.1} ms  {input}{warn}")
}

/// `NN-stem.png`: the input's position (names can repeat) and its file name without extension.
fn explanation_name(index: usize, input: &str) -> String {
    let last = input.trim_end_matches('/').rsplit(['/', '\\']).next().unwrap_or("");
    let stem = last.split(['?', '#']).next().unwrap_or("");
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("{:02}-{}.png", index + 1, if safe.is_empty() { "image" } else { &safe })
}

/// The evidence map of `judged` (from the same run as its verdict) over the image as the model
/// saw it, written to `path`.
async fn write_explanation(judged: &Judged, path: PathBuf) -> anyhow::Result<()> {
    let view = judged.view.clone();
    let evidence = judged
        .evidence
        .clone()
        .context("this model gives no evidence map (its backbone has no global pool)")?;
    tokio::task::spawn_blocking(move || {
        evidence
            .overlay(&view)
            .save_with_format(&path, image::ImageFormat::Png)
            .with_context(|| format!("writing {}", path.display()))
    })
    .await
    .context("the explanation task stopped")?
}

#[cfg(test)]
mod tests {
    use super::explanation_name;

    #[test]
    fn explanation_files_are_numbered_and_named_after_their_input() {
        assert_eq!(explanation_name(0, "photos/potato.jpg"), "01-potato.png");
        assert_eq!(
            explanation_name(11, "https://example.com/a/b%20c.jpeg?x=1"),
            "12-b_20c.png"
        );
        assert_eq!(explanation_name(2, "../../etc/"), "03-etc.png");
        assert_eq!(explanation_name(3, "https://example.com/"), "04-example.png");
        assert_eq!(explanation_name(4, ""), "05-image.png");
    }
}
