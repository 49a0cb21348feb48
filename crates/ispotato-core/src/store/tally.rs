//! What both backends compute the same way from the rows they read: the majority opinion on a
//! verdict, the [`Stats`] built from grouped counts, and a training example from a voted
//! verdict. The SQL differs per backend; the arithmetic lives once, here.

use std::collections::BTreeMap;

use super::{Estimate, FeedbackExample, Stats, VerdictCount};

/// Majority opinion: `Some(true)` when more votes agree than disagree, `None` on a tie.
pub(super) fn majority(agree: u64, disagree: u64) -> Option<bool> {
    match agree.cmp(&disagree) {
        std::cmp::Ordering::Greater => Some(true),
        std::cmp::Ordering::Less => Some(false),
        std::cmp::Ordering::Equal => None,
    }
}

/// The rows a backend reads for [`Stats`], all restricted to verdicts created since `since`.
pub(super) struct StatsRows {
    pub since: Option<i64>,
    /// Verdict counts per platform, model version and label, in that order.
    pub verdicts: Vec<VerdictCount>,
    /// Votes per (source, agree).
    pub votes: Vec<(String, bool, u64)>,
    /// Per voted verdict: its label, agreeing and disagreeing votes.
    pub per_verdict: Vec<(String, u64, u64)>,
}

impl StatsRows {
    pub fn into_stats(self) -> Stats {
        let votes_agree: u64 = self.votes.iter().filter(|r| r.1).map(|r| r.2).sum();
        let votes_disagree: u64 = self.votes.iter().filter(|r| !r.1).map(|r| r.2).sum();
        let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
        for (source, _, n) in &self.votes {
            *by_source.entry(source.clone()).or_insert(0) += n;
        }
        // (verdicts, votes) behind true positives, false positives and false negatives.
        let (mut tp, mut fp, mut fn_) = ((0u64, 0u64), (0u64, 0u64), (0u64, 0u64));
        for (label, agree, disagree) in &self.per_verdict {
            let votes = agree + disagree;
            match (label.as_str(), majority(*agree, *disagree)) {
                ("potato", Some(true)) => tp = (tp.0 + 1, tp.1 + votes),
                ("potato", Some(false)) => fp = (fp.0 + 1, fp.1 + votes),
                ("not_potato", Some(false)) => fn_ = (fn_.0 + 1, fn_.1 + votes),
                _ => {}
            }
        }
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        let votes_total = votes_agree + votes_disagree;
        Stats {
            since: self.since,
            verdicts_total: self.verdicts.iter().map(|v| v.count).sum(),
            verdicts: self.verdicts,
            votes_total,
            votes_agree,
            votes_disagree,
            votes_by_source: by_source.into_iter().collect(),
            agreement_rate: Estimate {
                value: ratio(votes_agree, votes_total),
                verdicts: self.per_verdict.len() as u64,
                votes: votes_total,
            },
            precision: Estimate {
                value: ratio(tp.0, tp.0 + fp.0),
                verdicts: tp.0 + fp.0,
                votes: tp.1 + fp.1,
            },
            recall: Estimate {
                value: ratio(tp.0, tp.0 + fn_.0),
                verdicts: tp.0 + fn_.0,
                votes: tp.1 + fn_.1,
            },
        }
    }
}

/// One voted verdict as a backend reads it (label `unsure` already left out).
pub(super) struct VotedVerdict {
    pub image_sha256: String,
    pub label: String,
    pub probability: f64,
    pub model_version: String,
    pub platform: String,
    pub agree: u64,
    pub disagree: u64,
    pub image: Option<Vec<u8>>,
}

impl VotedVerdict {
    /// The training example it makes, or `None` on a tie.
    pub fn into_example(self) -> Option<FeedbackExample> {
        let verdict_right = majority(self.agree, self.disagree)?;
        Some(FeedbackExample {
            image_sha256: self.image_sha256,
            label_potato: (self.label == "potato") == verdict_right,
            verdict: self.label,
            probability: self.probability,
            model_version: self.model_version,
            platform: self.platform,
            agree: self.agree,
            disagree: self.disagree,
            image: self.image,
        })
    }
}
