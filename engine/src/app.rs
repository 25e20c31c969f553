//! The `app` auth mode: the app JWT and its exchange for an installation
//! token.
//!
//! jsonwebtoken signs the JWT, as in the `jwt` mode. The exchange is a POST
//! to the definition's token URL with the JWT as a bearer token and an
//! empty body, which is how GitHub issues installation access tokens.

use chrono::{DateTime, TimeDelta, Utc};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_catalog::{App, Auth, Provider};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::jwt::pem_text;
use crate::template::config_variables;
use crate::token_response::{parse_token_reply, RawReply};
use crate::transport::TokenTransport;
use crate::url_template::render_url;
use crate::{ClientApp, ConnectionConfig, Engine, EngineError, OAuth2Token, Secret, TokenGrant};

/// Characters of a rejected token request's reply quoted in the error.
const BODY_START_CHARS: usize = 300;

/// The app an integration registered with an `app` provider.
#[derive(Clone, Debug)]
pub struct InstallableApp {
    /// The `iss` claim of the app JWT, such as a GitHub App's numeric id.
    pub app_id: String,
    /// The app's RSA private key, PEM-encoded.
    pub private_key: Secret,
}

/// The credential of an `app` connection: the installation and its
/// current installation token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppInstallation {
    pub installation_id: String,
    pub token: OAuth2Token,
    /// The end user's OAuth token, when the definition has a
    /// `user_token_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<OAuth2Token>,
}

