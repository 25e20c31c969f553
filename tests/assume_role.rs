//! `aws_sigv4` with `assume_role` end to end. The integration sets the keys
//! that call STS, and a connection enters a role ARN. Latchkey calls STS
//! AssumeRole, signs proxied requests with the temporary keys and their
//! session token, and renews the keys before they expire.
//!
//! `tests/peers/sts_peer.py` plays STS on 127.0.0.1, verifying the SigV4
//! signature of each AssumeRole call with botocore, and the upstream API,
//! which accepts only the temporary keys it issued last.

mod support;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::latchkey::{assert_error, post_json, send, Api, CatalogDir, CatalogServer};
use support::peers::peers_dir;
use support::process::{free_port, random_hex, ChildGuard};
use support::provider_file;

const ACCESS_KEY_ID: &str = "AKIAINTEGRATION0001";
const SECRET_ACCESS_KEY: &str = "integration/secret+key/0123456789";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/LatchkeyReader";
/// A role that the peer grants with keys that have already expired.
const EXPIRED_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ExpiredKeys";
const REGION: &str = "eu-west-3";
const SERVICE: &str = "execute-api";
/// Lifetime of the keys of the renewal peer: the renewal margin is capped
/// at half of it, so keys are due about 3 seconds after they are issued.
const SHORT_LIFETIME_SECONDS: u64 = 6;

/// One `sts_peer.py` process on a free port.
struct StsPeer {
    base_url: String,
    _process: ChildGuard,
    _logs: TempDir,
}

impl StsPeer {
    fn start(lifetime_seconds: u64) -> StsPeer {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: run scripts/test.sh"
        );
        let logs = TempDir::new().unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("sts_peer.py"))
            .args(["--port", &port.to_string()])
            .args(["--access-key-id", ACCESS_KEY_ID])
            .args(["--secret-access-key", SECRET_ACCESS_KEY])
            .args(["--role-arn", ROLE_ARN])
            .args(["--expired-role-arn", EXPIRED_ROLE_ARN])
            .args(["--region", REGION, "--service", SERVICE])
            .args(["--lifetime", &lifetime_seconds.to_string()])
            .stdout(Stdio::null());
        let mut process = ChildGuard::spawn("STS peer", command, &logs.path().join("stderr"));
        process.wait_for_port(port, Duration::from_secs(30));
        StsPeer {
            base_url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _logs: logs,
        }
    }

    /// Returns the form parameters of every AssumeRole call so far.
    async fn calls(&self) -> Vec<Value> {
        let reply = reqwest::get(format!("{}/calls", self.base_url))
            .await
            .expect("GET /calls");
        let body: Value = reply.json().await.expect("JSON /calls");
        body["calls"].as_array().cloned().unwrap_or_default()
    }
}

struct Env {
    sts: StsPeer,
    short_sts: StsPeer,
    latchkey: CatalogServer,
}

/// Returns an `assume_role` provider whose STS and API are `sts_base`.
fn assume_role_provider(name: &str, sts_base: &str, api_base: &str) -> String {
    let auth = format!(
        "  mode: aws_sigv4\n  service: \"{{{{ service }}}}\"\n  region: \"{{{{ region }}}}\"\n  \
         assume_role:\n    sts_url: {sts_base}/sts\n    duration_seconds: 900"
    );
    let config = "connection_config:
  region:
    title: AWS region
    optional: true
    pattern: \"[a-z]{2}(-[a-z]+)+-[0-9]+\"
  service:
    title: AWS service
    automated: true
    integration_default: true
    pattern: \"[a-z0-9-]+\"
";
    provider_file(name, name, &auth, &format!("{api_base}/aws"), config)
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let sts = StsPeer::start(3600);
        let short_sts = StsPeer::start(SHORT_LIFETIME_SECONDS);
        // Nothing listens on this port, so an AssumeRole call there fails
        // to connect.
        let closed = format!("http://127.0.0.1:{}", free_port());
        let catalog = CatalogDir::new();
        let files = [
            ("sts-assume-test", &sts.base_url, &sts.base_url),
            ("sts-renew-test", &short_sts.base_url, &short_sts.base_url),
            ("sts-unreachable-test", &closed, &sts.base_url),
        ];
        for (name, sts_base, api_base) in files {
            catalog.write(name, &assume_role_provider(name, sts_base, api_base));
        }
        let latchkey = CatalogServer::start(catalog, &[]);
        Env {
            sts,
            short_sts,
            latchkey,
        }
    })
}

