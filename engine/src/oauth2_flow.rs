//! The OAuth 2.0 flows: the authorization URL, the code exchange, the
//! refresh and the client-credentials grant.
//!
//! Latchkey builds the authorization URL and the token requests itself, so
//! that a definition can rename standard parameters, drop empty ones, leave
//! scopes unencoded, send JSON bodies and choose the client authentication
//! (RFC 6749 section 2.3.1). The oauth2 crate supplies the random `state` and
//! the PKCE S256 pair. The requests go out through [`TokenTransport`], which
//! keeps the raw reply for [`parse_token_reply`].

use std::collections::BTreeMap;

use chrono::Utc;
use latchkey_catalog::{
    Auth, OAuth2, Provider, ScopeEncoding, StandardParam, RESERVED_AUTHORIZATION_PARAMS,
    RESERVED_TOKEN_PARAMS,
};
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde_json::Value;
use url::Url;

use crate::template::{
    config_variables, render, render_params, render_url_with_fallbacks, with_random_token,
};
use crate::token_request::{TokenClient, TokenParams};
use crate::token_response::parse_token_reply;
use crate::transport::TokenTransport;
use crate::url_template::render_url;
use crate::{
    ClientApp, ClientIdentity, ConnectionConfig, Engine, EngineError, OAuth2Token, Secret,
    TokenGrant,
};

#[path = "admin_consent.rs"]
mod admin_consent;

/// Random bytes in the `state` parameter: 256 bits, base64url-encoded.
const STATE_BYTES: u32 = 32;

/// The URL that sends the end user to the provider, and the values to keep
/// until the callback.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: Url,
    /// The `state` parameter, which the callback must carry back unchanged.
    pub state: Secret,
    /// The PKCE code verifier for the code exchange, when PKCE is on.
    pub pkce_verifier: Option<Secret>,
}

impl Engine {
    /// Builds the authorization URL: `response_type` (`code` unless the
    /// definition sets another value or none), `client_id`, a
    /// random `state`, the PKCE S256 challenge unless the definition sets
    /// `pkce: false`, `redirect_uri`, the default then the integration
    /// scopes (de-duplicated, joined with `scope_separator`) and the rendered
    /// `authorization_params`, appended to any query the URL template has.
    /// Standard names follow `authorization_param_names`. An `admin_consent`
    /// URL leaves out `response_type`, PKCE and the scopes.
    pub fn authorization_url(
        &self,
        provider: &Provider,
        app: &ClientApp,
        redirect_uri: &str,
        config: &ConnectionConfig,
    ) -> Result<AuthorizationRequest, EngineError> {
        let oauth2 = oauth2_settings(provider, "build an authorization URL")?;
        let vars = config_variables(provider, config);
        let mut url = render_url_with_fallbacks(
            provider,
            "auth.authorization_url",
            &oauth2.authorization_url,
            &oauth2.authorization_url_fallbacks,
            &vars,
        )?;
        let extra_params = rendered_params(
            provider,
            "auth.authorization_params",
            &oauth2.authorization_params,
            &with_random_token(&vars),
            RESERVED_AUTHORIZATION_PARAMS,
        )?;
        check_redirect_uri(provider, redirect_uri)?;

        let state = CsrfToken::new_random_len(STATE_BYTES).into_secret();
        let name = |param: StandardParam| {
            oauth2
                .authorization_param_names
                .get(&param)
                .map_or(param.as_str(), String::as_str)
                .to_owned()
        };
        // An admin consent URL carries only `client_id`, `state`,
        // `redirect_uri` and the definition's own parameters.
        let consent = oauth2.admin_consent.is_some();
        let mut params: Vec<(String, String)> = Vec::new();
        if !consent && !oauth2.response_type().is_empty() {
            params.push((
                name(StandardParam::ResponseType),
                oauth2.response_type().to_owned(),
            ));
        }
        params.push((name(StandardParam::ClientId), app.client_id.clone()));
        params.push((name(StandardParam::State), state.clone()));
        let mut pkce_verifier = None;
        if oauth2.pkce && !consent {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            params.push(("code_challenge".to_owned(), challenge.as_str().to_owned()));
            params.push((
                "code_challenge_method".to_owned(),
                challenge.method().as_str().to_owned(),
            ));
            pkce_verifier = Some(Secret::new(verifier.into_secret()));
        }
        params.push((name(StandardParam::RedirectUri), redirect_uri.to_owned()));
        let scope = join_scopes(&oauth2.default_scopes, &app.scopes, &oauth2.scope_separator);
        let scope = (!scope.is_empty() && !consent).then_some((name(StandardParam::Scope), scope));
        if oauth2.drop_empty_authorization_params {
            params.retain(|(_, value)| !value.is_empty());
        }

        let mut query = url.query().unwrap_or_default().to_owned();
        let mut append = |name: &str, encoded_value: &str| {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&form_encode(name));
            query.push('=');
            query.push_str(encoded_value);
        };
        for (name, value) in &params {
            append(name, &form_encode(value));
        }
        if let Some((name, value)) = &scope {
            match oauth2.scope_encoding {
                ScopeEncoding::Form => append(name, &form_encode(value)),
                // `set_query` below percent-encodes what a query cannot hold.
                ScopeEncoding::Raw => append(name, value),
            }
        }
        for (name, value) in &extra_params {
            if oauth2.drop_empty_authorization_params && value.is_empty() {
                continue;
            }
            append(name, &form_encode(value));
        }
        url.set_query(Some(&query));
        if let Some(fragment) = &oauth2.authorization_url_fragment {
            // The query moves behind the fragment, already percent-encoded.
            let query = url.query().unwrap_or_default().to_owned();
            url.set_query(None);
            url.set_fragment(Some(&format!("{fragment}?{query}")));
        }

