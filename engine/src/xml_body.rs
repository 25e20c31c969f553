//! XML token requests and replies (`body_format: xml`, `token_response.body:
//! xml`), as Sage Intacct's XML gateway takes and returns them.
//!
//! quick-xml writes the request, so every rendered value is escaped as
//! element text or as an attribute value and cannot add markup. Replies
//! are read with quick-xml, which expands only the five predefined
//! entities and character references and never loads a DTD or an
//! external entity.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use serde_json::{Map, Value};

use latchkey_catalog::{is_xml_name, XML_ATTRIBUTE_PREFIX};

use crate::EngineError;

/// Maximum element depth of an XML reply. A deeper reply is rejected, so
/// that neither the conversion nor dropping its result exhausts the stack.
const MAX_REPLY_DEPTH: usize = 64;

/// The key of an element's text in the converted reply, when the element
/// also has attributes or child elements.
const TEXT_KEY: &str = "#text";

/// Builds the XML document of rendered `params`: an XML declaration, then
/// the one root element. The layout of `params` is described in the
/// catalog's `xml_body` module, whose checks the definition has passed.
/// `field` is the request's definition field, for error messages.
pub(crate) fn xml_document(
    provider: &str,
    field: &str,
    params: &Map<String, Value>,
) -> Result<Vec<u8>, EngineError> {
    let mut root = params.iter();
    let (Some((name, value)), None) = (root.next(), root.next()) else {
        return Err(EngineError::template(
            provider,
            &format!("{field}.params"),
            "an XML body needs exactly one root element in `params`",
        ));
    };
    let mut writer = Writer::new(Vec::new());
    write(
        &mut writer,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    );
    write_element(
        &mut writer,
        provider,
        &format!("{field}.params.{name}"),
        name,
        value,
    )?;
    Ok(writer.into_inner())
}

/// Writes one event to the in-memory writer, which cannot fail.
fn write(writer: &mut Writer<Vec<u8>>, event: Event<'_>) {
    // Writing to a Vec performs no I/O, so the only error, an I/O error,
    // does not occur.
    let _ = writer.write_event(event);
}

fn write_element(
    writer: &mut Writer<Vec<u8>>,
    provider: &str,
    field: &str,
    name: &str,
    value: &Value,
) -> Result<(), EngineError> {
    if !is_xml_name(name) {
        return Err(EngineError::template(
            provider,
            field,
            format!("`{name}` is not a valid XML element name"),
        ));
    }
    let mut start = BytesStart::new(name);
    let children: &[Value] = match value {
        Value::Array(items) => items,
        _ => &[],
    };
    let mut elements = Vec::new();
    for (index, child) in children.iter().enumerate() {
        let child_field = format!("{field}.{index}");
        let (key, child_value) = match child {
            Value::Object(map) if map.len() == 1 => map
                .iter()
                .next()
                .unwrap_or_else(|| unreachable!("a map of length 1 has a first entry")),
            _ => {
                return Err(EngineError::template(
                    provider,
                    &child_field,
                    "an item of an XML element's list must be a mapping with one key",
                ))
            }
        };
        match key.strip_prefix(XML_ATTRIBUTE_PREFIX) {
            Some(attribute) => {
                let attribute_field = format!("{child_field}.{key}");
                if !is_xml_name(attribute) {
                    return Err(EngineError::template(
                        provider,
                        &attribute_field,
                        format!("`{attribute}` is not a valid XML attribute name"),
                    ));
                }
                let text = scalar_text(provider, &attribute_field, child_value)?;
                start.push_attribute((attribute, text.as_str()));
            }
            None => elements.push((format!("{child_field}.{key}"), key, child_value)),
        }
    }

    match value {
        Value::Array(_) => {
            write(writer, Event::Start(start));
            for (child_field, key, child_value) in elements {
                write_element(writer, provider, &child_field, key, child_value)?;
            }
        }
        _ => {
            let text = scalar_text(provider, field, value)?;
            write(writer, Event::Start(start));
            write(writer, Event::Text(BytesText::new(&text)));
        }
    }
    write(writer, Event::End(BytesEnd::new(name)));
    Ok(())
}

/// Returns the text of a scalar value: a string as it is, a number or a
/// boolean as JSON writes it, null as empty. A character that XML 1.0
/// does not allow even escaped (most control characters) fails the
/// request, without quoting the value, which may be a password.
fn scalar_text(provider: &str, field: &str, value: &Value) -> Result<String, EngineError> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => {
            return Err(EngineError::template(
                provider,
                field,
                "an XML attribute holds only a string, number or boolean",
            ))
        }
    };
    if let Some(position) = text.chars().position(|c| !is_xml_char(c)) {
        return Err(EngineError::template(
            provider,
            field,
            format!(
                "the rendered value has a character that XML does not allow at position {position}; \
                 check the entered value for control characters"
            ),
        ));
    }
    Ok(text)
}