fn integration_config() -> Value {
    json!({
        "service": SERVICE,
        "defaultRegion": REGION,
        "stsMode": "builtin",
        "awsAccessKeyId": ACCESS_KEY_ID,
        "awsSecretAccessKey": SECRET_ACCESS_KEY,
    })
}

async fn integration(api: &Api, provider: &str, config: Value) -> String {
    let key = format!("{provider}-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": provider,
        "integration_config": config,
    }))
    .await;
    key
}

/// Posts a connection with `role_arn` and returns the reply and the id.
async fn connect(api: &Api, key: &str, role_arn: &str) -> (support::latchkey::Reply, String) {
    let id = format!("conn-{}", random_hex(6));
    let reply = api
        .post(
            "/connections",
            &json!({
                "provider_config_key": key,
                "connection_id": id,
                "credentials": {"type": "AWS_SIGV4", "role_arn": role_arn},
            }),
        )
        .await;
    (reply, id)
}

async fn assert_not_stored(api: &Api, key: &str, id: &str, case: &str) {
    let reply = api.connection_reply(key, id, None).await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "{case}: {}",
        reply.text
    );
}

#[tokio::test]
async fn assumed_keys_sign_proxy() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-assume-test", integration_config()).await;

    let (reply, id) = connect(&api, &key, ROLE_ARN).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let connection = api.connection(&key, &id, None).await;
    let credentials = &connection["credentials"];
    assert_eq!(credentials["type"], "AWS_SIGV4", "{connection}");
    assert_eq!(credentials["role_arn"], ROLE_ARN, "{connection}");
    let access_key_id = credentials["access_key_id"].as_str().unwrap().to_owned();
    assert!(access_key_id.starts_with("ASIA"), "{connection}");
    assert!(credentials["session_token"].is_string(), "{connection}");
    assert!(credentials["expires_at"].is_string(), "{connection}");
    assert_eq!(
        connection["connection_config"]["region"], REGION,
        "{connection}"
    );
    assert_eq!(
        connection["connection_config"]["service"], SERVICE,
        "{connection}"
    );
    assert_eq!(credentials["region"], REGION, "{connection}");
    assert_eq!(credentials["service"], SERVICE, "{connection}");

    let calls = env.sts.calls().await;
    let call = calls
        .iter()
        .find(|call| call["RoleSessionName"] == format!("latchkey-{id}"))
        .unwrap_or_else(|| panic!("no AssumeRole call for {id}: {calls:?}"));
    assert_eq!(call["Action"], "AssumeRole");
    assert_eq!(call["Version"], "2011-06-15");
    assert_eq!(call["RoleArn"], ROLE_ARN);
    assert_eq!(call["DurationSeconds"], "900");

    let reply = send(api.proxy(Method::GET, "/items?b=2&a=1", &key, &id)).await;
    assert_eq!(reply.status, StatusCode::OK, "GET: {}", reply.text);
    assert_eq!(reply.json()["access_key_id"], access_key_id.as_str());

    let body = json!({"name": "Ada"});
    let reply = send(api.proxy(Method::POST, "/items", &key, &id).json(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "POST: {}", reply.text);
    assert_eq!(reply.json()["body"], body.to_string());
}

