//! Post-connection steps end to end: a provider shaped like Jira, whose
//! accessible-resources call goes to a local stand-in for api.atlassian.com,
//! connected through oauth2-mock-server's browser flow and imported with
//! `POST /connections`.
//!
//! One mock, one stand-in and one Latchkey server serve every test of this
//! file.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::latchkey::{no_redirect_client, send, Api, CatalogDir, CatalogServer, Reply};
use support::oauth_flow::{authorization_url, callback, connection_id_from_page, start_connect};
use support::peers::MockOAuth;
use support::{credential, provider_file, random_hex};

/// A Jira-like provider whose post-connection step reads the sites.
const PROVIDER: &str = "test-atlassian";
/// The same, but its step reads a path where the stand-in lists no site.
const NO_SITES_PROVIDER: &str = "test-atlassian-no-sites";

const FIRST_SITE: &str = "1324a887-45db-1bf4-1e99-ef0ff456d421";
const SECOND_SITE: &str = "9f3c1b2a-0000-4000-8000-000000000002";

/// One request as the stand-in read it.
#[derive(Clone, Debug)]
struct SeenRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl SeenRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A stand-in for api.atlassian.com on 127.0.0.1. Its reply to
/// `accessible-resources` depends on the bearer token, so each import
/// chooses its reply. Every other path returns `200 {}`.
struct AtlassianStandIn {
    base_url: String,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
}

impl AtlassianStandIn {
    fn start() -> AtlassianStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(stream, &recorded));
            }
        });
        AtlassianStandIn { base_url, requests }
    }

    /// Returns the requests whose target starts with `prefix`.
    fn requests_to(&self, prefix: &str) -> Vec<SeenRequest> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|request| request.target.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn requests_with_token(&self, token: &str) -> Vec<SeenRequest> {
        let bearer = format!("Bearer {token}");
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|request| request.header("authorization") == Some(bearer.as_str()))
            .cloned()
            .collect()
    }
}

fn sites() -> Value {
    json!([
        {"id": FIRST_SITE, "name": "acme", "url": "https://acme.atlassian.net",
         "scopes": ["read:jira-work"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"},
        {"id": SECOND_SITE, "name": "acme-sandbox", "url": "https://acme-sandbox.atlassian.net",
         "scopes": ["read:jira-work"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"},
    ])
}

/// Returns the stand-in's reply (status, content type, body) to a request.
fn reply_for(request: &SeenRequest) -> (u16, &'static str, String) {
    let json = |status, value: Value| (status, "application/json", value.to_string());
    if request.target == "/empty/accessible-resources" {
        return json(200, json!([]));
    }
    if request.target != "/oauth/token/accessible-resources" {
        return json(200, json!({}));
    }
    let token = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    match token.split('-').next().unwrap_or_default() {
        "empty" => json(200, json!([])),
        "noid" => json(200, json!([{"name": "acme"}])),
        "badid" => json(200, json!([{"id": "not a cloud id"}])),
        "unauthorized" => json(401, json!({"code": 401, "message": "Unauthorized"})),
        "maintenance" => (
            503,
            "text/html",
            "<html><body><h1>Down for maintenance</h1></body></html>".to_owned(),
        ),
        _ => json(200, sites()),
    }
}

fn serve(stream: TcpStream, recorded: &Mutex<Vec<SeenRequest>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = SeenRequest {
        method,
        target,
        headers,
    };
    let (status, content_type, body) = reply_for(&request);
    recorded.lock().unwrap().push(request);
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Stand-in\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

struct Env {
    /// Kept so that the mock's process lives as long as the tests.
    _mock: MockOAuth,
    atlassian: AtlassianStandIn,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let mock = MockOAuth::start();
        let atlassian = AtlassianStandIn::start();
        let catalog = CatalogDir::new();
        let auth = format!(
            r#"  mode: oauth2
  authorization_url: "{issuer}/authorize"
  token_url: "{issuer}/token"
  client_auth: body"#,
            issuer = mock.issuer
        );
        let config = r#"connection_config:
  cloudId:
    title: Cloud ID
    pattern: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    automated: true
"#;
        for (name, path) in [
            (PROVIDER, "/oauth/token/accessible-resources"),
            (NO_SITES_PROVIDER, "/empty/accessible-resources"),
        ] {
            let steps = format!(
                r#"{config}post_connection:
  - url: "{base}{path}"
    select: first
    connection_config:
      cloudId: id
    metadata:
      accessibleResources: $
"#,
                base = atlassian.base_url
            );
            let base_url = format!("{}/ex/jira/{{{{ cloudId }}}}", atlassian.base_url);
            catalog.write(
                name,
                &provider_file(name, "Test Atlassian", &auth, &base_url, &steps),
            );
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            _mock: mock,
            atlassian,
            latchkey,
        }
    })
}

async fn create_integration(api: &Api, provider: &str) -> String {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": provider,
        "credentials": {
            "type": "OAUTH2",
            "client_id": format!("client-{}", random_hex(4)),
            "client_secret": format!("secret-{}", random_hex(8)),
            "scopes": "read:jira-work",
        },
    }))
    .await;
    key
}

/// Runs the browser flow through the mock and returns the end user id and
/// the callback page.
async fn connect(api: &Api, key: &str) -> (String, Reply) {
    let user = format!("atlassian-user-{}", random_hex(6));
    let token = api.connect_session(&user, None).await;
    let reply = start_connect(&api.base_url, key, Some(&token)).await;
    let response = no_redirect_client()
        .get(authorization_url(&reply))
        .send()
        .await
        .expect("GET the mock's /authorize");
    let back = Reply::read(response).await;
    let location = back.header("location").expect("Location from the mock");
    let page = callback(&url::Url::parse(&location).unwrap()).await;
    (user, page)
}

