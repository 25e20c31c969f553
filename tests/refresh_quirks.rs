//! Token endpoint quirks against oauth2-mock-server, whose replies each test
//! rewrites for its own client id: a refresh reply without `refresh_token`,
//! `expires_in` sent as a string, refresh errors sent with HTTP 200 or as
//! an HTML 503 page, and a connection-config value that a refresh changes.
//!
//! One mock and one Latchkey server serve every test of this file.

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use support::latchkey::{no_redirect_client, send, Api, CatalogDir, CatalogServer, Reply};
use support::oauth_flow::{authorization_url, callback, connection_id_from_page, start_connect};
use support::peers::MockOAuth;
use support::{credential, provider_file, random_hex, text_at};

const PROVIDER: &str = "test-mock-oauth";
/// A provider that captures `restUrl` from every token reply, as Bullhorn's
/// definition does.
const CAPTURE_PROVIDER: &str = "test-mock-oauth-capture";

struct Env {
    mock: MockOAuth,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let mock = MockOAuth::start();
        let catalog = CatalogDir::new();
        let auth = format!(
            r#"  mode: oauth2
  authorization_url: "{issuer}/authorize"
  token_url: "{issuer}/token"
  client_auth: body"#,
            issuer = mock.issuer
        );
        catalog.write(
            PROVIDER,
            &provider_file(PROVIDER, "Test mock OAuth", &auth, &mock.issuer, ""),
        );
        let capture =
            format!("{auth}\n  token_response:\n    connection_config: {{restUrl: restUrl}}");
        catalog.write(
            CAPTURE_PROVIDER,
            &provider_file(
                CAPTURE_PROVIDER,
                "Test mock OAuth capture",
                &capture,
                &mock.issuer,
                "connection_config:\n  restUrl: {title: REST URL, automated: true}\n",
            ),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { mock, latchkey }
    })
}

/// An integration whose client id is this test's own at the mock.
struct Client {
    client_id: String,
    key: String,
}

async fn create_integration(api: &Api, name: &str) -> Client {
    let client_id = format!("{name}-{}", random_hex(4));
    let key = format!("mock-{client_id}");
    api.create_integration(&json!({
        "unique_key": key,
        "provider": PROVIDER,
        "credentials": {
            "type": "OAUTH2",
            "client_id": client_id,
            "client_secret": format!("secret-{}", random_hex(8)),
            "scopes": "read",
        },
    }))
    .await;
    Client { client_id, key }
}

