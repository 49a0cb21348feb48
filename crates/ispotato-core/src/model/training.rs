//! Retraining the linear potato head on frozen backbone features, and calibrating it: what
//! `ispotato train` runs. Features come from the serving pipeline itself, so there is no
//! train/serve skew.

use crate::model::card::{KindHead, LinearHead};
use crate::model::verdict::{Kind, KindScores};

/// One example: pooled backbone features, whether it shows a potato, and which of the four
/// answers it is (its folder: `potato`, `sweet_potato`, `potato_dish`, anything else `other`).
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<f32>,
    pub potato: bool,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// L2 penalty on the weights (not the bias), per example.
    pub l2: f64,
    pub epochs: usize,
    pub learning_rate: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            l2: 1e-3,
            epochs: 400,
            learning_rate: 0.01,
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Class-balanced, L2-regularised logistic regression by full-batch Adam, starting from `init`
/// (the current head) when given.
pub fn train_head(examples: &[Example], init: Option<&LinearHead>, options: TrainOptions) -> Option<LinearHead> {
    let dim = examples.first()?.features.len();
    let positives = examples.iter().filter(|e| e.potato).count();
    let negatives = examples.len() - positives;
    if positives == 0 || negatives == 0 || examples.iter().any(|e| e.features.len() != dim) {
        return None;
    }
    // Each class carries half the total weight.
    let n = examples.len() as f64;
    let (wp, wn) = (n / (2.0 * positives as f64), n / (2.0 * negatives as f64));
    let mut w: Vec<f64> = match init {
        Some(h) if h.weights.len() == dim => h.weights.iter().map(|&x| x as f64).collect(),
        _ => vec![0.0; dim],
    };
    let mut b = init.map(|h| h.bias as f64).unwrap_or(0.0);
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let (mut m, mut v) = (vec![0.0; dim + 1], vec![0.0; dim + 1]);
    let mut grad = vec![0.0; dim + 1];
    for t in 1..=options.epochs {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for e in examples {
            let z: f64 = w.iter().zip(&e.features).map(|(wi, &f)| wi * f as f64).sum::<f64>() + b;
            let (y, weight) = if e.potato { (1.0, wp) } else { (0.0, wn) };
            let d = weight * (sigmoid(z) - y) / n;
            for (g, &f) in grad.iter_mut().zip(&e.features) {
                *g += d * f as f64;
            }
            grad[dim] += d;
        }
        for (g, wi) in grad.iter_mut().zip(&w) {
            *g += options.l2 * wi;
        }
        let (c1, c2) = (1.0 - f64::powi(beta1, t as i32), 1.0 - f64::powi(beta2, t as i32));
        for i in 0..=dim {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            let step = options.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
            if i < dim {
                w[i] -= step;
            } else {
                b -= step;
            }
        }
    }
    Some(LinearHead {
        weights: w.iter().map(|&x| x as f32).collect(),
        bias: b as f32,
    })
}

