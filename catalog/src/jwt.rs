//! Settings of the `jwt` auth mode: a JWT that Latchkey signs with a key the
//! end user enters, sent as the bearer token or exchanged for an access
//! token with the JWT bearer grant (RFC 7523 section 2.1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ConfigField, Inject, TokenResponse};

/// Signed JWT assertion settings.
///
/// The templates of `signing_key`, `header` and `claims` see the connection
/// config and the entered values as `credentials.<key>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// The JWS algorithm of the signature (RFC 7518 section 3.1).
    pub algorithm: JwtAlgorithm,
    /// The values the end user enters, such as a private key and a key id,
    /// by key. They are stored as secrets.
    pub credentials: BTreeMap<String, ConfigField>,
    /// Template of the signing key: a PEM private key for `RS256` and
    /// `ES256`, a shared secret for `HS256`.
    pub signing_key: String,
    /// Encoding of an `HS256` shared secret after rendering.
    #[serde(default, skip_serializing_if = "HmacKeyEncoding::is_utf8")]
    pub hmac_key_encoding: HmacKeyEncoding,
    /// Extra JOSE header parameters; only `kid` and `typ` are allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    /// Claims of the payload (values are templates). A claim whose template
    /// reads an optional connection-config value that is unset is left out.
    /// Latchkey adds `iat` and `exp` itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, String>,
    /// Claims whose rendered value is split on spaces into a JSON array,
    /// such as a `scope` that a provider expects as a list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list_claims: Vec<String>,
    /// Whether the payload carries a random `jti` claim (RFC 7519 section
    /// 4.1.7), for providers that reject a replayed assertion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jti: bool,
    /// Seconds from `iat` to `exp`.
    pub lifetime_seconds: u64,
    /// Template of a token endpoint. When set, the assertion is exchanged
    /// there with the JWT bearer grant; when absent, the assertion itself is
    /// the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Paths of the token and its lifetime in the exchange reply.
    #[serde(default)]
    pub token_response: TokenResponse,
    /// Renew this many seconds before expiry; 900 when absent, and never
    /// more than half the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    /// Placement of the token in proxied requests; an `Authorization:
    /// Bearer` header when absent. The variable `access_token` contains the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// A JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA with the P-256 curve and SHA-256.
    ES256,
    /// HMAC with SHA-256.
    HS256,
}

/// Encoding of a rendered `HS256` secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacKeyEncoding {
    /// The UTF-8 bytes of the text.
    #[default]
    Utf8,
    /// The text is hexadecimal, as in Ghost's Admin API keys.
    Hex,
}

impl HmacKeyEncoding {
    fn is_utf8(&self) -> bool {
        *self == HmacKeyEncoding::Utf8
    }
}
