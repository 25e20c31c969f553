//! The `two_step`, `session` and `none` auth modes end to end. Connections
//! are created through `POST /connections`, and their tokens come from
//! `tests/peers/two_step_server.py`, which checks each request's exact body
//! and headers. The tokens are obtained again after they expire and
//! injected by the proxy into requests that the same server's API checks.
//! The `none` mode goes through the proxy to httpbin.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::latchkey::{assert_error, send, Api, CatalogDir, CatalogServer};
use support::peers::{Httpbin, TwoStepServer};
use support::{credential, provider_file, random_hex};

/// Lifetime of every token the token server issues. Latchkey obtains a new
/// one after half of it, so the tests wait a little longer than that.
const TOKEN_LIFETIME_SECONDS: u64 = 2;
const PAST_HALF_LIFETIME: Duration = Duration::from_millis(1300);

// The values two_step_server.py accepts.
const USERNAME: &str = "ada";
const PASSWORD: &str = "pw-correct-horse";
const CLIENT_ID: &str = "client-7";
const CLIENT_SECRET: &str = "client-secret-7";
const ORGANIZATION_ID: &str = "org-00801";
const DEV_KEY: &str = "dev-key-42";

struct Env {
    tokens: TwoStepServer,
    _httpbin: Httpbin,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let tokens = TwoStepServer::start(TOKEN_LIFETIME_SECONDS);
        let httpbin = Httpbin::start();
        let base = &tokens.base_url;
        let catalog = CatalogDir::new();
        catalog.write("test-two-step-json", &json_provider(base));
        catalog.write("test-two-step-form", &form_provider(base));
        catalog.write("test-session", &session_provider(base));
        catalog.write(
            "test-session-dev-key-default",
            &session_provider(base)
                .replace("name: test-session", "name: test-session-dev-key-default")
                .replace(
                    "dev_key: {title: Developer key, secret: true}",
                    "dev_key: {title: Developer key, secret: true, integration_default: true}",
                ),
        );
        catalog.write("test-none", &none_provider(&httpbin.base_url));
        catalog.write(
            "test-chain",
            &chain_provider("test-chain", &format!("{base}/chain/info")),
        );
        // The query keeps this provider's logins out of the counts that
        // `login_chain_runs_again_on_expiry` checks.
        let probe = format!("{base}/chain/info?probe=1");
        catalog.write(
            "test-chain-probe",
            &chain_provider("test-chain-probe", &probe),
        );
        for (name, reply) in [
            ("test-chain-missing", "missing"),
            ("test-chain-plain-http", "plain-http"),
        ] {
            let info = format!("{base}/chain/info?reply={reply}");
            catalog.write(name, &chain_provider(name, &info));
        }
        catalog.write("test-cc-integration", &integration_client_provider(base));
        catalog.write("test-cookies", &cookie_provider(base));
        for (name, days) in [("test-dated", 7), ("test-dated-wrong", 6)] {
            catalog.write(name, &dated_provider(base, name, days));
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            tokens,
            _httpbin: httpbin,
            latchkey,
        }
    })
}

/// Returns a provider whose client id and secret are optional credential
/// fields that the integration sets, and whose session id and user name
/// are optional fields of which the token endpoint takes one.
fn integration_client_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    username: {{title: Username, optional: true}}
    sessionId: {{title: Session ID, optional: true, secret: true}}
    client_id: {{title: Client ID, optional: true, integration_default: true}}
    client_secret: {{title: Client secret, optional: true, secret: true, integration_default: true}}
  token_request:
    url: "{base}/cc/token"
    params:
      grant_type: client_credentials
      client_id: "{{{{ client_id }}}}"
      client_secret: "{{{{ client_secret }}}}"
      username: "{{{{ username }}}}"
      session_id: "{{{{ sessionId }}}}""#
    );
    provider_file(
        "test-cc-integration",
        "Two-step integration client",
        &auth,
        &format!("{base}/api"),
        "",
    )
}

