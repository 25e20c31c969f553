//! Conversion of Nango's MCP_OAUTH2 entries into `mcp_oauth2` files.
//!
//! Nango pins the endpoints of each MCP server and names the MCP server URL,
//! when it names it, as the `resource` authorization parameter. That value
//! becomes `server_url`, which Latchkey sends as `resource` in every
//! authorization and token request.

use serde_yaml::{Mapping, Value};

use super::{mapping, string, Builder, OAUTH_KEYS};
use crate::import::Reason;

/// The server URL of Nango's MCP_OAUTH2_GENERIC mode, which Nango reads
/// from this connection-config key.
pub(super) const GENERIC_SERVER_URL: &str = "${connectionConfig.mcp_server_url}";

/// Nango's OAuth keys that an MCP_OAUTH2 entry may carry and that the
/// conversion reads.
const CONVERTED_OAUTH_KEYS: &[&str] = &[
    "authorization_url",
    "token_url",
    "scope_separator",
    "default_scopes",
    "authorization_params",
    "token_params",
    "refresh_params",
    "authorization_url_skip_encode",
    "alternate_access_token_response_path",
];

impl Builder<'_> {
    pub(super) fn mcp_oauth2(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        if string(entry, "auth_mode") == Some("MCP_OAUTH2_GENERIC") {
            // The whole server URL comes from the connection config. The
            // field then starts the URL, so it gets `format: base_url`
            // when Nango's example or pattern shows a path.
            let server_url = self.url("mcp_server_url", GENERIC_SERVER_URL)?;
            auth.insert("server_url".into(), server_url.into());
            return Ok(());
        }
        for key in entry.keys().filter_map(Value::as_str) {
            if OAUTH_KEYS.contains(&key) && !CONVERTED_OAUTH_KEYS.contains(&key) {
                return Err(Reason::no_equivalent(key));
            }
        }

        let mut authorization_params = mapping(entry, "authorization_params")
            .cloned()
            .unwrap_or_default();
        if let Some(resource) = authorization_params.remove("resource") {
            let resource = resource.as_str().ok_or_else(|| {
                Reason::malformed("`authorization_params.resource` is not a string")
            })?;
            let server_url = self.url("authorization_params.resource", resource)?;
            auth.insert("server_url".into(), server_url.into());
        }
        authorization_params.remove("response_type");
        if let Some(name) = authorization_params.keys().filter_map(Value::as_str).next() {
            return Err(Reason::no_equivalent(&format!(
                "authorization_params.{name}"
            )));
        }
        for (key, standard) in [
            ("token_params", "authorization_code"),
            ("refresh_params", "refresh_token"),
        ] {
            let params = self.params(key, Some(standard))?;
            if let Some(name) = params.keys().filter_map(Value::as_str).next() {
                return Err(Reason::no_equivalent(&format!("{key}.{name}")));
            }
        }

        for key in ["authorization_url", "token_url", "registration_url"] {
            if let Some(url) = string(entry, key) {
                let url = self.url(key, url)?;
                auth.insert(key.into(), url.into());
            }
        }
        match string(entry, "client_registration") {
            Some("dynamic") | None => {}
            Some("static") => {
                auth.insert("client_registration".into(), "static".into());
            }
            Some(other) => {
                return Err(Reason::new(
                    format!("client registration `{other}`"),
                    format!("`client_registration: {other}` has no Latchkey equivalent; Latchkey supports `dynamic` and `static`"),
                ))
            }
        }
        if let Some(params) = mapping(entry, "registration_params") {
            auth.insert("registration_params".into(), Value::Mapping(params.clone()));
        }
        if let Some(path) = string(entry, "alternate_access_token_response_path") {
            let mut response = Mapping::new();
            response.insert(
                "access_token_fallback".into(),
                super::access_token_fallback(path).into(),
            );
            auth.insert("token_response".into(), Value::Mapping(response));
        }
        self.scopes(auth)?;
        if let Some(skip) = entry.get("authorization_url_skip_encode") {
            let only_scopes = skip
                .as_sequence()
                .is_some_and(|list| list.iter().all(|item| item.as_str() == Some("scopes")));
            if !only_scopes {
                return Err(Reason::no_equivalent("authorization_url_skip_encode"));
            }
            auth.insert("scope_encoding".into(), "raw".into());
        }
        Ok(())
    }
}
