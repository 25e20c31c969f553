//! The OAuth2 flows against panva's oidc-provider: connect sessions,
//! `/oauth/connect`, `/oauth/callback`, PKCE, both client authentication
//! methods, refresh with rotation, single-flight refresh and the client
//! credentials grant.
//!
//! One oidc-provider, one httpbin and two Latchkey servers serve every test
//! of this file. Each test uses its own integration, end user and, where it
//! counts token requests, its own oidc-provider client.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use support::html_form::form_for;
use support::latchkey::{Api, CatalogDir, Latchkey, Reply};
use support::oauth_flow::{
    abort, authorization_url, authorize, callback, connect_account, connection_id_from_page,
    query_param, start_connect,
};
use support::peers::{ClientAuthMethod, Httpbin, Oidc, OidcClient};
use support::{
    credential, free_port, oidc_client_credentials_provider, oidc_oauth2_provider, random_hex,
};

/// Access token lifetime of the single-flight client, in seconds. With the
/// refresh margin capped at half the lifetime, its token is due after 4 s.
const SHORT_TTL: u64 = 8;
/// Connect session and OAuth state lifetime of the second server, in seconds.
const SHORT_SERVER_TTL: u64 = 3;

struct Env {
    oidc: Oidc,
    _httpbin: Httpbin,
    /// Default lifetimes.
    server: Latchkey,
    /// Connect sessions and OAuth states expire after `SHORT_SERVER_TTL`.
    short_server: Latchkey,
    _catalog: CatalogDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(start_env)
}

fn start_env() -> Env {
    let port = free_port();
    let short_port = free_port();
    let redirect_uris = vec![
        format!("http://127.0.0.1:{port}/oauth/callback"),
        format!("http://127.0.0.1:{short_port}/oauth/callback"),
    ];
    let code_client = |id: &str, method| OidcClient::authorization_code(id, method, &redirect_uris);
    let clients = vec![
        code_client("pkce-client", ClientAuthMethod::Post),
        code_client("post-client", ClientAuthMethod::Post),
        code_client("basic-client", ClientAuthMethod::Basic),
        code_client("strict-post-client", ClientAuthMethod::Post),
        code_client("strict-basic-client", ClientAuthMethod::Basic),
        code_client("rotate-client", ClientAuthMethod::Post),
        code_client("flight-client", ClientAuthMethod::Basic).with_ttl(SHORT_TTL),
        code_client("due-client", ClientAuthMethod::Basic).with_ttl(SHORT_TTL),
        code_client("errors-client", ClientAuthMethod::Post),
        OidcClient::client_credentials("cc-client", ClientAuthMethod::Basic),
    ];
    let oidc = Oidc::start(&clients);
    let httpbin = Httpbin::start();

    let catalog = CatalogDir::new();
    let issuer = &oidc.issuer;
    catalog.write(
        "test-oidc-post",
        &oidc_oauth2_provider("test-oidc-post", issuer, ClientAuthMethod::Post),
    );
    catalog.write(
        "test-oidc-basic",
        &oidc_oauth2_provider("test-oidc-basic", issuer, ClientAuthMethod::Basic),
    );
    catalog.write(
        "test-oidc-cc",
        &oidc_client_credentials_provider(
            "test-oidc-cc",
            issuer,
            ClientAuthMethod::Basic,
            &httpbin.base_url,
        ),
    );

    let server = Latchkey::start_fresh(port, &[catalog.path()], &[]);
    let ttl = SHORT_SERVER_TTL.to_string();
    let short_server = Latchkey::start_fresh(
        short_port,
        &[catalog.path()],
        &[
            "--connect-session-ttl-seconds",
            &ttl,
            "--oauth-state-ttl-seconds",
            &ttl,
        ],
    );
    Env {
        oidc,
        _httpbin: httpbin,
        server,
        short_server,
        _catalog: catalog,
    }
}

/// Creates an integration of `provider` with the credentials of the
/// oidc-provider client `client_id` and returns its unique key.
async fn create_integration(
    api: &Api,
    provider: &str,
    client_id: &str,
    secret: Option<&str>,
) -> String {
    let client = env().oidc.client(client_id);
    let key = format!("{client_id}-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": provider,
        "credentials": {
            "type": "OAUTH2",
            "client_id": client.client_id,
            "client_secret": secret.unwrap_or(&client.client_secret),
            "scopes": "openid,profile",
        },
    }))
    .await;
    key
}

