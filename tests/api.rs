//! The CLI and the HTTP API without test peers: `catalog validate`, the
//! provider routes, the integration lifecycle, the authorization URLs of
//! built-in providers, and bad input (broken provider files, unknown ids,
//! missing or wrong secret keys, invalid bodies and query parameters). The
//! OAuth flow's bad input is in `oauth.rs`, the proxy's in `proxy.rs`.

mod support;

use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, run_cli, CatalogDir, Latchkey, Reply, ServerConfig};
use support::oauth_flow::{authorization_url, query_param};
use support::{free_port, httpbin_provider, random_hex, unused_oauth2_auth};

const UNUSED_BASE: &str = "http://127.0.0.1:9";

/// Line 5 indents `inject` by three spaces under a two-space mapping: libyaml
/// reports "mapping values are not allowed" at its colon, column 10.
const MALFORMED_YAML: &str = "name: broken-yaml
display_name: Broken YAML
auth:
  mode: api_key
   inject: x
proxy:
  base_url: \"http://127.0.0.1:9\"
";

/// Line 11 gives a static proxy header a number where the schema wants a
/// template string.
const SCHEMA_VIOLATION: &str = "name: bad-schema
display_name: Bad schema
auth:
  mode: api_key
  inject:
    name: X-Api-Key
    value: \"{{ api_key }}\"
proxy:
  base_url: \"http://127.0.0.1:9\"
  headers:
    X-Version: 3
";

fn assert_names_position(stderr: &str, file: &str, line: u32, column: Option<u32>) {
    assert!(
        stderr.contains(file),
        "the diagnostic does not name {file}: {stderr}"
    );
    let short = match column {
        Some(column) => format!("{file}:{line}:{column}"),
        None => format!("{file}:{line}"),
    };
    let long_line = format!("line {line}");
    let has_line = stderr.contains(&short) || stderr.contains(&long_line);
    assert!(
        has_line,
        "the diagnostic does not give line {line}: {stderr}"
    );
    if let Some(column) = column {
        let has_column = stderr.contains(&short) || stderr.contains(&format!("column {column}"));
        assert!(
            has_column,
            "the diagnostic does not give column {column}: {stderr}"
        );
    }
}

#[test]
fn catalog_validate_reports_malformed_yaml() {
    let catalog = CatalogDir::new();
    let file = catalog.write("broken-yaml", MALFORMED_YAML);

    let output = run_cli(&["catalog", "validate", catalog.path().to_str().unwrap()]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_names_position(&stderr, file.to_str().unwrap(), 5, Some(10));
    assert!(
        stderr.contains("mapping values are not allowed"),
        "no reason: {stderr}"
    );
}

#[test]
fn catalog_validate_reports_schema_violation() {
    let catalog = CatalogDir::new();
    let file = catalog.write("bad-schema", SCHEMA_VIOLATION);

    let output = run_cli(&["catalog", "validate", file.to_str().unwrap()]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_names_position(&stderr, file.to_str().unwrap(), 11, None);
    assert!(stderr.contains("proxy"), "no field path: {stderr}");
    assert!(stderr.contains("headers"), "no field path: {stderr}");
    assert!(stderr.contains("X-Version"), "no field path: {stderr}");
}

#[test]
fn catalog_validate_accepts_valid_files() {
    let catalog = CatalogDir::new();
    catalog.write(
        "good-one",
        &httpbin_provider("good-one", UNUSED_BASE, "  mode: basic"),
    );

    let dir = run_cli(&["catalog", "validate", catalog.path().to_str().unwrap()]);
    let built_in = run_cli(&["catalog", "validate"]);

    assert_eq!(
        dir.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dir.stderr)
    );
    assert_eq!(
        built_in.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&built_in.stderr)
    );
}

#[test]
fn serve_refuses_broken_catalog_dir() {
    let cases = [
        ("broken-yaml", MALFORMED_YAML, 5, Some(10)),
        ("bad-schema", SCHEMA_VIOLATION, 11, None),
    ];
    for (name, yaml, line, column) in cases {
        let catalog = CatalogDir::new();
        let file = catalog.write(name, yaml);
        let data = TempDir::new().unwrap();

        let started = Latchkey::try_start(ServerConfig::new(
            free_port(),
            data.path(),
            &[catalog.path()],
        ));

        let failure = match started {
            Ok(_) => panic!("latchkey serve started with the broken provider file {name}"),
            Err(failure) => failure,
        };
        let status = failure.status.expect("the server should have exited");
        assert!(!status.success(), "{name}: exit status {status}");
        assert_names_position(&failure.stderr, file.to_str().unwrap(), line, column);
    }
}

