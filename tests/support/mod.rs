//! Shared harness of the end-to-end tests: the test peers, the Latchkey
//! server under test, the end user's OAuth flow and provider files that
//! point at the local peers.
//!
//! Peers shared by the tests of one file live in a `static`, and statics
//! never drop, so every child process runs in its own process group that
//! an exit hook kills when the test process ends.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

pub mod html_form;
pub mod latchkey;
pub mod oauth_flow;
pub mod peers;
pub mod process;

pub use process::{free_port, random_hex};

use peers::ClientAuthMethod;

/// Returns a provider file for an oidc-provider client using the
/// authorization code grant, with `/me` (userinfo) as the API. The
/// integration supplies the scopes (`/me` needs `openid`).
pub fn oidc_oauth2_provider(name: &str, issuer: &str, client_auth: ClientAuthMethod) -> String {
    format!(
        r#"name: {name}
display_name: Test authorization server {name}
auth:
  mode: oauth2
  authorization_url: "{issuer}/auth"
  token_url: "{issuer}/token"
  client_auth: {client_auth}
proxy:
  base_url: "{issuer}"
"#,
        client_auth = client_auth.catalog_name()
    )
}

/// Returns a provider file for an oidc-provider client using the client
/// credentials grant, whose API is httpbin (it echoes the injected token).
pub fn oidc_client_credentials_provider(
    name: &str,
    issuer: &str,
    client_auth: ClientAuthMethod,
    api_base_url: &str,
) -> String {
    format!(
        r#"name: {name}
display_name: Test client credentials {name}
auth:
  mode: oauth2_client_credentials
  token_url: "{issuer}/token"
  client_auth: {client_auth}
proxy:
  base_url: "{api_base_url}"
"#,
        client_auth = client_auth.catalog_name()
    )
}

/// Returns a provider file whose API is httpbin, with `auth` as the YAML
/// body of the `auth` mapping (indented by two spaces).
pub fn httpbin_provider(name: &str, httpbin_base_url: &str, auth: &str) -> String {
    format!(
        r#"name: {name}
display_name: Test httpbin {name}
auth:
{auth}
proxy:
  base_url: "{httpbin_base_url}"
"#
    )
}

/// Returns the `auth` mapping of an OAuth2 provider whose endpoints are never
/// called, for connections imported with a known access token.
pub fn unused_oauth2_auth(httpbin_base_url: &str) -> String {
    format!(
        r#"  mode: oauth2
  authorization_url: "{httpbin_base_url}/unused/authorize"
  token_url: "{httpbin_base_url}/unused/token""#
    )
}
