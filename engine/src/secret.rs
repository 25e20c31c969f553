use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// A secret string (token, key, password, client secret).
///
/// `Debug` and `Display` print `[redacted]`, and equality takes the same time
/// for every pair of equal-length values. Serialization writes the real value,
/// because the server encrypts credentials before storing them and returns
/// them only in replies that carry credentials on purpose.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value, for the one place that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    /// Compares in constant time for equal lengths. A length mismatch returns
    /// early, which reveals only the length.
    fn eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("sk_live_123");

        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret)), "Some([redacted])");
    }

    #[test]
    fn equality_compares_values() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "abcd", false),
            ("", "", true),
        ];

        for (left, right, expected) in cases {
            assert_eq!(
                Secret::new(left) == Secret::new(right),
                expected,
                "{left:?} == {right:?}"
            );
        }
    }

    #[test]
    fn serde_is_transparent() {
        let secret = Secret::new("tok");

        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"tok\"");

        let parsed: Secret = serde_json::from_str("\"tok\"").unwrap();
        assert_eq!(parsed.expose(), "tok");
    }
}
