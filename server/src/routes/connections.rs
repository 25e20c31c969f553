//! `/connections`: import, list, read (refreshed when due) and delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use latchkey_catalog::{
    ApiKey as ApiKeySettings, AppToken, Auth, Basic as BasicSettings, Provider,
};
use latchkey_engine::{ConnectionConfig, Credentials, EngineError, OAuth2Token, Secret};
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::app::{app_credentials_json, check_installation_id, first_installation_token};
use super::jwt::{jwt_credentials, jwt_credentials_json};
use super::oauth1::{oauth1_credentials, required_credential, tba_credentials};
use super::parse_flag;
use super::signing_credentials::{
    aws_sigv4_credentials, signature_credentials, AwsSigV4Input, SignatureInput,
};
use crate::connection_config;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::logging::record_connection;
use crate::records::{ConnectionRecord, EndUser, IntegrationRecord};
use crate::refresh::{fresh_connection, missing_connection};
use crate::store::CreateConnection;
use crate::two_step;
use crate::validate::{
    check_basic_username, check_credential_size, check_end_user, check_header_credential,
    check_identifier,
};
use crate::AppState;

const MAX_CONNECTION_ID_CHARS: usize = 255;

#[derive(Debug, Deserialize)]
pub struct ImportConnection {
    provider_config_key: String,
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    end_user: Option<EndUser>,
    #[serde(default)]
    connection_config: Option<ConnectionConfig>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
    /// Required except for a provider of the `none` mode.
    #[serde(default)]
    credentials: Option<ImportCredentials>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum ImportCredentials {
    #[serde(rename = "OAUTH2")]
    OAuth2 {
        access_token: String,
        #[serde(default)]
        refresh_token: Option<String>,
        #[serde(default)]
        expires_at: Option<Value>,
        #[serde(default)]
        expires_in: Option<Value>,
        #[serde(default)]
        raw: Option<Value>,
    },
    /// `client_certificate` and `client_private_key` are the PEM TLS
    /// client identity of a provider with `require_client_certificate`.
    #[serde(rename = "OAUTH2_CC")]
    ClientCredentials {
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        client_secret: Option<String>,
        #[serde(default)]
        client_certificate: Option<String>,
        #[serde(default)]
        client_private_key: Option<String>,
    },
    /// Nango's own name of the key is `apiKey`, which errors use;
    /// `api_key` is accepted too.
    #[serde(rename = "API_KEY")]
    ApiKey {
        #[serde(rename = "apiKey", alias = "api_key")]
        api_key: String,
        #[serde(flatten)]
        unknown: serde_json::Map<String, Value>,
    },
    /// A half that the provider fixes may be left out.
    #[serde(rename = "BASIC")]
    Basic {
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(flatten)]
        unknown: serde_json::Map<String, Value>,
    },
    /// The values the end user would enter, as top-level keys.
    #[serde(rename = "TWO_STEP")]
    TwoStep {
        #[serde(flatten)]
        fields: serde_json::Map<String, Value>,
    },
    /// The login values of a `session` provider, as top-level keys.
    #[serde(rename = "BILL")]
    Session {
        #[serde(flatten)]
        fields: serde_json::Map<String, Value>,
    },
    /// `unknown` collects fields these modes do not take, which are
    /// rejected rather than dropped.
    #[serde(rename = "NONE")]
    None {
        #[serde(flatten)]
        unknown: serde_json::Map<String, Value>,
    },
    #[serde(rename = "SIGNATURE")]
    Signature {
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(flatten)]
        unknown: serde_json::Map<String, Value>,
    },
    #[serde(rename = "AWS_SIGV4")]
    AwsSigV4 {
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Option<String>,
        #[serde(default)]
        session_token: Option<String>,
        /// The role whose keys STS returns, for a provider with
        /// `assume_role`.
        #[serde(default)]
        role_arn: Option<String>,
        #[serde(flatten)]
        unknown: serde_json::Map<String, Value>,
    },
    /// The values of the definition's `credentials` under their own keys,
    /// as Nango's JWT credentials carry them.
    #[serde(rename = "JWT")]
    Jwt {
        #[serde(flatten)]
        fields: BTreeMap<String, Value>,
    },
    /// Fields are checked by hand for the same reason as `expires_at`.
    #[serde(rename = "OAUTH1")]
    OAuth1 {
        #[serde(default)]
        oauth_token: Option<String>,
        #[serde(default)]
        oauth_token_secret: Option<String>,
    },
    #[serde(rename = "TBA")]
    Tba {
        #[serde(default)]
        token_id: Option<String>,
        #[serde(default)]
        token_secret: Option<String>,
    },
    /// An installation of the integration's app. Latchkey obtains the
    /// installation token itself. Nango's import body also carries
    /// `app_id`, which is ignored here because the integration stores it.
    #[serde(rename = "APP")]
    App {
        #[serde(default)]
        installation_id: Option<String>,
    },
}

