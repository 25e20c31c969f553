//! The `app` auth mode end to end, against `tests/peers/app_peer.py`, which
//! plays GitHub for a GitHub App. The end user installs the app through the
//! connect flow and Latchkey signs the app JWT, which PyJWT in the peer
//! verifies. The installation token goes into proxied requests and is
//! renewed before it expires.
//!
//! One peer and one Latchkey server serve every test of this file.
//! Installation tokens live 6 seconds. A token is due after half its
//! lifetime, at most 3 seconds, because the peer rounds `expires_at` down
//! to the second. That leaves time for the first calls under load.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use support::latchkey::{assert_error, no_redirect_client, send, Api, CatalogDir, CatalogServer};
use support::latchkey::{Latchkey, Reply};
use support::oauth_flow::{
    authorization_url, callback, connection_id_from_page, query_param, start_connect,
};
use support::peers::AppPeer;
use support::process::free_port;
use support::{credential, provider_file, random_hex};

const PROVIDER: &str = "test-github-app";
/// Like `PROVIDER`, with the end user's OAuth authorization during the
/// install; proxied requests carry the installation token.
const PROVIDER_OAUTH: &str = "test-github-app-oauth";
/// Like `PROVIDER_OAUTH`, but proxied requests carry the user's token.
const PROVIDER_USER: &str = "test-github-app-user";
const APP_ID: &str = "424242";
const CLIENT_ID: &str = "Iv1.test-client";
const CLIENT_SECRET: &str = "test-client-secret";
/// Seconds an installation token lives at the peer.
const TOKEN_TTL: u64 = 6;
/// The definition's `jwt_lifetime_seconds`.
const JWT_LIFETIME: i64 = 540;

struct Env {
    peer: AppPeer,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        // The peer's URL goes into the provider file before Latchkey starts,
        // and Latchkey's callback URL goes to the peer, so the peer's port
        // is chosen first.
        let peer_port = free_port();
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let auth = format!(
            r#"  mode: app
  install_path: /installations/new
  token_url: "{peer_url}/app/installations/{{{{ installation_id }}}}/access_tokens"
  token_request_headers:
    User-Agent: Latchkey-test
  jwt_lifetime_seconds: {JWT_LIFETIME}
  token_response:
    access_token: token
    expires_at: {{ path: expires_at, format: iso8601 }}
  inject:
    name: Authorization
    value: "token {{{{ access_token }}}}""#
        );
        let extra = r#"connection_config:
  installation_id:
    title: Installation ID
    pattern: "^[0-9]+$"
    automated: true
"#;
        let user_authorization =
            format!("\n  user_token_url: \"{peer_url}/login/oauth/access_token\"");
        let catalog = CatalogDir::new();
        let files = [
            (PROVIDER, auth.clone()),
            (PROVIDER_OAUTH, format!("{auth}{user_authorization}")),
            (
                PROVIDER_USER,
                format!("{auth}{user_authorization}\n  inject_token: user"),
            ),
        ];
        for (name, auth) in files {
            catalog.write(
                name,
                &provider_file(name, "Test GitHub App", &auth, &peer_url, extra),
            );
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        let setup_url = latchkey.server.url("/oauth/callback");
        let peer = AppPeer::start(
            peer_port,
            APP_ID,
            (CLIENT_ID, CLIENT_SECRET),
            &setup_url,
            TOKEN_TTL,
        );
        Env { peer, latchkey }
    })
}

fn server() -> &'static Latchkey {
    &env().latchkey.server
}

fn api() -> Api {
    server().api()
}

fn app_link() -> String {
    format!("{}/apps/test-app", env().peer.base_url)
}

/// Creates an `APP` integration signing with `private_key` and returns its key.
async fn integration(api: &Api, private_key: &str) -> String {
    let key = format!("app-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": PROVIDER,
        "credentials": {
            "type": "APP",
            "app_id": APP_ID,
            "app_link": app_link(),
            "private_key": private_key,
        },
    }))
    .await;
    key
}

/// Runs the install flow as the end user's browser would and returns the
/// callback page.
async fn install(api: &Api, key: &str) -> Reply {
    let session = api
        .connect_session(&format!("user-{}", random_hex(4)), None)
        .await;
    let install_page = authorization_url(&start_connect(&api.base_url, key, Some(&session)).await);
    assert_eq!(
        install_page.as_str().split('?').next().unwrap(),
        format!("{}/installations/new", app_link())
    );
    assert!(query_param(&install_page, "state").is_some());

    let setup_redirect = no_redirect_client()
        .get(install_page)
        .send()
        .await
        .expect("GET the install page");
    assert_eq!(setup_redirect.status(), StatusCode::FOUND);
    let location = setup_redirect.headers()["location"].to_str().unwrap();
    callback(&Url::parse(location).unwrap()).await
}

