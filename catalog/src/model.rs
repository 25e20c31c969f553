//! Typed provider definitions.
//!
//! A provider file is parsed once into these types, after it has passed the
//! JSON Schema in `catalog/schema/provider.schema.json`. Later code reads
//! fields from here and never re-parses a string that could have been typed.
//! String fields documented as templates are minijinja templates rendered by
//! the engine with the connection config (and, for credential injection, the
//! credential values) as variables.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One provider: how to authenticate with it and where its API lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Unique name, also the file name without `.yaml`: lowercase letters,
    /// digits and `-`.
    pub name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The provider's own documentation for its auth or API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    pub auth: Auth,
    /// Per-connection values (a subdomain, a shop name, a region) that
    /// templates refer to by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connection_config: BTreeMap<String, ConfigField>,
    pub proxy: Proxy,
}

/// How a connection obtains and presents its credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Auth {
    /// OAuth 2.0 authorization code grant (RFC 6749 section 4.1).
    Oauth2(OAuth2),
    /// OAuth 2.0 client credentials grant (RFC 6749 section 4.4).
    Oauth2ClientCredentials(ClientCredentials),
    /// A static key the end user pastes in.
    ApiKey(ApiKey),
    /// HTTP basic authentication with a username and a password.
    Basic(Basic),
}

impl Auth {
    /// The mode name as written in provider files (`oauth2`, `api_key`, ...).
    pub fn mode_name(&self) -> &'static str {
        match self {
            Auth::Oauth2(_) => "oauth2",
            Auth::Oauth2ClientCredentials(_) => "oauth2_client_credentials",
            Auth::ApiKey(_) => "api_key",
            Auth::Basic(_) => "basic",
        }
    }

    /// The credential injection of this mode, explicit or the mode's default.
    pub fn inject(&self) -> Inject {
        let explicit = match self {
            Auth::Oauth2(o) => o.inject.clone(),
            Auth::Oauth2ClientCredentials(c) => c.inject.clone(),
            Auth::ApiKey(a) => Some(a.inject.clone()),
            Auth::Basic(b) => b.inject.clone(),
        };
        explicit.unwrap_or_else(|| match self {
            Auth::Basic(_) => Inject::basic_default(),
            _ => Inject::bearer_default(),
        })
    }
}

/// OAuth 2.0 authorization code settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Template of the authorization endpoint.
    pub authorization_url: String,
    /// Template of the token endpoint, used for the code exchange.
    pub token_url: String,
    /// Template of a separate refresh endpoint; the token URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    /// Joins scopes in the `scope` parameter.
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// Scopes always requested, before the integration's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_scopes: Vec<String>,
    /// Extra query parameters of the authorization URL (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorization_params: BTreeMap<String, String>,
    /// Extra body parameters of the code exchange only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    /// Extra body parameters of a refresh only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refresh_params: BTreeMap<String, String>,
    /// Where the client id and secret go in token requests.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// PKCE with S256; on unless a provider rejects it.
    #[serde(default = "default_true")]
    pub pkce: bool,
    /// Refresh this many seconds before expiry; 900 when absent, and never
    /// more than half the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    /// Whether the provider issues refresh tokens at all.
    #[serde(default = "default_true")]
    pub refreshable: bool,
    #[serde(default)]
    pub token_response: TokenResponse,
    /// How the access token is attached to proxied requests; an
    /// `Authorization: Bearer` header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// OAuth 2.0 client credentials settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// Template of the token endpoint.
    pub token_url: String,
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_scopes: Vec<String>,
    /// Extra body parameters of the token request (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    #[serde(default)]
    pub client_auth: ClientAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    #[serde(default)]
    pub token_response: TokenResponse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// API key settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// What the end user is asked for, for example "Secret key".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_title: Option<String>,
    /// Regular expression a key must match, when the provider documents a
    /// format (for example `^sk_(live|test)_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pattern: Option<String>,
    /// Where the key goes; `api_key` is the variable holding it.
    pub inject: Inject,
}

/// HTTP basic settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basic {
    /// What the provider calls the username, for example "Account SID".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_title: Option<String>,
    /// What the provider calls the password, for example "Auth token".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_title: Option<String>,
    /// `Authorization: Basic base64(username:password)` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// Where client credentials go in a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form fields (`client_secret_post`).
    #[default]
    Body,
    /// An `Authorization: Basic` header (`client_secret_basic`).
    Basic,
}

/// Where values sit in a token response. Paths are dot-separated keys into
/// the JSON object, for example `authed_user.access_token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    #[serde(default = "default_access_token_path")]
    pub access_token: String,
    #[serde(default = "default_refresh_token_path")]
    pub refresh_token: String,
    #[serde(default = "default_expires_in_path")]
    pub expires_in: String,
    /// Lifetime in seconds assumed when the response carries no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expires_in: Option<u64>,
    /// Connection-config keys filled from response paths, for example
    /// `instance_url: instance_url` for Salesforce.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connection_config: BTreeMap<String, String>,
}

impl Default for TokenResponse {
    fn default() -> Self {
        TokenResponse {
            access_token: default_access_token_path(),
            refresh_token: default_refresh_token_path(),
            expires_in: default_expires_in_path(),
            default_expires_in: None,
            connection_config: BTreeMap::new(),
        }
    }
}

/// Where a credential is attached to an outgoing request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    #[serde(default)]
    pub location: InjectLocation,
    /// Header or query parameter name.
    pub name: String,
    /// Template of the value. Variables: `access_token`, `api_key`,
    /// `username`, `password`, and every connection-config key. The filter
    /// `base64` encodes a string with the standard alphabet.
    pub value: String,
}

impl Inject {
    pub fn bearer_default() -> Inject {
        Inject {
            location: InjectLocation::Header,
            name: "Authorization".to_owned(),
            value: "Bearer {{ access_token }}".to_owned(),
        }
    }

    pub fn basic_default() -> Inject {
        Inject {
            location: InjectLocation::Header,
            name: "Authorization".to_owned(),
            value: "Basic {{ (username ~ ':' ~ password) | base64 }}".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectLocation {
    #[default]
    Header,
    Query,
}

/// One per-connection value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Filled by Latchkey (from the token response), not by the end user.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automated: bool,
}

/// Where the provider's API lives and what every proxied request carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// Template of the base URL that `/proxy/{path}` is appended to.
    pub base_url: String,
    /// Static headers added to every proxied request (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Static query parameters added to every proxied request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
}

fn default_scope_separator() -> String {
    " ".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_access_token_path() -> String {
    "access_token".to_owned()
}

fn default_refresh_token_path() -> String {
    "refresh_token".to_owned()
}

fn default_expires_in_path() -> String {
    "expires_in".to_owned()
}
