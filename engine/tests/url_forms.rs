//! Rendering of base URLs from fields with `format: base_url` and
//! `format: host_port_path`, and the catalog check that keeps such a field
//! where its format applies.

use latchkey_catalog::{parse_provider, Provider};
use latchkey_engine::{base_url, ConnectionConfig};
use serde_json::json;

const BASE_URL_PROVIDER: &str = r#"
name: test
display_name: SCIM
auth:
  mode: api_key
  inject: {name: authorization, value: "Bearer {{ api_key }}"}
connection_config:
  endpoint: {title: Endpoint, format: base_url}
proxy:
  base_url: "{{ endpoint }}/scim"
"#;

const HOST_PORT_PATH_PROVIDER: &str = r#"
name: test
display_name: ADOxx
auth:
  mode: basic
connection_config:
  site: {title: Site, format: host_port_path, pattern: "[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9]+)*"}
proxy:
  base_url: "https://{{ site }}/rest"
"#;

fn provider(source: &str) -> Provider {
    parse_provider("test.yaml", source).unwrap_or_else(|problems| panic!("{problems:?}"))
}

fn render(provider: &Provider, key: &str, value: &str) -> Result<String, String> {
    let mut config = ConnectionConfig::new();
    config.insert(key.to_owned(), json!(value));
    base_url(provider, &config)
        .map(|url| url.to_string())
        .map_err(|error| error.to_string())
}

#[test]
fn base_url_renders_host_port_and_path() {
    let provider = provider(BASE_URL_PROVIDER);
    let cases = [
        (
            "https://scim.example.com/tenant/v2",
            "https://scim.example.com/tenant/v2/scim",
        ),
        ("https://scim.example.com", "https://scim.example.com/scim"),
        (
            "https://scim.example.com:8443/t",
            "https://scim.example.com:8443/t/scim",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(
            render(&provider, "endpoint", value).as_deref(),
            Ok(expected)
        );
    }
}

#[test]
fn base_url_rejects_unsafe_values() {
    let provider = provider(BASE_URL_PROVIDER);
    let cases = [
        ("http://scim.example.com/t", "must start with `https://`"),
        ("https://user@scim.example.com/t", "must be a DNS name"),
        (
            "https://scim.example.com@evil.example/t",
            "must be a DNS name",
        ),
        ("https://127.0.0.1/t", "not an IP address"),
        ("https://0x7f.1/t", "not an IP address"),
        ("https://localhost/t", "must be a DNS name"),
        ("https://api.internal/t", "internal name under `.internal`"),
        ("https://scim.example.com/a/../b", "`..` segment"),
        ("https://scim.example.com/t?x=1", "contains '?'"),
        ("https://scim.example.com/t#x", "contains '#'"),
        ("https://scim.example.com/%2e%2e", "contains '%'"),
        ("https://scim.example.com/t\\x", "contains '\\\\'"),
        ("https://scim.example.com/t\n", "control character U+000A"),
    ];
    for (value, expected) in cases {
        let error = render(&provider, "endpoint", value).expect_err(value);
        assert!(error.contains("`endpoint`"), "{value}: {error}");
        assert!(error.contains(expected), "{value}: {error}");
    }
}

#[test]
fn host_port_path_renders_after_scheme() {
    let provider = provider(HOST_PORT_PATH_PROVIDER);
    let cases = [
        (
            "yourcompany.com:8000/ADOXX",
            "https://yourcompany.com:8000/ADOXX/rest",
        ),
        ("acme.example.com", "https://acme.example.com/rest"),
    ];
    for (value, expected) in cases {
        assert_eq!(render(&provider, "site", value).as_deref(), Ok(expected));
    }
}

#[test]
fn host_port_path_rejects_unsafe_values() {
    let provider = provider(HOST_PORT_PATH_PROVIDER);
    let cases = [
        ("evil.example@acme.example.com", "pattern"),
        ("localhost:8080", "must be a DNS name"),
        ("10.0.0.1/api", "not an IP address"),
        ("acme.lan", "internal name under `.lan`"),
        ("acme.example.com:0", "port \"0\""),
        ("acme.example.com:99999", "port \"99999\""),
    ];
    for (value, expected) in cases {
        let error = render(&provider, "site", value).expect_err(value);
        assert!(error.contains(expected), "{value}: {error}");
    }
}

#[test]
fn host_port_path_still_checks_pattern() {
    let provider = provider(HOST_PORT_PATH_PROVIDER);
    let error = render(&provider, "site", "acme.example.com/a-b").expect_err("pattern");
    assert!(error.contains("does not match the pattern"), "{error}");
}

#[test]
fn url_form_out_of_place_is_reported() {
    let sources = [
        // A base_url field that does not start the URL.
        BASE_URL_PROVIDER.replace(
            "\"{{ endpoint }}/scim\"",
            "\"https://x.example.com/{{ endpoint }}\"",
        ),
        // A host_port_path field inside the host rather than the whole
        // authority after `https://`.
        HOST_PORT_PATH_PROVIDER.replace(
            "https://{{ site }}/rest",
            "https://{{ site }}.example.com/rest",
        ),
        // A host_port_path field in the path.
        HOST_PORT_PATH_PROVIDER.replace(
            "https://{{ site }}/rest",
            "https://api.example.com/{{ site }}",
        ),
        // A host_port_path field used twice in one URL.
        HOST_PORT_PATH_PROVIDER.replace(
            "https://{{ site }}/rest",
            "https://{{ site }}/rest/{{ site }}",
        ),
    ];
    for source in sources {
        let problems = parse_provider("test.yaml", &source).expect_err(&source);
        let codes: Vec<&str> = problems
            .iter()
            .map(|problem| problem.code.as_str())
            .collect();
        assert!(
            codes.contains(&"url-form-out-of-place"),
            "{codes:?}\n{source}"
        );
    }
}
