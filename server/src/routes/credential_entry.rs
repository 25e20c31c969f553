//! The end user's credential entry on the connect page: `POST
//! /connect/{unique_key}/{mode}` with the mode `api-key`, `basic`, `tba`,
//! `signature`, `aws-sigv4`, or (in `field_entry`) `two-step`, `session`
//! and `jwt`.
//! Like the OAuth browser flow, they are authorized by the connect session
//! token, not the secret key.
//!
//! The body is either form-encoded (what the connect page's forms send:
//! `api_key=...&params[KEY]=...`) or JSON (`{"api_key": "...",
//! "connection_config": {...}}`). Any other Content-Type, or none, is a
//! 400 `invalid_body`, because the route cannot tell how to read the body.
//! A form request gets HTML pages back and a JSON request JSON.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_catalog::{ApiKey as ApiKeySettings, Auth, Basic as BasicSettings, Provider};
use latchkey_engine::{ConnectionConfig, Credentials};
use serde::Deserialize;
use serde_json::json;

use super::connect::{hash_token, session_for};
use super::connections::{
    api_key_credentials, basic_credentials, basic_half, connection_outcome, new_connection,
};
use super::field_entry;
use super::oauth1::tba_credentials;
use super::signing_credentials::{
    aws_sigv4_credentials, signature_credentials, AwsSigV4Input, SignatureInput,
};
use crate::connection_config;
use crate::error::ApiError;
use crate::extract::{parse_json, read_body, ApiQuery, MAX_JSON_BODY};
use crate::logging::{record_connection, record_integration};
use crate::pages::{self, Retry};
use crate::records::ConnectionRecord;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct EntryQuery {
    #[serde(default)]
    connect_session_token: Option<String>,
}

/// The auth mode a route accepts credentials for.
#[derive(Debug, Clone, Copy)]
enum EntryMode {
    ApiKey,
    Basic,
    Signature,
    AwsSigV4,
    Tba,
    TwoStep,
    Session,
    Jwt,
}

impl EntryMode {
    /// The credential fields of the body, all required and non-empty.
    fn fields(self) -> &'static [&'static str] {
        match self {
            EntryMode::ApiKey => &["api_key"],
            EntryMode::Basic => &["username", "password"],
            EntryMode::Signature => &["username", "password"],
            EntryMode::AwsSigV4 => &[
                "access_key_id",
                "secret_access_key",
                "session_token",
                "role_arn",
            ],
            EntryMode::Tba => &["token_id", "token_secret"],
            // The definition declares these fields; `field_entry` reads them.
            EntryMode::TwoStep | EntryMode::Session | EntryMode::Jwt => &[],
        }
    }
}

/// Encoding of the request body, which is also the format of the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFormat {
    Form,
    Json,
    /// Missing or another Content-Type; errors are returned as JSON.
    Unsupported,
}

impl BodyFormat {
    fn of(headers: &HeaderMap) -> BodyFormat {
        let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
            return BodyFormat::Unsupported;
        };
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            BodyFormat::Form
        } else if essence.eq_ignore_ascii_case("application/json") {
            BodyFormat::Json
        } else {
            BodyFormat::Unsupported
        }
    }

    fn success(self, connection: &ConnectionRecord) -> Response {
        match self {
            BodyFormat::Form => pages::authorization_succeeded(
                &connection.provider_config_key,
                &connection.connection_id,
            ),
            BodyFormat::Json | BodyFormat::Unsupported => {
                let body = json!({
                    "connectionId": connection.connection_id,
                    "providerConfigKey": connection.provider_config_key,
                });
                (StatusCode::CREATED, Json(body)).into_response()
            }
        }
    }

    /// `connect_page` is the URL of the session's connect page, when the
    /// request carried a session token.
    fn failure(self, error: ApiError, connect_page: Option<&str>) -> Response {
        match self {
            BodyFormat::Form => {
                let retry = connect_page.map_or(Retry::HistoryBack, Retry::ConnectPage);
                pages::browser_error(error, retry)
            }
            BodyFormat::Json | BodyFormat::Unsupported => error.into_response(),
        }
    }
}

/// The values the end user entered: the credential fields by name, and
/// the connection config.
struct Entry {
    credentials: HashMap<String, String>,
    connection_config: ConnectionConfig,
}

#[derive(Deserialize)]
struct JsonEntry {
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_access_key: Option<String>,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    token_id: Option<String>,
    #[serde(default)]
    token_secret: Option<String>,
    #[serde(default)]
    connection_config: Option<ConnectionConfig>,
}

