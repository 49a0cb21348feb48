//! Which runtime runs the backbone: tract (built in, the default) or onnxruntime (the
//! `onnxruntime` cargo feature, which loads the onnxruntime shared library at run time from a
//! path the operator gives; nothing is downloaded at build time). Both get the same input tensor
//! and return the same pooled features; the card's head, calibration and thresholds are applied
//! after, by the [`Classifier`](crate::model::Classifier), whichever ran.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::model::classifier::{serving_backbone, Layout};

/// The runtime that runs the backbone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// tract, built in, with the project's own depthwise op: the default.
    #[default]
    Tract,
    /// tract with its stock kernels only (no own op): for comparison, or to rule the op out.
    TractStock,
    /// onnxruntime through the `ort` crate (a build with the `onnxruntime` feature).
    OnnxRuntime,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tract => "tract",
            Self::TractStock => "tract-stock",
            Self::OnnxRuntime => "onnxruntime",
        }
    }

    /// Whether this build can run it.
    pub fn available(self) -> bool {
        match self {
            Self::Tract | Self::TractStock => true,
            Self::OnnxRuntime => cfg!(feature = "onnxruntime"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tract" => Ok(Self::Tract),
            "tract-stock" => Ok(Self::TractStock),
            "onnxruntime" => Ok(Self::OnnxRuntime),
            other => Err(format!(
                "'{other}' is not a backend; use tract, tract-stock or onnxruntime"
            )),
        }
    }
}

/// The backend to load a model with, and where onnxruntime's shared library is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendChoice {
    pub backend: Backend,
    /// `libonnxruntime.so` (for example the one inside the PyPI `onnxruntime` wheel,
    /// `onnxruntime/capi/libonnxruntime.so.1.*`). Only read for [`Backend::OnnxRuntime`]; the
    /// first one a process loads is the one it keeps.
    pub onnxruntime_lib: Option<PathBuf>,
}

impl BackendChoice {
    pub fn tract() -> Self {
        Self::default()
    }
}

/// A backbone ready to run, on one of the backends.
pub(crate) enum Backbone {
    Tract(Arc<TypedRunnableModel>),
    #[cfg(feature = "onnxruntime")]
    OnnxRuntime(crate::model::onnxruntime::OrtBackbone),
}

impl Backbone {
    /// Prepares the ONNX model `onnx` for a fixed NCHW input `shape`.
    pub(crate) fn load(onnx: &[u8], shape: [usize; 4], choice: &BackendChoice) -> Result<Self, String> {
        match choice.backend {
            Backend::Tract | Backend::TractStock => {
                let layout = if choice.backend == Backend::Tract {
                    Layout::ChannelsLastOwnDepthwise
                } else {
                    Layout::ChannelsLast
                };
                serving_backbone(onnx, shape, layout)
                    .and_then(|m| m.into_runnable())
                    .map(Self::Tract)
                    .map_err(|e| format!("{e:#}"))
            }
            #[cfg(feature = "onnxruntime")]
            Backend::OnnxRuntime => {
                let lib = choice.onnxruntime_lib.as_deref().ok_or(
                    "the onnxruntime backend needs the path of libonnxruntime.so (--onnxruntime-lib or \
                     ISPOTATO_ONNXRUNTIME_LIB)",
                )?;
                crate::model::onnxruntime::OrtBackbone::load(lib, onnx, shape).map(Self::OnnxRuntime)
            }
            #[cfg(not(feature = "onnxruntime"))]
            Backend::OnnxRuntime => {
                Err("this build has no onnxruntime backend (build with --features onnxruntime)".into())
            }
        }
    }

    /// How many images one run should take at most: on onnxruntime batch 2 costs 7% less per
    /// image than two lone runs (batch 4, 3%); on tract a batch costs more per image than lone
    /// runs (docs/benchmarks.md, "Batching, both backends").
    pub(crate) fn batch_limit(&self) -> usize {
        match self {
            Self::Tract(_) => 1,
            #[cfg(feature = "onnxruntime")]
            Self::OnnxRuntime(_) => 2,
        }
    }

    /// Runs the backbone on several preprocessed inputs: one [`BackboneRun`] per input, in
    /// order. One batched run on backends that batch, lone runs on the others.
    pub(crate) fn run_batch(&self, inputs: Vec<tract_ndarray::Array4<f32>>) -> Result<Vec<BackboneRun>, String> {
        match self {
            Self::Tract(_) => inputs.into_iter().map(|input| self.run(input)).collect(),
            #[cfg(feature = "onnxruntime")]
            Self::OnnxRuntime(backbone) => backbone.run_batch(inputs),
        }
    }

    /// Runs the backbone on one preprocessed input: the pooled features, and the last feature
    /// map where this backend yields it.
    pub(crate) fn run(&self, input: tract_ndarray::Array4<f32>) -> Result<BackboneRun, String> {
        match self {
            Self::Tract(plan) => {
                let outputs = plan
                    .run(tvec!(Tensor::from(input).into()))
                    .map_err(|e| format!("{e:#}"))?;
                let first = outputs.first().ok_or("the model has no output")?;
                let view = first.to_plain_array_view::<f32>().map_err(|e| format!("{e:#}"))?;
                let map = match outputs.get(1) {
                    Some(map) => Some(
                        map.to_plain_array_view::<f32>()
                            .map_err(|e| format!("{e:#}"))?
                            .to_owned(),
                    ),
                    None => None,
                };
                Ok(BackboneRun {
                    features: view.iter().copied().collect(),
                    map,
                })
            }
            #[cfg(feature = "onnxruntime")]
            Self::OnnxRuntime(backbone) => backbone.run(input),
        }
    }
}

/// One backbone run: the pooled features and, where the backend yields it, the last feature
/// map before the pool (`[1, C, H, W]`).
pub(crate) struct BackboneRun {
    pub(crate) features: Vec<f32>,
    pub(crate) map: Option<tract_ndarray::ArrayD<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_by_name_and_say_whether_this_build_has_them() {
        assert_eq!("tract".parse::<Backend>(), Ok(Backend::Tract));
        assert_eq!("tract-stock".parse::<Backend>(), Ok(Backend::TractStock));
        assert_eq!("onnxruntime".parse::<Backend>(), Ok(Backend::OnnxRuntime));
        assert!("ort"
            .parse::<Backend>()
            .unwrap_err()
            .contains("tract, tract-stock or onnxruntime"));
        assert!(Backend::Tract.available() && Backend::TractStock.available());
        assert_eq!(Backend::OnnxRuntime.available(), cfg!(feature = "onnxruntime"));
        assert_eq!(Backend::default(), Backend::Tract);
    }

    #[cfg(not(feature = "onnxruntime"))]
    #[test]
    fn a_build_without_onnxruntime_says_how_to_get_it() {
        let choice = BackendChoice {
            backend: Backend::OnnxRuntime,
            onnxruntime_lib: Some("/nowhere/libonnxruntime.so".into()),
        };
        let err = Backbone::load(b"", [1, 3, 224, 224], &choice).err().unwrap_or_default();
        assert!(err.contains("--features onnxruntime"), "{err}");
    }
}
