//! Nango's SAML 2.0 bearer assertion (`assertion` with `type: saml`) of a
//! TWO_STEP entry, such as SAP SuccessFactors'. It becomes the `assertion`
//! section of a `two_step` file, and the token request's
//! `${credentials.assertion}` becomes `{{ assertion }}`, the base64 of the
//! signed assertion.

use serde_yaml::{Mapping, Value};

use super::{mapping, scalar_text, string, Builder, FIELD_KEY};
use crate::import::template::{translate_in, Scope, Variable};
use crate::import::Reason;
use crate::ASSERTION_VARIABLE;

/// Top-level keys of a TWO_STEP entry with a SAML assertion that the
/// conversion reads, besides the TWO_STEP keys.
pub(super) const SAML_KEYS: &[&str] = &["assertion", "assertion_option"];

/// Keys of Nango's SAML `assertion` that the conversion reads.
const ASSERTION_KEYS: &[&str] = &[
    "type",
    "key",
    "issuer",
    "lifetimeInSeconds",
    "audiences",
    "attributes",
    "sessionIndex",
    "nameIdentifier",
    "recipient",
];

/// Nango's `sessionIndex` value that Latchkey's own random `SessionIndex`
/// replaces.
const RANDOM_SESSION_INDEX: &str = "${random}";

/// Returns whether the entry is a TWO_STEP entry with a SAML assertion.
pub(super) fn applies(entry: &Mapping) -> bool {
    string(entry, "auth_mode") == Some("TWO_STEP")
        && mapping(entry, "assertion").and_then(|assertion| string(assertion, "type"))
            == Some("saml")
}

