//! Nango post-connection scripts whose only effect is filling
//! connection-config keys from one API call, converted into Latchkey
//! `post_connection` steps, or copying the client ID, converted into the
//! `oauth_client_id` variable.
//!
//! Nango's catalog names a script but does not contain it, so each entry
//! here restates what the provider documents for that call.

use serde_yaml::{Mapping, Value};

/// A script converted into one `post_connection` step.
struct KnownScript {
    /// The `post_connection_script` value in Nango's catalog.
    script: &'static str,
    url: &'static str,
    /// Header names and templates.
    headers: &'static [(&'static str, &'static str)],
    /// Connection-config keys and their response paths.
    connection_config: &'static [(&'static str, &'static str)],
}

const KNOWN_SCRIPTS: &[KnownScript] = &[
    // Mailchimp's OAuth guide: the metadata endpoint returns the account's
    // data center (`dc`), which is the first label of the API host.
    KnownScript {
        script: "mailchimpPostConnection",
        url: "https://login.mailchimp.com/oauth2/metadata",
        headers: &[("Authorization", "OAuth {{ access_token }}")],
        connection_config: &[("dc", "dc")],
    },
    // Sophos Central's `whoami` returns a tenant credential's tenant id as
    // `id` and the tenant's regional API origin as `apiHosts.dataRegion`,
    // which the entry's proxy uses with the id in `X-Tenant-ID`. The step
    // sends the default `Authorization: Bearer`.
    KnownScript {
        script: "sophosCentralPostConnection",
        url: "https://api.central.sophos.com/whoami/v1",
        headers: &[],
        connection_config: &[("dataRegion", "apiHosts.dataRegion"), ("tenantId", "id")],
    },
];

/// Scripts whose only effect is copying the integration's OAuth client ID
/// into a connection-config key, with that key. Adobe's User Management
/// API takes the client ID as its `x-api-key` header.
const CLIENT_ID_SCRIPTS: &[(&str, &str)] = &[("adobeUmapiPostConnection", "clientId")];

/// Returns a copy of `entry` without its script when the script only copies
/// the client ID into a key: the key's field is removed and every
/// `${connectionConfig.KEY}` becomes `${clientId}`, which Latchkey fills
/// from the integration. `None` for any other entry.
pub(super) fn inline_client_id_script(entry: &Mapping) -> Option<Mapping> {
    let script = entry.get("post_connection_script")?.as_str()?;
    let (_, key) = CLIENT_ID_SCRIPTS.iter().find(|(name, _)| *name == script)?;
    let mut entry = entry.clone();
    entry.remove("post_connection_script");
    if let Some(Value::Mapping(fields)) = entry.get_mut("connection_config") {
        fields.remove(*key);
        if fields.is_empty() {
            entry.remove("connection_config");
        }
    }
    let variable = format!("${{connectionConfig.{key}}}");
    replace_in_strings(&mut entry, &variable, "${clientId}");
    Some(entry)
}

fn replace_in_strings(mapping: &mut Mapping, from: &str, to: &str) {
    for (_, value) in mapping.iter_mut() {
        match value {
            Value::String(text) if text.contains(from) => *text = text.replace(from, to),
            Value::Mapping(inner) => replace_in_strings(inner, from, to),
            _ => {}
        }
    }
}

/// The converted steps of Nango's `script`, and the connection-config keys
/// they fill, or `None` when the script is not one of the known ones.
pub(super) struct ConvertedScript {
    pub steps: Value,
    pub filled_keys: Vec<&'static str>,
}

pub(super) fn convert_script(script: Option<&str>) -> Option<ConvertedScript> {
    let known = KNOWN_SCRIPTS
        .iter()
        .find(|known| Some(known.script) == script)?;

    let mut step = Mapping::new();
    step.insert("url".into(), known.url.into());
    if !known.headers.is_empty() {
        step.insert("headers".into(), pairs(known.headers));
    }
    step.insert("connection_config".into(), pairs(known.connection_config));
    Some(ConvertedScript {
        steps: Value::Sequence(vec![Value::Mapping(step)]),
        filled_keys: known
            .connection_config
            .iter()
            .map(|(key, _)| *key)
            .collect(),
    })
}

fn pairs(pairs: &[(&str, &str)]) -> Value {
    let mut mapping = Mapping::new();
    for (key, value) in pairs {
        mapping.insert((*key).into(), (*value).into());
    }
    Value::Mapping(mapping)
}