/// The four-way head: class-balanced, L2-regularised softmax regression by full-batch Adam,
/// starting from `init` (the current four-way head) when given. `None` unless every kind has
/// examples (a head that never saw sweet potatoes must not claim to know them).
pub fn train_kinds(examples: &[Example], init: Option<&KindHead>, options: TrainOptions) -> Option<KindHead> {
    let dim = examples.first()?.features.len();
    let counts = Kind::ALL.map(|k| examples.iter().filter(|e| e.kind == k).count());
    if counts.contains(&0) || examples.iter().any(|e| e.features.len() != dim) {
        return None;
    }
    // Each kind carries a quarter of the total weight.
    let n = examples.len() as f64;
    let class_weight = counts.map(|c| n / (4.0 * c as f64));
    // Parameters: four rows of `dim` weights, then four biases, in Kind::ALL order.
    let mut params = vec![0.0f64; 4 * dim + 4];
    if let Some(head) = init.filter(|h| h.weights.iter().all(|row| row.len() == dim)) {
        for ((kind, row), bias) in head.labels.iter().zip(&head.weights).zip(&head.bias) {
            let k = *kind as usize;
            for (p, &w) in params[k * dim..(k + 1) * dim].iter_mut().zip(row) {
                *p = w as f64;
            }
            params[4 * dim + k] = *bias as f64;
        }
    }
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let (mut m, mut v) = (vec![0.0; params.len()], vec![0.0; params.len()]);
    let mut grad = vec![0.0; params.len()];
    for t in 1..=options.epochs {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for e in examples {
            let logits: [f64; 4] = std::array::from_fn(|k| {
                params[k * dim..(k + 1) * dim]
                    .iter()
                    .zip(&e.features)
                    .map(|(w, &f)| w * f as f64)
                    .sum::<f64>()
                    + params[4 * dim + k]
            });
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exp = logits.map(|z| (z - max).exp());
            let sum: f64 = exp.iter().sum();
            let weight = class_weight[e.kind as usize] / n;
            for k in 0..4 {
                let target = if k == e.kind as usize { 1.0 } else { 0.0 };
                let d = weight * (exp[k] / sum - target);
                for (g, &f) in grad[k * dim..(k + 1) * dim].iter_mut().zip(&e.features) {
                    *g += d * f as f64;
                }
                grad[4 * dim + k] += d;
            }
        }
        for (g, w) in grad[..4 * dim].iter_mut().zip(&params[..4 * dim]) {
            *g += options.l2 * w;
        }
        let (c1, c2) = (1.0 - f64::powi(beta1, t as i32), 1.0 - f64::powi(beta2, t as i32));
        for i in 0..params.len() {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            params[i] -= options.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
        }
    }
    Some(KindHead {
        labels: Kind::ALL.to_vec(),
        weights: (0..4)
            .map(|k| params[k * dim..(k + 1) * dim].iter().map(|&w| w as f32).collect())
            .collect(),
        bias: params[4 * dim..].iter().map(|&b| b as f32).collect(),
    })
}

/// The temperature that minimises the four-way head's negative log-likelihood on `examples`
/// (golden-section search over log T in [0.05, 20]), folded into a copy of the head.
pub fn calibrate_kinds(head: &KindHead, examples: &[&Example]) -> (KindHead, f32) {
    let logits: Vec<([f32; 4], Kind)> = examples.iter().map(|e| (head.logits(&e.features), e.kind)).collect();
    let nll = |log_t: f64| -> f64 {
        let t = log_t.exp() as f32;
        logits
            .iter()
            .map(|(z, kind)| {
                let p = KindScores::from_logits(z.map(|x| x / t)).probability(*kind);
                -(p.max(1e-12) as f64).ln()
            })
            .sum()
    };
    let t = golden_section(nll, 0.05f64.ln(), 20f64.ln()).exp() as f32;
    let scaled = KindHead {
        labels: head.labels.clone(),
        weights: head
            .weights
            .iter()
            .map(|row| row.iter().map(|w| w / t).collect())
            .collect(),
        bias: head.bias.iter().map(|b| b / t).collect(),
    };
    (scaled, t)
}

/// The share of `examples` whose kind the head's most likely answer is.
pub fn kinds_accuracy(head: &KindHead, examples: &[&Example]) -> Option<f64> {
    if examples.is_empty() {
        return None;
    }
    let right = examples
        .iter()
        .filter(|e| head.scores(&e.features).best() == e.kind)
        .count();
    Some(right as f64 / examples.len() as f64)
}

/// The minimum of a unimodal `f` on [lo, hi].
fn golden_section(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..80 {
        let a = hi - phi * (hi - lo);
        let c = lo + phi * (hi - lo);
        if f(a) < f(c) {
            hi = c;
        } else {
            lo = a;
        }
    }
    (lo + hi) / 2.0
}

/// Negative log-likelihood of one label under probability `p` (clamped away from 0 and 1).
fn binary_nll(p: f64, potato: bool) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    if potato {
        -p.ln()
    } else {
        -(1.0 - p).ln()
    }
}

/// The temperature that minimises the negative log-likelihood of `logits` (golden-section
/// search over log T in [0.05, 20]).
pub fn fit_temperature(logits: &[f32], labels: &[bool]) -> f32 {
    let nll = |log_t: f64| -> f64 {
        let t = log_t.exp();
        logits
            .iter()
            .zip(labels)
            .map(|(&z, &y)| binary_nll(sigmoid(z as f64 / t), y))
            .sum()
    };
    golden_section(nll, 0.05f64.ln(), 20f64.ln()).exp() as f32
}

