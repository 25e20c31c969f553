//! `/proxy/{path}` against httpbin: method, query, body, headers, credential
//! injection, status passthrough, hop-by-hop headers, Base-Url-Override,
//! a plain curl call in the style of Nango's documentation, and the README
//! walkthrough's Confluence page creation against a stand-in provider.
//!
//! One httpbin and one Latchkey server serve every test of this file.

mod support;

use std::process::Command;
use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::latchkey::{
    assert_error, post_json, send, Api, CatalogDir, CatalogServer, Keys, Latchkey, ServerConfig,
};
use support::peers::Httpbin;
use support::{httpbin_provider, random_hex, unused_oauth2_auth};

struct Env {
    httpbin: Httpbin,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let httpbin = Httpbin::start();
        let base = &httpbin.base_url;
        let catalog = CatalogDir::new();
        let providers = [
            ("test-httpbin-bearer", unused_oauth2_auth(base)),
            (
                "test-httpbin-header-key",
                "  mode: api_key\n  inject:\n    location: header\n    name: X-Api-Key\n    value: \"{{ api_key }}\"".to_owned(),
            ),
            (
                "test-httpbin-query-key",
                "  mode: api_key\n  inject:\n    location: query\n    name: api_key\n    value: \"{{ api_key }}\"".to_owned(),
            ),
            ("test-httpbin-basic", "  mode: basic".to_owned()),
            (
                "test-httpbin-caller-key",
                "  mode: api_key\n  caller_places_key: true".to_owned(),
            ),
            (
                "test-httpbin-multi-key",
                "  mode: api_key\n  inject:\n    name: Authorization\n    value: \"Bearer {{ api_key }}\"\n    additional:\n      - name: apikey\n        value: \"{{ api_key }}\"\n      - location: query\n        name: apiKey\n        value: \"{{ api_key }}\"".to_owned(),
            ),
        ];
        for (name, auth) in &providers {
            catalog.write(name, &httpbin_provider(name, base, auth));
        }
        catalog.write(
            "test-httpbin-path-key",
            &support::provider_file(
                "test-httpbin-path-key",
                "Test httpbin path key",
                "  mode: api_key\n  inject:\n    location: path_segment\n    value: \"bot{{ api_key }}\"",
                &format!("{base}/anything"),
                "",
            ),
        );
        catalog.write(
            "test-httpbin-chosen-key",
            &support::provider_file(
                "test-httpbin-chosen-key",
                "Test httpbin chosen key",
                CHOSEN_KEY_AUTH,
                base,
                CHOSEN_KEY_FIELDS,
            ),
        );
        catalog.write(
            "test-httpbin-open-key",
            &support::provider_file(
                "test-httpbin-open-key",
                "Test httpbin open key name",
                CHOSEN_KEY_AUTH,
                base,
                OPEN_KEY_FIELDS,
            ),
        );
        catalog.write("confluence", &confluence_stand_in(base));
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { httpbin, latchkey }
    })
}

/// A key whose place the integration chooses, as in the converted
/// `private-api-generic` entry.
const CHOSEN_KEY_AUTH: &str = r#"  mode: api_key
  inject:
    name: "{{ keyName }}"
    value: "{{ valueTemplate | replace('${apiKey}', api_key) }}"
    when: {field: keyPlacement, equals: header}
    additional:
      - location: query
        name: "{{ keyName }}"
        value: "{{ valueTemplate | replace('${apiKey}', api_key) }}"
        when: {field: keyPlacement, equals: query}"#;

const CHOSEN_KEY_FIELDS: &str = r#"connection_config:
  keyPlacement: {title: Key placement, pattern: "header|query", default: header, integration_default: true}
  keyName:
    title: Key name
    pattern: "[A-Za-z0-9!#$%&'*+.^_`|~-]+"
    excluded_pattern: "(?i)host|content-length|transfer-encoding|connection|te|upgrade|keep-alive|proxy-connection|proxy-authorization|proxy-authenticate|trailer|expect"
    integration_default: true
  valueTemplate: {title: Value template, pattern: '.*\$\{apiKey\}.*', default: "${apiKey}", integration_default: true}
"#;