struct Env {
    server: Latchkey,
    _catalog: CatalogDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let catalog = CatalogDir::new();
        let providers = [
            (
                "test-keyed",
                "  mode: api_key\n  key_pattern: \"^sk_\"\n  inject:\n    name: X-Api-Key\n    value: \"{{ api_key }}\"",
            ),
            ("test-basic", "  mode: basic"),
        ];
        for (name, auth) in providers {
            catalog.write(name, &httpbin_provider(name, UNUSED_BASE, auth));
        }
        // Same name as a built-in provider, so this file overrides it.
        catalog.write(
            "github",
            &httpbin_provider("github", UNUSED_BASE, "  mode: basic")
                .replace("display_name: Test httpbin github", "display_name: GitHub overridden"),
        );
        catalog.write(
            "test-oauth",
            &httpbin_provider("test-oauth", UNUSED_BASE, &unused_oauth2_auth(UNUSED_BASE)),
        );
        catalog.write(
            "test-subdomain",
            "name: test-subdomain
display_name: Test subdomain
auth:
  mode: basic
connection_config:
  subdomain:
    title: Subdomain
    pattern: \"^[a-z0-9]+$\"
proxy:
  base_url: \"http://127.0.0.1:9/{{ subdomain }}\"
",
        );
        let server = Latchkey::start_fresh(free_port(), &[catalog.path()], &[]);
        Env {
            server,
            _catalog: catalog,
        }
    })
}

#[tokio::test]
async fn health_needs_no_secret_key() {
    let env = env();
    let reply = Reply::read(reqwest::get(env.server.url("/health")).await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json(), json!({ "status": "ok" }));
}

