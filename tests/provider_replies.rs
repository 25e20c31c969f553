//! Token, login and post-connection endpoints that misbehave: they
//! redirect elsewhere, echo the request's secrets in an error, fail with a
//! 5xx or return values that could never be used. Each provider here talks
//! to a recorder of the test's own (`tests/support/recorder.rs`) whose
//! replies each test scripts, so every test uses its own paths.

mod support;

use std::sync::OnceLock;

use serde_json::{json, Value};

use std::time::Duration;

use reqwest::{Method, StatusCode};

use support::latchkey::{assert_error, send, Api, CatalogDir, CatalogServer, Reply};
use support::recorder::{CannedReply, Recorder};
use support::{provider_file, random_hex};

struct Env {
    provider: Recorder,
    /// A second host that no request may reach.
    elsewhere: Recorder,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let provider = Recorder::start();
        let elsewhere = Recorder::start();
        let base = &provider.base_url;
        let catalog = CatalogDir::new();
        let files = [
            ("test-cc-redirect", client_credentials_provider(base)),
            (
                "test-login-redirect",
                two_step_provider("test-login-redirect", base, "/redirect/login"),
            ),
            (
                "test-post-redirect",
                post_connection_provider("test-post-redirect", base, "/redirect/site"),
            ),
            (
                "test-login-outage",
                two_step_provider("test-login-outage", base, "/outage/login"),
            ),
            (
                "test-login-echo",
                two_step_provider("test-login-echo", base, "/echo/login"),
            ),
            (
                "test-refresh-rejected",
                two_step_refresh_provider("test-refresh-rejected", base, "/rejected/login"),
            ),
            (
                "test-cc-echo-text",
                client_credentials_at("test-cc-echo-text", base, "/echo/text-token"),
            ),
            (
                "test-cc-echo-oauth",
                client_credentials_at("test-cc-echo-oauth", base, "/echo/oauth-token"),
            ),
            (
                "test-post-echo",
                post_connection_provider("test-post-echo", base, "/echo/site"),
            ),
            (
                "test-cc-linebreak",
                client_credentials_at("test-cc-linebreak", base, "/linebreak/token"),
            ),
        ];
        for (name, file) in &files {
            catalog.write(name, file);
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            provider,
            elsewhere,
            latchkey,
        }
    })
}

/// Returns an `oauth2_client_credentials` provider whose token endpoint is
/// `token_path`.
fn client_credentials_at(name: &str, base: &str, token_path: &str) -> String {
    let auth = format!(
        r#"  mode: oauth2_client_credentials
  token_url: "{base}{token_path}""#
    );
    provider_file(name, name, &auth, &format!("{base}/api"), "")
}

fn client_credentials_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: oauth2_client_credentials
  token_url: "{base}/redirect/token""#
    );
    provider_file(
        "test-cc-redirect",
        "CC redirect",
        &auth,
        &format!("{base}/api"),
        "",
    )
}

/// Returns a `two_step` provider whose login is a JSON POST to `login_path`
/// and whose optional refresh request goes to `{login_path}/refresh`.
fn two_step_provider(name: &str, base: &str, login_path: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    username: {{title: User}}
    password: {{title: Password, secret: true}}
  token_request:
    url: "{base}{login_path}"
    body_format: json
    params:
      username: "{{{{ username }}}}"
      password: "{{{{ password }}}}"
  token_response:
    access_token: access_token
    expires_in: expires_in"#
    );
    provider_file(name, name, &auth, &format!("{base}/api"), "")
}

/// Returns a `two_step` provider like [`two_step_provider`] whose reply
/// carries a refresh token, sent to `{login_path}/refresh` to renew the
/// token.
fn two_step_refresh_provider(name: &str, base: &str, login_path: &str) -> String {
    let file = two_step_provider(name, base, login_path);
    let refresh = format!(
        r#"  refresh_request:
    url: "{base}{login_path}/refresh"
    params:
      refresh_token: "{{{{ refresh_token }}}}"
  token_response:
    refresh_token: refresh_token
"#
    );
    file.replace("  token_response:\n", &refresh)
}

/// Returns an `api_key` provider with one post-connection step to
/// `step_path` that fills the `site` connection-config key.
fn post_connection_provider(name: &str, base: &str, step_path: &str) -> String {
    let auth = r#"  mode: api_key
  inject:
    name: X-Api-Key
    value: "{{ api_key }}""#;
    let extra = format!(
        r#"connection_config:
  site:
    title: Site
    pattern: "[a-z0-9]+"
    automated: true
post_connection:
  - url: "{base}{step_path}"
    connection_config:
      site: id
"#
    );
    provider_file(name, name, auth, &format!("{base}/api"), &extra)
}

