//! Diagnostics for provider files, rendered in the style of rustc or as
//! JSON lines.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::positions::Span;

/// Severity level of a diagnostic. Every diagnostic is an error today, so a
/// file with any diagnostic is rejected by `latchkey catalog validate` and
/// by catalog loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
        }
    }
}

/// The kind of a diagnostic, as a stable name for tools (`unknown-field`).
///
/// The names are part of the `--format json` output, so a variant may be
/// added but an existing name never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The YAML does not parse.
    InvalidYaml,
    /// A mapping contains the same key twice.
    DuplicateKey,
    /// The file contains no document.
    EmptyFile,
    /// A field that the schema does not define at this place.
    UnknownField,
    /// A field that belongs to another auth mode than the file's `auth.mode`.
    FieldOfOtherMode,
    /// A required field is absent.
    MissingField,
    /// A value has the wrong JSON type (a string where a sequence belongs).
    InvalidType,
    /// A value is not one of the values the schema lists.
    InvalidValue,
    /// `auth.mode` names no known auth mode.
    UnknownAuthMode,
    /// A string does not match the pattern the schema requires.
    PatternMismatch,
    /// A mapping key is not allowed (for example a reserved variable name).
    InvalidKey,
    /// Any other schema keyword failed (`minLength`, `minimum`, ...).
    SchemaViolation,
    /// The file passed the schema but does not deserialize into the model.
    ModelMismatch,
    /// The provider `name` differs from the file name.
    NameMismatch,
    /// Two files in one run declare the same provider `name`.
    DuplicateProvider,
    /// A `pattern` or `key_pattern` is not a valid regular expression.
    InvalidRegex,
    /// An `example` or `default` does not match its field's `pattern`.
    ExampleMismatch,
    /// `token_response.connection_config` fills a key that `connection_config` lacks.
    UndeclaredCapture,
    /// A template does not compile.
    InvalidTemplate,
    /// A template uses a variable that no connection-config field declares.
    UndeclaredVariable,
    /// A template outside `auth.inject.value` uses a credential variable.
    CredentialOutsideInject,
    /// `auth.inject.value` uses a credential variable of another auth mode.
    CredentialOfOtherMode,
    /// A connection-config field used in a URL has no `pattern`.
    UrlFieldWithoutPattern,
    /// The pattern of a field used in a URL accepts a value that changes the URL.
    PermissiveUrlPattern,
    /// A field with `format: base_url` or `host_port_path` sits in a URL
    /// where that format does not apply.
    UrlFormOutOfPlace,
    /// A URL does not use https and is not on a loopback host.
    InsecureUrl,
    /// A required connection-config field that no template uses and the
    /// token response does not fill.
    UnusedConfigField,
    /// A file given to `validate` or found in a catalog directory does not
    /// have the extension `.yaml`.
    InvalidExtension,
    /// A provider file is not valid UTF-8.
    InvalidUtf8,
    /// A provider file or a catalog directory could not be read.
    ReadFailed,
    /// A catalog directory contains no `*.yaml` file.
    NoProviderFiles,
    /// A path given on the command line does not exist.
    PathNotFound,
    /// `alias` names no provider in the catalog.
    UnknownAliasTarget,
    /// `alias` names a provider that is itself an alias.
    AliasChain,
    /// An alias file lacks its own `name` or has a malformed `alias`.
    InvalidAlias,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Code; 35] = [
        Code::InvalidYaml,
        Code::DuplicateKey,
        Code::EmptyFile,
        Code::UnknownField,
        Code::FieldOfOtherMode,
        Code::MissingField,
        Code::InvalidType,
        Code::InvalidValue,
        Code::UnknownAuthMode,
        Code::PatternMismatch,
        Code::InvalidKey,
        Code::SchemaViolation,
        Code::ModelMismatch,
        Code::NameMismatch,
        Code::DuplicateProvider,
        Code::InvalidRegex,
        Code::ExampleMismatch,
        Code::UndeclaredCapture,
        Code::InvalidTemplate,
        Code::UndeclaredVariable,
        Code::CredentialOutsideInject,
        Code::CredentialOfOtherMode,
        Code::UrlFieldWithoutPattern,
        Code::PermissiveUrlPattern,
        Code::UrlFormOutOfPlace,
        Code::InsecureUrl,
        Code::UnusedConfigField,
        Code::InvalidExtension,
        Code::InvalidUtf8,
        Code::ReadFailed,
        Code::NoProviderFiles,
        Code::PathNotFound,
        Code::UnknownAliasTarget,
        Code::AliasChain,
        Code::InvalidAlias,
    ];

    /// Returns the stable name, for example `unknown-field`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidYaml => "invalid-yaml",
            Code::DuplicateKey => "duplicate-key",
            Code::EmptyFile => "empty-file",
            Code::UnknownField => "unknown-field",
            Code::FieldOfOtherMode => "field-of-other-mode",
            Code::MissingField => "missing-field",
            Code::InvalidType => "invalid-type",
            Code::InvalidValue => "invalid-value",
            Code::UnknownAuthMode => "unknown-auth-mode",
            Code::PatternMismatch => "pattern-mismatch",
            Code::InvalidKey => "invalid-key",
            Code::SchemaViolation => "schema-violation",
            Code::ModelMismatch => "model-mismatch",
            Code::NameMismatch => "name-mismatch",
            Code::DuplicateProvider => "duplicate-provider",
            Code::InvalidRegex => "invalid-regex",
            Code::ExampleMismatch => "example-mismatch",
            Code::UndeclaredCapture => "undeclared-capture",
            Code::InvalidTemplate => "invalid-template",
            Code::UndeclaredVariable => "undeclared-variable",
            Code::CredentialOutsideInject => "credential-outside-inject",
            Code::CredentialOfOtherMode => "credential-of-other-mode",
            Code::UrlFieldWithoutPattern => "url-field-without-pattern",
            Code::PermissiveUrlPattern => "permissive-url-pattern",
            Code::UrlFormOutOfPlace => "url-form-out-of-place",
            Code::InsecureUrl => "insecure-url",
            Code::UnusedConfigField => "unused-config-field",
            Code::InvalidExtension => "invalid-extension",
            Code::InvalidUtf8 => "invalid-utf8",
            Code::ReadFailed => "read-failed",
            Code::NoProviderFiles => "no-provider-files",
            Code::PathNotFound => "path-not-found",
            Code::UnknownAliasTarget => "unknown-alias-target",
            Code::AliasChain => "alias-chain",
            Code::InvalidAlias => "invalid-alias",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a provider file.