/// Reads `credentials.expires_at`. It is checked here rather than by serde,
/// because serde reports errors inside the internally tagged
/// `credentials` object without the field name.
fn expires_at_field(value: Option<Value>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let invalid = || {
        ApiError::invalid_body(
            "field `credentials.expires_at` must be an RFC 3339 date-time such as 2026-12-03T10:00:00Z",
        )
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
            .map(|time| Some(time.with_timezone(&Utc)))
            .map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// Reads `credentials.expires_in`, a number of seconds, checked here for the
/// same reason as [`expires_at_field`].
fn expires_in_field(value: Option<Value>) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.as_i64().is_some() => Ok(number.as_i64()),
        Some(_) => Err(ApiError::invalid_body(
            "field `credentials.expires_in` must be an integer number of seconds, such as 3600",
        )),
    }
}

impl ImportCredentials {
    fn type_name(&self) -> &'static str {
        match self {
            ImportCredentials::OAuth2 { .. } => "OAUTH2",
            ImportCredentials::ClientCredentials { .. } => "OAUTH2_CC",
            ImportCredentials::ApiKey { .. } => "API_KEY",
            ImportCredentials::Basic { .. } => "BASIC",
            ImportCredentials::TwoStep { .. } => "TWO_STEP",
            ImportCredentials::Session { .. } => "BILL",
            ImportCredentials::None { .. } => "NONE",
            ImportCredentials::Signature { .. } => "SIGNATURE",
            ImportCredentials::AwsSigV4 { .. } => "AWS_SIGV4",
            ImportCredentials::Jwt { .. } => "JWT",
            ImportCredentials::OAuth1 { .. } => "OAUTH1",
            ImportCredentials::Tba { .. } => "TBA",
            ImportCredentials::App { .. } => "APP",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default, rename = "endUserId")]
    end_user_id: Option<String>,
    #[serde(default, rename = "connectionId")]
    connection_id: Option<String>,
    #[serde(default, rename = "integrationId")]
    integration_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ConnectionQuery {
    #[serde(default)]
    provider_config_key: Option<String>,
    #[serde(default)]
    force_refresh: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ImportConnection>,
) -> Result<Response, ApiError> {
    let connection_id = match body.connection_id {
        Some(id) => {
            check_identifier("connection_id", &id, MAX_CONNECTION_ID_CHARS)?;
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    if let Some(end_user) = &body.end_user {
        check_end_user("end_user", end_user)?;
    }
    record_connection(&body.provider_config_key, &connection_id);
    let integration = state
        .store
        .get_integration(&body.provider_config_key)?
        .ok_or_else(|| ApiError::unknown_integration(&body.provider_config_key))?;
    // A taken id is refused before any login or token request goes out: a
    // provider that ends its earlier session on a new login would otherwise
    // break the stored connection. The insert checks again, in one
    // transaction, for a create that races this one.
    if state
        .store
        .get_connection(&body.provider_config_key, &connection_id)?
        .is_some()
    {
        return Err(ApiError::duplicate_connection(
            &body.provider_config_key,
            &connection_id,
        ));
    }
    let provider = state.provider(&integration.provider)?;
    let input_config = body.connection_config.unwrap_or_default();
    let input_config =
        crate::integration_config::with_defaults(provider, &integration, &input_config);
    let mut config = connection_config::validate(provider, &input_config)?;

    let input_credentials = match (body.credentials, &provider.auth) {
        (Some(credentials), _) => credentials,
        (None, Auth::None(_)) => ImportCredentials::None {
            unknown: serde_json::Map::new(),
        },
        (None, _) => return Err(ApiError::invalid_body("missing field `credentials`")),
    };
    let credentials = import_credentials(
        &state,
        provider,
        &integration,
        input_credentials,
        &mut config,
        &connection_id,
    )
    .await?;
    let integration_record = integration.clone();
    let mut record = new_connection(&state, integration, connection_id, config, credentials)?;
    record.metadata = body.metadata.unwrap_or_default();
    record.end_user = body.end_user;
    crate::post_connection::apply(&state, provider, &integration_record, &mut record).await?;

    insert_connection(&state, &record).await?;
    tracing::info!(
        kind = credential_type(&record.credentials),
        "imported connection"
    );
    Ok((StatusCode::CREATED, Json(connection_json(&record))).into_response())
}

/// Builds a connection record, not stored yet, with a fresh numeric id, no
/// metadata, no end user and no errors.
pub(super) fn new_connection(
    state: &AppState,
    integration: IntegrationRecord,
    connection_id: String,
    connection_config: ConnectionConfig,
    credentials: Credentials,
) -> Result<ConnectionRecord, ApiError> {
    let now = Utc::now();
    Ok(ConnectionRecord {
        id: state.store.next_id()?,
        connection_id,
        provider_config_key: integration.unique_key,
        provider: integration.provider,
        created_at: now,
        updated_at: now,
        metadata: serde_json::Map::new(),
        connection_config,
        credentials,
        end_user: None,
        errors: Vec::new(),
    })
}

/// Stores a new connection in one store transaction, which also checks
/// that its integration still exists and that the id is not taken.
pub(super) async fn insert_connection(
    state: &AppState,
    record: &ConnectionRecord,
) -> Result<(), ApiError> {
    let outcome = state.store.create_connection(record).await?;
    connection_outcome(outcome, record)
}

/// Turns the outcome of a connection insert into the handler's result.
pub(super) fn connection_outcome(
    outcome: CreateConnection,
    record: &ConnectionRecord,
) -> Result<(), ApiError> {
    match outcome {
        CreateConnection::Created => Ok(()),
        CreateConnection::Duplicate => Err(ApiError::duplicate_connection(
            &record.provider_config_key,
            &record.connection_id,
        )),
        CreateConnection::UnknownIntegration | CreateConnection::StateGone => {
            Err(ApiError::unknown_integration(&record.provider_config_key))
        }
        CreateConnection::SessionUsed => {
            Err(ApiError::connect_session_used(&record.provider_config_key))
        }
    }
}

/// Turns imported credentials into stored ones, checking that their type
/// fits the provider. `OAUTH2_CC` runs the client-credentials grant now.
async fn import_credentials(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    input: ImportCredentials,
    config: &mut ConnectionConfig,
    connection_id: &str,
) -> Result<Credentials, ApiError> {
    let mismatch = |input: &ImportCredentials, expected: &str| {
        ApiError::invalid_credentials(format!(
            "provider `{}` uses {} auth, so `credentials.type` must be `{expected}`, not `{}`",
            provider.name,
            provider.auth.mode_name(),
            input.type_name()
        ))
    };
    match (&provider.auth, input) {
        (
            Auth::Oauth2(_),
            ImportCredentials::OAuth2 {
                access_token,
                refresh_token,
                expires_at,
                expires_in,
                raw,
            },
        ) => {
            if access_token.is_empty() {
                return Err(ApiError::invalid_credentials(
                    "`credentials.access_token` is empty; send the access token the provider issued",
                ));
            }
            check_header_credential("credentials.access_token", &access_token)?;
            let now = Utc::now();
            let expires_in = expires_in_field(expires_in)?;
            let expires_at = match expires_at_field(expires_at)? {
                Some(time) => Some(time),
                None => expires_in
                    .map(|seconds| {
                        chrono::TimeDelta::try_seconds(seconds)
                            .and_then(|lifetime| now.checked_add_signed(lifetime))
                            .ok_or_else(|| {
                                ApiError::invalid_body(format!(
                                    "field `credentials.expires_in` is {seconds} seconds, which is out of range; \
                                     pass the token's lifetime in seconds, such as 3600"
                                ))
                            })
                    })
                    .transpose()?,
            };
            Ok(Credentials::OAuth2(OAuth2Token {
                access_token: Secret::new(access_token),
                refresh_token: refresh_token.map(Secret::new),
                expires_at,
                obtained_at: now,
                raw: raw.unwrap_or_else(|| json!({})),
            }))
        }
        (
            Auth::Oauth2ClientCredentials(settings),
            ImportCredentials::ClientCredentials {
                client_id,
                client_secret,
                client_certificate,
                client_private_key,
            },
        ) => {
            let client_identity = super::client_certificate::entered_identity(
                provider,
                settings,
                client_certificate,
                client_private_key,
            )?;
            let app = integration.credentials.as_ref();
            let client_id = client_id.or_else(|| app.map(|c| c.client_id.clone()));
            let client_secret = client_secret
                .map(Secret::new)
                .or_else(|| app.map(|c| c.client_secret.clone()));
            let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
                return Err(ApiError::invalid_credentials(format!(
                    "no client credentials for the grant: pass `credentials.client_id` and `credentials.client_secret`, \
                     or give integration `{}` credentials",
                    integration.unique_key
                )));
            };
            let scopes = app.map(|c| c.scopes.clone()).unwrap_or_default();
            let grant = state
                .engine
                .client_credentials_with_identity(
                    provider,
                    &client_id,
                    &client_secret,
                    &scopes,
                    config,
                    client_identity.as_ref(),
                )
                .await
                .map_err(|error| {
                    tracing::warn!(error = %error, "client-credentials grant failed");
                    match error {
                        // A value of the connection that the grant needs
                        // is empty, which the caller fixes.
                        EngineError::MissingCredential(_) => {
                            ApiError::invalid_credentials(error.to_string())
                        }
                        _ => ApiError::oauth_exchange(&error, &integration.unique_key),
                    }
                })?;
            config.extend(grant.connection_config);
            Ok(Credentials::ClientCredentials {
                token: grant.token,
                client_id,
                client_secret,
                client_identity,
            })
        }
        (Auth::ApiKey(settings), ImportCredentials::ApiKey { api_key, unknown }) => {
            reject_unknown("API_KEY", &["apiKey"], &unknown)?;
            api_key_credentials(provider, settings, "credentials.apiKey", api_key)
        }
        (
            Auth::Basic(settings),
            ImportCredentials::Basic {
                username,
                password,
                unknown,
            },
        ) => {
            reject_unknown("BASIC", &["username", "password"], &unknown)?;
            let username = basic_half(provider, settings, "credentials.", "username", username)?;
            let password = basic_half(provider, settings, "credentials.", "password", password)?;
            // A missing half is a malformed body, like any other missing field
            // of `credentials`, so the code is `invalid_body`.
            let missing = |half: &str| {
                ApiError::invalid_body(format!(
                    "missing field `credentials.{half}`: provider `{}` requires a value",
                    provider.name
                ))
            };
            let username = username.ok_or_else(|| missing("username"))?;
            let password = password.ok_or_else(|| missing("password"))?;
            basic_credentials("credentials.", username, password)
        }
        (Auth::TwoStep(settings), ImportCredentials::TwoStep { mut fields })
        | (Auth::Session(settings), ImportCredentials::Session { mut fields }) => {
            crate::integration_config::add_entered_defaults(provider, integration, &mut fields);
            let fields = two_step::entered_fields(provider, settings, "credentials.", fields)?;
            two_step::obtain_credentials(state, provider, &integration.unique_key, fields, config)
                .await
        }
        (Auth::None(_), ImportCredentials::None { unknown }) => {
            reject_unknown("NONE", &[], &unknown)?;
            Ok(Credentials::None {})
        }
        (Auth::Oauth2(_), input) => Err(mismatch(&input, "OAUTH2")),
        (Auth::Oauth2ClientCredentials(_), input) => Err(mismatch(&input, "OAUTH2_CC")),
        (Auth::ApiKey(_), input) => Err(mismatch(&input, "API_KEY")),
        (Auth::Basic(_), input) => Err(mismatch(&input, "BASIC")),
        (Auth::TwoStep(_), input) => Err(mismatch(&input, "TWO_STEP")),
        (Auth::Session(_), input) => Err(mismatch(&input, "BILL")),
        (Auth::None(_), input) => Err(mismatch(&input, "NONE")),
        (
            Auth::Signature(settings),
            ImportCredentials::Signature {
                username,
                password,
                unknown,
            },
        ) => {
            reject_unknown("SIGNATURE", &["username", "password"], &unknown)?;
            let input = SignatureInput { username, password };
            signature_credentials("credentials.", settings.algorithm, input, |field| {
                missing_field(provider, field)
            })
        }
        (
            Auth::AwsSigv4(settings),
            ImportCredentials::AwsSigV4 {
                access_key_id,
                secret_access_key,
                session_token,
                role_arn,
                unknown,
            },
        ) if settings.assume_role.is_some() => {
            reject_unknown("AWS_SIGV4", &["role_arn"], &unknown)?;
            let entered_keys = [access_key_id, secret_access_key, session_token];
            if entered_keys.iter().any(Option::is_some) {
                return Err(ApiError::invalid_credentials(format!(
                    "provider `{}` signs with temporary keys from AWS STS AssumeRole, so \
                     `credentials` takes only `role_arn`: leave out the access keys",
                    provider.name
                )));
            }
            let role_arn = role_arn
                .filter(|value| !value.is_empty())
                .ok_or_else(|| missing_field(provider, "credentials.role_arn"))?;
            crate::assume_role::check_role_arn("credentials.role_arn", &role_arn)?;
            crate::assume_role::first_keys(
                state,
                provider,
                integration,
                role_arn,
                config,
                connection_id,
            )
            .await
        }
        (
            Auth::AwsSigv4(_),
            ImportCredentials::AwsSigV4 {
                access_key_id,
                secret_access_key,
                session_token,
                role_arn,
                unknown,
            },
        ) => {
            let allowed = ["access_key_id", "secret_access_key", "session_token"];
            reject_unknown("AWS_SIGV4", &allowed, &unknown)?;
            if role_arn.is_some() {
                return Err(ApiError::invalid_credentials(format!(
                    "provider `{}` signs with the keys the connection enters and has no \
                     `assume_role`, so `credentials.role_arn` is not taken: send \
                     `access_key_id` and `secret_access_key`",
                    provider.name
                )));
            }
            let input = AwsSigV4Input {
                access_key_id,
                secret_access_key,
                session_token,
            };
            aws_sigv4_credentials("credentials.", input, |field| {
                missing_field(provider, field)
            })
        }
        (Auth::Signature(_), input) => Err(mismatch(&input, "SIGNATURE")),
        (Auth::AwsSigv4(_), input) => Err(mismatch(&input, "AWS_SIGV4")),
        (Auth::Jwt(_), ImportCredentials::Jwt { fields }) => {
            jwt_credentials(state, provider, integration, fields, config).await
        }
        (Auth::Jwt(_), input) => Err(mismatch(&input, "JWT")),
        (Auth::McpOauth2(_), _) => Err(ApiError::invalid_credentials(format!(
            "provider `{}` uses mcp_oauth2 auth, whose connections need the endpoints and client found by discovery: create the connection with the browser flow, GET /oauth/connect/{}",
            provider.name, integration.unique_key
        ))),
        (
            Auth::Oauth1(_),
            ImportCredentials::OAuth1 {
                oauth_token,
                oauth_token_secret,
            },
        ) => {
            require_consumer_credentials(integration, "OAUTH1")?;
            oauth1_credentials(provider, oauth_token, oauth_token_secret)
        }
        (
            Auth::Tba(_),
            ImportCredentials::Tba {
                token_id,
                token_secret,
            },
        ) => {
            require_consumer_credentials(integration, "TBA")?;
            let token_id = required_credential(provider, "token_id", token_id)?;
            let token_secret = required_credential(provider, "token_secret", token_secret)?;
            tba_credentials("credentials.", token_id, token_secret)
        }
        (Auth::Oauth1(_), input) => Err(mismatch(&input, "OAUTH1")),
        (Auth::Tba(_), input) => Err(mismatch(&input, "TBA")),
        (Auth::App(settings), ImportCredentials::App { .. })
            if settings.inject_token == AppToken::User =>
        {
            Err(ApiError::invalid_credentials(format!(
                "provider `{}` injects the end user's OAuth token, which only the install flow obtains: \
                 create the connection with GET /oauth/connect/{}",
                provider.name, integration.unique_key
            )))
        }
        (Auth::App(_), ImportCredentials::App { installation_id }) => {
            let installation_id = required_credential(provider, "installation_id", installation_id)?;
            let installation_id =
                check_installation_id(provider, &installation_id, "field `credentials.installation_id`")?;
            first_installation_token(state, provider, integration, installation_id, config).await
        }
        (Auth::App(_), input) => Err(mismatch(&input, "APP")),
    }
}

/// Rejects the first field of `unknown`, naming the fields that
/// credentials of `type_name` take.
fn reject_unknown(
    type_name: &str,
    allowed: &[&str],
    unknown: &serde_json::Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(name) = unknown.keys().next() else {
        return Ok(());
    };
    let takes = if allowed.is_empty() {
        "no other fields".to_owned()
    } else {
        allowed
            .iter()
            .map(|field| format!("`credentials.{field}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ApiError::invalid_credentials(format!(
        "unknown field `credentials.{name}`: credentials of type `{type_name}` take {takes}"
    )))
}

/// Rejects an `OAUTH1` or `TBA` import into an integration without a
/// consumer key and secret, because every proxy call signs with them.
fn require_consumer_credentials(
    integration: &IntegrationRecord,
    app_type: &str,
) -> Result<(), ApiError> {
    if integration.credentials.is_some() {
        return Ok(());
    }
    Err(ApiError::invalid_credentials(format!(
        "integration `{}` has no consumer key and secret, which sign every request of a {app_type} connection; \
         give the integration `{app_type}` credentials first",
        integration.unique_key
    )))
}

/// The error for a credential field that an import left out or sent empty,
/// which is a malformed body like any other missing field of `credentials`.
fn missing_field(provider: &Provider, field: &str) -> ApiError {
    ApiError::invalid_body(format!(
        "missing or empty field `{field}`: provider `{}` requires a value",
        provider.name
    ))
}

/// Checks an API key against the provider's `key_pattern` and wraps it as
/// stored credentials; `field` names where the caller sent the key.
pub(super) fn api_key_credentials(
    provider: &Provider,
    settings: &ApiKeySettings,
    field: &str,
    api_key: String,
) -> Result<Credentials, ApiError> {
    check_api_key(provider, settings, field, &api_key)?;
    Ok(Credentials::ApiKey {
        api_key: Secret::new(api_key),
    })
}

/// Chooses one half (`username` or `password`) of basic credentials. When
/// the provider fixes the half, the request may leave it out or repeat the
/// fixed value, and the result is the fixed value. Otherwise the result is
/// the value sent, which the caller requires. Errors name the field with
/// `prefix` in front, as [`basic_credentials`] does.
pub(super) fn basic_half(
    provider: &Provider,
    settings: &BasicSettings,
    prefix: &str,
    half: &str,
    sent: Option<String>,
) -> Result<Option<String>, ApiError> {
    let fixed = match half {
        "username" => settings.fixed_username.as_deref(),
        _ => settings.fixed_password.as_deref(),
    };
    let Some(fixed) = fixed else {
        return Ok(sent);
    };
    match sent {
        Some(value) if value != fixed => {
            let fixed_text = if fixed.is_empty() {
                "an empty string".to_owned()
            } else {
                format!("`{fixed}`")
            };
            Err(ApiError::invalid_credentials(format!(
                "field `{prefix}{half}` must be left out: provider `{}` fixes the {half} to {fixed_text}",
                provider.name
            )))
        }
        _ => Ok(Some(fixed.to_owned())),
    }
}

/// Checks a username and password for header use and wraps them as stored
/// credentials. Errors name the fields with `prefix` in front: `credentials.`
/// for an import, nothing for the end user's form.
pub(super) fn basic_credentials(
    prefix: &str,
    username: String,
    password: String,
) -> Result<Credentials, ApiError> {
    let username_field = format!("{prefix}username");
    let password_field = format!("{prefix}password");
    check_basic_username(&username_field, &username)?;
    check_credential_size(&username_field, &username)?;
    check_credential_size(&password_field, &password)?;
    check_header_credential(&username_field, &username)?;
    check_header_credential(&password_field, &password)?;
    Ok(Credentials::Basic {
        username,
        password: Secret::new(password),
    })
}

fn check_api_key(
    provider: &Provider,
    settings: &ApiKeySettings,
    field: &str,
    api_key: &str,
) -> Result<(), ApiError> {
    if api_key.trim().is_empty() {
        return Err(ApiError::invalid_credentials(format!(
            "`{field}` must not be empty or only spaces"
        )));
    }
    check_credential_size(field, api_key)?;
    if !settings.caller_places_key {
        check_header_credential(field, api_key)?;
    } else if let Some(position) = api_key.chars().position(char::is_control) {
        // The caller places this key wherever it needs, so only control
        // characters, which no key contains, are refused.
        return Err(ApiError::invalid_credentials(format!(
            "`{field}` contains a control character at position {}; enter the key as the \
             provider shows it",
            position + 1
        )));
    }
    let Some(pattern) = settings.key_pattern.as_deref() else {
        return Ok(());
    };
    let regex = Regex::new(pattern).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "template_error",
            format!(
                "provider `{}`, field `auth.key_pattern`: invalid regular expression: {error}",
                provider.name
            ),
        )
    })?;
    if regex.is_match(api_key) {
        return Ok(());
    }
    // The key itself is not echoed: it is a secret even when malformed.
    Err(ApiError::invalid_credentials(format!(
        "the API key in `{field}` does not match the format `{pattern}` of provider `{}`",
        provider.name
    )))
}

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let connections: Vec<Value> = state
        .store
        .list_connections()?
        .iter()
        .filter(|c| matches_filter(c, &query))
        .map(connection_summary_json)
        .collect();
    Ok(Json(json!({ "connections": connections })))
}

