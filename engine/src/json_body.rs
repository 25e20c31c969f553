//! Merging of a provider's JSON body members (`proxy.body` and the
//! `json_body` places of `inject`) into the body of a proxied request.

use std::fmt;

use serde_json::{Map, Value};

/// A proxied request whose body cannot take the provider's JSON members.
/// The message names the problem and the fix, and never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonBodyError(String);

impl fmt::Display for JsonBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonBodyError {}

/// The body of a proxied request after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedBody {
    pub bytes: Vec<u8>,
    /// Whether the request had no `Content-Type`, so the proxy must send
    /// `application/json` with the merged body.
    pub needs_content_type: bool,
}

/// Sets `members` (dot-separated paths and their values) in the JSON object
/// `body` of a request to `provider`, and returns the body to send.
///
/// An empty body counts as `{}`. A `content_type` that is not JSON
/// (`application/json` or a `+json` type), a body that is not valid JSON,
/// and JSON that is not an object are errors. The members win over the
/// caller's: a member at the same path is replaced, and a member on the
/// way to a path that is not an object is replaced by one.
pub fn merge_json_body(
    provider: &str,
    content_type: Option<&str>,
    body: &[u8],
    members: &[(String, String)],
) -> Result<MergedBody, JsonBodyError> {
    if let Some(content_type) = content_type {
        if !is_json_media_type(content_type) {
            return Err(JsonBodyError(format!(
                "the request's Content-Type is `{content_type}`, but provider `{provider}` adds members to a JSON object body: send the body as `application/json`"
            )));
        }
    }
    let mut object = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(other) => {
                return Err(JsonBodyError(format!(
                    "the request body is a JSON {}, but provider `{provider}` adds members to a JSON object body: send a JSON object, or no body",
                    type_name(&other)
                )))
            }
            Err(error) => {
                return Err(JsonBodyError(format!(
                    "the request body is not valid JSON ({error}), but provider `{provider}` adds members to a JSON object body: send a JSON object, or no body"
                )))
            }
        }
    };
    for (path, value) in members {
        set_member(&mut object, path, value);
    }
    let bytes = serde_json::to_vec(&Value::Object(object))
        .expect("a JSON value with string keys always serializes");
    Ok(MergedBody {
        bytes,
        needs_content_type: content_type.is_none(),
    })
}

/// Checks for `application/json` or a structured `+json` type, in any case
/// and with any parameters.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Sets the member at the dot-separated `path`, creating or replacing the
/// objects on the way.
fn set_member(object: &mut Map<String, Value>, path: &str, value: &str) {
    let mut current = object;
    let mut names = path.split('.').peekable();
    while let Some(name) = names.next() {
        if names.peek().is_none() {
            current.insert(name.to_owned(), Value::String(value.to_owned()));
            return;
        }
        let next = current
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(next) = next else {
            unreachable!("the member was just made an object");
        };
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn members(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(path, value)| (path.to_string(), value.to_string()))
            .collect()
    }

    fn merged(content_type: Option<&str>, body: &str, pairs: &[(&str, &str)]) -> (Value, bool) {
        let merged = merge_json_body("p", content_type, body.as_bytes(), &members(pairs))
            .expect("body merges");
        let value = serde_json::from_slice(&merged.bytes).expect("merged body is JSON");
        (value, merged.needs_content_type)
    }

    #[test]
    fn members_merged_into_object() {
        let cases = [
            (
                "empty body",
                Some("application/json"),
                "",
                vec![("key", "k1")],
                json!({"key": "k1"}),
            ),
            (
                "caller members kept",
                Some("application/json"),
                r#"{"message": {"text": "hi"}}"#,
                vec![("key", "k1")],
                json!({"key": "k1", "message": {"text": "hi"}}),
            ),
            (
                "nested path created",
                Some("application/json; charset=utf-8"),
                r#"{"id": 7}"#,
                vec![("auth.acctId", "42"), ("auth.key", "k1")],
                json!({"id": 7, "auth": {"acctId": "42", "key": "k1"}}),
            ),
            (
                "nested path joins caller object",
                Some("application/vnd.api+json"),
                r#"{"auth": {"extra": true}}"#,
                vec![("auth.key", "k1")],
                json!({"auth": {"extra": true, "key": "k1"}}),
            ),
            (
                "injected value wins",
                Some("application/json"),
                r#"{"key": "caller", "auth": {"key": "caller"}}"#,
                vec![("key", "k1"), ("auth.key", "k2")],
                json!({"key": "k1", "auth": {"key": "k2"}}),
            ),
            (
                "non-object on the path replaced",
                Some("application/json"),
                r#"{"auth": "caller"}"#,
                vec![("auth.key", "k1")],
                json!({"auth": {"key": "k1"}}),
            ),
        ];
        for (case, content_type, body, pairs, expected) in cases {
            let (value, needs_content_type) = merged(content_type, body, &pairs);
            assert_eq!(value, expected, "{case}");
            assert!(!needs_content_type, "{case}");
        }
    }

    #[test]
    fn missing_content_type_needs_one() {
        let (value, needs_content_type) = merged(None, "", &[("key", "k1")]);
        assert_eq!(value, json!({"key": "k1"}));
        assert!(needs_content_type);
        let (value, needs_content_type) = merged(None, r#"{"a": 1}"#, &[("key", "k1")]);
        assert_eq!(value, json!({"a": 1, "key": "k1"}));
        assert!(needs_content_type);
    }

    #[test]
    fn unusable_bodies_rejected() {
        let cases = [
            (
                "form content type",
                Some("application/x-www-form-urlencoded"),
                "a=1",
                "Content-Type is `application/x-www-form-urlencoded`",
            ),
            (
                "text content type",
                Some("text/plain"),
                "{}",
                "Content-Type is `text/plain`",
            ),
            (
                "array",
                Some("application/json"),
                "[1, 2]",
                "is a JSON array",
            ),
            ("string", None, r#""text""#, "is a JSON string"),
            ("null", None, "null", "is a JSON null"),
            (
                "invalid JSON",
                Some("application/json"),
                r#"{"a": "#,
                "is not valid JSON (EOF while parsing",
            ),
        ];
        for (case, content_type, body, expected) in cases {
            let error =
                merge_json_body("p", content_type, body.as_bytes(), &members(&[("k", "v")]))
                    .expect_err(case);
            let message = error.to_string();
            assert!(message.contains(expected), "{case}: {message}");
            assert!(message.contains("provider `p`"), "{case}: {message}");
        }
    }

    #[test]
    fn error_never_quotes_body() {
        let error = merge_json_body(
            "p",
            Some("application/json"),
            br#"["secret-value"]"#,
            &members(&[("k", "v")]),
        )
        .expect_err("an array is rejected");
        assert!(!error.to_string().contains("secret-value"));
    }
}
