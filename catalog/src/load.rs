//! Parsing one provider file into a [`Provider`], with diagnostics.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use yaml_rust2::ScanError;

use crate::checks;
use crate::diagnostic::{dotted_path, Code, Diagnostic};
use crate::document;
use crate::model::Provider;
use crate::positions::{self, span_at, LazyPositionIndex, PositionIndex, Positions, Scan, Span};
use crate::schema;

/// Parses and validates one provider file.
///
/// `file_name` is used in diagnostics and for the rule that the provider's
/// `name` equals the file name without `.yaml`. Returns every problem found
/// in the first failing stage: YAML syntax, then the schema, then the
/// semantic checks. An alias file is not resolved here, because its target
/// lives in another file: [`crate::validate_paths`] and [`crate::Catalog`]
/// resolve aliases.
pub fn parse_provider(file_name: &str, source: &str) -> Result<Provider, Vec<Diagnostic>> {
    // serde_yaml (libyaml) gives the clearer syntax messages, so it goes
    // first, and it notes repeated keys on the way. yaml-rust2 may still
    // reject a file that libyaml accepts, and then its syntax error is the
    // file's one diagnostic. Running it on every file would double the cost
    // of parsing, so it runs only when the file has some other diagnostic,
    // or when the file has an anchor (`&`), whose aliases could be repeated
    // keys that only yaml-rust2 detects.
    // A leading byte-order mark is not part of the YAML text, and columns
    // on the first line count from after it.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if let Some(span) = positions::flow_nesting_too_deep(source) {
        return Err(vec![too_deep(file_name, source, span)]);
    }
    let document = match document::from_str(source) {
        Ok(document) => document,
        Err(error) => return Err(vec![yaml_error(file_name, source, &error)]),
    };
    let may_have_alias = source.contains('&');
    let scan = if may_have_alias {
        match positions::scan(source) {
            Ok(scan) => scan,
            Err(error) => return Err(vec![yaml_rust2_error(file_name, source, &error)]),
        }
    } else {
        Scan {
            may_have_duplicates: document.has_duplicate_key,
        }
    };
    let positions = LazyPositionIndex::new(source, scan);
    let result = parse_non_empty_document(file_name, source, document.value, &positions);
    if result.is_err() && !may_have_alias {
        if let Err(error) = positions::scan(source) {
            return Err(vec![yaml_rust2_error(file_name, source, &error)]);
        }
    }
    result
}

/// Validates a provider file whose document `build.rs` has already
/// converted to `json`, which it does only for a file that both YAML parsers
/// accept without a repeated key, that is a mapping and that is not an alias
/// file. The result equals that of [`parse_provider`] on `source`: the JSON
/// Schema validation and the semantic checks run here, and positions for
/// their diagnostics come from `source` when a diagnostic needs one.
pub(crate) fn parse_converted(
    file_name: &str,
    source: &str,
    json: &str,
) -> Result<Provider, Vec<Diagnostic>> {
    let Ok(document) = serde_json::from_str::<Value>(json) else {
        // Only a bug in `build.rs` leads here, and the YAML gives the same
        // result at a higher cost.
        return parse_provider(file_name, source);
    };
    let positions = LazyPositionIndex::new(
        source,
        Scan {
            may_have_duplicates: false,
        },
    );
    parse_document(file_name, source, document, &positions)
}

fn parse_non_empty_document(
    file_name: &str,
    source: &str,
    document: Value,
    positions: &LazyPositionIndex<'_>,
) -> Result<Provider, Vec<Diagnostic>> {
    if document.is_null() {
        let message = "provider file is empty".to_owned();
        let help = "write a YAML mapping with at least `name`, `display_name`, `auth` and `proxy`";
        let start = Span {
            line: 1,
            column: 1,
            width: 1,
        };
        return Err(vec![Diagnostic::at(
            file_name,
            source,
            start,
            Code::EmptyFile,
            message,
        )
        .with_help(Some(help.to_owned()))]);
    }
    parse_document(file_name, source, document, positions)
}

/// Turns a yaml-rust2 syntax error into a diagnostic.
fn yaml_rust2_error(file_name: &str, source: &str, error: &ScanError) -> Diagnostic {
    let span = clamp_to_source(source, span_at(error.marker(), 1));
    let message = format!("invalid YAML: {}", error.info());
    Diagnostic::at(file_name, source, span, Code::InvalidYaml, message)
        .with_help(tab_help(source, span))
}

