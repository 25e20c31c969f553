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

use crate::admin_consent::AdminConsent;
pub use crate::mcp::{ClientRegistration, McpOAuth2, McpTokenResponse, RegistrationValue};
pub use crate::oauth1::{OAuth1, SignatureLocation, SignatureMethod, Tba, TokenMethod};
pub use crate::signing::{
    AwsSigV4, Signature, SignatureAlgorithm, SignatureEncoding, TimestampFormat,
};
use crate::two_step::{NoAuth, TwoStep};

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
    /// Requests made after a connection gets its credential and before it
    /// is stored, whose responses fill connection-config keys and metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_connection: Vec<crate::PostConnectionStep>,
}

/// The auth mode of a provider: how a connection obtains its credential and
/// where the credential goes.
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
    /// A token obtained by sending the end user's credentials to a token
    /// endpoint, and obtained again before it expires.
    TwoStep(TwoStep),
    /// A login call whose reply carries a session id, in the shape of
    /// Bill.com's Connect API. The settings are those of `two_step`; the
    /// credential is stored as Nango's `BILL` type.
    Session(TwoStep),
    /// No credential at all: proxied requests carry only the provider's
    /// static headers and query parameters.
    None(NoAuth),
    /// An HMAC or digest signature over declared parts of each request.
    Signature(Signature),
    /// AWS Signature Version 4 over each request.
    AwsSigv4(AwsSigV4),
    /// A JWT signed with a key the end user enters, used as the bearer token
    /// or exchanged with the JWT bearer grant (RFC 7523).
    Jwt(crate::Jwt),
    /// OAuth 2.0 for an MCP server, with discovery and dynamic client
    /// registration.
    McpOauth2(McpOAuth2),
    /// OAuth 1.0a three-legged flow, with every proxied request signed
    /// (RFC 5849).
    Oauth1(OAuth1),
    /// Token-based authentication (NetSuite's TBA): OAuth 1.0a signing with
    /// a token id and secret that the end user enters.
    Tba(Tba),
    /// An app the end user installs into their account (a GitHub App): a
    /// JWT signed with the app's key is exchanged for an installation token.
    App(crate::App),
}

impl Auth {
    /// Returns the mode name as written in provider files (`oauth2`, `api_key`, ...).
    pub fn mode_name(&self) -> &'static str {
        match self {
            Auth::Oauth2(_) => "oauth2",
            Auth::Oauth2ClientCredentials(_) => "oauth2_client_credentials",
            Auth::ApiKey(_) => "api_key",
            Auth::Basic(_) => "basic",
            Auth::TwoStep(_) => "two_step",
            Auth::Session(_) => "session",
            Auth::None(_) => "none",
            Auth::Signature(_) => "signature",
            Auth::AwsSigv4(_) => "aws_sigv4",
            Auth::Jwt(_) => "jwt",
            Auth::McpOauth2(_) => "mcp_oauth2",
            Auth::Oauth1(_) => "oauth1",
            Auth::Tba(_) => "tba",
            Auth::App(_) => "app",
        }
    }

    /// Returns whether the mode signs each proxied request (see
    /// `latchkey_engine::sign_request`) instead of injecting a credential.
    pub fn signs_requests(&self) -> bool {
        matches!(
            self,
            Auth::Oauth1(_) | Auth::Tba(_) | Auth::Signature(_) | Auth::AwsSigv4(_)
        )
    }

    /// Returns the credential injection of this mode: the file's own, or the
    /// mode's default. A mode that signs requests injects nothing, so
    /// callers check [`Auth::signs_requests`] first; for it this returns the
    /// bearer default.
    pub fn inject(&self) -> Inject {
        let explicit = match self {
            Auth::Oauth2(o) => o.inject.clone(),
            Auth::Oauth2ClientCredentials(c) => c.inject.clone(),
            Auth::ApiKey(a) => a.inject.clone(),
            Auth::Basic(b) => b.inject.clone(),
            Auth::TwoStep(t) | Auth::Session(t) => t.inject.clone(),
            Auth::None(_) | Auth::Signature(_) | Auth::AwsSigv4(_) => None,
            Auth::Jwt(j) => j.inject.clone(),
            Auth::McpOauth2(m) => m.inject.clone(),
            Auth::Oauth1(_) | Auth::Tba(_) => None,
            Auth::App(a) => a.inject.clone(),
        };
        explicit.unwrap_or_else(|| match self {
            Auth::Basic(_) => Inject::basic_default(),
            _ => Inject::bearer_default(),
        })
    }

    /// Returns whether proxied requests carry a credential at all. Mode
    /// `none` adds none. Neither does an `api_key` provider with
    /// `caller_places_key`, nor a `two_step` or `session` definition with
    /// `caller_places_token`, so their `inject` is never rendered.
    pub fn injects_credential(&self) -> bool {
        match self {
            Auth::None(_) => false,
            Auth::ApiKey(api_key) => !api_key.caller_places_key,
            Auth::TwoStep(settings) | Auth::Session(settings) => !settings.caller_places_token,
            _ => true,
        }
    }
}

