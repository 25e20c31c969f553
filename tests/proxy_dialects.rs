//! `/proxy/{path}` for providers that set members of the JSON request body
//! (`proxy.body` and `inject` with `location: json_body`), or that send
//! the integration's OAuth client secret, against httpbin's `/anything`,
//! which echoes the request it received.
//!
//! One httpbin and one Latchkey server serve every test of this file.

mod support;

use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::latchkey::{send, Api, CatalogDir, CatalogServer};
use support::peers::Httpbin;
use support::{provider_file, random_hex, unused_oauth2_auth};

struct Env {
    _httpbin: Httpbin,
    latchkey: CatalogServer,
}

/// An API key at `auth.key` beside two `proxy.body` members, one of them
/// from the connection config, as SAGE Member's API expects.
const NESTED_KEY_AUTH: &str = r#"  mode: api_key
  inject:
    location: json_body
    name: auth.key
    value: "{{ api_key }}""#;

const NESTED_KEY_EXTRA: &str = r#"  body:
    auth.acctId: "{{ acct_id }}"
    mode: live
connection_config:
  acct_id:
    title: Account number
    pattern: "[0-9]+"
"#;

/// Basic auth in the header and the username in the body, as Inteliquent's
/// API expects.
const BASIC_AND_BODY_AUTH: &str = r#"  mode: basic
  inject:
    name: Authorization
    value: "Basic {{ (username ~ ':' ~ password) | base64 }}"
    additional:
      - location: json_body
        name: privateKey
        value: "{{ username }}""#;

/// An OAuth provider whose API reads `client_id:client_secret` from a
/// header, as Etsy's does.
const CLIENT_KEY_EXTRA: &str = r#"  headers:
    x-api-key: "{{ oauth_client_id }}:{{ oauth_client_secret }}"
"#;

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let httpbin = Httpbin::start();
        let base = format!("{}/anything", httpbin.base_url);
        let catalog = CatalogDir::new();
        catalog.write(
            "test-body-key",
            &provider_file(
                "test-body-key",
                "Test body key",
                NESTED_KEY_AUTH,
                &base,
                NESTED_KEY_EXTRA,
            ),
        );
        catalog.write(
            "test-body-basic",
            &provider_file(
                "test-body-basic",
                "Test body basic",
                BASIC_AND_BODY_AUTH,
                &base,
                "",
            ),
        );
        catalog.write(
            "test-client-key",
            &provider_file(
                "test-client-key",
                "Test client key",
                &unused_oauth2_auth(&httpbin.base_url),
                &base,
                CLIENT_KEY_EXTRA,
            ),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            _httpbin: httpbin,
            latchkey,
        }
    })
}

/// A new integration of `provider` with one imported connection.
struct Connection {
    key: String,
    id: String,
}

async fn connect(api: &Api, provider: &str, credentials: Value, config: Value) -> Connection {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({ "unique_key": key, "provider": provider }))
        .await;
    let id = format!("conn-{}", random_hex(6));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": id,
        "credentials": credentials,
        "connection_config": config,
    }))
    .await;
    Connection { key, id }
}

async fn key_connection(api: &Api) -> (Connection, String) {
    let api_key = format!("key-{}", random_hex(8));
    let connection = connect(
        api,
        "test-body-key",
        json!({ "type": "API_KEY", "api_key": api_key }),
        json!({ "acct_id": "4353478" }),
    )
    .await;
    (connection, api_key)
}