fn too_deep(file_name: &str, source: &str, span: Span) -> Diagnostic {
    let message = format!(
        "invalid YAML: flow collections (`[...]`, `{{...}}`) nest more than {} levels deep",
        positions::MAX_FLOW_DEPTH
    );
    let help = "a provider file needs only a few levels; remove the extra brackets";
    Diagnostic::at(file_name, source, span, Code::InvalidYaml, message)
        .with_help(Some(help.to_owned()))
}

/// Returns help for a syntax error at a tab character, which YAML forbids
/// in indentation.
fn tab_help(source: &str, span: Span) -> Option<String> {
    let line = source.lines().nth(span.line.checked_sub(1)?)?;
    let at_tab = line.chars().nth(span.column.checked_sub(1)?) == Some('\t');
    let help = "YAML does not allow tabs for indentation; indent with spaces";
    at_tab.then(|| help.to_owned())
}

/// Turns serde_yaml's error for a file of several documents, which carries
/// no position, into a diagnostic at the start of the second document.
fn multiple_documents(file_name: &str, source: &str) -> Diagnostic {
    let message = "invalid YAML: the file contains more than one YAML document".to_owned();
    let help = "a provider file is one YAML document; remove this `---` and the document after it, or move that document to a file of its own";
    let diagnostic = match positions::second_document_start(source) {
        Some(span) => Diagnostic::at(file_name, source, span, Code::InvalidYaml, message),
        None => Diagnostic::for_file(file_name, Code::InvalidYaml, message),
    };
    diagnostic.with_help(Some(help.to_owned()))
}

/// Checks a parsed document (duplicate keys, the schema, the semantic
/// checks) and deserializes it. Diagnostics point into `source` through
/// `positions`; an alias file passes its merged document here.
pub(crate) fn parse_document(
    file_name: &str,
    source: &str,
    document: Value,
    positions: &impl Positions,
) -> Result<Provider, Vec<Diagnostic>> {
    if positions.may_have_duplicates() && !positions.index().duplicates().is_empty() {
        return Err(duplicate_keys(file_name, source, positions.index()));
    }

    let schema_problems = schema::check(&document, positions);
    if !schema_problems.is_empty() {
        let diagnostics = schema_problems
            .into_iter()
            .map(|problem| {
                let diagnostic = match problem.span {
                    Some(span) => {
                        Diagnostic::at(file_name, source, span, problem.code, problem.message)
                    }
                    None => Diagnostic::for_file(file_name, problem.code, problem.message),
                };
                diagnostic
                    .with_path(dotted_path(&problem.pointer))
                    .with_help(problem.help)
            })
            .collect();
        return Err(diagnostics);
    }

    let provider: Provider = match serde_json::from_value(document) {
        Ok(provider) => provider,
        Err(error) => {
            // The schema mirrors the model, so this means the two disagree.
            let message = format!("the file passed the schema but does not fit the model: {error}");
            return Err(vec![Diagnostic::for_file(
                file_name,
                Code::ModelMismatch,
                message,
            )]);
        }
    };

    let expected_name = file_stem(file_name);
    let problems = checks::check(&provider, expected_name.as_deref());
    if problems.is_empty() {
        return Ok(provider);
    }
    let mut diagnostics: Vec<Diagnostic> = problems
        .into_iter()
        .map(|problem| {
            let span = if problem.at_key {
                positions.index().key_or_value(&problem.pointer)
            } else {
                positions.index().nearest_value(&problem.pointer)
            };
            let span = match (span, problem.variable.as_deref()) {
                (Some(span), Some(variable)) => Some(variable_span(source, span, variable)),
                (span, _) => span,
            };
            let diagnostic = match span {
                Some(span) => {
                    Diagnostic::at(file_name, source, span, problem.code, problem.message)
                }
                None => Diagnostic::for_file(file_name, problem.code, problem.message),
            };
            diagnostic
                .with_path(dotted_path(&problem.pointer))
                .with_help(problem.help)
        })
        .collect();
    diagnostics.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.column.unwrap_or(usize::MAX)));
    Err(diagnostics)
}

/// Creates a diagnostic at the node that `pointer` names in `source`, or
/// about the whole file when the source has no such node.
pub(crate) fn diagnostic_at_pointer(
    file_name: &str,
    source: &str,
    pointer: &str,
    code: Code,
    message: String,
) -> Diagnostic {
    let span = PositionIndex::build(source)
        .ok()
        .and_then(|positions| positions.nearest_value(pointer));
    let diagnostic = match span {
        Some(span) => Diagnostic::at(file_name, source, span, code, message),
        None => Diagnostic::for_file(file_name, code, message),
    };
    diagnostic.with_path(dotted_path(pointer))
}