/// The fields of [`CHOSEN_KEY_AUTH`] with no `pattern` on `keyName`, so
/// that only the engine's check of the name rejects a value.
const OPEN_KEY_FIELDS: &str = r#"connection_config:
  keyPlacement: {title: Key placement, pattern: "header|query", default: header, integration_default: true}
  keyName: {title: Key name, integration_default: true}
  valueTemplate: {title: Value template, default: "${apiKey}"}
"#;

/// Replaces the built-in `confluence` provider with one whose API is httpbin's
/// echo, under the same path layout as Atlassian's
/// (`/ex/confluence/<cloud id>`), so the README walkthrough's proxy call can
/// run without reaching Atlassian.
fn confluence_stand_in(httpbin_base_url: &str) -> String {
    let cloud_id = r#"
connection_config:
  cloud_id:
    title: Cloud ID
    pattern: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
"#;
    support::provider_file(
        "confluence",
        "Confluence (httpbin stand-in)",
        &unused_oauth2_auth(httpbin_base_url),
        &format!("{httpbin_base_url}/anything/ex/confluence/{{{{ cloud_id }}}}"),
        cloud_id,
    )
}

/// A new integration of `provider` with one imported connection.
struct Connection {
    key: String,
    id: String,
}

async fn connect(api: &Api, provider: &str, credentials: Value) -> Connection {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({ "unique_key": key, "provider": provider }))
        .await;
    let id = format!("conn-{}", random_hex(6));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": id,
        "credentials": credentials,
    }))
    .await;
    Connection { key, id }
}

async fn bearer_connection(api: &Api) -> (Connection, String) {
    let token = format!("upstream-token-{}", random_hex(8));
    let connection = connect(
        api,
        "test-httpbin-bearer",
        json!({ "type": "OAUTH2", "access_token": token }),
    )
    .await;
    (connection, token)
}

#[tokio::test]
async fn proxy_forwards_method_and_json_body() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;
    let body = json!({ "name": "Ada", "tags": ["a", "b"], "n": 1.5 });

    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = api.proxy(
            method.clone(),
            "/anything/items/7",
            &connection.key,
            &connection.id,
        );
        if method != Method::GET {
            request = request.json(&body);
        }
        let reply = send(request).await;

        assert_eq!(reply.status, StatusCode::OK, "{method}: {}", reply.text);
        let echo = reply.json();
        assert_eq!(echo["method"], method.as_str(), "{method}");
        assert!(
            echo["url"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/anything/items/7"),
            "{method}: {}",
            echo["url"]
        );
        if method != Method::GET {
            assert_eq!(echo["json"], body, "{method}");
            assert_eq!(
                echo["headers"]["Content-Type"], "application/json",
                "{method}"
            );
        }
    }
}

#[tokio::test]
async fn proxy_forwards_other_content_types() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;
    let cases = [
        ("text/plain; charset=utf-8", "plain text, not JSON"),
        ("application/x-www-form-urlencoded", "a=1&b=two+words"),
    ];
    for (content_type, body) in cases {
        let reply = send(
            api.proxy(Method::POST, "/anything", &connection.key, &connection.id)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await;

        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{content_type}: {}",
            reply.text
        );
        let echo = reply.json();
        assert_eq!(echo["headers"]["Content-Type"], content_type);
        if content_type.starts_with("text/plain") {
            assert_eq!(echo["data"], body);
        } else {
            assert_eq!(echo["form"], json!({ "a": "1", "b": "two words" }));
        }
    }
}

#[tokio::test]
async fn proxy_keeps_query_string_bytes() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;
    // httpbin rebuilds `url` from the parsed request and decodes some
    // escapes, so each case is compared with the same request sent to
    // httpbin directly, and the first two also with the raw text.
    let cases = [
        ("a=1&a=2&b=%20x&c", true),
        ("z=last&a=first&plus=a+b&empty=", true),
        ("x=%2F%3F%26%3D&check=%E2%9C%93", false),
        ("list%5B%5D=1&list%5B%5D=2", false),
    ];
    let direct_client = reqwest::Client::builder().no_proxy().build().unwrap();
    for (query, verbatim) in cases {
        let path = format!("/anything/q?{query}");
        let reply = send(api.proxy(Method::GET, &path, &connection.key, &connection.id)).await;
        let direct = direct_client
            .get(format!("{}{path}", env.httpbin.base_url))
            .send()
            .await
            .unwrap();
        let direct: Value = direct.json().await.unwrap();

        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        let echo = reply.json();
        assert_eq!(echo["url"], direct["url"], "{query}");
        assert_eq!(echo["args"], direct["args"], "{query}");
        if verbatim {
            let expected = format!("{}{path}", env.httpbin.base_url);
            assert_eq!(echo["url"], expected.as_str(), "{query}");
        }
    }
}