        Ok(AuthorizationRequest {
            url,
            state: Secret::new(state),
            pkce_verifier,
        })
    }

    /// Exchanges an authorization code for a token (grant type
    /// `authorization_code`) with the rendered `token_params`.
    pub async fn exchange_code(
        &self,
        provider: &Provider,
        app: &ClientApp,
        code: &str,
        pkce_verifier: Option<&Secret>,
        redirect_uri: &str,
        config: &ConnectionConfig,
    ) -> Result<TokenGrant, EngineError> {
        let oauth2 = oauth2_settings(provider, "exchange an authorization code")?;
        if oauth2.pkce && pkce_verifier.is_none() {
            return Err(EngineError::MissingCredential(format!(
                "provider `{}` uses PKCE, but no code verifier was given for the code exchange",
                provider.name
            )));
        }
        let vars = config_variables(provider, config);
        let token_url = oauth2_token_url(provider, oauth2, &vars)?;
        let extra = rendered_params(
            provider,
            "auth.token_params",
            &oauth2.token_params,
            &with_random_token(&vars),
            RESERVED_TOKEN_PARAMS,
        )?;
        check_redirect_uri(provider, redirect_uri)?;

        let mut grant = vec![
            (StandardParam::GrantType, "authorization_code".to_owned()),
            (StandardParam::Code, code.to_owned()),
        ];
        if let Some(verifier) = pkce_verifier {
            grant.push((StandardParam::CodeVerifier, verifier.expose().to_owned()));
        }
        let params = TokenParams {
            grant,
            trailing: vec![(StandardParam::RedirectUri, redirect_uri.to_owned())],
            extra,
        };
        let request = oauth2_client(oauth2, app).request(&token_url, params)?;

        let obtained_at = Utc::now();
        let mut secrets = vec![app.client_secret.expose(), code];
        secrets.extend(pkce_verifier.map(Secret::expose));
        let reply =
            TokenTransport::new(&self.http, &provider.name, "authorization_code", &token_url)
                .reading(&oauth2.token_response)
                .send(request)
                .await?;
        parse_token_reply(
            &provider.name,
            &oauth2.token_response,
            &reply,
            obtained_at,
            None,
        )
        .map_err(|error| error.redact_quoted(&secrets))
    }

    /// Refreshes an OAuth2 token (grant type `refresh_token`) at
    /// `refresh_url`, or `token_url` when the definition has none. The
    /// request carries `refresh_scopes`, the rendered `refresh_params` and
    /// none of the code-exchange parameters. A reply without a refresh token keeps the
    /// old one. An `admin_consent` definition sends the client-credentials
    /// grant instead, because that grant issues no refresh token.
    pub async fn refresh(
        &self,
        provider: &Provider,
        app: &ClientApp,
        token: &OAuth2Token,
        config: &ConnectionConfig,
    ) -> Result<TokenGrant, EngineError> {
        // The client-credentials grant renews an admin consent token.
        if let Auth::Oauth2(oauth2) = &provider.auth {
            if oauth2.admin_consent.is_some() {
                return self
                    .admin_consent_token(provider, oauth2, app, config)
                    .await;
            }
        }
        let oauth2 = refreshable_settings(provider)?;
        let refresh_token = token.refresh_token.as_ref().ok_or_else(|| {
            EngineError::MissingCredential(format!(
                "the connection to provider `{}` has no refresh token, so the end user must connect again",
                provider.name
            ))
        })?;
        let vars = config_variables(provider, config);
        let token_url = match &oauth2.refresh_url {
            Some(template) => render_url(provider, "auth.refresh_url", template, &vars)?,
            None => oauth2_token_url(provider, oauth2, &vars)?,
        };
        let extra = rendered_params(
            provider,
            "auth.refresh_params",
            &oauth2.refresh_params,
            &with_random_token(&vars),
            RESERVED_TOKEN_PARAMS,
        )?;

        let params = TokenParams {
            grant: vec![
                (StandardParam::GrantType, "refresh_token".to_owned()),
                (
                    StandardParam::RefreshToken,
                    refresh_token.expose().to_owned(),
                ),
            ],
            trailing: if oauth2.refresh_scopes.is_empty() {
                Vec::new()
            } else {
                vec![(
                    StandardParam::Scope,
                    join_scopes(&oauth2.refresh_scopes, &[], &oauth2.scope_separator),
                )]
            },
            extra,
        };
        let request = oauth2_client(oauth2, app).request(&token_url, params)?;

        let obtained_at = Utc::now();
        let secrets = [
            app.client_secret.expose(),
            refresh_token.expose(),
            token.access_token.expose(),
        ];
        let reply = TokenTransport::new(&self.http, &provider.name, "refresh_token", &token_url)
            .reading(&oauth2.token_response)
            .send(request)
            .await?;
        parse_token_reply(
            &provider.name,
            &oauth2.token_response,
            &reply,
            obtained_at,
            Some(refresh_token),
        )
        .map_err(|error| error.redact_quoted(&secrets))
    }

    /// Obtains a token with the client-credentials grant, requesting the
    /// provider's rendered default scopes then `scopes`, with the rendered
    /// `token_params`.
    pub async fn client_credentials(
        &self,
        provider: &Provider,
        client_id: &str,
        client_secret: &Secret,
        scopes: &[String],
        config: &ConnectionConfig,
    ) -> Result<TokenGrant, EngineError> {
        self.client_credentials_with_identity(
            provider,
            client_id,
            client_secret,
            scopes,
            config,
            None,
        )
        .await
    }

    /// Runs the client-credentials grant as [`Engine::client_credentials`]
    /// does, presenting `identity` as the TLS client certificate when one is
    /// given. A provider with `require_client_certificate` needs one.
    pub async fn client_credentials_with_identity(
        &self,
        provider: &Provider,
        client_id: &str,
        client_secret: &Secret,
        scopes: &[String],
        config: &ConnectionConfig,
        identity: Option<&ClientIdentity>,
    ) -> Result<TokenGrant, EngineError> {
        let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
            return Err(unsupported(provider, "run the client-credentials grant"));
        };
        let vars = config_variables(provider, config);
        let token_url = render_url_with_fallbacks(
            provider,
            "auth.token_url",
            &settings.token_url,
            &settings.token_url_fallbacks,
            &vars,
        )?;
        let mut extra = rendered_params(
            provider,
            "auth.token_params",
            &settings.token_params,
            &with_random_token(&vars),
            RESERVED_TOKEN_PARAMS,
        )?;
        let user_password = match &settings.password_grant {
            Some(grant) => {
                let (username, password) =
                    crate::password_grant::render_user_password(provider, grant, &vars)?;
                extra.splice(
                    0..0,
                    [
                        ("username".to_owned(), username),
                        ("password".to_owned(), password.expose().to_owned()),
                    ],
                );
                Some(password)
            }
            None => None,
        };

        let default_scopes = settings
            .default_scopes
            .iter()
            .enumerate()
            .map(|(index, template)| {
                render(
                    &provider.name,
                    &format!("auth.default_scopes[{index}]"),
                    template,
                    &vars,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let scope = join_scopes(&default_scopes, scopes, &settings.scope_separator);
        let trailing = if scope.is_empty() {
            Vec::new()
        } else {
            vec![(StandardParam::Scope, scope)]
        };
        // An empty `grant_type` leaves the parameter out.
        let grant = match settings.grant_type.as_deref() {
            _ if user_password.is_some() => vec![(StandardParam::GrantType, "password".to_owned())],
            Some("") => Vec::new(),
            Some(grant_type) => vec![(StandardParam::GrantType, grant_type.to_owned())],
            None => vec![(StandardParam::GrantType, "client_credentials".to_owned())],
        };
        let params = TokenParams {
            grant,
            trailing,
            extra,
        };
        let client = TokenClient {
            client_id,
            client_secret,
            client_auth: settings.client_auth,
            body_format: settings.token_body_format,
            param_names: &settings.token_param_names,
        };
        let request = client.request(&token_url, params)?;

        let http = self.client_for(provider, settings.require_client_certificate, identity)?;
        let obtained_at = Utc::now();
        let reply = TokenTransport::new(&http, &provider.name, "client_credentials", &token_url)
            .reading(&settings.token_response)
            .send(request)
            .await?;
        let mut secrets = vec![client_secret.expose()];
        secrets.extend(user_password.as_ref().map(Secret::expose));
        parse_token_reply(
            &provider.name,
            &settings.token_response,
            &reply,
            obtained_at,
            None,
        )
        .map_err(|error| error.redact_quoted(&secrets))
    }

    /// Picks the connection-config values that the definition captures from
    /// the query of the redirect back to Latchkey
    /// (`callback_connection_config`). Parameters the query lacks, or sends
    /// empty, are left out.
    ///
    /// Each value must match the `pattern` of its connection-config field,
    /// because whoever sends the callback chooses it and the token URL may
    /// use it. A value that does not match fails the whole callback with
    /// [`EngineError::InvalidCallback`].
    pub fn callback_connection_config<'a>(
        &self,
        provider: &Provider,
        query: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<ConnectionConfig, EngineError> {
        let mut captured = ConnectionConfig::new();
        let Auth::Oauth2(oauth2) = &provider.auth else {
            return Ok(captured);
        };
        for (key, param) in &oauth2.callback_connection_config {
            let value = match query(param) {
                Some(value) if !value.is_empty() => value,
                _ => {
                    tracing::debug!(key = %key, param = %param, "callback has no value for connection-config key");
                    continue;
                }
            };
            if let Some(field) = provider.connection_config.get(key) {
                if !field.accepts(value) {
                    return Err(invalid_callback_value(provider, key, param, value, field));
                }
            }
            captured.insert(key.clone(), Value::String(value.to_owned()));
        }
        Ok(captured)
    }
}

/// Longest part of a rejected callback value that an error message quotes.
const QUOTED_VALUE_CHARS: usize = 100;

fn invalid_callback_value(
    provider: &Provider,
    key: &str,
    param: &str,
    value: &str,
    field: &latchkey_catalog::ConfigField,
) -> EngineError {
    let shown: String = value.chars().take(QUOTED_VALUE_CHARS).collect();
    let ellipsis = if shown.len() < value.len() { "..." } else { "" };
    EngineError::InvalidCallback(format!(
        "the callback of provider `{}` carries {shown:?}{ellipsis} in the query parameter `{param}`, \
         which does not match the pattern `{}` of connection-config field `{key}`; \
         the authorization is rejected and nothing is stored. Start the connection again, \
         and report the value to the provider definition's maintainers if it is genuine",
        provider.name,
        field.pattern.as_deref().unwrap_or_default()
    ))
}

/// Renders the token URL of the authorization code grant, or the first of
/// its fallbacks that has all its variables.
fn oauth2_token_url(
    provider: &Provider,
    oauth2: &OAuth2,
    vars: &Value,
) -> Result<Url, EngineError> {
    render_url_with_fallbacks(
        provider,
        "auth.token_url",
        &oauth2.token_url,
        &oauth2.token_url_fallbacks,
        vars,
    )
}

fn oauth2_settings<'a>(provider: &'a Provider, operation: &str) -> Result<&'a OAuth2, EngineError> {
    match &provider.auth {
        Auth::Oauth2(oauth2) => Ok(oauth2),
        _ => Err(unsupported(provider, operation)),
    }
}

