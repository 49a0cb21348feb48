//! The machine-readable model card (`models/ispotato.json`): everything needed to serve a model
//! version exactly as it was trained and calibrated.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::error::ModelError;
use crate::model::verdict::{Kind, KindScores};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    /// True for a stand-in head that was not trained for potatoes; shown in every verdict.
    #[serde(default)]
    pub placeholder: bool,
    #[serde(default)]
    pub description: String,
    pub backbone: Backbone,
    pub input: InputRecipe,
    pub head: LinearHead,
    /// The four-way answer head (potato, sweet potato, potato dish, other), since 0.4.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<KindHead>,
    pub calibration: Calibration,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub labels: serde_json::Value,
    #[serde(default)]
    pub training: serde_json::Value,
    #[serde(default)]
    pub metrics: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backbone {
    /// ONNX file, relative to the card.
    pub file: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub architecture: String,
    pub input_name: String,
    pub output_name: String,
    pub feature_dim: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecipe {
    pub width: u32,
    pub height: u32,
    pub resize_shorter: u32,
    #[serde(default = "default_filter")]
    pub resize_filter: String,
    #[serde(default = "default_crop")]
    pub crop: String,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    #[serde(default = "default_layout")]
    pub layout: String,
    #[serde(default = "default_channels")]
    pub channels: String,
    #[serde(default)]
    pub alpha: Option<String>,
}

fn default_filter() -> String {
    "bilinear".into()
}
fn default_crop() -> String {
    "center".into()
}
fn default_layout() -> String {
    "NCHW".into()
}
fn default_channels() -> String {
    "RGB".into()
}

impl Default for InputRecipe {
    fn default() -> Self {
        Self {
            width: 224,
            height: 224,
            resize_shorter: 256,
            resize_filter: default_filter(),
            crop: default_crop(),
            mean: [127.0; 3],
            std: [128.0; 3],
            layout: default_layout(),
            channels: default_channels(),
            alpha: Some("composite_over_white".into()),
        }
    }
}

/// `logit = weights . features + bias`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearHead {
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl LinearHead {
    pub fn logit(&self, features: &[f32]) -> f32 {
        self.weights.iter().zip(features).map(|(w, f)| w * f).sum::<f32>() + self.bias
    }
}

/// One linear row per kind over the same features, the temperature folded in:
/// `P(kind) = softmax(weights . features + bias)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindHead {
    pub labels: Vec<Kind>,
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

impl KindHead {
    pub fn scores(&self, features: &[f32]) -> KindScores {
        KindScores::from_logits(self.logits(features))
    }

    /// One logit per kind, in [`Kind::ALL`] order whatever the card's order.
    pub fn logits(&self, features: &[f32]) -> [f32; 4] {
        let mut logits = [f32::NEG_INFINITY; 4];
        for ((kind, row), bias) in self.labels.iter().zip(&self.weights).zip(&self.bias) {
            logits[*kind as usize] = row.iter().zip(features).map(|(w, f)| w * f).sum::<f32>() + bias;
        }
        logits
    }

    fn validate(&self, feature_dim: usize) -> Result<(), String> {
        let mut labels = self.labels.clone();
        labels.sort();
        if labels != Kind::ALL {
            return Err("kinds: labels must be potato, sweet_potato, potato_dish and other, once each".into());
        }
        if self.weights.len() != self.labels.len() || self.bias.len() != self.labels.len() {
            return Err("kinds: one row of weights and one bias per label".into());
        }
        if let Some(row) = self.weights.iter().find(|row| row.len() != feature_dim) {
            return Err(format!(
                "kinds: a row has {} weights but the backbone gives {feature_dim} features",
                row.len()
            ));
        }
        if !self.weights.iter().flatten().chain(&self.bias).all(|w| w.is_finite()) {
            return Err("kinds: weights must be finite".into());
        }
        Ok(())
    }
}

/// `calibration.method` of a Platt-scaled card: the fitted shift lives in the head's bias, the
/// temperature in `temperature` (as written by `training/train_head.py --calibration platt`).
pub const PLATT_METHOD: &str = "platt (bias folded into the head)";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub method: String,
    pub temperature: f32,
}

impl Calibration {
    /// Platt scaling (temperature plus a bias shift) rather than temperature scaling alone.
    pub fn is_platt(&self) -> bool {
        self.method.starts_with("platt")
    }
}

/// `potato` at or above `upper`, `not potato` below `lower`, `unsure` in between.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Thresholds {
    pub lower: f32,
    pub upper: f32,
}

