//! The pinned test peers: httpbin (PyPI), oidc-provider and
//! oauth2-mock-server (npm), started on 127.0.0.1 on free ports.
//! `scripts/test.sh` installs them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

use super::process::{free_port, ChildGuard};

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

fn require_installed(path: PathBuf, component: &str) -> PathBuf {
    if !path.exists() {
        panic!(
            "{component} is not installed: {} is missing. Run scripts/test.sh, which installs the test peers.",
            path.display()
        );
    }
    path
}

/// httpbin 0.10.4 from `tests/peers/.venv`.
pub struct Httpbin {
    pub port: u16,
    pub base_url: String,
    process: ChildGuard,
    _logs: TempDir,
}

impl Httpbin {
    pub fn start() -> Httpbin {
        let python = require_installed(peers_dir().join(".venv/bin/python"), "httpbin");
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .args(["-m", "httpbin.core", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("httpbin", command, &logs.path().join("stderr"));
        process.wait_for_port(port, START_TIMEOUT);
        Httpbin {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            process,
            _logs: logs,
        }
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }
}

/// How a client registered at oidc-provider authenticates at its token
/// endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    Post,
    Basic,
}

impl ClientAuthMethod {
    pub fn oidc_name(self) -> &'static str {
        match self {
            ClientAuthMethod::Post => "client_secret_post",
            ClientAuthMethod::Basic => "client_secret_basic",
        }
    }

    /// The provider file's `client_auth` value for this method.
    pub fn catalog_name(self) -> &'static str {
        match self {
            ClientAuthMethod::Post => "body",
            ClientAuthMethod::Basic => "basic",
        }
    }
}

/// One static client of oidc-provider.
#[derive(Clone, Debug)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    pub auth_method: ClientAuthMethod,
    /// Empty for a client-credentials-only client.
    pub redirect_uris: Vec<String>,
    pub client_credentials_only: bool,
    /// Access token lifetime in seconds; 3600 when `None`.
    pub access_token_ttl: Option<u64>,
}

impl OidcClient {
    pub fn authorization_code(
        client_id: &str,
        auth_method: ClientAuthMethod,
        redirect_uris: &[String],
    ) -> OidcClient {
        OidcClient {
            client_id: client_id.to_owned(),
            client_secret: format!("{client_id}-secret-{}", super::random_hex(12)),
            auth_method,
            redirect_uris: redirect_uris.to_vec(),
            client_credentials_only: false,
            access_token_ttl: None,
        }
    }

    pub fn client_credentials(client_id: &str, auth_method: ClientAuthMethod) -> OidcClient {
        OidcClient {
            client_id: client_id.to_owned(),
            client_secret: format!("{client_id}-secret-{}", super::random_hex(12)),
            auth_method,
            redirect_uris: Vec::new(),
            client_credentials_only: true,
            access_token_ttl: None,
        }
    }

    pub fn with_ttl(mut self, seconds: u64) -> OidcClient {
        self.access_token_ttl = Some(seconds);
        self
    }

    fn to_config(&self) -> Value {
        let grant_types = if self.client_credentials_only {
            json!(["client_credentials"])
        } else {
            json!(["authorization_code", "refresh_token"])
        };
        let mut config = json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_endpoint_auth_method": self.auth_method.oidc_name(),
            "redirect_uris": self.redirect_uris,
            "grant_types": grant_types,
        });
        if let Some(ttl) = self.access_token_ttl {
            config["access_token_ttl"] = json!(ttl);
        }
        config
    }
}

/// A Node script under `tests/peers` that prints `{"issuer", "port"}` as its
/// first stdout line once it listens.
struct NodePeer {
    port: u16,
    issuer: String,
    process: ChildGuard,
    logs: TempDir,
}