fn duplicate_keys(file_name: &str, source: &str, positions: &PositionIndex) -> Vec<Diagnostic> {
    positions
        .duplicates()
        .iter()
        .map(|duplicate| {
            let path = dotted_path(&duplicate.pointer);
            let key = duplicate.pointer.rsplit('/').next().unwrap_or_default();
            let key = key.replace("~1", "/").replace("~0", "~");
            let message = format!("invalid YAML: duplicate key `{key}`");
            let help = format!(
                "the key is first set on line {}; keep one of the two",
                duplicate.first.line
            );
            Diagnostic::at(
                file_name,
                source,
                duplicate.repeated,
                Code::DuplicateKey,
                message,
            )
            .with_path(path)
            .with_help(Some(help))
        })
        .collect()
}

/// Strips the directories and a `.yaml` extension from a file name.
fn file_stem(file_name: &str) -> Option<String> {
    let base = Path::new(file_name).file_name()?.to_str()?;
    Some(base.strip_suffix(".yaml").unwrap_or(base).to_owned())
}

/// Turns a serde_yaml error into a diagnostic.
///
/// libyaml reports the problem's position and often the position where the
/// enclosing construct starts (`while scanning a quoted scalar at line 2
/// column 15`). When the problem is the end of the file, for example an
/// unclosed quote or bracket, the diagnostic points at that start, which is
/// a place in the file that the reader can fix.
fn yaml_error(file_name: &str, source: &str, error: &serde_yaml::Error) -> Diagnostic {
    static POSITION_SUFFIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r" at line \d+ column \d+").expect("valid regex"));
    static CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r", while (?:scanning|parsing) (?:an? )?(.+?) at line (\d+) column (\d+)$")
            .expect("valid regex")
    });
    let text = error.to_string();
    // serde_yaml 0.9 words this error so, without a position.
    if text == "deserializing from YAML containing more than one document is not supported" {
        return multiple_documents(file_name, source);
    }
    // libyaml places this error at the start of the file.
    if let Some(diagnostic) = control_character(file_name, source, &text) {
        return diagnostic;
    }
    let Some(location) = error.location() else {
        let message = format!("invalid YAML: {text}");
        let help = syntax_help(&text).map(str::to_owned);
        // serde_yaml gives the repetition limit no position; the first alias
        // is where the expansion starts.
        let diagnostic = match first_alias(source).filter(|_| text == "repetition limit exceeded") {
            Some(span) => Diagnostic::at(file_name, source, span, Code::InvalidYaml, message),
            None => Diagnostic::for_file(file_name, Code::InvalidYaml, message),
        };
        return diagnostic.with_help(help);
    };
    let problem = Span {
        line: location.line(),
        column: location.column(),
        width: 1,
    };

    if is_past_last_character(source, problem) {
        if let Some(context) = CONTEXT.captures(&text) {
            let construct = &context[1];
            let start = Span {
                line: context[2].parse().unwrap_or(problem.line),
                column: context[3].parse().unwrap_or(problem.column),
                width: 1,
            };
            let reason = POSITION_SUFFIX.replace_all(&text, "");
            let message = format!("invalid YAML: {reason}");
            let help = format!("the file ends before the {construct} that starts here is closed");
            return Diagnostic::at(file_name, source, start, Code::InvalidYaml, message)
                .with_help(Some(help));
        }
    }

    // The first position is the error's own and moves to the location line;
    // a later one (where the enclosing collection starts) stays in the text.
    let reason = POSITION_SUFFIX
        .replacen(&text, 1, "")
        .replace(" at line ", " starting at line ");
    let message = format!("invalid YAML: {reason}");
    let span = clamp_to_source(source, problem);
    let help = tab_help(source, span).or_else(|| syntax_help(&text).map(str::to_owned));
    Diagnostic::at(file_name, source, span, Code::InvalidYaml, message).with_help(help)
}

/// Narrows `span`, a template value, to the first `{{ ... }}` that uses
/// `variable` on the value's line; returns `span` when there is none.
fn variable_span(source: &str, span: Span, variable: &str) -> Span {
    let Some(line) = source.lines().nth(span.line.saturating_sub(1)) else {
        return span;
    };
    let Ok(pattern) = Regex::new(&format!(
        r"\{{\{{-?\s*{}\b[^}}]*\}}\}}",
        regex::escape(variable)
    )) else {
        return span;
    };
    let start = line
        .char_indices()
        .nth(span.column.saturating_sub(1))
        .map_or(line.len(), |(index, _)| index);
    let end = line
        .char_indices()
        .nth(span.column.saturating_sub(1) + span.width)
        .map_or(line.len(), |(index, _)| index);
    match pattern.find(&line[start..end]) {
        Some(found) => Span {
            line: span.line,
            column: line[..start + found.start()].chars().count() + 1,
            width: found.as_str().chars().count(),
        },
        None => span,
    }
}