/// OAuth 2.0 authorization code settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Template of the authorization endpoint.
    pub authorization_url: String,
    /// Templates tried in order when `authorization_url` uses a variable
    /// that the connection config lacks; the first whose variables are all
    /// set wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_url_fallbacks: Vec<String>,
    /// Template of the token endpoint, used for the code exchange.
    pub token_url: String,
    /// Templates tried in order when `token_url` uses a variable that the
    /// connection config lacks, as for `authorization_url_fallbacks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_url_fallbacks: Vec<String>,
    /// Template of a separate refresh endpoint; the token URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    /// Joins scopes in the `scope` parameter.
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// Scopes always requested, before the integration's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_scopes: Vec<String>,
    /// Encoding of the `scope` value in the authorization URL.
    #[serde(default, skip_serializing_if = "ScopeEncoding::is_form")]
    pub scope_encoding: ScopeEncoding,
    /// Extra query parameters of the authorization URL (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorization_params: BTreeMap<String, String>,
    /// Leave out every authorization URL parameter whose value is empty,
    /// instead of sending `name=`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_empty_authorization_params: bool,
    /// Names the provider uses in place of standard authorization URL
    /// parameters, for example `client_id: client_key`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorization_param_names: BTreeMap<StandardParam, String>,
    /// Extra body parameters of the code exchange only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    /// Extra body parameters of a refresh only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refresh_params: BTreeMap<String, String>,
    /// Placement of the client id and secret in token requests.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Encoding of token request bodies.
    #[serde(default, skip_serializing_if = "TokenBodyFormat::is_form")]
    pub token_body_format: TokenBodyFormat,
    /// Names the provider uses in place of standard token request
    /// parameters, for the code exchange and the refresh.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_param_names: BTreeMap<StandardParam, String>,
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
    /// Connection-config keys filled from query parameters of the redirect
    /// back to Latchkey, for example `realmId: realmId` for QuickBooks.
    /// They are set before the code exchange, so the token URL may use them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callback_connection_config: BTreeMap<String, String>,
    /// Name of the callback query parameter that carries the authorization
    /// code, for a provider that does not call it `code` (Amazon's
    /// `spapi_oauth_code`); `code` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_code_param: Option<String>,
    /// Placement of the access token in proxied requests; an
    /// `Authorization: Bearer` header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// Route of a single-page application that serves the consent screen,
    /// such as `/oauth/authorize`. The authorization URL then ends in `#`,
    /// this route and the query, and has no query of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url_fragment: Option<String>,
    /// Value of the `response_type` parameter, such as `code id_token`
    /// (OpenID Connect's hybrid flow), for a provider that wants another
    /// value than `code`. An empty value leaves the parameter out. The
    /// callback must still carry an authorization code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// Scopes sent, joined with `scope_separator`, in the `scope`
    /// parameter of a refresh (RFC 6749 section 6), for a provider that
    /// issues a refreshed token for the scopes named there. A refresh
    /// sends no `scope` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refresh_scopes: Vec<String>,
    /// Microsoft's admin consent flow in place of the code exchange: the
    /// token comes from the client-credentials grant once the callback
    /// reports consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent: Option<AdminConsent>,
}

impl OAuth2 {
    /// Returns the value of the authorization URL's `response_type`
    /// parameter; empty when the URL leaves it out.
    pub fn response_type(&self) -> &str {
        self.response_type.as_deref().unwrap_or("code")
    }

    /// Returns the name of the callback query parameter that carries the
    /// authorization code.
    pub fn callback_code_param(&self) -> &str {
        self.callback_code_param.as_deref().unwrap_or("code")
    }
}

