//! Translation of Nango's `${...}` interpolation into minijinja templates.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

/// A variable that a translated template uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Variable {
    /// A connection-config key.
    Config(String),
    /// A credential variable of the mode: `api_key`, `access_token`,
    /// `username` or `password`.
    Credential(&'static str),
    /// A variable that the engine fills itself: `oauth_client_id`,
    /// `oauth_client_secret`, `random_uuid`, `request_path` in a proxied
    /// request, or `refresh_token` in a `two_step` refresh request.
    Builtin(&'static str),
    /// A value that the end user enters in a `two_step` or `session` mode,
    /// from Nango's `${credentials.KEY}`.
    Field(String),
    /// A value of the last token reply of a `two_step` or `session` mode,
    /// from Nango's `${credentials.raw.PATH}`, as `raw.PATH`.
    RawReply(String),
}

/// The variables that a translation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// The fixed credential variables of the token and key modes.
    Fixed,
    /// A mode whose end user enters named fields: every
    /// `${credentials.KEY}` is a field, and `${refresh_token}` is the
    /// refresh token of the last token reply.
    Fields,
}

/// A minijinja template and the variables it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Translated {
    pub text: String,
    pub variables: BTreeSet<Variable>,
}

impl Translated {
    pub fn config_keys(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().filter_map(|variable| match variable {
            Variable::Config(key) => Some(key.as_str()),
            Variable::Credential(_)
            | Variable::Builtin(_)
            | Variable::Field(_)
            | Variable::RawReply(_) => None,
        })
    }

    pub fn uses_credential(&self) -> bool {
        self.variables.iter().any(|variable| {
            matches!(
                variable,
                Variable::Credential(_) | Variable::Field(_) | Variable::RawReply(_)
            )
        })
    }
}

static VARIABLE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));

/// Translates one Nango string. The error names the construct that has no
/// Latchkey form.
pub(super) fn translate(nango: &str) -> Result<Translated, String> {
    translate_in(nango, Scope::Fixed)
}

/// Translates one Nango string with the variables of `scope`.
pub(super) fn translate_in(nango: &str, scope: Scope) -> Result<Translated, String> {
    let mut text = String::new();
    let mut variables = BTreeSet::new();
    for part in split(nango)? {
        match part {
            Part::Literal(literal) => text.push_str(&escape_literal(literal)?),
            Part::Expression(expression) => {
                let (rendered, used) = translate_expression(expression, scope)?;
                text.push_str(&format!("{{{{ {rendered} }}}}"));
                variables.extend(used);
            }
        }
    }
    Ok(Translated { text, variables })
}

enum Part<'a> {
    Literal(&'a str),
    Expression(&'a str),
}

/// Splits a string into literal text and `${...}` expressions, counting
/// braces so that `${base64(${apiKey}:)}` is one expression.
fn split(nango: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = nango;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(Part::Literal(&rest[..start]));
        }
        let end = matching_brace(&rest[start + 1..])
            .ok_or_else(|| format!("unclosed `${{` in `{nango}`"))?;
        parts.push(Part::Expression(&rest[start + 2..start + 1 + end]));
        rest = &rest[start + 2 + end..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest));
    }
    Ok(parts)
}

/// Index of the `}` that closes the `{` at the start of `text`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, character) in text.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

fn escape_literal(literal: &str) -> Result<String, String> {
    if ["{{", "{%", "{#", "}}", "%}", "#}"]
        .iter()
        .any(|delimiter| literal.contains(delimiter))
    {
        return Err(format!(
            "literal text `{literal}` contains template delimiters"
        ));
    }
    Ok(literal.to_owned())
}

#[path = "template_time.rs"]
mod time;

/// Nango's string functions of one argument and the engine filters that
/// compute the same: `${base64(A:B)}` and `${sha256Hex(TEXT)}`, the
/// lowercase hex SHA-256 of the text's UTF-8 bytes.
const FUNCTION_FILTERS: [(&str, &str); 2] = [("base64", "base64"), ("sha256Hex", "sha256_hex")];

