//! The one error type of every handler, rendered as
//! `{"error":{"code":"...","message":"..."}}` with the matching status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_engine::{EngineError, ProviderErrorKind};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// The response header that carries the error code of every error response
/// that Latchkey builds itself. The proxy removes it from upstream
/// responses, so a client can tell Latchkey's errors from a provider's.
pub const ERROR_CODE_HEADER: &str = "x-latchkey-error";

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Sets the `Retry-After` seconds of the response.
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// Builds the 424 for an OAuth 2.0 connection whose token cannot be
    /// refreshed because its integration has no client ID and secret.
    /// Connecting the account again cannot fix this, so the code differs
    /// from `refresh_failed`.
    pub fn missing_client_credentials(provider_config_key: &str, connection_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::FAILED_DEPENDENCY,
            "missing_client_credentials",
            format!(
                "refreshing connection `{connection_id}` of integration `{provider_config_key}` failed: the integration has no client credentials to refresh with; set its client ID and secret with PATCH /integrations/{provider_config_key}"
            ),
        )
    }

    pub fn missing_secret_key() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_secret_key",
            "missing secret key: send the header `Authorization: Bearer <secret key>`",
        )
    }

    /// An `Authorization` header without the `Bearer` scheme; `detail`
    /// describes what was sent without showing the value.
    pub fn malformed_authorization(detail: String) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_secret_key",
            format!("the Authorization header must be `Bearer <secret key>`; {detail}"),
        )
    }

    pub fn invalid_secret_key() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_secret_key",
            "invalid secret key: use the key from LATCHKEY_SECRET_KEY or the data directory's `secret_key` file",
        )
    }

    pub fn invalid_connect_session_token() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_connect_session_token",
            "missing, unknown or expired connect session token: create a new session with POST /connect/sessions",
        )
    }

    pub fn integration_not_allowed(key: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "integration_not_allowed",
            format!("integration `{key}` is not in this connect session's allowed_integrations"),
        )
    }

    pub fn connect_session_used(key: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "connect_session_used",
            format!(
                "this connect session already connected an account to integration `{key}`; \
                 each connect session connects each integration once"
            ),
        )
    }

    pub fn unknown_provider(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            format!("unknown provider `{name}`: GET /providers lists the known ones"),
        )
    }

    pub fn unknown_integration(key: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_integration",
            format!("unknown integration `{key}`: create it with POST /integrations"),
        )
    }

    pub fn unknown_connection(provider_config_key: &str, connection_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_connection",
            format!("unknown connection `{connection_id}` for integration `{provider_config_key}`"),
        )
    }

    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for `{path}`"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("method {method} is not allowed on `{path}`"),
        )
    }

    pub fn invalid_body(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }

    pub fn invalid_query_params(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query_params", message)
    }

    pub fn invalid_connection_config(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_connection_config",
            message,
        )
    }

    pub fn invalid_credentials(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_credentials", message)
    }

    pub fn invalid_proxy_path(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_proxy_path", message)
    }

    pub fn missing_header(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_header",
            format!("missing header `{name}`"),
        )
    }

    pub fn duplicate_integration(key: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_integration",
            format!("an integration with unique_key `{key}` already exists: choose another key or PATCH the existing one"),
        )
    }

    pub fn duplicate_connection(provider_config_key: &str, connection_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_connection",
            format!(
                "connection `{connection_id}` already exists for integration `{provider_config_key}`: \
                 delete it first or choose another connection_id"
            ),
        )
    }

    pub fn forbidden_base_url_override(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "forbidden_base_url_override",
            message,
        )
    }

    pub fn upstream_unreachable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unreachable", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than the limit of {limit} bytes: send a smaller body"
            ),
        )
    }

    /// Logs the store failure (which names no secret) and hides its detail
    /// from the caller.
    pub fn store(error: &StoreError) -> ApiError {
        tracing::error!(error = %error, "store operation failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_error",
            "the store failed to read or write; nothing was changed. See the server log",
        )
    }

    /// Maps an engine error from a step other than a refresh or a code
    /// exchange (authorization URL, injection, base URL).
    pub fn engine(error: &EngineError) -> ApiError {
        match error {
            EngineError::Template { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "template_error",
                error.to_string(),
            ),
            // A stored value that cannot be used, such as a signing key that
            // no longer parses after the provider file changed its algorithm.
            EngineError::MissingCredential(_) | EngineError::InvalidCredential(_) => {
                ApiError::invalid_credentials(error.to_string())
            }
            EngineError::Discovery(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "mcp_discovery_failed",
                error.to_string(),
            ),
            // A value stored before the connection-config check covered it.
            EngineError::InvalidConnectionConfig(_) => {
                ApiError::invalid_connection_config(error.to_string())
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, "engine_error", error.to_string()),
        }
    }

    /// Maps a failed token refresh: a provider that rejects the grant means
    /// the end user has to reconnect (424); anything else may pass (502).
    pub fn refresh(
        error: &EngineError,
        provider_config_key: &str,
        connection_id: &str,
    ) -> ApiError {
        let subject = format!(
            "refreshing connection `{connection_id}` of integration `{provider_config_key}` failed"
        );
        match error {
            EngineError::Provider {
                kind: ProviderErrorKind::Temporary,
                ..
            }
            | EngineError::Transport(_)
            | EngineError::InvalidResponse { .. } => temporary_refresh_failure(&subject, error),
            // A two_step or session login that failed with a 5xx says
            // nothing about the stored fields, which may sign in later.
            EngineError::CredentialsRejected { status, .. } if *status >= 500 => {
                temporary_refresh_failure(&subject, error)
            }
            EngineError::Template { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "template_error",
                format!("{subject}: {error}"),
            ),
            // These messages already state what to do (connect again, or give
            // the integration client credentials).
            EngineError::MissingCredential(_) | EngineError::Unsupported(_) => ApiError::new(
                StatusCode::FAILED_DEPENDENCY,
                "refresh_failed",
                format!("{subject}: {error}"),
            ),
            _ => ApiError::new(
                StatusCode::FAILED_DEPENDENCY,
                "refresh_failed",
                format!("{subject}: {error}; the end user has to connect the account again"),
            ),
        }
    }

    /// Maps a failed code exchange or client-credentials grant of
    /// `integration`.
    pub fn oauth_exchange(error: &EngineError, integration: &str) -> ApiError {
        let message = match error {
            EngineError::Provider {
                provider,
                code,
                description,
                ..
            } => {
                let subject = format!(
                    "provider `{provider}` rejected the token request of integration `{integration}`"
                );
                match description {
                    Some(description) => format!("{subject}: {code}: {description}"),
                    None => format!("{subject}: {code}"),
                }
            }
            EngineError::Template { .. } => {
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "template_error",
                    error.to_string(),
                )
            }
            other => format!("the token request of integration `{integration}` failed: {other}"),
        };
        ApiError::new(StatusCode::BAD_GATEWAY, "oauth_exchange_failed", message)
    }

    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

