//! Secrets (bot tokens, webhook secrets) that never show up in logs or error messages.

/// A secret string. `Debug` and `Display` print `[redacted]`; use [`SecretString::expose`]
/// only where the value is sent to the service that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of the secret replaced by `[redacted]` (for error messages
    /// from libraries that put the secret in URLs).
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }

    /// Compares with `other` in time that depends only on the lengths, not on where they differ.
    pub fn matches(&self, other: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), other)
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Equality whose running time does not reveal the position of the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = SecretString::new("123:ABC");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(
            s.scrub("GET /bot123:ABC/getMe failed"),
            "GET /bot[redacted]/getMe failed"
        );
        assert!(s.matches(b"123:ABC"));
        assert!(!s.matches(b"123:ABD"));
        assert!(!s.matches(b"123:AB"));
        assert!(constant_time_eq(b"", b""));
    }
}
