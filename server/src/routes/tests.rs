//! Router tests: requests go through the real router, store and engine. The
//! OAuth provider is a small token server bound to 127.0.0.1:0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Form;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::test_support;
use crate::AppState;

const SECRET: &str = "Bearer test-secret";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let body = match body {
        Some(value) => {
            request = request.header("content-type", "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Requests the local token server received, and the refresh tokens it accepts.
#[derive(Default)]
struct TokenServer {
    refreshes: AtomicUsize,
    exchanges: AtomicUsize,
    /// Refresh tokens the server accepts; each refresh rotates the one used.
    valid_refresh_tokens: Mutex<Vec<String>>,
    last_code_verifier: Mutex<Option<String>>,
}

async fn token_endpoint(
    axum::extract::State(server): axum::extract::State<Arc<TokenServer>>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    // Long enough that concurrent callers overlap with the first refresh.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let invalid_grant = || {
        let body = json!({"error": "invalid_grant", "error_description": "refresh token revoked"});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let n = server.exchanges.fetch_add(1, Ordering::SeqCst) + 1;
            if form.get("code").map(String::as_str) == Some("bad-code") {
                let body = json!({"error": "invalid_grant", "error_description": "code expired"});
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
            *server.last_code_verifier.lock().unwrap() = form.get("code_verifier").cloned();
            let refresh_token = format!("rt-code-{n}");
            server
                .valid_refresh_tokens
                .lock()
                .unwrap()
                .push(refresh_token.clone());
            let body = json!({"access_token": format!("at-code-{n}"), "refresh_token": refresh_token, "expires_in": 3600, "token_type": "Bearer"});
            axum::Json(body).into_response()
        }
        Some("refresh_token") => {
            let n = server.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let mut valid = server.valid_refresh_tokens.lock().unwrap();
            let Some(position) = valid.iter().position(|t| *t == presented) else {
                return invalid_grant();
            };
            let rotated = format!("rt-{n}");
            valid[position] = rotated.clone();
            let body = json!({"access_token": format!("at-{n}"), "refresh_token": rotated, "expires_in": 3600, "token_type": "Bearer"});
            axum::Json(body).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response(),
    }
}

async fn start_token_server() -> (Arc<TokenServer>, String) {
    let server = Arc::new(TokenServer::default());
    let app = Router::new()
        .route("/token", post(token_endpoint))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (server, format!("http://{address}"))
}

fn providers(token_base: &str) -> Vec<latchkey_catalog::Provider> {
    let oauth = json!({
        "name": "local-oauth",
        "display_name": "Local OAuth",
        "auth": {
            "mode": "oauth2",
            "authorization_url": "http://127.0.0.1:9/authorize",
            "token_url": format!("{token_base}/token"),
        },
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    let api_key = json!({
        "name": "local-key",
        "display_name": "Local key",
        "auth": {"mode": "api_key", "inject": {"name": "X-Key", "value": "{{ api_key }}"}},
        "proxy": {"base_url": "http://127.0.0.1:9"},
    });
    [oauth, api_key]
        .into_iter()
        .map(|value| serde_json::from_value(value).unwrap())
        .collect()
}

struct Harness {
    _dir: tempfile::TempDir,
    state: AppState,
    router: Router,
    tokens: Arc<TokenServer>,
}

async fn harness() -> Harness {
    let (tokens, base) = start_token_server().await;
    let dir = tempfile::tempdir().unwrap();
    let state = test_support::state(dir.path(), providers(&base), "http://127.0.0.1:3003");
    let router = super::router(state.clone());
    Harness {
        _dir: dir,
        state,
        router,
        tokens,
    }
}

impl Harness {
    async fn create_oauth_integration(&self) {
        let body = json!({
            "unique_key": "local",
            "provider": "local-oauth",
            "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret", "scopes": "a,b"},
        });
        let reply = send(
            &self.router,
            "POST",
            "/integrations",
            Some(SECRET),
            Some(body),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    /// Imports an OAuth2 connection whose access token has expired.
    async fn import_expired(&self, connection_id: &str, refresh_token: &str) {
        self.tokens
            .valid_refresh_tokens
            .lock()
            .unwrap()
            .push(refresh_token.to_owned());
        let body = json!({
            "provider_config_key": "local",
            "connection_id": connection_id,
            "credentials": {
                "type": "OAUTH2",
                "access_token": "at-old",
                "refresh_token": refresh_token,
                "expires_at": "2020-01-01T00:00:00Z",
            },
        });
        let reply = send(
            &self.router,
            "POST",
            "/connections",
            Some(SECRET),
            Some(body),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
}

#[tokio::test]
async fn secret_key_is_required() {
    let h = harness().await;
    let missing = send(&h.router, "GET", "/integrations", None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error_code(), "missing_secret_key");

    let wrong = send(&h.router, "GET", "/integrations", Some("Bearer nope"), None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_secret_key");

    let basic = send(&h.router, "GET", "/providers", Some("Basic dGVzdA=="), None).await;
    assert_eq!(basic.error_code(), "missing_secret_key");

    let health = send(&h.router, "GET", "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let h = harness().await;
    let reply = send(&h.router, "GET", "/no/such/route", None, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
    assert_eq!(reply.headers["content-type"], "application/json");
}

#[tokio::test]
async fn invalid_body_names_field() {
    let h = harness().await;
    let body = json!({"end_user": {"id": 7}});
    let reply = send(
        &h.router,
        "POST",
        "/connect/sessions",
        Some(SECRET),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid_body");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("end_user.id"), "{message}");
}

#[tokio::test]
async fn failed_write_returns_store_error() {
    let h = harness().await;
    h.state.store.fail_writes(true);
    let body = json!({"unique_key": "k", "provider": "local-key"});
    let reply = send(&h.router, "POST", "/integrations", Some(SECRET), Some(body)).await;
    h.state.store.fail_writes(false);

    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.error_code(), "store_error");
    let after = send(&h.router, "GET", "/integrations/k", Some(SECRET), None).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(after.error_code(), "unknown_integration");
}

#[tokio::test]
async fn failed_delete_keeps_integration_and_connections() {
    let h = harness().await;
    let body = json!({"unique_key": "k", "provider": "local-key"});
    send(&h.router, "POST", "/integrations", Some(SECRET), Some(body)).await;
    for id in ["c1", "c2"] {
        let body = json!({"provider_config_key": "k", "connection_id": id, "credentials": {"type": "API_KEY", "api_key": "secret"}});
        let reply = send(&h.router, "POST", "/connections", Some(SECRET), Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    h.state.store.fail_writes(true);
    let reply = send(&h.router, "DELETE", "/integrations/k", Some(SECRET), None).await;
    h.state.store.fail_writes(false);
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.error_code(), "store_error");

    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"].as_array().unwrap().len(), 2);
    let integration = send(&h.router, "GET", "/integrations/k", Some(SECRET), None).await;
    assert_eq!(integration.status, StatusCode::OK);
}

#[tokio::test]
async fn client_secret_only_on_request() {
    let h = harness().await;
    h.create_oauth_integration().await;
    let plain = send(&h.router, "GET", "/integrations/local", Some(SECRET), None).await;
    assert!(plain.json()["data"].get("credentials").is_none());
    assert!(!plain.body.contains("csecret"));

    let list = send(&h.router, "GET", "/integrations", Some(SECRET), None).await;
    assert!(!list.body.contains("csecret"));

    let full = send(
        &h.router,
        "GET",
        "/integrations/local?include=credentials",
        Some(SECRET),
        None,
    )
    .await;
    let credentials = &full.json()["data"]["credentials"];
    assert_eq!(credentials["client_secret"], "csecret");
    assert_eq!(credentials["scopes"], "a,b");
    assert_eq!(credentials["type"], "OAUTH2");
}

#[tokio::test]
async fn concurrent_reads_share_one_refresh() {
    let h = harness().await;
    h.create_oauth_integration().await;
    h.import_expired("c1", "rt-initial").await;

    let calls = (0..50).map(|_| {
        send(
            &h.router,
            "GET",
            "/connections/c1?provider_config_key=local",
            Some(SECRET),
            None,
        )
    });
    let replies = futures::future::join_all(calls).await;

    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json()["credentials"]["access_token"], "at-1");
    }
    assert_eq!(h.tokens.refreshes.load(Ordering::SeqCst), 1);
    let stored = h
        .state
        .store
        .get_connection("local", "c1")
        .unwrap()
        .unwrap();
    let token = crate::refresh::token_of(&stored.credentials).unwrap();
    assert_eq!(token.refresh_token.as_ref().unwrap().expose(), "rt-1");
}

#[tokio::test]
async fn force_refresh_refreshes_fresh_token() {
    let h = harness().await;
    h.create_oauth_integration().await;
    h.import_expired("c1", "rt-initial").await;
    let first = send(
        &h.router,
        "GET",
        "/connections/c1?provider_config_key=local",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(first.json()["credentials"]["access_token"], "at-1");

    let unforced = send(
        &h.router,
        "GET",
        "/connections/c1?provider_config_key=local&force_refresh=false",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(unforced.json()["credentials"]["access_token"], "at-1");
    let forced = send(
        &h.router,
        "GET",
        "/connections/c1?provider_config_key=local&force_refresh=true",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(forced.json()["credentials"]["access_token"], "at-2");
    assert_eq!(forced.json()["credentials"]["refresh_token"], "rt-2");
    assert_eq!(h.tokens.refreshes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rejected_refresh_is_recorded() {
    let h = harness().await;
    h.create_oauth_integration().await;
    h.import_expired("c1", "rt-initial").await;
    h.tokens.valid_refresh_tokens.lock().unwrap().clear();

    let reply = send(
        &h.router,
        "GET",
        "/connections/c1?provider_config_key=local",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "refresh_failed");

    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    let connections = list.json()["connections"].as_array().unwrap().clone();
    assert_eq!(connections.len(), 1, "the connection is kept");
    let errors = connections[0]["errors"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["type"], "refresh");
    assert_eq!(errors[0]["code"], "refresh_failed");
}

/// Starts the browser flow and returns the `state` of the redirect.
async fn start_authorization(h: &Harness) -> String {
    let body = json!({"end_user": {"id": "user-1"}, "allowed_integrations": ["local"]});
    let session = send(
        &h.router,
        "POST",
        "/connect/sessions",
        Some(SECRET),
        Some(body),
    )
    .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    let token = session.json()["data"]["token"].as_str().unwrap().to_owned();

    let uri = format!("/oauth/connect/local?connect_session_token={token}");
    let redirect = send(&h.router, "GET", &uri, None, None).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
    let location = url::Url::parse(redirect.headers["location"].to_str().unwrap()).unwrap();
    let pairs: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(
        pairs["redirect_uri"],
        "http://127.0.0.1:3003/oauth/callback"
    );
    assert_eq!(pairs["code_challenge_method"], "S256");
    pairs["state"].clone()
}

#[tokio::test]
async fn oauth_flow_stores_connection_once() {
    let h = harness().await;
    h.create_oauth_integration().await;
    let state = start_authorization(&h).await;

    let callback = format!("/oauth/callback?state={state}&code=good-code");
    let page = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.body.contains("AUTHORIZATION_SUCEEDED"));
    assert!(
        h.tokens.last_code_verifier.lock().unwrap().is_some(),
        "PKCE verifier sent"
    );

    let list = send(
        &h.router,
        "GET",
        "/connections?endUserId=user-1",
        Some(SECRET),
        None,
    )
    .await;
    let connections = list.json()["connections"].as_array().unwrap().clone();
    assert_eq!(connections.len(), 1);
    let connection_id = connections[0]["connection_id"].as_str().unwrap().to_owned();
    assert!(page
        .body
        .contains(&format!("data-connection-id=\"{connection_id}\"")));

    let replay = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("invalid_state"));
    assert_eq!(h.tokens.exchanges.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn provider_errors_store_nothing() {
    let h = harness().await;
    h.create_oauth_integration().await;

    let state = start_authorization(&h).await;
    let denied =
        format!("/oauth/callback?state={state}&error=access_denied&error_description=user+said+no");
    let page = send(&h.router, "GET", &denied, None, None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("access_denied"));
    assert!(page.body.contains("user said no"));

    let state = start_authorization(&h).await;
    let bad_code = format!("/oauth/callback?state={state}&code=bad-code");
    let page = send(&h.router, "GET", &bad_code, None, None).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(page.body.contains("oauth_exchange_failed"));
    assert!(page.body.contains("invalid_grant"));
    assert!(page.body.contains("code expired"));

    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));
}

#[tokio::test]
async fn connect_requires_valid_session() {
    let h = harness().await;
    h.create_oauth_integration().await;
    let missing = send(&h.router, "GET", "/oauth/connect/local", None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error_code(), "invalid_connect_session_token");
    assert!(missing.headers.get("location").is_none());

    let unknown = send(
        &h.router,
        "GET",
        "/oauth/connect/local?connect_session_token=lk_cs_unknown",
        None,
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let body = json!({"end_user": {"id": "u"}, "allowed_integrations": []});
    let session = send(
        &h.router,
        "POST",
        "/connect/sessions",
        Some(SECRET),
        Some(body),
    )
    .await;
    let token = session.json()["data"]["token"].as_str().unwrap().to_owned();
    let uri = format!("/oauth/connect/local?connect_session_token={token}");
    let forbidden = send(&h.router, "GET", &uri, None, None).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.error_code(), "integration_not_allowed");
}
