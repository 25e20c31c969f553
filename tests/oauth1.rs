//! The `oauth1` and `tba` modes end to end: the three-legged OAuth 1.0a
//! flow through the connect flow, token-based authentication connections
//! from `POST /connections` and from the connect page, and proxied requests
//! whose signatures oauthlib checks (`tests/peers/oauth1_provider.py`).
//!
//! One provider peer and one Latchkey server serve every test of this file.
//! Each test creates its own integrations and end users.

mod support;

use std::process::Command;
use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use support::html_form::form_for;
use support::latchkey::{no_redirect_client, post_json, Api, CatalogDir, Latchkey, Reply};
use support::oauth1_peer::OAuth1Provider;
use support::oauth_flow::{authorization_url, callback, connection_id_from_page, start_connect};
use support::peers::peers_dir;
use support::{credential, free_port, provider_file, random_hex};

const HMAC_CLIENT: &str = "hmacconsumer0001";
const RSA_CLIENT: &str = "rsaconsumer00001";
const TBA_CLIENT: &str = "tbaconsumer00001";
const TBA_TOKEN_ID: &str = "tbatokenid000000000000000001";
const TBA_TOKEN_SECRET: &str = "tba-token-secret-1";
/// The account id of the TBA tests, and the realm NetSuite derives from it.
const ACCOUNT_ID: &str = "1234567-sb1";
const REALM: &str = "1234567_SB1";

struct Env {
    provider: OAuth1Provider,
    server: Latchkey,
    hmac_secret: String,
    rsa_private_key: String,
    tba_secret: String,
    _catalog: CatalogDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(start_env)
}

/// Generates an RSA key pair with Python's `cryptography` and returns the
/// private and public keys in PEM.
fn rsa_key_pair() -> (String, String) {
    let script = "\
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization as s
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
print(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode(), end='')
print('#')
print(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(), end='')
";
    let output = Command::new(peers_dir().join(".venv/bin/python"))
        .args(["-c", script])
        .output()
        .expect("run the venv's python to generate an RSA key");
    assert!(
        output.status.success(),
        "RSA key generation failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (private, public) = text.split_once("#\n").expect("the key separator");
    (private.to_owned(), public.to_owned())
}

fn oauth1_auth(base: &str, signature_method: &str) -> String {
    format!(
        r#"  mode: oauth1
  request_token_url: "{base}/request_token"
  authorization_url: "{base}/authorize"
  access_token_url: "{base}/access_token"
  signature_method: {signature_method}
  request_token_params:
    x_access_type: write
  authorization_params:
    expiration: never"#
    )
}

fn start_env() -> Env {
    let hmac_secret = format!("hmac-secret-{}", random_hex(8));
    let tba_secret = format!("tba-secret-{}", random_hex(8));
    let (rsa_private_key, rsa_public_key) = rsa_key_pair();
    let provider = OAuth1Provider::start(&json!({
        "clients": {
            HMAC_CLIENT: {"secret": hmac_secret},
            RSA_CLIENT: {"rsa_public_key": rsa_public_key},
            TBA_CLIENT: {"secret": tba_secret, "realm": REALM},
        },
        "tokens": {
            TBA_TOKEN_ID: {"secret": TBA_TOKEN_SECRET, "client": TBA_CLIENT},
        },
    }));
    let base = &provider.base_url;
    let api_base = format!("{base}/api");

    let catalog = CatalogDir::new();
    catalog.write(
        "test-oauth1",
        &provider_file(
            "test-oauth1",
            "Test OAuth1",
            &oauth1_auth(base, "HMAC-SHA1"),
            &api_base,
            "",
        ),
    );
    catalog.write(
        "test-oauth1-rsa",
        &provider_file(
            "test-oauth1-rsa",
            "Test OAuth1 RSA",
            &oauth1_auth(base, "RSA-SHA1"),
            &api_base,
            "",
        ),
    );
    catalog.write(
        "test-tba",
        &provider_file(
            "test-tba",
            "Test TBA",
            "  mode: tba\n  realm: \"{{ accountId | upper | replace('-', '_') }}\"",
            &api_base,
            "connection_config:\n  accountId:\n    title: Account ID\n    pattern: \"[a-z0-9-]+\"\n",
        ),
    );
    let server = Latchkey::start_fresh(free_port(), &[catalog.path()], &[]);
    Env {
        provider,
        server,
        hmac_secret,
        rsa_private_key,
        tba_secret,
        _catalog: catalog,
    }
}

/// Creates an integration of `provider` with the consumer key and secret
/// under a new unique key that it returns.
async fn integration(api: &Api, provider: &str, kind: &str, key: &str, secret: &str) -> String {
    let unique_key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": unique_key,
        "provider": provider,
        "credentials": {"type": kind, "client_id": key, "client_secret": secret},
    }))
    .await;
    unique_key
}

