//! Nango templates that name a connection-config field without the
//! `connectionConfig.` prefix, such as the Cognito entry's
//! `https://cognito-${apiSubdomain}.amazonaws.com`, whose connection config
//! declares `apiSubdomain`.
//!
//! Each such `${NAME}` is rewritten to `${connectionConfig.NAME}` before
//! conversion, but only when `NAME` is a declared connection-config field
//! and not one of the names that Nango fills itself.

use serde_yaml::{Mapping, Value};

/// Names that Nango's interpolation fills without a prefix. A field of one
/// of these names keeps the Nango meaning of the bare name.
const NANGO_NAMES: &[&str] = &[
    "accessToken",
    "apiKey",
    "username",
    "password",
    "clientId",
    "clientSecret",
    "random",
    "now",
    "endpoint",
    "method",
    "host",
    "path",
    "bodyCanonicalParams",
];

/// The note written into the header of a file whose entry had a bare name.
pub(super) const NOTE: &str =
    "Nango's template names a connection-config field without `connectionConfig.`; the field of that name fills it.";

/// Returns `entry` with every bare `${NAME}` of a declared connection-config
/// field rewritten to `${connectionConfig.NAME}`, or `None` when the entry
/// has none.
pub(super) fn qualify_bare_names(entry: &Mapping) -> Option<Mapping> {
    let fields: Vec<String> = entry
        .get("connection_config")
        .and_then(Value::as_mapping)?
        .keys()
        .filter_map(Value::as_str)
        .filter(|name| !NANGO_NAMES.contains(name))
        .map(str::to_owned)
        .collect();
    let mut rewritten = entry.clone();
    let mut changed = false;
    for (key, value) in rewritten.iter_mut() {
        // Field definitions are descriptions, not templates.
        if matches!(key.as_str(), Some("connection_config" | "credentials")) {
            continue;
        }
        changed |= qualify(value, &fields);
    }
    changed.then_some(rewritten)
}

fn qualify(value: &mut Value, fields: &[String]) -> bool {
    match value {
        Value::String(text) => {
            let mut changed = false;
            for field in fields {
                let bare = format!("${{{field}}}");
                if text.contains(&bare) {
                    *text = text.replace(&bare, &format!("${{connectionConfig.{field}}}"));
                    changed = true;
                }
            }
            changed
        }
        Value::Mapping(mapping) => mapping.iter_mut().fold(false, |changed, (_, inner)| {
            qualify(inner, fields) | changed
        }),
        Value::Sequence(items) => items
            .iter_mut()
            .fold(false, |changed, inner| qualify(inner, fields) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Mapping {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn declared_field_gets_the_prefix() {
        let qualified = qualify_bare_names(&entry(
            "proxy:\n  base_url: https://cognito-${apiSubdomain}.amazonaws.com\n\
             connection_config:\n  apiSubdomain:\n    type: string\n",
        ))
        .unwrap();
        assert_eq!(
            qualified["proxy"]["base_url"].as_str(),
            Some("https://cognito-${connectionConfig.apiSubdomain}.amazonaws.com")
        );
    }

    #[test]
    fn undeclared_and_nango_names_stay() {
        let source = entry(
            "proxy:\n  base_url: https://${region}.example.com\n  headers:\n    \
             x-key: ${apiKey}\nconnection_config:\n  apiKey:\n    type: string\n",
        );
        assert_eq!(qualify_bare_names(&source), None);
    }

    #[test]
    fn prefixed_names_are_not_doubled() {
        let source = entry(
            "proxy:\n  base_url: https://${connectionConfig.host}\n\
             connection_config:\n  host:\n    type: string\n",
        );
        assert_eq!(qualify_bare_names(&source), None);
    }
}
