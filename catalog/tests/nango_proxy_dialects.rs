//! Conversion of Nango's proxy and token-response dialects: members of
//! the JSON body of proxied requests (`proxy.body`) and the token path of
//! an MCP entry (`alternate_access_token_response_path`) and values of the
//! raw token reply in proxy templates (`${credentials.raw.PATH}`) and the
//! OAuth client secret (`${clientSecret}`), dotted token-reply keys
//! (`token_response_metadata`), a raw reply value with the stored value as
//! its fallback, and a URL field whose example names its host by a
//! placeholder, with the checks of the forms they convert into.

use latchkey_catalog::{
    import_nango, parse_provider, Auth, ImportReport, InjectLocation, Provider,
};

const FIXTURE: &str = r#"
raw-or-stored:
    display_name: Raw or stored
    auth_mode: OAUTH2
    authorization_url: https://id.raw-or-stored.test/oauth2/authorize
    token_url: https://id.raw-or-stored.test/oauth2/token
    token_response_metadata:
        - id_token
    proxy:
        base_url: https://api.raw-or-stored.test
        headers:
            id-token: ${credentials.raw.id_token} || ${connectionConfig.id_token}
raw-or-other:
    display_name: Raw or other
    auth_mode: OAUTH2
    authorization_url: https://id.raw-or-other.test/oauth2/authorize
    token_url: https://id.raw-or-other.test/oauth2/token
    proxy:
        base_url: https://api.raw-or-other.test
        headers:
            id-token: ${credentials.raw.id_token} || ${connectionConfig.id_token}
placeholder-example:
    display_name: Placeholder example
    auth_mode: TWO_STEP
    credentials:
        password:
            type: string
            title: Password
            secret: true
    connection_config:
        tokenUrl:
            type: string
            title: Token URL
            prefix: https://
            example: '{your-domain}/oauth2/v1/token'
    token_url: https://${connectionConfig.tokenUrl}
    token_params:
        password: ${credentials.password}
    token_response:
        token: access_token
    proxy:
        base_url: https://api.placeholder.test
nested-body:
    display_name: Nested body
    auth_mode: API_KEY
    proxy:
        base_url: https://api.nested.test
        body:
            auth:
                acctId: ${connectionConfig.acctId}
                key: ${apiKey}
            mode: live
    connection_config:
        acctId:
            type: string
            title: Account
            pattern: ^[0-9]+$
basic-body:
    display_name: Basic body
    auth_mode: BASIC
    proxy:
        base_url: https://api.basic-body.test
        body:
            privateKey: ${credentials.username}
list-body:
    display_name: List body
    auth_mode: API_KEY
    proxy:
        base_url: https://api.list-body.test
        body:
            key: ${apiKey}
            ids: [1, 2]
user-token-mcp:
    display_name: User token MCP
    auth_mode: MCP_OAUTH2
    client_registration: static
    authorization_url: https://user.test/oauth/v2_user/authorize
    token_url: https://user.test/api/oauth.v2.user.access
    alternate_access_token_response_path: authed_user
    authorization_params:
        response_type: code
    token_params:
        grant_type: authorization_code
    proxy:
        base_url: https://mcp.user.test
raw-query:
    display_name: Raw query
    auth_mode: TWO_STEP
    body_format: json
    token_url: https://api.raw-query.test/v1/login
    token_params:
        user: ${credentials.email}
    token_response:
        token: authToken
    proxy:
        base_url: https://api.raw-query.test/
        query:
            authToken: ${accessToken}
            account_id: ${credentials.raw.accountID}
    credentials:
        email:
            type: string
            title: Email
raw-bad-path:
    display_name: Raw bad path
    auth_mode: TWO_STEP
    token_url: https://api.raw-bad.test/v1/login
    token_params:
        user: ${credentials.email}
    token_response:
        token: authToken
    proxy:
        base_url: https://api.raw-bad.test/
        query:
            authToken: ${accessToken}
            account_id: ${credentials.raw.account-id}
    credentials:
        email:
            type: string
            title: Email
