//! `latchkey codegen`: its errors on bad input, `--check`, and the generated
//! Rust crate for the whole built-in catalog, which must pass clippy and
//! rustfmt, pass its own tests and `tests/generated_crate/`, build, and
//! create a Confluence page through a running Latchkey with
//! `examples/confluence_page.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::{json, Value};

use support::latchkey::{run_cli, CatalogDir, CatalogServer};
use support::peers::Httpbin;
use support::{random_hex, unused_oauth2_auth};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn codegen(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["codegen", "--out", out.to_str().expect("a UTF-8 path")];
    args.extend_from_slice(extra);
    run_cli(&args)
}

#[test]
fn codegen_rejects_unknown_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = codegen(
        &out,
        &["--provider", "confluence", "--provider", "confluenc"],
    );
    assert!(
        !output.status.success(),
        "codegen accepted an unknown provider"
    );
    let message = stderr(&output);
    assert!(
        message.contains("unknown provider `confluenc`"),
        "{message}"
    );
    assert!(message.contains("did you mean `confluence`"), "{message}");
    assert!(!out.exists(), "a failed run created the output directory");
}

#[test]
fn codegen_rejects_empty_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = codegen(&out, &["--provider", ""]);
    assert!(!output.status.success(), "codegen accepted an empty name");
    let message = stderr(&output);
    assert!(
        message.contains("the provider name `` is empty"),
        "{message}"
    );
    assert!(message.contains("leave out `--provider`"), "{message}");
    assert!(!out.exists(), "a failed run created the output directory");
}

#[test]
fn codegen_rejects_invalid_catalog() {
    let catalog = CatalogDir::new();
    catalog.write("broken", "name: broken\ndisplay_name: Broken\n");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let catalog_dir = catalog.path().to_str().unwrap();
    let output = codegen(&out, &["--catalog-dir", catalog_dir]);
    assert!(
        !output.status.success(),
        "codegen accepted an invalid catalog"
    );
    let message = stderr(&output);
    assert!(
        message.contains("the provider catalog is invalid"),
        "{message}"
    );
    assert!(message.contains("broken.yaml"), "{message}");
    assert!(
        message.contains("auth"),
        "the schema diagnostic is missing: {message}"
    );
    assert!(!out.exists(), "a failed run created the output directory");
}

#[test]
fn codegen_reports_unwritable_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let out = file.join("out");
    let output = codegen(&out, &["--provider", "openai"]);
    assert!(!output.status.success(), "codegen wrote under a file");
    let message = stderr(&output);
    assert!(
        message.contains("cannot write the generated files"),
        "{message}"
    );
    assert!(message.contains("plain-file/out"), "{message}");
    assert!(message.contains("cannot create the directory"), "{message}");
    assert!(
        message.contains("choose another output directory"),
        "{message}"
    );
    assert_eq!(
        message.matches("is not a directory").count(),
        1,
        "the cause is not stated once: {message}"
    );
}

#[test]
fn codegen_check_names_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let selection = ["--provider", "openai", "--provider", "confluence"];
    let written = codegen(&out, &selection);
    assert!(written.status.success(), "{}", stderr(&written));

    let mut check_args = selection.to_vec();
    check_args.push("--check");
    let clean = codegen(&out, &check_args);
    assert!(clean.status.success(), "{}", stderr(&clean));
    assert!(
        stdout(&clean).contains("is up to date"),
        "{}",
        stdout(&clean)
    );

    let module = out.join("rust/src/providers/openai.rs");
    let edited = std::fs::read_to_string(&module).unwrap() + "// edited\n";
    std::fs::write(&module, edited).unwrap();
    std::fs::remove_file(out.join("openapi/confluence.json")).unwrap();
    let stale = codegen(&out, &check_args);
    assert!(
        !stale.status.success(),
        "--check passed over an edited file"
    );
    let message = stderr(&stale);
    assert!(
        message.contains("rust/src/providers/openai.rs: out of date"),
        "{message}"
    );
    assert!(
        message.contains("openapi/confluence.json: missing"),
        "{message}"
    );
    assert!(
        message.contains("--provider openai --provider confluence"),
        "{message}"
    );

    let full_check = codegen(&out, &["--check"]);
    assert!(
        !full_check.status.success(),
        "a partial directory passed a full check"
    );
    assert!(stderr(&full_check).contains("rust/src/providers/zendesk.rs: missing"));
}

/// Returns the Confluence stand-in of the README walkthrough test: httpbin's
/// echo under Atlassian's path layout, so the upstream URL shows the cloud
/// id.
fn confluence_stand_in(httpbin_base_url: &str) -> String {
    let cloud_id = r#"
connection_config:
  cloud_id:
    title: Cloud ID
    pattern: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
"#;
    support::provider_file(
        "confluence",
        "Confluence (httpbin stand-in)",
        &unused_oauth2_auth(httpbin_base_url),
        &format!("{httpbin_base_url}/anything/ex/confluence/{{{{ cloud_id }}}}"),
        cloud_id,
    )
}

