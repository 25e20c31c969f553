//! Token refresh before use, shared by `GET /connections/{id}` and the proxy.
//!
//! Refreshes of one connection are single-flight: callers queue on a
//! per-connection mutex, and each one re-reads the connection after getting
//! the lock, so a caller that waited behind a refresh uses its result
//! instead of refreshing again. The refreshed credentials are stored (and
//! flushed) before they are returned, so a rotated refresh token is never
//! lost once a caller has seen the new access token.
//!
//! A refresh the provider rejected (`refresh_failed`, for example
//! `invalid_grant`) is not retried: later callers get the recorded error at
//! once, until a caller passes `force_refresh=true` or the connection is
//! replaced by a new one. After a temporary failure
//! (`refresh_temporarily_failed`), callers within
//! [`TEMPORARY_FAILURE_BACKOFF`] get the recorded error, and the first caller
//! after it requests a new token from the provider again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use latchkey_catalog::Provider;
use latchkey_engine::{
    AppInstallation, ClientApp, Credentials, EngineError, InstallableApp, JwtCredentials,
    OAuth2Token, SessionCredentials, TokenGrant, TwoStepCredentials,
};

use crate::error::ApiError;
use crate::records::{ConnectionErrorRecord, ConnectionRecord, IntegrationRecord};
use crate::store::connection_key;
use crate::two_step;
use crate::AppState;

/// The `type` of connection errors written by a failed refresh.
pub(crate) const REFRESH_ERROR: &str = "refresh";
/// Time after a temporary refresh failure during which the provider is not
/// asked again.
pub(crate) const TEMPORARY_FAILURE_BACKOFF: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// One async mutex per connection that is being refreshed or waited on.
#[derive(Default)]
pub struct RefreshLocks {
    locks: Mutex<HashMap<Vec<u8>, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    pub(crate) fn lock_for(&self, key: &[u8]) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(key.to_vec()).or_default().clone()
    }

    /// Drops the map entry once no other caller has or waits on it. A caller
    /// that arrives later creates a new mutex, which is safe because it
    /// re-reads the connection before refreshing.
    pub(crate) fn release(&self, key: &[u8], lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // One reference is the map's, one is `lock`.
        if Arc::strong_count(&lock) <= 2 {
            locks.remove(key);
        }
    }
}

/// Returns the token of a connection that Latchkey renews, if its
/// credentials have one: an OAuth token, or the token or session id of a
/// `two_step` or `session` connection.
pub fn token_of(credentials: &Credentials) -> Option<&OAuth2Token> {
    match credentials {
        Credentials::OAuth2(token) => Some(token),
        Credentials::ClientCredentials { token, .. } => Some(token),
        Credentials::ApiKey { .. } | Credentials::Basic { .. } => None,
        Credentials::TwoStep(_) | Credentials::Session(_) | Credentials::None {} => {
            credentials.renewable_token()
        }
        Credentials::Signature { .. } | Credentials::AwsSigV4 { .. } => None,
        Credentials::Jwt(jwt) => Some(&jwt.token),
        Credentials::App(app) => Some(&app.token),
        Credentials::McpOAuth2 { token, .. } => Some(token),
        Credentials::OAuth1(_) | Credentials::Tba { .. } => None,
    }
}

/// Loads a connection, refreshing its token first when it is due or when
/// `force` is set.
pub async fn fresh_connection(
    state: &AppState,
    provider_config_key: &str,
    connection_id: &str,
    force: bool,
) -> Result<ConnectionRecord, ApiError> {
    let connection = load(state, provider_config_key, connection_id)?;
    if crate::assume_role::is_assumed(&connection.credentials) {
        return crate::assume_role::fresh(state, connection, force).await;
    }
    let Some(token) = token_of(&connection.credentials) else {
        return Ok(connection);
    };
    let provider = state.provider(&connection.provider)?;
    if !force && !latchkey_engine::refresh_due(provider, token, Utc::now()) {
        return Ok(connection);
    }
    let seen_obtained_at = token.obtained_at;
    let waiting_since = Utc::now();

    let key = connection_key(provider_config_key, connection_id);
    let lock = state.refresh_locks.lock_for(&key);
    let result = {
        let _guard = lock.lock().await;
        let seen = Seen {
            obtained_at: seen_obtained_at,
            waiting_since,
        };
        refresh_locked(
            state,
            provider,
            provider_config_key,
            connection_id,
            force,
            seen,
        )
        .await
    };
    state.refresh_locks.release(&key, lock);
    result
}

