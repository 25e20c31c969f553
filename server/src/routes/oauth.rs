//! The end user's browser flow: `GET /oauth/connect/{unique_key}` sends the
//! browser to the provider, `GET /oauth/callback` brings it back.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use latchkey_catalog::{Auth, Provider};
use latchkey_engine::{ClientApp, ConnectionConfig, Credentials, EngineError, McpSetup, Secret};
use serde::Deserialize;

use super::app;
use super::connect::{generate_token, hash_token, session_for};
use super::connections::new_connection;
use super::oauth1;
use crate::connection_config;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::logging::{record_connection, record_integration};
use crate::pages::{self, Retry};
use crate::records::{
    ConnectSessionRecord, ConnectionRecord, IntegrationRecord, OAuthStateRecord, RequestTokenRecord,
};
use crate::store::{ClaimState, CreateConnection, StoreError};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct ConnectQuery {
    #[serde(default)]
    connect_session_token: Option<String>,
    /// Connection config as a JSON object, for example `{"subdomain":"acme"}`.
    #[serde(default)]
    params: Option<String>,
}

/// Starts the authorization. Connection-config values come as `params`
/// (a JSON object, Nango's form), as `params[KEY]=VALUE` pairs (what the
/// connect page's form sends), or both. A pair overrides the JSON value of
/// the same key.
///
/// Errors are an HTML page for the end user, with a link back to the
/// connect page, unless the request accepts only JSON.
pub async fn connect(
    State(state): State<AppState>,
    Path(unique_key): Path<String>,
    ApiQuery(query): ApiQuery<ConnectQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record_integration(&unique_key);
    match start_authorization(&state, unique_key, &query, &uri).await {
        Ok(response) => response,
        Err(error) => {
            let connect_page = query
                .connect_session_token
                .as_deref()
                .map(|token| pages::connect_page_url(&state.settings.public_url, token));
            let retry = connect_page
                .as_deref()
                .map_or(Retry::HistoryBack, Retry::ConnectPage);
            pages::browser_route_error(&headers, error, retry)
        }
    }
}