/// Checks the `Char` production of XML 1.0 (section 2.2).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// One open element while a reply is read.
struct OpenElement {
    name: String,
    members: Map<String, Value>,
    text: String,
}

/// Converts an XML reply into a JSON object with one key, the root
/// element's name. An element with only text becomes its text (an empty
/// element an empty string). An element with attributes or child elements
/// becomes an object with the children by name (repeated names become an
/// array), the attributes under `@name`, and any text under `#text`.
/// Returns a message naming the problem when the body is not well-formed
/// XML with one root element.
pub(crate) fn xml_to_value(body: &[u8]) -> Result<Value, String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut open: Vec<OpenElement> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("at byte {}: {error}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                open.push(open_element(&start, root.is_some(), open.len())?);
            }
            Event::Empty(start) => {
                let element = open_element(&start, root.is_some(), open.len())?;
                close_element(element, &mut open, &mut root);
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches.
                let element = open
                    .pop()
                    .ok_or_else(|| "an end tag has no start tag".to_owned())?;
                close_element(element, &mut open, &mut root);
            }
            Event::Text(text) => {
                let text = text
                    .unescape()
                    .map_err(|error| format!("invalid text: {error}"))?;
                push_text(&mut open, &text)?;
            }
            Event::CData(data) => {
                let text = String::from_utf8(data.into_inner().into_owned())
                    .map_err(|_| "a CDATA section is not UTF-8".to_owned())?;
                push_text(&mut open, &text)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !open.is_empty() {
        return Err(format!(
            "element `{}` is not closed",
            open[open.len() - 1].name
        ));
    }
    root.ok_or_else(|| "the body has no root element".to_owned())
}

fn open_element(
    start: &BytesStart<'_>,
    has_root: bool,
    depth: usize,
) -> Result<OpenElement, String> {
    let name = String::from_utf8(start.name().as_ref().to_vec())
        .map_err(|_| "an element name is not UTF-8".to_owned())?;
    if depth == 0 && has_root {
        return Err(format!("element `{name}` is a second root element"));
    }
    if depth >= MAX_REPLY_DEPTH {
        return Err(format!(
            "elements are nested more than {MAX_REPLY_DEPTH} levels deep"
        ));
    }
    let mut members = Map::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| format!("in element `{name}`: {error}"))?;
        let key = String::from_utf8(attribute.key.as_ref().to_vec())
            .map_err(|_| format!("an attribute name of `{name}` is not UTF-8"))?;
        let value = attribute
            .unescape_value()
            .map_err(|error| format!("attribute `{key}` of `{name}`: {error}"))?;
        members.insert(
            format!("{XML_ATTRIBUTE_PREFIX}{key}"),
            Value::String(value.into_owned()),
        );
    }
    Ok(OpenElement {
        name,
        members,
        text: String::new(),
    })
}

fn close_element(element: OpenElement, open: &mut [OpenElement], root: &mut Option<Value>) {
    let OpenElement {
        name,
        mut members,
        text,
    } = element;
    let value = if members.is_empty() {
        Value::String(text)
    } else {
        if !text.is_empty() {
            members.insert(TEXT_KEY.to_owned(), Value::String(text));
        }
        Value::Object(members)
    };
    let Some(parent) = open.last_mut() else {
        let mut document = Map::new();
        document.insert(name, value);
        *root = Some(Value::Object(document));
        return;
    };
    match parent.members.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            parent.members.insert(name, value);
        }
    }
}

