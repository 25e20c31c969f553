//! The `signature` mode: an HMAC, an Ed25519 signature or a keyless digest
//! over the parts of an outgoing request that the definition's
//! `string_to_sign` names, placed in the headers and query parameters the
//! definition declares.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use latchkey_catalog::{
    Provider, Signature, SignatureAlgorithm, SignatureEncoding, TimestampFormat,
};
use ring::signature::Ed25519KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::aws_sigv4::{buffered_body, hex};
use crate::inject::header;
use crate::template::{config_variables, render, with_request_time};
use crate::{ConnectionConfig, EngineError, Secret};

/// Random bytes of the `nonce` variable, written as 32 hex digits.
const NONCE_BYTES: usize = 16;

/// The key pair of one connection.
pub(crate) struct SignatureKeys<'a> {
    pub username: &'a str,
    pub password: &'a Secret,
}

/// Computes the signature of `request` and adds the definition's headers and
/// query parameters, which replace caller values of the same name.
pub(crate) fn sign(
    provider: &Provider,
    settings: &Signature,
    config: &ConnectionConfig,
    keys: &SignatureKeys<'_>,
    now: DateTime<Utc>,
    request: &mut reqwest::Request,
) -> Result<(), EngineError> {
    let stamp = timestamp(now, settings.timestamp_format);
    let vars = request_variables(provider, config, keys, stamp, request)?;
    let mut vars = with_request_time(&vars, now);
    let text = render(
        &provider.name,
        "auth.string_to_sign",
        &settings.string_to_sign,
        &vars,
    )?;
    let key = if settings.algorithm.is_keyed() {
        render(&provider.name, "auth.key", settings.key_template(), &vars)?
    } else {
        String::new()
    };
    let bytes = signature_bytes(&provider.name, settings.algorithm, &key, text.as_bytes())?;
    let signature = encode(settings.encoding, &bytes);
    if let Value::Object(object) = &mut vars {
        object.insert("signature".to_owned(), Value::String(signature));
    }

    for (name, template) in &settings.headers {
        let field = format!("auth.headers.{name}");
        let value = render(&provider.name, &field, template, &vars)?;
        let (name, mut value) = header(&provider.name, &field, name, &value)?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
    }
    if !settings.query.is_empty() {
        let mut pairs = Vec::new();
        for (name, template) in &settings.query {
            let field = format!("auth.query.{name}");
            pairs.push((name, render(&provider.name, &field, template, &vars)?));
        }
        request.url_mut().query_pairs_mut().extend_pairs(pairs);
    }
    Ok(())
}

/// The template variables of one request: the connection config, then the
/// request parts, the timestamp, a fresh nonce and the key pair.
fn request_variables(
    provider: &Provider,
    config: &ConnectionConfig,
    keys: &SignatureKeys<'_>,
    timestamp: String,
    request: &reqwest::Request,
) -> Result<Value, EngineError> {
    let body = buffered_body(provider, request)?;
    let url = request.url();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let nonce: [u8; NONCE_BYTES] = rand::random();
    let parts = [
        ("method", request.method().as_str().to_owned()),
        ("host", host),
        ("path", url.path().to_owned()),
        ("query", url.query().unwrap_or("").to_owned()),
        ("sorted_query", sorted_query(url)),
        ("body", String::from_utf8_lossy(body).into_owned()),
        ("target_uri", url.as_str().to_owned()),
        ("body_sha256", hex(&Sha256::digest(body))),
        (
            "body_sha256_base64",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body)),
        ),
        ("timestamp", timestamp),
        ("nonce", hex(&nonce)),
        ("username", keys.username.to_owned()),
        ("password", keys.password.expose().to_owned()),
    ];
    let mut vars = config_variables(provider, config);
    if let Value::Object(object) = &mut vars {
        for (name, value) in parts {
            object.insert(name.to_owned(), Value::String(value));
        }
    }
    Ok(vars)
}

