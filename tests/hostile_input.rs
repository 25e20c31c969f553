//! Hostile input through the real binary: proxy paths with dot segments,
//! connection-config values that would change an upstream URL, credentials
//! that would split a header, and caller values that collide with what
//! Latchkey injects (`Content-Type`, the credential's query parameter).
//!
//! Every upstream here is a recorder of the tests' own, one per test, so a
//! test can prove what reached it and that nothing else did. One Latchkey
//! server serves every test of this file.

mod support;

use std::process::Command;
use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::latchkey::{assert_error, post_form, send, Api, CatalogDir, CatalogServer, Reply};
use support::recorder::{raw_request, Recorder};
use support::{provider_file, random_hex, unused_oauth2_auth};

/// Connection-config pattern of a path segment: no `/`, `?`, `#`, `\` or dot.
const SEGMENT_PATTERN: &str = "[a-z0-9-]+";
/// Connection-config pattern of a TCP port.
const PORT_PATTERN: &str = "[0-9]{1,5}";

struct Env {
    /// Upstream of `test-path-guard`, under `/base/api`.
    path_guard: Recorder,
    /// Upstream of `test-query-key`, under `/base/q`.
    query_key: Recorder,
    /// Upstream of `test-content-type`, under `/base/ct`.
    content_type: Recorder,
    /// Upstream of `test-header-key`, `test-header-basic` and
    /// `test-header-bearer`.
    header_values: Recorder,
    /// Upstream of `test-config-path`, under `/x/{{ seg }}`.
    config_path: Recorder,
    /// Upstream of `test-config-port`, whose port is `{{ port }}`.
    config_port: Recorder,
    /// A second listener that hostile `port` values try to reach.
    elsewhere: Recorder,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(start_env)
}

/// The `auth` mapping of an API key provider whose key goes in header
/// `X-Api-Key`.
const HEADER_KEY_AUTH: &str = r#"  mode: api_key
  inject:
    location: header
    name: X-Api-Key
    value: "{{ api_key }}""#;

/// Returns a provider file whose API key goes in header `X-Api-Key`, with
/// `extra` appended (a `connection_config` mapping, for example).
fn header_key_provider(name: &str, base_url: &str, extra: &str) -> String {
    provider_file(
        name,
        &format!("Test {name}"),
        HEADER_KEY_AUTH,
        base_url,
        extra,
    )
}

fn start_env() -> Env {
    let path_guard = Recorder::start();
    let query_key = Recorder::start();
    let content_type = Recorder::start();
    let header_values = Recorder::start();
    let config_path = Recorder::start();
    let config_port = Recorder::start();
    let elsewhere = Recorder::start();

    let catalog = CatalogDir::new();
    catalog.write(
        "test-path-guard",
        &header_key_provider(
            "test-path-guard",
            &format!("{}/base/api", path_guard.base_url),
            "",
        ),
    );
    let query_auth = r#"  mode: api_key
  inject:
    location: query
    name: api_key
    value: "{{ api_key }}""#;
    catalog.write(
        "test-query-key",
        &provider_file(
            "test-query-key",
            "Test query key",
            query_auth,
            &format!("{}/base/q", query_key.base_url),
            "",
        ),
    );
    catalog.write(
        "test-content-type",
        &header_key_provider(
            "test-content-type",
            &format!("{}/base/ct", content_type.base_url),
            "",
        ),
    );
    catalog.write(
        "test-header-key",
        &header_key_provider("test-header-key", &header_values.base_url, ""),
    );
    let basic_auth = "  mode: basic";
    let bearer_auth = unused_oauth2_auth(&header_values.base_url);
    for (name, auth) in [
        ("test-header-basic", basic_auth),
        ("test-header-bearer", bearer_auth.as_str()),
    ] {
        catalog.write(
            name,
            &provider_file(
                name,
                &format!("Test {name}"),
                auth,
                &header_values.base_url,
                "",
            ),
        );
    }
    catalog.write(
        "test-config-path",
        &header_key_provider(
            "test-config-path",
            &format!("{}/x/{{{{ seg }}}}", config_path.base_url),
            &format!(
                "connection_config:\n  seg:\n    title: Segment\n    pattern: \"{SEGMENT_PATTERN}\"\n"
            ),
        ),
    );
    // Plain http is allowed only for loopback hosts, so the port is the part
    // before the path that a value fills here.
    catalog.write(
        "test-config-port",
        &header_key_provider(
            "test-config-port",
            "http://127.0.0.1:{{ port }}/p",
            &format!(
                "connection_config:\n  port:\n    title: Port\n    pattern: \"{PORT_PATTERN}\"\n"
            ),
        ),
    );

    let latchkey = CatalogServer::start(catalog, &[]);
    Env {
        path_guard,
        query_key,
        content_type,
        header_values,
        config_path,
        config_port,
        elsewhere,
        latchkey,
    }
}