/// Builds the 502 of a refresh that may pass later, with `Retry-After` set to
/// the time during which Latchkey does not ask the provider again.
fn temporary_refresh_failure(subject: &str, error: &EngineError) -> ApiError {
    let backoff = crate::refresh::TEMPORARY_FAILURE_BACKOFF
        .num_seconds()
        .unsigned_abs();
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "refresh_temporarily_failed",
        format!("{subject}: {error}; retry later"),
    )
    .with_retry_after(backoff)
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::store(&error)
    }
}

/// The error code of a response, read by the request log line.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            ERROR_CODE_HEADER,
            axum::http::HeaderValue::from_static(self.code),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shape() {
        let error = ApiError::unknown_integration("github-main");
        let body = error.body();
        assert_eq!(body["error"]["code"], "unknown_integration");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("github-main"), "{message}");
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert_eq!(body["error"].as_object().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn error_response_has_status_and_json() {
        let response = ApiError::duplicate_connection("k", "c").into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "duplicate_connection");
    }

    #[test]
    fn refresh_errors_map_to_statuses() {
        let provider = |kind| EngineError::Provider {
            provider: "local-oauth".to_owned(),
            kind,
            status: 400,
            code: "invalid_grant".to_owned(),
            description: Some("grant revoked".to_owned()),
        };
        let cases = [
            (
                provider(ProviderErrorKind::Reconnect),
                424,
                "refresh_failed",
            ),
            (provider(ProviderErrorKind::Other), 424, "refresh_failed"),
            (
                provider(ProviderErrorKind::Temporary),
                502,
                "refresh_temporarily_failed",
            ),
            (
                EngineError::Transport("timed out".to_owned()),
                502,
                "refresh_temporarily_failed",
            ),
            (
                EngineError::MissingCredential("no refresh token".to_owned()),
                424,
                "refresh_failed",
            ),
            (
                EngineError::CredentialsRejected {
                    provider: "local-login".to_owned(),
                    step: None,
                    status: 503,
                    body_start: "maintenance".to_owned(),
                },
                502,
                "refresh_temporarily_failed",
            ),
            (
                EngineError::CredentialsRejected {
                    provider: "local-login".to_owned(),
                    step: None,
                    status: 401,
                    body_start: "bad password".to_owned(),
                },
                424,
                "refresh_failed",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::refresh(&error, "k", "c");
            assert_eq!(api.status.as_u16(), status, "{error}");
            assert_eq!(api.code, code, "{error}");
            assert!(api.message.contains("`c`"), "{}", api.message);
        }
    }

    #[test]
    fn refresh_message_says_reconnect_once() {
        let errors = [
            EngineError::MissingCredential(
                "the connection to provider `p` has no refresh token, so the end user must connect again"
                    .to_owned(),
            ),
            EngineError::Unsupported(
                "provider `p` issues no refresh tokens, so the end user must connect again".to_owned(),
            ),
            EngineError::Provider {
                provider: "p".to_owned(),
                kind: ProviderErrorKind::Reconnect,
                status: 400,
                code: "invalid_grant".to_owned(),
                description: None,
            },
        ];
        for error in errors {
            let message = ApiError::refresh(&error, "k", "c").message;
            let reconnect = message.matches("connect again").count()
                + message.matches("connect the account again").count();
            assert_eq!(reconnect, 1, "{message}");
        }
    }

    #[test]
    fn exchange_error_carries_provider_code() {
        let error = EngineError::Provider {
            provider: "local-oauth".to_owned(),
            kind: ProviderErrorKind::Reconnect,
            status: 400,
            code: "invalid_client".to_owned(),
            description: Some("client authentication failed".to_owned()),
        };
        let api = ApiError::oauth_exchange(&error, "local");
        assert_eq!(api.status, StatusCode::BAD_GATEWAY);
        assert_eq!(api.code, "oauth_exchange_failed");
        assert!(
            api.message.contains("provider `local-oauth`"),
            "{}",
            api.message
        );
        assert!(
            api.message.contains("integration `local`"),
            "{}",
            api.message
        );
        assert!(api.message.contains("invalid_client"));
        assert!(api.message.contains("client authentication failed"));
    }

    #[test]
    fn unusable_credential_is_bad_request() {
        let cases = [
            EngineError::MissingCredential("no client secret".to_owned()),
            EngineError::InvalidCredential("key is not PEM".to_owned()),
        ];
        for error in cases {
            let api = ApiError::engine(&error);

            assert_eq!(api.status, StatusCode::BAD_REQUEST, "{error}");
            assert_eq!(api.code, "invalid_credentials", "{error}");
            assert_eq!(api.message, error.to_string());
        }
    }
}
