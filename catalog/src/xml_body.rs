//! Checks of the `two_step` and `session` settings added for XML logins
//! such as Sage Intacct's: token requests with `body_format: xml`, and
//! `caller_places_token`.
//!
//! An XML request's `params` has one key, the root element. An element's
//! value is its text, which is a string, number or boolean, or null or
//! `""` for an empty element. Otherwise it is a list of one-key mappings,
//! each a child element, or an attribute when the key starts with `@`.
//! A list is required
//! because the provider format reads files into maps that sort their keys,
//! and XML schemas fix the order of child elements.

use serde_json::Value;

use crate::checks::{compile_template, Problem};
use crate::diagnostic::Code;
use crate::model::{Provider, TokenBodyFormat};
use crate::positions::escape_pointer;
use crate::two_step::{TokenRequest, TokenRequestMethod, TwoStep};

/// The first character of a key that names an attribute of the enclosing
/// element in an XML request's `params`.
pub const XML_ATTRIBUTE_PREFIX: char = '@';

/// Checks whether `name` is an element or attribute name of the form the
/// XML body accepts: an ASCII letter or `_`, then ASCII letters, digits,
/// `_`, `-`, `.` or `:` (a subset of the XML 1.0 `Name` production).
pub fn is_xml_name(name: &str) -> bool {
    let mut characters = name.chars();
    let Some(first) = characters.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Reports a `proxy.headers`, `proxy.query` or `proxy.body` template that
/// reads `access_token`, although `caller_places_token: true` means that the
/// proxy attaches no token.
pub(crate) fn check_caller_placed_token(
    provider: &Provider,
    two_step: &TwoStep,
    problems: &mut Vec<Problem>,
) {
    if !two_step.caller_places_token {
        return;
    }
    let proxy = &provider.proxy;
    let maps = [
        ("headers", &proxy.headers),
        ("query", &proxy.query),
        ("body", &proxy.body),
    ];
    for (map, templates) in maps {
        for (name, template) in templates {
            let reads_token = compile_template(template)
                .is_ok_and(|variables| variables.contains(TOKEN_VARIABLE));
            if !reads_token {
                continue;
            }
            problems.push(
                Problem::new(
                    Code::InvalidValue,
                    format!("/proxy/{map}/{}", escape_pointer(name)),
                    format!(
                        "`proxy.{map}.{name}` reads `{TOKEN_VARIABLE}`, but `caller_places_token: true` means that the proxy attaches no token"
                    ),
                    Some(format!(
                        "remove `proxy.{map}.{name}` so that the caller writes the token itself, or remove `caller_places_token` and place the token with `inject`"
                    )),
                )
                .at_variable(TOKEN_VARIABLE),
            );
        }
    }
}

/// The template variable of the token that a `two_step` or `session` login
/// returns.
const TOKEN_VARIABLE: &str = "access_token";

/// Reports XML token requests that cannot be built, and an `inject` beside
/// `caller_places_token`.
pub(crate) fn check_xml_login(two_step: &TwoStep, problems: &mut Vec<Problem>) {
    if two_step.caller_places_token && two_step.inject.is_some() {
        problems.push(Problem::new(
            Code::InvalidKey,
            "/auth/inject".to_owned(),
            "`inject` places the token in proxied requests, but `caller_places_token: true` \
             says the proxy attaches none"
                .to_owned(),
            Some("remove `inject`, or remove `caller_places_token`".to_owned()),
        ));
    }
    let requests = [
        (
            "/auth/token_request".to_owned(),
            Some(&two_step.token_request),
        ),
        (
            "/auth/refresh_request".to_owned(),
            two_step.refresh_request.as_ref(),
        ),
    ]
    .into_iter()
    .chain(
        two_step
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| (format!("/auth/steps/{index}"), Some(step))),
    );
    for (pointer, request) in requests {
        if let Some(request) = request {
            check_xml_request(&pointer, request, problems);
        }
    }
}

