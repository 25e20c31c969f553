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
    /// Reading or writing an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