///
/// It serializes to one JSON object with every key present (`null` where a
/// value is absent): `severity`, `code`, `message`, `file`, `line`, `column`,
/// `end_column`, `path`, `help` and `source_line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// The file as the caller named it, for example `catalog/providers/github.yaml`.
    pub file: String,
    /// 1-based line of the offending node, when the problem has a place.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending node.
    pub column: Option<usize>,
    /// Dotted field path such as `auth.token_url` or `auth.default_scopes[0]`.
    pub path: Option<String>,
    /// The problem, as an error message.
    pub message: String,
    /// The suggested fix.
    pub help: Option<String>,
    /// The source line that `line` points into, without its line break.
    pub source_line: Option<String>,
    /// Number of characters the caret underline covers.
    pub width: usize,
}

impl Diagnostic {
    /// Creates a diagnostic about the file as a whole (no line).
    pub(crate) fn for_file(file: &str, code: Code, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.to_owned(),
            line: None,
            column: None,
            path: None,
            message,
            help: None,
            source_line: None,
            width: 0,
        }
    }

    /// Creates a diagnostic at `span` of `source`.
    pub(crate) fn at(
        file: &str,
        source: &str,
        span: Span,
        code: Code,
        message: String,
    ) -> Diagnostic {
        let source_line = source
            .lines()
            .nth(span.line.saturating_sub(1))
            .map(str::to_owned);
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.to_owned(),
            line: Some(span.line),
            column: Some(span.column),
            path: None,
            message,
            help: None,
            source_line,
            width: span.width,
        }
    }

    pub(crate) fn with_path(mut self, path: Option<String>) -> Diagnostic {
        self.path = path;
        self
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Diagnostic {
        self.help = help;
        self
    }

    /// Returns the number of characters the caret underline covers: at least
    /// one, and no more than the source line has from `column` on.
    fn underline_width(&self) -> usize {
        let (Some(column), Some(text)) = (self.column, self.source_line.as_deref()) else {
            return self.width.max(1);
        };
        let available = text.chars().count().saturating_sub(column - 1);
        self.width.clamp(1, available.max(1))
    }

    /// Returns the 1-based column just after the underlined span (an
    /// exclusive end, as in rustc's JSON output), when the diagnostic has a
    /// column.
    pub fn end_column(&self) -> Option<usize> {
        self.column.map(|column| column + self.underline_width())
    }

    /// Serializes the diagnostic as one line of JSON, without a line break.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a diagnostic serializes to JSON")
    }
}

/// The JSON shape of a [`Diagnostic`].
#[derive(Serialize)]
struct DiagnosticJson<'a> {
    severity: Severity,
    code: Code,
    message: &'a str,
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    end_column: Option<usize>,
    path: Option<&'a str>,
    help: Option<&'a str>,
    source_line: Option<&'a str>,
}

