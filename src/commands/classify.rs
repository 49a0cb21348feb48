//! `ispotato classify`: judge files and URLs, one line (or JSON object) per input, through the
//! same road as every front end ([`Judge::judge`]).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use ispotato_core::image::ImageSource;
use ispotato_core::model::{Label, Verdict};
use ispotato_core::serve::{answer, ImageInput, Judge};

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn run(global: &GlobalArgs, inputs: &[String], as_json: bool) -> anyhow::Result<ExitCode> {
    let judge: Judge = setup::judge(global, inputs.len())?;
    let mut failed = 0usize;
    let mut out = std::io::stdout().lock();
    for input in inputs {
        let started = Instant::now();
        let result = judge.judge(ImageInput::Source(ImageSource::from_arg(input))).await;
        let elapsed = started.elapsed();
        let line = match result {
            Ok(judged) => {
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
        label => format!("{:<10} {:>5.1}%", label.words(), v.confidence() * 100.0),
    };
    let warn = if v.placeholder_model {
        "  [placeholder model: not trained for potatoes]"
    } else {
        ""
    };
    format!("{answer:<20} {elapsed_ms:>7.1} ms  {input}{warn}")
}
