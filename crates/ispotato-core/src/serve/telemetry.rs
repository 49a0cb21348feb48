//! Counters and latency histograms for `/metrics` (Prometheus text format), and the readiness
//! of each front end for `/readyz`. Cheap enough to update on every request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::verdict::Verdict;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += s;
        self.total += 1;
    }
}

/// Writes one histogram family in Prometheus text format, a series per label value.
fn histograms<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    series: impl Iterator<Item = (&'a str, &'a Histogram)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (value, h) in series {
        for (b, n) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(out, "{name}_bucket{{{label}=\"{value}\",le=\"{b}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}", h.total);
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", h.total);
    }
}

#[derive(Default)]
struct Inner {
    judged: BTreeMap<(String, String), u64>,
    rejected: BTreeMap<(String, String), u64>,
    votes: BTreeMap<(String, String), u64>,
    errors: BTreeMap<(String, String), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    http_requests: BTreeMap<(String, String), u64>,
    http_latency: BTreeMap<String, Histogram>,
    frontends: BTreeMap<String, bool>,
}

#[derive(Default)]
pub struct Telemetry {
    inner: Mutex<Inner>,
}

impl Telemetry {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A verdict was delivered: counts it and records its stage latencies.
    pub fn judged(&self, platform: &str, v: &Verdict) {
        self.with(|i| {
            *i.judged
                .entry((platform.to_string(), v.label.key().to_string()))
                .or_default() += 1;
            let t = v.timings;
            for (stage, d) in [
                ("decode", t.decode),
                ("preprocess", t.preprocess),
                ("inference", t.inference),
                ("total", t.total()),
            ] {
                i.latency.entry(stage).or_default().observe(d);
            }
        })
    }

    pub fn rejected(&self, platform: &str, reason: &str) {
        self.with(|i| {
            *i.rejected
                .entry((platform.to_string(), reason.to_string()))
                .or_default() += 1
        })
    }

    pub fn vote(&self, platform: &str, source: &str) {
        self.with(|i| *i.votes.entry((platform.to_string(), source.to_string())).or_default() += 1)
    }

    pub fn error(&self, platform: &str, kind: &str) {
        self.with(|i| *i.errors.entry((platform.to_string(), kind.to_string())).or_default() += 1)
    }

    /// An HTTP request to the web front end was answered: `route` is the matched route pattern
    /// (never the raw path, so the label set stays small).
    pub fn http_request(&self, route: &str, status: u16, took: Duration) {
        self.with(|i| {
            *i.http_requests
                .entry((route.to_string(), status.to_string()))
                .or_default() += 1;
            i.http_latency.entry(route.to_string()).or_default().observe(took);
        })
    }

    /// Declares a front end and whether it is connected.
    pub fn set_connected(&self, frontend: &str, connected: bool) {
        self.with(|i| i.frontends.insert(frontend.to_string(), connected));
    }

    /// Front ends that are declared but not connected.
    pub fn disconnected(&self) -> Vec<String> {
        self.with(|i| {
            i.frontends
                .iter()
                .filter(|(_, c)| !**c)
                .map(|(f, _)| f.clone())
                .collect()
        })
    }

    /// Everything in Prometheus text exposition format.
    pub fn render(&self, queue_depth: usize) -> String {
        self.with(|i| {
            let mut out = String::new();
            let counter = |out: &mut String, name: &str, help: &str, l1: &str, l2: &str, map: &BTreeMap<(String, String), u64>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for ((a, b), n) in map {
                    let _ = writeln!(out, "{name}{{{l1}=\"{a}\",{l2}=\"{b}\"}} {n}");
                }
            };
            counter(&mut out, "ispotato_images_judged_total", "Verdicts delivered.", "platform", "verdict", &i.judged);
            counter(&mut out, "ispotato_rejections_total", "Images or requests refused, by reason.", "platform", "reason", &i.rejected);
            counter(&mut out, "ispotato_feedback_votes_total", "Votes received.", "platform", "source", &i.votes);
            counter(&mut out, "ispotato_errors_total", "Internal or platform errors.", "platform", "kind", &i.errors);
            histograms(&mut out, "ispotato_stage_seconds", "Time per pipeline stage.", "stage", i.latency.iter().map(|(k, h)| (*k, h)));
            counter(&mut out, "ispotato_http_requests_total", "Web requests answered, by route and status.", "route", "status", &i.http_requests);
            histograms(
                &mut out,
                "ispotato_http_request_seconds",
                "Time to answer a web request, by route.",
                "route",
                i.http_latency.iter().map(|(k, h)| (k.as_str(), h)),
            );
            let _ = writeln!(out, "# HELP ispotato_queue_depth Images admitted to the inference queue and not finished.\n# TYPE ispotato_queue_depth gauge\nispotato_queue_depth {queue_depth}");
            let _ = writeln!(out, "# HELP ispotato_frontend_connected Whether each front end is connected.\n# TYPE ispotato_frontend_connected gauge");
            for (f, c) in &i.frontends {
                let _ = writeln!(out, "ispotato_frontend_connected{{frontend=\"{f}\"}} {}", *c as u8);
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::verdict::{Label, Timings};

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let t = Telemetry::default();
        let v = Verdict {
            label: Label::Potato,
            probability: 0.9,
            model_version: "x".into(),
            placeholder_model: false,
            blank: false,
            kinds: None,
            timings: Timings {
                decode: Duration::from_millis(3),
                preprocess: Duration::from_millis(2),
                inference: Duration::from_millis(30),
            },
        };
        t.judged("telegram", &v);
        t.judged("telegram", &v);
        t.rejected("discord", "too_large");
        t.vote("discord", "reaction");
        t.set_connected("discord", true);
        t.set_connected("telegram", false);
        let text = t.render(3);
        assert!(
            text.contains("ispotato_images_judged_total{platform=\"telegram\",verdict=\"potato\"} 2"),
            "{text}"
        );
        assert!(text.contains("ispotato_rejections_total{platform=\"discord\",reason=\"too_large\"} 1"));
        assert!(text.contains("ispotato_feedback_votes_total{platform=\"discord\",source=\"reaction\"} 1"));
        assert!(text.contains("ispotato_stage_seconds_bucket{stage=\"inference\",le=\"0.05\"} 2"));
        assert!(text.contains("ispotato_stage_seconds_bucket{stage=\"inference\",le=\"0.025\"} 0"));
        assert!(text.contains("ispotato_stage_seconds_count{stage=\"total\"} 2"));
        assert!(text.contains("ispotato_queue_depth 3"));
        assert!(text.contains("ispotato_frontend_connected{frontend=\"telegram\"} 0"));
        assert_eq!(t.disconnected(), vec!["telegram".to_string()]);
    }
}