/// OAuth 2.0 client credentials settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// Template of the token endpoint.
    pub token_url: String,
    /// Templates tried in order when `token_url` uses a variable that the
    /// connection config lacks; the first whose variables are all set wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_url_fallbacks: Vec<String>,
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// Scopes always requested, before the integration's own. Each is a
    /// template rendered with the connection config, for a scope that
    /// names the connection's own resource (`https://{{ host }}/.default`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_scopes: Vec<String>,
    /// Extra body parameters of the token request (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    #[serde(default)]
    pub client_auth: ClientAuth,
    #[serde(default, skip_serializing_if = "TokenBodyFormat::is_form")]
    pub token_body_format: TokenBodyFormat,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_param_names: BTreeMap<StandardParam, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    #[serde(default)]
    pub token_response: TokenResponse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// The `grant_type` value sent in place of `client_credentials`, for a
    /// provider whose grant works the same way under another name. An
    /// empty value leaves the parameter out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// Whether the provider authenticates the client with mutual TLS as
    /// well: each connection then carries a PEM certificate and private key
    /// that token requests and proxied requests present in the handshake.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_client_certificate: bool,
    /// The password grant in place of the client-credentials grant: the
    /// token request carries `grant_type=password` with a user's name and
    /// password from the connection config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_grant: Option<crate::password_grant::PasswordGrant>,
}

/// API key settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Label of the key the end user enters, for example "Secret key".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_title: Option<String>,
    /// Regular expression a key must match, when the provider documents a
    /// format (for example `^sk_(live|test)_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pattern: Option<String>,
    /// Placement of the key in requests; `api_key` is the variable holding
    /// it. Absent exactly when `caller_places_key` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// `true` for an API that takes the key where the proxy cannot put it
    /// (inside a form body the caller writes, for example): the proxy then
    /// adds no credential, and callers read the key from the connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub caller_places_key: bool,
}

/// HTTP basic settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basic {
    /// Label of the username, for example "Account SID".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_title: Option<String>,
    /// Label of the password, for example "Auth token".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_title: Option<String>,
    /// Username that every connection uses, for a provider that takes the
    /// secret as the password and ignores the username. The end user then
    /// enters only the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_username: Option<String>,
    /// Password that every connection uses, such as `""` or `X` for a
    /// provider that takes an API key as the username. The end user then
    /// enters only the username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_password: Option<String>,
    /// `Authorization: Basic base64(username:password)` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// Placement of the client credentials in a token request (RFC 6749
/// section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as body fields (`client_secret_post`).
    #[default]
    Body,
    /// An `Authorization: Basic` header only (`client_secret_basic`).
    Basic,
    /// The Basic header and also both body fields, for providers that
    /// reject a token request lacking either.
    BasicAndBody,
}

/// The encoding of a token request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenBodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 specifies.
    #[default]
    Form,
    /// A JSON object of string values (`application/json`).
    Json,
    /// The form-encoded parameters in the token URL's query string, with an
    /// empty body and no `Content-Type`.
    Query,
    /// An XML document (`application/xml`) built from the nested `params`
    /// of a `two_step` or `session` request; see `latchkey_engine`'s
    /// `xml_body` module for the mapping.
    Xml,
}

impl TokenBodyFormat {
    fn is_form(&self) -> bool {
        *self == TokenBodyFormat::Form
    }
}

/// Encoding of the joined scopes in the authorization URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeEncoding {
    /// Form-encoded like the other parameters: a space becomes `+`, `:`
    /// becomes `%3A`.
    #[default]
    Form,
    /// Written as is, except for the characters a URL query cannot contain
    /// (a space becomes `%20`, `#` becomes `%23`), for providers that do not
    /// decode the scope value.
    Raw,
}

impl ScopeEncoding {
    pub(crate) fn is_form(&self) -> bool {
        *self == ScopeEncoding::Form
    }
}

/// An OAuth 2.0 parameter that Latchkey sets itself and that a provider may
/// know under another name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandardParam {
    ClientId,
    ClientSecret,
    RedirectUri,
    ResponseType,
    State,
    Scope,
    Code,
    CodeVerifier,
    GrantType,
    RefreshToken,
}

impl StandardParam {
    /// Returns the parameter's name in RFC 6749 and RFC 7636.
    pub fn as_str(&self) -> &'static str {
        match self {
            StandardParam::ClientId => "client_id",
            StandardParam::ClientSecret => "client_secret",
            StandardParam::RedirectUri => "redirect_uri",
            StandardParam::ResponseType => "response_type",
            StandardParam::State => "state",
            StandardParam::Scope => "scope",
            StandardParam::Code => "code",
            StandardParam::CodeVerifier => "code_verifier",
            StandardParam::GrantType => "grant_type",
            StandardParam::RefreshToken => "refresh_token",
        }
    }
}

