//! `ispotato feedback export` and `ispotato feedback cleanup`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ispotato_core::image::{sniff_format, AcceptedFormat};
use ispotato_core::store::retention::delete_expired_images;
use ispotato_core::store::unix_now;

use crate::cli::GlobalArgs;
use crate::setup;

pub async fn export(global: &GlobalArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let store = setup::open_store(global)?;
    let examples = tokio::task::spawn_blocking(move || store.feedback_examples())
        .await
        .context("export task failed")??;
    for label in ["potato", "not_potato"] {
        std::fs::create_dir_all(dir.join(label)).with_context(|| format!("creating {}", dir.join(label).display()))?;
    }
    let csv_path = dir.join("feedback.csv");
    let mut csv = std::fs::File::create(&csv_path).with_context(|| format!("creating {}", csv_path.display()))?;
    writeln!(
        csv,
        "file,label,verdict,probability,model_version,platform,agree,disagree,image_sha256"
    )?;
    let (mut written, mut seen, mut skipped) = (0usize, std::collections::HashSet::new(), 0usize);
    for e in &examples {
        let label = if e.label_potato { "potato" } else { "not_potato" };
        let mut file = String::new();
        // The database names the files: only a SHA-256 in hex may become a file name.
        let valid_hash = is_sha256_hex(&e.image_sha256);
        if e.image.is_some() && !valid_hash {
            skipped += 1;
            tracing::warn!("an image whose recorded hash is not a SHA-256 was not exported");
        }
        if let (Some(bytes), true) = (&e.image, valid_hash) {
            if seen.insert(e.image_sha256.clone()) {
                let ext = match sniff_format(bytes) {
                    Ok(AcceptedFormat::Jpeg) => "jpg",
                    Ok(AcceptedFormat::Png) => "png",
                    Ok(AcceptedFormat::Webp) => "webp",
                    Ok(AcceptedFormat::Gif) => "gif",
                    Err(_) => "bin",
                };
                file = format!("{label}/{}.{ext}", e.image_sha256);
                std::fs::write(dir.join(&file), bytes).with_context(|| format!("writing {file}"))?;
                written += 1;
            }
        }
        let row = [
            file,
            label.to_string(),
            e.verdict.clone(),
            format!("{:.6}", e.probability),
            e.model_version.clone(),
            e.platform.clone(),
            e.agree.to_string(),
            e.disagree.to_string(),
            e.image_sha256.clone(),
        ];
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
        writeln!(csv, "{}", cells.join(","))?;
    }
    if skipped > 0 {
        eprintln!("warning: {skipped} image(s) with an invalid recorded hash were left out");
    }
    println!(
        "exported {} voted verdicts to {} ({written} images; verdicts whose image was not kept are listed in the CSV only)",
        examples.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One CSV cell: quoted when it holds a separator, a quote or a line break, and with a leading
/// `'` when a spreadsheet would read it as a formula (`=`, `+`, `-`, `@`, tab, carriage return).
fn csv_cell(text: &str) -> String {
    let neutral = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if text.parse::<f64>().is_err() => format!("'{text}"),
        _ => text.to_string(),
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

pub async fn cleanup(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = setup::open_store(global)?;
    let retention = global.image_retention;
    let n = tokio::task::spawn_blocking(move || delete_expired_images(store.as_ref(), unix_now(), retention))
        .await
        .context("cleanup task failed")??;
    println!(
        "deleted {n} kept image(s) older than {} days",
        retention.as_secs() / 86_400
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("0.500000"), "0.500000");
        assert_eq!(csv_cell("-0.5"), "-0.5", "numbers stay numbers");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex("../../x"));
        assert!(!is_sha256_hex(&"g".repeat(64)));
    }
}
