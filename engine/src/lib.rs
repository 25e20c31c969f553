//! The generic auth engine: interprets a provider definition.
//!
//! No code here names a provider. Every behaviour comes from the typed
//! [`latchkey_catalog::Provider`] passed in.

mod app;
mod assume_role;
mod aws_sigv4;
mod client_identity;
mod cookies;
mod credentials;
mod error;
mod inject;
mod json_body;
mod jwt;
mod jwt_keys;
mod jwt_steps;
mod lifecycle;
mod mcp;
mod oauth1;
mod oauth2_flow;
mod password_grant;
mod post_connection;
mod redact;
mod saml;
mod secret;
mod sign;
mod signature;
mod template;
mod template_time;
mod token_request;
mod token_response;
mod token_steps;
mod transport;
mod two_step;
mod url_template;
mod xml_body;

#[cfg(test)]
mod test_support;

pub use app::{app_signing_key, sign_app_jwt, AppInstallation, InstallableApp};
pub use assume_role::{assumed_keys_due, AssumeRoleCall, AssumedRoleKeys};
pub use client_identity::{ClientIdentity, ClientIdentityError, TlsSettings};
pub use credentials::{
    ClientApp, ConnectionConfig, Credentials, OAuth1Credentials, OAuth2Token, SessionCredentials,
    TokenGrant, TwoStepCredentials,
};
pub use error::{EngineError, ProviderErrorKind};
pub use http::HeaderValue;
pub use inject::{check_place_names, Injection};
pub use json_body::{merge_json_body, JsonBodyError, MergedBody};
pub use jwt::{
    check_entered_values, check_signing_key_field, sign_assertion, JwtCredentials, SignedAssertion,
    JWT_BEARER_GRANT,
};
pub use lifecycle::{refresh_due, DEFAULT_REFRESH_MARGIN};
pub use mcp::McpSetup;
pub use oauth1::{AccessToken, RequestToken};
pub use oauth2_flow::AuthorizationRequest;
pub use post_connection::PostConnectionValues;
pub use secret::Secret;
pub use sign::{sign_request, SigningContext};
pub use signature::{check_ed25519_private_key, ED25519_KEY_HELP};
pub use template::{base_url, config_variables, render};

/// Runs token requests for every provider over one shared HTTP client.
#[derive(Clone)]
pub struct Engine {
    http: reqwest::Client,
    /// Settings of the clients built for connections that present a TLS
    /// client certificate.
    tls: TlsSettings,
}

impl Engine {
    /// Creates an engine that sends token requests with `http`, whose
    /// timeouts and proxy settings apply to them. `http` should follow no
    /// redirects, because the requests carry secrets that a redirect would
    /// resend to another host.
    pub fn new(http: reqwest::Client) -> Engine {
        Engine {
            http,
            tls: TlsSettings::default(),
        }
    }

    /// Creates an engine as [`Engine::new`] does, whose clients for TLS
    /// client certificates are built with `tls` (its extra trusted roots).
    /// `http` should be built from [`TlsSettings::token_client_builder`] of
    /// the same settings.
    pub fn with_tls(http: reqwest::Client, tls: TlsSettings) -> Engine {
        Engine { http, tls }
    }
}
