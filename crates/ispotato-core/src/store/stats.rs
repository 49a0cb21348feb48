//! Reading durations like "7d" and rendering [`Stats`] for people.

use std::time::Duration;

use crate::store::{Estimate, Stats};

/// Parses "90s", "30m", "24h", "7d" or "2w" (a number and one unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 30m, 24h or 7d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("'{text}': the unit must be s, m, h, d or w")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is too long"))
}

fn pct(e: &Estimate, what: &str) -> String {
    match e.value {
        Some(v) => format!(
            "{what} {:.0}% (from {} verdicts, {} votes)",
            v * 100.0,
            e.verdicts,
            e.votes
        ),
        None => format!("{what}: not enough votes yet"),
    }
}

/// A short multi-line summary for chats and the terminal.
pub fn render(stats: &Stats, period: &str) -> String {
    let mut out = format!("🥔 Stats {period}: {} images judged", stats.verdicts_total);
    let mut per_label: std::collections::BTreeMap<&str, u64> = Default::default();
    for v in &stats.verdicts {
        *per_label.entry(v.label.as_str()).or_insert(0) += v.count;
    }
    if !per_label.is_empty() {
        let parts: Vec<String> = per_label
            .iter()
            .map(|(l, n)| format!("{n} {}", l.replace('_', " ")))
            .collect();
        out += &format!(" ({})", parts.join(", "));
    }
    out += "\n";
    let mut per_platform: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for v in &stats.verdicts {
        *per_platform
            .entry((v.platform.as_str(), v.model_version.as_str()))
            .or_insert(0) += v.count;
    }
    for ((platform, version), n) in per_platform {
        out += &format!("  {platform}, model {version}: {n}\n");
    }
    out += &format!(
        "Votes: {} ({} 👍, {} 👎)\n{}\n{}\n{}\n",
        stats.votes_total,
        stats.votes_agree,
        stats.votes_disagree,
        pct(&stats.agreement_rate, "Agreement"),
        pct(&stats.precision, "Estimated precision"),
        pct(&stats.recall, "Estimated recall")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("2w").unwrap(), Duration::from_secs(14 * 86_400));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