async fn start_authorization(
    state: &AppState,
    unique_key: String,
    query: &ConnectQuery,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let session = session_for(state, query.connect_session_token.as_deref())?;
    if !session.allows(&unique_key) {
        return Err(ApiError::integration_not_allowed(&unique_key));
    }
    // Checked again when the callback stores the connection.
    if session.has_connected(&unique_key) {
        return Err(ApiError::connect_session_used(&unique_key));
    }
    let integration = state
        .store
        .get_integration(&unique_key)?
        .ok_or_else(|| ApiError::unknown_integration(&unique_key))?;
    let provider = state.provider(&integration.provider)?;
    if !matches!(
        provider.auth,
        Auth::Oauth2(_) | Auth::McpOauth2(_) | Auth::Oauth1(_) | Auth::App(_)
    ) {
        return Err(ApiError::invalid_credentials(format!(
            "integration `{unique_key}` uses {} auth, which has no browser flow: create its connection with POST /connections",
            provider.auth.mode_name()
        )));
    }
    // Checked before the end user's values, which cannot fix this. An
    // `mcp_oauth2` integration may lack them, because discovery registers
    // a client.
    let app_link = match &provider.auth {
        Auth::App(_) => Some(app::installable_app(&integration)?.1),
        _ => None,
    };
    if integration.credentials.is_none() && !matches!(provider.auth, Auth::McpOauth2(_)) {
        return Err(missing_client_credentials(&unique_key));
    }
    let mut input_config = parse_params(query.params.as_deref())?;
    connection_config::check_browser_limits("params", &input_config)?;
    let pairs = query_pairs(uri);
    connection_config::merge_form_values(
        &mut input_config,
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )?;
    let config = crate::integration_config::browser_connection_config(
        provider,
        &integration,
        &input_config,
        [],
    )?;

    let redirect_uri = state.settings.redirect_uri();
    if let (Auth::App(settings), Some(app_link)) = (&provider.auth, app_link) {
        // The provider sends the browser to the app's setup URL, which the
        // app's owner sets to Latchkey's callback, with `state` passed
        // through unchanged.
        let state_value = Secret::new(generate_token(""));
        let url = app::install_url(&app_link, &settings.install_path, &state_value)?;
        let pending = PendingAuthorization {
            unique_key,
            integration,
            session,
            config,
            pkce_verifier: None,
            redirect_uri,
            mcp: None,
            oauth1_request_token: None,
        };
        return store_state_and_redirect(state, pending, query, &state_value, url.as_str()).await;
    }
    let (flow_provider, app, mcp) = match &provider.auth {
        Auth::McpOauth2(_) => {
            let setup = prepare_mcp(state, provider, &integration, &redirect_uri, &config).await?;
            let flow_provider = setup
                .oauth2_provider(provider)
                .map_err(|error| ApiError::engine(&error))?;
            let scopes = integration_scopes(&integration);
            let app = setup.client_app(provider, &scopes);
            (Cow::Owned(flow_provider), app, Some(setup))
        }
        _ => (Cow::Borrowed(provider), client_app(&integration)?, None),
    };
    let (url, state_value, pkce_verifier, oauth1_request_token) = match &provider.auth {
        Auth::Oauth1(_) => {
            let authorization =
                oauth1::authorize(state, provider, &app, &config, &unique_key).await?;
            let token = Some(authorization.request_token);
            (authorization.url, authorization.state, None, token)
        }
        _ => {
            let request = state
                .engine
                .authorization_url(&flow_provider, &app, &redirect_uri, &config)
                .map_err(|error| ApiError::engine(&error))?;
            (request.url, request.state, request.pkce_verifier, None)
        }
    };

    let pending = PendingAuthorization {
        unique_key,
        integration,
        session,
        config,
        pkce_verifier,
        redirect_uri,
        mcp,
        oauth1_request_token,
    };
    store_state_and_redirect(state, pending, query, &state_value, url.as_str()).await
}

/// The values an authorization stores under its `state` until the callback.
struct PendingAuthorization {
    unique_key: String,
    integration: IntegrationRecord,
    session: ConnectSessionRecord,
    config: ConnectionConfig,
    pkce_verifier: Option<Secret>,
    redirect_uri: String,
    mcp: Option<McpSetup>,
    oauth1_request_token: Option<RequestTokenRecord>,
}

/// Stores the OAuth state record under the hash of `state_value` and
/// redirects the browser to `url`.
async fn store_state_and_redirect(
    state: &AppState,
    pending: PendingAuthorization,
    query: &ConnectQuery,
    state_value: &Secret,
    url: &str,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let record = OAuthStateRecord {
        integration: pending.unique_key,
        provider: pending.integration.provider,
        end_user: pending.session.end_user,
        connection_config: pending.config,
        pkce_verifier: pending.pkce_verifier,
        redirect_uri: pending.redirect_uri,
        created_at: now,
        expires_at: state.settings.expiry(now, state.settings.oauth_state_ttl)?,
        session_token_hash: query.connect_session_token.as_deref().map(hash_token),
        claimed: false,
        mcp: pending.mcp,
        oauth1_request_token: pending.oauth1_request_token,
    };
    state
        .store
        .create_state(&hash_token(state_value.expose()), &record)
        .await?;

    Ok((StatusCode::FOUND, [(LOCATION, url.to_owned())]).into_response())
}

/// Discovers the endpoints of an `mcp_oauth2` provider and registers a
/// client unless the integration has one.
async fn prepare_mcp(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    redirect_uri: &str,
    config: &ConnectionConfig,
) -> Result<McpSetup, ApiError> {
    let app = integration
        .credentials
        .clone()
        .map(|credentials| ClientApp {
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            scopes: credentials.scopes,
        });
    state
        .engine
        .mcp_prepare(provider, app.as_ref(), redirect_uri, config)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "MCP discovery or client registration failed");
            ApiError::engine(&error)
        })
}