fn check_xml_request(base: &str, request: &TokenRequest, problems: &mut Vec<Problem>) {
    if request.body_format != TokenBodyFormat::Xml {
        return;
    }
    if request.method == TokenRequestMethod::Get {
        problems.push(Problem::new(
            Code::InvalidValue,
            format!("{base}/method"),
            "`body_format: xml` sends the parameters as a POST body, but `method` is `GET`"
                .to_owned(),
            Some("remove `method: GET`, or remove `body_format: xml`".to_owned()),
        ));
    }
    if request.params.len() != 1 {
        problems.push(Problem::new(
            Code::InvalidValue,
            format!("{base}/params"),
            format!(
                "an XML body has one root element, so `params` needs exactly one key, not {}",
                request.params.len()
            ),
            Some("nest the parameters under one key, the name of the root element".to_owned()),
        ));
    }
    for (name, value) in &request.params {
        let pointer = format!("{base}/params/{}", escape_pointer(name));
        check_element(&pointer, name, value, problems);
    }
}

/// Checks one element's name and value, and its children in turn.
fn check_element(pointer: &str, name: &str, value: &Value, problems: &mut Vec<Problem>) {
    if !is_xml_name(name) {
        problems.push(invalid_name(pointer, name, "element"));
    }
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {}
        Value::Object(_) => problems.push(Problem::new(
            Code::InvalidType,
            pointer.to_owned(),
            format!(
                "the children of XML element `{name}` are a mapping, whose keys lose their \
                 order when the file is read"
            ),
            Some("write the children as a list of one-key mappings, in document order".to_owned()),
        )),
        Value::Array(children) => {
            let mut attributes = std::collections::BTreeSet::new();
            for (index, child) in children.iter().enumerate() {
                let child_pointer = format!("{pointer}/{index}");
                check_child(&child_pointer, name, child, problems);
                let attribute = child
                    .as_object()
                    .filter(|map| map.len() == 1)
                    .and_then(|map| map.keys().next())
                    .and_then(|key| key.strip_prefix(XML_ATTRIBUTE_PREFIX));
                if let Some(attribute) = attribute {
                    if !attributes.insert(attribute) {
                        problems.push(Problem::new(
                            Code::InvalidValue,
                            child_pointer,
                            format!(
                                "XML element `{name}` has attribute `{attribute}` twice, \
                                 which makes the body not well-formed XML"
                            ),
                            Some(format!("keep one `\"@{attribute}\"` item")),
                        ));
                    }
                }
            }
        }
    }
}

/// Checks one item of an element's list: a child element or an attribute.
fn check_child(pointer: &str, parent: &str, child: &Value, problems: &mut Vec<Problem>) {
    let single = match child {
        Value::Object(map) if map.len() == 1 => map.iter().next(),
        _ => None,
    };
    let Some((key, value)) = single else {
        problems.push(Problem::new(
            Code::InvalidType,
            pointer.to_owned(),
            format!("an item of XML element `{parent}` is not a mapping with one key"),
            Some(
                "write each child as `name: value`, and each attribute as `\"@name\": value`"
                    .to_owned(),
            ),
        ));
        return;
    };
    let pointer = format!("{pointer}/{}", escape_pointer(key));
    match key.strip_prefix(XML_ATTRIBUTE_PREFIX) {
        Some(attribute) => {
            if !is_xml_name(attribute) {
                problems.push(invalid_name(&pointer, attribute, "attribute"));
            }
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                problems.push(Problem::new(
                    Code::InvalidType,
                    pointer,
                    format!("XML attribute `{attribute}` of `{parent}` has a nested value"),
                    Some("give an attribute a string, number or boolean".to_owned()),
                ));
            }
        }
        None => check_element(&pointer, key, value, problems),
    }
}

