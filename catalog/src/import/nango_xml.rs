//! Conversion of the nested `token_params` of a TWO_STEP entry with
//! `body_format: xml` (Sage Intacct's) into the ordered `params` of an
//! XML token request.
//!
//! Each Nango mapping becomes a list of one-key mappings in the same order,
//! because Latchkey's files are read into maps that sort their keys. A key
//! that starts with `$` is an attribute of the enclosing element, as with
//! fast-xml-parser's builder set to the attribute prefix `$`, and becomes
//! the same name with `@`.

use serde_yaml::{Mapping, Value};

use super::{mapping, scalar_text, Builder};
use crate::import::Reason;

/// The first character of a Nango key that names an attribute.
const NANGO_ATTRIBUTE_PREFIX: char = '$';

/// Postman's dynamic variable for a fresh GUID, which Intacct's sample
/// requests use as a function's `controlid`. It becomes a random value
/// that is new for each login.
const NANGO_GUID: &str = "{{$guid}}";

/// Nango's current time without a format.
/// NOTE: written as JavaScript's `Date.prototype.toISOString()` (UTC with
/// milliseconds), taken to be what Nango sends, because the catalog does not state it.
/// Intacct reads this value only as the request's `controlid`, which it
/// echoes back.
const NANGO_NOW: &str = "${now}";

/// The Latchkey template of [`NANGO_NOW`].
const ISO_NOW: &str = "{{ now('%Y-%m-%dT%H:%M:%S%.3fZ') }}";

impl Builder<'_> {
    /// Converts the Nango parameter map under `key` into the `params` of
    /// an XML request: its one key is the root element.
    pub(super) fn xml_params(&mut self, key: &str) -> Result<Mapping, Reason> {
        let nango = mapping(self.entry, key).ok_or_else(|| {
            Reason::malformed(&format!("`{key}` is missing, and an XML body needs it"))
        })?;
        if nango.len() != 1 {
            return Err(Reason::malformed(&format!(
                "`{key}` has {} keys, and an XML body has one root element",
                nango.len()
            )));
        }
        let mut params = Mapping::new();
        for (name, value) in nango {
            let name = element_name(name)?;
            let value = self.xml_content(&format!("{key}.{name}"), value)?;
            params.insert(name.into(), value);
        }
        Ok(params)
    }

    /// Converts one element's content: a mapping into the ordered list of
    /// its children and attributes, a scalar into text.
    fn xml_content(&mut self, field: &str, value: &Value) -> Result<Value, Reason> {
        match value {
            Value::Mapping(children) => {
                let mut items = Vec::new();
                for (name, child) in children {
                    let name = element_name(name)?;
                    let child_field = format!("{field}.{name}");
                    let (key, converted) = match name.strip_prefix(NANGO_ATTRIBUTE_PREFIX) {
                        Some(attribute) => {
                            let text = scalar_text(child).ok_or_else(|| {
                                Reason::malformed(&format!("`{child_field}` is not a scalar"))
                            })?;
                            let text = self.xml_text(&child_field, &text)?;
                            (format!("@{attribute}"), Value::String(text))
                        }
                        None => (name.to_owned(), self.xml_content(&child_field, child)?),
                    };
                    let mut item = Mapping::new();
                    item.insert(key.into(), converted);
                    items.push(Value::Mapping(item));
                }
                Ok(Value::Sequence(items))
            }
            Value::String(text) => Ok(Value::String(self.xml_text(field, text)?)),
            Value::Bool(_) | Value::Number(_) => Ok(value.clone()),
            Value::Null => Ok(Value::String(String::new())),
            _ => Err(Reason::malformed(&format!(
                "`{field}` is a list, and an XML body takes maps and scalars"
            ))),
        }
    }

    /// Translates one text or attribute value, with [`NANGO_GUID`] and
    /// [`NANGO_NOW`] replaced first.
    fn xml_text(&mut self, field: &str, text: &str) -> Result<String, Reason> {
        let mut output = String::new();
        for (index, part) in text.split(NANGO_GUID).enumerate() {
            if index > 0 {
                output.push_str("{{ random_token }}");
            }
            for (inner, piece) in part.split(NANGO_NOW).enumerate() {
                if inner > 0 {
                    output.push_str(ISO_NOW);
                }
                if !piece.is_empty() {
                    output.push_str(&self.field_template(field, piece)?.text);
                }
            }
        }
        Ok(output)
    }
}

