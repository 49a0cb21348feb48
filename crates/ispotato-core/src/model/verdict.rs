//! What the classifier says about one image.

use std::time::Duration;

use serde::{Serialize, Serializer};

/// The three-way answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Potato,
    NotPotato,
    Unsure,
}

impl Label {
    /// Applies the card's thresholds to a calibrated probability.
    pub fn from_probability(p: f32, lower: f32, upper: f32) -> Self {
        if p >= upper {
            Self::Potato
        } else if p < lower {
            Self::NotPotato
        } else {
            Self::Unsure
        }
    }

    /// Stable machine key: "potato", "not_potato", "unsure".
    pub fn key(self) -> &'static str {
        match self {
            Self::Potato => "potato",
            Self::NotPotato => "not_potato",
            Self::Unsure => "unsure",
        }
    }

    /// How a person reads it: "potato", "not potato", "unsure".
    pub fn words(self) -> &'static str {
        match self {
            Self::Potato => "potato",
            Self::NotPotato => "not potato",
            Self::Unsure => "unsure",
        }
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

/// Where the time went for one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    #[serde(serialize_with = "as_ms")]
    pub decode: Duration,
    #[serde(serialize_with = "as_ms")]
    pub preprocess: Duration,
    #[serde(serialize_with = "as_ms")]
    pub inference: Duration,
}

impl Timings {
    pub fn total(&self) -> Duration {
        self.decode + self.preprocess + self.inference
    }
}

fn as_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e5).round() / 100.0)
}

/// A calibrated verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub label: Label,
    /// Calibrated probability that the image shows a potato.
    pub probability: f32,
    pub model_version: String,
    /// The model's head is a stand-in, not trained for potatoes.
    pub placeholder_model: bool,
    /// The image has nothing in it (one flat colour, a fully transparent sticker): answered
    /// `unsure` whatever the model's score, with a hint to send a real photo.
    pub blank: bool,
    pub timings: Timings,
}

impl Verdict {
    /// Confidence in the answer shown: P(potato) for `potato`, 1 - P(potato) for `not potato`,
    /// and the larger of the two for `unsure`.
    pub fn confidence(&self) -> f32 {
        match self.label {
            Label::Potato => self.probability,
            Label::NotPotato => 1.0 - self.probability,
            Label::Unsure => self.probability.max(1.0 - self.probability),
        }
    }
}

/// A ten-step bar for a confidence in [0, 1], drawn with the given filled and empty glyphs.
pub fn confidence_bar(confidence: f32, filled: &str, empty: &str) -> String {
    let n = (confidence.clamp(0.0, 1.0) * 10.0).round() as usize;
    format!("{}{}", filled.repeat(n), empty.repeat(10 - n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_make_three_way_verdicts() {
        assert_eq!(Label::from_probability(0.95, 0.2, 0.8), Label::Potato);
        assert_eq!(Label::from_probability(0.8, 0.2, 0.8), Label::Potato);
        assert_eq!(Label::from_probability(0.5, 0.2, 0.8), Label::Unsure);
        assert_eq!(Label::from_probability(0.2, 0.2, 0.8), Label::Unsure);
        assert_eq!(Label::from_probability(0.19, 0.2, 0.8), Label::NotPotato);
    }

    #[test]
    fn bars_fill_with_confidence() {
        assert_eq!(confidence_bar(1.0, "▰", "▱"), "▰▰▰▰▰▰▰▰▰▰");
        assert_eq!(confidence_bar(0.54, "▰", "▱"), "▰▰▰▰▰▱▱▱▱▱");
        assert_eq!(confidence_bar(0.0, "█", "░"), "░░░░░░░░░░");
        assert_eq!(confidence_bar(1.7, "#", "."), "##########");
    }

    #[test]
    fn confidence_follows_the_answer() {
        let v = |label, probability| Verdict {
            label,
            probability,
            model_version: "t".into(),
            placeholder_model: false,
            blank: false,
            timings: Timings::default(),
        };
        assert!((v(Label::Potato, 0.9).confidence() - 0.9).abs() < 1e-6);
        assert!((v(Label::NotPotato, 0.1).confidence() - 0.9).abs() < 1e-6);
        assert!((v(Label::Unsure, 0.4).confidence() - 0.6).abs() < 1e-6);
    }
}
