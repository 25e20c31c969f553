//! OAuth for MCP servers (`mcp_oauth2`), per the MCP authorization
//! specification: discovery of the protected-resource metadata (RFC 9728)
//! and of the authorization server's metadata (RFC 8414, or OpenID Connect
//! Discovery 1.0), dynamic client registration (RFC 7591), and the
//! authorization code grant with PKCE S256 and the `resource` parameter
//! (RFC 8707).
//!
//! Discovery and registration run once, when a connection starts. Their
//! result, [`McpSetup`], is stored with the connection, so a refresh after
//! a restart needs neither again. The flow itself is the `oauth2` one: an
//! [`McpSetup`] turns into an `oauth2` definition with the discovered
//! endpoints ([`McpSetup::oauth2_provider`]) that the OAuth2 code runs.

use std::collections::BTreeMap;
use std::fmt;

use http::header::{ACCEPT, WWW_AUTHENTICATE};
use latchkey_catalog::{
    Auth, ClientAuth, ClientRegistration, McpOAuth2, OAuth2, Provider, RegistrationValue,
    TokenBodyFormat, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use url::{Host, Url};

use crate::template::config_variables;
use crate::url_template::render_url;
use crate::{ClientApp, ConnectionConfig, Engine, EngineError, Secret};

/// The largest metadata or registration reply read, in bytes. Real ones are
/// a few kilobytes.
const MAX_REPLY_BYTES: usize = 256 * 1024;

/// `client_name` of a registration request unless `registration_params`
/// sets one.
const DEFAULT_CLIENT_NAME: &str = "Latchkey";

/// The endpoints and the OAuth client of one `mcp_oauth2` connection.
#[derive(Clone, Serialize, Deserialize)]
pub struct McpSetup {
    /// The authorization server's issuer, when it was discovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// The `resource` parameter (RFC 8707): the MCP server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Scopes requested when neither the definition nor the integration
    /// names any: the protected resource's `scopes_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovered_scopes: Vec<String>,
    pub client_id: String,
    /// Empty for a public client.
    pub client_secret: Secret,
    /// The client authentication at the token endpoint (RFC 7591
    /// `token_endpoint_auth_method`): `client_secret_basic`,
    /// `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// Whether Latchkey registered the client itself (RFC 7591), rather than
    /// using the integration's client.
    pub client_registered: bool,
}

impl fmt::Debug for McpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpSetup")
            .field("issuer", &self.issuer)
            .field("authorization_endpoint", &self.authorization_endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("resource", &self.resource)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("client_registered", &self.client_registered)
            .finish()
    }
}

impl McpSetup {
    /// Builds the `oauth2` definition that runs this connection's flow: the
    /// endpoints of the setup, PKCE on, and `resource` in the authorization
    /// request, the code exchange and every refresh.
    pub fn oauth2_provider(&self, provider: &Provider) -> Result<Provider, EngineError> {
        let mcp = mcp_settings(provider)?;
        let mut params = BTreeMap::new();
        if let Some(resource) = &self.resource {
            params.insert("resource".to_owned(), literal_template(resource));
        }
        let client_auth = match self.token_endpoint_auth_method.as_str() {
            "client_secret_basic" => ClientAuth::Basic,
            _ => ClientAuth::Body,
        };
        let oauth2 = OAuth2 {
            authorization_url: literal_template(&self.authorization_endpoint),
            authorization_url_fallbacks: Vec::new(),
            authorization_url_fragment: None,
            token_url: literal_template(&self.token_endpoint),
            token_url_fallbacks: Vec::new(),
            refresh_url: None,
            scope_separator: mcp.scope_separator.clone(),
            default_scopes: mcp.default_scopes.clone(),
            scope_encoding: mcp.scope_encoding,
            authorization_params: params.clone(),
            drop_empty_authorization_params: false,
            authorization_param_names: BTreeMap::new(),
            token_params: params.clone(),
            refresh_params: params,
            client_auth,
            token_body_format: TokenBodyFormat::Form,
            token_param_names: BTreeMap::new(),
            pkce: true,
            refresh_margin_seconds: mcp.refresh_margin_seconds,
            refreshable: true,
            token_response: TokenResponse {
                access_token_fallback: mcp.token_response.access_token_fallback.clone(),
                ..TokenResponse::default()
            },
            callback_connection_config: BTreeMap::new(),
            callback_code_param: None,
            inject: mcp.inject.clone(),
            response_type: None,
            refresh_scopes: Vec::new(),
            admin_consent: None,
        };
        let mut flow = provider.clone();
        flow.auth = Auth::Oauth2(oauth2);
        Ok(flow)
    }

