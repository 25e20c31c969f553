//! TLS client certificates end to end: a provider with
//! `require_client_certificate` whose token endpoint and API are served by
//! `tests/peers/mtls_peer.py`, an HTTPS server on 127.0.0.1 that completes
//! the handshake only with a client certificate its private authority
//! signed. Latchkey trusts that authority through `--extra-ca-file`.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, run_cli, send, Api, CatalogDir, CatalogServer};
use support::peers::peers_dir;
use support::process::{free_port, random_hex, ChildGuard};
use support::provider_file;

const CLIENT_ID: &str = "mtls-client";
const CLIENT_SECRET: &str = "mtls-client-secret";
/// The common name of the client certificate that the peer's authority
/// signed.
const CLIENT_COMMON_NAME: &str = "latchkey-mtls-client";

/// One `mtls_peer.py` process and the PEM files it wrote.
struct MtlsPeer {
    base_url: String,
    files: TempDir,
    _process: ChildGuard,
    _logs: TempDir,
}

impl MtlsPeer {
    fn start() -> MtlsPeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: run scripts/test.sh"
        );
        let files = TempDir::new().unwrap();
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("mtls_peer.py"))
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(files.path())
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("mTLS peer", command, &logs.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        MtlsPeer {
            base_url: format!("https://127.0.0.1:{port}"),
            files,
            _process: process,
            _logs: logs,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

struct Env {
    peer: MtlsPeer,
    latchkey: CatalogServer,
}

/// Returns a client-credentials provider served by the peer.
fn provider(name: &str, base_url: &str, require_client_certificate: bool) -> String {
    let mut auth = format!("  mode: oauth2_client_credentials\n  token_url: \"{base_url}/token\"");
    if require_client_certificate {
        auth.push_str("\n  require_client_certificate: true");
    }
    provider_file(name, name, &auth, &format!("{base_url}/api"), "")
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let peer = MtlsPeer::start();
        let catalog = CatalogDir::new();
        catalog.write("mtls-test", &provider("mtls-test", &peer.base_url, true));
        catalog.write(
            "mtls-plain-test",
            &provider("mtls-plain-test", &peer.base_url, false),
        );
        let ca_file = peer.path("ca.pem");
        let latchkey =
            CatalogServer::start(catalog, &["--extra-ca-file", ca_file.to_str().unwrap()]);
        Env { peer, latchkey }
    })
}

/// Creates an integration of `provider` with the peer's client credentials
/// and returns its unique key.
async fn integration(api: &Api, provider: &str) -> String {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": provider,
        "credentials": {
            "type": "OAUTH2_CC",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    }))
    .await;
    key
}

fn connection_body(key: &str, credentials: Value) -> Value {
    json!({
        "provider_config_key": key,
        "connection_id": format!("mtls-{}", random_hex(4)),
        "credentials": credentials,
    })
}

fn identity_credentials(certificate: &str, private_key: &str) -> Value {
    json!({
        "type": "OAUTH2_CC",
        "client_certificate": certificate,
        "client_private_key": private_key,
    })
}

#[tokio::test]
async fn token_and_proxy_present_certificate() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "mtls-test").await;
    let certificate = env.peer.pem("client-cert.pem");
    let private_key = env.peer.pem("client-key.pem");

    let created = api
        .create_connection(&connection_body(
            &key,
            identity_credentials(&certificate, &private_key),
        ))
        .await;
    let connection_id = created["connection_id"].as_str().unwrap().to_owned();

    let stored = api
        .get(&format!(
            "/connections/{connection_id}?provider_config_key={key}"
        ))
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    let credentials = &stored.json()["credentials"];
    assert_eq!(credentials["type"], "OAUTH2_CC");
    assert!(
        credentials["token"]
            .as_str()
            .is_some_and(|token| token.starts_with("mtls-token-")),
        "{credentials}"
    );
    assert_eq!(credentials["client_certificate"], certificate.trim());
    assert_eq!(credentials["client_private_key"], private_key.trim());

    let proxied = send(
        api.request(Method::GET, "/proxy/records/7")
            .header("Provider-Config-Key", &key)
            .header("Connection-Id", &connection_id),
    )
    .await;
    assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text);
    let echoed = proxied.json();
    assert_eq!(echoed["client_common_name"], CLIENT_COMMON_NAME);
    assert_eq!(echoed["path"], "/api/records/7");
    assert_eq!(echoed["method"], "GET");

    // A renewal runs the grant again, over a handshake with the same
    // certificate, or the peer would end it.
    let refreshed = api
        .get(&format!(
            "/connections/{connection_id}?provider_config_key={key}&force_refresh=true"
        ))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let renewed = refreshed.json()["credentials"].clone();
    assert!(
        renewed["token"]
            .as_str()
            .is_some_and(|token| token.starts_with("mtls-token-")),
        "{renewed}"
    );
    assert_ne!(renewed["token"], credentials["token"]);
    assert_eq!(renewed["client_certificate"], certificate.trim());

    let logs = env.latchkey.server.logs();
    let key_body = private_key.lines().nth(1).unwrap();
    assert!(
        !logs.contains(key_body),
        "the server log shows the private key"
    );
}

