//! Extractors whose rejections are [`ApiError`]s, and the secret-key check.

use std::sync::LazyLock;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use regex::Regex;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// Largest JSON request body accepted, in bytes (2 MiB, axum's default).
pub const MAX_JSON_BODY: usize = 2 * 1024 * 1024;

/// A JSON body whose deserialization error names the field (`end_user.id`).
/// The Content-Type is not checked, so `curl -d` without a header works.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request.into_body(), MAX_JSON_BODY).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Buffers a request body of at most `limit` bytes; a larger one is a 413
/// `payload_too_large`.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::payload_too_large(limit)),
        Err(error) => Err(ApiError::invalid_body(format!(
            "cannot read the request body: {error}"
        ))),
    }
}

/// Deserializes a JSON object from `bytes`, naming the field path of the
/// first error. Serde's messages name Rust types (`struct EndUser`, `i64`),
/// so those are rewritten into JSON terms. A custom deserializer's message
/// that starts with `must` reads as "field `path` must ...".
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::invalid_body(format!("request body is not valid JSON: {error}"))
    })?;
    let kind = match &value {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Null => Some("null"),
    };
    if let Some(kind) = kind {
        return Err(ApiError::invalid_body(format!(
            "the request body must be a JSON object (`{{...}}`), got {kind}"
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let reason = json_terms(&error.into_inner().to_string());
        if path == "." {
            ApiError::invalid_body(format!("invalid request body: {reason}"))
        } else if reason.starts_with("must ") {
            ApiError::invalid_body(format!("field `{path}` {reason}"))
        } else {
            ApiError::invalid_body(format!(
                "invalid field `{path}` in the request body: {reason}"
            ))
        }
    })
}

/// Replaces the Rust type names in a serde message with JSON terms.
fn json_terms(message: &str) -> String {
    static REPLACEMENTS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (
                r"(?:internally tagged |adjacently tagged |untagged )?(?:struct|enum) [A-Z][A-Za-z0-9_]*",
                "a JSON object",
            ),
            (r"\b[iu](?:8|16|32|64|128|size)\b", "an integer"),
            (r"\bf(?:32|64)\b", "a number"),
            (r"\ba sequence\b", "an array"),
            (r"\ba map\b", "a JSON object"),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (Regex::new(pattern).expect("valid regex"), replacement))
        .collect()
    });
    let mut text = message.to_owned();
    for (pattern, replacement) in REPLACEMENTS.iter() {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    text
}

/// A query string deserialized into `T`; errors are `invalid_query_params`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|error| {
                ApiError::invalid_query_params(format!("invalid query string: {error}"))
            })
    }
}

/// Middleware for every route that needs `Authorization: Bearer <secret key>`.
pub async fn require_secret_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = match request.headers().get(AUTHORIZATION) {
        None => return Err(ApiError::missing_secret_key()),
        Some(value) => bearer_token(value.as_bytes()).map_err(ApiError::malformed_authorization)?,
    };
    if !state.secret_key.matches(presented) {
        return Err(ApiError::invalid_secret_key());
    }
    Ok(next.run(request).await)
}

/// Extracts the token of an `Authorization: Bearer <token>` value, with a
/// case-insensitive scheme (RFC 7235). The error describes what was sent instead
/// without showing it, because a caller may have sent the key itself.
fn bearer_token(value: &[u8]) -> Result<&str, String> {
    let Ok(value) = std::str::from_utf8(value) else {
        return Err("got a value that is not ASCII text".to_owned());
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err("got a value without a scheme".to_owned());
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(match known_scheme(scheme) {
            Some(name) => format!("got a `{name}` header"),
            None => "got a header with another scheme".to_owned(),
        });
    }
    if token.is_empty() {
        return Err("got a `Bearer` header without a key".to_owned());
    }
    Ok(token)
}

/// Returns the registered name of a common authentication scheme, which is safe to
/// show in an error because it is not a secret.
fn known_scheme(scheme: &str) -> Option<&'static str> {
    const SCHEMES: [&str; 8] = [
        "Basic",
        "Digest",
        "Token",
        "Negotiate",
        "NTLM",
        "DPoP",
        "ApiKey",
        "AWS4-HMAC-SHA256",
    ];
    SCHEMES
        .into_iter()
        .find(|name| name.eq_ignore_ascii_case(scheme))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct Body {
        end_user: User,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct User {
        id: String,
    }

    #[test]
    fn json_error_names_field() {
        let cases = [
            (r#"{"end_user":{"id":5}}"#, "`end_user.id`"),
            (r#"{"end_user":{}}"#, "`end_user`"),
            (r#"{}"#, "missing field `end_user`"),
            (r#"{"end_user":"#, "not valid JSON"),
            ("", "not valid JSON"),
        ];
        for (input, expected) in cases {
            let error = parse_json::<Body>(input.as_bytes()).unwrap_err();
            assert_eq!(error.code, "invalid_body", "{input}");
            assert!(
                error.message.contains(expected),
                "{input}: {}",
                error.message
            );
        }
    }

    #[test]
    fn bearer_token_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token(b"bearer abc"), Ok("abc"));
        let rejected = [
            (&b"Basic dGVzdA=="[..], "got a `Basic` header"),
            (b"basic dGVzdA==", "got a `Basic` header"),
            (b"Bearer ", "without a key"),
            (b"Bearer", "without a scheme"),
            (b"lk_sk_raw-key", "without a scheme"),
            (b"mysecret extra", "another scheme"),
            (b"Bearer \xff", "not ASCII text"),
        ];
        for (value, expected) in rejected {
            let error = bearer_token(value).unwrap_err();
            assert!(error.contains(expected), "{value:?}: {error}");
            assert!(!error.contains("dGVzdA"), "{error}");
            assert!(!error.contains("mysecret"), "{error}");
            assert!(!error.contains("lk_sk_raw"), "{error}");
        }
    }

    #[test]
    fn json_errors_use_json_terms() {
        #[allow(dead_code)]
        #[derive(Debug, Deserialize)]
        struct Counted {
            count: i64,
            user: User,
        }
        let cases = [
            (r#"[1]"#, "must be a JSON object (`{...}`), got an array"),
            (r#""text""#, "must be a JSON object (`{...}`), got a string"),
            (r#"{"count":"x","user":{"id":"u"}}"#, "expected an integer"),
            (r#"{"count":1,"user":"u"}"#, "expected a JSON object"),
        ];
        for (input, expected) in cases {
            let error = parse_json::<Counted>(input.as_bytes()).unwrap_err();
            assert!(
                error.message.contains(expected),
                "{input}: {}",
                error.message
            );
            for rust_name in ["struct", "Counted", "User", "i64"] {
                assert!(
                    !error.message.contains(rust_name),
                    "{input}: {}",
                    error.message
                );
            }
        }
    }
}
