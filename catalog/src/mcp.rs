//! Settings of the `mcp_oauth2` auth mode: OAuth 2.0 for MCP servers, as the
//! MCP authorization specification (revision 2025-06-18) defines it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Inject, ScopeEncoding};

/// OAuth for an MCP server. The endpoints come from discovery, starting at
/// `server_url`: the protected-resource metadata (RFC 9728), then the
/// authorization server's metadata (RFC 8414, or OpenID Connect Discovery).
/// An endpoint the file pins is used as is and not discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpOAuth2 {
    /// Template of the MCP server URL. It is the starting point of
    /// discovery and the `resource` parameter (RFC 8707) of every
    /// authorization and token request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// Template of a pinned authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// Template of a pinned token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Template of a pinned dynamic client registration endpoint (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_url: Option<String>,
    /// Source of the OAuth client: registered per connection, or the
    /// integration's own.
    #[serde(default)]
    pub client_registration: ClientRegistration,
    /// Extra fields of the registration request's client metadata, for
    /// example `grant_types: [authorization_code, refresh_token]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registration_params: BTreeMap<String, RegistrationValue>,
    /// Separator between scopes in the `scope` parameter.
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// Encoding of the `scope` value in the authorization URL.
    #[serde(default, skip_serializing_if = "ScopeEncoding::is_form")]
    pub scope_encoding: ScopeEncoding,
    /// Scopes always requested, before the integration's own. When both
    /// are empty, the `scopes_supported` of the protected-resource metadata
    /// are requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_scopes: Vec<String>,
    /// Seconds before expiry at which a token is refreshed: 900 when absent,
    /// and never more than half the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    /// The path of the access token in a token reply that has none at
    /// `access_token`.
    #[serde(default, skip_serializing_if = "McpTokenResponse::is_empty")]
    pub token_response: McpTokenResponse,
    /// Placement of the access token in proxied requests; an
    /// `Authorization: Bearer` header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// Source of the OAuth client of an `mcp_oauth2` connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientRegistration {
    /// Dynamic client registration (RFC 7591) when the integration has no
    /// client id; the integration's client otherwise.
    #[default]
    Dynamic,
    /// Always the integration's client id and secret.
    Static,
}

/// A value of client metadata in a registration request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RegistrationValue {
    Text(String),
    List(Vec<String>),
}

/// The token-reply path of an `mcp_oauth2` definition: only the fallback
/// of the access token, as in `oauth2`'s `token_response`, for Slack's user
/// token at `authed_user.access_token`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpTokenResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_fallback: Option<String>,
}

impl McpTokenResponse {
    fn is_empty(&self) -> bool {
        self.access_token_fallback.is_none()
    }
}

fn default_scope_separator() -> String {
    " ".to_owned()
}
