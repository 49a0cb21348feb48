//! Checks against the real training photos in `../shared/data` (next to the repository). They
//! are not part of the project: where the folder is absent these tests print why and pass.

mod common;

use std::path::PathBuf;

use ispotato_core::image::{ingest_file, IngestLimits};

fn data_dir() -> Option<PathBuf> {
    let dir = common::repo_root().join("../shared/data");
    if dir.join("manifest.csv").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is not there", dir.display());
        None
    }
}

#[test]
fn every_training_photo_passes_ingest_with_its_manifest_size() {
    let Some(dir) = data_dir() else { return };
    let manifest = std::fs::read_to_string(dir.join("manifest.csv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (path, width, height) = (col("path"), col("width"), col("height"));
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in lines {
        // Licence texts may contain commas; the fields we need are not among them.
        let fields: Vec<&str> = line.split(',').collect();
        let n = fields.len();
        let (p, w, h) = (
            fields[path],
            fields[n - (header.len() - width)],
            fields[n - (header.len() - height)],
        );
        match ingest_file(&dir.join(p), &IngestLimits::default()) {
            Ok(img) => {
                if (img.width().to_string(), img.height().to_string()) != (w.to_string(), h.to_string()) {
                    failures.push(format!(
                        "{p}: {}x{} but the manifest says {w}x{h}",
                        img.width(),
                        img.height()
                    ));
                }
            }
            Err(e) => failures.push(format!("{p}: {e}")),
        }
        checked += 1;
    }
    assert!(checked > 5000, "only {checked} rows");
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[test]
fn phone_photos_pass_ingest_under_default_limits() {
    let Some(dir) = data_dir() else { return };
    let bench = dir.join("bench");
    let mut n = 0;
    for entry in std::fs::read_dir(&bench).unwrap() {
        let path = entry.unwrap().path();
        let img = ingest_file(&path, &IngestLimits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (w, h) = img.original_dimensions();
        assert!(w.min(h) >= 719, "{}: {w}x{h}", path.display());
        assert!(
            img.width().min(img.height()) >= 512,
            "decoded at most down to the reduce floor"
        );
        n += 1;
    }
    assert_eq!(n, 16);
}
