//! The potato classifier: the backbone ONNX model, optimised once by tract for a fixed input
//! shape, and the card's linear head, temperature and thresholds. `Send + Sync`; share one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

use crate::image::decode::ValidatedImage;
use crate::model::backend::{Backbone, BackendChoice};
use crate::model::card::ModelCard;
use crate::model::depthwise::{use_own_depthwise, Isa};
use crate::model::error::{ClassifyError, ModelError};
use crate::model::explain::{global_pool_input, Evidence};
use crate::model::preprocess::{resize_and_crop, tensor_from_crop};
use crate::model::verdict::{Label, Timings, Verdict};
use image::RgbImage;

pub struct Classifier {
    backbone: Backbone,
    backend: BackendChoice,
    card: ModelCard,
    card_path: PathBuf,
    load_time: Duration,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("version", &self.card.version)
            .field("card", &self.card_path)
            .field("backend", &self.backend.backend)
            .finish()
    }
}

/// How the optimised graph lays out its activations and which kernels run its convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As exported from PyTorch (NCHW).
    AsExported,
    /// Every convolution rewritten to run channel-last (NHWC) inside the graph; the model's
    /// input and output stay as exported. tract's depthwise kernel then walks whole channel
    /// vectors instead of 7- to 112-wide rows (scalar at stride 2): half the depthwise time,
    /// ~20% of the whole inference (docs/benchmarks.md). tract's own kernels only.
    ChannelsLast,
    /// [`ChannelsLast`](Self::ChannelsLast) with the depthwise layers on the project's own op
    /// ([`use_own_depthwise`]: AVX-512/AVX2 kernels, ReLU6 fused). Serving uses this.
    ChannelsLastOwnDepthwise,
}

/// The backbone ONNX model optimised by tract for one fixed input `shape` (NCHW).
pub fn optimised_backbone(onnx: &[u8], shape: [usize; 4], layout: Layout) -> TractResult<TypedModel> {
    optimised(decluttered_backbone(onnx, shape)?, layout)
}

/// What serving runs: [`optimised_backbone`] with a second output, the last feature map before
/// the global pool (`[1, C, H, W]`), so a verdict's evidence map costs one dot product per cell
/// instead of a second run. A backbone without a global pool keeps its one output.
pub fn serving_backbone(onnx: &[u8], shape: [usize; 4], layout: Layout) -> TractResult<TypedModel> {
    let mut model = decluttered_backbone(onnx, shape)?;
    if let Ok(map) = global_pool_input(&model) {
        let pooled = model.output_outlets()?[0];
        model.select_output_outlets(&[pooled, map])?;
    }
    optimised(model, layout)
}

/// The backbone ONNX model typed and decluttered for one fixed input `shape` (NCHW).
pub(crate) fn decluttered_backbone(onnx: &[u8], shape: [usize; 4]) -> TractResult<TypedModel> {
    tract_onnx::onnx()
        .model_for_read(&mut &*onnx)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_typed()?
        .into_decluttered()
}

/// A decluttered graph laid out and optimised as `layout` says.
pub(crate) fn optimised(mut model: TypedModel, layout: Layout) -> TractResult<TypedModel> {
    if layout == Layout::ChannelsLastOwnDepthwise {
        // Before tract's rewrite, which would lower the depthwise layers to its own kernel.
        use_own_depthwise(&mut model, Isa::best())?;
    }
    if layout != Layout::AsExported {
        let transform = tract_onnx::tract_core::transform::get_transform("conv_nhwc")?
            .ok_or_else(|| tract_onnx::tract_core::internal::format_err!("this tract has no conv_nhwc transform"))?;
        model.transform(&*transform)?;
    }
    model.into_optimized()
}

impl Classifier {
    /// Loads the card at `card_path` and the ONNX model it names, checks they match, and
    /// optimises the graph for a batch of one, on tract.
    pub fn load(card_path: &Path) -> Result<Self, ModelError> {
        Self::load_on(card_path, &BackendChoice::tract())
    }

