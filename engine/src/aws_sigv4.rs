//! AWS Signature Version 4 over an outgoing request, after AWS's "Create a
//! signed AWS API request" guide: a canonical request over the method, the
//! path, the query, the signed headers and the body hash; a string to sign
//! over its hash and the credential scope; an HMAC-SHA256 chain that derives
//! the signing key from the secret, the date, the region and the service.
//!
//! Hand-written with `hmac` and `sha2` because the `aws-sigv4` crate pulls
//! in the AWS Smithy runtime crates, which Latchkey does not otherwise need.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue};
use latchkey_catalog::{AwsSigV4, Provider};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::template::{config_variables, render};
use crate::{ConnectionConfig, EngineError, Secret};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Every byte but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - _ .
/// ~`) is percent-encoded, as SigV4 requires.
const AWS_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`AWS_QUERY`], keeping `/` between path segments.
const AWS_PATH: &AsciiSet = &AWS_QUERY.remove(b'/');

/// The access keys of one connection.
pub(crate) struct AwsKeys<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a Secret,
    pub session_token: Option<&'a Secret>,
}

/// Sets `Host`, `X-Amz-Date`, `X-Amz-Content-Sha256`, `X-Amz-Security-Token`
/// (with a session token) and `Authorization` on `request`, replacing any
/// value the caller sent.
pub(crate) fn sign(
    provider: &Provider,
    settings: &AwsSigV4,
    config: &ConnectionConfig,
    keys: &AwsKeys<'_>,
    now: DateTime<Utc>,
    request: &mut reqwest::Request,
) -> Result<(), EngineError> {
    let vars = config_variables(provider, config);
    let service = scope_part(provider, "auth.service", &settings.service, &vars)?;
    let region = scope_part(provider, "auth.region", &settings.region, &vars)?;
    let body = buffered_body(provider, request)?;
    let payload_hash = hex(&Sha256::digest(body));
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];

    let url = request.url();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut signed = vec![
        ("host".to_owned(), host),
        ("x-amz-content-sha256".to_owned(), payload_hash.clone()),
        ("x-amz-date".to_owned(), amz_date.clone()),
    ];
    if let Some(token) = keys.session_token {
        signed.push(("x-amz-security-token".to_owned(), token.expose().to_owned()));
    }
    let canonical = CanonicalRequest {
        method: request.method().as_str(),
        path: url.path(),
        query: url.query().unwrap_or(""),
        headers: &signed,
        payload_hash: &payload_hash,
        double_encode_path: settings.double_encode_path,
    };
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = string_to_sign(&amz_date, &scope, &canonical.text());
    let signature = signature(keys.secret_access_key, date, &region, &service, &to_sign);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        keys.access_key_id,
        canonical.signed_headers()
    );

    signed.push(("authorization".to_owned(), authorization));
    for (name, value) in signed {
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            EngineError::template(
                &provider.name,
                "auth",
                format!("the value of header `{name}` is not a valid header value"),
            )
        })?;
        if name == "authorization" || name == "x-amz-security-token" {
            value.set_sensitive(true);
        }
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a lowercase ASCII header name");
        request.headers_mut().insert(name, value);
    }
    Ok(())
}

/// Renders the service or the region and checks that it is one label of
/// lowercase letters, digits and `-`, as AWS names them.
fn scope_part(
    provider: &Provider,
    field: &str,
    template: &str,
    vars: &serde_json::Value,
) -> Result<String, EngineError> {
    let value = render(&provider.name, field, template, vars)?;
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(EngineError::template(
            &provider.name,
            field,
            format!(
                "rendered to {value:?}, but a SigV4 service or region must be non-empty \
                 lowercase letters, digits and `-`: set the connection config value accordingly"
            ),
        ));
    }
    Ok(value)
}

/// Returns the request body, which the proxy buffers whole.
pub(crate) fn buffered_body<'a>(
    provider: &Provider,
    request: &'a reqwest::Request,
) -> Result<&'a [u8], EngineError> {
    match request.body() {
        None => Ok(b""),
        Some(body) => body.as_bytes().ok_or_else(|| {
            EngineError::Unsupported(format!(
                "provider `{}` signs request bodies, but this body is a stream: buffer it first",
                provider.name
            ))
        }),
    }
}

/// The parts of a SigV4 canonical request.
pub(crate) struct CanonicalRequest<'a> {
    pub method: &'a str,
    /// The path as sent, percent-encoded.
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: &'a str,
    /// The signed headers with lowercase names, in any order.
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
    pub double_encode_path: bool,
}

impl CanonicalRequest<'_> {
    /// Returns the canonical request text, each part on its own line.
    pub fn text(&self) -> String {
        let mut headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), collapse_spaces(value)))
            .collect();
        headers.sort();
        let canonical_headers: String = headers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        format!(
            "{}\n{}\n{}\n{canonical_headers}\n{}\n{}",
            self.method,
            self.canonical_uri(),
            canonical_query(self.query),
            self.signed_headers(),
            self.payload_hash
        )
    }

    /// Returns the sorted signed header names joined with `;`.
    pub fn signed_headers(&self) -> String {
        let mut names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        names.sort();
        names.join(";")
    }

    /// Encodes the sent path once more (every service but S3), or decodes it
    /// and encodes it once (S3).
    fn canonical_uri(&self) -> String {
        let path = if self.path.is_empty() { "/" } else { self.path };
        if self.double_encode_path {
            utf8_percent_encode(path, AWS_PATH).to_string()
        } else {
            let decoded = percent_decode_str(path).decode_utf8_lossy();
            utf8_percent_encode(&decoded, AWS_PATH).to_string()
        }
    }
}