impl ModelCard {
    /// Reads and validates a card.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::ReadCard {
            path: path.display().to_string(),
            source,
        })?;
        let card: Self = serde_json::from_str(&text).map_err(|e| ModelError::InvalidCard {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        card.validate().map_err(|detail| ModelError::InvalidCard {
            path: path.display().to_string(),
            detail,
        })?;
        Ok(card)
    }

    /// Writes the card as pretty JSON.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Checks the invariants serving relies on.
    pub fn validate(&self) -> Result<(), String> {
        let t = self.thresholds;
        if !(0.0..=1.0).contains(&t.lower) || !(0.0..=1.0).contains(&t.upper) || t.lower > t.upper {
            return Err(format!(
                "thresholds must satisfy 0 <= lower <= upper <= 1, got {} and {}",
                t.lower, t.upper
            ));
        }
        if !(self.calibration.temperature.is_finite() && self.calibration.temperature > 0.0) {
            return Err(format!(
                "temperature must be positive, got {}",
                self.calibration.temperature
            ));
        }
        if self.head.weights.len() != self.backbone.feature_dim {
            return Err(format!(
                "head has {} weights but the backbone gives {} features",
                self.head.weights.len(),
                self.backbone.feature_dim
            ));
        }
        if !self.head.weights.iter().chain([&self.head.bias]).all(|w| w.is_finite()) {
            return Err("head weights must be finite".into());
        }
        if let Some(kinds) = &self.kinds {
            kinds.validate(self.backbone.feature_dim)?;
        }
        let r = &self.input;
        if r.width == 0 || r.height == 0 || r.resize_shorter < r.width.max(r.height) {
            return Err("input: crop must be non-empty and no larger than resize_shorter".into());
        }
        if r.std.contains(&0.0) {
            return Err("input: std must be non-zero".into());
        }
        if r.resize_filter != "bilinear" || r.crop != "center" || r.layout != "NCHW" || r.channels != "RGB" {
            return Err("input: only bilinear resize, center crop, NCHW and RGB are supported".into());
        }
        Ok(())
    }

    /// The ONNX file next to the card.
    pub fn backbone_path(&self, card_path: &Path) -> PathBuf {
        card_path.parent().unwrap_or(Path::new(".")).join(&self.backbone.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_with_kinds(dim: usize) -> ModelCard {
        let row = |k: usize| (0..dim).map(|i| if i == k { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
        ModelCard {
            name: "t".into(),
            version: "t".into(),
            placeholder: false,
            description: String::new(),
            backbone: Backbone {
                file: "m.onnx".into(),
                sha256: None,
                architecture: String::new(),
                input_name: "input".into(),
                output_name: "features".into(),
                feature_dim: dim,
            },
            input: InputRecipe::default(),
            head: LinearHead {
                weights: vec![0.0; dim],
                bias: 0.0,
            },
            kinds: Some(KindHead {
                // Not in Kind::ALL order: the card's own order is honoured.
                labels: vec![Kind::Other, Kind::PotatoDish, Kind::SweetPotato, Kind::Potato],
                weights: (0..4).map(row).collect(),
                bias: vec![0.0; 4],
            }),
            calibration: Calibration {
                method: PLATT_METHOD.into(),
                temperature: 1.0,
            },
            thresholds: Thresholds {
                lower: 0.25,
                upper: 0.5,
            },
            labels: Default::default(),
            training: Default::default(),
            metrics: Default::default(),
            created: None,
        }
    }

    #[test]
    fn the_four_way_head_reads_its_rows_in_the_cards_label_order() {
        let card = card_with_kinds(6);
        card.validate().unwrap();
        let head = card.kinds.as_ref().unwrap();
        // Feature 1 feeds the card's second row, which is potato_dish.
        assert_eq!(head.scores(&[0.0, 4.0, 0.0, 0.0, 0.0, 0.0]).best(), Kind::PotatoDish);
        assert_eq!(head.scores(&[0.0, 0.0, 4.0, 0.0, 0.0, 0.0]).best(), Kind::SweetPotato);
        assert_eq!(head.scores(&[0.0, 0.0, 0.0, 4.0, 0.0, 0.0]).best(), Kind::Potato);
    }

    #[test]
    fn a_malformed_four_way_head_is_refused() {
        let broken = |f: fn(&mut KindHead)| {
            let mut card = card_with_kinds(6);
            f(card.kinds.as_mut().unwrap());
            card.validate().unwrap_err()
        };
        assert!(broken(|k| k.labels[0] = Kind::Potato).contains("once each"));
        assert!(broken(|k| {
            k.labels.pop();
        })
        .contains("once each"));
        assert!(broken(|k| {
            k.bias.pop();
        })
        .contains("one bias per label"));
        assert!(broken(|k| k.weights[2].push(0.0)).contains("7 weights but the backbone gives 6"));
        assert!(broken(|k| k.weights[1][0] = f32::NAN).contains("finite"));
        let mut card = card_with_kinds(6);
        card.kinds = None;
        card.validate().unwrap();
    }
}
