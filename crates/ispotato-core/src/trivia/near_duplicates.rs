//! Finds facts that nearly repeat an earlier one (Jaccard similarity of their words at or above a
//! threshold) without comparing every pair: words are ranked rarest first, and two sets that
//! similar must share a word among each one's rarest few (prefix filtering), so only facts sharing
//! such a word are compared, and each fact stops at its first near-duplicate. Thousands of facts
//! take milliseconds where all pairs took most of a minute.

use std::collections::HashMap;

/// A fact `later` that nearly repeats the earlier `earlier`, sharing `similarity` of its words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct NearDuplicate {
    pub later: usize,
    pub earlier: usize,
    pub similarity: f64,
}

/// Words of a text for comparison: lowercased, longer than three bytes.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(str::to_lowercase)
}

/// For each text with a near-duplicate before it, the first one found.
pub(super) fn near_duplicates(texts: &[&str], threshold: f64) -> Vec<NearDuplicate> {
    // Each text as a sorted set of word ids.
    let mut ids: HashMap<String, u32> = HashMap::new();
    let sets: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            let mut set: Vec<u32> = words(t)
                .map(|w| {
                    let next = ids.len() as u32;
                    *ids.entry(w).or_insert(next)
                })
                .collect();
            set.sort_unstable();
            set.dedup();
            set
        })
        .collect();
    let mut frequency = vec![0u32; ids.len()];
    for set in &sets {
        for &w in set {
            frequency[w as usize] += 1;
        }
    }
    let mut index: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut last_seen = vec![usize::MAX; sets.len()];
    let mut found = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        if set.is_empty() {
            continue;
        }
        let mut rarest_first = set.clone();
        rarest_first.sort_unstable_by_key(|&w| (frequency[w as usize], w));
        let prefix = &rarest_first[..prefix_len(set.len(), threshold)];
        'candidates: for w in prefix {
            for &j in index.get(w).map(Vec::as_slice).unwrap_or(&[]) {
                if last_seen[j] == i {
                    continue;
                }
                last_seen[j] = i;
                // Sizes too far apart cannot reach the threshold.
                let (a, b) = (set.len() as f64, sets[j].len() as f64);
                if a.min(b) < threshold * a.max(b) {
                    continue;
                }
                let similarity = jaccard(set, &sets[j]);
                if similarity >= threshold {
                    found.push(NearDuplicate {
                        later: i,
                        earlier: j,
                        similarity,
                    });
                    break 'candidates;
                }
            }
        }
        for &w in prefix {
            index.entry(w).or_default().push(i);
        }
    }
    found
}

/// How many of a set's rarest words two sets at `threshold` similarity must overlap in.
fn prefix_len(len: usize, threshold: f64) -> usize {
    let must_share = (threshold * len as f64).ceil() as usize;
    (len + 1).saturating_sub(must_share).clamp(1, len)
}

/// Jaccard similarity of two sorted, deduplicated sets.
fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair, the way the check used to run: the reference the fast one must agree with.
    fn all_pairs(texts: &[&str], threshold: f64) -> Vec<(usize, bool)> {
        let sets: Vec<std::collections::HashSet<String>> = texts.iter().map(|t| words(t).collect()).collect();
        (0..texts.len())
            .map(|i| {
                let any = (0..i).any(|j| {
                    let shared = sets[i].intersection(&sets[j]).count() as f64;
                    let union = sets[i].union(&sets[j]).count() as f64;
                    union > 0.0 && shared / union >= threshold
                });
                (i, any)
            })
            .collect()
    }

    #[test]
    fn finds_what_all_pairs_finds() {
        // A small vocabulary so that many texts overlap, some past the threshold.
        let vocabulary: Vec<String> = (0..14).map(|i| format!("word{i}")).collect();
        let mut x: u32 = 12345;
        let texts: Vec<String> = (0..400)
            .map(|_| {
                let n = 3 + (x % 5) as usize;
                (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        vocabulary[(x % 14) as usize].clone()
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for threshold in [0.4, 0.6, 0.8, 1.0] {
            let fast = near_duplicates(&refs, threshold);
            let expected: Vec<usize> = all_pairs(&refs, threshold)
                .into_iter()
                .filter(|(_, any)| *any)
                .map(|(i, _)| i)
                .collect();
            let got: Vec<usize> = fast.iter().map(|d| d.later).collect();
            assert_eq!(got, expected, "threshold {threshold}");
            assert!(
                !expected.is_empty() && expected.len() < refs.len(),
                "threshold {threshold}: a real test"
            );
            for d in fast {
                assert!(d.earlier < d.later && d.similarity >= threshold);
            }
        }
    }

    #[test]
    fn thousands_of_distinct_facts_are_checked_quickly() {
        let texts: Vec<String> = (0..6000)
            .map(|i| {
                format!(
                    "Potato fact number{i} about tubers, starch, fields and harvests in year{}",
                    i * 7
                )
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        let found = near_duplicates(&refs, 0.9);
        assert!(found.is_empty(), "{:?}", &found[..found.len().min(3)]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // 6,000 copies of one fact: each is reported once, against an earlier one.
        let same = vec!["Potatoes were domesticated in the Andes of southern Peru"; 6000];
        let started = std::time::Instant::now();
        assert_eq!(near_duplicates(&same, 0.6).len(), 5999);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