fn refreshable_settings(provider: &Provider) -> Result<&OAuth2, EngineError> {
    match &provider.auth {
        Auth::Oauth2(oauth2) if oauth2.refreshable => Ok(oauth2),
        Auth::Oauth2(_) => Err(EngineError::Unsupported(format!(
            "provider `{}` issues no refresh tokens (`refreshable: false`), so the end user must connect again",
            provider.name
        ))),
        Auth::Oauth2ClientCredentials(_) => Err(EngineError::Unsupported(format!(
            "provider `{}` uses the client-credentials grant, which renews a token by requesting a new one, not by a refresh",
            provider.name
        ))),
        _ => Err(unsupported(provider, "refresh a token")),
    }
}

fn unsupported(provider: &Provider, operation: &str) -> EngineError {
    EngineError::Unsupported(format!(
        "provider `{}` uses auth mode `{}`, which cannot {operation}",
        provider.name,
        provider.auth.mode_name()
    ))
}

fn oauth2_client<'a>(oauth2: &'a OAuth2, app: &'a ClientApp) -> TokenClient<'a> {
    TokenClient {
        client_id: &app.client_id,
        client_secret: &app.client_secret,
        client_auth: oauth2.client_auth,
        body_format: oauth2.token_body_format,
        param_names: &oauth2.token_param_names,
    }
}

