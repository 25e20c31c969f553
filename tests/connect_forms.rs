//! The connect-page forms of the `two_step`, `session` and `jwt` modes, end
//! to end: the tests fill in the forms of `/connect?session_token=` and
//! submit them as a browser does. The first token comes from
//! `tests/peers/two_step_server.py` or, for `jwt`, is signed by Latchkey and
//! checked (or exchanged) by `tests/peers/jwt_peer.py`. Also the browser
//! flow of an OAuth2 integration created without client credentials.

mod support;

use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use support::html_form::{decode_entities, form_for, Form};
use support::latchkey::{no_redirect_client, send, Api, CatalogDir, CatalogServer, Reply};
use support::oauth_flow::connection_id_from_page;
use support::peers::{JwtPeer, TwoStepServer};
use support::{provider_file, random_hex, unused_oauth2_auth};

// The values two_step_server.py accepts.
const USERNAME: &str = "ada";
const PASSWORD: &str = "pw-correct-horse";
const CLIENT_ID: &str = "client-7";
const ORGANIZATION_ID: &str = "org-00801";
const DEV_KEY: &str = "dev-key-42";

const JWT_AUDIENCE: &str = "latchkey-forms-test";
const CLIENT_DESCRIPTION: &str = "The client id from the developer console.";

struct Env {
    tokens: TwoStepServer,
    jwt: JwtPeer,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let tokens = TwoStepServer::start(60);
        let jwt = JwtPeer::start(JWT_AUDIENCE, 60);
        let catalog = CatalogDir::new();
        catalog.write("form-two-step", &two_step_provider(&tokens.base_url));
        catalog.write("form-session", &session_provider(&tokens.base_url));
        catalog.write(
            "form-jwt",
            &jwt_provider("form-jwt", &jwt.base_url, JWT_AUDIENCE),
        );
        catalog.write(
            "form-jwt-wrong-audience",
            &jwt_provider("form-jwt-wrong-audience", &jwt.base_url, "someone-else"),
        );
        catalog.write(
            "form-oauth2",
            &provider_file(
                "form-oauth2",
                "Form OAuth2",
                &unused_oauth2_auth(&tokens.base_url),
                &tokens.base_url,
                "",
            ),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            tokens,
            jwt,
            latchkey,
        }
    })
}

/// Returns a `two_step` provider with a JSON login. The `client` field has a
/// description and a pattern, and the secret field a pattern, so that the
/// server-side checks can be seen.
fn two_step_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    user: {{title: User}}
    secret: {{title: Secret, secret: true, pattern: "pw-[a-z-]+"}}
    client: {{title: Client ID, description: "{CLIENT_DESCRIPTION}", pattern: "client-[0-9]+"}}
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
        "form-two-step",
        "Form two-step",
        &auth,
        &format!("{base}/api"),
        "",
    )
}

/// Returns a `session` provider in Bill.com's shape: a JSON login whose
/// `sessionId` goes back with the developer key on every API call.
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
    default_expires_in: 60
  inject: {{name: sessionId, value: "{{{{ access_token }}}}"}}"#
    );
    let file = provider_file(
        "form-session",
        "Form session",
        &auth,
        &format!("{base}/bill/api"),
        "",
    );
    format!(
        "{}\n  headers:\n    devKey: \"{{{{ dev_key }}}}\"\n",
        file.trim_end()
    )
}

/// Returns an RS256 `jwt` provider whose assertion is exchanged at the
/// peer's `/token`, which rejects an audience other than its own.
fn jwt_provider(name: &str, base: &str, audience: &str) -> String {
    let auth = format!(
        r#"  mode: jwt
  algorithm: RS256
  credentials:
    client_email: {{ title: Service account email }}
    private_key: {{ title: Private key, secret: true }}
  signing_key: "{{{{ credentials.private_key }}}}"
  claims:
    iss: "{{{{ credentials.client_email }}}}"
    sub: "{{{{ credentials.client_email }}}}"
    aud: {audience}
    scope: https://www.googleapis.com/auth/cloud-platform
  lifetime_seconds: 60
  token_url: "{base}/token""#
    );
    provider_file(name, "Form JWT", &auth, base, "")
}

