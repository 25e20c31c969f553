//! Connections of an `aws_sigv4` provider with `assume_role`: the
//! integration's STS settings in `integration_config`, the first STS
//! `AssumeRole` call when a connection is created, and the renewal of the
//! temporary keys before they expire.

use axum::http::StatusCode;
use chrono::Utc;
use latchkey_catalog::{
    Auth, ConfigField, Provider, ACCESS_KEY_ID_KEY, DEFAULT_REGION_KEY, SECRET_ACCESS_KEY_KEY,
    STS_MODE_KEY,
};
use latchkey_engine::{AssumeRoleCall, ConnectionConfig, Credentials, EngineError, Secret};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::records::{ConnectionRecord, IntegrationRecord};
use crate::refresh;
use crate::store::connection_key;
use crate::AppState;

/// The only `stsMode` Latchkey carries out: AWS STS, called with the
/// integration's keys.
const BUILTIN_STS_MODE: &str = "builtin";
/// Longest `RoleSessionName` that STS accepts.
const MAX_SESSION_NAME_CHARS: usize = 64;

/// Returns whether `provider` obtains its keys with STS `AssumeRole`.
pub fn uses_assume_role(provider: &Provider) -> bool {
    matches!(&provider.auth, Auth::AwsSigv4(aws) if aws.assume_role.is_some())
}

/// Returns the definition of an `integration_config` key that the
/// `assume_role` section adds, for a provider that has one.
pub fn integration_field(provider: &Provider, key: &str) -> Option<ConfigField> {
    if !uses_assume_role(provider) {
        return None;
    }
    let definition = match key {
        DEFAULT_REGION_KEY => json!({
            "title": "Default AWS region",
            "optional": true,
            "pattern": "[a-z]{2}(-[a-z]+)+-[0-9]+",
        }),
        STS_MODE_KEY => json!({"title": "STS mode", "optional": true}),
        ACCESS_KEY_ID_KEY => json!({
            "title": "AWS access key ID that calls STS AssumeRole",
            "secret": true,
            "pattern": "[A-Z0-9]{16,128}",
        }),
        SECRET_ACCESS_KEY_KEY => json!({
            "title": "AWS secret access key that calls STS AssumeRole",
            "secret": true,
            "pattern": "[A-Za-z0-9/+=]{16,256}",
        }),
        _ => return None,
    };
    Some(serde_json::from_value(definition).expect("a valid field definition"))
}

/// Returns the `integration_config` keys that the `assume_role` section
/// adds, or none for another provider.
pub fn integration_keys(provider: &Provider) -> &'static [&'static str] {
    if uses_assume_role(provider) {
        &[
            ACCESS_KEY_ID_KEY,
            DEFAULT_REGION_KEY,
            SECRET_ACCESS_KEY_KEY,
            STS_MODE_KEY,
        ]
    } else {
        &[]
    }
}

/// Rejects an `stsMode` other than `builtin`, because Latchkey calls only
/// AWS STS itself.
pub fn check_sts_mode(key: &str, value: &str) -> Result<(), ApiError> {
    if key != STS_MODE_KEY || value == BUILTIN_STS_MODE {
        return Ok(());
    }
    Err(ApiError::invalid_body(format!(
        "`integration_config.{STS_MODE_KEY}` is {:?}, but Latchkey supports only `{BUILTIN_STS_MODE}`, \
         which calls AWS STS AssumeRole with `{ACCESS_KEY_ID_KEY}` and `{SECRET_ACCESS_KEY_KEY}`: \
         set `{BUILTIN_STS_MODE}` or leave the key out",
        crate::validate::shown(value)
    )))
}

/// Adds the integration's `defaultRegion` as the connection's `region` when
/// the connection sets none.
pub fn add_default_region(
    provider: &Provider,
    integration: &IntegrationRecord,
    config: &mut ConnectionConfig,
) {
    if !uses_assume_role(provider) {
        return;
    }
    let Some(region) = integration.integration_config.get(DEFAULT_REGION_KEY) else {
        return;
    };
    let missing = match config.get("region") {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(_) => false,
    };
    if missing {
        config.insert("region".to_owned(), Value::String(region.clone()));
    }
}

