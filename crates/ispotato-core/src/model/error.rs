//! Why a model could not be loaded or an accepted image could not be classified. `Display` of
//! [`ClassifyError`] is written for chat users; [`ModelError`] is for operators.

use thiserror::Error;

/// A model or its card could not be loaded.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read model card {path}: {source}")]
    ReadCard {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("model card {path} is not valid: {detail}")]
    InvalidCard { path: String, detail: String },
    #[error("cannot load ONNX model {path}: {detail}")]
    Onnx { path: String, detail: String },
    #[error("ONNX model {path} does not match its card: {detail}")]
    Mismatch { path: String, detail: String },
    #[error("no model found; looked for {looked_in}. Set --model or ISPOTATO_MODEL")]
    NotFound { looked_in: String },
}

/// Classification failed after the image was accepted.
#[derive(Debug, Error)]
pub enum ClassifyError {
    #[error("I'm busy with other images right now; try again in a moment")]
    Busy,
    #[error("the classifier failed: {0}")]
    Inference(String),
}

impl ClassifyError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Inference(_) => "inference",
        }
    }
}