fn element_name(name: &Value) -> Result<&str, Reason> {
    let text = name
        .as_str()
        .ok_or_else(|| Reason::malformed("an XML element name is not a string"))?;
    let bare = text.strip_prefix(NANGO_ATTRIBUTE_PREFIX).unwrap_or(text);
    if !crate::xml_body::is_xml_name(bare) {
        return Err(Reason::template(
            text,
            "the key is not a valid XML element or attribute name",
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::import::import_nango;
    use crate::load::parse_provider;
    use crate::model::{TimeFormat, TokenBody, TokenBodyFormat};
    use crate::Auth;

    const FIXTURE: &str = r#"
xml-login:
    display_name: XML Login
    auth_mode: TWO_STEP
    token_url: https://api.example.com/gateway
    body_format: xml
    token_params:
        request:
            control:
                senderid: ${credentials.senderId}
                controlid: ${now}
                uniqueid: false
            operation:
                content:
                    function:
                        $controlid: "{{$guid}}"
                        getAPISession: ""
    token_headers:
        content-type: application/xml
    token_response:
        token: response.data.sessionid
        token_expiration: response.auth.sessiontimeout
        token_expiration_strategy: expireAt
    proxy:
        base_url: https://api.example.com/gateway
    credentials:
        senderId:
            type: string
            title: Sender ID
two-roots:
    display_name: Two Roots
    auth_mode: TWO_STEP
    token_url: https://api.example.com/gateway
    body_format: xml
    token_params:
        first: a
        second: b
    token_response:
        token: response.sessionid
    proxy:
        base_url: https://api.example.com/gateway
    credentials:
        senderId:
            type: string
            title: Sender ID
bad-name:
    display_name: Bad Name
    auth_mode: TWO_STEP
    token_url: https://api.example.com/gateway
    body_format: xml
    token_params:
        request:
            "a b": x
    token_response:
        token: response.sessionid
    proxy:
        base_url: https://api.example.com/gateway
    credentials:
        senderId:
            type: string
            title: Sender ID
"#;

    #[test]
    fn xml_entry_keeps_order_and_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, FIXTURE).unwrap();
        let report = import_nango(&input, &dir.path().join("out")).unwrap();
        let text = std::fs::read_to_string(dir.path().join("out/xml-login.yaml")).unwrap();
        let provider = parse_provider("xml-login.yaml", &text).unwrap();

        let Auth::TwoStep(settings) = provider.auth else {
            panic!("xml-login is not two_step");
        };
        let request = &settings.token_request;
        assert_eq!(request.body_format, TokenBodyFormat::Xml);
        let params = serde_json::Value::Object(request.params.clone().into_iter().collect());
        let expected = json!({"request": [
            {"control": [
                {"senderid": "{{ senderId }}"},
                {"controlid": "{{ now('%Y-%m-%dT%H:%M:%S%.3fZ') }}"},
                {"uniqueid": false},
            ]},
            {"operation": [{"content": [{"function": [
                {"@controlid": "{{ random_token }}"},
                {"getAPISession": ""},
            ]}]}]},
        ]});
        assert_eq!(params, expected);
        assert_eq!(request.headers["content-type"], "application/xml");
        let response = &settings.token_response;
        assert_eq!(response.body, TokenBody::Xml);
        assert_eq!(response.access_token, "response.data.sessionid");
        let expires_at = response.expires_at.as_ref().unwrap();
        assert_eq!(expires_at.path, "response.auth.sessiontimeout");
        assert_eq!(expires_at.format, TimeFormat::Auto);
        assert!(settings.caller_places_token);
        assert!(settings.inject.is_none());

        let reasons: std::collections::BTreeMap<&str, &str> = report
            .not_converted
            .iter()
            .map(|entry| (entry.name.as_str(), entry.reason.message.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        let bad_name = reasons["bad-name"];
        assert!(
            bad_name.contains("not a valid XML element or attribute name"),
            "{bad_name}"
        );
        let two_roots = reasons["two-roots"];
        assert!(two_roots.contains("one root element"), "{two_roots}");
    }
}