fn end_user() -> String {
    format!("user-{}", random_hex(6))
}

/// Runs the flow up to oidc-provider's redirect back to Latchkey, without
/// delivering it. Returns the authorization URL and the callback URL.
async fn authorize_only(server: &Latchkey, key: &str, end_user_id: &str) -> (Url, Url) {
    let api = server.api();
    let token = api.connect_session(end_user_id, None).await;
    let reply = start_connect(&server.base_url, key, Some(&token)).await;
    let authorization = authorization_url(&reply);
    let callback_url = authorize(&authorization, end_user_id).await;
    (authorization, callback_url)
}

async fn proxy_me(api: &Api, key: &str, connection_id: &str) -> Reply {
    let response = api
        .proxy(Method::GET, "/me", key, connection_id)
        .send()
        .await
        .expect("GET /proxy/me");
    Reply::read(response).await
}

#[tokio::test]
async fn authorization_url_uses_pkce_s256() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "pkce-client", None).await;
    let user = end_user();
    let token = api.connect_session(&user, None).await;

    let reply = start_connect(&env.server.base_url, &key, Some(&token)).await;
    let url = authorization_url(&reply);

    assert_eq!(url.origin(), Url::parse(&env.oidc.issuer).unwrap().origin());
    assert_eq!(url.path(), "/auth");
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let challenge = query_param(&url, "code_challenge").expect("code_challenge");
    assert_eq!(
        challenge.len(),
        43,
        "an S256 challenge is 43 base64url characters"
    );
    assert_eq!(query_param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("pkce-client")
    );
    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("openid profile")
    );
    assert_eq!(
        query_param(&url, "redirect_uri"),
        Some(env.server.url("/oauth/callback"))
    );
    assert!(query_param(&url, "state").is_some_and(|s| s.len() >= 16));
}

#[tokio::test]
async fn oidc_rejects_exchange_without_verifier() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "pkce-client", None).await;
    let user = end_user();
    let (_, callback_url) = authorize_only(&env.server, &key, &user).await;
    let code = query_param(&callback_url, "code").expect("code in the redirect");

    let redirect_uri = env.server.url("/oauth/callback");
    let (status, body) = env
        .oidc
        .token_request(
            "pkce-client",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
            ],
        )
        .await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn exchange_fails_when_challenge_is_not_latchkeys() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "pkce-client", None).await;
    let user = end_user();
    let token = api.connect_session(&user, None).await;
    let reply = start_connect(&env.server.base_url, &key, Some(&token)).await;
    let original = authorization_url(&reply);

    // Swap the challenge for one whose verifier Latchkey does not hold: the
    // code exchange then fails only if Latchkey sends its own verifier and
    // oidc-provider checks it.
    let mut tampered = original.clone();
    let pairs: Vec<(String, String)> = original
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code_challenge" {
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let callback_url = authorize(&tampered, &user).await;
    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text);
    assert!(page.text.contains("invalid_grant"), "{}", page.text);
    assert!(api.connections_of(&user).await.is_empty());
}

#[tokio::test]
async fn code_exchange_per_client_auth_method() {
    let env = env();
    let api = env.server.api();
    let cases = [
        ("test-oidc-post", "post-client"),
        ("test-oidc-basic", "basic-client"),
    ];
    for (provider, client_id) in cases {
        let key = create_integration(&api, provider, client_id, None).await;
        let user = end_user();

        let connection_id = connect_account(&api, &key, &user, &user).await;

        let connection = api.connection(&key, &connection_id, Some(false)).await;
        assert_eq!(
            connection["provider_config_key"],
            key.as_str(),
            "{connection}"
        );
        assert_eq!(connection["provider"], provider, "{connection}");
        assert_eq!(connection["end_user"]["id"], user.as_str(), "{connection}");
        assert_eq!(connection["credentials"]["type"], "OAUTH2", "{connection}");
        let access_token = credential(&connection, "access_token");
        assert!(!credential(&connection, "refresh_token").is_empty());
        assert!(
            connection["credentials"]["expires_at"].is_string(),
            "{connection}"
        );

        let described = env.oidc.describe_token(&access_token).await;
        assert_eq!(described["active"], true, "{provider}: {described}");
        assert_eq!(described["client_id"], client_id, "{provider}: {described}");
        assert_eq!(
            env.oidc
                .token_requests(client_id, "authorization_code")
                .await,
            1
        );
        assert_eq!(
            env.oidc.rejected_client_auth(client_id).await,
            0,
            "{provider}"
        );

        let me = proxy_me(&api, &key, &connection_id).await;
        assert_eq!(me.status, StatusCode::OK, "{provider}: {}", me.text);
        assert_eq!(me.json()["sub"], user.as_str(), "{provider}: {}", me.text);

        let listed = api.connections_of(&user).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["connection_id"], connection_id.as_str());
    }
}