fn api() -> Api {
    env().latchkey.server.api()
}

/// Creates an integration of `provider` and a connect session for a new
/// end user, and returns the integration key, the end user id, the connect
/// page URL and the integration's form on that page.
async fn open_form(api: &Api, provider: &str) -> (String, String, Url, Form) {
    let key = api.integration_of(provider).await;
    let end_user = format!("forms-user-{}", random_hex(6));
    let reply = api
        .post(
            "/connect/sessions",
            &json!({ "end_user": { "id": end_user }, "allowed_integrations": [key] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let link = reply.json()["data"]["connect_link"]
        .as_str()
        .expect("data.connect_link")
        .to_owned();
    let page_url = Url::parse(&link).unwrap();
    let page = Reply::read(
        no_redirect_client()
            .get(page_url.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "GET {link}: {}", page.text);
    let form = form_for(&page.text, &key)
        .unwrap_or_else(|| panic!("no form for {key} in the connect page: {}", page.text));
    (key, end_user, page_url, form)
}

/// Asserts that `reply` is the success page and returns its connection id.
fn connected(reply: &Reply, case: &str) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{case}: {}", reply.text);
    assert!(
        reply.text.contains("AUTHORIZATION_SUCEEDED"),
        "{case}: {}",
        reply.text
    );
    connection_id_from_page(&reply.text)
        .unwrap_or_else(|| panic!("{case}: no data-connection-id in {}", reply.text))
}

/// Asserts that `reply` is the failure page with `status` and `code` and
/// that its text contains each of `parts`.
fn assert_failure_page(reply: &Reply, status: StatusCode, code: &str, parts: &[&str], case: &str) {
    assert_eq!(reply.status, status, "{case}: {}", reply.text);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{case}: content type {content_type:?}"
    );
    assert!(
        reply.text.contains(&format!("data-error-code=\"{code}\"")),
        "{case}: the page lacks the code {code}: {}",
        reply.text
    );
    let text = decode_entities(&reply.text);
    for part in parts {
        assert!(
            text.contains(part),
            "{case}: the page lacks {part:?}: {text}"
        );
    }
}

/// A form submission that Latchkey rejects with a failure page.
struct BadForm<'a> {
    case: &'a str,
    provider: &'a str,
    typed: Vec<(&'a str, &'a str)>,
    status: StatusCode,
    code: &'a str,
    /// Texts the failure page contains.
    parts: Vec<&'a str>,
}

impl BadForm<'_> {
    /// Submits the form of a new session, asserts the failure page and
    /// that nothing was stored, and returns the reply.
    async fn submit(&self, api: &Api) -> Reply {
        let (_, end_user, page_url, form) = open_form(api, self.provider).await;
        let reply = form.submit(&page_url, &self.typed).await;
        assert_failure_page(&reply, self.status, self.code, &self.parts, self.case);
        assert_nothing_stored(api, &end_user, self.case).await;
        reply
    }
}

async fn assert_nothing_stored(api: &Api, end_user: &str, case: &str) {
    let connections = api.connections_of(end_user).await;
    assert!(connections.is_empty(), "{case}: stored {connections:?}");
}

async fn proxy_get(api: &Api, key: &str, connection_id: &str, path: &str) -> Reply {
    send(api.proxy(Method::GET, path, key, connection_id)).await
}

#[tokio::test]
async fn two_step_form_shows_declared_fields() {
    let api = api();
    let (key, _, _, form) = open_form(&api, "form-two-step").await;

    assert_eq!(form.method(), "post");
    let action = form.action().unwrap_or_default();
    assert!(
        action.contains(&format!("/connect/{key}/two-step?connect_session_token=")),
        "action {action}"
    );
    let names = form.input_names();
    assert_eq!(
        names,
        [
            "credentials[client]",
            "credentials[secret]",
            "credentials[user]"
        ],
        "{}",
        form.inner_html
    );
    let secret = form.input("credentials[secret]").unwrap();
    assert_eq!(secret.attr("type"), Some("password"));
    let user = form.input("credentials[user]").unwrap();
    assert_eq!(user.attr("type"), Some("text"));
    assert!(user.has("required"), "{}", form.inner_html);
    assert_eq!(
        form.label_of("credentials[client]").as_deref(),
        Some("Client ID")
    );
    assert!(
        form.text.contains(CLIENT_DESCRIPTION),
        "no description in {}",
        form.text
    );
}