/// Installs the app and returns the new connection id.
async fn connect(api: &Api, key: &str) -> String {
    let page = install(api, key).await;
    assert_eq!(page.status, StatusCode::OK, "callback: {}", page.text);
    connection_id_from_page(&page.text).expect("connection id in the callback page")
}

async fn repositories(api: &Api, key: &str, connection_id: &str) -> Reply {
    send(api.proxy(
        Method::GET,
        "/installation/repositories",
        key,
        connection_id,
    ))
    .await
}

/// Returns how many tokens the peer issued for `installation_id`.
async fn tokens_issued(installation_id: &str) -> u64 {
    env().peer.stats().await["issued_by_installation"][installation_id]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn install_flow_injects_and_renews_token() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;

    let id = connect(&api, &key).await;
    let connection = api.connection(&key, &id, None).await;
    let credentials = &connection["credentials"];
    assert_eq!(credentials["type"], "APP", "{connection}");
    assert!(credentials["expires_at"].is_string(), "{connection}");
    assert_eq!(credentials["raw"]["repository_selection"], "all");
    let first_token = credential(&connection, "access_token");
    assert!(first_token.starts_with("ghs_"), "{first_token}");
    let installation_id = connection["connection_config"]["installation_id"]
        .as_str()
        .expect("installation_id in the connection config")
        .to_owned();
    assert_eq!(credentials["installation_id"], installation_id.as_str());

    let stats = env().peer.stats().await;
    let jwt = &stats["jwt_by_installation"][&installation_id];
    let claims = &jwt["claims"];
    assert_eq!(jwt["header"]["alg"], "RS256", "{stats}");
    assert_eq!(claims["iss"], APP_ID);
    let issued_at = claims["iat"].as_i64().unwrap();
    let expires_at = claims["exp"].as_i64().unwrap();
    assert_eq!(
        expires_at - issued_at,
        JWT_LIFETIME + 60,
        "iat backdated by 60 s"
    );

    for _ in 0..2 {
        let reply = repositories(&api, &key, &id).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json()["installation_id"], installation_id.as_str());
    }
    assert_eq!(
        tokens_issued(&installation_id).await,
        1,
        "the token was not cached"
    );

    tokio::time::sleep(Duration::from_millis(TOKEN_TTL * 1000 / 2 + 300)).await;
    let reply = repositories(&api, &key, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        tokens_issued(&installation_id).await,
        2,
        "the due token was not renewed"
    );
    let renewed = api.connection(&key, &id, None).await;
    assert_ne!(credential(&renewed, "access_token"), first_token);
}