#[tokio::test]
async fn wrong_client_auth_method_stores_nothing() {
    let env = env();
    let api = env.server.api();
    // Each client is registered for one method, and its provider file
    // declares the other.
    let cases = [
        (
            "test-oidc-basic",
            "strict-post-client",
            "client_secret_post",
        ),
        (
            "test-oidc-post",
            "strict-basic-client",
            "client_secret_basic",
        ),
    ];
    for (provider, client_id, registered) in cases {
        let key = create_integration(&api, provider, client_id, None).await;
        let user = end_user();
        let (_, callback_url) = authorize_only(&env.server, &key, &user).await;

        let page = callback(&callback_url).await;

        assert_eq!(
            page.status,
            StatusCode::BAD_GATEWAY,
            "{client_id}: {}",
            page.text
        );
        assert!(
            page.text.contains("invalid_client"),
            "{client_id}: {}",
            page.text
        );
        let description = format!("must authenticate with {registered}");
        assert!(
            page.text.contains(&description),
            "{client_id}: the page lacks the provider's error description: {}",
            page.text
        );
        assert!(
            page.text.contains("AUTHORIZATION_FAILED"),
            "{client_id}: {}",
            page.text
        );
        assert!(connection_id_from_page(&page.text).is_none(), "{client_id}");
        assert_eq!(
            env.oidc.rejected_client_auth(client_id).await,
            1,
            "{client_id}"
        );
        assert!(api.connections_of(&user).await.is_empty(), "{client_id}");
        assert!(
            env.server.logs().contains(&description),
            "{client_id}: no provider error in the log"
        );
    }
}

#[tokio::test]
async fn wrong_client_secret_stores_nothing() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(
        &api,
        "test-oidc-post",
        "errors-client",
        Some("not-the-secret"),
    )
    .await;
    let user = end_user();
    let (_, callback_url) = authorize_only(&env.server, &key, &user).await;

    let page = callback(&callback_url).await;

    // What oidc-provider itself returns for a wrong secret.
    let direct = reqwest::Client::new()
        .post(format!("{}/token", env.oidc.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "unused"),
            ("client_id", "errors-client"),
            ("client_secret", "not-the-secret"),
        ])
        .send()
        .await
        .unwrap();
    let expected = Reply::read(direct).await.json();
    let code = expected["error"].as_str().expect("error");
    let description = expected["error_description"]
        .as_str()
        .expect("error_description");
    assert_eq!(code, "invalid_client");
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text);
    assert!(page.text.contains(code), "{}", page.text);
    assert!(
        page.text.contains(description),
        "no {description:?} in {}",
        page.text
    );
    assert!(connection_id_from_page(&page.text).is_none());
    assert!(api.connections_of(&user).await.is_empty());
}

#[tokio::test]
async fn access_denied_stores_nothing() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let user = end_user();
    let token = api.connect_session(&user, None).await;
    let reply = start_connect(&env.server.base_url, &key, Some(&token)).await;
    let callback_url = abort(&authorization_url(&reply)).await;
    assert_eq!(
        query_param(&callback_url, "error").as_deref(),
        Some("access_denied")
    );

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("access_denied"), "{}", page.text);
    assert!(
        page.text.contains("End-User aborted interaction"),
        "{}",
        page.text
    );
    assert!(page.text.contains("AUTHORIZATION_FAILED"), "{}", page.text);
    assert!(api.connections_of(&user).await.is_empty());
    assert!(
        env.server.logs().contains("access_denied"),
        "no provider error in the log"
    );
}

