//! Conversion of the catalog's URL templates (`https://{{ subdomain }}.example.com`)
//! into OpenAPI server URLs (`https://{subdomain}.example.com`) with one
//! server variable per connection-config placeholder.

use std::collections::BTreeMap;

use latchkey_catalog::{ConfigField, Provider};
use serde_json::{json, Value};

use crate::Error;

/// One piece of a URL template: literal text or a connection-config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Variable(String),
}

/// A URL template split into literal text and placeholders.
#[derive(Debug, Clone)]
pub(crate) struct UrlTemplate {
    pieces: Vec<Piece>,
}

impl UrlTemplate {
    /// Parses `template`, the value of `field` in the provider file. Only
    /// plain `{{ key }}` placeholders of declared connection-config keys
    /// become server variables. Any other minijinja syntax is an error, and
    /// so is a literal `{` or `}`, because OpenAPI would read it as a variable.
    pub fn parse(provider: &Provider, field: &str, template: &str) -> Result<UrlTemplate, Error> {
        let error = |reason: String| Error::OpenApi {
            provider: provider.name.clone(),
            field: field.to_owned(),
            reason,
        };
        let mut pieces = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            let Some(start) = rest.find('{') else {
                check_literal(rest).map_err(&error)?;
                pieces.push(Piece::Text(rest.to_owned()));
                break;
            };
            let (text, tail) = rest.split_at(start);
            if !text.is_empty() {
                check_literal(text).map_err(&error)?;
                pieces.push(Piece::Text(text.to_owned()));
            }
            if !tail.starts_with("{{") {
                return Err(error(format!(
                    "the template `{template}` contains `{}`, which is minijinja block syntax \
                     or a literal brace; use only `{{{{ key }}}}` placeholders in URL fields",
                    &tail[..tail.len().min(2)]
                )));
            }
            let Some(end) = tail.find("}}") else {
                return Err(error(format!(
                    "the template `{template}` has a `{{{{` without a closing `}}}}`"
                )));
            };
            let expression = tail[2..end].trim();
            if !is_identifier(expression) {
                return Err(error(format!(
                    "the template `{template}` uses the expression `{{{{ {expression} }}}}`; \
                     an OpenAPI server variable can stand only for a plain `{{{{ key }}}}` \
                     placeholder, so move the computation into a connection-config value"
                )));
            }
            if !provider.connection_config.contains_key(expression) {
                return Err(error(format!(
                    "the template `{template}` uses `{expression}`, which is not a key of \
                     `connection_config`; declare it there"
                )));
            }
            pieces.push(Piece::Variable(expression.to_owned()));
            rest = &tail[end + 2..];
        }
        Ok(UrlTemplate { pieces })
    }

    /// Returns the connection-config keys used, in order of first use.
    pub fn variables(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for piece in &self.pieces {
            if let Piece::Variable(name) = piece {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Returns the URL in OpenAPI server-URL notation: `{key}` for each placeholder.
    pub fn openapi_notation(&self) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.clone(),
                Piece::Variable(name) => format!("{{{name}}}"),
            })
            .collect()
    }

    /// Returns the URL with every placeholder replaced by its server
    /// variable's default, for the OAuth flow URLs that OpenAPI requires to
    /// be plain URLs.
    pub fn with_defaults(&self, variables: &ServerVariables) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.clone(),
                Piece::Variable(name) => variables.default_of(name).to_owned(),
            })
            .collect()
    }

    pub fn is_templated(&self) -> bool {
        self.pieces
            .iter()
            .any(|piece| matches!(piece, Piece::Variable(_)))
    }

    /// Returns whether a placeholder starts the URL, as in
    /// `{{ instance_url }}/api`, so its value carries the scheme and host.
    fn starts_with_variable(&self, name: &str) -> bool {
        matches!(self.pieces.first(), Some(Piece::Variable(first)) if first == name)
    }
}

fn check_literal(text: &str) -> Result<(), String> {
    if text.contains('}') {
        return Err(format!(
            "the URL text `{text}` contains a literal `}}`, which OpenAPI reads as the end \
             of a server variable; percent-encode it as %7D"
        ));
    }
    Ok(())
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The server variables of one provider document: one per connection-config
/// key that a URL template uses, with the default OpenAPI requires.
#[derive(Debug, Default)]
pub(crate) struct ServerVariables {
    variables: BTreeMap<String, ServerVariable>,
}

#[derive(Debug)]
struct ServerVariable {
    default: String,
    allowed: Option<Vec<String>>,
    description: String,
}

impl ServerVariables {
    /// Collects the variables of `templates`, each described from its
    /// connection-config field.
    pub fn collect(provider: &Provider, templates: &[&UrlTemplate]) -> ServerVariables {
        let mut variables = BTreeMap::new();
        for template in templates {
            for name in template.variables() {
                if variables.contains_key(name) {
                    continue;
                }
                // `UrlTemplate::parse` accepted only declared keys.
                let field = &provider.connection_config[name];
                let starts_url = templates
                    .iter()
                    .any(|template| template.starts_with_variable(name));
                variables.insert(name.to_owned(), server_variable(name, field, starts_url));
            }
        }
        ServerVariables { variables }
    }

    pub fn default_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.variables
            .get(name)
            .map_or(name, |variable| variable.default.as_str())
    }

    /// Returns the `variables` object of a server whose URL is `template`.
    pub fn object_for(&self, template: &UrlTemplate) -> Value {
        let mut object = serde_json::Map::new();
        for name in template.variables() {
            let variable = &self.variables[name];
            let mut entry = json!({
                "default": variable.default,
                "description": variable.description,
            });
            if let Some(allowed) = &variable.allowed {
                entry["enum"] = json!(allowed);
            }
            object.insert(name.to_owned(), entry);
        }
        Value::Object(object)
    }
}