/// Locations of values in a token response. Paths are dot-separated keys
/// into the JSON object, for example `authed_user.access_token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    #[serde(default = "default_access_token_path")]
    pub access_token: String,
    /// Path of the access token when the reply has none at
    /// `access_token`, such as Slack's user token at
    /// `authed_user.access_token` for an installation without bot scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_fallback: Option<String>,
    #[serde(default = "default_refresh_token_path")]
    pub refresh_token: String,
    /// Path of the lifetime, a number or a numeric string.
    #[serde(default = "default_expires_in_path")]
    pub expires_in: String,
    /// Unit of the value at `expires_in`.
    #[serde(default, skip_serializing_if = "ExpiresInUnit::is_seconds")]
    pub expires_in_unit: ExpiresInUnit,
    /// An absolute expiry time; when the reply has it, it wins over
    /// `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<ExpiresAt>,
    /// Lifetime in seconds assumed when the response carries no expiry. 0
    /// makes such a token due for renewal at once, so each use obtains a
    /// new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expires_in: Option<u64>,
    /// Connection-config keys filled from response paths, for example
    /// `instance_url: instance_url` for Salesforce.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connection_config: BTreeMap<String, String>,
    /// What the reply body is: a JSON object read with the paths above
    /// (the default), or the token itself.
    #[serde(default, skip_serializing_if = "TokenBody::is_object")]
    pub body: TokenBody,
    /// Whether the reply's `Set-Cookie` headers are stored with the token,
    /// as the `cookies` variable of a `two_step` or `session` provider's
    /// proxy headers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub capture_cookies: bool,
}

/// Shape of a token reply's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenBody {
    /// A JSON object (or a form-encoded one) read with the paths.
    #[default]
    Object,
    /// The token itself: the trimmed body, or the string when the body is
    /// a JSON string.
    Token,
    /// An XML document, read with the paths after conversion to an object
    /// whose first path segment is the root element's name.
    Xml,
}

impl TokenBody {
    fn is_object(&self) -> bool {
        *self == TokenBody::Object
    }
}

impl Default for TokenResponse {
    fn default() -> Self {
        TokenResponse {
            access_token: default_access_token_path(),
            access_token_fallback: None,
            refresh_token: default_refresh_token_path(),
            expires_in: default_expires_in_path(),
            expires_in_unit: ExpiresInUnit::Seconds,
            expires_at: None,
            default_expires_in: None,
            connection_config: BTreeMap::new(),
            body: TokenBody::Object,
            capture_cookies: false,
        }
    }
}

/// Unit of a relative lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiresInUnit {
    #[default]
    Seconds,
    Milliseconds,
}

impl ExpiresInUnit {
    fn is_seconds(&self) -> bool {
        *self == ExpiresInUnit::Seconds
    }
}

/// Location and format of an absolute expiry time in a token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiresAt {
    /// Dot-separated path into the response.
    pub path: String,
    pub format: TimeFormat,
}

/// Format of an absolute time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Seconds since the Unix epoch, a number or a numeric string.
    UnixSeconds,
    /// Milliseconds since the Unix epoch, a number or a numeric string.
    UnixMilliseconds,
    /// An ISO 8601 / RFC 3339 date-time with an offset, for example
    /// `2026-01-01T00:00:00Z`.
    Iso8601,
    /// Whichever of the three the value is. A number or numeric string
    /// below 10^11 is Unix seconds, and one from 10^11 up is Unix
    /// milliseconds (10^11 is in 1973 as milliseconds, in 5138 as
    /// seconds). Any other string is an ISO 8601 date-time with an offset.
    Auto,
    /// A remaining duration written `H:MM:SS`, with any number of hour
    /// digits (Tableau's `177:05:38`), counted from when the token request
    /// was sent.
    RemainingHms,
}