fn integration_scopes(integration: &IntegrationRecord) -> Vec<String> {
    integration
        .credentials
        .as_ref()
        .map(|credentials| credentials.scopes.clone())
        .unwrap_or_default()
}

/// Builds the error for an OAuth integration created without client credentials.
/// Creating one is allowed so that the application can add them later, as
/// Nango's integration records allow (`missing_fields` in @nangohq/types),
/// but its browser flow cannot start.
fn missing_client_credentials(unique_key: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "missing_client_credentials",
        format!(
            "integration `{unique_key}` has no client credentials, so its browser flow cannot start: \
             PATCH /integrations/{unique_key} with `credentials` (type, client_id, client_secret)"
        ),
    )
}

fn client_app(integration: &IntegrationRecord) -> Result<ClientApp, ApiError> {
    let credentials = integration
        .credentials
        .clone()
        .ok_or_else(|| missing_client_credentials(&integration.unique_key))?;
    Ok(ClientApp {
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
        scopes: credentials.scopes,
    })
}

fn parse_params(params: Option<&str>) -> Result<ConnectionConfig, ApiError> {
    let Some(text) = params.filter(|t| !t.is_empty()) else {
        return Ok(ConnectionConfig::new());
    };
    serde_json::from_str(text).map_err(|error| {
        ApiError::invalid_query_params(format!(
            "query parameter `params` must be a JSON object: {error}"
        ))
    })
}

/// Decodes the query string into its name-value pairs, in order.
fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Ends the browser flow with an HTML page in every case, because the
/// browser, not an API client, reads the response.
pub async fn callback(State(state): State<AppState>, uri: Uri) -> Response {
    let query: HashMap<String, String> = query_pairs(&uri).into_iter().collect();
    match finish_authorization(&state, &query).await {
        Ok(page) => page,
        Err(failure) => failure.into_page(),
    }
}

/// A failed callback: the page's status, error type and description.
pub(super) struct CallbackFailure {
    status: StatusCode,
    error_type: String,
    description: String,
}

impl CallbackFailure {
    fn from_api(error: ApiError) -> CallbackFailure {
        CallbackFailure {
            status: error.status,
            error_type: error.code.to_owned(),
            description: error.message,
        }
    }

    fn into_page(self) -> Response {
        let explanation = pages::explain_for_end_user(&self.error_type, &self.description);
        pages::authorization_failed(
            self.status,
            &self.error_type,
            &explanation,
            &self.description,
            Retry::HistoryBack,
        )
    }
}

impl From<ApiError> for CallbackFailure {
    fn from(error: ApiError) -> CallbackFailure {
        CallbackFailure::from_api(error)
    }
}

impl From<StoreError> for CallbackFailure {
    fn from(error: StoreError) -> CallbackFailure {
        CallbackFailure::from_api(ApiError::store(&error))
    }
}

