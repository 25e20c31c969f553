//! The end user's connect page, driven like a browser without JavaScript.
//! The tests submit the forms of the `/connect?session_token=` page as a
//! browser does: OAuth through oidc-provider's login and consent, API key
//! and basic credentials by POST. They also cover the JSON variants of the
//! credential routes, their bad input, and connection config sent as
//! `params[KEY]` query parameters beside the `params` JSON object.
//!
//! One oidc-provider, one httpbin and two Latchkey servers serve every test
//! of this file. Each test creates its own integrations and end users.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use url::Url;

use support::html_form::{decode_entities, form_for, forms, Form};
use support::latchkey::{
    no_redirect_client, post_form, post_json, Api, CatalogDir, Latchkey, Reply,
};
use support::oauth_flow::{
    authorization_url, authorize, callback, connection_id_from_page, query_param,
};
use support::peers::{ClientAuthMethod, Httpbin, Oidc, OidcClient};
use support::{free_port, provider_file, random_hex};

/// Connect session lifetime of the second server, in seconds.
const SHORT_SESSION_TTL: u64 = 2;

const TENANT_PATTERN: &str = "[a-z][a-z0-9-]*";
const TENANT_DESCRIPTION: &str = r#"The <tenant> part of "acme & co" addresses."#;
const WORKSPACE_PATTERN: &str = "[a-z0-9-]+";

struct Env {
    oidc: Oidc,
    _httpbin: Httpbin,
    server: Latchkey,
    /// Connect sessions expire after `SHORT_SESSION_TTL`.
    short_server: Latchkey,
    _catalog: CatalogDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(start_env)
}

/// Returns an OAuth2 provider file for oidc-provider whose authorization URL
/// carries the `tenant` field in its query and whose `region` field (default
/// `eu`) is an extra authorization parameter. `site_id` comes from the token
/// reply.
fn tenant_oauth_provider(issuer: &str) -> String {
    format!(
        r#"name: test-tenant-oauth
display_name: Test tenant OAuth
auth:
  mode: oauth2
  authorization_url: "{issuer}/auth?tenant={{{{ tenant }}}}"
  token_url: "{issuer}/token"
  client_auth: body
  authorization_params:
    region: "{{{{ region }}}}"
  token_response:
    connection_config:
      site_id: site_id
connection_config:
  tenant:
    title: Tenant name
    description: '{TENANT_DESCRIPTION}'
    pattern: "{TENANT_PATTERN}"
    example: acme
  region:
    title: Data region
    pattern: "eu|us"
    default: eu
  site_id:
    title: Site ID
    automated: true
    optional: true
proxy:
  base_url: "{issuer}"
"#
    )
}

/// Returns an API key provider file whose key goes in `X-Test-Key` and whose
/// `workspace` field is a path segment of httpbin's `/anything` echo.
fn workspace_key_provider(httpbin: &str) -> String {
    format!(
        r#"name: test-page-key
display_name: Test page API key
auth:
  mode: api_key
  key_title: Workspace token
  key_pattern: "^tk_[a-z0-9]+$"
  inject:
    name: X-Test-Key
    value: "{{{{ api_key }}}}"
connection_config:
  workspace:
    title: Workspace
    description: The workspace's short name.
    pattern: "{WORKSPACE_PATTERN}"
    example: team-1
proxy:
  base_url: "{httpbin}/anything/{{{{ workspace }}}}"
"#
    )
}

fn plain_key_provider(httpbin: &str) -> String {
    let auth = r#"  mode: api_key
  inject:
    name: X-Plain-Key
    value: "{{ api_key }}""#;
    provider_file(
        "test-page-plain-key",
        "Test page plain key",
        auth,
        httpbin,
        "",
    )
}

fn basic_provider(httpbin: &str) -> String {
    let auth = "  mode: basic\n  username_title: Account ID\n  password_title: Auth token";
    let config = r#"connection_config:
  team:
    title: Team
    pattern: "[a-z]+"
    optional: true
"#;
    provider_file("test-page-basic", "Test page basic", auth, httpbin, config)
}

fn client_credentials_provider(issuer: &str) -> String {
    let auth = format!("  mode: oauth2_client_credentials\n  token_url: \"{issuer}/token\"");
    let display_name = "Test page client credentials";
    provider_file("test-page-cc", display_name, &auth, issuer, "")
}