/// Checks an entered role ARN: `arn:PARTITION:iam::ACCOUNT:role/NAME`, as
/// IAM writes it. `field` names the value in errors.
pub fn check_role_arn(field: &str, value: &str) -> Result<(), ApiError> {
    let pattern =
        regex::Regex::new(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
            .expect("a valid pattern");
    if pattern.is_match(value) {
        return Ok(());
    }
    Err(ApiError::invalid_credentials(format!(
        "`{field}` is {:?}, which is not an IAM role ARN: enter it as IAM shows it, \
         such as arn:aws:iam::123456789012:role/ExampleRole",
        crate::validate::shown(value)
    )))
}

/// Calls STS `AssumeRole` for a new connection and returns its credentials.
/// A role or integration keys that STS rejects is 400 `invalid_credentials`.
/// An STS that cannot be reached, or replies with 5xx, is 502.
pub async fn first_keys(
    state: &AppState,
    provider: &Provider,
    integration: &IntegrationRecord,
    role_arn: String,
    config: &ConnectionConfig,
    connection_id: &str,
) -> Result<Credentials, ApiError> {
    let key = &integration.unique_key;
    let has_text = |name: &str| {
        config
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|text| !text.is_empty())
    };
    if !has_text("region") {
        return Err(ApiError::invalid_connection_config(format!(
            "connection config field `region` is missing and integration `{key}` sets no \
             `integration_config.{DEFAULT_REGION_KEY}`: pass the AWS region, such as us-east-1"
        )));
    }
    if !has_text("service") {
        return Err(missing_integration_config(key, "service"));
    }
    let (access_key_id, secret_access_key) = integration_keys_of(integration)
        .map_err(|missing| missing_integration_config(key, missing))?;
    let call = AssumeRoleCall {
        role_arn: &role_arn,
        session_name: &session_name(connection_id),
        access_key_id,
        secret_access_key: &secret_access_key,
    };
    let now = Utc::now();
    let keys = state
        .engine
        .assume_role(provider, &call, config, now)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "STS AssumeRole for a new connection failed");
            first_call_error(&error, key, &role_arn)
        })?;
    Ok(Credentials::AwsSigV4 {
        access_key_id: keys.access_key_id,
        secret_access_key: keys.secret_access_key,
        session_token: Some(keys.session_token),
        role_arn: Some(role_arn),
        expires_at: Some(keys.expires_at),
        obtained_at: Some(now),
    })
}

fn missing_integration_config(integration: &str, missing: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "missing_integration_config",
        format!(
            "integration `{integration}` has no `integration_config.{missing}`, which AWS STS \
             AssumeRole needs: set it with PATCH /integrations/{integration}"
        ),
    )
}

/// Returns the integration's access key id and secret access key, or the
/// key of the first one that is missing.
fn integration_keys_of(integration: &IntegrationRecord) -> Result<(&str, Secret), &'static str> {
    let values = &integration.integration_config;
    let access_key_id = values.get(ACCESS_KEY_ID_KEY).ok_or(ACCESS_KEY_ID_KEY)?;
    let secret = values
        .get(SECRET_ACCESS_KEY_KEY)
        .ok_or(SECRET_ACCESS_KEY_KEY)?;
    Ok((access_key_id, Secret::new(secret.clone())))
}

/// Builds `RoleSessionName` from the connection id, which then shows in
/// AWS CloudTrail: `latchkey-` and the id, with each character that STS does
/// not accept replaced by `-`, cut to 64 characters.
fn session_name(connection_id: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let cleaned: String = connection_id
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    format!("latchkey-{cleaned}")
        .chars()
        .take(MAX_SESSION_NAME_CHARS)
        .collect()
}