#[tokio::test]
async fn proxy_injects_provider_credential() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, token) = bearer_connection(&api).await;

    let reply = send(
        api.proxy(Method::GET, "/anything", &connection.key, &connection.id)
            .header("Nango-Proxy-X-Custom", "custom value")
            .header("Nango-Proxy-Accept-Language", "fr"),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let headers = &reply.json()["headers"];
    assert_eq!(headers["Authorization"], format!("Bearer {token}").as_str());
    assert_eq!(headers["X-Custom"], "custom value");
    assert_eq!(headers["Accept-Language"], "fr");
    assert!(headers.get("Nango-Proxy-X-Custom").is_none(), "{headers}");
    assert!(headers.get("Provider-Config-Key").is_none(), "{headers}");
    assert!(headers.get("Connection-Id").is_none(), "{headers}");
    assert!(
        !reply.text.contains(&api.secret_key),
        "Latchkey's secret key reached the upstream: {}",
        reply.text
    );
}

#[tokio::test]
async fn proxy_injects_api_key_by_location() {
    let env = env();
    let api = env.latchkey.server.api();
    let api_key = format!("key-{}", random_hex(8));

    let header = connect(
        &api,
        "test-httpbin-header-key",
        json!({ "type": "API_KEY", "api_key": api_key }),
    )
    .await;
    let reply = send(api.proxy(Method::GET, "/anything", &header.key, &header.id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    assert_eq!(echo["headers"]["X-Api-Key"], api_key.as_str());
    assert!(
        echo["headers"].get("Authorization").is_none(),
        "{}",
        echo["headers"]
    );

    let query = connect(
        &api,
        "test-httpbin-query-key",
        json!({ "type": "API_KEY", "api_key": api_key }),
    )
    .await;
    let reply = send(api.proxy(Method::GET, "/anything?own=1", &query.key, &query.id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    assert_eq!(
        echo["args"]["api_key"],
        api_key.as_str(),
        "{}",
        echo["args"]
    );
    assert_eq!(echo["args"]["own"], "1", "{}", echo["args"]);
    assert!(
        echo["headers"].get("Authorization").is_none(),
        "{}",
        echo["headers"]
    );
}

/// With `caller_places_key: true` the proxy forwards the caller's request
/// as it is, and the caller reads the key from the connection.
#[tokio::test]
async fn proxy_leaves_key_to_caller_when_told() {
    let env = env();
    let api = env.latchkey.server.api();
    let api_key = format!("key-{}", random_hex(8));
    let connection = connect(
        &api,
        "test-httpbin-caller-key",
        json!({ "type": "API_KEY", "api_key": api_key }),
    )
    .await;

    let stored = api.connection(&connection.key, &connection.id, None).await;
    assert_eq!(
        stored["credentials"]["apiKey"],
        api_key.as_str(),
        "{stored}"
    );

    let body = format!("apikey={api_key}&email=a%40example.com");
    let reply = send(
        api.proxy(Method::POST, "/anything", &connection.key, &connection.id)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    assert_eq!(echo["form"]["apikey"], api_key.as_str(), "{echo}");
    assert_eq!(echo["args"], json!({}), "{echo}");
    let headers = echo["headers"].as_object().unwrap();
    let carrying: Vec<&String> = headers
        .iter()
        .filter(|(_, value)| value.as_str().is_some_and(|v| v.contains(&api_key)))
        .map(|(name, _)| name)
        .collect();
    assert!(carrying.is_empty(), "headers carry the key: {carrying:?}");

    // The key goes into no header, so only control characters are refused.
    connect(
        &api,
        "test-httpbin-caller-key",
        json!({ "type": "API_KEY", "apiKey": "ключ-1" }),
    )
    .await;
    let body = json!({
        "provider_config_key": connection.key,
        "connection_id": format!("ctl-{}", random_hex(4)),
        "credentials": { "type": "API_KEY", "apiKey": "k\u{1b}[31m" },
    });
    let reply = api.post("/connections", &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let message = reply.error_message();
    assert!(
        message.contains("`credentials.apiKey` contains a control character at position 2"),
        "{message}"
    );
    assert!(!message.contains("HTTP header"), "{message}");
}

/// The integration's `integration_config` chooses the key's place, name
/// and format; a connection takes them and the proxy sends the key there
/// only.
#[tokio::test]
async fn proxy_sends_key_where_integration_chooses() {
    let env = env();
    let api = env.latchkey.server.api();
    let api_key = format!("key-{}", random_hex(8));
    let cases = [
        (
            json!({"keyPlacement": "query", "keyName": "token", "valueTemplate": "Token ${apiKey}"}),
            None,
            Some(("token", format!("Token {api_key}"))),
        ),
        (
            json!({"keyName": "X-Private-Key"}),
            Some(("X-Private-Key", api_key.clone())),
            None,
        ),
    ];
    for (integration_config, header, query) in cases {
        let key = format!("chosen-{}", random_hex(4));
        api.create_integration(&json!({
            "unique_key": key,
            "provider": "test-httpbin-chosen-key",
            "integration_config": integration_config,
        }))
        .await;
        let id = format!("conn-{}", random_hex(6));
        api.create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {"type": "API_KEY", "apiKey": api_key},
        }))
        .await;
        let reply = send(api.proxy(Method::GET, "/anything?own=1", &key, &id)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let echo = reply.json();
        let mut expected_args = json!({"own": "1"});
        if let Some((name, value)) = &query {
            expected_args[name] = json!(value);
        }
        assert_eq!(echo["args"], expected_args, "{integration_config}: {echo}");
        let carrying: Vec<(&String, &Value)> = echo["headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, value)| value.as_str().is_some_and(|v| v.contains(&api_key)))
            .collect();
        let expected: Vec<(String, Value)> = header
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        let carrying: Vec<(String, Value)> = carrying
            .into_iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        assert_eq!(carrying, expected, "{integration_config}");
    }
}

/// Names and formats that the fields reject are refused when the
/// integration is saved, and nothing is stored.
#[tokio::test]
async fn chosen_key_place_checked_on_save() {
    let env = env();
    let api = env.latchkey.server.api();
    for (integration_config, named) in [
        (json!({"keyName": "Host"}), "integration_config.keyName"),
        (json!({"keyName": "X Key"}), "integration_config.keyName"),
        (
            json!({"keyName": "X-Key", "keyPlacement": "body"}),
            "integration_config.keyPlacement",
        ),
        (
            json!({"keyName": "X-Key", "valueTemplate": "Token"}),
            "integration_config.valueTemplate",
        ),
    ] {
        let key = format!("chosen-bad-{}", random_hex(4));
        let reply = api
            .post(
                "/integrations",
                &json!({
                    "unique_key": key,
                    "provider": "test-httpbin-chosen-key",
                    "integration_config": integration_config,
                }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{integration_config}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "invalid_body", "{}", reply.text);
        assert!(reply.error_message().contains(named), "{}", reply.text);
        let listed = api.get(&format!("/integrations/{key}")).await;
        assert_eq!(listed.status, StatusCode::NOT_FOUND, "{}", listed.text);
    }

    // Without a pattern on the field, the proxy's own name check decides.
    for (integration_config, shown) in [
        (json!({"keyName": "Host"}), "`Host`"),
        (
            json!({"keyName": "a&b=c", "keyPlacement": "query"}),
            "`a&b=c`",
        ),
    ] {
        let key = format!("open-bad-{}", random_hex(4));
        let body = json!({
            "unique_key": key,
            "provider": "test-httpbin-open-key",
            "integration_config": integration_config,
        });
        let reply = api.post("/integrations", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.error_code(), "invalid_body", "{}", reply.text);
        let message = reply.error_message();
        assert!(
            message.starts_with("`integration_config` is invalid"),
            "{message}"
        );
        assert!(message.contains(shown), "{message}");
        let listed = api.get(&format!("/integrations/{key}")).await;
        assert_eq!(listed.status, StatusCode::NOT_FOUND, "{}", listed.text);
    }
}

#[tokio::test]
async fn proxy_injects_api_key_in_several_places() {
    let env = env();
    let api = env.latchkey.server.api();
    let api_key = format!("key-{}", random_hex(8));
    let connection = connect(
        &api,
        "test-httpbin-multi-key",
        json!({ "type": "API_KEY", "api_key": api_key }),
    )
    .await;

    let reply = send(api.proxy(
        Method::GET,
        "/anything?own=1",
        &connection.key,
        &connection.id,
    ))
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    let bearer = format!("Bearer {api_key}");
    assert_eq!(echo["headers"]["Authorization"], bearer.as_str());
    assert_eq!(echo["headers"]["Apikey"], api_key.as_str());
    assert_eq!(echo["args"]["apiKey"], api_key.as_str(), "{}", echo["args"]);
    assert_eq!(echo["args"]["own"], "1", "{}", echo["args"]);
    let url = echo["url"].as_str().unwrap_or_default();
    assert!(
        url.ends_with(&format!("/anything?own=1&apiKey={api_key}")),
        "{url}"
    );
}

#[tokio::test]
async fn proxy_injects_api_key_as_path_segment() {
    let env = env();
    let api = env.latchkey.server.api();
    let api_key = format!("123456:key-{}", random_hex(8));
    let connection = connect(
        &api,
        "test-httpbin-path-key",
        json!({ "type": "API_KEY", "api_key": api_key }),
    )
    .await;

    let reply = send(api.proxy(Method::GET, "/getMe?own=1", &connection.key, &connection.id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    let url = echo["url"].as_str().unwrap_or_default();
    assert!(
        url.ends_with(&format!("/anything/bot{api_key}/getMe?own=1")),
        "{url}"
    );
    assert!(
        echo["headers"].get("Authorization").is_none(),
        "{}",
        echo["headers"]
    );

    let slash = connect(
        &api,
        "test-httpbin-path-key",
        json!({ "type": "API_KEY", "api_key": "a/b" }),
    )
    .await;
    let reply = send(api.proxy(Method::GET, "/getMe", &slash.key, &slash.id)).await;
    assert!(
        reply.status.is_client_error() || reply.status.is_server_error(),
        "{}",
        reply.status
    );
    assert!(reply.text.contains("one path segment"), "{}", reply.text);
    assert!(!reply.text.contains("a/b"), "{}", reply.text);
}

#[tokio::test]
async fn proxy_basic_auth_reaches_httpbin_check() {
    let env = env();
    let api = env.latchkey.server.api();
    let cases = [
        ("pass", StatusCode::OK),
        ("wrong", StatusCode::UNAUTHORIZED),
    ];
    for (password, expected) in cases {
        let connection = connect(
            &api,
            "test-httpbin-basic",
            json!({ "type": "BASIC", "username": "user", "password": password }),
        )
        .await;

        let reply = send(api.proxy(
            Method::GET,
            "/basic-auth/user/pass",
            &connection.key,
            &connection.id,
        ))
        .await;

        assert_eq!(
            reply.status, expected,
            "password {password}: {}",
            reply.text
        );
        if expected == StatusCode::OK {
            assert_eq!(
                reply.json(),
                json!({ "authenticated": true, "user": "user" })
            );
        }
    }
}

#[tokio::test]
async fn proxy_passes_upstream_status_through() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;
    for status in [201u16, 204, 404, 418, 500, 503] {
        let reply = send(api.proxy(
            Method::GET,
            &format!("/status/{status}"),
            &connection.key,
            &connection.id,
        ))
        .await;

        assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
        if status == 418 {
            assert!(reply.text.contains("teapot"), "{}", reply.text);
            assert_eq!(
                reply.header("x-more-info").as_deref(),
                Some("http://tools.ietf.org/html/rfc2324")
            );
        }
    }
}

#[tokio::test]
async fn proxy_drops_hop_by_hop_headers() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;

    // httpbin's /response-headers sets every query parameter as a header.
    let path = "/response-headers?Keep-Alive=timeout%3D99&Proxy-Authenticate=Basic&Trailer=X-Sum&Upgrade=h2c&X-Kept=yes";
    let reply = send(
        api.proxy(Method::GET, path, &connection.key, &connection.id)
            .header("Keep-Alive", "timeout=7")
            .header("Proxy-Authorization", "Basic Zm9vOmJhcg==")
            .header("TE", "trailers"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("x-kept").as_deref(), Some("yes"));
    for name in ["keep-alive", "proxy-authenticate", "trailer", "upgrade"] {
        assert_eq!(
            reply.header(name),
            None,
            "response header {name} was forwarded"
        );
    }

    let reply = send(
        api.proxy(Method::GET, "/anything", &connection.key, &connection.id)
            .header("Keep-Alive", "timeout=7")
            .header("Proxy-Authorization", "Basic Zm9vOmJhcg==")
            .header("TE", "trailers"),
    )
    .await;
    let headers = &reply.json()["headers"];
    for name in ["Keep-Alive", "Proxy-Authorization", "Te"] {
        assert!(
            headers.get(name).is_none(),
            "request header {name} was forwarded: {headers}"
        );
    }
}

#[tokio::test]
async fn proxy_base_url_override_rules() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;
    let other_host = format!("http://localhost:{}", env.httpbin.port);
    let cases = [
        ("", StatusCode::OK),
        (env.httpbin.base_url.as_str(), StatusCode::OK),
        (other_host.as_str(), StatusCode::BAD_REQUEST),
    ];
    for (value, expected) in cases {
        let reply = send(
            api.proxy(Method::GET, "/anything", &connection.key, &connection.id)
                .header("Base-Url-Override", value),
        )
        .await;

        assert_eq!(
            reply.status, expected,
            "Base-Url-Override {value:?}: {}",
            reply.text
        );
        if expected == StatusCode::BAD_REQUEST {
            assert_eq!(
                reply.error_code(),
                "forbidden_base_url_override",
                "{value:?}"
            );
        }
    }
}

/// A proxy request with some routing headers and the error it must get.
struct RoutingCase<'a> {
    case: &'a str,
    key: Option<&'a str>,
    id: Option<&'a str>,
    status: StatusCode,
    code: &'a str,
    /// A value the error message must name.
    named: &'a str,
}

impl<'a> RoutingCase<'a> {
    fn new(case: &'a str, key: Option<&'a str>, id: Option<&'a str>, status: StatusCode) -> Self {
        RoutingCase {
            case,
            key,
            id,
            status,
            code: "",
            named: "",
        }
    }

    fn error(mut self, code: &'a str, named: &'a str) -> Self {
        self.code = code;
        self.named = named;
        self
    }
}

#[tokio::test]
async fn proxy_rejects_missing_or_unknown_routing() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;
    let url = env.latchkey.server.url("/proxy/anything");
    let http = reqwest::Client::new();
    let key = Some(connection.key.as_str());
    let id = Some(connection.id.as_str());
    let cases = [
        RoutingCase::new("no Provider-Config-Key", None, id, StatusCode::BAD_REQUEST)
            .error("missing_header", "Provider-Config-Key"),
        RoutingCase::new("no Connection-Id", key, None, StatusCode::BAD_REQUEST)
            .error("missing_header", "Connection-Id"),
        RoutingCase::new(
            "unknown integration",
            Some("no-such-integration"),
            id,
            StatusCode::NOT_FOUND,
        )
        .error("unknown_integration", "no-such-integration"),
        RoutingCase::new(
            "unknown connection",
            key,
            Some("no-such-connection"),
            StatusCode::NOT_FOUND,
        )
        .error("unknown_connection", "no-such-connection"),
    ];
    for RoutingCase {
        case,
        key,
        id,
        status,
        code,
        named,
    } in cases
    {
        let mut request = http.get(&url).bearer_auth(&api.secret_key);
        if let Some(key) = key {
            request = request.header("Provider-Config-Key", key);
        }
        if let Some(id) = id {
            request = request.header("Connection-Id", id);
        }
        let reply = send(request).await;

        assert_eq!(reply.status, status, "{case}: {}", reply.text);
        assert_eq!(reply.error_code(), code, "{case}");
        assert!(
            reply.error_message().contains(named),
            "{case}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn curl_post_reaches_upstream_with_stored_token() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, token) = bearer_connection(&api).await;

    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--noproxy", "*", "-X", "POST"])
        .args(["-H", &format!("Authorization: Bearer {}", api.secret_key)])
        .args(["-H", &format!("Provider-Config-Key: {}", connection.key)])
        .args(["-H", &format!("Connection-Id: {}", connection.id)])
        .args(["-H", "Content-Type: application/json"])
        .args([
            "-d",
            r#"{"title":"From curl","body":{"storage":{"value":"<p>hi</p>"}}}"#,
        ])
        .arg(env.latchkey.server.url("/proxy/anything/pages?draft=true"))
        .output()
        .expect("run curl");

    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let echo: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["headers"]["Authorization"],
        format!("Bearer {token}").as_str()
    );
    assert_eq!(echo["headers"]["Content-Type"], "application/json");
    assert_eq!(echo["args"]["draft"], "true");
    assert_eq!(
        echo["json"],
        json!({ "title": "From curl", "body": { "storage": { "value": "<p>hi</p>" } } })
    );
}

#[tokio::test]
async fn proxy_accepts_nango_control_headers() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, _) = bearer_connection(&api).await;

    let reply = send(
        api.proxy(Method::GET, "/anything", &connection.key, &connection.id)
            .header("Retries", "0")
            .header("Decompress", "true")
            .header("Nango-Activity-Log-Id", "")
            .header("Base-Url-Override", ""),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let headers = &reply.json()["headers"];
    for name in [
        "Retries",
        "Decompress",
        "Nango-Activity-Log-Id",
        "Base-Url-Override",
    ] {
        assert!(
            headers.get(name).is_none(),
            "control header {name} went upstream: {headers}"
        );
    }
}

#[tokio::test]
async fn proxy_request_logged_without_token() {
    let env = env();
    let api = env.latchkey.server.api();
    let (connection, token) = bearer_connection(&api).await;

    let reply = send(api.proxy(Method::GET, "/status/202", &connection.key, &connection.id)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);

    // The server may write the line just after it sends the reply.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = env.latchkey.server.logs();
    let line = logs
        .lines()
        .find(|line| line.contains(&connection.id) && line.contains("/proxy"))
        .unwrap_or_else(|| panic!("no request line for {} in the log:\n{logs}", connection.id));
    for part in ["GET", "202", "latency_ms", connection.key.as_str()] {
        assert!(
            line.contains(part),
            "the request line lacks {part:?}: {line}"
        );
    }
    assert!(!logs.contains(&token), "the log carries the access token");
    assert!(
        !logs.contains(&api.secret_key),
        "the log carries the secret key"
    );
}

/// The README walkthrough's last two steps: import a Confluence connection,
/// then create a page through the proxy with the `storage` body, as a plain
/// curl call. The upstream must see Atlassian's path with the cloud id and
/// the stored token, never Latchkey's secret key.
#[tokio::test]
async fn walkthrough_creates_confluence_page() {
    let env = env();
    let api = env.latchkey.server.api();
    let cloud_id = "1324a887-45db-1bf4-1e99-ef0ff456d421";
    let token = format!("atlassian-token-{}", random_hex(8));
    let key = format!("confluence-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": "confluence",
        "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret",
                        "scopes": "write:page:confluence,read:page:confluence"},
    }))
    .await;
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": "ada-confluence",
        "end_user": {"id": "user-42"},
        "connection_config": {"cloud_id": cloud_id},
        "credentials": {"type": "OAUTH2", "access_token": token,
                        "refresh_token": "refresh-1", "expires_at": "2099-12-31T12:00:00Z"},
    }))
    .await;
    let page = json!({"spaceId": "65538", "status": "current", "title": "Release notes",
                      "body": {"representation": "storage",
                               "value": "<p>Written by an agent through Latchkey.</p>"}});

    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--noproxy", "*", "-X", "POST"])
        .args(["-H", &format!("Authorization: Bearer {}", api.secret_key)])
        .args(["-H", &format!("Provider-Config-Key: {key}")])
        .args(["-H", "Connection-Id: ada-confluence"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", &page.to_string()])
        .arg(env.latchkey.server.url("/proxy/wiki/api/v2/pages"))
        .output()
        .expect("run curl");

    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let echo: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let expected_url = format!(
        "{}/anything/ex/confluence/{cloud_id}/wiki/api/v2/pages",
        env.httpbin.base_url
    );
    assert_eq!(echo["url"], expected_url.as_str());
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["headers"]["Authorization"],
        format!("Bearer {token}").as_str()
    );
    assert_eq!(echo["json"], page);
    let echoed = echo.to_string();
    assert!(
        !echoed.contains(&api.secret_key),
        "the secret key reached the upstream: {echoed}"
    );
}

