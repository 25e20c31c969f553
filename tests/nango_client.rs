//! Nango's official Node client (`@nangohq/node`, pinned in tests/peers)
//! against Latchkey: integrations, connect sessions, connections and the
//! proxy, with only the host changed.

mod support;

use std::process::Command;

use serde_json::{json, Value};

use support::latchkey::{CatalogDir, Latchkey};
use support::peers::{peers_dir, Httpbin};
use support::{free_port, httpbin_provider, random_hex};

fn run_client(input: &Value) -> Value {
    let output = Command::new("node")
        .arg(peers_dir().join("nango_client.mjs"))
        .arg(input.to_string())
        .current_dir(peers_dir())
        // axios honours proxy variables; every call must stay on 127.0.0.1.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "nango_client.mjs failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "nango_client.mjs printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Returns the value of a step that must have succeeded.
fn value<'a>(results: &'a Value, step: &str) -> &'a Value {
    let result = &results[step];
    assert_eq!(result["ok"], true, "{step} failed: {result}");
    &result["value"]
}

/// Asserts that a step failed with `status` and the error `code`.
fn assert_failed(results: &Value, step: &str, status: u64, code: &str) {
    let result = &results[step];
    assert_eq!(result["ok"], false, "{step} should fail: {result}");
    assert_eq!(result["status"], status, "{step}: {result}");
    assert_eq!(result["body"]["error"]["code"], code, "{step}: {result}");
}

#[test]
fn nango_node_client_works_unchanged() {
    let httpbin = Httpbin::start();
    let catalog = CatalogDir::new();
    let auth =
        "  mode: api_key\n  inject:\n    name: Authorization\n    value: \"Bearer {{ api_key }}\"";
    catalog.write(
        "test-httpbin-nango",
        &httpbin_provider("test-httpbin-nango", &httpbin.base_url, auth),
    );
    let server = Latchkey::start_fresh(free_port(), &[catalog.path()], &[]);
    let api_key = format!("nango-key-{}", random_hex(8));
    let key = format!("nango-{}", random_hex(4));
    let connection_id = format!("conn-{}", random_hex(4));
    let end_user = format!("user-{}", random_hex(4));

    let results = run_client(&json!({
        "host": server.base_url,
        "secretKey": server.secret_key,
        "provider": "test-httpbin-nango",
        "integrationKey": key,
        "connectionId": connection_id,
        "apiKey": api_key,
        "endUserId": end_user,
    }));

    let created = value(&results, "createIntegration");
    assert_eq!(created["data"]["unique_key"], key.as_str(), "{created}");
    assert_eq!(
        created["data"]["provider"], "test-httpbin-nango",
        "{created}"
    );

    let listed = value(&results, "listIntegrations")["configs"]
        .as_array()
        .expect("configs array")
        .clone();
    assert!(
        listed.iter().any(|i| i["unique_key"] == key.as_str()),
        "{listed:?}"
    );

    let fetched = value(&results, "getIntegration");
    assert_eq!(fetched["data"]["unique_key"], key.as_str(), "{fetched}");
    let updated = value(&results, "updateIntegration");
    assert_eq!(
        updated["data"]["display_name"], "Renamed by the Nango client",
        "{updated}"
    );

    let session = value(&results, "createConnectSession");
    assert!(
        session["data"]["token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{session}"
    );
    assert!(
        session["data"]["connect_link"]
            .as_str()
            .is_some_and(|l| l.starts_with(&server.base_url)),
        "{session}"
    );
    assert!(session["data"]["expires_at"].is_string(), "{session}");

    assert_eq!(
        results["importConnection"]["status"], 201,
        "{}",
        results["importConnection"]
    );

    let connection = value(&results, "getConnection");
    assert_eq!(
        connection["connection_id"],
        connection_id.as_str(),
        "{connection}"
    );
    assert_eq!(
        connection["provider_config_key"],
        key.as_str(),
        "{connection}"
    );
    assert_eq!(connection["credentials"]["type"], "API_KEY", "{connection}");
    assert_eq!(
        connection["credentials"]["apiKey"],
        api_key.as_str(),
        "{connection}"
    );
    for field in [
        "id",
        "provider",
        "created_at",
        "updated_at",
        "metadata",
        "connection_config",
        "errors",
        "end_user",
    ] {
        assert!(
            connection.get(field).is_some(),
            "getConnection lacks {field}: {connection}"
        );
    }

    let all = value(&results, "listConnections")["connections"]
        .as_array()
        .expect("connections array")
        .clone();
    assert!(
        all.iter()
            .any(|c| c["connection_id"] == connection_id.as_str()),
        "{all:?}"
    );
    let of_user = value(&results, "listConnectionsOfUser")["connections"]
        .as_array()
        .expect("connections array")
        .clone();
    assert_eq!(of_user.len(), 1, "{of_user:?}");
    assert_eq!(of_user[0]["connection_id"], connection_id.as_str());

    let post = value(&results, "proxyPost");
    assert_eq!(post["status"], 200, "{post}");
    assert_eq!(post["data"]["method"], "POST", "{post}");
    assert_eq!(
        post["data"]["json"],
        json!({ "hello": "world", "n": [1, 2] }),
        "{post}"
    );
    assert_eq!(post["data"]["headers"]["X-Custom"], "from-nango", "{post}");
    assert_eq!(
        post["data"]["headers"]["Authorization"],
        format!("Bearer {api_key}").as_str(),
        "{post}"
    );
    let get = value(&results, "proxyGet");
    assert_eq!(get["status"], 200, "{get}");
    assert_eq!(get["data"]["args"]["page"], "2", "{get}");

    assert_failed(&results, "getUnknownConnection", 404, "unknown_connection");
    let deleted = value(&results, "deleteConnection");
    assert_eq!(deleted["status"], 200, "{deleted}");
    assert_failed(&results, "getDeletedConnection", 404, "unknown_connection");
    let deleted = value(&results, "deleteIntegration");
    assert_eq!(deleted["status"], 200, "{deleted}");
    assert_failed(
        &results,
        "getDeletedIntegration",
        404,
        "unknown_integration",
    );
}
