//! Provider format features: the newer fields, and alias files resolved by
//! the loader.

use std::fs;
use std::path::Path;

use latchkey_catalog::{
    parse_provider, validate_paths, Auth, Catalog, ClientAuth, FieldFormat, FieldType, Pagination,
    ScopeEncoding, StandardParam, TimeFormat, TokenBodyFormat, VerificationMethod,
};

const FULL: &str = r#"# A provider that sets every newer field.
name: dialects
display_name: Dialects
auth:
  mode: oauth2
  authorization_url: https://dialects.example/authorize
  token_url: https://dialects.example/{{ tenantId }}/token
  scope_encoding: raw
  drop_empty_authorization_params: true
  authorization_param_names: {client_id: client_key}
  client_auth: basic_and_body
  token_body_format: json
  token_param_names: {client_id: client_key}
  callback_connection_config: {tenantId: tenant}
  token_response:
    expires_in_unit: milliseconds
    expires_at: {path: data.expires, format: iso8601}
connection_config:
  tenantId:
    type: string
    title: Tenant
    pattern: "[a-z0-9]+"
    format: hostname
    prefix: https://
    suffix: .dialects.example
    secret: true
    automated: true
proxy:
  base_url: https://{{ tenantId }}.dialects.example
  base_url_fallbacks: [https://dialects.example]
  retry: {after_headers: [Retry-After], reset_at_headers: [X-RateLimit-Reset], statuses: ["429", "5xx"]}
  decompress: true
  verification: {method: POST, path: /me, expected_statuses: [200, 204]}
  pagination: {style: cursor, cursor_param: after, cursor_path: paging.next, limit_param: limit}
"#;

#[test]
fn newer_fields_parse() {
    let provider = parse_provider("dialects.yaml", FULL).unwrap_or_else(|diagnostics| {
        panic!(
            "{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<String>()
        )
    });

    let Auth::Oauth2(oauth2) = &provider.auth else {
        panic!("expected oauth2, got {:?}", provider.auth);
    };
    assert_eq!(oauth2.scope_encoding, ScopeEncoding::Raw);
    assert!(oauth2.drop_empty_authorization_params);
    assert_eq!(
        oauth2
            .authorization_param_names
            .get(&StandardParam::ClientId),
        Some(&"client_key".to_owned())
    );
    assert_eq!(oauth2.client_auth, ClientAuth::BasicAndBody);
    assert_eq!(oauth2.token_body_format, TokenBodyFormat::Json);
    assert_eq!(
        oauth2.callback_connection_config.get("tenantId"),
        Some(&"tenant".to_owned())
    );
    let expires_at = oauth2.token_response.expires_at.as_ref().unwrap();
    assert_eq!(expires_at.path, "data.expires");
    assert_eq!(expires_at.format, TimeFormat::Iso8601);

    let field = &provider.connection_config["tenantId"];
    assert_eq!(field.field_type, FieldType::String);
    assert_eq!(field.format, Some(FieldFormat::Hostname));
    assert_eq!(field.prefix.as_deref(), Some("https://"));
    assert_eq!(field.suffix.as_deref(), Some(".dialects.example"));
    assert!(field.secret);

    let proxy = &provider.proxy;
    assert_eq!(proxy.base_url_fallbacks, vec!["https://dialects.example"]);
    let retry = proxy.retry.as_ref().unwrap();
    assert_eq!(retry.after_headers, vec!["Retry-After"]);
    assert_eq!(retry.reset_at_headers, vec!["X-RateLimit-Reset"]);
    assert_eq!(retry.statuses, vec!["429", "5xx"]);
    assert!(proxy.decompress);
    let verification = proxy.verification.as_ref().unwrap();
    assert_eq!(verification.method, VerificationMethod::Post);
    assert_eq!(verification.path, "/me");
    assert_eq!(verification.expected_statuses, vec![200, 204]);
    assert_eq!(
        proxy.pagination,
        Some(Pagination::Cursor {
            cursor_param: "after".to_owned(),
            cursor_path: "paging.next".to_owned(),
            limit_param: Some("limit".to_owned()),
            results_path: None,
        })
    );
}

#[test]
fn newer_fields_round_trip() {
    let provider = parse_provider("dialects.yaml", FULL).unwrap();

    let json = serde_json::to_value(&provider).unwrap();
    let back: latchkey_catalog::Provider = serde_json::from_value(json).unwrap();

    assert_eq!(back, provider);
}

#[test]
fn invalid_newer_values_rejected() {
    // (case, replaced text, replacement, expected message part)
    #[rustfmt::skip]
    let cases = [
        ("unknown scope encoding", "scope_encoding: raw", "scope_encoding: verbatim", "invalid value `verbatim`"),
        ("unknown standard parameter", "authorization_param_names: {client_id: client_key}", "authorization_param_names: {app_id: client_key}", "invalid key `app_id`"),
        ("unknown time format", "format: iso8601", "format: rfc2822", "invalid value `rfc2822`"),
        ("status class out of range", "\"5xx\"", "\"6xx\"", "`6xx` does not match the pattern"),
        ("verification path without slash", "path: /me", "path: me", "`me` does not match the pattern `^/`"),
        ("cursor without cursor_path", "cursor_path: paging.next, ", "", "missing required field `cursor_path`"),
        ("undeclared callback key", "callback_connection_config: {tenantId: tenant}", "callback_connection_config: {tenant: tenant}", "`tenant` is captured from the callback but not declared in `connection_config`"),
        ("fallback without https", "base_url_fallbacks: [https://dialects.example]", "base_url_fallbacks: [http://dialects.example]", "URL `http://dialects.example` does not use https"),
        ("fallback with undeclared variable", "base_url_fallbacks: [https://dialects.example]", "base_url_fallbacks: [\"https://{{ region }}.dialects.example\"]", "template variable `region` is not a declared connection-config key"),
        ("link without a link source", "pagination: {style: cursor, cursor_param: after, cursor_path: paging.next, limit_param: limit}", "pagination: {style: link, limit_param: limit}", "`link` needs `link_rel` or `next_url_path`"),
        ("field of another style", "limit_param: limit}", "limit_param: limit, offset_param: skip}", "unknown field `offset_param`"),
        ("key starting with a digit", "  tenantId:\n    type", "  9tenant:\n    type", "invalid key `9tenant`"),
    ];

    for (case, from, to, expected) in cases {
        assert!(FULL.contains(from), "{case}: the fixture lacks {from:?}");
        let source = FULL.replacen(from, to, 1);

        let diagnostics = parse_provider("dialects.yaml", &source).unwrap_err();

        let rendered: String = diagnostics.iter().map(ToString::to_string).collect();
        assert!(rendered.contains(expected), "{case}: {rendered}");
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
}

const BASE: &str = r#"# A base provider for aliases.
name: base
display_name: Base
categories: [crm]
auth:
  mode: oauth2
  authorization_url: https://base.example/authorize
  token_url: https://base.example/token
  default_scopes: [read]
  pkce: false
proxy:
  base_url: https://api.base.example
  headers: {Accept: application/json}
"#;

#[test]
fn alias_merges_overrides() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base", BASE);
    write(
        dir.path(),
        "base-sandbox",
        "# The sandbox of Base.\nname: base-sandbox\nalias: base\ndisplay_name: Base (Sandbox)\nauth:\n  token_url: https://sandbox.base.example/token\nproxy:\n  base_url: https://api.sandbox.base.example\n",
    );

    let catalog = Catalog::with_dirs(&[dir.path()]).unwrap_or_else(|err| panic!("{err}"));

    let sandbox = catalog.get("base-sandbox").unwrap();
    assert_eq!(sandbox.display_name, "Base (Sandbox)");
    assert_eq!(sandbox.categories, vec!["crm"]);
    let Auth::Oauth2(oauth2) = &sandbox.auth else {
        panic!("expected oauth2");
    };
    assert_eq!(oauth2.token_url, "https://sandbox.base.example/token");
    assert_eq!(oauth2.authorization_url, "https://base.example/authorize");
    assert_eq!(oauth2.default_scopes, vec!["read"]);
    assert!(!oauth2.pkce);
    assert_eq!(sandbox.proxy.base_url, "https://api.sandbox.base.example");
    assert_eq!(
        sandbox.proxy.headers.get("Accept").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(catalog.get("base").unwrap().display_name, "Base");
}

#[test]
fn alias_with_other_mode_replaces_auth() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base", BASE);
    write(
        dir.path(),
        "base-key",
        "# Base with API keys.\nname: base-key\nalias: base\nauth:\n  mode: api_key\n  inject: {name: X-Api-Key, value: \"{{ api_key }}\"}\n",
    );

    let catalog = Catalog::with_dirs(&[dir.path()]).unwrap_or_else(|err| panic!("{err}"));

    let Auth::ApiKey(api_key) = &catalog.get("base-key").unwrap().auth else {
        panic!("expected api_key");
    };
    assert_eq!(api_key.inject.as_ref().unwrap().name, "X-Api-Key");
}

/// (case, alias files as (name, text), expected message, expected help)
type AliasCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

#[test]
fn alias_errors() {
    #[rustfmt::skip]
    let cases: [AliasCase; 4] = [
        ("missing target", vec![("basee-eu", "# x\nname: basee-eu\nalias: bsse\n")],
            "`alias` points to `bsse`, but no provider has that name", "did you mean `base`?"),
        ("chain", vec![("one", "# x\nname: one\nalias: two\n"), ("two", "# x\nname: two\nalias: base\n")],
            "`alias` points to `two`, which is itself an alias of `base`", "aliases cannot be chained; write `alias: base`"),
        ("loop", vec![("one", "# x\nname: one\nalias: two\n"), ("two", "# x\nname: two\nalias: one\n")],
            "`alias` points to `two`, which is itself an alias of `one`", "this chain is a loop"),
        ("name inherited from the target", vec![("copy", "# x\nalias: base\n")],
            "an alias file must set its own `name`", "add `name:` with the file name"),
    ];

    for (case, files, message, help) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "base", BASE);
        for (name, text) in &files {
            write(dir.path(), name, text);
        }

        let report = validate_paths(&[dir.path()]);

        let rendered = report.to_string();
        assert!(!report.is_valid(), "{case}");
        assert!(rendered.contains(message), "{case}: {rendered}");
        assert!(rendered.contains(help), "{case}: {rendered}");
    }
}