/// Translates the inside of one `${...}` into a minijinja expression.
fn translate_expression(expression: &str, scope: Scope) -> Result<(String, Vec<Variable>), String> {
    if let Some(spec) = expression.strip_prefix("now") {
        return time::translate_now(spec).map(|call| (call, Vec::new()));
    }
    for (function, filter) in FUNCTION_FILTERS {
        let inner = expression
            .strip_prefix(function)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'));
        if let Some(inner) = inner {
            return translate_call(function, filter, inner, scope);
        }
    }
    let variable = variable(expression, scope)?;
    Ok((variable_name(&variable).to_owned(), vec![variable]))
}

/// Translates `${function(ARGUMENT)}`: the literal parts and the
/// expressions of the argument, which may be calls themselves, are joined
/// with `~` and passed through `filter`.
fn translate_call(
    function: &str,
    filter: &str,
    inner: &str,
    scope: Scope,
) -> Result<(String, Vec<Variable>), String> {
    let mut operands = Vec::new();
    let mut used = Vec::new();
    for part in split(inner)? {
        match part {
            Part::Literal(literal) => operands.push(quote(function, literal)?),
            Part::Expression(expression) => {
                let (rendered, variables) = translate_expression(expression, scope)?;
                operands.push(rendered);
                used.extend(variables);
            }
        }
    }
    if operands.is_empty() {
        return Err(format!("empty `${{{function}()}}`"));
    }
    Ok((format!("({}) | {filter}", operands.join(" ~ ")), used))
}

fn quote(function: &str, literal: &str) -> Result<String, String> {
    if literal.contains(['\'', '\\']) {
        return Err(format!(
            "literal `{literal}` inside `${{{function}(...)}}` has a quote"
        ));
    }
    Ok(format!("'{literal}'"))
}

fn variable(expression: &str, scope: Scope) -> Result<Variable, String> {
    if scope == Scope::Fields {
        if expression == "refresh_token" {
            return Ok(Variable::Builtin("refresh_token"));
        }
        if let Some(path) = expression.strip_prefix("credentials.raw.") {
            if !path.split('.').all(|name| VARIABLE_NAME.is_match(name)) {
                return Err(format!(
                    "token reply path `{path}` is not made of template variable names"
                ));
            }
            return Ok(Variable::RawReply(format!("raw.{path}")));
        }
        if let Some(name) = expression.strip_prefix("credentials.") {
            if !VARIABLE_NAME.is_match(name) {
                return Err(format!(
                    "credential field `{name}` is not a template variable name"
                ));
            }
            return Ok(Variable::Field(name.to_owned()));
        }
    }
    match expression {
        "apiKey" => return Ok(Variable::Credential("api_key")),
        "accessToken" => return Ok(Variable::Credential("access_token")),
        "credentials.username" => return Ok(Variable::Credential("username")),
        "credentials.password" => return Ok(Variable::Credential("password")),
        "clientId" => return Ok(Variable::Builtin("oauth_client_id")),
        "clientSecret" => return Ok(Variable::Builtin("oauth_client_secret")),
        // NOTE: Nango's exact form of `${random}` is unverified. A random
        // UUID suits Avanan's `x-av-req-id` and any field of random text.
        "random" => return Ok(Variable::Builtin("random_uuid")),
        // Nango's `endpoint` is the path that the caller of its proxy
        // requested, without the base URL's path.
        "endpoint" => return Ok(Variable::Builtin("request_path")),
        _ => {}
    }
    let Some(key) = expression.strip_prefix("connectionConfig.") else {
        return Err(format!(
            "template `${{{expression}}}` has no Latchkey equivalent"
        ));
    };
    let Some(key) = latchkey_key(key) else {
        return Err(format!(
            "connection-config key `{key}` is not a template variable name"
        ));
    };
    Ok(Variable::Config(key))
}