/// Returns a provider with a JSON login, a nested body value and a header
/// from a credential field, whose reply nests the token and its lifetime in
/// seconds.
fn json_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    user: {{title: User}}
    secret: {{title: Secret, secret: true}}
    client: {{title: Client ID}}
  token_request:
    url: "{base}/json/login"
    body_format: json
    params:
      user: "{{{{ user }}}}"
      secret: "{{{{ secret }}}}"
      options: {{remember: true}}
    headers:
      X-Client-Id: "{{{{ client }}}}"
  token_response:
    access_token: data.jwt
    expires_in: data.ttl"#
    );
    provider_file(
        "test-two-step-json",
        "Two-step JSON",
        &auth,
        &format!("{base}/api"),
        "",
    )
}

/// Returns a provider with a form-encoded password grant and basic client
/// authentication built from two credential fields, whose reply gives the
/// lifetime in milliseconds.
fn form_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    username: {{title: Username}}
    password: {{title: Password, secret: true}}
    client_id: {{title: Client ID}}
    client_secret: {{title: Client secret, secret: true}}
  token_request:
    url: "{base}/form/token"
    params:
      grant_type: password
      username: "{{{{ username }}}}"
      password: "{{{{ password }}}}"
    headers:
      Authorization: "Basic {{{{ (client_id ~ ':' ~ client_secret) | base64 }}}}"
  token_response:
    expires_in: expires_ms
    expires_in_unit: milliseconds"#
    );
    provider_file(
        "test-two-step-form",
        "Two-step form",
        &auth,
        &format!("{base}/api"),
        "",
    )
}

/// Returns a provider whose login takes three requests, as DocuWare's does:
/// step 1 names an identity service, step 2 reads its discovery document,
/// and step 3 posts the password to the token endpoint found there.
fn chain_provider(name: &str, info_url: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    username: {{title: Username}}
    password: {{title: Password, secret: true}}
  token_request:
    url: "{info_url}"
    method: GET
  steps:
    - url: "{{{{ step1.IdentityServiceUrl }}}}/.well-known/openid-configuration"
      method: GET
    - url: "{{{{ step2.token_endpoint }}}}"
      params:
        grant_type: password
        username: "{{{{ username }}}}"
        password: "{{{{ password }}}}"
      headers:
        X-Step-One: "{{{{ step1.IdentityServiceUrl }}}}"
  token_response:
    access_token: access_token
    expires_in: expires_in"#
    );
    let base = info_url.split("/chain/").next().unwrap_or(info_url);
    provider_file(name, "Login chain", &auth, &format!("{base}/api"), "")
}

/// Returns a provider in SAP Business One's shape: a JSON login whose reply
/// sets the session cookies that every API call sends back.
fn cookie_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    user: {{title: User}}
    password: {{title: Password, secret: true}}
  token_request:
    url: "{base}/cookie/login"
    body_format: json
    params:
      UserName: "{{{{ user }}}}"
      Password: "{{{{ password }}}}"
  token_response:
    access_token: SessionId
    default_expires_in: {TOKEN_LIFETIME_SECONDS}
    capture_cookies: true"#
    );
    let proxy_headers = "  headers:\n    Cookie: \"{{ cookies }}\"\n";
    provider_file(
        "test-cookies",
        "Cookie session",
        &auth,
        &format!("{base}/cookie/api"),
        proxy_headers,
    )
}

