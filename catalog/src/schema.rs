//! Validation of a provider document against `schema/provider.schema.json`,
//! with each schema error turned into a diagnostic that names the field and
//! what would be valid there.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diagnostic::{dotted_path, Code};
use crate::positions::{escape_pointer, PositionIndex, Positions, Span};
use crate::suggest::closest_match;

/// The schema text, embedded so that validation needs no files at run time.
pub const PROVIDER_SCHEMA: &str = include_str!("../schema/provider.schema.json");

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(PROVIDER_SCHEMA).expect("the embedded provider schema is valid JSON")
});

/// The auth modes in the order of the `oneOf` branches under `auth`, read
/// from each branch's `mode` constant so that a new mode needs no change
/// here.
static AUTH_MODES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let root: &'static Value = &SCHEMA;
    root.pointer("/properties/auth/oneOf")
        .and_then(Value::as_array)
        .expect("the provider schema has `oneOf` under `auth`")
        .iter()
        .map(|branch| {
            resolve(branch)
                .and_then(|branch| branch.pointer("/properties/mode/const"))
                .and_then(Value::as_str)
                .expect("every `auth` branch of the provider schema has a `mode` constant")
        })
        .collect()
});

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    jsonschema::draft202012::options()
        .build(&SCHEMA)
        .expect("the embedded provider schema compiles")
});

/// A schema violation with its place, before the file name and source are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaProblem {
    pub code: Code,
    /// JSON pointer of the field the problem is about.
    pub pointer: String,
    /// Span to underline, found in the YAML source.
    pub span: Option<Span>,
    pub message: String,
    pub help: Option<String>,
    /// For an unknown field whose suggestion is a missing required field:
    /// the pointer of that field, whose own "missing" problem is dropped
    /// because the typo explains it.
    pub suggests: Option<String>,
    /// Whether this problem is a missing required field.
    pub is_missing: bool,
}

/// Validates `document` and describes every violation, sorted by position.
/// Builds the position index only when there is a violation to place.
pub(crate) fn check(document: &Value, positions: &impl Positions) -> Vec<SchemaProblem> {
    let errors: Vec<ValidationError<'_>> = VALIDATOR.iter_errors(document).collect();
    if errors.is_empty() {
        return Vec::new();
    }
    let positions = positions.index();
    let mut problems = Vec::new();
    for error in &errors {
        describe(error, document, positions, &mut problems);
    }
    let suggested: Vec<String> = problems.iter().filter_map(|p| p.suggests.clone()).collect();
    problems.retain(|problem| !(problem.is_missing && suggested.contains(&problem.pointer)));
    problems.sort_by_key(|problem| {
        problem
            .span
            .map_or((usize::MAX, usize::MAX), |span| (span.line, span.column))
    });
    problems.dedup();
    problems
}