/// Runs the browser flow: Latchkey's `/oauth/connect`, the mock's
/// `/authorize` (which redirects straight back with a code) and Latchkey's
/// callback. Returns the end user id and the connection id.
async fn connect(api: &Api, client: &Client) -> (String, String) {
    let user = format!("mock-user-{}", random_hex(6));
    let token = api.connect_session(&user, None).await;
    let reply = start_connect(&api.base_url, &client.key, Some(&token)).await;
    let authorization = authorization_url(&reply);
    let response = no_redirect_client()
        .get(authorization.clone())
        .send()
        .await
        .expect("GET the mock's /authorize");
    let back = Reply::read(response).await;
    assert!(
        back.status.is_redirection(),
        "the mock did not redirect: {}",
        back.text
    );
    let location = back.header("location").expect("Location from the mock");
    let page = callback(&url::Url::parse(&location).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let connection_id = connection_id_from_page(&page.text).expect("data-connection-id");
    (user, connection_id)
}

#[tokio::test]
async fn refresh_without_refresh_token_keeps_stored() {
    let env = env();
    let api = env.latchkey.server.api();
    let client = create_integration(&api, "keep").await;
    let (_, id) = connect(&api, &client).await;
    let initial = api.connection(&client.key, &id, Some(false)).await;
    let exchanges = env
        .mock
        .token_requests_of(&client.client_id, "authorization_code")
        .await;
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    let original_refresh = text_at(&exchanges[0], "/reply/refresh_token");
    assert_eq!(credential(&initial, "refresh_token"), original_refresh);

    env.mock
        .set_reply(
            &client.client_id,
            "refresh_token",
            json!({ "omit": ["refresh_token"] }),
        )
        .await;
    let first = api.connection(&client.key, &id, Some(true)).await;
    let stored = api.connection(&client.key, &id, Some(false)).await;
    let second = api.connection(&client.key, &id, Some(true)).await;

    let refreshes = env
        .mock
        .token_requests_of(&client.client_id, "refresh_token")
        .await;
    assert_eq!(refreshes.len(), 2, "{refreshes:?}");
    for (i, request) in refreshes.iter().enumerate() {
        assert_eq!(
            text_at(request, "/form/refresh_token"),
            original_refresh,
            "refresh {i} did not send the stored refresh token"
        );
        assert!(
            request["reply"].get("refresh_token").is_none(),
            "refresh {i}: the reply was not rewritten: {request}"
        );
    }
    assert_eq!(
        credential(&first, "access_token"),
        text_at(&refreshes[0], "/reply/access_token")
    );
    assert_eq!(
        credential(&second, "access_token"),
        text_at(&refreshes[1], "/reply/access_token")
    );
    for (what, value) in [("first", &first), ("stored", &stored), ("second", &second)] {
        assert_eq!(
            credential(value, "refresh_token"),
            original_refresh,
            "{what}: the refresh token was replaced or lost"
        );
    }

    // Once a reply carries a refresh token again, the rotated one is stored
    // and sent next time.
    env.mock
        .set_reply(&client.client_id, "refresh_token", json!({}))
        .await;
    let rotated = api.connection(&client.key, &id, Some(true)).await;
    api.connection(&client.key, &id, Some(true)).await;
    let refreshes = env
        .mock
        .token_requests_of(&client.client_id, "refresh_token")
        .await;
    assert_eq!(refreshes.len(), 4, "{refreshes:?}");
    let new_refresh = text_at(&refreshes[2], "/reply/refresh_token");
    assert_ne!(new_refresh, original_refresh);
    assert_eq!(credential(&rotated, "refresh_token"), new_refresh);
    assert_eq!(text_at(&refreshes[3], "/form/refresh_token"), new_refresh);
}

/// Access token lifetime the mock sends as a string, in seconds. The
/// refresh margin is capped at half of it, so the token is due after 5 s.
const STRING_LIFETIME: u64 = 10;

#[tokio::test]
async fn string_expires_in_schedules_refresh() {
    let env = env();
    let api = env.latchkey.server.api();
    let client = create_integration(&api, "string-expiry").await;
    env.mock
        .set_reply(
            &client.client_id,
            "authorization_code",
            json!({ "merge": { "expires_in": STRING_LIFETIME.to_string() } }),
        )
        .await;
    let (_, id) = connect(&api, &client).await;
    let connected_at = Instant::now();

    let fresh = api.connection(&client.key, &id, Some(false)).await;
    let exchange = env
        .mock
        .token_requests_of(&client.client_id, "authorization_code")
        .await;
    assert_eq!(
        exchange[0]["reply"]["expires_in"],
        STRING_LIFETIME.to_string().as_str(),
        "the mock did not send the lifetime as a string: {exchange:?}"
    );
    assert!(
        fresh["credentials"]["expires_at"].is_string(),
        "the string lifetime gave no expiry: {fresh}"
    );
    assert!(
        connected_at.elapsed() < Duration::from_secs(STRING_LIFETIME / 2),
        "the test machine is too slow for this check"
    );
    let early = env
        .mock
        .token_requests_of(&client.client_id, "refresh_token")
        .await;
    assert!(
        early.is_empty(),
        "refreshed a token that is not due: {early:?}"
    );

    let due_at = connected_at + Duration::from_secs(STRING_LIFETIME / 2 + 1);
    tokio::time::sleep_until(due_at.into()).await;
    let response = api
        .proxy(Method::GET, "/userinfo", &client.key, &id)
        .send()
        .await
        .expect("GET /proxy/userinfo");
    let proxied = Reply::read(response).await;

    assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text);
    let refreshes = env
        .mock
        .token_requests_of(&client.client_id, "refresh_token")
        .await;
    assert_eq!(
        refreshes.len(),
        1,
        "the proxy did not refresh the due token"
    );
    let after = api.connection(&client.key, &id, Some(false)).await;
    assert_eq!(
        credential(&after, "access_token"),
        text_at(&refreshes[0], "/reply/access_token")
    );
    assert_ne!(
        credential(&after, "access_token"),
        credential(&fresh, "access_token")
    );
}

