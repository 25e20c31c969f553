//! Checks a connection config against the provider's `connection_config`
//! fields: required values present, patterns matched, defaults filled in.

use std::sync::LazyLock;

use latchkey_catalog::{ConfigField, FieldFormat, FieldType, Provider};
use latchkey_engine::ConnectionConfig;
use regex::Regex;
use serde_json::Value;

use crate::error::ApiError;
use crate::validate::shown;

/// Maximum number of connection-config values the end user's browser may
/// send (`params[KEY]` pairs, or keys of the `params` or
/// `connection_config` JSON object).
pub const MAX_BROWSER_CONFIG_ENTRIES: usize = 50;
/// Maximum size of one connection-config value from the browser, in bytes.
pub const MAX_BROWSER_CONFIG_VALUE_BYTES: usize = 1024;

/// Returns `given` with defaults added, or `invalid_connection_config`
/// naming the first key the provider does not declare, or the first field
/// that is missing or does not match its pattern.
///
/// Fields marked `automated` are filled from the token response, so they
/// may be absent here; when present, they are checked like the others.
pub fn validate(
    provider: &Provider,
    given: &ConnectionConfig,
) -> Result<ConnectionConfig, ApiError> {
    check_declared(provider, given)?;
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

        check_value(provider, name, field, &value)?;
        config.insert(name.clone(), Value::String(value));
    }
    check_base_url(provider, &config)?;
    latchkey_engine::check_place_names(provider, &config)
        .map_err(|error| ApiError::invalid_connection_config(error.to_string()))?;
    Ok(config)
}

/// Checks one value of field `name` against the field's type, format,
/// pattern and excluded pattern.
pub fn check_value(
    provider: &Provider,
    name: &str,
    field: &ConfigField,
    value: &str,
) -> Result<(), ApiError> {
    check_type_and_format(provider, name, field, value)?;
    if let Some(pattern) = &field.pattern {
        check_pattern(provider, name, field, pattern, value)?;
    }
    if field.excludes(value) {
        return Err(ApiError::invalid_connection_config(format!(
            "connection config field `{name}` value `{value}` of provider `{}` matches the excluded pattern `{}`; use another value",
            provider.name,
            field.excluded_pattern.as_deref().unwrap_or_default()
        )));
    }
    Ok(())
}

/// Renders the proxy base URL with the config. A value that the engine would
/// reject at proxy time is then rejected before the connection is stored,
/// for example an IP address or internal name as host, or a value that
/// changes the URL's structure. Skipped while a field that Latchkey fills itself
/// (from the token response) is still missing, because the URL cannot be
/// rendered yet; the engine checks it when the proxy renders it.
fn check_base_url(provider: &Provider, config: &ConnectionConfig) -> Result<(), ApiError> {
    let awaiting_automated = provider
        .connection_config
        .iter()
        .any(|(name, field)| field.automated && !config.contains_key(name));
    if awaiting_automated {
        return Ok(());
    }
    latchkey_engine::base_url(provider, config)
        .map(|_| ())
        .map_err(|error| ApiError::invalid_connection_config(error.to_string()))
}

/// Rejects a key that the provider's `connection_config` does not declare,
/// listing the declared ones.
fn check_declared(provider: &Provider, given: &ConnectionConfig) -> Result<(), ApiError> {
    let Some(unknown) = given
        .keys()
        .find(|key| !provider.connection_config.contains_key(*key))
    else {
        return Ok(());
    };
    let declared = if provider.connection_config.is_empty() {
        "it declares none".to_owned()
    } else {
        let names: Vec<String> = provider
            .connection_config
            .keys()
            .map(|name| format!("`{name}`"))
            .collect();
        format!("it declares {}", names.join(", "))
    };
    Err(ApiError::invalid_connection_config(format!(
        "provider `{}` does not declare the connection config field `{}`: {declared}",
        provider.name,
        shown(unknown)
    )))
}