client-key:
    display_name: Client key
    auth_mode: OAUTH2
    authorization_url: https://client-key.test/oauth/connect
    token_url: https://api.client-key.test/oauth/token
    proxy:
        base_url: https://api.client-key.test
        headers:
            x-api-key: ${clientId}:${clientSecret}
client-secret-param:
    display_name: Client secret param
    auth_mode: OAUTH2
    authorization_url: https://secret-param.test/oauth/connect
    token_url: https://api.secret-param.test/oauth/token
    authorization_params:
        app_secret: ${clientSecret}
    proxy:
        base_url: https://api.secret-param.test
dotted-capture:
    display_name: Dotted capture
    auth_mode: OAUTH2
    authorization_url: https://www.dotted-capture.test/launchpad/login
    token_url: https://www.dotted-capture.test/launchpad/v1/token.json
    token_response_metadata:
        - installation.apiEndPoint
        - team.id
    proxy:
        base_url: ${connectionConfig.installation.apiEndPoint}
dotted-uncaptured:
    display_name: Dotted uncaptured
    auth_mode: OAUTH2
    authorization_url: https://dotted-uncaptured.test/authorize
    token_url: https://dotted-uncaptured.test/token
    proxy:
        base_url: https://${connectionConfig.site.host}/api
refresh-capture:
    display_name: Refresh capture
    auth_mode: OAUTH2
    authorization_url: https://auth.refresh-capture.test/oauth/authorize
    token_url: https://auth.refresh-capture.test/oauth/token
    token_response_metadata:
        - restUrl
    refresh_token_response_metadata:
        - restUrl
    proxy:
        base_url: ${connectionConfig.restUrl}
refresh-capture-other:
    display_name: Refresh capture other
    auth_mode: OAUTH2
    authorization_url: https://auth.refresh-other.test/oauth/authorize
    token_url: https://auth.refresh-other.test/oauth/token
    token_response_metadata:
        - restUrl
    refresh_token_response_metadata:
        - region
    proxy:
        base_url: ${connectionConfig.restUrl}
reserved-key:
    display_name: Reserved key
    auth_mode: API_KEY
    proxy:
        base_url: https://api.reserved-key.test
        headers:
            username: ${connectionConfig.username}
            secret: ${apiKey}
    connection_config:
        username:
            type: string
            title: API Username
reserved-basic-key:
    display_name: Reserved basic key
    auth_mode: BASIC
    proxy:
        base_url: https://api.reserved-basic.test
        headers:
            x-user: ${connectionConfig.username}
    connection_config:
        username:
            type: string
            title: Account user
no-key-place:
    display_name: No key place
    auth_mode: API_KEY
    proxy:
        base_url: https://api.no-key-place.test
token-header:
    display_name: Token header
    auth_mode: OAUTH2
    authorization_url: https://token-header.test/admin/oauth/authorize
    token_url: https://token-header.test/admin/oauth/access_token
    proxy:
        base_url: https://token-header.test
        headers:
            x-shop-access-token: ${accessToken}
            accept: application/json
host-key:
    display_name: Host key
    auth_mode: API_KEY
    proxy:
        base_url: https://api.host-key.test
        headers:
            host: ${apiKey}
static-length:
    display_name: Static length
    auth_mode: API_KEY
    proxy:
        base_url: https://api.static-length.test
        headers:
            Content-Length: "5"
            x-api-key: ${apiKey}
verified-expect:
    display_name: Verified expect
    auth_mode: API_KEY
    proxy:
        base_url: https://api.verified-expect.test
        headers:
            x-api-key: ${apiKey}
        verification:
            method: GET
            endpoints:
                - /me
            headers:
                Expect: 100-continue
dotted-body:
    display_name: Dotted body
    auth_mode: API_KEY
    proxy:
        base_url: https://api.dotted-body.test
        body:
            auth.key: ${apiKey}
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

fn reason<'a>(report: &'a ImportReport, name: &str) -> &'a str {
    report
        .not_converted
        .iter()
        .find(|entry| entry.name == name)
        .map(|entry| entry.reason.message.as_str())
        .unwrap_or_else(|| panic!("{name} was converted"))
}

