//! Nango's generic API-key entry, whose integration chooses the base URL
//! and where the key goes: `keyPlacement` (`header` or `query`), `keyName`
//! (the header or query parameter name) and `valueTemplate` (the value,
//! with `${apiKey}` standing for the key), all in `integration_config`.
//!
//! Nango's proxy reads these keys by name. The conversion makes each of
//! them a connection-config field that the integration sets
//! (`integration_default`), the base URL `{{ baseUrl }}`, and the key two
//! places of `inject`, a header and a query parameter, each used only for
//! its `keyPlacement`.

use serde_yaml::{Mapping, Value};

/// The integration keys that choose the key's place.
const PLACEMENT_KEYS: [&str; 4] = ["keyPlacement", "keyName", "valueTemplate", "baseUrl"];

/// An integration key that only labels the key's input in Nango's connect
/// UI.
const LABEL_KEY: &str = "keyLabel";

/// The placeholder of the key in `valueTemplate`.
const KEY_PLACEHOLDER: &str = "${apiKey}";

/// The comment written above the converted base URL.
pub(super) const BASE_URL_COMMENT: &str =
    "Nango's entry names a placeholder host and has the integration set `baseUrl`, which is the base URL here.";

/// The note written into the header of a converted file.
pub(super) const NOTE: &str =
    "The integration chooses the base URL and where the key goes; Nango's label for the key's input is not carried over.";

/// Returns whether `entry` is an API_KEY entry whose integration chooses
/// where the key goes, with exactly the keys that Nango reads for that.
pub(super) fn chooses_key_place(entry: &Mapping) -> bool {
    let Some(integration) = entry.get("integration_config").and_then(Value::as_mapping) else {
        return false;
    };
    let keys: Vec<&str> = integration.keys().filter_map(Value::as_str).collect();
    let placements_known = integration
        .get("keyPlacement")
        .and_then(|field| field.get("enum"))
        .and_then(Value::as_sequence)
        .is_some_and(|values| {
            values
                .iter()
                .all(|value| matches!(value.as_str(), Some("header" | "query")))
        });
    entry.get("auth_mode").and_then(Value::as_str) == Some("API_KEY")
        && placements_known
        && PLACEMENT_KEYS.iter().all(|key| keys.contains(key))
        && keys
            .iter()
            .all(|key| PLACEMENT_KEYS.contains(key) || *key == LABEL_KEY)
}

/// Returns the entry to convert: the placement keys become connection-config
/// fields too (so that `integration_default` marks them), the label key is
/// dropped, and the base URL is the integration's.
pub(super) fn as_connection_fields(entry: &Mapping) -> Mapping {
    let mut entry = entry.clone();
    let mut integration = entry
        .get("integration_config")
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    integration.remove(LABEL_KEY);
    let mut fields = entry
        .get("connection_config")
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    for (key, field) in &integration {
        let mut field = field.clone();
        if let (Some(pattern), Value::Mapping(definition)) = (own_pattern(key), &mut field) {
            definition.insert("pattern".into(), pattern.into());
        }
        fields.insert(key.clone(), field);
    }
    entry.insert("connection_config".into(), Value::Mapping(fields));
    entry.insert("integration_config".into(), Value::Mapping(integration));
    if let Some(Value::Mapping(proxy)) = entry.get_mut("proxy") {
        proxy.insert("base_url".into(), "${connectionConfig.baseUrl}".into());
    }
    entry
}

/// Returns the pattern that replaces Nango's for a key: a name must be an
/// HTTP token, and Nango's unanchored `valueTemplate` pattern requires only
/// that the value contain the placeholder somewhere.
fn own_pattern(key: &Value) -> Option<&'static str> {
    match key.as_str()? {
        "keyName" => Some("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"),
        "valueTemplate" => Some(r"^.*\$\{apiKey\}.*$"),
        _ => None,
    }
}

/// Makes the converted `keyName` field required, because no template but
/// the place's name reads it and the converter takes such a field for a
/// value that only callers read, and has it reject the header names that
/// the engine never lets a connection-config value name.
pub(super) fn finish_key_name(connection_config: &mut Mapping) {
    if let Some(Value::Mapping(field)) = connection_config.get_mut("keyName") {
        field.remove("optional");
        field.insert(
            "excluded_pattern".into(),
            crate::reserved_headers_pattern().into(),
        );
    }
}

/// Returns the `inject` of a converted entry: the key in the header or the
/// query parameter that `keyName` names, as `valueTemplate` formats it.
pub(super) fn chosen_inject() -> Mapping {
    let value = format!("{{{{ valueTemplate | replace('{KEY_PLACEHOLDER}', api_key) }}}}");
    let place = |location: Option<&str>, placement: &str| {
        let mut place = Mapping::new();
        if let Some(location) = location {
            place.insert("location".into(), location.into());
        }
        place.insert("name".into(), "{{ keyName }}".into());
        place.insert("value".into(), value.clone().into());
        let mut when = Mapping::new();
        when.insert("field".into(), "keyPlacement".into());
        when.insert("equals".into(), placement.into());
        place.insert("when".into(), Value::Mapping(when));
        place
    };
    let mut inject = place(None, "header");
    inject.insert(
        "additional".into(),
        Value::Sequence(vec![Value::Mapping(place(Some("query"), "query"))]),
    );
    inject
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERIC: &str = "auth_mode: API_KEY\nproxy:\n  base_url: https://placeholder.example/\nintegration_config:\n  keyPlacement:\n    type: string\n    enum: [header, query]\n  keyName:\n    type: string\n  valueTemplate:\n    type: string\n  baseUrl:\n    type: string\n  keyLabel:\n    type: string\n";

    #[test]
    fn generic_entry_recognised() {
        let entry: Mapping = serde_yaml::from_str(GENERIC).unwrap();
        assert!(chooses_key_place(&entry));
        let converted = as_connection_fields(&entry);
        let fields = converted["connection_config"].as_mapping().unwrap();
        assert_eq!(fields.len(), 4);
        assert!(!fields.contains_key("keyLabel"));
        assert_eq!(
            converted["proxy"]["base_url"].as_str(),
            Some("${connectionConfig.baseUrl}")
        );
    }

    #[test]
    fn key_name_excludes_reserved_headers() {
        let mut fields: Mapping =
            serde_yaml::from_str("keyName: {type: string, optional: true}").unwrap();
        finish_key_name(&mut fields);
        let excluded = fields["keyName"]["excluded_pattern"].as_str().unwrap();
        let regex = crate::patterns::whole_value_regex(excluded).unwrap();
        for name in crate::RESERVED_HEADERS {
            assert!(regex.is_match(&name.to_ascii_uppercase()), "{name}");
        }
        assert!(!regex.is_match("X-Api-Key"));
        assert!(!fields["keyName"]
            .as_mapping()
            .unwrap()
            .contains_key("optional"));
    }

    #[test]
    fn other_shapes_not_recognised() {
        for (from, to) in [
            ("auth_mode: API_KEY", "auth_mode: BASIC"),
            ("enum: [header, query]", "enum: [header, body]"),
            ("  keyLabel:", "  extra:"),
            ("  baseUrl:\n    type: string\n", ""),
        ] {
            let entry: Mapping = serde_yaml::from_str(&GENERIC.replace(from, to)).unwrap();
            assert!(!chooses_key_place(&entry), "{from} -> {to}");
        }
    }
}