fn start_env() -> Env {
    let port = free_port();
    let short_port = free_port();
    let redirect_uris = vec![format!("http://127.0.0.1:{port}/oauth/callback")];
    let oidc = Oidc::start(&[OidcClient::authorization_code(
        "page-client",
        ClientAuthMethod::Post,
        &redirect_uris,
    )]);
    let httpbin = Httpbin::start();

    let catalog = CatalogDir::new();
    catalog.write("test-tenant-oauth", &tenant_oauth_provider(&oidc.issuer));
    catalog.write("test-page-key", &workspace_key_provider(&httpbin.base_url));
    catalog.write(
        "test-page-plain-key",
        &plain_key_provider(&httpbin.base_url),
    );
    catalog.write("test-page-basic", &basic_provider(&httpbin.base_url));
    catalog.write("test-page-cc", &client_credentials_provider(&oidc.issuer));

    let server = Latchkey::start_fresh(port, &[catalog.path()], &[]);
    let short_server = Latchkey::start_fresh(
        short_port,
        &[catalog.path()],
        &[
            "--connect-session-ttl-seconds",
            &SHORT_SESSION_TTL.to_string(),
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

/// The integrations of one test, one per test provider.
struct Integrations {
    oauth: String,
    key: String,
    plain_key: String,
    basic: String,
    cc: String,
}

impl Integrations {
    fn all(&self) -> Vec<&str> {
        vec![
            &self.oauth,
            &self.key,
            &self.plain_key,
            &self.basic,
            &self.cc,
        ]
    }
}

async fn create_integrations(api: &Api) -> Integrations {
    let suffix = random_hex(4);
    let client = env().oidc.client("page-client");
    let oauth = format!("tenant-oauth-{suffix}");
    api.create_integration(&json!({
        "unique_key": oauth,
        "provider": "test-tenant-oauth",
        "credentials": {
            "type": "OAUTH2",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "scopes": "openid,profile",
        },
    }))
    .await;

    let cc = format!("page-cc-{suffix}");
    api.create_integration(&json!({
        "unique_key": cc,
        "provider": "test-page-cc",
        "credentials": { "type": "OAUTH2_CC", "client_id": "unused", "client_secret": "unused" },
    }))
    .await;

    let mut plain = Vec::new();
    for (prefix, provider) in [
        ("page-key", "test-page-key"),
        ("page-plain-key", "test-page-plain-key"),
        ("page-basic", "test-page-basic"),
    ] {
        let key = format!("{prefix}-{suffix}");
        api.create_integration(&json!({ "unique_key": key, "provider": provider }))
            .await;
        plain.push(key);
    }

    let [key, plain_key, basic] = <[String; 3]>::try_from(plain).unwrap();
    Integrations {
        oauth,
        key,
        plain_key,
        basic,
        cc,
    }
}

fn end_user() -> String {
    format!("page-user-{}", random_hex(6))
}

/// Fetches the connect page of a new session for `end_user_id`.
async fn connect_page(api: &Api, end_user_id: &str, allowed: Option<&[&str]>) -> (Url, Reply) {
    let mut body = json!({ "end_user": { "id": end_user_id } });
    if let Some(allowed) = allowed {
        body["allowed_integrations"] = json!(allowed);
    }
    let reply = api.post("/connect/sessions", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let link = reply.json()["data"]["connect_link"]
        .as_str()
        .expect("data.connect_link")
        .to_owned();
    let url = Url::parse(&link).unwrap();
    let page = Reply::read(no_redirect_client().get(url.clone()).send().await.unwrap()).await;
    assert_eq!(page.status, StatusCode::OK, "GET {link}: {}", page.text);
    (url, page)
}

fn session_token_of(page_url: &Url) -> String {
    query_param(page_url, "session_token").expect("session_token in the connect link")
}

fn page_form(page: &Reply, unique_key: &str) -> Form {
    form_for(&page.text, unique_key).unwrap_or_else(|| {
        panic!(
            "no form with data-integration=\"{unique_key}\" in the connect page: {}",
            page.text
        )
    })
}

fn has_submit_control(form: &Form) -> bool {
    let submit_input = form.inputs.iter().any(|i| {
        i.attr("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("submit"))
    });
    let submit_button = form.buttons.iter().any(|b| {
        b.attr("type")
            .is_none_or(|t| t.eq_ignore_ascii_case("submit"))
    });
    submit_input || submit_button
}

async fn proxy(api: &Api, path: &str, key: &str, connection_id: &str) -> Reply {
    let response = api
        .proxy(Method::GET, path, key, connection_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /proxy{path}: {e}"));
    Reply::read(response).await
}

/// Asserts that a credential form reply is the HTML success page and
/// returns its connection id.
fn success_page_connection(reply: &Reply, key: &str) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{key}: {}", reply.text);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{key}: content type {content_type:?}"
    );
    for part in ["window.opener", "AUTHORIZATION_SUCEEDED", key] {
        assert!(
            reply.text.contains(part),
            "{key}: the success page lacks {part:?}: {}",
            reply.text
        );
    }
    connection_id_from_page(&reply.text)
        .unwrap_or_else(|| panic!("{key}: no data-connection-id in {}", reply.text))
}

fn assert_uuid(id: &str, what: &str) {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{what}: {id:?} is not a UUID");
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{what}: {id:?} is not a UUID"
    );
}

#[tokio::test]
async fn page_has_one_form_per_integration() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let not_allowed = create_integrations(&api).await;
    let user = end_user();

    let (page_url, page) = connect_page(&api, &user, Some(&integrations.all())).await;

    let token = session_token_of(&page_url);
    let public_url = &env.server.base_url;
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type:?}");

    // OAuth2: a GET form with the session token and one input per field the
    // end user fills in.
    let oauth = page_form(&page, &integrations.oauth);
    assert_eq!(oauth.method(), "get", "{}", oauth.inner_html);
    assert_eq!(
        oauth.action(),
        Some(format!("{public_url}/oauth/connect/{}", integrations.oauth).as_str())
    );
    let hidden = oauth
        .input("connect_session_token")
        .expect("connect_session_token input");
    assert_eq!(hidden.attr("type"), Some("hidden"));
    assert_eq!(hidden.attr("value"), Some(token.as_str()));
    let tenant = oauth.input("params[tenant]").expect("params[tenant] input");
    assert!(tenant.has("required"), "{:?}", tenant.attributes);
    // The page escapes the class's `-`, which the RegExp `v` flag of the
    // `pattern` attribute requires.
    assert_eq!(tenant.attr("pattern"), Some("[a-z][a-z0-9\\-]*"));
    assert_eq!(tenant.attr("placeholder"), Some("acme"));
    assert_eq!(
        oauth.label_of("params[tenant]").as_deref(),
        Some("Tenant name")
    );
    assert!(
        oauth.text.contains(TENANT_DESCRIPTION),
        "no help text: {}",
        oauth.inner_html
    );
    let region = oauth.input("params[region]").expect("params[region] input");
    assert_eq!(region.attr("value"), Some("eu"));
    assert!(region.has("required"), "{:?}", region.attributes);
    assert!(
        oauth.input("params[site_id]").is_none(),
        "an automated field is not for the end user: {}",
        oauth.inner_html
    );
    assert!(has_submit_control(&oauth), "{}", oauth.inner_html);

    // API key: a POST form with a password input and the config inputs.
    let key = page_form(&page, &integrations.key);
    assert_eq!(key.method(), "post");
    let expected_action = format!(
        "{public_url}/connect/{}/api-key?connect_session_token={token}",
        integrations.key
    );
    assert_eq!(key.action(), Some(expected_action.as_str()));
    let api_key = key.input("api_key").expect("api_key input");
    assert_eq!(api_key.attr("type"), Some("password"));
    assert_eq!(key.label_of("api_key").as_deref(), Some("Workspace token"));
    let workspace = key.input("params[workspace]").expect("params[workspace]");
    assert_eq!(workspace.attr("pattern"), Some("[a-z0-9\\-]+"));
    assert_eq!(workspace.attr("placeholder"), Some("team-1"));
    assert!(workspace.has("required"));
    assert!(has_submit_control(&key), "{}", key.inner_html);

    // Without key_title the label is "API key", and without connection
    // config the form has the key alone.
    let plain = page_form(&page, &integrations.plain_key);
    assert_eq!(plain.label_of("api_key").as_deref(), Some("API key"));
    assert_eq!(plain.input_names(), ["api_key"], "{}", plain.inner_html);

    // Basic: username and password with the provider's titles.
    let basic = page_form(&page, &integrations.basic);
    assert_eq!(basic.method(), "post");
    let expected_action = format!(
        "{public_url}/connect/{}/basic?connect_session_token={token}",
        integrations.basic
    );
    assert_eq!(basic.action(), Some(expected_action.as_str()));
    assert!(basic.input("username").is_some(), "{}", basic.inner_html);
    assert_eq!(
        basic.input("password").and_then(|i| i.attr("type")),
        Some("password")
    );
    assert_eq!(basic.label_of("username").as_deref(), Some("Account ID"));
    assert_eq!(basic.label_of("password").as_deref(), Some("Auth token"));
    let team = basic.input("params[team]").expect("params[team] input");
    assert!(!team.has("required"), "an optional field is not required");

    // Client credentials integrations and integrations outside the session
    // are not listed.
    assert!(form_for(&page.text, &integrations.cc).is_none());
    for other in not_allowed.all() {
        assert!(
            !page.text.contains(other),
            "{other} is not allowed: {}",
            page.text
        );
    }
    assert_eq!(forms(&page.text).len(), 4, "{}", page.text);

    assert!(
        !page.text.contains("<tenant>"),
        "the description is not escaped: {}",
        page.text
    );
    assert!(page.text.contains("&lt;tenant&gt;"), "{}", page.text);
}

#[tokio::test]
async fn oauth_form_connects_through_oidc() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let user = end_user();
    let (page_url, page) = connect_page(&api, &user, None).await;
    let form = page_form(&page, &integrations.oauth);

    // The end user types the tenant and leaves the region at its default.
    let reply = form
        .submit(&page_url, &[("params[tenant]", "page-tenant")])
        .await;

    let authorization = authorization_url(&reply);
    assert_eq!(
        authorization.origin(),
        Url::parse(&env.oidc.issuer).unwrap().origin()
    );
    assert_eq!(authorization.path(), "/auth");
    assert_eq!(
        query_param(&authorization, "tenant").as_deref(),
        Some("page-tenant")
    );
    assert_eq!(query_param(&authorization, "region").as_deref(), Some("eu"));
    let callback_url = authorize(&authorization, &user).await;
    let done = callback(&callback_url).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let connection_id = connection_id_from_page(&done.text).expect("data-connection-id");

    let connection = api
        .connection(&integrations.oauth, &connection_id, None)
        .await;
    assert_eq!(connection["end_user"]["id"], user.as_str(), "{connection}");
    assert_eq!(
        connection["connection_config"]["tenant"], "page-tenant",
        "{connection}"
    );
    assert_eq!(
        connection["connection_config"]["region"], "eu",
        "{connection}"
    );
    let me = proxy(&api, "/me", &integrations.oauth, &connection_id).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["sub"], user.as_str(), "{}", me.text);
}

