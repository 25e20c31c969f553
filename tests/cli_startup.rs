//! Startup checks of `latchkey serve` and path checks of
//! `latchkey catalog validate`: bad flag values, a data directory in use, a
//! busy port and catalog paths that hold no provider files. Each failure
//! must exit with status 1 and a message that names the flag, variable or
//! path, and must not panic.

mod support;

use std::net::TcpListener;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use tempfile::TempDir;

use support::latchkey::{run_cli, CatalogDir, Keys, Latchkey, ServerConfig};
use support::process::random_bytes;
use support::{free_port, httpbin_provider};

/// Exit status of clap's usage errors: a flag value that does not parse or is
/// out of range.
const USAGE_ERROR: i32 = 2;
/// Exit status of a start that fails after the flags were read.
const STARTUP_ERROR: i32 = 1;

/// Starts `config`, expects the server to exit with status 1 before it
/// listens, and returns its stderr.
fn startup_failure(config: ServerConfig, case: &str) -> String {
    startup_failure_with(config, case, STARTUP_ERROR)
}

fn startup_failure_with(config: ServerConfig, case: &str, expected_code: i32) -> String {
    let failure = match Latchkey::try_start(config) {
        Ok(server) => {
            server.stop();
            panic!("{case}: latchkey serve started");
        }
        Err(failure) => failure,
    };
    let status = failure
        .status
        .unwrap_or_else(|| panic!("{case}: the server neither listened nor exited"));
    assert_eq!(
        status.code(),
        Some(expected_code),
        "{case}: stderr:\n{}",
        failure.stderr
    );
    assert!(
        !failure.stderr.contains("panicked"),
        "{case}: the server panicked:\n{}",
        failure.stderr
    );
    // The harness runs the server with RUST_BACKTRACE=1.
    assert!(
        !failure.stderr.contains("backtrace"),
        "{case}: stderr shows a backtrace:\n{}",
        failure.stderr
    );
    if expected_code == STARTUP_ERROR {
        assert!(
            failure
                .stderr
                .lines()
                .any(|line| line.starts_with("error: ")),
            "{case}: no `error: ` line in stderr:\n{}",
            failure.stderr
        );
    }
    failure.stderr
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn serve_rejects_out_of_range_ttls() {
    let data = TempDir::new().unwrap();
    let values = ["0", "2592001", "18446744073709551615", "-5", "ten"];
    for flag in ["--connect-session-ttl-seconds", "--oauth-state-ttl-seconds"] {
        for value in values {
            let case = format!("{flag} {value}");
            let config = ServerConfig::new(free_port(), data.path(), &[])
                .arg(flag)
                .arg(value);

            let stderr = startup_failure_with(config, &case, USAGE_ERROR);

            assert!(
                stderr.contains(flag),
                "{case}: stderr does not name the flag:\n{stderr}"
            );
        }
    }

    // Thirty days is the largest accepted lifetime.
    let server = Latchkey::start(
        ServerConfig::new(free_port(), data.path(), &[])
            .arg("--connect-session-ttl-seconds")
            .arg("2592000")
            .arg("--oauth-state-ttl-seconds")
            .arg("1"),
    );
    server.stop();
}

#[test]
fn serve_rejects_bad_public_url() {
    let data = TempDir::new().unwrap();
    let values = [
        "ftp://127.0.0.1:3003",
        "127.0.0.1:3003",
        "/relative/path",
        "http://127.0.0.1:3003/?next=1",
        "http://127.0.0.1:3003/#top",
        "not a url",
    ];
    for value in values {
        let case = format!("--public-url {value:?}");
        let config = ServerConfig::new(free_port(), data.path(), &[]).public_url(value);

        let stderr = startup_failure_with(config, &case, USAGE_ERROR);

        assert!(
            stderr.contains("--public-url"),
            "{case}: stderr does not name the flag:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn public_url_trailing_slash_trimmed() {
    let data = TempDir::new().unwrap();
    let port = free_port();
    let server = Latchkey::start(
        ServerConfig::new(port, data.path(), &[]).public_url(&format!("http://127.0.0.1:{port}/")),
    );
    let reply = server
        .api()
        .post(
            "/connect/sessions",
            &json!({ "end_user": { "id": "slash-user" } }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let link = reply.json()["data"]["connect_link"]
        .as_str()
        .unwrap_or_else(|| panic!("no data.connect_link in {}", reply.text))
        .to_owned();
    let expected_prefix = format!("http://127.0.0.1:{port}/connect?session_token=");
    assert!(
        link.starts_with(&expected_prefix),
        "connect_link {link} does not start with {expected_prefix}"
    );
}

#[tokio::test]
async fn serve_rejects_data_dir_in_use() {
    let data = TempDir::new().unwrap();
    let running = Latchkey::start(ServerConfig::new(free_port(), data.path(), &[]));

    let stderr = startup_failure(
        ServerConfig::new(free_port(), data.path(), &[]),
        "second server on the same data dir",
    );

    let dir = data.path().display().to_string();
    assert!(
        stderr.contains(&dir),
        "stderr does not name {dir}:\n{stderr}"
    );
    assert!(
        stderr.contains("in use"),
        "stderr does not say the dir is in use:\n{stderr}"
    );
    assert!(
        stderr.contains("--data-dir"),
        "stderr does not name --data-dir:\n{stderr}"
    );
    let health = reqwest::get(running.url("/health"))
        .await
        .expect("GET /health");
    assert_eq!(health.status(), StatusCode::OK, "the first server stopped");
}

#[test]
fn failed_bind_leaves_no_key_files() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind a busy port");
    let port = busy.local_addr().unwrap().port();
    let parent = TempDir::new().unwrap();
    let data_dir = parent.path().join("new-data");

    let stderr = startup_failure(
        ServerConfig::new(port, &data_dir, &[]).keys(Keys::generated()),
        "listen on a busy port",
    );

    let address = format!("127.0.0.1:{port}");
    assert!(
        stderr.contains(&address),
        "stderr does not name {address}:\n{stderr}"
    );
    for file in ["secret_key", "encryption_key"] {
        assert!(
            !data_dir.join(file).exists(),
            "the failed start left {}",
            data_dir.join(file).display()
        );
    }
    drop(busy);
}

#[test]
fn empty_secret_key_variable_rejected() {
    let data = TempDir::new().unwrap();
    let keys = Keys {
        secret_key: Some(String::new()),
        encryption_key: Some(base64::engine::general_purpose::STANDARD.encode(random_bytes(32))),
    };

    let stderr = startup_failure(
        ServerConfig::new(free_port(), data.path(), &[]).keys(keys),
        "LATCHKEY_SECRET_KEY set to an empty value",
    );

    assert!(
        stderr.contains("LATCHKEY_SECRET_KEY"),
        "stderr does not name the variable:\n{stderr}"
    );
}

#[test]
fn bad_key_variables_write_no_files() {
    let valid_encryption = base64::engine::general_purpose::STANDARD.encode(random_bytes(32));
    let cases = [
        (
            "empty LATCHKEY_ENCRYPTION_KEY",
            None,
            Some(String::new()),
            "LATCHKEY_ENCRYPTION_KEY",
        ),
        (
            "LATCHKEY_ENCRYPTION_KEY=abc",
            None,
            Some("abc".to_owned()),
            "LATCHKEY_ENCRYPTION_KEY",
        ),
        (
            "LATCHKEY_SECRET_KEY=ab",
            Some("ab".to_owned()),
            Some(valid_encryption),
            "at least 16 characters",
        ),
        (
            "LATCHKEY_SECRET_KEY=ab alone",
            Some("ab".to_owned()),
            None,
            "LATCHKEY_SECRET_KEY",
        ),
    ];
    for (case, secret_key, encryption_key, expected) in cases {
        let parent = TempDir::new().unwrap();
        let data_dir = parent.path().join("new-data");
        let keys = Keys {
            secret_key,
            encryption_key,
        };

        let stderr = startup_failure(
            ServerConfig::new(free_port(), &data_dir, &[]).keys(keys),
            case,
        );

        assert!(
            stderr.contains(expected),
            "{case}: stderr does not contain {expected:?}:\n{stderr}"
        );
        assert!(
            !data_dir.exists(),
            "{case}: the failed start created {}",
            data_dir.display()
        );
    }
}

fn valid_provider(name: &str) -> String {
    httpbin_provider(name, "http://127.0.0.1:9/unused", "  mode: basic")
}

#[test]
fn catalog_validate_rejects_yml_extension() {
    let catalog = CatalogDir::new();
    catalog.write("good-one", &valid_provider("good-one"));
    let yml = catalog.path().join("misnamed.yml");
    std::fs::write(&yml, valid_provider("misnamed")).unwrap();

    for path in [catalog.path(), yml.as_path()] {
        let output = run_cli(&["catalog", "validate", path.to_str().unwrap()]);

        let stderr = stderr_of(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains("misnamed.yml"),
            "{}: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains("misnamed.yaml"),
            "{}: no rename hint: {stderr}",
            path.display()
        );
    }

    let data = TempDir::new().unwrap();
    let stderr = startup_failure(
        ServerConfig::new(free_port(), data.path(), &[catalog.path()]),
        "--catalog-dir with a .yml file",
    );
    assert!(stderr.contains("misnamed.yml"), "{stderr}");
}

#[test]
fn catalog_validate_rejects_dir_without_providers() {
    let empty = TempDir::new().unwrap();
    let only_readme = TempDir::new().unwrap();
    std::fs::write(only_readme.path().join("README.md"), "# not a provider\n").unwrap();

    for dir in [empty.path(), only_readme.path()] {
        let output = run_cli(&["catalog", "validate", dir.to_str().unwrap()]);

        let stderr = stderr_of(&output);
        let dir_text = dir.display().to_string();
        assert_eq!(output.status.code(), Some(1), "{dir_text}: {stderr}");
        assert!(stderr.contains("no provider files"), "{dir_text}: {stderr}");
        assert!(
            stderr.contains(&dir_text),
            "{dir_text}: the message does not name the dir: {stderr}"
        );
    }

    let data = TempDir::new().unwrap();
    let stderr = startup_failure(
        ServerConfig::new(free_port(), data.path(), &[empty.path()]),
        "--catalog-dir of an empty dir",
    );
    assert!(stderr.contains("no provider files"), "{stderr}");
}

#[test]
fn catalog_validate_rejects_missing_path() {
    let parent = TempDir::new().unwrap();
    let missing = parent.path().join("no-such-dir");

    let output = run_cli(&["catalog", "validate", missing.to_str().unwrap()]);

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = format!("path `{}` does not exist", missing.display());
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in: {stderr}"
    );
}

#[test]
fn catalog_validate_rejects_url_pattern_accepting_slash() {
    let catalog = CatalogDir::new();
    let file = catalog.write(
        "loose-pattern",
        r#"name: loose-pattern
display_name: Loose pattern
auth:
  mode: basic
connection_config:
  sub:
    title: Subdomain
    pattern: ".+"
proxy:
  base_url: "https://{{ sub }}.example.com/api"
"#,
    );

    let output = run_cli(&["catalog", "validate", file.to_str().unwrap()]);

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`sub`"),
        "the message does not name the field: {stderr}"
    );
    assert!(
        stderr.contains("accepts"),
        "the message does not name a probe: {stderr}"
    );
}

#[test]
fn catalog_validate_rejects_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());

    // Before the check, reading the FIFO blocked until a writer came.
    let output = run_cli(&["catalog", "validate", fifo.to_str().unwrap()]);

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}
