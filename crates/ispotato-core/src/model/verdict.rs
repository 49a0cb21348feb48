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

/// What the four-way head says an image shows. The binary verdict ([`Label`]) stays the basis
/// of every decision; this only names what a `not potato` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Potato,
    SweetPotato,
    PotatoDish,
    /// Anything else (drawings included).
    Other,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Potato, Kind::SweetPotato, Kind::PotatoDish, Kind::Other];

    /// Stable machine key: "potato", "sweet_potato", "potato_dish", "other".
    pub fn key(self) -> &'static str {
        match self {
            Self::Potato => "potato",
            Self::SweetPotato => "sweet_potato",
            Self::PotatoDish => "potato_dish",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The four-way head's probabilities (softmax, temperature folded into the card's weights).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindScores([f32; 4]);

impl KindScores {
    /// Softmax of one logit per kind, in [`Kind::ALL`] order.
    pub fn from_logits(logits: [f32; 4]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp = logits.map(|z| (z - max).exp());
        let sum: f32 = exp.iter().sum();
        Self(exp.map(|e| e / sum))
    }

    pub fn probability(&self, kind: Kind) -> f32 {
        self.0[kind.index()]
    }

    /// The most likely kind.
    pub fn best(&self) -> Kind {
        Kind::ALL
            .into_iter()
            .max_by(|a, b| self.probability(*a).total_cmp(&self.probability(*b)))
            .unwrap_or(Kind::Other)
    }

    pub fn is_finite(&self) -> bool {
        self.0.iter().all(|p| p.is_finite())
    }
}

/// As `{"potato": p, "sweet_potato": p, "potato_dish": p, "other": p}`.
impl Serialize for KindScores {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(4))?;
        for kind in Kind::ALL {
            map.serialize_entry(kind.key(), &self.probability(kind))?;
        }
        map.end()
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
    /// The four-way head's probabilities, for models whose card has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<KindScores>,
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

    /// The answer a reply names besides "not a potato": a sweet potato or a potato dish, when
    /// the binary verdict is `not potato` and that kind wins the four-way head. A potato, an
    /// unsure verdict or a blank image never gets one, so the decision stays the binary head's.
    pub fn named_kind(&self) -> Option<Kind> {
        if self.blank || self.label != Label::NotPotato {
            return None;
        }
        match self.kinds?.best() {
            kind @ (Kind::SweetPotato | Kind::PotatoDish) => Some(kind),
            Kind::Potato | Kind::Other => None,
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
            kinds: None,
            timings: Timings::default(),
        };
        assert!((v(Label::Potato, 0.9).confidence() - 0.9).abs() < 1e-6);
        assert!((v(Label::NotPotato, 0.1).confidence() - 0.9).abs() < 1e-6);
        assert!((v(Label::Unsure, 0.4).confidence() - 0.6).abs() < 1e-6);
    }

    fn verdict(label: Label, kinds: [f32; 4], blank: bool) -> Verdict {
        Verdict {
            label,
            probability: 0.1,
            model_version: "t".into(),
            placeholder_model: false,
            blank,
            kinds: Some(KindScores::from_logits(kinds)),
            timings: Timings::default(),
        }
    }

    #[test]
    fn kind_scores_are_a_softmax_in_the_card_order() {
        let k = KindScores::from_logits([0.0, 2.0, 1.0, -1.0]);
        let total: f32 = Kind::ALL.iter().map(|&kind| k.probability(kind)).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(k.best(), Kind::SweetPotato);
        assert!(k.probability(Kind::SweetPotato) > k.probability(Kind::PotatoDish));
        assert!(k.probability(Kind::PotatoDish) > k.probability(Kind::Potato));
        // Huge logits do not overflow.
        assert_eq!(KindScores::from_logits([900.0, 0.0, 0.0, 1000.0]).best(), Kind::Other);
        let json = serde_json::to_value(k).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 4);
        assert!((json["sweet_potato"].as_f64().unwrap() - k.probability(Kind::SweetPotato) as f64).abs() < 1e-6);
    }

    #[test]
    fn only_a_not_potato_verdict_names_a_sweet_potato_or_a_dish() {
        let sweet = [0.0, 5.0, 0.0, 0.0];
        let dish = [0.0, 0.0, 5.0, 0.0];
        assert_eq!(
            verdict(Label::NotPotato, sweet, false).named_kind(),
            Some(Kind::SweetPotato)
        );
        assert_eq!(
            verdict(Label::NotPotato, dish, false).named_kind(),
            Some(Kind::PotatoDish)
        );
        assert_eq!(
            verdict(Label::NotPotato, [0.0, 0.0, 0.0, 5.0], false).named_kind(),
            None
        );
        // The four-way head's potato never overrides the binary verdict, nor do its other kinds.
        assert_eq!(
            verdict(Label::NotPotato, [5.0, 0.0, 0.0, 0.0], false).named_kind(),
            None
        );
        assert_eq!(verdict(Label::Potato, sweet, false).named_kind(), None);
        assert_eq!(verdict(Label::Unsure, dish, false).named_kind(), None);
        assert_eq!(verdict(Label::NotPotato, sweet, true).named_kind(), None);
        let mut no_head = verdict(Label::NotPotato, sweet, false);
        no_head.kinds = None;
        assert_eq!(no_head.named_kind(), None);
    }
}