#[tokio::test]
async fn force_refresh_issues_new_token() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;
    let id = connect(&api, &key).await;
    let first = api.connection(&key, &id, None).await;

    let forced = api.connection(&key, &id, Some(true)).await;

    assert_ne!(
        credential(&forced, "access_token"),
        credential(&first, "access_token")
    );
    let reply = repositories(&api, &key, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn rejected_jwt_quotes_provider() {
    let api = api();
    let key = integration(&api, &env().peer.key("other.pem")).await;

    let page = install(&api, &key).await;

    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text);
    assert!(page.text.contains("oauth_exchange_failed"), "{}", page.text);
    assert!(page.text.contains("HTTP 401"), "{}", page.text);
    assert!(
        page.text.contains("the app JWT failed verification"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn refresh_rejected_after_key_change() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;
    let id = connect(&api, &key).await;
    let patched = api
        .patch(
            &format!("/integrations/{key}"),
            &json!({"credentials": {
                "type": "APP",
                "app_id": APP_ID,
                "app_link": app_link(),
                "private_key": env().peer.key("other.pem"),
            }}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    let reply = api.connection_reply(&key, &id, Some(true)).await;

    assert_error(
        &reply,
        StatusCode::FAILED_DEPENDENCY,
        "refresh_failed",
        "JWT signed with a key the provider does not know",
    );
    let message = reply.error_message();
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(
        message.contains("the app JWT failed verification"),
        "{message}"
    );
}

#[tokio::test]
async fn import_with_installation_id() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;
    // The peer accepts only installations made through its install page.
    let id = connect(&api, &key).await;
    let connection = api.connection(&key, &id, None).await;
    let installation_id = connection["connection_config"]["installation_id"].clone();

    let imported = api
        .create_connection(&json!({
            "provider_config_key": key,
            "credentials": {"type": "APP", "app_id": APP_ID, "installation_id": installation_id},
        }))
        .await;
    let imported_id = imported["connection_id"].as_str().unwrap();

    assert_eq!(imported["credentials"]["type"], "APP");
    let reply = repositories(&api, &key, imported_id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn unknown_installation_quotes_provider() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;

    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "credentials": {"type": "APP", "installation_id": "12345"},
            }),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "unknown installation",
    );
    let message = reply.error_message();
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(message.contains("no installation 12345"), "{message}");
}

#[tokio::test]
async fn bad_integration_keys_rejected() {
    let api = api();
    let good_key = env().peer.key("app.pem");
    let cases = [
        (
            "missing app_id",
            json!({"app_link": app_link(), "private_key": good_key}),
            "invalid_body",
            "`credentials.app_id`",
        ),
        (
            "missing app_link",
            json!({"app_id": APP_ID, "private_key": good_key}),
            "invalid_body",
            "`credentials.app_link`",
        ),
        (
            "missing private_key",
            json!({"app_id": APP_ID, "app_link": app_link()}),
            "invalid_body",
            "`credentials.private_key`",
        ),
        (
            "empty app_id",
            json!({"app_id": "", "app_link": app_link(), "private_key": good_key}),
            "invalid_credentials",
            "`credentials.app_id`",
        ),
        (
            "malformed PEM",
            json!({"app_id": APP_ID, "app_link": app_link(), "private_key": "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----"}),
            "invalid_credentials",
            "`credentials.private_key`",
        ),
        (
            "app link not a URL",
            json!({"app_id": APP_ID, "app_link": "github.com/apps/x", "private_key": good_key}),
            "invalid_credentials",
            "`credentials.app_link`",
        ),
    ];
    for (case, mut credentials, code, field) in cases {
        credentials["type"] = json!("APP");
        let key = format!("bad-app-{}", random_hex(4));
        let reply = api
            .post(
                "/integrations",
                &json!({"unique_key": key, "provider": PROVIDER, "credentials": credentials}),
            )
            .await;

        assert_error(&reply, StatusCode::BAD_REQUEST, code, case);
        let message = reply.error_message();
        assert!(message.contains(field), "{case}: {message}");
        assert!(
            !message.contains("not a key"),
            "{case}: key echoed: {message}"
        );
        let stored = api.get(&format!("/integrations/{key}")).await;
        assert_eq!(stored.status, StatusCode::NOT_FOUND, "{case}: stored");
    }

    let oauth_type = api
        .post(
            "/integrations",
            &json!({"unique_key": format!("bad-app-{}", random_hex(4)), "provider": PROVIDER,
                    "credentials": {"type": "OAUTH2", "client_id": "c", "client_secret": "s"}}),
        )
        .await;
    assert_error(
        &oauth_type,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "OAUTH2 type",
    );
    assert!(
        oauth_type.error_message().contains("`APP`"),
        "{}",
        oauth_type.text
    );
}

#[tokio::test]
async fn integration_returns_app_keys() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;

    let reply = api
        .get(&format!("/integrations/{key}?include=credentials"))
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let credentials = &reply.json()["data"]["credentials"];
    assert_eq!(credentials["type"], "APP");
    assert_eq!(credentials["app_id"], APP_ID);
    assert_eq!(credentials["app_link"], app_link());
    assert!(credentials["private_key"]
        .as_str()
        .is_some_and(|key| key.contains("BEGIN RSA PRIVATE KEY")));
}

#[tokio::test]
async fn bad_import_rejected() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;
    let cases = [
        (
            "missing installation_id",
            json!({"type": "APP"}),
            "invalid_body",
            "`credentials.installation_id`",
        ),
        (
            "id against the pattern",
            json!({"type": "APP", "installation_id": "1/../2"}),
            "invalid_credentials",
            "`credentials.installation_id`",
        ),
        (
            "wrong type",
            json!({"type": "API_KEY", "api_key": "k"}),
            "invalid_credentials",
            "`APP`",
        ),
    ];
    for (case, credentials, code, expected) in cases {
        let id = format!("app-{}", random_hex(6));
        let reply = api
            .post(
                "/connections",
                &json!({"provider_config_key": key, "connection_id": id, "credentials": credentials}),
            )
            .await;

        assert_error(&reply, StatusCode::BAD_REQUEST, code, case);
        let message = reply.error_message();
        assert!(message.contains(expected), "{case}: {message}");
        let stored = api.connection_reply(&key, &id, None).await;
        assert_eq!(stored.status, StatusCode::NOT_FOUND, "{case}: stored");
    }
}

#[tokio::test]
async fn bad_callback_rejected() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;
    let cases = [
        (
            "installation_id=abc&setup_action=install",
            "invalid_callback",
            "abc",
        ),
        ("setup_action=request", "missing_code", "setup_action"),
    ];
    for (query, code, expected) in cases {
        let session = api.connect_session("user-bad-callback", None).await;
        let install_page =
            authorization_url(&start_connect(&api.base_url, &key, Some(&session)).await);
        let state = query_param(&install_page, "state").unwrap();
        let url =
            Url::parse(&server().url(&format!("/oauth/callback?{query}&state={state}"))).unwrap();

        let page = callback(&url).await;

        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            page.text
        );
        assert!(page.text.contains(code), "{query}: {}", page.text);
        assert!(page.text.contains(expected), "{query}: {}", page.text);
    }
    assert!(api.connections_of("user-bad-callback").await.is_empty());
}

