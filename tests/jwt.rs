//! The `jwt` auth mode end to end. Connections are created with `POST
//! /connections`. Latchkey signs the JWT and PyJWT in `tests/peers/jwt_peer.py`
//! verifies it, whether it is the bearer token itself or exchanged with the
//! JWT bearer grant, and when an exchange is followed by `steps`. Tokens
//! are renewed when they are due.
//!
//! One peer and one Latchkey server serve every test of this file. Lifetimes
//! are 4 seconds, so a token is due after 2 seconds (half its lifetime).

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use support::latchkey::{assert_error, send, Api, CatalogDir, CatalogServer, Reply};
use support::peers::JwtPeer;
use support::{credential, provider_file, random_hex};

const AUDIENCE: &str = "latchkey-jwt-test";
/// Seconds a token lives: the JWT's `exp - iat`, and the peer's access tokens.
const LIFETIME: u64 = 4;

/// Direct bearer, ES256, with a key id header and a list-valued scope.
const DIRECT_ES256: &str = "test-jwt-es256";
/// Direct bearer, HS256 over a hex-encoded secret.
const DIRECT_HS256: &str = "test-jwt-hs256";
/// RS256 assertion exchanged at the peer's `/token`.
const EXCHANGE_RS256: &str = "test-jwt-exchange";
/// Like `EXCHANGE_RS256`, but with an audience the peer rejects.
const WRONG_AUDIENCE: &str = "test-jwt-wrong-audience";
/// PS256 client assertion with an `x5t#S256` header and token parameters.
const CLIENT_ASSERTION_PS256: &str = "test-jwt-client-assertion";
/// RS256 client assertion signed with a private JWK, as Okta's are, sent to
/// a fallback token URL that is also its audience.
const CLIENT_ASSERTION_JWK: &str = "test-jwt-client-assertion-jwk";
/// Direct bearer, RS256, with Snowflake's public-key fingerprint in `iss`.
const FINGERPRINT_RS256: &str = "test-jwt-fingerprint";
/// Direct bearer, HS256 over the hex half of an entered `ID:SECRET`, with
/// the id as `kid` and a one-element array claim.
const SPLIT_KEY_HS256: &str = "test-jwt-split-key";
/// ES256 client assertion whose client id, key id, key and scope are
/// integration values, sent to a token URL built from the connection's
/// path, which is also the audience (the shape of Epic's backend services).
const INTEGRATION_KEY_ES256: &str = "test-jwt-integration-key";
/// RS256 JWT bearer grant whose access token a second request trades for
/// the API token (the shape of Workday Adaptive Planning).
const STEP_CHAIN_RS256: &str = "test-jwt-step-chain";
/// Like `STEP_CHAIN_RS256`, but the second request is rejected.
const REJECTED_STEP_RS256: &str = "test-jwt-rejected-step";
/// Like `STEP_CHAIN_RS256`, but the second request's URL reads an
/// `instance_url` that the exchange reply lacks.
const MISSING_STEP_URL_RS256: &str = "test-jwt-missing-step-url";