#[tokio::test]
async fn two_step_form_connects() {
    let env = env();
    let api = api();
    let (key, end_user, page_url, form) = open_form(&api, "form-two-step").await;
    let issued_before = env.tokens.issued("json").await;

    let reply = form
        .submit(
            &page_url,
            &[
                ("credentials[user]", USERNAME),
                ("credentials[secret]", PASSWORD),
                ("credentials[client]", CLIENT_ID),
            ],
        )
        .await;

    let id = connected(&reply, "two_step");
    assert_eq!(env.tokens.issued("json").await, issued_before + 1);
    let connections = api.connections_of(&end_user).await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    let whoami = proxy_get(&api, &key, &id, "/whoami").await;
    assert_eq!(whoami.status, StatusCode::OK, "{}", whoami.text);
}

#[tokio::test]
async fn session_form_connects() {
    let api = api();
    let (key, _, page_url, form) = open_form(&api, "form-session").await;
    assert!(
        form.action()
            .unwrap_or_default()
            .contains(&format!("/connect/{key}/session?")),
        "{:?}",
        form.action()
    );

    let reply = form
        .submit(
            &page_url,
            &[
                ("credentials[username]", USERNAME),
                ("credentials[password]", PASSWORD),
                ("credentials[organization_id]", ORGANIZATION_ID),
                ("credentials[dev_key]", DEV_KEY),
            ],
        )
        .await;

    let id = connected(&reply, "session");
    let vendors = proxy_get(&api, &key, &id, "/v3/vendors").await;
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.text);
    assert!(vendors.json()["sessionId"].is_string(), "{}", vendors.text);
}

#[tokio::test]
async fn jwt_form_signs_and_connects() {
    let env = env();
    let api = api();
    let (key, _, page_url, form) = open_form(&api, "form-jwt").await;
    let private_key = form.input("credentials[private_key]").unwrap();
    assert_eq!(private_key.name, "textarea", "{}", form.inner_html);
    let email = form.input("credentials[client_email]").unwrap();
    assert_eq!(email.name, "input", "{}", form.inner_html);

    let pem = env.jwt.key("rsa.pem");
    let reply = form
        .submit(
            &page_url,
            &[
                (
                    "credentials[client_email]",
                    "robot@example.iam.gserviceaccount.com",
                ),
                ("credentials[private_key]", &pem),
            ],
        )
        .await;

    let id = connected(&reply, "jwt");
    let whoami = proxy_get(&api, &key, &id, "/api/whoami").await;
    assert_eq!(whoami.status, StatusCode::OK, "{}", whoami.text);
    let connection = api.connection(&key, &id, None).await;
    assert_eq!(connection["credentials"]["type"], "JWT", "{connection}");
}

#[tokio::test]
async fn two_step_form_rejects_bad_input() {
    let api = api();
    let bad = StatusCode::BAD_REQUEST;
    let wrong_secret = "pw-wrong-horse";
    let unmatched_secret = "WRONG-SECRET-7";
    #[rustfmt::skip]
    let cases = [
        BadForm { case: "missing field", provider: "form-two-step",
            typed: vec![("credentials[user]", USERNAME), ("credentials[client]", CLIENT_ID)],
            status: bad, code: "invalid_credentials",
            parts: vec!["`credentials.secret`", "(Secret)"] },
        BadForm { case: "pattern mismatch", provider: "form-two-step",
            typed: vec![("credentials[user]", USERNAME), ("credentials[secret]", PASSWORD),
                        ("credentials[client]", "acme")],
            status: bad, code: "invalid_credentials",
            parts: vec!["`credentials.client`", "`acme`", "client-[0-9]+"] },
        BadForm { case: "secret pattern mismatch", provider: "form-two-step",
            typed: vec![("credentials[user]", USERNAME), ("credentials[secret]", unmatched_secret),
                        ("credentials[client]", CLIENT_ID)],
            status: bad, code: "invalid_credentials",
            parts: vec!["`credentials.secret`", "the value does not match"] },
        BadForm { case: "rejected by the peer", provider: "form-two-step",
            typed: vec![("credentials[user]", USERNAME), ("credentials[secret]", wrong_secret),
                        ("credentials[client]", CLIENT_ID)],
            status: bad, code: "invalid_credentials",
            parts: vec!["were not accepted", "invalid user or secret"] },
    ];
    for bad_form in cases {
        let case = bad_form.case;
        let reply = bad_form.submit(&api).await;

        for secret in [wrong_secret, unmatched_secret] {
            assert!(
                !reply.text.contains(secret),
                "{case}: the page echoes the secret: {}",
                reply.text
            );
        }
    }
}