impl NodePeer {
    fn start(name: &str, script: &str, args: &[String]) -> NodePeer {
        let script = require_installed(peers_dir().join(script), script);
        let logs = TempDir::new().unwrap();
        let mut command = Command::new("node");
        command
            .arg(script)
            .args(args)
            .current_dir(peers_dir())
            .stdout(Stdio::piped());
        let mut process = ChildGuard::spawn(name, command, &logs.path().join("stderr"));
        let stdout = process.child_mut().stdout.take().unwrap();

        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = sender.send(line);
            }
            // Keep draining so that later writes never block the peer.
            for _ in lines {}
        });
        let line = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!(
                "{name} printed no start line within {START_TIMEOUT:?}; stderr:\n{}",
                process.stderr_text()
            ),
        };
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "{name} start line {line:?} is not JSON ({e}); stderr:\n{}",
                process.stderr_text()
            )
        });
        let port = started["port"].as_u64().expect("port in the start line") as u16;
        let issuer = started["issuer"].as_str().expect("issuer").to_owned();
        process.wait_for_port(port, START_TIMEOUT);
        NodePeer {
            port,
            issuer,
            process,
            logs,
        }
    }
}

/// oidc-provider 9.13.3 run by `tests/peers/oidc.mjs`.
pub struct Oidc {
    pub port: u16,
    pub issuer: String,
    pub clients: Vec<OidcClient>,
    process: ChildGuard,
    _logs: TempDir,
}

impl Oidc {
    pub fn start(clients: &[OidcClient]) -> Oidc {
        require_installed(
            peers_dir().join("node_modules/oidc-provider/package.json"),
            "oidc-provider",
        );
        let config =
            json!({ "clients": clients.iter().map(OidcClient::to_config).collect::<Vec<_>>() });
        let started = NodePeer::start("oidc-provider", "oidc.mjs", &[config.to_string()]);
        Oidc {
            port: started.port,
            issuer: started.issuer,
            clients: clients.to_vec(),
            process: started.process,
            _logs: started.logs,
        }
    }

    pub fn client(&self, client_id: &str) -> &OidcClient {
        self.clients
            .iter()
            .find(|c| c.client_id == client_id)
            .unwrap_or_else(|| panic!("no oidc client {client_id}"))
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }

    /// Returns the token requests counted for `client_id` and `grant_type`.
    pub async fn token_requests(&self, client_id: &str, grant_type: &str) -> u64 {
        let stats = self.stats().await;
        stats["token_requests"][client_id][grant_type]
            .as_u64()
            .unwrap_or(0)
    }

    /// Returns the requests rejected for `client_id` because they used the
    /// wrong client authentication method.
    pub async fn rejected_client_auth(&self, client_id: &str) -> u64 {
        let stats = self.stats().await;
        stats["rejected_client_auth"][client_id]
            .as_object()
            .map(|by_method| by_method.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    }

    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/__stats", self.issuer))
            .await
            .expect("GET /__stats")
            .json()
            .await
            .expect("/__stats JSON")
    }

    /// Returns oidc-provider's view of an access token:
    /// `{active, kind, client_id, scope}`.
    pub async fn describe_token(&self, token: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/__token", self.issuer))
            .query(&[("value", token)])
            .send()
            .await
            .expect("GET /__token")
            .json()
            .await
            .expect("/__token JSON")
    }