/// Placement of a credential in an outgoing request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    #[serde(default)]
    pub location: InjectLocation,
    /// Header or query parameter name. The schema requires it unless the
    /// location is `path_segment`, which has none. A header or query name
    /// may be `{{ KEY }}`, the value of connection-config field `KEY`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Template of the value. Variables: `access_token`, `api_key`,
    /// `username`, `password`, and every connection-config key. The filter
    /// `base64` encodes a string with the standard alphabet.
    pub value: String,
    /// The connection-config value for which this place is used; without
    /// it, the place is always used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<PlaceCondition>,
    /// Further places that carry the credential in the same request, for a
    /// provider that expects it in two headers, or in a header and the query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<InjectPlace>,
}

/// A place of a credential that is used only when connection-config field
/// `field` has the value `equals`, for a provider whose integration
/// chooses where the key goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceCondition {
    pub field: String,
    pub equals: String,
}

impl PlaceCondition {
    /// Returns whether a connection config contains the value that selects
    /// the place. `value_of` looks a key up as text.
    pub fn holds<'a>(&self, value_of: impl Fn(&str) -> Option<&'a str>) -> bool {
        value_of(&self.field) == Some(self.equals.as_str())
    }
}

/// Returns the connection-config key of a name written `{{ KEY }}`, or
/// `None` for a literal name.
pub fn name_variable(name: &str) -> Option<&str> {
    let inner = name.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty()).then_some(inner)
}

/// One further place of a credential: a header or query parameter and the
/// template of its value, with the variables of [`Inject::value`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectPlace {
    #[serde(default)]
    pub location: InjectLocation,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<PlaceCondition>,
}

/// One place of a credential, borrowed from an [`Inject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    /// The place's index in `additional`, or `None` for the first place.
    pub additional_index: Option<usize>,
    pub location: InjectLocation,
    pub name: &'a str,
    pub value: &'a str,
    pub when: Option<&'a PlaceCondition>,
}

impl Place<'_> {
    /// Returns the JSON pointer of the place in a provider file, such as
    /// `/auth/inject` or `/auth/inject/additional/0`.
    pub fn pointer(&self) -> String {
        match self.additional_index {
            None => "/auth/inject".to_owned(),
            Some(index) => format!("/auth/inject/additional/{index}"),
        }
    }
}

impl Inject {
    /// Returns every place of the credential in the order the engine adds
    /// them: the first place, then `additional`.
    pub fn places(&self) -> Vec<Place<'_>> {
        let first = Place {
            additional_index: None,
            location: self.location,
            name: &self.name,
            value: &self.value,
            when: self.when.as_ref(),
        };
        std::iter::once(first)
            .chain(
                self.additional
                    .iter()
                    .enumerate()
                    .map(|(index, place)| Place {
                        additional_index: Some(index),
                        location: place.location,
                        name: &place.name,
                        value: &place.value,
                        when: place.when.as_ref(),
                    }),
            )
            .collect()
    }

    pub fn bearer_default() -> Inject {
        Inject {
            location: InjectLocation::Header,
            name: "Authorization".to_owned(),
            value: "Bearer {{ access_token }}".to_owned(),
            when: None,
            additional: Vec::new(),
        }
    }

    pub fn basic_default() -> Inject {
        Inject {
            location: InjectLocation::Header,
            name: "Authorization".to_owned(),
            value: "Basic {{ (username ~ ':' ~ password) | base64 }}".to_owned(),
            when: None,
            additional: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectLocation {
    #[default]
    Header,
    Query,
    /// One path segment appended to the base URL's path, before the path of
    /// the proxied request, as in Telegram's `/bot<token>/getMe`. `name`
    /// is not used.
    PathSegment,
    /// A member of the JSON object body, at the dot-separated path `name`
    /// (`auth.key` is `key` inside the object `auth`).
    JsonBody,
}

/// One per-connection value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    /// The JSON type a connection sends. Templates see the value as text.
    #[serde(default, rename = "type", skip_serializing_if = "FieldType::is_string")]
    pub field_type: FieldType,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Regular expression the whole value must not match, for a rule that
    /// `pattern` cannot state without a lookaround.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_pattern: Option<String>,
    /// A well-known shape of the value, checked like `pattern` when a
    /// connection's config is validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FieldFormat>,
    /// Text a form shows before the input, such as `https://`; it is not
    /// part of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Text a form shows after the input, such as `.atlassian.net`; it is
    /// not part of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Filled by Latchkey (from the token response or the callback), not
    /// by the end user.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automated: bool,
    /// Whether the value is confidential, so the connect page masks its input.
    /// NOTE: API responses still return the value in `connection_config`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// Whether an integration may set the value once (`integration_config`
    /// of POST /integrations) for every connection that gives none. Taken by
    /// connection-config fields and the credential fields of `two_step`,
    /// `session` and `jwt`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub integration_default: bool,
}

/// The JSON type of a connection-config value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    String,
    Number,
    Boolean,
}

