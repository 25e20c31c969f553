//! Connections of the `two_step` and `session` modes: checking the values
//! the end user entered, and obtaining the first token with them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use latchkey_catalog::{Auth, FieldFormat, FieldType, Provider, TwoStep};
use latchkey_engine::{
    ConnectionConfig, Credentials, EngineError, Secret, SessionCredentials, TwoStepCredentials,
};
use regex::Regex;
use serde_json::Value;

use crate::error::ApiError;
use crate::validate::{check_credential_size, shown};
use crate::AppState;

/// Checks the entered values against the provider's credential fields and
/// returns them as text, with defaults filled in. `prefix` is put in front
/// of field names in errors (`credentials.` for an import). The value of a
/// field marked `secret` is never quoted.
pub fn entered_fields(
    provider: &Provider,
    settings: &TwoStep,
    prefix: &str,
    mut given: serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, Secret>, ApiError> {
    let mut fields = BTreeMap::new();
    for (name, field) in &settings.credentials {
        let text = match given.remove(name) {
            Some(Value::String(text)) if !text.is_empty() => Some(text),
            Some(Value::Number(number)) => Some(number.to_string()),
            Some(Value::Bool(flag)) => Some(flag.to_string()),
            Some(Value::String(_)) | Some(Value::Null) | None => None,
            Some(_) => {
                return Err(ApiError::invalid_credentials(format!(
                    "field `{prefix}{name}` must be a string"
                )))
            }
        };
        let Some(text) = text.or_else(|| field.default.clone()) else {
            if field.optional {
                continue;
            }
            return Err(ApiError::invalid_credentials(format!(
                "missing or empty field `{prefix}{name}` ({}): provider `{}` requires a value",
                field.title, provider.name
            )));
        };
        let field_name = format!("{prefix}{name}");
        check_credential_size(&field_name, &text)?;
        check_value(provider, &field_name, field, &text)?;
        fields.insert(name.clone(), Secret::new(text));
    }
    if let Some(unknown) = given.keys().next() {
        let expected: Vec<String> = settings
            .credentials
            .keys()
            .map(|name| format!("`{prefix}{name}`"))
            .collect();
        return Err(ApiError::invalid_credentials(format!(
            "unknown field `{prefix}{unknown}`: provider `{}` takes {}",
            provider.name,
            expected.join(", ")
        )));
    }
    Ok(fields)
}

/// Checks one value against its field's type, format and pattern.
fn check_value(
    provider: &Provider,
    field_name: &str,
    field: &latchkey_catalog::ConfigField,
    text: &str,
) -> Result<(), ApiError> {
    let shown_value = if field.secret {
        "the value".to_owned()
    } else {
        format!("value `{}`", shown(text))
    };
    let type_ok = match field.field_type {
        FieldType::String => true,
        FieldType::Number => text.parse::<f64>().is_ok_and(f64::is_finite),
        FieldType::Boolean => text == "true" || text == "false",
    };
    let format_ok = match field.format {
        None => true,
        Some(FieldFormat::Uri) => url::Url::parse(text).is_ok(),
        Some(FieldFormat::Email) => text.contains('@') && !text.contains(char::is_whitespace),
        Some(FieldFormat::Uuid) => uuid::Uuid::parse_str(text).is_ok(),
        Some(FieldFormat::Hostname) => url::Host::parse(text).is_ok() && !text.contains(['/', ':']),
        Some(format @ (FieldFormat::BaseUrl | FieldFormat::HostPortPath)) => {
            format.check_url_form(text).is_ok()
        }
    };
    if !type_ok || !format_ok {
        return Err(ApiError::invalid_credentials(format!(
            "field `{field_name}`: {shown_value} is not valid for provider `{}`; expected {}",
            provider.name,
            describe_expected(field)
        )));
    }
    if field.excludes(text) {
        return Err(ApiError::invalid_credentials(format!(
            "field `{field_name}`: {shown_value} matches the excluded pattern `{}` of provider `{}`; use another value",
            field.excluded_pattern.as_deref().unwrap_or_default(),
            provider.name
        )));
    }
    let Some(pattern) = &field.pattern else {
        return Ok(());
    };
    let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "template_error",
            format!(
                "provider `{}`, field `auth.credentials.{field_name}.pattern`: invalid regular expression: {error}",
                provider.name
            ),
        )
    })?;
    if regex.is_match(text) {
        return Ok(());
    }
    Err(ApiError::invalid_credentials(format!(
        "field `{field_name}`: {shown_value} does not match the pattern `{pattern}` of provider `{}`",
        provider.name
    )))
}