#[tokio::test]
async fn refresh_errors_keep_connection() {
    let env = env();
    let api = env.latchkey.server.api();
    let description = "the refresh token was revoked by the test";
    let html = "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>\
                <body><h1>Service Unavailable</h1></body></html>";
    #[rustfmt::skip]
    let cases = [
        ("OAuth error with HTTP 200",
            json!({ "status": 200, "body": { "error": "invalid_grant", "error_description": description } }),
            StatusCode::FAILED_DEPENDENCY, "refresh_failed",
            vec!["invalid_grant", description, "HTTP 200", PROVIDER]),
        ("HTML page with HTTP 503",
            json!({ "raw": { "status": 503, "content_type": "text/html; charset=utf-8", "body": html } }),
            StatusCode::BAD_GATEWAY, "refresh_temporarily_failed",
            vec!["503", PROVIDER]),
    ];

    for (case, rule, status, code, message_parts) in cases {
        let client = create_integration(&api, "errors").await;
        let (user, id) = connect(&api, &client).await;
        let before = api.connection(&client.key, &id, Some(false)).await;
        env.mock
            .set_reply(&client.client_id, "refresh_token", rule)
            .await;

        let failed = api.connection_reply(&client.key, &id, Some(true)).await;

        assert_eq!(failed.status, status, "{case}: {}", failed.text);
        assert_eq!(failed.error_code(), code, "{case}");
        let message = failed.error_message();
        for part in message_parts.iter().chain([&id.as_str()]) {
            assert!(
                message.contains(part),
                "{case}: the message lacks {part:?}: {message}"
            );
        }
        let refreshes = env
            .mock
            .token_requests_of(&client.client_id, "refresh_token")
            .await;
        assert_eq!(refreshes.len(), 1, "{case}: {refreshes:?}");

        let listed = api.connections_of(&user).await;
        assert_eq!(
            listed.len(),
            1,
            "{case}: the failure deleted the connection"
        );
        let kept = api.connection(&client.key, &id, Some(false)).await;
        let errors = kept["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors.iter().any(|e| e["type"] == "refresh"),
            "{case}: no refresh error recorded: {kept}"
        );
        for field in ["access_token", "refresh_token"] {
            assert_eq!(
                credential(&kept, field),
                credential(&before, field),
                "{case}: the failure changed the stored {field}"
            );
        }

        // The provider recovers: the next refresh succeeds and clears the
        // recorded failure.
        env.mock
            .set_reply(&client.client_id, "refresh_token", json!({}))
            .await;
        let recovered = api.connection(&client.key, &id, Some(true)).await;
        let refreshes = env
            .mock
            .token_requests_of(&client.client_id, "refresh_token")
            .await;
        assert_eq!(refreshes.len(), 2, "{case}: {refreshes:?}");
        assert_eq!(
            credential(&recovered, "access_token"),
            text_at(&refreshes[1], "/reply/access_token"),
            "{case}"
        );
        assert_ne!(
            credential(&recovered, "access_token"),
            credential(&before, "access_token"),
            "{case}"
        );
        assert_eq!(
            recovered["errors"].as_array().map(Vec::len),
            Some(0),
            "{case}: {recovered}"
        );
    }
}

