//! Extractors whose rejections are [`ApiError`]s, and the secret-key check.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// A JSON body whose deserialization error names the field (`end_user.id`).
/// The Content-Type is not checked, so `curl -d` without a header works.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::invalid_body(format!("cannot read the request body: {rejection}"))
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, naming the field path of the first error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid_body(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            ApiError::invalid_body(format!("invalid request body: {inner}"))
        } else {
            ApiError::invalid_body(format!(
                "invalid field `{path}` in the request body: {inner}"
            ))
        }
    })
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
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(ApiError::missing_secret_key)?;
    if !state.secret_key.matches(presented) {
        return Err(ApiError::invalid_secret_key());
    }
    Ok(next.run(request).await)
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
