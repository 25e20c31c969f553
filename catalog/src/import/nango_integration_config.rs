//! Nango's `integration_config` in the shape Latchkey converts: every key
//! repeats a connection-config field of the entry, or a credential field
//! of a TWO_STEP or BILL entry, so the integration's value is that field's
//! default (`integration_default`). In a TWO_STEP entry, a key that no
//! field repeats but that the token request, the proxy or the signed
//! `assertion` reads as `${credentials.KEY}` becomes an entered field of
//! its own, with the integration's value as its default.

use serde_yaml::{Mapping, Value};

use super::Reason;

/// Returns whether each `integration_config` key of the entry is a
/// connection-config key of the entry or, in a TWO_STEP or BILL entry, one
/// of its credential fields.
pub(super) fn defaults_connection_config(entry: &Mapping) -> bool {
    let Some(integration) = entry.get("integration_config").and_then(Value::as_mapping) else {
        return false;
    };
    let empty = Mapping::new();
    let connection = entry
        .get("connection_config")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let entered_fields = matches!(
        entry.get("auth_mode").and_then(Value::as_str),
        Some("TWO_STEP" | "BILL")
    );
    let credentials = entry
        .get("credentials")
        .and_then(Value::as_mapping)
        .filter(|_| entered_fields)
        .unwrap_or(&empty);
    let integration_only = integration_only_credentials(entry);
    !integration.is_empty()
        && integration.keys().all(|key| {
            connection.contains_key(key)
                || credentials.contains_key(key)
                || key
                    .as_str()
                    .is_some_and(|key| integration_only.iter().any(|(name, _)| *name == key))
        })
}

/// Entry keys whose templates a TWO_STEP credential field may appear in.
/// `assertion` is the JWT that an entry converted into the `jwt` mode
/// signs, whose key, header and claims read entered fields.
const CREDENTIAL_TEMPLATE_KEYS: &[&str] = &[
    "token_params",
    "token_headers",
    "refresh_token_params",
    "refresh_token_headers",
    "additional_steps",
    "proxy",
    "assertion",
];

/// Returns the `integration_config` keys of a TWO_STEP entry that are
/// neither a credential nor a connection-config key and that one of the
/// entry's token request, refresh request, login step, proxy or assertion
/// templates reads as `${credentials.KEY}`, each with its
/// `integration_config` definition. They are converted into entered fields
/// marked `integration_default`.
pub(super) fn integration_only_credentials(entry: &Mapping) -> Vec<(&str, &Mapping)> {
    if entry.get("auth_mode").and_then(Value::as_str) != Some("TWO_STEP") {
        return Vec::new();
    }
    let Some(integration) = entry.get("integration_config").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    let declared = |section: &str, key: &Value| {
        entry
            .get(section)
            .and_then(Value::as_mapping)
            .is_some_and(|fields| fields.contains_key(key))
    };
    let templates: String = CREDENTIAL_TEMPLATE_KEYS
        .iter()
        .filter_map(|key| entry.get(*key))
        .filter_map(|value| serde_yaml::to_string(value).ok())
        .collect();
    integration
        .iter()
        .filter(|(key, _)| !declared("credentials", key) && !declared("connection_config", key))
        .filter_map(|(key, definition)| Some((key.as_str()?, definition.as_mapping()?)))
        .filter(|(key, _)| templates.contains(&format!("${{credentials.{key}}}")))
        .collect()
}