#[tokio::test]
async fn api_key_form_connects() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let user = end_user();
    let (page_url, page) = connect_page(&api, &user, None).await;
    let form = page_form(&page, &integrations.key);
    let secret = format!("tk_{}", random_hex(8));

    let reply = form
        .submit(
            &page_url,
            &[("api_key", &secret), ("params[workspace]", "team-7")],
        )
        .await;

    let connection_id = success_page_connection(&reply, &integrations.key);
    assert_uuid(&connection_id, "form connection id");
    let listed = api.connections_of(&user).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["connection_id"], connection_id.as_str());
    let connection = api
        .connection(&integrations.key, &connection_id, None)
        .await;
    assert_eq!(connection["credentials"]["type"], "API_KEY", "{connection}");
    assert_eq!(
        connection["connection_config"]["workspace"], "team-7",
        "{connection}"
    );
    assert!(
        !reply.text.contains(&secret),
        "the success page shows the key"
    );

    let echo = proxy(&api, "/echo?page=1", &integrations.key, &connection_id).await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.text);
    let echoed = echo.json();
    assert_eq!(echoed["headers"]["X-Test-Key"], secret.as_str(), "{echoed}");
    let url = echoed["url"].as_str().expect("url in the echo");
    assert!(url.ends_with("/anything/team-7/echo?page=1"), "{url}");
}

