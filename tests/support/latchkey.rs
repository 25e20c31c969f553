//! The Latchkey binary under test, its data directory, its catalog
//! directory and an HTTP client that carries the secret key.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use url::Url;

use super::process::{free_port, random_bytes, random_hex, ChildGuard};

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub fn latchkey_binary() -> &'static str {
    env!("CARGO_BIN_EXE_latchkey")
}

/// A directory of provider files passed with `--catalog-dir`.
pub struct CatalogDir {
    dir: TempDir,
}

impl CatalogDir {
    pub fn new() -> CatalogDir {
        CatalogDir {
            dir: TempDir::new().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `<name>.yaml` and returns its path.
    pub fn write(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// The keys a server runs with. `None` fields are left for the server to
/// generate into its data directory.
#[derive(Clone)]
pub struct Keys {
    pub secret_key: Option<String>,
    pub encryption_key: Option<String>,
}

impl Keys {
    pub fn random() -> Keys {
        Keys {
            secret_key: Some(format!("lk_test_{}", random_hex(24))),
            encryption_key: Some(
                base64::engine::general_purpose::STANDARD.encode(random_bytes(32)),
            ),
        }
    }

    pub fn generated() -> Keys {
        Keys {
            secret_key: None,
            encryption_key: None,
        }
    }
}

/// How to start one Latchkey server.
pub struct ServerConfig {
    pub port: u16,
    pub data_dir: PathBuf,
    pub catalog_dirs: Vec<PathBuf>,
    pub keys: Keys,
    /// `--public-url`; `http://127.0.0.1:<port>` when `None`.
    pub public_url: Option<String>,
    pub extra_args: Vec<String>,
}

impl ServerConfig {
    pub fn new(port: u16, data_dir: &Path, catalog_dirs: &[&Path]) -> ServerConfig {
        ServerConfig {
            port,
            data_dir: data_dir.to_owned(),
            catalog_dirs: catalog_dirs.iter().map(|p| p.to_path_buf()).collect(),
            keys: Keys::random(),
            public_url: None,
            extra_args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: &str) -> ServerConfig {
        self.extra_args.push(arg.to_owned());
        self
    }

    pub fn keys(mut self, keys: Keys) -> ServerConfig {
        self.keys = keys;
        self
    }

    pub fn public_url(mut self, url: &str) -> ServerConfig {
        self.public_url = Some(url.to_owned());
        self
    }

    fn command(&self) -> Command {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", self.port));
        let mut command = Command::new(latchkey_binary());
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--public-url")
            .arg(&public_url)
            .arg("--data-dir")
            .arg(&self.data_dir);
        for dir in &self.catalog_dirs {
            command.arg("--catalog-dir").arg(dir);
        }
        command.args(&self.extra_args);
        for variable in [
            "LATCHKEY_SECRET_KEY",
            "LATCHKEY_ENCRYPTION_KEY",
            "LATCHKEY_LISTEN",
            "LATCHKEY_DATA_DIR",
            "LATCHKEY_CATALOG_DIR",
            "LATCHKEY_PUBLIC_URL",
            "LATCHKEY_CONNECT_SESSION_TTL_SECONDS",
            "LATCHKEY_OAUTH_STATE_TTL_SECONDS",
        ] {
            command.env_remove(variable);
        }
        if let Some(secret) = &self.keys.secret_key {
            command.env("LATCHKEY_SECRET_KEY", secret);
        }
        if let Some(key) = &self.keys.encryption_key {
            command.env("LATCHKEY_ENCRYPTION_KEY", key);
        }
        command
            .env("RUST_LOG", "info")
            // Startup errors must print no backtrace even with this set.
            .env("RUST_BACKTRACE", "1")
            .env("NO_COLOR", "1")
            // Proxy settings in the environment must not send test traffic
            // anywhere but 127.0.0.1.
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("all_proxy")
            .env("NO_PROXY", "127.0.0.1");
        command
    }
}

/// Why a server did not start.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub stderr: String,
}

/// A running `latchkey serve`.
pub struct Latchkey {
    pub port: u16,
    pub base_url: String,
    pub secret_key: String,
    pub data_dir: PathBuf,
    process: ChildGuard,
    _logs: TempDir,
    /// The data directory when `start_fresh` created it.
    _fresh_data: Option<TempDir>,
}

impl Latchkey {
    /// Starts a server and fails the test with its stderr when it does not
    /// print its listening line.
    pub fn start(config: ServerConfig) -> Latchkey {
        match Latchkey::try_start(config) {
            Ok(server) => server,
            Err(failure) => panic!(
                "latchkey serve did not start (exit status {:?}); stderr:\n{}",
                failure.status, failure.stderr
            ),
        }
    }

    /// Starts a server on `port` over `catalog_dirs` with `args` appended to
    /// `latchkey serve`, in a new data directory that lives as long as the
    /// returned server.
    pub fn start_fresh(port: u16, catalog_dirs: &[&Path], args: &[&str]) -> Latchkey {
        let data = TempDir::new().unwrap();
        let mut config = ServerConfig::new(port, data.path(), catalog_dirs);
        for arg in args {
            config = config.arg(arg);
        }
        let mut server = Latchkey::start(config);
        server._fresh_data = Some(data);
        server
    }

    pub fn try_start(config: ServerConfig) -> Result<Latchkey, StartFailure> {
        let logs = TempDir::new().unwrap();
        let mut command = config.command();
        command.stdout(Stdio::piped());
        let mut process = ChildGuard::spawn("latchkey", command, &logs.path().join("stderr"));
        let stdout = process.child_mut().stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        let _ = sender.send(line);
                    }
                    Err(_) => return,
                }
            }
        });