struct Env {
    peer: JwtPeer,
    latchkey: CatalogServer,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let peer = JwtPeer::start(AUDIENCE, LIFETIME);
        let catalog = CatalogDir::new();
        let files = [
            (
                DIRECT_ES256,
                format!(
                    r#"  mode: jwt
  algorithm: ES256
  credentials:
    private_key: {{ title: Private key, secret: true }}
    key_id: {{ title: Key ID }}
    issuer: {{ title: Issuer ID }}
  signing_key: "{{{{ credentials.private_key }}}}"
  header:
    kid: "{{{{ credentials.key_id }}}}"
    typ: JWT
  claims:
    iss: "{{{{ credentials.issuer }}}}"
    aud: {AUDIENCE}
    scope: "{{{{ scope }}}}"
  list_claims: [scope]
  jti: true
  lifetime_seconds: {LIFETIME}"#
                ),
                "connection_config:\n  scope:\n    title: Scope\n    optional: true\n",
            ),
            (
                DIRECT_HS256,
                format!(
                    r#"  mode: jwt
  algorithm: HS256
  credentials:
    secret: {{ title: Secret, secret: true }}
  signing_key: "{{{{ credentials.secret }}}}"
  hmac_key_encoding: hex
  claims:
    iss: latchkey
    aud: {AUDIENCE}
  lifetime_seconds: {LIFETIME}"#
                ),
                "",
            ),
            (EXCHANGE_RS256, exchange_auth(&peer, AUDIENCE), ""),
            (
                CLIENT_ASSERTION_PS256,
                format!(
                    r#"  mode: jwt
  algorithm: PS256
  credentials:
    client_id: {{ title: Client ID }}
    private_key: {{ title: Private key, secret: true }}
    thumbprint: {{ title: Thumbprint }}
    subject: {{ title: Subject, optional: true }}
  signing_key: "{{{{ credentials.private_key }}}}"
  header:
    x5t#S256: "{{{{ credentials.thumbprint }}}}"
  claims:
    iss: "{{{{ credentials.client_id }}}}"
    sub: "{{{{ credentials.subject }}}}"
    aud: {AUDIENCE}
  jti: true
  lifetime_seconds: {LIFETIME}
  token_url: "{base}/token"
  grant: client_assertion
  token_params:
    client_id: "{{{{ credentials.client_id }}}}"
    scope: "{{{{ tenant }}}}/.default"
    resource: "{{{{ resource }}}}""#,
                    base = peer.base_url
                ),
                "connection_config:\n  tenant:\n    title: Tenant\n  resource:\n    title: Resource\n    optional: true\n",
            ),
            (
                CLIENT_ASSERTION_JWK,
                format!(
                    r#"  mode: jwt
  algorithm: RS256
  credentials:
    client_id: {{ title: Client ID }}
    client_private_key: {{ title: Private key (JWK), secret: true }}
  signing_key: "{{{{ credentials.client_private_key }}}}"
  signing_key_format: jwk
  claims:
    iss: "{{{{ credentials.client_id }}}}"
    sub: "{{{{ credentials.client_id }}}}"
    aud: "{{{{ token_url }}}}"
  jti: true
  lifetime_seconds: {LIFETIME}
  token_url: "https://{{{{ hostname }}}}/token"
  token_url_fallbacks: ["{base}/token"]
  grant: client_assertion"#,
                    base = peer.base_url
                ),
                "connection_config:\n  hostname:\n    title: Hostname\n    pattern: \"[a-z0-9-]+\"\n    optional: true\n",
            ),
            (
                FINGERPRINT_RS256,
                format!(
                    r#"  mode: jwt
  algorithm: RS256
  credentials:
    account: {{ title: Account }}
    user: {{ title: User }}
    private_key: {{ title: Private key, secret: true }}
  signing_key: "{{{{ credentials.private_key }}}}"
  claims:
    iss: "{{{{ credentials.account }}}}.{{{{ credentials.user }}}}.SHA256:{{{{ public_key_sha256 }}}}"
    sub: "{{{{ credentials.account }}}}.{{{{ credentials.user }}}}"
    aud: {AUDIENCE}
  lifetime_seconds: {LIFETIME}"#
                ),
                "",
            ),
            (
                SPLIT_KEY_HS256,
                format!(
                    r#"  mode: jwt
  algorithm: HS256
  credentials:
    admin_key: {{ title: Admin API key, pattern: "[a-f0-9]{{24}}:[a-f0-9]{{64}}" }}
  signing_key: "{{{{ (credentials.admin_key | split(':'))[1] }}}}"
  hmac_key_encoding: hex
  header:
    kid: "{{{{ (credentials.admin_key | split(':'))[0] }}}}"
  claims:
    iss: latchkey
    aud: {AUDIENCE}
    scope: GET /v1/apps
  array_claims: [scope]
  lifetime_seconds: {LIFETIME}"#
                ),
                "",
            ),
            (WRONG_AUDIENCE, exchange_auth(&peer, "someone-else"), ""),
            (
                INTEGRATION_KEY_ES256,
                format!(
                    r#"  mode: jwt
  algorithm: ES256
  credentials:
    clientId: {{ title: Client ID, integration_default: true }}
    keyId: {{ title: Key ID, integration_default: true }}
    privateKey: {{ title: Private key, secret: true, integration_default: true }}
    scope: {{ title: Scope, integration_default: true }}
  signing_key: "{{{{ credentials.privateKey }}}}"
  header:
    kid: "{{{{ credentials.keyId }}}}"
  claims:
    iss: "{{{{ credentials.clientId }}}}"
    sub: "{{{{ credentials.clientId }}}}"
    aud: "{base}/{{{{ interconnect }}}}/oauth2/token"
  jti: true
  lifetime_seconds: {LIFETIME}
  token_url: "{base}/{{{{ interconnect }}}}/oauth2/token"
  grant: client_assertion
  token_params:
    scope: "{{{{ credentials.scope }}}}""#,
                    base = peer.base_url
                ),
                "connection_config:\n  interconnect:\n    title: Interconnect path\n    pattern: \"[a-z0-9-]+\"\n",
            ),
            (
                STEP_CHAIN_RS256,
                step_chain_auth(&peer, "/api/step-token"),
                TENANT_CONFIG,
            ),
            (
                REJECTED_STEP_RS256,
                step_chain_auth(&peer, "/api/step-token-rejected"),
                TENANT_CONFIG,
            ),
            (
                MISSING_STEP_URL_RS256,
                step_chain_auth(&peer, "/api/step-token").replace(
                    &format!("{}/api/step-token", peer.base_url),
                    "{{ step1.instance_url }}/api/step-token",
                ),
                TENANT_CONFIG,
            ),
        ];
        for (name, auth, extra) in files {
            catalog.write(
                name,
                &provider_file(name, "Test JWT", &auth, &peer.base_url, extra),
            );
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env { peer, latchkey }
    })
}

