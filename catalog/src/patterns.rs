//! Matching user input against the patterns of a provider definition, with
//! the same anchoring rules that the catalog checks use.

use regex::Regex;

use crate::model::{ApiKey, ConfigField};

/// Compiles a connection-config pattern so that it must match the whole value.
pub(crate) fn whole_value_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

impl ConfigField {
    /// Checks `value` against this field: true without a `pattern`, else
    /// whether the whole value matches it. A pattern that
    /// does not compile accepts nothing, but loaded catalogs never contain
    /// one because loading rejects it.
    pub fn accepts(&self, value: &str) -> bool {
        match &self.pattern {
            None => true,
            Some(pattern) => whole_value_regex(pattern).is_ok_and(|regex| regex.is_match(value)),
        }
    }
}

impl ApiKey {
    /// Checks whether `key` matches `key_pattern` somewhere, because the
    /// pattern carries its own `^` and `$`. True without a pattern.
    pub fn accepts_key(&self, key: &str) -> bool {
        match &self.key_pattern {
            None => true,
            Some(pattern) => Regex::new(pattern).is_ok_and(|regex| regex.is_match(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(pattern: Option<&str>) -> ConfigField {
        ConfigField {
            title: "Subdomain".to_owned(),
            description: None,
            pattern: pattern.map(str::to_owned),
            example: None,
            default: None,
            optional: false,
            automated: false,
            ..ConfigField::default()
        }
    }

    #[test]
    fn config_pattern_matches_whole_value() {
        let subdomain = field(Some("[a-z0-9-]+"));
        assert!(subdomain.accepts("acme"));
        assert!(!subdomain.accepts("acme.evil.example"));
        assert!(!subdomain.accepts(""));
        assert!(field(None).accepts("anything at all"));
    }

    #[test]
    fn alternation_is_anchored_as_a_group() {
        let tenant = field(Some("common|[0-9]+"));
        assert!(tenant.accepts("common"));
        assert!(!tenant.accepts("commonx"));
        assert!(!tenant.accepts("x123"));
    }

    #[test]
    fn key_pattern_is_searched() {
        let api_key = ApiKey {
            key_title: None,
            key_pattern: Some("^sk_(live|test)_".to_owned()),
            inject: crate::model::Inject::bearer_default(),
        };
        assert!(api_key.accepts_key("sk_test_abc"));
        assert!(!api_key.accepts_key("pk_test_abc"));
    }
}