#[tokio::test]
async fn unknown_or_replayed_state_is_rejected() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let user = end_user();
    let (_, callback_url) = authorize_only(&env.server, &key, &user).await;

    let mut unknown = callback_url.clone();
    let pairs: Vec<(String, String)> = callback_url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                random_hex(16)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    unknown.query_pairs_mut().clear().extend_pairs(pairs);
    let mut without_state = callback_url.clone();
    let pairs: Vec<(String, String)> = callback_url
        .query_pairs()
        .filter(|(k, _)| k != "state")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    without_state.query_pairs_mut().clear().extend_pairs(pairs);

    for (case, url) in [("unknown", &unknown), ("missing", &without_state)] {
        let page = callback(url).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            page.text
        );
        assert!(page.text.contains("invalid_state"), "{case}: {}", page.text);
        assert!(
            page.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html"),
            "{case}: {:?}",
            page.headers
        );
        assert!(api.connections_of(&user).await.is_empty(), "{case}");
    }

    let first = callback(&callback_url).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let connection_id = connection_id_from_page(&first.text).expect("data-connection-id");
    for part in [
        "window.opener",
        "AUTHORIZATION_SUCEEDED",
        key.as_str(),
        &format!("connection_id: {connection_id}"),
    ] {
        assert!(
            first.text.contains(part),
            "the success page lacks {part:?}: {}",
            first.text
        );
    }
    let replayed = callback(&callback_url).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.text
    );
    assert!(replayed.text.contains("invalid_state"), "{}", replayed.text);
    assert_eq!(api.connections_of(&user).await.len(), 1);
}

#[tokio::test]
async fn expired_state_is_rejected() {
    let env = env();
    let server = &env.short_server;
    let api = server.api();
    let key = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let user = end_user();
    let (_, callback_url) = authorize_only(server, &key, &user).await;

    tokio::time::sleep(Duration::from_secs(SHORT_SERVER_TTL + 1)).await;
    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("invalid_state"), "{}", page.text);
    assert!(api.connections_of(&user).await.is_empty());
}

#[tokio::test]
async fn connect_needs_valid_session_token() {
    let env = env();
    let short_api = env.short_server.api();
    let key = create_integration(&short_api, "test-oidc-post", "errors-client", None).await;
    let expired = short_api.connect_session(&end_user(), None).await;
    tokio::time::sleep(Duration::from_secs(SHORT_SERVER_TTL + 1)).await;
    let unknown = random_hex(24);

    let cases: [(&str, Option<&str>); 3] = [
        ("missing", None),
        ("unknown", Some(&unknown)),
        ("expired", Some(&expired)),
    ];
    for (case, token) in cases {
        let reply = start_connect(&env.short_server.base_url, &key, token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            reply.text
        );
        assert_eq!(reply.header("location"), None, "{case}");
        assert_eq!(
            reply.error_code(),
            "invalid_connect_session_token",
            "{case}"
        );
    }
}

#[tokio::test]
async fn connect_rejects_integration_not_allowed() {
    let env = env();
    let api = env.server.api();
    let allowed = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let other = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let token = api
        .connect_session(&end_user(), Some(&[allowed.as_str()]))
        .await;

    let reply = start_connect(&env.server.base_url, &other, Some(&token)).await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(reply.header("location"), None);
    assert_eq!(reply.error_code(), "integration_not_allowed");
    let reply = start_connect(&env.server.base_url, &allowed, Some(&token)).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text);
}

