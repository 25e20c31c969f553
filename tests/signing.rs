//! The request-signing modes end to end: connections of `aws_sigv4` and
//! `signature` providers created through `POST /connections` and the
//! connect form, then proxied requests that a Python upstream verifies
//! (botocore's SigV4Auth for SigV4, Python's hmac for the HMAC schemes).
//!
//! The upstream is `tests/peers/signing_upstream.py`. Two run: the second
//! expects a session token. HTTP Message Signatures (RFC 9421) with Ed25519
//! go to `tests/peers/http_signature_peer.py`, which verifies them with the
//! `cryptography` package.

mod support;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::html_form::form_for;
use support::latchkey::{
    assert_error, no_redirect_client, send, Api, CatalogDir, CatalogServer, Reply,
};
use support::oauth_flow::connection_id_from_page;
use support::peers::peers_dir;
use support::process::{free_port, random_hex, ChildGuard};
use support::provider_file;

const ACCESS_KEY_ID: &str = "AKIDLATCHKEYTEST";
const SECRET_ACCESS_KEY: &str = "test/secret+access/key";
const SESSION_TOKEN: &str = "session-token-for-the-test";
const SERVICE: &str = "execute-api";
const REGION: &str = "eu-west-3";
const HMAC_KEY_ID: &str = "key-id-1";
const HMAC_SECRET: &str = "hmac-secret-1";
const ED25519_KEY_ID: &str = "slak_test_key_1";

/// The private key of RFC 8032 section 7.1 test 1 in PKCS#8 form: the key
/// that `http_signature_peer.py` verifies with.
const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
-----END PRIVATE KEY-----
";

/// The private key of RFC 8032 section 7.1 test 2, which the peer does not
/// accept.
const OTHER_ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7
-----END PRIVATE KEY-----
";

/// One `signing_upstream.py` process on a free port.
struct SigningUpstream {
    base_url: String,
    _process: ChildGuard,
    _logs: TempDir,
}

impl SigningUpstream {
    fn start(session_token: Option<&str>) -> SigningUpstream {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: run scripts/test.sh"
        );
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("signing_upstream.py"))
            .args(["--port", &port.to_string()])
            .args(["--access-key-id", ACCESS_KEY_ID])
            .args(["--secret-access-key", SECRET_ACCESS_KEY])
            .args(["--service", SERVICE, "--region", REGION])
            .args(["--hmac-key-id", HMAC_KEY_ID, "--hmac-secret", HMAC_SECRET])
            .stdout(Stdio::null());
        if let Some(token) = session_token {
            command.args(["--session-token", token]);
        }
        let mut process =
            ChildGuard::spawn("signing upstream", command, &logs.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        SigningUpstream {
            base_url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _logs: logs,
        }
    }
}

/// One `http_signature_peer.py` process on a free port.
struct HttpSignaturePeer {
    base_url: String,
    _process: ChildGuard,
    _files: TempDir,
}

impl HttpSignaturePeer {
    fn start() -> HttpSignaturePeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: run scripts/test.sh"
        );
        let files = TempDir::new().unwrap();
        let key_file = files.path().join("ed25519.pem");
        std::fs::write(&key_file, ED25519_PEM).unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("http_signature_peer.py"))
            .args(["--port", &port.to_string()])
            .args(["--key-id", ED25519_KEY_ID])
            .arg("--private-key")
            .arg(&key_file)
            .stdout(Stdio::null());
        let mut process =
            ChildGuard::spawn("HTTP signature peer", command, &files.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        HttpSignaturePeer {
            base_url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _files: files,
        }
    }
}

struct Env {
    _upstream: SigningUpstream,
    _session_upstream: SigningUpstream,
    _http_signature_peer: HttpSignaturePeer,
    latchkey: CatalogServer,
}

fn aws_provider(name: &str, base_url: &str) -> String {
    let auth = format!("  mode: aws_sigv4\n  service: {SERVICE}\n  region: \"{{{{ region }}}}\"");
    let config =
        "connection_config:\n  region:\n    title: AWS region\n    pattern: \"[a-z0-9-]+\"\n";
    provider_file(name, name, &auth, &format!("{base_url}/aws"), config)
}

