//! Shared harness of the end-to-end tests: the test peers, the Latchkey
//! server under test, the end user's OAuth flow and provider files that
//! point at the local peers.
//!
//! Peers shared by the tests of one file live in a `static`, and statics
//! never drop, so every child process runs in its own process group that
//! an exit hook kills when the test process ends.

// Each test file uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod html_form;
pub mod latchkey;
pub mod oauth1_peer;
pub mod oauth_flow;
pub mod peers;
pub mod process;
pub mod recorder;

pub use process::{free_port, random_hex};

use peers::ClientAuthMethod;
use serde_json::Value;

/// Returns the string at `credentials.{field}` of a connection object.
pub fn credential(connection: &Value, field: &str) -> String {
    connection["credentials"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no credentials.{field} in {connection}"))
        .to_owned()
}

/// Returns the string at the JSON pointer `pointer` of `value`.
pub fn text_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
        .to_owned()
}

/// Returns a provider file with `auth` as the YAML body of the `auth`
/// mapping (its lines indented by two spaces), `base_url` as the proxy's base
/// URL and `extra` appended as further top-level YAML (for example a
/// `connection_config` mapping).
pub fn provider_file(
    name: &str,
    display_name: &str,
    auth: &str,
    base_url: &str,
    extra: &str,
) -> String {
    format!(
        r#"name: {name}
display_name: {display_name}
auth:
{auth}
proxy:
  base_url: "{base_url}"
{extra}"#
    )
}

/// Returns a provider file for an oidc-provider client using the
/// authorization code grant, with `/me` (userinfo) as the API. The
/// integration supplies the scopes (`/me` needs `openid`).
pub fn oidc_oauth2_provider(name: &str, issuer: &str, client_auth: ClientAuthMethod) -> String {
    let auth = format!(
        r#"  mode: oauth2
  authorization_url: "{issuer}/auth"
  token_url: "{issuer}/token"
  client_auth: {}"#,
        client_auth.catalog_name()
    );
    let display_name = format!("Test authorization server {name}");
    provider_file(name, &display_name, &auth, issuer, "")
}

/// Returns a provider file for an oidc-provider client using the client
/// credentials grant, whose API is httpbin (it echoes the injected token).
pub fn oidc_client_credentials_provider(
    name: &str,
    issuer: &str,
    client_auth: ClientAuthMethod,
    api_base_url: &str,
) -> String {
    let auth = format!(
        r#"  mode: oauth2_client_credentials
  token_url: "{issuer}/token"
  client_auth: {}"#,
        client_auth.catalog_name()
    );
    let display_name = format!("Test client credentials {name}");
    provider_file(name, &display_name, &auth, api_base_url, "")
}

/// Returns a provider file whose API is httpbin, with `auth` as the YAML
/// body of the `auth` mapping (indented by two spaces).
pub fn httpbin_provider(name: &str, httpbin_base_url: &str, auth: &str) -> String {
    let display_name = format!("Test httpbin {name}");
    provider_file(name, &display_name, auth, httpbin_base_url, "")
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
