//! Nango's dotted `token_response_metadata` keys, such as Slack's
//! `incoming_webhook.url` or Teamwork's `installation.apiEndPoint`, which
//! read a nested member of the token reply.
//!
//! A Latchkey connection-config key is a template variable name, so each
//! dotted key is stored under its name with `_` for every `.`
//! (`installation_apiEndPoint`), and every `${connectionConfig.KEY}` of
//! the entry is rewritten to that name before conversion. The reply path
//! stays dotted. As for keys with `-`, callers of the connection read the
//! value under the new name.

use std::collections::BTreeSet;

use serde_yaml::{Mapping, Value};

use super::sequence;
use crate::import::Reason;

/// The Nango keys that capture token-reply values.
const METADATA_KEYS: [&str; 2] = ["token_response_metadata", "refresh_token_response_metadata"];

/// Returns the Latchkey name of a captured Nango key: `.` becomes `_`.
pub(super) fn flat_key(name: &str) -> String {
    name.replace('.', "_")
}

/// Returns `entry` with every `${connectionConfig.KEY}` of a dotted
/// captured key rewritten to its flat name, and the key renamed under
/// `connection_config`, or `None` when no captured key has a dot.
pub(super) fn flatten_dotted_keys(entry: &Mapping) -> Option<Mapping> {
    let mut dotted: Vec<&str> = METADATA_KEYS
        .iter()
        .flat_map(|key| sequence(entry, key))
        .filter_map(Value::as_str)
        .filter(|name| name.contains('.'))
        .collect();
    if dotted.is_empty() {
        return None;
    }
    // A longer key first, so that `a.b.c` is not rewritten as `a.b` + `.c`.
    dotted.sort_by_key(|name| std::cmp::Reverse(name.len()));
    dotted.dedup();
    let renames: Vec<(String, String)> = dotted
        .iter()
        .map(|name| {
            (
                format!("${{connectionConfig.{name}}}"),
                format!("${{connectionConfig.{}}}", flat_key(name)),
            )
        })
        .collect();

    let mut flattened = Mapping::new();
    for (key, value) in entry {
        let value = if METADATA_KEYS.iter().any(|name| key.as_str() == Some(name)) {
            // The lists keep the dotted names, which are the reply paths.
            value.clone()
        } else if key.as_str() == Some("connection_config") {
            rename_fields(value, &dotted)
        } else {
            rewrite(value, &renames)
        };
        flattened.insert(key.clone(), value);
    }
    Some(flattened)
}

fn rename_fields(value: &Value, dotted: &[&str]) -> Value {
    let Value::Mapping(fields) = value else {
        return value.clone();
    };
    let renamed = fields
        .iter()
        .map(|(key, field)| {
            let key = match key.as_str() {
                Some(name) if dotted.contains(&name) => Value::String(flat_key(name)),
                _ => key.clone(),
            };
            (key, field.clone())
        })
        .collect();
    Value::Mapping(renamed)
}

fn rewrite(value: &Value, renames: &[(String, String)]) -> Value {
    match value {
        Value::String(text) => {
            let mut text = text.clone();
            for (from, to) in renames {
                text = text.replace(from.as_str(), to);
            }
            Value::String(text)
        }
        Value::Mapping(mapping) => Value::Mapping(
            mapping
                .iter()
                .map(|(key, value)| (key.clone(), rewrite(value, renames)))
                .collect(),
        ),
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|item| rewrite(item, renames)).collect())
        }
        other => other.clone(),
    }
}

/// Accepts `refresh_token_response_metadata` only when it lists the keys
/// of `token_response_metadata`, because Latchkey captures the keys of
/// `token_response.connection_config` from every token reply, the code
/// exchange and each refresh alike (Bullhorn's `restUrl` changes on a
/// refresh). Other lists would capture a key from a reply that Nango
/// ignores.
pub(super) fn check_refresh_metadata(entry: &Mapping) -> Result<(), Reason> {
    if !entry.contains_key("refresh_token_response_metadata") {
        return Ok(());
    }
    let names = |key: &str| -> BTreeSet<String> {
        sequence(entry, key)
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let initial = names("token_response_metadata");
    let refresh = names("refresh_token_response_metadata");
    if initial == refresh {
        return Ok(());
    }
    Err(Reason::new(
        "`refresh_token_response_metadata` that differs from `token_response_metadata`",
        format!(
            "`refresh_token_response_metadata` lists {refresh:?} and `token_response_metadata` lists {initial:?}, but Latchkey captures the same keys from every token reply"
        ),
    ))
}
