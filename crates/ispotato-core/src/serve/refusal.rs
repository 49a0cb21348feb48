//! User-safe errors by construction: what a front end may show a user about a failed request.
//!
//! A [`Refusal`] is either *declined* (the user can act on it: the message is theirs to read)
//! or *unexpected* (something broke on our side: the user sees one generic line with a short
//! reference, and the full error was logged under that reference when the refusal was made).
//! Internal error text never reaches a user through a `Refusal`.

use std::fmt;
use std::time::Duration;

use crate::image::error::IngestError;
use crate::model::error::ClassifyError;
use crate::serve::judge::JudgeError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Refused for a reason the user can act on.
    Declined {
        /// Short stable label for logs and metrics ("too_large", "rate_limited", ...).
        reason: &'static str,
        /// Written for the user, as the end of "Sorry, ...".
        message: String,
        /// When trying again makes sense (rate limits, a full queue).
        retry_after: Option<Duration>,
    },
    /// Failed on our side; logged in full with `reference` when it was made.
    Unexpected { reason: &'static str, reference: String },
    /// Every image of a request was refused; each was counted when it was refused.
    NoVerdict(Vec<Refusal>),
}

impl Refusal {
    pub fn declined(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Declined {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Declined for now: the user may try again after `retry_after`.
    pub fn later(reason: &'static str, message: impl Into<String>, retry_after: Duration) -> Self {
        Self::Declined {
            reason,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    /// How long to wait before trying again, when waiting helps.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Declined { retry_after, .. } => *retry_after,
            Self::NoVerdict(all) => all.iter().filter_map(Refusal::retry_after).max(),
            Self::Unexpected { .. } => None,
        }
    }

    /// Logs `error` in full (with its sources) under a fresh reference and returns the refusal
    /// that carries only the reference.
    pub fn unexpected(reason: &'static str, error: &(dyn std::error::Error + 'static)) -> Self {
        let reference = new_reference();
        let mut detail = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(reference = %reference, reason, error = %detail, "unexpected failure");
        Self::Unexpected { reason, reference }
    }

    /// The label metrics count this refusal under.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Declined { reason, .. } | Self::Unexpected { reason, .. } => reason,
            Self::NoVerdict(_) => "no_verdict",
        }
    }

    /// The stable code a client is told: [`reason`](Self::reason), except that a request of
    /// one image that was refused reports that image's reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoVerdict(all) if all.len() == 1 => all[0].code(),
            other => other.reason(),
        }
    }

    /// The reference of an unexpected failure, to quote to the operator.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Self::Unexpected { reference, .. } => Some(reference),
            Self::NoVerdict(all) if all.len() == 1 => all[0].reference(),
            _ => None,
        }
    }

    /// Whether the use case already counted it (so the front end's error path must not).
    pub fn is_counted(&self) -> bool {
        matches!(self, Self::NoVerdict(_))
    }

    /// What the user reads, without "Sorry, " and the final full stop.
    pub fn message(&self) -> String {
        match self {
            Self::Declined { message, .. } => message.clone(),
            Self::Unexpected { reference, .. } => {
                format!("something went wrong on my side (reference {reference}); please try again later")
            }
            Self::NoVerdict(all) => match all.as_slice() {
                [only] => only.message(),
                _ => "I couldn't judge any of those images".into(),
            },
        }
    }

    /// The whole sentence a user reads: "Sorry, that file is empty."
    pub fn sorry(&self) -> String {
        format!("Sorry, {}.", self.message())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl From<IngestError> for Refusal {
    fn from(e: IngestError) -> Self {
        Self::declined(e.reason(), e.to_string())
    }
}

impl From<JudgeError> for Refusal {
    fn from(e: JudgeError) -> Self {
        match e {
            JudgeError::Ingest(e) => e.into(),
            JudgeError::Classify(ClassifyError::Busy) => {
                Self::later("busy", ClassifyError::Busy.to_string(), BUSY_RETRY_AFTER)
            }
            JudgeError::Classify(e @ ClassifyError::Inference(_)) => Self::unexpected(e.reason(), &e),
        }
    }
}

/// What a full queue tells a client to wait: a few images' time on the workers.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Eight hex digits: short enough to read out, enough to find the log line.
fn new_reference() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unexpected_failures_show_a_reference_and_never_their_detail() {
        let r: Refusal = JudgeError::Classify(ClassifyError::Inference("tract: secret internals".into())).into();
        assert_eq!(r.reason(), "inference");
        let text = r.sorry();
        assert!(!text.contains("secret internals"), "{text}");
        let reference = r.reference().unwrap().to_string();
        assert_eq!(reference.len(), 8);
        assert!(text.contains(&reference), "{text}");
        assert!(!r.is_counted());
    }

    #[test]
    fn declined_refusals_read_as_sentences() {
        let r: Refusal = IngestError::Empty.into();
        assert_eq!(r.sorry(), "Sorry, that file is empty.");
        assert_eq!(r.reason(), "empty");
        let all = Refusal::NoVerdict(vec![r.clone()]);
        assert_eq!(all.sorry(), "Sorry, that file is empty.");
        assert!(all.is_counted());
        let two = Refusal::NoVerdict(vec![r.clone(), r]);
        assert_eq!(two.sorry(), "Sorry, I couldn't judge any of those images.");
    }
}
