//! `/integrations`: a provider plus the client credentials of the app
//! registered with it.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use chrono::Utc;
use latchkey_catalog::{Auth, Provider};
use latchkey_engine::Secret;
use serde::Deserialize;
use serde_json::{json, Value};

use super::data;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::integration_config;
use crate::logging::record_integration;
use crate::records::{AppCredentials, AppCredentialsType, IntegrationRecord};
use crate::store::UpdateIntegration;
use crate::validate::{check_display_name, check_identifier};
use crate::AppState;

const MAX_UNIQUE_KEY_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
pub struct CreateIntegration {
    unique_key: String,
    provider: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    credentials: Option<AppCredentialsInput>,
    /// Values of the provider's fields marked `integration_default`.
    #[serde(default)]
    integration_config: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateIntegrationBody {
    #[serde(default)]
    unique_key: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    credentials: Option<AppCredentialsInput>,
    /// Replaces all the integration's values when present.
    #[serde(default)]
    integration_config: Option<serde_json::Map<String, Value>>,
}

/// Client credentials in Nango's wire format: `client_id` and
/// `client_secret` for OAuth types, `app_id`, `app_link` and `private_key`
/// for `APP`, and all five for `CUSTOM`. Each type's fields are checked in [`app_credentials`], so the
/// error names the missing field.
#[derive(Debug, Deserialize)]
pub struct AppCredentialsInput {
    #[serde(rename = "type")]
    kind: AppCredentialsType,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    app_link: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
}

/// Scopes as Nango sends them (one comma-separated string) or as an array.
#[derive(Debug)]
enum Scopes {
    Joined(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
        let must = "must be a comma-separated string or an array of strings";
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Scopes::Joined(text)),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(scope) => Ok(scope),
                    _ => Err(serde::de::Error::custom(must)),
                })
                .collect::<Result<_, _>>()
                .map(Scopes::List),
            _ => Err(serde::de::Error::custom(must)),
        }
    }
}

impl Scopes {
    fn into_vec(self) -> Vec<String> {
        let scopes = match self {
            Scopes::Joined(text) => text.split(',').map(str::to_owned).collect(),
            Scopes::List(list) => list,
        };
        scopes
            .into_iter()
            .map(|scope| scope.trim().to_owned())
            .filter(|scope| !scope.is_empty())
            .collect()
    }
}

pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateIntegration>,
) -> Result<Json<Value>, ApiError> {
    record_integration(&body.unique_key);
    check_unique_key(&body.unique_key)?;
    if let Some(display_name) = &body.display_name {
        check_display_name(display_name)?;
    }
    let provider = state.provider(&body.provider)?;
    let credentials = body
        .credentials
        .map(|input| app_credentials(provider, input))
        .transpose()?;
    let integration_config = body
        .integration_config
        .map(|input| integration_config::parse(provider, input))
        .transpose()?
        .unwrap_or_default();

    let now = Utc::now();
    let record = IntegrationRecord {
        unique_key: body.unique_key,
        provider: body.provider,
        display_name: body.display_name,
        credentials,
        integration_config,
        created_at: now,
        updated_at: now,
    };
    if !state.store.create_integration(&record).await? {
        return Err(ApiError::duplicate_integration(&record.unique_key));
    }
    tracing::info!(provider = %record.provider, "created integration");
    Ok(data(integration_json(&state, &record, false)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let integrations = state.store.list_integrations()?;
    let items = integrations
        .iter()
        .map(|record| integration_json(&state, record, false))
        .collect();
    Ok(data(Value::Array(items)))
}

pub async fn get(
    State(state): State<AppState>,
    Path(unique_key): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    record_integration(&unique_key);
    let record = load(&state, &unique_key)?;
    let include_credentials = includes_credentials(uri.query().unwrap_or(""));
    Ok(data(integration_json(&state, &record, include_credentials)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(unique_key): Path<String>,
    ApiJson(body): ApiJson<UpdateIntegrationBody>,
) -> Result<Json<Value>, ApiError> {
    record_integration(&unique_key);
    let mut record = load(&state, &unique_key)?;
    let provider = state.provider(&record.provider)?;

    if let Some(new_key) = body.unique_key {
        check_unique_key(&new_key)?;
        record.unique_key = new_key;
    }
    if let Some(display_name) = body.display_name {
        check_display_name(&display_name)?;
        record.display_name = Some(display_name);
    }
    if let Some(input) = body.credentials {
        record.credentials = Some(app_credentials(provider, input)?);
    }
    if let Some(input) = body.integration_config {
        record.integration_config = integration_config::parse(provider, input)?;
    }
    record.updated_at = Utc::now();

    match state.store.update_integration(&unique_key, &record).await? {
        UpdateIntegration::Updated => Ok(data(integration_json(&state, &record, false))),
        UpdateIntegration::NotFound => Err(ApiError::unknown_integration(&unique_key)),
        UpdateIntegration::Duplicate => Err(ApiError::duplicate_integration(&record.unique_key)),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(unique_key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_integration(&unique_key);
    if !state.store.delete_integration(&unique_key).await? {
        return Err(ApiError::unknown_integration(&unique_key));
    }
    tracing::info!("deleted integration and its connections");
    Ok(Json(json!({ "success": true })))
}

fn load(state: &AppState, unique_key: &str) -> Result<IntegrationRecord, ApiError> {
    state
        .store
        .get_integration(unique_key)?
        .ok_or_else(|| ApiError::unknown_integration(unique_key))
}

fn check_unique_key(unique_key: &str) -> Result<(), ApiError> {
    check_identifier("unique_key", unique_key, MAX_UNIQUE_KEY_CHARS)
}

/// Checks that the credential type fits the provider's auth mode.
fn app_credentials(
    provider: &Provider,
    input: AppCredentialsInput,
) -> Result<AppCredentials, ApiError> {
    // A missing field makes the body malformed whatever the provider, so
    // it is reported before the type is compared with the auth mode.
    let required: &[(&str, bool)] = match input.kind {
        AppCredentialsType::App => &[
            ("app_id", input.app_id.is_some()),
            ("app_link", input.app_link.is_some()),
            ("private_key", input.private_key.is_some()),
        ],
        AppCredentialsType::Custom => &[
            ("client_id", input.client_id.is_some()),
            ("client_secret", input.client_secret.is_some()),
            ("app_id", input.app_id.is_some()),
            ("app_link", input.app_link.is_some()),
            ("private_key", input.private_key.is_some()),
        ],
        _ => &[
            ("client_id", input.client_id.is_some()),
            ("client_secret", input.client_secret.is_some()),
        ],
    };
    if let Some((field, _)) = required.iter().find(|(_, present)| !present) {
        return Err(ApiError::invalid_body(format!(
            "missing field `credentials.{field}`: credentials of type `{}` need {}",
            input.kind.as_str(),
            required
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let expected = match provider.auth {
        Auth::Oauth2(_) => AppCredentialsType::OAuth2,
        Auth::Oauth2ClientCredentials(_) => AppCredentialsType::OAuth2ClientCredentials,
        Auth::McpOauth2(_) => AppCredentialsType::McpOAuth2,
        Auth::Oauth1(_) => AppCredentialsType::OAuth1,
        Auth::Tba(_) => AppCredentialsType::Tba,
        Auth::App(ref settings) if settings.user_token_url.is_some() => AppCredentialsType::Custom,
        Auth::App(_) => AppCredentialsType::App,
        Auth::ApiKey(_) | Auth::Basic(_) | Auth::TwoStep(_) | Auth::Session(_) | Auth::None(_) | Auth::Signature(_) | Auth::AwsSigv4(_) | Auth::Jwt(_) => {
            return Err(ApiError::invalid_credentials(format!(
                "provider `{}` uses {} auth, so its integrations take no client credentials: omit `credentials`",
                provider.name,
                provider.auth.mode_name()
            )))
        }
    };
    if input.kind != expected {
        return Err(ApiError::invalid_credentials(format!(
            "provider `{}` uses {} auth, so `credentials.type` must be `{}`, not `{}`",
            provider.name,
            provider.auth.mode_name(),
            expected.as_str(),
            input.kind.as_str()
        )));
    }
    if matches!(
        input.kind,
        AppCredentialsType::App | AppCredentialsType::Custom
    ) {
        return installable_app_credentials(input);
    }
    let client_id = input.client_id.unwrap_or_default();
    if client_id.trim().is_empty() {
        return Err(ApiError::invalid_credentials(
            "`credentials.client_id` must not be empty",
        ));
    }
    let client_secret = input.client_secret.unwrap_or_default();
    Ok(AppCredentials {
        kind: input.kind,
        client_id,
        client_secret: Secret::new(client_secret),
        scopes: input.scopes.map(Scopes::into_vec).unwrap_or_default(),
        app: None,
    })
}

/// Checks the keys of an `APP` integration, which has no client id or
/// secret, or of a `CUSTOM` one, which adds the app's OAuth client.
fn installable_app_credentials(input: AppCredentialsInput) -> Result<AppCredentials, ApiError> {
    let app = super::app::check_app_keys(input.app_id, input.app_link, input.private_key)?;
    let client_id = input.client_id.unwrap_or_default();
    if input.kind == AppCredentialsType::Custom && client_id.trim().is_empty() {
        return Err(ApiError::invalid_credentials(
            "`credentials.client_id` must not be empty",
        ));
    }
    Ok(AppCredentials {
        kind: input.kind,
        client_id,
        client_secret: Secret::new(input.client_secret.unwrap_or_default()),
        scopes: Vec::new(),
        app: Some(app),
    })
}

/// Checks whether `include=credentials` is among the query parameters. `include`
/// may repeat or hold a comma-separated list.
fn includes_credentials(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "include")
        .any(|(_, value)| value.split(',').any(|item| item.trim() == "credentials"))
}

fn integration_json(
    state: &AppState,
    record: &IntegrationRecord,
    include_credentials: bool,
) -> Value {
    let display_name = record.display_name.clone().or_else(|| {
        state
            .catalog
            .get(&record.provider)
            .map(|provider| provider.display_name.clone())
    });
    let mut value = json!({
        "unique_key": record.unique_key,
        "provider": record.provider,
        "display_name": display_name,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    });
    if !record.integration_config.is_empty() {
        let provider = state.catalog.get(&record.provider);
        value["integration_config"] =
            integration_config::to_json(provider, record, include_credentials);
    }
    if include_credentials {
        value["credentials"] = match &record.credentials {
            Some(credentials) if credentials.app.is_some() => {
                let app = credentials.app.as_ref();
                let mut value = json!({
                    "type": credentials.kind.as_str(),
                    "app_id": app.map(|app| app.app_id.as_str()),
                    "app_link": app.map(|app| app.app_link.as_str()),
                    "private_key": app.map(|app| app.private_key.expose()),
                });
                if credentials.kind == AppCredentialsType::Custom {
                    value["client_id"] = json!(credentials.client_id);
                    value["client_secret"] = json!(credentials.client_secret.expose());
                }
                value
            }
            Some(credentials) => json!({
                "type": credentials.kind.as_str(),
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret.expose(),
                "scopes": credentials.scopes.join(","),
            }),
            None => Value::Null,
        };
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_accept_both_forms() {
        let joined: Scopes = serde_json::from_value(json!("read, write,,admin")).unwrap();
        assert_eq!(joined.into_vec(), ["read", "write", "admin"]);
        let list: Scopes = serde_json::from_value(json!(["a", "b"])).unwrap();
        assert_eq!(list.into_vec(), ["a", "b"]);
        for invalid in [json!(5), json!(["a", 1]), json!({"a": "b"})] {
            let error = serde_json::from_value::<Scopes>(invalid).unwrap_err();
            assert!(error
                .to_string()
                .starts_with("must be a comma-separated string"));
        }
    }

    #[test]
    fn include_parameter_forms() {
        assert!(includes_credentials("include=credentials"));
        assert!(includes_credentials("include=webhook,credentials"));
        assert!(includes_credentials("include=webhook&include=credentials"));
        assert!(!includes_credentials("include=webhook"));
        assert!(!includes_credentials(""));
    }

    #[test]
    fn unique_key_rules() {
        assert!(check_unique_key("github-main_2.v1").is_ok());
        assert!(check_unique_key("").is_err());
        assert!(check_unique_key("has space").is_err());
        assert!(check_unique_key(&"a".repeat(65)).is_err());
        assert!(check_unique_key(&"a".repeat(64)).is_ok());
        assert!(check_unique_key("team@acme:prod+1").is_ok());
        assert!(check_unique_key("..").is_err());
    }
}
