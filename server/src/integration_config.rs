//! `integration_config` of an integration: values of the fields marked
//! `integration_default` (connection-config fields, and the entered fields
//! of `two_step`, `session` and `jwt`), set once per integration and taken
//! by every connection that gives none of its own. An `aws_sigv4` provider
//! with `assume_role` takes its STS settings here too (see
//! `assume_role.rs`).

use std::collections::BTreeMap;

use latchkey_catalog::{Auth, ConfigField, FieldType, Provider};
use latchkey_engine::ConnectionConfig;
use serde_json::Value;

use crate::connection_config;
use crate::error::ApiError;
use crate::records::IntegrationRecord;

/// Checks the `integration_config` of POST or PATCH /integrations and
/// returns its values as text. Each key must be a field with
/// `integration_default`, and each value must pass that field's checks.
pub fn parse(
    provider: &Provider,
    input: serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut values = BTreeMap::new();
    for (key, value) in input {
        let assume_role_field = crate::assume_role::integration_field(provider, &key);
        let Some(field) = default_field(provider, &key).or(assume_role_field.as_ref()) else {
            return Err(ApiError::invalid_body(format!(
                "provider `{}` takes no `integration_config.{}`: {}",
                provider.name,
                crate::validate::shown(&key),
                accepted_keys(provider)
            )));
        };
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) if field.field_type == FieldType::Number => number.to_string(),
            Value::Bool(flag) if field.field_type == FieldType::Boolean => flag.to_string(),
            other => {
                return Err(ApiError::invalid_body(format!(
                    "`integration_config.{key}` must be a string, got {other}"
                )))
            }
        };
        let jwt_field =
            matches!(&provider.auth, Auth::Jwt(jwt) if jwt.credentials.contains_key(&key));
        if jwt_field && text.len() > crate::routes::jwt::MAX_FIELD_BYTES {
            return Err(ApiError::invalid_body(format!(
                "`integration_config.{key}` is {} bytes long, but may be at most {} bytes",
                text.len(),
                crate::routes::jwt::MAX_FIELD_BYTES
            )));
        }
        if jwt_field {
            // A private key that every connection signs with is checked
            // now, not at the first connection.
            latchkey_engine::check_signing_key_field(provider, &key, &text).map_err(|error| {
                // The engine names the entered field; here the value came
                // from `integration_config`.
                let message = error.to_string().replacen(
                    &format!("field `credentials.{key}`"),
                    "the value",
                    1,
                );
                ApiError::invalid_body(format!("`integration_config.{key}` is invalid: {message}"))
            })?;
        }
        crate::assume_role::check_sts_mode(&key, &text)?;
        connection_config::check_value(provider, &key, field, &text).map_err(|error| {
            ApiError::invalid_body(format!(
                "`integration_config.{key}` is invalid: {}",
                error.message
            ))
        })?;
        values.insert(key, text);
    }
    // A value that names a credential header or query parameter is checked
    // now, as a connection's would be, not at the first connection.
    let config: ConnectionConfig = values
        .iter()
        .filter(|(key, _)| provider.connection_config.contains_key(*key))
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    latchkey_engine::check_place_names(provider, &config).map_err(|error| {
        ApiError::invalid_body(format!("`integration_config` is invalid: {error}"))
    })?;
    Ok(values)
}

/// Returns the entered fields of a `two_step`, `session` or `jwt`
/// provider, and `None` for the other modes.
fn entered_fields(provider: &Provider) -> Option<&BTreeMap<String, ConfigField>> {
    match &provider.auth {
        Auth::TwoStep(two_step) | Auth::Session(two_step) => Some(&two_step.credentials),
        Auth::Jwt(jwt) => Some(&jwt.credentials),
        _ => None,
    }
}

/// Returns the field of `key` when it takes an integration value.
fn default_field<'a>(provider: &'a Provider, key: &str) -> Option<&'a ConfigField> {
    provider
        .connection_config
        .get(key)
        .or_else(|| entered_fields(provider)?.get(key))
        .filter(|field| field.integration_default)
}