/// Handles `POST /connect/{unique_key}/{mode}`; a mode not listed in the
/// module documentation is the JSON 404 of an unknown route. A body that
/// is neither form-encoded nor JSON is a 400 `invalid_body`, not a 415.
pub async fn enter(
    State(state): State<AppState>,
    Path((unique_key, mode)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<EntryQuery>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mode = match mode.as_str() {
        "api-key" => EntryMode::ApiKey,
        "basic" => EntryMode::Basic,
        "signature" => EntryMode::Signature,
        "aws-sigv4" => EntryMode::AwsSigV4,
        "tba" => EntryMode::Tba,
        "two-step" => EntryMode::TwoStep,
        "session" => EntryMode::Session,
        "jwt" => EntryMode::Jwt,
        _ => return ApiError::not_found(uri.path()).into_response(),
    };
    record_integration(&unique_key);
    let format = BodyFormat::of(&headers);
    match store_entry(&state, mode, &unique_key, &query, format, body).await {
        Ok(connection) => {
            record_connection(&connection.provider_config_key, &connection.connection_id);
            tracing::info!(
                end_user = ?connection.end_user.as_ref().map(|user| user.id.as_str()),
                "stored the connection entered by the end user"
            );
            format.success(&connection)
        }
        Err(error) => {
            let connect_page = query
                .connect_session_token
                .as_deref()
                .map(|token| pages::connect_page_url(&state.settings.public_url, token));
            format.failure(error, connect_page.as_deref())
        }
    }
}

/// Runs the checks in order (session, allowed, integration, mode, body,
/// credentials, connection config), then stores the new connection.
async fn store_entry(
    state: &AppState,
    mode: EntryMode,
    unique_key: &str,
    query: &EntryQuery,
    format: BodyFormat,
    body: Body,
) -> Result<ConnectionRecord, ApiError> {
    let token = query.connect_session_token.as_deref();
    let session = session_for(state, token)?;
    if !session.allows(unique_key) {
        return Err(ApiError::integration_not_allowed(unique_key));
    }
    // Checked again in the insert's transaction; this spares reading the body.
    if session.has_connected(unique_key) {
        return Err(ApiError::connect_session_used(unique_key));
    }
    let integration = state
        .store
        .get_integration(unique_key)?
        .ok_or_else(|| ApiError::unknown_integration(unique_key))?;
    let provider = state.provider(&integration.provider)?;
    let settings = check_mode(provider, mode, unique_key)?;

    let body = read_body(body, MAX_JSON_BODY).await?;
    let connection_id = uuid::Uuid::new_v4().to_string();
    let (config, credentials) = match settings {
        ModeSettings::EnteredFields => {
            field_entry::entered_credentials(state, provider, &integration, format, &body).await?
        }
        ModeSettings::AssumedRole => {
            let entry = parse_entry(format, mode, &body)?;
            let role_arn = entered_role_arn(provider, entry.credentials)?;
            let config = crate::integration_config::browser_connection_config(
                provider,
                &integration,
                &entry.connection_config,
                [],
            )?;
            let credentials = crate::assume_role::first_keys(
                state,
                provider,
                &integration,
                role_arn,
                &config,
                &connection_id,
            )
            .await?;
            (config, credentials)
        }
        settings => {
            let entry = parse_entry(format, mode, &body)?;
            let credentials = entry_credentials(provider, mode, settings, entry.credentials)?;
            let config = crate::integration_config::browser_connection_config(
                provider,
                &integration,
                &entry.connection_config,
                [],
            )?;
            (config, credentials)
        }
    };

    let mut record = new_connection(state, integration, connection_id, config, credentials)?;
    record.end_user = Some(session.end_user);
    let token_hash = hash_token(token.unwrap_or_default());
    let outcome = state
        .store
        .create_session_connection(&token_hash, &record)
        .await?;
    connection_outcome(outcome, &record)?;
    Ok(record)
}

/// The provider's settings for the mode of the route.
enum ModeSettings<'a> {
    ApiKey(&'a ApiKeySettings),
    Basic(&'a BasicSettings),
    /// `signature` or `aws_sigv4`, whose fields need no provider settings.
    Signing,
    /// `aws_sigv4` with `assume_role`: a role ARN, whose keys STS returns.
    AssumedRole,
    Tba,
    /// `two_step`, `session` or `jwt`, whose definition declares the fields.
    EnteredFields,
}

/// Returns the provider's settings for the route's mode, or rejects a route
/// that does not fit the provider's auth mode, naming the route that does.
fn check_mode<'a>(
    provider: &'a Provider,
    mode: EntryMode,
    unique_key: &str,
) -> Result<ModeSettings<'a>, ApiError> {
    let right_route = match (&provider.auth, mode) {
        (Auth::ApiKey(settings), EntryMode::ApiKey) => return Ok(ModeSettings::ApiKey(settings)),
        (Auth::Basic(settings), EntryMode::Basic) => return Ok(ModeSettings::Basic(settings)),
        (Auth::ApiKey(_), _) => format!("POST /connect/{unique_key}/api-key"),
        (Auth::Basic(_), _) => format!("POST /connect/{unique_key}/basic"),
        (Auth::Oauth2(_), _) => format!("GET /oauth/connect/{unique_key}"),
        (Auth::Oauth2ClientCredentials(_), _) | (Auth::None(_), _) => {
            "POST /connections, called by the application with the secret key".to_owned()
        }
        (Auth::TwoStep(_), EntryMode::TwoStep)
        | (Auth::Session(_), EntryMode::Session)
        | (Auth::Jwt(_), EntryMode::Jwt) => return Ok(ModeSettings::EnteredFields),
        (Auth::TwoStep(_), _) => format!("POST /connect/{unique_key}/two-step"),
        (Auth::Session(_), _) => format!("POST /connect/{unique_key}/session"),
        (Auth::AwsSigv4(aws), EntryMode::AwsSigV4) if aws.assume_role.is_some() => {
            return Ok(ModeSettings::AssumedRole)
        }
        (Auth::Signature(_), EntryMode::Signature) | (Auth::AwsSigv4(_), EntryMode::AwsSigV4) => {
            return Ok(ModeSettings::Signing)
        }
        (Auth::Signature(_), _) => format!("POST /connect/{unique_key}/signature"),
        (Auth::AwsSigv4(_), _) => format!("POST /connect/{unique_key}/aws-sigv4"),
        (Auth::Jwt(_), _) => format!("POST /connect/{unique_key}/jwt"),
        (Auth::McpOauth2(_), _) => format!("GET /oauth/connect/{unique_key}"),
        (Auth::Tba(_), EntryMode::Tba) => return Ok(ModeSettings::Tba),
        (Auth::Tba(_), _) => format!("POST /connect/{unique_key}/tba"),
        (Auth::Oauth1(_), _) | (Auth::App(_), _) => format!("GET /oauth/connect/{unique_key}"),
    };
    Err(ApiError::invalid_credentials(format!(
        "integration `{unique_key}` uses {} auth, so its connection is created with {right_route}",
        provider.auth.mode_name()
    )))
}

