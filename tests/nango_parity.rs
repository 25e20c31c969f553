//! Compares the committed catalog with Nango's published catalog
//! (`@nangohq/providers`, pinned in `tests/peers/package.json`) for every
//! provider name both have. The authorization URL, token URL, base URL and
//! scope separator must agree, or the Latchkey file must explain the
//! difference in a comment that mentions Nango, directly above the field
//! (above `mode:` when Latchkey's file has no such field).
//!
//! Templates are compared by shape: `{{ subdomain }}` and
//! `${connectionConfig.subdomain}` both become `{}`, because the two
//! catalogs may name a variable differently. Of Nango's `A || B`
//! fallbacks, any alternative may match.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use latchkey_catalog::{Auth, Catalog, FieldFormat, InjectLocation, Provider};
use regex::Regex;
use serde_yaml::{Mapping, Value};

fn nango_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/node_modules/@nangohq/providers/providers.yaml")
}

/// Nango's entries by name, with `alias` entries merged onto their target
/// the way Nango's loader does: the alias's own keys replace the target's.
/// Entries are resolved in file order, so an alias of an alias gets the keys
/// of the whole chain.
fn nango_entries() -> BTreeMap<String, Mapping> {
    let path = nango_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}; run scripts/test.sh, which installs the test peers",
            path.display()
        )
    });
    let all: Mapping = serde_yaml::from_str(&text).expect("Nango's providers.yaml parses");
    let mut entries = BTreeMap::new();
    for (name, entry) in &all {
        let (Some(name), Some(entry)) = (name.as_str(), entry.as_mapping()) else {
            continue;
        };
        let mut merged = Mapping::new();
        if let Some(target) = entry.get("alias").and_then(Value::as_str) {
            let base = entries
                .get(target)
                .cloned()
                .or_else(|| all.get(target).and_then(Value::as_mapping).cloned());
            if let Some(base) = base {
                merged = base;
            }
        }
        for (key, value) in entry {
            merged.insert(key.clone(), value.clone());
        }
        entries.insert(name.to_owned(), merged);
    }
    entries
}

fn text_at<'a>(entry: &'a Mapping, path: &[&str]) -> Option<&'a str> {
    let mut value = entry.get(path[0])?;
    for key in &path[1..] {
        value = value.get(*key)?;
    }
    value.as_str()
}

/// Reduces a URL template to its shape: every variable becomes `{}` and a
/// trailing slash is dropped.
fn shape(template: &str) -> String {
    let latchkey = Regex::new(r"\{\{[^}]*\}\}").unwrap();
    let nango = Regex::new(r"\$\{[^}]*\}").unwrap();
    let text = latchkey.replace_all(template.trim(), "{}");
    let text = nango.replace_all(&text, "{}");
    text.trim_end_matches('/').to_owned()
}

/// Returns whether Latchkey's value agrees with any of Nango's `||` alternatives.
fn agrees(latchkey: Option<&str>, nango: Option<&str>) -> bool {
    match (latchkey, nango) {
        (None, None) => true,
        (Some(ours), Some(theirs)) => theirs
            .split("||")
            .any(|alternative| shape(alternative) == shape(ours)),
        _ => false,
    }
}