    /// Returns the OAuth client of the setup, requesting `scopes` (the
    /// integration's) or else the discovered ones.
    pub fn client_app(&self, provider: &Provider, scopes: &[String]) -> ClientApp {
        let has_default_scopes = match &provider.auth {
            Auth::McpOauth2(mcp) => !mcp.default_scopes.is_empty(),
            _ => false,
        };
        let scopes = if scopes.is_empty() && !has_default_scopes {
            self.discovered_scopes.clone()
        } else {
            scopes.to_vec()
        };
        let client_secret = if self.token_endpoint_auth_method == "none" {
            Secret::new("")
        } else {
            self.client_secret.clone()
        };
        ClientApp {
            client_id: self.client_id.clone(),
            client_secret,
            scopes,
        }
    }
}

/// The endpoints found by discovery or pinned by the definition.
#[derive(Debug, Default)]
struct Endpoints {
    issuer: Option<String>,
    authorization: Option<Url>,
    token: Option<Url>,
    registration: Option<Url>,
    auth_methods: Option<Vec<String>>,
    scopes: Vec<String>,
}

impl Engine {
    /// Prepares an `mcp_oauth2` connection: renders the server URL and the
    /// pinned endpoints, discovers the missing ones from the server URL,
    /// and registers a client at the registration endpoint unless the
    /// definition is `client_registration: static` or `app` has a client
    /// id. `redirect_uri` goes into the registration request.
    pub async fn mcp_prepare(
        &self,
        provider: &Provider,
        app: Option<&ClientApp>,
        redirect_uri: &str,
        config: &ConnectionConfig,
    ) -> Result<McpSetup, EngineError> {
        let mcp = mcp_settings(provider)?;
        let vars = config_variables(provider, config);
        let render = |field: &str, template: &Option<String>| {
            template
                .as_ref()
                .map(|template| render_url(provider, field, template, &vars))
                .transpose()
        };
        let server_url = render("auth.server_url", &mcp.server_url)?;
        let mut endpoints = Endpoints {
            authorization: render("auth.authorization_url", &mcp.authorization_url)?,
            token: render("auth.token_url", &mcp.token_url)?,
            registration: render("auth.registration_url", &mcp.registration_url)?,
            ..Endpoints::default()
        };
        let app = app.filter(|app| !app.client_id.is_empty());
        let registers = app.is_none();
        if registers && mcp.client_registration == ClientRegistration::Static {
            return Err(EngineError::MissingCredential(format!(
                "provider `{}` uses `client_registration: static`, so its integration needs a client id: PATCH the integration with `credentials` (type MCP_OAUTH2, client_id, client_secret)",
                provider.name
            )));
        }
        let complete = endpoints.authorization.is_some()
            && endpoints.token.is_some()
            && (!registers || endpoints.registration.is_some());
        if !complete {
            let server_url = server_url.as_ref().ok_or_else(|| {
                EngineError::Unsupported(format!(
                    "provider `{}` pins no authorization, token or registration endpoint it needs and has no `server_url` to discover them from",
                    provider.name
                ))
            })?;
            let discovered = self.discover(&provider.name, server_url).await?;
            endpoints.issuer = discovered.issuer;
            endpoints.authorization = endpoints.authorization.or(discovered.authorization);
            endpoints.token = endpoints.token.or(discovered.token);
            endpoints.registration = endpoints.registration.or(discovered.registration);
            endpoints.auth_methods = discovered.auth_methods;
            endpoints.scopes = discovered.scopes;
        }
        let authorization = endpoints.authorization.clone().ok_or_else(|| {
            discovery_error(
                &provider.name,
                "the authorization server's metadata has no `authorization_endpoint`",
            )
        })?;
        let token = endpoints.token.clone().ok_or_else(|| {
            discovery_error(
                &provider.name,
                "the authorization server's metadata has no `token_endpoint`",
            )
        })?;

        let (client_id, client_secret, method) = match app {
            Some(app) => {
                let method = if app.client_secret.expose().is_empty() {
                    "none"
                } else {
                    "client_secret_post"
                };
                (
                    app.client_id.clone(),
                    app.client_secret.clone(),
                    method.to_owned(),
                )
            }
            None => {
                let registration = endpoints.registration.clone().ok_or_else(|| {
                    EngineError::MissingCredential(format!(
                        "the authorization server of provider `{}` has no `registration_endpoint`, so no client can be registered: give the integration a client id",
                        provider.name
                    ))
                })?;
                self.register(provider, mcp, &registration, redirect_uri, &endpoints)
                    .await?
            }
        };
        Ok(McpSetup {
            issuer: endpoints.issuer,
            authorization_endpoint: authorization.to_string(),
            token_endpoint: token.to_string(),
            resource: server_url.map(|url| url.to_string()),
            discovered_scopes: endpoints.scopes,
            client_id,
            client_secret,
            token_endpoint_auth_method: method,
            client_registered: registers,
        })
    }