#[tokio::test]
async fn keys_renewed_near_expiry() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-renew-test", integration_config()).await;
    let (reply, id) = connect(&api, &key, ROLE_ARN).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let session_name = format!("latchkey-{id}");
    let calls_for = |calls: Vec<Value>| {
        calls
            .into_iter()
            .filter(|call| call["RoleSessionName"] == session_name)
            .count()
    };

    let first = send(api.proxy(Method::GET, "/items", &key, &id)).await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "before renewal: {}",
        first.text
    );
    assert_eq!(calls_for(env.short_sts.calls().await), 1, "before renewal");

    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let second = send(api.proxy(Method::GET, "/items", &key, &id)).await;

    assert_eq!(
        second.status,
        StatusCode::OK,
        "after renewal: {}",
        second.text
    );
    assert_eq!(calls_for(env.short_sts.calls().await), 2, "after renewal");
    assert_ne!(
        first.json()["access_key_id"],
        second.json()["access_key_id"],
        "the renewed keys sign the second request"
    );
    let connection = api.connection(&key, &id, None).await;
    assert_eq!(
        connection["credentials"]["access_key_id"],
        second.json()["access_key_id"],
        "the renewed keys are stored"
    );
}

#[tokio::test]
async fn rejected_assume_role_stores_nothing() {
    let env = env();
    let api = env.latchkey.server.api();
    let good = integration(&api, "sts-assume-test", integration_config()).await;
    let mut wrong_secret = integration_config();
    wrong_secret["awsSecretAccessKey"] = json!("not/the+integration/secret0000");
    let wrong_secret = integration(&api, "sts-assume-test", wrong_secret).await;
    let mut unknown_key = integration_config();
    unknown_key["awsAccessKeyId"] = json!("AKIAUNKNOWN000000001");
    let unknown_key = integration(&api, "sts-assume-test", unknown_key).await;
    let cases = [
        (
            "role not granted",
            &good,
            "arn:aws:iam::123456789012:role/Other",
            "AccessDenied",
        ),
        (
            "wrong integration secret",
            &wrong_secret,
            ROLE_ARN,
            "SignatureDoesNotMatch",
        ),
        (
            "unknown integration key",
            &unknown_key,
            ROLE_ARN,
            "InvalidClientTokenId",
        ),
    ];
    for (case, key, role_arn, sts_code) in cases {
        let (reply, id) = connect(&api, key, role_arn).await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_credentials", case);
        let message = reply.error_message();
        assert!(message.contains(sts_code), "{case}: {message}");
        assert!(message.contains(role_arn), "{case}: {message}");
        assert!(!message.contains(SECRET_ACCESS_KEY), "{case}: {message}");
        assert_not_stored(&api, key, &id, case).await;
    }
}

#[tokio::test]
async fn missing_integration_values_rejected() {
    let env = env();
    let api = env.latchkey.server.api();
    let cases = [
        ("awsSecretAccessKey", "missing_integration_config"),
        ("awsAccessKeyId", "missing_integration_config"),
        ("service", "missing_integration_config"),
        ("defaultRegion", "invalid_connection_config"),
    ];
    for (left_out, code) in cases {
        let mut config = integration_config();
        config.as_object_mut().unwrap().remove(left_out);
        let key = integration(&api, "sts-assume-test", config).await;

        let (reply, id) = connect(&api, &key, ROLE_ARN).await;

        let case = format!("without {left_out}");
        assert_error(&reply, StatusCode::BAD_REQUEST, code, &case);
        let message = reply.error_message();
        let named = if left_out == "defaultRegion" {
            "region"
        } else {
            left_out
        };
        assert!(message.contains(named), "{case}: {message}");
        assert_not_stored(&api, &key, &id, &case).await;
    }

    let mut config = integration_config();
    config.as_object_mut().unwrap().remove("defaultRegion");
    let key = integration(&api, "sts-assume-test", config).await;
    let id = format!("conn-{}", random_hex(6));
    let body = json!({
        "provider_config_key": key,
        "connection_id": id,
        "connection_config": {"region": null},
        "credentials": {"type": "AWS_SIGV4", "role_arn": ROLE_ARN},
    });

    let reply = api.post("/connections", &body).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_connection_config",
        "null region",
    );
    assert_not_stored(&api, &key, &id, "null region").await;
}

