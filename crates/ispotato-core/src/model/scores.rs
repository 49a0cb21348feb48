//! Binary metrics for potato vs everything else, from calibrated probabilities and three-way
//! verdicts. A `potato` verdict is a positive call; `unsure` and `not potato` are not, so an
//! unsure potato costs recall, and the unsure rate is reported beside the metrics.

use serde::Serialize;

use crate::model::verdict::Label;

/// One scored example.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub probability: f32,
    pub positive: bool,
    pub label: Label,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
    /// Potatoes answered `unsure` (counted in `false_negative` too).
    pub unsure_positive: usize,
    /// Non-potatoes answered `unsure` (counted in `true_negative` too).
    pub unsure_negative: usize,
}

impl Confusion {
    pub fn from_scored(items: &[Scored]) -> Self {
        let mut c = Self::default();
        for s in items {
            let called = s.label == Label::Potato;
            match (s.positive, called) {
                (true, true) => c.true_positive += 1,
                (true, false) => c.false_negative += 1,
                (false, true) => c.false_positive += 1,
                (false, false) => c.true_negative += 1,
            }
            if s.label == Label::Unsure {
                if s.positive {
                    c.unsure_positive += 1;
                } else {
                    c.unsure_negative += 1;
                }
            }
        }
        c
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BinaryMetrics {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub auroc: Option<f64>,
    pub average_precision: Option<f64>,
    pub ece: Option<f64>,
    pub unsure_rate: Option<f64>,
    pub confusion: Confusion,
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl BinaryMetrics {
    /// Metrics that are undefined for the data (no positives, say) are `None`.
    pub fn compute(items: &[Scored]) -> Self {
        let c = Confusion::from_scored(items);
        let precision = ratio(c.true_positive, c.true_positive + c.false_positive);
        let recall = ratio(c.true_positive, c.true_positive + c.false_negative);
        let f1 = match (precision, recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        let scores: Vec<(f32, bool)> = items.iter().map(|s| (s.probability, s.positive)).collect();
        Self {
            precision,
            recall,
            f1,
            auroc: auroc(&scores),
            average_precision: average_precision(&scores),
            ece: expected_calibration_error(&scores, 15),
            unsure_rate: ratio(c.unsure_positive + c.unsure_negative, items.len()),
            confusion: c,
        }
    }
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting half (Mann-Whitney U with mid-ranks).
pub fn auroc(scores: &[(f32, bool)]) -> Option<f64> {
    let pos = scores.iter().filter(|s| s.1).count();
    let neg = scores.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut sorted: Vec<(f32, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mid_rank * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos * neg) as f64)
}

/// Average precision as scikit-learn computes it: sum over thresholds of
/// (recall_n - recall_{n-1}) * precision_n, tied scores forming one threshold.
pub fn average_precision(scores: &[(f32, bool)]) -> Option<f64> {
    let pos = scores.iter().filter(|s| s.1).count();
    if pos == 0 {
        return None;
    }
    let mut sorted: Vec<(f32, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut seen, mut prev_recall, mut ap) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            tp += sorted[j].1 as usize;
            j += 1;
        }
        seen = j.max(seen);
        let recall = tp as f64 / pos as f64;
        ap += (recall - prev_recall) * (tp as f64 / seen as f64);
        prev_recall = recall;
        i = j;
    }
    Some(ap)
}

/// Expected calibration error of P(potato) over `bins` equal-width bins:
/// sum over bins of |bin| / n * |mean probability - fraction positive|.
pub fn expected_calibration_error(scores: &[(f32, bool)], bins: usize) -> Option<f64> {
    if scores.is_empty() || bins == 0 {
        return None;
    }
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    let mut count = vec![0usize; bins];
    for &(p, y) in scores {
        let b = ((p.clamp(0.0, 1.0) as f64 * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p as f64;
        sum_y[b] += y as u8 as f64;
        count[b] += 1;
    }
    let n = scores.len() as f64;
    Some(
        (0..bins)
            .filter(|&b| count[b] > 0)
            .map(|b| count[b] as f64 / n * ((sum_p[b] - sum_y[b]) / count[b] as f64).abs())
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("metric defined");
        assert!((a - b).abs() < 1e-6, "{a} != {b}");
    }

    #[test]
    fn auroc_matches_hand_counts() {
        // Pairs (pos, neg): 0.9>0.8, 0.9>0.3, 0.4<0.8, 0.4>0.3 -> 3 of 4.
        close(auroc(&[(0.9, true), (0.4, true), (0.8, false), (0.3, false)]), 0.75);
        close(auroc(&[(0.5, true), (0.5, false)]), 0.5);
        close(auroc(&[(0.9, true), (0.1, false)]), 1.0);
        assert_eq!(auroc(&[(0.9, true)]), None);
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // sklearn.metrics.average_precision_score([1,0,1,0], [0.9,0.8,0.4,0.3]) == 0.8333...
        close(
            average_precision(&[(0.9, true), (0.8, false), (0.4, true), (0.3, false)]),
            5.0 / 6.0,
        );
        // Ties form one threshold: ([1,0], [0.5,0.5]) == 0.5.
        close(average_precision(&[(0.5, true), (0.5, false)]), 0.5);
        close(average_precision(&[(0.9, true), (0.1, false)]), 1.0);
    }

    #[test]
    fn ece_of_perfect_and_overconfident_predictions() {
        // Four at 0.75 with three positive: perfectly calibrated.
        close(
            expected_calibration_error(&[(0.75, true), (0.75, true), (0.75, true), (0.75, false)], 15),
            0.0,
        );
        // Everything at 0.95 but half positive: |0.95 - 0.5| = 0.45.
        close(expected_calibration_error(&[(0.95, true), (0.95, false)], 15), 0.45);
        // Two bins: (0.1, neg) error 0.1; (0.9, pos) error 0.1 -> 0.1.
        close(expected_calibration_error(&[(0.1, false), (0.9, true)], 15), 0.1);
    }

    #[test]
    fn unsure_counts_against_recall_but_not_precision() {
        let s = |probability, positive, label| Scored {
            probability,
            positive,
            label,
        };
        let items = [
            s(0.95, true, Label::Potato),
            s(0.5, true, Label::Unsure),
            s(0.9, false, Label::Potato),
            s(0.05, false, Label::NotPotato),
            s(0.4, false, Label::Unsure),
        ];
        let m = BinaryMetrics::compute(&items);
        assert_eq!(
            m.confusion,
            Confusion {
                true_positive: 1,
                false_positive: 1,
                true_negative: 2,
                false_negative: 1,
                unsure_positive: 1,
                unsure_negative: 1,
            }
        );
        close(m.precision, 0.5);
        close(m.recall, 0.5);
        close(m.f1, 0.5);
        close(m.unsure_rate, 0.4);
    }
}