#[tokio::test]
async fn body_members_merged_into_caller_object() {
    let api = env().latchkey.server.api();
    let (connection, api_key) = key_connection(&api).await;
    let caller = json!({
        "serviceId": 103,
        "auth": { "sessionId": "s-1" },
        "tags": ["a", "b"],
    });

    let reply = send(
        api.proxy(Method::POST, "/search", &connection.key, &connection.id)
            .json(&caller),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    let expected = json!({
        "serviceId": 103,
        "auth": { "sessionId": "s-1", "acctId": "4353478", "key": api_key },
        "tags": ["a", "b"],
        "mode": "live",
    });
    assert_eq!(echo["json"], expected);
    assert_eq!(echo["headers"]["Content-Type"], "application/json");
    assert!(echo["url"]
        .as_str()
        .unwrap_or_default()
        .ends_with("/anything/search"));
}

#[tokio::test]
async fn injected_members_win_over_callers() {
    let api = env().latchkey.server.api();
    let (connection, api_key) = key_connection(&api).await;
    let cases = [
        (
            "same members",
            json!({ "auth": { "key": "caller-key", "acctId": "1" }, "mode": "test" }),
        ),
        ("non-object on the path", json!({ "auth": "caller-auth" })),
    ];

    for (case, caller) in cases {
        let reply = send(
            api.proxy(Method::POST, "/search", &connection.key, &connection.id)
                .json(&caller),
        )
        .await;

        assert_eq!(reply.status, StatusCode::OK, "{case}: {}", reply.text);
        let echo = reply.json();
        assert_eq!(echo["json"]["auth"]["key"], api_key.as_str(), "{case}");
        assert_eq!(echo["json"]["auth"]["acctId"], "4353478", "{case}");
        assert_eq!(echo["json"]["mode"], "live", "{case}");
        assert!(!reply.text.contains("caller-"), "{case}: {}", reply.text);
    }
}

#[tokio::test]
async fn empty_body_becomes_json_object() {
    let api = env().latchkey.server.api();
    let (connection, api_key) = key_connection(&api).await;

    for method in [Method::GET, Method::POST] {
        let reply = send(api.proxy(method.clone(), "/ping", &connection.key, &connection.id)).await;

        assert_eq!(reply.status, StatusCode::OK, "{method}: {}", reply.text);
        let echo = reply.json();
        let expected = json!({
            "auth": { "acctId": "4353478", "key": api_key },
            "mode": "live",
        });
        assert_eq!(echo["json"], expected, "{method}");
        assert_eq!(
            echo["headers"]["Content-Type"], "application/json",
            "{method}"
        );
    }
}

#[tokio::test]
async fn unusable_bodies_rejected() {
    let api = env().latchkey.server.api();
    let (connection, api_key) = key_connection(&api).await;
    let cases = [
        ("array", "application/json", "[1, 2]", "is a JSON array"),
        ("string", "application/json", "\"text\"", "is a JSON string"),
        (
            "invalid JSON",
            "application/json",
            "{\"a\": ",
            "is not valid JSON",
        ),
        (
            "form body",
            "application/x-www-form-urlencoded",
            "a=1",
            "Content-Type is `application/x-www-form-urlencoded`",
        ),
        (
            "text body",
            "text/plain",
            "{}",
            "Content-Type is `text/plain`",
        ),
    ];

    for (case, content_type, body, named) in cases {
        let reply = send(
            api.proxy(Method::POST, "/search", &connection.key, &connection.id)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await;

        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "invalid_body", "{case}");
        let message = reply.error_message();
        assert!(message.contains(named), "{case}: {message}");
        assert!(message.contains("test-body-key"), "{case}: {message}");
        assert!(!reply.text.contains(&api_key), "{case}: {}", reply.text);
    }
}

#[tokio::test]
async fn forwarded_content_type_checked() {
    let api = env().latchkey.server.api();
    let (connection, _) = key_connection(&api).await;

    let reply = send(
        api.proxy(Method::POST, "/search", &connection.key, &connection.id)
            .header("Content-Type", "application/json")
            .header("Nango-Proxy-Content-Type", "text/csv")
            .body("{}"),
    )
    .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.error_code(), "invalid_body");
    assert!(
        reply.error_message().contains("`text/csv`"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn basic_header_and_body_member_sent() {
    let api = env().latchkey.server.api();
    let password = format!("secret-{}", random_hex(6));
    let connection = connect(
        &api,
        "test-body-basic",
        json!({ "type": "BASIC", "username": "E3A7RgBW", "password": password }),
        json!({}),
    )
    .await;

    let reply = send(
        api.proxy(Method::POST, "/tnDetail", &connection.key, &connection.id)
            .json(&json!({ "pageSort": { "size": 1 } })),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    assert_eq!(
        echo["json"],
        json!({ "pageSort": { "size": 1 }, "privateKey": "E3A7RgBW" })
    );
    let basic = format!("Basic {}", base64_standard(&format!("E3A7RgBW:{password}")));
    assert_eq!(echo["headers"]["Authorization"], basic.as_str());
}

fn base64_standard(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn client_secret_reaches_header_only() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = format!("test-client-key-{}", random_hex(4));
    let client_secret = format!("client-secret-{}", random_hex(8));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": "test-client-key",
        "credentials": {
            "type": "OAUTH2",
            "client_id": "keystring-1",
            "client_secret": client_secret,
        },
    }))
    .await;
    let id = format!("conn-{}", random_hex(6));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": id,
        "credentials": { "type": "OAUTH2", "access_token": "token-1" },
    }))
    .await;

    let reply = send(api.proxy(Method::GET, "/listings", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    let expected = format!("keystring-1:{client_secret}");
    assert_eq!(echo["headers"]["X-Api-Key"], expected.as_str());
    assert_eq!(echo["headers"]["Authorization"], "Bearer token-1");

    let integration = api.get(&format!("/integrations/{key}")).await;
    assert_eq!(integration.status, StatusCode::OK, "{}", integration.text);
    assert!(
        !integration.text.contains(&client_secret),
        "GET /integrations returns the client secret: {}",
        integration.text
    );
    // The server may write the request line just after it sends the reply.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = env.latchkey.server.logs();
    assert!(
        logs.contains(&id),
        "no log line names the connection:\n{logs}"
    );
    assert!(
        !logs.contains(&client_secret),
        "the log carries the client secret"
    );
}

#[tokio::test]
async fn missing_client_secret_rejected() {
    let api = env().latchkey.server.api();
    let key = format!("test-client-key-{}", random_hex(4));
    api.create_integration(&json!({ "unique_key": key, "provider": "test-client-key" }))
        .await;
    let id = format!("conn-{}", random_hex(6));
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": id,
        "credentials": { "type": "OAUTH2", "access_token": "token-1" },
    }))
    .await;

    let reply = send(api.proxy(Method::GET, "/listings", &key, &id)).await;

    // An integration without client credentials leaves both variables
    // unset, as for any template that reads `oauth_client_id`.
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.text
    );
    assert_eq!(reply.error_code(), "template_error");
    let message = reply.error_message();
    assert!(message.contains("proxy.headers.x-api-key"), "{message}");
    assert!(message.contains("oauth_client_secret"), "{message}");
    assert!(message.contains("oauth_client_id"), "{message}");
}
