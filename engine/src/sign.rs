//! The request-signing hook: the proxy builds the outgoing request, passes
//! it here, then sends it. Modes that sign requests set their headers and
//! query parameters; every other mode leaves the request as it is.

use chrono::{DateTime, Utc};
use latchkey_catalog::{Auth, Provider};

use crate::aws_sigv4::{self, AwsKeys};
use crate::oauth1::{sign_reqwest, SigningKeys};
use crate::signature::{self, SignatureKeys};
use crate::template::{config_variables, render};
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
            ..
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
        Credentials::OAuth1(_) | Credentials::Tba { .. } => sign_oauth1(ctx, request),
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

/// Signs with OAuth 1.0a for an `oauth1` or a `tba` connection: the
/// integration's client id and secret are the consumer key and secret.
fn sign_oauth1(
    ctx: &SigningContext<'_>,
    request: &mut reqwest::Request,
) -> Result<(), EngineError> {
    let provider = ctx.provider;
    let app = ctx.app.ok_or_else(|| {
        EngineError::MissingCredential(format!(
            "provider `{}` signs requests with the integration's consumer key and secret, but \
             the integration has no client credentials: PATCH it with `credentials` \
             (client_id, client_secret)",
            provider.name
        ))
    })?;
    let (method, location, realm, token, token_secret) = match (&provider.auth, ctx.credentials) {
        (Auth::Oauth1(settings), Credentials::OAuth1(credentials)) => (
            settings.signature_method,
            settings.signature_location,
            None,
            &credentials.oauth_token,
            &credentials.oauth_token_secret,
        ),
        (
            Auth::Tba(settings),
            Credentials::Tba {
                token_id,
                token_secret,
            },
        ) => {
            let realm = match &settings.realm {
                Some(template) => Some(render(
                    &provider.name,
                    "auth.realm",
                    template,
                    &config_variables(provider, ctx.config),
                )?),
                None => None,
            };
            (
                settings.signature_method,
                settings.signature_location,
                realm,
                token_id,
                token_secret,
            )
        }
        (auth, credentials) => {
            return Err(EngineError::Unsupported(format!(
                "provider `{}` uses auth mode `{}`, but the connection holds {} credentials",
                provider.name,
                auth.mode_name(),
                credentials.type_name()
            )))
        }
    };
    let keys = SigningKeys {
        method,
        consumer_key: &app.client_id,
        consumer_secret: &app.client_secret,
        token: Some(token.expose()),
        token_secret: token_secret.expose(),
    };
    sign_reqwest(
        &provider.name,
        &keys,
        realm.as_deref(),
        location,
        ctx.now,
        request,
    )
}
