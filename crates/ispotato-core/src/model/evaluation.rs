//! Evaluates a classifier on a labelled folder: one subfolder per label, `potato/` positive and
//! every other subfolder negative, each reported as its own slice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::model::scores::{BinaryMetrics, Scored};
use crate::model::verdict::{Kind, Label, Verdict};

/// The positive folder's name.
pub const POSITIVE_LABEL: &str = "potato";

#[derive(Debug, Clone)]
pub struct EvalItem {
    pub path: PathBuf,
    pub slice: String,
    pub positive: bool,
}

/// Lists every file under `dir/<label>/` (sorted, hidden files skipped).
pub fn scan_labelled_dir(dir: &Path) -> std::io::Result<Vec<EvalItem>> {
    let mut items = Vec::new();
    let mut labels: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !is_hidden(p))
        .collect();
    labels.sort();
    for label_dir in labels {
        let slice = label_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&label_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && !is_hidden(p))
            .collect();
        files.sort();
        let positive = slice == POSITIVE_LABEL;
        items.extend(files.into_iter().map(|path| EvalItem {
            path,
            slice: slice.clone(),
            positive,
        }));
    }
    Ok(items)
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// One slice (subfolder): recall for the potato slice, false-positive rate for the others.
#[derive(Debug, Clone, Serialize)]
pub struct SliceReport {
    pub n: usize,
    pub positive: bool,
    pub called_potato: usize,
    pub unsure: usize,
    pub recall: Option<f64>,
    pub false_positive_rate: Option<f64>,
    pub errors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub model_version: String,
    pub n: usize,
    pub errors: usize,
    /// Over every image (written beside the other fields in JSON).
    #[serde(flatten)]
    pub metrics: BinaryMetrics,
    pub slices: BTreeMap<String, SliceReport>,
    /// The four-way head on the same images, for models that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<KindReport>,
    pub images_per_second: f64,
    /// Files that could not be judged, with the reason.
    pub failures: Vec<(String, String)>,
}

/// The four-way head against the folders' labels (`potato`, `sweet_potato`, `potato_dish`,
/// anything else `other`), and what the replies named per folder.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindReport {
    pub labels: Vec<&'static str>,
    /// Rows: the folder's kind; columns: the head's most likely kind (in `labels` order).
    pub confusion: [[usize; 4]; 4],
    pub accuracy: f64,
    /// Per folder: images, and how many replies named a sweet potato, a potato dish.
    pub replies: BTreeMap<String, NamedCounts>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NamedCounts {
    pub n: usize,
    pub named_sweet_potato: usize,
    pub named_potato_dish: usize,
}

/// The kind a folder's images are: `other` for any folder not named after a kind.
pub fn kind_of_slice(slice: &str) -> Kind {
    Kind::ALL.into_iter().find(|k| k.key() == slice).unwrap_or(Kind::Other)
}

impl KindReport {
    fn add(&mut self, slice: &str, verdict: &Verdict) {
        let Some(scores) = verdict.kinds else { return };
        self.confusion[kind_of_slice(slice) as usize][scores.best() as usize] += 1;
        let named = self.replies.entry(slice.to_string()).or_default();
        named.n += 1;
        match verdict.named_kind() {
            Some(Kind::SweetPotato) => named.named_sweet_potato += 1,
            Some(Kind::PotatoDish) => named.named_potato_dish += 1,
            _ => {}
        }
    }

    fn finish(mut self) -> Option<Self> {
        let total: usize = self.confusion.iter().flatten().sum();
        if total == 0 {
            return None;
        }
        self.labels = Kind::ALL.iter().map(|k| k.key()).collect();
        self.accuracy = (0..4).map(|i| self.confusion[i][i]).sum::<usize>() as f64 / total as f64;
        Some(self)
    }
}

/// Scores every item with `score` and aggregates. Items whose scoring fails are counted as
/// errors and left out of the metrics. `progress` is called after each item.
pub fn evaluate<F, P>(items: &[EvalItem], model_version: &str, mut score: F, mut progress: P) -> EvalReport
where
    F: FnMut(&EvalItem) -> Result<Verdict, String>,
    P: FnMut(),
{
    let started = Instant::now();
    let mut scored = Vec::with_capacity(items.len());
    let mut per_slice: BTreeMap<String, (Vec<Scored>, usize, bool)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut kinds = KindReport::default();
    for item in items {
        let entry = per_slice
            .entry(item.slice.clone())
            .or_insert((Vec::new(), 0, item.positive));
        match score(item) {
            Ok(v) => {
                let s = Scored {
                    probability: v.probability,
                    positive: item.positive,
                    label: v.label,
                };
                scored.push(s);
                entry.0.push(s);
                kinds.add(&item.slice, &v);
            }
            Err(e) => {
                entry.1 += 1;
                failures.push((item.path.display().to_string(), e));
            }
        }
        progress();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let m = BinaryMetrics::compute(&scored);
    let slices = per_slice
        .into_iter()
        .map(|(name, (s, errors, positive))| {
            let called = s.iter().filter(|x| x.label == Label::Potato).count();
            let rate = (!s.is_empty()).then(|| called as f64 / s.len() as f64);
            let report = SliceReport {
                n: s.len(),
                positive,
                called_potato: called,
                unsure: s.iter().filter(|x| x.label == Label::Unsure).count(),
                recall: if positive { rate } else { None },
                false_positive_rate: if positive { None } else { rate },
                errors,
            };
            (name, report)
        })
        .collect();
    EvalReport {
        model_version: model_version.to_string(),
        n: scored.len(),
        errors: failures.len(),
        metrics: m,
        slices,
        kinds: kinds.finish(),
        images_per_second: if elapsed > 0.0 {
            scored.len() as f64 / elapsed
        } else {
            0.0
        },
        failures,
    }
}