fn exchange_auth(peer: &JwtPeer, audience: &str) -> String {
    format!(
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
  lifetime_seconds: {LIFETIME}
  token_url: "{base}/token""#,
        base = peer.base_url
    )
}

/// The connection config of the step chains: the tenant that both the
/// token URL and the second request name.
const TENANT_CONFIG: &str =
    "connection_config:\n  tenant:\n    title: Tenant\n    pattern: \"[a-z0-9-]+\"\n";

/// Returns the auth section of an RS256 JWT bearer grant at
/// `/{tenant}/oauth2/token` followed by a GET of `step_path` with the
/// access token. The `apiToken` of the GET's reply is the token.
fn step_chain_auth(peer: &JwtPeer, step_path: &str) -> String {
    format!(
        r#"  mode: jwt
  algorithm: RS256
  credentials:
    clientId: {{ title: Client ID }}
    isu: {{ title: Integration system user }}
    privateKey: {{ title: Private key, secret: true }}
  signing_key: "{{{{ credentials.privateKey }}}}"
  header:
    typ: JWT
  claims:
    iss: "{{{{ credentials.clientId }}}}"
    sub: "{{{{ credentials.isu }}}}"
    aud: {AUDIENCE}
  lifetime_seconds: {LIFETIME}
  token_url: "{base}/{{{{ tenant }}}}/oauth2/token"
  steps:
    - url: "{base}{step_path}"
      method: GET
      params:
        tenant: "{{{{ tenant }}}}"
      headers:
        Authorization: "Bearer {{{{ step1.access_token }}}}"
  token_response:
    access_token: apiToken"#,
        base = peer.base_url
    )
}

fn api() -> Api {
    env().latchkey.server.api()
}

/// Imports a `JWT` connection with `credentials` and returns the reply.
async fn import(api: &Api, key: &str, credentials: Value, config: Value) -> (String, Reply) {
    let connection_id = format!("jwt-{}", random_hex(6));
    let mut body = json!({
        "provider_config_key": key,
        "connection_id": connection_id,
        "connection_config": config,
        "credentials": credentials,
    });
    body["credentials"]["type"] = json!("JWT");
    (connection_id, api.post("/connections", &body).await)
}

async fn whoami(api: &Api, key: &str, connection_id: &str) -> Reply {
    send(api.proxy(Method::GET, "/api/whoami", key, connection_id)).await
}