/// Decodes each `name=value` pair (form rules, so `+` is a space), encodes
/// both with the SigV4 set, and sorts the pairs by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| {
            (
                utf8_percent_encode(&name, AWS_QUERY).to_string(),
                utf8_percent_encode(&value, AWS_QUERY).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let encoded: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    encoded.join("&")
}

/// Trims a header value and collapses runs of spaces into one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Returns the SigV4 string to sign for a canonical request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Derives the signing key from the secret and the scope, and returns the
/// hex HMAC-SHA256 of `string_to_sign` with it.
pub(crate) fn signature(
    secret: &Secret,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let secret_key = format!("AWS4{}", secret.expose());
    let date_key = hmac_sha256(secret_key.as_bytes(), date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    let signing_key = hmac_sha256(&service_key, b"aws4_request");
    hex(&hmac_sha256(&signing_key, string_to_sign.as_bytes()))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret of AWS's published SigV4 examples.
    const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    /// Cases of the AWS SigV4 test suite (`get-vanilla`,
    /// `get-vanilla-query-order-key-case`) and the IAM `ListUsers` example
    /// of AWS's SigV4 documentation, each with the published canonical
    /// request and signature.
    #[test]
    fn published_examples_match() {
        struct Case {
            name: &'static str,
            method: &'static str,
            path: &'static str,
            query: &'static str,
            headers: Vec<(String, String)>,
            scope: &'static str,
            canonical: &'static str,
            signature: &'static str,
        }
        let suite_headers = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ]);
        let cases = [
            Case {
                name: "get-vanilla",
                method: "GET",
                path: "/",
                query: "",
                headers: suite_headers.clone(),
                scope: "20150830/us-east-1/service/aws4_request",
                canonical: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                            host;x-amz-date\n\
                            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            },
            Case {
                name: "get-vanilla-query-order-key-case",
                method: "GET",
                path: "/",
                query: "Param2=value2&Param1=value1",
                headers: suite_headers,
                scope: "20150830/us-east-1/service/aws4_request",
                canonical: "GET\n/\nParam1=value1&Param2=value2\n\
                            host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                            host;x-amz-date\n\
                            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            },
            Case {
                name: "iam-list-users",
                method: "GET",
                path: "/",
                query: "Action=ListUsers&Version=2010-05-08",
                headers: headers(&[
                    (
                        "content-type",
                        "application/x-www-form-urlencoded; charset=utf-8",
                    ),
                    ("host", "iam.amazonaws.com"),
                    ("x-amz-date", "20150830T123600Z"),
                ]),
                scope: "20150830/us-east-1/iam/aws4_request",
                canonical: "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
                            content-type:application/x-www-form-urlencoded; charset=utf-8\n\
                            host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                            content-type;host;x-amz-date\n\
                            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            },
        ];

        for case in cases {
            let canonical = CanonicalRequest {
                method: case.method,
                path: case.path,
                query: case.query,
                headers: &case.headers,
                payload_hash: EMPTY_SHA256,
                double_encode_path: true,
            };
            let text = canonical.text();
            assert_eq!(text, case.canonical, "{}: canonical request", case.name);

            let to_sign = string_to_sign("20150830T123600Z", case.scope, &text);
            let parts: Vec<&str> = case.scope.split('/').collect();
            let computed = signature(
                &Secret::new(EXAMPLE_SECRET),
                parts[0],
                parts[1],
                parts[2],
                &to_sign,
            );
            assert_eq!(computed, case.signature, "{}: signature", case.name);
        }
    }

    #[test]
    fn iam_example_string_to_sign() {
        let canonical = "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
                         content-type:application/x-www-form-urlencoded; charset=utf-8\n\
                         host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                         content-type;host;x-amz-date\n\
                         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

        let to_sign = string_to_sign(
            "20150830T123600Z",
            "20150830/us-east-1/iam/aws4_request",
            canonical,
        );

        assert_eq!(
            to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
             f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
    }

    #[test]
    fn canonical_uri_encoding() {
        let cases = [
            ("/", true, "/"),
            ("", true, "/"),
            (
                "/documents%20and%20settings/",
                true,
                "/documents%2520and%2520settings/",
            ),
            (
                "/documents%20and%20settings/",
                false,
                "/documents%20and%20settings/",
            ),
            ("/a:b/c", false, "/a%3Ab/c"),
            ("/~user/file.txt", true, "/~user/file.txt"),
        ];

        for (path, double_encode_path, expected) in cases {
            let canonical = CanonicalRequest {
                method: "GET",
                path,
                query: "",
                headers: &[],
                payload_hash: EMPTY_SHA256,
                double_encode_path,
            };

            assert_eq!(
                canonical.canonical_uri(),
                expected,
                "{path} ({double_encode_path})"
            );
        }
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        let cases = [
            ("", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=2&a=1", "a=1&a=2"),
            ("flag", "flag="),
            ("q=a+b", "q=a%20b"),
            ("q=a%2Fb*", "q=a%2Fb%2A"),
            ("k%7E=v~", "k~=v~"),
        ];

        for (query, expected) in cases {
            assert_eq!(canonical_query(query), expected, "{query}");
        }
    }

    #[test]
    fn header_values_are_trimmed() {
        assert_eq!(collapse_spaces("  a   b  c "), "a b c");
    }
}
