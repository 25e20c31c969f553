//! Conversion of Nango entries whose mode Latchkey supports but whose
//! token request, authorization URL or connection-config example departs
//! from the common shape.

use latchkey_catalog::{
    import_nango, parse_provider, Auth, ClientAuth, ImportReport, Provider, TokenBodyFormat,
};

const FIXTURE: &str = r#"
meeting-cc:
    display_name: Meeting
    auth_mode: OAUTH2_CC
    token_url: https://meeting.test/oauth/token
    token_request_auth_method: basic
    token_params:
        grant_type: account_credentials
        account_id: ${connectionConfig.accountId}
    proxy:
        base_url: https://api.meeting.test
    connection_config:
        accountId:
            type: string
            title: Account
password-cc:
    display_name: Password
    auth_mode: OAUTH2_CC
    token_url: https://password.test/token
    token_params:
        grant_type: password
    proxy:
        base_url: https://api.password.test
query-cc:
    display_name: Query
    auth_mode: OAUTH2_CC
    token_url: https://query.test/oauth2/token
    token_request_auth_method: basic
    body_format: query
    token_params:
        grant_type: client_credentials
    proxy:
        base_url: https://api.query.test
scoped:
    display_name: Scoped
    auth_mode: OAUTH2
    authorization_url: https://scoped.test/authorize
    token_url: https://scoped.test/token
    scope_separator: ','
    authorization_params:
        response_type: code
        scope: public_api,calls
    proxy:
        base_url: https://api.scoped.test
templated-scope-cc:
    display_name: Templated scope
    auth_mode: OAUTH2_CC
    token_url: https://login.templated.test/token
    token_params:
        grant_type: client_credentials
        scope: https://${connectionConfig.instance}.templated.test/.default
    proxy:
        base_url: https://${connectionConfig.instance}.templated.test
    connection_config:
        instance:
            type: string
            pattern: ^[a-z0-9-]+$
spa:
    display_name: Spa
    auth_mode: OAUTH2
    authorization_url: https://spa.test
    authorization_url_fragment: oauth/authorize
    token_url: https://spa.test/api/oauth/token
    proxy:
        base_url: https://spa.test/api
suffixed:
    display_name: Suffixed
    auth_mode: API_KEY
    proxy:
        base_url: https://${connectionConfig.hostname}/api/
        headers:
            authorization: Bearer ${apiKey}
    connection_config:
        hostname:
            type: string
            format: hostname
            example: yourcompany
            prefix: https://
            suffix: .suffixed.test
masked:
    display_name: Masked
    auth_mode: API_KEY
    proxy:
        base_url: https://${connectionConfig.environmentId}.live.masked.test
        headers:
            authorization: Api-Token ${apiKey}
    connection_config:
        environmentId:
            type: string
            pattern: ^[a-z0-9]+$
            example: mew08***
schemed:
    display_name: Schemed
    auth_mode: BASIC
    proxy:
        base_url: https://${connectionConfig.host}
    connection_config:
        host:
            type: string
            pattern: ^https?:\/\/[a-z0-9.-]+$
            example: https://acme.schemed.test
mcp-no-base:
    display_name: MCP without base URL
    auth_mode: MCP_OAUTH2
    client_registration: dynamic
    authorization_url: https://mcp.nobase.test/authorize
    token_url: https://mcp.nobase.test/token
    registration_url: https://mcp.nobase.test/register
generic-mcp:
    display_name: Generic MCP
    auth_mode: MCP_OAUTH2_GENERIC
    connection_config:
        mcp_server_url:
            type: string
            title: MCP server URL
            example: https://mcp.generic.test/mcp
            pattern: ^https://[a-zA-Z0-9.-]+(?:\:[0-9]+)?(?:/.*)?$
open-none:
    display_name: Open
    auth_mode: NONE
token-less-cc:
    display_name: Token-less
    auth_mode: OAUTH2_CC
    proxy:
        base_url: https://api.tokenless.test
        headers:
            authorization: Bearer ${apiKey}
schemed-loose:
    display_name: Schemed without pattern
    auth_mode: BASIC
    proxy:
        base_url: https://${connectionConfig.host}
    connection_config:
        host:
            type: string
            example: https://acme.schemed.test
certificate-cc:
    display_name: Certificate
    auth_mode: OAUTH2_CC
    token_url: https://certificate.test/token
    require_client_certificate: true
    proxy:
        base_url: https://api.certificate.test
    credentials:
        client_certificate:
            type: string
            secret: true
        client_private_key:
            type: string
            secret: true
certificate-basic:
    display_name: Certificate basic
    auth_mode: BASIC
    require_client_certificate: true
    proxy:
        base_url: https://api.certificate.test
signed-cc:
    display_name: Signed
    auth_mode: OAUTH2_CC
    token_url: https://signed.test/token
    token_request_auth_method: private_key_jwt
    proxy:
        base_url: https://api.signed.test
instant-cc:
    display_name: Instant
    auth_mode: OAUTH2_CC
    token_url: https://instant.test/token
    token_expires_in_ms: 500
    proxy:
        base_url: https://api.instant.test
"#;

fn import() -> (tempfile::TempDir, ImportReport) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("providers.yaml");
    std::fs::write(&input, FIXTURE).unwrap();
    let report = import_nango(&input, &dir.path().join("out")).unwrap();
    (dir, report)
}