fn push_text(open: &mut [OpenElement], text: &str) -> Result<(), String> {
    match open.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None => Err("the body has text outside the root element".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document(params: Value) -> Result<String, EngineError> {
        let Value::Object(params) = params else {
            panic!("params must be an object");
        };
        xml_document("intacct", "auth.token_request", &params)
            .map(|bytes| String::from_utf8(bytes).expect("the writer emits UTF-8"))
    }

    #[test]
    fn request_document_bytes() {
        // (case, params, expected document after the declaration)
        let cases = [
            (
                "nested order kept",
                json!({"request": [
                    {"control": [{"senderid": "s1"}, {"password": "p1"}]},
                    {"operation": [{"content": [{"function": [
                        {"@controlid": "c-1"},
                        {"getAPISession": ""},
                    ]}]}]},
                ]}),
                "<request><control><senderid>s1</senderid><password>p1</password></control>\
                 <operation><content><function controlid=\"c-1\"><getAPISession></getAPISession>\
                 </function></content></operation></request>",
            ),
            (
                "scalars",
                json!({"r": [{"flag": false}, {"count": 3}, {"empty": null}]}),
                "<r><flag>false</flag><count>3</count><empty></empty></r>",
            ),
            (
                "markup escaped in text",
                json!({"r": [{"password": "a</password><x>&amp;"}]}),
                "<r><password>a&lt;/password&gt;&lt;x&gt;&amp;amp;</password></r>",
            ),
            (
                "quotes escaped in attribute",
                json!({"r": [{"@id": "\"><evil a='"}]}),
                "<r id=\"&quot;&gt;&lt;evil a=&apos;\"></r>",
            ),
            ("root text", json!({"ping": "x"}), "<ping>x</ping>"),
        ];
        for (case, params, expected) in cases {
            let text = document(params).unwrap_or_else(|error| panic!("{case}: {error}"));
            let expected = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{expected}");
            assert_eq!(text, expected, "{case}");
        }
    }

    #[test]
    fn request_document_errors() {
        // (case, params, text the error names)
        let cases = [
            ("two roots", json!({"a": "1", "b": "2"}), "exactly one root"),
            ("no root", json!({}), "exactly one root"),
            (
                "control character",
                json!({"r": [{"password": "a\u{1}b"}]}),
                "does not allow at position 1",
            ),
            (
                "mapping item",
                json!({"r": [{"a": "1", "b": "2"}]}),
                "mapping with one key",
            ),
            (
                "nested attribute",
                json!({"r": [{"@id": ["x"]}]}),
                "only a string",
            ),
            ("bad name", json!({"r": [{"a b": "1"}]}), "not a valid XML"),
        ];
        for (case, params, expected) in cases {
            let error = document(params).expect_err(case).to_string();
            assert!(error.contains(expected), "{case}: {error}");
            assert!(error.contains("intacct"), "{case}: {error}");
        }
    }

    #[test]
    fn control_character_not_quoted() {
        let error = document(json!({"r": [{"password": "Secret\u{0}Value"}]}))
            .expect_err("NUL is not an XML character")
            .to_string();
        assert!(!error.contains("Secret"), "{error}");
    }

    #[test]
    fn reply_converted_to_object() {
        let reply = br#"<?xml version="1.0" encoding="UTF-8"?>
<response>
  <control><status>success</status></control>
  <operation>
    <authentication><status>success</status><sessiontimeout>2026-01-01T00:00:00-08:00</sessiontimeout></authentication>
    <result>
      <status>success</status>
      <data listtype="List" count="1"><api><sessionid>S&amp;1..</sessionid><locationid/></api></data>
      <item>a</item><item>b</item><item>c</item>
      <note lang="en">text <![CDATA[<raw>]]></note>
    </result>
  </operation>
</response>"#;
        let value = xml_to_value(reply).expect("the reply is well-formed");
        let expected = json!({"response": {
            "control": {"status": "success"},
            "operation": {
                "authentication": {
                    "status": "success",
                    "sessiontimeout": "2026-01-01T00:00:00-08:00",
                },
                "result": {
                    "status": "success",
                    "data": {
                        "@listtype": "List",
                        "@count": "1",
                        "api": {"sessionid": "S&1..", "locationid": ""},
                    },
                    "item": ["a", "b", "c"],
                    "note": {"@lang": "en", "#text": "text<raw>"},
                },
            },
        }});
        assert_eq!(value, expected);
    }

    #[test]
    fn malformed_replies_rejected() {
        let deep = format!("{}{}", "<a>".repeat(65), "</a>".repeat(65));
        // (case, body, text the message names)
        let cases: [(&str, &[u8], &str); 7] = [
            ("mismatched end", b"<a><b></a>", "at byte"),
            ("not closed", b"<a><b>", "not closed"),
            ("second root", b"<a/><b/>", "second root"),
            ("text outside", b"hello", "outside the root"),
            ("unknown entity", b"<a>&nbsp;</a>", "invalid text"),
            ("empty", b"", "no root element"),
            ("too deep", deep.as_bytes(), "64 levels"),
        ];
        for (case, body, expected) in cases {
            let message = xml_to_value(body).expect_err(case);
            assert!(message.contains(expected), "{case}: {message}");
        }
    }

    #[test]
    fn doctype_entity_not_expanded() {
        let body = br#"<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<r>&secret;</r>"#;
        let message = xml_to_value(body).expect_err("declared entities are not expanded");
        assert!(message.contains("invalid text"), "{message}");
    }
}