/// Formats `now` as the `timestamp` variable.
pub(crate) fn timestamp(now: DateTime<Utc>, format: TimestampFormat) -> String {
    match format {
        TimestampFormat::UnixSeconds => now.timestamp().to_string(),
        TimestampFormat::UnixMilliseconds => now.timestamp_millis().to_string(),
        TimestampFormat::Iso8601 => now.to_rfc3339_opts(SecondsFormat::Secs, true),
        TimestampFormat::HttpDate => now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        TimestampFormat::Rfc2822 => now.format("%a, %d %b %Y %H:%M:%S +0000").to_string(),
    }
}

/// Writes the query parameters of `url` sorted by name, then value, each
/// name and value decoded and percent-encoded again except for the
/// unreserved characters of RFC 3986, joined with `&`: the parameter form
/// of Duo's canonical request.
pub(crate) fn sorted_query(url: &url::Url) -> String {
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", rfc3986(name), rfc3986(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn rfc3986(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED_COMPLEMENT).to_string()
}

/// Every byte but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - .
/// _ ~`).
const UNRESERVED_COMPLEMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Checks that `pem` is an Ed25519 private key that the `ed25519`
/// algorithm can sign with: a PKCS#8 `PRIVATE KEY` block (version 1, as
/// `openssl genpkey -algorithm ed25519` writes it, or version 2 with the
/// public key). The error names the problem and never quotes the key.
pub fn check_ed25519_private_key(pem: &str) -> Result<(), String> {
    ed25519_key_pair(pem).map(|_| ())
}

fn ed25519_key_pair(pem: &str) -> Result<Ed25519KeyPair, String> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.trim().as_bytes())
        .map_err(|_| "is not a PEM `PRIVATE KEY` block".to_owned())?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
        .map_err(|_| "is not an Ed25519 key in PKCS#8 form".to_owned())
}

/// Signs `data` with Ed25519 (RFC 8032) using the private key in `pem`.
fn ed25519_sign(provider: &str, pem: &str, data: &[u8]) -> Result<Vec<u8>, EngineError> {
    let pair = ed25519_key_pair(pem).map_err(|problem| {
        EngineError::InvalidCredential(format!(
            "provider `{provider}` signs requests with an Ed25519 private key, but the \
             connection's key {problem}; {ED25519_KEY_HELP}"
        ))
    })?;
    Ok(pair.sign(data).as_ref().to_vec())
}

/// What to store instead of an Ed25519 key that cannot be read.
pub const ED25519_KEY_HELP: &str = "store the key as a PEM block that starts with \
     `-----BEGIN PRIVATE KEY-----` (PKCS#8, for example from `openssl genpkey -algorithm \
     ed25519`)";

/// Returns the HMAC of `data` with `key`, its Ed25519 signature with the
/// PEM private key `key`, or the digest of `data` for a keyless algorithm.
pub(crate) fn signature_bytes(
    provider: &str,
    algorithm: SignatureAlgorithm,
    key: &str,
    data: &[u8],
) -> Result<Vec<u8>, EngineError> {
    fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts a key of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    let key_bytes = key.as_bytes();
    Ok(match algorithm {
        SignatureAlgorithm::HmacSha1 => keyed::<Hmac<Sha1>>(key_bytes, data),
        SignatureAlgorithm::HmacSha256 => keyed::<Hmac<Sha256>>(key_bytes, data),
        SignatureAlgorithm::HmacSha512 => keyed::<Hmac<Sha512>>(key_bytes, data),
        SignatureAlgorithm::Ed25519 => ed25519_sign(provider, key, data)?,
        SignatureAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        SignatureAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
    })
}