    /// Finds the protected resource's metadata, then its first
    /// authorization server's metadata.
    async fn discover(&self, provider: &str, server_url: &Url) -> Result<Endpoints, EngineError> {
        let resource = self.resource_metadata(provider, server_url).await?;
        let issuer = resource
            .get("authorization_servers")
            .and_then(Value::as_array)
            .and_then(|servers| servers.first())
            .and_then(Value::as_str)
            .ok_or_else(|| {
                discovery_error(
                    provider,
                    format!("the protected-resource metadata of {server_url} lists no `authorization_servers`"),
                )
            })?;
        let issuer_url = discovered_url(provider, "authorization_servers[0]", issuer)?;
        let metadata = self
            .authorization_server_metadata(provider, issuer, &issuer_url)
            .await?;

        let methods = metadata
            .get("code_challenge_methods_supported")
            .and_then(Value::as_array);
        let s256 = methods.is_some_and(|methods| methods.iter().any(|m| m == "S256"));
        if !s256 {
            return Err(discovery_error(
                provider,
                format!("the metadata of authorization server {issuer} does not list `S256` in `code_challenge_methods_supported`, and MCP requires PKCE with S256"),
            ));
        }
        let url_field = |name: &str| -> Result<Option<Url>, EngineError> {
            metadata
                .get(name)
                .and_then(Value::as_str)
                .map(|value| discovered_url(provider, name, value))
                .transpose()
        };
        Ok(Endpoints {
            issuer: Some(issuer.to_owned()),
            authorization: url_field("authorization_endpoint")?,
            token: url_field("token_endpoint")?,
            registration: url_field("registration_endpoint")?,
            auth_methods: string_list(&metadata, "token_endpoint_auth_methods_supported"),
            scopes: string_list(&resource, "scopes_supported").unwrap_or_default(),
        })
    }