/// Returns the four compared facts of a Latchkey provider, by field name.
fn latchkey_facts(provider: &Provider) -> [(&'static str, Option<String>); 4] {
    let (authorization_url, token_url, separator) = match &provider.auth {
        Auth::Oauth2(oauth) => (
            Some(oauth.authorization_url.clone()),
            Some(oauth.token_url.clone()),
            Some(oauth.scope_separator.clone()),
        ),
        Auth::Oauth2ClientCredentials(credentials) => (
            None,
            Some(credentials.token_url.clone()),
            Some(credentials.scope_separator.clone()),
        ),
        _ => (None, None, None),
    };
    let token_url = match &provider.auth {
        // A JWT client assertion sends its token request to the same
        // endpoint that Nango's client-credentials entry names.
        Auth::Jwt(jwt) => jwt.token_url.clone(),
        _ => token_url,
    };
    [
        ("authorization_url", authorization_url),
        ("token_url", token_url),
        ("base_url", Some(comparable_base_url(provider))),
        ("scope_separator", separator),
    ]
}

/// Returns the base URL as Nango writes it when a credential goes into the
/// path: Nango's base URL carries that segment, and Latchkey's proxy appends
/// it.
fn comparable_base_url(provider: &Provider) -> String {
    let base_url = provider.proxy.base_url.clone();
    let inject = provider.auth.inject();
    if inject.location == InjectLocation::PathSegment {
        return format!("{}/{}", base_url.trim_end_matches('/'), inject.value);
    }
    base_url
}

/// Returns whether the base URL starts with a `base_url`-format variable,
/// whose value carries its own `https://`. Nango writes some of these with
/// and some without a literal `https://` before the variable.
fn leads_with_base_url_field(provider: &Provider) -> bool {
    provider
        .proxy
        .base_url
        .strip_prefix("{{")
        .and_then(|rest| rest.split_once("}}"))
        .and_then(|(name, _)| provider.connection_config.get(name.trim()))
        .is_some_and(|field| field.format == Some(FieldFormat::BaseUrl))
}

/// Returns one of the compared facts of a Nango entry. The OAuth facts
/// count only when the entry's mode uses them: an alias that switches to
/// API_KEY or BASIC keeps its target's OAuth keys through the shallow merge,
/// and Nango ignores them.
fn nango_fact(entry: &Mapping, field: &str) -> Option<String> {
    let mode = text_at(entry, &["auth_mode"]);
    let oauth = matches!(mode, Some("OAUTH2" | "OAUTH2_CC"));
    let value = match field {
        "base_url" => text_at(entry, &["proxy", "base_url"]),
        "authorization_url" if mode != Some("OAUTH2") => None,
        "token_url" if !oauth => None,
        "scope_separator" => {
            if !oauth {
                return None;
            }
            return Some(
                text_at(entry, &["scope_separator"])
                    .unwrap_or(" ")
                    .to_owned(),
            );
        }
        other => text_at(entry, &[other]),
    };
    value.map(str::to_owned)
}

/// Returns whether the comment lines directly above the line that sets `field`
/// (or above `mode:` when the file does not set it) mention Nango.
fn explained(source: &str, field: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let is_field = |line: &str| line.trim_start().starts_with(&format!("{field}:"));
    let is_mode = |line: &str| line.trim_start().starts_with("mode:");
    let index = lines
        .iter()
        .position(|line| is_field(line))
        .or_else(|| lines.iter().position(|line| is_mode(line)));
    let Some(index) = index else {
        return false;
    };
    lines[..index]
        .iter()
        .rev()
        .take_while(|line| line.trim_start().starts_with('#'))
        .any(|line| line.contains("Nango"))
}

#[test]
fn catalog_agrees_with_nango_or_says_why() {
    let nango = nango_entries();
    assert!(nango.len() >= 1000, "only {} Nango entries", nango.len());
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/providers");

    let mut compared = 0;
    let mut unexplained = Vec::new();
    for provider in catalog.providers() {
        let Some(entry) = nango.get(&provider.name) else {
            continue;
        };
        compared += 1;
        let source = std::fs::read_to_string(dir.join(format!("{}.yaml", provider.name)))
            .expect("provider file readable");
        for (field, ours) in latchkey_facts(provider) {
            let theirs = nango_fact(entry, field);
            // Some facts are not comparable. Nango's entry may lack one that
            // Latchkey's mode has: an MCP entry's base URL, which Latchkey
            // derives from its fixed endpoints, or a JWT entry's token URL,
            // which Nango keeps elsewhere. Nango's entry may also have one
            // that Latchkey's mode does not use, such as the scope separator
            // of a client-credentials entry signed as a JWT client
            // assertion. A `base_url`-format variable may stand with or
            // without Nango's literal `https://`.
            let not_comparable = match field {
                "base_url" => {
                    (theirs.is_none() && provider.auth.mode_name() == "mcp_oauth2")
                        || (leads_with_base_url_field(provider)
                            && agrees(
                                ours.as_deref()
                                    .map(|url| format!("https://{url}"))
                                    .as_deref(),
                                theirs.as_deref(),
                            ))
                }
                "token_url" => theirs.is_none() && provider.auth.mode_name() == "jwt",
                "scope_separator" => ours.is_none() && provider.auth.mode_name() == "jwt",
                _ => false,
            };
            if not_comparable
                || agrees(ours.as_deref(), theirs.as_deref())
                || explained(&source, field)
            {
                continue;
            }
            unexplained.push(format!(
                "{}: {field} is {ours:?} here and {theirs:?} in Nango's entry",
                provider.name
            ));
        }
    }

    assert!(compared >= 400, "only {compared} providers compared");
    assert!(
        unexplained.is_empty(),
        "{} differences without a comment that mentions Nango:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

#[test]
fn shape_ignores_variable_names() {
    assert_eq!(
        shape("https://{{ shop }}.myshopify.com/admin/"),
        shape("https://${connectionConfig.subdomain}.myshopify.com/admin")
    );
    assert!(agrees(
        Some("https://api.intercom.io"),
        Some("https://api.${connectionConfig.region}.intercom.io || https://api.intercom.io")
    ));
    assert!(!agrees(Some("https://a.example.com"), None));
}

#[test]
fn explained_needs_nango_comment_above_field() {
    let source = "auth:\n  mode: oauth2\n  # Nango joins scopes with a comma; the provider's docs say space.\n  scope_separator: \" \"\nproxy:\n  base_url: https://x.example.com\n";
    assert!(explained(source, "scope_separator"));
    assert!(!explained(source, "base_url"));
    assert!(!explained(source, "token_url"));
}