    /// [`load`](Self::load) on the backend `choice` names.
    pub fn load_on(card_path: &Path, choice: &BackendChoice) -> Result<Self, ModelError> {
        let started = Instant::now();
        let card = ModelCard::load(card_path)?;
        let bytes = read_backbone(&card, card_path)?;
        let shown = card.backbone_path(card_path).display().to_string();
        let r = &card.input;
        let shape = [1usize, 3, r.height as usize, r.width as usize];
        let backbone = Backbone::load(&bytes, shape, choice).map_err(|detail| ModelError::Onnx {
            path: shown.clone(),
            detail,
        })?;
        let classifier = Self {
            backbone,
            backend: choice.clone(),
            card,
            card_path: card_path.to_path_buf(),
            load_time: Duration::ZERO,
        };
        // One run proves the output shape matches the card before anyone relies on it.
        let probe = tract_ndarray::Array4::<f32>::zeros(shape);
        let features = classifier.features(probe).map_err(|e| ModelError::Onnx {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        if features.len() != classifier.card.backbone.feature_dim {
            return Err(ModelError::Mismatch {
                path: shown,
                detail: format!(
                    "model gives {} features, card says {}",
                    features.len(),
                    classifier.card.backbone.feature_dim
                ),
            });
        }
        Ok(Self {
            load_time: started.elapsed(),
            ..classifier
        })
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    pub fn card_path(&self) -> &Path {
        &self.card_path
    }

    /// The backend running the backbone (a reload keeps it).
    pub fn backend(&self) -> &BackendChoice {
        &self.backend
    }

    /// Time spent loading and optimising the model.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Runs the backbone on a preprocessed tensor and returns the pooled features.
    pub fn features(&self, input: tract_ndarray::Array4<f32>) -> Result<Vec<f32>, ClassifyError> {
        self.backbone
            .run(input)
            .map(|run| run.features)
            .map_err(ClassifyError::Inference)
    }

    /// Runs the backbone on `view` (the model's input, as [`Seen::view`] holds it): the pooled
    /// features and, where the backend yields the last feature map, the evidence map.
    pub fn look_at(&self, view: &RgbImage) -> Result<(Vec<f32>, Option<Evidence>), ClassifyError> {
        let tensor = tensor_from_crop(view, &self.card.input);
        let run = self.backbone.run(tensor).map_err(ClassifyError::Inference)?;
        Ok((run.features, self.evidence(run.map)))
    }

    fn evidence(&self, map: Option<tract_ndarray::ArrayD<f32>>) -> Option<Evidence> {
        match map.map(|map| Evidence::from_map(map.view(), &self.card.head)) {
            Some(Ok(evidence)) => Some(evidence),
            Some(Err(detail)) => {
                tracing::warn!(%detail, "no evidence map for this image");
                None
            }
            None => None,
        }
    }

    /// Calibrated P(potato) from backbone features.
    pub fn probability(&self, features: &[f32]) -> f32 {
        let logit = self.card.head.logit(features) / self.card.calibration.temperature;
        1.0 / (1.0 + (-logit).exp())
    }

    pub fn label(&self, probability: f32) -> Label {
        let t = self.card.thresholds;
        Label::from_probability(probability, t.lower, t.upper)
    }

    /// Classifies a validated image. CPU-bound: call it from a blocking thread (see
    /// [`InferenceQueue`](crate::serve::InferenceQueue)), not from async code.
    pub fn classify(&self, image: &ValidatedImage) -> Result<Verdict, ClassifyError> {
        self.classify_seen(image).map(|seen| seen.verdict)
    }

    /// [`classify`](Self::classify), also returning the image as the model saw it (the
    /// resized centre crop, before normalisation) and, where the backend yields the last
    /// feature map, the evidence map, for front ends that show them.
    pub fn classify_seen(&self, image: &ValidatedImage) -> Result<Seen, ClassifyError> {
        self.classify_prepared(vec![self.prepare(image)])
            .pop()
            .unwrap_or_else(|| Err(ClassifyError::Inference("no verdict for the image".into())))
    }

    /// How many waiting images one backbone run should take at most: more than one where this
    /// backend judges a batch faster per image than lone images (docs/benchmarks.md), so the
    /// serving workers batch only there. Never a reason to wait for a second image.
    pub fn batch_limit(&self) -> usize {
        self.backbone.batch_limit()
    }

    /// The first half of [`classify_seen`](Self::classify_seen): the image resized, cropped and
    /// normalised into the model's input, ready to run alone or in a batch.
    pub fn prepare(&self, image: &ValidatedImage) -> Prepared {
        let started = Instant::now();
        let view = resize_and_crop(image.rgb(), &self.card.input);
        let tensor = tensor_from_crop(&view, &self.card.input);
        Prepared {
            view,
            tensor,
            blank: image.is_blank(),
            decode: image.decode_time(),
            preprocess: started.elapsed(),
        }
    }

    /// The second half of [`classify_seen`](Self::classify_seen): one backbone run over all of
    /// `batch` (see [`batch_limit`](Self::batch_limit)), then each image's verdict, in order, as
    /// a lone run gives it. Each verdict's inference time is its share of the run.
    pub fn classify_prepared(&self, batch: Vec<Prepared>) -> Vec<Result<Seen, ClassifyError>> {
        let started = Instant::now();
        let n = batch.len();
        let (tensors, rest): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|p| (p.tensor, (p.view, p.blank, p.decode, p.preprocess)))
            .unzip();
        let runs = self.backbone.run_batch(tensors).and_then(|runs| match runs.len() {
            answered if answered == n => Ok(runs),
            answered => Err(format!("the backbone answered {answered} of {n} images")),
        });
        let runs = match runs {
            Ok(runs) => runs,
            Err(detail) => return (0..n).map(|_| Err(ClassifyError::Inference(detail.clone()))).collect(),
        };
        let inference = started.elapsed() / n.max(1) as u32;
        runs.into_iter()
            .zip(rest)
            .map(|(run, (view, blank, decode, preprocess))| {
                let probability = self.probability(&run.features);
                let kinds = self.card.kinds.as_ref().map(|head| head.scores(&run.features));
                if !probability.is_finite() || kinds.is_some_and(|k| !k.is_finite()) {
                    // A NaN would read as "unsure" and be stored; no verdict is better than a wrong one.
                    return Err(ClassifyError::Inference(format!(
                        "model {} produced a non-finite score",
                        self.card.version
                    )));
                }
                let verdict = Verdict {
                    label: if blank { Label::Unsure } else { self.label(probability) },
                    blank,
                    probability,
                    model_version: self.card.version.clone(),
                    placeholder_model: self.card.placeholder,
                    kinds,
                    timings: Timings {
                        decode,
                        preprocess,
                        inference,
                    },
                };
                Ok(Seen {
                    verdict,
                    view,
                    evidence: self.evidence(run.map),
                })
            })
            .collect()
    }
}

/// An image made ready for the backbone by [`Classifier::prepare`].
pub struct Prepared {
    view: RgbImage,
    tensor: tract_ndarray::Array4<f32>,
    blank: bool,
    decode: Duration,
    preprocess: Duration,
}

/// A verdict with what the model saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub verdict: Verdict,
    /// The resized centre crop the model judged.
    pub view: RgbImage,
    /// Where the potato evidence lies, on backends that yield the last feature map.
    pub evidence: Option<Evidence>,
}

/// The ONNX backbone `card` names (beside `card_path`), checked against the card's sha256.
pub(crate) fn read_backbone(card: &ModelCard, card_path: &Path) -> Result<Vec<u8>, ModelError> {
    let onnx_path = card.backbone_path(card_path);
    let shown = onnx_path.display().to_string();
    let bytes = std::fs::read(&onnx_path).map_err(|e| ModelError::Onnx {
        path: shown.clone(),
        detail: e.to_string(),
    })?;
    if let Some(expected) = &card.backbone.sha256 {
        let actual: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(ModelError::Mismatch {
                path: shown,
                detail: format!("sha256 is {actual}, the card says {expected}"),
            });
        }
    }
    Ok(bytes)
}

/// Finds the model card: an explicit path first, then `models/ispotato.json` next to the
/// binary, up to three levels above it (covers `target/release/`), and in the working directory.
pub fn locate_model(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    if let Some(path) = explicit {
        let path = if path.is_dir() {
            path.join(DEFAULT_CARD)
        } else {
            path.to_path_buf()
        };
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::NotFound {
                looked_in: path.display().to_string(),
            })
        };
    }
    let candidates = asset_candidates(Path::new("models").join(DEFAULT_CARD).as_path());
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ModelError::NotFound {
            looked_in: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The card's file name inside a models folder.
pub const DEFAULT_CARD: &str = "ispotato.json";

/// Places a bundled asset may live: beside the executable and up to three folders above it,
/// then the working directory.
pub fn asset_candidates(relative: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let exe = exe.canonicalize().unwrap_or(exe);
        let mut dir = exe.parent();
        for _ in 0..4 {
            let Some(d) = dir else { break };
            out.push(d.join(relative));
            dir = d.parent();
        }
    }
    out.push(relative.to_path_buf());
    out
}