#[test]
fn nested_body_splits_credential_and_config() {
    let (dir, _report) = import();
    let provider = converted(&dir, "nested-body");
    let inject = provider.auth.inject();
    assert_eq!(inject.location, InjectLocation::JsonBody);
    assert_eq!(inject.name, "auth.key");
    assert_eq!(inject.value, "{{ api_key }}");
    assert!(inject.additional.is_empty());
    let body: Vec<(&str, &str)> = provider
        .proxy
        .body
        .iter()
        .map(|(path, value)| (path.as_str(), value.as_str()))
        .collect();
    assert_eq!(body, [("auth.acctId", "{{ acctId }}"), ("mode", "live")]);
}

#[test]
fn basic_body_keeps_basic_header() {
    let (dir, _report) = import();
    let provider = converted(&dir, "basic-body");
    let inject = provider.auth.inject();
    assert_eq!(inject.location, InjectLocation::Header);
    assert_eq!(inject.name, "Authorization");
    assert_eq!(
        inject.value,
        "Basic {{ (username ~ ':' ~ password) | base64 }}"
    );
    assert_eq!(inject.additional.len(), 1);
    assert_eq!(inject.additional[0].location, InjectLocation::JsonBody);
    assert_eq!(inject.additional[0].name, "privateKey");
    assert_eq!(inject.additional[0].value, "{{ username }}");
    assert!(provider.proxy.body.is_empty());
}

#[test]
fn body_without_latchkey_form_listed() {
    let (_dir, report) = import();
    let list = reason(&report, "list-body");
    assert!(list.contains("`proxy.body.ids` is not a string"), "{list}");
    let dotted = reason(&report, "dotted-body");
    assert!(dotted.contains("the key `auth.key`"), "{dotted}");
}

