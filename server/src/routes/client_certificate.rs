//! TLS client certificates of `oauth2_client_credentials` providers with
//! `require_client_certificate`: the check of the entered pair, and the
//! proxy client that presents a connection's pair.

use latchkey_catalog::{ClientCredentials, Provider};
use latchkey_engine::{ClientIdentity, Credentials, TlsSettings};

use crate::error::ApiError;
use crate::AppState;

/// Checks the certificate and key entered for a connection. A provider that
/// requires them gets both, checked to match; any other provider gets
/// neither, so no entered value is silently dropped.
pub(super) fn entered_identity(
    provider: &Provider,
    settings: &ClientCredentials,
    certificate: Option<String>,
    private_key: Option<String>,
) -> Result<Option<ClientIdentity>, ApiError> {
    if !settings.require_client_certificate {
        let given = [
            ("client_certificate", certificate.is_some()),
            ("client_private_key", private_key.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, present)| *present) {
            return Err(ApiError::invalid_credentials(format!(
                "provider `{}` does not use a TLS client certificate, so `credentials.{field}` is not accepted; remove it",
                provider.name
            )));
        }
        return Ok(None);
    }
    let missing = |field: &str| {
        ApiError::invalid_credentials(format!(
            "missing field `credentials.{field}`: provider `{}` requires a TLS client certificate; pass the PEM certificate in `credentials.client_certificate` and its PEM private key in `credentials.client_private_key`",
            provider.name
        ))
    };
    let certificate = certificate
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| missing("client_certificate"))?;
    let private_key = private_key
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| missing("client_private_key"))?;
    ClientIdentity::parse(&certificate, &private_key)
        .map(Some)
        .map_err(|error| ApiError::invalid_credentials(error.to_string()))
}

/// Returns the client for a proxied request of a connection: one that
/// presents the connection's TLS client certificate when it has one, the
/// shared proxy client otherwise.
pub(super) fn proxy_client(
    state: &AppState,
    credentials: &Credentials,
) -> Result<reqwest::Client, ApiError> {
    let Credentials::ClientCredentials {
        client_identity: Some(identity),
        ..
    } = credentials
    else {
        return Ok(state.proxy_client.clone());
    };
    TlsSettings::client_with_identity(crate::proxy_client_builder(&state.tls), identity).map_err(
        |error| {
            tracing::warn!(error = %error, "building the proxy client with a client certificate failed");
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "tls_client_error",
                format!("cannot build the TLS client with the connection's client certificate: {error}"),
            )
        },
    )
}
