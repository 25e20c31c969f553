//! The OAuth 1.0a parts of the browser flow and of credential entry.
//!
//! The browser flow gets a request token before the redirect and exchanges
//! it for the access token in the callback. This file also checks entered
//! or imported `OAUTH1` and `TBA` credentials, and loads the consumer key
//! and secret that sign proxied requests.

use std::collections::HashMap;

use axum::http::StatusCode;
use latchkey_catalog::Provider;
use latchkey_engine::{
    ClientApp, ConnectionConfig, Credentials, OAuth1Credentials, RequestToken, Secret,
};
use rand::distributions::{Alphanumeric, DistString};
use url::Url;

use crate::error::ApiError;
use crate::records::{ConnectionRecord, OAuthStateRecord, RequestTokenRecord};
use crate::validate::{check_credential_size, check_header_credential};
use crate::AppState;

/// Length of the `state` value that Latchkey adds to its own callback URL,
/// because an OAuth 1.0a provider returns only `oauth_token` and
/// `oauth_verifier`: 43 alphanumeric characters, about 256 bits.
const STATE_LENGTH: usize = 43;

/// An OAuth 1.0a authorization ready to redirect the end user.
pub(super) struct Authorization {
    pub url: Url,
    pub state: Secret,
    pub request_token: RequestTokenRecord,
}

/// Obtains a request token whose `oauth_callback` is Latchkey's callback
/// with a fresh `state`, and builds the authorization URL.
pub(super) async fn authorize(
    state: &AppState,
    provider: &Provider,
    app: &ClientApp,
    config: &ConnectionConfig,
    unique_key: &str,
) -> Result<Authorization, ApiError> {
    let state_value = Alphanumeric.sample_string(&mut rand::thread_rng(), STATE_LENGTH);
    let mut callback = Url::parse(&state.settings.redirect_uri()).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid_public_url",
            format!("the callback URL built from the public URL is invalid: {error}"),
        )
    })?;
    callback
        .query_pairs_mut()
        .append_pair("state", &state_value);

    let request_token = state
        .engine
        .oauth1_request_token(provider, app, callback.as_str(), config)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "OAuth 1.0a request token step failed");
            ApiError::oauth_exchange(&error, unique_key)
        })?;
    let url = state
        .engine
        .oauth1_authorization_url(provider, app, &request_token, config)
        .map_err(|error| ApiError::engine(&error))?;
    Ok(Authorization {
        url,
        state: Secret::new(state_value),
        request_token: RequestTokenRecord {
            token: request_token.token,
            token_secret: request_token.token_secret,
        },
    })
}

/// Checks that the callback returned this authorization's request token and
/// exchanges it with `verifier` for the access token.
pub(super) async fn exchange(
    state: &AppState,
    provider: &Provider,
    app: &ClientApp,
    pending: &OAuthStateRecord,
    verifier: &str,
    query: &HashMap<String, String>,
    config: &ConnectionConfig,
) -> Result<Credentials, ApiError> {
    let stored = pending.oauth1_request_token.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "this OAuth state belongs to an OAuth 2.0 authorization, not an OAuth 1.0a one: \
             start the connection again",
        )
    })?;
    let returned = Secret::new(query.get("oauth_token").cloned().unwrap_or_default());
    if returned != stored.token {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_callback",
            "the provider redirected back with an `oauth_token` that is not the request token \
             of this authorization: start the connection again",
        ));
    }
    let request_token = RequestToken {
        token: stored.token.clone(),
        token_secret: stored.token_secret.clone(),
    };
    let access = state
        .engine
        .oauth1_access_token(provider, app, &request_token, verifier, config)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "OAuth 1.0a access token exchange failed");
            ApiError::oauth_exchange(&error, &pending.integration)
        })?;
    Ok(Credentials::OAuth1(OAuth1Credentials {
        oauth_token: access.token,
        oauth_token_secret: access.token_secret,
        raw: access.raw,
    }))
}

/// Returns the integration's client id and secret when the provider signs
/// requests with them, and `None` for every other mode.
pub(super) fn signing_app(
    state: &AppState,
    provider: &Provider,
    connection: &ConnectionRecord,
) -> Result<Option<ClientApp>, ApiError> {
    if !provider.auth.signs_requests() {
        return Ok(None);
    }
    let integration = state
        .store
        .get_integration(&connection.provider_config_key)?
        .ok_or_else(|| ApiError::unknown_integration(&connection.provider_config_key))?;
    Ok(integration.credentials.map(|credentials| ClientApp {
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
        scopes: credentials.scopes,
    }))
}

/// Returns a credential field of an import, or a 400 `invalid_body` naming
/// `credentials.<name>` when it is missing or empty.
pub(super) fn required_credential(
    provider: &Provider,
    name: &str,
    value: Option<String>,
) -> Result<String, ApiError> {
    value.filter(|value| !value.is_empty()).ok_or_else(|| {
        ApiError::invalid_body(format!(
            "missing or empty field `credentials.{name}`: provider `{}` requires a value",
            provider.name
        ))
    })
}

/// Checks imported OAuth 1.0a token credentials and wraps them.
pub(super) fn oauth1_credentials(
    provider: &Provider,
    oauth_token: Option<String>,
    oauth_token_secret: Option<String>,
) -> Result<Credentials, ApiError> {
    let oauth_token = required_credential(provider, "oauth_token", oauth_token)?;
    let oauth_token_secret =
        required_credential(provider, "oauth_token_secret", oauth_token_secret)?;
    check_token_field("credentials.oauth_token", &oauth_token)?;
    check_token_field("credentials.oauth_token_secret", &oauth_token_secret)?;
    Ok(Credentials::OAuth1(OAuth1Credentials {
        oauth_token: Secret::new(oauth_token),
        oauth_token_secret: Secret::new(oauth_token_secret),
        raw: serde_json::json!({}),
    }))
}

/// Checks a token id and secret for token-based authentication and wraps
/// them. Errors name the fields with `prefix` in front: `credentials.` for
/// an import, nothing for the end user's form.
pub(super) fn tba_credentials(
    prefix: &str,
    token_id: String,
    token_secret: String,
) -> Result<Credentials, ApiError> {
    check_token_field(&format!("{prefix}token_id"), &token_id)?;
    check_token_field(&format!("{prefix}token_secret"), &token_secret)?;
    Ok(Credentials::Tba {
        token_id: Secret::new(token_id),
        token_secret: Secret::new(token_secret),
    })
}

/// Rejects a token value that is too long or contains characters other than
/// printable ASCII, without echoing it.
fn check_token_field(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid_credentials(format!(
            "`{field}` must not be empty or only spaces"
        )));
    }
    check_credential_size(field, value)?;
    check_header_credential(field, value)
}