fn invalid_name(pointer: &str, name: &str, kind: &str) -> Problem {
    let mut problem = Problem::new(
        Code::InvalidKey,
        pointer.to_owned(),
        format!("`{name}` is not a valid XML {kind} name"),
        Some(
            "start the name with an ASCII letter or `_`, and use only ASCII letters, digits, \
             `_`, `-`, `.` and `:`"
                .to_owned(),
        ),
    );
    problem.at_key = true;
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a `two_step` provider file whose token request has the YAML
    /// `request` lines (indented by four spaces) and the further `auth`
    /// lines `extra`.
    fn provider(request: &str, extra: &str) -> String {
        format!(
            "name: xml-login
display_name: XML login
auth:
  mode: two_step
  credentials:
    password: {{title: Password, secret: true}}
  token_request:
    url: https://api.example.com/gateway
{request}
  token_response:
    body: xml
    access_token: response.sessionid
{extra}proxy:
  base_url: https://api.example.com
"
        )
    }

    #[test]
    fn xml_login_accepted() {
        let source = provider(
            "    body_format: xml
    params:
      request:
      - \"@version\": 3
      - login:
        - password: \"{{ password }}\"
        - empty: \"\"
      - flag: false",
            "  caller_places_token: true\n",
        );

        let provider = crate::parse_provider("xml-login.yaml", &source)
            .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"));

        assert!(!provider.auth.injects_credential());
    }

    #[test]
    fn xml_login_problems_located() {
        // (case, request lines, extra auth lines, expected message, expected path)
        let cases = [
            (
                "GET method",
                "    method: GET\n    body_format: xml\n    params: {r: x}",
                "",
                "`method` is `GET`",
                "auth.token_request.method",
            ),
            (
                "two roots",
                "    body_format: xml\n    params: {a: x, b: y}",
                "",
                "exactly one key, not 2",
                "auth.token_request.params",
            ),
            (
                "mapping children",
                "    body_format: xml\n    params: {r: {a: x, b: y}}",
                "",
                "lose their order",
                "auth.token_request.params.r",
            ),
            (
                "item with two keys",
                "    body_format: xml\n    params: {r: [{a: x, b: y}]}",
                "",
                "not a mapping with one key",
                "auth.token_request.params.r[0]",
            ),
            (
                "bad element name",
                "    body_format: xml\n    params: {r: [{\"1a\": x}]}",
                "",
                "`1a` is not a valid XML element name",
                "auth.token_request.params.r[0].1a",
            ),
            (
                "bad attribute name",
                "    body_format: xml\n    params: {r: [{\"@a b\": x}]}",
                "",
                "`a b` is not a valid XML attribute name",
                "auth.token_request.params.r[0].@a b",
            ),
            (
                "nested attribute",
                "    body_format: xml\n    params: {r: [{\"@id\": [x]}]}",
                "",
                "has a nested value",
                "auth.token_request.params.r[0].@id",
            ),
            (
                "repeated attribute",
                "    body_format: xml\n    params: {r: [{\"@id\": \"1\"}, {a: x}, {\"@id\": \"2\"}]}",
                "",
                "XML element `r` has attribute `id` twice",
                "auth.token_request.params.r[2]",
            ),
            (
                "inject beside caller_places_token",
                "    body_format: xml\n    params: {r: x}",
                "  caller_places_token: true\n  inject: {name: X-Session, value: \"{{ access_token }}\"}\n",
                "`caller_places_token: true`",
                "auth.inject",
            ),
        ];
        for (case, request, extra, message, path) in cases {
            let source = provider(request, extra);

            let diagnostics = crate::parse_provider("xml-login.yaml", &source).expect_err(case);

            assert_eq!(diagnostics.len(), 1, "{case}: {diagnostics:?}");
            assert!(
                diagnostics[0].message.contains(message),
                "{case}: {}",
                diagnostics[0].message
            );
            assert_eq!(diagnostics[0].path.as_deref(), Some(path), "{case}");
        }
    }

    #[test]
    fn xml_names_checked() {
        for valid in ["request", "_x", "a-b.c", "ns:name", "getAPISession"] {
            assert!(is_xml_name(valid), "{valid}");
        }
        for invalid in ["", "1a", "-a", "a b", "a<b", "é", "a&b"] {
            assert!(!is_xml_name(invalid), "{invalid}");
        }
    }
}