fn describe_expected(field: &latchkey_catalog::ConfigField) -> &'static str {
    match (field.field_type, field.format) {
        (FieldType::Number, _) => "a number",
        (FieldType::Boolean, _) => "`true` or `false`",
        (_, Some(FieldFormat::Email)) => "an email address",
        (_, Some(FieldFormat::Uuid)) => "a UUID such as `123e4567-e89b-12d3-a456-426614174000`",
        (_, Some(FieldFormat::Hostname)) => "a host name such as `acme.example.com`",
        (_, Some(FieldFormat::Uri)) => "an absolute URI such as `https://acme.example.com`",
        (_, Some(FieldFormat::BaseUrl)) => {
            "an https base URL such as `https://acme.example.com/api`"
        }
        (_, Some(FieldFormat::HostPortPath)) => {
            "a host with an optional port and path such as `acme.example.com:8443/api`"
        }
        (FieldType::String, None) => "a string",
    }
}

/// Sends the token request with the entered values and builds the stored
/// credential. The values captured from the reply are merged into `config`.
pub async fn obtain_credentials(
    state: &AppState,
    provider: &Provider,
    integration: &str,
    fields: BTreeMap<String, Secret>,
    config: &mut ConnectionConfig,
) -> Result<Credentials, ApiError> {
    let grant = state
        .engine
        .two_step_token(provider, &fields, config, None)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "two-step token request failed");
            token_request_error(&error, integration)
        })?;
    config.extend(grant.connection_config);
    Ok(wrap(provider, fields, grant.token, grant.cookies))
}

/// The stored value that contains the cookies of the last login, beside the
/// entered values, for a definition with `token_response.capture_cookies`.
/// The name is reserved, so no entered field takes it.
const COOKIES_FIELD: &str = "cookies";

/// Wraps entered values, a token and the cookies of its reply as the
/// credential of the provider's mode. The cookies replace those of the
/// previous login, which are dropped when the reply set none.
pub fn wrap(
    provider: &Provider,
    mut fields: BTreeMap<String, Secret>,
    token: latchkey_engine::OAuth2Token,
    cookies: Option<Secret>,
) -> Credentials {
    match cookies {
        Some(cookies) => fields.insert(COOKIES_FIELD.to_owned(), cookies),
        None => fields.remove(COOKIES_FIELD),
    };
    let credentials = TwoStepCredentials { fields, token };
    match provider.auth {
        Auth::Session(_) => Credentials::Session(SessionCredentials(credentials)),
        _ => Credentials::TwoStep(credentials),
    }
}

/// Maps a failed first token request. A rejection with HTTP 4xx, or an
/// entered value that the engine cannot use such as a signing key that
/// does not parse, is the caller's fault: 400 `invalid_credentials`, which
/// quotes a rejecting provider's reply. Any other failure is the
/// provider's.
fn token_request_error(error: &EngineError, integration: &str) -> ApiError {
    match error {
        EngineError::InvalidCredential(_) | EngineError::MissingCredential(_) => {
            ApiError::engine(error)
        }
        EngineError::CredentialsRejected { status, .. } if *status < 500 => {
            ApiError::invalid_credentials(format!(
                "the credentials of integration `{integration}` were not accepted: {error}"
            ))
        }
        _ => ApiError::oauth_exchange(error, integration),
    }
}