fn converted(dir: &tempfile::TempDir, name: &str) -> (String, Provider) {
    let path = dir.path().join(format!("out/{name}.yaml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let provider = parse_provider(&format!("{name}.yaml"), &text).unwrap();
    (text, provider)
}

fn reason<'a>(report: &'a ImportReport, name: &str) -> &'a str {
    report
        .not_converted
        .iter()
        .find(|entry| entry.name == name)
        .map(|entry| entry.reason.message.as_str())
        .unwrap_or_else(|| panic!("{name} was converted"))
}

#[test]
fn client_certificate_converts() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "certificate-cc");
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert!(settings.require_client_certificate);
    assert_eq!(settings.token_url, "https://certificate.test/token");
}

#[test]
fn own_grant_type_converts() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "meeting-cc");
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(settings.grant_type.as_deref(), Some("account_credentials"));
    assert_eq!(settings.token_params["account_id"], "{{ accountId }}");
    assert!(!settings.token_params.contains_key("grant_type"));
}

#[test]
fn password_grant_without_user_unconverted() {
    let (_dir, report) = import();
    assert_eq!(
        reason(&report, "password-cc"),
        "`token_params.grant_type` is `password`, but `token_params` has no `username` to send"
    );
}

#[test]
fn query_body_format_uses_basic_only() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "query-cc");
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(settings.token_body_format, TokenBodyFormat::Query);
    assert_eq!(settings.client_auth, ClientAuth::Basic);
}

#[test]
fn scope_param_becomes_default_scopes() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "scoped");
    let Auth::Oauth2(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(settings.default_scopes, ["public_api", "calls"]);
    assert!(!settings.authorization_params.contains_key("scope"));
}

#[test]
fn templated_scope_becomes_default_scope() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "templated-scope-cc");
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(
        settings.default_scopes,
        ["https://{{ instance }}.templated.test/.default"]
    );
    assert!(!settings.token_params.contains_key("scope"));
}

#[test]
fn authorization_url_fragment_converts() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "spa");
    let Auth::Oauth2(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(
        settings.authorization_url_fragment.as_deref(),
        Some("oauth/authorize")
    );
}

#[test]
fn example_completed_with_suffix() {
    let (dir, _report) = import();
    let (text, provider) = converted(&dir, "suffixed");
    let field = &provider.connection_config["hostname"];
    assert_eq!(field.example.as_deref(), Some("yourcompany.suffixed.test"));
    assert_eq!(field.suffix, None);
    assert_eq!(field.prefix.as_deref(), Some("https://"));
    assert!(!text.contains("suffix:"), "{text}");
}

#[test]
fn example_rejected_by_own_pattern_dropped() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "masked");
    let field = &provider.connection_config["environmentId"];
    assert_eq!(field.example, None);
    assert_eq!(field.pattern.as_deref(), Some("[a-z0-9]+"));
}

#[test]
fn scheme_required_by_pattern_starts_url() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "schemed");
    assert_eq!(provider.proxy.base_url, "{{ host }}");
    let field = &provider.connection_config["host"];
    assert_eq!(field.example.as_deref(), Some("https://acme.schemed.test"));
    assert!(field.accepts("https://acme.schemed.test"));
    assert!(!field.accepts("http://acme.schemed.test"));
}

#[test]
fn mcp_without_base_url_uses_authorization_origin() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "mcp-no-base");
    assert_eq!(provider.proxy.base_url, "https://mcp.nobase.test");
}

#[test]
fn generic_mcp_takes_whole_server_url() {
    let (dir, _report) = import();
    let (_text, provider) = converted(&dir, "generic-mcp");
    let Auth::McpOauth2(mcp) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(mcp.server_url.as_deref(), Some("{{ mcp_server_url }}"));
    assert_eq!(provider.proxy.base_url, "{{ mcp_server_url }}");
    let field = &provider.connection_config["mcp_server_url"];
    assert_eq!(field.format, Some(latchkey_catalog::FieldFormat::BaseUrl));
    assert!(field.accepts("https://mcp.generic.test/mcp"));
}

#[test]
fn entries_without_needed_urls_not_converted() {
    let (_dir, report) = import();
    assert_eq!(
        reason(&report, "open-none"),
        "`proxy.base_url` is missing, and a provider without a credential or a base URL would make the proxy send requests to any host the caller names"
    );
    assert_eq!(
        reason(&report, "token-less-cc"),
        "`token_url` is missing, so no client-credentials token can be requested; a proxy header that uses `apiKey` does not make the entry an API_KEY one"
    );
}

#[test]
fn example_with_scheme_not_converted() {
    let (_dir, report) = import();
    assert_eq!(
        reason(&report, "schemed-loose"),
        "the example `https://acme.schemed.test` of connection-config field `host` starts with a scheme, but the URL template already writes `https://` before the field"
    );
}

#[test]
fn unconverted_fields_name_their_need() {
    let (_dir, report) = import();
    assert_eq!(
        reason(&report, "certificate-basic"),
        "Nango field `require_client_certificate` has no Latchkey equivalent: Latchkey presents a TLS client certificate only in the oauth2_client_credentials mode (Nango's OAUTH2_CC)"
    );
    assert_eq!(
        reason(&report, "signed-cc"),
        "Nango field `token_request_auth_method` has no Latchkey equivalent: `private_key_jwt` signs a JWT client assertion with the client's private key (RFC 7523), and the OAuth modes send only a client secret"
    );
    assert_eq!(
        reason(&report, "instant-cc"),
        "Nango field `token_expires_in_ms` is `500`, a lifetime under one second, and `token_response.default_expires_in` takes whole seconds"
    );
}
