//! The request-signing hook: the proxy builds the outgoing request, passes
//! it here, then sends it. Modes that sign requests set their headers and
//! query parameters; every other mode leaves the request as it is.

use chrono::{DateTime, Utc};
use latchkey_catalog::{Auth, Provider};

use crate::aws_sigv4::{self, AwsKeys};
use crate::signature::{self, SignatureKeys};
use crate::{ClientApp, ConnectionConfig, Credentials, EngineError};

/// What a signature may cover besides the request itself.
pub struct SigningContext<'a> {
    pub provider: &'a Provider,
    pub credentials: &'a Credentials,
    pub config: &'a ConnectionConfig,
    /// The integration's client id and secret.
    pub app: Option<&'a ClientApp>,
    /// The signing time, which also fills timestamps.
    pub now: DateTime<Utc>,
}

/// Signs `request` for the connection in `ctx`. The body must be buffered,
/// because signatures cover it.
pub fn sign_request(
    ctx: &SigningContext<'_>,
    request: &mut reqwest::Request,
) -> Result<(), EngineError> {
    match ctx.credentials {
        Credentials::Signature { username, password } => {
            let Auth::Signature(settings) = &ctx.provider.auth else {
                return Err(mode_mismatch(ctx));
            };
            let keys = SignatureKeys { username, password };
            signature::sign(ctx.provider, settings, ctx.config, &keys, ctx.now, request)
        }
        Credentials::AwsSigV4 {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            let Auth::AwsSigv4(settings) = &ctx.provider.auth else {
                return Err(mode_mismatch(ctx));
            };
            let keys = AwsKeys {
                access_key_id,
                secret_access_key,
                session_token: session_token.as_ref(),
            };
            aws_sigv4::sign(ctx.provider, settings, ctx.config, &keys, ctx.now, request)
        }
        _ => Ok(()),
    }
}

fn mode_mismatch(ctx: &SigningContext<'_>) -> EngineError {
    EngineError::Unsupported(format!(
        "provider `{}` uses auth mode `{}`, but the connection holds {} credentials",
        ctx.provider.name,
        ctx.provider.auth.mode_name(),
        ctx.credentials.type_name()
    ))
}