impl Engine {
    /// Obtains an installation token for the installation in `config`:
    /// signs an app JWT at `now` and sends it to the definition's token URL.
    ///
    /// A 4xx reply is [`EngineError::CredentialsRejected`] quoting the start
    /// of its body, which names the reason (a JWT the provider could not
    /// verify, an installation that was removed).
    pub async fn app_installation_token(
        &self,
        provider: &Provider,
        app: &InstallableApp,
        config: &ConnectionConfig,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, EngineError> {
        let settings = app_settings(provider)?;
        let jwt = sign_app_jwt(provider, settings, app, now)?;
        let vars = config_variables(provider, config);
        let url = render_url(provider, "auth.token_url", &settings.token_url, &vars)?;

        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(AUTHORIZATION, bearer(&jwt)?);
        for (name, value) in &settings.token_request_headers {
            let name = crate::inject::header_name(
                &provider.name,
                &format!("auth.token_request_headers.{name}"),
                name,
            )?;
            let value = HeaderValue::from_str(value).map_err(|err| {
                EngineError::template(
                    &provider.name,
                    &format!("auth.token_request_headers.{name}"),
                    err.to_string(),
                )
            })?;
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Vec::new())
            .map_err(|err| EngineError::Transport(format!("invalid token request: {err}")))?;
        let reply = TokenTransport::new(&self.http, &provider.name, "app-installation", &url)
            .reading(&settings.token_response)
            .send(request)
            .await?;
        if (400..500).contains(&reply.status) {
            return Err(rejected(provider, &reply));
        }
        parse_token_reply(&provider.name, &settings.token_response, &reply, now, None)
    }
}

impl Engine {
    /// Exchanges the authorization `code` of the end user's authorization
    /// during the install at the definition's `user_token_url`, with the
    /// integration's client id and secret in the form body.
    pub async fn app_user_token(
        &self,
        provider: &Provider,
        client: &ClientApp,
        code: &str,
        redirect_uri: &str,
        config: &ConnectionConfig,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, EngineError> {
        let settings = app_settings(provider)?;
        let Some(template) = &settings.user_token_url else {
            return Err(EngineError::Unsupported(format!(
                "provider `{}` has no `user_token_url`, so its installs carry no user authorization",
                provider.name
            )));
        };
        let vars = config_variables(provider, config);
        let url = render_url(provider, "auth.user_token_url", template, &vars)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("client_id", &client.client_id)
            .append_pair("client_secret", client.client_secret.expose())
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(body.into_bytes())
            .map_err(|err| EngineError::Transport(format!("invalid token request: {err}")))?;
        let reply = TokenTransport::new(&self.http, &provider.name, "authorization_code", &url)
            .reading(&settings.user_token_response)
            .send(request)
            .await?;
        parse_token_reply(
            &provider.name,
            &settings.user_token_response,
            &reply,
            now,
            None,
        )
    }
}

/// Returns the `app` settings of `provider`, or an error for another mode.
pub(crate) fn app_settings(provider: &Provider) -> Result<&App, EngineError> {
    match &provider.auth {
        Auth::App(app) => Ok(app),
        other => Err(EngineError::Unsupported(format!(
            "provider `{}` uses auth mode `{}`, which has no app installations",
            provider.name,
            other.mode_name()
        ))),
    }
}

/// Signs the app JWT with RS256: `iss` is the app id, `iat` lies
/// `jwt_backdate_seconds` before `now` and `exp` lies `jwt_lifetime_seconds`
/// after it.
pub fn sign_app_jwt(
    provider: &Provider,
    settings: &App,
    app: &InstallableApp,
    now: DateTime<Utc>,
) -> Result<Secret, EngineError> {
    let out_of_range = |field: &str, value: u64| {
        EngineError::template(
            &provider.name,
            field,
            format!("{value} seconds is out of range"),
        )
    };
    let issued_at = now
        .checked_sub_signed(seconds(settings.jwt_backdate_seconds))
        .ok_or_else(|| out_of_range("auth.jwt_backdate_seconds", settings.jwt_backdate_seconds))?;
    let expires_at = now
        .checked_add_signed(seconds(settings.jwt_lifetime_seconds))
        .ok_or_else(|| out_of_range("auth.jwt_lifetime_seconds", settings.jwt_lifetime_seconds))?;
    let claims = json!({
        "iss": app.app_id,
        "iat": issued_at.timestamp(),
        "exp": expires_at.timestamp(),
    });
    let key = app_signing_key(app.private_key.expose()).map_err(|detail| {
        EngineError::InvalidCredential(format!(
            "the private key of the app of provider `{}` is not a PEM RSA private key: {detail}",
            provider.name
        ))
    })?;
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map(Secret::new)
        .map_err(|err| {
            EngineError::InvalidCredential(format!(
                "signing the app JWT of provider `{}` failed: {err}",
                provider.name
            ))
        })
}

/// Reads a PEM RSA private key (PKCS#1 or PKCS#8), accepting line breaks
/// written as `\n`. The error describes the problem without the key.
pub fn app_signing_key(pem: &str) -> Result<EncodingKey, String> {
    EncodingKey::from_rsa_pem(pem_text(pem).as_bytes()).map_err(|err| err.to_string())
}

fn bearer(jwt: &Secret) -> Result<HeaderValue, EngineError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", jwt.expose()))
        .map_err(|err| EngineError::Transport(format!("invalid app JWT header: {err}")))?;
    value.set_sensitive(true);
    Ok(value)
}

fn rejected(provider: &Provider, reply: &RawReply) -> EngineError {
    let text = String::from_utf8_lossy(&reply.body);
    EngineError::CredentialsRejected {
        provider: provider.name.clone(),
        step: None,
        status: reply.status,
        body_start: text.trim().chars().take(BODY_START_CHARS).collect(),
    }
}

fn seconds(value: u64) -> TimeDelta {
    i64::try_from(value)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::provider_from_yaml;

    fn provider() -> Provider {
        provider_from_yaml(
            r#"
name: app-test
display_name: App test
connection_config:
  installation_id: { title: Installation ID, pattern: "[0-9]+", automated: true }
auth:
  mode: app
  install_path: /installations/new
  token_url: "https://api.app.example/installations/{{ installation_id }}/tokens"
  jwt_lifetime_seconds: 540
proxy:
  base_url: https://api.app.example
"#,
        )
    }

    #[test]
    fn invalid_private_key_not_echoed() {
        let provider = provider();
        let settings = app_settings(&provider).unwrap();
        let app = InstallableApp {
            app_id: "1".to_owned(),
            private_key: Secret::new(
                "-----BEGIN RSA PRIVATE KEY-----\nsecret-bytes\n-----END RSA PRIVATE KEY-----",
            ),
        };

        let error = sign_app_jwt(&provider, settings, &app, Utc::now()).unwrap_err();

        assert!(
            matches!(error, EngineError::InvalidCredential(_)),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("PEM RSA private key"), "{message}");
        assert!(!message.contains("secret-bytes"), "{message}");
    }

    #[test]
    fn other_mode_rejected() {
        let provider = provider_from_yaml(
            r#"
name: key-test
display_name: Key test
auth:
  mode: api_key
  inject: { name: X-Key, value: "{{ api_key }}" }
proxy:
  base_url: https://api.key.example
"#,
        );

        let error = app_settings(&provider).unwrap_err().to_string();

        assert!(error.contains("`api_key`"), "{error}");
    }
}