async fn finish_authorization(
    state: &AppState,
    query: &HashMap<String, String>,
) -> Result<Response, CallbackFailure> {
    let invalid_state = || {
        CallbackFailure::from_api(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "unknown, already used or expired OAuth state: start the connection again",
        ))
    };
    let state_value = query
        .get("state")
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid_state)?;
    let state_hash = hash_token(state_value);
    let pending = match state.store.claim_state(&state_hash, Utc::now())? {
        ClaimState::Claimed(record) => *record,
        ClaimState::Invalid => {
            tracing::warn!("OAuth callback with an unknown, used or expired state");
            return Err(invalid_state());
        }
    };
    record_integration(&pending.integration);

    if let Some(code) = query.get("error") {
        let description = query.get("error_description").cloned().unwrap_or_default();
        // Debug form, because these values come from the redirect's query
        // string and could carry CR or LF.
        tracing::warn!(error = ?code, description = ?description, "provider returned an authorization error");
        discard(state, &state_hash).await;
        return Err(CallbackFailure {
            status: StatusCode::BAD_REQUEST,
            error_type: code.clone(),
            description,
        });
    }
    let code_param = match code_param(state, &pending.integration) {
        Ok(code_param) => code_param,
        Err(failure) => {
            discard(state, &state_hash).await;
            return Err(failure);
        }
    };
    let Some(code) = query.get(&code_param).filter(|c| !c.is_empty()) else {
        discard(state, &state_hash).await;
        // GitHub sends `setup_action=request` without an installation when
        // the end user asked an organization owner to approve the install.
        let setup_action = match query.get("setup_action") {
            Some(action) => format!(" (`setup_action` is {action:?})"),
            None => String::new(),
        };
        return Err(CallbackFailure::from_api(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_code",
            format!("the provider redirected back without `{code_param}` or `error`{setup_action}"),
        )));
    };

    let connection = match exchange(state, &pending, code, query).await {
        Ok(connection) => connection,
        Err(failure) => {
            discard(state, &state_hash).await;
            return Err(failure);
        }
    };
    record_connection(&connection.provider_config_key, &connection.connection_id);

    match state
        .store
        .complete_authorization(&state_hash, &connection)
        .await?
    {
        CreateConnection::Created => {}
        CreateConnection::StateGone => return Err(invalid_state()),
        CreateConnection::UnknownIntegration => {
            return Err(ApiError::unknown_integration(&pending.integration).into())
        }
        CreateConnection::Duplicate => {
            return Err(ApiError::duplicate_connection(
                &pending.integration,
                &connection.connection_id,
            )
            .into())
        }
        CreateConnection::SessionUsed => {
            return Err(ApiError::connect_session_used(&pending.integration).into())
        }
    }
    tracing::info!(end_user = ?pending.end_user.id, "stored the connection from the OAuth callback");
    Ok(pages::authorization_succeeded(
        &connection.provider_config_key,
        &connection.connection_id,
    ))
}

/// Returns the name of the callback query parameter that carries the
/// authorization code for `integration`'s provider: `code` unless the
/// definition sets `callback_code_param`.
fn code_param(state: &AppState, integration: &str) -> Result<String, CallbackFailure> {
    let integration = state
        .store
        .get_integration(integration)?
        .ok_or_else(|| ApiError::unknown_integration(integration))?;
    let provider = state.provider(&integration.provider)?;
    Ok(match &provider.auth {
        Auth::Oauth2(oauth2) => match &oauth2.admin_consent {
            Some(consent) => consent.tenant_param.clone(),
            None => oauth2.callback_code_param().to_owned(),
        },
        Auth::Oauth1(_) => "oauth_verifier".to_owned(),
        Auth::App(app) => app.installation_param.clone(),
        _ => "code".to_owned(),
    })
}