/// Returns a provider in Bill.com's shape: a JSON login whose reply carries
/// `sessionId`, sent back with the developer key on every API call.
fn session_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: session
  credentials:
    username: {{title: Username}}
    password: {{title: Password, secret: true}}
    organization_id: {{title: Organization ID}}
    dev_key: {{title: Developer key, secret: true}}
  token_request:
    url: "{base}/bill/login"
    body_format: json
    params:
      username: "{{{{ username }}}}"
      password: "{{{{ password }}}}"
      organizationId: "{{{{ organization_id }}}}"
      devKey: "{{{{ dev_key }}}}"
  token_response:
    access_token: sessionId
    default_expires_in: {TOKEN_LIFETIME_SECONDS}
  inject: {{name: sessionId, value: "{{{{ access_token }}}}"}}"#
    );
    let file = provider_file(
        "test-session",
        "Session login",
        &auth,
        &format!("{base}/bill/api"),
        "",
    );
    format!(
        "{}\n  headers:\n    devKey: \"{{{{ dev_key }}}}\"\n",
        file.trim_end()
    )
}

/// Returns a provider whose login sends an expiry date `days` ahead and the
/// current Unix time, both from the `now` template function.
fn dated_provider(base: &str, name: &str, days: i64) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    user: {{title: User}}
  token_request:
    url: "{base}/dated/login"
    body_format: json
    params:
      user: "{{{{ user }}}}"
      expirationDate: "{{{{ now('%Y-%m-%d', days={days}) }}}}"
    headers:
      X-Sent-At: "{{{{ now('unix') }}}}"
  token_response:
    access_token: token
    default_expires_in: {TOKEN_LIFETIME_SECONDS}"#
    );
    provider_file(name, "Dated login", &auth, &format!("{base}/api"), "")
}

fn none_provider(httpbin: &str) -> String {
    let file = provider_file("test-none", "No auth", "  mode: none", httpbin, "");
    format!(
        "{}\n  headers:\n    X-Static: fixed-value\n",
        file.trim_end()
    )
}

async fn integration(api: &Api, provider: &str) -> String {
    api.integration_of(provider).await
}

fn json_credentials() -> Value {
    json!({"type": "TWO_STEP", "user": USERNAME, "secret": PASSWORD, "client": CLIENT_ID})
}

/// Sends `GET /proxy{path}` for the connection and returns the reply.
/// Posts a `TWO_STEP` connection of `USERNAME` with `password`.
async fn post_login(api: &Api, key: &str, id: &str, password: &str) -> support::latchkey::Reply {
    api.post(
        "/connections",
        &json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {"type": "TWO_STEP", "username": USERNAME, "password": password},
        }),
    )
    .await
}

async fn proxy_get(api: &Api, key: &str, id: &str, path: &str) -> support::latchkey::Reply {
    send(api.proxy(Method::GET, path, key, id)).await
}

#[tokio::test]
async fn json_token_obtained_injected_and_renewed() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-two-step-json").await;
    let id = format!("conn-{}", random_hex(6));
    let issued_before = env.tokens.issued("json").await;

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": json_credentials(),
        }))
        .await;

    assert_eq!(created["credentials"]["type"], "TWO_STEP");
    assert_eq!(env.tokens.issued("json").await, issued_before + 1);
    let first_token = credential(&created, "token");
    let reply = proxy_get(&api, &key, &id, "/whoami").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["token"], first_token.as_str());

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let reply = proxy_get(&api, &key, &id, "/whoami").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(env.tokens.issued("json").await, issued_before + 2);
    let stored = api.connection(&key, &id, None).await;
    let second_token = credential(&stored, "token");
    assert_ne!(second_token, first_token);
    assert_eq!(reply.json()["token"], second_token.as_str());
    assert_eq!(credential(&stored, "user"), USERNAME);
    assert!(stored["credentials"]["expires_at"].is_string(), "{stored}");
}

#[tokio::test]
async fn form_token_with_basic_header_renewed() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-two-step-form").await;
    let id = format!("conn-{}", random_hex(6));
    let issued_before = env.tokens.issued("form").await;

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {
                "type": "TWO_STEP",
                "username": USERNAME,
                "password": PASSWORD,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        }))
        .await;
    let first_token = credential(&created, "token");
    let reply = proxy_get(&api, &key, &id, "/items").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let stored = api.connection(&key, &id, None).await;

    assert_eq!(env.tokens.issued("form").await, issued_before + 2);
    assert_ne!(credential(&stored, "token"), first_token);
    let reply = proxy_get(&api, &key, &id, "/items").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["token"], credential(&stored, "token").as_str());
}

