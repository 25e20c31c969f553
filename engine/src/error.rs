//! The one error type of the engine.
//!
//! Every message names the provider and the value concerned and never
//! contains a secret: token replies are described by their keys, not quoted,
//! unless the body is not JSON at all.

use crate::redact::{redact, redact_excerpt};

/// An error from interpreting a provider definition or from a provider's
/// token endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A template of the definition failed to render, or rendered to an
    /// invalid value (a URL, a header).
    #[error("provider `{provider}`, field `{field}`: {message}")]
    Template {
        provider: String,
        field: String,
        message: String,
    },

    /// The provider replied to a token request with an OAuth error
    /// (RFC 6749 section 5.2).
    #[error(
        "provider `{provider}` rejected the token request with HTTP {status} and error `{code}`{}",
        describe(description)
    )]
    Provider {
        /// Name of the provider definition, for example `jira`.
        provider: String,
        kind: ProviderErrorKind,
        status: u16,
        code: String,
        description: Option<String>,
    },

    /// The token request failed before a reply arrived (connection refused,
    /// timed out, TLS failure).
    #[error("{0}")]
    Transport(String),

    /// The provider replied with something that is not a usable token
    /// response: not JSON, no access token, a malformed `expires_in`.
    #[error("{message}{}", quote(body_start))]
    InvalidResponse {
        status: u16,
        /// A sentence naming the provider, the HTTP status and the problem.
        message: String,
        /// The first 200 characters of a body that is not JSON. Empty for
        /// JSON bodies, because a JSON token reply may carry secrets.
        body_start: String,
    },

    /// A value the operation needs is absent, for example a refresh token.
    #[error("{0}")]
    MissingCredential(String),

    /// The provider's auth mode has no such operation, or the credentials do
    /// not belong to that mode.
    #[error("{0}")]
    Unsupported(String),

    /// The redirect back to Latchkey carried a value that the definition
    /// rejects, such as a captured connection-config value that does not
    /// match its field's pattern.
    #[error("{0}")]
    InvalidCallback(String),

    /// A `two_step` or `session` token endpoint replied with a status other
    /// than 2xx, which usually means it rejected the entered credentials.
    #[error(
        "provider `{provider}` rejected {} with HTTP {status}{}",
        request_name(*step),
        reply(body_start)
    )]
    CredentialsRejected {
        provider: String,
        /// The number of the rejected request in a chain of `steps`, where
        /// `token_request` is 1; `None` for a login of one request.
        step: Option<usize>,
        status: u16,
        /// The start of the reply's body, with every entered value replaced
        /// by `[redacted]`.
        body_start: String,
    },
    /// A value the end user entered cannot be used, such as a private key
    /// that is not valid PEM. The message names the field, never the value.
    #[error("{0}")]
    InvalidCredential(String),
    /// A stored connection-config value cannot be used where the provider
    /// file puts it, such as a header name that is not an HTTP token. The
    /// message names the key, the value and the fix.
    #[error("{0}")]
    InvalidConnectionConfig(String),
    /// MCP discovery or dynamic client registration failed: metadata
    /// missing or rejected, or the registration refused. The message names
    /// the URL and the server's response.
    #[error("{0}")]
    Discovery(String),
}

/// The action a caller should take on a provider's error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The grant or the client is no longer valid (`invalid_grant`,
    /// `invalid_client`, `unauthorized_client`): the end user must connect
    /// again or the integration's credentials must be fixed.
    Reconnect,
    /// The provider is failing for now (HTTP 5xx, `temporarily_unavailable`,
    /// `server_error`): retrying later may succeed.
    Temporary,
    /// Any other OAuth error.
    Other,
}

impl ProviderErrorKind {
    /// Classifies an OAuth error code and the HTTP status it came with.
    pub(crate) fn classify(code: &str, status: u16) -> ProviderErrorKind {
        match code {
            "invalid_grant" | "invalid_client" | "unauthorized_client" => {
                ProviderErrorKind::Reconnect
            }
            "temporarily_unavailable" | "server_error" => ProviderErrorKind::Temporary,
            _ if status >= 500 => ProviderErrorKind::Temporary,
            _ => ProviderErrorKind::Other,
        }
    }
}

impl EngineError {
    /// Returns whether retrying the same request later may succeed: a temporary
    /// provider error, a transport failure, or an invalid reply with HTTP 5xx
    /// (for example an HTML maintenance page).
    pub fn is_temporary(&self) -> bool {
        match self {
            EngineError::Provider { kind, .. } => *kind == ProviderErrorKind::Temporary,
            EngineError::Transport(_) => true,
            EngineError::InvalidResponse { status, .. }
            | EngineError::CredentialsRejected { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Returns whether the stored grant is dead and the end user must connect again.
    pub fn needs_reconnect(&self) -> bool {
        matches!(
            self,
            EngineError::Provider {
                kind: ProviderErrorKind::Reconnect,
                ..
            }
        )
    }

    /// Redacts `secrets` from the parts of the error that quote a
    /// provider's reply (a description, the start of a body), because
    /// providers may echo the request's client secret, code or token.
    pub(crate) fn redact_quoted(self, secrets: &[&str]) -> EngineError {
        let clean = |text: String| redact(&text, secrets.iter().copied());
        match self {
            EngineError::Provider {
                provider,
                kind,
                status,
                code,
                description,
            } => EngineError::Provider {
                provider,
                kind,
                status,
                code,
                description: description.map(clean),
            },
            EngineError::InvalidResponse {
                status,
                message,
                body_start,
            } => EngineError::InvalidResponse {
                status,
                message: clean(message),
                body_start: redact_excerpt(&body_start, secrets.iter().copied()),
            },
            other => other,
        }
    }

    pub(crate) fn template(provider: &str, field: &str, message: impl Into<String>) -> EngineError {
        EngineError::Template {
            provider: provider.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(text) => format!(": {text}"),
        None => String::new(),
    }
}

/// Names the rejected request of a `two_step` login for an error message.
fn request_name(step: Option<usize>) -> String {
    match step {
        None => "the token request".to_owned(),
        Some(number) => format!("request {number} of the token request chain"),
    }
}

fn reply(body_start: &str) -> String {
    if body_start.is_empty() {
        " and an empty body".to_owned()
    } else {
        format!(" and the reply: {body_start}")
    }
}

fn quote(body_start: &str) -> String {
    if body_start.is_empty() {
        String::new()
    } else {
        format!(" (body starts with {body_start:?})")
    }
}