/// Lists the keys that `integration_config` takes, for an error message.
fn accepted_keys(provider: &Provider) -> String {
    let mut keys: Vec<String> = provider
        .connection_config
        .iter()
        .chain(entered_fields(provider).into_iter().flatten())
        .filter(|(_, field)| field.integration_default)
        .map(|(key, _)| format!("`{key}`"))
        .collect();
    let assume_role_keys = crate::assume_role::integration_keys(provider);
    keys.extend(assume_role_keys.iter().map(|key| format!("`{key}`")));
    keys.sort();
    if keys.is_empty() {
        "it takes none, so leave `integration_config` out".to_owned()
    } else {
        format!("it takes {}", keys.join(", "))
    }
}

/// Returns `given` with the integration's connection-config values added
/// for the keys that `given` lacks, sets to null or leaves empty. The result still goes
/// through [`connection_config::validate`].
pub fn with_defaults(
    provider: &Provider,
    integration: &IntegrationRecord,
    given: &ConnectionConfig,
) -> ConnectionConfig {
    let mut config = given.clone();
    let values = integration
        .integration_config
        .iter()
        .filter(|(key, _)| provider.connection_config.contains_key(*key));
    for (key, value) in values {
        if is_unset(config.get(key)) {
            config.insert(key.clone(), Value::String(value.clone()));
        }
    }
    crate::assume_role::add_default_region(provider, integration, &mut config);
    config
}

/// Returns whether a connection gives no value: the key is absent, null or
/// an empty string, as an HTML form sends a field left blank.
fn is_unset(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(_) => false,
    }
}

/// Builds the connection config of values that a browser sent: the
/// connect page, or a front end with a connect session. A value for a key
/// that is not the end user's to choose is rejected. Such a key is a field
/// whose value the integration sets, or an `automated` field, which
/// Latchkey fills itself. `entered` contains the browser's entered
/// credential fields. The integration's values then fill the gaps, and the
/// result is validated. The application, with the secret key, may still
/// set those keys through `POST /connections`.
pub fn browser_connection_config<'a>(
    provider: &Provider,
    integration: &IntegrationRecord,
    config: &ConnectionConfig,
    entered: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> Result<ConnectionConfig, ApiError> {
    let fixed = |key: &str, field: &ConfigField| {
        if field.integration_default && integration.integration_config.contains_key(key) {
            Some("the integration sets it")
        } else if field.automated {
            Some("Latchkey fills it itself")
        } else {
            None
        }
    };
    let connection_fields = config.iter().filter_map(|(key, value)| {
        let field = provider.connection_config.get(key)?;
        Some((key, value, field, "connection-config key"))
    });
    let entered_fields = entered.into_iter().filter_map(|(key, value)| {
        let field = entered_fields(provider)?.get(key)?;
        Some((key, value, field, "credential field"))
    });
    for (key, value, field, section) in connection_fields.chain(entered_fields) {
        if is_unset(Some(value)) {
            continue;
        }
        if let Some(reason) = fixed(key, field) {
            let message =
                format!("{section} `{key}` is not for the end user to set: {reason}; leave it out");
            return Err(if section == "credential field" {
                ApiError::invalid_credentials(message)
            } else {
                ApiError::invalid_connection_config(message)
            });
        }
    }
    connection_config::validate(provider, &with_defaults(provider, integration, config))
}

/// Adds the integration's values of entered fields to `given`, the fields
/// that a `two_step`, `session` or `jwt` connection brings, for the keys
/// that `given` lacks, sets to null or leaves empty. The result still goes
/// through [`crate::two_step::entered_fields`] or the `jwt` checks.
pub fn add_entered_defaults(
    provider: &Provider,
    integration: &IntegrationRecord,
    given: &mut serde_json::Map<String, Value>,
) {
    let Some(fields) = entered_fields(provider) else {
        return;
    };
    let values = integration
        .integration_config
        .iter()
        .filter(|(key, _)| fields.contains_key(*key));
    for (key, value) in values {
        if is_unset(given.get(key)) {
            given.insert(key.clone(), Value::String(value.clone()));
        }
    }
}