#[tokio::test]
async fn dev_key_from_integration_config() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = format!("dev-key-default-{}", random_hex(4));
    let created = api
        .create_integration(&json!({
            "unique_key": key,
            "provider": "test-session-dev-key-default",
            "integration_config": {"dev_key": DEV_KEY},
        }))
        .await;
    assert!(
        created["data"]["integration_config"]
            .get("dev_key")
            .is_none(),
        "a secret integration value is shown without include=credentials: {created}"
    );
    let id = format!("conn-{}", random_hex(6));

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {
                "type": "BILL",
                "username": USERNAME,
                "password": PASSWORD,
                "organization_id": ORGANIZATION_ID,
            },
        }))
        .await;

    assert_eq!(credential(&created, "dev_key"), DEV_KEY);
    let reply = proxy_get(&api, &key, &id, "/v3/vendors").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json()["sessionId"],
        credential(&created, "session_id").as_str()
    );
}

#[tokio::test]
async fn session_id_sent_with_dev_key_and_renewed() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-session").await;
    let id = format!("conn-{}", random_hex(6));
    let issued_before = env.tokens.issued("bill").await;

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {
                "type": "BILL",
                "username": USERNAME,
                "password": PASSWORD,
                "organization_id": ORGANIZATION_ID,
                "dev_key": DEV_KEY,
            },
        }))
        .await;
    assert_eq!(created["credentials"]["type"], "BILL");
    let first_session = credential(&created, "session_id");
    let reply = proxy_get(&api, &key, &id, "/v3/vendors").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["sessionId"], first_session.as_str());

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let reply = proxy_get(&api, &key, &id, "/v3/vendors").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(env.tokens.issued("bill").await, issued_before + 2);
    assert_ne!(reply.json()["sessionId"], first_session.as_str());
}

#[tokio::test]
async fn none_connection_proxies_without_credential() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-none").await;
    let id = format!("conn-{}", random_hex(6));

    let created = api
        .create_connection(&json!({"provider_config_key": key, "connection_id": id}))
        .await;
    let reply = proxy_get(&api, &key, &id, "/anything/forecast").await;

    assert_eq!(created["credentials"], json!({"type": "NONE"}));
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let headers = &reply.json()["headers"];
    assert_eq!(headers["X-Static"], "fixed-value", "{headers}");
    assert!(headers.get("Authorization").is_none(), "{headers}");
}

#[tokio::test]
async fn bad_credential_fields_rejected() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-two-step-json").await;

    // (case, credentials, expected field named in the message)
    let cases = [
        (
            "missing field",
            json!({"type": "TWO_STEP", "user": USERNAME, "client": CLIENT_ID}),
            "`credentials.secret`",
        ),
        (
            "empty field",
            json!({"type": "TWO_STEP", "user": USERNAME, "secret": "", "client": CLIENT_ID}),
            "`credentials.secret`",
        ),
        (
            "unknown field",
            json!({"type": "TWO_STEP", "user": USERNAME, "secret": PASSWORD, "client": CLIENT_ID, "pin": "1"}),
            "`credentials.pin`",
        ),
        (
            "object value",
            json!({"type": "TWO_STEP", "user": {"name": USERNAME}, "secret": PASSWORD, "client": CLIENT_ID}),
            "`credentials.user`",
        ),
        (
            "wrong type",
            json!({"type": "API_KEY", "api_key": "k"}),
            "`TWO_STEP`",
        ),
    ];
    for (case, credentials, field) in cases {
        let id = format!("conn-{}", random_hex(6));
        let reply = api
            .post(
                "/connections",
                &json!({"provider_config_key": key, "connection_id": id, "credentials": credentials}),
            )
            .await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_credentials", case);
        assert!(
            reply.error_message().contains(field),
            "{case}: {}",
            reply.text
        );
        let stored = api.connection_reply(&key, &id, None).await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{case}: {}",
            stored.text
        );
    }

    let none_key = integration(&api, "test-none").await;
    let reply = api
        .post("/connections", &json!({"provider_config_key": key}))
        .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "no credentials",
    );
    let reply = api
        .post(
            "/connections",
            &json!({"provider_config_key": none_key, "credentials": json_credentials()}),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "two_step on none",
    );
}

