//! The `steps` of a `two_step` login and the token reply forms that the
//! chained logins use: parsing, and the diagnostics for invalid chains.

use latchkey_catalog::{parse_provider, Auth, TimeFormat, TokenBody, TokenRequestMethod};

const CHAIN: &str = r#"name: chain
display_name: Chain
auth:
  mode: two_step
  credentials:
    username: {title: Username}
    password: {title: Password, secret: true}
  token_request:
    url: "https://{{ domain }}/Platform/Home/IdentityServiceInfo"
    method: GET
  steps:
    - url: "{{ step1.IdentityServiceUrl }}/.well-known/openid-configuration"
      method: GET
    - url: "{{ step2.token_endpoint }}"
      params:
        grant_type: password
        username: "{{ username }}"
        password: "{{ password }}"
      headers:
        X-Service: "{{ step1.IdentityServiceUrl }}"
  token_response:
    body: object
    expires_at: {path: credentials.left, format: remaining_hms}
connection_config:
  domain: {title: Domain, format: hostname, pattern: "[a-z0-9]+(\\.[a-z0-9]+)+"}
proxy:
  base_url: "https://{{ domain }}/Platform"
"#;

#[test]
fn steps_parse() {
    let provider = parse_provider("chain.yaml", CHAIN).unwrap();

    let Auth::TwoStep(settings) = &provider.auth else {
        panic!("chain is not two_step");
    };
    let [discovery, token] = settings.steps.as_slice() else {
        panic!("expected two steps: {:?}", settings.steps);
    };
    assert_eq!(discovery.method, TokenRequestMethod::Get);
    assert_eq!(
        discovery.url,
        "{{ step1.IdentityServiceUrl }}/.well-known/openid-configuration"
    );
    assert_eq!(token.method, TokenRequestMethod::Post);
    assert_eq!(token.url, "{{ step2.token_endpoint }}");
    assert_eq!(token.headers["X-Service"], "{{ step1.IdentityServiceUrl }}");
    assert_eq!(settings.token_response.body, TokenBody::Object);
    let expires_at = settings.token_response.expires_at.as_ref().unwrap();
    assert_eq!(expires_at.format, TimeFormat::RemainingHms);
}

#[test]
fn invalid_chains_rejected() {
    // (case, replaced text, replacement, expected message part)
    #[rustfmt::skip]
    let cases = [
        ("reply of the same step", "{{ step2.token_endpoint }}", "{{ step3.token_endpoint }}", "template variable `step3`"),
        ("reply of a later step", "url: \"{{ step1.IdentityServiceUrl }}/.well-known", "url: \"{{ step2.IdentityServiceUrl }}/.well-known", "template variable `step2`"),
        ("step reply in the first request", "url: \"https://{{ domain }}/Platform/Home", "url: \"https://{{ step1.domain }}/Platform/Home", "template variable `step1`"),
        ("step zero", "{{ step2.token_endpoint }}", "{{ step0.token_endpoint }}", "template variable `step0`"),
        ("plain http step url", "url: \"{{ step2.token_endpoint }}\"", "url: \"http://login.chain.example/token\"", "does not use https"),
        ("unknown body", "body: object", "body: text", "invalid value `text`"),
        ("cookies without capture_cookies", "X-Service: \"{{ step1.IdentityServiceUrl }}\"", "X-Service: \"{{ cookies }}\"", "template variable `cookies`"),
        ("expiry path with a token body", "body: object", "body: token", "`expires_at` reads a path, but with `body: token` the reply has no object to read"),
        ("field named like a reply", "password: {title: Password, secret: true}", "step1: {title: Password, secret: true}", "credential field `step1` has the name of a step reply variable"),
        ("unknown time format", "format: remaining_hms", "format: remaining", "invalid value `remaining`"),
    ];

    for (case, from, to, expected) in cases {
        assert!(CHAIN.contains(from), "{case}: the fixture lacks {from:?}");
        let source = CHAIN.replacen(from, to, 1);

        let diagnostics = parse_provider("chain.yaml", &source).unwrap_err();

        let rendered: String = diagnostics.iter().map(ToString::to_string).collect();
        assert!(rendered.contains(expected), "{case}: {rendered}");
    }
}

#[test]
fn captured_cookies_reach_proxy_headers_only() {
    let with_cookies = CHAIN
        .replacen("    body: object\n", "    capture_cookies: true\n", 1)
        .replacen(
            "  base_url: \"https://{{ domain }}/Platform\"\n",
            "  base_url: \"https://{{ domain }}/Platform\"\n  headers:\n    Cookie: \"{{ cookies }}\"\n",
            1,
        );
    assert!(with_cookies.contains("Cookie:"), "the fixture changed");

    let provider = parse_provider("chain.yaml", &with_cookies).unwrap();
    assert_eq!(provider.proxy.headers["Cookie"], "{{ cookies }}");

    let in_login = with_cookies.replacen(
        "X-Service: \"{{ step1.IdentityServiceUrl }}\"",
        "X-Service: \"{{ cookies }}\"",
        1,
    );
    let diagnostics = parse_provider("chain.yaml", &in_login).unwrap_err();
    let rendered: String = diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        rendered.contains("template variable `cookies`"),
        "{rendered}"
    );
}

#[test]
fn empty_step_list_rejected() {
    let start = CHAIN.find("  steps:\n").unwrap();
    let end = CHAIN.find("  token_response:").unwrap();
    let source = format!("{}  steps: []\n{}", &CHAIN[..start], &CHAIN[end..]);

    let diagnostics = parse_provider("chain.yaml", &source).unwrap_err();

    let rendered: String = diagnostics.iter().map(ToString::to_string).collect();
    assert!(rendered.contains("auth.steps"), "{rendered}");
}