#[test]
fn alias_error_points_at_alias_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gone", "# x\nname: gone\nalias: nowhere\n");

    let report = validate_paths(&[dir.path()]);

    let diagnostic = &report.diagnostics[0];
    assert_eq!(diagnostic.line, Some(3));
    assert_eq!(diagnostic.column, Some(8));
    assert_eq!(diagnostic.path.as_deref(), Some("alias"));
}

#[test]
fn alias_override_error_points_into_alias_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base", BASE);
    write(
        dir.path(),
        "base-eu",
        "# x\nname: base-eu\nalias: base\nauth:\n  token_ur: https://eu.base.example/token\n",
    );

    let report = validate_paths(&[dir.path()]);

    let rendered = report.to_string();
    assert!(rendered.contains("unknown field `token_ur`"), "{rendered}");
    assert!(rendered.contains("did you mean `token_url`?"), "{rendered}");
    assert_eq!(report.diagnostics[0].line, Some(5), "{rendered}");
}

#[test]
fn alias_file_extends_builtin_provider() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "google-extra",
        "# x\nname: google-extra\nalias: google\ndisplay_name: Google (extra)\n",
    );

    let report = validate_paths(&[dir.path().join("google-extra.yaml")]);

    assert!(report.is_valid(), "{report}");
    assert_eq!(report.files_checked, 1);
}

