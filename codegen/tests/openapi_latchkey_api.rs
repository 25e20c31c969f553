//! Keeps the Latchkey API document in step with the server's router: every
//! route in `server/src/routes/mod.rs` must be documented with its methods,
//! and every documented operation must reach a handler of the real router
//! (anything but the router's own `not_found` 404 or 405).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use latchkey_codegen::openapi::latchkey_api_document;
use latchkey_server::keys::{load_or_generate, KeyOverrides};
use latchkey_server::{Server, ServerConfig};
use tower::ServiceExt;

const SECRET_KEY: &str = "openapi-test-secret";

fn documented_operations() -> BTreeMap<String, BTreeSet<String>> {
    let text = latchkey_api_document("0.1.0").unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let methods: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| {
                !matches!(
                    key.as_str(),
                    "parameters" | "servers" | "summary" | "description"
                )
            })
            .cloned()
            .collect();
        operations.insert(path.clone(), methods);
    }
    operations
}

/// Reads the `.route("PATH", METHOD(handler).METHOD(handler))` calls of
/// the router's source. `{*rest}` becomes `{rest}`, OpenAPI's notation,
/// and `any` becomes the methods the document lists for a pass-through.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/src/routes/mod.rs");
    let source = std::fs::read_to_string(path).unwrap();
    let mut routes = BTreeMap::new();
    for call in source.split(".route(").skip(1) {
        let call = call.trim_start();
        let Some(rest) = call.strip_prefix('"') else {
            continue;
        };
        let (route, rest) = rest.split_once('"').unwrap();
        // The handlers end where the router chain goes on with something
        // other than a route.
        let end = [".route_layer(", ".merge(", ".fallback(", ";"]
            .iter()
            .filter_map(|marker| rest.find(marker))
            .min()
            .unwrap_or(rest.len());
        let handlers = &rest[..end];
        let mut methods = BTreeSet::new();
        for method in [
            "get", "post", "put", "patch", "delete", "head", "options", "trace",
        ] {
            let plain = format!("{method}(");
            let chained = format!(".{method}(");
            let starts = handlers
                .trim_start_matches([',', ' ', '\n'])
                .starts_with(&plain);
            if starts || handlers.contains(&chained) {
                methods.insert(method.to_owned());
            }
        }
        if handlers
            .trim_start_matches([',', ' ', '\n'])
            .starts_with("any(")
        {
            // `any(...)` routes all methods, but the proxy rejects TRACE
            // with 405 and the document leaves it out.
            for method in ["get", "put", "post", "delete", "options", "head", "patch"] {
                methods.insert(method.to_owned());
            }
        }
        assert!(!methods.is_empty(), "no method found for route `{route}`");
        routes.insert(route.replace("{*", "{"), methods);
    }
    assert!(
        routes.len() >= 10,
        "only {} routes read from {path}",
        routes.len()
    );
    routes
}

#[test]
fn document_matches_router_source() {
    let documented = documented_operations();
    let routed = router_routes();
    for (route, methods) in &routed {
        let Some(documented_methods) = documented.get(route) else {
            panic!("route `{route}` of the router is not in the OpenAPI document");
        };
        assert_eq!(documented_methods, methods, "methods of `{route}`");
    }
    for path in documented.keys() {
        assert!(
            routed.contains_key(path),
            "documented path `{path}` is not routed"
        );
    }
}

/// Fills each path parameter with a value that passes the handlers' syntax
/// checks, so a request reaches its handler.
fn concrete_path(template: &str) -> String {
    template
        .replace("{name}", "github")
        .replace("{unique_key}", "no-such-integration")
        .replace("{connection_id}", "no-such-connection")
        .replace("{mode}", "api-key")
        .replace("{path}", "v1/items")
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = KeyOverrides {
        secret_key: Some(SECRET_KEY.to_owned()),
        encryption_key: None,
    };
    let keys = load_or_generate(dir.path(), &overrides).unwrap();
    let config = ServerConfig {
        providers: Vec::new(),
        public_url: "http://127.0.0.1:3003".to_owned(),
        connect_session_ttl: Duration::from_secs(600),
        oauth_state_ttl: Duration::from_secs(600),
        tls: Default::default(),
    };
    let router = Server::open(dir.path(), &keys, config).unwrap().router();

    let mut checked = 0;
    for (path, methods) in documented_operations() {
        for method in methods {
            let uri = concrete_path(&path);
            let request = Request::builder()
                .method(Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap())
                .uri(&uri)
                .header("authorization", format!("Bearer {SECRET_KEY}"))
                .header("accept", "application/json")
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let context = format!(
                "{method} {uri}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{context}");
            if status == StatusCode::NOT_FOUND {
                let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_ne!(error["error"]["code"], "not_found", "{context}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations checked");
}