/// Exchanges the code and builds the new connection (not stored yet). The
/// values the definition captures from the callback `query` join the
/// connection config before the exchange, so the token URL can use them.
async fn exchange(
    state: &AppState,
    pending: &OAuthStateRecord,
    code: &str,
    query: &HashMap<String, String>,
) -> Result<ConnectionRecord, CallbackFailure> {
    let integration = state
        .store
        .get_integration(&pending.integration)?
        .ok_or_else(|| ApiError::unknown_integration(&pending.integration))?;
    let provider = state.provider(&integration.provider)?;
    if let Auth::App(_) = provider.auth {
        return app::finish_install(state, provider, integration, pending, code, query).await;
    }
    let (provider, app) = match &pending.mcp {
        Some(setup) => {
            let flow_provider = setup
                .oauth2_provider(provider)
                .map_err(|error| ApiError::engine(&error))?;
            let app = setup.client_app(provider, &integration_scopes(&integration));
            (Cow::Owned(flow_provider), app)
        }
        None => (Cow::Borrowed(provider), client_app(&integration)?),
    };
    let provider = provider.as_ref();
    let mut connection_config = pending.connection_config.clone();
    let captured = state
        .engine
        .callback_connection_config(provider, |name| query.get(name).map(String::as_str))
        .map_err(|error| {
            tracing::warn!(error = %error, "OAuth callback carried an invalid value");
            CallbackFailure::from_api(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_callback",
                error.to_string(),
            ))
        })?;
    connection_config.extend(captured);
    if let Some(error) = missing_callback_value(provider, &connection_config) {
        tracing::warn!(error = %error.message, "OAuth callback lacks a required value");
        return Err(CallbackFailure::from_api(error));
    }

    let integration_record = integration.clone();
    let credentials = if let Auth::Oauth1(_) = provider.auth {
        oauth1::exchange(
            state,
            provider,
            &app,
            pending,
            code,
            query,
            &connection_config,
        )
        .await?
    } else if is_admin_consent(provider) {
        let grant = state
            .engine
            .finish_admin_consent(
                provider,
                &app,
                |name| query.get(name).map(String::as_str),
                &connection_config,
            )
            .await
            .map_err(|error| match error {
                EngineError::InvalidCallback(message) => {
                    tracing::warn!(error = %message, "admin consent callback rejected");
                    CallbackFailure::from_api(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_callback",
                        message,
                    ))
                }
                other => exchange_failure(&other, &pending.integration),
            })?;
        connection_config.extend(grant.connection_config);
        Credentials::OAuth2(grant.token)
    } else {
        let grant = state
            .engine
            .exchange_code(
                provider,
                &app,
                code,
                pending.pkce_verifier.as_ref(),
                &pending.redirect_uri,
                &connection_config,
            )
            .await
            .map_err(|error| exchange_failure(&error, &pending.integration))?;
        connection_config.extend(grant.connection_config);
        match &pending.mcp {
            Some(setup) => Credentials::McpOAuth2 {
                token: grant.token,
                mcp: setup.clone(),
            },
            None => Credentials::OAuth2(grant.token),
        }
    };
    let mut connection = new_connection(
        state,
        integration,
        uuid::Uuid::new_v4().to_string(),
        connection_config,
        credentials,
    )?;
    connection.end_user = Some(pending.end_user.clone());
    crate::post_connection::apply(state, provider, &integration_record, &mut connection).await?;
    Ok(connection)
}

/// Checks whether the provider's authorization URL is an admin consent
/// page, whose callback carries a tenant in place of a code.
fn is_admin_consent(provider: &Provider) -> bool {
    matches!(&provider.auth, Auth::Oauth2(oauth2) if oauth2.admin_consent.is_some())
}

/// Returns `invalid_callback` when a required connection-config field that
/// only the callback's query fills (`callback_connection_config`) has no
/// value, before the code is exchanged. Without it the connection would be
/// stored, and every proxy call would fail to render the field.
fn missing_callback_value(provider: &Provider, config: &ConnectionConfig) -> Option<ApiError> {
    let Auth::Oauth2(oauth2) = &provider.auth else {
        return None;
    };
    oauth2
        .callback_connection_config
        .iter()
        .find(|(key, _)| {
            let has_value = config.get(key.as_str()).is_some_and(|value| !value.is_null());
            let not_required = provider
                .connection_config
                .get(key.as_str())
                .is_none_or(|field| field.optional || field.default.is_some());
            let filled_later = oauth2.token_response.connection_config.contains_key(key.as_str())
                || provider
                    .post_connection
                    .iter()
                    .any(|step| step.connection_config.contains_key(key.as_str()));
            !(has_value || not_required || filled_later)
        })
        .map(|(key, param)| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_callback",
                format!(
                    "the callback of provider `{}` has no query parameter `{param}`, which fills the required connection-config field `{key}`, so nothing is stored; start the connection again",
                    provider.name
                ),
            )
        })
}

/// Builds the failure page for `oauth_exchange_failed`, whose description
/// carries the provider's error code and description.
fn exchange_failure(error: &EngineError, integration: &str) -> CallbackFailure {
    tracing::warn!(error = %error, "OAuth code exchange failed");
    CallbackFailure::from_api(ApiError::oauth_exchange(error, integration))
}

async fn discard(state: &AppState, state_hash: &str) {
    if let Err(error) = state.store.discard_state(state_hash).await {
        tracing::warn!(error = %error, "deleting a used OAuth state failed");
    }
}