fn assert_verified(reply: &Reply, kind: &str) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "whoami: {}", reply.text);
    let body = reply.json();
    assert_eq!(body["kind"], kind, "{body}");
    body
}

/// Waits until a token of `LIFETIME` seconds is past half its lifetime.
async fn wait_until_due() {
    tokio::time::sleep(Duration::from_millis(LIFETIME * 1000 / 2 + 300)).await;
}

#[tokio::test]
async fn es256_bearer_signed_and_renewed() {
    let api = api();
    let key = api.integration_of(DIRECT_ES256).await;
    let credentials = json!({
        "private_key": env().peer.key("ec.pem"),
        "key_id": "KEY123",
        "issuer": "issuer-1",
    });
    let (id, reply) = import(&api, &key, credentials, json!({"scope": "read write"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let created = reply.json();
    assert_eq!(created["credentials"]["type"], "JWT");
    assert_eq!(created["credentials"]["key_id"], "KEY123");
    assert!(
        created["credentials"]["expires_at"].is_string(),
        "{created}"
    );
    let first_token = credential(&created, "token");

    let body = assert_verified(&whoami(&api, &key, &id).await, "jwt");
    assert_eq!(body["header"]["kid"], "KEY123");
    assert_eq!(body["header"]["alg"], "ES256");
    assert_eq!(body["claims"]["iss"], "issuer-1");
    assert_eq!(body["claims"]["scope"], json!(["read", "write"]));
    assert!(body["claims"]["jti"].is_string(), "{body}");
    let lifetime =
        body["claims"]["exp"].as_i64().unwrap() - body["claims"]["iat"].as_i64().unwrap();
    assert_eq!(lifetime, LIFETIME as i64);

    wait_until_due().await;
    assert_verified(&whoami(&api, &key, &id).await, "jwt");
    let renewed = api.connection(&key, &id, None).await;
    assert_ne!(
        credential(&renewed, "token"),
        first_token,
        "the JWT was not re-signed"
    );
}

#[tokio::test]
async fn optional_claim_left_out_when_unset() {
    let api = api();
    let key = api.integration_of(DIRECT_ES256).await;
    let credentials = json!({
        "private_key": env().peer.key("ec.pem"),
        "key_id": "KEY123",
        "issuer": "issuer-2",
    });
    let (id, reply) = import(&api, &key, credentials, json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "jwt");
    assert!(body["claims"].get("scope").is_none(), "{body}");
}

#[tokio::test]
async fn hs256_hex_secret_verified() {
    let api = api();
    let key = api.integration_of(DIRECT_HS256).await;
    let credentials = json!({ "secret": env().peer.key("hmac.hex") });
    let (id, reply) = import(&api, &key, credentials, json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "jwt");
    assert_eq!(body["header"]["alg"], "HS256");
    assert_eq!(body["claims"]["iss"], "latchkey");
}

#[tokio::test]
async fn rs256_exchange_cached_then_renewed() {
    let api = api();
    let key = api.integration_of(EXCHANGE_RS256).await;
    let before = env().peer.stats().await["tokens_issued"].as_u64().unwrap();
    let credentials = json!({
        "client_email": "robot@example.iam.gserviceaccount.com",
        // Escaped line breaks, as in a service-account JSON file.
        "private_key": env().peer.key("rsa.pem").replace('\n', "\\n"),
    });
    let (id, reply) = import(&api, &key, credentials, json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let first_token = credential(&reply.json(), "token");
    assert!(first_token.starts_with("ya29."), "{first_token}");

    for _ in 0..2 {
        let body = assert_verified(&whoami(&api, &key, &id).await, "access_token");
        assert_eq!(
            body["claims"]["sub"],
            "robot@example.iam.gserviceaccount.com"
        );
    }
    let issued = env().peer.stats().await["tokens_issued"].as_u64().unwrap();
    assert_eq!(issued - before, 1, "the access token was not cached");

    wait_until_due().await;
    assert_verified(&whoami(&api, &key, &id).await, "access_token");
    let renewed = api.connection(&key, &id, None).await;
    assert_ne!(credential(&renewed, "token"), first_token);
    assert!(env().peer.stats().await["tokens_issued"].as_u64().unwrap() - before >= 2);
}

#[tokio::test]
async fn rejected_assertion_quotes_provider() {
    let api = api();
    let key = api.integration_of(WRONG_AUDIENCE).await;
    let credentials = json!({
        "client_email": "robot@example.iam.gserviceaccount.com",
        "private_key": env().peer.key("rsa.pem"),
    });
    let (_, reply) = import(&api, &key, credentials.clone(), json!({})).await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "wrong audience",
    );
    let message = reply.error_message();
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(message.contains("Invalid JWT"), "{message}");
    // The peer quotes the assertion, the entered email and the entered key.
    assert!(
        message.contains("Assertion [redacted] from [redacted]"),
        "{message}"
    );
    assert!(message.contains("signature by [redacted]"), "{message}");
    assert_no_entered_values(&message, &credentials);
    assert!(
        !message.contains("eyJ"),
        "the assertion is quoted: {message}"
    );

    let logs = env().latchkey.server.logs();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("obtaining the JWT token failed"))
        .filter(|line| line.contains("Invalid JWT"))
        .collect();
    assert!(!warnings.is_empty(), "no warning logged:\n{logs}");
    for warning in warnings {
        assert!(warning.contains("[redacted]"), "{warning}");
    }
    assert_no_entered_values(&logs, &credentials);
}

/// Fails when `text` shows an entered value of `credentials`, or any base64
/// line of a PEM key. The PEM armor lines are left out, because error
/// messages name them.
fn assert_no_entered_values(text: &str, credentials: &Value) {
    for (key, value) in credentials.as_object().unwrap() {
        let value = value.as_str().unwrap();
        assert!(!text.contains(value), "`{key}` is shown: {text}");
        let key_lines = value
            .lines()
            .filter(|line| line.len() > 20 && !line.starts_with("-----"));
        for line in key_lines {
            assert!(!text.contains(line), "a line of `{key}` is shown: {text}");
        }
    }
}

#[tokio::test]
async fn bad_entered_values_rejected() {
    let api = api();
    let key = api.integration_of(EXCHANGE_RS256).await;
    let email = "robot@example.iam.gserviceaccount.com";
    let cases = [
        (
            "malformed PEM",
            json!({"client_email": email, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"}),
            "invalid_credentials",
            "`credentials.private_key`",
        ),
        (
            "EC key for RS256",
            json!({"client_email": email, "private_key": env().peer.key("ec.pem")}),
            "invalid_credentials",
            "`credentials.private_key`",
        ),
        (
            "missing field",
            json!({"client_email": email}),
            "invalid_credentials",
            "`credentials.private_key`",
        ),
        (
            "unknown field",
            json!({"client_email": email, "private_key": "x", "extra": "y"}),
            "invalid_credentials",
            "`credentials.extra`",
        ),
        (
            "number instead of text",
            json!({"client_email": 7, "private_key": "x"}),
            "invalid_body",
            "`credentials.client_email`",
        ),
    ];
    for (case, credentials, code, field) in cases {
        let (id, reply) = import(&api, &key, credentials, json!({})).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code, case);
        let message = reply.error_message();
        assert!(message.contains(field), "{case}: {message}");
        assert!(
            !message.contains("not a key"),
            "{case}: the key was echoed: {message}"
        );
        let stored = api.connection_reply(&key, &id, None).await;
        assert_eq!(
            stored.status,
            StatusCode::NOT_FOUND,
            "{case}: a connection was stored"
        );
    }
}

#[tokio::test]
async fn wrong_credential_type_rejected() {
    let api = api();
    let key = api.integration_of(DIRECT_HS256).await;
    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "credentials": {"type": "API_KEY", "api_key": "k"},
            }),
        )
        .await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "API_KEY for jwt",
    );
    assert!(reply.error_message().contains("`JWT`"), "{}", reply.text);
}