    /// Fetches the protected-resource metadata of `server_url` (RFC 9728):
    /// from the `resource_metadata` parameter of the server's 401 reply
    /// when it sends one, else from the well-known URL with the server's
    /// path, else from the well-known URL at its root. The metadata's
    /// `resource` must equal `server_url` (RFC 9728 section 3.3).
    async fn resource_metadata(
        &self,
        provider: &str,
        server_url: &Url,
    ) -> Result<Map<String, Value>, EngineError> {
        let mut candidates = Vec::new();
        if let Some(url) = self.challenge_metadata_url(provider, server_url).await? {
            candidates.push(url);
        }
        let path = server_url.path().trim_end_matches('/');
        for suffix in [path, ""] {
            let mut url = server_url.clone();
            url.set_path(&format!("/.well-known/oauth-protected-resource{suffix}"));
            url.set_query(None);
            if !candidates.contains(&url) {
                candidates.push(url);
            }
        }

        let mut failures = Vec::new();
        for url in candidates {
            match self.fetch_json(provider, &url).await? {
                Fetched::Json(metadata) => {
                    check_resource(provider, &url, &metadata, server_url)?;
                    return Ok(metadata);
                }
                Fetched::Failed(reason) => failures.push(format!("{url} {reason}")),
            }
        }
        Err(discovery_error(
            provider,
            format!(
                "no protected-resource metadata found for {server_url}: {}",
                failures.join("; ")
            ),
        ))
    }

