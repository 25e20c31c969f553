//! The user's name and password of the resource owner password
//! credentials grant (RFC 6749 section 4.3), rendered from the connection
//! config for the token request of an `oauth2_client_credentials`
//! definition with `password_grant`.

use latchkey_catalog::{PasswordGrant, Provider};
use serde_json::Value;

use crate::template::render;
use crate::{EngineError, Secret};

/// Renders the `username` and `password` parameters of `grant` with the
/// connection-config variables `vars`. An empty value is
/// [`EngineError::MissingCredential`] naming the parameter, because RFC
/// 6749 section 4.3.2 requires both.
pub(crate) fn render_user_password(
    provider: &Provider,
    grant: &PasswordGrant,
    vars: &Value,
) -> Result<(String, Secret), EngineError> {
    let username = render_required(provider, "username", &grant.username, vars)?;
    let password = render_required(provider, "password", &grant.password, vars)?;
    Ok((username, Secret::new(password)))
}

fn render_required(
    provider: &Provider,
    param: &str,
    template: &str,
    vars: &Value,
) -> Result<String, EngineError> {
    let field = format!("auth.password_grant.{param}");
    let value = render(&provider.name, &field, template, vars)?;
    if value.is_empty() {
        return Err(EngineError::MissingCredential(format!(
            "provider `{}` sends the password grant's `{param}` from `{template}`, which is empty for this connection; set that connection-config value",
            provider.name
        )));
    }
    Ok(value)
}