#[tokio::test]
async fn rejected_login_quoted_and_not_stored() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-two-step-json").await;
    let id = format!("conn-{}", random_hex(6));
    let wrong_secret = format!("wrong-{}", random_hex(6));

    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": id,
                "credentials": {"type": "TWO_STEP", "user": USERNAME, "secret": wrong_secret, "client": CLIENT_ID},
            }),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "wrong secret",
    );
    let message = reply.error_message();
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("invalid user or secret"), "{message}");
    assert!(!reply.text.contains(&wrong_secret), "{}", reply.text);
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
    let logs = env.latchkey.server.logs();
    assert!(!logs.contains(&wrong_secret), "the secret reached the logs");
}

#[tokio::test]
async fn now_dates_in_login_accepted() {
    let env = env();
    let api = env.latchkey.server.api();
    let credentials = json!({"type": "TWO_STEP", "user": USERNAME});

    let key = integration(&api, "test-dated").await;
    let issued_before = env.tokens.issued("dated").await;
    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": format!("dated-{}", random_hex(6)),
            "credentials": credentials,
        }))
        .await;
    assert_eq!(created["credentials"]["type"], "TWO_STEP");
    assert_eq!(env.tokens.issued("dated").await, issued_before + 1);

    // Six days ahead is not the date the server expects, so its rejection
    // shows that it checks the rendered date.
    let key = integration(&api, "test-dated-wrong").await;
    let reply = api
        .post(
            "/connections",
            &json!({"provider_config_key": key, "credentials": credentials}),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "date six days ahead",
    );
    let message = reply.error_message();
    assert!(message.contains("expirationDate"), "{message}");
}

#[tokio::test]
async fn login_chain_runs_again_on_expiry() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-chain").await;
    let id = format!("chain-{}", random_hex(6));
    let counts = || async {
        (
            env.tokens.issued("info").await,
            env.tokens.issued("identity").await,
            env.tokens.issued("chain").await,
        )
    };
    let (info, identity, chain) = counts().await;

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {"type": "TWO_STEP", "username": USERNAME, "password": PASSWORD},
        }))
        .await;

    assert_eq!(created["credentials"]["type"], "TWO_STEP");
    assert_eq!(counts().await, (info + 1, identity + 1, chain + 1));
    let first_token = credential(&created, "token");

    // Posting the same id again is refused before any login goes out.
    let again = post_login(&api, &key, &id, PASSWORD).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.json()["error"]["code"], "duplicate_connection");
    assert_eq!(counts().await, (info + 1, identity + 1, chain + 1));
    let reply = proxy_get(&api, &key, &id, "/whoami").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["token"], first_token.as_str());

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let reply = proxy_get(&api, &key, &id, "/whoami").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(counts().await, (info + 2, identity + 2, chain + 2));
    let stored = api.connection(&key, &id, None).await;
    let second_token = credential(&stored, "token");
    assert_ne!(second_token, first_token);
    assert_eq!(reply.json()["token"], second_token.as_str());
}