fn check_redirect_uri(provider: &Provider, redirect_uri: &str) -> Result<(), EngineError> {
    Url::parse(redirect_uri).map(drop).map_err(|err| {
        EngineError::template(
            &provider.name,
            "redirect_uri",
            format!("`{redirect_uri}` is not a valid URL: {err}"),
        )
    })
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Renders a parameter map and rejects names that Latchkey sets itself.
fn rendered_params(
    provider: &Provider,
    field_prefix: &str,
    params: &BTreeMap<String, String>,
    vars: &Value,
    reserved: &[&str],
) -> Result<Vec<(String, String)>, EngineError> {
    if let Some(name) = params.keys().find(|name| reserved.contains(&name.as_str())) {
        return Err(EngineError::template(
            &provider.name,
            &format!("{field_prefix}.{name}"),
            format!("`{name}` is set by Latchkey and cannot be overridden"),
        ));
    }
    render_params(&provider.name, field_prefix, params, vars)
}

/// Joins the default then the extra scopes with `separator`, keeping the
/// first occurrence of each and skipping empty ones.
fn join_scopes(defaults: &[String], extra: &[String], separator: &str) -> String {
    let mut scopes: Vec<&str> = Vec::new();
    for scope in defaults.iter().chain(extra) {
        let scope = scope.as_str();
        if !scope.is_empty() && !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.join(separator)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::test_support::{provider_from_yaml, CannedReply, RecordedRequest, TestServer};
    use crate::ProviderErrorKind;

    const REDIRECT_URI: &str = "https://latchkey.example/oauth/callback";
    const ENCODED_REDIRECT_URI: &str = "https%3A%2F%2Flatchkey.example%2Foauth%2Fcallback";

    fn app(scopes: &[&str]) -> ClientApp {
        ClientApp {
            client_id: "cid".to_owned(),
            client_secret: Secret::new("c$ecret"),
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
        }
    }

    fn config(pairs: &[(&str, &str)]) -> ConnectionConfig {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect()
    }

    fn engine() -> Engine {
        Engine::new(reqwest::Client::new())
    }

    const GOOGLE: &str = r#"
name: google
display_name: Google
auth:
  mode: oauth2
  authorization_url: https://accounts.google.com/o/oauth2/v2/auth
  token_url: https://oauth2.googleapis.com/token
  default_scopes: [openid, email]
  authorization_params: {access_type: offline, prompt: consent}
proxy: {base_url: "https://www.googleapis.com"}
"#;

    const SLACK: &str = r#"
name: slack
display_name: Slack
auth:
  mode: oauth2
  authorization_url: https://slack.com/oauth/v2/authorize
  token_url: https://slack.com/api/oauth.v2.access
  scope_separator: ","
  pkce: false
proxy: {base_url: "https://slack.com/api"}
"#;

    const CONFLUENCE: &str = r#"
name: confluence
display_name: Confluence
auth:
  mode: oauth2
  authorization_url: https://auth.atlassian.com/authorize
  token_url: https://auth.atlassian.com/oauth/token
  default_scopes: [offline_access]
  authorization_params: {audience: api.atlassian.com, prompt: consent}
proxy: {base_url: "https://api.atlassian.com"}
"#;

    const ZENDESK: &str = r#"
name: zendesk
display_name: Zendesk
auth:
  mode: oauth2
  authorization_url: https://{{ subdomain }}.zendesk.com/oauth/authorizations/new?locale=en
  token_url: https://{{ subdomain }}.zendesk.com/oauth/tokens
  pkce: false
connection_config:
  subdomain: {title: Subdomain}
proxy: {base_url: "https://{{ subdomain }}.zendesk.com"}
"#;

    #[test]
    fn authorization_url_bytes() {
        // (case, provider, integration scopes, config, expected URL with
        // {state} and {challenge} standing for the random values)
        #[rustfmt::skip]
        let cases = [
            (
                "space separator, default scopes first, de-duplicated, extra params",
                GOOGLE,
                vec!["email", "profile"],
                config(&[]),
                format!("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=cid&state={{state}}&code_challenge={{challenge}}&code_challenge_method=S256&redirect_uri={ENCODED_REDIRECT_URI}&scope=openid+email+profile&access_type=offline&prompt=consent"),
            ),
            (
                "comma separator, PKCE off",
                SLACK,
                vec!["chat:write", "channels:read"],
                config(&[]),
                format!("https://slack.com/oauth/v2/authorize?response_type=code&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}&scope=chat%3Awrite%2Cchannels%3Aread"),
            ),
            (
                "Atlassian audience and offline_access",
                CONFLUENCE,
                vec!["read:confluence-content.all", "write:confluence-content"],
                config(&[]),
                format!("https://auth.atlassian.com/authorize?response_type=code&client_id=cid&state={{state}}&code_challenge={{challenge}}&code_challenge_method=S256&redirect_uri={ENCODED_REDIRECT_URI}&scope=offline_access+read%3Aconfluence-content.all+write%3Aconfluence-content&audience=api.atlassian.com&prompt=consent"),
            ),
            (
                "templated host, existing query, no scopes",
                ZENDESK,
                vec![],
                config(&[("subdomain", "acme")]),
                format!("https://acme.zendesk.com/oauth/authorizations/new?locale=en&response_type=code&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}"),
            ),
        ];

        for (case, yaml, scopes, config, expected) in cases {
            let provider = provider_from_yaml(yaml);

            let request = engine()
                .authorization_url(&provider, &app(&scopes), REDIRECT_URI, &config)
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            let challenge = request
                .pkce_verifier
                .as_ref()
                .map(|verifier| URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose())))
                .unwrap_or_default();
            let expected = expected
                .replace("{state}", request.state.expose())
                .replace("{challenge}", &challenge);
            assert_eq!(request.url.as_str(), expected, "{case}");
            assert_eq!(
                request.pkce_verifier.is_some(),
                expected.contains("code_challenge"),
                "{case}"
            );
        }
    }

    #[test]
    fn state_is_random_and_url_safe() {
        let provider = provider_from_yaml(GOOGLE);

        let first = engine()
            .authorization_url(&provider, &app(&[]), REDIRECT_URI, &config(&[]))
            .unwrap();
        let second = engine()
            .authorization_url(&provider, &app(&[]), REDIRECT_URI, &config(&[]))
            .unwrap();

        let state = first.state.expose();
        // 32 random bytes in unpadded base64url are 43 characters.
        assert_eq!(state.len(), 43);
        assert!(state
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'));
        assert_ne!(first.state, second.state);
        assert_ne!(first.pkce_verifier, second.pkce_verifier);
    }

    #[test]
    fn authorization_url_errors() {
        let reserved = provider_from_yaml(
            r#"
name: odd
display_name: Odd
auth:
  mode: oauth2
  authorization_url: https://odd.example/authorize
  token_url: https://odd.example/token
  authorization_params: {state: fixed}
proxy: {base_url: "https://odd.example"}
"#,
        );
        let api_key = provider_from_yaml(
            r#"
name: stripe
display_name: Stripe
auth: {mode: api_key, inject: {name: Authorization, value: "Bearer {{ api_key }}"}}
proxy: {base_url: "https://api.stripe.com"}
"#,
        );

        // (case, provider, redirect URI, expected message)
        #[rustfmt::skip]
        let cases = [
            ("missing config variable", provider_from_yaml(ZENDESK), REDIRECT_URI, "provider `zendesk`, field `auth.authorization_url`: undefined variable `subdomain` (no variables are defined)"),
            ("reserved parameter", reserved, REDIRECT_URI, "provider `odd`, field `auth.authorization_params.state`: `state` is set by Latchkey and cannot be overridden"),
            ("invalid redirect URI", provider_from_yaml(GOOGLE), "not a url", "provider `google`, field `redirect_uri`: `not a url` is not a valid URL: relative URL without a base"),
            ("wrong auth mode", api_key, REDIRECT_URI, "provider `stripe` uses auth mode `api_key`, which cannot build an authorization URL"),
        ];

        for (case, provider, redirect_uri, expected) in cases {
            let err = engine()
                .authorization_url(&provider, &app(&[]), redirect_uri, &config(&[]))
                .unwrap_err();

            assert_eq!(err.to_string(), expected, "{case}");
        }
    }

    fn token_provider(server: &TestServer, client_auth: &str) -> Provider {
        provider_from_yaml(&format!(
            r#"
name: local
display_name: Local
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/oauth/token
  refresh_url: {base}/oauth/refresh
  client_auth: {client_auth}
  token_params: {{audience: "{{{{ tenant }}}}.example"}}
  refresh_params: {{refresh_hint: "again"}}
  token_response:
    connection_config: {{instance_url: instance_url}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ))
    }

    fn basic_header() -> String {
        // RFC 6749 section 2.3.1: id and secret are form-encoded before the
        // Basic encoding, so `$` becomes `%24`.
        format!("Basic {}", STANDARD.encode("cid:c%24ecret"))
    }

    fn assert_token_request_head(request: &RecordedRequest, path: &str) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, path);
        assert_eq!(request.header("accept"), Some("application/json"));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(
            request
                .raw
                .starts_with(format!("POST {path} HTTP/1.1\r\n").as_bytes()),
            "{}",
            String::from_utf8_lossy(&request.raw)
        );
    }

    #[tokio::test]
    async fn exchange_code_wire_format() {
        let reply = json!({
            "access_token": "at-1",
            "refresh_token": "rt-1",
            "expires_in": 3600,
            "instance_url": "https://acme.example",
        });

        // (client_auth, expected Authorization header, expected body)
        #[rustfmt::skip]
        let cases = [
            ("body", None, vec![
                ("grant_type", "authorization_code"), ("code", "the-code"), ("code_verifier", "the-verifier"),
                ("client_id", "cid"), ("client_secret", "c$ecret"), ("redirect_uri", REDIRECT_URI),
                ("audience", "acme.example"),
            ]),
            ("basic", Some(basic_header()), vec![
                ("grant_type", "authorization_code"), ("code", "the-code"), ("code_verifier", "the-verifier"),
                ("redirect_uri", REDIRECT_URI), ("audience", "acme.example"),
            ]),
        ];

        for (client_auth, authorization, body) in cases {
            let server = TestServer::start(vec![CannedReply::json(200, reply.clone())]).await;
            let provider = token_provider(&server, client_auth);
            let verifier = Secret::new("the-verifier");

            let grant = engine()
                .exchange_code(
                    &provider,
                    &app(&["ignored-on-exchange"]),
                    "the-code",
                    Some(&verifier),
                    REDIRECT_URI,
                    &config(&[("tenant", "acme")]),
                )
                .await
                .unwrap_or_else(|err| panic!("{client_auth}: {err}"));

            let request = server.single_request();
            assert_token_request_head(&request, "/oauth/token");
            assert_eq!(
                request.header("authorization"),
                authorization.as_deref(),
                "{client_auth}"
            );
            let expected: Vec<(String, String)> = body
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
            assert_eq!(request.form(), expected, "{client_auth}");

            assert_eq!(grant.token.access_token.expose(), "at-1");
            assert_eq!(
                grant.token.refresh_token.as_ref().map(Secret::expose),
                Some("rt-1")
            );
            let lifetime = grant.token.expires_at.unwrap() - grant.token.obtained_at;
            assert_eq!(lifetime.num_seconds(), 3600);
            assert_eq!(
                grant.connection_config.get("instance_url"),
                Some(&json!("https://acme.example"))
            );
        }
    }

    #[tokio::test]
    async fn refresh_wire_format() {
        // (client_auth, expected Authorization header, expected body)
        #[rustfmt::skip]
        let cases = [
            ("body", None, vec![
                ("grant_type", "refresh_token"), ("refresh_token", "rt-old"),
                ("client_id", "cid"), ("client_secret", "c$ecret"), ("refresh_hint", "again"),
            ]),
            ("basic", Some(basic_header()), vec![
                ("grant_type", "refresh_token"), ("refresh_token", "rt-old"), ("refresh_hint", "again"),
            ]),
        ];

        for (client_auth, authorization, body) in cases {
            let reply = json!({"access_token": "at-new", "expires_in": "1800"});
            let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
            let provider = token_provider(&server, client_auth);
            let old = OAuth2Token {
                access_token: Secret::new("at-old"),
                refresh_token: Some(Secret::new("rt-old")),
                expires_at: None,
                obtained_at: Utc::now(),
                raw: json!({}),
            };

            let grant = engine()
                .refresh(
                    &provider,
                    &app(&["scope-a"]),
                    &old,
                    &config(&[("tenant", "acme")]),
                )
                .await
                .unwrap_or_else(|err| panic!("{client_auth}: {err}"));

            let request = server.single_request();
            assert_token_request_head(&request, "/oauth/refresh");
            assert_eq!(
                request.header("authorization"),
                authorization.as_deref(),
                "{client_auth}"
            );
            let expected: Vec<(String, String)> = body
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
            assert_eq!(request.form(), expected, "{client_auth}");
            for absent in ["code", "code_verifier", "redirect_uri", "audience", "scope"] {
                assert_eq!(request.form_value(absent), None, "{client_auth}: {absent}");
            }
            assert!(
                !request.body.contains("authorization_code"),
                "{client_auth}"
            );

            assert_eq!(grant.token.access_token.expose(), "at-new");
            assert_eq!(
                grant.token.refresh_token.as_ref().map(Secret::expose),
                Some("rt-old"),
                "{client_auth}: the old refresh token must be kept"
            );
            let lifetime = grant.token.expires_at.unwrap() - grant.token.obtained_at;
            assert_eq!(lifetime.num_seconds(), 1800);
        }
    }

    #[tokio::test]
    async fn refresh_sends_refresh_scopes() {
        let reply = json!({"access_token": "at-new", "expires_in": 3600});
        let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: ads
display_name: Ads
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/token
  default_scopes: ["https://ads.example/manage", offline_access]
  refresh_scopes: ["https://ads.example/manage"]
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));
        let old = OAuth2Token {
            access_token: Secret::new("at-old"),
            refresh_token: Some(Secret::new("rt-old")),
            expires_at: None,
            obtained_at: Utc::now(),
            raw: json!({}),
        };

        engine()
            .refresh(&provider, &app(&["extra"]), &old, &config(&[]))
            .await
            .unwrap();

        let request = server.single_request();
        assert_token_request_head(&request, "/token");
        assert_eq!(
            request.body,
            "grant_type=refresh_token&refresh_token=rt-old&client_id=cid&client_secret=c%24ecret&scope=https%3A%2F%2Fads.example%2Fmanage"
        );
    }

    #[tokio::test]
    async fn refresh_uses_token_url_without_refresh_url() {
        let reply = json!({"access_token": "at-new", "refresh_token": "rt-new"});
        let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: rotating
display_name: Rotating
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/token
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));
        let old = OAuth2Token {
            access_token: Secret::new("at-old"),
            refresh_token: Some(Secret::new("rt-old")),
            expires_at: None,
            obtained_at: Utc::now(),
            raw: json!({}),
        };

        let grant = engine()
            .refresh(&provider, &app(&[]), &old, &config(&[]))
            .await
            .unwrap();

        let request = server.single_request();
        assert_token_request_head(&request, "/token");
        assert_eq!(
            request.form_value("grant_type").as_deref(),
            Some("refresh_token")
        );
        assert_eq!(
            grant.token.refresh_token.as_ref().map(Secret::expose),
            Some("rt-new")
        );
    }

    #[tokio::test]
    async fn url_fallbacks_used_without_variable() {
        let server = TestServer::start(vec![
            CannedReply::json(200, json!({"access_token": "at-1"})),
            CannedReply::json(200, json!({"access_token": "at-2"})),
            CannedReply::json(200, json!({"access_token": "cc-1"})),
        ])
        .await;
        // The regional templates are never requested: every request below
        // lacks `region`, so the engine must take the local fallback.
        let oauth2 = provider_from_yaml(&format!(
            r#"
name: regional
display_name: Regional
auth:
  mode: oauth2
  authorization_url: https://app.{{{{ region }}}}.regional.example/authorize
  authorization_url_fallbacks: ["https://app.regional.example/authorize"]
  token_url: https://api.{{{{ region }}}}.regional.example/token
  token_url_fallbacks: ["{base}/token"]
connection_config:
  region: {{title: Region, pattern: "eu|au", optional: true}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));
        let client_credentials = provider_from_yaml(&format!(
            r#"
name: regional-machine
display_name: Regional machine
auth:
  mode: oauth2_client_credentials
  token_url: https://api.{{{{ region }}}}.regional.example/token
  token_url_fallbacks: ["{base}/cc-token"]
connection_config:
  region: {{title: Region, pattern: "eu|au", optional: true}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));

        let regional = engine()
            .authorization_url(
                &oauth2,
                &app(&[]),
                REDIRECT_URI,
                &config(&[("region", "eu")]),
            )
            .unwrap();
        assert!(regional
            .url
            .as_str()
            .starts_with("https://app.eu.regional.example/authorize?"));
        let fallback = engine()
            .authorization_url(&oauth2, &app(&[]), REDIRECT_URI, &config(&[]))
            .unwrap();
        assert!(fallback
            .url
            .as_str()
            .starts_with("https://app.regional.example/authorize?"));

        let exchanged = engine()
            .exchange_code(
                &oauth2,
                &app(&[]),
                "the-code",
                fallback.pkce_verifier.as_ref(),
                REDIRECT_URI,
                &config(&[]),
            )
            .await
            .unwrap();
        assert_eq!(exchanged.token.access_token.expose(), "at-1");
        let old = OAuth2Token {
            access_token: Secret::new("at-old"),
            refresh_token: Some(Secret::new("rt-old")),
            expires_at: None,
            obtained_at: Utc::now(),
            raw: json!({}),
        };
        let refreshed = engine()
            .refresh(&oauth2, &app(&[]), &old, &config(&[]))
            .await
            .unwrap();
        assert_eq!(refreshed.token.access_token.expose(), "at-2");
        let granted = engine()
            .client_credentials(
                &client_credentials,
                "cid",
                &Secret::new("cs"),
                &[],
                &config(&[]),
            )
            .await
            .unwrap();
        assert_eq!(granted.token.access_token.expose(), "cc-1");

        let paths: Vec<String> = server
            .requests()
            .iter()
            .map(|request| request.path.clone())
            .collect();
        assert_eq!(paths, ["/token", "/token", "/cc-token"]);
    }

    #[tokio::test]
    async fn client_credentials_wire_format() {
        let provider_yaml = |base: &str, client_auth: &str| {
            format!(
                r#"
name: machine
display_name: Machine
auth:
  mode: oauth2_client_credentials
  token_url: {base}/oauth2/token
  scope_separator: ","
  default_scopes: [read]
  client_auth: {client_auth}
  token_params: {{resource: "https://{{{{ region }}}}.api.example"}}
proxy: {{base_url: "{base}"}}
"#
            )
        };

        // (client_auth, expected Authorization header, expected body)
        #[rustfmt::skip]
        let cases = [
            ("body", None, vec![
                ("grant_type", "client_credentials"), ("client_id", "cid"), ("client_secret", "c$ecret"),
                ("scope", "read,write"), ("resource", "https://eu.api.example"),
            ]),
            ("basic", Some(basic_header()), vec![
                ("grant_type", "client_credentials"), ("scope", "read,write"),
                ("resource", "https://eu.api.example"),
            ]),
        ];

        for (client_auth, authorization, body) in cases {
            let reply =
                json!({"access_token": "cc-token", "token_type": "Bearer", "expires_in": 300});
            let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
            let provider = provider_from_yaml(&provider_yaml(&server.base_url, client_auth));
            let scopes = vec!["read".to_owned(), "write".to_owned()];

            let grant = engine()
                .client_credentials(
                    &provider,
                    "cid",
                    &Secret::new("c$ecret"),
                    &scopes,
                    &config(&[("region", "eu")]),
                )
                .await
                .unwrap_or_else(|err| panic!("{client_auth}: {err}"));

            let request = server.single_request();
            assert_token_request_head(&request, "/oauth2/token");
            assert_eq!(
                request.header("authorization"),
                authorization.as_deref(),
                "{client_auth}"
            );
            let expected: Vec<(String, String)> = body
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
            assert_eq!(request.form(), expected, "{client_auth}");

            assert_eq!(grant.token.access_token.expose(), "cc-token");
            assert!(grant.token.refresh_token.is_none());
            let lifetime = grant.token.expires_at.unwrap() - grant.token.obtained_at;
            assert_eq!(lifetime.num_seconds(), 300);
        }
    }

    #[tokio::test]
    async fn client_credentials_templated_default_scope() {
        let reply = json!({"access_token": "cc-token", "expires_in": 300});
        let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: tenant-scope
display_name: Tenant scope
auth:
  mode: oauth2_client_credentials
  token_url: {base}/token
  default_scopes: ["https://{{{{ instance }}}}.api.example/.default"]
connection_config:
  instance: {{title: Instance, pattern: "[a-z0-9-]+"}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));

        engine()
            .client_credentials(
                &provider,
                "cid",
                &Secret::new("c$ecret"),
                &["extra".to_owned()],
                &config(&[("instance", "acme")]),
            )
            .await
            .unwrap();

        let request = server.single_request();
        assert_token_request_head(&request, "/token");
        assert_eq!(
            request.body,
            "grant_type=client_credentials&client_id=cid&client_secret=c%24ecret&scope=https%3A%2F%2Facme.api.example%2F.default+extra"
        );

        let err = engine()
            .client_credentials(&provider, "cid", &Secret::new("c$ecret"), &[], &config(&[]))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("auth.default_scopes[0]"), "{text}");
        assert!(text.contains("instance"), "{text}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn error_replies_over_http() {
        let html = CannedReply {
            status: 503,
            content_type: "text/html",
            body: "<html><body>Down for maintenance</body></html>".to_owned(),
        };
        let invalid_grant = CannedReply::json(
            400,
            json!({"error": "invalid_grant", "error_description": "Code expired"}),
        );

        for reply in [invalid_grant, html] {
            let server = TestServer::start(vec![reply.clone()]).await;
            let provider = token_provider(&server, "body");
            let verifier = Secret::new("v");

            let err = engine()
                .exchange_code(
                    &provider,
                    &app(&[]),
                    "code",
                    Some(&verifier),
                    REDIRECT_URI,
                    &config(&[("tenant", "t")]),
                )
                .await
                .unwrap_err();

            match (reply.status, &err) {
                (
                    400,
                    EngineError::Provider {
                        provider: provider_name,
                        kind,
                        code,
                        status,
                        ..
                    },
                ) => {
                    assert_eq!(provider_name, "local");
                    assert!(
                        err.to_string().starts_with("provider `local` rejected"),
                        "{err}"
                    );
                    assert_eq!(*kind, ProviderErrorKind::Reconnect);
                    assert_eq!(code, "invalid_grant");
                    assert_eq!(*status, 400);
                }
                (
                    503,
                    EngineError::InvalidResponse {
                        status, body_start, ..
                    },
                ) => {
                    assert_eq!(*status, 503);
                    assert_eq!(body_start, "<html><body>Down for maintenance</body></html>");
                }
                (_, other) => panic!("unexpected error for HTTP {}: {other:?}", reply.status),
            }
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_transport_error() {
        // Bind then drop a listener so that the port is closed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let provider = provider_from_yaml(&format!(
            r#"
name: gone
display_name: Gone
auth:
  mode: oauth2_client_credentials
  token_url: http://{address}/token
proxy: {{base_url: "http://{address}"}}
"#
        ));

        let err = engine()
            .client_credentials(&provider, "cid", &Secret::new("cs"), &[], &config(&[]))
            .await
            .unwrap_err();

        let text = err.to_string();
        assert!(matches!(err, EngineError::Transport(_)), "{err:?}");
        assert!(!text.contains("for url"), "{text}");
        assert!(
            text.starts_with(&format!(
                "token request to provider `gone` at http://{address}/token failed: "
            )),
            "{text}"
        );
        assert!(err.is_temporary());
    }

    #[tokio::test]
    async fn oversized_reply_is_transport_error() {
        let padding = "x".repeat(1024 * 1024);
        let reply = CannedReply::json(200, json!({"access_token": "at", "padding": padding}));
        let server = TestServer::start(vec![reply]).await;
        let provider = token_provider(&server, "body");
        let verifier = Secret::new("v");

        let err = engine()
            .exchange_code(
                &provider,
                &app(&[]),
                "code",
                Some(&verifier),
                REDIRECT_URI,
                &config(&[("tenant", "t")]),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, EngineError::Transport(_)), "{err:?}");
        assert!(
            err.to_string()
                .ends_with("the reply is larger than 1048576 bytes"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn refresh_preconditions() {
        let not_refreshable = provider_from_yaml(
            r#"
name: once
display_name: Once
auth:
  mode: oauth2
  authorization_url: https://once.example/authorize
  token_url: https://once.example/token
  refreshable: false
proxy: {base_url: "https://once.example"}
"#,
        );
        let with_refresh = OAuth2Token {
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt")),
            expires_at: None,
            obtained_at: Utc::now(),
            raw: json!({}),
        };
        let without_refresh = OAuth2Token {
            refresh_token: None,
            ..with_refresh.clone()
        };

        let err = engine()
            .refresh(&not_refreshable, &app(&[]), &with_refresh, &config(&[]))
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("`refreshable: false`"), "{err}");

        let err = engine()
            .refresh(
                &provider_from_yaml(GOOGLE),
                &app(&[]),
                &without_refresh,
                &config(&[]),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the connection to provider `google` has no refresh token, so the end user must connect again"
        );
    }

    #[tokio::test]
    async fn exchange_without_verifier_rejected() {
        let err = engine()
            .exchange_code(
                &provider_from_yaml(GOOGLE),
                &app(&[]),
                "code",
                None,
                REDIRECT_URI,
                &config(&[]),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, EngineError::MissingCredential(_)), "{err:?}");
    }

    fn assert_send<T: Send>(_: &T) {}

    /// The server boxes these futures as `dyn Future + Send`.
    #[test]
    fn token_futures_are_send() {
        let engine = engine();
        let provider = provider_from_yaml(GOOGLE);
        let app = app(&[]);
        let config = config(&[]);
        let token = OAuth2Token {
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt")),
            expires_at: None,
            obtained_at: Utc::now(),
            raw: json!({}),
        };

        let exchange = engine.exchange_code(&provider, &app, "c", None, REDIRECT_URI, &config);
        let refresh = engine.refresh(&provider, &app, &token, &config);
        let client_credentials =
            engine.client_credentials(&provider, "cid", &app.client_secret, &[], &config);

        assert_send(&exchange);
        assert_send(&refresh);
        assert_send(&client_credentials);
    }

    #[test]
    fn join_scopes_table() {
        let strings = |items: &[&str]| {
            items
                .iter()
                .map(|item| item.to_string())
                .collect::<Vec<_>>()
        };

        #[rustfmt::skip]
        let cases = [
            (vec![], vec![], " ", ""),
            (vec!["a"], vec![], " ", "a"),
            (vec!["a", "b"], vec!["b", "c", "a"], " ", "a b c"),
            (vec![], vec!["x", "", "y"], ",", "x,y"),
        ];

        for (defaults, extra, separator, expected) in cases {
            assert_eq!(
                join_scopes(&strings(&defaults), &strings(&extra), separator),
                expected
            );
        }
    }

    #[test]
    fn authorization_url_dialects() {
        let yaml = |extra: &str| {
            format!(
                r#"
name: dialect
display_name: Dialect
auth:
  mode: oauth2
  authorization_url: https://dialect.example/authorize
  token_url: https://dialect.example/token
  pkce: false
  scope_separator: " "
{extra}
proxy: {{base_url: "https://dialect.example"}}
"#
            )
        };

        // (case, definition lines, integration scopes, expected URL with
        // {state} standing for the random value)
        #[rustfmt::skip]
        let cases = [
            (
                "form-encoded scopes by default",
                "  authorization_params: {audience: \"\"}",
                vec!["read:user", "files/write"],
                format!("https://dialect.example/authorize?response_type=code&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}&scope=read%3Auser+files%2Fwrite&audience="),
            ),
            (
                "raw scopes keep : and / and encode the space as %20",
                "  scope_encoding: raw",
                vec!["read:user", "files/write"],
                format!("https://dialect.example/authorize?response_type=code&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}&scope=read:user%20files/write"),
            ),
            (
                "empty parameters dropped",
                "  drop_empty_authorization_params: true\n  authorization_params: {audience: \"\", prompt: consent}",
                vec![],
                format!("https://dialect.example/authorize?response_type=code&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}&prompt=consent"),
            ),
            (
                "renamed standard parameters",
                "  authorization_param_names: {client_id: client_key, redirect_uri: redirect_url}",
                vec!["user.info.basic"],
                format!("https://dialect.example/authorize?response_type=code&client_key=cid&state={{state}}&redirect_url={ENCODED_REDIRECT_URI}&scope=user.info.basic"),
            ),
            (
                "hybrid response type",
                "  response_type: code id_token\n  authorization_params: {response_mode: query}",
                vec!["openid"],
                format!("https://dialect.example/authorize?response_type=code+id_token&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}&scope=openid&response_mode=query"),
            ),
            (
                "renamed response type",
                "  response_type: auth_code",
                vec![],
                format!("https://dialect.example/authorize?response_type=auth_code&client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}"),
            ),
            (
                "empty response type left out",
                "  response_type: \"\"",
                vec![],
                format!("https://dialect.example/authorize?client_id=cid&state={{state}}&redirect_uri={ENCODED_REDIRECT_URI}"),
            ),
        ];

        for (case, extra, scopes, expected) in cases {
            let provider = provider_from_yaml(&yaml(extra));

            let request = engine()
                .authorization_url(&provider, &app(&scopes), REDIRECT_URI, &config(&[]))
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            let expected = expected.replace("{state}", request.state.expose());
            assert_eq!(request.url.as_str(), expected, "{case}");
        }
    }

    #[tokio::test]
    async fn token_request_dialects() {
        let yaml = |base: &str, extra: &str| {
            format!(
                r#"
name: dialect
display_name: Dialect
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/token
  pkce: false
{extra}
proxy: {{base_url: "{base}"}}
"#
            )
        };

        // (case, definition lines, expected Authorization header, expected
        // content type, expected raw body)
        #[rustfmt::skip]
        let cases = [
            (
                "basic_and_body sends the header and both body fields",
                "  client_auth: basic_and_body",
                Some(basic_header()),
                "application/x-www-form-urlencoded",
                format!("grant_type=authorization_code&code=the-code&client_id=cid&client_secret=c%24ecret&redirect_uri={ENCODED_REDIRECT_URI}"),
            ),
            (
                "json body",
                "  token_body_format: json\n  token_params: {audience: api}",
                None,
                "application/json",
                format!(r#"{{"audience":"api","client_id":"cid","client_secret":"c$ecret","code":"the-code","grant_type":"authorization_code","redirect_uri":"{REDIRECT_URI}"}}"#),
            ),
            (
                "json body with basic client auth",
                "  token_body_format: json\n  client_auth: basic",
                Some(basic_header()),
                "application/json",
                format!(r#"{{"code":"the-code","grant_type":"authorization_code","redirect_uri":"{REDIRECT_URI}"}}"#),
            ),
            (
                "renamed token parameters",
                "  token_param_names: {client_id: client_key}",
                None,
                "application/x-www-form-urlencoded",
                format!("grant_type=authorization_code&code=the-code&client_key=cid&client_secret=c%24ecret&redirect_uri={ENCODED_REDIRECT_URI}"),
            ),
        ];

        for (case, extra, authorization, content_type, body) in cases {
            let reply = json!({"access_token": "at"});
            let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
            let provider = provider_from_yaml(&yaml(&server.base_url, extra));

            engine()
                .exchange_code(
                    &provider,
                    &app(&[]),
                    "the-code",
                    None,
                    REDIRECT_URI,
                    &config(&[]),
                )
                .await
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            let request = server.single_request();
            assert_eq!(request.method, "POST", "{case}");
            assert_eq!(request.header("accept"), Some("application/json"), "{case}");
            assert_eq!(request.header("content-type"), Some(content_type), "{case}");
            assert_eq!(
                request.header("authorization"),
                authorization.as_deref(),
                "{case}"
            );
            assert_eq!(request.body, body, "{case}");
        }
    }

    #[tokio::test]
    async fn refresh_json_body_omits_code_grant() {
        let reply = json!({"access_token": "at-new"});
        let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: jsonish
display_name: Jsonish
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/token
  token_body_format: json
  token_params: {{audience: api}}
  refresh_params: {{hint: again}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));
        let old = OAuth2Token {
            access_token: Secret::new("at-old"),
            refresh_token: Some(Secret::new("rt-old")),
            expires_at: None,
            obtained_at: Utc::now(),
            raw: json!({}),
        };

        engine()
            .refresh(&provider, &app(&[]), &old, &config(&[]))
            .await
            .unwrap();

        let request = server.single_request();
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"grant_type": "refresh_token", "refresh_token": "rt-old", "client_id": "cid", "client_secret": "c$ecret", "hint": "again"})
        );
    }

    #[tokio::test]
    async fn client_credentials_json_body() {
        let reply = json!({"access_token": "cc"});
        let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: machine
display_name: Machine
auth:
  mode: oauth2_client_credentials
  token_url: {base}/token
  token_body_format: json
  client_auth: basic_and_body
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));
        let scopes = vec!["read".to_owned()];

        engine()
            .client_credentials(
                &provider,
                "cid",
                &Secret::new("c$ecret"),
                &scopes,
                &config(&[]),
            )
            .await
            .unwrap();

        let request = server.single_request();
        assert_eq!(
            request.header("authorization"),
            Some(basic_header().as_str())
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.body,
            r#"{"client_id":"cid","client_secret":"c$ecret","grant_type":"client_credentials","scope":"read"}"#
        );
    }

    #[test]
    fn callback_values_captured() {
        let provider = provider_from_yaml(
            r#"
name: quickbooks
display_name: QuickBooks
auth:
  mode: oauth2
  authorization_url: https://appcenter.intuit.com/connect/oauth2
  token_url: https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer
  callback_connection_config: {realm_id: realmId, region: region, site: site}
connection_config:
  realm_id: {title: Company ID, automated: true}
  region: {title: Region, optional: true, automated: true}
  site: {title: Site, optional: true, automated: true}
proxy: {base_url: "https://quickbooks.api.intuit.com/v3/company/{{ realm_id }}"}
"#,
        );
        let query: BTreeMap<&str, &str> = [
            ("code", "c"),
            ("state", "s"),
            ("realmId", "9130347"),
            ("site", ""),
        ]
        .into_iter()
        .collect();

        let captured = engine()
            .callback_connection_config(&provider, |name| query.get(name).copied())
            .unwrap();

        assert_eq!(captured.get("realm_id"), Some(&json!("9130347")));
        assert_eq!(captured.get("region"), None, "absent parameter");
        assert_eq!(captured.get("site"), None, "empty parameter");
        assert_eq!(captured.len(), 1);
    }

    const ZOHO_LIKE: &str = r#"