#[tokio::test]
async fn unreachable_sts_returns_502() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-unreachable-test", integration_config()).await;

    let (reply, id) = connect(&api, &key, ROLE_ARN).await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "sts_request_failed",
        "closed port",
    );
    assert!(reply.error_message().contains("/sts"), "{}", reply.text);
    assert_not_stored(&api, &key, &id, "closed port").await;
}

#[tokio::test]
async fn expired_keys_not_stored() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-assume-test", integration_config()).await;

    let (reply, id) = connect(&api, &key, EXPIRED_ROLE_ARN).await;

    assert_error(
        &reply,
        StatusCode::BAD_GATEWAY,
        "sts_request_failed",
        "expired keys",
    );
    let message = reply.error_message();
    assert!(message.contains("has Expiration"), "{message}");
    assert!(message.contains("which is already past"), "{message}");
    assert_not_stored(&api, &key, &id, "expired keys").await;
}

#[tokio::test]
async fn invalid_entries_rejected() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-assume-test", integration_config()).await;
    let cases = [
        (
            "not an ARN",
            json!({"type": "AWS_SIGV4", "role_arn": "LatchkeyReader"}),
            "invalid_credentials",
            "not an IAM role ARN",
        ),
        (
            "no role",
            json!({"type": "AWS_SIGV4"}),
            "invalid_body",
            "credentials.role_arn",
        ),
        (
            "access keys",
            json!({"type": "AWS_SIGV4", "role_arn": ROLE_ARN, "access_key_id": ACCESS_KEY_ID, "secret_access_key": "x"}),
            "invalid_credentials",
            "takes only `role_arn`",
        ),
    ];
    for (case, credentials, code, message) in cases {
        let id = format!("conn-{}", random_hex(6));
        let body =
            json!({"provider_config_key": key, "connection_id": id, "credentials": credentials});

        let reply = api.post("/connections", &body).await;

        assert_error(&reply, StatusCode::BAD_REQUEST, code, case);
        assert!(
            reply.error_message().contains(message),
            "{case}: {}",
            reply.text
        );
        assert_not_stored(&api, &key, &id, case).await;
    }
}

