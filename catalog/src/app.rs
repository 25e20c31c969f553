//! Settings of the `app` auth mode: an app installed into the end user's
//! account (a GitHub App), whose installation token Latchkey obtains by
//! exchanging a JWT signed with the app's private key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Inject, TokenResponse};

/// The connection-config key that stores the installation id from the
/// install callback, so that templates such as `token_url` can use it.
pub const INSTALLATION_ID_KEY: &str = "installation_id";

/// App installation settings.
///
/// The integration stores the app id, the app's RS256 private key and the
/// app's public link. The end user installs the app at the public link
/// followed by `install_path`, and the install callback carries the
/// installation id. Latchkey then signs a JWT (`iss` = app id, `iat`
/// `jwt_backdate_seconds` in the past, `exp` `jwt_lifetime_seconds` ahead)
/// and sends it as a bearer token in a POST to `token_url`, whose reply
/// carries the installation token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Path appended to the integration's app link to reach the install
    /// page, such as `/installations/new`.
    pub install_path: String,
    /// Name of the install callback's query parameter that carries the
    /// installation id; `installation_id` when absent. The value is stored
    /// under the connection-config key `installation_id`.
    #[serde(default = "default_installation_param")]
    pub installation_param: String,
    /// Template of the endpoint that exchanges the app JWT for an
    /// installation token. Its variables are the connection-config keys.
    pub token_url: String,
    /// Extra headers of the token request, such as a `User-Agent` that the
    /// provider requires. `Accept` is always `application/json`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_request_headers: BTreeMap<String, String>,
    /// Seconds from now to the app JWT's `exp`.
    pub jwt_lifetime_seconds: u64,
    /// Seconds the app JWT's `iat` lies in the past, to allow for clock
    /// drift between Latchkey and the provider; 60 when absent.
    #[serde(default = "default_backdate")]
    pub jwt_backdate_seconds: u64,
    /// Paths of the token and its expiry in the reply.
    #[serde(default)]
    pub token_response: TokenResponse,
    /// Renew this many seconds before expiry; 900 when absent, and never
    /// more than half the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    /// Placement of the token in proxied requests; an `Authorization:
    /// Bearer` header when absent. The variable `access_token` contains the
    /// token that `inject_token` selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// Template of the OAuth token endpoint of the end user's
    /// authorization during the install (GitHub's "request user
    /// authorization during installation"). When set, the install callback
    /// must also carry `code`, which is exchanged there with the
    /// integration's client id and secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_token_url: Option<String>,
    /// Paths of the user token and its lifetime in the exchange reply.
    #[serde(default)]
    pub user_token_response: TokenResponse,
    /// The token that proxied requests carry.
    #[serde(default, skip_serializing_if = "AppToken::is_installation")]
    pub inject_token: AppToken,
}

/// One of the two tokens of an `app` connection with user authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppToken {
    /// The installation token, which acts as the app on the installation.
    #[default]
    Installation,
    /// The end user's OAuth token, which acts as the user through the app.
    User,
}

impl AppToken {
    fn is_installation(&self) -> bool {
        *self == AppToken::Installation
    }
}

fn default_installation_param() -> String {
    INSTALLATION_ID_KEY.to_owned()
}

fn default_backdate() -> u64 {
    60
}