/// Describes one connection-config field as a server variable. OpenAPI
/// requires a default, so it is, in order of preference: the field's
/// `default`, its `example`, the first value its pattern allows, or a
/// placeholder made from the key; the description names which.
fn server_variable(name: &str, field: &ConfigField, starts_url: bool) -> ServerVariable {
    let mut allowed = field.pattern.as_deref().and_then(literal_alternatives);
    let (default, source) = if let Some(default) = &field.default {
        (default.clone(), "the field's default")
    } else if let Some(example) = &field.example {
        (
            example.clone(),
            "the field's example, not a real default: set the connection's own value",
        )
    } else if let Some(first) = allowed.as_ref().and_then(|values| values.first()) {
        (first.clone(), "the first value the field's pattern allows")
    } else {
        (
            placeholder(name, starts_url),
            "a placeholder, because the field has no default or example: set the \
             connection's own value",
        )
    };
    if allowed
        .as_ref()
        .is_some_and(|values| !values.contains(&default))
    {
        allowed = None;
    }

    let mut description = sentence(&field.title);
    if let Some(text) = &field.description {
        description.push(' ');
        description.push_str(&sentence(text));
    }
    description.push_str(&format!(
        " Connection-config key `{name}`. The default is {source}."
    ));
    if field.automated {
        description.push_str(" Latchkey fills this value itself when the connection is created.");
    }
    if field.optional {
        description.push_str(
            " The value is optional; a server without this variable applies when it is unset.",
        );
    }
    if let (Some(pattern), None) = (&field.pattern, &allowed) {
        description.push_str(&format!(" Pattern: `^(?:{pattern})$`."));
    }
    ServerVariable {
        default,
        allowed,
        description,
    }
}

/// Ends `text` with a period unless it ends with one already.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// Builds a default for a field without one: an https origin under the
/// reserved `example.com` domain when the value starts the URL, else the
/// key in lowercase with `-` for `_`, which fits in a host name or a path.
fn placeholder(name: &str, starts_url: bool) -> String {
    let label: String = name
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if starts_url {
        format!("https://{label}.example.com")
    } else {
        label
    }
}

/// Returns the values of a pattern that is only an alternation of literal
/// strings, such as `eu|au` or `(api\.eu|api)\.example\.com`'s inner group
/// `api\.eu|api`; `None` for any other pattern.
pub(crate) fn literal_alternatives(pattern: &str) -> Option<Vec<String>> {
    let inner = strip_group(pattern);
    let mut values = Vec::new();
    for alternative in inner.split('|') {
        let value = literal(alternative)?;
        if value.is_empty() {
            return None;
        }
        if !values.contains(&value) {
            values.push(value);
        }
    }
    Some(values)
}

/// Strips one group around the whole pattern: `(a|b)` or `(?:a|b)`.
fn strip_group(pattern: &str) -> &str {
    let inner = pattern
        .strip_prefix("(?:")
        .or_else(|| pattern.strip_prefix('('))
        .and_then(|rest| rest.strip_suffix(')'));
    match inner {
        Some(inner) if !inner.contains(['(', ')']) => inner,
        _ => pattern,
    }
}

/// Reads a regex without metacharacters as the text it matches; `\` before
/// punctuation escapes it. Returns `None` when the regex is not a literal.
fn literal(regex: &str) -> Option<String> {
    let mut text = String::new();
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next()?;
                if escaped.is_ascii_alphanumeric() {
                    return None;
                }
                text.push(escaped);
            }
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return None
            }
            _ => text.push(c),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_alternatives_forms() {
        assert_eq!(
            literal_alternatives("eu|au"),
            Some(vec!["eu".to_owned(), "au".to_owned()])
        );
        assert_eq!(
            literal_alternatives(r"(?:api\.eu|api)"),
            Some(vec!["api.eu".to_owned(), "api".to_owned()])
        );
        assert_eq!(
            literal_alternatives(r"cloud\-api\.example\.com"),
            Some(vec!["cloud-api.example.com".to_owned()])
        );
        assert_eq!(literal_alternatives("[a-z]+"), None);
        assert_eq!(literal_alternatives("a.b"), None);
        assert_eq!(literal_alternatives(r"\d+"), None);
        assert_eq!(literal_alternatives("a|"), None);
        assert_eq!(literal_alternatives("(a|b)|(c)"), None);
    }

    #[test]
    fn placeholder_forms() {
        assert_eq!(placeholder("tenant_id", false), "tenant-id");
        assert_eq!(
            placeholder("instanceUrl", true),
            "https://instanceurl.example.com"
        );
    }
}