fn parse_entry(format: BodyFormat, mode: EntryMode, body: &[u8]) -> Result<Entry, ApiError> {
    match format {
        BodyFormat::Form => parse_form(mode, body),
        BodyFormat::Json => {
            let parsed: JsonEntry = parse_json(body)?;
            let credentials = [
                ("api_key", parsed.api_key),
                ("username", parsed.username),
                ("password", parsed.password),
                ("access_key_id", parsed.access_key_id),
                ("secret_access_key", parsed.secret_access_key),
                ("session_token", parsed.session_token),
                ("role_arn", parsed.role_arn),
                ("token_id", parsed.token_id),
                ("token_secret", parsed.token_secret),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
            let connection_config = parsed.connection_config.unwrap_or_default();
            connection_config::check_browser_limits("connection_config", &connection_config)?;
            Ok(Entry {
                credentials,
                connection_config,
            })
        }
        BodyFormat::Unsupported => Err(unsupported_body()),
    }
}

/// Builds the error for a body that is neither form-encoded nor JSON.
pub(super) fn unsupported_body() -> ApiError {
    ApiError::invalid_body(
        "the request body must be form-encoded (Content-Type: application/x-www-form-urlencoded) \
         or JSON (Content-Type: application/json)",
    )
}

fn parse_form(mode: EntryMode, body: &[u8]) -> Result<Entry, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let credentials = pairs
        .iter()
        .filter(|(name, _)| mode.fields().contains(&name.as_str()))
        .cloned()
        .collect();
    let mut connection_config = ConnectionConfig::new();
    connection_config::merge_form_values(
        &mut connection_config,
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )?;
    Ok(Entry {
        credentials,
        connection_config,
    })
}