#[tokio::test]
async fn basic_form_connects() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let user = end_user();
    let (page_url, page) = connect_page(&api, &user, None).await;
    let form = page_form(&page, &integrations.basic);
    let username = format!("u{}", random_hex(4));
    let password = format!("p{}", random_hex(8));

    // The optional `team` input stays empty, as a browser sends it.
    let reply = form
        .submit(
            &page_url,
            &[("username", &username), ("password", &password)],
        )
        .await;

    let connection_id = success_page_connection(&reply, &integrations.basic);
    let listed = api.connections_of(&user).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let connection = api
        .connection(&integrations.basic, &connection_id, None)
        .await;
    assert_eq!(connection["credentials"]["type"], "BASIC", "{connection}");
    assert!(
        connection["connection_config"].get("team").is_none(),
        "an empty optional field counts as absent: {connection}"
    );

    let checked = proxy(
        &api,
        &format!("/basic-auth/{username}/{password}"),
        &integrations.basic,
        &connection_id,
    )
    .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text);
    assert_eq!(checked.json()["authenticated"], true, "{}", checked.text);
    assert_eq!(
        checked.json()["user"],
        username.as_str(),
        "{}",
        checked.text
    );
    let wrong = proxy(
        &api,
        &format!("/basic-auth/{username}/not-{password}"),
        &integrations.basic,
        &connection_id,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
}

