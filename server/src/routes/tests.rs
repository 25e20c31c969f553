//! Router tests: requests go through the real router, store and engine. The
//! OAuth provider is a small token server bound to 127.0.0.1:0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Form;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, post};
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
    // The browser routes return JSON errors only when the request accepts JSON.
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", "application/json");
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
    reply_of(router, request.body(body).unwrap()).await
}

async fn reply_of(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
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
    /// The `{region}` of the last request to `/dc/{region}/token`.
    last_region: Mutex<Option<String>>,
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
            if presented == "rt-provider-down" {
                let body = json!({"error": "temporarily_unavailable"});
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            }
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

/// A regional token endpoint: records the region of its path and answers
/// like `/token`.
async fn regional_token_endpoint(
    axum::extract::State(server): axum::extract::State<Arc<TokenServer>>,
    axum::extract::Path(region): axum::extract::Path<String>,
    form: Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    *server.last_region.lock().unwrap() = Some(region);
    token_endpoint(axum::extract::State(server), form).await
}

/// An upstream API for proxy tests: returns the request path, raw query and
/// headers as JSON.
async fn echo_headers(uri: axum::http::Uri, headers: HeaderMap) -> axum::Json<Value> {
    // Repeated headers are joined with ", ", so a test gets every value.
    let mut map = serde_json::Map::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let joined = match map.get(name.as_str()).and_then(Value::as_str) {
            Some(previous) => format!("{previous}, {value}"),
            None => value,
        };
        map.insert(name.as_str().to_owned(), Value::String(joined));
    }
    let headers = map;
    axum::Json(json!({ "path": uri.path(), "query": uri.query(), "headers": headers }))
}