/// Renders the integration's values for a reply. A secret value appears
/// only when the caller asked for credentials.
pub fn to_json(
    provider: Option<&Provider>,
    integration: &IntegrationRecord,
    include_secrets: bool,
) -> Value {
    let visible = integration.integration_config.iter().filter(|(key, _)| {
        let secret = provider
            .and_then(|provider| {
                let field = default_field(provider, key).cloned();
                field.or_else(|| crate::assume_role::integration_field(provider, key))
            })
            .is_none_or(|field| field.secret);
        include_secrets || !secret
    });
    Value::Object(
        visible
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::json;
    use tower::ServiceExt;

    use super::*;

    const SECRET: &str = "Bearer test-secret";

    fn provider() -> Provider {
        serde_json::from_value(json!({
            "name": "defaults-example",
            "display_name": "Defaults example",
            "auth": {"mode": "api_key", "inject": {"name": "X-Key", "value": "{{ api_key }}"}},
            "connection_config": {
                "workspace": {"title": "Workspace", "pattern": "[a-z]+", "integration_default": true},
                "team": {"title": "Team", "optional": true, "secret": true, "integration_default": true},
                "region": {"title": "Region", "optional": true},
            },
            "proxy": {"base_url": "http://127.0.0.1:9/{{ workspace }}"},
        }))
        .unwrap()
    }

    async fn send(
        router: &axum::Router,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", SECRET)
            .header("accept", "application/json");
        let body = match body {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let response = router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn router(dir: &tempfile::TempDir) -> axum::Router {
        let state =
            crate::test_support::state(dir.path(), vec![provider()], "http://127.0.0.1:3003");
        crate::routes::router(state)
    }

    fn api_key_connection(key: &str, id: &str, config: Value) -> Value {
        json!({
            "provider_config_key": key,
            "connection_id": id,
            "connection_config": config,
            "credentials": {"type": "API_KEY", "api_key": "k-1"},
        })
    }

    #[tokio::test]
    async fn connection_takes_integration_value() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(&dir);
        let body = json!({
            "unique_key": "with-defaults",
            "provider": "defaults-example",
            "integration_config": {"workspace": "acme", "team": "blue"},
        });
        let (status, created) = send(&router, "POST", "/integrations", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{created}");

        let (status, listed) = send(&router, "GET", "/integrations/with-defaults", None).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(
            listed["data"]["integration_config"],
            json!({"workspace": "acme"})
        );
        let (_, with_secrets) = send(
            &router,
            "GET",
            "/integrations/with-defaults?include=credentials",
            None,
        )
        .await;
        assert_eq!(
            with_secrets["data"]["integration_config"],
            json!({"workspace": "acme", "team": "blue"})
        );

        let cases = [
            (
                "no own values",
                json!({}),
                json!({"workspace": "acme", "team": "blue"}),
            ),
            (
                "own workspace",
                json!({"workspace": "beta"}),
                json!({"workspace": "beta", "team": "blue"}),
            ),
            (
                "null workspace",
                json!({"workspace": null}),
                json!({"workspace": "acme", "team": "blue"}),
            ),
        ];
        for (index, (case, given, expected)) in cases.into_iter().enumerate() {
            let id = format!("c{index}");
            let (status, reply) = send(
                &router,
                "POST",
                "/connections",
                Some(api_key_connection("with-defaults", &id, given)),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{case}: {reply}");
            let (_, stored) = send(
                &router,
                "GET",
                &format!("/connections/{id}?provider_config_key=with-defaults"),
                None,
            )
            .await;
            assert_eq!(stored["connection_config"], expected, "{case}");
        }
    }

    #[tokio::test]
    async fn without_integration_value_field_required() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(&dir);
        let body = json!({"unique_key": "plain", "provider": "defaults-example"});
        let (status, created) = send(&router, "POST", "/integrations", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{created}");

        let (status, reply) = send(
            &router,
            "POST",
            "/connections",
            Some(api_key_connection("plain", "c1", json!({}))),
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert_eq!(reply["error"]["code"], "invalid_connection_config");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("missing connection config field `workspace`"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn invalid_integration_values_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(&dir);
        let cases = [
            (
                "field without integration_default",
                json!({"region": "eu"}),
                "provider `defaults-example` takes no `integration_config.region`: it takes `team`, `workspace`",
            ),
            (
                "undeclared key",
                json!({"tenant": "x"}),
                "takes no `integration_config.tenant`",
            ),
            (
                "value against the pattern",
                json!({"workspace": "ACME"}),
                "`integration_config.workspace` is invalid",
            ),
            (
                "value not a string",
                json!({"workspace": ["acme"]}),
                "`integration_config.workspace` must be a string",
            ),
        ];
        for (index, (case, config, expected)) in cases.into_iter().enumerate() {
            let key = format!("bad-{index}");
            let body = json!({"unique_key": key, "provider": "defaults-example", "integration_config": config});

            let (status, reply) = send(&router, "POST", "/integrations", Some(body)).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid_body", "{case}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.contains(expected), "{case}: {message}");
            let (status, _) = send(&router, "GET", &format!("/integrations/{key}"), None).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{case}: the integration was stored"
            );
        }
    }

    #[test]
    fn entered_defaults_fill_missing_fields() {
        let provider: Provider = serde_json::from_value(json!({
            "name": "sign-in-example",
            "display_name": "Sign-in example",
            "auth": {
                "mode": "two_step",
                "credentials": {
                    "user": {"title": "User"},
                    "license": {"title": "License", "secret": true, "integration_default": true},
                },
                "token_request": {"url": "https://api.example.com/login", "params": {"user": "{{ user }}"}},
                "token_response": {"access_token": "token"},
            },
            "proxy": {"base_url": "https://api.example.com"},
        }))
        .unwrap();
        let values = parse(
            &provider,
            json!({"license": "L-1"}).as_object().unwrap().clone(),
        )
        .unwrap();
        let integration = IntegrationRecord {
            unique_key: "k".to_owned(),
            provider: provider.name.clone(),
            display_name: None,
            credentials: None,
            integration_config: values,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let cases = [
            ("absent", json!({"user": "ada"}), json!("L-1")),
            ("empty", json!({"user": "ada", "license": ""}), json!("L-1")),
            (
                "null",
                json!({"user": "ada", "license": null}),
                json!("L-1"),
            ),
            (
                "own value",
                json!({"user": "ada", "license": "L-2"}),
                json!("L-2"),
            ),
        ];
        for (case, given, expected) in cases {
            let mut fields = given.as_object().unwrap().clone();

            add_entered_defaults(&provider, &integration, &mut fields);

            assert_eq!(fields["license"], expected, "{case}");
            assert_eq!(fields["user"], "ada", "{case}");
        }
        assert_eq!(to_json(Some(&provider), &integration, false), json!({}));
        assert_eq!(
            to_json(Some(&provider), &integration, true),
            json!({"license": "L-1"})
        );
        let config = with_defaults(&provider, &integration, &ConnectionConfig::new());
        assert!(
            config.is_empty(),
            "an entered field went into the config: {config:?}"
        );
    }

    #[test]
    fn connect_form_leaves_out_integration_values() {
        let provider = provider();
        let values = BTreeMap::from([("workspace".to_owned(), "acme".to_owned())]);

        let with_value =
            crate::pages::ConnectForm::new("k", "Example", &provider, &values).unwrap();
        let without_value =
            crate::pages::ConnectForm::new("k", "Example", &provider, &BTreeMap::new()).unwrap();

        let names = |form: &crate::pages::ConnectForm<'_>| -> Vec<String> {
            form.fields
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect()
        };
        assert_eq!(names(&with_value), ["region", "team"]);
        assert_eq!(names(&without_value), ["region", "team", "workspace"]);
    }

    #[tokio::test]
    async fn patch_replaces_integration_values() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(&dir);
        let body = json!({
            "unique_key": "patched",
            "provider": "defaults-example",
            "integration_config": {"workspace": "acme"},
        });
        let (status, created) = send(&router, "POST", "/integrations", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{created}");

        let rejected = json!({"integration_config": {"workspace": "ACME"}});
        let (status, reply) = send(&router, "PATCH", "/integrations/patched", Some(rejected)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        let (_, unchanged) = send(&router, "GET", "/integrations/patched", None).await;
        assert_eq!(
            unchanged["data"]["integration_config"],
            json!({"workspace": "acme"})
        );

        let replaced = json!({"integration_config": {"workspace": "zeta"}});
        let (status, reply) = send(&router, "PATCH", "/integrations/patched", Some(replaced)).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let (status, reply) = send(
            &router,
            "POST",
            "/connections",
            Some(api_key_connection("patched", "c1", json!({}))),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        assert_eq!(reply["connection_config"]["workspace"], "zeta");
    }
}