    /// Sends a token request straight to oidc-provider with the client's
    /// registered authentication method, bypassing Latchkey.
    pub async fn token_request(&self, client_id: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let client = self.client(client_id);
        let http = reqwest::Client::new();
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut request = http.post(format!("{}/token", self.issuer));
        match client.auth_method {
            ClientAuthMethod::Post => {
                fields.push(("client_id", &client.client_id));
                fields.push(("client_secret", &client.client_secret));
            }
            ClientAuthMethod::Basic => {
                request = request.basic_auth(&client.client_id, Some(&client.client_secret));
            }
        }
        let response = request.form(&fields).send().await.expect("POST /token");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// oauth2-mock-server 8.2.3 run by `tests/peers/mock_oauth.mjs`: a token
/// endpoint that accepts any code, refresh token and client, and whose
/// replies each test rewrites for its own client id.
pub struct MockOAuth {
    pub port: u16,
    pub issuer: String,
    process: ChildGuard,
    _logs: TempDir,
}

impl MockOAuth {
    pub fn start() -> MockOAuth {
        require_installed(
            peers_dir().join("node_modules/oauth2-mock-server/package.json"),
            "oauth2-mock-server",
        );
        let started = NodePeer::start("oauth2-mock-server", "mock_oauth.mjs", &[]);
        // The mock's own default issuer names `localhost`; tests use
        // 127.0.0.1 only.
        assert_eq!(
            started.issuer,
            format!("http://127.0.0.1:{}", started.port),
            "unexpected issuer of oauth2-mock-server"
        );
        MockOAuth {
            port: started.port,
            issuer: started.issuer,
            process: started.process,
            _logs: started.logs,
        }
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }

    /// Rewrites every later token reply to `client_id` for `grant_type` with
    /// `rule`, whose fields `omit`, `merge`, `status`, `body` and `raw`
    /// `mock_oauth.mjs` describes. A rule without those fields restores the
    /// mock's own reply.
    pub async fn set_reply(&self, client_id: &str, grant_type: &str, rule: Value) {
        let mut rule = rule;
        rule["client_id"] = json!(client_id);
        rule["grant_type"] = json!(grant_type);
        let response = reqwest::Client::new()
            .post(format!("{}/__reply", self.issuer))
            .json(&rule)
            .send()
            .await
            .expect("POST /__reply");
        assert!(
            response.status().is_success(),
            "the mock rejected the rule {rule}: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Returns the token requests that `client_id` made, in arrival order:
    /// `{grant_type, form, body, reply_status, reply}` each, where `body` is
    /// the request body as received.
    pub async fn token_requests(&self, client_id: &str) -> Vec<Value> {
        let requests: Value = reqwest::Client::new()
            .get(format!("{}/__requests", self.issuer))
            .query(&[("client_id", client_id)])
            .send()
            .await
            .expect("GET /__requests")
            .json()
            .await
            .expect("/__requests JSON");
        requests.as_array().cloned().unwrap_or_default()
    }

    /// Returns the token requests of `client_id` with `grant_type`.
    pub async fn token_requests_of(&self, client_id: &str, grant_type: &str) -> Vec<Value> {
        self.token_requests(client_id)
            .await
            .into_iter()
            .filter(|request| request["grant_type"] == grant_type)
            .collect()
    }
}

/// `tests/peers/two_step_server.py`: token and login endpoints that check
/// the exact requests of the `two_step` and `session` tests, and an API that
/// accepts only the live tokens they issued.
pub struct TwoStepServer {
    pub base_url: String,
    process: ChildGuard,
    _logs: TempDir,
}
impl Oidc {
    /// Starts oidc-provider with `clients` and the further config keys of
    /// `extra`, such as `registration` and `resources` (see
    /// `tests/peers/oidc.mjs`).
    pub fn start_with(clients: &[OidcClient], extra: Value) -> Oidc {
        require_installed(
            peers_dir().join("node_modules/oidc-provider/package.json"),
            "oidc-provider",
        );
        let mut config =
            json!({ "clients": clients.iter().map(OidcClient::to_config).collect::<Vec<_>>() });
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        let started = NodePeer::start("oidc-provider", "oidc.mjs", &[config.to_string()]);
        Oidc {
            port: started.port,
            issuer: started.issuer,
            clients: clients.to_vec(),
            process: started.process,
            _logs: started.logs,
        }
    }
}

/// The protected MCP resource run by `tests/peers/mcp_resource.mjs`, which
/// accepts JWT access tokens of `issuer` whose audience is its resource URL.
pub struct McpResource {
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    process: ChildGuard,
    _logs: TempDir,
}

impl TwoStepServer {
    /// Starts the server with tokens that live `token_lifetime_seconds`.
    pub fn start(token_lifetime_seconds: u64) -> TwoStepServer {
        let python = require_installed(peers_dir().join(".venv/bin/python"), "Python venv");
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("two_step_server.py"))
            .arg(port.to_string())
            .arg(token_lifetime_seconds.to_string())
            .stdout(Stdio::null());
        let mut process =
            ChildGuard::spawn("two_step_server", command, &logs.path().join("stderr"));
        process.wait_for_port(port, START_TIMEOUT);
        TwoStepServer {
            base_url: format!("http://127.0.0.1:{port}"),
            process,
            _logs: logs,
        }
    }

    /// Returns how many tokens the endpoint `json`, `form`, `bill` or `dated`
    /// issued.
    pub async fn issued(&self, endpoint: &str) -> u64 {
        let stats: Value = reqwest::get(format!("{}/stats", self.base_url))
            .await
            .expect("GET /stats")
            .json()
            .await
            .expect("stats JSON");
        stats[endpoint]
            .as_u64()
            .unwrap_or_else(|| panic!("no count for `{endpoint}` in {stats}"))
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }
}

/// `tests/peers/jwt_peer.py` on PyJWT: a JWT bearer token endpoint and an
/// API that verifies bearer JWTs. It generates its keys at start and writes
/// the private halves into a temporary directory.
pub struct JwtPeer {
    pub port: u16,
    pub base_url: String,
    /// The `aud` claim that the peer requires in every JWT.
    pub audience: String,
    keys: TempDir,
    process: ChildGuard,
}

impl JwtPeer {
    /// Starts the peer; access tokens issued by its `/token` live
    /// `access_token_ttl` seconds.
    pub fn start(audience: &str, access_token_ttl: u64) -> JwtPeer {
        let python = require_installed(peers_dir().join(".venv/bin/python"), "PyJWT");
        let keys = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("jwt_peer.py"))
            .args(["--port", &port.to_string(), "--audience", audience])
            .args(["--access-token-ttl", &access_token_ttl.to_string()])
            .arg("--key-dir")
            .arg(keys.path())
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("jwt_peer", command, &keys.path().join("stderr"));
        process.wait_for_port(port, START_TIMEOUT);
        JwtPeer {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            audience: audience.to_owned(),
            keys,
            process,
        }
    }

    /// Returns the generated private key or secret in `name` (`rsa.pem`,
    /// `ec.pem` or `hmac.hex`).
    pub fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.keys.path().join(name)).unwrap()
    }

