//! Checks a connection config against the provider's `connection_config`
//! fields: required values present, patterns matched, defaults filled in.

use std::sync::LazyLock;

use latchkey_catalog::{ConfigField, FieldFormat, FieldType, Provider};
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
            Some(Value::Bool(flag)) if field.field_type == FieldType::Boolean => flag.to_string(),
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

        check_type_and_format(provider, name, field, &value)?;
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

/// Checks a value, as text, against the field's `type` and `format`.
fn check_type_and_format(
    provider: &Provider,
    name: &str,
    field: &ConfigField,
    value: &str,
) -> Result<(), ApiError> {
    static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
            .expect("valid regex")
    });
    static UUID: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
            .expect("valid regex")
    });
    static EMAIL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").expect("valid regex"));

    let type_ok = match field.field_type {
        FieldType::String => true,
        FieldType::Number => value.parse::<f64>().is_ok_and(f64::is_finite),
        FieldType::Boolean => value == "true" || value == "false",
    };
    if !type_ok {
        let expected = match field.field_type {
            FieldType::String => "a string",
            FieldType::Number => "a number",
            FieldType::Boolean => "`true` or `false`",
        };
        return Err(ApiError::invalid_connection_config(format!(
            "connection config field `{name}` value `{value}` of provider `{}` is invalid: expected {expected}",
            provider.name
        )));
    }

    let Some(format) = field.format else {
        return Ok(());
    };
    let (format_ok, expected) = match format {
        FieldFormat::Hostname => (
            value.len() <= 253 && HOSTNAME.is_match(value),
            "a host name such as `acme.example.com`, without scheme or path",
        ),
        FieldFormat::Uri => (
            url::Url::parse(value).is_ok(),
            "an absolute URI such as `https://acme.example.com`",
        ),
        FieldFormat::Uuid => (
            UUID.is_match(value),
            "a UUID such as `123e4567-e89b-12d3-a456-426614174000`",
        ),
        FieldFormat::Email => (EMAIL.is_match(value), "an email address"),
    };
    if format_ok {
        return Ok(());
    }
    Err(ApiError::invalid_connection_config(format!(
        "connection config field `{name}` value `{value}` of provider `{}` is invalid: expected {expected}",
        provider.name
    )))
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

    #[test]
    fn type_and_format_checked() {
        let provider: Provider = serde_json::from_value(json!({
            "name": "typed",
            "display_name": "Typed",
            "auth": {"mode": "basic"},
            "connection_config": {
                "port": {"title": "Port", "type": "number", "optional": true},
                "sandbox": {"title": "Sandbox", "type": "boolean", "optional": true},
                "host": {"title": "Host", "format": "hostname", "optional": true},
                "site": {"title": "Site", "format": "uri", "optional": true},
                "accountId": {"title": "Account", "format": "uuid", "optional": true},
                "contact": {"title": "Contact", "format": "email", "optional": true}
            },
            "proxy": {"base_url": "https://typed.example"}
        }))
        .unwrap();

        // (input, expected error part, or None when valid)
        #[rustfmt::skip]
        let cases = [
            (json!({"port": 8443}), None),
            (json!({"port": "8443"}), None),
            (json!({"port": "eighty"}), Some("field `port` value `eighty` of provider `typed` is invalid: expected a number")),
            (json!({"sandbox": true}), None),
            (json!({"sandbox": "false"}), None),
            (json!({"sandbox": "yes"}), Some("expected `true` or `false`")),
            (json!({"host": "eu.acme.example"}), None),
            (json!({"host": "https://acme.example"}), Some("expected a host name")),
            (json!({"host": "acme.example/x"}), Some("expected a host name")),
            (json!({"site": "https://acme.example/api"}), None),
            (json!({"site": "acme.example"}), Some("expected an absolute URI")),
            (json!({"accountId": "123e4567-e89b-12d3-a456-426614174000"}), None),
            (json!({"accountId": "123e4567"}), Some("expected a UUID")),
            (json!({"contact": "ops@acme.example"}), None),
            (json!({"contact": "ops"}), Some("expected an email address")),
        ];

        for (input, expected) in cases {
            let result = validate(&provider, &config(input.clone()));

            match expected {
                None => assert!(
                    result.is_ok(),
                    "{input}: {:?}",
                    result.err().map(|e| e.message)
                ),
                Some(part) => {
                    let error = result.unwrap_err();
                    assert_eq!(error.code, "invalid_connection_config", "{input}");
                    assert!(error.message.contains(part), "{input}: {}", error.message);
                }
            }
        }
    }
}
