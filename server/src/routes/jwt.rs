//! Connections of the `jwt` auth mode: importing the entered values and
//! rendering the credential in Nango's `JWT` shape.

use std::collections::BTreeMap;

use chrono::Utc;
use latchkey_catalog::Provider;
use latchkey_engine::{check_entered_values, ConnectionConfig, Credentials, EngineError};
use latchkey_engine::{JwtCredentials, Secret};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::records::IntegrationRecord;
use crate::AppState;

/// The largest entered value, in bytes: a PEM RSA key of 4096 bits is about
/// 3.3 KB, so this leaves room for larger keys and escaped line breaks.
pub(crate) const MAX_FIELD_BYTES: usize = 16 * 1024;

/// Checks the entered values of an imported `JWT` credential, signs the
/// first assertion (and exchanges it when the definition has a `token_url`), and
/// returns the credential to store. A field that `input` lacks, leaves
/// empty or sets to null takes the integration's value, when it has one.
pub(super) async fn jwt_credentials(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    input: BTreeMap<String, Value>,
    config: &mut ConnectionConfig,
) -> Result<Credentials, ApiError> {
    let mut input: serde_json::Map<String, Value> = input.into_iter().collect();
    crate::integration_config::add_entered_defaults(provider, integration, &mut input);
    let mut fields = BTreeMap::new();
    for (key, value) in input {
        let Value::String(text) = value else {
            return Err(ApiError::invalid_body(format!(
                "field `credentials.{key}` must be a string"
            )));
        };
        if text.len() > MAX_FIELD_BYTES {
            return Err(ApiError::invalid_credentials(format!(
                "`credentials.{key}` is {} bytes long, but may be at most {MAX_FIELD_BYTES} bytes",
                text.len()
            )));
        }
        fields.insert(key, Secret::new(text));
    }
    check_entered_values(provider, &fields).map_err(|error| {
        tracing::info!(error = %error, "rejected the entered JWT credential values");
        entry_error(&error, integration)
    })?;

    let grant = state
        .engine
        .jwt_token(provider, &fields, config, Utc::now())
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "obtaining the JWT token failed");
            entry_error(&error, integration)
        })?;
    config.extend(grant.connection_config);
    Ok(Credentials::Jwt(JwtCredentials {
        fields,
        token: grant.token,
    }))
}

/// Maps an error of the first signing or exchange: a bad entered value is
/// the caller's (400), a rejected assertion returns the provider's error (502).
fn entry_error(error: &EngineError, integration: &IntegrationRecord) -> ApiError {
    match error {
        EngineError::InvalidCredential(_) | EngineError::MissingCredential(_) => {
            ApiError::invalid_credentials(error.to_string())
        }
        other => ApiError::oauth_exchange(other, &integration.unique_key),
    }
}

/// Renders a `JWT` credential as Nango does: the entered values under their
/// own keys, beside `token` and `expires_at`.
pub(super) fn jwt_credentials_json(jwt: &JwtCredentials) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("type".to_owned(), json!("JWT"));
    for (key, value) in &jwt.fields {
        object.insert(key.clone(), json!(value.expose()));
    }
    object.insert("token".to_owned(), json!(jwt.token.access_token.expose()));
    object.insert("expires_at".to_owned(), json!(jwt.token.expires_at));
    object.insert("raw".to_owned(), jwt.token.raw.clone());
    Value::Object(object)
}