/// Turns form pairs into the JSON body of the same request: credential
/// fields at the top level, `params[KEY]` into `connection_config`.
fn json_body(pairs: &[(&str, &str)]) -> Value {
    let mut body = Map::new();
    let mut config = Map::new();
    for (name, value) in pairs {
        match name
            .strip_prefix("params[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            Some(key) => {
                config.insert(key.to_owned(), json!(value));
            }
            None => {
                body.insert((*name).to_owned(), json!(value));
            }
        }
    }
    if !config.is_empty() {
        body.insert("connection_config".to_owned(), Value::Object(config));
    }
    Value::Object(body)
}

#[tokio::test]
async fn json_credential_routes_connect() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let user = end_user();
    let token = api.connect_session(&user, None).await;
    let base = &env.server.base_url;
    let secret = format!("tk_{}", random_hex(8));
    let username = format!("u{}", random_hex(4));
    let password = format!("p{}", random_hex(8));

    let key_reply = post_json(
        base,
        &format!("/connect/{}/api-key", integrations.key),
        Some(&token),
        &json!({ "api_key": secret, "connection_config": { "workspace": "json-ws" } }),
    )
    .await;
    let basic_reply = post_json(
        base,
        &format!("/connect/{}/basic", integrations.basic),
        Some(&token),
        &json!({ "username": username, "password": password, "connection_config": {} }),
    )
    .await;

    let mut ids = Vec::new();
    for (reply, key) in [
        (&key_reply, &integrations.key),
        (&basic_reply, &integrations.basic),
    ] {
        assert_eq!(reply.status, StatusCode::CREATED, "{key}: {}", reply.text);
        let body = reply.json();
        assert_eq!(body["providerConfigKey"], key.as_str(), "{body}");
        let id = body["connectionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no connectionId in {body}"))
            .to_owned();
        assert_uuid(&id, key);
        let connection = api.connection(key, &id, None).await;
        assert_eq!(connection["end_user"]["id"], user.as_str(), "{connection}");
        ids.push(id);
    }
    assert_eq!(api.connections_of(&user).await.len(), 2);

    let echo = proxy(&api, "/json-echo", &integrations.key, &ids[0]).await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.text);
    assert_eq!(echo.json()["headers"]["X-Test-Key"], secret.as_str());
    let url = echo.json()["url"].as_str().unwrap_or_default().to_owned();
    assert!(url.ends_with("/anything/json-ws/json-echo"), "{url}");
    let checked = proxy(
        &api,
        &format!("/basic-auth/{username}/{password}"),
        &integrations.basic,
        &ids[1],
    )
    .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text);
    assert_eq!(checked.json()["authenticated"], true);
}

/// Form fields as (name, value) pairs.
type FormPairs<'a> = Vec<(&'a str, &'a str)>;

/// Which session token a bad-input case sends.
#[derive(Clone, Copy)]
enum TokenCase {
    Missing,
    Unknown,
    /// A session that allows every integration.
    Valid,
    /// A session that allows only the plain key integration.
    OnlyPlainKey,
}

/// One bad request to a credential route and the error it must get.
struct BadInput<'a> {
    case: &'a str,
    token_case: TokenCase,
    path: String,
    pairs: FormPairs<'a>,
    status: StatusCode,
    code: &'a str,
    /// Texts the error message must contain.
    message_parts: Vec<String>,
}

impl<'a> BadInput<'a> {
    fn new(
        case: &'a str,
        token_case: TokenCase,
        path: String,
        pairs: FormPairs<'a>,
        status: StatusCode,
        code: &'a str,
        message_parts: Vec<String>,
    ) -> BadInput<'a> {
        BadInput {
            case,
            token_case,
            path,
            pairs,
            status,
            code,
            message_parts,
        }
    }
}

