//! Conversion of Nango OAuth entries that need a Latchkey field or an
//! importer rule beyond the common shape: another `response_type`,
//! templated client-credentials scopes, refresh scopes, a second access
//! token path, `decode_url`, a login with custom client auth, a zero
//! lifetime, keys the mode never reads and a client-ID script.

use latchkey_catalog::{import_nango, parse_provider, Auth, ImportReport, OAuth2, Provider};

const FIXTURE: &str = r#"
hybrid:
    display_name: Hybrid
    auth_mode: OAUTH2
    authorization_url: https://login.hybrid.test/openid/authorize
    token_url: https://api.hybrid.test/token
    authorization_params:
        response_type: code id_token
        response_mode: query
    proxy:
        base_url: https://api.hybrid.test
renamed-code:
    display_name: Renamed code
    auth_mode: OAUTH2
    authorization_url: https://renamed.test/oauth/authorize
    token_url: https://renamed.test/oauth/token
    authorization_params:
        response_type: auth_code
    proxy:
        base_url: https://api.renamed.test
unnamed-code:
    display_name: Unnamed code
    auth_mode: OAUTH2
    authorization_url: https://unnamed.test/oauth2/authorize
    token_url: https://unnamed.test/oauth2/token
    authorization_url_replacements:
        response_type: ''
    proxy:
        base_url: https://api.unnamed.test
removed-and-renamed:
    display_name: Removed and renamed
    auth_mode: OAUTH2
    authorization_url: https://both.test/authorize
    token_url: https://both.test/token
    authorization_params:
        response_type: token
    authorization_url_replacements:
        response_type: ''
    proxy:
        base_url: https://api.both.test
odd-response-type:
    display_name: Odd response type
    auth_mode: OAUTH2
    authorization_url: https://odd.test/authorize
    token_url: https://odd.test/token
    authorization_params:
        response_type: code,token
    proxy:
        base_url: https://api.odd.test
refresh-scoped:
    display_name: Refresh scoped
    auth_mode: OAUTH2
    authorization_url: https://login.refresh.test/authorize
    token_url: https://login.refresh.test/token
    default_scopes:
        - https://ads.refresh.test/manage
        - offline_access
    refresh_params:
        grant_type: refresh_token
        scope: https://ads.refresh.test/manage
    proxy:
        base_url: https://api.refresh.test
refresh-templated:
    display_name: Refresh templated
    auth_mode: OAUTH2
    authorization_url: https://login.refresh.test/authorize
    token_url: https://login.refresh.test/token
    refresh_params:
        scope: https://${connectionConfig.host}/.default
    proxy:
        base_url: https://api.refresh.test
    connection_config:
        host:
            type: string
            format: hostname
user-token:
    display_name: User token
    auth_mode: OAUTH2
    authorization_url: https://user.test/oauth/v2/authorize
    token_url: https://user.test/api/oauth.v2.access
    alternate_access_token_response_path: authed_user
    proxy:
        base_url: https://user.test/api
user-token-cc:
    display_name: User token CC
    auth_mode: OAUTH2_CC
    token_url: https://user.test/api/token
    alternate_access_token_response_path: authed_user
    proxy:
        base_url: https://user.test/api
unused-authorize-cc:
    display_name: Unused authorize
    auth_mode: OAUTH2_CC
    authorization_url: https://unused.test/authorize
    token_url: https://unused.test/token
    proxy:
        base_url: https://unused.test
unused-authorize-login:
    display_name: Unused authorize login
    auth_mode: TWO_STEP
    authorization_url: https://login.test/authorize
    authorization_params:
        prompt: consent
    default_scopes:
        - rest
    token_url: https://login.test/token
    token_params:
        key: ${credentials.key}
    token_response:
        token: access_token
    proxy:
        base_url: https://login.test
    credentials:
        key:
            type: string
            title: Key
            secret: true
expiring-cc:
    display_name: Expiring
    auth_mode: OAUTH2_CC
    token_url: https://expiring.test/token
    token_expires_in_ms: 0
    proxy:
        base_url: https://api.expiring.test
