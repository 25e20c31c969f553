//! Interim OpenAPI documents, until the `openapi` module of the codegen
//! crate provides the same two functions.
//!
//! TODO: delete this file at merge and call `crate::openapi` from
//! `lib.rs`. It exists so that `latchkey codegen` writes its full layout
//! meanwhile; its documents describe only the proxy route.

use latchkey_catalog::Provider;
use serde_json::{json, Value};

use crate::Error;

/// Renders the OpenAPI 3.1 document of `provider`'s API as reached through
/// Latchkey's proxy.
pub fn provider_document(provider: &Provider, catalog_version: &str) -> Result<String, Error> {
    let document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{} through the Latchkey proxy", provider.display_name),
            "version": catalog_version,
        },
        "paths": { "/proxy/{path}": proxy_path_item() },
        "components": { "securitySchemes": secret_key_scheme() },
        "security": [{ "secretKey": [] }],
    });
    to_pretty(&provider.name, &document)
}

/// Renders the OpenAPI 3.1 document of Latchkey's own HTTP API.
pub fn latchkey_api_document(catalog_version: &str) -> Result<String, Error> {
    let document = json!({
        "openapi": "3.1.0",
        "info": { "title": "Latchkey", "version": catalog_version },
        "paths": { "/proxy/{path}": proxy_path_item() },
        "components": { "securitySchemes": secret_key_scheme() },
        "security": [{ "secretKey": [] }],
    });
    to_pretty("latchkey", &document)
}

fn proxy_path_item() -> Value {
    let header = |name: &str, description: &str| {
        json!({
            "name": name,
            "in": "header",
            "required": true,
            "description": description,
            "schema": { "type": "string" },
        })
    };
    let operation = json!({
        "parameters": [
            { "name": "path", "in": "path", "required": true, "schema": { "type": "string" } },
            header("Provider-Config-Key", "Unique key of the integration."),
            header("Connection-Id", "Id of the connection whose credential is used."),
        ],
        "responses": { "default": { "description": "The provider's response, passed through." } },
    });
    let mut item = serde_json::Map::new();
    for method in ["get", "post", "put", "patch", "delete"] {
        item.insert(method.to_owned(), operation.clone());
    }
    Value::Object(item)
}

fn secret_key_scheme() -> Value {
    json!({ "secretKey": { "type": "http", "scheme": "bearer" } })
}

fn to_pretty(subject: &str, document: &Value) -> Result<String, Error> {
    let mut text = serde_json::to_string_pretty(document).map_err(|error| Error::Provider {
        provider: subject.to_owned(),
        message: error.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}