#[tokio::test]
async fn force_refresh_rotates_refresh_token() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "rotate-client", None).await;
    let user = end_user();
    let connection_id = connect_account(&api, &key, &user, &user).await;
    let before = api.connection(&key, &connection_id, Some(false)).await;

    let after = api.connection(&key, &connection_id, Some(true)).await;

    let old_refresh = credential(&before, "refresh_token");
    assert_ne!(
        credential(&after, "access_token"),
        credential(&before, "access_token")
    );
    assert_ne!(credential(&after, "refresh_token"), old_refresh);
    assert_eq!(
        env.oidc
            .token_requests("rotate-client", "refresh_token")
            .await,
        1
    );
    let described = env
        .oidc
        .describe_token(&credential(&after, "access_token"))
        .await;
    assert_eq!(described["active"], true, "{described}");
    let me = proxy_me(&api, &key, &connection_id).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let stored = api.connection(&key, &connection_id, Some(false)).await;
    assert_eq!(
        credential(&stored, "refresh_token"),
        credential(&after, "refresh_token")
    );
    assert_eq!(
        env.oidc
            .token_requests("rotate-client", "refresh_token")
            .await,
        1
    );

    // Reusing a rotated refresh token fails (and makes oidc-provider revoke
    // the grant, so this comes last).
    let (status, body) = env
        .oidc
        .token_request(
            "rotate-client",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &old_refresh),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    // The grant is revoked now, so the next refresh fails: Latchkey records
    // the failure on the connection and keeps the connection.
    let failed = api
        .get(&format!(
            "/connections/{connection_id}?provider_config_key={key}&force_refresh=true"
        ))
        .await;
    assert_eq!(
        failed.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        failed.text
    );
    assert_eq!(failed.error_code(), "refresh_failed");
    assert!(
        failed.error_message().contains(&connection_id),
        "{}",
        failed.text
    );
    let listed = api.connections_of(&user).await;
    assert_eq!(
        listed.len(),
        1,
        "a failed refresh deleted the connection: {listed:?}"
    );
    let errors = listed[0]["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.iter().any(|e| e["type"] == "refresh"),
        "no refresh error recorded: {}",
        listed[0]
    );

    let logs = env.server.logs();
    for (what, token) in [
        ("old refresh token", old_refresh.as_str()),
        ("new refresh token", &credential(&after, "refresh_token")),
        ("old access token", &credential(&before, "access_token")),
        ("new access token", &credential(&after, "access_token")),
    ] {
        assert!(!logs.contains(token), "the log carries the {what}");
    }
}

#[tokio::test]
async fn due_token_refreshed_by_get_connection() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-basic", "due-client", None).await;
    let user = end_user();
    let connection_id = connect_account(&api, &key, &user, &user).await;

    // The default margin (15 minutes) exceeds the whole 8 s lifetime, so
    // only the cap at half the lifetime keeps this token from being due.
    let fresh = api.connection(&key, &connection_id, Some(false)).await;
    assert_eq!(
        env.oidc.token_requests("due-client", "refresh_token").await,
        0
    );

    tokio::time::sleep(Duration::from_secs(SHORT_TTL / 2 + 1)).await;
    let due = api.connection(&key, &connection_id, Some(false)).await;

    assert_eq!(
        env.oidc.token_requests("due-client", "refresh_token").await,
        1
    );
    assert_ne!(
        credential(&due, "access_token"),
        credential(&fresh, "access_token")
    );
    let described = env
        .oidc
        .describe_token(&credential(&due, "access_token"))
        .await;
    assert_eq!(described["active"], true, "{described}");
}

#[tokio::test]
async fn connect_link_lists_allowed_integrations() {
    let env = env();
    let api = env.server.api();
    let allowed = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let other = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let reply = api
        .post(
            "/connect/sessions",
            &json!({ "end_user": { "id": end_user() }, "allowed_integrations": [allowed] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let data = reply.json()["data"].clone();
    let token = data["token"].as_str().expect("token").to_owned();
    let link = data["connect_link"]
        .as_str()
        .expect("connect_link")
        .to_owned();
    assert_eq!(
        link,
        env.server.url(&format!("/connect?session_token={token}"))
    );

    let page = Reply::read(reqwest::get(&link).await.unwrap()).await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        page.headers
    );
    // The page's OAuth form is a GET to /oauth/connect with the session
    // token as a hidden input, so a browser sends the same request as a link.
    let form = form_for(&page.text, &allowed)
        .unwrap_or_else(|| panic!("no form for {allowed} in {}", page.text));
    assert_eq!(form.method(), "get", "{}", form.inner_html);
    assert_eq!(
        form.action(),
        Some(
            env.server
                .url(&format!("/oauth/connect/{allowed}"))
                .as_str()
        )
    );
    assert_eq!(
        form.data(&[]),
        [("connect_session_token".to_owned(), token.clone())],
        "{}",
        form.inner_html
    );
    assert!(
        !page.text.contains(&other),
        "{other} is not allowed: {}",
        page.text
    );
}

#[tokio::test]
async fn concurrent_proxy_calls_share_one_refresh() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-basic", "flight-client", None).await;
    let user = end_user();
    let connection_id = connect_account(&api, &key, &user, &user).await;
    let connection = api.connection(&key, &connection_id, Some(false)).await;
    let old_token = credential(&connection, "access_token");
    assert_eq!(
        env.oidc
            .token_requests("flight-client", "refresh_token")
            .await,
        0
    );

    // Wait until the token has expired at oidc-provider.
    tokio::time::sleep(Duration::from_secs(SHORT_TTL + 1)).await;
    let described = env.oidc.describe_token(&old_token).await;
    assert_eq!(
        described["active"], false,
        "the token should have expired: {described}"
    );

    let calls = (0..50).map(|_| {
        let api = api.clone();
        let key = key.clone();
        let connection_id = connection_id.clone();
        async move { proxy_me(&api, &key, &connection_id).await }
    });
    let replies = futures::future::join_all(calls).await;

    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, StatusCode::OK, "call {i}: {}", reply.text);
        assert_eq!(reply.json()["sub"], user.as_str(), "call {i}");
    }
    assert_eq!(
        env.oidc
            .token_requests("flight-client", "refresh_token")
            .await,
        1
    );
}

