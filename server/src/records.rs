//! Records kept in the store. Each is serialized as JSON and then encrypted,
//! so fields holding secrets use [`Secret`], which serializes its real value.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use latchkey_engine::{ConnectionConfig, Credentials, McpSetup, Secret};
use serde::{Deserialize, Serialize};

/// The person who owns a connection, as the caller identified them when
/// creating the connect session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndUser {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Grant type an integration's client credentials are registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppCredentialsType {
    #[serde(rename = "OAUTH2")]
    OAuth2,
    #[serde(rename = "OAUTH2_CC")]
    OAuth2ClientCredentials,
    #[serde(rename = "MCP_OAUTH2")]
    McpOAuth2,
    /// The consumer key and secret of an OAuth 1.0a app.
    #[serde(rename = "OAUTH1")]
    OAuth1,
    /// The consumer key and secret of a token-based authentication app.
    #[serde(rename = "TBA")]
    Tba,
    /// The app id, private key and public link of an installable app.
    #[serde(rename = "APP")]
    App,
    /// An installable app whose install also authorizes the end user with
    /// OAuth: the app keys plus the app's OAuth client id and secret.
    #[serde(rename = "CUSTOM")]
    Custom,
}

impl AppCredentialsType {
    pub fn as_str(self) -> &'static str {
        match self {
            AppCredentialsType::OAuth2 => "OAUTH2",
            AppCredentialsType::OAuth2ClientCredentials => "OAUTH2_CC",
            AppCredentialsType::McpOAuth2 => "MCP_OAUTH2",
            AppCredentialsType::OAuth1 => "OAUTH1",
            AppCredentialsType::Tba => "TBA",
            AppCredentialsType::App => "APP",
            AppCredentialsType::Custom => "CUSTOM",
        }
    }
}

/// The client id, secret and scopes of the app registered with a provider.
/// An `APP` integration has an empty client id and secret and keeps its
/// keys in `app`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppCredentials {
    #[serde(rename = "type")]
    pub kind: AppCredentialsType,
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<InstallableAppRecord>,
}

/// The keys of an installable app (a GitHub App), in Nango's field names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallableAppRecord {
    /// The `iss` claim of the app JWT.
    pub app_id: String,
    /// The app's public page, such as `https://github.com/apps/NAME`; the
    /// install page is this link followed by the definition's
    /// `install_path`.
    pub app_link: String,
    /// The app's PEM RSA private key.
    pub private_key: Secret,
}

/// A provider plus the app credentials used with it, under a unique key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrationRecord {
    pub unique_key: String,
    pub provider: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub credentials: Option<AppCredentials>,
    /// Values of the provider's fields marked `integration_default`, and
    /// the STS settings of an `aws_sigv4` provider with `assume_role`, by
    /// key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub integration_config: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A failure recorded on a connection, shown in its `errors` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionErrorRecord {
    /// Kind of failure, `refresh` for a failed token refresh.
    #[serde(rename = "type")]
    pub kind: String,
    /// The API error code the failure was reported with.
    pub code: String,
    pub message: String,
    pub occurred_at: DateTime<Utc>,
}

/// One end user's account at a provider, reached through an integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Numeric id, unique in this store (Nango's `id`).
    pub id: u64,
    pub connection_id: String,
    pub provider_config_key: String,
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub connection_config: ConnectionConfig,
    pub credentials: Credentials,
    #[serde(default)]
    pub end_user: Option<EndUser>,
    #[serde(default)]
    pub errors: Vec<ConnectionErrorRecord>,
}

/// A connect session: the end user it acts for and the integrations their
/// browser may connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectSessionRecord {
    pub end_user: EndUser,
    /// Integration keys the session may connect; `None` allows all.
    #[serde(default)]
    pub allowed_integrations: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Integrations this session already created a connection for: each
    /// allowed integration may be connected once per session.
    #[serde(default)]
    pub connected_integrations: Vec<String>,
}

impl ConnectSessionRecord {
    pub fn has_connected(&self, integration: &str) -> bool {
        self.connected_integrations
            .iter()
            .any(|key| key == integration)
    }

    pub fn allows(&self, integration: &str) -> bool {
        match &self.allowed_integrations {
            Some(keys) => keys.iter().any(|key| key == integration),
            None => true,
        }
    }
}

/// A pending OAuth authorization, keyed by the hash of its `state` value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthStateRecord {
    pub integration: String,
    pub provider: String,
    pub end_user: EndUser,
    pub connection_config: ConnectionConfig,
    pub pkce_verifier: Option<Secret>,
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Hash of the connect session token that started the authorization,
    /// so the callback can use up the session's integration. `None` in
    /// states stored before sessions were limited to one connection per
    /// integration.
    #[serde(default)]
    pub session_token_hash: Option<String>,
    /// Set by the first callback that uses the state, so a replay finds it
    /// taken even while the first one is still exchanging the code.
    #[serde(default)]
    pub claimed: bool,
    /// The endpoints and client of an `mcp_oauth2` authorization, found
    /// when it started.
    #[serde(default)]
    pub mcp: Option<McpSetup>,
    /// The request token of an OAuth 1.0a authorization, which the access
    /// token request is signed with. `None` for OAuth 2.0.
    #[serde(default)]
    pub oauth1_request_token: Option<RequestTokenRecord>,
}

/// The temporary credentials of an OAuth 1.0a authorization in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestTokenRecord {
    pub token: Secret,
    pub token_secret: Secret,
}