impl Serialize for Diagnostic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DiagnosticJson {
            severity: self.severity,
            code: self.code,
            message: &self.message,
            file: &self.file,
            line: self.line,
            column: self.column,
            end_column: self.end_column(),
            path: self.path.as_deref(),
            help: self.help.as_deref(),
            source_line: self.source_line.as_deref(),
        }
        .serialize(serializer)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}[{}]: {}",
            self.severity.as_str(),
            self.code,
            escape_controls(&self.message)
        )?;
        let gutter = self.line.map_or(1, |line| line.to_string().len());
        let pad = " ".repeat(gutter);
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                writeln!(
                    f,
                    "{pad} --> {}:{line}:{column}",
                    escape_controls(&self.file)
                )?;
            }
            _ => writeln!(f, "{pad} --> {}", escape_controls(&self.file))?,
        }
        if let (Some(line), Some(column), Some(text)) =
            (self.line, self.column, self.source_line.as_deref())
        {
            // Tabs would shift the caret, so each becomes one space. Other
            // control characters would act on the terminal, so each becomes
            // one replacement character.
            let shown: String = text
                .chars()
                .map(|c| match c {
                    '\t' => ' ',
                    c if c.is_control() => char::REPLACEMENT_CHARACTER,
                    c => c,
                })
                .collect();
            writeln!(f, "{pad}  |")?;
            writeln!(f, " {line} | {shown}")?;
            writeln!(
                f,
                "{pad}  | {}{}",
                " ".repeat(column - 1),
                "^".repeat(self.underline_width())
            )?;
        }
        if let Some(path) = &self.path {
            writeln!(f, "{pad}  = at: {}", escape_controls(path))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{pad}  = help: {}", escape_controls(help))?;
        }
        Ok(())
    }
}

/// Writes each control character of `text`, each Unicode line or
/// paragraph separator and each bidirectional-text control as its Rust
/// escape (`\r`, `\u{1b}`, `\u{202e}`). A value quoted from a provider
/// file then cannot move the cursor, colour the terminal, reorder the text
/// or fake a line of output. Other characters are kept.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    fn is_hidden(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    }
    if !text.chars().any(is_hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_debug());
        } else if is_hidden(c) {
            escaped.extend(c.escape_unicode());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Converts a JSON pointer into the dotted path shown to users:
/// `/auth/default_scopes/0` becomes `auth.default_scopes[0]`.
pub(crate) fn dotted_path(pointer: &str) -> Option<String> {
    if pointer.is_empty() {
        return None;
    }
    let mut path = String::new();
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_path_formats_indices() {
        assert_eq!(
            dotted_path("/auth/default_scopes/0").as_deref(),
            Some("auth.default_scopes[0]")
        );
        assert_eq!(
            dotted_path("/proxy/headers/a~1b").as_deref(),
            Some("proxy.headers.a/b")
        );
        assert_eq!(dotted_path(""), None);
    }

    #[test]
    fn display_matches_rustc_layout() {
        let source = "name: github\nauth:\n  tokn_url: https://example.com\n";
        let span = Span {
            line: 3,
            column: 3,
            width: 8,
        };
        let diagnostic = Diagnostic::at(
            "github.yaml",
            source,
            span,
            Code::UnknownField,
            "unknown field `tokn_url`".into(),
        )
        .with_path(Some("auth.tokn_url".into()))
        .with_help(Some("did you mean `token_url`?".into()));
        let expected = "error[unknown-field]: unknown field `tokn_url`\n  --> github.yaml:3:3\n   |\n 3 |   tokn_url: https://example.com\n   |   ^^^^^^^^\n   = at: auth.tokn_url\n   = help: did you mean `token_url`?\n";
        assert_eq!(diagnostic.to_string(), expected);
        assert_eq!(diagnostic.end_column(), Some(11));
    }

    #[test]
    fn display_escapes_control_characters() {
        let source = "name: \"a\\e[31mred\"\n";
        let span = Span {
            line: 1,
            column: 7,
            width: 12,
        };
        let diagnostic = Diagnostic::at(
            "a\u{1b}[31mred.yaml",
            source,
            span,
            Code::InvalidValue,
            "name `a\u{1b}[31mred` is not kebab-case".into(),
        )
        .with_path(Some("x\r\ny".into()))
        .with_help(Some("use `a\u{7}`".into()));

        let text = diagnostic.to_string();

        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert_eq!(text.lines().count(), 7, "{text}");
        for part in [
            "error[invalid-value]: name `a\\u{1b}[31mred` is not kebab-case\n",
            "--> a\\u{1b}[31mred.yaml:1:7\n",
            "= at: x\\r\\ny\n",
            "= help: use `a\\u{7}`\n",
        ] {
            assert!(text.contains(part), "missing {part:?} in {text}");
        }
        assert_eq!(
            escape_controls("a\u{202e}b\u{2028}c\u{85}"),
            "a\\u{202e}b\\u{2028}c\\u{85}"
        );
        // The JSON form keeps the values and escapes them its own way.
        let json: serde_json::Value = serde_json::from_str(&diagnostic.to_json_line()).unwrap();
        assert_eq!(json["path"], "x\r\ny");
    }

    #[test]
    fn codes_are_unique_and_match_serde() {
        let mut names: Vec<&str> = Code::ALL.iter().map(|code| code.as_str()).collect();
        for code in Code::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }

    #[test]
    fn end_column_is_clamped_to_the_line() {
        let span = Span {
            line: 1,
            column: 7,
            width: 40,
        };
        let diagnostic = Diagnostic::at(
            "a.yaml",
            "name: demo\n",
            span,
            Code::NameMismatch,
            "x".into(),
        );
        assert_eq!(diagnostic.end_column(), Some(11));
        let whole_file = Diagnostic::for_file("a.yaml", Code::EmptyFile, "empty".into());
        assert_eq!(whole_file.end_column(), None);
    }
}