fn matches_filter(connection: &ConnectionRecord, query: &ListQuery) -> bool {
    let end_user_matches = match &query.end_user_id {
        Some(id) => connection
            .end_user
            .as_ref()
            .is_some_and(|user| &user.id == id),
        None => true,
    };
    let connection_matches = query
        .connection_id
        .as_ref()
        .is_none_or(|id| &connection.connection_id == id);
    let integration_matches = query
        .integration_id
        .as_ref()
        .is_none_or(|key| &connection.provider_config_key == key);
    end_user_matches && connection_matches && integration_matches
}

pub async fn get(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    ApiQuery(query): ApiQuery<ConnectionQuery>,
) -> Result<Json<Value>, ApiError> {
    let provider_config_key = required_key(query.provider_config_key)?;
    record_connection(&provider_config_key, &connection_id);
    let force = parse_flag("force_refresh", query.force_refresh.as_deref())?;
    let connection = fresh_connection(&state, &provider_config_key, &connection_id, force).await?;
    Ok(Json(connection_json(&connection)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    ApiQuery(query): ApiQuery<ConnectionQuery>,
) -> Result<Json<Value>, ApiError> {
    let provider_config_key = required_key(query.provider_config_key)?;
    record_connection(&provider_config_key, &connection_id);
    if !state
        .store
        .delete_connection(&provider_config_key, &connection_id)
        .await?
    {
        return Err(missing_connection(
            &state,
            &provider_config_key,
            &connection_id,
        )?);
    }
    tracing::info!("deleted connection");
    Ok(Json(json!({ "success": true })))
}

fn required_key(provider_config_key: Option<String>) -> Result<String, ApiError> {
    provider_config_key
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_query_params(
                "missing query parameter `provider_config_key`: pass the integration's unique_key",
            )
        })
}