#[tokio::test]
async fn client_credentials_grant_injects_token() {
    let env = env();
    let api = env.server.api();
    let cc = env.oidc.client("cc-client");
    let cases = [
        ("integration credentials", false),
        ("request credentials", true),
    ];
    for (case, in_request) in cases {
        let key = format!("cc-{}", random_hex(4));
        let integration_secret = if in_request {
            "unused-secret"
        } else {
            cc.client_secret.as_str()
        };
        api.create_integration(&json!({
            "unique_key": key,
            "provider": "test-oidc-cc",
            "credentials": {
                "type": "OAUTH2_CC",
                "client_id": cc.client_id,
                "client_secret": integration_secret,
            },
        }))
        .await;
        let mut credentials = json!({ "type": "OAUTH2_CC" });
        if in_request {
            credentials["client_id"] = json!(cc.client_id);
            credentials["client_secret"] = json!(cc.client_secret);
        }
        let requests_before = env
            .oidc
            .token_requests("cc-client", "client_credentials")
            .await;

        let created = api
            .create_connection(&json!({
                "provider_config_key": key,
                "connection_id": format!("cc-{}", random_hex(4)),
                "credentials": credentials,
            }))
            .await;

        let connection_id = created["connection_id"]
            .as_str()
            .expect("connection_id")
            .to_owned();
        let requests_after = env
            .oidc
            .token_requests("cc-client", "client_credentials")
            .await;
        assert_eq!(requests_after, requests_before + 1, "{case}");
        let connection = api.connection(&key, &connection_id, Some(false)).await;
        assert_eq!(
            connection["credentials"]["type"], "OAUTH2_CC",
            "{case}: {connection}"
        );
        // Nango's OAUTH2_CC credentials carry the access token as the string
        // `token` (@nangohq/types 0.71.10, `OAuth2ClientCredentials`). The
        // nested form is read too so that the checks below still run.
        let token_field = &connection["credentials"]["token"];
        let access_token = token_field
            .as_str()
            .or_else(|| token_field["access_token"].as_str())
            .unwrap_or_else(|| panic!("{case}: no access token in {connection}"))
            .to_owned();
        let described = env.oidc.describe_token(&access_token).await;
        assert_eq!(described["active"], true, "{case}: {described}");
        assert_eq!(
            described["kind"], "ClientCredentials",
            "{case}: {described}"
        );
        assert_eq!(described["client_id"], "cc-client", "{case}: {described}");

        let response = api
            .proxy(Method::GET, "/anything/cc", &key, &connection_id)
            .send()
            .await
            .unwrap();
        let echo = Reply::read(response).await;
        assert_eq!(echo.status, StatusCode::OK, "{case}: {}", echo.text);
        assert_eq!(
            echo.json()["headers"]["Authorization"],
            format!("Bearer {access_token}").as_str(),
            "{case}"
        );
        assert!(
            token_field.is_string(),
            "{case}: credentials.token is not the access token string: {connection}"
        );
    }
}

#[tokio::test]
async fn userinfo_rejects_invalid_bearer() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-oidc-post", "errors-client", None).await;
    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "credentials": { "type": "OAUTH2", "access_token": "not-a-token-of-oidc-provider" },
        }))
        .await;
    let connection_id = created["connection_id"].as_str().expect("connection_id");

    let me = proxy_me(&api, &key, connection_id).await;

    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
    let challenge = me.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("invalid_token"),
        "WWW-Authenticate: {challenge:?}"
    );
    assert_eq!(me.json()["error"], "invalid_token", "{}", me.text);
}