/// Refreshes while holding the connection's lock, unless another caller already did.
async fn refresh_locked(
    state: &AppState,
    provider: &Provider,
    provider_config_key: &str,
    connection_id: &str,
    force: bool,
    seen: Seen,
) -> Result<ConnectionRecord, ApiError> {
    let connection = load(state, provider_config_key, connection_id)?;
    let Some(token) = token_of(&connection.credentials) else {
        return Ok(connection);
    };
    // Another caller refreshed, or failed to, while this one waited for the
    // lock: share that outcome instead of asking the provider again.
    if let Some(failure) = failure_since(&connection, seen.waiting_since) {
        return Err(failure);
    }
    let refreshed_meanwhile = token.obtained_at != seen.obtained_at;
    if refreshed_meanwhile || (!force && !latchkey_engine::refresh_due(provider, token, Utc::now()))
    {
        return Ok(connection);
    }
    if !force {
        if let Some(failure) = blocking_failure(&connection, Utc::now()) {
            return Err(failure);
        }
    }

    let integration = state.store.get_integration(provider_config_key)?;
    let has_client_credentials = integration
        .as_ref()
        .is_some_and(|integration| integration.credentials.is_some());
    if matches!(connection.credentials, Credentials::OAuth2(_)) && !has_client_credentials {
        // Nothing was asked of the provider, so nothing is recorded on the
        // connection, and setting the credentials fixes the next call.
        let error = ApiError::missing_client_credentials(provider_config_key, connection_id);
        tracing::warn!(code = error.code, "token refresh failed");
        return Err(error);
    }
    match request_new_token(state, provider, integration, &connection).await {
        Ok(grant) => store_refreshed(state, connection, grant).await,
        Err(error) => Err(record_failure(state, connection, &error).await),
    }
}

/// The token state a caller read before it queued for the connection's lock.
struct Seen {
    obtained_at: DateTime<Utc>,
    waiting_since: DateTime<Utc>,
}

/// Returns the refresh failure recorded on the connection at or after `since`.
pub(crate) fn failure_since(
    connection: &ConnectionRecord,
    since: DateTime<Utc>,
) -> Option<ApiError> {
    let failure = refresh_failure(connection)?;
    (failure.occurred_at >= since).then(|| recorded_error(failure, ""))
}

/// Returns the recorded failure that stops a new refresh attempt now: one
/// the provider rejected, or a temporary one younger than the backoff.
pub(crate) fn blocking_failure(
    connection: &ConnectionRecord,
    now: DateTime<Utc>,
) -> Option<ApiError> {
    let failure = refresh_failure(connection)?;
    match failure.code.as_str() {
        "refresh_failed" => Some(recorded_error(
            failure,
            "; Latchkey does not ask the provider again until the connection is replaced \
             or read with force_refresh=true",
        )),
        "refresh_temporarily_failed" if now - failure.occurred_at < TEMPORARY_FAILURE_BACKOFF => {
            // Whole seconds until the backoff ends, rounded up so a retry
            // at that time is allowed.
            let remaining = TEMPORARY_FAILURE_BACKOFF - (now - failure.occurred_at);
            let seconds = (remaining.num_milliseconds().max(0) as u64)
                .div_ceil(1000)
                .max(1);
            Some(
                recorded_error(
                    failure,
                    &format!(
                        " (the next attempt is made {} seconds after this failure)",
                        TEMPORARY_FAILURE_BACKOFF.num_seconds()
                    ),
                )
                .with_retry_after(seconds),
            )
        }
        _ => None,
    }
}

