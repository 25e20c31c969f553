//! Runs `openapi-spec-validator` (pinned in `tests/peers/requirements.txt`)
//! over the document of every built-in provider and the Latchkey API
//! document. The files are split across one validator process per core,
//! because the validator checks its files one after another.

use std::path::PathBuf;
use std::process::{Command, Stdio};

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

    let processes = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk_size = files.len().div_ceil(processes);
    let children: Vec<_> = files
        .chunks(chunk_size)
        .map(|chunk| {
            Command::new(&validator)
                .args(["--validation-errors", "all"])
                .args(chunk)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", validator.display()))
        })
        .collect();
    let mut stdout = String::new();
    let mut failures = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let chunk_stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let chunk_stderr = String::from_utf8_lossy(&output.stderr);
        failures.extend(
            chunk_stdout
                .lines()
                .chain(chunk_stderr.lines())
                .filter(|line| !line.ends_with(": OK"))
                .map(str::to_owned),
        );
        if !output.status.success() {
            failures.push(format!("a validator process exited with {}", output.status));
        }
        stdout.push_str(&chunk_stdout);
    }
    assert!(
        failures.is_empty(),
        "openapi-spec-validator reported:\n{}",
        failures.join("\n")
    );
    let passed = stdout.lines().filter(|line| line.ends_with(": OK")).count();
    assert_eq!(passed, files.len(), "validator output:\n{stdout}");
}