/// Imports an API key connection with `connection_config` and returns its id.
async fn key_connection(api: &Api, key: &str, api_key: &str, config: Value) -> String {
    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_config": config,
            "credentials": { "type": "API_KEY", "api_key": api_key },
        }))
        .await;
    created["connection_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no connection_id in {created}"))
        .to_owned()
}

/// Sends `POST /connections` with `body` plus a new `connection_id`, and
/// returns that id with the reply, whatever its status.
async fn import_with_new_id(api: &Api, mut body: Value) -> (String, Reply) {
    let connection_id = format!("hostile-{}", random_hex(4));
    body["connection_id"] = json!(connection_id);
    let reply = api.post("/connections", &body).await;
    (connection_id, reply)
}

#[tokio::test]
async fn proxy_rejects_dot_segments() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-path-guard").await;
    let stored_key = format!("k_{}", random_hex(8));
    let id = key_connection(&api, &key, &stored_key, json!({})).await;
    let auth = format!("Bearer {}", api.secret_key);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Provider-Config-Key", key.as_str()),
        ("Connection-Id", id.as_str()),
    ];
    let port = env.latchkey.server.port;

    // Sent over a raw socket because URL parsers (reqwest's included) remove
    // dot segments, `%2e` forms too, before a request leaves the client.
    let hostile = [
        "/proxy/../secret",
        "/proxy/a/../../secret",
        "/proxy/a/..",
        "/proxy/./secret",
        "/proxy/a/./b",
        "/proxy/%2e%2e/secret",
        "/proxy/%2E%2E/secret",
        "/proxy/%2E./secret",
        "/proxy/.%2e/secret",
        "/proxy/a/%2e/b",
        "/proxy/a/%2e%2e/%2e%2e/secret?x=1",
    ];
    for target in hostile {
        let reply = raw_request(port, "GET", target, &headers);
        assert_eq!(reply.status, 400, "{target}: {}", reply.body);
        let body: Value = serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("{target}: reply is not JSON ({e}): {}", reply.body));
        assert_eq!(
            body["error"]["code"], "invalid_proxy_path",
            "{target}: {body}"
        );
    }
    assert!(
        env.path_guard.requests().is_empty(),
        "a request with dot segments reached the upstream: {:?}",
        env.path_guard.requests()
    );

    // curl with --path-as-is sends the dot segments as written.
    for target in ["/proxy/../secret", "/proxy/a/%2e%2e/%2e%2e/secret"] {
        let (status, body) = curl_get(port, target, &headers, true);
        assert_eq!(status, "400", "curl --path-as-is {target}: {body}");
        assert!(
            body.contains("invalid_proxy_path"),
            "curl --path-as-is {target}: {body}"
        );
    }
    assert!(
        env.path_guard.requests().is_empty(),
        "a request with dot segments reached the upstream: {:?}",
        env.path_guard.requests()
    );

    let control = raw_request(port, "GET", "/proxy/ok/path?x=1", &headers);
    assert_eq!(control.status, 200, "{}", control.body);
    let reached = env.path_guard.requests();
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!(reached[0].target, "/base/api/ok/path?x=1");
    assert_eq!(reached[0].header_values("X-Api-Key"), vec![stored_key]);

    // Clients that remove dot segments themselves (curl without
    // --path-as-is, reqwest) either stay under the base path or miss the
    // proxy route.
    let (status, body) = curl_get(port, "/proxy/a/../curl-b", &headers, false);
    assert_eq!(status, "200", "curl /proxy/a/../curl-b: {body}");
    let (status, body) = curl_get(port, "/proxy/../../secret", &headers, false);
    assert_eq!(status, "404", "curl /proxy/../../secret: {body}");
    let normalized = send(api.proxy(Method::GET, "/a/%2e%2e/reqwest-b", &key, &id)).await;
    assert_eq!(normalized.status, StatusCode::OK, "{}", normalized.text);
    let targets: Vec<String> = env
        .path_guard
        .requests()
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(
        targets,
        vec![
            "/base/api/ok/path?x=1",
            "/base/api/curl-b",
            "/base/api/reqwest-b"
        ]
    );
}