    /// Sends an unauthenticated request to the MCP server and returns the
    /// `resource_metadata` URL of its `WWW-Authenticate: Bearer` challenge,
    /// if the reply is a 401 with one.
    async fn challenge_metadata_url(
        &self,
        provider: &str,
        server_url: &Url,
    ) -> Result<Option<Url>, EngineError> {
        let reply = self
            .http
            .get(server_url.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .send()
            .await
            .map_err(|error| transport_error(provider, server_url, &error))?;
        if reply.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        let challenge = reply
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(resource_metadata_param);
        challenge
            .map(|value| discovered_url(provider, "WWW-Authenticate resource_metadata", &value))
            .transpose()
    }

    /// Fetches the authorization server's metadata: RFC 8414's well-known
    /// URL first, then OpenID Connect Discovery's. The metadata's `issuer`
    /// must equal `issuer` (RFC 8414 section 3.3).
    async fn authorization_server_metadata(
        &self,
        provider: &str,
        issuer: &str,
        issuer_url: &Url,
    ) -> Result<Map<String, Value>, EngineError> {
        let path = issuer_url.path().trim_end_matches('/');
        let mut candidates = Vec::new();
        for well_known in ["oauth-authorization-server", "openid-configuration"] {
            let mut url = issuer_url.clone();
            url.set_path(&format!("/.well-known/{well_known}{path}"));
            url.set_query(None);
            candidates.push(url);
        }
        if !path.is_empty() {
            let mut url = issuer_url.clone();
            url.set_path(&format!("{path}/.well-known/openid-configuration"));
            url.set_query(None);
            candidates.push(url);
        }

        let mut failures = Vec::new();
        for url in candidates {
            match self.fetch_json(provider, &url).await? {
                Fetched::Json(metadata) => {
                    let found = metadata.get("issuer").and_then(Value::as_str);
                    if found != Some(issuer) {
                        return Err(discovery_error(
                            provider,
                            format!(
                                "the authorization server metadata at {url} has issuer {}, not {issuer:?} as the protected resource names it, so it is rejected",
                                found.map_or("(none)".to_owned(), |found| format!("{found:?}"))
                            ),
                        ));
                    }
                    return Ok(metadata);
                }
                Fetched::Failed(reason) => failures.push(format!("{url} {reason}")),
            }
        }
        Err(discovery_error(
            provider,
            format!(
                "no metadata found for authorization server {issuer}: {}",
                failures.join("; ")
            ),
        ))
    }

    /// Registers a client (RFC 7591) with `redirect_uri`, the
    /// definition's `registration_params` and the client authentication
    /// that the server supports, preferring `client_secret_basic`.
    /// Returns the client id, secret and authentication method.
    async fn register(
        &self,
        provider: &Provider,
        mcp: &McpOAuth2,
        url: &Url,
        redirect_uri: &str,
        endpoints: &Endpoints,
    ) -> Result<(String, Secret, String), EngineError> {
        let method = choose_auth_method(endpoints.auth_methods.as_deref());
        let mut body = Map::new();
        body.insert("client_name".to_owned(), json!(DEFAULT_CLIENT_NAME));
        body.insert(
            "grant_types".to_owned(),
            json!(["authorization_code", "refresh_token"]),
        );
        body.insert("response_types".to_owned(), json!(["code"]));
        for (name, value) in &mcp.registration_params {
            let value = match value {
                RegistrationValue::Text(text) => json!(text),
                RegistrationValue::List(list) => json!(list),
            };
            body.insert(name.clone(), value);
        }
        body.insert("redirect_uris".to_owned(), json!([redirect_uri]));
        body.insert("token_endpoint_auth_method".to_owned(), json!(method));

        tracing::info!(provider = %provider.name, endpoint = %url, "registering an OAuth client");
        let reply = self
            .http
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|error| transport_error(&provider.name, url, &error))?;
        let status = reply.status();
        let text = read_limited(reply)
            .await
            .map_err(|error| transport_error(&provider.name, url, &error))?;
        let parsed: Option<Map<String, Value>> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let answer = parsed
                .as_ref()
                .and_then(|body| {
                    body.get("error").and_then(Value::as_str).map(|code| {
                        let description = body
                            .get("error_description")
                            .and_then(Value::as_str)
                            .map_or(String::new(), |text| format!(": {text}"));
                        format!("error `{code}`{description}")
                    })
                })
                .unwrap_or_else(|| format!("body starts with {:?}", excerpt(&text)));
            return Err(EngineError::Discovery(format!(
                "provider `{}`: the client registration at {url} was rejected with HTTP {}, {answer}",
                provider.name,
                status.as_u16()
            )));
        }
        let Some(client) = parsed else {
            return Err(EngineError::Discovery(format!(
                "provider `{}`: the client registration at {url} returned HTTP {} with a body that is not a JSON object",
                provider.name,
                status.as_u16()
            )));
        };
        let client_id = client
            .get("client_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                EngineError::Discovery(format!(
                    "provider `{}`: the client registration at {url} returned no `client_id`",
                    provider.name
                ))
            })?;
        let secret = client
            .get("client_secret")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let method = client
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or(method);
        let method = if secret.is_empty() { "none" } else { method };
        tracing::info!(provider = %provider.name, endpoint = %url, client_id, "registered an OAuth client");
        Ok((client_id.to_owned(), Secret::new(secret), method.to_owned()))
    }

    /// GETs `url` and returns its JSON object, or why it has none. Only a
    /// failed connection is an error, so the caller can try the next URL.
    async fn fetch_json(&self, provider: &str, url: &Url) -> Result<Fetched, EngineError> {
        let reply = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| transport_error(provider, url, &error))?;
        let status = reply.status();
        let text = read_limited(reply)
            .await
            .map_err(|error| transport_error(provider, url, &error))?;
        if !status.is_success() {
            return Ok(Fetched::Failed(format!(
                "returned HTTP {}",
                status.as_u16()
            )));
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => Ok(Fetched::Json(object)),
            _ => Ok(Fetched::Failed(format!(
                "returned HTTP {} with a body that is not a JSON object (it starts with {:?})",
                status.as_u16(),
                excerpt(&text)
            ))),
        }
    }
}

enum Fetched {
    Json(Map<String, Value>),
    Failed(String),
}

fn mcp_settings(provider: &Provider) -> Result<&McpOAuth2, EngineError> {
    match &provider.auth {
        Auth::McpOauth2(mcp) => Ok(mcp),
        other => Err(EngineError::Unsupported(format!(
            "provider `{}` uses auth mode `{}`, not `mcp_oauth2`",
            provider.name,
            other.mode_name()
        ))),
    }
}