#[tokio::test]
async fn ps256_client_assertion_exchanged() {
    let api = api();
    let key = api.integration_of(CLIENT_ASSERTION_PS256).await;
    let credentials = json!({
        "client_id": "client-7",
        "private_key": env().peer.key("rsa.pem"),
        "thumbprint": "dGh1bWJwcmludA",
    });
    let (id, reply) = import(&api, &key, credentials, json!({"tenant": "api://t1"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "access_token");
    assert_eq!(body["header"]["alg"], "PS256");
    assert_eq!(body["header"]["x5t#S256"], "dGh1bWJwcmludA");
    assert_eq!(body["claims"]["iss"], "client-7");
    assert!(body["claims"].get("sub").is_none(), "{body}");
    assert!(body["claims"]["jti"].is_string(), "{body}");
    // The unset optional `resource` parameter is left out.
    assert_eq!(
        body["params"],
        json!([
            ["grant_type", "client_credentials"],
            [
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ],
            ["client_id", "client-7"],
            ["scope", "api://t1/.default"],
        ])
    );
}

#[tokio::test]
async fn optional_subject_claim_sent_when_set() {
    let api = api();
    let key = api.integration_of(CLIENT_ASSERTION_PS256).await;
    let credentials = json!({
        "client_id": "client-8",
        "private_key": env().peer.key("rsa.pem"),
        "thumbprint": "dA",
        "subject": "user@example.com",
    });
    let config = json!({"tenant": "t2", "resource": "https://graph.example"});
    let (id, reply) = import(&api, &key, credentials, config).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "access_token");
    assert_eq!(body["claims"]["sub"], "user@example.com");
    let params = body["params"].as_array().unwrap();
    assert!(
        params.contains(&json!(["resource", "https://graph.example"])),
        "{body}"
    );
}

#[tokio::test]
async fn jwk_client_assertion_exchanged() {
    let api = api();
    let key = api.integration_of(CLIENT_ASSERTION_JWK).await;
    let credentials = json!({
        "client_id": "okta-client",
        "client_private_key": env().peer.key("rsa.jwk"),
    });
    let (id, reply) = import(&api, &key, credentials, json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "access_token");
    assert_eq!(body["header"]["alg"], "RS256");
    assert_eq!(body["claims"]["iss"], "okta-client");
    assert_eq!(body["claims"]["sub"], "okta-client");
    let token_url = format!("{}/token", env().peer.base_url);
    assert_eq!(body["claims"]["aud"], token_url.as_str());
}

#[tokio::test]
async fn jwk_of_wrong_type_rejected() {
    let api = api();
    let key = api.integration_of(CLIENT_ASSERTION_JWK).await;
    let credentials = json!({
        "client_id": "okta-client",
        "client_private_key": r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}"#,
    });
    let (id, reply) = import(&api, &key, credentials, json!({})).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "EC JWK",
    );
    let message = reply.error_message();
    assert!(
        message.contains("`credentials.client_private_key`"),
        "{message}"
    );
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fingerprint_issuer_matches_peer() {
    let api = api();
    let key = api.integration_of(FINGERPRINT_RS256).await;
    let credentials = json!({
        "account": "ACME-1",
        "user": "ROBOT",
        "private_key": env().peer.key("rsa.pem"),
    });
    let (id, reply) = import(&api, &key, credentials, json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "jwt");
    let expected = format!("ACME-1.ROBOT.SHA256:{}", env().peer.key("rsa.fp"));
    assert_eq!(body["claims"]["iss"], expected);
    assert_eq!(body["claims"]["sub"], "ACME-1.ROBOT");
}

