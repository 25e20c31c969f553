//! Snapshots of the generated Rust module of one provider per auth mode
//! (copies of built-in files under `fixtures/modes/`, frozen so that catalog
//! edits do not move the snapshots) and of one provider per templating
//! feature (`fixtures/features/`).

use std::fs;
use std::path::Path;

use latchkey_catalog::{parse_provider, Provider};
use latchkey_codegen::rust::{self, module_name};

/// A fixed catalog version, so that the headers do not depend on the
/// workspace.
const VERSION: &str = "0.1.0+fixture";

fn load(dir: &str, name: &str) -> Provider {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(format!("{name}.yaml"));
    let source = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_provider(&format!("{name}.yaml"), &source)
        .unwrap_or_else(|diagnostics| panic!("{}: {diagnostics:?}", path.display()))
}

fn module_source(provider: &Provider) -> String {
    let files = rust::generate(&[provider], VERSION).expect("generate");
    let path = format!("rust/src/providers/{}.rs", module_name(&provider.name));
    files
        .get(&path)
        .unwrap_or_else(|| panic!("no {path} among {:?}", files.keys()))
        .clone()
}

fn assert_module(dir: &str, name: &str) {
    let provider = load(dir, name);
    insta::assert_snapshot!(format!("{dir}__{name}"), module_source(&provider));
}

#[test]
fn mode_oauth2() {
    assert_module("modes", "confluence");
}

#[test]
fn mode_oauth2_client_credentials() {
    assert_module("modes", "1password-users");
}

#[test]
fn mode_api_key() {
    assert_module("modes", "openai");
}

#[test]
fn mode_api_key_with_subdomain() {
    assert_module("modes", "zendesk-api-key");
}

#[test]
fn mode_basic_and_fallbacks() {
    assert_module("features", "fallbacks");
}

#[test]
fn mode_two_step() {
    assert_module("modes", "3cx");
}

#[test]
fn mode_session() {
    assert_module("modes", "bill");
}

#[test]
fn mode_none() {
    assert_module("modes", "open-meteo");
}

#[test]
fn mode_signature() {
    assert_module("modes", "bybit");
}

#[test]
fn mode_aws_sigv4() {
    assert_module("modes", "aws-s3");
}

#[test]
fn mode_jwt() {
    assert_module("modes", "google-service-account");
}

#[test]
fn mode_mcp_oauth2() {
    assert_module("modes", "airtable-mcp");
}

#[test]
fn mode_oauth1() {
    assert_module("modes", "trello");
}

#[test]
fn mode_tba() {
    assert_module("modes", "netsuite-tba");
}

#[test]
fn mode_app() {
    assert_module("modes", "github-app");
}

#[test]
fn feature_url_placeholders() {
    assert_module("features", "url-placeholders");
}

#[test]
fn feature_aws_assume_role() {
    assert_module("features", "aws-assume-role");
}

#[test]
fn feature_field_types() {
    assert_module("features", "2-field-types");
}

#[test]
fn feature_rate_limit() {
    assert_module("features", "rate-limit");
}

/// The crate root lists the providers in the enum, the info table and
/// `Provider::ALL`, laid out for a short list.
#[test]
fn crate_root_for_two_providers() {
    let first = load("features", "rate-limit");
    let second = load("features", "2-field-types");
    let files = rust::generate(&[&second, &first], VERSION).expect("generate");
    insta::assert_snapshot!("crate_root", files["rust/src/lib.rs"]);
}
