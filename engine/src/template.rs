//! Rendering of the template fields of a provider definition.
//!
//! One shared minijinja environment contains the settings, the `base64`
//! and `sha256_hex` filters and the `now` function, and nothing else: every template is
//! compiled from its string on each call, so no state passes from one
//! provider to another.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use base64::Engine as _;
use latchkey_catalog::Provider;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

pub(crate) use crate::template_time::with_request_time;
use crate::template_time::REQUEST_TIME_VARIABLE;
use crate::url_template::render_url;
use crate::{ConnectionConfig, EngineError};

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.add_filter("base64", base64_filter);
        environment.add_filter("sha256_hex", sha256_hex_filter);
        environment.add_function("now", crate::template_time::now_function);
        environment
    })
}

/// Encodes a string with the standard base64 alphabet, with padding.
fn base64_filter(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// Writes the SHA-256 digest of a string's UTF-8 bytes as lowercase hex.
fn sha256_hex_filter(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Renders one template field of `provider` with `vars`.
///
/// Undefined variables are errors (minijinja's strict mode). The error names
/// the provider, the field (for example `proxy.base_url`) and each variable
/// the template uses that `vars` lacks.
pub fn render(
    provider: &str,
    field: &str,
    template: &str,
    vars: &Value,
) -> Result<String, EngineError> {
    let environment = environment();
    environment.render_str(template, vars).map_err(|err| {
        let message = match err.kind() {
            ErrorKind::UndefinedError => {
                describe_undefined(environment, template, vars).unwrap_or_else(|| err.to_string())
            }
            _ => err.to_string(),
        };
        EngineError::template(provider, field, message)
    })
}

/// Names the variables (or nested attributes such as `user.id`) that
/// `template` reads and `vars` lacks, with the variables that are defined.
fn describe_undefined(environment: &Environment, template: &str, vars: &Value) -> Option<String> {
    let compiled = environment.template_from_str(template).ok()?;
    let globals: HashSet<&str> = environment.globals().map(|(name, _)| name).collect();

    let mut missing: Vec<String> = compiled
        .undeclared_variables(true)
        .into_iter()
        .filter(|path| {
            let root = path.split('.').next().unwrap_or(path);
            !globals.contains(root) && !path_defined(vars, path)
        })
        .collect();
    if missing.is_empty() {
        return None;
    }
    missing.sort();

    let missing = quote_list(missing.iter().map(String::as_str));
    let names: Vec<&str> = vars
        .as_object()
        .into_iter()
        .flat_map(|object| object.keys().map(String::as_str))
        .filter(|name| *name != REQUEST_TIME_VARIABLE)
        .collect();
    let defined = if names.is_empty() {
        "no variables are defined".to_owned()
    } else {
        format!(
            "the defined variables are {}",
            quote_list(names.into_iter())
        )
    };
    Some(format!("undefined variable {missing} ({defined})"))
}

/// Checks whether the dotted `path` resolves to a value inside `vars`.
fn path_defined(vars: &Value, path: &str) -> bool {
    let mut current = vars;
    for segment in path.split('.') {
        match current.as_object().and_then(|object| object.get(segment)) {
            Some(next) => current = next,
            None => return false,
        }
    }
    true
}

fn quote_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the base URL with the connection config (and the defaults of the
/// provider's config fields), checks the values it uses, and parses it as
/// an http or https URL.
///
/// `proxy.base_url` is used when every variable it reads is set, else the
/// first of `proxy.base_url_fallbacks` that has all its variables. When
/// none has, the error is the one of `proxy.base_url`.
pub fn base_url(provider: &Provider, config: &ConnectionConfig) -> Result<Url, EngineError> {
    let vars = config_variables(provider, config);
    let proxy = &provider.proxy;
    render_url_with_fallbacks(
        provider,
        "proxy.base_url",
        &proxy.base_url,
        &proxy.base_url_fallbacks,
        &vars,
    )
}

/// Renders the URL template of `field`, or, when it reads a variable that
/// `vars` lacks, the first of `fallbacks` that has all its variables, as
/// [`render_url`] does. The field of fallback `i` is `{field}_fallbacks.{i}`.
/// When no template has all its variables, the error is the one of
/// `template`.
pub(crate) fn render_url_with_fallbacks(
    provider: &Provider,
    field: &str,
    template: &str,
    fallbacks: &[String],
    vars: &Value,
) -> Result<Url, EngineError> {
    if !fallbacks.is_empty() && !variables_set(template, vars) {
        let fallback = fallbacks
            .iter()
            .enumerate()
            .find(|(_, fallback)| variables_set(fallback, vars));
        if let Some((index, fallback)) = fallback {
            let fallback_field = format!("{field}_fallbacks.{index}");
            return render_url(provider, &fallback_field, fallback, vars);
        }
    }
    render_url(provider, field, template, vars)
}

/// Checks whether every variable `template` reads is defined in `vars`. A
/// template that does not compile counts as set, so that rendering reports
/// its syntax error.
fn variables_set(template: &str, vars: &Value) -> bool {
    let environment = environment();
    let Ok(compiled) = environment.template_from_str(template) else {
        return true;
    };
    let globals: HashSet<&str> = environment.globals().map(|(name, _)| name).collect();
    compiled.undeclared_variables(true).iter().all(|path| {
        let root = path.split('.').next().unwrap_or(path);
        globals.contains(root) || path_defined(vars, path)
    })
}

/// Checks whether `template` reads an optional connection-config field
/// that `vars` lacks, and nothing else that is missing. A static header or
/// query parameter built only from such a field is left out of a request
/// instead of failing it.
pub(crate) fn uses_unset_optional(provider: &Provider, template: &str, vars: &Value) -> bool {
    let environment = environment();
    let Ok(compiled) = environment.template_from_str(template) else {
        return false;
    };
    let globals: HashSet<&str> = environment.globals().map(|(name, _)| name).collect();
    let missing: Vec<String> = compiled
        .undeclared_variables(true)
        .into_iter()
        .filter(|path| {
            let root = path.split('.').next().unwrap_or(path);
            !globals.contains(root) && !path_defined(vars, path)
        })
        .collect();
    !missing.is_empty()
        && missing.iter().all(|path| {
            let root = path.split('.').next().unwrap_or(path);
            provider
                .connection_config
                .get(root)
                .is_some_and(|field| field.optional)
        })
}

/// Returns the dotted variable paths (such as `credentials.private_key`)
/// that `template` reads, or none when it does not compile.
pub(crate) fn variable_paths(template: &str) -> Vec<String> {
    let environment = environment();
    let Ok(compiled) = environment.template_from_str(template) else {
        return Vec::new();
    };
    let mut paths: Vec<String> = compiled.undeclared_variables(true).into_iter().collect();
    paths.sort();
    paths
}

/// Template variables from a connection config: the `default` of every
/// connection-config field the config lacks, then the config itself.
pub fn config_variables(provider: &Provider, config: &ConnectionConfig) -> Value {
    let mut variables = serde_json::Map::new();
    for (key, field) in &provider.connection_config {
        if let Some(default) = &field.default {
            variables.insert(key.clone(), Value::String(default.clone()));
        }
    }
    for (key, value) in config {
        variables.insert(key.clone(), value.clone());
    }
    Value::Object(variables)
}

/// Random bytes of the `random_token` variable: 128 bits, base64url-encoded
/// without padding into 22 characters.
const RANDOM_TOKEN_BYTES: u32 = 16;

/// Returns `vars` with `random_token` and `random_uuid` set to fresh random
/// values, for the templates of one outgoing request. Every template of that
/// request sees the same values.
pub(crate) fn with_random_token(vars: &Value) -> Value {
    let mut vars = vars.clone();
    if let Value::Object(object) = &mut vars {
        let token = oauth2::CsrfToken::new_random_len(RANDOM_TOKEN_BYTES).into_secret();
        object.insert("random_token".to_owned(), Value::String(token));
        object.insert("random_uuid".to_owned(), Value::String(random_uuid()));
    }
    vars
}

/// Returns a random (version 4) UUID in its 36-character text form of RFC
/// 9562: 122 random bits, lowercase hex in groups of 8-4-4-4-12.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Renders every value of a parameter map; the field of `key` is
/// `{field_prefix}.{key}`.
pub(crate) fn render_params(
    provider: &str,
    field_prefix: &str,
    params: &BTreeMap<String, String>,
    vars: &Value,
) -> Result<Vec<(String, String)>, EngineError> {
    params
        .iter()
        .map(|(key, template)| {
            let field = format!("{field_prefix}.{key}");
            let value = render(provider, &field, template, vars)?;
            Ok((key.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::provider_from_yaml;
    use serde_json::json;

    #[test]
    fn render_substitutes_and_encodes() {
        let vars = json!({"subdomain": "acme", "username": "AC1", "password": "p:w"});

        #[rustfmt::skip]
        let cases = [
            ("https://{{ subdomain }}.zendesk.com", "https://acme.zendesk.com"),
            ("{{ (username ~ ':' ~ password) | base64 }}", "QUMxOnA6dw=="),
            ("{{ 'a' | base64 }}", "YQ=="),
            ("{{ 'abc' | sha256_hex }}", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("{{ 'abc' | base64 | sha256_hex }}", "35d95694d3f160215db293c7899daa5907837838fb4b8119ed713e32446c1266"),
            ("static", "static"),
        ];

        for (template, expected) in cases {
            assert_eq!(
                render("p", "f", template, &vars).unwrap(),
                expected,
                "{template}"
            );
        }
    }

    #[test]
    fn random_uuid_is_version_4() {
        let first = random_uuid();
        let second = random_uuid();

        let groups: Vec<usize> = first.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{first}");
        assert!(
            first
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{first}"
        );
        assert_eq!(&first[14..15], "4", "version nibble of {first}");
        assert!("89ab".contains(&first[19..20]), "variant of {first}");
        assert_ne!(first, second);
    }

    #[test]
    fn template_errors_name_provider_field_variable() {
        let vars = json!({"shop": "acme", "user": {"id": 1}});

        // (template, substrings the message must contain)
        #[rustfmt::skip]
        let cases: [(&str, &[&str]); 4] = [
            ("https://{{ subdomain }}.zendesk.com", &["undefined variable `subdomain`", "`shop`, `user`"]),
            ("{{ region }}/{{ subdomain }}", &["undefined variable `region`, `subdomain`"]),
            ("{{ user.name }}", &["undefined variable `user.name`"]),
            ("{{ shop", &["syntax error"]),
        ];

        for (template, expected) in cases {
            let err = render("zendesk", "proxy.base_url", template, &vars).unwrap_err();
            let text = err.to_string();

            assert!(
                text.starts_with("provider `zendesk`, field `proxy.base_url`: "),
                "{text}"
            );
            for part in expected {
                assert!(text.contains(part), "{template}: {text}");
            }
        }
    }

    #[test]
    fn undefined_with_no_variables() {
        let err = render("p", "f", "{{ x }}", &json!({})).unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `p`, field `f`: undefined variable `x` (no variables are defined)"
        );
    }

    #[test]
    fn base_url_renders_config() {
        let provider = provider_from_yaml(
            r#"
name: shopify
display_name: Shopify
auth:
  mode: api_key
  inject: {name: X-Shopify-Access-Token, value: "{{ api_key }}"}
connection_config:
  shop: {title: Shop}
  version: {title: API version, default: "2024-10"}
proxy:
  base_url: https://{{ shop }}.myshopify.com/admin/api/{{ version }}
"#,
        );
        let mut config = ConnectionConfig::new();
        config.insert("shop".to_owned(), json!("acme"));

        let url = base_url(&provider, &config).unwrap();
        assert_eq!(url.as_str(), "https://acme.myshopify.com/admin/api/2024-10");

        config.insert("version".to_owned(), json!("2025-01"));
        let url = base_url(&provider, &config).unwrap();
        assert_eq!(url.as_str(), "https://acme.myshopify.com/admin/api/2025-01");
    }

    #[test]
    fn base_url_rejects_bad_urls() {
        // (base_url template, expected message part)
        let cases = [
            (
                "https://{{ shop }}.myshopify.com",
                "undefined variable `shop`",
            ),
            ("ftp://files.example", "scheme `ftp`"),
            ("not a url", "is not a valid URL"),
        ];

        for (template, expected) in cases {
            let provider = provider_from_yaml(&format!(
                "name: x\ndisplay_name: X\nauth: {{mode: basic}}\nproxy: {{base_url: '{template}'}}\n"
            ));

            let err = base_url(&provider, &ConnectionConfig::new()).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("provider `x`, field `proxy.base_url`"),
                "{text}"
            );
            assert!(text.contains(expected), "{template}: {text}");
        }
    }

    #[test]
    fn base_url_fallbacks_in_order() {
        let provider = provider_from_yaml(
            r#"
name: intercom
display_name: Intercom
auth: {mode: oauth2, authorization_url: "https://app.intercom.com/oauth", token_url: "https://api.intercom.io/auth/eagle/token"}
connection_config:
  region: {title: Region, optional: true, pattern: "eu|au"}
  workspace: {title: Workspace, optional: true, pattern: "[a-z0-9]+"}
proxy:
  base_url: https://api.{{ region }}.intercom.io/{{ workspace }}
  base_url_fallbacks:
    - https://api.{{ region }}.intercom.io
    - https://api.intercom.io
"#,
        );

        // (case, config, expected URL)
        #[rustfmt::skip]
        let cases = [
            ("all variables set", vec![("region", "eu"), ("workspace", "w1")], "https://api.eu.intercom.io/w1"),
            ("first fallback", vec![("region", "au")], "https://api.au.intercom.io/"),
            ("last fallback", vec![("workspace", "w1")], "https://api.intercom.io/"),
            ("nothing set", vec![], "https://api.intercom.io/"),
        ];

        for (case, pairs, expected) in cases {
            let config: ConnectionConfig = pairs
                .into_iter()
                .map(|(key, value)| (key.to_owned(), json!(value)))
                .collect();

            let url = base_url(&provider, &config).unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(url.as_str(), expected, "{case}");
        }
    }

    #[test]
    fn base_url_without_usable_fallback() {
        let provider = provider_from_yaml(
            r#"
name: regional
display_name: Regional
auth: {mode: basic}
connection_config:
  region: {title: Region, pattern: "[a-z]+"}
  tenant: {title: Tenant, pattern: "[a-z]+"}
proxy:
  base_url: https://{{ region }}.regional.example
  base_url_fallbacks: ["https://{{ tenant }}.regional.example"]
"#,
        );

        let err = base_url(&provider, &ConnectionConfig::new()).unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `regional`, field `proxy.base_url`: undefined variable `region` (no variables are defined)"
        );
    }
}