async fn create(
    api: &Api,
    provider: &str,
    credentials: Value,
) -> (String, String, support::latchkey::Reply) {
    let key = api.integration_of(provider).await;
    let id = format!("conn-{}", random_hex(6));
    let reply = api
        .post(
            "/connections",
            &json!({"provider_config_key": key, "connection_id": id, "credentials": credentials}),
        )
        .await;
    (key, id, reply)
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let env = env();
    let api = env.latchkey.server.api();
    let stolen = format!("{}/stolen", env.elsewhere.base_url);
    env.provider
        .set_reply("/redirect/token", CannedReply::redirect(307, &stolen));
    env.provider
        .set_reply("/redirect/login", CannedReply::redirect(307, &stolen));
    env.provider
        .set_reply("/redirect/site", CannedReply::redirect(302, &stolen));
    let cc_key = format!("cc-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": cc_key,
        "provider": "test-cc-redirect",
        "credentials": {"type": "OAUTH2_CC", "client_id": "cid", "client_secret": "cc-secret-1"},
    }))
    .await;

    let cases = [
        (
            "client credentials",
            api.post(
                "/connections",
                &json!({"provider_config_key": cc_key, "connection_id": "cc", "credentials": {"type": "OAUTH2_CC"}}),
            )
            .await,
            "/redirect/token",
        ),
        (
            "two_step login",
            create(
                &api,
                "test-login-redirect",
                json!({"type": "TWO_STEP", "username": "ada", "password": "pw-redirected"}),
            )
            .await
            .2,
            "/redirect/login",
        ),
        (
            "post-connection step",
            create(
                &api,
                "test-post-redirect",
                json!({"type": "API_KEY", "api_key": "k-redirected"}),
            )
            .await
            .2,
            "/redirect/site",
        ),
    ];

    for (case, reply, path) in cases {
        assert_eq!(env.provider.requests_to(path).len(), 1, "{case}");
        assert!(
            !reply.status.is_success(),
            "{case}: {} {}",
            reply.status,
            reply.text
        );
        assert!(
            reply.error_message().contains("HTTP 30"),
            "{case}: {}",
            reply.text
        );
    }
    assert!(
        env.elsewhere.requests().is_empty(),
        "a redirect was followed: {:?}",
        env.elsewhere.requests()
    );
}

/// Sends `GET /proxy{path}` for the connection.
async fn proxy_get(api: &Api, key: &str, id: &str, path: &str) -> Reply {
    send(api.proxy(Method::GET, path, key, id)).await
}

/// Returns the `Authorization` header of the last request to `path`.
fn last_authorization(recorder: &Recorder, path: &str) -> String {
    let requests = recorder.requests_to(path);
    let last = requests
        .last()
        .unwrap_or_else(|| panic!("no request reached {path}"));
    last.header_values("authorization").join(", ")
}

