//! Matching user input against the patterns of a provider definition, with
//! the same anchoring rules that the catalog checks use.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::MatchKind;

use crate::model::{ApiKey, ConfigField};

/// Compiled regular expressions by their source text, shared by every file
/// and thread. Compiling one costs tens of microseconds, and files share
/// patterns: the 690 files imported from Nango hold 406, 221 of them
/// distinct. They are shared through `Arc` rather than `Regex::clone`,
/// because a clone starts with an empty pool of search caches and so builds
/// a new cache on its first match.
static COMPILED: LazyLock<Mutex<HashMap<String, CompileResult>>> = LazyLock::new(Mutex::default);

/// A compiled regular expression, or the regex crate's error for its source.
pub(crate) type CompileResult = Result<Arc<Regex>, regex::Error>;

/// The number of regular expressions [`COMPILED`] keeps. Past it, new ones
/// are compiled on every call, so memory stays bounded when a long-running
/// process checks many distinct patterns.
const COMPILED_CAPACITY: usize = 4096;

/// Compiles `source`, or returns the one compiled earlier.
fn compile_cached(source: String) -> CompileResult {
    let lock = || COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(compiled) = lock().get(&source) {
        return compiled.clone();
    }
    // Compiling outside the lock lets other threads use the cache meanwhile.
    // Two threads that compile the same pattern store equal results.
    let compiled = compile(&source).map(Arc::new);
    let mut cache = lock();
    if cache.len() < COMPILED_CAPACITY {
        cache.insert(source, compiled.clone());
    }
    compiled
}

/// Compiles `source` as `regex::Regex::new` does (regex 1.13: the same
/// syntax, match kind and size limits, hence the same matches and the same
/// patterns rejected), except that no full DFA is built.
///
/// `tracing-subscriber` turns on the regex engine's full-DFA feature for the
/// whole `latchkey` binary, and the regex crate then builds a forward and a
/// reverse DFA for every small pattern. That made compiling the 221 distinct
/// patterns of the imported catalog take 1.7 times as long (49 µs against
/// 28 µs a pattern, regex-automata 0.4.19). A full DFA only speeds up
/// searches, and the checks search a few short values per pattern.
///
/// For the same reason only the PikeVM runs: without the lazy DFA, the
/// one-pass DFA and the bounded backtracker, a compile builds one NFA
/// instead of a forward and a reverse one. All engines return the same
/// matches.
///
/// NOTE: the regex crate also rejects a pattern whose reverse NFA exceeds
/// the 10 MiB size limit, and this compile accepts it. No pattern near that
/// size has been seen in a provider file.
fn compile(source: &str) -> Result<Regex, regex::Error> {
    let config = meta::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(true)
        .nfa_size_limit(Some(10 * (1 << 20)))
        .dfa(false)
        .hybrid(false)
        .onepass(false)
        .backtrack(false);
    let built = meta::Builder::new()
        .configure(config)
        .syntax(syntax::Config::new().utf8(true))
        .build(source);
    built.map_err(|error| {
        // The diagnostics quote the regex crate's message, so the failure is
        // reproduced there. Both compile with the same settings, so the regex
        // crate rejects the pattern too. Should it not, the engine's own
        // message is used.
        regex::Regex::new(source)
            .err()
            .unwrap_or_else(|| regex::Error::Syntax(error.to_string()))
    })
}

/// Compiles a connection-config pattern so that it must match the whole value.
pub(crate) fn whole_value_regex(pattern: &str) -> CompileResult {
    compile_cached(format!("^(?:{pattern})$"))
}

/// Compiles a pattern that is searched for anywhere in a value, such as
/// `auth.key_pattern`, which carries its own `^` and `$`.
pub(crate) fn search_regex(pattern: &str) -> CompileResult {
    compile_cached(pattern.to_owned())
}

impl ConfigField {
    /// Checks `value` against this field: the whole value must match
    /// `pattern`, when there is one, and must not match `excluded_pattern`,
    /// when there is one. A pattern that
    /// does not compile accepts nothing, but loaded catalogs never contain
    /// one because loading rejects it.
    pub fn accepts(&self, value: &str) -> bool {
        let included = match &self.pattern {
            None => true,
            Some(pattern) => whole_value_regex(pattern).is_ok_and(|regex| regex.is_match(value)),
        };
        included && !self.excludes(value)
    }

    /// Checks whether the whole value matches `excluded_pattern`. False
    /// without one. An excluded pattern that does not compile excludes
    /// every value, but loading rejects such a pattern.
    pub fn excludes(&self, value: &str) -> bool {
        self.excluded_pattern.as_deref().is_some_and(|pattern| {
            whole_value_regex(pattern).map_or(true, |regex| regex.is_match(value))
        })
    }
}

impl ApiKey {
    /// Checks whether `key` matches `key_pattern` somewhere, because the
    /// pattern carries its own `^` and `$`. True without a pattern.
    pub fn accepts_key(&self, key: &str) -> bool {
        match &self.key_pattern {
            None => true,
            Some(pattern) => search_regex(pattern).is_ok_and(|regex| regex.is_match(key)),
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
    fn compile_matches_regex_crate() {
        // (pattern, probe values)
        #[rustfmt::skip]
        let cases = [
            ("^(?:[a-z0-9-]+)$", ["acme", "a/b", ""]),
            ("^(?:https://[a-z.]+)$", ["https://a.b", "http://a.b", "https://a@b"]),
            ("^(?:\\w+)$", ["été", "a b", "_"]),
            ("^(?:common|[0-9]+)$", ["common", "commonx", "42"]),
        ];

        for (pattern, probes) in cases {
            let ours = compile(pattern).unwrap();
            let theirs = regex::Regex::new(pattern).unwrap();
            for probe in probes {
                assert_eq!(
                    ours.is_match(probe),
                    theirs.is_match(probe),
                    "{pattern} on {probe:?}"
                );
            }
        }
    }

    #[test]
    fn compile_error_is_regex_crate_error() {
        for pattern in ["[a-z", "(?P<x>a)(?P<x>b)", "a{1000000}"] {
            let ours = compile(pattern).unwrap_err();
            let theirs = regex::Regex::new(pattern).unwrap_err();

            assert_eq!(ours.to_string(), theirs.to_string(), "{pattern}");
        }
    }

    #[test]
    fn key_pattern_is_searched() {
        let api_key = ApiKey {
            key_title: None,
            key_pattern: Some("^sk_(live|test)_".to_owned()),
            inject: Some(crate::model::Inject::bearer_default()),
            caller_places_key: false,
        };
        assert!(api_key.accepts_key("sk_test_abc"));
        assert!(!api_key.accepts_key("pk_test_abc"));
    }
}