fn describe(
    error: &ValidationError<'_>,
    document: &Value,
    positions: &PositionIndex,
    problems: &mut Vec<SchemaProblem>,
) {
    let pointer = error.instance_path().as_str().to_owned();
    let field = display_field(&pointer);
    let schema = schema_for(&pointer, document);
    let value_span = positions.nearest_value(&pointer);

    let (code, pointer, span, message, help) = match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } if pointer == "/auth" => {
            // A known mode selects its branch; report that branch's errors only.
            // An unknown or missing mode is already reported by the `enum` or
            // `required` keyword of `auth` itself.
            let mode = document.pointer("/auth/mode").and_then(Value::as_str);
            if let Some(branch) = mode.and_then(|m| AUTH_MODES.iter().position(|known| *known == m))
            {
                if let Some(errors) = context.get(branch) {
                    for inner in errors {
                        describe(inner, document, positions, problems);
                    }
                }
            }
            return;
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = property_names(schema);
            for name in unexpected {
                let child = format!("{pointer}/{}", escape_pointer(name));
                let best = closest_match(name, &allowed);
                let other_modes = if pointer == "/auth" {
                    modes_with_field(name)
                } else {
                    Vec::new()
                };
                let (code, message, help) = if other_modes.is_empty() {
                    let help = match best {
                        _ if name == "<<" => format!(
                            "`<<` is a YAML merge key, which provider files do not support; write the merged fields out here (allowed: {})",
                            quoted_list(&allowed)
                        ),
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!("allowed fields here: {}", quoted_list(&allowed)),
                    };
                    (Code::UnknownField, format!("unknown field `{name}`"), help)
                } else {
                    other_mode_field(name, document, &other_modes, best, &allowed)
                };
                problems.push(SchemaProblem {
                    code,
                    span: positions.key_or_value(&child).or(value_span),
                    pointer: child,
                    message,
                    help: Some(help),
                    suggests: best.map(|best| format!("{pointer}/{}", escape_pointer(best))),
                    is_missing: false,
                });
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_owned();
            let child = format!("{pointer}/{}", escape_pointer(&name));
            let expected = schema
                .and_then(|s| s.get("properties"))
                .and_then(|p| p.get(&name))
                .map(describe_expected)
                .unwrap_or_else(|| "a value".to_owned());
            let within = if pointer.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("under {field}")
            };
            let message = format!("missing required field `{name}`");
            let help = format!("add `{name}` {within}: {expected}");
            let span = positions.key_or_value(&pointer).or(value_span);
            (Code::MissingField, child, span, message, Some(help))
        }
        ValidationErrorKind::Type { .. } => {
            let found = json_kind(error.instance());
            let expected = schema
                .map(describe_expected)
                .unwrap_or_else(|| "another type".to_owned());
            let message = format!("invalid type for {field}: found {found}");
            (
                Code::InvalidType,
                pointer,
                value_span,
                message,
                Some(format!("expected {expected}")),
            )
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .map(|values| values.iter().map(compact_json).collect())
                .unwrap_or_default();
            let found = compact_json(error.instance());
            let (code, message) = if pointer == "/auth/mode" {
                (Code::UnknownAuthMode, format!("unknown auth mode {found}"))
            } else {
                (
                    Code::InvalidValue,
                    format!("invalid value {found} for {field}"),
                )
            };
            let plain: Vec<&str> = options
                .as_array()
                .map(|values| values.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let help = match error
                .instance()
                .as_str()
                .and_then(|f| closest_match(f, &plain))
            {
                Some(best) => format!(
                    "did you mean `{best}`? expected one of {}",
                    names.join(", ")
                ),
                None => format!("expected one of {}", names.join(", ")),
            };
            (code, pointer, value_span, message, Some(help))
        }
        ValidationErrorKind::Pattern { pattern } => {
            let found = compact_json(error.instance());
            let meaning = schema
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .map(|d| format!(" ({})", d.trim_end_matches('.')))
                .unwrap_or_default();
            let message = format!("{found} does not match the pattern `{pattern}`");
            let help = format!("write a value matching `{pattern}`{meaning}");
            (
                Code::PatternMismatch,
                pointer,
                value_span,
                message,
                Some(help),
            )
        }
        ValidationErrorKind::PropertyNames { error: inner } => {
            let name = inner.instance().as_str().unwrap_or_default().to_owned();
            let child = format!("{pointer}/{}", escape_pointer(&name));
            let rule = match inner.kind() {
                ValidationErrorKind::Pattern { pattern } => format!("match `{pattern}`"),
                ValidationErrorKind::Not { .. } => forbidden_keys_rule(schema),
                ValidationErrorKind::Enum { options } => allowed_keys_rule(&name, options),
                _ => inner.to_string(),
            };
            let message = format!("invalid key `{name}` in {field}");
            let help = format!("keys here must {rule}");
            let span = positions.key_or_value(&child).or(value_span);
            (Code::InvalidKey, child, span, message, Some(help))
        }
        ValidationErrorKind::UniqueItems => {
            let items = error
                .instance()
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let repeat = items.iter().enumerate().find_map(|(index, item)| {
                let first = items[..index].iter().position(|earlier| earlier == item)?;
                Some((first, index, item))
            });
            match repeat {
                Some((first, index, item)) => {
                    let child = format!("{pointer}/{index}");
                    let message = format!(
                        "duplicate entry {} in {field}: index {index} repeats index {first}",
                        compact_json(item)
                    );
                    let help = format!("remove the entry at index {index}");
                    let span = positions.nearest_value(&child).or(value_span);
                    (Code::SchemaViolation, child, span, message, Some(help))
                }
                None => {
                    let message = format!("invalid value for {field}: {}", error.masked());
                    (Code::SchemaViolation, pointer, value_span, message, None)
                }
            }
        }
        ValidationErrorKind::AnyOf { .. } if required_alternatives(schema).is_some() => {
            let alternatives = required_alternatives(schema).unwrap_or_default();
            let message = format!("missing required fields under {field}");
            let help = format!("add {}", alternatives.join(", or "));
            let span = positions.key_or_value(&pointer).or(value_span);
            (Code::MissingField, pointer, span, message, Some(help))
        }
        _ => {
            // The remaining keywords (minLength, minimum, const, ...)
            // have clear messages of their own in the jsonschema crate.
            let message = format!("invalid value for {field}: {}", error.masked());
            let description = schema
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str);
            let rule = match error.kind() {
                ValidationErrorKind::Minimum { limit } => {
                    Some(format!("use a number of at least {limit}"))
                }
                ValidationErrorKind::Maximum { limit } => {
                    Some(format!("use a number of at most {limit}"))
                }
                ValidationErrorKind::ExclusiveMinimum { limit } => {
                    Some(format!("use a number greater than {limit}"))
                }
                ValidationErrorKind::ExclusiveMaximum { limit } => {
                    Some(format!("use a number less than {limit}"))
                }
                ValidationErrorKind::MinLength { limit } => {
                    Some(format!("use a string of at least {limit} characters"))
                }
                ValidationErrorKind::MaxLength { limit } => {
                    Some(format!("use a string of at most {limit} characters"))
                }
                ValidationErrorKind::MinItems { limit } => {
                    Some(format!("list at least {limit} items"))
                }
                _ => None,
            };
            let help = match (rule, description) {
                (Some(rule), Some(description)) => {
                    Some(format!("{rule} ({})", description.trim_end_matches('.')))
                }
                (Some(rule), None) => Some(rule),
                (None, description) => description.map(str::to_owned),
            };
            (Code::SchemaViolation, pointer, value_span, message, help)
        }
    };
    let is_missing = matches!(error.kind(), ValidationErrorKind::Required { .. });
    problems.push(SchemaProblem {
        code,
        pointer,
        span,
        message,
        help,
        suggests: None,
        is_missing,
    });
}