impl FieldType {
    fn is_string(&self) -> bool {
        *self == FieldType::String
    }
}

/// A well-known shape of a connection-config value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldFormat {
    /// A DNS host name without scheme or path, such as `acme.example.com`.
    Hostname,
    /// An absolute URI with a scheme, such as `https://acme.example.com/api`.
    Uri,
    /// A UUID in its hyphenated form.
    Uuid,
    /// An email address.
    Email,
    /// An https URL that a URL template starts with: `https://`, a public
    /// host, an optional port and an optional path, such as
    /// `https://scim.example.com/tenant/scim/v2`.
    BaseUrl,
    /// A public host, an optional port and an optional path without a
    /// scheme, such as `acme.example.com:8443/api`, that a URL template
    /// puts right after its `https://`.
    HostPortPath,
}

/// The provider's API location and what every proxied request carries.
///
/// NOTE: `retry`, `decompress`, `verification` and `pagination` are
/// declarative for now: they are validated and stored, but the proxy does
/// not act on them yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// Template of the base URL that `/proxy/{path}` is appended to.
    pub base_url: String,
    /// Templates tried in order when `base_url` uses a variable that the
    /// connection config lacks; the first whose variables are all set wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_url_fallbacks: Vec<String>,
    /// Static headers added to every proxied request (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Static query parameters added to every proxied request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Members set in the JSON object body of every proxied request, by
    /// dot-separated path; values are templates of the connection config.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub body: BTreeMap<String, String>,
    /// When and how long to wait before retrying a proxied request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Whether the provider compresses replies even without
    /// `Accept-Encoding`, so the proxy must decompress them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decompress: bool,
    /// A request that proves a credential works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Paging style of the provider's list endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Redirects from the API that the proxy follows with the credential;
    /// without it, every redirect goes back to the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<FollowRedirects>,
}

/// The hosts that a proxied request may be redirected to with its
/// credential, besides the host of the base URL.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowRedirects {
    /// Host names such as `api.example.com`, or `*.example.com` for every
    /// subdomain of `example.com` (not `example.com` itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// Rate-limit headers and retryable statuses of a provider's API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Headers whose value is the number of seconds to wait, such as
    /// `Retry-After`; the first one present wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_headers: Vec<String>,
    /// Headers whose value is the Unix time in seconds at which the limit
    /// resets, such as `X-RateLimit-Reset`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reset_at_headers: Vec<String>,
    /// Status codes worth retrying: exact codes (`429`) or classes (`5xx`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<String>,
}

/// A request to the provider's API, relative to the base URL, whose
/// expected status proves that a credential works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    #[serde(default)]
    pub method: VerificationMethod,
    /// Path appended to the base URL, starting with `/`.
    pub path: String,
    /// Extra headers of this request only (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Statuses that mean the credential works; any 2xx when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_statuses: Vec<u16>,
}

/// HTTP method of a verification request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VerificationMethod {
    #[default]
    Get,
    Post,
}

/// Paging style of a list endpoint, selected by `style`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// The response carries a cursor that the next request sends back.
    Cursor {
        /// Query parameter that carries the cursor in a request.
        cursor_param: String,
        /// Dot-separated path of the next cursor in the response body.
        cursor_path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        /// Dot-separated path of the result list in the response body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results_path: Option<String>,
    },
    /// The response links to the next page, in a `Link` header with the
    /// relation `link_rel`, or at `next_url_path` in the body.
    Link {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link_rel: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_url_path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results_path: Option<String>,
    },
    /// Each request sends how many results to skip.
    Offset {
        offset_param: String,
        /// Offset of the first page; 0 when absent.
        #[serde(default)]
        offset_start: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results_path: Option<String>,
    },
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

/// Authorization URL parameters that Latchkey sets itself, so a definition's
/// `authorization_params` may not. The schema lists the same names.
pub const RESERVED_AUTHORIZATION_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// Token request parameters that Latchkey sets itself, so a definition's
/// `token_params` or `refresh_params` may not. The schema lists the same
/// names.
pub const RESERVED_TOKEN_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "code",
    "code_verifier",
    "redirect_uri",
    "refresh_token",
    "client_secret",
    "scope",
];