#[tokio::test]
async fn rejected_refresh_not_retried_until_forced() {
    let env = env();
    let api = env.latchkey.server.api();
    let client = create_integration(&api, "revoked").await;
    // A one-second token is due at once, so every later use needs a refresh.
    env.mock
        .set_reply(
            &client.client_id,
            "authorization_code",
            json!({ "merge": { "expires_in": 1 } }),
        )
        .await;
    let (user, id) = connect(&api, &client).await;
    env.mock
        .set_reply(
            &client.client_id,
            "refresh_token",
            json!({ "status": 400, "body": { "error": "invalid_grant", "error_description": "revoked by the test" } }),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let refresh_count = || async {
        env.mock
            .token_requests_of(&client.client_id, "refresh_token")
            .await
            .len()
    };

    let first = api.connection_reply(&client.key, &id, None).await;
    assert_eq!(
        first.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        first.text
    );
    assert_eq!(first.error_code(), "refresh_failed");
    assert_eq!(refresh_count().await, 1);

    let second = api.connection_reply(&client.key, &id, None).await;
    let third = api.connection_reply(&client.key, &id, Some(false)).await;
    let proxied = send(api.proxy(Method::GET, "/userinfo", &client.key, &id)).await;
    for (call, reply) in [
        ("second GET", &second),
        ("third GET", &third),
        ("proxy", &proxied),
    ] {
        assert_eq!(
            reply.status,
            StatusCode::FAILED_DEPENDENCY,
            "{call}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "refresh_failed", "{call}");
        assert!(
            reply.error_message().contains("invalid_grant"),
            "{call}: the recorded error is not returned: {}",
            reply.text
        );
    }
    assert_eq!(
        refresh_count().await,
        1,
        "a call after invalid_grant sent another refresh request"
    );
    assert_eq!(api.connections_of(&user).await.len(), 1);

    let forced = api.connection_reply(&client.key, &id, Some(true)).await;
    assert_eq!(
        forced.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        forced.text
    );
    assert_eq!(
        refresh_count().await,
        2,
        "force_refresh=true did not try again"
    );

    env.mock
        .set_reply(&client.client_id, "refresh_token", json!({}))
        .await;
    let recovered = api.connection(&client.key, &id, Some(true)).await;
    assert_eq!(refresh_count().await, 3);
    assert_eq!(
        recovered["errors"].as_array().map(Vec::len),
        Some(0),
        "{recovered}"
    );
}

#[tokio::test]
async fn refresh_reply_updates_captured_value() {
    let env = env();
    let api = env.latchkey.server.api();
    let client_id = format!("capture-{}", random_hex(4));
    let key = format!("mock-{client_id}");
    api.create_integration(&json!({
        "unique_key": key,
        "provider": CAPTURE_PROVIDER,
        "credentials": {
            "type": "OAUTH2",
            "client_id": client_id,
            "client_secret": format!("secret-{}", random_hex(8)),
            "scopes": "read",
        },
    }))
    .await;
    let client = Client { client_id, key };
    let first_url = "https://rest1.example/rest-services/e1/";
    let second_url = "https://rest7.example/rest-services/e1/";
    env.mock
        .set_reply(
            &client.client_id,
            "authorization_code",
            json!({ "merge": { "restUrl": first_url } }),
        )
        .await;
    let (_, id) = connect(&api, &client).await;

    let connected = api.connection(&client.key, &id, Some(false)).await;
    assert_eq!(connected["connection_config"]["restUrl"], first_url);

    env.mock
        .set_reply(
            &client.client_id,
            "refresh_token",
            json!({ "merge": { "restUrl": second_url } }),
        )
        .await;
    let refreshed = api.connection(&client.key, &id, Some(true)).await;
    assert_eq!(refreshed["connection_config"]["restUrl"], second_url);
    let stored = api.connection(&client.key, &id, Some(false)).await;
    assert_eq!(stored["connection_config"]["restUrl"], second_url);

    // A refresh reply without the member keeps the stored value.
    env.mock
        .set_reply(&client.client_id, "refresh_token", json!({}))
        .await;
    let kept = api.connection(&client.key, &id, Some(true)).await;
    assert_eq!(kept["connection_config"]["restUrl"], second_url);
}