/// Asserts the error reply of a credential route: the JSON error for a
/// JSON request, the HTML failure page with the code for a form request.
fn assert_credential_error(
    reply: &Reply,
    form: bool,
    status: StatusCode,
    code: &str,
    message_parts: &[&str],
    case: &str,
) {
    assert_eq!(reply.status, status, "{case}: {}", reply.text);
    if form {
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "{case}: content type {content_type:?}: {}",
            reply.text
        );
        assert!(
            reply.text.contains(code),
            "{case}: the page lacks {code}: {}",
            reply.text
        );
        assert!(
            reply.text.contains("AUTHORIZATION_FAILED"),
            "{case}: {}",
            reply.text
        );
        let page_text = decode_entities(&reply.text);
        for part in message_parts {
            assert!(
                page_text.contains(part),
                "{case}: the page lacks {part:?}: {}",
                reply.text
            );
        }
    } else {
        assert_eq!(reply.error_code(), code, "{case}: {}", reply.text);
        let message = reply.error_message();
        for part in message_parts {
            assert!(
                message.contains(part),
                "{case}: the message lacks {part:?}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn credential_routes_reject_bad_input() {
    let env = env();
    let api = env.server.api();
    let ints = create_integrations(&api).await;
    let good_key = format!("tk_{}", random_hex(8));
    let bad_key = format!("wrong-format-{}", random_hex(8));
    let unknown = format!("no-such-integration-{}", random_hex(4));
    let api_key_route = |key: &str| format!("/connect/{key}/api-key");
    let basic_route = |key: &str| format!("/connect/{key}/basic");
    let workspace = ("params[workspace]", "team-1");
    let bad = StatusCode::BAD_REQUEST;

    #[rustfmt::skip]
    let cases: Vec<BadInput> = vec![
        BadInput::new("missing token", TokenCase::Missing, api_key_route(&ints.key),
            vec![("api_key", &good_key), workspace], StatusCode::UNAUTHORIZED,
            "invalid_connect_session_token", vec![]),
        BadInput::new("unknown token", TokenCase::Unknown, basic_route(&ints.basic),
            vec![("username", "u"), ("password", "p")], StatusCode::UNAUTHORIZED,
            "invalid_connect_session_token", vec![]),
        BadInput::new("token checked before the integration", TokenCase::Unknown, api_key_route(&unknown),
            vec![("api_key", &good_key)], StatusCode::UNAUTHORIZED,
            "invalid_connect_session_token", vec![]),
        BadInput::new("not allowed", TokenCase::OnlyPlainKey, api_key_route(&ints.key),
            vec![("api_key", &good_key), workspace], StatusCode::FORBIDDEN,
            "integration_not_allowed", vec![ints.key.clone()]),
        BadInput::new("allowed checked before existence", TokenCase::OnlyPlainKey, basic_route(&unknown),
            vec![("username", "u"), ("password", "p")], StatusCode::FORBIDDEN,
            "integration_not_allowed", vec![]),
        BadInput::new("unknown integration", TokenCase::Valid, api_key_route(&unknown),
            vec![("api_key", &good_key)], StatusCode::NOT_FOUND,
            "unknown_integration", vec![unknown.clone()]),
        BadInput::new("basic integration on the API key route", TokenCase::Valid, api_key_route(&ints.basic),
            vec![("api_key", &good_key)], bad, "invalid_credentials",
            vec!["basic".into(), basic_route(&ints.basic)]),
        BadInput::new("API key integration on the basic route", TokenCase::Valid, basic_route(&ints.key),
            vec![("username", "u"), ("password", "p"), workspace], bad, "invalid_credentials",
            vec!["api_key".into(), api_key_route(&ints.key)]),
        BadInput::new("OAuth integration on the API key route", TokenCase::Valid, api_key_route(&ints.oauth),
            vec![("api_key", &good_key), ("params[tenant]", "acme")], bad, "invalid_credentials",
            vec!["oauth2".into(), format!("/oauth/connect/{}", ints.oauth)]),
        BadInput::new("mode checked before fields", TokenCase::Valid, basic_route(&ints.plain_key),
            vec![], bad, "invalid_credentials",
            vec!["api_key".into(), api_key_route(&ints.plain_key)]),
        BadInput::new("API key missing", TokenCase::Valid, api_key_route(&ints.key),
            vec![workspace], bad, "invalid_credentials", vec!["api_key".into()]),
        BadInput::new("API key empty", TokenCase::Valid, api_key_route(&ints.plain_key),
            vec![("api_key", "")], bad, "invalid_credentials", vec!["api_key".into()]),
        BadInput::new("username missing", TokenCase::Valid, basic_route(&ints.basic),
            vec![("password", "p")], bad, "invalid_credentials", vec!["username".into()]),
        BadInput::new("password empty", TokenCase::Valid, basic_route(&ints.basic),
            vec![("username", "u"), ("password", "")], bad, "invalid_credentials",
            vec!["password".into()]),
        BadInput::new("key not matching key_pattern", TokenCase::Valid, api_key_route(&ints.key),
            vec![("api_key", &bad_key), workspace], bad, "invalid_credentials",
            vec!["does not match".into(), "test-page-key".into()]),
        BadInput::new("required config missing", TokenCase::Valid, api_key_route(&ints.key),
            vec![("api_key", &good_key)], bad, "invalid_connection_config",
            vec!["workspace".into()]),
        BadInput::new("config not matching its pattern", TokenCase::Valid, api_key_route(&ints.key),
            vec![("api_key", &good_key), ("params[workspace]", "Not Valid!")], bad,
            "invalid_connection_config", vec!["workspace".into(), WORKSPACE_PATTERN.into()]),
        BadInput::new("optional config not matching its pattern", TokenCase::Valid, basic_route(&ints.basic),
            vec![("username", "u"), ("password", "p"), ("params[team]", "9")], bad,
            "invalid_connection_config", vec!["team".into()]),
    ];

    let base = &env.server.base_url;
    for BadInput {
        case,
        token_case,
        path,
        pairs,
        status,
        code,
        message_parts,
    } in &cases
    {
        for form in [true, false] {
            let encoding = if form { "form" } else { "JSON" };
            let case = format!("{case} ({encoding})");
            let user = end_user();
            let token = match token_case {
                TokenCase::Missing => None,
                TokenCase::Unknown => Some(format!("lk_cs_{}", random_hex(16))),
                TokenCase::Valid => Some(api.connect_session(&user, None).await),
                TokenCase::OnlyPlainKey => Some(
                    api.connect_session(&user, Some(&[ints.plain_key.as_str()]))
                        .await,
                ),
            };

            let reply = if form {
                post_form(base, path, token.as_deref(), pairs).await
            } else {
                post_json(base, path, token.as_deref(), &json_body(pairs)).await
            };

            let parts: Vec<&str> = message_parts.iter().map(String::as_str).collect();
            assert_credential_error(&reply, form, *status, code, &parts, &case);
            assert!(
                !reply.text.contains(&bad_key),
                "{case}: the reply echoes the API key: {}",
                reply.text
            );
            assert!(
                api.connections_of(&user).await.is_empty(),
                "{case}: a connection was stored"
            );
        }
    }

    let all = api.get("/connections").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let stored: Vec<Value> = all.json()["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            ints.all()
                .contains(&c["provider_config_key"].as_str().unwrap_or_default())
        })
        .collect();
    assert!(stored.is_empty(), "connections were stored: {stored:?}");
}

#[tokio::test]
async fn credential_routes_reject_expired_token() {
    let env = env();
    let api = env.short_server.api();
    let ints = create_integrations(&api).await;
    let user = end_user();
    let token = api.connect_session(&user, None).await;
    tokio::time::sleep(Duration::from_secs(SHORT_SESSION_TTL + 1)).await;
    let key_pairs = [("api_key", "tk_expired"), ("params[workspace]", "team-1")];
    let basic_pairs = [("username", "u"), ("password", "p")];
    let routes = [
        (format!("/connect/{}/api-key", ints.key), &key_pairs[..]),
        (format!("/connect/{}/basic", ints.basic), &basic_pairs[..]),
    ];

    for (path, pairs) in &routes {
        for form in [true, false] {
            let case = format!("{path} ({})", if form { "form" } else { "JSON" });
            let reply = if form {
                post_form(&env.short_server.base_url, path, Some(&token), pairs).await
            } else {
                post_json(
                    &env.short_server.base_url,
                    path,
                    Some(&token),
                    &json_body(pairs),
                )
                .await
            };
            assert_credential_error(
                &reply,
                form,
                StatusCode::UNAUTHORIZED,
                "invalid_connect_session_token",
                &[],
                &case,
            );
        }
    }
    assert!(api.connections_of(&user).await.is_empty());
}

/// Calls `/oauth/connect/{key}` with the session token, an optional
/// `params` JSON object and `params[KEY]` pairs, without following the
/// redirect, with `Accept: application/json` so that errors come as JSON.
async fn oauth_connect(
    base_url: &str,
    key: &str,
    token: &str,
    params_json: Option<Value>,
    individual: &[(&str, &str)],
) -> Reply {
    let mut url = Url::parse(&format!("{base_url}/oauth/connect/{key}")).unwrap();
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("connect_session_token", token);
        if let Some(params) = params_json {
            query.append_pair("params", &params.to_string());
        }
        for (name, value) in individual {
            query.append_pair(&format!("params[{name}]"), value);
        }
    }
    let request = no_redirect_client()
        .get(url)
        .header("accept", "application/json");
    Reply::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn browser_errors_are_pages() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let token = api.connect_session(&end_user(), None).await;
    let base = &env.server.base_url;
    let mut bad_config =
        Url::parse(&format!("{base}/oauth/connect/{}", integrations.oauth)).unwrap();
    bad_config
        .query_pairs_mut()
        .append_pair("connect_session_token", &token)
        .append_pair("params[tenant]", "Not Valid!");
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    #[rustfmt::skip]
    let cases = [
        ("expired link", format!("{base}/connect?session_token=lk_cs_unknown"), StatusCode::UNAUTHORIZED,
            "invalid_connect_session_token", "This link has expired or is not valid. Ask the application that sent you here for a new one."),
        ("bad connection config", bad_config.to_string(), StatusCode::BAD_REQUEST,
            "invalid_connection_config", "A value you entered is not valid"),
    ];
    for (case, url, status, code, explanation) in cases {
        let response = no_redirect_client()
            .get(&url)
            .header("accept", browser_accept)
            .send()
            .await
            .unwrap();
        let reply = Reply::read(response).await;
        assert_eq!(reply.status, status, "{case}: {}", reply.text);
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "{case}: {content_type}"
        );
        assert_eq!(reply.header("location"), None, "{case}");
        let page = decode_entities(&reply.text);
        assert!(page.contains(&format!("error: {code}")), "{case}: {page}");
        assert!(page.contains(explanation), "{case}: {page}");
        assert!(page.contains("Go back and try again"), "{case}: {page}");
        assert!(!page.contains("window.close"), "{case}: {page}");
    }
    let page = decode_entities(
        &Reply::read(
            no_redirect_client()
                .get(bad_config.as_str())
                .header("accept", browser_accept)
                .send()
                .await
                .unwrap(),
        )
        .await
        .text,
    );
    let connect_page = format!("{base}/connect?session_token={token}");
    assert!(
        page.contains(&connect_page),
        "the page does not link to {connect_page}: {page}"
    );
}