        let expected = format!("latchkey listening on http://127.0.0.1:{}", config.port);
        let line = receiver.recv_timeout(START_TIMEOUT);
        match line {
            Ok(line) if line.trim() == expected => {}
            Ok(line) => {
                let status = exit_status_after(&mut process, Duration::from_millis(500));
                return Err(StartFailure {
                    status,
                    stderr: format!(
                        "unexpected first stdout line {line:?}, expected {expected:?}\n{}",
                        process.stderr_text()
                    ),
                });
            }
            Err(_) => {
                let status = exit_status_after(&mut process, Duration::from_secs(5));
                return Err(StartFailure {
                    status,
                    stderr: process.stderr_text(),
                });
            }
        }

        let secret_key = match &config.keys.secret_key {
            Some(secret) => secret.clone(),
            None => read_generated_secret(&config.data_dir),
        };
        Ok(Latchkey {
            port: config.port,
            base_url: format!("http://127.0.0.1:{}", config.port),
            secret_key,
            data_dir: config.data_dir,
            process,
            _logs: logs,
            _fresh_data: None,
        })
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(mut self) {
        self.process.stop();
    }

    /// Returns the server's stderr so far, without ANSI colour codes.
    pub fn logs(&self) -> String {
        strip_ansi(&self.process.stderr_text())
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base_url, &self.secret_key)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip a CSI sequence: ESC '[' parameters, up to a final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

fn exit_status_after(process: &mut ChildGuard, wait: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some(status) = process.exited() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_generated_secret(data_dir: &Path) -> String {
    let path = data_dir.join("secret_key");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read the generated secret key {}: {e}",
                path.display()
            )
        })
        .trim()
        .to_owned()
}

/// A Latchkey server on a free port with its own data directory, serving the
/// built-in catalog plus one catalog directory.
pub struct CatalogServer {
    pub server: Latchkey,
    pub catalog: CatalogDir,
}

impl CatalogServer {
    /// Starts a server over `catalog`, with `args` appended to
    /// `latchkey serve`.
    pub fn start(catalog: CatalogDir, args: &[&str]) -> CatalogServer {
        CatalogServer {
            server: Latchkey::start_fresh(free_port(), &[catalog.path()], args),
            catalog,
        }
    }
}

/// Runs `latchkey` with `args` to completion.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(latchkey_binary())
        .args(args)
        .env_remove("LATCHKEY_CATALOG_DIR")
        .output()
        .expect("run latchkey")
}

/// A reply read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the response body");
        Reply {
            status,
            headers,
            text,
        }
    }

    /// Parses the body as JSON, failing the test with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "response ({}) is not JSON ({e}): {}",
                self.status, self.text
            )
        })
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {}", self.text))
            .to_owned()
    }

    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.message in {}", self.text))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
}

/// Sends `request` and reads the reply in full, whatever its status.
pub async fn send(request: RequestBuilder) -> Reply {
    Reply::read(request.send().await.expect("send the request")).await
}

/// Asserts that `reply` is a JSON error with `status`, `code` and a
/// non-empty message. `case` names the request in the failure message.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str, case: &str) {
    assert_eq!(reply.status, status, "{case}: {}", reply.text);
    assert_eq!(reply.error_code(), code, "{case}");
    assert!(!reply.error_message().is_empty(), "{case}: empty message");
}

/// A reqwest client for Latchkey's API that sends the secret key and never
/// follows redirects.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base_url: String,
    pub secret_key: String,
}

