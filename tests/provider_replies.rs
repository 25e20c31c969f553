//! Token, login and post-connection endpoints that misbehave: they
//! redirect elsewhere, echo the request's secrets in an error, fail with a
//! 5xx or return values that could never be used. Each provider here talks
//! to a recorder of the test's own (`tests/support/recorder.rs`) whose
//! replies each test scripts, so every test uses its own paths.

mod support;

use std::sync::OnceLock;

use serde_json::{json, Value};

use support::latchkey::{Api, CatalogDir, CatalogServer};
use support::recorder::{CannedReply, Recorder};
use support::{provider_file, random_hex};

struct Env {
    provider: Recorder,
    /// A second host that no request may reach.
    elsewhere: Recorder,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let provider = Recorder::start();
        let elsewhere = Recorder::start();
        let base = &provider.base_url;
        let catalog = CatalogDir::new();
        catalog.write("test-cc-redirect", &client_credentials_provider(base));
        catalog.write(
            "test-login-redirect",
            &two_step_provider("test-login-redirect", base, "/redirect/login"),
        );
        catalog.write(
            "test-post-redirect",
            &post_connection_provider("test-post-redirect", base, "/redirect/site"),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            provider,
            elsewhere,
            latchkey,
        }
    })
}

fn client_credentials_provider(base: &str) -> String {
    let auth = format!(
        r#"  mode: oauth2_client_credentials
  token_url: "{base}/redirect/token""#
    );
    provider_file(
        "test-cc-redirect",
        "CC redirect",
        &auth,
        &format!("{base}/api"),
        "",
    )
}

/// Returns a `two_step` provider whose login is a JSON POST to `login_path`
/// and whose optional refresh request goes to `{login_path}/refresh`.
fn two_step_provider(name: &str, base: &str, login_path: &str) -> String {
    let auth = format!(
        r#"  mode: two_step
  credentials:
    username: {{title: User}}
    password: {{title: Password, secret: true}}
  token_request:
    url: "{base}{login_path}"
    body_format: json
    params:
      username: "{{{{ username }}}}"
      password: "{{{{ password }}}}"
  token_response:
    access_token: access_token
    expires_in: expires_in"#
    );
    provider_file(name, name, &auth, &format!("{base}/api"), "")
}

/// Returns an `api_key` provider with one post-connection step to
/// `step_path` that fills the `site` connection-config key.
fn post_connection_provider(name: &str, base: &str, step_path: &str) -> String {
    let auth = r#"  mode: api_key
  inject:
    name: X-Api-Key
    value: "{{ api_key }}""#;
    let extra = format!(
        r#"connection_config:
  site:
    title: Site
    pattern: "[a-z0-9]+"
    automated: true
post_connection:
  - url: "{base}{step_path}"
    connection_config:
      site: id
"#
    );
    provider_file(name, name, auth, &format!("{base}/api"), &extra)
}

async fn create(
    api: &Api,
    provider: &str,
    credentials: Value,
) -> (String, String, support::latchkey::Reply) {
    let key = api.integration_of(provider).await;
    let id = format!("conn-{}", random_hex(6));
    let reply = api
        .post(
            "/connections",
            &json!({"provider_config_key": key, "connection_id": id, "credentials": credentials}),
        )
        .await;
    (key, id, reply)
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let env = env();
    let api = env.latchkey.server.api();
    let stolen = format!("{}/stolen", env.elsewhere.base_url);
    env.provider
        .set_reply("/redirect/token", CannedReply::redirect(307, &stolen));
    env.provider
        .set_reply("/redirect/login", CannedReply::redirect(307, &stolen));
    env.provider
        .set_reply("/redirect/site", CannedReply::redirect(302, &stolen));
    let cc_key = format!("cc-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": cc_key,
        "provider": "test-cc-redirect",
        "credentials": {"type": "OAUTH2_CC", "client_id": "cid", "client_secret": "cc-secret-1"},
    }))
    .await;

    let cases = [
        (
            "client credentials",
            api.post(
                "/connections",
                &json!({"provider_config_key": cc_key, "connection_id": "cc", "credentials": {"type": "OAUTH2_CC"}}),
            )
            .await,
            "/redirect/token",
        ),
        (
            "two_step login",
            create(
                &api,
                "test-login-redirect",
                json!({"type": "TWO_STEP", "username": "ada", "password": "pw-redirected"}),
            )
            .await
            .2,
            "/redirect/login",
        ),
        (
            "post-connection step",
            create(
                &api,
                "test-post-redirect",
                json!({"type": "API_KEY", "api_key": "k-redirected"}),
            )
            .await
            .2,
            "/redirect/site",
        ),
    ];

    for (case, reply, path) in cases {
        assert_eq!(env.provider.requests_to(path).len(), 1, "{case}");
        assert!(
            !reply.status.is_success(),
            "{case}: {} {}",
            reply.status,
            reply.text
        );
        assert!(
            reply.error_message().contains("HTTP 30"),
            "{case}: {}",
            reply.text
        );
    }
    assert!(
        env.elsewhere.requests().is_empty(),
        "a redirect was followed: {:?}",
        env.elsewhere.requests()
    );
}
