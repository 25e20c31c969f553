//! Settings of the `two_step`, `session` and `none` auth modes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ConfigField, Inject, TokenBodyFormat, TokenResponse};

/// Settings of a mode whose token comes from posting the end user's
/// credentials to a token endpoint (`two_step`), or whose session id comes
/// from a login call (`session`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoStep {
    /// The values the end user enters, by template variable name. A field
    /// marked `secret` is masked on the connect page.
    pub credentials: BTreeMap<String, ConfigField>,
    /// The request that obtains the token.
    pub token_request: TokenRequest,
    /// A request that renews the token with the refresh token from the last
    /// reply; the token request is sent again when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_request: Option<TokenRequest>,
    /// A SAML 2.0 assertion signed for each token request, which the
    /// requests read as `{{ assertion }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<crate::saml::SamlAssertion>,
    /// Further requests sent in order after `token_request`, each with the
    /// JSON replies of the earlier ones as `step1`, `step2`, and so on
    /// (`step1` is the reply to `token_request`). `token_response` reads
    /// the last reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<TokenRequest>,
    #[serde(default)]
    pub token_response: TokenResponse,
    /// Obtain a new token this many seconds before expiry; 900 when absent,
    /// and never more than half the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    /// Placement of the token in proxied requests; an
    /// `Authorization: Bearer` header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// Whether the caller puts the token into its own requests (Sage
    /// Intacct reads the session id inside each XML request body), so the
    /// proxy attaches no credential. The caller reads the token from the
    /// connection's credentials.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub caller_places_token: bool,
}

/// One templated HTTP request to a token or login endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Template of the endpoint URL.
    pub url: String,
    /// Templates tried in order when `url` uses a variable that the
    /// connection lacks; the first whose variables are all set wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url_fallbacks: Vec<String>,
    #[serde(default)]
    pub method: TokenRequestMethod,
    /// Encoding of `params` in a POST body.
    #[serde(default)]
    pub body_format: TokenBodyFormat,
    /// The body (POST) or the query parameters (GET). String values are
    /// templates. A JSON body may also hold numbers, booleans, arrays and
    /// nested objects, whose strings are templates too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Headers of this request (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// HTTP method of a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TokenRequestMethod {
    #[default]
    Post,
    Get,
}

/// Settings of the `none` mode, which has none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoAuth {}

/// Names that a `two_step` or `session` credential field may not take: the
/// engine's own template variables, and the keys of the stored credential's
/// wire shape, which the fields share. The schema lists the same names.
pub const RESERVED_TWO_STEP_NAMES: &[&str] = &[
    "access_token",
    "refresh_token",
    "oauth_client_id",
    "random_token",
    "random_uuid",
    "type",
    "token",
    "session_id",
    "expires_at",
    "obtained_at",
    "raw",
    "cookies",
    "request_path",
];

/// Returns the template variable of the reply to request `number` of a
/// `two_step` chain, where `token_request` is number 1.
pub fn step_variable(number: usize) -> String {
    format!("step{number}")
}

/// Parses a template variable such as `step2` into its request number.
pub fn step_number(variable: &str) -> Option<usize> {
    let digits = variable.strip_prefix("step")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