#[tokio::test]
async fn integration_values_checked_and_hidden() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-assume-test", integration_config()).await;

    let plain = api.get(&format!("/integrations/{key}")).await;
    let with_secrets = api
        .get(&format!("/integrations/{key}?include=credentials"))
        .await;

    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    let shown = &plain.json()["data"]["integration_config"];
    assert_eq!(shown["defaultRegion"], REGION, "{}", plain.text);
    assert_eq!(shown["service"], SERVICE, "{}", plain.text);
    assert!(shown.get("awsAccessKeyId").is_none(), "{}", plain.text);
    assert!(shown.get("awsSecretAccessKey").is_none(), "{}", plain.text);
    assert!(!plain.text.contains(SECRET_ACCESS_KEY), "{}", plain.text);
    let all = &with_secrets.json()["data"]["integration_config"];
    assert_eq!(
        all["awsAccessKeyId"], ACCESS_KEY_ID,
        "{}",
        with_secrets.text
    );
    assert_eq!(
        all["awsSecretAccessKey"], SECRET_ACCESS_KEY,
        "{}",
        with_secrets.text
    );

    let cases = [
        ("stsMode", json!("custom"), "supports only `builtin`"),
        (
            "stsEndpointUrl",
            json!("https://sts.example.com/assume"),
            "takes no `integration_config.stsEndpointUrl`",
        ),
        (
            "defaultRegion",
            json!("Paris"),
            "integration_config.defaultRegion",
        ),
    ];
    for (name, value, message) in cases {
        let mut config = integration_config();
        config[name] = value;
        let body = json!({
            "unique_key": format!("sts-bad-{}", random_hex(4)),
            "provider": "sts-assume-test",
            "integration_config": config,
        });

        let reply = api.post("/integrations", &body).await;

        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_body", name);
        assert!(
            reply.error_message().contains(message),
            "{name}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn connect_entry_takes_role_arn() {
    let env = env();
    let api = env.latchkey.server.api();
    // The entry's region overrides this one, which the STS peer would
    // reject in the signature's scope.
    let mut config = integration_config();
    config["defaultRegion"] = json!("us-east-1");
    let key = integration(&api, "sts-assume-test", config).await;
    let end_user = format!("user-{}", random_hex(4));
    let token = api.connect_session(&end_user, Some(&[key.as_str()])).await;
    let base = &env.latchkey.server.url("");

    let keys = post_json(
        base,
        &format!("/connect/{key}/aws-sigv4"),
        Some(&token),
        &json!({"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY}),
    )
    .await;
    assert_error(
        &keys,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "access keys",
    );

    let reply = post_json(
        base,
        &format!("/connect/{key}/aws-sigv4"),
        Some(&token),
        &json!({"role_arn": ROLE_ARN, "connection_config": {"region": REGION}}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json()["connectionId"].as_str().unwrap().to_owned();
    let connection = api.connection(&key, &id, None).await;
    assert_eq!(
        connection["credentials"]["role_arn"], ROLE_ARN,
        "{connection}"
    );
    assert_eq!(
        connection["connection_config"]["region"], REGION,
        "{connection}"
    );
}

#[tokio::test]
async fn failed_renewal_recorded() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-renew-test", integration_config()).await;
    let (reply, id) = connect(&api, &key, ROLE_ARN).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let mut without_secret = integration_config();
    without_secret
        .as_object_mut()
        .unwrap()
        .remove("awsSecretAccessKey");
    let patched = api
        .patch(
            &format!("/integrations/{key}"),
            &json!({"integration_config": without_secret}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let failed = send(api.proxy(Method::GET, "/items", &key, &id)).await;

    assert_error(
        &failed,
        StatusCode::FAILED_DEPENDENCY,
        "refresh_failed",
        "renewal",
    );
    assert!(
        failed.error_message().contains("awsSecretAccessKey"),
        "{}",
        failed.text
    );
    let stored = api.connection_reply(&key, &id, None).await;
    assert_error(
        &stored,
        StatusCode::FAILED_DEPENDENCY,
        "refresh_failed",
        "recorded",
    );

    let restored = api
        .patch(
            &format!("/integrations/{key}"),
            &json!({"integration_config": integration_config()}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.text);
    let connection = api.connection(&key, &id, Some(true)).await;
    assert_eq!(connection["errors"], json!([]), "{connection}");
    let reply = send(api.proxy(Method::GET, "/items", &key, &id)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "after force_refresh: {}",
        reply.text
    );
}

#[tokio::test]
async fn force_refresh_renews_keys() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-assume-test", integration_config()).await;
    let (reply, id) = connect(&api, &key, ROLE_ARN).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let before = api.connection(&key, &id, None).await;

    let after = api.connection(&key, &id, Some(true)).await;

    let old_key = &before["credentials"]["access_key_id"];
    let new_key = &after["credentials"]["access_key_id"];
    assert_ne!(old_key, new_key, "{after}");
    let reply = send(api.proxy(Method::GET, "/items", &key, &id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(&reply.json()["access_key_id"], new_key);
}

#[tokio::test]
async fn connect_page_asks_for_role() {
    let env = env();
    let api = env.latchkey.server.api();
    let key = integration(&api, "sts-assume-test", integration_config()).await;
    let token = api
        .connect_session(&format!("user-{}", random_hex(4)), Some(&[key.as_str()]))
        .await;
    let url = env
        .latchkey
        .server
        .url(&format!("/connect?session_token={token}"));

    let page = reqwest::get(url).await.expect("GET /connect");

    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("/connect/{key}/aws-sigv4?")),
        "{html}"
    );
    assert!(html.contains("name=\"role_arn\""), "{html}");
    assert!(html.contains("IAM role ARN"), "{html}");
    assert!(!html.contains("name=\"access_key_id\""), "{html}");
    assert!(!html.contains("name=\"secret_access_key\""), "{html}");
    assert!(!html.contains(SECRET_ACCESS_KEY), "{html}");
    assert!(html.contains("name=\"params[region]\""), "{html}");
    assert!(!html.contains("name=\"params[service]\""), "{html}");
}