/// Writes signature bytes in the definition's text form.
pub(crate) fn encode(encoding: SignatureEncoding, bytes: &[u8]) -> String {
    let base64 = base64::engine::general_purpose::STANDARD;
    match encoding {
        SignatureEncoding::Hex => hex(bytes),
        SignatureEncoding::Base64 => base64.encode(bytes),
        SignatureEncoding::Base64Hex => base64.encode(hex(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (HMAC-SHA-256 and HMAC-SHA-512), RFC 2202 test
    /// case 2 (HMAC-SHA-1), and the FIPS 180 `abc` digests.
    #[test]
    fn digests_match_published_vectors() {
        let cases = [
            (
                SignatureAlgorithm::HmacSha1,
                "Jefe",
                "what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                SignatureAlgorithm::HmacSha256,
                "Jefe",
                "what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                SignatureAlgorithm::HmacSha512,
                "Jefe",
                "what do ya want for nothing?",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
            (
                SignatureAlgorithm::Sha1,
                "",
                "abc",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                SignatureAlgorithm::Sha256,
                "",
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];

        for (algorithm, key, data, expected) in cases {
            let bytes = signature_bytes("p", algorithm, key, data.as_bytes()).unwrap();
            assert_eq!(hex(&bytes), expected, "{algorithm:?}");
        }
    }

    /// The private key of RFC 8032 section 7.1 test 1 in PKCS#8 version 1
    /// form.
    const RFC8032_TEST1_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
-----END PRIVATE KEY-----
";

    #[test]
    fn ed25519_matches_rfc8032_vector() {
        let bytes =
            signature_bytes("p", SignatureAlgorithm::Ed25519, RFC8032_TEST1_PEM, b"").unwrap();

        assert_eq!(
            hex(&bytes),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn ed25519_rejects_bad_keys() {
        // (case, key, expected message part); the last key names the Ed448
        // algorithm identifier.
        let ed448_oid_pkcs8 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VxBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
        let cases = [
            (
                "not PEM",
                "secret-key-text",
                "is not a PEM `PRIVATE KEY` block",
            ),
            (
                "other PEM label",
                "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
                "is not a PEM `PRIVATE KEY` block",
            ),
            (
                "other algorithm",
                ed448_oid_pkcs8,
                "is not an Ed25519 key in PKCS#8 form",
            ),
        ];
        for (case, key, expected) in cases {
            let error = signature_bytes("acme", SignatureAlgorithm::Ed25519, key, b"x")
                .unwrap_err()
                .to_string();

            assert!(error.contains(expected), "{case}: {error}");
            assert!(
                error.starts_with("provider `acme` signs"),
                "{case}: {error}"
            );
            assert!(error.contains("BEGIN PRIVATE KEY"), "{case}: {error}");
            assert!(!error.contains(key), "{case}: {error}");
        }
    }

    #[test]
    fn encodings() {
        let bytes = [0xde, 0xad, 0xbe, 0xef];

        assert_eq!(encode(SignatureEncoding::Hex, &bytes), "deadbeef");
        assert_eq!(encode(SignatureEncoding::Base64, &bytes), "3q2+7w==");
        assert_eq!(encode(SignatureEncoding::Base64Hex, &bytes), "ZGVhZGJlZWY=");
    }

    #[test]
    fn sorted_query_table() {
        let cases = [
            ("https://api.example/v1", ""),
            ("https://api.example/v1?b=2&a=1", "a=1&b=2"),
            ("https://api.example/v1?a=2&a=1", "a=1&a=2"),
            (
                "https://api.example/v1?realname=First%20Last&username=root",
                "realname=First%20Last&username=root",
            ),
            ("https://api.example/v1?q=a+b&z=%7E%2F", "q=a%20b&z=~%2F"),
            (
                "https://api.example/v1?email=x%40y.example",
                "email=x%40y.example",
            ),
        ];
        for (url, expected) in cases {
            let url = url::Url::parse(url).unwrap();
            assert_eq!(sorted_query(&url), expected, "{url}");
        }
    }

    #[test]
    fn timestamp_formats() {
        let now: DateTime<Utc> = "2026-01-01T00:00:05.250Z".parse().unwrap();
        let cases = [
            (TimestampFormat::UnixSeconds, "1767225605"),
            (TimestampFormat::UnixMilliseconds, "1767225605250"),
            (TimestampFormat::Iso8601, "2026-01-01T00:00:05Z"),
            (TimestampFormat::HttpDate, "Thu, 01 Jan 2026 00:00:05 GMT"),
            (TimestampFormat::Rfc2822, "Thu, 01 Jan 2026 00:00:05 +0000"),
        ];

        for (format, expected) in cases {
            assert_eq!(timestamp(now, format), expected, "{format:?}");
        }
    }
}