#[test]
fn builtin_sandbox_alias_resolves() {
    let catalog = Catalog::builtin().unwrap();

    let sandbox = catalog.get("quickbooks-sandbox").unwrap();
    let production = catalog.get("quickbooks").unwrap();
    assert_eq!(sandbox.auth, production.auth);
    assert_eq!(sandbox.connection_config, production.connection_config);
    assert_eq!(sandbox.docs_url, production.docs_url);
    assert_eq!(
        sandbox.proxy.base_url,
        "https://sandbox-quickbooks.api.intuit.com/v3/company/{{ realmId }}"
    );
}

#[test]
fn directory_file_replaces_builtin_alias() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "quickbooks-sandbox",
        "# x\nname: quickbooks-sandbox\ndisplay_name: Replaced\ndocs_url: https://x.example\ncategories: [accounting]\nauth: {mode: basic}\nproxy: {base_url: \"https://sandbox.example\"}\n",
    );
    write(
        dir.path(),
        "google",
        "# x\nname: google\nalias: github\ndisplay_name: Google as an alias\n",
    );

    let catalog = Catalog::with_dirs(&[dir.path()]).unwrap_or_else(|err| panic!("{err}"));

    let sandbox = catalog.get("quickbooks-sandbox").unwrap();
    assert_eq!(sandbox.display_name, "Replaced");
    assert!(matches!(sandbox.auth, Auth::Basic(_)));
    let google = catalog.get("google").unwrap();
    assert_eq!(google.display_name, "Google as an alias");
    assert_eq!(google.proxy.base_url, "https://api.github.com");
}