#[tokio::test]
async fn params_override_json_params() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let key = &integrations.oauth;
    let base = &env.server.base_url;

    // (case, params JSON, params[KEY] pairs, expected tenant, expected region)
    #[rustfmt::skip]
    let cases: [(&str, Option<Value>, FormPairs, &str, &str); 4] = [
        ("individual value overrides JSON",
            Some(json!({ "tenant": "json-tenant", "region": "us" })),
            vec![("tenant", "form-tenant")], "form-tenant", "us"),
        ("blank individual value takes the default",
            None, vec![("tenant", "only-form"), ("region", "")], "only-form", "eu"),
        ("blank individual value keeps the JSON value",
            Some(json!({ "tenant": "json-tenant", "region": "us" })),
            vec![("tenant", ""), ("region", "")], "json-tenant", "us"),
        ("individual values alone",
            None, vec![("tenant", "solo"), ("region", "us")], "solo", "us"),
    ];
    for (case, params_json, individual, tenant, region) in cases {
        let user = end_user();
        let token = api.connect_session(&user, None).await;

        let reply = oauth_connect(base, key, &token, params_json, &individual).await;

        let authorization = authorization_url(&reply);
        assert_eq!(
            query_param(&authorization, "tenant").as_deref(),
            Some(tenant),
            "{case}: {authorization}"
        );
        assert_eq!(
            query_param(&authorization, "region").as_deref(),
            Some(region),
            "{case}: {authorization}"
        );
        let callback_url = authorize(&authorization, &user).await;
        let done = callback(&callback_url).await;
        assert_eq!(done.status, StatusCode::OK, "{case}: {}", done.text);
        let id = connection_id_from_page(&done.text).expect("data-connection-id");
        let connection = api.connection(key, &id, None).await;
        assert_eq!(
            connection["connection_config"]["tenant"], tenant,
            "{case}: {connection}"
        );
        assert_eq!(
            connection["connection_config"]["region"], region,
            "{case}: {connection}"
        );
    }
}