/// A connection-config value that the proxy could not use as the key's
/// header or query name is rejected when the connection is created, naming
/// the key and the value, and nothing is stored.
#[tokio::test]
async fn key_name_checked_on_create() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = format!("open-{}", random_hex(4));
    api.create_integration(&json!({"unique_key": key, "provider": "test-httpbin-open-key"}))
        .await;
    // (placement, name, expected text of the value)
    let cases = [
        ("header", "Host", "`Host`"),
        ("header", "proxy-authorization", "`proxy-authorization`"),
        ("header", "Expect", "`Expect`"),
        ("header", "X-A\r\nEvil: 1", "`X-A\\r\\nEvil: 1`"),
        ("header", "a b", "`a b`"),
        ("header", "", "``"),
        ("query", "a&b=c", "`a&b=c`"),
    ];
    for (placement, name, shown) in cases {
        let id = format!("conn-{}", random_hex(6));
        let reply = api
            .post(
                "/connections",
                &json!({
                    "provider_config_key": key,
                    "connection_id": id,
                    "connection_config": {"keyPlacement": placement, "keyName": name},
                    "credentials": {"type": "API_KEY", "apiKey": "key-secret-1"},
                }),
            )
            .await;
        let case = format!("{name:?}");
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "invalid_connection_config",
            &case,
        );
        let message = reply.error_message();
        assert!(
            message.contains(&format!("field `keyName` has the value {shown}")),
            "{name:?}: {message}"
        );
        assert!(message.contains("set `keyName` to another"), "{message}");
        assert!(!message.contains("key-secret-1"), "{message}");
        let stored = api
            .get(&format!("/connections/{id}?provider_config_key={key}"))
            .await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{name:?}: {}",
            stored.text
        );
    }

    // The connect page's key route runs the same check.
    let user = format!("user-{}", random_hex(6));
    let token = api.connect_session(&user, None).await;
    let reply = post_json(
        &env.latchkey.server.base_url,
        &format!("/connect/{key}/api-key"),
        Some(&token),
        &json!({"api_key": "key-secret-1", "connection_config": {"keyName": "Host"}}),
    )
    .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_connection_config",
        "Host",
    );
    assert!(
        reply
            .error_message()
            .contains("field `keyName` has the value `Host`"),
        "{}",
        reply.text
    );
    assert!(api.connections_of(&user).await.is_empty());
}