fn credential_type(credentials: &Credentials) -> &'static str {
    match credentials {
        Credentials::OAuth2(_) => "OAUTH2",
        Credentials::ClientCredentials { .. } => "OAUTH2_CC",
        Credentials::ApiKey { .. } => "API_KEY",
        Credentials::Basic { .. } => "BASIC",
        Credentials::TwoStep(_) | Credentials::Session(_) | Credentials::None {} => {
            credentials.type_name()
        }
        Credentials::Signature { .. } => "SIGNATURE",
        Credentials::AwsSigV4 { .. } => "AWS_SIGV4",
        Credentials::Jwt(_) => "JWT",
        Credentials::McpOAuth2 { .. } => "MCP_OAUTH2",
        Credentials::OAuth1(_) => "OAUTH1",
        Credentials::Tba { .. } => "TBA",
        Credentials::App(_) => "APP",
    }
}

fn errors_json(connection: &ConnectionRecord) -> Value {
    serde_json::to_value(&connection.errors).unwrap_or_else(|_| json!([]))
}

/// Renders the full connection object, credentials included (no `data` wrapper).
pub fn connection_json(connection: &ConnectionRecord) -> Value {
    let mut credentials = credentials_json(&connection.credentials);
    crate::assume_role::add_scope_to_credentials(&mut credentials, &connection.connection_config);
    json!({
        "id": connection.id,
        "connection_id": connection.connection_id,
        "provider_config_key": connection.provider_config_key,
        "provider": connection.provider,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
        "metadata": connection.metadata,
        "connection_config": connection.connection_config,
        "errors": errors_json(connection),
        "end_user": connection.end_user,
        "credentials": credentials,
    })
}