fn first_call_error(error: &EngineError, integration: &str, role_arn: &str) -> ApiError {
    match error {
        EngineError::Provider { status, .. } if *status < 500 && !error.is_temporary() => {
            ApiError::invalid_credentials(format!(
                "AWS STS rejected AssumeRole of role `{role_arn}` for integration `{integration}`: {error}. \
                 Check the role ARN, that the role's trust policy allows the integration's IAM principal, \
                 and the integration's `{ACCESS_KEY_ID_KEY}` and `{SECRET_ACCESS_KEY_KEY}`"
            ))
        }
        EngineError::Template { .. } => ApiError::engine(error),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "sts_request_failed",
            format!("AWS STS AssumeRole for integration `{integration}` failed: {error}"),
        ),
    }
}

/// Adds `region` and `service` from the connection config to the wire form
/// of assumed keys, as Nango's `AWS_SIGV4` credential carries them.
pub fn add_scope_to_credentials(credentials: &mut Value, config: &ConnectionConfig) {
    let assumed = credentials["type"] == "AWS_SIGV4" && credentials.get("role_arn").is_some();
    if !assumed {
        return;
    }
    for key in ["region", "service"] {
        if let Some(value) = config.get(key) {
            credentials[key] = value.clone();
        }
    }
}

/// Returns whether `credentials` are temporary keys from `AssumeRole`.
pub fn is_assumed(credentials: &Credentials) -> bool {
    matches!(
        credentials,
        Credentials::AwsSigV4 {
            role_arn: Some(_),
            ..
        }
    )
}

/// Returns the `obtained_at` and `expires_at` of assumed keys.
fn lifetime(credentials: &Credentials) -> Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> {
    match credentials {
        Credentials::AwsSigV4 {
            obtained_at: Some(obtained_at),
            expires_at: Some(expires_at),
            ..
        } => Some((*obtained_at, *expires_at)),
        _ => None,
    }
}

/// Returns `connection` with its assumed keys renewed by a new `AssumeRole`
/// call when they are due or `force` is set. Renewals of one connection are
/// single-flight, as token refreshes are, and a failure is recorded on the
/// connection like a failed refresh.
pub async fn fresh(
    state: &AppState,
    connection: ConnectionRecord,
    force: bool,
) -> Result<ConnectionRecord, ApiError> {
    let provider = state.provider(&connection.provider)?;
    let Some((obtained_at, expires_at)) = lifetime(&connection.credentials) else {
        return Ok(connection);
    };
    if !force && !latchkey_engine::assumed_keys_due(provider, obtained_at, expires_at, Utc::now()) {
        return Ok(connection);
    }
    let waiting_since = Utc::now();
    let key = connection_key(&connection.provider_config_key, &connection.connection_id);
    let lock = state.refresh_locks.lock_for(&key);
    let result = {
        let _guard = lock.lock().await;
        renew_locked(
            state,
            provider,
            connection,
            force,
            obtained_at,
            waiting_since,
        )
        .await
    };
    state.refresh_locks.release(&key, lock);
    result
}

async fn renew_locked(
    state: &AppState,
    provider: &Provider,
    connection: ConnectionRecord,
    force: bool,
    seen_obtained_at: chrono::DateTime<Utc>,
    waiting_since: chrono::DateTime<Utc>,
) -> Result<ConnectionRecord, ApiError> {
    let connection = refresh::load(
        state,
        &connection.provider_config_key,
        &connection.connection_id,
    )?;
    if let Some(failure) = refresh::failure_since(&connection, waiting_since) {
        return Err(failure);
    }
    let Some((obtained_at, expires_at)) = lifetime(&connection.credentials) else {
        return Ok(connection);
    };
    let renewed_meanwhile = obtained_at != seen_obtained_at;
    let due = latchkey_engine::assumed_keys_due(provider, obtained_at, expires_at, Utc::now());
    if renewed_meanwhile || (!force && !due) {
        return Ok(connection);
    }
    if !force {
        if let Some(failure) = refresh::blocking_failure(&connection, Utc::now()) {
            return Err(failure);
        }
    }
    match renewed_credentials(state, provider, &connection).await {
        Ok(credentials) => store_renewed(state, connection, credentials).await,
        Err(error) => Err(refresh::record_failure(state, connection, &error).await),
    }
}

