//! The `post_connection` section of a provider file: parsing, defaults and
//! the diagnostics for invalid steps.

use latchkey_catalog::{parse_provider, Catalog, PostConnectionMethod, ResponseSelection};

const STEPS: &str = r#"name: sites
display_name: Sites
auth:
  mode: oauth2
  authorization_url: https://auth.sites.example/authorize
  token_url: https://auth.sites.example/token
connection_config:
  siteId: {title: Site ID, pattern: "[a-z0-9-]+", automated: true}
  region: {title: Region, pattern: "[a-z]+", automated: true}
proxy:
  base_url: "https://{{ region }}.api.sites.example/{{ siteId }}"
post_connection:
  - url: https://api.sites.example/accessible
    select: first
    connection_config: {siteId: id}
    metadata: {sites: $}
  - method: POST
    url: "https://api.sites.example/{{ siteId }}/region"
    headers: {Authorization: "Token {{ access_token }}"}
    connection_config: {region: data.region}
"#;

#[test]
fn steps_parse_with_defaults() {
    let provider = parse_provider("sites.yaml", STEPS).unwrap();

    let [first, second] = provider.post_connection.as_slice() else {
        panic!("expected two steps: {:?}", provider.post_connection);
    };
    assert_eq!(first.method, PostConnectionMethod::Get);
    assert_eq!(first.url, "https://api.sites.example/accessible");
    assert!(first.headers.is_empty());
    assert_eq!(first.select, ResponseSelection::First);
    assert_eq!(first.connection_config["siteId"], "id");
    assert_eq!(first.metadata["sites"], "$");
    assert_eq!(second.method, PostConnectionMethod::Post);
    assert_eq!(second.select, ResponseSelection::Whole);
    assert_eq!(second.headers["Authorization"], "Token {{ access_token }}");
    assert_eq!(second.connection_config["region"], "data.region");
    assert!(second.metadata.is_empty());
}

#[test]
fn invalid_steps_rejected() {
    // (case, replaced text, replacement, expected message part)
    #[rustfmt::skip]
    let cases = [
        ("undeclared key", "connection_config: {siteId: id}", "connection_config: {site: id}", "`site` is filled by a post-connection step but not declared in `connection_config`"),
        ("unknown selection", "select: first", "select: last", "invalid value `last`"),
        ("unknown method", "method: POST", "method: DELETE", "invalid value `DELETE`"),
        ("empty path", "connection_config: {region: data.region}", "connection_config: {region: \"\"}", "does not match the pattern"),
        ("path with empty segment", "metadata: {sites: $}", "metadata: {sites: a..b}", "does not match the pattern"),
        ("nothing to read", "    connection_config: {region: data.region}\n", "", "missing required fields under `post_connection[1]`"),
        ("missing url", "  - url: https://api.sites.example/accessible\n    select", "  - select", "missing required field `url`"),
        ("plain http url", "url: https://api.sites.example/accessible", "url: http://api.sites.example/accessible", "URL `http://api.sites.example/accessible` does not use https"),
        ("undeclared variable in url", "{{ siteId }}/region", "{{ site }}/region", "template variable `site` is not a declared connection-config key"),
        ("unknown field", "select: first", "select: first\n    body: {}", "unknown field `body`"),
    ];

    for (case, from, to, expected) in cases {
        assert!(STEPS.contains(from), "{case}: the fixture lacks {from:?}");
        let source = STEPS.replacen(from, to, 1);

        let diagnostics = parse_provider("sites.yaml", &source).unwrap_err();

        let rendered: String = diagnostics.iter().map(ToString::to_string).collect();
        assert!(rendered.contains(expected), "{case}: {rendered}");
    }
}

#[test]
fn atlassian_files_read_accessible_resources() {
    let catalog = Catalog::builtin().unwrap();

    for name in ["jira", "confluence"] {
        let provider = catalog.get(name).unwrap();
        let [step] = provider.post_connection.as_slice() else {
            panic!("{name}: expected one step");
        };
        assert_eq!(
            step.url, "https://api.atlassian.com/oauth/token/accessible-resources",
            "{name}"
        );
        assert_eq!(step.select, ResponseSelection::First, "{name}");
        assert_eq!(step.connection_config["cloudId"], "id", "{name}");
        assert_eq!(step.metadata["accessibleResources"], "$", "{name}");
        assert!(provider.connection_config["cloudId"].automated, "{name}");
    }
}