#[tokio::test]
async fn every_route_family_needs_secret_key() {
    let env = env();
    let api = env.server.api();
    let key = api.integration_of("test-basic").await;
    let routes = [
        (Method::GET, "/providers".to_owned()),
        (Method::GET, "/providers/test-basic".to_owned()),
        (Method::GET, "/integrations".to_owned()),
        (Method::POST, "/integrations".to_owned()),
        (Method::GET, format!("/integrations/{key}")),
        (Method::PATCH, format!("/integrations/{key}")),
        (Method::DELETE, format!("/integrations/{key}")),
        (Method::POST, "/connect/sessions".to_owned()),
        (Method::GET, "/connections".to_owned()),
        (Method::POST, "/connections".to_owned()),
        (
            Method::GET,
            format!("/connections/c1?provider_config_key={key}"),
        ),
        (
            Method::DELETE,
            format!("/connections/c1?provider_config_key={key}"),
        ),
        (Method::GET, "/proxy/anything".to_owned()),
        (Method::POST, "/proxy/anything".to_owned()),
    ];
    let http = reqwest::Client::new();
    let credentials: [(&str, Option<String>, &str); 4] = [
        ("no Authorization", None, "missing_secret_key"),
        (
            "Basic scheme",
            Some("Basic dXNlcjpwYXNz".to_owned()),
            "missing_secret_key",
        ),
        (
            "wrong key",
            Some("Bearer lk_wrong_key".to_owned()),
            "invalid_secret_key",
        ),
        (
            "key with a suffix",
            Some(format!("Bearer {}x", env.server.secret_key)),
            "invalid_secret_key",
        ),
    ];
    for (method, path) in &routes {
        for (case, authorization, code) in &credentials {
            let mut request = http
                .request(method.clone(), env.server.url(path))
                .header("Provider-Config-Key", &key)
                .header("Connection-Id", "c1")
                .json(&json!({}));
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            let reply = Reply::read(request.send().await.unwrap()).await;
            assert_error(
                &reply,
                StatusCode::UNAUTHORIZED,
                code,
                &format!("{method} {path}, {case}"),
            );
        }
    }
    // The integration is still there: no unauthenticated DELETE went through.
    assert_eq!(
        api.get(&format!("/integrations/{key}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_ids_return_404_with_code() {
    let env = env();
    let api = env.server.api();
    let key = api.integration_of("test-basic").await;
    let cases = [
        (
            Method::GET,
            "/providers/no-such-provider".to_owned(),
            None,
            "unknown_provider",
        ),
        (
            Method::POST,
            "/integrations".to_owned(),
            Some(
                json!({ "unique_key": format!("k-{}", random_hex(4)), "provider": "no-such-provider" }),
            ),
            "unknown_provider",
        ),
        (
            Method::GET,
            "/integrations/no-such-integration".to_owned(),
            None,
            "unknown_integration",
        ),
        (
            Method::PATCH,
            "/integrations/no-such-integration".to_owned(),
            Some(json!({ "display_name": "x" })),
            "unknown_integration",
        ),
        (
            Method::DELETE,
            "/integrations/no-such-integration".to_owned(),
            None,
            "unknown_integration",
        ),
        (
            Method::POST,
            "/connections".to_owned(),
            Some(json!({
                "provider_config_key": "no-such-integration",
                "credentials": { "type": "BASIC", "username": "u", "password": "p" },
            })),
            "unknown_integration",
        ),
        (
            Method::GET,
            "/connections/no-such-connection?provider_config_key=no-such-integration".to_owned(),
            None,
            "unknown_integration",
        ),
        (
            Method::GET,
            format!("/connections/no-such-connection?provider_config_key={key}"),
            None,
            "unknown_connection",
        ),
        (
            Method::DELETE,
            format!("/connections/no-such-connection?provider_config_key={key}"),
            None,
            "unknown_connection",
        ),
        (Method::GET, "/no-such-route".to_owned(), None, "not_found"),
    ];
    for (method, path, body, code) in cases {
        let case = format!("{method} {path}");
        let reply = match body {
            Some(body) => api.send_json(method, &path, &body).await,
            None => Reply::read(api.request(method, &path).send().await.unwrap()).await,
        };
        assert_error(&reply, StatusCode::NOT_FOUND, code, &case);
    }
}

#[tokio::test]
async fn invalid_bodies_return_400_naming_field() {
    let env = env();
    let api = env.server.api();
    let key = api.integration_of("test-basic").await;
    let cases: [(&str, &str, &str); 7] = [
        (
            "/integrations",
            r#"{"unique_key": 5, "provider": "test-basic"}"#,
            "unique_key",
        ),
        (
            "/integrations",
            r#"{"unique_key": "no-provider"}"#,
            "provider",
        ),
        (
            "/integrations",
            r#"{"unique_key": "k", "provider": "test-basic", "credentials": {"type": "OAUTH2", "client_id": "c"}}"#,
            "client_secret",
        ),
        (
            "/connect/sessions",
            r#"{"end_user": {"email": "a@example.com"}}"#,
            "id",
        ),
        (
            "/connect/sessions",
            r#"{"end_user": {"id": "u"}, "allowed_integrations": "not-a-list"}"#,
            "allowed_integrations",
        ),
        (
            "/connections",
            &format!(r#"{{"provider_config_key": "{key}", "credentials": {{"type": "NOPE"}}}}"#),
            "credentials",
        ),
        (
            "/connections",
            &format!(
                r#"{{"provider_config_key": "{key}", "credentials": {{"type": "BASIC", "username": "u"}}}}"#
            ),
            "password",
        ),
    ];
    for (path, body, field) in cases {
        let reply = Reply::read(
            api.request(Method::POST, path)
                .header("Content-Type", "application/json")
                .body(body.to_owned())
                .send()
                .await
                .unwrap(),
        )
        .await;
        let case = format!("POST {path} {body}");
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_body", &case);
        assert!(
            reply.error_message().contains(field),
            "{case}: message does not name {field}: {}",
            reply.text
        );
    }

    let reply = Reply::read(
        api.request(Method::POST, "/integrations")
            .header("Content-Type", "application/json")
            .body("{\"unique_key\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "truncated JSON",
    );
}

#[tokio::test]
async fn oauth2_credentials_need_id_and_secret() {
    // An empty `client_secret` is accepted, because a public client (PKCE)
    // has none and the token request then sends only the client id.
    let env = env();
    let api = env.server.api();
    let key = format!("oauth-{}", random_hex(4));
    // (credentials, expected error code, field the message must name)
    let cases = [
        (
            json!({ "type": "OAUTH2", "client_id": "cid" }),
            "invalid_body",
            "client_secret",
        ),
        (
            json!({ "type": "OAUTH2", "client_secret": "secret" }),
            "invalid_body",
            "client_id",
        ),
        (
            json!({ "type": "OAUTH2", "client_id": " ", "client_secret": "secret" }),
            "invalid_credentials",
            "client_id",
        ),
    ];
    for (credentials, code, field) in &cases {
        let body =
            json!({ "unique_key": key, "provider": "test-oauth", "credentials": credentials });
        let reply = api.post("/integrations", &body).await;
        let case = format!("POST /integrations {body}");
        assert_error(&reply, StatusCode::BAD_REQUEST, code, &case);
        let message = reply.error_message();
        assert!(message.contains(field), "{case}: {message}");
    }
    let stored = api.get(&format!("/integrations/{key}")).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{}", stored.text);

    // PATCH checks new credentials as POST does and keeps the old ones.
    api.create_integration(&json!({
        "unique_key": key,
        "provider": "test-oauth",
        "credentials": { "type": "OAUTH2", "client_id": "cid", "client_secret": "secret" },
    }))
    .await;
    for (credentials, code, field) in &cases {
        let body = json!({ "credentials": credentials });
        let reply = api.patch(&format!("/integrations/{key}"), &body).await;
        let case = format!("PATCH /integrations/{key} {body}");
        assert_error(&reply, StatusCode::BAD_REQUEST, code, &case);
        let message = reply.error_message();
        assert!(message.contains(field), "{case}: {message}");
    }
    let stored = api
        .get(&format!("/integrations/{key}?include=credentials"))
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    let credentials = &stored.json()["data"]["credentials"];
    assert_eq!(credentials["client_id"], "cid", "{}", stored.text);
    assert_eq!(credentials["client_secret"], "secret", "{}", stored.text);
}

#[tokio::test]
async fn invalid_values_return_400() {
    let env = env();
    let api = env.server.api();
    let keyed = api.integration_of("test-keyed").await;
    let subdomain = api.integration_of("test-subdomain").await;
    let cases: [(&str, Value, &str, &str); 5] = [
        (
            "/integrations",
            json!({ "unique_key": "has spaces!", "provider": "test-basic" }),
            "invalid_body",
            "unique_key",
        ),
        (
            "/connections",
            json!({ "provider_config_key": keyed, "credentials": { "type": "API_KEY", "api_key": "pk_not_secret" } }),
            "invalid_credentials",
            "`credentials.apiKey`",
        ),
        (
            "/connections",
            json!({ "provider_config_key": keyed, "credentials": { "type": "BASIC", "username": "u", "password": "p" } }),
            "invalid_credentials",
            "BASIC",
        ),
        (
            "/connections",
            json!({
                "provider_config_key": subdomain,
                "connection_config": { "subdomain": "Not/Valid" },
                "credentials": { "type": "BASIC", "username": "u", "password": "p" },
            }),
            "invalid_connection_config",
            "subdomain",
        ),
        (
            "/connections",
            json!({
                "provider_config_key": subdomain,
                "credentials": { "type": "BASIC", "username": "u", "password": "p" },
            }),
            "invalid_connection_config",
            "subdomain",
        ),
    ];
    for (path, body, code, named) in cases {
        let case = format!("POST {path} {body}");
        let reply = api.post(path, &body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code, &case);
        assert!(
            reply.error_message().contains(named),
            "{case}: message does not name {named}: {}",
            reply.text
        );
    }

    let reply = api.get("/connections/any-id").await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_query_params",
        "no provider_config_key",
    );
    assert!(
        reply.error_message().contains("provider_config_key"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn duplicates_return_409() {
    let env = env();
    let api = env.server.api();
    let key = api.integration_of("test-basic").await;
    let reply = api
        .post(
            "/integrations",
            &json!({ "unique_key": key, "provider": "test-basic" }),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::CONFLICT,
        "duplicate_integration",
        "same unique_key",
    );

    let connection = json!({
        "provider_config_key": key,
        "connection_id": "twice",
        "credentials": { "type": "BASIC", "username": "u", "password": "p" },
    });
    api.create_connection(&connection).await;
    let reply = api.post("/connections", &connection).await;
    assert_error(
        &reply,
        StatusCode::CONFLICT,
        "duplicate_connection",
        "same connection_id",
    );
}

#[tokio::test]
async fn integration_lifecycle_hides_secret() {
    let env = env();
    let api = env.server.api();
    let key = format!("life-{}", random_hex(4));
    let secret = format!("secret-{}", random_hex(8));
    let created = api
        .create_integration(&json!({
            "unique_key": key,
            "provider": "test-oauth",
            "display_name": "Before",
            "credentials": { "type": "OAUTH2", "client_id": "cid", "client_secret": secret, "scopes": "a,b" },
        }))
        .await;
    assert!(
        !created.to_string().contains(&secret),
        "POST /integrations returned the secret"
    );

    let plain = api.get(&format!("/integrations/{key}")).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    assert!(!plain.text.contains(&secret), "{}", plain.text);
    let listed = api.get("/integrations").await;
    assert!(!listed.text.contains(&secret), "{}", listed.text);
    let full = api
        .get(&format!("/integrations/{key}?include=credentials"))
        .await;
    let credentials = &full.json()["data"]["credentials"];
    assert_eq!(
        credentials["client_secret"],
        secret.as_str(),
        "{}",
        full.text
    );
    assert_eq!(credentials["client_id"], "cid", "{}", full.text);
    assert_eq!(credentials["scopes"], "a,b", "{}", full.text);

    let patched = api
        .patch(
            &format!("/integrations/{key}"),
            &json!({ "display_name": "After" }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json()["data"]["display_name"], "After");

    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": "goes-with-it",
        "credentials": { "type": "OAUTH2", "access_token": "imported-token" },
    }))
    .await;
    let deleted = api.delete(&format!("/integrations/{key}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(deleted.json(), json!({ "success": true }));
    let listed = api.get("/connections?connectionId=goes-with-it").await;
    let remaining = listed.json()["connections"].as_array().map(Vec::len);
    assert_eq!(
        remaining,
        Some(0),
        "the integration's connections survived: {}",
        listed.text
    );
}

#[tokio::test]
async fn providers_route_serves_catalog() {
    let env = env();
    let api = env.server.api();

    let listed = api.get("/providers").await;

    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let providers = listed.json()["data"]
        .as_array()
        .expect("data array")
        .clone();
    let names: Vec<&str> = providers
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "providers are not sorted by name");
    assert!(names.len() >= 40, "only {} providers", names.len());
    for name in ["test-basic", "test-keyed", "confluence", "jira", "stripe"] {
        assert!(names.contains(&name), "{name} missing from /providers");
    }
    let github: Vec<&Value> = providers.iter().filter(|p| p["name"] == "github").collect();
    assert_eq!(github.len(), 1, "github listed {} times", github.len());
    assert_eq!(github[0]["display_name"], "GitHub overridden");

    let one = api.get("/providers/test-keyed").await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let provider = &one.json()["data"];
    assert_eq!(provider["name"], "test-keyed");
    assert_eq!(provider["auth"]["mode"], "api_key", "{provider}");
    assert_eq!(
        provider["auth"]["inject"]["name"], "X-Api-Key",
        "{provider}"
    );
    let overridden = api.get("/providers/github").await;
    assert_eq!(
        overridden.json()["data"]["auth"]["mode"],
        "basic",
        "{}",
        overridden.text
    );
}

/// Returns a server with the built-in catalog alone, started once. The shared
/// server's catalog directory overrides `github`.
fn builtin_server() -> &'static Latchkey {
    static SERVER: OnceLock<Latchkey> = OnceLock::new();
    SERVER.get_or_init(|| Latchkey::start_fresh(free_port(), &[], &[]))
}

/// Query parameters as (name, value) pairs.
type Pairs = &'static [(&'static str, &'static str)];

/// The authorization URL a built-in provider's integration must produce.
struct UrlCase {
    provider: &'static str,
    /// The integration's scopes, comma-separated as Nango's clients send them.
    scopes: &'static str,
    /// The `params` JSON object of `/oauth/connect`.
    config: Option<Value>,
    host: &'static str,
    path: &'static str,
    /// The expected `scope` parameter.
    scope: &'static str,
    /// Further parameters the URL must carry once each.
    extra: Pairs,
}

#[tokio::test]
async fn builtin_authorization_urls() {
    let server = builtin_server();
    let api = server.api();
    let atlassian: Pairs = &[("audience", "api.atlassian.com"), ("prompt", "consent")];
    let google: Pairs = &[("access_type", "offline"), ("prompt", "consent")];

    let case = |provider, scopes, config, host, path, scope, extra| UrlCase {
        provider,
        scopes,
        config,
        host,
        path,
        scope,
        extra,
    };
    // (provider, integration scopes, connection config, host, path,
    // expected `scope`, extra parameters)
    #[rustfmt::skip]
    let cases = [
        case("confluence", "read:confluence-content.all,write:confluence-content", None,
            "auth.atlassian.com", "/authorize",
            "offline_access read:confluence-content.all write:confluence-content", atlassian),
        case("jira", "read:jira-work,write:jira-work", None,
            "auth.atlassian.com", "/authorize",
            "offline_access read:jira-work write:jira-work", atlassian),
        case("google", "openid,https://www.googleapis.com/auth/drive.readonly", None,
            "accounts.google.com", "/o/oauth2/v2/auth",
            "openid https://www.googleapis.com/auth/drive.readonly", google),
        case("github", "repo,read:user", None,
            "github.com", "/login/oauth/authorize", "repo read:user", &[]),
        case("slack", "chat:write,channels:read", None,
            "slack.com", "/oauth/v2/authorize", "chat:write,channels:read", &[]),
        case("microsoft", "User.Read,Mail.Read", None,
            "login.microsoftonline.com", "/common/oauth2/v2.0/authorize",
            "offline_access User.Read Mail.Read", &[]),
        case("zendesk", "write", Some(json!({ "subdomain": "acme" })),
            "acme.zendesk.com", "/oauth/authorizations/new", "read write", &[]),
        case("shopify", "read_products,write_orders", Some(json!({ "shop": "acme-store" })),
            "acme-store.myshopify.com", "/admin/oauth/authorize",
            "read_products,write_orders", &[]),
    ];

    let redirect_uri = server.url("/oauth/callback");
    for UrlCase {
        provider,
        scopes,
        config,
        host,
        path,
        scope,
        extra,
    } in cases
    {
        let key = format!("{provider}-{}", random_hex(4));
        let client_id = format!("dummy-{provider}-client");
        api.create_integration(&json!({
            "unique_key": key,
            "provider": provider,
            "credentials": {
                "type": "OAUTH2",
                "client_id": client_id,
                "client_secret": "dummy-secret",
                "scopes": scopes,
            },
        }))
        .await;
        let token = api
            .connect_session(&format!("user-{}", random_hex(4)), None)
            .await;
        let mut connect = url::Url::parse(&server.url(&format!("/oauth/connect/{key}"))).unwrap();
        connect
            .query_pairs_mut()
            .append_pair("connect_session_token", &token);
        if let Some(config) = &config {
            connect
                .query_pairs_mut()
                .append_pair("params", &config.to_string());
        }

        // The redirect is never followed: no request goes to the provider.
        let reply = Reply::read(
            support::latchkey::no_redirect_client()
                .get(connect)
                .send()
                .await
                .unwrap(),
        )
        .await;

        let url = authorization_url(&reply);
        assert_eq!(url.scheme(), "https", "{provider}: {url}");
        assert_eq!(url.host_str(), Some(host), "{provider}: {url}");
        assert_eq!(url.path(), path, "{provider}: {url}");
        let mut expected: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", scope),
            ("code_challenge_method", "S256"),
        ];
        expected.extend_from_slice(extra);
        for (name, value) in expected {
            let values: Vec<String> = url
                .query_pairs()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .collect();
            assert_eq!(values, [value], "{provider}: parameter {name} in {url}");
        }
        let challenge = query_param(&url, "code_challenge").unwrap_or_default();
        assert_eq!(challenge.len(), 43, "{provider}: code_challenge in {url}");
        let state = query_param(&url, "state").unwrap_or_default();
        assert!(state.len() >= 16, "{provider}: state in {url}");
        if provider == "confluence" || provider == "jira" {
            let scope = query_param(&url, "scope").unwrap_or_default();
            assert!(
                scope.split(' ').any(|s| s == "offline_access"),
                "{provider}: no offline_access in {scope:?}"
            );
        }
    }
}