#[tokio::test]
async fn connect_page_offers_install() {
    let api = api();
    let key = integration(&api, &env().peer.key("app.pem")).await;
    let session = api
        .connect_session("user-page", Some(&[key.as_str()]))
        .await;

    let page =
        send(no_redirect_client().get(server().url(&format!("/connect?session_token={session}"))))
            .await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text.contains(&format!("/oauth/connect/{key}")),
        "{}",
        page.text
    );
}

/// Creates a `CUSTOM` integration of `provider` with the app's keys and
/// OAuth client, and returns its key.
async fn custom_integration(api: &Api, provider: &str, client_secret: &str) -> String {
    let key = format!("app-oauth-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": provider,
        "credentials": {
            "type": "CUSTOM",
            "client_id": CLIENT_ID,
            "client_secret": client_secret,
            "app_id": APP_ID,
            "app_link": app_link(),
            "private_key": env().peer.key("app.pem"),
        },
    }))
    .await;
    key
}

#[tokio::test]
async fn user_authorization_keeps_both_tokens() {
    let api = api();
    let key = custom_integration(&api, PROVIDER_OAUTH, CLIENT_SECRET).await;

    let id = connect(&api, &key).await;
    let connection = api.connection(&key, &id, None).await;

    let credentials = &connection["credentials"];
    assert_eq!(credentials["type"], "CUSTOM", "{connection}");
    assert_eq!(credentials["app"]["type"], "APP", "{connection}");
    assert_eq!(credentials["user"]["type"], "OAUTH2", "{connection}");
    let app_token = credentials["app"]["access_token"].as_str().unwrap();
    let user_token = credentials["user"]["access_token"].as_str().unwrap();
    assert!(app_token.starts_with("ghs_"), "{app_token}");
    assert!(user_token.starts_with("ghu_"), "{user_token}");
    let reply = repositories(&api, &key, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn declared_user_token_injected() {
    let api = api();
    let key = custom_integration(&api, PROVIDER_USER, CLIENT_SECRET).await;
    let id = connect(&api, &key).await;

    let user = send(api.proxy(Method::GET, "/user", &key, &id)).await;
    let installation = repositories(&api, &key, &id).await;

    assert_eq!(user.status, StatusCode::OK, "{}", user.text);
    assert_eq!(user.json()["login"], "octo-user");
    assert_eq!(
        installation.status,
        StatusCode::UNAUTHORIZED,
        "the installation token was injected: {}",
        installation.text
    );
}

#[tokio::test]
async fn rejected_client_secret_quotes_provider() {
    let api = api();
    let key = custom_integration(&api, PROVIDER_OAUTH, "wrong-secret").await;

    let page = install(&api, &key).await;

    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text);
    assert!(page.text.contains("oauth_exchange_failed"), "{}", page.text);
    assert!(
        page.text.contains("incorrect_client_credentials"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn custom_integration_fields_checked() {
    let api = api();
    let cases = [
        (
            "APP type for user authorization",
            json!({"type": "APP", "app_id": APP_ID, "app_link": app_link(),
                   "private_key": env().peer.key("app.pem")}),
            "invalid_credentials",
            "`CUSTOM`",
        ),
        (
            "missing client_id",
            json!({"type": "CUSTOM", "client_secret": "s", "app_id": APP_ID,
                   "app_link": app_link(), "private_key": env().peer.key("app.pem")}),
            "invalid_body",
            "`credentials.client_id`",
        ),
    ];
    for (case, credentials, code, expected) in cases {
        let reply = api
            .post(
                "/integrations",
                &json!({"unique_key": format!("bad-custom-{}", random_hex(4)),
                        "provider": PROVIDER_OAUTH, "credentials": credentials}),
            )
            .await;

        assert_error(&reply, StatusCode::BAD_REQUEST, code, case);
        let message = reply.error_message();
        assert!(message.contains(expected), "{case}: {message}");
    }
}

#[tokio::test]
async fn user_token_import_rejected() {
    let api = api();
    let key = custom_integration(&api, PROVIDER_USER, CLIENT_SECRET).await;

    let reply = api
        .post(
            "/connections",
            &json!({"provider_config_key": key,
                    "credentials": {"type": "APP", "installation_id": "1"}}),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "import for a user-token provider",
    );
    assert!(
        reply.error_message().contains("/oauth/connect/"),
        "{}",
        reply.text
    );
}
