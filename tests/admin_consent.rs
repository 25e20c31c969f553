//! Microsoft's admin consent flow (`admin_consent`) end to end against
//! `tests/peers/admin_consent_peer.py`. The tests check the consent URL,
//! the callback with `tenant` and `admin_consent=True`, the exact form body
//! of the client-credentials request and its renewal, an error callback,
//! and a callback that names another tenant. One more test takes the
//! token from oidc-provider's client-credentials grant instead, and renews
//! it there.

mod support;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use url::Url;

use support::latchkey::{send, Api, CatalogDir, CatalogServer};
use support::oauth_flow::{
    authorization_url, callback, connection_id_from_page, query_param, start_connect,
};
use support::peers::{peers_dir, ClientAuthMethod, Oidc, OidcClient};
use support::process::{free_port, ChildGuard};
use support::{credential, provider_file, random_hex};

const CLIENT_ID: &str = "consent-client";
const CLIENT_SECRET: &str = "consent-secret-&=7";
/// Lifetime of the peer's tokens. Latchkey renews after half of it.
const TOKEN_LIFETIME_SECONDS: u64 = 2;
const PAST_HALF_LIFETIME: Duration = Duration::from_millis(1300);
const TENANT: &str = "a1b2c3d4-e5f6-47a8-9b0c-d1234567890f";
const SCOPE: &str = "https://graph.example.test/.default";

/// `tests/peers/admin_consent_peer.py` on a free port.
struct ConsentPeer {
    base_url: String,
    _process: ChildGuard,
    _logs: TempDir,
}

impl ConsentPeer {
    fn start() -> ConsentPeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python venv is not installed: {} is missing. Run scripts/test.sh, which installs the test peers.",
            python.display()
        );
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("admin_consent_peer.py"))
            .arg(port.to_string())
            .arg(CLIENT_ID)
            .arg(CLIENT_SECRET)
            .arg(TOKEN_LIFETIME_SECONDS.to_string())
            .stdout(Stdio::null());
        let mut process =
            ChildGuard::spawn("admin_consent_peer", command, &logs.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        ConsentPeer {
            base_url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _logs: logs,
        }
    }

    /// Returns the form bodies of the token requests sent for `tenant`.
    async fn token_bodies(&self, tenant: &str) -> Vec<String> {
        let requests: Value = reqwest::get(format!("{}/requests", self.base_url))
            .await
            .expect("GET /requests")
            .json()
            .await
            .expect("requests JSON");
        let path = format!("/{tenant}/oauth2/v2.0/token");
        requests["token"]
            .as_array()
            .expect("a list of token requests")
            .iter()
            .filter(|request| request["path"] == path.as_str())
            .map(|request| request["body"].as_str().expect("a body").to_owned())
            .collect()
    }
}

struct Env {
    peer: ConsentPeer,
    oidc: Oidc,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let peer = ConsentPeer::start();
        let base = &peer.base_url;
        let auth = format!(
            r#"  mode: oauth2
  authorization_url: "{base}/{{{{ tenantId }}}}/adminconsent"
  token_url: "{base}/{{{{ tenantId }}}}/oauth2/v2.0/token"
  default_scopes: ["{SCOPE}"]
  admin_consent:
    tenant_param: tenant
    tenant_config_key: tenantId"#
        );
        let extra = r#"connection_config:
  tenantId: {title: Tenant ID, pattern: "[0-9a-zA-Z-]+"}
"#;
        let catalog = CatalogDir::new();
        catalog.write(
            "test-admin-consent",
            &provider_file(
                "test-admin-consent",
                "Admin consent",
                &auth,
                &format!("{base}/api"),
                extra,
            ),
        );
        // The same consent page, with oidc-provider's client-credentials
        // grant as the token endpoint.
        let oidc =
            Oidc::start(&[
                OidcClient::client_credentials(CLIENT_ID, ClientAuthMethod::Basic)
                    .with_ttl(TOKEN_LIFETIME_SECONDS),
            ]);
        let oidc_auth = format!(
            r#"  mode: oauth2
  authorization_url: "{base}/{{{{ tenantId }}}}/adminconsent"
  token_url: "{issuer}/token"
  client_auth: basic
  admin_consent:
    tenant_config_key: tenantId"#,
            issuer = oidc.issuer
        );
        catalog.write(
            "test-admin-consent-oidc",
            &provider_file(
                "test-admin-consent-oidc",
                "Admin consent with oidc-provider",
                &oidc_auth,
                &format!("{base}/api"),
                extra,
            ),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            peer,
            oidc,
            latchkey,
        }
    })
}

/// Creates an integration with the peer's client and returns its key.
async fn integration(api: &Api) -> String {
    integration_of(api, "test-admin-consent", CLIENT_SECRET).await
}

/// Creates an integration of `provider` with the client `CLIENT_ID` and
/// `secret`, and returns its key.
async fn integration_of(api: &Api, provider: &str, secret: &str) -> String {
    let key = format!("consent-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": provider,
        "credentials": {
            "type": "OAUTH2",
            "client_id": CLIENT_ID,
            "client_secret": secret,
        },
    }))
    .await;
    key
}

