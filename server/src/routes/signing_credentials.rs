//! Checks the credentials of the request-signing modes (`signature`,
//! `aws_sigv4`) that an import or the end user's form sends, and builds the
//! stored credentials from them.

use latchkey_catalog::SignatureAlgorithm;
use latchkey_engine::{check_ed25519_private_key, Credentials, Secret, ED25519_KEY_HELP};

use crate::error::ApiError;
use crate::validate::{check_credential_size, check_header_credential};

/// Values sent for a `signature` connection, `None` where a field was left
/// out. An empty value is rejected like a missing one.
pub(super) struct SignatureInput {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Values sent for an `aws_sigv4` connection, `None` where a field was left
/// out. An empty key is rejected like a missing one, and an empty session
/// token counts as none.
pub(super) struct AwsSigV4Input {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

/// Builds `SIGNATURE` credentials for a provider that signs with
/// `algorithm`. `prefix` goes in front of field names in errors
/// (`credentials.` for an import), and `missing` builds the error for an
/// absent field from its prefixed name.
pub(super) fn signature_credentials(
    prefix: &str,
    algorithm: SignatureAlgorithm,
    input: SignatureInput,
    missing: impl Fn(&str) -> ApiError,
) -> Result<Credentials, ApiError> {
    let username = required(prefix, "username", input.username, &missing)?;
    let password = required(prefix, "password", input.password, &missing)?;
    // The username may be placed in a header; the password only feeds the
    // signature, but a header-safe secret keeps templates simple. An
    // Ed25519 password is a PEM private key, whose lines are checked by
    // parsing it instead, so that a connection never stores a key that
    // cannot sign.
    check_header_credential(&format!("{prefix}username"), &username)?;
    let password_field = format!("{prefix}password");
    if algorithm == SignatureAlgorithm::Ed25519 {
        check_ed25519_private_key(&password).map_err(|problem| {
            ApiError::invalid_credentials(format!(
                "`{password_field}` {problem}: {ED25519_KEY_HELP}"
            ))
        })?;
    } else {
        check_header_credential(&password_field, &password)?;
    }
    Ok(Credentials::Signature {
        username,
        password: Secret::new(password),
    })
}

/// Builds `AWS_SIGV4` credentials, with errors named as in
/// [`signature_credentials`].
pub(super) fn aws_sigv4_credentials(
    prefix: &str,
    input: AwsSigV4Input,
    missing: impl Fn(&str) -> ApiError,
) -> Result<Credentials, ApiError> {
    let access_key_id = required(prefix, "access_key_id", input.access_key_id, &missing)?;
    let secret_access_key = required(
        prefix,
        "secret_access_key",
        input.secret_access_key,
        &missing,
    )?;
    let key_field = format!("{prefix}access_key_id");
    check_header_credential(&key_field, &access_key_id)?;
    if let Some(bad) = access_key_id
        .chars()
        .find(|c| matches!(c, ' ' | '/' | ',' | '='))
    {
        return Err(ApiError::invalid_credentials(format!(
            "`{key_field}` contains `{bad}`, which would break the SigV4 `Credential` value: \
             enter the access key id as AWS shows it, for example AKIAIOSFODNN7EXAMPLE"
        )));
    }
    check_credential_size(&format!("{prefix}secret_access_key"), &secret_access_key)?;
    let session_token = match input.session_token.filter(|token| !token.is_empty()) {
        Some(token) => {
            let field = format!("{prefix}session_token");
            check_credential_size(&field, &token)?;
            check_header_credential(&field, &token)?;
            Some(Secret::new(token))
        }
        None => None,
    };
    Ok(Credentials::AwsSigV4 {
        access_key_id,
        secret_access_key: Secret::new(secret_access_key),
        session_token,
        role_arn: None,
        expires_at: None,
        obtained_at: None,
    })
}

fn required(
    prefix: &str,
    name: &str,
    value: Option<String>,
    missing: &impl Fn(&str) -> ApiError,
) -> Result<String, ApiError> {
    let field = format!("{prefix}{name}");
    let value = value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| missing(&field))?;
    check_credential_size(&field, &value)?;
    Ok(value)
}