#[tokio::test]
async fn unusable_chain_reply_is_502() {
    let env = env();
    let api = env.latchkey.server.api();
    // (provider, expected message part)
    let cases = [
        (
            "test-chain-missing",
            "undefined variable `step1.IdentityServiceUrl`",
        ),
        (
            "test-chain-plain-http",
            "which is rejected because it does not use https",
        ),
    ];
    for (provider, expected) in cases {
        let key = integration(&api, provider).await;
        let id = format!("chain-{}", random_hex(6));

        let reply = post_login(&api, &key, &id, PASSWORD).await;

        assert_error(
            &reply,
            StatusCode::BAD_GATEWAY,
            "oauth_exchange_failed",
            provider,
        );
        let message = reply.error_message();
        assert!(
            message.contains("request 2 of the token request chain cannot use"),
            "{provider}: {message}"
        );
        assert!(
            message.contains("`auth.steps.0.url`"),
            "{provider}: {message}"
        );
        assert!(message.contains(expected), "{provider}: {message}");
        let stored = api.connection_reply(&key, &id, None).await;
        assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
    }
}

#[tokio::test]
async fn login_chain_failure_names_step() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-chain-probe").await;
    let id = format!("chain-{}", random_hex(6));
    let wrong_password = format!("wrong-{}", random_hex(6));

    let reply = post_login(&api, &key, &id, &wrong_password).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "wrong password in step 3",
    );
    let message = reply.error_message();
    assert!(
        message.contains("rejected request 3 of the token request chain with HTTP 401"),
        "{message}"
    );
    assert!(message.contains("wrong password [redacted]"), "{message}");
    assert!(!reply.text.contains(&wrong_password), "{}", reply.text);
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);
    let logs = env.latchkey.server.logs();
    assert!(
        !logs.contains(&wrong_password),
        "the password reached the logs"
    );
}

#[tokio::test]
async fn login_cookies_sent_and_renewed() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-cookies").await;
    let id = format!("cookie-{}", random_hex(6));
    let issued_before = env.tokens.issued("cookie").await;

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "credentials": {"type": "TWO_STEP", "user": USERNAME, "password": PASSWORD},
        }))
        .await;

    assert_eq!(env.tokens.issued("cookie").await, issued_before + 1);
    let first_session = credential(&created, "token");
    assert_eq!(
        credential(&created, "cookies"),
        format!("B1SESSION={first_session}; ROUTEID=.node1")
    );
    let reply = proxy_get(&api, &key, &id, "/Items").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["session"], first_session.as_str());

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let reply = proxy_get(&api, &key, &id, "/Items").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(env.tokens.issued("cookie").await, issued_before + 2);
    let stored = api.connection(&key, &id, None).await;
    let second_session = credential(&stored, "token");
    assert_ne!(second_session, first_session);
    assert_eq!(reply.json()["session"], second_session.as_str());
    assert_eq!(
        credential(&stored, "cookies"),
        format!("B1SESSION={second_session}; ROUTEID=.node1")
    );
}

#[tokio::test]
async fn integration_client_sent_unset_fields_omitted() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = format!("cc-integration-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": "test-cc-integration",
        "integration_config": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    }))
    .await;
    let issued_before = env.tokens.issued("cc").await;

    // The peer accepts only the exact body with the integration's client
    // values and no `session_id`.
    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": format!("conn-{}", random_hex(6)),
            "credentials": {"type": "TWO_STEP", "username": USERNAME},
        }))
        .await;

    assert_eq!(env.tokens.issued("cc").await, issued_before + 1);
    assert_eq!(credential(&created, "client_id"), CLIENT_ID);
    assert!(!credential(&created, "token").is_empty());
}

#[tokio::test]
async fn integration_client_absent_rejected() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "test-cc-integration").await;

    // Without integration values the request carries no client id or
    // secret, and the peer rejects it with 401. The quoted reply redacts
    // the entered user name.
    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": format!("conn-{}", random_hex(6)),
                "credentials": {"type": "TWO_STEP", "username": USERNAME},
            }),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "no client values",
    );
    let message = reply.error_message();
    assert!(
        message.contains("unexpected body grant_type=client_credentials&username=[redacted]"),
        "{message}"
    );
}
