//! The error type of code generation.

use std::path::PathBuf;

/// An error of `latchkey codegen`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A template failed to render; the message names the template.
    #[error("template `{template}` failed to render: {source}")]
    Template {
        template: String,
        #[source]
        source: minijinja::Error,
    },
    /// A generated document could not be serialized.
    #[error("provider `{provider}`: {message}")]
    Provider { provider: String, message: String },
    /// A provider definition has a value that an OpenAPI 3.1 document cannot
    /// express; `field` is the path of the value in the provider file.
    #[error("provider `{provider}`: field `{field}` cannot be expressed in OpenAPI: {reason}")]
    OpenApi {
        provider: String,
        field: String,
        reason: String,
    },
    /// Reading or writing a file or directory failed; `action` says what,
    /// such as `create the directory`. The message carries the OS error
    /// itself, so the error has no source, and a caller that prints the
    /// chain shows the OS error once.
    #[error(
        "cannot {action} `{}`: {error}; check that each parent of the output directory is a writable directory, or choose another output directory",
        path.display()
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// A directory exists where the output places a generated file. The
    /// run changes nothing, because replacing the directory would delete
    /// what it contains.
    #[error(
        "`{}` is a directory where a generated file belongs: move or remove it, or choose another output directory",
        path.display()
    )]
    DirectoryInPlace { path: PathBuf },
    /// A provider name given for selection is empty or only whitespace.
    #[error(
        "the provider name `{name}` is empty: pass a name from the catalog, such as `--provider github`, or leave out `--provider` to generate every provider"
    )]
    EmptyProviderName { name: String },
    /// A provider selected by name is not in the catalog.
    #[error(
        "unknown provider `{name}`{}: use a name from the catalog (`GET /providers` lists them), or add your file with `--catalog-dir`",
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownProvider {
        name: String,
        suggestion: Option<String>,
    },
    /// Two providers map to the same Rust identifier.
    #[error(
        "providers `{first}` and `{second}` both map to the Rust name `{identifier}`: rename one of them"
    )]
    NameCollision {
        first: String,
        second: String,
        identifier: String,
    },
    /// Two keys of one provider map to the same Rust field name.
    #[error(
        "provider `{provider}`: keys `{first}` and `{second}` both map to the Rust field `{identifier}`: rename one of them"
    )]
    FieldCollision {
        provider: String,
        first: String,
        second: String,
        identifier: String,
    },
}
