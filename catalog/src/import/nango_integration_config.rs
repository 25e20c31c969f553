//! Nango's `integration_config` in the one shape Latchkey converts: every
//! key repeats a connection-config field of the entry, so the integration's
//! value is that field's default (`integration_default`).

use serde_yaml::{Mapping, Value};

use super::Reason;

/// Returns whether the entry's `integration_config` keys are all
/// connection-config keys of the entry.
pub(super) fn defaults_connection_config(entry: &Mapping) -> bool {
    let (Some(integration), Some(connection)) = (
        entry.get("integration_config").and_then(Value::as_mapping),
        entry.get("connection_config").and_then(Value::as_mapping),
    ) else {
        return false;
    };
    !integration.is_empty() && integration.keys().all(|key| connection.contains_key(key))
}

/// Sets `integration_default: true` on the converted connection-config
/// fields that the entry's `integration_config` repeats.
pub(super) fn mark_defaults(entry: &Mapping, fields: &mut Mapping) -> Result<(), Reason> {
    let Some(integration) = entry.get("integration_config").and_then(Value::as_mapping) else {
        return Ok(());
    };
    for key in integration.keys() {
        let field = fields
            .get_mut(key)
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| {
                Reason::malformed(&format!(
                    "integration_config key {key:?} has no converted connection-config field"
                ))
            })?;
        field.insert("integration_default".into(), true.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::*;

    fn entry(integration_keys: &[&str]) -> Mapping {
        let mut yaml = "display_name: Fixture\nauth_mode: OAUTH2\nauthorization_url: https://auth.example.com/${connectionConfig.appDomain}/authorize\ntoken_url: https://auth.example.com/token\nproxy:\n  base_url: https://api.example.com\nconnection_config:\n  appDomain:\n    type: string\n    title: App Domain\nintegration_config:\n".to_owned();
        for key in integration_keys {
            yaml.push_str(&format!(
                "  {key}:\n    type: string\n    title: Value\n    optional: true\n"
            ));
        }
        serde_yaml::from_str(&yaml).unwrap()
    }

    #[test]
    fn repeated_connection_field_marked() {
        let converted = convert("fixture", &entry(&["appDomain"])).unwrap();

        let field = &converted.document["connection_config"]["appDomain"];
        assert_eq!(field.get("integration_default"), Some(&Value::Bool(true)));
        assert!(converted.document.get("integration_config").is_none());
    }

    #[test]
    fn integration_only_key_unconverted() {
        let reason = convert("fixture", &entry(&["appDomain", "clientId"]))
            .err()
            .expect("an integration-only key stops the entry");

        assert_eq!(
            reason.kind,
            "Nango field `integration_config` has no Latchkey equivalent"
        );
        assert!(
            reason.message.contains("`integration_default`"),
            "{}",
            reason.message
        );
    }
}