/// Runs `curl` for `GET target` on 127.0.0.1:`port` and returns the status
/// code and the body.
fn curl_get(
    port: u16,
    target: &str,
    headers: &[(&str, &str)],
    path_as_is: bool,
) -> (String, String) {
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--noproxy", "*"]);
    command.args(["--write-out", "\n%{http_code}"]);
    if path_as_is {
        command.arg("--path-as-is");
    }
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    let output = command
        .arg(format!("http://127.0.0.1:{port}{target}"))
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "curl {target} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
    (status.to_owned(), body.to_owned())
}

#[tokio::test]
async fn hostile_config_never_reaches_upstream() {
    let env = env();
    let api = env.latchkey.server.api();
    let path_key = api.integration_of("test-config-path").await;
    let port_key = api.integration_of("test-config-port").await;
    let port = env.config_port.port;
    let elsewhere = env.elsewhere.port;
    let cases: Vec<(&str, &str, String)> = vec![
        (path_key.as_str(), "seg", "..".to_owned()),
        (path_key.as_str(), "seg", ".".to_owned()),
        (path_key.as_str(), "seg", "a/../../elsewhere".to_owned()),
        (path_key.as_str(), "seg", "a?b=1".to_owned()),
        (path_key.as_str(), "seg", "a#b".to_owned()),
        (path_key.as_str(), "seg", "a\\b".to_owned()),
        (path_key.as_str(), "seg", "%2e%2e".to_owned()),
        (port_key.as_str(), "port", format!("{port}/../x")),
        (port_key.as_str(), "port", format!("{port}?x=1")),
        (port_key.as_str(), "port", format!("{port}#")),
        (
            port_key.as_str(),
            "port",
            format!("{port}@127.0.0.1:{elsewhere}"),
        ),
        (
            port_key.as_str(),
            "port",
            format!("{port}/@127.0.0.1:{elsewhere}"),
        ),
        (port_key.as_str(), "port", format!("{port} ")),
    ];

    for (key, field, value) in &cases {
        let case = format!("POST /connections {field}={value:?}");
        let (connection_id, reply) = import_with_new_id(
            &api,
            json!({
                "provider_config_key": key,
                "connection_config": { (*field): value },
                "credentials": { "type": "API_KEY", "api_key": "k_hostile" },
            }),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.text
        );
        assert!(
            reply.error_message().contains(field),
            "{case}: message does not name {field}: {}",
            reply.text
        );
        let stored = api.connection_reply(key, &connection_id, None).await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{case}: {}",
            stored.text
        );
        let proxied = send(api.proxy(Method::GET, "/probe", key, &connection_id)).await;
        assert_eq!(
            proxied.status,
            StatusCode::NOT_FOUND,
            "{case}: {}",
            proxied.text
        );
    }

    for (key, field, value) in &cases {
        let case = format!("connect page params[{field}]={value:?}");
        let user = format!("hostile-user-{}", random_hex(4));
        let token = api.connect_session(&user, None).await;
        let param = format!("params[{field}]");
        let reply = post_form(
            &api.base_url,
            &format!("/connect/{key}/api-key"),
            Some(&token),
            &[("api_key", "k_hostile"), (&param, value)],
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.text
        );
        assert!(
            api.connections_of(&user).await.is_empty(),
            "{case}: a connection was stored"
        );
    }

    for (recorder, name) in [
        (&env.config_path, "test-config-path"),
        (&env.config_port, "test-config-port"),
        (&env.elsewhere, "the other listener"),
    ] {
        assert!(
            recorder.requests().is_empty(),
            "a request reached {name}: {:?}",
            recorder.requests()
        );
    }

    // Valid values reach the upstream where the template puts them.
    let path_id = key_connection(&api, &path_key, "k_valid", json!({ "seg": "team-1" })).await;
    let port_id = key_connection(
        &api,
        &port_key,
        "k_valid",
        json!({ "port": port.to_string() }),
    )
    .await;
    let by_path = send(api.proxy(Method::GET, "/probe", &path_key, &path_id)).await;
    let by_port = send(api.proxy(Method::GET, "/probe", &port_key, &port_id)).await;
    assert_eq!(by_path.status, StatusCode::OK, "{}", by_path.text);
    assert_eq!(by_port.status, StatusCode::OK, "{}", by_port.text);
    let path_targets: Vec<String> = env
        .config_path
        .requests()
        .into_iter()
        .map(|r| r.target)
        .collect();
    let port_targets: Vec<String> = env
        .config_port
        .requests()
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(path_targets, vec!["/x/team-1/probe"]);
    assert_eq!(port_targets, vec!["/p/probe"]);
    assert!(env.elsewhere.requests().is_empty());
}

