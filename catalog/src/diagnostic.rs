//! Diagnostics for provider files, rendered in the style of rustc.

use std::fmt;

use serde::Serialize;

use crate::positions::Span;

/// One problem found in a provider file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file as the caller named it, for example `catalog/providers/github.yaml`.
    pub file: String,
    /// 1-based line of the offending node, when the problem has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Dotted field path such as `auth.token_url` or `auth.default_scopes[0]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The problem, as an error message.
    pub message: String,
    /// The suggested fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The source line that `line` points into, without its line break.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
    /// Number of characters the caret underline covers.
    #[serde(skip)]
    pub width: usize,
}

impl Diagnostic {
    /// Creates a diagnostic about the file as a whole (no line).
    pub(crate) fn for_file(file: &str, message: String) -> Diagnostic {
        Diagnostic {
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
    pub(crate) fn at(file: &str, source: &str, span: Span, message: String) -> Diagnostic {
        let source_line = source
            .lines()
            .nth(span.line.saturating_sub(1))
            .map(str::to_owned);
        Diagnostic {
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
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        let gutter = self.line.map_or(1, |line| line.to_string().len());
        let pad = " ".repeat(gutter);
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                writeln!(f, "{pad} --> {}:{line}:{column}", self.file)?;
            }
            _ => writeln!(f, "{pad} --> {}", self.file)?,
        }
        if let (Some(line), Some(column), Some(text)) =
            (self.line, self.column, self.source_line.as_deref())
        {
            // Tabs would shift the caret, so they are shown as one space each.
            let shown = text.replace('\t', " ");
            let available = shown.chars().count().saturating_sub(column - 1);
            let width = self.width.clamp(1, available.max(1));
            writeln!(f, "{pad}  |")?;
            writeln!(f, " {line} | {shown}")?;
            writeln!(
                f,
                "{pad}  | {}{}",
                " ".repeat(column - 1),
                "^".repeat(width)
            )?;
        }
        if let Some(path) = &self.path {
            writeln!(f, "{pad}  = at: {path}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{pad}  = help: {help}")?;
        }
        Ok(())
    }
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
            "unknown field `tokn_url`".into(),
        )
        .with_path(Some("auth.tokn_url".into()))
        .with_help(Some("did you mean `token_url`?".into()));
        let expected = "error: unknown field `tokn_url`\n  --> github.yaml:3:3\n   |\n 3 |   tokn_url: https://example.com\n   |   ^^^^^^^^\n   = at: auth.tokn_url\n   = help: did you mean `token_url`?\n";
        assert_eq!(diagnostic.to_string(), expected);
    }
}
