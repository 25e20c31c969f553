//! Settings of the OAuth 1.0a modes: the three-legged flow (`oauth1`) and
//! NetSuite-style token-based authentication (`tba`), which signs with
//! static tokens the end user enters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// OAuth 1.0a three-legged flow settings (RFC 5849 section 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth1 {
    /// Template of the temporary credential (request token) endpoint.
    pub request_token_url: String,
    /// Template of the resource owner authorization endpoint.
    pub authorization_url: String,
    /// Template of the token (access token) endpoint.
    pub access_token_url: String,
    /// HTTP method of the request token request.
    #[serde(default, skip_serializing_if = "TokenMethod::is_post")]
    pub request_token_method: TokenMethod,
    /// HTTP method of the access token request.
    #[serde(default, skip_serializing_if = "TokenMethod::is_post")]
    pub access_token_method: TokenMethod,
    pub signature_method: SignatureMethod,
    /// Where the `oauth_*` protocol parameters go in every signed request.
    #[serde(default, skip_serializing_if = "SignatureLocation::is_header")]
    pub signature_location: SignatureLocation,
    /// Joins the integration's scopes in the authorization URL's `scope`
    /// parameter, which is sent only when the integration has scopes.
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// Extra parameters of the request token request, signed with it
    /// (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_token_params: BTreeMap<String, String>,
    /// Extra query parameters of the authorization URL (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorization_params: BTreeMap<String, String>,
    /// Extra parameters of the access token request, signed with it
    /// (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub access_token_params: BTreeMap<String, String>,
}

/// Token-based authentication settings: OAuth 1.0a signing with the
/// integration's consumer key and secret and a token id and secret that
/// the end user creates in the provider and enters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tba {
    #[serde(default = "default_tba_signature_method")]
    pub signature_method: SignatureMethod,
    /// Template of the `realm` parameter of the Authorization header, for
    /// NetSuite the account id in upper case with `_` for `-`. No realm is
    /// sent when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "SignatureLocation::is_header")]
    pub signature_location: SignatureLocation,
}

/// An OAuth 1.0a signature method (RFC 5849 section 3.4, plus HMAC-SHA256
/// as NetSuite uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureMethod {
    /// HMAC-SHA1 keyed with the consumer secret and the token secret.
    #[serde(rename = "HMAC-SHA1")]
    HmacSha1,
    /// HMAC-SHA256, keyed like HMAC-SHA1.
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-1. The integration's client secret is the
    /// PEM private key (PKCS#8 or PKCS#1).
    #[serde(rename = "RSA-SHA1")]
    RsaSha1,
    /// The consumer secret and the token secret in clear, for TLS only.
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
}

impl SignatureMethod {
    /// Returns the method's name in the `oauth_signature_method` parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            SignatureMethod::HmacSha1 => "HMAC-SHA1",
            SignatureMethod::HmacSha256 => "HMAC-SHA256",
            SignatureMethod::RsaSha1 => "RSA-SHA1",
            SignatureMethod::Plaintext => "PLAINTEXT",
        }
    }
}

/// Placement of the OAuth protocol parameters in a signed request (RFC 5849
/// section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureLocation {
    /// An `Authorization: OAuth ...` header.
    #[default]
    Header,
    /// Query parameters of the request URL.
    Query,
}

impl SignatureLocation {
    fn is_header(&self) -> bool {
        *self == SignatureLocation::Header
    }
}

/// HTTP method of an OAuth 1.0a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TokenMethod {
    #[default]
    Post,
    Get,
    Put,
}

impl TokenMethod {
    fn is_post(&self) -> bool {
        *self == TokenMethod::Post
    }

    /// Returns the method name as sent on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenMethod::Post => "POST",
            TokenMethod::Get => "GET",
            TokenMethod::Put => "PUT",
        }
    }
}

fn default_scope_separator() -> String {
    " ".to_owned()
}

fn default_tba_signature_method() -> SignatureMethod {
    SignatureMethod::HmacSha256
}