#[test]
fn mcp_alternate_token_path_converts() {
    let (dir, _report) = import();
    let provider = converted(&dir, "user-token-mcp");
    let Auth::McpOauth2(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(
        settings.token_response.access_token_fallback.as_deref(),
        Some("authed_user.access_token")
    );
}

#[test]
fn raw_reply_value_converts() {
    let (dir, report) = import();
    let provider = converted(&dir, "raw-query");
    assert_eq!(
        provider.proxy.query.get("account_id").map(String::as_str),
        Some("{{ raw.accountID }}")
    );
    let bad = reason(&report, "raw-bad-path");
    assert!(bad.contains("token reply path `account-id`"), "{bad}");
}

#[test]
fn raw_reply_only_in_proxied_requests() {
    let file = |token_user: &str, proxy_query: &str| {
        format!(
            "name: p\ndisplay_name: P\nauth:\n  mode: two_step\n  credentials:\n    email: {{title: Email}}\n  token_request:\n    url: https://p.example/login\n    params: {{user: \"{token_user}\"}}\nproxy:\n  base_url: https://p.example\n  query: {{account_id: \"{proxy_query}\"}}\n"
        )
    };
    let proxied = file("{{ email }}", "{{ raw.accountID }}");
    assert!(parse_provider("p.yaml", &proxied).is_ok());

    let in_token_request = file("{{ raw.user }}", "{{ email }}");
    let error = parse_provider("p.yaml", &in_token_request).unwrap_err();
    let text = format!("{error:?}");
    assert!(text.contains("token_request"), "{text}");
    assert!(text.contains("`raw`"), "{text}");
}

#[test]
fn client_secret_header_converts() {
    let (dir, report) = import();
    let provider = converted(&dir, "client-key");
    assert_eq!(
        provider.proxy.headers.get("x-api-key").map(String::as_str),
        Some("{{ oauth_client_id }}:{{ oauth_client_secret }}")
    );
    let param = reason(&report, "client-secret-param");
    assert!(
        param.contains("`oauth_client_secret` is not available"),
        "{param}"
    );
}

#[test]
fn client_secret_scope_checked() {
    let file = |mode: &str, proxy: &str| {
        let auth = match mode {
            "oauth2" => "  mode: oauth2\n  authorization_url: https://p.example/authorize\n  token_url: https://p.example/token\n",
            _ => "  mode: api_key\n  inject: {name: X-Key, value: \"{{ api_key }}\"}\n",
        };
        format!(
            "name: p\ndisplay_name: P\nauth:\n{auth}proxy:\n  base_url: https://p.example\n{proxy}"
        )
    };
    let secret = "\"{{ oauth_client_secret }}\"";
    let allowed = [
        (
            "header",
            file("oauth2", &format!("  headers: {{x-secret: {secret}}}\n")),
        ),
        (
            "query",
            file("oauth2", &format!("  query: {{secret: {secret}}}\n")),
        ),
        (
            "body",
            file("oauth2", &format!("  body: {{secret: {secret}}}\n")),
        ),
    ];
    for (case, text) in allowed {
        assert!(parse_provider("p.yaml", &text).is_ok(), "{case}");
    }
    let rejected = [
        (
            "api_key mode",
            file("api_key", &format!("  headers: {{x-secret: {secret}}}\n")),
        ),
        (
            "verification header",
            file(
                "oauth2",
                &format!("  verification: {{path: /me, headers: {{x-secret: {secret}}}}}\n"),
            ),
        ),
    ];
    for (case, text) in rejected {
        let error = parse_provider("p.yaml", &text).unwrap_err();
        let text = format!("{error:?}");
        assert!(
            text.contains("`oauth_client_secret` is not available"),
            "{case}: {text}"
        );
    }
}

#[test]
fn dotted_capture_keys_flattened() {
    let (dir, _report) = import();
    let provider = converted(&dir, "dotted-capture");
    let Auth::Oauth2(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    let captured: Vec<(&str, &str)> = settings
        .token_response
        .connection_config
        .iter()
        .map(|(key, path)| (key.as_str(), path.as_str()))
        .collect();
    assert_eq!(
        captured,
        [
            ("installation_apiEndPoint", "installation.apiEndPoint"),
            ("team_id", "team.id"),
        ]
    );
    assert_eq!(provider.proxy.base_url, "{{ installation_apiEndPoint }}");
    assert!(provider.connection_config["installation_apiEndPoint"].automated);
    assert!(provider.connection_config["team_id"].automated);
}

#[test]
fn dotted_entered_key_listed() {
    let (_dir, report) = import();
    let message = reason(&report, "dotted-uncaptured");
    assert!(
        message.contains("connection-config key `site.host` is not a template variable name"),
        "{message}"
    );
}

#[test]
fn refresh_metadata_matching_converts() {
    let (dir, report) = import();
    let provider = converted(&dir, "refresh-capture");
    let Auth::Oauth2(settings) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert_eq!(
        settings
            .token_response
            .connection_config
            .get("restUrl")
            .map(String::as_str),
        Some("restUrl")
    );
    let other = reason(&report, "refresh-capture-other");
    assert!(
        other.contains("`refresh_token_response_metadata` lists"),
        "{other}"
    );
    assert!(other.contains("\"region\""), "{other}");
}

#[test]
fn username_key_converts_outside_basic() {
    let (dir, _report) = import();
    let provider = converted(&dir, "reserved-key");
    assert!(provider.connection_config.contains_key("username"));
    assert_eq!(
        provider.proxy.headers.get("username").map(String::as_str),
        Some("{{ username }}")
    );
    assert_eq!(provider.auth.inject().name, "secret");
}

#[test]
fn unconvertible_key_entries_explained() {
    let (_dir, report) = import();
    let reserved = reason(&report, "reserved-basic-key");
    assert!(
        reserved.contains("key `username` is a template variable that Latchkey reserves"),
        "{reserved}"
    );
}

/// An API_KEY entry whose proxy sends the key nowhere leaves it to the
/// caller instead of being dropped.
#[test]
fn key_without_place_is_left_to_caller() {
    let (dir, _report) = import();
    let provider = converted(&dir, "no-key-place");
    let Auth::ApiKey(api_key) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    assert!(api_key.caller_places_key);
    assert_eq!(api_key.inject, None);
    assert!(!provider.auth.injects_credential());
    let text = std::fs::read_to_string(dir.path().join("out/no-key-place.yaml")).unwrap();
    assert!(
        text.contains("# Nango's proxy sends the API key nowhere"),
        "{text}"
    );
}

#[test]
fn mode_credential_names_reserved() {
    let file = |auth: &str, key: &str| {
        format!("name: p\ndisplay_name: P\nauth:\n{auth}connection_config:\n  {key}: {{title: T, optional: true}}\nproxy:\n  base_url: https://p.example\n")
    };
    let api_key = "  mode: api_key\n  inject: {name: X-Key, value: \"{{ api_key }}\"}\n";
    let basic = "  mode: basic\n";
    let oauth2 = "  mode: oauth2\n  authorization_url: https://p.example/authorize\n  token_url: https://p.example/token\n";
    let allowed = [
        ("username in api_key mode", api_key, "username"),
        ("password in oauth2 mode", oauth2, "password"),
        ("api_key in basic mode", basic, "api_key"),
    ];
    for (case, auth, key) in allowed {
        let result = parse_provider("p.yaml", &file(auth, key));
        assert!(result.is_ok(), "{case}: {result:?}");
    }
    let rejected = [
        ("api_key in api_key mode", api_key, "api_key"),
        ("username in basic mode", basic, "username"),
        ("password in basic mode", basic, "password"),
    ];
    for (case, auth, key) in rejected {
        let error = parse_provider("p.yaml", &file(auth, key)).unwrap_err();
        let text = format!("{error:?}");
        assert!(
            text.contains(&format!(
                "connection-config key `{key}` is a credential variable"
            )),
            "{case}: {text}"
        );
    }
}

#[test]
fn oauth_token_header_becomes_inject() {
    let (dir, _report) = import();
    let provider = converted(&dir, "token-header");
    let inject = provider.auth.inject();
    assert_eq!(inject.location, InjectLocation::Header);
    assert_eq!(inject.name, "x-shop-access-token");
    assert_eq!(inject.value, "{{ access_token }}");
    assert!(inject.additional.is_empty());
    assert_eq!(
        provider.proxy.headers.get("accept").map(String::as_str),
        Some("application/json")
    );
    assert!(!provider.proxy.headers.contains_key("x-shop-access-token"));
}

#[test]
fn raw_or_stored_reads_stored() {
    let (dir, report) = import();
    let provider = converted(&dir, "raw-or-stored");
    assert_eq!(
        provider.proxy.headers.get("id-token").map(String::as_str),
        Some("{{ id_token }}")
    );
    // Without `token_response_metadata` nothing stores the value, so the
    // fallback has no Latchkey form.
    let other = reason(&report, "raw-or-other");
    assert!(other.contains("template fallback"), "{other}");
}

#[test]
fn placeholder_example_means_host_path() {
    let (dir, _) = import();
    let provider = converted(&dir, "placeholder-example");
    let field = &provider.connection_config["tokenUrl"];
    assert_eq!(
        serde_json::to_value(field.format).unwrap(),
        serde_json::json!("host_port_path")
    );
    assert_eq!(field.example, None, "a placeholder is not a value");
}

#[test]
fn reserved_header_entries_listed() {
    let (dir, report) = import();
    // (entry, field that sets the header, header)
    let cases = [
        ("host-key", "proxy.headers.host", "host"),
        (
            "static-length",
            "proxy.headers.Content-Length",
            "Content-Length",
        ),
        (
            "verified-expect",
            "proxy.verification.headers.Expect",
            "Expect",
        ),
    ];
    for (name, field, header) in cases {
        let entry = report
            .not_converted
            .iter()
            .find(|entry| entry.name == name)
            .unwrap_or_else(|| panic!("{name} was converted"));
        assert_eq!(
            entry.reason.kind, "header that only the HTTP client sets",
            "{name}"
        );
        let expected = format!("`{field}` sets the header `{header}`, which frames the request");
        assert!(
            entry.reason.message.contains(&expected),
            "{name}: {}",
            entry.reason.message
        );
        assert!(
            !dir.path().join(format!("out/{name}.yaml")).exists(),
            "{name}"
        );
    }
}
