//! Runs a provider's post-connection steps on a new connection before it is
//! stored, after the OAuth callback and after `POST /connections`.

use axum::http::StatusCode;
use latchkey_catalog::Provider;
use latchkey_engine::EngineError;

use crate::connection_config;
use crate::error::ApiError;
use crate::records::{ConnectionRecord, IntegrationRecord};
use crate::AppState;

/// Adds the values of the provider's post-connection steps to `connection`
/// (connection-config keys it lacks, and metadata), then checks the
/// connection config again, because the new values may land in URLs.
///
/// On failure `connection` is left unchanged and the caller must not store
/// it: a reply of 401 or 403 is `invalid_credentials` (400), a missing
/// response path or another failure `post_connection_failed` (502), a
/// broken template `template_error` (500), and a filled value that does
/// not fit its field `invalid_connection_config` (400).
pub async fn apply(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    connection: &mut ConnectionRecord,
) -> Result<(), ApiError> {
    if provider.post_connection.is_empty() {
        return Ok(());
    }
    let client_id = integration
        .credentials
        .as_ref()
        .map(|credentials| credentials.client_id.as_str());
    let values = state
        .engine
        .run_post_connection(
            provider,
            &connection.credentials,
            &connection.connection_config,
            client_id,
        )
        .await
        .map_err(|error| failure(&error, &integration.unique_key))?;

    // A value the caller set wins, so an imported connection can choose
    // another site than the first one a provider lists.
    let mut config = connection.connection_config.clone();
    for (key, value) in values.connection_config {
        config.entry(key).or_insert(value);
    }
    let config = connection_config::validate(provider, &config)?;
    connection.connection_config = config;
    connection.metadata.extend(values.metadata);
    tracing::info!(
        steps = provider.post_connection.len(),
        "ran the post-connection steps"
    );
    Ok(())
}

fn failure(error: &EngineError, integration: &str) -> ApiError {
    tracing::warn!(error = %error, "post-connection step failed");
    match error {
        EngineError::Template { .. } => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "template_error",
            error.to_string(),
        ),
        // 401 and 403 mean the provider rejected the key or token just
        // entered, which the caller can fix, as for a rejected two_step login.
        EngineError::InvalidResponse {
            status: 401 | 403, ..
        } => {
            ApiError::invalid_credentials(format!(
                "the credentials of integration `{integration}` were not accepted by its post-connection step, so no connection was stored: {error}"
            ))
        }
        other => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "post_connection_failed",
            format!(
                "the post-connection step of integration `{integration}` failed, so no connection was stored: {other}"
            ),
        ),
    }
}