/// Parses a URL from discovery and checks it. It must be https, or http to
/// a loopback host, and carry no user info or fragment. It must not contain
/// `{` or `}` either, because it becomes a template of the OAuth2 flow.
fn discovered_url(provider: &str, field: &str, value: &str) -> Result<Url, EngineError> {
    let invalid = |reason: &str| {
        discovery_error(
            provider,
            format!("the discovered `{field}` {value:?} {reason}"),
        )
    };
    let url = Url::parse(value).map_err(|error| invalid(&format!("is not a URL: {error}")))?;
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name == "localhost",
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "is not an https URL (plain http is accepted only for a loopback host)",
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("contains user info"));
    }
    if url.fragment().is_some() {
        return Err(invalid("contains a fragment"));
    }
    if value.contains(['{', '}']) {
        return Err(invalid("contains `{` or `}`"));
    }
    Ok(url)
}

/// Rejects protected-resource metadata whose `resource` is not the server
/// URL. A trailing `/` on either side is ignored.
fn check_resource(
    provider: &str,
    metadata_url: &Url,
    metadata: &Map<String, Value>,
    server_url: &Url,
) -> Result<(), EngineError> {
    let found = metadata.get("resource").and_then(Value::as_str);
    let matches = found
        .and_then(|found| Url::parse(found).ok())
        .is_some_and(|found| {
            found.as_str().trim_end_matches('/') == server_url.as_str().trim_end_matches('/')
        });
    if matches {
        return Ok(());
    }
    Err(discovery_error(
        provider,
        format!(
            "the protected-resource metadata at {metadata_url} is for resource {}, not {server_url}, so it is rejected",
            found.map_or("(none)".to_owned(), |found| format!("{found:?}"))
        ),
    ))
}

/// Returns the `resource_metadata` parameter of a `Bearer` challenge.
fn resource_metadata_param(header: &str) -> Option<String> {
    let rest = header.trim_start();
    let scheme_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if !rest[..scheme_end].eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = &rest[scheme_end..];
    let start = params.find("resource_metadata=")? + "resource_metadata=".len();
    let value = &params[start..];
    let value = match value.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => value.split([',', ' ']).next().unwrap_or_default(),
    };
    (!value.is_empty()).then(|| value.to_owned())
}

/// Picks the client authentication to register: `client_secret_basic`,
/// then `client_secret_post`, then `none`, among those the server lists.
/// RFC 8414 section 2 makes `client_secret_basic` the default when the
/// server lists none.
fn choose_auth_method(supported: Option<&[String]>) -> &'static str {
    let Some(supported) = supported else {
        return "client_secret_basic";
    };
    ["client_secret_basic", "client_secret_post", "none"]
        .into_iter()
        .find(|method| supported.iter().any(|s| s == method))
        .unwrap_or("client_secret_basic")
}