/// Checks that every credential field of `mode` is present and non-empty,
/// except a basic-auth half that the provider fixes, then builds the
/// stored credentials (an API key is checked against the provider's
/// `key_pattern`).
fn entry_credentials(
    provider: &Provider,
    mode: EntryMode,
    settings: ModeSettings,
    mut fields: HashMap<String, String>,
) -> Result<Credentials, ApiError> {
    // The signing modes have an optional field, so the loop below, which
    // requires every field, does not apply to them.
    if let ModeSettings::Signing = settings {
        return signing_entry_credentials(provider, mode, fields);
    }
    let mut values = HashMap::new();
    for name in mode.fields() {
        let sent = fields.remove(*name).filter(|value| !value.is_empty());
        let value = match settings {
            ModeSettings::Basic(basic) => basic_half(provider, basic, "", name, sent)?,
            ModeSettings::ApiKey(_)
            | ModeSettings::Signing
            | ModeSettings::AssumedRole
            | ModeSettings::Tba
            | ModeSettings::EnteredFields => sent,
        };
        let Some(value) = value else {
            return Err(ApiError::invalid_credentials(format!(
                "missing or empty field `{name}`: provider `{}` requires a value",
                provider.name
            )));
        };
        values.insert(*name, value);
    }
    let mut take = |name: &str| values.remove(name).unwrap_or_default();
    match settings {
        ModeSettings::ApiKey(settings) => {
            api_key_credentials(provider, settings, "api_key", take("api_key"))
        }
        ModeSettings::Basic(_) => {
            let username = take("username");
            basic_credentials("", username, take("password"))
        }
        ModeSettings::Tba => {
            let token_id = take("token_id");
            tba_credentials("", token_id, take("token_secret"))
        }
        ModeSettings::Signing => unreachable!("returned before the loop"),
        ModeSettings::AssumedRole => unreachable!("read by `entered_role_arn`"),
        ModeSettings::EnteredFields => unreachable!("read by `field_entry`"),
    }
}

/// Builds the credentials of a `signature` or `aws_sigv4` entry; a field
/// left out or sent empty is reported by name.
fn signing_entry_credentials(
    provider: &Provider,
    mode: EntryMode,
    mut fields: HashMap<String, String>,
) -> Result<Credentials, ApiError> {
    let missing = |field: &str| {
        ApiError::invalid_credentials(format!(
            "missing or empty field `{field}`: provider `{}` requires a value",
            provider.name
        ))
    };
    match mode {
        EntryMode::Signature => {
            let mut take = |name: &str| fields.remove(name);
            let input = SignatureInput {
                username: take("username"),
                password: take("password"),
            };
            let Auth::Signature(settings) = &provider.auth else {
                return Err(ApiError::invalid_credentials(format!(
                    "provider `{}` uses auth mode `{}`, which takes no signature credentials",
                    provider.name,
                    provider.auth.mode_name()
                )));
            };
            signature_credentials("", settings.algorithm, input, missing)
        }
        _ => {
            if fields.contains_key("role_arn") {
                return Err(ApiError::invalid_credentials(format!(
                    "provider `{}` signs with the keys the end user enters and has no \
                     `assume_role`, so `role_arn` is not taken: send `access_key_id` and \
                     `secret_access_key`",
                    provider.name
                )));
            }
            let mut take = |name: &str| fields.remove(name);
            let input = AwsSigV4Input {
                access_key_id: take("access_key_id"),
                secret_access_key: take("secret_access_key"),
                session_token: take("session_token"),
            };
            aws_sigv4_credentials("", input, missing)
        }
    }
}

/// Returns the role ARN of an entry for a provider with `assume_role`,
/// which takes no access keys.
fn entered_role_arn(
    provider: &Provider,
    mut fields: HashMap<String, String>,
) -> Result<String, ApiError> {
    let role_arn = fields.remove("role_arn").filter(|value| !value.is_empty());
    if let Some(name) = fields.keys().next() {
        return Err(ApiError::invalid_credentials(format!(
            "provider `{}` signs with temporary keys from AWS STS AssumeRole, so the entry \
             takes only `role_arn`, not `{name}`",
            provider.name
        )));
    }
    let Some(role_arn) = role_arn else {
        return Err(ApiError::invalid_credentials(format!(
            "missing or empty field `role_arn`: provider `{}` requires the IAM role ARN",
            provider.name
        )));
    };
    crate::assume_role::check_role_arn("role_arn", &role_arn)?;
    Ok(role_arn)
}