fn hmac_provider(base_url: &str) -> String {
    let auth = r#"  mode: signature
  algorithm: hmac_sha256
  string_to_sign: "{{ method }}\n{{ path }}\n{{ query }}\n{{ timestamp }}\n{{ nonce }}\n{{ body }}"
  encoding: hex
  headers:
    X-Key-Id: "{{ username }}"
    X-Timestamp: "{{ timestamp }}"
    X-Nonce: "{{ nonce }}"
    X-Signature: "{{ signature }}""#;
    provider_file(
        "signing-hmac-test",
        "HMAC test",
        auth,
        &format!("{base_url}/hmac"),
        "",
    )
}

/// Returns a provider with Duo's Admin API signature, as the importer writes
/// it for Nango's `cisco-duo-admin`.
fn duo_provider(base_url: &str) -> String {
    let auth = r#"  mode: signature
  algorithm: hmac_sha1
  string_to_sign: "{{ timestamp }}\n{{ method }}\n{{ host }}\n{{ path }}\n{{ sorted_query }}"
  encoding: hex
  timestamp_format: rfc2822
  headers:
    date: "{{ timestamp }}"
    authorization: "Basic {{ (username ~ ':' ~ signature) | base64 }}""#;
    provider_file(
        "signing-duo-test",
        "Duo test",
        auth,
        &format!("{base_url}/duo"),
        "",
    )
}

/// Returns a provider with Emarsys's WSSE header, as the importer writes it
/// for Nango's `emarsys`.
fn wsse_provider(base_url: &str) -> String {
    let auth = r#"  mode: signature
  algorithm: sha1
  string_to_sign: "{{ nonce }}{{ timestamp }}{{ password }}"
  encoding: base64_hex
  timestamp_format: iso8601
  headers:
    x-wsse: 'UsernameToken Username="{{ username }}", PasswordDigest="{{ signature }}", Nonce="{{ nonce }}", Created="{{ timestamp }}"'"#;
    provider_file(
        "signing-wsse-test",
        "WSSE test",
        auth,
        &format!("{base_url}/wsse"),
        "",
    )
}

/// Returns a provider with HTTP Message Signatures (RFC 9421) over the
/// method, the target URI, an RFC 9530 content digest and the content
/// type, signed with Ed25519, as the importer writes it for Nango's
/// `streamline-ai`.
fn ed25519_provider(base_url: &str) -> String {
    let auth = r#"  mode: signature
  algorithm: ed25519
  string_to_sign: "\"@method\": {{ method }}\n\"@target-uri\": {{ target_uri }}\n\"content-digest\": sha-256=:{{ body_sha256_base64 }}:\n\"content-type\": application/json\n\"@signature-params\": (\"@method\" \"@target-uri\" \"content-digest\" \"content-type\");alg=\"ed25519\";created={{ timestamp }};expires={{ now('unix', minutes=1) }};keyid=\"{{ username }}\""
  encoding: base64
  headers:
    authorization: 'Signature keyid="{{ username }}"'
    content-type: application/json
    content-digest: "sha-256=:{{ body_sha256_base64 }}:"
    signature-input: "sig=(\"@method\" \"@target-uri\" \"content-digest\" \"content-type\");alg=\"ed25519\";created={{ timestamp }};expires={{ now('unix', minutes=1) }};keyid=\"{{ username }}\""
    signature: "sig=:{{ signature }}:""#;
    provider_file(
        "signing-ed25519-test",
        "Ed25519 test",
        auth,
        &format!("{base_url}/api"),
        "",
    )
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let upstream = SigningUpstream::start(None);
        let session_upstream = SigningUpstream::start(Some(SESSION_TOKEN));
        let http_signature_peer = HttpSignaturePeer::start();
        let catalog = CatalogDir::new();
        catalog.write(
            "signing-aws-test",
            &aws_provider("signing-aws-test", &upstream.base_url),
        );
        catalog.write(
            "signing-aws-session-test",
            &aws_provider("signing-aws-session-test", &session_upstream.base_url),
        );
        catalog.write("signing-hmac-test", &hmac_provider(&upstream.base_url));
        catalog.write("signing-duo-test", &duo_provider(&upstream.base_url));
        catalog.write("signing-wsse-test", &wsse_provider(&upstream.base_url));
        catalog.write(
            "signing-ed25519-test",
            &ed25519_provider(&http_signature_peer.base_url),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            _upstream: upstream,
            _session_upstream: session_upstream,
            _http_signature_peer: http_signature_peer,
            latchkey,
        }
    })
}

