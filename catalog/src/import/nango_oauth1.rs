//! Conversion of Nango's OAUTH1 and TBA entries.

use serde_yaml::{Mapping, Value};

use super::{insert_map, string, Builder};
use crate::import::Reason;

/// Top-level keys of an OAUTH1 entry that the conversion reads.
pub(super) const OAUTH1_KEYS: &[&str] = &[
    "request_url",
    "request_params",
    "request_http_method",
    "authorization_url",
    "authorization_params",
    "token_url",
    "token_params",
    "token_http_method",
    "signature_method",
    "scope_separator",
];

/// The signature methods of Nango's OAUTH1 mode, which Latchkey names the
/// same way.
const SIGNATURE_METHODS: &[&str] = &["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"];

impl Builder<'_> {
    /// Converts an OAUTH1 entry: Nango's `request_url` and `token_url` are
    /// the request token and access token endpoints, and `request_params`
    /// and `token_params` are the extra parameters of those two steps.
    pub(super) fn oauth1(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        for (nango, latchkey) in [
            ("request_url", "request_token_url"),
            ("authorization_url", "authorization_url"),
            ("token_url", "access_token_url"),
        ] {
            let url = string(entry, nango)
                .ok_or_else(|| Reason::malformed(&format!("`{nango}` is missing")))?;
            let url = self.url(nango, url)?;
            auth.insert(latchkey.into(), url.into());
        }
        for (nango, latchkey) in [
            ("request_http_method", "request_token_method"),
            ("token_http_method", "access_token_method"),
        ] {
            match string(entry, nango) {
                None | Some("POST") => {}
                Some(method @ ("GET" | "PUT")) => {
                    auth.insert(latchkey.into(), method.into());
                }
                Some(other) => {
                    return Err(Reason::malformed(&format!(
                        "`{nango}` is `{other}`, not GET, PUT or POST"
                    )))
                }
            }
        }
        let method = string(entry, "signature_method")
            .ok_or_else(|| Reason::malformed("`signature_method` is missing"))?;
        if !SIGNATURE_METHODS.contains(&method) {
            return Err(Reason::new(
                "OAuth 1.0a signature method without an equivalent",
                format!("`signature_method` is `{method}`"),
            ));
        }
        auth.insert("signature_method".into(), method.into());
        if let Some(separator) = string(entry, "scope_separator") {
            auth.insert("scope_separator".into(), separator.into());
        }
        for (nango, latchkey) in [
            ("request_params", "request_token_params"),
            ("authorization_params", "authorization_params"),
            ("token_params", "access_token_params"),
        ] {
            let params = self.params(nango, None)?;
            insert_map(auth, latchkey, params);
        }
        Ok(())
    }

    /// Converts a TBA entry. Nango's TBA mode signs with HMAC-SHA256 and
    /// sends NetSuite's realm, the account id in upper case with `_` for
    /// `-`, so an entry with an `accountId` field gets that realm.
    /// NOTE: the realm rule follows NetSuite's documented account id format
    /// (`1234567_SB1` for the sandbox `1234567-sb1`); Nango's own code that
    /// builds the header was not read.
    pub(super) fn tba(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        auth.insert("signature_method".into(), "HMAC-SHA256".into());
        let has_account_id = super::mapping(self.entry, "connection_config")
            .is_some_and(|fields| fields.contains_key(Value::from("accountId")));
        if has_account_id {
            auth.insert(
                "realm".into(),
                "{{ accountId | upper | replace('-', '_') }}".into(),
            );
        }
        Ok(())
    }
}