/// Returns the Latchkey name of a Nango connection-config key: the key
/// itself, or with each `-` replaced by `_` (`accounts-server` becomes
/// `accounts_server`). `None` when neither is a template variable name.
pub(super) fn latchkey_key(key: &str) -> Option<String> {
    let renamed = key.replace('-', "_");
    VARIABLE_NAME.is_match(&renamed).then_some(renamed)
}

fn variable_name(variable: &Variable) -> &str {
    match variable {
        Variable::Config(key) | Variable::Field(key) | Variable::RawReply(key) => key,
        Variable::Credential(name) | Variable::Builtin(name) => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_each_form() {
        let cases = [
            ("https://api.example.com", "https://api.example.com"),
            (
                "https://${connectionConfig.subdomain}.example.com",
                "https://{{ subdomain }}.example.com",
            ),
            ("Bearer ${apiKey}", "Bearer {{ api_key }}"),
            ("${accessToken}", "{{ access_token }}"),
            (
                "Basic ${base64(${apiKey}:)}",
                "Basic {{ (api_key ~ ':') | base64 }}",
            ),
            (
                "Basic ${base64(${credentials.username}/token:${credentials.password})}",
                "Basic {{ (username ~ '/token:' ~ password) | base64 }}",
            ),
            ("${clientId}", "{{ oauth_client_id }}"),
            ("${random}", "{{ random_uuid }}"),
            ("${endpoint}", "{{ request_path }}"),
            (
                "${sha256Hex(${base64(${random}${now:YYYY-MM-DDTHH:mm:ss}x)})}",
                "{{ ((random_uuid ~ now('%Y-%m-%dT%H:%M:%S') ~ 'x') | base64) | sha256_hex }}",
            ),
            (
                "${connectionConfig.accounts-server}/oauth/v2/token",
                "{{ accounts_server }}/oauth/v2/token",
            ),
        ];
        for (nango, expected) in cases {
            assert_eq!(translate(nango).unwrap().text, expected, "{nango}");
        }
    }

    #[test]
    fn records_variables() {
        let translated = translate("${connectionConfig.a}/${apiKey}").unwrap();
        let keys: Vec<_> = translated.config_keys().collect();
        assert_eq!(keys, ["a"]);
        assert!(translated.uses_credential());
    }

    #[test]
    fn translates_fields_in_field_scope() {
        let translated = translate_in(
            "Basic ${base64(${credentials.clientId}:${credentials.secret})}",
            Scope::Fields,
        )
        .unwrap();
        assert_eq!(
            translated.text,
            "Basic {{ (clientId ~ ':' ~ secret) | base64 }}"
        );
        assert!(translated.uses_credential());
        assert_eq!(translated.config_keys().count(), 0);
        let refresh = translate_in("${refresh_token}", Scope::Fields).unwrap();
        assert_eq!(refresh.text, "{{ refresh_token }}");
        assert!(translate("${refresh_token}").is_err());
        assert!(translate_in("${credentials.a.b}", Scope::Fields).is_err());
    }

    #[test]
    fn client_credentials_translated() {
        let translated = translate("${clientId}:${clientSecret}").unwrap();
        assert_eq!(
            translated.text,
            "{{ oauth_client_id }}:{{ oauth_client_secret }}"
        );
        assert!(!translated.uses_credential());
        assert_eq!(translated.config_keys().count(), 0);
    }

    #[test]
    fn rejects_unknown_forms() {
        for nango in [
            "${now}",
            "${credentials.clientId}",
            "${connectionConfig.a.b}",
            "${connectionConfig.installation.uuid}",
            "{{$guid}}",
            "${apiKey",
            "${sha256Hex()}",
            "${sha256Hex(${hmacSha1Hex(${apiKey}, k)})}",
            "${base64(it's)}",
        ] {
            assert!(translate(nango).is_err(), "{nango}");
        }
    }
}
