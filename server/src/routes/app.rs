//! The `app` auth mode on the server: the keys of an `APP` integration,
//! the install redirect, the install callback and the connection's
//! credential in Nango's `APP` shape.

use axum::http::StatusCode;
use chrono::Utc;
use std::collections::HashMap;

use latchkey_catalog::{Auth, Provider, INSTALLATION_ID_KEY};
use latchkey_engine::{
    app_signing_key, AppInstallation, ClientApp, ConnectionConfig, Credentials, InstallableApp,
    OAuth2Token, Secret,
};
use serde_json::{json, Value};
use url::Url;

use super::connections::new_connection;
use super::oauth::CallbackFailure;
use crate::error::ApiError;
use crate::records::{ConnectionRecord, InstallableAppRecord, IntegrationRecord, OAuthStateRecord};
use crate::AppState;

/// Maximum length of an app id, in characters, well above the numeric ids
/// that GitHub issues.
const MAX_APP_ID_CHARS: usize = 128;
/// Maximum length of an app link, in bytes.
const MAX_APP_LINK_BYTES: usize = 2048;
/// Maximum size of a private key, in bytes: a PEM RSA key of 4096 bits is
/// about 3.3 KB, so this leaves room for larger keys and escaped line breaks.
const MAX_PRIVATE_KEY_BYTES: usize = 16 * 1024;
/// Maximum length of an installation id from a callback or an import, in
/// characters.
const MAX_INSTALLATION_ID_CHARS: usize = 64;

/// Checks the `app_id`, `app_link` and `private_key` of an `APP`
/// integration. Errors name the field and never quote the key. A field
/// that is absent is the same error as an empty one here, because the
/// caller reports absent fields first as a malformed body.
pub(super) fn check_app_keys(
    app_id: Option<String>,
    app_link: Option<String>,
    private_key: Option<String>,
) -> Result<InstallableAppRecord, ApiError> {
    let missing = |field: &str| {
        ApiError::invalid_credentials(format!(
            "empty field `credentials.{field}`: an `APP` integration needs `app_id`, `app_link` and `private_key`"
        ))
    };
    let app_id = app_id
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| missing("app_id"))?;
    let app_link = app_link
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| missing("app_link"))?;
    let private_key = private_key
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| missing("private_key"))?;

    let app_id_valid =
        app_id.chars().count() <= MAX_APP_ID_CHARS && app_id.chars().all(|c| c.is_ascii_graphic());
    if !app_id_valid {
        return Err(ApiError::invalid_credentials(format!(
            "invalid field `credentials.app_id`: it must be 1 to {MAX_APP_ID_CHARS} printable ASCII characters without spaces, such as `123456`"
        )));
    }
    let app_link = check_app_link(&app_link)?;
    if private_key.len() > MAX_PRIVATE_KEY_BYTES {
        return Err(ApiError::invalid_credentials(format!(
            "`credentials.private_key` is {} bytes long, but may be at most {MAX_PRIVATE_KEY_BYTES} bytes",
            private_key.len()
        )));
    }
    if let Err(detail) = app_signing_key(&private_key) {
        return Err(ApiError::invalid_credentials(format!(
            "invalid field `credentials.private_key`: it must be the app's PEM RSA private key \
             (`-----BEGIN RSA PRIVATE KEY-----` or `-----BEGIN PRIVATE KEY-----`): {detail}"
        )));
    }
    Ok(InstallableAppRecord {
        app_id,
        app_link,
        private_key: Secret::new(private_key),
    })
}

/// Checks an app link: an http or https URL without query or fragment.
/// Returns it without a trailing slash, so the install path can follow.
fn check_app_link(link: &str) -> Result<String, ApiError> {
    let invalid = |reason: &str| {
        let shown: String = link.chars().take(100).collect();
        ApiError::invalid_credentials(format!(
            "invalid field `credentials.app_link`: {shown:?} {reason}; send the app's public page, such as https://github.com/apps/my-app"
        ))
    };
    if link.len() > MAX_APP_LINK_BYTES {
        return Err(invalid(&format!(
            "is longer than {MAX_APP_LINK_BYTES} bytes"
        )));
    }
    let url = Url::parse(link).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(invalid("is not an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("has a query, a fragment or user info"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Returns the app keys and app link of an integration, or an error that
/// names the fix when it has none.
pub(super) fn installable_app(
    integration: &IntegrationRecord,
) -> Result<(InstallableApp, String), ApiError> {
    let Some(app) = integration
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.app.as_ref())
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_client_credentials",
            format!(
                "integration `{0}` has no app keys: PATCH /integrations/{0} with `credentials` \
                 (type `APP`, app_id, app_link, private_key)",
                integration.unique_key
            ),
        ));
    };
    let keys = InstallableApp {
        app_id: app.app_id.clone(),
        private_key: app.private_key.clone(),
    };
    Ok((keys, app.app_link.clone()))
}