impl Api {
    pub fn new(base_url: &str, secret_key: &str) -> Api {
        Api {
            http: no_redirect_client(),
            base_url: base_url.to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::read(
            self.request(Method::GET, path)
                .send()
                .await
                .expect("send GET"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Reply::read(
            self.request(Method::DELETE, path)
                .send()
                .await
                .expect("send DELETE"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send_json(Method::PATCH, path, body).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        Reply::read(
            self.request(method, path)
                .json(body)
                .send()
                .await
                .expect("send JSON request"),
        )
        .await
    }

    /// Creates an integration and fails the test unless Latchkey accepts it.
    pub async fn create_integration(&self, body: &Value) -> Value {
        let reply = self.post("/integrations", body).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "POST /integrations {body}: {}",
            reply.text
        );
        reply.json()
    }

    /// Creates an integration of `provider` without client credentials,
    /// under a new unique key that it returns.
    pub async fn integration_of(&self, provider: &str) -> String {
        let key = format!("{provider}-{}", random_hex(4));
        self.create_integration(&serde_json::json!({ "unique_key": key, "provider": provider }))
            .await;
        key
    }

    /// Imports a connection and fails the test unless Latchkey returns 201.
    pub async fn create_connection(&self, body: &Value) -> Value {
        let reply = self.post("/connections", body).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "POST /connections {body}: {}",
            reply.text
        );
        reply.json()
    }

    /// Creates a connect session and returns its token.
    pub async fn connect_session(&self, end_user_id: &str, allowed: Option<&[&str]>) -> String {
        let mut body = serde_json::json!({ "end_user": { "id": end_user_id } });
        if let Some(allowed) = allowed {
            body["allowed_integrations"] = serde_json::json!(allowed);
        }
        let reply = self.post("/connect/sessions", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "POST /connect/sessions: {}",
            reply.text
        );
        reply.json()["data"]["token"]
            .as_str()
            .expect("data.token")
            .to_owned()
    }

    /// Lists the connections of `end_user_id` and fails the test unless
    /// Latchkey returns them.
    pub async fn connections_of(&self, end_user_id: &str) -> Vec<Value> {
        let mut url = url::Url::parse(&format!("{}/connections", self.base_url)).unwrap();
        url.query_pairs_mut().append_pair("endUserId", end_user_id);
        let reply = Reply::read(
            self.http
                .get(url)
                .bearer_auth(&self.secret_key)
                .send()
                .await
                .expect("send GET /connections"),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "GET /connections?endUserId={end_user_id}: {}",
            reply.text
        );
        reply.json()["connections"]
            .as_array()
            .unwrap_or_else(|| panic!("no connections array in {}", reply.text))
            .clone()
    }

    /// Sends `GET /connections/{id}?provider_config_key={key}`, with
    /// `force_refresh` when it is `Some`, and returns the reply whatever its
    /// status.
    pub async fn connection_reply(
        &self,
        key: &str,
        id: &str,
        force_refresh: Option<bool>,
    ) -> Reply {
        let mut path = format!("/connections/{id}?provider_config_key={key}");
        if let Some(force_refresh) = force_refresh {
            path.push_str(&format!("&force_refresh={force_refresh}"));
        }
        self.get(&path).await
    }

    /// Returns the connection `id` of integration `key` and fails the test
    /// unless Latchkey returns 200.
    pub async fn connection(&self, key: &str, id: &str, force_refresh: Option<bool>) -> Value {
        let reply = self.connection_reply(key, id, force_refresh).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "GET /connections/{id} (force_refresh={force_refresh:?}): {}",
            reply.text
        );
        reply.json()
    }

    /// Builds a `/proxy{path}` request with the routing headers.
    pub fn proxy(
        &self,
        method: Method,
        path: &str,
        key: &str,
        connection_id: &str,
    ) -> RequestBuilder {
        self.request(method, &format!("/proxy{path}"))
            .header("Provider-Config-Key", key)
            .header("Connection-Id", connection_id)
    }
}

/// Posts a JSON body to a browser-flow route such as
/// `/connect/{key}/api-key`, with `connect_session_token` when given.
pub async fn post_json(base_url: &str, path: &str, token: Option<&str>, body: &Value) -> Reply {
    let response = no_redirect_client()
        .post(route_url(base_url, path, token))
        .json(body)
        .send()
        .await
        .expect("POST JSON");
    Reply::read(response).await
}

/// Posts a form-encoded body to a credential route, as the page's form does.
pub async fn post_form(
    base_url: &str,
    path: &str,
    token: Option<&str>,
    pairs: &[(&str, &str)],
) -> Reply {
    let response = no_redirect_client()
        .post(route_url(base_url, path, token))
        .form(pairs)
        .send()
        .await
        .expect("POST form");
    Reply::read(response).await
}

pub fn route_url(base_url: &str, path: &str, token: Option<&str>) -> Url {
    let mut url = Url::parse(&format!("{base_url}{path}")).unwrap();
    if let Some(token) = token {
        url.query_pairs_mut()
            .append_pair("connect_session_token", token);
    }
    url
}

pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}
