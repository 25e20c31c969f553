//! The `mcp_oauth2` mode end to end. Latchkey discovers the endpoints from
//! the MCP server URL (RFC 9728, then OpenID Connect Discovery), registers a
//! client at oidc-provider (RFC 7591) and runs the browser flow with PKCE and
//! `resource` (RFC 8707). The proxy then calls a protected resource that
//! verifies the JWT access token with `jose`. The tests also cover refreshes
//! before and after a restart, and the discovery failures.

mod support;

use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, Api, CatalogDir, Keys, Latchkey, Reply, ServerConfig};
use support::oauth_flow::{authorization_url, connect_account, query_param, start_connect};
use support::peers::{ClientAuthMethod, McpResource, Oidc, OidcClient};
use support::{credential, free_port, provider_file, random_hex, text_at};

/// The scope the protected resource advertises and oidc-provider grants
/// for it.
const SCOPE: &str = "mcp:tools";

struct Env {
    oidc: Oidc,
    resource: McpResource,
    server: Latchkey,
    catalog: CatalogDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(start_env)
}

fn start_env() -> Env {
    let port = free_port();
    let resource_port = free_port();
    let resource_url = format!("http://127.0.0.1:{resource_port}/mcp");
    let static_client = OidcClient::authorization_code(
        "mcp-static-client",
        ClientAuthMethod::Post,
        &[format!("http://127.0.0.1:{port}/oauth/callback")],
    );
    let oidc = Oidc::start_with(
        &[static_client],
        json!({
            "registration": true,
            "resources": [{"resource": resource_url, "scope": SCOPE}],
        }),
    );
    let resource = McpResource::start(resource_port, &oidc.issuer, SCOPE);

    let catalog = CatalogDir::new();
    let origin = &resource.origin;
    for (name, path) in [
        ("test-mcp", "/mcp"),
        ("test-mcp-wrong-issuer", "/wrong-issuer/mcp"),
        ("test-mcp-refusing", "/refusing/mcp"),
        ("test-mcp-wrong-resource", "/wrong-resource/mcp"),
        ("test-mcp-no-metadata", "/no-metadata/mcp"),
    ] {
        catalog.write(
            name,
            &mcp_provider(name, &format!("{origin}{path}"), origin, ""),
        );
    }
    catalog.write(
        "test-mcp-static",
        &mcp_provider(
            "test-mcp-static",
            &format!("{origin}/mcp"),
            origin,
            "  client_registration: static\n",
        ),
    );
    let server = Latchkey::start_fresh(port, &[catalog.path()], &[]);
    Env {
        oidc,
        resource,
        server,
        catalog,
    }
}

fn mcp_provider(name: &str, server_url: &str, base_url: &str, extra_auth: &str) -> String {
    let auth = format!("  mode: mcp_oauth2\n  server_url: \"{server_url}\"\n{extra_auth}");
    provider_file(
        name,
        &format!("Test MCP server {name}"),
        &auth,
        base_url,
        "",
    )
}

/// Creates an integration of `provider`, with `credentials` when given, and
/// returns its unique key.
async fn create_integration(api: &Api, provider: &str, credentials: Option<Value>) -> String {
    let key = format!("{provider}-{}", random_hex(4));
    let mut body = json!({ "unique_key": key, "provider": provider });
    if let Some(credentials) = credentials {
        body["credentials"] = credentials;
    }
    api.create_integration(&body).await;
    key
}

fn end_user() -> String {
    format!("user-{}", random_hex(6))
}

async fn proxy_mcp(api: &Api, key: &str, connection_id: &str) -> Reply {
    let response = api
        .proxy(Method::POST, "/mcp", key, connection_id)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .expect("POST /proxy/mcp");
    Reply::read(response).await
}

/// Checks that the protected resource accepted the proxied request and
/// returns the access token claims it verified.
fn verified_claims(reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "resource replied: {}",
        reply.text
    );
    let body = reply.json();
    assert_eq!(body["authorized"], true, "{body}");
    body["claims"].clone()
}

#[tokio::test]
async fn registration_flow_proxy_and_refresh() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-mcp", None).await;
    let user = end_user();

    let connection_id = connect_account(&api, &key, &user, &user).await;
    let connection = api.connection(&key, &connection_id, None).await;

    let credentials = &connection["credentials"];
    assert_eq!(credentials["type"], "MCP_OAUTH2", "{connection}");
    let mcp = &credentials["mcp"];
    assert_eq!(mcp["client_registered"], true, "{mcp}");
    assert_eq!(mcp["issuer"], env.oidc.issuer.as_str());
    assert_eq!(mcp["token_endpoint"], format!("{}/token", env.oidc.issuer));
    assert_eq!(mcp["resource"], format!("{}/mcp", env.resource.origin));
    assert_eq!(mcp["token_endpoint_auth_method"], "client_secret_basic");
    let client_id = text_at(mcp, "/client_id");
    assert_ne!(client_id, "mcp-static-client");
    assert!(!text_at(mcp, "/client_secret").is_empty());
    assert!(credentials["refresh_token"].is_string(), "{credentials}");

    let claims = verified_claims(&proxy_mcp(&api, &key, &connection_id).await);
    assert_eq!(claims["aud"], format!("{}/mcp", env.resource.origin));
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], SCOPE, "the discovered scope is requested");

    let first_token = credential(&connection, "access_token");
    let refreshed = api.connection(&key, &connection_id, Some(true)).await;
    let second_token = credential(&refreshed, "access_token");
    assert_ne!(
        first_token, second_token,
        "force_refresh returns a new token"
    );
    assert_eq!(
        refreshed["credentials"]["mcp"]["client_id"],
        client_id.as_str()
    );
    assert_eq!(
        env.oidc.token_requests(&client_id, "refresh_token").await,
        1,
        "one refresh at the registered client"
    );

    let claims = verified_claims(&proxy_mcp(&api, &key, &connection_id).await);
    assert_eq!(claims["aud"], format!("{}/mcp", env.resource.origin));
}