/// Platt scaling: the `a`, `c` of `sigmoid(a * logit + c)` that minimise the negative
/// log-likelihood (Newton's method with a backtracking line search; `a` kept in [1e-3, 50], `c` in
/// [-20, 20]), returned as `(temperature, shift)` = `(1 / a, c / a)`: the same probabilities as
/// `sigmoid((logit + shift) / temperature)`, so the shift folds into the head's bias and the card
/// keeps a single temperature. `training/train_head.py --calibration platt` fits the same thing.
pub fn fit_platt(logits: &[f32], labels: &[bool]) -> (f32, f32) {
    let n = logits.len().max(1) as f64;
    let nll = |a: f64, c: f64| -> f64 {
        logits
            .iter()
            .zip(labels)
            .map(|(&z, &y)| {
                let u = a * z as f64 + c;
                // softplus(u) - y * u, written to stay finite for large |u|
                let softplus = if u > 0.0 {
                    u + (-u).exp().ln_1p()
                } else {
                    u.exp().ln_1p()
                };
                softplus - if y { u } else { 0.0 }
            })
            .sum::<f64>()
            / n
    };
    let clamp = |a: f64, c: f64| (a.clamp(1e-3, 50.0), c.clamp(-20.0, 20.0));
    let (mut a, mut c) = (1.0f64, 0.0f64);
    let mut current = nll(a, c);
    for _ in 0..100 {
        let (mut ga, mut gc, mut haa, mut hac, mut hcc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&z, &y) in logits.iter().zip(labels) {
            let z = z as f64;
            let p = sigmoid(a * z + c);
            let r = p - if y { 1.0 } else { 0.0 };
            let w = (p * (1.0 - p)).max(1e-12);
            ga += r * z;
            gc += r;
            haa += w * z * z;
            hac += w * z;
            hcc += w;
        }
        let (ga, gc) = (ga / n, gc / n);
        let (haa, hac, hcc) = (haa / n + 1e-9, hac / n, hcc / n + 1e-9);
        let det = haa * hcc - hac * hac;
        // Newton direction, or plain gradient descent where the Hessian is (nearly) singular.
        let (da, dc) = if det > 1e-12 {
            (-(hcc * ga - hac * gc) / det, -(haa * gc - hac * ga) / det)
        } else {
            (-ga, -gc)
        };
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-6 {
            let (na, nc) = clamp(a + step * da, c + step * dc);
            let value = nll(na, nc);
            if value < current {
                (a, c, current, improved) = (na, nc, value, true);
                break;
            }
            step /= 2.0;
        }
        if !improved || (ga.abs() + gc.abs()) < 1e-10 {
            break;
        }
    }
    ((1.0 / a) as f32, (c / a) as f32)
}

