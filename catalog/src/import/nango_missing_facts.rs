//! Nango entries that lack a fact their own mode needs, completed from the
//! provider's documentation.
//!
//! Certn's partner entry is a client-credentials entry without a token URL,
//! whose proxy header reads `${apiKey}`, a value that client-credentials
//! connections do not have. Certn documents the token endpoint and the
//! bearer use of the token it returns, so the entry is completed with that
//! endpoint and the mode's own bearer header.

use serde_yaml::{Mapping, Value};

/// One completed entry.
struct Completion {
    /// The entry's name in Nango's catalog.
    entry: &'static str,
    /// The token URL that the provider documents.
    token_url: &'static str,
    /// How the provider takes the client ID and secret (`client_auth`).
    client_auth: &'static str,
    /// The proxy header that the mode's default bearer header replaces.
    replaced_header: &'static str,
}

const COMPLETIONS: &[Completion] = &[
    // Certn's API guide: POST https://api.certn.co/token/ with
    // `grant_type=client_credentials` and the client ID and secret as basic
    // authentication; the reply's `access_token` goes into
    // `Authorization: Bearer` on every call.
    Completion {
        entry: "certn-partner",
        token_url: "https://api.certn.co/token/",
        client_auth: "basic",
        replaced_header: "authorization",
    },
];

/// The comment written above the completed `token_url`.
pub(super) const TOKEN_URL_COMMENT: &str =
    "Nango's entry names no token URL; this is the one the provider documents.";

/// A completed entry and what the conversion adds to it.
pub(super) struct Completed {
    pub entry: Mapping,
    pub client_auth: &'static str,
}

/// Returns `entry` with its missing token URL and without the proxy header
/// that the mode's bearer default replaces, or `None` for any entry that
/// the table does not name or that has a token URL of its own.
pub(super) fn complete(name: &str, entry: &Mapping) -> Option<Completed> {
    let completion = COMPLETIONS.iter().find(|known| known.entry == name)?;
    if entry.contains_key("token_url") {
        return None;
    }
    let mut entry = entry.clone();
    entry.insert("token_url".into(), completion.token_url.into());
    if let Some(Value::Mapping(proxy)) = entry.get_mut("proxy") {
        if let Some(Value::Mapping(headers)) = proxy.get_mut("headers") {
            headers.remove(completion.replaced_header);
            if headers.is_empty() {
                proxy.remove("headers");
            }
        }
    }
    Some(Completed {
        entry,
        client_auth: completion.client_auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_added_and_key_header_dropped() {
        let entry: Mapping = serde_yaml::from_str(
            "auth_mode: OAUTH2_CC\nproxy:\n  base_url: https://api.certn.co\n  headers:\n    authorization: Bearer ${apiKey}\n",
        )
        .unwrap();
        let completed = complete("certn-partner", &entry).unwrap();
        assert_eq!(
            completed.entry["token_url"].as_str(),
            Some("https://api.certn.co/token/")
        );
        assert_eq!(completed.entry["proxy"].get("headers"), None);
        assert_eq!(completed.client_auth, "basic");
    }

    #[test]
    fn other_entries_and_own_token_urls_stay() {
        let entry: Mapping =
            serde_yaml::from_str("auth_mode: OAUTH2_CC\ntoken_url: https://a.test/t\n").unwrap();
        assert!(complete("certn-partner", &entry).is_none());
        assert!(complete("other", &entry).is_none());
    }
}
