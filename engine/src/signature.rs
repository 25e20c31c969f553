//! The `signature` mode: an HMAC (or a keyless digest) over the parts of an
//! outgoing request that the definition's `string_to_sign` names, placed in
//! the headers and query parameters the definition declares.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use latchkey_catalog::{
    Provider, Signature, SignatureAlgorithm, SignatureEncoding, TimestampFormat,
};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::aws_sigv4::{buffered_body, hex};
use crate::inject::header;
use crate::template::{config_variables, render};
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
    let mut vars = request_variables(provider, config, keys, stamp, request)?;
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
    let signature = encode(
        settings.encoding,
        &digest(settings.algorithm, key.as_bytes(), text.as_bytes()),
    );
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
        ("body_sha256", hex(&Sha256::digest(body))),
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

/// Returns the HMAC of `data` with `key`, or the digest of `data` for a
/// keyless algorithm.
pub(crate) fn digest(algorithm: SignatureAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts a key of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        SignatureAlgorithm::HmacSha1 => keyed::<Hmac<Sha1>>(key, data),
        SignatureAlgorithm::HmacSha256 => keyed::<Hmac<Sha256>>(key, data),
        SignatureAlgorithm::HmacSha512 => keyed::<Hmac<Sha512>>(key, data),
        SignatureAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        SignatureAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
    }
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
            let bytes = digest(algorithm, key.as_bytes(), data.as_bytes());
            assert_eq!(hex(&bytes), expected, "{algorithm:?}");
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