/// Calls `AssumeRole` again for the connection's role.
async fn renewed_credentials(
    state: &AppState,
    provider: &Provider,
    connection: &ConnectionRecord,
) -> Result<Credentials, EngineError> {
    let Credentials::AwsSigV4 {
        role_arn: Some(role_arn),
        ..
    } = &connection.credentials
    else {
        return Err(EngineError::Unsupported(
            "only keys from STS AssumeRole are renewed".to_owned(),
        ));
    };
    let key = &connection.provider_config_key;
    let integration = state
        .store
        .get_integration(key)
        .map_err(|error| {
            EngineError::MissingCredential(format!("reading integration `{key}` failed: {error}"))
        })?
        .ok_or_else(|| {
            EngineError::MissingCredential(format!("integration `{key}` no longer exists"))
        })?;
    let (access_key_id, secret_access_key) = integration_keys_of(&integration).map_err(|missing| {
        EngineError::MissingCredential(format!(
            "integration `{key}` has no `integration_config.{missing}` to call AWS STS AssumeRole with: \
             set it with PATCH /integrations/{key}"
        ))
    })?;
    let call = AssumeRoleCall {
        role_arn,
        session_name: &session_name(&connection.connection_id),
        access_key_id,
        secret_access_key: &secret_access_key,
    };
    let now = Utc::now();
    let keys = state
        .engine
        .assume_role(provider, &call, &connection.connection_config, now)
        .await?;
    Ok(Credentials::AwsSigV4 {
        access_key_id: keys.access_key_id,
        secret_access_key: keys.secret_access_key,
        session_token: Some(keys.session_token),
        role_arn: Some(role_arn.clone()),
        expires_at: Some(keys.expires_at),
        obtained_at: Some(now),
    })
}

async fn store_renewed(
    state: &AppState,
    mut connection: ConnectionRecord,
    credentials: Credentials,
) -> Result<ConnectionRecord, ApiError> {
    connection.credentials = credentials;
    connection
        .errors
        .retain(|e| e.kind != refresh::REFRESH_ERROR);
    connection.updated_at = Utc::now();
    if !state.store.update_connection(&connection).await? {
        return Err(ApiError::unknown_connection(
            &connection.provider_config_key,
            &connection.connection_id,
        ));
    }
    tracing::info!("renewed the temporary AWS keys with STS AssumeRole");
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_name_from_connection_id() {
        let cases = [
            ("conn-1", "latchkey-conn-1"),
            ("user 7/acme", "latchkey-user-7-acme"),
            ("é@x", "latchkey--@x"),
            (&"a".repeat(80), &format!("latchkey-{}", "a".repeat(55))),
        ];
        for (connection_id, expected) in cases {
            assert_eq!(session_name(connection_id), expected, "{connection_id}");
        }
    }

    #[test]
    fn role_arn_checked() {
        let accepted = [
            "arn:aws:iam::123456789012:role/Reader",
            "arn:aws-cn:iam::123456789012:role/path/to/Role_1",
        ];
        for arn in accepted {
            assert!(check_role_arn("role_arn", arn).is_ok(), "{arn}");
        }
        let rejected = [
            "",
            "Reader",
            "arn:aws:iam::12345:role/Reader",
            "arn:aws:iam::123456789012:user/Reader",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
        ];
        for arn in rejected {
            let error = check_role_arn("credentials.role_arn", arn).unwrap_err();
            assert_eq!(error.code, "invalid_credentials", "{arn}");
            assert!(
                error.message.contains("`credentials.role_arn`"),
                "{arn}: {}",
                error.message
            );
        }
    }

    #[test]
    fn sts_mode_checked() {
        assert!(check_sts_mode(STS_MODE_KEY, "builtin").is_ok());
        assert!(check_sts_mode("service", "custom").is_ok());

        let error = check_sts_mode(STS_MODE_KEY, "custom").unwrap_err();

        assert_eq!(error.code, "invalid_body");
        assert!(
            error.message.contains("supports only `builtin`"),
            "{}",
            error.message
        );
    }
}