async fn start_token_server() -> (Arc<TokenServer>, String) {
    let server = Arc::new(TokenServer::default());
    let app = Router::new()
        .route("/token", post(token_endpoint))
        .route("/dc/{region}/token", post(regional_token_endpoint))
        .route("/api", any(echo_headers))
        .route("/api/", any(echo_headers))
        .route("/api/{*path}", any(echo_headers))
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
    let oauth_with_config = json!({
        "name": "local-sub-oauth",
        "display_name": "Local OAuth with subdomain",
        "auth": {
            "mode": "oauth2",
            "authorization_url": "http://127.0.0.1:9/{{ subdomain }}/authorize",
            "token_url": format!("{token_base}/token"),
        },
        "connection_config": {
            "subdomain": {
                "title": "Subdomain",
                "description": "The <b>team</b> part of team.example.com",
                "pattern": "[a-z0-9-]+",
                "example": "acme",
            },
            "region": {"title": "Region", "default": "us", "optional": true},
            "instance_url": {"title": "Instance URL", "automated": true},
        },
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    let strict_key = json!({
        "name": "local-strict-key",
        "display_name": "Local strict key",
        "auth": {
            "mode": "api_key",
            "key_title": "Secret key",
            "key_pattern": "^sk_",
            "inject": {"name": "X-Key", "value": "{{ api_key }}"},
        },
        "connection_config": {
            "workspace": {"title": "Workspace", "pattern": "[a-z]+", "integration_default": true},
        },
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    let basic = json!({
        "name": "local-basic",
        "display_name": "Local basic",
        "auth": {"mode": "basic", "username_title": "Account SID", "password_title": "Auth token"},
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    let key_as_username = json!({
        "name": "local-key-as-username",
        "display_name": "Local API key as the basic-auth username",
        "auth": {"mode": "basic", "fixed_password": ""},
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    let query_key = json!({
        "name": "local-query-key",
        "display_name": "Local key in the query",
        "auth": {
            "mode": "api_key",
            "inject": {"location": "query", "name": "api_key", "value": "{{ api_key }}"},
        },
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    let callback_capture = json!({
        "name": "local-callback",
        "display_name": "Local OAuth with a callback value",
        "auth": {
            "mode": "oauth2",
            "authorization_url": "http://127.0.0.1:9/authorize",
            "token_url": format!("{token_base}/token"),
            "callback_connection_config": {"realm_id": "realmId"},
        },
        "connection_config": {
            "realm_id": {"title": "Company ID", "pattern": "[0-9]+", "automated": true},
        },
        "proxy": {"base_url": format!("{token_base}/api/{{{{ realm_id }}}}")},
    });
    let dialects = json!({
        "name": "local-dialects",
        "display_name": "Local OAuth with callback and request dialects",
        "auth": {
            "mode": "oauth2",
            "authorization_url": "http://127.0.0.1:9/authorize",
            "token_url": format!("{token_base}/dc/{{{{ data_center }}}}/token"),
            "authorization_params": {"nonce": "{{ random_token }}"},
            "callback_connection_config": {"data_center": "data-center"},
            "callback_code_param": "auth_code",
        },
        "connection_config": {
            "data_center": {"title": "Data center", "pattern": "eu|us", "automated": true},
        },
        "proxy": {
            "base_url": format!("{token_base}/api"),
            "headers": {"x-api-key": "{{ oauth_client_id }}"},
        },
    });
    let client_credentials = json!({
        "name": "local-cc",
        "display_name": "Local client credentials",
        "auth": {"mode": "oauth2_client_credentials", "token_url": format!("{token_base}/token")},
        "proxy": {"base_url": format!("{token_base}/api")},
    });
    [
        oauth,
        api_key,
        oauth_with_config,
        strict_key,
        basic,
        key_as_username,
        query_key,
        callback_capture,
        dialects,
        client_credentials,
    ]
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
    async fn create_integration(&self, body: Value) {
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

    async fn create_oauth_integration(&self) {
        self.create_integration(json!({
            "unique_key": "local",
            "provider": "local-oauth",
            "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret", "scopes": "a,b"},
        }))
        .await;
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
    let token = h.session(Some(vec!["local"])).await;
    start_authorization_with(h, &token).await
}

/// Starts the browser flow with session `token` and returns the `state`.
async fn start_authorization_with(h: &Harness, token: &str) -> String {
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
    assert!(is_html(&page));
    assert!(page.body.contains("AUTHORIZATION_SUCEEDED"));
    assert!(
        h.tokens.last_code_verifier.lock().unwrap().is_some(),
        "PKCE verifier sent"
    );

    let connection_id = h.only_connection_of_user().await;
    assert!(page
        .body
        .contains(&format!("data-connection-id=\"{connection_id}\"")));

    let replay = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("invalid_state"));
    assert_eq!(h.tokens.exchanges.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oauth_session_connects_integration_once() {
    let h = harness().await;
    h.create_oauth_integration().await;
    let token = h.session(Some(vec!["local"])).await;
    let denied = start_authorization_with(&h, &token).await;
    let first = start_authorization_with(&h, &token).await;
    let second = start_authorization_with(&h, &token).await;

    let callback = format!("/oauth/callback?state={denied}&error=access_denied");
    let page = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    let callback = format!("/oauth/callback?state={first}&code=good-code");
    let page = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "a failure used up the session: {}",
        page.body
    );

    let callback = format!("/oauth/callback?state={second}&code=good-code");
    let page = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(
        page.body.contains("error: connect_session_used"),
        "{}",
        page.body
    );
    let restart = format!("/oauth/connect/local?connect_session_token={token}");
    let reply = send(&h.router, "GET", &restart, None, None).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_code(), "connect_session_used");

    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn callback_value_fills_connection_config() {
    let h = harness().await;
    h.create_integration(json!({
        "unique_key": "books",
        "provider": "local-callback",
        "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret"},
    }))
    .await;
    let token = h.session(Some(vec!["books"])).await;
    let uri = format!("/oauth/connect/books?connect_session_token={token}");
    let redirect = send(&h.router, "GET", &uri, None, None).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
    let location = url::Url::parse(redirect.headers["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();

    let callback = format!("/oauth/callback?state={state}&code=good-code&realmId=9130347");
    let page = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    let connection_id = h.only_connection_of_user().await;
    let connection = h.connection("books", &connection_id).await;
    assert_eq!(connection["connection_config"]["realm_id"], "9130347");
    let request = Request::builder()
        .uri("/proxy/echo")
        .header("authorization", SECRET)
        .header("provider-config-key", "books")
        .header("connection-id", &connection_id)
        .body(Body::empty())
        .unwrap();
    let reply = reply_of(&h.router, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["path"], "/api/9130347/echo");
}

#[tokio::test]
async fn callback_without_required_value_rejected() {
    let h = harness().await;
    h.create_integration(json!({
        "unique_key": "books",
        "provider": "local-callback",
        "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret"},
    }))
    .await;
    let token = h.session(Some(vec!["books"])).await;
    let uri = format!("/oauth/connect/books?connect_session_token={token}");
    let redirect = send(&h.router, "GET", &uri, None, None).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
    let location = url::Url::parse(redirect.headers["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();

    let callback = format!("/oauth/callback?state={state}&code=good-code");
    let page = send(&h.router, "GET", &callback, None, None).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("invalid_callback"), "{}", page.body);
    assert!(page.body.contains("realmId"), "{}", page.body);
    assert_eq!(h.tokens.exchanges.load(Ordering::SeqCst), 0);
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"].as_array().unwrap().len(), 0);
}

/// Creates an integration of `local-dialects` and starts its browser flow.
/// Returns the query of the authorization URL.
async fn start_dialects(h: &Harness) -> std::collections::HashMap<String, String> {
    h.create_integration(json!({
        "unique_key": "dialects",
        "provider": "local-dialects",
        "credentials": {"type": "OAUTH2", "client_id": "cid-dialects", "client_secret": "csecret"},
    }))
    .await;
    let token = h.session(Some(vec!["dialects"])).await;
    let uri = format!("/oauth/connect/dialects?connect_session_token={token}");
    let redirect = send(&h.router, "GET", &uri, None, None).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
    let location = url::Url::parse(redirect.headers["location"].to_str().unwrap()).unwrap();
    location.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn callback_dialects_reach_requests() {
    let h = harness().await;
    let pairs = start_dialects(&h).await;
    let nonce = &pairs["nonce"];
    assert_eq!(nonce.len(), 22, "{nonce}");
    assert_ne!(nonce, &pairs["state"]);

    let state = &pairs["state"];
    let callback =
        format!("/oauth/callback?state={state}&auth_code=good-code&data-center=eu&code=decoy");
    let page = send(&h.router, "GET", &callback, None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(h.tokens.last_region.lock().unwrap().as_deref(), Some("eu"));
    assert_eq!(h.tokens.exchanges.load(Ordering::SeqCst), 1);

    let connection_id = h.only_connection_of_user().await;
    let connection = h.connection("dialects", &connection_id).await;
    assert_eq!(connection["connection_config"]["data_center"], "eu");
    let headers = h.upstream_headers("dialects", &connection_id).await;
    assert_eq!(headers["x-api-key"], "cid-dialects");
    assert_eq!(headers["authorization"], "Bearer at-code-1");
    assert!(
        !headers.to_string().contains("csecret"),
        "the client secret reached the upstream: {headers}"
    );
}

#[tokio::test]
async fn invalid_callback_stores_nothing() {
    let h = harness().await;
    let pairs = start_dialects(&h).await;
    let state = &pairs["state"];
    let hostile =
        format!("/oauth/callback?state={state}&auth_code=good-code&data-center=evil.example%2F");
    let page = send(&h.router, "GET", &hostile, None, None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("invalid_callback"), "{}", page.body);
    assert!(page.body.contains("data-center"), "{}", page.body);
    assert!(page.body.contains("nothing is stored"), "{}", page.body);

    let replay = send(
        &h.router,
        "GET",
        &hostile.replace("evil.example%2F", "eu"),
        None,
        None,
    )
    .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert!(replay.body.contains("invalid_state"), "{}", replay.body);

    let pairs = start_dialects_again(&h).await;
    let state = &pairs["state"];
    let standard_name = format!("/oauth/callback?state={state}&code=good-code&data-center=eu");
    let page = send(&h.router, "GET", &standard_name, None, None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("missing_code"), "{}", page.body);
    assert!(page.body.contains("auth_code"), "{}", page.body);

    assert_eq!(h.tokens.exchanges.load(Ordering::SeqCst), 0);
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));
}

/// Starts another browser flow of the `dialects` integration.
async fn start_dialects_again(h: &Harness) -> std::collections::HashMap<String, String> {
    let token = h.session(Some(vec!["dialects"])).await;
    let uri = format!("/oauth/connect/dialects?connect_session_token={token}");
    let redirect = send(&h.router, "GET", &uri, None, None).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
    let location = url::Url::parse(redirect.headers["location"].to_str().unwrap()).unwrap();
    location.query_pairs().into_owned().collect()
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

#[tokio::test]
async fn browser_routes_answer_html_errors() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(Some(vec!["sub"])).await;
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let connect_page = format!("href=\"http://127.0.0.1:3003/connect?session_token={token}\"");

    // (case, uri, status, code, text for the end user, link back)
    #[rustfmt::skip]
    let cases = [
        ("expired page link", "/connect?session_token=lk_cs_unknown".to_owned(), 401, "invalid_connect_session_token", "This link has expired or is not valid. Ask the application that sent you here for a new one.", "history.back()".to_owned()),
        ("bad token on oauth", "/oauth/connect/sub?connect_session_token=lk_cs_unknown".to_owned(), 401, "invalid_connect_session_token", "This link has expired", "/connect?session_token=lk_cs_unknown".to_owned()),
        ("not allowed", format!("/oauth/connect/local?connect_session_token={token}"), 403, "integration_not_allowed", "does not allow connecting", connect_page.clone()),
        ("bad config", format!("/oauth/connect/sub?connect_session_token={token}&params%5Bsubdomain%5D=Not.Valid"), 400, "invalid_connection_config", "A value you entered is not valid", connect_page.clone()),
        ("undeclared key", format!("/oauth/connect/sub?connect_session_token={token}&params%5Bsubdomain%5D=acme&params%5Bevil%5D=x"), 400, "invalid_connection_config", "`evil`", connect_page.clone()),
        ("automated key", format!("/oauth/connect/sub?connect_session_token={token}&params%5Bsubdomain%5D=acme&params%5Binstance_url%5D=https%3A%2F%2Fx.example"), 400, "invalid_connection_config", "connection-config key `instance_url` is not for the end user to set: Latchkey fills it itself", connect_page),
    ];
    for (case, uri, status, code, explanation, link) in cases {
        for accept in [Some(browser_accept), None] {
            let mut request = Request::builder().uri(&uri);
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            let reply = reply_of(&h.router, request.body(Body::empty()).unwrap()).await;
            assert_eq!(reply.status.as_u16(), status, "{case}: {}", reply.body);
            assert!(is_html(&reply), "{case} {accept:?}");
            assert!(
                reply.body.contains(&format!("error: {code}")),
                "{case}: {}",
                reply.body
            );
            assert!(reply.body.contains(explanation), "{case}: {}", reply.body);
            assert!(reply.body.contains(&link), "{case}: {}", reply.body);
            assert!(!reply.body.contains("window.close"), "{case}");
            assert!(reply.headers.get("location").is_none(), "{case}");
        }

        let reply = send(&h.router, "GET", &uri, None, None).await;
        assert_eq!(reply.status.as_u16(), status, "{case}");
        assert_eq!(reply.error_code(), code, "{case}: {}", reply.body);
    }
}

/// Sends `body` as is, with `content_type` when given.
async fn send_raw(router: &Router, uri: &str, content_type: Option<&str>, body: &str) -> Reply {
    let mut request = Request::builder().method("POST").uri(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    reply_of(router, request.body(Body::from(body.to_owned())).unwrap()).await
}

fn is_html(reply: &Reply) -> bool {
    reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html")
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

impl Harness {
    /// Creates one integration of each auth mode: `local` (OAuth2 without
    /// connection config), `sub` (OAuth2 with config, hostile display
    /// name), `key` (API key), `basic` and `cc` (client credentials).
    async fn create_every_mode(&self) {
        self.create_oauth_integration().await;
        let app = json!({"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret"});
        self.create_integration(json!({
            "unique_key": "sub",
            "provider": "local-sub-oauth",
            "display_name": "<script>alert(1)</script>",
            "credentials": app,
        }))
        .await;
        self.create_integration(json!({"unique_key": "key", "provider": "local-strict-key"}))
            .await;
        self.create_integration(json!({"unique_key": "basic", "provider": "local-basic"}))
            .await;
        let cc_app = json!({"type": "OAUTH2_CC", "client_id": "cid", "client_secret": "csecret"});
        self.create_integration(
            json!({"unique_key": "cc", "provider": "local-cc", "credentials": cc_app}),
        )
        .await;
    }

    /// Creates a connect session for `user-1` and returns its token.
    async fn session(&self, allowed: Option<Vec<&str>>) -> String {
        let mut body = json!({"end_user": {"id": "user-1"}});
        if let Some(allowed) = allowed {
            body["allowed_integrations"] = json!(allowed);
        }
        let reply = send(
            &self.router,
            "POST",
            "/connect/sessions",
            Some(SECRET),
            Some(body),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()["data"]["token"].as_str().unwrap().to_owned()
    }

    /// Creates a session and returns its token and the page of its
    /// `connect_link`.
    async fn connect_page(&self, allowed: Option<Vec<&str>>) -> (String, Reply) {
        let token = self.session(allowed).await;
        let uri = format!("/connect?session_token={token}");
        let page = send(&self.router, "GET", &uri, None, None).await;
        (token, page)
    }

    async fn connection(&self, key: &str, connection_id: &str) -> Value {
        let uri = format!("/connections/{connection_id}?provider_config_key={key}");
        let reply = send(&self.router, "GET", &uri, Some(SECRET), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()
    }

    /// Proxies `GET /echo` through a connection and returns the headers the
    /// upstream received.
    async fn upstream_headers(&self, key: &str, connection_id: &str) -> Value {
        let request = Request::builder()
            .uri("/proxy/echo")
            .header("authorization", SECRET)
            .header("provider-config-key", key)
            .header("connection-id", connection_id)
            .body(Body::empty())
            .unwrap();
        let reply = reply_of(&self.router, request).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["headers"].clone()
    }

    /// Returns the id of the one connection of end user `user-1`.
    async fn only_connection_of_user(&self) -> String {
        let list = send(
            &self.router,
            "GET",
            "/connections?endUserId=user-1",
            Some(SECRET),
            None,
        )
        .await;
        let connections = list.json()["connections"].as_array().unwrap().clone();
        assert_eq!(connections.len(), 1, "{}", list.body);
        connections[0]["connection_id"].as_str().unwrap().to_owned()
    }
}

/// Finds the `<input ...>` tag whose `name` attribute is `name`.
fn input_tag<'a>(html: &'a str, name: &str) -> &'a str {
    let attribute = format!("name=\"{name}\"");
    let at = html
        .find(&attribute)
        .unwrap_or_else(|| panic!("no input {name}: {html}"));
    let start = html[..at].rfind("<input").unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// Finds the `<form ...>...</form>` element of integration `key`.
fn form_of<'a>(html: &'a str, key: &str) -> &'a str {
    let attribute = format!("data-integration=\"{key}\"");
    let at = html
        .find(&attribute)
        .unwrap_or_else(|| panic!("no form for {key}: {html}"));
    let start = html[..at].rfind("<form").unwrap();
    let end = at + html[at..].find("</form>").unwrap();
    &html[start..end + "</form>".len()]
}

#[tokio::test]
async fn connect_page_renders_forms() {
    let h = harness().await;
    h.create_every_mode().await;
    let (token, page) = h.connect_page(None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let html = page.body.as_str();
    assert!(is_html(&page));

    let oauth = form_of(html, "sub");
    assert!(oauth.starts_with(
        "<form method=\"get\" action=\"http://127.0.0.1:3003/oauth/connect/sub\" data-integration=\"sub\">"
    ), "{oauth}");
    assert!(oauth.contains(&format!(
        "<input type=\"hidden\" name=\"connect_session_token\" value=\"{token}\">"
    )));
    let subdomain = input_tag(oauth, "params[subdomain]");
    assert!(subdomain.contains(" required"), "{subdomain}");
    assert!(
        subdomain.contains("pattern=\"[a-z0-9\\-]+\""),
        "{subdomain}"
    );
    assert!(subdomain.contains("placeholder=\"acme\""), "{subdomain}");
    assert!(oauth.contains(">Subdomain</label>"), "{oauth}");
    assert!(oauth.contains("The &lt;b&gt;team&lt;/b&gt; part of team.example.com"));
    let region = input_tag(oauth, "params[region]");
    assert!(!region.contains("required"), "{region}");
    assert!(region.contains("value=\"us\""), "{region}");
    assert!(
        !oauth.contains("params[instance_url]"),
        "automated fields are hidden"
    );
    assert!(oauth.contains("<button type=\"submit\">"));

    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"), "{html}");

    let plain_oauth = form_of(html, "local");
    assert!(!plain_oauth.contains("params["), "{plain_oauth}");
    assert!(plain_oauth.contains("<button type=\"submit\">"));

    let key = form_of(html, "key");
    assert!(key.starts_with(&format!(
        "<form method=\"post\" action=\"http://127.0.0.1:3003/connect/key/api-key?connect_session_token={token}\" data-integration=\"key\">"
    )), "{key}");
    let api_key = input_tag(key, "api_key");
    assert!(api_key.contains("type=\"password\""), "{api_key}");
    assert!(api_key.contains(" required"), "{api_key}");
    assert!(key.contains(">Secret key</label>"), "{key}");
    assert!(input_tag(key, "params[workspace]").contains("pattern=\"[a-z]+\""));

    let basic = form_of(html, "basic");
    assert!(basic.starts_with(&format!(
        "<form method=\"post\" action=\"http://127.0.0.1:3003/connect/basic/basic?connect_session_token={token}\""
    )), "{basic}");
    assert!(input_tag(basic, "username").contains("type=\"text\""));
    assert!(input_tag(basic, "password").contains("type=\"password\""));
    assert!(basic.contains(">Account SID</label>"), "{basic}");
    assert!(basic.contains(">Auth token</label>"), "{basic}");

    assert!(
        !html.contains("data-integration=\"cc\""),
        "client-credentials integrations are not listed"
    );
}

#[tokio::test]
async fn connect_page_lists_only_allowed() {
    let h = harness().await;
    h.create_every_mode().await;
    let (_, page) = h.connect_page(Some(vec!["key"])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<form").count(), 1, "{}", page.body);
    assert!(page.body.contains("data-integration=\"key\""));
}

#[tokio::test]
async fn oauth_connect_merges_form_params() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(None).await;
    let start = format!("/oauth/connect/sub?connect_session_token={token}");
    let location = |reply: &Reply| {
        reply.headers["location"]
            .to_str()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned()
    };

    let json_only = format!("{start}&params=%7B%22subdomain%22%3A%22json-sub%22%7D");
    let reply = send(&h.router, "GET", &json_only, None, None).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    assert_eq!(location(&reply), "http://127.0.0.1:9/json-sub/authorize");

    let both = format!("{json_only}&params%5Bsubdomain%5D=form-sub&params%5Bregion%5D=");
    let reply = send(&h.router, "GET", &both, None, None).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    assert_eq!(location(&reply), "http://127.0.0.1:9/form-sub/authorize");

    let blank_keeps_json = format!("{json_only}&params[subdomain]=");
    let reply = send(&h.router, "GET", &blank_keeps_json, None, None).await;
    assert_eq!(location(&reply), "http://127.0.0.1:9/json-sub/authorize");

    let cases = [
        (
            format!("{start}&params[subdomain]="),
            "missing connection config field `subdomain`",
        ),
        (
            format!("{start}&params[subdomain]=Not.Valid"),
            "`[a-z0-9-]+`",
        ),
    ];
    for (uri, expected) in cases {
        let reply = send(&h.router, "GET", &uri, None, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.error_code(), "invalid_connection_config", "{uri}");
        assert!(reply.body.contains(expected), "{uri}: {}", reply.body);
        assert!(reply.headers.get("location").is_none(), "{uri}");
    }
}

#[tokio::test]
async fn credential_entry_errors_in_order() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(None).await;
    h.create_integration(json!({"unique_key": "gone", "provider": "local-strict-key"}))
        .await;
    let only_local = h.session(Some(vec!["local", "gone"])).await;
    let deleted = send(
        &h.router,
        "DELETE",
        "/integrations/gone",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let api_key =
        |key: &str, token: &str| format!("/connect/{key}/api-key?connect_session_token={token}");
    let basic = |key: &str| format!("/connect/{key}/basic?connect_session_token={token}");
    let valid_json = r#"{"api_key":"sk_live_1","connection_config":{"workspace":"acme"}}"#;
    let long_key_form = format!("api_key=sk_{}&params%5Bworkspace%5D=acme", "k".repeat(4095));
    let long_password_json = format!(r#"{{"username":"AC1","password":"{}"}}"#, "p".repeat(4097));
    let many_params_form: String = (0..51)
        .map(|i| format!("&params%5Bk{i}%5D=v"))
        .fold("api_key=sk_1".to_owned(), |form, pair| form + &pair);
    let long_param_form = format!("api_key=sk_1&params%5Bworkspace%5D={}", "a".repeat(1025));

    // (case, uri, content type, body, status, code, message fragment)
    #[rustfmt::skip]
    let cases = [
        ("no token", "/connect/key/api-key".to_owned(), Some(JSON), valid_json, 401, "invalid_connect_session_token", ""),
        ("unknown token", api_key("key", "lk_cs_unknown"), Some(JSON), valid_json, 401, "invalid_connect_session_token", ""),
        ("not allowed", api_key("key", &only_local), Some(JSON), valid_json, 403, "integration_not_allowed", "`key`"),
        ("deleted integration", api_key("gone", &only_local), Some(JSON), valid_json, 404, "unknown_integration", "`gone`"),
        ("basic integration", api_key("basic", &token), Some(JSON), valid_json, 400, "invalid_credentials", "POST /connect/basic/basic"),
        ("oauth integration", api_key("local", &token), Some(JSON), valid_json, 400, "invalid_credentials", "GET /oauth/connect/local"),
        ("api-key integration on basic route", basic("key"), Some(JSON), valid_json, 400, "invalid_credentials", "POST /connect/key/api-key"),
        ("client credentials", basic("cc"), Some(JSON), valid_json, 400, "invalid_credentials", "POST /connections"),
        ("unknown mode", format!("/connect/key/token?connect_session_token={token}"), Some(JSON), valid_json, 404, "not_found", "/connect/key/token"),
        ("no content type", api_key("key", &token), None, valid_json, 400, "invalid_body", "application/json"),
        ("text body", api_key("key", &token), Some("text/plain"), valid_json, 400, "invalid_body", "form-encoded"),
        ("malformed JSON", api_key("key", &token), Some(JSON), "{\"api_key\":", 400, "invalid_body", "not valid JSON"),
        ("api_key not a string", api_key("key", &token), Some(JSON), r#"{"api_key":5}"#, 400, "invalid_body", "`api_key`"),
        ("missing api_key", api_key("key", &token), Some(JSON), r#"{"connection_config":{"workspace":"acme"}}"#, 400, "invalid_credentials", "`api_key`"),
        ("empty api_key", api_key("key", &token), Some(JSON), r#"{"api_key":""}"#, 400, "invalid_credentials", "`api_key`"),
        ("missing password", basic("basic"), Some(JSON), r#"{"username":"AC1"}"#, 400, "invalid_credentials", "`password`"),
        ("empty username", basic("basic"), Some(FORM), "username=&password=p", 400, "invalid_credentials", "`username`"),
        ("key_pattern", api_key("key", &token), Some(JSON), r#"{"api_key":"pk_hidden_value","connection_config":{"workspace":"acme"}}"#, 400, "invalid_credentials", "does not match the format `^sk_` of provider `local-strict-key`"),
        ("missing config", api_key("key", &token), Some(JSON), r#"{"api_key":"sk_1"}"#, 400, "invalid_connection_config", "`workspace`"),
        ("config pattern", api_key("key", &token), Some(FORM), "api_key=sk_1&params%5Bworkspace%5D=ACME", 400, "invalid_connection_config", "`workspace`"),
        ("blank api_key", api_key("key", &token), Some(JSON), r#"{"api_key":"  "}"#, 400, "invalid_credentials", "`api_key`"),
        ("api_key too long", api_key("key", &token), Some(FORM), &long_key_form, 400, "invalid_credentials", "at most 4096 bytes"),
        ("username with colon", basic("basic"), Some(FORM), "username=u%3Ax&password=p", 400, "invalid_credentials", "`username` contains `:`"),
        ("password too long", basic("basic"), Some(JSON), &long_password_json, 400, "invalid_credentials", "`password` is 4097 bytes"),
        ("undeclared form key", api_key("key", &token), Some(FORM), "api_key=sk_1&params%5Bworkspace%5D=acme&params%5Bevil%5D=x", 400, "invalid_connection_config", "field `evil`: it declares `workspace`"),
        ("undeclared JSON key", api_key("key", &token), Some(JSON), r#"{"api_key":"sk_1","connection_config":{"workspace":"acme","evil":"x"}}"#, 400, "invalid_connection_config", "field `evil`"),
        ("too many params", api_key("key", &token), Some(FORM), &many_params_form, 400, "invalid_connection_config", "at most 50"),
        ("param too long", api_key("key", &token), Some(FORM), &long_param_form, 400, "invalid_connection_config", "`params[workspace]` is 1025 bytes"),
    ];
    for (case, uri, content_type, body, status, code, fragment) in cases {
        let reply = send_raw(&h.router, &uri, content_type, body).await;
        assert_eq!(reply.status.as_u16(), status, "{case}: {}", reply.body);
        if content_type == Some(FORM) {
            assert!(is_html(&reply), "{case}");
            assert!(
                reply.body.contains(&format!("error: {code}")),
                "{case}: {}",
                reply.body
            );
            assert!(reply.body.contains("AUTHORIZATION_FAILED"), "{case}");
        } else {
            assert_eq!(reply.error_code(), code, "{case}: {}", reply.body);
        }
        assert!(reply.body.contains(fragment), "{case}: {}", reply.body);
        assert!(
            !reply.body.contains("pk_hidden_value"),
            "{case}: the key is echoed"
        );
    }

    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));
}

#[tokio::test]
async fn end_user_cannot_override_integration_values() {
    let h = harness().await;
    h.create_integration(json!({
        "unique_key": "pinned",
        "provider": "local-strict-key",
        "integration_config": {"workspace": "acme"},
    }))
    .await;
    let token = h.session(None).await;
    let uri = format!("/connect/pinned/api-key?connect_session_token={token}");

    let page = send(
        &h.router,
        "GET",
        &format!("/connect?session_token={token}"),
        None,
        None,
    )
    .await;
    assert!(
        !form_of(&page.body, "pinned").contains("params[workspace]"),
        "{}",
        page.body
    );
    let overrides = [
        (Some(FORM), "api_key=sk_1&params%5Bworkspace%5D=evil"),
        (
            Some(JSON),
            r#"{"api_key":"sk_1","connection_config":{"workspace":"evil"}}"#,
        ),
    ];
    for (content_type, body) in overrides {
        let reply = send_raw(&h.router, &uri, content_type, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(
            reply.body.contains(
                "connection-config key `workspace` is not for the end user to set: the integration sets it; leave it out"
            ),
            "{}",
            reply.body
        );
    }
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));

    // An empty value is no value, as in the HTML form.
    let connected = send_raw(
        &h.router,
        &uri,
        Some(JSON),
        r#"{"api_key":"sk_1","connection_config":{"workspace":""}}"#,
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    let id = list.json()["connections"][0]["connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = h
        .api(
            "GET",
            &format!("/connections/{id}?provider_config_key=pinned"),
            None,
        )
        .await;
    assert_eq!(stored.json()["connection_config"]["workspace"], "acme");

    // The application, with the secret key, may still choose another value.
    let body = json!({
        "provider_config_key": "pinned",
        "connection_id": "app-chosen",
        "connection_config": {"workspace": "other"},
        "credentials": {"type": "API_KEY", "apiKey": "sk_2"},
    });
    let reply = h.api("POST", "/connections", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn session_connects_integration_once() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(None).await;
    let uri = format!("/connect/key/api-key?connect_session_token={token}");
    let valid = r#"{"api_key":"sk_1","connection_config":{"workspace":"acme"}}"#;

    let failed = send_raw(&h.router, &uri, Some(JSON), r#"{"api_key":"pk_1"}"#).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST, "{}", failed.body);
    let first = send_raw(&h.router, &uri, Some(JSON), valid).await;
    assert_eq!(
        first.status,
        StatusCode::CREATED,
        "a failed attempt used up the session: {}",
        first.body
    );

    let second = send_raw(&h.router, &uri, Some(JSON), valid).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert_eq!(second.error_code(), "connect_session_used");
    assert!(second.body.contains("`key`"), "{}", second.body);
    let form = send_raw(
        &h.router,
        &uri,
        Some(FORM),
        "api_key=sk_2&params%5Bworkspace%5D=acme",
    )
    .await;
    assert_eq!(form.status, StatusCode::CONFLICT, "{}", form.body);
    assert!(is_html(&form));
    assert!(
        form.body.contains("error: connect_session_used"),
        "{}",
        form.body
    );

    let basic = format!("/connect/basic/basic?connect_session_token={token}");
    let other = send_raw(&h.router, &basic, Some(FORM), "username=AC1&password=p").await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "another integration: {}",
        other.body
    );

    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_entries_create_one_connection() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(Some(vec!["key"])).await;
    let uri = format!("/connect/key/api-key?connect_session_token={token}");
    let body = r#"{"api_key":"sk_1","connection_config":{"workspace":"acme"}}"#;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let router = h.router.clone();
            let uri = uri.clone();
            tokio::spawn(async move { send_raw(&router, &uri, Some(JSON), body).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }

    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert_eq!(conflicts, 9, "{statuses:?}");
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn api_key_entry_matches_import() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(Some(vec!["key"])).await;
    let uri = format!("/connect/key/api-key?connect_session_token={token}");
    let body = r#"{"api_key":"sk_live_entered","connection_config":{"workspace":"acme"}}"#;
    let reply = send_raw(&h.router, &uri, Some(JSON), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let created = reply.json();
    assert_eq!(created["providerConfigKey"], "key");
    let connection_id = created["connectionId"].as_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&connection_id).is_ok(),
        "{connection_id}"
    );
    assert_eq!(created.as_object().unwrap().len(), 2, "{created}");

    let import = json!({
        "provider_config_key": "key",
        "connection_id": "imported",
        "end_user": {"id": "user-1"},
        "connection_config": {"workspace": "acme"},
        "credentials": {"type": "API_KEY", "api_key": "sk_live_entered"},
    });
    let reply = send(
        &h.router,
        "POST",
        "/connections",
        Some(SECRET),
        Some(import),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let mut entered = h.connection("key", &connection_id).await;
    let mut imported = h.connection("key", "imported").await;
    assert_eq!(entered["end_user"], json!({"id": "user-1"}));
    for connection in [&mut entered, &mut imported] {
        let object = connection.as_object_mut().unwrap();
        for varying in ["id", "connection_id", "created_at", "updated_at"] {
            assert!(object.remove(varying).is_some(), "{varying}");
        }
    }
    assert_eq!(entered, imported);

    let headers = h.upstream_headers("key", &connection_id).await;
    assert_eq!(headers["x-key"], "sk_live_entered");
}

#[tokio::test]
async fn basic_form_entry_returns_page() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(None).await;
    let uri = format!("/connect/basic/basic?connect_session_token={token}");
    let reply = send_raw(&h.router, &uri, Some(FORM), "username=AC1&password=p%26ss").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(is_html(&reply));
    assert!(reply.body.contains("AUTHORIZATION_SUCEEDED"));

    let connection_id = h.only_connection_of_user().await;
    assert!(reply
        .body
        .contains(&format!("data-connection-id=\"{connection_id}\"")));

    let connection = h.connection("basic", &connection_id).await;
    assert_eq!(connection["credentials"]["type"], "BASIC");
    assert_eq!(connection["credentials"]["username"], "AC1");
    assert_eq!(connection["credentials"]["password"], "p&ss");

    let headers = h.upstream_headers("basic", &connection_id).await;
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "AC1:p&ss")
    );
    assert_eq!(headers["authorization"], expected.as_str());
}

/// Returns the Basic header value of `username:password`.
fn basic_value(username: &str, password: &str) -> String {
    let pair = format!("{username}:{password}");
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair);
    format!("Basic {encoded}")
}

#[tokio::test]
async fn fixed_password_entry_and_import() {
    let h = harness().await;
    h.create_integration(json!({"unique_key": "keyuser", "provider": "local-key-as-username"}))
        .await;

    let (token, page) = h.connect_page(Some(vec!["keyuser"])).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = form_of(&page.body, "keyuser");
    assert!(input_tag(form, "username").contains(" required"), "{form}");
    assert!(!form.contains("name=\"password\""), "{form}");

    let uri = format!("/connect/keyuser/basic?connect_session_token={token}");
    let reply = send_raw(&h.router, &uri, Some(FORM), "username=key_123").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let entered = h.only_connection_of_user().await;
    let connection = h.connection("keyuser", &entered).await;
    assert_eq!(connection["credentials"]["username"], "key_123");
    assert_eq!(connection["credentials"]["password"], "");
    let headers = h.upstream_headers("keyuser", &entered).await;
    assert_eq!(headers["authorization"], "Basic a2V5XzEyMzo=");
    assert_eq!(
        headers["authorization"],
        basic_value("key_123", "").as_str()
    );

    for (connection_id, credentials) in [
        (
            "no-password",
            json!({"type": "BASIC", "username": "key_456"}),
        ),
        (
            "same-password",
            json!({"type": "BASIC", "username": "key_456", "password": ""}),
        ),
    ] {
        let body = json!({
            "provider_config_key": "keyuser",
            "connection_id": connection_id,
            "credentials": credentials,
        });
        let reply = h.api("POST", "/connections", Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{connection_id}: {}",
            reply.body
        );
        let headers = h.upstream_headers("keyuser", connection_id).await;
        assert_eq!(
            headers["authorization"],
            basic_value("key_456", "").as_str()
        );
    }

    let other = json!({
        "provider_config_key": "keyuser",
        "connection_id": "other-password",
        "credentials": {"type": "BASIC", "username": "key_456", "password": "p"},
    });
    let reply = h.api("POST", "/connections", Some(other)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_code(), "invalid_credentials");
    assert!(
        reply
            .body
            .contains("`credentials.password` must be left out"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("an empty string"), "{}", reply.body);
}

#[tokio::test]
async fn basic_import_requires_unfixed_halves() {
    let h = harness().await;
    h.create_every_mode().await;
    let body = json!({
        "provider_config_key": "basic",
        "connection_id": "no-password",
        "credentials": {"type": "BASIC", "username": "AC1"},
    });
    let reply = h.api("POST", "/connections", Some(body)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_code(), "invalid_body");
    assert!(
        reply.body.contains("missing field `credentials.password`"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn credential_entry_store_failure() {
    let h = harness().await;
    h.create_every_mode().await;
    let token = h.session(None).await;
    let uri = format!("/connect/key/api-key?connect_session_token={token}");
    let body = r#"{"api_key":"sk_1","connection_config":{"workspace":"acme"}}"#;
    h.state.store.fail_writes(true);
    let reply = send_raw(&h.router, &uri, Some(JSON), body).await;
    h.state.store.fail_writes(false);
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "store_error");
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));
}

/// Sends a request with the secret key, the given headers and a raw body.
async fn send_with(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: String,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", SECRET);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply_of(router, request.body(Body::from(body)).unwrap()).await
}

impl Harness {
    /// Sends a request with the secret key and an optional JSON body.
    async fn api(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        send(&self.router, method, uri, Some(SECRET), body).await
    }

    /// Creates integration `qkey`, whose API key goes into the `api_key`
    /// query parameter, and imports connection `c1` with key `sk_stored`.
    async fn import_query_key(&self) {
        self.create_integration(json!({"unique_key": "qkey", "provider": "local-query-key"}))
            .await;
        let body = json!({
            "provider_config_key": "qkey",
            "connection_id": "c1",
            "credentials": {"type": "API_KEY", "api_key": "sk_stored"},
        });
        let reply = self.api("POST", "/connections", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    async fn proxy(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("provider-config-key", "qkey"), ("connection-id", "c1")];
        all.extend_from_slice(headers);
        send_with(&self.router, "GET", uri, &all, String::new()).await
    }
}

#[tokio::test]
async fn proxy_rejects_trace_and_connect() {
    let h = harness().await;
    h.import_query_key().await;
    let headers = [("provider-config-key", "qkey"), ("connection-id", "c1")];
    for method in ["TRACE", "CONNECT"] {
        let reply = send_with(&h.router, method, "/proxy/echo", &headers, String::new()).await;

        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "method_not_allowed", "{method}");
        assert!(
            !reply.body.contains("sk_stored"),
            "{method}: {}",
            reply.body
        );
    }
    let allowed = h.proxy("/proxy/echo", &[]).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

#[tokio::test]
async fn proxy_empty_path_reaches_base_url() {
    let h = harness().await;
    h.import_query_key().await;
    let reply = h.proxy("/proxy/", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let path = reply.json()["path"].as_str().unwrap().to_owned();
    assert!(path == "/api" || path == "/api/", "upstream path {path}");
    let query = reply.json()["query"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(query.contains("api_key=sk_stored"), "query {query}");
}

#[tokio::test]
async fn proxy_rejects_dot_segments() {
    let h = harness().await;
    h.import_query_key().await;
    let paths = [
        ("/proxy/../token", ".."),
        ("/proxy/%2e%2e/token", "%2e%2e"),
        ("/proxy/a/%2E%2E/%2e%2E/token", "%2E%2E"),
        ("/proxy/.%2e/token", ".%2e"),
        ("/proxy/./echo", "."),
    ];
    for (uri, segment) in paths {
        let reply = h.proxy(uri, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "invalid_proxy_path", "{uri}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains(&format!("`{segment}`")),
            "{uri}: {message}"
        );
    }
    let allowed = h.proxy("/proxy/v1/a..b", &[]).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(allowed.json()["path"], "/api/v1/a..b");
    assert_eq!(h.tokens.exchanges.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn proxy_injected_query_replaces_callers() {
    let h = harness().await;
    h.import_query_key().await;
    let uri = "/proxy/echo?api_key=attacker&b=%20x&API_KEY=kept&api%5Fkey=encoded";
    let reply = h.proxy(uri, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json()["query"],
        "b=%20x&API_KEY=kept&api_key=sk_stored"
    );
}

#[tokio::test]
async fn proxy_sends_one_content_type() {
    let h = harness().await;
    h.import_query_key().await;
    let headers = [
        ("content-type", "application/json"),
        ("nango-proxy-content-type", "text/csv"),
    ];
    let reply = h.proxy("/proxy/echo", &headers).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["headers"]["content-type"], "text/csv");
}

#[tokio::test]
async fn end_user_fields_are_validated() {
    let h = harness().await;
    h.create_oauth_integration().await;
    let long = "x".repeat(256);
    let cases = [
        (json!({"id": "u\r\nforged"}), "`end_user.id`"),
        (json!({"id": "u\u{1b}[2J"}), "`end_user.id`"),
        (json!({"id": long}), "`end_user.id`"),
        (json!({"id": ""}), "`end_user.id`"),
        (json!({"id": "u", "email": "a@b.c\n"}), "`end_user.email`"),
        (
            json!({"id": "u", "display_name": long}),
            "`end_user.display_name`",
        ),
    ];
    for (end_user, field) in cases {
        let session = json!({"end_user": end_user});
        let reply = h.api("POST", "/connect/sessions", Some(session)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{end_user}");
        assert_eq!(reply.error_code(), "invalid_body", "{end_user}");
        assert!(reply.body.contains(field), "{end_user}: {}", reply.body);

        let import = json!({
            "provider_config_key": "local",
            "end_user": end_user,
            "credentials": {"type": "OAUTH2", "access_token": "at"},
        });
        let reply = h.api("POST", "/connections", Some(import)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{end_user}");
        assert!(reply.body.contains(field), "{end_user}: {}", reply.body);
    }
}

#[tokio::test]
async fn browser_responses_forbid_caching_and_framing() {
    let h = harness().await;
    h.create_every_mode().await;
    let (token, page) = h.connect_page(None).await;
    let redirect = send(
        &h.router,
        "GET",
        &format!("/oauth/connect/local?connect_session_token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    let failed_callback = send(
        &h.router,
        "GET",
        "/oauth/callback?state=unknown",
        None,
        None,
    )
    .await;
    let entry = send_raw(
        &h.router,
        &format!("/connect/key/api-key?connect_session_token={token}"),
        Some(FORM),
        "api_key=sk_1&params%5Bworkspace%5D=acme",
    )
    .await;
    assert_eq!(entry.status, StatusCode::OK, "{}", entry.body);
    let no_session = send(&h.router, "GET", "/connect", None, None).await;

    let replies = [
        ("connect page", page),
        ("redirect", redirect),
        ("failed callback", failed_callback),
        ("credential entry", entry),
        ("connect page without session", no_session),
    ];
    for (name, reply) in replies {
        assert_eq!(reply.headers["referrer-policy"], "no-referrer", "{name}");
        assert_eq!(reply.headers["cache-control"], "no-store", "{name}");
        assert_eq!(reply.headers["x-frame-options"], "DENY", "{name}");
        assert_eq!(
            reply.headers["content-security-policy"], "frame-ancestors 'none'",
            "{name}"
        );
    }
}

#[tokio::test]
async fn empty_oauth2_access_token_rejected() {
    let h = harness().await;
    h.create_every_mode().await;
    let body = json!({
        "provider_config_key": "local",
        "connection_id": "empty-token",
        "credentials": {"type": "OAUTH2", "access_token": ""},
    });

    let reply = h.api("POST", "/connections", Some(body)).await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_code(), "invalid_credentials");
    assert!(
        reply.body.contains("`credentials.access_token` is empty"),
        "{}",
        reply.body
    );
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));
}

#[tokio::test]
async fn key_imports_reject_unknown_fields() {
    let h = harness().await;
    h.create_every_mode().await;
    let config = json!({"workspace": "acme"});
    let imports = [
        (
            "key",
            json!({"type": "API_KEY"}),
            "invalid_body",
            "missing field `apiKey`",
        ),
        (
            "key",
            json!({"type": "API_KEY", "apiKey": "sk_1", "extra": 1}),
            "invalid_credentials",
            "unknown field `credentials.extra`: credentials of type `API_KEY` take `credentials.apiKey`",
        ),
        (
            "basic",
            json!({"type": "BASIC", "username": "AC1", "password": "p", "apiKey": "k"}),
            "invalid_credentials",
            "unknown field `credentials.apiKey`: credentials of type `BASIC` take `credentials.username`, `credentials.password`",
        ),
    ];
    for (key, credentials, code, message) in imports {
        let mut body = json!({"provider_config_key": key, "credentials": credentials});
        if key == "key" {
            body["connection_config"] = config.clone();
        }
        let reply = h.api("POST", "/connections", Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.error_code(), code, "{}", reply.body);
        assert!(reply.body.contains(message), "{}", reply.body);
    }
    let list = send(&h.router, "GET", "/connections", Some(SECRET), None).await;
    assert_eq!(list.json()["connections"], json!([]));

    // Both names of the key are accepted.
    for (id, name) in [("k1", "apiKey"), ("k2", "api_key")] {
        let mut credentials = json!({"type": "API_KEY"});
        credentials[name] = json!("sk_1");
        let body = json!({
            "provider_config_key": "key",
            "connection_id": id,
            "connection_config": config,
            "credentials": credentials,
        });
        let reply = h.api("POST", "/connections", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{name}: {}", reply.body);
    }
}

#[tokio::test]
async fn header_credentials_reject_control_characters() {
    let h = harness().await;
    h.create_every_mode().await;
    let hostile = "sk_1\r\nX-Injected: 1";
    let imports = [
        (
            "key",
            json!({"type": "API_KEY", "api_key": hostile}),
            "`credentials.apiKey`",
        ),
        (
            "local",
            json!({"type": "OAUTH2", "access_token": hostile}),
            "`credentials.access_token`",
        ),
        (
            "basic",
            json!({"type": "BASIC", "username": "AC1", "password": hostile}),
            "`credentials.password`",
        ),
        (
            "basic",
            json!({"type": "BASIC", "username": "AC\u{7f}1", "password": "p"}),
            "`credentials.username`",
        ),
    ];
    for (key, credentials, field) in imports {
        let mut body = json!({
            "provider_config_key": key,
            "credentials": credentials,
        });
        // Only `local-strict-key` declares a connection-config field.
        if key == "key" {
            body["connection_config"] = json!({"workspace": "acme"});
        }
        let reply = h.api("POST", "/connections", Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "invalid_credentials", "{field}");
        assert!(reply.body.contains(field), "{field}: {}", reply.body);
        assert!(!reply.body.contains("X-Injected"), "{field}: value echoed");
    }

    let token = h.session(None).await;
    let entries = [
        (
            "key/api-key",
            r#"{"api_key":"sk_1\nX-Injected: 1","connection_config":{"workspace":"acme"}}"#,
            "`api_key`",
        ),
        (
            "basic/basic",
            r#"{"username":"AC1","password":"p\r\nX-Injected: 1"}"#,
            "`password`",
        ),
    ];
    for (route, body, field) in entries {
        let uri = format!("/connect/{route}?connect_session_token={token}");
        let reply = send_raw(&h.router, &uri, Some(JSON), body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{route}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "invalid_credentials", "{route}");
        assert!(reply.body.contains(field), "{route}: {}", reply.body);
        assert!(!reply.body.contains("X-Injected"), "{route}: value echoed");
    }
    let list = h.api("GET", "/connections", None).await;
    assert_eq!(list.json()["connections"], json!([]));
}

#[tokio::test]
async fn oversized_json_body_is_413() {
    let h = harness().await;
    h.create_every_mode().await;
    let limit = crate::extract::MAX_JSON_BODY;
    let body = format!(
        r#"{{"unique_key":"big","provider":"local-oauth","display_name":"{}"}}"#,
        "x".repeat(limit)
    );

    let json_headers = [("content-type", JSON)];
    let routes = [
        ("POST", "/integrations"),
        ("POST", "/connections"),
        ("PATCH", "/integrations/local"),
    ];
    for (method, uri) in routes {
        let reply = send_with(&h.router, method, uri, &json_headers, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{uri}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "payload_too_large", "{uri}");
        assert!(
            reply.body.contains(&limit.to_string()),
            "{uri}: {}",
            reply.body
        );
    }

    let token = h.session(None).await;
    let uri = format!("/connect/key/api-key?connect_session_token={token}");
    let reply = send_raw(&h.router, &uri, Some(JSON), &body).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "payload_too_large");
}

#[tokio::test]
async fn identifiers_are_validated() {
    let h = harness().await;
    h.create_oauth_integration().await;
    for connection_id in ["..", ".", "a b", " a", "a/b", "a\u{0}b", "é"] {
        let body = json!({
            "provider_config_key": "local",
            "connection_id": connection_id,
            "credentials": {"type": "OAUTH2", "access_token": "at"},
        });
        let reply = h.api("POST", "/connections", Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{connection_id:?}");
        assert_eq!(reply.error_code(), "invalid_body", "{connection_id:?}");
        assert!(reply.body.contains("`connection_id`"), "{}", reply.body);
        assert!(reply.body.contains("`@`"), "{}", reply.body);
    }
    let body = json!({
        "provider_config_key": "local",
        "connection_id": "user@example.com:main+1",
        "credentials": {"type": "OAUTH2", "access_token": "at"},
    });
    let reply = h.api("POST", "/connections", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    for unique_key in ["..", "a b", "a/b"] {
        let body = json!({"unique_key": unique_key, "provider": "local-oauth"});
        let reply = h.api("POST", "/integrations", Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{unique_key}");
        assert!(reply.body.contains("`unique_key`"), "{}", reply.body);
        let rename = json!({"unique_key": unique_key});
        let reply = h.api("PATCH", "/integrations/local", Some(rename)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{unique_key}");
    }
}

#[tokio::test]
async fn json_errors_use_json_terms() {
    let h = harness().await;
    h.create_oauth_integration().await;
    let scopes = json!({
        "unique_key": "s",
        "provider": "local-oauth",
        "credentials": {"type": "OAUTH2", "client_id": "c", "client_secret": "s", "scopes": 5},
    });
    let expires_at = json!({
        "provider_config_key": "local",
        "credentials": {"type": "OAUTH2", "access_token": "at", "expires_at": "tomorrow"},
    });
    let cases = [
        (
            "/integrations",
            json!([]),
            "the request body must be a JSON object (`{...}`), got an array",
        ),
        (
            "/integrations",
            json!("text"),
            "the request body must be a JSON object (`{...}`), got a string",
        ),
        (
            "/connect/sessions",
            json!([1]),
            "the request body must be a JSON object (`{...}`), got an array",
        ),
        (
            "/integrations",
            scopes,
            "field `credentials.scopes` must be a comma-separated string or an array of strings",
        ),
        (
            "/connections",
            expires_at,
            "field `credentials.expires_at` must be an RFC 3339 date-time such as 2026-12-03T10:00:00Z",
        ),
        (
            "/connections",
            json!({
                "provider_config_key": "local",
                "credentials": {"type": "OAUTH2", "access_token": "at", "expires_in": "soon"},
            }),
            "field `credentials.expires_in` must be an integer number of seconds",
        ),
        (
            "/connect/sessions",
            json!({"end_user": "u"}),
            "invalid field `end_user`",
        ),
    ];
    for (uri, body, expected) in cases {
        let reply = h.api("POST", uri, Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "invalid_body", "{uri}");
        assert!(reply.body.contains(expected), "{uri}: {}", reply.body);
        for rust_name in ["struct ", "enum ", "Scopes", "EndUser", "CreateIntegration"] {
            assert!(!reply.body.contains(rust_name), "{uri}: {}", reply.body);
        }
    }
}

#[tokio::test]
async fn rejected_refresh_is_not_retried() {
    let h = harness().await;
    h.create_oauth_integration().await;
    h.import_expired("c1", "rt-initial").await;
    h.tokens.valid_refresh_tokens.lock().unwrap().clear();
    let get = "/connections/c1?provider_config_key=local";

    let first = h.api("GET", get, None).await;
    assert_eq!(
        first.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        first.body
    );
    assert_eq!(h.tokens.refreshes.load(Ordering::SeqCst), 1);

    let again = h.api("GET", get, None).await;
    assert_eq!(
        again.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        again.body
    );
    assert_eq!(again.error_code(), "refresh_failed");
    assert!(again.body.contains("force_refresh=true"), "{}", again.body);
    let headers = [("provider-config-key", "local"), ("connection-id", "c1")];
    let proxied = send_with(&h.router, "GET", "/proxy/echo", &headers, String::new()).await;
    assert_eq!(
        proxied.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        proxied.body
    );
    assert_eq!(
        h.tokens.refreshes.load(Ordering::SeqCst),
        1,
        "provider asked again"
    );

    h.tokens
        .valid_refresh_tokens
        .lock()
        .unwrap()
        .push("rt-initial".to_owned());
    let forced = format!("{get}&force_refresh=true");
    let reply = h.api("GET", &forced, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(h.tokens.refreshes.load(Ordering::SeqCst), 2);
    assert_eq!(reply.json()["errors"], json!([]));
}

#[tokio::test]
async fn refresh_without_client_credentials() {
    let h = harness().await;
    h.create_integration(json!({ "unique_key": "local", "provider": "local-oauth" }))
        .await;
    h.import_expired("c1", "rt-valid").await;
    let get = "/connections/c1?provider_config_key=local";

    let reply = h.api("GET", get, None).await;
    assert_eq!(
        reply.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "missing_client_credentials");
    assert_eq!(
        reply.headers["x-latchkey-error"],
        "missing_client_credentials"
    );
    assert!(
        reply.body.contains("PATCH /integrations/local"),
        "{}",
        reply.body
    );
    assert_eq!(h.tokens.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn temporary_refresh_failure_backs_off() {
    let h = harness().await;
    h.create_oauth_integration().await;
    h.import_expired("c1", "rt-provider-down").await;
    let get = "/connections/c1?provider_config_key=local";

    let first = h.api("GET", get, None).await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY, "{}", first.body);
    assert_eq!(first.error_code(), "refresh_temporarily_failed");
    assert_eq!(first.headers["retry-after"], "5");
    assert_eq!(
        first.headers["x-latchkey-error"],
        "refresh_temporarily_failed"
    );
    let again = h.api("GET", get, None).await;
    assert_eq!(again.status, StatusCode::BAD_GATEWAY, "{}", again.body);
    assert!(again.body.contains("5 seconds"), "{}", again.body);
    let wait: u64 = again.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        h.tokens.refreshes.load(Ordering::SeqCst),
        1,
        "provider asked within the backoff"
    );

    let forced = format!("{get}&force_refresh=true");
    h.api("GET", &forced, None).await;
    assert_eq!(h.tokens.refreshes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn authorization_without_bearer_names_scheme() {
    let h = harness().await;
    let reply = send(
        &h.router,
        "GET",
        "/providers",
        Some("Basic dGVzdDp0ZXN0"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "missing_secret_key");
    assert!(
        reply.body.contains(
            "the Authorization header must be `Bearer <secret key>`; got a `Basic` header"
        ),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains("dGVzdDp0ZXN0"));
    let raw_key = send(&h.router, "GET", "/providers", Some("test-secret"), None).await;
    assert_eq!(raw_key.error_code(), "missing_secret_key");
    assert!(!raw_key.body.contains("test-secret"), "{}", raw_key.body);
}
