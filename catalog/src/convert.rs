//! Converting a built-in provider file to JSON at build time.
//!
//! `build.rs` includes this module and embeds the JSON text of each file for
//! which [`to_json`] returns one. A start parses that text instead of the
//! YAML, which takes a fraction of the time, and then validates the document
//! as it validates any other ([`crate::load::parse_converted`]).

use crate::document;
use crate::positions;

/// Converts a provider file to the JSON text of its document, or returns
/// `None` when the file needs the YAML path to be reported as
/// [`crate::parse_provider`] reports it.
///
/// That is the case for a file that either YAML parser rejects, that nests
/// too deep, that repeats a key, that is not a mapping or that is an alias
/// file, whose target is resolved from other files. Every other file gets
/// the same diagnostics from its JSON as from its YAML, because only the
/// YAML parsing differs and these are the outcomes that parsing can add.
pub(crate) fn to_json(source: &str) -> Option<String> {
    // A start strips a leading byte-order mark before it parses a file.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if positions::flow_nesting_too_deep(source).is_some() {
        return None;
    }
    let document = document::from_str(source).ok()?;
    if document.has_duplicate_key {
        return None;
    }
    // yaml-rust2 rejects some files that libyaml accepts, and it reports a
    // repeated key behind an alias, which libyaml's value does not show.
    let scan = positions::scan(source).ok()?;
    if scan.may_have_duplicates {
        return None;
    }
    if document.value.as_object()?.contains_key("alias") {
        return None;
    }
    serde_json::to_string(&document.value).ok()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::load::{parse_converted, parse_provider};

    const VALID: &str = "name: demo\ndisplay_name: Demo\nauth:\n  mode: oauth2\n  authorization_url: https://{{ subdomain }}.example.com/oauth/authorize\n  token_url: https://{{ subdomain }}.example.com/oauth/token\nconnection_config:\n  subdomain:\n    title: Subdomain\n    pattern: \"[a-z0-9-]+\"\n    example: acme\nproxy:\n  base_url: https://{{ subdomain }}.example.com/api\n";

    /// Renders the outcome of a parse, so that two outcomes compare as a
    /// reader sees them.
    fn outcome(result: Result<crate::Provider, Vec<crate::Diagnostic>>) -> String {
        match result {
            Ok(provider) => format!("{provider:?}"),
            Err(diagnostics) => diagnostics
                .iter()
                .map(|diagnostic| diagnostic.to_string())
                .collect(),
        }
    }

    #[test]
    fn builtin_files_parse_alike_from_json() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("providers");
        let mut converted = 0;
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file_name = format!(
                "catalog/providers/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let source = fs::read_to_string(&path).unwrap();
            let Some(json) = to_json(&source) else {
                continue;
            };
            converted += 1;
            let from_json = outcome(parse_converted(&file_name, &source, &json));
            let from_yaml = outcome(parse_provider(&file_name, &source));
            assert_eq!(from_json, from_yaml, "{file_name}");
        }
        assert!(converted > 0, "no built-in file was converted");
    }

    /// Files with problems that the YAML parsing does not find convert, and
    /// their JSON gives the diagnostics of their YAML, each with a line and
    /// column in the YAML source.
    #[test]
    fn broken_files_report_alike_from_json() {
        let cases = [
            ("display_name: Demo", "display_nme: Demo"),
            ("  token_url:", "  tokn_url:"),
            ("mode: oauth2", "mode: oauth3"),
            (
                "https://{{ subdomain }}.example.com/api",
                "http://{{ subdomain }}.example.com/api",
            ),
            ("\"[a-z0-9-]+\"", "\"[a-z\""),
            ("example: acme", "example: ACME"),
            (
                "{{ subdomain }}.example.com/api",
                "{{ subdomian }}.example.com/api",
            ),
            ("name: demo", "name: other"),
        ];
        for (from, to) in cases {
            assert!(VALID.contains(from), "{from}");
            let source = VALID.replacen(from, to, 1);
            let json = to_json(&source).unwrap_or_else(|| panic!("`{to}` does not convert"));
            let from_json = parse_converted("demo.yaml", &source, &json);
            let from_yaml = parse_provider("demo.yaml", &source);
            let diagnostics = from_json.as_ref().expect_err(to);
            assert!(
                diagnostics
                    .iter()
                    .all(|diagnostic| diagnostic.line.is_some() && diagnostic.column.is_some()),
                "{diagnostics:?}"
            );
            assert_eq!(outcome(from_json), outcome(from_yaml), "{to}");
        }
    }

    #[test]
    fn files_needing_yaml_do_not_convert() {
        let cases = [
            (
                "duplicate key",
                VALID.replacen(
                    "display_name: Demo",
                    "display_name: Demo\ndisplay_name: Again",
                    1,
                ),
            ),
            (
                "syntax error",
                VALID.replacen("display_name: Demo", "display_name: [Demo", 1),
            ),
            (
                "alias file",
                "name: github-work\nalias: github\n".to_owned(),
            ),
            ("not a mapping", "- name: demo\n".to_owned()),
            ("empty file", String::new()),
            (
                "deep nesting",
                format!("name: {}x{}\n", "[".repeat(200), "]".repeat(200)),
            ),
        ];
        for (case, source) in cases {
            assert_eq!(to_json(&source), None, "{case}");
        }
    }

    #[test]
    fn byte_order_mark_stripped_before_conversion() {
        let json = to_json(&format!("\u{feff}{VALID}")).expect("a valid file converts");
        assert!(!json.contains('\u{feff}'), "{json}");
        assert_eq!(Some(json), to_json(VALID));
    }
}
