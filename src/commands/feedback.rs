//! `ispotato feedback export` and `ispotato feedback cleanup`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ispotato_core::decode::{sniff_format, AcceptedFormat};
use ispotato_core::retention::delete_expired_images;
use ispotato_core::store::{unix_now, Store};

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
    let (mut written, mut seen) = (0usize, std::collections::HashSet::new());
    for e in &examples {
        let label = if e.label_potato { "potato" } else { "not_potato" };
        let mut file = String::new();
        if let Some(bytes) = &e.image {
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
        writeln!(
            csv,
            "{file},{label},{},{:.6},{},{},{},{},{}",
            e.verdict, e.probability, e.model_version, e.platform, e.agree, e.disagree, e.image_sha256
        )?;
    }
    println!(
        "exported {} voted verdicts to {} ({written} images; verdicts whose image was not kept are listed in the CSV only)",
        examples.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
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