login-cc:
    display_name: Login
    auth_mode: OAUTH2_CC
    body_format: json
    token_request_auth_method: custom
    token_url: https://api.login.test/authenticate
    proxy:
        base_url: https://api.login.test
keyed-cc:
    display_name: Keyed
    auth_mode: OAUTH2_CC
    token_url: https://ims.keyed.test/token
    post_connection_script: adobeUmapiPostConnection
    connection_config:
        clientId:
            type: string
            title: ''
            automated: true
    proxy:
        base_url: https://api.keyed.test
        headers:
            x-api-key: ${connectionConfig.clientId}
decoded:
    display_name: Decoded
    auth_mode: OAUTH2
    authorization_url: https://connect.decoded.test/oauth2/authorize
    token_url: https://connect.decoded.test/oauth2/token
    decode_url: true
    authorization_params:
        session: false
    proxy:
        base_url: https://connect.decoded.test
decoded-template:
    display_name: Decoded template
    auth_mode: OAUTH2
    authorization_url: https://connect.decoded.test/oauth2/authorize
    token_url: https://connect.decoded.test/oauth2/token
    decode_url: true
    authorization_params:
        prompt: select account
    proxy:
        base_url: https://connect.decoded.test
"#;

fn import() -> (tempfile::TempDir, ImportReport) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("providers.yaml");
    std::fs::write(&input, FIXTURE).unwrap();
    let report = import_nango(&input, &dir.path().join("out")).unwrap();
    (dir, report)
}