/// A deterministic split key: examples whose content hash falls in the lowest `fraction` of the
/// hash space are validation. Identical files always land on the same side.
pub fn is_validation(sha256: &[u8; 32], fraction: f64) -> bool {
    let x = u64::from_be_bytes([
        sha256[0], sha256[1], sha256[2], sha256[3], sha256[4], sha256[5], sha256[6], sha256[7],
    ]);
    (x as f64 / u64::MAX as f64) < fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Vec<Example> {
        // Two features; potatoes have a high first feature. Deterministic noise.
        (0..n)
            .map(|i| {
                let potato = i % 3 == 0;
                let noise = ((i * 7919) % 100) as f32 / 100.0;
                Example {
                    features: vec![if potato { 2.0 + noise } else { noise }, noise],
                    potato,
                    kind: if potato { Kind::Potato } else { Kind::Other },
                }
            })
            .collect()
    }

    #[test]
    fn logistic_regression_separates_separable_data() {
        let data = toy(300);
        let head = train_head(&data, None, TrainOptions::default()).unwrap();
        let correct = data
            .iter()
            .filter(|e| (head.logit(&e.features) > 0.0) == e.potato)
            .count();
        assert_eq!(correct, data.len());
        assert!(head.weights[0] > head.weights[1].abs());
        assert!(
            train_head(&data[1..3], None, TrainOptions::default()).is_none(),
            "one class only"
        );
    }

    /// Four kinds, each with its own high feature (plus a shared noise feature).
    fn four_kinds(n: usize) -> Vec<Example> {
        (0..n)
            .map(|i| {
                let kind = Kind::ALL[i % 4];
                let noise = ((i * 7919) % 100) as f32 / 100.0;
                let mut features = vec![noise; 5];
                features[kind as usize] += 2.0;
                Example {
                    features,
                    potato: kind == Kind::Potato,
                    kind,
                }
            })
            .collect()
    }

    #[test]
    fn softmax_regression_tells_four_kinds_apart_and_needs_all_of_them() {
        let data = four_kinds(200);
        let head = train_kinds(&data, None, TrainOptions::default()).unwrap();
        assert_eq!(head.labels, Kind::ALL);
        let all: Vec<&Example> = data.iter().collect();
        assert_eq!(kinds_accuracy(&head, &all), Some(1.0));
        let (scaled, t) = calibrate_kinds(&head, &all);
        assert!(t.is_finite() && t > 0.0, "{t}");
        assert_eq!(
            kinds_accuracy(&scaled, &all),
            Some(1.0),
            "a temperature keeps the ranking"
        );
        // Warm-started from a head that knows the answer, a few epochs keep it right.
        let short = TrainOptions {
            epochs: 3,
            ..TrainOptions::default()
        };
        let warm = train_kinds(&data, Some(&head), short).unwrap();
        assert_eq!(kinds_accuracy(&warm, &all), Some(1.0));
        let no_dishes: Vec<Example> = data.iter().filter(|e| e.kind != Kind::PotatoDish).cloned().collect();
        assert!(train_kinds(&no_dishes, None, TrainOptions::default()).is_none());
    }

    #[test]
    fn temperature_recovers_a_known_scale() {
        // Labels drawn so that P(y) = sigmoid(z / 2) exactly in expectation: use many points at a
        // few logits with matching frequencies.
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for &z in &[-4.0f32, -2.0, 0.0, 2.0, 4.0] {
            let p = sigmoid(z as f64 / 2.0);
            let pos = (p * 1000.0).round() as usize;
            for k in 0..1000 {
                logits.push(z);
                labels.push(k < pos);
            }
        }
        let t = fit_temperature(&logits, &labels);
        assert!((t - 2.0).abs() < 0.02, "{t}");
    }

    /// Labels drawn (deterministically) from sigmoid(a * z + c) with a = 0.5, c = -1.2: the fit
    /// recovers T = 2 and shift = -2.4, and its probabilities beat temperature scaling's on NLL.
    #[test]
    fn platt_recovers_a_known_scale_and_shift() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let logits: Vec<f32> = (0..20_000).map(|i| (i as f32 / 20_000.0) * 16.0 - 8.0).collect();
        let labels: Vec<bool> = logits
            .iter()
            .map(|&z| uniform() < sigmoid(0.5 * z as f64 - 1.2))
            .collect();
        let (t, shift) = fit_platt(&logits, &labels);
        assert!((t - 2.0).abs() < 0.15, "temperature {t}");
        assert!((shift + 2.4).abs() < 0.25, "shift {shift}");
        let nll =
            |p: &dyn Fn(f32) -> f64| -> f64 { logits.iter().zip(&labels).map(|(&z, &y)| binary_nll(p(z), y)).sum() };
        let temperature = fit_temperature(&logits, &labels);
        let platt = nll(&|z| sigmoid(((z + shift) / t) as f64));
        let scaled = nll(&|z| sigmoid((z / temperature) as f64));
        assert!(platt < scaled, "platt {platt} vs temperature {scaled}");
    }

    #[test]
    fn platt_stays_finite_on_separable_and_one_class_data() {
        let logits = [-3.0f32, -2.0, -1.0, 1.0, 2.0, 3.0];
        let (t, shift) = fit_platt(&logits, &[false, false, false, true, true, true]);
        assert!(t.is_finite() && t > 0.0 && shift.is_finite(), "{t} {shift}");
        assert!(t <= 1.0, "separable data should sharpen, got T {t}");
        let (t, shift) = fit_platt(&logits, &[true; 6]);
        assert!(t.is_finite() && t > 0.0 && shift.is_finite(), "{t} {shift}");
        let (t, shift) = fit_platt(&[], &[]);
        assert!((t - 1.0).abs() < 1e-6 && shift.abs() < 1e-6, "{t} {shift}");
    }

    #[test]
    fn split_is_deterministic_and_roughly_proportional() {
        let mut val = 0;
        for i in 0..2000u32 {
            use sha2::Digest;
            let h: [u8; 32] = sha2::Sha256::digest(i.to_be_bytes()).into();
            assert_eq!(is_validation(&h, 0.2), is_validation(&h, 0.2));
            val += is_validation(&h, 0.2) as usize;
        }
        assert!((300..500).contains(&val), "{val}");
    }
}