async fn integration(api: &Api, provider: &str) -> String {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({ "unique_key": key, "provider": provider }))
        .await;
    key
}

/// Imports a connection and returns its integration key and id.
async fn import(api: &Api, provider: &str, credentials: Value, config: Value) -> (String, String) {
    let key = integration(api, provider).await;
    let id = format!("conn-{}", random_hex(6));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": id,
        "connection_config": config,
        "credentials": credentials,
    }))
    .await;
    (key, id)
}

fn aws_credentials(secret: &str) -> Value {
    json!({
        "type": "AWS_SIGV4",
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": secret,
    })
}

fn assert_verified(reply: &Reply, check: &str, case: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{case}: {}", reply.text);
    assert_eq!(reply.json()["verified"], check, "{case}: {}", reply.text);
}

#[tokio::test]
async fn aws_get_with_query_verified() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-aws-test",
        aws_credentials(SECRET_ACCESS_KEY),
        json!({ "region": REGION }),
    )
    .await;

    let path = "/items/a%20b/c?b=2&a=1&q=x+y&empty=&tilde=~";
    let reply = send(api.proxy(Method::GET, path, &key, &id)).await;

    assert_verified(&reply, "verify_sigv4", "GET");
    assert_eq!(reply.json()["path"], "/aws/items/a%20b/c", "{}", reply.text);
}