#[tokio::test]
async fn authorization_request_carries_resource() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-mcp", None).await;
    let token = api.connect_session(&end_user(), None).await;

    let reply = start_connect(&env.server.base_url, &key, Some(&token)).await;
    let url = authorization_url(&reply);

    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/auth", env.oidc.issuer).as_str())
    );
    assert_eq!(
        query_param(&url, "resource"),
        Some(format!("{}/mcp", env.resource.origin))
    );
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_param(&url, "scope").as_deref(), Some(SCOPE));
    assert!(query_param(&url, "client_id").is_some_and(|id| id != "mcp-static-client"));
}

#[tokio::test]
async fn integration_client_skips_registration() {
    let env = env();
    let api = env.server.api();
    let client = env.oidc.client("mcp-static-client");
    let key = create_integration(
        &api,
        "test-mcp-static",
        Some(json!({
            "type": "MCP_OAUTH2",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        })),
    )
    .await;
    let user = end_user();

    let connection_id = connect_account(&api, &key, &user, &user).await;
    let connection = api.connection(&key, &connection_id, None).await;

    let mcp = &connection["credentials"]["mcp"];
    assert_eq!(mcp["client_registered"], false, "{mcp}");
    assert_eq!(mcp["client_id"], "mcp-static-client");
    assert_eq!(mcp["token_endpoint_auth_method"], "client_secret_post");
    let claims = verified_claims(&proxy_mcp(&api, &key, &connection_id).await);
    assert_eq!(claims["client_id"], "mcp-static-client");
}

#[tokio::test]
async fn static_registration_needs_client() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-mcp-static", None).await;
    let token = api.connect_session(&end_user(), None).await;

    let reply = start_connect(&env.server.base_url, &key, Some(&token)).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "static without client",
    );
    assert!(
        reply
            .error_message()
            .contains("client_registration: static"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn discovery_failures_name_url_and_answer() {
    let env = env();
    let api = env.server.api();
    let origin = &env.resource.origin;
    let cases = [
        (
            "test-mcp-wrong-issuer",
            vec![
                format!("{origin}/.well-known/oauth-authorization-server/wrong-issuer-as"),
                format!("issuer \"{}\"", env.oidc.issuer),
                "rejected".to_owned(),
            ],
        ),
        (
            "test-mcp-refusing",
            vec![
                format!("{origin}/refusing-as/register"),
                "HTTP 400".to_owned(),
                "invalid_redirect_uri".to_owned(),
                "this server registers no clients".to_owned(),
            ],
        ),
        (
            "test-mcp-wrong-resource",
            vec![
                format!("{origin}/.well-known/oauth-protected-resource/wrong-resource/mcp"),
                "https://other.example/mcp".to_owned(),
            ],
        ),
        (
            "test-mcp-no-metadata",
            vec![
                "no protected-resource metadata".to_owned(),
                format!("{origin}/.well-known/oauth-protected-resource/no-metadata/mcp returned HTTP 404"),
                format!("{origin}/.well-known/oauth-protected-resource returned HTTP 404"),
            ],
        ),
    ];
    for (provider, expected) in cases {
        let key = create_integration(&api, provider, None).await;
        let token = api.connect_session(&end_user(), None).await;

        let reply = start_connect(&env.server.base_url, &key, Some(&token)).await;

        assert_error(
            &reply,
            StatusCode::BAD_GATEWAY,
            "mcp_discovery_failed",
            provider,
        );
        let message = reply.error_message();
        for part in expected {
            assert!(
                message.contains(&part),
                "{provider}: {part:?} missing in {message}"
            );
        }
    }
}

#[tokio::test]
async fn connection_import_is_rejected() {
    let env = env();
    let api = env.server.api();
    let key = create_integration(&api, "test-mcp", None).await;

    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": "imported",
                "credentials": {"type": "OAUTH2", "access_token": "at"},
            }),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "import",
    );
    assert!(
        reply.error_message().contains("browser flow"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn refresh_works_after_restart() {
    let env = env();
    let data = TempDir::new().unwrap();
    let port = free_port();
    let keys = Keys::random();
    let config = || ServerConfig::new(port, data.path(), &[env.catalog.path()]).keys(keys.clone());
    let server = Latchkey::start(config());
    let api = server.api();
    let key = create_integration(&api, "test-mcp", None).await;
    let user = end_user();
    let connection_id = connect_account(&api, &key, &user, &user).await;
    let before = api.connection(&key, &connection_id, None).await;
    server.stop();

    let server = Latchkey::start(config());
    let api = server.api();
    let after = api.connection(&key, &connection_id, Some(true)).await;

    assert_ne!(
        credential(&before, "access_token"),
        credential(&after, "access_token"),
        "the refresh after the restart returns a new token"
    );
    verified_claims(&proxy_mcp(&api, &key, &connection_id).await);
}