#[tokio::test]
async fn jwt_form_rejects_bad_input() {
    let env = env();
    let api = api();
    let pem = env.jwt.key("rsa.pem");
    let email = "robot@example.iam.gserviceaccount.com";
    #[rustfmt::skip]
    let cases = [
        BadForm { case: "missing key", provider: "form-jwt",
            typed: vec![("credentials[client_email]", email)],
            status: StatusCode::BAD_REQUEST, code: "invalid_credentials",
            parts: vec!["`credentials.private_key`", "(Private key)"] },
        BadForm { case: "assertion rejected by the peer", provider: "form-jwt-wrong-audience",
            typed: vec![("credentials[client_email]", email), ("credentials[private_key]", &pem)],
            status: StatusCode::BAD_GATEWAY, code: "oauth_exchange_failed",
            parts: vec!["invalid_grant", "Invalid JWT"] },
    ];
    for bad_form in cases {
        let case = bad_form.case;
        let reply = bad_form.submit(&api).await;

        assert!(
            !reply.text.contains("PRIVATE KEY"),
            "{case}: the page echoes the key: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn field_routes_reject_wrong_mode() {
    let api = api();
    let (key, end_user, page_url, _) = open_form(&api, "form-two-step").await;
    let token = page_url
        .query_pairs()
        .find(|(name, _)| name == "session_token")
        .map(|(_, value)| value.into_owned())
        .expect("session_token");
    let url = format!(
        "{}/connect/{key}/jwt?connect_session_token={token}",
        env().latchkey.server.url("")
    );

    let response = no_redirect_client()
        .post(&url)
        .json(&json!({ "credentials": { "user": USERNAME } }))
        .send()
        .await
        .unwrap();
    let reply = Reply::read(response).await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.error_code(), "invalid_credentials");
    let message = reply.error_message();
    assert!(
        message.contains(&format!("POST /connect/{key}/two-step")),
        "{message}"
    );
    assert_nothing_stored(&api, &end_user, "wrong mode").await;
}

#[tokio::test]
async fn oauth2_without_client_credentials_explained() {
    let api = api();
    let key = format!("form-oauth2-{}", random_hex(4));
    api.create_integration(&json!({ "unique_key": key, "provider": "form-oauth2" }))
        .await;
    let token = api
        .connect_session(&format!("forms-user-{}", random_hex(6)), Some(&[&key]))
        .await;
    let url = env().latchkey.server.url(&format!(
        "/oauth/connect/{key}?connect_session_token={token}"
    ));

    let page = Reply::read(no_redirect_client().get(&url).send().await.unwrap()).await;
    let json = Reply::read(
        no_redirect_client()
            .get(&url)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;

    let patch = format!("PATCH /integrations/{key}");
    assert_failure_page(
        &page,
        StatusCode::BAD_REQUEST,
        "missing_client_credentials",
        &[&format!("`{key}`"), &patch, "not finished setting up"],
        "page",
    );
    assert_eq!(json.status, StatusCode::BAD_REQUEST, "{}", json.text);
    assert_eq!(json.error_code(), "missing_client_credentials");
    let message = json.error_message();
    assert!(message.contains(&format!("`{key}`")), "{message}");
    assert!(message.contains(&patch), "{message}");
}
