//! Settings of the modes that sign each proxied request instead of
//! attaching a stored token: `signature` (an HMAC or a digest over declared
//! request parts) and `aws_sigv4` (AWS Signature Version 4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// AWS Signature Version 4 settings. The end user enters an access key id,
/// a secret access key and optionally a session token, or, with
/// `assume_role`, a role ARN whose temporary keys STS returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSigV4 {
    /// Template of the service name in the credential scope, for example
    /// `s3`, `execute-api` or `{{ service }}`.
    pub service: String,
    /// Template of the region in the credential scope, for example
    /// `{{ region }}`.
    pub region: String,
    /// Whether the canonical URI percent-encodes the already encoded path
    /// again, as every service but S3 expects. S3 providers set `false`.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub double_encode_path: bool,
    /// Temporary keys from STS `AssumeRole` for a role ARN the connection
    /// enters, in place of keys the end user enters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<crate::assume_role::AssumeRole>,
}

/// Settings of an HMAC (or plain digest) signature over request parts.
///
/// `string_to_sign`, `key` and the values of `headers` and `query` are
/// templates. Besides the connection-config keys they see `method`
/// (uppercase), `host`, `path` (percent-encoded, as sent), `query` (the
/// query string as sent, without `?`), `target_uri` (the whole URL as
/// sent, the `@target-uri` of RFC 9421), `body` (as UTF-8 text),
/// `body_sha256` (lowercase hex), `body_sha256_base64` (standard base64
/// with padding, the digest of an RFC 9530 `Content-Digest`),
/// `sorted_query` (the query parameters
/// sorted by name, then value, each name and value percent-encoded except
/// for the unreserved characters of RFC 3986, joined with `&`),
/// `timestamp`, `nonce` and the credential
/// fields `username` and `password`. `headers` and `query` also see
/// `signature`. `now()` writes the signing time, the instant of
/// `timestamp`, so `now('unix', seconds=60)` is an expiry one minute later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub algorithm: SignatureAlgorithm,
    /// Template of the signed text.
    pub string_to_sign: String,
    /// Template of the HMAC key, or of the PEM PKCS#8 private key of
    /// `ed25519`; `{{ password }}` when absent. A digest algorithm has no
    /// key, so this must be absent for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub encoding: SignatureEncoding,
    /// Format of the `timestamp` variable.
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    /// Headers added to each signed request (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters appended to each signed request after the signature
    /// is computed (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Label of the username, for example "API key id".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_title: Option<String>,
    /// Label of the password, for example "API secret".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_title: Option<String>,
}

impl Signature {
    /// Returns the template of the HMAC or private key.
    pub fn key_template(&self) -> &str {
        self.key.as_deref().unwrap_or("{{ password }}")
    }
}

/// The function that turns the string to sign into the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    HmacSha1,
    HmacSha256,
    HmacSha512,
    /// An Ed25519 signature (RFC 8032) with the PEM PKCS#8 private key that
    /// `key` renders, as HTTP Message Signatures (RFC 9421) use.
    Ed25519,
    /// A SHA-1 digest without a key, as WSSE `PasswordDigest` uses; the
    /// string to sign must then contain the secret.
    Sha1,
    /// A SHA-256 digest without a key.
    Sha256,
}

impl SignatureAlgorithm {
    /// Returns whether the algorithm takes a key.
    pub fn is_keyed(self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::HmacSha1
                | SignatureAlgorithm::HmacSha256
                | SignatureAlgorithm::HmacSha512
                | SignatureAlgorithm::Ed25519
        )
    }
}

/// The text form of the signature bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// Standard base64 of the lowercase hexadecimal text, as Emarsys's WSSE
    /// digest uses.
    Base64Hex,
}

/// Format of the `timestamp` variable of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// Seconds since the Unix epoch.
    #[default]
    UnixSeconds,
    /// Milliseconds since the Unix epoch.
    UnixMilliseconds,
    /// RFC 3339 in UTC with second precision, for example
    /// `2026-01-01T00:00:00Z`.
    Iso8601,
    /// The HTTP date format of RFC 9110, for example
    /// `Thu, 01 Jan 2026 00:00:00 GMT`.
    HttpDate,
    /// The date format of RFC 2822 with a numeric zone, for example
    /// `Thu, 01 Jan 2026 00:00:00 +0000`, as Duo's API signatures use.
    Rfc2822,
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}