fn import_body(key: &str, connection_id: &str, token: &str, config: Value) -> Value {
    json!({
        "provider_config_key": key,
        "connection_id": connection_id,
        "connection_config": config,
        "credentials": {"type": "OAUTH2", "access_token": token,
                        "refresh_token": "rt-1", "expires_at": "2099-12-31T12:00:00Z"},
    })
}

#[tokio::test]
async fn callback_fills_cloud_id_and_proxy_uses_it() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = create_integration(&api, PROVIDER).await;

    let (_user, page) = connect(&api, &key).await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let id = connection_id_from_page(&page.text).expect("data-connection-id");
    let connection = api.connection(&key, &id, Some(false)).await;
    assert_eq!(
        connection["connection_config"]["cloudId"], FIRST_SITE,
        "{connection}"
    );
    assert_eq!(
        connection["metadata"]["accessibleResources"],
        sites(),
        "{connection}"
    );
    let access_token = credential(&connection, "access_token");
    let calls = env.atlassian.requests_with_token(&access_token);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].target, "/oauth/token/accessible-resources");
    assert_eq!(calls[0].header("accept"), Some("application/json"));

    let proxied = send(api.proxy(Method::GET, "/rest/api/3/myself", &key, &id)).await;

    assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text);
    let upstream = env.atlassian.requests_with_token(&access_token);
    assert_eq!(upstream.len(), 2, "{upstream:?}");
    assert_eq!(
        upstream[1].target,
        format!("/ex/jira/{FIRST_SITE}/rest/api/3/myself")
    );
}

#[tokio::test]
async fn callback_without_sites_stores_nothing() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = create_integration(&api, NO_SITES_PROVIDER).await;
    let before = env.atlassian.requests_to("/empty/").len();

    let (user, page) = connect(&api, &key).await;

    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text);
    assert!(
        page.text.contains("post_connection_failed"),
        "{}",
        page.text
    );
    assert!(page.text.contains("is an empty array"), "{}", page.text);
    assert_eq!(env.atlassian.requests_to("/empty/").len(), before + 1);
    assert!(api.connections_of(&user).await.is_empty());
}

#[tokio::test]
async fn import_fills_cloud_id() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = create_integration(&api, PROVIDER).await;
    let token = format!("sites-{}", random_hex(8));

    let created = api
        .create_connection(&import_body(&key, "imported", &token, json!({})))
        .await;

    assert_eq!(
        created["connection_config"]["cloudId"], FIRST_SITE,
        "{created}"
    );
    assert_eq!(
        created["metadata"]["accessibleResources"],
        sites(),
        "{created}"
    );
    let stored = api.connection(&key, "imported", Some(false)).await;
    assert_eq!(
        stored["connection_config"]["cloudId"], FIRST_SITE,
        "{stored}"
    );
    let calls = env.atlassian.requests_with_token(&token);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].target, "/oauth/token/accessible-resources");
}

#[tokio::test]
async fn import_keeps_given_cloud_id() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = create_integration(&api, PROVIDER).await;
    let token = format!("sites-{}", random_hex(8));

    let created = api
        .create_connection(&import_body(
            &key,
            "second-site",
            &token,
            json!({"cloudId": SECOND_SITE}),
        ))
        .await;

    assert_eq!(
        created["connection_config"]["cloudId"], SECOND_SITE,
        "{created}"
    );
    assert_eq!(
        created["metadata"]["accessibleResources"],
        sites(),
        "{created}"
    );
    assert_eq!(env.atlassian.requests_with_token(&token).len(), 1);
}

#[tokio::test]
async fn import_failures_store_nothing() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = create_integration(&api, PROVIDER).await;

    // (token prefix, expected status, expected code, expected message part)
    #[rustfmt::skip]
    let cases = [
        ("empty", StatusCode::BAD_GATEWAY, "post_connection_failed", "is an empty array, so it has no first element"),
        ("noid", StatusCode::BAD_GATEWAY, "post_connection_failed", "has no value at `id` for connection-config key `cloudId`"),
        ("unauthorized", StatusCode::BAD_REQUEST, "invalid_credentials", "returned HTTP 401: expected a 2xx status"),
        ("maintenance", StatusCode::BAD_GATEWAY, "post_connection_failed", "Down for maintenance"),
        ("badid", StatusCode::BAD_REQUEST, "invalid_connection_config", "cloudId"),
    ];

    for (prefix, status, code, part) in cases {
        let token = format!("{prefix}-{}", random_hex(8));
        let connection_id = format!("failed-{prefix}");

        let reply = api
            .post(
                "/connections",
                &import_body(&key, &connection_id, &token, json!({})),
            )
            .await;

        assert_eq!(reply.status, status, "{prefix}: {}", reply.text);
        assert_eq!(reply.error_code(), code, "{prefix}");
        let message = reply.error_message();
        assert!(message.contains(part), "{prefix}: {message}");
        assert!(!message.contains(&token), "{prefix}: {message}");
        assert_eq!(
            env.atlassian.requests_with_token(&token).len(),
            1,
            "{prefix}"
        );
        let stored = api
            .connection_reply(&key, &connection_id, Some(false))
            .await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{prefix}: {}",
            stored.text
        );
    }
}
