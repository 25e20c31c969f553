//! OpenAPI 3.1 documents: one per provider and one for the Latchkey HTTP API.
//!
//! Documents are built as `serde_json` values, whose maps keep their keys
//! sorted, and printed as pretty JSON, so the same input always gives the
//! same bytes.

mod latchkey_api;
mod provider;
mod security;
mod url_template;

use serde_json::{json, Value};

use crate::Error;

/// The OpenAPI version every document declares.
const OPENAPI_VERSION: &str = "3.1.0";

/// Generates the OpenAPI document of `provider`: the proxy and the upstream
/// as servers, the auth mode as a security scheme, a pass-through path and
/// the verification request. Fails with [`Error::OpenApi`], naming the
/// field, when the definition has a value OpenAPI cannot express.
pub fn provider_document(
    provider: &latchkey_catalog::Provider,
    catalog_version: &str,
) -> Result<String, Error> {
    let document = provider::document(provider, catalog_version)?;
    to_text(&document, &provider.name)
}

/// Generates the OpenAPI document of Latchkey's own HTTP API.
pub fn latchkey_api_document(catalog_version: &str) -> Result<String, Error> {
    let document = latchkey_api::document(catalog_version);
    to_text(&document, "latchkey")
}

fn to_text(document: &Value, name: &str) -> Result<String, Error> {
    let mut text = serde_json::to_string_pretty(document).map_err(|error| Error::Provider {
        provider: name.to_owned(),
        message: format!("cannot serialize the OpenAPI document: {error}"),
    })?;
    text.push('\n');
    Ok(text)
}

/// Schema of Latchkey's error body, `{"error":{"code","message"}}`.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code, such as `unknown_connection`.",
                    },
                    "message": {
                        "type": "string",
                        "description": "What failed and what to do next.",
                    },
                },
            },
        },
    })
}