/// Builds the install page URL: the app link, the definition's
/// `install_path`, and `state`, which the provider passes back to the
/// callback.
pub(super) fn install_url(
    app_link: &str,
    install_path: &str,
    state_value: &Secret,
) -> Result<Url, ApiError> {
    let mut url = Url::parse(&format!("{app_link}{install_path}")).map_err(|error| {
        ApiError::invalid_credentials(format!(
            "the install page URL built from the integration's app link is invalid: {error}"
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("state", state_value.expose());
    Ok(url)
}

/// Checks an installation id from a callback or an import against the
/// provider's `installation_id` connection-config field, when it declares
/// one, and returns it. `source` names where the value came from.
pub(super) fn check_installation_id(
    provider: &Provider,
    value: &str,
    source: &str,
) -> Result<String, ApiError> {
    let shown: String = value.chars().take(MAX_INSTALLATION_ID_CHARS).collect();
    let length_valid = (1..=MAX_INSTALLATION_ID_CHARS).contains(&value.chars().count())
        && value.chars().all(|c| c.is_ascii_graphic());
    let pattern_valid = provider
        .connection_config
        .get(INSTALLATION_ID_KEY)
        .is_none_or(|field| field.accepts(value));
    if !length_valid || !pattern_valid {
        return Err(ApiError::invalid_credentials(format!(
            "invalid {source}: {shown:?} is not an installation id of provider `{}`",
            provider.name
        )));
    }
    Ok(value.to_owned())
}

/// Obtains the first installation token of a new connection and returns
/// its credential. The installation id joins `config` first, because the
/// token URL uses it.
pub(super) async fn first_installation_token(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    installation_id: String,
    config: &mut ConnectionConfig,
) -> Result<Credentials, ApiError> {
    let (app, _) = installable_app(integration)?;
    config.insert(
        INSTALLATION_ID_KEY.to_owned(),
        Value::String(installation_id.clone()),
    );
    let grant = state
        .engine
        .app_installation_token(provider, &app, config, Utc::now())
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "obtaining the first installation token failed");
            ApiError::oauth_exchange(&error, &integration.unique_key)
        })?;
    config.extend(grant.connection_config);
    Ok(Credentials::App(AppInstallation {
        installation_id,
        token: grant.token,
        user: None,
    }))
}

/// Completes an install callback: checks the installation id, obtains the
/// first installation token and builds the new connection (not stored yet).
///
/// NOTE: nothing proves that the installation belongs to the end user, so
/// a session holder who has another installation id of the same app can
/// connect it. Proving it takes the end user's OAuth token and a call such
/// as GitHub's `GET /user/installations`, which Latchkey does not make.
pub(super) async fn finish_install(
    state: &AppState,
    provider: &Provider,
    integration: IntegrationRecord,
    pending: &OAuthStateRecord,
    installation_id: &str,
    query: &HashMap<String, String>,
) -> Result<ConnectionRecord, CallbackFailure> {
    let installation_id =
        check_installation_id(provider, installation_id, "installation id in the callback")
            .map_err(|error| {
                tracing::warn!(error = %error.message, "install callback carried an invalid installation id");
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_callback", error.message)
            })?;
    let mut config = pending.connection_config.clone();
    let user = user_token(state, provider, &integration, pending, query, &config).await?;
    let mut credentials =
        first_installation_token(state, provider, &integration, installation_id, &mut config)
            .await?;
    if let Credentials::App(installation) = &mut credentials {
        installation.user = user;
    }
    let integration_record = integration.clone();
    let mut connection = new_connection(
        state,
        integration,
        uuid::Uuid::new_v4().to_string(),
        config,
        credentials,
    )?;
    connection.end_user = Some(pending.end_user.clone());
    crate::post_connection::apply(state, provider, &integration_record, &mut connection).await?;
    Ok(connection)
}

/// Exchanges the callback's `code` for the end user's OAuth token when the
/// definition has a `user_token_url`, and returns `None` otherwise.
async fn user_token(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    pending: &OAuthStateRecord,
    query: &HashMap<String, String>,
    config: &ConnectionConfig,
) -> Result<Option<OAuth2Token>, ApiError> {
    let Auth::App(settings) = &provider.auth else {
        return Ok(None);
    };
    if settings.user_token_url.is_none() {
        return Ok(None);
    }
    let Some(code) = query.get("code").filter(|code| !code.is_empty()) else {
        tracing::warn!("install callback without the user authorization code");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_code",
            "the provider redirected back without `code`, which the end user's authorization \
             during the install carries: enable user authorization during installation in the app's settings",
        ));
    };
    let client = integration
        .credentials
        .as_ref()
        .filter(|credentials| !credentials.client_id.is_empty())
        .map(|credentials| ClientApp {
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
            scopes: Vec::new(),
        })
        .ok_or_else(|| {
            ApiError::invalid_credentials(format!(
                "integration `{0}` has no OAuth client for the user authorization: \
                 PATCH /integrations/{0} with `credentials` of type `CUSTOM`",
                integration.unique_key
            ))
        })?;
    let grant = state
        .engine
        .app_user_token(
            provider,
            &client,
            code,
            &pending.redirect_uri,
            config,
            Utc::now(),
        )
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "exchanging the user authorization code failed");
            ApiError::oauth_exchange(&error, &integration.unique_key)
        })?;
    Ok(Some(grant.token))
}

