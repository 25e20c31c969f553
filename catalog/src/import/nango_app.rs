//! Conversion of Nango's APP and CUSTOM entries (GitHub App installations,
//! with or without the end user's OAuth authorization) into the `app` mode.
//!
//! Nango writes the install page as a connection-config field holding the
//! app's public link (`appPublicLink`) plus a path. In Latchkey the app link
//! is a value of the integration, so the conversion keeps only the path
//! (`install_path`) and drops the link's connection-config field.

use serde_yaml::{Mapping, Value};

use super::{string, Builder};
use crate::import::Reason;
use crate::INSTALLATION_ID_KEY;

/// Top-level keys of an APP or CUSTOM entry that the conversion reads.
pub(super) const APP_KEYS: &[&str] = &["authorization_url", "token_url"];

/// Returns whether `authorization_url_skip_encode` lists only `base_url`,
/// which leaves the app link unencoded, as Latchkey does anyway.
pub(super) fn skips_only_base_url(entry: &Mapping) -> bool {
    entry
        .get("authorization_url_skip_encode")
        .and_then(Value::as_sequence)
        .is_some_and(|list| list.iter().all(|item| item.as_str() == Some("base_url")))
}

/// Seconds from now to the app JWT's `exp`. GitHub rejects an app JWT whose
/// `exp` is more than 10 minutes ahead, so this keeps a minute for clock
/// drift.
const JWT_LIFETIME_SECONDS: u64 = 540;

/// Splits the install page template, `${connectionConfig.KEY}/PATH`, into
/// the connection-config key of the app link and the path.
pub(super) fn install_page(entry: &Mapping) -> Result<(String, String), Reason> {
    let template = string(entry, "authorization_url")
        .ok_or_else(|| Reason::malformed("`authorization_url` (the install page) is missing"))?;
    let shape = || {
        Reason::new(
            "install page other than the app link and a path",
            format!(
                "`authorization_url` is `{template}`, but an APP entry converts only `${{connectionConfig.KEY}}/PATH`"
            ),
        )
    };
    let rest = template
        .strip_prefix("${connectionConfig.")
        .ok_or_else(shape)?;
    let (key, path) = rest.split_once('}').ok_or_else(shape)?;
    let path_valid = path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.~-".contains(c));
    if key.is_empty() || !path_valid {
        return Err(shape());
    }
    Ok((key.to_owned(), path.to_owned()))
}

/// Returns `entry` without the connection-config field of the app link,
/// which the integration supplies in Latchkey.
pub(super) fn without_link_field(entry: &Mapping, link_key: &str) -> Mapping {
    let mut entry = entry.clone();
    if let Some(Value::Mapping(config)) = entry.get_mut("connection_config") {
        config.remove(link_key);
    }
    entry
}

/// The reason an entry with `installation: outbound` (Sentry's public
/// integrations) is not converted.
pub(super) const OUTBOUND_INSTALLATION: &str = "the installation starts in the provider's own UI, \
     and its authorization code and installation id arrive in a webhook, not in a browser redirect; \
     Latchkey has no webhook route that creates a connection";

/// Returns the reason for a Nango mode without a Latchkey mode, with what
/// the mode needs for INSTALL_PLUGIN, which is also an install flow.
pub(super) fn unsupported_mode(mode: &str) -> Reason {
    let needs = match mode {
        "INSTALL_PLUGIN" => {
            "proxied requests carry the integration's own plugin key (basic auth) and the \
             connection keeps only the `website_id` of the install redirect, but Latchkey's \
             integrations store no basic credentials, and the entry names no install page"
        }
        _ => return Reason::unsupported_mode(mode),
    };
    Reason::new(
        Reason::unsupported_mode(mode).kind,
        format!("auth mode {mode} is not supported: {needs}"),
    )
}

impl Builder<'_> {
    /// Converts an APP or CUSTOM entry: the path of `authorization_url`
    /// becomes `install_path`, `token_url` the installation token endpoint,
    /// and the reply is read as GitHub's (`token`, ISO 8601 `expires_at`).
    /// A CUSTOM entry's `token_url` has one URL per mode: `APP` is the
    /// installation token endpoint and `OAUTH2` becomes `user_token_url`.
    pub(super) fn app(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let (_, install_path) = install_page(self.entry)?;
        auth.insert("install_path".into(), install_path.into());
        // The install callback fills the installation id.
        self.automated.insert(INSTALLATION_ID_KEY.to_owned());
        match self.entry.get("token_url") {
            Some(Value::Mapping(urls)) => {
                let url = |mode: &str| {
                    urls.get(mode)
                        .and_then(Value::as_str)
                        .ok_or_else(|| Reason::malformed(&format!("`token_url.{mode}` is missing")))
                };
                let (installation, user) = (url("APP")?, url("OAUTH2")?);
                if urls.len() != 2 {
                    return Err(Reason::no_equivalent(
                        "token_url (modes other than APP and OAUTH2)",
                    ));
                }
                self.insert_url(auth, "token_url", "token_url.APP", installation)?;
                self.insert_url(auth, "user_token_url", "token_url.OAUTH2", user)?;
            }
            _ => self.token_url(auth)?,
        }
        auth.insert("jwt_lifetime_seconds".into(), JWT_LIFETIME_SECONDS.into());

        let mut expires_at = Mapping::new();
        expires_at.insert("path".into(), "expires_at".into());
        expires_at.insert("format".into(), "iso8601".into());
        let mut response = Mapping::new();
        response.insert("access_token".into(), "token".into());
        response.insert("expires_at".into(), Value::Mapping(expires_at));
        auth.insert("token_response".into(), Value::Mapping(response));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(authorization_url: &str) -> Mapping {
        let mut entry = Mapping::new();
        entry.insert("authorization_url".into(), authorization_url.into());
        entry
    }

    #[test]
    fn install_page_split() {
        let (key, path) = install_page(&entry(
            "${connectionConfig.appPublicLink}/installations/new",
        ))
        .unwrap();

        assert_eq!(key, "appPublicLink");
        assert_eq!(path, "/installations/new");
    }

    #[test]
    fn install_page_other_shapes_rejected() {
        for template in [
            "https://github.com/apps/x/installations/new",
            "${connectionConfig.appPublicLink}?a=${connectionConfig.b}",
            "${connectionConfig.appPublicLink}",
        ] {
            let reason = install_page(&entry(template)).unwrap_err();

            assert_eq!(
                reason.kind, "install page other than the app link and a path",
                "{template}"
            );
        }
    }
}