/// A stored name that the provider file later puts in a header, where the
/// proxy cannot use it, fails each proxied request with 400
/// `invalid_connection_config` instead of a server error.
#[tokio::test]
async fn stored_key_name_rejected_as_client_error() {
    let env = env();
    let base = &env.httpbin.base_url;
    let place = |location: &str| {
        format!(
            "  mode: api_key\n  inject:\n    location: {location}\n    name: \"{{{{ keyName }}}}\"\n    value: \"{{{{ api_key }}}}\""
        )
    };
    let fields = "connection_config:\n  keyName: {title: Key name}\n";
    let catalog = CatalogDir::new();
    let write = |location: &str| {
        catalog.write(
            "test-stored-name",
            &support::provider_file(
                "test-stored-name",
                "Stored name",
                &place(location),
                base,
                fields,
            ),
        );
    };
    write("query");
    let data = tempfile::TempDir::new().unwrap();
    let port = support::free_port();
    let config = || ServerConfig::new(port, data.path(), &[catalog.path()]).keys(Keys::generated());

    let first = Latchkey::start(config());
    let api = first.api();
    api.create_integration(&json!({"unique_key": "stored", "provider": "test-stored-name"}))
        .await;
    api.create_connection(&json!({
        "provider_config_key": "stored",
        "connection_id": "c1",
        "connection_config": {"keyName": "Host"},
        "credentials": {"type": "API_KEY", "apiKey": "key-secret-2"},
    }))
    .await;
    let reply = send(api.proxy(Method::GET, "/anything", "stored", "c1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json()["args"]["Host"],
        "key-secret-2",
        "{}",
        reply.text
    );
    first.stop();

    write("header");
    let second = Latchkey::start(config());
    let reply = send(second.api().proxy(Method::GET, "/anything", "stored", "c1")).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_connection_config",
        "Host",
    );
    let message = reply.error_message();
    assert!(
        message.contains("field `keyName` has the value `Host`"),
        "{message}"
    );
    assert!(!message.contains("key-secret-2"), "{message}");
    second.stop();
}