/// Renders an `APP` credential as Nango does: the installation token as
/// `access_token`, with `expires_at` and the token reply as `raw`.
///
/// With a user token, the shape is Nango's `CUSTOM` one: the installation
/// token under `app` and the user's OAuth token under `user`.
pub(super) fn app_credentials_json(installation: &AppInstallation) -> Value {
    let app = json!({
        "type": "APP",
        "access_token": installation.token.access_token.expose(),
        "expires_at": installation.token.expires_at,
        "raw": installation.token.raw,
        "installation_id": installation.installation_id,
    });
    let Some(user) = &installation.user else {
        return app;
    };
    json!({
        "type": "CUSTOM",
        "app": app,
        "user": {
            "type": "OAUTH2",
            "access_token": user.access_token.expose(),
            "refresh_token": user.refresh_token.as_ref().map(|token| token.expose()),
            "expires_at": user.expires_at,
            "raw": user.raw,
        },
        "installation_id": installation.installation_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_link_checked() {
        assert_eq!(
            check_app_link("https://github.com/apps/my-app/").unwrap(),
            "https://github.com/apps/my-app"
        );
        for invalid in [
            "github.com/apps/x",
            "ftp://github.com/apps/x",
            "https://github.com/apps/x?a=b",
            "https://user@github.com/apps/x",
        ] {
            let error = check_app_link(invalid).unwrap_err();
            assert!(
                error.message.contains("`credentials.app_link`"),
                "{invalid}: {}",
                error.message
            );
        }
    }

    #[test]
    fn app_keys_name_missing_field() {
        let cases = [
            (None, Some("https://github.com/apps/x"), Some("k"), "app_id"),
            (Some("1"), None, Some("k"), "app_link"),
            (
                Some("1"),
                Some("https://github.com/apps/x"),
                None,
                "private_key",
            ),
            (
                Some(" "),
                Some("https://github.com/apps/x"),
                Some("k"),
                "app_id",
            ),
        ];
        for (app_id, app_link, private_key, field) in cases {
            let error = check_app_keys(
                app_id.map(str::to_owned),
                app_link.map(str::to_owned),
                private_key.map(str::to_owned),
            )
            .unwrap_err();

            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert!(
                error.message.contains(&format!("`credentials.{field}`")),
                "{field}: {}",
                error.message
            );
        }
    }

    #[test]
    fn invalid_private_key_not_echoed() {
        let error = check_app_keys(
            Some("1".to_owned()),
            Some("https://github.com/apps/x".to_owned()),
            Some("not-a-pem-secret-value".to_owned()),
        )
        .unwrap_err();

        assert!(error.message.contains("`credentials.private_key`"));
        assert!(!error.message.contains("not-a-pem-secret-value"));
    }
}
