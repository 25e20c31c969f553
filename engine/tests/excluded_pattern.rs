//! `excluded_pattern` of a connection-config field in rendered URLs.

use latchkey_catalog::{parse_provider, Provider};
use latchkey_engine::{base_url, ConnectionConfig};
use serde_json::json;

const PROVIDER: &str = r#"
name: test
display_name: Test
auth:
  mode: basic
connection_config:
  hostname:
    title: Hostname
    pattern: "[a-z0-9]+(\\.[a-z0-9]+)+"
    excluded_pattern: "(?:.*\\.)?lightning\\.force\\.com"
    example: acme.my.salesforce.com
proxy:
  base_url: "https://{{ hostname }}/services"
"#;

fn provider() -> Provider {
    parse_provider("test.yaml", PROVIDER).unwrap_or_else(|problems| panic!("{problems:?}"))
}

fn render(value: &str) -> Result<String, String> {
    let mut config = ConnectionConfig::new();
    config.insert("hostname".to_owned(), json!(value));
    base_url(&provider(), &config)
        .map(|url| url.to_string())
        .map_err(|error| error.to_string())
}

#[test]
fn excluded_value_is_rejected() {
    for value in ["acme.lightning.force.com", "lightning.force.com"] {
        let error = render(value).expect_err(value);
        assert!(error.contains("`hostname`"), "{value}: {error}");
        assert!(
            error.contains("matches the excluded pattern"),
            "{value}: {error}"
        );
    }
}

#[test]
fn other_values_render() {
    assert_eq!(
        render("acme.my.salesforce.com").as_deref(),
        Ok("https://acme.my.salesforce.com/services")
    );
    assert_eq!(
        render("acme.lightning.force.com.example").as_deref(),
        Ok("https://acme.lightning.force.com.example/services")
    );
}

#[test]
fn excluded_example_is_reported() {
    let source = PROVIDER.replace(
        "example: acme.my.salesforce.com",
        "example: acme.lightning.force.com",
    );
    let problems = parse_provider("test.yaml", &source).expect_err("example is excluded");
    let codes: Vec<&str> = problems
        .iter()
        .map(|problem| problem.code.as_str())
        .collect();
    assert_eq!(codes, ["example-mismatch"]);
}

#[test]
fn invalid_excluded_pattern_is_reported() {
    let source = PROVIDER.replace(
        "excluded_pattern: \"(?:.*\\\\.)?lightning\\\\.force\\\\.com\"",
        "excluded_pattern: \"(?!x)\"",
    );
    assert_ne!(source, PROVIDER);
    let problems = parse_provider("test.yaml", &source).expect_err("pattern is invalid");
    assert_eq!(
        problems[0].path.as_deref(),
        Some("connection_config.hostname.excluded_pattern")
    );
}