#[tokio::test]
async fn login_outage_is_temporary() {
    let env = env();
    let api = env.latchkey.server.api();
    env.provider.set_reply(
        "/outage/login",
        CannedReply::json(200, &json!({"access_token": "outage-t1", "expires_in": 1})),
    );
    let (key, id, created) = create(
        &api,
        "test-login-outage",
        json!({"type": "TWO_STEP", "username": "ada", "password": "pw-outage"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    env.provider.set_reply(
        "/outage/login",
        CannedReply::text(503, "down for maintenance"),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let failed = proxy_get(&api, &key, &id, "/outage").await;

    assert_error(
        &failed,
        StatusCode::BAD_GATEWAY,
        "refresh_temporarily_failed",
        "login answered 503",
    );
    assert!(
        failed.error_message().contains("HTTP 503"),
        "{}",
        failed.text
    );
    assert_eq!(env.provider.requests_to("/outage/login").len(), 2);

    // After the backoff the provider is asked again, and its new token is used.
    env.provider.set_reply(
        "/outage/login",
        CannedReply::json(
            200,
            &json!({"access_token": "outage-t2", "expires_in": 3600}),
        ),
    );
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let recovered = proxy_get(&api, &key, &id, "/outage").await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.text);
    assert_eq!(env.provider.requests_to("/outage/login").len(), 3);
    assert_eq!(
        last_authorization(&env.provider, "/api/outage"),
        "Bearer outage-t2"
    );
}

#[tokio::test]
async fn rejected_refresh_falls_back_to_login() {
    let env = env();
    let api = env.latchkey.server.api();
    env.provider.set_reply(
        "/rejected/login",
        CannedReply::json(
            200,
            &json!({"access_token": "fallback-t1", "refresh_token": "fallback-r1", "expires_in": 1}),
        ),
    );
    env.provider.set_reply(
        "/rejected/login/refresh",
        CannedReply::json(401, &json!({"error": "refresh token fallback-r1 revoked"})),
    );
    let (key, id, created) = create(
        &api,
        "test-refresh-rejected",
        json!({"type": "TWO_STEP", "username": "ada", "password": "pw-fallback"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    env.provider.set_reply(
        "/rejected/login",
        CannedReply::json(
            200,
            &json!({"access_token": "fallback-t2", "expires_in": 3600}),
        ),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let reply = proxy_get(&api, &key, &id, "/fallback").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(env.provider.requests_to("/rejected/login/refresh").len(), 1);
    assert_eq!(env.provider.requests_to("/rejected/login").len(), 2);
    assert_eq!(
        last_authorization(&env.provider, "/api/fallback"),
        "Bearer fallback-t2"
    );
}

#[tokio::test]
async fn echoed_login_values_redacted() {
    let env = env();
    let api = env.latchkey.server.api();
    // The username is a prefix of the password, and the password needs
    // JSON escaping, so a value-by-value replacement would leak either.
    let username = format!("ada-{}", random_hex(4));
    let password = format!("{username}\"horse\\battery");
    let echo =
        json!({"message": "bad login", "echo": {"username": username, "password": password}});
    env.provider
        .set_reply("/echo/login", CannedReply::json(401, &echo));

    let (_, _, reply) = create(
        &api,
        "test-login-echo",
        json!({"type": "TWO_STEP", "username": username, "password": password}),
    )
    .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "echoed login",
    );
    let message = reply.error_message();
    assert!(message.contains("bad login"), "{message}");
    assert!(
        message.contains(r#"{"password":"[redacted]","username":"[redacted]"}"#),
        "{message}"
    );
    assert!(!message.contains("horse"), "{message}");
    assert!(!message.contains(&username), "{message}");
    let logs = env.latchkey.server.logs();
    assert!(!logs.contains("horse"), "the password reached the logs");
}

#[tokio::test]
async fn token_error_bodies_redacted() {
    let env = env();
    let api = env.latchkey.server.api();
    let client_secret = format!("cc$secret {}", random_hex(6));
    let encoded: String = url::form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    env.provider.set_reply(
        "/echo/text-token",
        CannedReply::text(
            400,
            &format!("bad request: grant_type=client_credentials&client_secret={encoded}"),
        ),
    );
    env.provider.set_reply(
        "/echo/oauth-token",
        CannedReply::json(
            401,
            &json!({"error": "invalid_client", "error_description": format!("secret {client_secret} is wrong")}),
        ),
    );

    for (case, provider, expected) in [
        (
            "text body echoing the form",
            "test-cc-echo-text",
            "client_secret=[redacted]",
        ),
        (
            "invalid_client description",
            "test-cc-echo-oauth",
            "secret [redacted] is wrong",
        ),
    ] {
        let key = format!("{provider}-{}", random_hex(4));
        api.create_integration(&json!({
            "unique_key": key,
            "provider": provider,
            "credentials": {"type": "OAUTH2_CC", "client_id": "cid", "client_secret": client_secret},
        }))
        .await;

        let reply = api
            .post(
                "/connections",
                &json!({"provider_config_key": key, "connection_id": "echo", "credentials": {"type": "OAUTH2_CC"}}),
            )
            .await;

        assert!(!reply.status.is_success(), "{case}: {}", reply.text);
        let message = reply.error_message();
        assert!(message.contains(expected), "{case}: {message}");
        assert!(!message.contains(&client_secret), "{case}: {message}");
        assert!(!message.contains(&encoded), "{case}: {message}");
    }
    let logs = env.latchkey.server.logs();
    assert!(
        !logs.contains(&client_secret),
        "the client secret reached the logs"
    );
    assert!(
        !logs.contains(&encoded),
        "the encoded client secret reached the logs"
    );
}

#[tokio::test]
async fn post_connection_rejection_is_client_error() {
    let env = env();
    let api = env.latchkey.server.api();
    let api_key = format!("k-{}", random_hex(8));
    env.provider.set_reply(
        "/echo/site",
        CannedReply::json(401, &json!({"error": format!("bad key {api_key}")})),
    );

    let (key, id, reply) = create(
        &api,
        "test-post-echo",
        json!({"type": "API_KEY", "api_key": api_key}),
    )
    .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "key rejected",
    );
    let message = reply.error_message();
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("bad key [redacted]"), "{message}");
    assert!(!message.contains(&api_key), "{message}");
    let logs = env.latchkey.server.logs();
    assert!(!logs.contains(&api_key), "the API key reached the logs");
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
}

#[tokio::test]
async fn unusable_token_not_stored() {
    let env = env();
    let api = env.latchkey.server.api();
    env.provider.set_reply(
        "/linebreak/token",
        CannedReply::json(
            200,
            &json!({"access_token": "line\nbreak", "expires_in": 3600}),
        ),
    );
    let key = format!("linebreak-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": "test-cc-linebreak",
        "credentials": {"type": "OAUTH2_CC", "client_id": "cid", "client_secret": "cs-linebreak"},
    }))
    .await;

    let reply = api
        .post(
            "/connections",
            &json!({"provider_config_key": key, "connection_id": "linebreak", "credentials": {"type": "OAUTH2_CC"}}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text);
    let message = reply.error_message();
    assert!(
        message.contains("contains a control character"),
        "{message}"
    );
    let stored = api.connection_reply(&key, "linebreak", None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
}