#[tokio::test]
async fn aws_post_json_verified() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-aws-test",
        aws_credentials(SECRET_ACCESS_KEY),
        json!({ "region": REGION }),
    )
    .await;
    let body = json!({ "name": "Ada", "tags": ["x", "y"] });

    let reply = send(api.proxy(Method::POST, "/items", &key, &id).json(&body)).await;

    assert_verified(&reply, "verify_sigv4", "POST");
    let echoed: Value = serde_json::from_str(reply.json()["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed, body);
}

#[tokio::test]
async fn aws_session_token_verified() {
    let api = env().latchkey.server.api();
    let mut credentials = aws_credentials(SECRET_ACCESS_KEY);
    credentials["session_token"] = json!(SESSION_TOKEN);
    let (key, id) = import(
        &api,
        "signing-aws-session-test",
        credentials.clone(),
        json!({ "region": REGION }),
    )
    .await;

    let reply = send(api.proxy(Method::GET, "/items?x=1", &key, &id)).await;
    assert_verified(&reply, "verify_sigv4", "with session token");

    let without = aws_credentials(SECRET_ACCESS_KEY);
    let (key, id) = import(
        &api,
        "signing-aws-session-test",
        without,
        json!({ "region": REGION }),
    )
    .await;
    let reply = send(api.proxy(Method::GET, "/items", &key, &id)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.text.contains("X-Amz-Security-Token"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn aws_connection_in_nango_shape() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-aws-test",
        aws_credentials(SECRET_ACCESS_KEY),
        json!({ "region": REGION }),
    )
    .await;

    let connection = api.connection(&key, &id, None).await;

    let credentials = &connection["credentials"];
    assert_eq!(credentials["type"], "AWS_SIGV4", "{connection}");
    assert_eq!(credentials["access_key_id"], ACCESS_KEY_ID, "{connection}");
    assert_eq!(
        credentials["secret_access_key"], SECRET_ACCESS_KEY,
        "{connection}"
    );
    assert_eq!(connection["connection_config"]["region"], REGION);
}

#[tokio::test]
async fn aws_wrong_secret_returns_upstream_answer() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-aws-test",
        aws_credentials("not-the-secret"),
        json!({ "region": REGION }),
    )
    .await;

    let reply = send(api.proxy(Method::GET, "/items", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("SigV4 signature mismatch"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn aws_missing_secret_rejected() {
    let api = env().latchkey.server.api();
    let key = integration(&api, "signing-aws-test").await;
    let cases = [
        (
            json!({"type": "AWS_SIGV4", "access_key_id": ACCESS_KEY_ID}),
            "credentials.secret_access_key",
        ),
        (
            json!({"type": "AWS_SIGV4", "access_key_id": ACCESS_KEY_ID, "secret_access_key": ""}),
            "credentials.secret_access_key",
        ),
        (
            json!({"type": "AWS_SIGV4", "secret_access_key": "s"}),
            "credentials.access_key_id",
        ),
    ];

    for (credentials, field) in cases {
        let reply = api
            .post(
                "/connections",
                &json!({
                    "provider_config_key": key,
                    "connection_id": format!("conn-{}", random_hex(6)),
                    "connection_config": { "region": REGION },
                    "credentials": credentials,
                }),
            )
            .await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_body", field);
        assert!(reply.error_message().contains(field), "{}", reply.text);
    }
}

#[tokio::test]
async fn aws_connect_form_connects() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "signing-aws-test").await;
    let user = format!("signing-user-{}", random_hex(6));
    let token = api.connect_session(&user, Some(&[key.as_str()])).await;
    let url = env.latchkey.server.url(&format!(
        "/connect/{key}/aws-sigv4?connect_session_token={token}"
    ));
    let client = reqwest::Client::new();

    let missing = client
        .post(&url)
        .json(&json!({ "access_key_id": ACCESS_KEY_ID, "connection_config": { "region": REGION } }))
        .send()
        .await
        .unwrap();
    let missing = Reply::read(missing).await;
    assert_error(
        &missing,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "no secret",
    );
    assert!(
        missing.error_message().contains("`secret_access_key`"),
        "{}",
        missing.text
    );

    let reply = client
        .post(&url)
        .form(&[
            ("access_key_id", ACCESS_KEY_ID),
            ("secret_access_key", SECRET_ACCESS_KEY),
            ("session_token", ""),
            ("params[region]", REGION),
        ])
        .send()
        .await
        .unwrap();
    let reply = Reply::read(reply).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let connections = api.connections_of(&user).await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    let id = connections[0]["connection_id"].as_str().unwrap().to_owned();
    let proxied = send(api.proxy(Method::GET, "/items", &key, &id)).await;
    assert_verified(&proxied, "verify_sigv4", "form connection");
}

#[tokio::test]
async fn hmac_get_and_post_verified() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-hmac-test",
        json!({ "type": "SIGNATURE", "username": HMAC_KEY_ID, "password": HMAC_SECRET }),
        json!({}),
    )
    .await;

    let get = send(api.proxy(Method::GET, "/orders?limit=5&from=a%2Fb", &key, &id)).await;
    assert_verified(&get, "verify_hmac", "GET");
    assert_eq!(get.json()["query"], "limit=5&from=a%2Fb", "{}", get.text);

    let body = json!({ "side": "buy", "qty": 2 });
    let post = send(api.proxy(Method::POST, "/orders", &key, &id).json(&body)).await;
    assert_verified(&post, "verify_hmac", "POST");
}