/// Follows the provider's authorization page, which approves at once, and
/// returns the redirect back to Latchkey's callback.
async fn approve(authorization_url: &Url) -> Url {
    let response = no_redirect_client()
        .get(authorization_url.clone())
        .send()
        .await
        .expect("GET the provider's /authorize");
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "/authorize did not redirect"
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    Url::parse(&location).unwrap()
}

/// Runs the three-legged flow for a new end user and returns the connection id.
async fn connect(api: &Api, key: &str) -> String {
    let token = api
        .connect_session(&format!("user-{}", random_hex(6)), None)
        .await;
    let reply = start_connect(&api.base_url, key, Some(&token)).await;
    let authorization_url = authorization_url(&reply);
    let callback_url = approve(&authorization_url).await;
    let page = callback(&callback_url).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "callback failed: {}",
        page.text
    );
    connection_id_from_page(&page.text).expect("data-connection-id in the callback page")
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    Reply::read(request.send().await.expect("send the proxied request")).await
}

#[tokio::test]
async fn three_legged_flow_signs_proxied_requests() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-oauth1", "OAUTH1", HMAC_CLIENT, &env.hmac_secret).await;
    let token = api.connect_session("three-legged-user", None).await;

    let reply = start_connect(&api.base_url, &key, Some(&token)).await;
    let authorization_url = authorization_url(&reply);
    assert!(
        authorization_url
            .as_str()
            .starts_with(&format!("{}/authorize?", env.provider.base_url)),
        "{authorization_url}"
    );
    assert_eq!(
        support::oauth_flow::query_param(&authorization_url, "expiration").as_deref(),
        Some("never")
    );
    let callback_url = approve(&authorization_url).await;
    assert!(
        callback_url
            .as_str()
            .starts_with(&format!("{}/oauth/callback?state=", api.base_url)),
        "{callback_url}"
    );
    let page = callback(&callback_url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let id = connection_id_from_page(&page.text).expect("data-connection-id");

    let connection = api.connection(&key, &id, None).await;
    assert_eq!(connection["credentials"]["type"], "OAUTH1", "{connection}");
    let oauth_token = credential(&connection, "oauth_token");
    assert!(!credential(&connection, "oauth_token_secret").is_empty());

    let get = send(api.proxy(Method::GET, "/items?a=1&b=x%20y&b=z", &key, &id)).await;
    assert_eq!(get.status, StatusCode::OK, "{}", get.text);
    let echo = get.json();
    assert_eq!(echo["token"], oauth_token.as_str(), "{echo}");
    assert_eq!(echo["signature_method"], "HMAC-SHA1", "{echo}");
    assert_eq!(
        echo["query"],
        json!([["a", "1"], ["b", "x y"], ["b", "z"]]),
        "{echo}"
    );

    let post = send(
        api.proxy(Method::POST, "/items?q=1", &key, &id)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=a+b&tag=%2A&tag=c"),
    )
    .await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text);
    assert_eq!(
        post.json()["body"],
        "name=a+b&tag=%2A&tag=c",
        "{}",
        post.text
    );
    assert_eq!(post.json()["method"], "POST");

    let json_post = send(
        api.proxy(Method::POST, "/items", &key, &id)
            .header("content-type", "application/json")
            .body(r#"{"name":"a"}"#),
    )
    .await;
    assert_eq!(json_post.status, StatusCode::OK, "{}", json_post.text);
}