fn refresh_failure(connection: &ConnectionRecord) -> Option<&ConnectionErrorRecord> {
    connection.errors.iter().find(|e| e.kind == REFRESH_ERROR)
}

/// Rebuilds the API error of a recorded failure, with `note` appended to
/// its message.
fn recorded_error(failure: &ConnectionErrorRecord, note: &str) -> ApiError {
    let (status, code) = match failure.code.as_str() {
        "refresh_temporarily_failed" => (StatusCode::BAD_GATEWAY, "refresh_temporarily_failed"),
        "template_error" => (StatusCode::INTERNAL_SERVER_ERROR, "template_error"),
        _ => (StatusCode::FAILED_DEPENDENCY, "refresh_failed"),
    };
    ApiError::new(status, code, format!("{}{note}", failure.message))
}

pub(crate) fn load(
    state: &AppState,
    provider_config_key: &str,
    connection_id: &str,
) -> Result<ConnectionRecord, ApiError> {
    match state
        .store
        .get_connection(provider_config_key, connection_id)?
    {
        Some(connection) => Ok(connection),
        None => Err(missing_connection(
            state,
            provider_config_key,
            connection_id,
        )?),
    }
}

/// Builds the 404 for a connection that is not stored: `unknown_integration` when
/// the integration itself is unknown, else `unknown_connection`.
pub fn missing_connection(
    state: &AppState,
    provider_config_key: &str,
    connection_id: &str,
) -> Result<ApiError, ApiError> {
    if state.store.get_integration(provider_config_key)?.is_none() {
        return Ok(ApiError::unknown_integration(provider_config_key));
    }
    Ok(ApiError::unknown_connection(
        provider_config_key,
        connection_id,
    ))
}

/// Runs the refresh grant, the client-credentials grant again, or signs a
/// new JWT (and exchanges it where the definition sets `token_url`).
/// `integration` is `None` when the integration was deleted meanwhile.
async fn request_new_token(
    state: &AppState,
    provider: &Provider,
    integration: Option<IntegrationRecord>,
    connection: &ConnectionRecord,
) -> Result<TokenGrant, EngineError> {
    let installable = integration
        .as_ref()
        .and_then(|i| i.credentials.as_ref())
        .and_then(|c| c.app.clone());
    let app = integration.and_then(|i| i.credentials);
    let config = &connection.connection_config;
    match &connection.credentials {
        Credentials::OAuth2(token) => {
            let app = app
                .map(|c| ClientApp {
                    client_id: c.client_id,
                    client_secret: c.client_secret,
                    scopes: c.scopes,
                })
                .ok_or_else(|| {
                    EngineError::MissingCredential(format!(
                        "integration `{}` has no client credentials to refresh with",
                        connection.provider_config_key
                    ))
                })?;
            state.engine.refresh(provider, &app, token, config).await
        }
        Credentials::ClientCredentials {
            client_id,
            client_secret,
            client_identity,
            ..
        } => {
            let scopes = app.map(|c| c.scopes).unwrap_or_default();
            state
                .engine
                .client_credentials_with_identity(
                    provider,
                    client_id,
                    client_secret,
                    &scopes,
                    config,
                    client_identity.as_ref(),
                )
                .await
        }
        Credentials::ApiKey { .. } | Credentials::Basic { .. } => Err(EngineError::Unsupported(
            "only OAuth tokens can be refreshed".to_owned(),
        )),
        Credentials::TwoStep(TwoStepCredentials { fields, token })
        | Credentials::Session(SessionCredentials(TwoStepCredentials { fields, token })) => {
            state
                .engine
                .two_step_token(provider, fields, config, Some(token))
                .await
        }
        Credentials::None {} => Err(EngineError::Unsupported(
            "a connection of the `none` mode has no token to refresh".to_owned(),
        )),
        Credentials::Signature { .. } | Credentials::AwsSigV4 { .. } => {
            Err(EngineError::Unsupported(
                "signing credentials are static keys, which never need a refresh".to_owned(),
            ))
        }
        Credentials::Jwt(jwt) => {
            state
                .engine
                .jwt_token(provider, &jwt.fields, config, Utc::now())
                .await
        }
        // The stored setup contains the client and token endpoint, so the
        // refresh needs neither discovery nor the integration's client.
        Credentials::McpOAuth2 { token, mcp } => {
            let flow = mcp.oauth2_provider(provider)?;
            let app = mcp.client_app(provider, &[]);
            state.engine.refresh(&flow, &app, token, config).await
        }
        Credentials::OAuth1(_) | Credentials::Tba { .. } => Err(EngineError::Unsupported(
            "OAuth 1.0a tokens do not expire and cannot be refreshed".to_owned(),
        )),
        // The installation id is in the connection config, where the
        // callback put it, because the token URL reads it there.
        Credentials::App(_) => {
            let app = installable
                .map(|app| InstallableApp {
                    app_id: app.app_id,
                    private_key: app.private_key,
                })
                .ok_or_else(|| {
                    EngineError::MissingCredential(format!(
                        "integration `{}` has no app keys to sign the app JWT with: \
                         PATCH it with `credentials` of type `APP`",
                        connection.provider_config_key
                    ))
                })?;
            state
                .engine
                .app_installation_token(provider, &app, config, Utc::now())
                .await
        }
    }
}