#[tokio::test]
async fn hmac_wrong_secret_returns_upstream_answer() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-hmac-test",
        json!({ "type": "SIGNATURE", "username": HMAC_KEY_ID, "password": "wrong" }),
        json!({}),
    )
    .await;

    let reply = send(api.proxy(Method::GET, "/orders", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(reply.json()["message"], "HMAC signature mismatch");
}

#[tokio::test]
async fn unknown_credential_fields_rejected() {
    let api = env().latchkey.server.api();
    let cases = [
        (
            "signing-aws-test",
            json!({"type": "AWS_SIGV4", "access_key_id": ACCESS_KEY_ID, "secret_access_key": "s", "bogus": 1}),
            "`credentials.access_key_id`, `credentials.secret_access_key`, `credentials.session_token`",
            json!({ "region": REGION }),
        ),
        (
            "signing-hmac-test",
            json!({"type": "SIGNATURE", "username": HMAC_KEY_ID, "password": HMAC_SECRET, "bogus": 1}),
            "`credentials.username`, `credentials.password`",
            json!({}),
        ),
    ];
    for (provider, credentials, takes, config) in cases {
        let key = integration(&api, provider).await;
        let id = format!("conn-{}", random_hex(6));

        let reply = api
            .post(
                "/connections",
                &json!({
                    "provider_config_key": key,
                    "connection_id": id,
                    "connection_config": config,
                    "credentials": credentials,
                }),
            )
            .await;

        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            provider,
        );
        let message = reply.error_message();
        assert!(
            message.contains("unknown field `credentials.bogus`"),
            "{provider}: {message}"
        );
        assert!(message.contains(takes), "{provider}: {message}");
        let stored = api.connection_reply(&key, &id, None).await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{provider}: {}",
            stored.text
        );
    }
}

#[tokio::test]
async fn hmac_missing_password_rejected() {
    let api = env().latchkey.server.api();
    let key = integration(&api, "signing-hmac-test").await;

    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": format!("conn-{}", random_hex(6)),
                "credentials": { "type": "SIGNATURE", "username": HMAC_KEY_ID },
            }),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "no password",
    );
    assert!(
        reply.error_message().contains("`credentials.password`"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn duo_signature_verified() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-duo-test",
        json!({ "type": "SIGNATURE", "username": HMAC_KEY_ID, "password": HMAC_SECRET }),
        json!({}),
    )
    .await;

    let cases = [
        (Method::GET, "/admin/v1/users", "no query"),
        (
            Method::GET,
            "/admin/v1/users?username=root&limit=10&email=a%40b.example&name=A+B",
            "unsorted query",
        ),
        (Method::DELETE, "/admin/v1/users/DU123", "delete"),
    ];
    for (method, path, case) in cases {
        let reply = send(api.proxy(method, path, &key, &id)).await;
        assert_verified(&reply, "verify_duo", case);
    }
}

#[tokio::test]
async fn duo_wrong_secret_rejected_upstream() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-duo-test",
        json!({ "type": "SIGNATURE", "username": HMAC_KEY_ID, "password": "wrong" }),
        json!({}),
    )
    .await;

    let reply = send(api.proxy(Method::GET, "/admin/v1/users", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("Duo signature mismatch"), "{message}");
}

#[tokio::test]
async fn wsse_digest_verified() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-wsse-test",
        json!({ "type": "SIGNATURE", "username": HMAC_KEY_ID, "password": HMAC_SECRET }),
        json!({}),
    )
    .await;

    for path in ["/api/v2/settings", "/api/v2/contact?limit=1"] {
        let reply = send(api.proxy(Method::GET, path, &key, &id)).await;
        assert_verified(&reply, "verify_wsse", path);
    }
    let (key, id) = import(
        &api,
        "signing-wsse-test",
        json!({ "type": "SIGNATURE", "username": HMAC_KEY_ID, "password": "wrong" }),
        json!({}),
    )
    .await;
    let reply = send(api.proxy(Method::GET, "/api/v2/settings", &key, &id)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(reply.json()["message"], "WSSE PasswordDigest mismatch");
}

fn ed25519_credentials(pem: &str) -> Value {
    json!({ "type": "SIGNATURE", "username": ED25519_KEY_ID, "password": pem })
}