impl Builder<'_> {
    /// Converts the SAML `assertion` into `auth.assertion`. Its templates
    /// read `${assertionOption.KEY}` and `${credentials.KEY}` as entered
    /// fields and `${connectionConfig.KEY}` as connection config.
    pub(super) fn saml_assertion(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let nango = mapping(self.entry, "assertion")
            .ok_or_else(|| Reason::malformed("`assertion` is missing"))?;
        if let Some(key) = nango
            .keys()
            .filter_map(Value::as_str)
            .find(|key| !ASSERTION_KEYS.contains(key))
        {
            return Err(Reason::no_equivalent(&format!("assertion.{key}")));
        }
        match string(nango, "sessionIndex") {
            None | Some(RANDOM_SESSION_INDEX) => {}
            Some(other) => {
                return Err(Reason::template(
                    "assertion.sessionIndex",
                    &format!("`{other}` is not `${{random}}`, and Latchkey draws a random `SessionIndex` for every assertion"),
                ))
            }
        }

        let mut assertion = Mapping::new();
        assertion.insert("type".into(), "saml2".into());
        let issuer = self.saml_text(nango, "issuer")?;
        assertion.insert("issuer".into(), issuer.into());
        let audience = self.saml_audience(nango)?;
        assertion.insert("audience".into(), audience.into());
        let recipient = self.saml_text(nango, "recipient")?;
        assertion.insert("recipient".into(), recipient.into());
        let name_id = self.saml_text(nango, "nameIdentifier")?;
        assertion.insert("name_id".into(), name_id.into());
        let present = nango
            .get("attributes")
            .is_some_and(|value| !value.is_null());
        if present && mapping(nango, "attributes").is_none() {
            return Err(Reason::malformed(
                "`assertion.attributes` is not a mapping of attribute names to values",
            ));
        }
        let mut attributes = Mapping::new();
        for (name, value) in mapping(nango, "attributes").into_iter().flatten() {
            let name = name.as_str().ok_or_else(|| {
                Reason::malformed("an `assertion.attributes` name is not a string")
            })?;
            let field = format!("assertion.attributes.{name}");
            // A boolean or number becomes its YAML text, such as `true`,
            // because the assertion writes each attribute value as text.
            let value = match value {
                Value::String(text) => self.saml_template(&field, text)?,
                Value::Bool(_) | Value::Number(_) => scalar_text(value).unwrap_or_default(),
                _ => {
                    return Err(Reason::malformed(&format!(
                        "`{field}` is not a string, boolean or number"
                    )))
                }
            };
            attributes.insert(name.into(), value.into());
        }
        if !attributes.is_empty() {
            assertion.insert("attributes".into(), Value::Mapping(attributes));
        }
        let signing_key = self.saml_text(nango, "key")?;
        assertion.insert("signing_key".into(), signing_key.into());
        let lifetime = nango
            .get("lifetimeInSeconds")
            .and_then(scalar_text)
            .ok_or_else(|| Reason::malformed("`assertion.lifetimeInSeconds` is missing"))?;
        let lifetime: u64 = lifetime
            .parse()
            .ok()
            .filter(|seconds| *seconds > 0)
            .ok_or_else(|| {
                Reason::malformed(&format!(
                    "`assertion.lifetimeInSeconds` is `{lifetime}`, not a positive whole number"
                ))
            })?;
        assertion.insert("lifetime_seconds".into(), lifetime.into());
        auth.insert("assertion".into(), Value::Mapping(assertion));
        Ok(())
    }

    /// Converts the `assertion_option` fields into entered fields. The
    /// field that `assertion.key` reads is the private key, so it is
    /// secret even where Nango does not mark it.
    pub(super) fn assertion_option_fields(&self, fields: &mut Mapping) -> Result<(), Reason> {
        let key_template = mapping(self.entry, "assertion")
            .and_then(|assertion| string(assertion, "key"))
            .unwrap_or_default();
        let config = mapping(self.entry, "connection_config");
        for (key, definition) in mapping(self.entry, "assertion_option")
            .into_iter()
            .flatten()
        {
            let key = key
                .as_str()
                .ok_or_else(|| Reason::malformed("an `assertion_option` key is not a string"))?;
            let definition = definition.as_mapping().ok_or_else(|| {
                Reason::malformed(&format!("`assertion_option.{key}` is not a mapping"))
            })?;
            if !FIELD_KEY.is_match(key) || key == ASSERTION_VARIABLE {
                return Err(Reason::template(
                    "assertion_option",
                    &format!("field `{key}` is not a free template variable name"),
                ));
            }
            if fields.contains_key(key) || config.is_some_and(|config| config.contains_key(key)) {
                return Err(Reason::template(
                    "assertion_option",
                    &format!("`{key}` is declared twice"),
                ));
            }
            let mut field = super::nango_two_step::entered_field(key, definition)?;
            if key_template.contains(&format!("${{assertionOption.{key}}}")) {
                field.insert("secret".into(), true.into());
            }
            fields.insert(key.into(), Value::Mapping(field));
        }
        Ok(())
    }

    /// Converts the required string `assertion.KEY`.
    fn saml_text(&mut self, nango: &Mapping, key: &str) -> Result<String, Reason> {
        let text = string(nango, key)
            .filter(|text| !text.trim().is_empty())
            .ok_or_else(|| Reason::malformed(&format!("`assertion.{key}` is missing")))?;
        self.saml_template(&format!("assertion.{key}"), text)
    }

    /// Converts `assertion.audiences`: one audience, as a string or a list
    /// of one.
    fn saml_audience(&mut self, nango: &Mapping) -> Result<String, Reason> {
        match nango.get("audiences") {
            Some(Value::String(text)) => self.saml_template("assertion.audiences", text),
            Some(Value::Sequence(items)) => match items.as_slice() {
                [Value::String(text)] => self.saml_template("assertion.audiences", text),
                _ => Err(Reason::new(
                    "SAML assertion with several audiences",
                    "`assertion.audiences` lists several audiences, and a Latchkey assertion has one",
                )),
            },
            _ => Err(Reason::malformed("`assertion.audiences` is missing")),
        }
    }

    /// Translates one template of the assertion. Only entered fields and
    /// connection config are variables, because the engine renders the
    /// assertion with those alone.
    fn saml_template(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        let nango = nango.replace("${assertionOption.", "${credentials.");
        let translated = translate_in(&nango, Scope::Fields)
            .map_err(|message| Reason::template(field, &message))?;
        let declared = |name: &str| {
            ["credentials", "assertion_option"].iter().any(|section| {
                mapping(self.entry, section).is_some_and(|fields| fields.contains_key(name))
            })
        };
        for variable in &translated.variables {
            match variable {
                Variable::Config(_) => {}
                Variable::Field(name) if name != ASSERTION_VARIABLE && declared(name) => {}
                Variable::Field(name) => {
                    return Err(Reason::template(
                        field,
                        &format!("field `{name}` is declared under neither `credentials` nor `assertion_option`"),
                    ))
                }
                Variable::Credential(_) | Variable::Builtin(_) | Variable::RawReply(_) => {
                    return Err(Reason::template(
                        field,
                        &format!("`{nango}` reads a value other than an entered field or connection config, and the engine renders the assertion with those alone"),
                    ))
                }
            }
        }
        self.record(&translated, false);
        Ok(translated.text)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::import::import_nango;

    /// SAP SuccessFactors' entry in `@nangohq/providers` 0.71.10, shortened,
    /// and variants that do not convert.
    const FIXTURE: &str = r#"
success-factors:
    display_name: SuccessFactors
    auth_mode: TWO_STEP
    token_url: https://${connectionConfig.apiServer}/oauth/token
    token_params:
        company_id: ${connectionConfig.companyId}
        client_id: ${credentials.apiKey}
        grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer
        assertion: ${credentials.assertion}
    assertion:
        type: saml
        key: ${assertionOption.privateKey}
        issuer: www.successfactors.com
        lifetimeInSeconds: '600'
        audiences: [www.successfactors.com]
        attributes:
            api_key: ${credentials.apiKey}
            use_username: true
            retries: 3
        sessionIndex: ${random}
        nameIdentifier: ${assertionOption.userName}
        recipient: https://${connectionConfig.apiServer}/oauth/token
    proxy:
        base_url: https://${connectionConfig.apiServer}
    token_response:
        token: access_token
    connection_config:
        apiServer: { type: string, title: API Server, format: hostname }
        companyId: { type: string, title: Company ID }
    credentials:
        apiKey: { type: string, title: API Key, secret: true }
        assertion: { type: string, title: '', automated: true }
    assertion_option:
        userName: { type: string, title: Username }
        privateKey: { type: string, title: Private Key }
fixed-session-index:
    display_name: Fixed Session Index
    auth_mode: TWO_STEP
    token_url: https://saml.example/token
    token_params:
        assertion: ${credentials.assertion}
    assertion:
        type: saml
        key: ${assertionOption.privateKey}
        issuer: issuer
        lifetimeInSeconds: 600
        audiences: audience
        sessionIndex: session-1
        nameIdentifier: user
        recipient: https://saml.example/token
    proxy:
        base_url: https://saml.example
    token_response:
        token: access_token
    credentials:
        assertion: { type: string, title: '', automated: true }
    assertion_option:
        privateKey: { type: string, title: Key }
several-audiences:
    display_name: Several Audiences
    auth_mode: TWO_STEP
    token_url: https://saml.example/token
    token_params:
        assertion: ${credentials.assertion}
    assertion:
        type: saml
        key: ${assertionOption.privateKey}
        issuer: issuer
        lifetimeInSeconds: 600
        audiences: [one, two]
        nameIdentifier: user
        recipient: https://saml.example/token
    proxy:
        base_url: https://saml.example
    token_response:
        token: access_token
    credentials:
        assertion: { type: string, title: '', automated: true }
    assertion_option:
        privateKey: { type: string, title: Key }
undeclared-option:
    display_name: Undeclared Option
    auth_mode: TWO_STEP
    token_url: https://saml.example/token
    token_params:
        assertion: ${credentials.assertion}
    assertion:
        type: saml
        key: ${assertionOption.privateKey}
        issuer: issuer
        lifetimeInSeconds: 600
        audiences: audience
        nameIdentifier: ${assertionOption.userName}
        recipient: https://saml.example/token
    proxy:
        base_url: https://saml.example
    token_response:
        token: access_token
    credentials:
        assertion: { type: string, title: '', automated: true }
    assertion_option:
        privateKey: { type: string, title: Key }
attribute-list:
    display_name: Attribute List
    auth_mode: TWO_STEP
    token_url: https://saml.example/token
    token_params:
        assertion: ${credentials.assertion}
    assertion:
        type: saml
        key: ${assertionOption.privateKey}
        issuer: issuer
        lifetimeInSeconds: 600
        audiences: audience
        attributes: [api_key]
        sessionIndex: ${random}
        nameIdentifier: ${assertionOption.userName}
        recipient: https://saml.example/token
    proxy:
        base_url: https://saml.example
    token_response:
        token: access_token
    credentials:
        assertion: { type: string, title: '', automated: true }
    assertion_option:
        privateKey: { type: string, title: Key }
        userName: { type: string, title: User }
saml-api-key:
    display_name: SAML API Key
    auth_mode: API_KEY
    assertion:
        type: saml
        key: ${credentials.apiKey}
    proxy:
        base_url: https://saml.example
"#;

    fn import() -> (
        BTreeMap<String, serde_yaml::Value>,
        BTreeMap<String, String>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, FIXTURE).unwrap();
        let report = import_nango(&input, &dir.path().join("out")).unwrap();
        let mut documents = BTreeMap::new();
        for entry in &report.converted {
            let text = std::fs::read_to_string(&entry.path).unwrap();
            documents.insert(entry.name.clone(), serde_yaml::from_str(&text).unwrap());
        }
        let reasons = report
            .not_converted
            .iter()
            .map(|entry| (entry.name.clone(), entry.reason.message.clone()))
            .collect();
        (documents, reasons)
    }

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn success_factors_assertion_converted() {
        let (documents, reasons) = import();
        let document = documents
            .get("success-factors")
            .unwrap_or_else(|| panic!("not converted: {:?}", reasons.get("success-factors")));
        let auth = &document["auth"];
        assert_eq!(auth["mode"], yaml("two_step"));
        assert_eq!(
            auth["credentials"],
            yaml(
                r#"
apiKey: {title: API key, secret: true}
userName: {title: User name}
privateKey: {title: Private key, secret: true}
"#
            )
        );
        assert_eq!(
            auth["assertion"],
            yaml(
                r#"
type: saml2
issuer: www.successfactors.com
audience: www.successfactors.com
recipient: "https://{{ apiServer }}/oauth/token"
name_id: "{{ userName }}"
attributes:
  api_key: "{{ apiKey }}"
  use_username: "true"
  retries: "3"
signing_key: "{{ privateKey }}"
lifetime_seconds: 600
"#
            )
        );
        assert_eq!(
            auth["token_request"]["params"]["assertion"],
            yaml("'{{ assertion }}'")
        );
    }

    #[test]
    fn unconvertible_saml_entries_name_reason() {
        let (_, reasons) = import();
        let cases = [
            ("fixed-session-index", "`session-1` is not `${random}`"),
            ("several-audiences", "lists several audiences"),
            (
                "attribute-list",
                "`assertion.attributes` is not a mapping of attribute names to values",
            ),
            (
                "undeclared-option",
                "field `userName` is declared under neither `credentials` nor `assertion_option`",
            ),
            (
                "saml-api-key",
                "`assertion.type` is `saml` in auth mode API_KEY",
            ),
        ];
        for (name, expected) in cases {
            let reason = reasons
                .get(name)
                .unwrap_or_else(|| panic!("{name} converted"));
            assert!(reason.contains(expected), "{name}: {reason}");
        }
    }
}
