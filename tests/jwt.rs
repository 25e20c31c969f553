//! The `jwt` auth mode end to end. Connections are created with `POST
//! /connections`. Latchkey signs the JWT and PyJWT in `tests/peers/jwt_peer.py`
//! verifies it, whether it is the bearer token itself or exchanged with the
//! JWT bearer grant. Tokens are renewed when they are due.
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
    let (_, reply) = import(&api, &key, credentials, json!({})).await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "oauth_exchange_failed",
        "wrong audience",
    );
    let message = reply.error_message();
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(message.contains("Invalid JWT"), "{message}");
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