#[tokio::test]
async fn ed25519_message_signature_verified() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-ed25519-test",
        ed25519_credentials(ED25519_PEM),
        json!({}),
    )
    .await;

    // (method, path and query, body)
    let cases = [
        (Method::GET, "/v0/request-forms", None),
        (Method::GET, "/v0/requests?status=open&page=2", None),
        (
            Method::POST,
            "/v0/requests",
            Some(json!({"requestFormId": "requestform_1", "status": "submitted"})),
        ),
        (
            Method::PATCH,
            "/v0/requests/r%201",
            Some(json!({"note": "ü"})),
        ),
    ];
    for (method, path, body) in cases {
        let mut request = api.proxy(method.clone(), path, &key, &id);
        if let Some(body) = &body {
            request = request.json(body);
        }

        let reply = send(request).await;

        let case = format!("{method} {path}");
        assert_eq!(reply.status, StatusCode::OK, "{case}: {}", reply.text);
        let echoed = reply.json();
        assert_eq!(echoed["verified"], true, "{case}");
        let target = echoed["target_uri"].as_str().unwrap();
        assert!(target.ends_with(&format!("/api{path}")), "{case}: {target}");
    }
}

#[tokio::test]
async fn ed25519_other_key_rejected_upstream() {
    let api = env().latchkey.server.api();
    let (key, id) = import(
        &api,
        "signing-ed25519-test",
        ed25519_credentials(OTHER_ED25519_PEM),
        json!({}),
    )
    .await;

    let reply = send(api.proxy(Method::GET, "/v0/request-forms", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("Ed25519 signature mismatch"),
        "{message}"
    );
}

#[tokio::test]
async fn ed25519_invalid_key_rejected() {
    let api = env().latchkey.server.api();
    let key = integration(&api, "signing-ed25519-test").await;
    let not_pem = format!("not-a-key-{}", random_hex(6));
    let public_key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
    // (case, password, expected message part)
    let cases = [
        (
            "not PEM",
            not_pem.as_str(),
            "is not a PEM `PRIVATE KEY` block",
        ),
        ("public key", public_key, "is not a PEM `PRIVATE KEY` block"),
        (
            "PEM with a broken body",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----\n",
            "is not an Ed25519 key in PKCS#8 form",
        ),
    ];
    for (case, password, expected) in cases {
        let id = format!("conn-{}", random_hex(6));
        let reply = api
            .post(
                "/connections",
                &json!({
                    "provider_config_key": key,
                    "connection_id": id,
                    "credentials": ed25519_credentials(password),
                }),
            )
            .await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_credentials", case);
        let message = reply.error_message();
        assert!(
            message.starts_with("`credentials.password` "),
            "{case}: {message}"
        );
        assert!(message.contains(expected), "{case}: {message}");
        assert!(message.contains("BEGIN PRIVATE KEY"), "{case}: {message}");
        assert!(!reply.text.contains("MC4CAQAw"), "{case}: {}", reply.text);
        let stored = api.connection_reply(&key, &id, None).await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{case}: {}",
            stored.text
        );
    }
    assert!(!env().latchkey.server.logs().contains(&not_pem));
}

#[tokio::test]
async fn ed25519_connect_form_takes_pem() {
    let api = env().latchkey.server.api();
    let key = integration(&api, "signing-ed25519-test").await;
    let user = format!("signing-user-{}", random_hex(6));
    let reply = api
        .post(
            "/connect/sessions",
            &json!({ "end_user": { "id": user }, "allowed_integrations": [key] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let link = reply.json()["data"]["connect_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let page_url = url::Url::parse(&link).unwrap();
    let page = Reply::read(
        no_redirect_client()
            .get(page_url.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let form = form_for(&page.text, &key).expect("a form for the integration");

    let password = form.input("password").expect("a password field");
    assert_eq!(password.name, "textarea", "{}", form.inner_html);
    let username = form.input("username").expect("a username field");
    assert_eq!(username.name, "input", "{}", form.inner_html);

    let reply = form
        .submit(
            &page_url,
            &[("username", ED25519_KEY_ID), ("password", ED25519_PEM)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let id = connection_id_from_page(&reply.text)
        .unwrap_or_else(|| panic!("no data-connection-id in {}", reply.text));
    let proxied = send(api.proxy(Method::GET, "/v0/request-forms", &key, &id)).await;
    assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text);
    assert_eq!(proxied.json()["verified"], true, "{}", proxied.text);
}