#[tokio::test]
async fn rsa_sha1_signs_every_step() {
    let env = env();
    let api = env.server.api();
    let key = integration(
        &api,
        "test-oauth1-rsa",
        "OAUTH1",
        RSA_CLIENT,
        &env.rsa_private_key,
    )
    .await;
    let id = connect(&api, &key).await;

    let reply = send(api.proxy(Method::GET, "/me?x=1", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json()["signature_method"],
        "RSA-SHA1",
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn wrong_consumer_secret_fails_request_token() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-oauth1", "OAUTH1", HMAC_CLIENT, "not-the-secret").await;
    let token = api.connect_session("wrong-secret-user", None).await;
    let rejected_before = env.provider.count("rejected").await;

    let reply = start_connect(&api.base_url, &key, Some(&token)).await;

    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text);
    assert_eq!(
        reply.error_code(),
        "oauth_exchange_failed",
        "{}",
        reply.text
    );
    // oauthlib rejects a bad signature with a 401 and an empty body.
    assert!(
        reply.error_message().contains("HTTP 401 and an empty body"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("not-the-secret"), "{}", reply.text);
    assert_eq!(env.provider.count("rejected").await, rejected_before + 1);
}

#[tokio::test]
async fn callback_with_other_request_token_fails() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-oauth1", "OAUTH1", HMAC_CLIENT, &env.hmac_secret).await;
    let token = api.connect_session("swapped-token-user", None).await;
    let reply = start_connect(&api.base_url, &key, Some(&token)).await;
    let mut callback_url = approve(&authorization_url(&reply)).await;
    let pairs: Vec<(String, String)> = callback_url
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "oauth_token" {
                "someoneelsestoken".to_owned()
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    callback_url.query_pairs_mut().clear().extend_pairs(&pairs);

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("invalid_callback"), "{}", page.text);
    assert!(api.connections_of("swapped-token-user").await.is_empty());
}

#[tokio::test]
async fn callback_without_verifier_fails() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-oauth1", "OAUTH1", HMAC_CLIENT, &env.hmac_secret).await;
    let token = api.connect_session("no-verifier-user", None).await;
    let reply = start_connect(&api.base_url, &key, Some(&token)).await;
    let mut callback_url = approve(&authorization_url(&reply)).await;
    let pairs: Vec<(String, String)> = callback_url
        .query_pairs()
        .filter(|(name, _)| name != "oauth_verifier")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    callback_url.query_pairs_mut().clear().extend_pairs(&pairs);

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("oauth_verifier"), "{}", page.text);
}

#[tokio::test]
async fn imported_oauth1_needs_token_secret() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-oauth1", "OAUTH1", HMAC_CLIENT, &env.hmac_secret).await;

    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "credentials": {"type": "OAUTH1", "oauth_token": "abcdefgh12345678"},
            }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.error_code(), "invalid_body");
    assert!(
        reply
            .error_message()
            .contains("`credentials.oauth_token_secret`"),
        "{}",
        reply.text
    );
}

fn tba_body(key: &str, credentials: Value) -> Value {
    json!({
        "provider_config_key": key,
        "connection_config": {"accountId": ACCOUNT_ID},
        "credentials": credentials,
    })
}

