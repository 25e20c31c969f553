//! Persistence across a restart on the same data directory, the generated
//! key files, and encryption at rest: no file in the data directory contains a
//! token, key, password or client secret in plaintext.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::json;
use tempfile::TempDir;

use support::latchkey::{Api, CatalogDir, Keys, Latchkey, ServerConfig};
use support::{free_port, httpbin_provider, random_hex, unused_oauth2_auth};

/// The plaintext values stored through the API, each long and random so that
/// a match in a data file cannot be a coincidence.
struct Secrets {
    client_secret: String,
    access_token: String,
    refresh_token: String,
    api_key: String,
    password: String,
}

impl Secrets {
    fn new() -> Secrets {
        Secrets {
            client_secret: format!("client-secret-{}", random_hex(16)),
            access_token: format!("access-token-{}", random_hex(16)),
            refresh_token: format!("refresh-token-{}", random_hex(16)),
            api_key: format!("api-key-{}", random_hex(16)),
            password: format!("password-{}", random_hex(16)),
        }
    }

    fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("client secret", &self.client_secret),
            ("access token", &self.access_token),
            ("refresh token", &self.refresh_token),
            ("API key", &self.api_key),
            ("basic password", &self.password),
        ]
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn store_everything(api: &Api, secrets: &Secrets) {
    api.create_integration(&json!({
        "unique_key": "restart-oauth",
        "provider": "test-restart-oauth",
        "display_name": "Survives restarts",
        "credentials": {
            "type": "OAUTH2",
            "client_id": "restart-client",
            "client_secret": secrets.client_secret,
            "scopes": "read,write",
        },
    }))
    .await;
    api.create_integration(&json!({ "unique_key": "restart-key", "provider": "test-restart-key" }))
        .await;
    api.create_integration(
        &json!({ "unique_key": "restart-basic", "provider": "test-restart-basic" }),
    )
    .await;
    let connections = [
        (
            "restart-oauth",
            "oauth-conn",
            json!({
                "type": "OAUTH2",
                "access_token": secrets.access_token,
                "refresh_token": secrets.refresh_token,
                "expires_in": 86400,
            }),
        ),
        (
            "restart-key",
            "key-conn",
            json!({ "type": "API_KEY", "api_key": secrets.api_key }),
        ),
        (
            "restart-basic",
            "basic-conn",
            json!({ "type": "BASIC", "username": "restart-user", "password": secrets.password }),
        ),
    ];
    for (key, id, credentials) in connections {
        api.create_connection(&json!({
            "provider_config_key": key,
            "connection_id": id,
            "end_user": { "id": "restart-end-user" },
            "credentials": credentials,
        }))
        .await;
    }
}

#[tokio::test]
async fn data_survives_restart_encrypted() {
    let catalog = CatalogDir::new();
    let unused_base = "http://127.0.0.1:9";
    let providers = [
        ("test-restart-oauth", unused_oauth2_auth(unused_base)),
        (
            "test-restart-key",
            "  mode: api_key\n  inject:\n    name: X-Api-Key\n    value: \"{{ api_key }}\""
                .to_owned(),
        ),
        ("test-restart-basic", "  mode: basic".to_owned()),
    ];
    for (name, auth) in &providers {
        catalog.write(name, &httpbin_provider(name, unused_base, auth));
    }
    let data = TempDir::new().unwrap();
    let port = free_port();
    let config = || ServerConfig::new(port, data.path(), &[catalog.path()]).keys(Keys::generated());
    let secrets = Secrets::new();

    let first = Latchkey::start(config());
    for file in ["secret_key", "encryption_key"] {
        let path = data.path().join(file);
        assert_eq!(mode_of(&path), 0o600, "{} mode", path.display());
    }
    let secret_key = first.secret_key.clone();
    let encryption_key = std::fs::read_to_string(data.path().join("encryption_key")).unwrap();
    store_everything(&first.api(), &secrets).await;
    let first_logs = first.logs();
    first.stop();

    let second = Latchkey::start(config());
    let api = second.api();
    assert_eq!(
        second.secret_key, secret_key,
        "the secret key changed on restart"
    );

    let integrations = api.get("/integrations").await;
    assert_eq!(integrations.status, StatusCode::OK, "{}", integrations.text);
    let keys: Vec<String> = integrations.json()["data"]
        .as_array()
        .expect("data array")
        .iter()
        .filter_map(|i| i["unique_key"].as_str().map(str::to_owned))
        .collect();
    for key in ["restart-oauth", "restart-key", "restart-basic"] {
        assert!(
            keys.iter().any(|k| k == key),
            "{key} missing after restart: {keys:?}"
        );
    }
    assert!(
        !integrations.text.contains(&secrets.client_secret),
        "GET /integrations returned the client secret"
    );
    let with_secret = api
        .get("/integrations/restart-oauth?include=credentials")
        .await;
    assert_eq!(with_secret.status, StatusCode::OK, "{}", with_secret.text);
    let credentials = &with_secret.json()["data"]["credentials"];
    assert_eq!(
        credentials["client_secret"],
        secrets.client_secret.as_str(),
        "{credentials}"
    );
    assert_eq!(credentials["client_id"], "restart-client", "{credentials}");
    let without_secret = api.get("/integrations/restart-oauth").await;
    assert!(
        !without_secret.text.contains(&secrets.client_secret),
        "{}",
        without_secret.text
    );

    let listed = api.get("/connections?endUserId=restart-end-user").await;
    assert_eq!(
        listed.json()["connections"].as_array().map(Vec::len),
        Some(3),
        "{}",
        listed.text
    );
    let oauth = api.connection("restart-oauth", "oauth-conn", None).await;
    assert_eq!(
        oauth["credentials"]["access_token"],
        secrets.access_token.as_str()
    );
    assert_eq!(
        oauth["credentials"]["refresh_token"],
        secrets.refresh_token.as_str()
    );
    let key = api.connection("restart-key", "key-conn", None).await;
    assert_eq!(key["credentials"]["apiKey"], secrets.api_key.as_str());
    let basic = api.connection("restart-basic", "basic-conn", None).await;
    assert_eq!(basic["credentials"]["username"], "restart-user");
    assert_eq!(basic["credentials"]["password"], secrets.password.as_str());
    let second_logs = second.logs();
    second.stop();

    let files = files_under(data.path());
    assert!(files.len() > 2, "the store wrote no files: {files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for (what, value) in secrets.all() {
            assert!(
                !contains(&bytes, value.as_bytes()),
                "{} contains the {what} in plaintext",
                file.display()
            );
        }
    }
    for logs in [&first_logs, &second_logs] {
        assert!(
            !logs.contains(&secret_key),
            "the log carries the secret key"
        );
        assert!(
            !logs.contains(encryption_key.trim()),
            "the log carries the encryption key"
        );
        for (what, value) in secrets.all() {
            assert!(!logs.contains(value), "the log carries the {what}");
        }
    }
}