/// Starts the flow for `tenant` and returns the consent URL.
async fn consent_url(api: &Api, key: &str, tenant: &str) -> Url {
    let token = api
        .connect_session(&format!("user-{}", random_hex(4)), None)
        .await;
    // `start_connect` appends the key to `/oauth/connect/`, so the key
    // carries the connection config as the query (`params[tenantId]`).
    let key_and_query = format!("{key}?params%5BtenantId%5D={tenant}");
    let reply = start_connect(&api.base_url, &key_and_query, Some(&token)).await;
    authorization_url(&reply)
}

/// Opens the consent URL at the peer and returns the redirect back to
/// Latchkey's callback.
async fn consent(url: &Url) -> Url {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url.clone())
        .send()
        .await
        .expect("GET the consent page");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    Url::parse(&location).expect("a callback URL")
}

#[tokio::test]
async fn consent_url_has_only_client_state_redirect() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api).await;

    let url = consent_url(&api, &key, TENANT).await;

    assert_eq!(url.path(), format!("/{TENANT}/adminconsent"));
    let names: Vec<String> = url
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect();
    assert_eq!(names, ["client_id", "state", "redirect_uri"]);
    assert_eq!(query_param(&url, "client_id").as_deref(), Some(CLIENT_ID));
    let redirect = query_param(&url, "redirect_uri").expect("redirect_uri");
    assert!(redirect.ends_with("/oauth/callback"), "{redirect}");
}

#[tokio::test]
async fn consent_token_exact_and_renewed() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api).await;
    let tenant = format!("{}-{}", &TENANT[..23], random_hex(6));
    let url = consent_url(&api, &key, &tenant).await;
    let callback_url = consent(&url).await;
    assert_eq!(
        query_param(&callback_url, "tenant").as_deref(),
        Some(tenant.as_str())
    );
    assert_eq!(
        query_param(&callback_url, "admin_consent").as_deref(),
        Some("True")
    );

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let id = connection_id_from_page(&page.text).expect("a connection id");
    let expected_body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=consent-secret-%26%3D7&scope=https%3A%2F%2Fgraph.example.test%2F.default"
    );
    let bodies = env.peer.token_bodies(&tenant).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0], expected_body);
    let stored = api.connection(&key, &id, None).await;
    let first_token = credential(&stored, "access_token");
    assert_eq!(stored["connection_config"]["tenantId"], tenant.as_str());
    let reply = send(api.proxy(Method::GET, "/me", &key, &id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["tenant"], tenant.as_str());

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let reply = send(api.proxy(Method::GET, "/me", &key, &id)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let bodies = env.peer.token_bodies(&tenant).await;
    assert_eq!(bodies, [expected_body.clone(), expected_body]);
    let renewed = api.connection(&key, &id, None).await;
    assert_ne!(credential(&renewed, "access_token"), first_token);
}

#[tokio::test]
async fn consent_error_callback_stores_nothing() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api).await;
    let url = consent_url(&api, &key, "denied").await;
    let callback_url = consent(&url).await;

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("access_denied"), "{}", page.text);
    assert!(
        page.text.contains("The administrator declined to consent."),
        "{}",
        page.text
    );
    assert!(env.peer.token_bodies("denied").await.is_empty());
}

#[tokio::test]
async fn consent_other_tenant_rejected() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api).await;
    let url = consent_url(&api, &key, "other").await;
    let callback_url = consent(&url).await;

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("invalid_callback"), "{}", page.text);
    assert!(page.text.contains("another tenant"), "{}", page.text);
    assert!(env.peer.token_bodies("other").await.is_empty());
}

#[tokio::test]
async fn oidc_client_credentials_after_consent() {
    let env = env();
    let api = env.latchkey.server.api();
    let secret = env.oidc.client(CLIENT_ID).client_secret.clone();
    let key = integration_of(&api, "test-admin-consent-oidc", &secret).await;
    let requests_before = env
        .oidc
        .token_requests(CLIENT_ID, "client_credentials")
        .await;
    let url = consent_url(&api, &key, TENANT).await;
    let callback_url = consent(&url).await;

    let page = callback(&callback_url).await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let id = connection_id_from_page(&page.text).expect("a connection id");
    let stored = api.connection(&key, &id, None).await;
    let first_token = credential(&stored, "access_token");
    let described = env.oidc.describe_token(&first_token).await;
    assert_eq!(described["active"], true, "{described}");
    assert_eq!(described["kind"], "ClientCredentials", "{described}");
    assert_eq!(described["client_id"], CLIENT_ID, "{described}");
    let requests = env
        .oidc
        .token_requests(CLIENT_ID, "client_credentials")
        .await;
    assert_eq!(requests, requests_before + 1);

    tokio::time::sleep(PAST_HALF_LIFETIME).await;
    let renewed = api.connection(&key, &id, None).await;

    let second_token = credential(&renewed, "access_token");
    assert_ne!(second_token, first_token);
    let described = env.oidc.describe_token(&second_token).await;
    assert_eq!(described["active"], true, "{described}");
    let requests = env
        .oidc
        .token_requests(CLIENT_ID, "client_credentials")
        .await;
    assert_eq!(requests, requests_before + 2);
}
