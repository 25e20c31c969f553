//! A `two_step` provider whose token request and proxied requests carry a
//! signature over a fresh request id, the request time and the request
//! path, in the form the importer writes for Nango's `avanan`. The token
//! endpoint and the API are `tests/peers/avanan_peer.py`, which recomputes
//! each signature and rejects a wrong one or a reused request id.

mod support;

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, send, CatalogDir, CatalogServer, Reply};
use support::peers::peers_dir;
use support::process::{free_port, random_hex, ChildGuard};
use support::{credential, provider_file};

// The values avanan_peer.py accepts.
const APP_ID: &str = "app0test7";
const SECRET_KEY: &str = "secretkey0test9";

/// The date format of `x-av-date`.
const AV_DATE: &str = "now('%Y-%m-%dT%H:%M:%S')";

/// One `avanan_peer.py` process on a free port.
struct AvananPeer {
    base_url: String,
    _process: ChildGuard,
    _logs: TempDir,
}

impl AvananPeer {
    fn start() -> AvananPeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: run scripts/test.sh"
        );
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("avanan_peer.py"))
            .args(["--port", &port.to_string()])
            .args(["--app-id", APP_ID, "--secret-key", SECRET_KEY]);
        let mut process = ChildGuard::spawn("avanan peer", command, &logs.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        AvananPeer {
            base_url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _logs: logs,
        }
    }

    async fn stats(&self) -> Value {
        let url = format!("{}/stats", self.base_url);
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}

struct Env {
    peer: AvananPeer,
    latchkey: CatalogServer,
}

/// Returns the provider as the importer converts Nango's `avanan`, with the
/// peer's URL in place of the regional hosts.
fn signed_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    appId: {{title: App ID, pattern: "^[a-z0-9]+$"}}
    secretKey: {{title: Secret key, secret: true, pattern: "^[a-z0-9]+$"}}
  token_request:
    url: "{base}/v1.0/auth"
    method: GET
    headers:
      x-av-app-id: "{{{{ appId }}}}"
      x-av-req-id: "{{{{ random_uuid }}}}"
      x-av-date: "{{{{ {AV_DATE} }}}}"
      x-av-sig: "{{{{ ((random_uuid ~ appId ~ {AV_DATE} ~ secretKey) | base64) | sha256_hex }}}}"
  token_response:
    body: token
    default_expires_in: 3600
  inject:
    name: x-av-token
    value: "{{{{ access_token }}}}""#
    );
    let proxy_headers = format!(
        r#"  headers:
    x-av-app-id: "{{{{ appId }}}}"
    x-av-req-id: "{{{{ random_uuid }}}}"
    x-av-date: "{{{{ {AV_DATE} }}}}"
    x-av-sig: "{{{{ ((random_uuid ~ appId ~ {AV_DATE} ~ request_path ~ secretKey) | base64) | sha256_hex }}}}"
"#
    );
    provider_file(
        "test-signed-two-step",
        "Signed two-step",
        &auth,
        base,
        &proxy_headers,
    )
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let peer = AvananPeer::start();
        let catalog = CatalogDir::new();
        catalog.write("test-signed-two-step", &signed_provider(&peer.base_url));
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { peer, latchkey }
    })
}

/// Creates a connection with `secret_key` and returns the reply.
async fn connect(secret_key: &str) -> (String, String, Reply) {
    let api = env().latchkey.server.api();
    let key = api.integration_of("test-signed-two-step").await;
    let id = format!("conn-{}", random_hex(6));
    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": id,
                "credentials": {"type": "TWO_STEP", "appId": APP_ID, "secretKey": secret_key},
            }),
        )
        .await;
    (key, id, reply)
}

#[tokio::test]
async fn signed_token_request_accepted() {
    let env = env();
    let issued_before = env.peer.stats().await["issued"].as_u64().unwrap();

    let (_, _, reply) = connect(SECRET_KEY).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let created = reply.json();
    let token = credential(&created, "token");
    assert_eq!(token.len(), 32, "{token}");
    assert!(
        created["credentials"]["expires_at"].is_string(),
        "{created}"
    );
    // Other tests of this file connect at the same time, so the count may
    // grow by more than one.
    let issued_after = env.peer.stats().await["issued"].as_u64().unwrap();
    assert!(issued_after > issued_before, "{issued_after}");
}

#[tokio::test]
async fn signed_proxy_requests_verified() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, id, created) = connect(SECRET_KEY).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    // (method, path and query, body, path the peer must see signed)
    let cases = [
        (Method::GET, "/v1.0/event/query", None, "/v1.0/event/query"),
        (
            Method::GET,
            "/v1.0/search/query?scope=all&limit=5",
            None,
            "/v1.0/search/query",
        ),
        (
            Method::POST,
            "/v1.0/action/mail",
            Some(json!({"requestData": {"entityIds": ["a1"]}})),
            "/v1.0/action/mail",
        ),
        (Method::GET, "/v1.0/users/a%20b", None, "/v1.0/users/a%20b"),
    ];
    let mut request_ids = Vec::new();
    for (method, path, body, signed_path) in cases {
        let mut request = api.proxy(method.clone(), path, &key, &id);
        if let Some(body) = &body {
            request = request.json(body);
        }

        let reply = send(request).await;

        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{method} {path}: {}",
            reply.text
        );
        let echoed = reply.json();
        assert_eq!(echoed["verified"], true, "{path}");
        assert_eq!(echoed["path"], signed_path, "{path}");
        request_ids.push(echoed["request_id"].as_str().unwrap().to_owned());
    }
    let mut distinct = request_ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), request_ids.len(), "{request_ids:?}");
}

#[tokio::test]
async fn wrong_secret_key_rejected_at_login() {
    let wrong = format!("wrong{}", random_hex(6));

    let (key, id, reply) = connect(&wrong).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "wrong secret key",
    );
    let message = reply.error_message();
    assert!(message.contains("HTTP 403"), "{message}");
    assert!(message.contains("x-av-sig mismatch"), "{message}");
    assert!(!reply.text.contains(&wrong), "{}", reply.text);
    let api = env().latchkey.server.api();
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
}