/// Checks the connection config that the end user's browser sent: at most
/// [`MAX_BROWSER_CONFIG_ENTRIES`] keys and string values of at most
/// [`MAX_BROWSER_CONFIG_VALUE_BYTES`] bytes. `field` names where it came
/// from (`params` or `connection_config`).
pub fn check_browser_limits(field: &str, config: &ConnectionConfig) -> Result<(), ApiError> {
    if config.len() > MAX_BROWSER_CONFIG_ENTRIES {
        return Err(too_many_entries(field, config.len()));
    }
    for (key, value) in config {
        let length = match value {
            Value::String(text) => text.len(),
            other => other.to_string().len(),
        };
        if length > MAX_BROWSER_CONFIG_VALUE_BYTES {
            return Err(value_too_long(&format!("{field}.{}", shown(key)), length));
        }
    }
    Ok(())
}

fn too_many_entries(field: &str, count: usize) -> ApiError {
    ApiError::invalid_connection_config(format!(
        "`{field}` has {count} entries, but may have at most {MAX_BROWSER_CONFIG_ENTRIES}"
    ))
}

fn value_too_long(field: &str, length: usize) -> ApiError {
    ApiError::invalid_connection_config(format!(
        "`{field}` is {length} bytes long, but may be at most \
         {MAX_BROWSER_CONFIG_VALUE_BYTES} bytes"
    ))
}

/// Adds the connection-config values of an HTML form, sent as
/// `params[KEY]=VALUE` pairs, to `config`. They override values already
/// there, and an empty value counts as absent, so an optional field left
/// blank takes its default. Other pairs are ignored. More than
/// [`MAX_BROWSER_CONFIG_ENTRIES`] pairs, or a value longer than
/// [`MAX_BROWSER_CONFIG_VALUE_BYTES`], is rejected before anything is merged.
pub fn merge_form_values<'a>(
    config: &mut ConnectionConfig,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), ApiError> {
    let mut entries = Vec::new();
    for (name, value) in pairs {
        let Some(key) = name
            .strip_prefix("params[")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            continue;
        };
        if entries.len() == MAX_BROWSER_CONFIG_ENTRIES {
            return Err(too_many_entries(
                "params[...]",
                MAX_BROWSER_CONFIG_ENTRIES + 1,
            ));
        }
        if value.len() > MAX_BROWSER_CONFIG_VALUE_BYTES {
            return Err(value_too_long(
                &format!("params[{}]", shown(key)),
                value.len(),
            ));
        }
        entries.push((key, value));
    }
    for (key, value) in entries {
        if key.is_empty() || value.is_empty() {
            continue;
        }
        config.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    Ok(())
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
            "connection config field `{name}` {} of provider `{}` is invalid: expected {expected}",
            shown_value(field, value),
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
        FieldFormat::BaseUrl | FieldFormat::HostPortPath => {
            return format.check_url_form(value).map_err(|reason| {
                ApiError::invalid_connection_config(format!(
                    "connection config field `{name}` value `{value}` of provider `{}` is invalid: {reason}",
                    provider.name
                ))
            });
        }
    };
    if format_ok {
        return Ok(());
    }
    Err(ApiError::invalid_connection_config(format!(
        "connection config field `{name}` {} of provider `{}` is invalid: expected {expected}",
        shown_value(field, value),
        provider.name
    )))
}

fn check_pattern(
    provider: &Provider,
    name: &str,
    field: &ConfigField,
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
        "connection config field `{name}` {} does not match the pattern `{pattern}` of provider `{}`",
        shown_value(field, value),
        provider.name
    )))
}