#[tokio::test]
async fn invalid_params_rejected_before_redirect() {
    let env = env();
    let api = env.server.api();
    let integrations = create_integrations(&api).await;
    let key = &integrations.oauth;
    let base = &env.server.base_url;

    #[rustfmt::skip]
    let cases: [(&str, Option<Value>, FormPairs, Vec<&str>); 4] = [
        ("individual value not matching the pattern", None,
            vec![("tenant", "Not Valid!")], vec!["tenant", TENANT_PATTERN]),
        ("individual value overrides a valid JSON value",
            Some(json!({ "tenant": "fine" })),
            vec![("tenant", "UPPER")], vec!["tenant"]),
        ("required value missing", None, vec![("region", "us")], vec!["tenant"]),
        ("required value blank", Some(json!({})), vec![("tenant", "")], vec!["tenant"]),
    ];
    for (case, params_json, individual, message_parts) in cases {
        let user = end_user();
        let token = api.connect_session(&user, None).await;

        let reply = oauth_connect(base, key, &token, params_json, &individual).await;

        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.text
        );
        assert_eq!(reply.header("location"), None, "{case}");
        assert_eq!(reply.error_code(), "invalid_connection_config", "{case}");
        let message = reply.error_message();
        for part in message_parts {
            assert!(
                message.contains(part),
                "{case}: the message lacks {part:?}: {message}"
            );
        }
        assert!(api.connections_of(&user).await.is_empty(), "{case}");
    }
}