    /// Returns the peer's counters (`token_requests`, `tokens_issued`,
    /// `assertions_rejected`, `api_calls`, `api_rejected`).
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/stats", self.base_url))
            .await
            .expect("GET /stats of the JWT peer")
            .json()
            .await
            .expect("JSON stats")
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }
}

impl McpResource {
    /// Starts the resource on `port`, trusting the authorization server
    /// `issuer` and advertising `scope`.
    pub fn start(port: u16, issuer: &str, scope: &str) -> McpResource {
        require_installed(peers_dir().join("node_modules/jose/package.json"), "jose");
        let config = json!({ "issuer": issuer, "scope": scope, "port": port });
        let started = NodePeer::start("mcp-resource", "mcp_resource.mjs", &[config.to_string()]);
        McpResource {
            port: started.port,
            origin: format!("http://127.0.0.1:{}", started.port),
            process: started.process,
            _logs: started.logs,
        }
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }
}

/// `tests/peers/app_peer.py`: GitHub's install page, installation token
/// endpoint and one API route for a GitHub App, with PyJWT checking the app
/// JWT.
pub struct AppPeer {
    pub base_url: String,
    keys: TempDir,
    process: ChildGuard,
}

impl AppPeer {
    /// Starts the peer on `port` for the app `app_id`, whose OAuth client is
    /// `client_id` and `client_secret`. Its install page redirects to
    /// `setup_url`, and installation tokens live `token_ttl` seconds.
    pub fn start(
        port: u16,
        app_id: &str,
        (client_id, client_secret): (&str, &str),
        setup_url: &str,
        token_ttl: u64,
    ) -> AppPeer {
        let python = require_installed(peers_dir().join(".venv/bin/python"), "PyJWT");
        let keys = TempDir::new().unwrap();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("app_peer.py"))
            .args(["--port", &port.to_string(), "--app-id", app_id])
            .args(["--client-id", client_id, "--client-secret", client_secret])
            .args(["--setup-url", setup_url])
            .args(["--token-ttl", &token_ttl.to_string()])
            .arg("--key-dir")
            .arg(keys.path())
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("app_peer", command, &keys.path().join("stderr"));
        process.wait_for_port(port, START_TIMEOUT);
        AppPeer {
            base_url: format!("http://127.0.0.1:{port}"),
            keys,
            process,
        }
    }

    /// Returns a generated private key: `app.pem` (the app's, PKCS#1) or
    /// `other.pem` (a key the peer does not know, PKCS#8).
    pub fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.keys.path().join(name)).unwrap()
    }

    /// Returns the peer's counters, and per installation id the tokens
    /// issued (`issued_by_installation`) and the last verified app JWT
    /// (`jwt_by_installation.ID.header`, `.claims`).
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/stats", self.base_url))
            .await
            .expect("GET /stats of the app peer")
            .json()
            .await
            .expect("JSON stats")
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }
}
