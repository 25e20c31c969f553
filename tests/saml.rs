//! SAML 2.0 bearer assertions (`auth.assertion` of the `two_step` mode) end
//! to end. Connections are created with `POST /connections`. Latchkey
//! signs the assertion, and `tests/peers/saml_peer.py`, a token endpoint in
//! the shape of SAP SuccessFactors', verifies it with signxml against its
//! own certificate before it issues a token.
//!
//! One peer and one Latchkey server serve every test of this file.

mod support;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, send, Api, CatalogDir, CatalogServer, Reply};
use support::peers::peers_dir;
use support::process::{free_port, random_hex, ChildGuard};
use support::{credential, provider_file};

/// The audience that the peer requires, SuccessFactors' own.
const AUDIENCE: &str = "www.successfactors.com";
const LIFETIME_SECONDS: u64 = 600;

/// The SuccessFactors shape with the peer's audience.
const SAML: &str = "test-saml";
/// Like `SAML`, but with an audience that the peer rejects.
const WRONG_AUDIENCE: &str = "test-saml-wrong-audience";

/// One `saml_peer.py` process on a free port.
struct SamlPeer {
    base_url: String,
    keys: TempDir,
    _process: ChildGuard,
}

impl SamlPeer {
    fn start() -> SamlPeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: run scripts/test.sh"
        );
        let keys = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("saml_peer.py"))
            .args(["--port", &port.to_string(), "--audience", AUDIENCE])
            .arg("--key-dir")
            .arg(keys.path())
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("SAML peer", command, &keys.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        SamlPeer {
            base_url: format!("http://127.0.0.1:{port}"),
            keys,
            _process: process,
        }
    }

    /// Returns a PEM private key that the peer wrote: `key.pem` (PKCS#8),
    /// `key-pkcs1.pem` (PKCS#1) or `other.pem`, which its certificate does
    /// not match.
    fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.keys.path().join(name)).unwrap()
    }

    /// Returns the peer's counters (`token_requests`, `tokens_issued`,
    /// `assertions_rejected`, `api_calls`).
    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/stats", self.base_url))
            .await
            .expect("GET /stats of the SAML peer")
            .json()
            .await
            .expect("JSON stats")
    }
}

struct Env {
    peer: SamlPeer,
    latchkey: CatalogServer,
}

/// Returns the auth section of SAP SuccessFactors' definition, as the
/// importer writes it, with the token endpoint at `base` and `audience`.
fn success_factors_auth(base: &str, audience: &str) -> String {
    format!(
        r#"  mode: two_step
  credentials:
    apiKey: {{ title: API key, secret: true }}
    userName: {{ title: User name }}
    privateKey: {{ title: Private key, secret: true }}
  assertion:
    type: saml2
    issuer: www.successfactors.com
    audience: {audience}
    recipient: "{base}/oauth/token"
    name_id: "{{{{ userName }}}}"
    attributes:
      api_key: "{{{{ apiKey }}}}"
      use_username: "true"
      external_user: "false"
    signing_key: "{{{{ privateKey }}}}"
    lifetime_seconds: {LIFETIME_SECONDS}
  token_request:
    url: "{base}/oauth/token"
    params:
      company_id: "{{{{ companyId }}}}"
      client_id: "{{{{ apiKey }}}}"
      grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer
      assertion: "{{{{ assertion }}}}"
      new_token: "true"
  token_response:
    access_token: access_token
    expires_in: expires_in"#
    )
}

const COMPANY_CONFIG: &str =
    "connection_config:\n  companyId:\n    title: Company ID\n    pattern: \"[A-Za-z0-9]+\"\n";

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let peer = SamlPeer::start();
        let catalog = CatalogDir::new();
        let files = [
            (SAML, success_factors_auth(&peer.base_url, AUDIENCE)),
            (
                WRONG_AUDIENCE,
                success_factors_auth(&peer.base_url, "someone-else.example"),
            ),
        ];
        for (name, auth) in files {
            catalog.write(
                name,
                &provider_file(name, "Test SAML", &auth, &peer.base_url, COMPANY_CONFIG),
            );
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { peer, latchkey }
    })
}

fn api() -> Api {
    env().latchkey.server.api()
}

/// Creates a `TWO_STEP` connection with the entered values and returns its
/// id and the reply.
async fn create(api: &Api, key: &str, user_name: &str, private_key: &str) -> (String, Reply) {
    create_for_company(api, key, "SFPART000123", user_name, private_key).await
}

/// Imports a connection whose token requests carry `company_id`, which the
/// peer counts requests by.
async fn create_for_company(
    api: &Api,
    key: &str,
    company_id: &str,
    user_name: &str,
    private_key: &str,
) -> (String, Reply) {
    let connection_id = format!("saml-{}", random_hex(6));
    let body = json!({
        "provider_config_key": key,
        "connection_id": connection_id,
        "connection_config": {"companyId": company_id},
        "credentials": {
            "type": "TWO_STEP",
            "apiKey": "YzA4MTVhMTQzZTUzMjc3NTk0ZDY2Nzc1ZmVkOA",
            "userName": user_name,
            "privateKey": private_key,
        },
    });
    (connection_id, api.post("/connections", &body).await)
}