/// Quotes `value` for an error message, unless its field is `secret: true`.
fn shown_value(field: &ConfigField, value: &str) -> String {
    if field.secret {
        "value (not shown, because the field is secret)".to_owned()
    } else {
        format!("value `{value}`")
    }
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

    fn self_hosted_provider(automated: bool) -> Provider {
        serde_json::from_value(json!({
            "name": "woocommerce",
            "display_name": "WooCommerce",
            "auth": {"mode": "basic"},
            "connection_config": {
                "store_domain": {"title": "Store domain", "pattern": "[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+"},
                "api_version": {"title": "API version", "automated": automated, "optional": !automated}
            },
            "proxy": {"base_url": "https://{{ store_domain }}/wp-json/{{ api_version | default('wc/v3') }}"}
        }))
        .unwrap()
    }

    #[test]
    fn secret_value_not_echoed() {
        let provider: Provider = serde_json::from_value(json!({
            "name": "vault",
            "display_name": "Vault",
            "auth": {"mode": "basic"},
            "connection_config": {
                "token": {"title": "Token", "pattern": "[A-Z]+", "secret": true},
                "port": {"title": "Port", "type": "number", "secret": true, "optional": true},
                "team": {"title": "Team", "pattern": "[a-z]+", "optional": true}
            },
            "proxy": {"base_url": "https://vault.example.com"}
        }))
        .unwrap();
        // (case, config, expected message part, hidden value)
        let cases = [
            ("pattern", json!({"token": "topsecret-lowercase"}), "`token` value (not shown, because the field is secret) does not match", Some("topsecret-lowercase")),
            ("type", json!({"token": "ABC", "port": "secret-port"}), "`port` value (not shown, because the field is secret) of provider `vault` is invalid", Some("secret-port")),
            ("not secret", json!({"token": "ABC", "team": "Team-1"}), "`team` value `Team-1` does not match", None),
        ];
        for (case, given, expected, hidden) in cases {
            let error = validate(&provider, &config(given)).unwrap_err();
            assert!(
                error.message.contains(expected),
                "{case}: {}",
                error.message
            );
            if let Some(hidden) = hidden {
                assert!(!error.message.contains(hidden), "{case}: {}", error.message);
            }
        }
    }

    #[test]
    fn internal_host_is_rejected_before_storing() {
        for host in ["127.0.0.1", "2130706433", "10.0.0.8", "db.internal"] {
            let error = validate(
                &self_hosted_provider(false),
                &config(json!({"store_domain": host})),
            )
            .unwrap_err();
            assert_eq!(error.code, "invalid_connection_config", "host {host}");
            assert!(
                error.message.contains("store_domain"),
                "host {host}: {}",
                error.message
            );
        }
    }

    fn url_form_provider() -> Provider {
        serde_json::from_value(json!({
            "name": "adoxx",
            "display_name": "ADOxx",
            "auth": {"mode": "basic"},
            "connection_config": {
                "site": {"title": "Site", "format": "host_port_path"},
                "endpoint": {"title": "Endpoint", "format": "base_url", "optional": true}
            },
            "proxy": {"base_url": "https://{{ site }}/rest"}
        }))
        .unwrap()
    }

    #[test]
    fn url_form_values_are_checked_before_storing() {
        let cases = [
            (json!({"site": "acme.example.com:8000/ADOXX"}), None),
            (
                json!({"site": "acme.example.com", "endpoint": "https://scim.example.com/v2"}),
                None,
            ),
            (json!({"site": "localhost:8000/ADOXX"}), Some("site")),
            (json!({"site": "user@acme.example.com"}), Some("site")),
            (json!({"site": "acme.example.com/a/../b"}), Some("site")),
            (
                json!({"site": "acme.example.com", "endpoint": "http://scim.example.com"}),
                Some("endpoint"),
            ),
            (
                json!({"site": "acme.example.com", "endpoint": "https://10.0.0.8/v2"}),
                Some("endpoint"),
            ),
        ];
        for (given, rejected_key) in cases {
            let result = validate(&url_form_provider(), &config(given.clone()));
            match rejected_key {
                None => assert!(result.is_ok(), "{given}: {:?}", result.err()),
                Some(key) => {
                    let error = result.expect_err(&given.to_string());
                    assert_eq!(error.code, "invalid_connection_config", "{given}");
                    assert!(
                        error.message.contains(&format!("`{key}`")),
                        "{given}: {}",
                        error.message
                    );
                }
            }
        }
    }

    #[test]
    fn excluded_value_is_rejected_before_storing() {
        let provider: Provider = serde_json::from_value(json!({
            "name": "salesforce",
            "display_name": "Salesforce",
            "auth": {"mode": "basic"},
            "connection_config": {
                "hostname": {
                    "title": "Hostname",
                    "pattern": "[a-z0-9.]+",
                    "excluded_pattern": "(?:.*\\.)?lightning\\.force\\.com"
                }
            },
            "proxy": {"base_url": "https://{{ hostname }}"}
        }))
        .unwrap();
        let error = validate(
            &provider,
            &config(json!({"hostname": "acme.lightning.force.com"})),
        )
        .unwrap_err();
        assert_eq!(error.code, "invalid_connection_config");
        assert!(
            error.message.contains("excluded pattern"),
            "{}",
            error.message
        );
        let accepted = validate(
            &provider,
            &config(json!({"hostname": "acme.my.salesforce.com"})),
        );
        assert!(accepted.is_ok(), "{:?}", accepted.err());
    }

    #[test]
    fn public_host_passes_base_url_check() {
        let result = validate(
            &self_hosted_provider(false),
            &config(json!({"store_domain": "shop.example.com"})),
        );
        assert!(result.is_ok(), "{:?}", result.err());
    }

    #[test]
    fn base_url_check_waits_for_automated_fields() {
        let result = validate(
            &self_hosted_provider(true),
            &config(json!({"store_domain": "127.0.0.1"})),
        );
        assert!(result.is_ok(), "{:?}", result.err());
    }

    #[test]
    fn valid_config_gets_defaults() {
        let result = validate(&provider(), &config(json!({"subdomain": "acme"}))).unwrap();
        assert_eq!(result["subdomain"], "acme");
        assert_eq!(result["region"], "us");
        assert!(!result.contains_key("team"));
        assert!(!result.contains_key("instance_url"));
    }

    #[test]
    fn undeclared_key_is_rejected() {
        let input = config(json!({"subdomain": "acme", "evil": "<script>"}));
        let error = validate(&provider(), &input).unwrap_err();
        assert_eq!(error.code, "invalid_connection_config");
        assert!(error.message.contains("`evil`"), "{}", error.message);
        assert!(
            error
                .message
                .contains("`instance_url`, `region`, `subdomain`, `team`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn browser_limits() {
        let at_limit = "v".repeat(MAX_BROWSER_CONFIG_VALUE_BYTES);
        let mut merged = ConnectionConfig::new();
        let names: Vec<String> = (0..MAX_BROWSER_CONFIG_ENTRIES)
            .map(|i| format!("params[k{i}]"))
            .collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        assert!(merge_form_values(&mut merged, pairs.clone()).is_ok());
        assert!(check_browser_limits("params", &merged).is_ok());

        let mut too_many = pairs;
        too_many.push(("params[one_more]", "v"));
        let error = merge_form_values(&mut ConnectionConfig::new(), too_many).unwrap_err();
        assert_eq!(error.code, "invalid_connection_config");
        assert!(error.message.contains("at most 50"), "{}", error.message);

        let long = format!("{at_limit}v");
        assert!(merge_form_values(
            &mut ConnectionConfig::new(),
            [("params[a]", at_limit.as_str())]
        )
        .is_ok());
        let error = merge_form_values(&mut ConnectionConfig::new(), [("params[a]", long.as_str())])
            .unwrap_err();
        assert!(error.message.contains("`params[a]`"), "{}", error.message);
        assert!(error.message.contains("1024 bytes"), "{}", error.message);

        let error = check_browser_limits("params", &config(json!({"a": long}))).unwrap_err();
        assert!(error.message.contains("`params.a`"), "{}", error.message);
        merged.insert("extra".to_owned(), json!("v"));
        let error = check_browser_limits("connection_config", &merged).unwrap_err();
        assert!(
            error.message.contains("`connection_config`"),
            "{}",
            error.message
        );
        assert!(error.message.contains("51 entries"), "{}", error.message);
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
        merge_form_values(&mut merged, pairs).unwrap();
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
        )
        .unwrap();
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