/// Runs `command` in `dir` with the generated crate's target directory, and
/// fails the test with its output unless it succeeds. Returns the seconds it
/// took.
fn run_in(dir: &Path, target_dir: &Path, program: &str, args: &[&str]) -> f64 {
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        // The crate has one module per provider, and incremental state for
        // it takes gigabytes that a test run never reuses.
        .env("CARGO_INCREMENTAL", "0")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    started.elapsed().as_secs_f64()
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Generates the crate for the whole built-in catalog and builds it with the
/// workspace's dependency versions. The crate and its target directory live
/// under Cargo's temporary directory for tests, and unchanged files are not
/// rewritten, so a later run rebuilds only what changed. Prints each step's
/// time.
fn build_generated_crate(out: &Path) -> PathBuf {
    let started = Instant::now();
    let output = codegen(out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    eprintln!(
        "codegen of the whole catalog: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let crate_dir = out.join("rust");
    copy_if_changed(
        &workspace_root().join("Cargo.lock"),
        &crate_dir.join("Cargo.lock"),
    );
    std::fs::create_dir_all(crate_dir.join("examples")).unwrap();
    copy_if_changed(
        &workspace_root().join("examples/confluence_page.rs"),
        &crate_dir.join("examples/confluence_page.rs"),
    );
    std::fs::create_dir_all(crate_dir.join("tests")).unwrap();
    copy_if_changed(
        &workspace_root().join("tests/generated_crate/connection_config.rs"),
        &crate_dir.join("tests/connection_config.rs"),
    );

    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-crate");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let format = run_in(
        &crate_dir,
        &target_dir,
        "rustfmt",
        &[
            "--edition",
            "2021",
            "--check",
            "src/lib.rs",
            "examples/confluence_page.rs",
            "tests/connection_config.rs",
        ],
    );
    eprintln!("rustfmt --check: {format:.1} s");
    let clippy = run_in(
        &crate_dir,
        &target_dir,
        &cargo,
        &[
            "clippy",
            "--offline",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );
    eprintln!("cargo clippy --all-targets: {clippy:.1} s");
    let test = run_in(
        &crate_dir,
        &target_dir,
        &cargo,
        &[
            "test",
            "--offline",
            "--lib",
            "--test",
            "connection_config",
            "--example",
            "confluence_page",
        ],
    );
    eprintln!("cargo test --lib --test connection_config --example confluence_page: {test:.1} s");
    // `cargo test` builds the example as a test harness, so build the
    // program itself.
    let build = run_in(
        &crate_dir,
        &target_dir,
        &cargo,
        &["build", "--offline", "--example", "confluence_page"],
    );
    eprintln!("cargo build --example confluence_page: {build:.1} s");
    target_dir.join("debug/examples/confluence_page")
}

/// Copies `from` to `to` unless `to` has the same content, so that the file's
/// modification time stays and Cargo does not rebuild on a later run.
fn copy_if_changed(from: &Path, to: &Path) {
    let content = std::fs::read(from).unwrap();
    if std::fs::read(to).ok().as_ref() != Some(&content) {
        std::fs::write(to, content).unwrap();
    }
}

/// The generated client creates the README walkthrough's Confluence page
/// through a running Latchkey: the upstream receives the `storage` body at
/// Atlassian's path with the stored token, under an integration whose key is
/// not the provider's name.
#[tokio::test(flavor = "multi_thread")]
async fn generated_client_creates_confluence_page() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-crate-out");
    let example = tokio::task::spawn_blocking(move || build_generated_crate(&out))
        .await
        .unwrap();

    let httpbin = Httpbin::start();
    let catalog = CatalogDir::new();
    catalog.write("confluence", &confluence_stand_in(&httpbin.base_url));
    let latchkey = CatalogServer::start(catalog, &[]);
    let api = latchkey.server.api();
    let cloud_id = "1324a887-45db-1bf4-1e99-ef0ff456d421";
    let token = format!("atlassian-token-{}", random_hex(8));
    let key = format!("docs-{}", random_hex(4));
    api.create_integration(&json!({
        "unique_key": key,
        "provider": "confluence",
        "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret"},
    }))
    .await;
    api.create_connection(&json!({
        "provider_config_key": key,
        "connection_id": "ada-confluence",
        "connection_config": {"cloud_id": cloud_id},
        "credentials": {"type": "OAUTH2", "access_token": token,
                        "expires_at": "2099-12-31T12:00:00Z"},
    }))
    .await;

    let run = |connection_id: &str| {
        Command::new(&example)
            .env("LATCHKEY_URL", &latchkey.server.base_url)
            .env("LATCHKEY_SECRET_KEY", &api.secret_key)
            .env("INTEGRATION_KEY", &key)
            .env("CONNECTION_ID", connection_id)
            .env("SPACE_ID", "65538")
            .output()
            .expect("run the example")
    };
    let output = run("ada-confluence");
    assert!(
        output.status.success(),
        "the example failed: {}",
        stderr(&output)
    );
    let echo: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&output)));
    let expected_url = format!(
        "{}/anything/ex/confluence/{cloud_id}/wiki/api/v2/pages",
        httpbin.base_url
    );
    assert_eq!(echo["url"], expected_url.as_str());
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["headers"]["Authorization"],
        format!("Bearer {token}").as_str()
    );
    assert_eq!(echo["json"]["spaceId"], "65538");
    assert_eq!(echo["json"]["body"]["representation"], "storage");
    assert_eq!(
        echo["json"]["body"]["value"],
        "<p>Written by an agent through Latchkey.</p>"
    );
    let echoed = echo.to_string();
    assert!(
        !echoed.contains(&api.secret_key),
        "the secret key reached the upstream"
    );

    let missing = run("no-such-connection");
    assert!(
        !missing.status.success(),
        "the example succeeded for an unknown connection"
    );
    let message = stderr(&missing);
    assert!(message.contains("status 404"), "{message}");
    assert!(message.contains("unknown_connection"), "{message}");
}