/// Finds the subschema that governs the instance at `pointer`, following
/// `$ref`, `properties`, `additionalProperties`, `items` and, under `auth`,
/// the `oneOf` branch chosen by the document's `auth.mode`.
fn schema_for<'s>(pointer: &str, document: &Value) -> Option<&'s Value> {
    let root: &'s Value = &SCHEMA;
    let mut current = resolve(root)?;
    let mut instance_pointer = String::new();
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        current = select_branch(current, &instance_pointer, document);
        instance_pointer.push('/');
        instance_pointer.push_str(raw);
        let next = current
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| {
                current
                    .get("additionalProperties")
                    .filter(|a| a.is_object())
            })
            .or_else(|| current.get("items"))?;
        current = resolve(next)?;
    }
    Some(select_branch(current, &instance_pointer, document))
}

/// Picks the `oneOf` branch whose `mode` constant equals the document's
/// value at `instance_pointer/mode`; returns `schema` itself otherwise.
fn select_branch<'s>(schema: &'s Value, instance_pointer: &str, document: &Value) -> &'s Value {
    let Some(branches) = schema.get("oneOf").and_then(Value::as_array) else {
        return schema;
    };
    let mode = document.pointer(&format!("{instance_pointer}/mode"));
    branches
        .iter()
        .filter_map(resolve)
        .find(|branch| {
            let constant = branch.pointer("/properties/mode/const");
            constant.is_some() && constant == mode
        })
        .unwrap_or(schema)
}

