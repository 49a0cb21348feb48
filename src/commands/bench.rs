//! `ispotato bench`: median decode, preprocess, inference and end-to-end time per image size,
//! with peak memory. Each size group runs in its own child process so its peak RSS is its own.
//! Two reference resizers run in the same invocation on the same decoded pixels: the `image`
//! crate's Triangle filter (what a straightforward Rust program would do) and `fast_image_resize`
//! (SIMD, but not bit-exact with Pillow, so not what serving uses), both resizing the whole
//! image and then cropping, against serving's Pillow-exact resize of the crop window only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use image::imageops::FilterType;
use ispotato_core::image::{decode, read_file_capped};
use ispotato_core::model::{centre_offset, preprocess, resized_dims, Backend, InputRecipe};
use serde::{Deserialize, Serialize};

use crate::cli::GlobalArgs;
use crate::setup;

/// What `ispotato bench` measures and how it prints.
pub struct Options {
    pub runs: usize,
    pub json: bool,
    pub all_backends: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Row {
    size: String,
    backend: String,
    images: usize,
    runs: usize,
    decode_ms: f64,
    decode_full_ms: f64,
    preprocess_ms: f64,
    preprocess_image_crate_ms: f64,
    preprocess_fast_image_resize_ms: f64,
    inference_ms: f64,
    /// One image judged as serving judges it (`Classifier::classify_prepared`, head and
    /// evidence map included), and per image of a pair judged together as the workers judge two
    /// waiting images (one batched run on onnxruntime, two runs on tract).
    judge_ms: f64,
    pair_judge_ms: f64,
    end_to_end_ms: f64,
    model_loaded_rss_mb: f64,
    peak_rss_mb: f64,
}

pub async fn run(
    global: &GlobalArgs,
    dir: Option<&Path>,
    options: Options,
    child: Option<&[PathBuf]>,
) -> anyhow::Result<ExitCode> {
    let Options {
        runs,
        json,
        all_backends,
    } = options;
    if let Some(files) = child {
        let limits = setup::limits(&global.limits);
        let classifier = setup::classifier(global)?;
        let files = files.to_vec();
        let row = tokio::task::spawn_blocking(move || measure(&classifier, &files, runs, &limits))
            .await
            .context("bench task failed")??;
        println!("{}", serde_json::to_string(&row)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("../shared/data/bench"));
    let groups = group_by_size(&dir, &global.limits)?;
    anyhow::ensure!(!groups.is_empty(), "no images found in {}", dir.display());
    let exe = std::env::current_exe().context("locating the ispotato binary")?;
    let backends = if all_backends {
        [Backend::Tract, Backend::TractStock, Backend::OnnxRuntime]
            .into_iter()
            .filter(|b| b.available() && (*b != Backend::OnnxRuntime || global.onnxruntime_lib.is_some()))
            .collect()
    } else {
        vec![global.backend]
    };
    let mut rows = Vec::new();
    for (round, (size, files)) in groups.into_iter().enumerate() {
        let list = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        // Alternate which backend goes first, so drift does not favour one.
        let mut order = backends.clone();
        let turn = round % order.len().max(1);
        order.rotate_left(turn);
        for backend in order {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["bench", "--runs", &runs.to_string(), "--child", &list]);
            cmd.args(["--backend", backend.as_str()]);
            if let Some(lib) = &global.onnxruntime_lib {
                cmd.arg("--onnxruntime-lib").arg(lib);
            }
            if let Some(model) = &global.model {
                cmd.arg("--model").arg(model);
            }
            let output = cmd.output().context("running the bench child")?;
            anyhow::ensure!(
                output.status.success(),
                "bench child for {size} on {backend} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let mut row: Row = serde_json::from_slice(&output.stdout).context("reading the bench child's row")?;
            row.size = size.clone();
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| (&a.size, &a.backend).cmp(&(&b.size, &b.backend)));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("medians over {runs} runs per image, one thread; release build for real numbers");
    println!("decode = serving (big JPEGs reduced in the IDCT); full decode = every pixel (--jpeg-reduce-min-side 0)");
    println!("preproc = serving (Pillow-exact, crop window only); image-rs = image crate Triangle resize + crop (ratio = image-rs / preproc); fir = fast_image_resize of the fully decoded image + crop");
    println!("judge = one image as serving judges it (backbone, head, evidence map); pair = per image of two judged together as the workers judge two waiting images (gain = judge / pair)");
    println!(
        "{:<11} {:<11} {:>6} {:>10} {:>14} {:>11} {:>13} {:>8} {:>12} {:>12} {:>8} {:>8} {:>6} {:>9} {:>12} {:>9}",
        "size",
        "backend",
        "images",
        "decode ms",
        "full decode ms",
        "preproc ms",
        "image-rs ms",
        "ratio",
        "fir ms",
        "inference ms",
        "judge ms",
        "pair ms",
        "gain",
        "e2e ms",
        "model RSS MB",
        "peak MB"
    );
    for r in &rows {
        println!(
            "{:<11} {:<11} {:>6} {:>10.2} {:>14.2} {:>11.2} {:>13.2} {:>7.1}x {:>12.2} {:>12.2} {:>8.2} {:>8.2} {:>5.2}x {:>9.2} {:>12.1} {:>9.1}",
            r.size,
            r.backend,
            r.images,
            r.decode_ms,
            r.decode_full_ms,
            r.preprocess_ms,
            r.preprocess_image_crate_ms,
            r.preprocess_image_crate_ms / r.preprocess_ms.max(1e-9),
            r.preprocess_fast_image_resize_ms,
            r.inference_ms,
            r.judge_ms,
            r.pair_judge_ms,
            r.judge_ms / r.pair_judge_ms.max(1e-9),
            r.end_to_end_ms,
            r.model_loaded_rss_mb,
            r.peak_rss_mb
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn group_by_size(dir: &Path, limits: &crate::cli::LimitArgs) -> anyhow::Result<BTreeMap<String, Vec<PathBuf>>> {
    let limits = setup::limits(limits);
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for path in entries {
        let Ok(bytes) = read_file_capped(&path, limits.max_bytes) else {
            continue;
        };
        let Ok(image) = decode(&bytes, &limits) else { continue };
        groups
            .entry(format!(
                "{}x{}",
                image.original_dimensions().0,
                image.original_dimensions().1
            ))
            .or_default()
            .push(path);
    }
    Ok(groups)
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

fn measure(
    classifier: &ispotato_core::model::Classifier,
    files: &[PathBuf],
    runs: usize,
    limits: &ispotato_core::image::IngestLimits,
) -> anyhow::Result<Row> {
    let model_loaded_rss_mb = proc_status_mb("VmRSS:");
    let recipe = &classifier.card().input;
    let full_limits = ispotato_core::image::IngestLimits {
        jpeg_reduce_min_side: 0,
        ..*limits
    };
    let (mut dec_full, mut judge, mut pair_judge) = (vec![], vec![], vec![]);
    let (mut dec, mut pre, mut pre_ref, mut pre_fir, mut inf, mut e2e) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for run in 0..=runs {
            let t0 = Instant::now();
            let image = decode(&bytes, limits).with_context(|| format!("decoding {}", path.display()))?;
            let t1 = Instant::now();
            let tensor = preprocess(image.rgb(), recipe);
            let t2 = Instant::now();
            let features = classifier.features(tensor)?;
            std::hint::black_box(classifier.probability(&features));
            let t3 = Instant::now();
            std::hint::black_box(preprocess_image_crate(image.rgb(), recipe));
            let t4 = Instant::now();
            let full = decode(&bytes, &full_limits).with_context(|| format!("decoding {}", path.display()))?;
            let t5 = Instant::now();
            std::hint::black_box(preprocess_fast_image_resize(full.rgb(), recipe));
            let t6 = Instant::now();
            let lone = vec![classifier.prepare(&image)];
            let pair = vec![classifier.prepare(&image), classifier.prepare(&image)];
            let t7 = Instant::now();
            std::hint::black_box(classifier.classify_prepared(lone));
            let t8 = Instant::now();
            std::hint::black_box(classifier.classify_prepared(pair));
            let t9 = Instant::now();
            if run > 0 {
                dec.push(t1 - t0);
                pre.push(t2 - t1);
                inf.push(t3 - t2);
                e2e.push(t3 - t0);
                pre_ref.push(t4 - t3);
                dec_full.push(t5 - t4);
                pre_fir.push(t6 - t5);
                judge.push(t8 - t7);
                pair_judge.push((t9 - t8) / 2);
            }
        }
    }
    Ok(Row {
        size: String::new(),
        backend: classifier.backend().backend.to_string(),
        images: files.len(),
        runs,
        decode_ms: median(dec),
        decode_full_ms: median(dec_full),
        preprocess_ms: median(pre),
        preprocess_image_crate_ms: median(pre_ref),
        preprocess_fast_image_resize_ms: median(pre_fir),
        inference_ms: median(inf),
        judge_ms: median(judge),
        pair_judge_ms: median(pair_judge),
        end_to_end_ms: median(e2e),
        model_loaded_rss_mb,
        peak_rss_mb: proc_status_mb("VmHWM:"),
    })
}

/// The straightforward way: `image::imageops::resize` (Triangle), crop, normalise.
fn preprocess_image_crate(rgb: &image::RgbImage, recipe: &InputRecipe) -> Vec<f32> {
    let (nw, nh) = resized_dims(rgb.width(), rgb.height(), recipe.resize_shorter);
    crop_normalise(&image::imageops::resize(rgb, nw, nh, FilterType::Triangle), recipe)
}

/// `fast_image_resize` bilinear convolution of the whole image, crop, normalise.
fn preprocess_fast_image_resize(rgb: &image::RgbImage, recipe: &InputRecipe) -> Vec<f32> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{PixelType, ResizeAlg, ResizeOptions, Resizer};
    let (nw, nh) = resized_dims(rgb.width(), rgb.height(), recipe.resize_shorter);
    let Ok(src) = ImageRef::new(rgb.width(), rgb.height(), rgb.as_raw(), PixelType::U8x3) else {
        return Vec::new();
    };
    let mut dst = Image::new(nw, nh, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(fast_image_resize::FilterType::Bilinear));
    if Resizer::new().resize(&src, &mut dst, &options).is_err() {
        return Vec::new();
    }
    match image::RgbImage::from_raw(nw, nh, dst.into_vec()) {
        Some(resized) => crop_normalise(&resized, recipe),
        None => Vec::new(),
    }
}

fn crop_normalise(resized: &image::RgbImage, recipe: &InputRecipe) -> Vec<f32> {
    let (nw, nh) = resized.dimensions();
    let (left, top) = (centre_offset(nw, recipe.width), centre_offset(nh, recipe.height));
    let mut out = vec![0f32; 3 * (recipe.width * recipe.height) as usize];
    let plane = (recipe.width * recipe.height) as usize;
    for y in 0..recipe.height {
        for x in 0..recipe.width {
            let px = resized.get_pixel(left + x, top + y);
            for c in 0..3 {
                out[c * plane + (y * recipe.width + x) as usize] = (px[c] as f32 - recipe.mean[c]) / recipe.std[c];
            }
        }
    }
    out
}

/// A memory figure from /proc/self/status, in MB (0 where /proc is not available).
fn proc_status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