fn converted(dir: &tempfile::TempDir, name: &str) -> Provider {
    let path = dir.path().join(format!("out/{name}.yaml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    parse_provider(&format!("{name}.yaml"), &text).unwrap()
}

fn oauth2(provider: &Provider) -> &OAuth2 {
    let Auth::Oauth2(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    settings
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
fn response_type_converts() {
    let (dir, _report) = import();
    // (entry, expected `response_type`)
    let cases = [
        ("hybrid", "code id_token"),
        ("renamed-code", "auth_code"),
        ("unnamed-code", ""),
    ];
    for (name, expected) in cases {
        let provider = converted(&dir, name);
        let settings = oauth2(&provider);
        assert_eq!(settings.response_type(), expected, "{name}");
        assert!(
            !settings.authorization_params.contains_key("response_type"),
            "{name}"
        );
        assert!(settings.authorization_param_names.is_empty(), "{name}");
    }
    let hybrid = converted(&dir, "hybrid");
    assert_eq!(
        oauth2(&hybrid).authorization_params["response_mode"],
        "query"
    );
}

#[test]
fn conflicting_response_type_not_converted() {
    let (_dir, report) = import();
    assert_eq!(
        reason(&report, "removed-and-renamed"),
        "Nango field `authorization_url_replacements` has no Latchkey equivalent"
    );
    assert_eq!(
        reason(&report, "odd-response-type"),
        "`authorization_params.response_type` `code,token` is not a list of response names separated by spaces"
    );
}

#[test]
fn invalid_response_type_rejected() {
    let file = |value: &str| {
        format!(
            "name: rt\ndisplay_name: RT\nauth:\n  mode: oauth2\n  authorization_url: https://rt.test/authorize\n  token_url: https://rt.test/token\n  response_type: \"{value}\"\nproxy:\n  base_url: https://rt.test\n"
        )
    };
    for valid in ["code", "code id_token", "auth_code", ""] {
        assert!(parse_provider("rt.yaml", &file(valid)).is_ok(), "{valid:?}");
    }
    for invalid in ["code,token", "code  token", " code", "code\\ntoken"] {
        let error = parse_provider("rt.yaml", &file(invalid)).unwrap_err();
        assert!(
            format!("{error:?}").contains("response_type"),
            "{invalid:?}: {error:?}"
        );
    }
}

#[test]
fn refresh_scope_converts() {
    let (dir, _report) = import();
    let provider = converted(&dir, "refresh-scoped");
    let settings = oauth2(&provider);
    assert_eq!(settings.refresh_scopes, ["https://ads.refresh.test/manage"]);
    assert!(settings.refresh_params.is_empty());
    assert_eq!(
        settings.default_scopes,
        ["https://ads.refresh.test/manage", "offline_access"]
    );
}

#[test]
fn templated_refresh_scope_not_converted() {
    let (_dir, report) = import();
    assert_eq!(
        reason(&report, "refresh-templated"),
        "`refresh_params.scope` is the template `https://${connectionConfig.host}/.default`, but `refresh_scopes` are fixed strings"
    );
}

#[test]
fn default_scope_variable_must_be_declared() {
    let file = |scope: &str| {
        format!(
            "name: cc\ndisplay_name: CC\nauth:\n  mode: oauth2_client_credentials\n  token_url: https://cc.test/token\n  default_scopes: [\"{scope}\"]\nconnection_config:\n  host: {{title: Host, format: hostname}}\nproxy:\n  base_url: https://cc.test\n"
        )
    };
    assert!(parse_provider("cc.yaml", &file("https://{{ host }}/.default")).is_ok());
    let error = parse_provider("cc.yaml", &file("https://{{ missing }}/.default")).unwrap_err();
    let text = format!("{error:?}");
    assert!(text.contains("default_scopes"), "{text}");
    assert!(text.contains("missing"), "{text}");
}

#[test]
fn alternate_token_path_converts() {
    let (dir, report) = import();
    let provider = converted(&dir, "user-token");
    let settings = oauth2(&provider);
    assert_eq!(settings.token_response.access_token, "access_token");
    assert_eq!(
        settings.token_response.access_token_fallback.as_deref(),
        Some("authed_user.access_token")
    );
    assert_eq!(
        reason(&report, "user-token-cc"),
        "Nango field `alternate_access_token_response_path` has no Latchkey equivalent"
    );
}

#[test]
fn unused_authorization_keys_dropped() {
    let (dir, _report) = import();
    let client_credentials = converted(&dir, "unused-authorize-cc");
    assert_eq!(
        client_credentials.auth.mode_name(),
        "oauth2_client_credentials"
    );
    let login = converted(&dir, "unused-authorize-login");
    assert_eq!(login.auth.mode_name(), "two_step");
    for name in ["unused-authorize-cc", "unused-authorize-login"] {
        let path = dir.path().join(format!("out/{name}.yaml"));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("/authorize"), "{name}: {text}");
        assert!(!text.contains("rest"), "{name}: {text}");
        assert!(!text.contains("consent"), "{name}: {text}");
    }
}

#[test]
fn zero_lifetime_converts() {
    let (dir, _report) = import();
    let provider = converted(&dir, "expiring-cc");
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(settings.token_response.default_expires_in, Some(0));
}

#[test]
fn custom_login_converts() {
    let (dir, _report) = import();
    let provider = converted(&dir, "login-cc");
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(settings.grant_type.as_deref(), Some(""));
    let names: Vec<(&str, &str)> = settings
        .token_param_names
        .iter()
        .map(|(param, name)| (param.as_str(), name.as_str()))
        .collect();
    assert_eq!(
        names,
        [("client_id", "username"), ("client_secret", "password")]
    );
    assert_eq!(
        settings.token_response.access_token_fallback.as_deref(),
        Some("jwt")
    );
    assert_eq!(settings.client_auth, latchkey_catalog::ClientAuth::Body);
}

#[test]
fn client_id_script_becomes_variable() {
    let (dir, _report) = import();
    let provider = converted(&dir, "keyed-cc");
    assert_eq!(provider.proxy.headers["x-api-key"], "{{ oauth_client_id }}");
    assert!(provider.connection_config.is_empty());
    assert!(provider.post_connection.is_empty());
    let text = std::fs::read_to_string(dir.path().join("out/keyed-cc.yaml")).unwrap();
    assert!(!text.contains("is not run"), "{text}");
}

#[test]
fn decode_url_becomes_raw_scopes() {
    let (dir, report) = import();
    let provider = converted(&dir, "decoded");
    let settings = oauth2(&provider);
    assert_eq!(
        settings.scope_encoding,
        latchkey_catalog::ScopeEncoding::Raw
    );
    assert_eq!(settings.authorization_params["session"], "false");
    assert_eq!(
        reason(&report, "decoded-template"),
        "Nango field `decode_url` has no Latchkey equivalent"
    );
}