#[tokio::test]
async fn invalid_identity_rejected_with_field() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "mtls-test").await;
    let certificate = env.peer.pem("client-cert.pem");
    let private_key = env.peer.pem("client-key.pem");
    let other_key = env.peer.pem("other-key.pem");

    let cases = [
        (
            "missing certificate",
            json!({ "type": "OAUTH2_CC", "client_private_key": private_key }),
            "missing field `credentials.client_certificate`",
        ),
        (
            "missing key",
            json!({ "type": "OAUTH2_CC", "client_certificate": certificate }),
            "missing field `credentials.client_private_key`",
        ),
        (
            "empty key",
            identity_credentials(&certificate, "  "),
            "missing field `credentials.client_private_key`",
        ),
        (
            "certificate not PEM",
            identity_credentials("MIIB not pem", &private_key),
            "`credentials.client_certificate` is not a PEM certificate",
        ),
        (
            "key not PEM",
            identity_credentials(&certificate, "-----BEGIN PRIVATE KEY-----\nAAAA"),
            "`credentials.client_private_key` is not a PEM private key",
        ),
        (
            "key of another pair",
            identity_credentials(&certificate, &other_key),
            "`credentials.client_private_key` does not match the public key of `credentials.client_certificate`",
        ),
    ];
    for (case, credentials, expected) in cases {
        let body = connection_body(&key, credentials);
        let connection_id = body["connection_id"].as_str().unwrap().to_owned();

        let reply = api.post("/connections", &body).await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_credentials", case);
        let message = reply.error_message();
        assert!(message.contains(expected), "{case}: {message}");
        assert!(
            !message.contains(private_key.lines().nth(1).unwrap()),
            "{case}: the error shows the private key"
        );
        let stored = api
            .get(&format!(
                "/connections/{connection_id}?provider_config_key={key}"
            ))
            .await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{case}: {}",
            stored.text
        );
    }
}

#[tokio::test]
async fn untrusted_certificate_fails_handshake() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "mtls-test").await;
    let credentials = identity_credentials(
        &env.peer.pem("stranger-cert.pem"),
        &env.peer.pem("stranger-key.pem"),
    );

    let reply = api
        .post("/connections", &connection_body(&key, credentials))
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "certificate the peer's authority did not sign",
    );
}

#[tokio::test]
async fn provider_without_mtls_rejects_certificate() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "mtls-plain-test").await;
    let credentials = identity_credentials(
        &env.peer.pem("client-cert.pem"),
        &env.peer.pem("client-key.pem"),
    );

    let reply = api
        .post("/connections", &connection_body(&key, credentials))
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "certificate for a provider without mTLS",
    );
    let message = reply.error_message();
    assert!(
        message.contains("does not use a TLS client certificate"),
        "{message}"
    );
    assert!(
        message.contains("`credentials.client_certificate`"),
        "{message}"
    );

    // Without a certificate, the peer ends the handshake.
    let reply = api
        .post(
            "/connections",
            &connection_body(&key, json!({ "type": "OAUTH2_CC" })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "no client certificate",
    );
}

#[test]
fn extra_ca_file_errors_name_file() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let missing = std::env::temp_dir().join(format!("latchkey-missing-{}.pem", random_hex(6)));
    let damaged = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        damaged.path(),
        "-----BEGIN CERTIFICATE-----\nMIIBbadbadbadbad\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let cases = [
        (
            "file without certificates",
            empty.path().to_path_buf(),
            "contains no PEM certificate",
        ),
        ("missing file", missing, "cannot read --extra-ca-file"),
        (
            "damaged certificate",
            damaged.path().to_path_buf(),
            "holds a certificate that cannot be used as a root",
        ),
    ];
    for (case, path, expected) in cases {
        let data_dir = TempDir::new().unwrap();
        let output = run_cli(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "--extra-ca-file",
            path.to_str().unwrap(),
        ]);

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: the server started");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert!(
            stderr.contains(path.to_str().unwrap()),
            "{case}: the error does not name the file: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(data_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{case}: files left in the data directory");
    }
}
