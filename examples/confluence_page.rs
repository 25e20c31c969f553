//! Creates a Confluence page through Latchkey's proxy with the generated
//! client.
//!
//! This file belongs to the crate that `latchkey codegen` writes, not to the
//! Latchkey workspace. To run it:
//!
//! ```sh
//! latchkey codegen --out generated
//! mkdir -p generated/rust/examples
//! cp examples/confluence_page.rs generated/rust/examples/
//! LATCHKEY_URL=http://127.0.0.1:3003 LATCHKEY_SECRET_KEY=... \
//!   CONNECTION_ID=ada-confluence SPACE_ID=65538 \
//!   cargo run --manifest-path generated/rust/Cargo.toml --example confluence_page
//! ```
//!
//! `INTEGRATION_KEY` sets the integration's unique key when it is not
//! `confluence`. The program prints the response body, the created page as
//! Confluence returns it, on stdout.

use std::env;
use std::process::ExitCode;

use latchkey_providers::providers::confluence;
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    match create_page().await {
        Ok(body) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn create_page() -> Result<String, String> {
    let latchkey_url = required("LATCHKEY_URL")?;
    let secret_key = required("LATCHKEY_SECRET_KEY")?;
    let connection_id = required("CONNECTION_ID")?;
    let space_id = required("SPACE_ID")?;

    let mut client =
        confluence::Client::new(&latchkey_url, secret_key).map_err(|e| e.to_string())?;
    if let Ok(key) = env::var("INTEGRATION_KEY") {
        client = client.integration_key(key);
    }
    let page = json!({
        "spaceId": space_id,
        "status": "current",
        "title": "Release notes",
        "body": {
            "representation": "storage",
            "value": "<p>Written by an agent through Latchkey.</p>",
        },
    });
    let response = client
        .connection(connection_id)
        .post("/wiki/api/v2/pages")
        .json(&page)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.text())
}

fn required(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("set the environment variable {name}"))
}
