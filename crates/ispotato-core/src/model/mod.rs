//! The model: a [`ValidatedImage`](crate::image::ValidatedImage) made into the card's input
//! tensor ([`preprocess`](preprocess::preprocess), Pillow-exact resizing), the ONNX backbone run
//! by tract (or, built with the `onnxruntime` feature, by onnxruntime: [`Backend`]) and the card's
//! calibrated head ([`Classifier`]), the three-way [`Verdict`] (with the four-way head's answer
//! where the card has one), the evidence map that shows why ([`Evidence`]); and the offline jobs on it: measuring a model on a labelled folder ([`evaluate`] with the [`scores`]
//! of precision, recall, AUROC, calibration) and retraining its head ([`train_head`]).

pub(crate) mod backend;
pub(crate) mod card;
pub(crate) mod classifier;
pub(crate) mod error;
pub(crate) mod evaluation;
pub(crate) mod explain;
#[cfg(feature = "onnxruntime")]
pub(crate) mod onnxruntime;
pub(crate) mod pillow_resize;
pub(crate) mod preprocess;
pub mod scores;
pub(crate) mod training;
pub(crate) mod verdict;

pub use backend::{Backend, BackendChoice};
pub use card::{Calibration, InputRecipe, KindHead, LinearHead, ModelCard, PLATT_METHOD};
pub use classifier::{
    asset_candidates, locate_model, optimised_backbone, serving_backbone, Classifier, Layout, Prepared, Seen,
    DEFAULT_CARD,
};
pub use error::{ClassifyError, ModelError};
pub use evaluation::{evaluate, kind_of_slice, scan_labelled_dir, EvalItem, EvalReport, KindReport};
pub use explain::Evidence;
/// The project's own depthwise convolution op for tract (its own crate, optimised in every build).
pub use ispotato_depthwise as depthwise;
pub use preprocess::{centre_offset, preprocess, resized_dims, tensor_from_crop};
pub use training::{
    calibrate_kinds, fit_platt, fit_temperature, is_validation, kinds_accuracy, train_head, train_kinds, Example,
    TrainOptions,
};
pub use verdict::{confidence_bar, Kind, KindScores, Label, Timings, Verdict};