#[tokio::test]
async fn tba_import_signs_with_realm() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-tba", "TBA", TBA_CLIENT, &env.tba_secret).await;
    let created = api
        .create_connection(&tba_body(
            &key,
            json!({"type": "TBA", "token_id": TBA_TOKEN_ID, "token_secret": TBA_TOKEN_SECRET}),
        ))
        .await;
    let id = created["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();

    let connection = api.connection(&key, &id, None).await;
    assert_eq!(
        connection["credentials"],
        json!({"type": "TBA", "token_id": TBA_TOKEN_ID, "token_secret": TBA_TOKEN_SECRET})
    );
    let reply = send(api.proxy(Method::GET, "/record/v1/customer?limit=5", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let echo = reply.json();
    assert_eq!(echo["signature_method"], "HMAC-SHA256", "{echo}");
    assert_eq!(echo["realm"], REALM, "{echo}");
    assert_eq!(echo["token"], TBA_TOKEN_ID, "{echo}");
}

#[tokio::test]
async fn tba_wrong_consumer_secret_returns_provider_401() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-tba", "TBA", TBA_CLIENT, "wrong-consumer-secret").await;
    let created = api
        .create_connection(&tba_body(
            &key,
            json!({"type": "TBA", "token_id": TBA_TOKEN_ID, "token_secret": TBA_TOKEN_SECRET}),
        ))
        .await;
    let id = created["connection_id"].as_str().unwrap().to_owned();

    let reply = send(api.proxy(Method::GET, "/record/v1/customer", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(reply.json()["checks"]["signature"], false, "{}", reply.text);
    assert_eq!(reply.json()["checks"]["client"], true, "{}", reply.text);
}

#[tokio::test]
async fn tba_import_bad_input() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-tba", "TBA", TBA_CLIENT, &env.tba_secret).await;

    #[rustfmt::skip]
    let cases = [
        (json!({"type": "TBA", "token_id": TBA_TOKEN_ID}), "invalid_body", "`credentials.token_secret`"),
        (json!({"type": "TBA", "token_secret": "s"}), "invalid_body", "`credentials.token_id`"),
        (json!({"type": "TBA", "token_id": TBA_TOKEN_ID, "token_secret": ""}), "invalid_body", "`credentials.token_secret`"),
        (json!({"type": "TBA", "token_id": "a\nb", "token_secret": "s"}), "invalid_credentials", "`credentials.token_id`"),
        (json!({"type": "API_KEY", "api_key": "k"}), "invalid_credentials", "must be `TBA`"),
    ];
    for (credentials, code, needle) in cases {
        let reply = api
            .post("/connections", &tba_body(&key, credentials.clone()))
            .await;

        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{credentials}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), code, "{credentials}: {}", reply.text);
        assert!(
            reply.error_message().contains(needle),
            "{credentials}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn import_needs_consumer_credentials() {
    let env = env();
    let api = env.server.api();
    let cases = [
        (
            "test-tba",
            tba_body(
                "",
                json!({"type": "TBA", "token_id": TBA_TOKEN_ID, "token_secret": TBA_TOKEN_SECRET}),
            ),
        ),
        (
            "test-oauth1",
            json!({"credentials": {"type": "OAUTH1", "oauth_token": "t", "oauth_token_secret": "s"}}),
        ),
    ];
    for (provider, mut body) in cases {
        let key = api.integration_of(provider).await;
        body["provider_config_key"] = json!(key);

        let reply = api.post("/connections", &body).await;

        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{provider}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "invalid_credentials", "{provider}");
        let message = reply.error_message();
        assert!(
            message.contains("has no consumer key and secret"),
            "{provider}: {message}"
        );
        assert!(message.contains(&key), "{provider}: {message}");
        let listed = api.get("/connections").await;
        let connections = listed.json()["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            connections
                .iter()
                .all(|c| c["provider_config_key"] != key.as_str()),
            "{provider}: a connection was stored"
        );
    }
}

#[tokio::test]
async fn tba_connect_form_creates_connection() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-tba", "TBA", TBA_CLIENT, &env.tba_secret).await;
    let user = format!("tba-form-{}", random_hex(6));
    let reply = api
        .post("/connect/sessions", &json!({"end_user": {"id": user}}))
        .await;
    let link = reply.json()["data"]["connect_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let page_url = Url::parse(&link).unwrap();
    let page = Reply::read(
        no_redirect_client()
            .get(page_url.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let form = form_for(&page.text, &key).expect("a form for the TBA integration");
    assert_eq!(
        form.input_names(),
        ["token_id", "token_secret", "params[accountId]"],
        "{}",
        page.text
    );

    let submitted = form
        .submit(
            &page_url,
            &[
                ("token_id", TBA_TOKEN_ID),
                ("token_secret", TBA_TOKEN_SECRET),
                ("params[accountId]", ACCOUNT_ID),
            ],
        )
        .await;

    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    assert!(!submitted.text.contains(TBA_TOKEN_SECRET));
    let id = connection_id_from_page(&submitted.text).expect("data-connection-id");
    let proxied = send(api.proxy(Method::GET, "/record/v1/item", &key, &id)).await;
    assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text);
    assert_eq!(proxied.json()["realm"], REALM, "{}", proxied.text);
}

#[tokio::test]
async fn tba_entry_needs_token_secret() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-tba", "TBA", TBA_CLIENT, &env.tba_secret).await;
    let token = api.connect_session("tba-entry-user", None).await;

    let reply = post_json(
        &api.base_url,
        &format!("/connect/{key}/tba"),
        Some(&token),
        &json!({"token_id": TBA_TOKEN_ID, "connection_config": {"accountId": ACCOUNT_ID}}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.error_code(), "invalid_credentials");
    assert!(
        reply.error_message().contains("`token_secret`"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn tba_route_rejects_oauth1_integration() {
    let env = env();
    let api = env.server.api();
    let key = integration(&api, "test-oauth1", "OAUTH1", HMAC_CLIENT, &env.hmac_secret).await;
    let token = api.connect_session("tba-route-user", None).await;

    let reply = post_json(
        &api.base_url,
        &format!("/connect/{key}/tba"),
        Some(&token),
        &json!({"token_id": "a", "token_secret": "b"}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply
            .error_message()
            .contains(&format!("GET /oauth/connect/{key}")),
        "{}",
        reply.text
    );
}