const SEVERAL_PLACES: &str = r#"
name: places
display_name: Places
auth:
  mode: api_key
  inject:
    name: authorization
    value: "Bearer {{ api_key }}"
    additional:
      - name: apikey
        value: "{{ api_key }}"
      - location: query
        name: apiKey
        value: "{{ api_key }}"
proxy:
  base_url: https://api.places.example
"#;

#[test]
fn inject_additional_places_parse() {
    let provider = parse_provider("places.yaml", SEVERAL_PLACES).unwrap();
    let Auth::ApiKey(api_key) = &provider.auth else {
        panic!("mode is {}", provider.auth.mode_name());
    };
    let inject = api_key.inject.as_ref().unwrap();
    let places: Vec<(&str, &str)> = inject
        .additional
        .iter()
        .map(|place| (place.name.as_str(), place.value.as_str()))
        .collect();
    assert_eq!(
        places,
        [("apikey", "{{ api_key }}"), ("apiKey", "{{ api_key }}")]
    );
    assert_eq!(
        inject.additional[1].location,
        latchkey_catalog::InjectLocation::Query
    );
}

#[test]
fn inject_additional_place_checks_credential() {
    let source = SEVERAL_PLACES.replacen(
        "value: \"{{ api_key }}\"\n      - location",
        "value: \"{{ access_token }}\"\n      - location",
        1,
    );
    assert_ne!(source, SEVERAL_PLACES);
    let problems = parse_provider("places.yaml", &source).unwrap_err();
    assert_eq!(problems[0].code.as_str(), "credential-of-other-mode");
    assert_eq!(
        problems[0].path.as_deref(),
        Some("auth.inject.additional[0].value")
    );
}

#[test]
fn path_segment_inject_needs_no_name() {
    let source = SEVERAL_PLACES.replace(
        "    name: authorization\n    value: \"Bearer {{ api_key }}\"\n",
        "    location: path_segment\n    value: \"bot{{ api_key }}\"\n",
    );
    assert_ne!(source, SEVERAL_PLACES);
    let provider = parse_provider("places.yaml", &source).unwrap();
    let inject = provider.auth.inject();
    assert_eq!(
        inject.location,
        latchkey_catalog::InjectLocation::PathSegment
    );
    assert_eq!(inject.name, "");

    let nameless_header = SEVERAL_PLACES.replace("    name: authorization\n", "");
    let problems = parse_provider("places.yaml", &nameless_header).unwrap_err();
    assert_eq!(
        problems[0].path.as_deref(),
        Some("auth.inject.name"),
        "{problems:?}"
    );
    assert_eq!(problems[0].code.as_str(), "missing-field");
}
