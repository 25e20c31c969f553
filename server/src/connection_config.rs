//! Checks a connection config against the provider's `connection_config`
//! fields: required values present, patterns matched, defaults filled in.

use latchkey_catalog::Provider;
use latchkey_engine::ConnectionConfig;
use regex::Regex;
use serde_json::Value;

use crate::error::ApiError;

/// Returns `given` with defaults added, or `invalid_connection_config`
/// naming the first field that is missing or does not match its pattern.
///
/// Fields marked `automated` are filled from the token response, so they
/// may be absent here; when present, they are checked like the others. Keys
/// the provider does not declare are kept as they are.
pub fn validate(
    provider: &Provider,
    given: &ConnectionConfig,
) -> Result<ConnectionConfig, ApiError> {
    let mut config = given.clone();
    for (name, field) in &provider.connection_config {
        let value = match given.get(name) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            Some(Value::Null) | None => {
                if let Some(default) = &field.default {
                    config.insert(name.clone(), Value::String(default.clone()));
                } else if !field.optional && !field.automated {
                    return Err(ApiError::invalid_connection_config(format!(
                        "missing connection config field `{name}` ({}) required by provider `{}`",
                        field.title, provider.name
                    )));
                }
                continue;
            }
            Some(other) => {
                return Err(ApiError::invalid_connection_config(format!(
                    "connection config field `{name}` must be a string, got {other}"
                )))
            }
        };

        if let Some(pattern) = &field.pattern {
            check_pattern(provider, name, pattern, &value)?;
        }
        config.insert(name.clone(), Value::String(value));
    }
    Ok(config)
}

/// Adds the connection-config values of an HTML form, sent as
/// `params[KEY]=VALUE` pairs, to `config`. They override values already
/// there, and an empty value counts as absent, so an optional field left
/// blank takes its default. Other pairs are ignored.
pub fn merge_form_values<'a>(
    config: &mut ConnectionConfig,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (name, value) in pairs {
        let Some(key) = name
            .strip_prefix("params[")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            continue;
        };
        if key.is_empty() || value.is_empty() {
            continue;
        }
        config.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn check_pattern(
    provider: &Provider,
    name: &str,
    pattern: &str,
    value: &str,
) -> Result<(), ApiError> {
    // The pattern must match the whole value, whether or not it is anchored.
    let anchored = format!("^(?:{pattern})$");
    let regex = Regex::new(&anchored).map_err(|error| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "template_error",
            format!(
                "provider `{}`, field `connection_config.{name}.pattern`: invalid regular expression: {error}",
                provider.name
            ),
        )
    })?;
    if regex.is_match(value) {
        return Ok(());
    }
    Err(ApiError::invalid_connection_config(format!(
        "connection config field `{name}` value `{value}` does not match the pattern `{pattern}` of provider `{}`",
        provider.name
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn provider() -> Provider {
        serde_json::from_value(json!({
            "name": "zendesk",
            "display_name": "Zendesk",
            "auth": {"mode": "api_key", "inject": {"name": "Authorization", "value": "Bearer {{ api_key }}"}},
            "connection_config": {
                "subdomain": {"title": "Subdomain", "pattern": "[a-z0-9-]+"},
                "region": {"title": "Region", "default": "us"},
                "team": {"title": "Team", "optional": true},
                "instance_url": {"title": "Instance URL", "automated": true}
            },
            "proxy": {"base_url": "https://{{ subdomain }}.zendesk.com"}
        }))
        .unwrap()
    }

    fn config(value: Value) -> ConnectionConfig {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn valid_config_gets_defaults() {
        let result = validate(
            &provider(),
            &config(json!({"subdomain": "acme", "extra": 1})),
        )
        .unwrap();
        assert_eq!(result["subdomain"], "acme");
        assert_eq!(result["region"], "us");
        assert_eq!(result["extra"], 1);
        assert!(!result.contains_key("team"));
        assert!(!result.contains_key("instance_url"));
    }

    #[test]
    fn given_value_beats_default() {
        let result = validate(
            &provider(),
            &config(json!({"subdomain": "a", "region": "eu"})),
        )
        .unwrap();
        assert_eq!(result["region"], "eu");
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let cases = [
            (json!({}), "missing connection config field `subdomain`"),
            (
                json!({"subdomain": null}),
                "missing connection config field `subdomain`",
            ),
            (json!({"subdomain": "acme.evil.com/x"}), "`[a-z0-9-]+`"),
            (
                json!({"subdomain": "ACME"}),
                "field `subdomain` value `ACME`",
            ),
            (json!({"subdomain": ["a"]}), "must be a string"),
        ];
        for (input, expected) in cases {
            let error = validate(&provider(), &config(input.clone())).unwrap_err();
            assert_eq!(error.code, "invalid_connection_config", "{input}");
            assert!(
                error.message.contains(expected),
                "{input}: {}",
                error.message
            );
        }
    }

    #[test]
    fn pattern_matches_whole_value() {
        // Unanchored `[a-z0-9-]+` would find a match inside "a.b".
        let error = validate(&provider(), &config(json!({"subdomain": "a.b"}))).unwrap_err();
        assert_eq!(error.code, "invalid_connection_config");
    }

    #[test]
    fn form_values_override_and_skip_blanks() {
        let mut merged = config(json!({"subdomain": "from-json", "region": "eu"}));
        let pairs = [
            ("params[subdomain]", "from-form"),
            ("params[region]", ""),
            ("params[team]", "core"),
            ("params[]", "nameless"),
            ("connect_session_token", "lk_cs_x"),
            ("params", "{}"),
        ];
        merge_form_values(&mut merged, pairs);
        assert_eq!(merged["subdomain"], "from-form");
        assert_eq!(merged["region"], "eu", "a blank value keeps the JSON one");
        assert_eq!(merged["team"], "core");
        assert_eq!(merged.len(), 3, "{merged:?}");
    }

    #[test]
    fn blank_optional_form_value_takes_default() {
        let mut merged = ConnectionConfig::new();
        merge_form_values(
            &mut merged,
            [("params[subdomain]", "acme"), ("params[region]", "")],
        );
        let result = validate(&provider(), &merged).unwrap();
        assert_eq!(result["region"], "us");
    }

    #[test]
    fn number_value_is_stored_as_string() {
        let result = validate(&provider(), &config(json!({"subdomain": 42}))).unwrap();
        assert_eq!(result["subdomain"], "42");
    }
}