#[tokio::test]
async fn import_rejects_header_breaking_credentials() {
    let env = env();
    let api = env.latchkey.server.api();
    let key_integration = api.integration_of("test-header-key").await;
    let basic_integration = api.integration_of("test-header-basic").await;
    let bearer_integration = api.integration_of("test-header-bearer").await;
    let hostile_values = [
        "k_a\r\nX-Injected: 1",
        "k_a\nX-Injected: 1",
        "k_a\rb",
        "k_\u{0}a",
        "k_\u{1b}[31ma",
        "ключ",
        "k_café",
    ];

    for value in hostile_values {
        let cases = [
            (
                &key_integration,
                json!({ "type": "API_KEY", "api_key": value }),
                "credentials.apiKey",
            ),
            (
                &basic_integration,
                json!({ "type": "BASIC", "username": value, "password": "p" }),
                "credentials.username",
            ),
            (
                &basic_integration,
                json!({ "type": "BASIC", "username": "u", "password": value }),
                "credentials.password",
            ),
            (
                &bearer_integration,
                json!({ "type": "OAUTH2", "access_token": value }),
                "credentials.access_token",
            ),
        ];
        for (key, credentials, field) in cases {
            let case = format!("{field}={value:?}");
            let (connection_id, reply) = import_with_new_id(
                &api,
                json!({ "provider_config_key": key, "credentials": credentials }),
            )
            .await;
            assert_error(
                &reply,
                StatusCode::BAD_REQUEST,
                "invalid_credentials",
                &case,
            );
            assert!(
                reply.error_message().contains(field),
                "{case}: message does not name {field}: {}",
                reply.text
            );
            assert!(
                !reply.text.contains(value),
                "{case}: the reply echoes the value: {}",
                reply.text
            );
            let stored = api.connection_reply(key, &connection_id, None).await;
            assert_eq!(
                stored.status,
                StatusCode::NOT_FOUND,
                "{case}: {}",
                stored.text
            );
        }
    }

    // Credential entry from the connect page checks the same characters.
    for value in hostile_values {
        let user = format!("header-user-{}", random_hex(4));
        let token = api.connect_session(&user, None).await;
        let reply = post_form(
            &api.base_url,
            &format!("/connect/{key_integration}/api-key"),
            Some(&token),
            &[("api_key", value)],
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "api_key={value:?}: {}",
            reply.text
        );
        assert!(
            reply.text.contains("invalid_credentials"),
            "api_key={value:?}: {}",
            reply.text
        );
        assert!(
            api.connections_of(&user).await.is_empty(),
            "api_key={value:?}"
        );
    }

    assert!(
        env.header_values.requests().is_empty(),
        "a request reached the upstream: {:?}",
        env.header_values.requests()
    );
}

#[tokio::test]
async fn proxy_content_type_header_replaced() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-content-type").await;
    let id = key_connection(&api, &key, "k_ct", json!({})).await;
    let body = "a,b\n1,2\n";

    let reply = send(
        api.proxy(Method::POST, "/upload", &key, &id)
            .header("Content-Type", "application/json")
            .header("Nango-Proxy-Content-Type", "text/csv")
            .body(body),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reached = env.content_type.requests();
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!(reached[0].method, "POST");
    assert_eq!(reached[0].target, "/base/ct/upload");
    assert_eq!(reached[0].header_values("Content-Type"), vec!["text/csv"]);
    assert_eq!(reached[0].body, body.as_bytes());
}

#[tokio::test]
async fn proxy_injected_query_replaces_callers() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = api.integration_of("test-query-key").await;
    let stored_key = format!("k_{}", random_hex(8));
    let id = key_connection(&api, &key, &stored_key, json!({})).await;

    let reply = send(api.proxy(
        Method::GET,
        "/search?api_key=caller-value&b=%2F&c=x+y&api_key=second&d=",
        &key,
        &id,
    ))
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reached = env.query_key.requests();
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!(reached[0].path(), "/base/q/search");
    let pairs: Vec<&str> = reached[0].raw_query().split('&').collect();
    let injected: Vec<&str> = pairs
        .iter()
        .copied()
        .filter(|pair| pair.starts_with("api_key="))
        .collect();
    let others: Vec<&str> = pairs
        .iter()
        .copied()
        .filter(|pair| !pair.starts_with("api_key="))
        .collect();
    assert_eq!(
        injected,
        vec![format!("api_key={stored_key}")],
        "{}",
        reached[0].target
    );
    assert_eq!(
        others,
        vec!["b=%2F", "c=x+y", "d="],
        "{}",
        reached[0].target
    );
}
