//! The request signing hook: the proxy calls [`sign_request`] on every
//! outgoing request just before sending it, and modes that sign requests
//! instead of injecting a credential add their signature there.

use chrono::{DateTime, Utc};
use latchkey_catalog::{Auth, Provider};

use crate::oauth1::{sign_reqwest, SigningKeys};
use crate::template::{config_variables, render};
use crate::{ClientApp, ConnectionConfig, Credentials, EngineError};

/// Everything a signature may cover besides the request itself.
pub struct SigningContext<'a> {
    pub provider: &'a Provider,
    pub credentials: &'a Credentials,
    pub config: &'a ConnectionConfig,
    /// The integration's client id and secret.
    pub app: Option<&'a ClientApp>,
    pub now: DateTime<Utc>,
}

/// Signs `request` as the connection's auth mode requires, and leaves it
/// unchanged for modes that do not sign.
pub fn sign_request(
    ctx: &SigningContext<'_>,
    request: &mut reqwest::Request,
) -> Result<(), EngineError> {
    match ctx.credentials {
        Credentials::OAuth2(_)
        | Credentials::ClientCredentials { .. }
        | Credentials::ApiKey { .. }
        | Credentials::Basic { .. } => Ok(()),
        Credentials::OAuth1(_) | Credentials::Tba { .. } => sign_oauth1(ctx, request),
    }
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