fn string_list(object: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    let list = object.get(name)?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

/// Wraps a literal in a minijinja raw block, so that rendering returns it
/// unchanged.
fn literal_template(text: &str) -> String {
    format!("{{% raw %}}{text}{{% endraw %}}")
}

async fn read_limited(mut reply: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = reply.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_REPLY_BYTES {
            body.truncate(MAX_REPLY_BYTES);
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn excerpt(text: &str) -> String {
    text.chars().take(200).collect()
}

fn discovery_error(provider: &str, message: impl fmt::Display) -> EngineError {
    EngineError::Discovery(format!("provider `{provider}`: {message}"))
}

fn transport_error(provider: &str, url: &Url, error: &reqwest::Error) -> EngineError {
    EngineError::Transport(format!(
        "provider `{provider}`: the request to {url} failed: {error}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameter_parsed() {
        let cases = [
            (
                r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#,
                Some("https://mcp.example.com/.well-known/oauth-protected-resource"),
            ),
            (
                r#"Bearer realm="mcp", resource_metadata="https://a.example/m", error="invalid_token""#,
                Some("https://a.example/m"),
            ),
            (
                "Bearer resource_metadata=https://a.example/m, realm=x",
                Some("https://a.example/m"),
            ),
            (r#"Basic realm="x""#, None),
            ("Bearer realm=\"x\"", None),
        ];
        for (header, expected) in cases {
            assert_eq!(
                resource_metadata_param(header).as_deref(),
                expected,
                "{header}"
            );
        }
    }

    #[test]
    fn discovered_url_rules() {
        let accepted = [
            "https://as.example.com/token",
            "http://127.0.0.1:8080/token",
            "http://localhost/x",
        ];
        for value in accepted {
            assert!(
                discovered_url("p", "token_endpoint", value).is_ok(),
                "{value}"
            );
        }
        let rejected = [
            "http://as.example.com/token",
            "ftp://as.example.com/token",
            "https://user:pw@as.example.com/token",
            "https://as.example.com/token#x",
            "https://as.example.com/{{ x }}",
            "not a url",
        ];
        for value in rejected {
            let error = discovered_url("p", "token_endpoint", value).unwrap_err();
            assert!(error.to_string().contains("token_endpoint"), "{error}");
        }
    }

    #[test]
    fn auth_method_preference() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(choose_auth_method(None), "client_secret_basic");
        assert_eq!(
            choose_auth_method(Some(&list(&["none", "client_secret_post"]))),
            "client_secret_post"
        );
        assert_eq!(choose_auth_method(Some(&list(&["none"]))), "none");
    }

    #[test]
    fn literal_template_renders_unchanged() {
        let text = "https://as.example.com/a?b=c";
        let rendered = crate::render("p", "f", &literal_template(text), &json!({})).unwrap();
        assert_eq!(rendered, text);
    }

    #[test]
    fn debug_hides_client_secret() {
        let setup = McpSetup {
            issuer: None,
            authorization_endpoint: "https://a.example/auth".to_owned(),
            token_endpoint: "https://a.example/token".to_owned(),
            resource: None,
            discovered_scopes: Vec::new(),
            client_id: "cid".to_owned(),
            client_secret: Secret::new("cs-secret"),
            token_endpoint_auth_method: "client_secret_basic".to_owned(),
            client_registered: true,
        };
        let text = format!("{setup:?}");
        assert!(!text.contains("cs-secret"), "{text}");
        assert!(text.contains("cid"), "{text}");
    }

    #[test]
    fn flow_reads_fallback_token_path() {
        let yaml = "name: p\ndisplay_name: P\nauth:\n  mode: mcp_oauth2\n  authorization_url: https://a.example/auth\n  token_url: https://a.example/token\n  client_registration: static\n  token_response:\n    access_token_fallback: authed_user.access_token\nproxy:\n  base_url: https://mcp.a.example\n";
        let provider = latchkey_catalog::parse_provider("p.yaml", yaml).expect("valid file");
        let setup = McpSetup {
            issuer: None,
            authorization_endpoint: "https://a.example/auth".to_owned(),
            token_endpoint: "https://a.example/token".to_owned(),
            resource: None,
            discovered_scopes: Vec::new(),
            client_id: "cid".to_owned(),
            client_secret: Secret::new(""),
            token_endpoint_auth_method: "none".to_owned(),
            client_registered: false,
        };
        let flow = setup.oauth2_provider(&provider).expect("oauth2 definition");
        let Auth::Oauth2(oauth2) = &flow.auth else {
            panic!("flow mode is {}", flow.auth.mode_name());
        };
        let reply = crate::token_response::RawReply {
            status: 200,
            content_type: Some("application/json".to_owned()),
            body: br#"{"ok": true, "authed_user": {"access_token": "xoxp-1"}}"#.to_vec(),
            set_cookies: Vec::new(),
        };
        let grant = crate::token_response::parse_token_reply(
            "p",
            &oauth2.token_response,
            &reply,
            chrono::Utc::now(),
            None,
        )
        .expect("the user token is read");
        assert_eq!(grant.token.access_token.expose(), "xoxp-1");
    }
}