name: zoho-like
display_name: Zoho
auth:
  mode: oauth2
  authorization_url: https://accounts.zoho.com/oauth/v2/auth
  token_url: https://accounts.zoho.{{ extension }}/oauth/v2/token
  token_url_fallbacks: ["{{ accounts_server }}/oauth/v2/token"]
  callback_connection_config: {accounts_server: accounts-server}
connection_config:
  extension: {title: Extension, pattern: "com|eu|in", optional: true}
  accounts_server:
    title: Accounts server
    pattern: "https://accounts\\.zoho\\.(com|eu|in)"
    automated: true
proxy: {base_url: "https://www.zohoapis.com"}
"#;

    #[test]
    fn callback_value_picks_token_host() {
        let provider = provider_from_yaml(ZOHO_LIKE);
        let oauth2 = oauth2_settings(&provider, "test").unwrap();
        let query: BTreeMap<&str, &str> = [
            ("code", "c"),
            ("accounts-server", "https://accounts.zoho.eu"),
        ]
        .into_iter()
        .collect();

        let captured = engine()
            .callback_connection_config(&provider, |name| query.get(name).copied())
            .unwrap();
        assert_eq!(
            captured.get("accounts_server"),
            Some(&json!("https://accounts.zoho.eu"))
        );

        let vars = config_variables(&provider, &captured);
        let token_url = oauth2_token_url(&provider, oauth2, &vars).unwrap();
        assert_eq!(
            token_url.as_str(),
            "https://accounts.zoho.eu/oauth/v2/token"
        );

        let with_extension = config_variables(&provider, &config(&[("extension", "in")]));
        let token_url = oauth2_token_url(&provider, oauth2, &with_extension).unwrap();
        assert_eq!(
            token_url.as_str(),
            "https://accounts.zoho.in/oauth/v2/token"
        );
    }

    #[test]
    fn hostile_callback_value_rejected() {
        let provider = provider_from_yaml(ZOHO_LIKE);
        let hostile = [
            "https://attacker.example",
            "https://accounts.zoho.eu.attacker.example",
            "https://accounts.zoho.eu@attacker.example",
            "https://accounts.zoho.eu/",
            "http://accounts.zoho.eu",
            "https://accounts.zoho.eu\r\nX: y",
        ];
        for value in hostile {
            let query: BTreeMap<&str, &str> = [("code", "c"), ("accounts-server", value)]
                .into_iter()
                .collect();

            let error = engine()
                .callback_connection_config(&provider, |name| query.get(name).copied())
                .unwrap_err();

            assert!(matches!(error, EngineError::InvalidCallback(_)), "{value}");
            let message = error.to_string();
            assert!(message.contains("`accounts-server`"), "{message}");
            assert!(message.contains("`accounts_server`"), "{message}");
            assert!(message.contains("nothing is stored"), "{message}");
            assert!(!message.contains('\r'), "{message}");
        }
    }

    #[test]
    fn random_token_in_authorization_params() {
        let provider = provider_from_yaml(
            r#"
name: hubstaff-like
display_name: Hubstaff
auth:
  mode: oauth2
  authorization_url: https://account.example/authorizations/new
  token_url: https://account.example/access_tokens
  pkce: false
  authorization_params: {nonce: "{{ random_token }}"}
proxy: {base_url: "https://api.example"}
"#,
        );
        let nonce = || {
            let request = engine()
                .authorization_url(&provider, &app(&[]), REDIRECT_URI, &config(&[]))
                .unwrap();
            let query = request.url.query().unwrap().to_owned();
            let raw = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("nonce="))
                .unwrap_or_else(|| panic!("no nonce in {query}"))
                .to_owned();
            (raw, request.state.expose().to_owned())
        };

        let (first, first_state) = nonce();
        let (second, _) = nonce();

        assert_ne!(first, second);
        assert_ne!(first, first_state, "the nonce is not the state");
        for value in [&first, &second] {
            assert_eq!(value.len(), 22, "{value}");
            assert!(
                value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{value} is not URL-safe"
            );
        }
    }

    #[tokio::test]
    async fn client_credentials_query_and_grant_type() {
        let reply = json!({"access_token": "cc", "expires_in": 3600});
        let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: meeting
display_name: Meeting
auth:
  mode: oauth2_client_credentials
  token_url: {base}/oauth/token?v=2
  grant_type: account_credentials
  token_body_format: query
  client_auth: basic
  token_params: {{account_id: "{{{{ account }}}}"}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));

        engine()
            .client_credentials(
                &provider,
                "cid",
                &Secret::new("c$ecret"),
                &[],
                &config(&[("account", "acc 1")]),
            )
            .await
            .unwrap();

        let request = server.single_request();
        let raw = String::from_utf8(request.raw.clone()).unwrap();
        assert!(
            raw.starts_with(
                "POST /oauth/token?v=2&grant_type=account_credentials&account_id=acc+1 HTTP/1.1\r\n"
            ),
            "{raw}"
        );
        assert_eq!(request.header("content-type"), None);
        assert_eq!(request.header("content-length"), Some("0"));
        assert_eq!(
            request.header("authorization"),
            Some(basic_header().as_str())
        );
        assert_eq!(request.body, "");
    }

    #[tokio::test]
    async fn client_credentials_login_without_grant_type() {
        let jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3NjcyMjkyMDB9.";
        let server = TestServer::start(vec![CannedReply::json(200, json!({"jwt": jwt}))]).await;
        let provider = provider_from_yaml(&format!(
            r#"
name: login-cc
display_name: Login CC
auth:
  mode: oauth2_client_credentials
  token_url: {base}/authenticate
  grant_type: ""
  token_body_format: json
  token_param_names: {{client_id: username, client_secret: password}}
  token_response: {{access_token_fallback: jwt}}
proxy: {{base_url: "{base}"}}
"#,
            base = server.base_url
        ));

        let grant = engine()
            .client_credentials(&provider, "cid", &Secret::new("c$ecret"), &[], &config(&[]))
            .await
            .unwrap();

        let request = server.single_request();
        assert_eq!(request.path, "/authenticate");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), None);
        assert_eq!(request.body, r#"{"password":"c$ecret","username":"cid"}"#);
        assert_eq!(grant.token.access_token.expose(), jwt);
        assert_eq!(
            grant.token.expires_at,
            Some("2026-01-01T01:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn authorization_url_fragment_carries_query() {
        let provider = provider_from_yaml(
            r#"
name: spa
display_name: Spa
auth:
  mode: oauth2
  authorization_url: https://spa.example/admin/oauth-web/?lang=en
  authorization_url_fragment: /oauth/authorize
  token_url: https://spa.example/token
  pkce: false
  scope_encoding: raw
proxy: {base_url: "https://spa.example"}
"#,
        );

        let request = engine()
            .authorization_url(
                &provider,
                &app(&["read:user", "files/write"]),
                REDIRECT_URI,
                &config(&[]),
            )
            .unwrap();

        let state = request.state.expose();
        assert_eq!(
            request.url.as_str(),
            format!("https://spa.example/admin/oauth-web/#/oauth/authorize?lang=en&response_type=code&client_id=cid&state={state}&redirect_uri={ENCODED_REDIRECT_URI}&scope=read:user%20files/write")
        );
        assert_eq!(request.url.query(), None);
    }
}