async fn whoami(api: &Api, key: &str, connection_id: &str) -> Reply {
    send(api.proxy(Method::GET, "/api/whoami", key, connection_id)).await
}

#[tokio::test]
async fn assertion_verified_and_proxied() {
    let api = api();
    let key = api.integration_of(SAML).await;
    // Markup characters in an entered value stay text of the NameID.
    let user_name = "jo<h&n>\"doe'";
    let (id, reply) = create(&api, &key, user_name, &env().peer.key("key.pem")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let token = credential(&reply.json(), "token");
    assert!(token.starts_with("sf-"), "{token}");

    let reply = whoami(&api, &key, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    let assertion = &body["assertion"];
    assert_eq!(assertion["name_id"], user_name);
    assert_eq!(assertion["issuer"], "www.successfactors.com");
    assert_eq!(assertion["audience"], AUDIENCE);
    assert_eq!(
        assertion["recipient"],
        format!("{}/oauth/token", env().peer.base_url)
    );
    assert_eq!(
        assertion["attributes"],
        json!({
            "api_key": "YzA4MTVhMTQzZTUzMjc3NTk0ZDY2Nzc1ZmVkOA",
            "use_username": "true",
            "external_user": "false",
        })
    );
    assert_eq!(assertion["lifetime_seconds"], LIFETIME_SECONDS);
    assert!(
        assertion["id"]
            .as_str()
            .is_some_and(|id| id.starts_with('_')),
        "{assertion}"
    );
    assert!(assertion["session_index"].is_string(), "{assertion}");
    assert_eq!(body["params"]["company_id"], "SFPART000123");
    assert_eq!(body["params"]["new_token"], "true");
}

#[tokio::test]
async fn pkcs1_key_verified() {
    let api = api();
    let key = api.integration_of(SAML).await;
    let (id, reply) = create(&api, &key, "jdoe", &env().peer.key("key-pkcs1.pem")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let reply = whoami(&api, &key, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["assertion"]["name_id"], "jdoe");
}

#[tokio::test]
async fn each_login_signs_new_assertion() {
    let api = api();
    let key = api.integration_of(SAML).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (id, reply) = create(&api, &key, "jdoe", &env().peer.key("key.pem")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let body = whoami(&api, &key, &id).await.json();
        ids.push((
            body["assertion"]["id"].clone(),
            body["assertion"]["session_index"].clone(),
        ));
    }
    assert_ne!(ids[0].0, ids[1].0, "assertion ID reused");
    assert_ne!(ids[0].1, ids[1].1, "SessionIndex reused");
}

#[tokio::test]
async fn unparsable_key_invalid_credentials() {
    let api = api();
    let key = api.integration_of(SAML).await;
    // Other tests share the peer, so only this test's company is counted.
    let company_id = format!("BADKEY{}", random_hex(6));
    let secret_marker = format!("SECRETKEYTEXT{}", random_hex(6));
    let not_a_key =
        format!("-----BEGIN PRIVATE KEY-----\n{secret_marker}\n-----END PRIVATE KEY-----\n");
    let (id, reply) = create_for_company(&api, &key, &company_id, "jdoe", &not_a_key).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "key that does not parse",
    );
    let message = reply.error_message();
    assert!(message.contains("auth.assertion.signing_key"), "{message}");
    assert!(message.contains("`privateKey`"), "{message}");
    assert!(!reply.text.contains(&secret_marker), "{}", reply.text);
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
    let stats = env().peer.stats().await;
    assert!(
        stats["requests_by_company"].get(&company_id).is_none(),
        "a request was sent without a signed assertion: {stats}"
    );
}

#[tokio::test]
async fn key_of_other_certificate_rejected() {
    let api = api();
    let key = api.integration_of(SAML).await;
    let other_key = env().peer.key("other.pem");
    let (id, reply) = create(&api, &key, "jdoe", &other_key).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "signature by another key",
    );
    let message = reply.error_message();
    assert!(message.contains("were not accepted"), "{message}");
    assert!(
        message.contains("signature verification failed"),
        "{message}"
    );
    let key_body = other_key.lines().nth(1).unwrap();
    assert!(!reply.text.contains(key_body), "{}", reply.text);
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
}

#[tokio::test]
async fn wrong_audience_rejected() {
    let api = api();
    let key = api.integration_of(WRONG_AUDIENCE).await;
    let (_, reply) = create(&api, &key, "jdoe", &env().peer.key("key.pem")).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "audience the peer does not accept",
    );
    let message = reply.error_message();
    assert!(message.contains("someone-else.example"), "{message}");
}
