//! The password grant (RFC 6749 section 4.3) of `oauth2_client_credentials`
//! with `password_grant`, end to end against oauth2-mock-server, which
//! issues a token for `grant_type=password`. The checks read the token
//! request body as the mock received it.

mod support;

use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::{json, Value};

use support::latchkey::{Api, CatalogDir, CatalogServer};
use support::peers::MockOAuth;
use support::{credential, provider_file, random_hex};

const PROVIDER: &str = "test-password-grant";

struct Env {
    mock: MockOAuth,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let mock = MockOAuth::start();
        let catalog = CatalogDir::new();
        let auth = format!(
            r#"  mode: oauth2_client_credentials
  token_url: "{issuer}/token"
  client_auth: body
  password_grant:
    username: "{{{{ username }}}}"
    password: "{{{{ password }}}}""#,
            issuer = mock.issuer
        );
        let config = "connection_config:\n  username: {title: Username}\n  password: {title: Password, secret: true}\n";
        catalog.write(
            PROVIDER,
            &provider_file(PROVIDER, "Test password grant", &auth, &mock.issuer, config),
        );
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { mock, latchkey }
    })
}

/// Creates an integration with a client id of its own at the mock, and
/// returns its unique key and the client id.
async fn create_integration(api: &Api, client_secret: &str) -> (String, String) {
    let client_id = format!("pw-{}", random_hex(4));
    let key = format!("mock-{client_id}");
    api.create_integration(&json!({
        "unique_key": key,
        "provider": PROVIDER,
        "credentials": {"type": "OAUTH2_CC", "client_id": client_id, "client_secret": client_secret},
    }))
    .await;
    (key, client_id)
}

#[tokio::test]
async fn password_grant_sends_user_password() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, client_id) = create_integration(&api, "s3cret/+").await;

    let created = api
        .create_connection(&json!({
            "provider_config_key": key,
            "connection_id": "pw",
            "credentials": {"type": "OAUTH2_CC"},
            "connection_config": {"username": "ada@example.com", "password": "p&ss word"},
        }))
        .await;

    let requests = env.mock.token_requests_of(&client_id, "password").await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0]["body"],
        format!(
            "grant_type=password&client_id={client_id}&client_secret=s3cret%2F%2B&username=ada%40example.com&password=p%26ss+word"
        )
    );
    assert_eq!(requests[0]["reply_status"], 200);
    assert_eq!(
        credential(&created, "token"),
        requests[0]["reply"]["access_token"]
            .as_str()
            .unwrap_or_default()
    );
    let logs = env.latchkey.server.logs();
    assert!(!logs.contains("p&ss word"), "the password is logged");
}

#[tokio::test]
async fn password_grant_missing_values_rejected() {
    let env = env();
    let api = env.latchkey.server.api();
    let (key, client_id) = create_integration(&api, "s3cret").await;
    // (case, connection_config, error code, field the message names)
    let cases: [(&str, Value, &str, &str); 3] = [
        (
            "no username",
            json!({"password": "pw"}),
            "invalid_connection_config",
            "`username`",
        ),
        (
            "no password",
            json!({"username": "ada"}),
            "invalid_connection_config",
            "`password`",
        ),
        (
            "empty password",
            json!({"username": "ada", "password": ""}),
            "invalid_credentials",
            "`password`",
        ),
    ];

    for (case, config, code, field) in cases {
        let reply = api
            .post(
                "/connections",
                &json!({
                    "provider_config_key": key,
                    "connection_id": format!("pw-{}", random_hex(4)),
                    "credentials": {"type": "OAUTH2_CC"},
                    "connection_config": config,
                }),
            )
            .await;

        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), code, "{case}");
        let message = reply.error_message();
        assert!(message.contains(field), "{case}: {message}");
    }
    let requests = env.mock.token_requests_of(&client_id, "password").await;
    assert!(requests.is_empty(), "{requests:?}");
}