/// Finds the auth modes whose shape has a field called `name`.
fn modes_with_field(name: &str) -> Vec<&'static str> {
    let root: &Value = &SCHEMA;
    AUTH_MODES
        .iter()
        .copied()
        .filter(|mode| {
            root.pointer(&format!(
                "/$defs/{mode}/properties/{}",
                escape_pointer(name)
            ))
            .is_some()
        })
        .collect()
}

/// Describes a field under `auth` that belongs to other auth modes, for
/// example `token_url` in an `api_key` file.
fn other_mode_field(
    name: &str,
    document: &Value,
    modes: &[&str],
    best: Option<&str>,
    allowed: &[&str],
) -> (Code, String, String) {
    let mode = document
        .pointer("/auth/mode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let owners: Vec<String> = modes.iter().map(|mode| format!("`{mode}`")).collect();
    let noun = if owners.len() == 1 {
        "auth mode"
    } else {
        "auth modes"
    };
    let owners = match owners.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => owners.join(""),
    };
    let message = format!("field `{name}` belongs to {noun} {owners}, not to `{mode}`");
    let help = match best {
        Some(best) => {
            format!("did you mean `{best}`? otherwise remove `{name}` or change `auth.mode`")
        }
        None => format!(
            "remove `{name}` or change `auth.mode`; fields of mode `{mode}`: {}",
            quoted_list(allowed)
        ),
    };
    (Code::FieldOfOtherMode, message, help)
}

/// Describes the branches of an `anyOf` whose branches only list required
/// fields, such as "`server_url`" and "both `authorization_url` and
/// `token_url`". Returns `None` for any other `anyOf`.
fn required_alternatives(schema: Option<&Value>) -> Option<Vec<String>> {
    let branches = schema?.get("anyOf")?.as_array()?;
    branches
        .iter()
        .map(|branch| {
            let object = branch.as_object()?;
            let required: Vec<&str> = object
                .get("required")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if object.len() != 1 || required.is_empty() {
                return None;
            }
            Some(match required.as_slice() {
                [single] => match schema?
                    .get("properties")
                    .and_then(|properties| properties.get(*single))
                    .and_then(|property| property.get("const"))
                {
                    // A field that has one allowed value is written with it.
                    Some(value) => format!("`{single}: {value}`"),
                    None => format!("`{single}`"),
                },
                [first, second] => format!("both `{first}` and `{second}`"),
                _ => format!("all of {}", quoted_list(&required)),
            })
        })
        .collect()
}

/// Describes the `propertyNames.not` rule of a mapping's schema: the
/// forbidden keys of its `enum` and the reason its `description` gives.
fn forbidden_keys_rule(schema: Option<&Value>) -> String {
    let names = schema
        .and_then(resolve)
        .and_then(|schema| schema.get("propertyNames"));
    let forbidden: Vec<&str> = names
        .and_then(|names| names.pointer("/not/enum"))
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let reason = names
        .and_then(|names| names.pointer("/not/description"))
        .and_then(Value::as_str)
        .map(|text| format!(" ({})", text.trim_end_matches('.')))
        .unwrap_or_default();
    match names.and_then(|names| names.pointer("/not/pattern")) {
        Some(Value::String(pattern)) if forbidden.is_empty() => {
            format!("not match `{pattern}`{reason}")
        }
        _ => format!("not be one of {}{reason}", quoted_list(&forbidden)),
    }
}

/// Describes a `propertyNames.enum` rule for the key `name`, followed by
/// the closest allowed key when one is close.
fn allowed_keys_rule(name: &str, options: &Value) -> String {
    let allowed: Vec<&str> = options
        .as_array()
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let listed = quoted_list(&allowed);
    match closest_match(name, &allowed) {
        Some(best) => format!("be one of {listed}; did you mean `{best}`?"),
        None => format!("be one of {listed}"),
    }
}

