//! The end user's entry of the credential fields that a `two_step`,
//! `session` or `jwt` definition declares: `POST
//! /connect/{unique_key}/two-step`, `/session` and `/jwt`. The session
//! checks and the storing are those of the other entry routes
//! (`credential_entry`). The values are checked, and the first token
//! obtained, by the code that `POST /connections` runs, so a value the
//! provider rejects stores nothing.
//!
//! A form body carries `credentials[NAME]=...` and `params[KEY]=...` pairs.
//! A JSON body is `{"credentials": {...}, "connection_config": {...}}`.

use std::collections::BTreeMap;

use latchkey_catalog::{Auth, Provider};
use latchkey_engine::{ConnectionConfig, Credentials};
use serde::Deserialize;
use serde_json::Value;

use super::credential_entry::{unsupported_body, BodyFormat};
use super::jwt::jwt_credentials;
use crate::connection_config;
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::records::IntegrationRecord;
use crate::two_step;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFieldEntry {
    #[serde(default)]
    credentials: serde_json::Map<String, Value>,
    #[serde(default)]
    connection_config: Option<ConnectionConfig>,
}

/// Reads the entered credential fields and connection config from `body`,
/// validates the config, and obtains the credential to store: the first
/// token of a `two_step` or `session` definition, or the first signed (and
/// exchanged) JWT of a `jwt` one.
pub(super) async fn entered_credentials(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    format: BodyFormat,
    body: &[u8],
) -> Result<(ConnectionConfig, Credentials), ApiError> {
    let (fields, input_config) = match format {
        BodyFormat::Form => parse_form(body)?,
        BodyFormat::Json => {
            let parsed: JsonFieldEntry = parse_json(body)?;
            let config = parsed.connection_config.unwrap_or_default();
            connection_config::check_browser_limits("connection_config", &config)?;
            (parsed.credentials, config)
        }
        BodyFormat::Unsupported => return Err(unsupported_body()),
    };
    let mut config = crate::integration_config::browser_connection_config(
        provider,
        integration,
        &input_config,
        &fields,
    )?;
    let credentials = match &provider.auth {
        Auth::TwoStep(settings) | Auth::Session(settings) => {
            let mut fields = fields;
            crate::integration_config::add_entered_defaults(provider, integration, &mut fields);
            let fields = two_step::entered_fields(provider, settings, "credentials.", fields)?;
            two_step::obtain_credentials(
                state,
                provider,
                &integration.unique_key,
                fields,
                &mut config,
            )
            .await?
        }
        Auth::Jwt(_) => {
            // An empty value counts as absent, as it does for the other
            // modes, so an optional field left blank is not stored.
            let fields: BTreeMap<String, Value> = fields
                .into_iter()
                .filter(|(_, value)| value.as_str() != Some(""))
                .collect();
            jwt_credentials(state, provider, integration, fields, &mut config).await?
        }
        other => {
            return Err(ApiError::invalid_credentials(format!(
                "provider `{}` uses {} auth, which has no entered credential fields",
                provider.name,
                other.mode_name()
            )))
        }
    };
    Ok((config, credentials))
}

/// Splits a form body into the `credentials[NAME]` values and the
/// `params[KEY]` connection config. Other pairs are ignored.
fn parse_form(body: &[u8]) -> Result<(serde_json::Map<String, Value>, ConnectionConfig), ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut credentials = serde_json::Map::new();
    for (name, value) in &pairs {
        let Some(field) = name
            .strip_prefix("credentials[")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            continue;
        };
        if credentials.contains_key(field) {
            return Err(ApiError::invalid_credentials(format!(
                "field `credentials.{field}` was sent more than once; send it once"
            )));
        }
        credentials.insert(field.to_owned(), Value::String(value.clone()));
    }
    let mut config = ConnectionConfig::new();
    connection_config::merge_form_values(
        &mut config,
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )?;
    Ok((credentials, config))
}