/// Credentials in Nango's wire shape. `OAUTH2_CC` carries the access token
/// as the string `token`, beside `expires_at` and `raw`, and `API_KEY` the
/// key as `apiKey`; the other types are the stored form.
fn credentials_json(credentials: &Credentials) -> Value {
    match credentials {
        Credentials::ClientCredentials {
            token,
            client_id,
            client_secret,
            client_identity,
        } => {
            let mut wire = json!({
                "type": "OAUTH2_CC",
                "token": token.access_token.expose(),
                "expires_at": token.expires_at,
                "raw": token.raw,
                "client_id": client_id,
                "client_secret": client_secret.expose(),
            });
            if let Some(identity) = client_identity {
                wire["client_certificate"] = json!(identity.certificate().expose());
                wire["client_private_key"] = json!(identity.private_key().expose());
            }
            wire
        }
        // Nango's `ApiKeyCredentials` name the key `apiKey`.
        Credentials::ApiKey { api_key } => json!({
            "type": "API_KEY",
            "apiKey": api_key.expose(),
        }),
        Credentials::Jwt(jwt) => jwt_credentials_json(jwt),
        Credentials::App(installation) => app_credentials_json(installation),
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

/// Renders the list entry of a connection, without credentials.
fn connection_summary_json(connection: &ConnectionRecord) -> Value {
    json!({
        "id": connection.id,
        "connection_id": connection.connection_id,
        "provider": connection.provider,
        "provider_config_key": connection.provider_config_key,
        "created": connection.created_at,
        "metadata": connection.metadata,
        "errors": errors_json(connection),
        "end_user": connection.end_user,
    })
}
