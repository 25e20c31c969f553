//! Runs `openapi-spec-validator` (pinned in `tests/peers/requirements.txt`)
//! over the document of every built-in provider and the Latchkey API
//! document, in one process so the test stays fast.

use std::path::PathBuf;
use std::process::Command;

use latchkey_catalog::Catalog;
use latchkey_codegen::openapi::{latchkey_api_document, provider_document};

const CATALOG_VERSION: &str = "0.1.0";

fn validator_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/peers/.venv/bin/openapi-spec-validator")
}

#[test]
fn every_document_passes_validator() {
    let validator = validator_path();
    assert!(
        validator.is_file(),
        "{} is missing: install the Python test peers with \
         `python3 -m venv tests/peers/.venv && tests/peers/.venv/bin/pip install -r tests/peers/requirements.txt` \
         (scripts/test.sh does this)",
        validator.display()
    );

    let catalog = Catalog::builtin().expect("the built-in catalog loads");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for provider in catalog.providers() {
        let text = provider_document(provider, CATALOG_VERSION)
            .unwrap_or_else(|error| panic!("provider `{}`: {error}", provider.name));
        let path = dir.path().join(format!("{}.json", provider.name));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let api_path = dir.path().join("latchkey-api.json");
    std::fs::write(&api_path, latchkey_api_document(CATALOG_VERSION).unwrap()).unwrap();
    files.push(api_path);
    assert!(files.len() > 900, "only {} documents", files.len());

    let output = Command::new(&validator)
        .args(["--validation-errors", "all"])
        .args(&files)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", validator.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failures: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| !line.ends_with(": OK"))
        .collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "openapi-spec-validator exited with {}:\n{}",
        output.status,
        failures.join("\n")
    );
    let passed = stdout.lines().filter(|line| line.ends_with(": OK")).count();
    assert_eq!(passed, files.len(), "validator output:\n{stdout}");
}