#[tokio::test]
async fn split_hex_key_verified() {
    let api = api();
    let key = api.integration_of(SPLIT_KEY_HS256).await;
    let admin_key = format!("0123456789abcdef01234567:{}", env().peer.key("hmac.hex"));
    let (id, reply) = import(&api, &key, json!({ "admin_key": admin_key }), json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "jwt");
    assert_eq!(body["header"]["alg"], "HS256");
    assert_eq!(body["header"]["kid"], "0123456789abcdef01234567");
    assert_eq!(body["claims"]["scope"], json!(["GET /v1/apps"]));
}

/// Creates an integration of `INTEGRATION_KEY_ES256` with every credential
/// field set in `integration_config`, and returns its key.
async fn integration_with_key(api: &Api) -> String {
    let key = format!("{INTEGRATION_KEY_ES256}-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": INTEGRATION_KEY_ES256,
        "integration_config": {
            "clientId": "epic-client-1",
            "keyId": "epic-key-1",
            "privateKey": env().peer.key("ec.pem"),
            "scope": "system/Patient.read",
        },
    }))
    .await;
    key
}

#[tokio::test]
async fn integration_key_signs_client_assertion() {
    let api = api();
    let key = integration_with_key(&api).await;

    let listed = api.get(&format!("/integrations/{key}")).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(
        listed.json()["data"]["integration_config"],
        json!({"clientId": "epic-client-1", "keyId": "epic-key-1", "scope": "system/Patient.read"}),
        "the secret key is listed without include=credentials"
    );
    let with_secrets = api
        .get(&format!("/integrations/{key}?include=credentials"))
        .await;
    assert_eq!(
        with_secrets.json()["data"]["integration_config"]["privateKey"],
        env().peer.key("ec.pem")
    );

    let (id, reply) = import(&api, &key, json!({}), json!({"interconnect": "fhir-r4"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let body = assert_verified(&whoami(&api, &key, &id).await, "access_token");
    let token_url = format!("{}/fhir-r4/oauth2/token", env().peer.base_url);
    assert_eq!(body["path"], "/fhir-r4/oauth2/token");
    assert_eq!(body["header"]["alg"], "ES256");
    assert_eq!(body["header"]["kid"], "epic-key-1");
    assert_eq!(body["claims"]["iss"], "epic-client-1");
    assert_eq!(body["claims"]["sub"], "epic-client-1");
    assert_eq!(body["claims"]["aud"], token_url.as_str());
    assert!(body["claims"]["jti"].is_string(), "{body}");
    let lifetime =
        body["claims"]["exp"].as_i64().unwrap() - body["claims"]["iat"].as_i64().unwrap();
    assert_eq!(lifetime, LIFETIME as i64);
    assert_eq!(
        body["params"],
        json!([
            ["grant_type", "client_credentials"],
            [
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ],
            ["scope", "system/Patient.read"],
        ])
    );
}

#[tokio::test]
async fn connection_value_overrides_integration_key() {
    let api = api();
    let key = integration_with_key(&api).await;
    let credentials = json!({"keyId": "own-key", "scope": null});

    let (id, reply) = import(&api, &key, credentials, json!({"interconnect": "r4"})).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let body = assert_verified(&whoami(&api, &key, &id).await, "access_token");
    assert_eq!(body["header"]["kid"], "own-key");
    let params = body["params"].as_array().unwrap();
    assert!(
        params.contains(&json!(["scope", "system/Patient.read"])),
        "a null value did not take the integration's: {body}"
    );
}

#[tokio::test]
async fn integration_key_errors_rejected() {
    let api = api();
    let cases = [
        (
            "number for a text field",
            json!({"privateKey": 7}),
            "`integration_config.privateKey` must be a string",
        ),
        (
            "undeclared key",
            json!({"issuer": "x"}),
            "it takes `clientId`, `keyId`, `privateKey`, `scope`",
        ),
        (
            "key above the size limit",
            json!({"privateKey": "k".repeat(16 * 1024 + 1)}),
            "`integration_config.privateKey` is 16385 bytes long, but may be at most 16384 bytes",
        ),
        (
            "key that is not PEM",
            json!({"privateKey": "notpem"}),
            "`integration_config.privateKey` is invalid: the value of provider `test-jwt-integration-key` is not a PEM PKCS#8 P-256 private key (`-----BEGIN PRIVATE KEY-----`): the text is not a PEM block of that kind of key",
        ),
        (
            "RSA key for an ES256 signature",
            json!({"privateKey": env().peer.key("rsa.pem")}),
            "is not a PEM PKCS#8 P-256 private key",
        ),
    ];
    for (case, config, expected) in cases {
        let key = format!("{INTEGRATION_KEY_ES256}-{}", random_hex(4));
        let body = json!({"unique_key": key, "provider": INTEGRATION_KEY_ES256, "integration_config": config});

        let reply = api.post("/integrations", &body).await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_body", case);
        let message = reply.error_message();
        assert!(message.contains(expected), "{case}: {message}");
        let entered = config["privateKey"].as_str();
        if let Some(entered) = entered.filter(|key| key.len() <= 16 * 1024) {
            let body_line = entered.lines().nth(1).unwrap_or(entered);
            assert!(!message.contains(body_line), "{case}: the key is echoed");
        }
        let stored = api.get(&format!("/integrations/{key}")).await;
        assert_eq!(stored.status, StatusCode::NOT_FOUND, "{case}: stored");
    }

    let key = api.integration_of(INTEGRATION_KEY_ES256).await;
    let (id, reply) = import(&api, &key, json!({}), json!({"interconnect": "r4"})).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "no integration value",
    );
    assert!(
        reply.error_message().contains("`credentials.clientId`"),
        "{}",
        reply.text
    );
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND);
}

/// Imports a connection of a step chain with the peer's RSA key.
async fn import_chain(api: &Api, key: &str) -> (String, Reply) {
    let credentials = json!({
        "clientId": "wd-client",
        "isu": "isu_user@acme",
        "privateKey": env().peer.key("rsa.pem"),
    });
    import(api, key, credentials, json!({"tenant": "acme"})).await
}

#[tokio::test]
async fn step_chain_trades_token_and_reruns() {
    let api = api();
    let key = api.integration_of(STEP_CHAIN_RS256).await;
    let before = env().peer.stats().await;

    let (id, reply) = import_chain(&api, &key).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let first_token = credential(&reply.json(), "token");
    assert!(first_token.starts_with("api-"), "{first_token}");
    let body = assert_verified(&whoami(&api, &key, &id).await, "step_token");
    assert_eq!(body["path"], "/acme/oauth2/token");
    assert_eq!(body["header"]["alg"], "RS256");
    assert_eq!(body["claims"]["iss"], "wd-client");
    assert_eq!(body["claims"]["sub"], "isu_user@acme");
    assert_eq!(
        body["params"],
        json!([["grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"]])
    );
    assert_eq!(body["step_query"], json!([["tenant", "acme"]]));
    let counted = |stats: &Value, name: &str| stats[name].as_u64().unwrap();
    let after = env().peer.stats().await;
    assert!(counted(&after, "tokens_issued") > counted(&before, "tokens_issued"));
    assert!(counted(&after, "step_tokens_issued") > counted(&before, "step_tokens_issued"));

    wait_until_due().await;
    assert_verified(&whoami(&api, &key, &id).await, "step_token");
    let renewed = api.connection(&key, &id, None).await;
    let renewed_token = credential(&renewed, "token");
    assert_ne!(renewed_token, first_token, "the chain did not run again");
    assert!(renewed_token.starts_with("api-"), "{renewed_token}");
    let rerun = env().peer.stats().await;
    assert!(
        counted(&rerun, "step_tokens_issued") - counted(&before, "step_tokens_issued") >= 2,
        "{rerun}"
    );
}

#[tokio::test]
async fn rejected_step_names_request() {
    let api = api();
    let key = api.integration_of(REJECTED_STEP_RS256).await;

    let (id, reply) = import_chain(&api, &key).await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "rejected second request",
    );
    let message = reply.error_message();
    assert!(
        message.contains("rejected request 2 of the token request chain with HTTP 403"),
        "{message}"
    );
    assert!(message.contains("access_denied"), "{message}");
    assert!(message.contains("Bearer [redacted]"), "{message}");
    assert!(
        !message.contains("ya29."),
        "the access token leaked: {message}"
    );
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn step_url_missing_from_reply_is_502() {
    let api = api();
    let key = api.integration_of(MISSING_STEP_URL_RS256).await;

    let (id, reply) = import_chain(&api, &key).await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "step URL missing from the reply",
    );
    let message = reply.error_message();
    assert!(
        message.contains("request 2 of the token request chain cannot use"),
        "{message}"
    );
    assert!(
        message.contains("undefined variable `step1.instance_url`"),
        "{message}"
    );
    let stored = api.connection_reply(&key, &id, None).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND);
}