async fn store_refreshed(
    state: &AppState,
    mut connection: ConnectionRecord,
    grant: TokenGrant,
) -> Result<ConnectionRecord, ApiError> {
    connection.credentials = match connection.credentials {
        Credentials::ClientCredentials {
            client_id,
            client_secret,
            client_identity,
            ..
        } => Credentials::ClientCredentials {
            token: grant.token,
            client_id,
            client_secret,
            client_identity,
        },
        Credentials::TwoStep(TwoStepCredentials { fields, .. })
        | Credentials::Session(SessionCredentials(TwoStepCredentials { fields, .. })) => {
            let provider = state.provider(&connection.provider)?;
            two_step::wrap(provider, fields, grant.token, grant.cookies)
        }
        Credentials::Jwt(jwt) => Credentials::Jwt(JwtCredentials {
            fields: jwt.fields,
            token: grant.token,
        }),
        Credentials::McpOAuth2 { mcp, .. } => Credentials::McpOAuth2 {
            token: grant.token,
            mcp,
        },
        Credentials::App(app) => Credentials::App(AppInstallation {
            installation_id: app.installation_id,
            token: grant.token,
            // NOTE: the user token is kept as it is, so a user token with
            // an expiry is not renewed.
            user: app.user,
        }),
        _ => Credentials::OAuth2(grant.token),
    };
    connection.connection_config.extend(grant.connection_config);
    connection.errors.retain(|e| e.kind != REFRESH_ERROR);
    connection.updated_at = Utc::now();

    if !state.store.update_connection(&connection).await? {
        return Err(ApiError::unknown_connection(
            &connection.provider_config_key,
            &connection.connection_id,
        ));
    }
    tracing::info!("refreshed the access token");
    Ok(connection)
}

/// Logs a failed refresh, records it on the connection and returns the API error.
pub(crate) async fn record_failure(
    state: &AppState,
    mut connection: ConnectionRecord,
    error: &EngineError,
) -> ApiError {
    let api_error = ApiError::refresh(
        error,
        &connection.provider_config_key,
        &connection.connection_id,
    );
    tracing::warn!(code = api_error.code, error = %error, "token refresh failed");

    connection.errors.retain(|e| e.kind != REFRESH_ERROR);
    connection.errors.push(ConnectionErrorRecord {
        kind: REFRESH_ERROR.to_owned(),
        code: api_error.code.to_owned(),
        message: api_error.message.clone(),
        occurred_at: Utc::now(),
    });
    connection.updated_at = Utc::now();
    if let Err(store_error) = state.store.update_connection(&connection).await {
        tracing::error!(error = %store_error, "recording the failed refresh on the connection failed");
    }
    api_error
}