/// Sets `integration_default: true` on the converted fields that the
/// entry's `integration_config` repeats: connection-config fields first,
/// then the credential fields under `auth.credentials`.
pub(super) fn mark_defaults(
    entry: &Mapping,
    connection_config: &mut Mapping,
    auth: &mut Mapping,
) -> Result<(), Reason> {
    let Some(integration) = entry.get("integration_config").and_then(Value::as_mapping) else {
        return Ok(());
    };
    for key in integration.keys() {
        let field = match connection_config.get_mut(key) {
            Some(field) => Some(field),
            None => auth
                .get_mut("credentials")
                .and_then(Value::as_mapping_mut)
                .and_then(|credentials| credentials.get_mut(key)),
        };
        let field = field.and_then(Value::as_mapping_mut).ok_or_else(|| {
            Reason::malformed(&format!(
                "integration_config key {key:?} has no converted connection-config or credential field"
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
    fn repeated_credential_field_marked() {
        let yaml = "display_name: Fixture\nauth_mode: TWO_STEP\ntoken_url: https://auth.example.com/login\ntoken_params:\n  user: ${credentials.username}\ntoken_headers:\n  x-license: ${credentials.license}\ntoken_response:\n  token: token\nproxy:\n  base_url: https://api.example.com\ncredentials:\n  username:\n    type: string\n    title: Username\n  license:\n    type: string\n    title: License\n    secret: true\n    optional: true\nintegration_config:\n  license:\n    type: string\n    title: License\n    secret: true\n    optional: true\n";
        let entry: Mapping = serde_yaml::from_str(yaml).unwrap();

        let converted = convert("fixture", &entry).unwrap();

        let field = &converted.document["auth"]["credentials"]["license"];
        assert_eq!(field.get("integration_default"), Some(&Value::Bool(true)));
        let username = &converted.document["auth"]["credentials"]["username"];
        assert!(username.get("integration_default").is_none());
    }

    const TWO_STEP_FIXTURE: &str = "display_name: Fixture\nauth_mode: TWO_STEP\ntoken_url: https://auth.example.com/token\ntoken_params:\n  grant_type: client_credentials\n  client_id: ${credentials.clientId}\n  session_id: ${credentials.sessionId}\ntoken_response:\n  token: access_token\nproxy:\n  base_url: https://api.example.com\ncredentials:\n  sessionId:\n    type: string\n    title: Session ID\n    optional: true\nintegration_config:\n  clientId:\n    type: string\n    title: Client ID\n    optional: true\n";

    #[test]
    fn integration_only_credential_becomes_field() {
        let entry: Mapping = serde_yaml::from_str(TWO_STEP_FIXTURE).unwrap();

        let converted = convert("fixture", &entry).unwrap();

        let auth = &converted.document["auth"];
        let field = &auth["credentials"]["clientId"];
        assert_eq!(field.get("integration_default"), Some(&Value::Bool(true)));
        assert_eq!(field.get("optional"), Some(&Value::Bool(true)));
        assert_eq!(
            auth["token_request"]["params"]["client_id"],
            Value::from("{{ clientId }}")
        );
        let session_id = &auth["credentials"]["sessionId"];
        assert!(session_id.get("integration_default").is_none());
    }

    #[test]
    fn unread_integration_credential_unconverted() {
        let yaml = TWO_STEP_FIXTURE.replace(
            "  client_id: ${credentials.clientId}\n",
            "  client_id: fixed\n",
        );
        let entry: Mapping = serde_yaml::from_str(&yaml).unwrap();

        let reason = convert("fixture", &entry)
            .err()
            .expect("a key no template reads stops the entry");

        assert_eq!(
            reason.kind,
            "Nango field `integration_config` has no Latchkey equivalent"
        );
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

    /// A client-assertion entry whose key, key id, client id and scope are
    /// integration values that only the assertion and the token parameters
    /// read, in the shape of Epic's backend services entry.
    const ASSERTION_FIXTURE: &str = r#"
display_name: Fixture
auth_mode: TWO_STEP
body_format: form
token_url: https://${connectionConfig.server}/oauth2/token
token_params:
    grant_type: client_credentials
    client_assertion_type: urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    client_assertion: ${credentials.assertion}
    scope: ${credentials.scope}
token_headers:
    content-type: application/x-www-form-urlencoded
    accept: application/json
assertion:
    type: jwt
    singleUse: true
    key: ${credentials.privateKey}
    lifetimeInSeconds: 300
    header:
        alg: ES256
        kid: ${credentials.keyId}
    payload:
        iss: ${credentials.clientId}
        sub: ${credentials.clientId}
        aud: https://${connectionConfig.server}/oauth2/token
        jti: ${random}
token_response:
    token: access_token
proxy:
    base_url: https://${connectionConfig.server}/api
integration_config:
    clientId: { type: string, title: Client ID }
    keyId: { type: string, title: Key ID }
    privateKey: { type: string, title: Private Key, secret: true }
    scope: { type: string, title: Scope }
credentials:
    assertion: { type: string, title: '', automated: true }
connection_config:
    server: { type: string, title: Server, format: hostname }
"#;

    #[test]
    fn assertion_integration_values_become_jwt_fields() {
        let entry: Mapping = serde_yaml::from_str(ASSERTION_FIXTURE).unwrap();

        let converted = convert("fixture", &entry).unwrap();

        assert_eq!(converted.mode, "jwt");
        let auth = &converted.document["auth"];
        for key in ["clientId", "keyId", "privateKey", "scope"] {
            let field = &auth["credentials"][key];
            assert_eq!(
                field.get("integration_default"),
                Some(&Value::Bool(true)),
                "{key}"
            );
        }
        assert_eq!(
            auth["credentials"]["privateKey"].get("secret"),
            Some(&Value::Bool(true))
        );
        assert!(auth["credentials"].get("assertion").is_none());
        assert_eq!(auth["grant"], Value::from("client_assertion"));
        assert_eq!(auth["jti"], Value::Bool(true));
        assert_eq!(
            auth["header"]["kid"],
            Value::from("{{ credentials.keyId }}")
        );
        assert_eq!(
            auth["token_params"]["scope"],
            Value::from("{{ credentials.scope }}")
        );
        let text = serde_yaml::to_string(&converted.document).unwrap();
        let provider = crate::parse_provider("fixture.yaml", &text).unwrap();
        let crate::Auth::Jwt(jwt) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert!(jwt.credentials["privateKey"].integration_default);
    }

    #[test]
    fn assertion_single_use_must_be_boolean() {
        let yaml = ASSERTION_FIXTURE.replace("singleUse: true", "singleUse: once");
        let entry: Mapping = serde_yaml::from_str(&yaml).unwrap();

        let reason = convert("fixture", &entry)
            .err()
            .expect("a singleUse that is not a boolean stops the entry");

        assert!(
            reason
                .message
                .contains("`assertion.singleUse` is not a boolean"),
            "{}",
            reason.message
        );
    }
}