/// Follows a local `$ref` (`#/$defs/...`) to its target. A sibling
/// `description` is ignored here; [`describe_expected`] reads it first.
fn resolve<'s>(schema: &'s Value) -> Option<&'s Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let root: &'s Value = &SCHEMA;
            root.pointer(reference.strip_prefix('#')?).and_then(resolve)
        }
        None => Some(schema),
    }
}

/// Formats a pointer for messages: the dotted path in backticks, or "the document".
fn display_field(pointer: &str) -> String {
    dotted_path(pointer).map_or_else(|| "the document".to_owned(), |path| format!("`{path}`"))
}

fn property_names(schema: Option<&Value>) -> Vec<&str> {
    schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Describes what a subschema accepts, for example "a string (Template of ...)".
fn describe_expected(schema: &Value) -> String {
    let target = resolve(schema).unwrap_or(schema);
    let kind = if let Some(values) = target.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(compact_json).collect();
        format!("one of {}", names.join(", "))
    } else if let Some(constant) = target.get("const") {
        compact_json(constant)
    } else {
        match target.get("type").and_then(Value::as_str) {
            Some("object") => "a mapping".to_owned(),
            Some("array") => "a sequence".to_owned(),
            Some("string") => "a string".to_owned(),
            Some("integer") => "an integer".to_owned(),
            Some("boolean") => "`true` or `false`".to_owned(),
            Some(other) => format!("a value of type {other}"),
            None => "a value".to_owned(),
        }
    };
    let description = schema
        .get("description")
        .or_else(|| target.get("description"))
        .and_then(Value::as_str);
    match description {
        Some(text) => format!("{kind} ({})", text.trim_end_matches('.')),
        None => kind,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Renders a JSON value for a message: strings in backticks, others as JSON.
fn compact_json(value: &Value) -> String {
    match value {
        Value::String(text) => format!("`{text}`"),
        other => format!("`{other}`"),
    }
}

fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_params_match_model() {
        for (def, expected) in [
            (
                "authorization_params",
                crate::model::RESERVED_AUTHORIZATION_PARAMS,
            ),
            ("token_params", crate::model::RESERVED_TOKEN_PARAMS),
        ] {
            let pointer = format!("/$defs/{def}/propertyNames/not/enum");
            let listed: Vec<&str> = SCHEMA
                .pointer(&pointer)
                .and_then(Value::as_array)
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(listed, expected, "{def}");
        }
    }

    #[test]
    fn reserved_two_step_names_match_model() {
        for mode in ["two_step", "session"] {
            let pointer = format!("/$defs/{mode}/properties/credentials/propertyNames/not/enum");
            let listed: Vec<&str> = SCHEMA
                .pointer(&pointer)
                .and_then(Value::as_array)
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(listed, crate::RESERVED_TWO_STEP_NAMES, "{mode}");
        }
    }

    #[test]
    fn auth_modes_match_mode_enum() {
        let listed: Vec<&str> = SCHEMA
            .pointer("/properties/auth/properties/mode/enum")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(*AUTH_MODES, listed);
        assert_eq!(AUTH_MODES.len(), 14);
    }

    #[test]
    fn embedded_schema_compiles() {
        assert!(VALIDATOR.is_valid(&serde_json::json!({
            "name": "demo",
            "display_name": "Demo",
            "auth": {"mode": "basic"},
            "proxy": {"base_url": "https://api.example.com"}
        })));
    }

    #[test]
    fn schema_for_follows_auth_mode() {
        let document = serde_json::json!({"auth": {"mode": "api_key"}});
        let schema = schema_for("/auth", &document).unwrap();
        assert_eq!(
            schema.pointer("/properties/mode/const"),
            Some(&serde_json::json!("api_key"))
        );
        let inject = schema_for("/auth/inject", &document).unwrap();
        assert!(inject.pointer("/properties/location").is_some());
    }
}