/// Returns the span of the first alias (`*name`) in `source`, outside
/// comments and quotes as far as a line-by-line look can tell.
fn first_alias(source: &str) -> Option<Span> {
    static ALIAS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:^|[\s\[,{:-])(\*[^\s\[\]{},]+)").expect("valid regex"));
    source.lines().enumerate().find_map(|(index, line)| {
        let code = line.split(" #").next().unwrap_or(line);
        let found = ALIAS.captures(code)?.get(1)?;
        if code[..found.start()].contains(['"', '\'']) {
            return None;
        }
        Some(Span {
            line: index + 1,
            column: code[..found.start()].chars().count() + 1,
            width: found.as_str().chars().count(),
        })
    })
}

/// Turns libyaml's reader error for a control character, which carries a
/// byte offset and no line, into a diagnostic at that character.
fn control_character(file_name: &str, source: &str, text: &str) -> Option<Diagnostic> {
    static OFFSET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^control characters are not allowed at position (\d+)$").expect("valid regex")
    });
    let offset: usize = OFFSET.captures(text)?[1].parse().ok()?;
    let before = source.get(..offset)?;
    let character = source[offset..].chars().next()?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let span = Span {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        width: 1,
    };
    let code = u32::from(character);
    let message = format!("invalid YAML: control character U+{code:04X} is not allowed here");
    let help = format!(
        "delete the character; if the value needs it, write it as the escape `\\u{code:04X}` inside a double-quoted string"
    );
    Some(Diagnostic::at(file_name, source, span, Code::InvalidYaml, message).with_help(Some(help)))
}

/// Returns what usually fixes a provider file that libyaml (through
/// serde_yaml 0.9) rejects with `message`, for the messages that have one
/// usual cause.
fn syntax_help(message: &str) -> Option<&'static str> {
    const HELP: &[(&str, &str)] = &[
        (
            "did not find expected ',' or ']'",
            "a flow sequence lists its items between `[` and `]`, separated by commas; add the missing `,` or `]`",
        ),
        (
            "did not find expected ',' or '}'",
            "a flow mapping lists its entries between `{` and `}`, separated by commas; add the missing `,` or `}`",
        ),
        (
            "mapping values are not allowed in this context",
            "YAML reads a line indented deeper than the key above it as part of that key's value; indent this key like the others of its mapping, or quote a value that contains `: `",
        ),
        (
            "did not find expected key",
            "the keys of one mapping start in the same column; indent this line like the keys above it",
        ),
        (
            "block sequence entries are not allowed in this context",
            "start the list on the line after its key, with each `-` indented the same",
        ),
        (
            "found character that cannot start any token",
            "a plain value cannot start with `@`, `%` or `` ` ``; quote the value",
        ),
        (
            "found unknown escape character",
            "a backslash in double quotes starts an escape; write `\\\\` for a backslash, or quote the value with single quotes",
        ),
        (
            "repetition limit exceeded",
            "aliases (`*name`) that repeat anchored values expand to too many values; a provider file needs no anchors, so write each value out where it is used",
        ),
        (
            "recursion limit exceeded",
            "the YAML parser reads at most 128 nested levels, and a provider file needs only a few; remove the extra levels",
        ),
    ];
    HELP.iter()
        .find(|(start, _)| message.starts_with(start))
        .map(|(_, help)| *help)
}

/// Checks whether `span` lies after the last character of the file.
fn is_past_last_character(source: &str, span: Span) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    match lines.last() {
        None => true,
        Some(last) => {
            span.line > lines.len()
                || (span.line == lines.len() && span.column > last.chars().count())
        }
    }
}

/// Moves a span that lies beyond the last line (libyaml's end-of-file mark)
/// to the end of the last non-empty line, so that the diagnostic can show a
/// source line.
fn clamp_to_source(source: &str, span: Span) -> Span {
    let lines: Vec<&str> = source.lines().collect();
    if span.line <= lines.len() {
        return span;
    }
    match lines.iter().rposition(|line| !line.trim().is_empty()) {
        Some(index) => Span {
            line: index + 1,
            column: lines[index].chars().count() + 1,
            width: 1,
        },
        None => span,
    }
}
