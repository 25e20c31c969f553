//! Rendered diagnostics for each kind of bad provider file, as snapshots.
//! Together the cases produce every diagnostic code at least once.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use latchkey_catalog::{parse_provider, validate_paths, Code, Diagnostic};

/// A valid OAuth2 provider that the cases below break in one place each.
const VALID: &str = r#"# Demo provider used by the diagnostics tests.
name: demo
display_name: Demo
categories: [storage]
docs_url: https://docs.example.com/oauth
auth:
  mode: oauth2
  authorization_url: https://{{ subdomain }}.example.com/oauth/authorize
  token_url: https://{{ subdomain }}.example.com/oauth/token
  default_scopes: [read]
connection_config:
  subdomain:
    title: Subdomain
    pattern: "[a-z0-9-]+"
    example: acme
proxy:
  base_url: https://{{ subdomain }}.example.com/api
"#;

struct Case {
    name: &'static str,
    file_name: &'static str,
    /// Pairs of (text in VALID, replacement).
    edits: &'static [(&'static str, &'static str)],
}

/// The `auth` mapping of [`VALID`], which the cases of other modes replace.
const OAUTH2_AUTH: &str = "  mode: oauth2\n  authorization_url: https://{{ subdomain }}.example.com/oauth/authorize\n  token_url: https://{{ subdomain }}.example.com/oauth/token\n  default_scopes: [read]\n";

const CASES: &[Case] = &[
    Case {
        name: "malformed_yaml",
        file_name: "demo.yaml",
        edits: &[("default_scopes: [read]", "default_scopes: [read")],
    },
    Case {
        name: "malformed_yaml_unclosed_quote",
        file_name: "demo.yaml",
        edits: &[(
            "base_url: https://{{ subdomain }}.example.com/api",
            "base_url: \"https://{{ subdomain }}.example.com/api",
        )],
    },
    Case {
        name: "malformed_yaml_duplicate_key",
        file_name: "demo.yaml",
        edits: &[(
            "display_name: Demo\n",
            "display_name: Demo\ndisplay_name: Again\n",
        )],
    },
    Case {
        name: "malformed_yaml_indentation",
        file_name: "demo.yaml",
        edits: &[("  token_url:", "     token_url:")],
    },
    Case {
        name: "unknown_field_with_suggestion",
        file_name: "demo.yaml",
        edits: &[("  token_url:", "  tokn_url:")],
    },
    Case {
        name: "unknown_category_with_suggestion",
        file_name: "demo.yaml",
        edits: &[("categories: [storage]", "categories: [storag]")],
    },
    Case {
        name: "unknown_top_level_field",
        file_name: "demo.yaml",
        edits: &[("categories:", "categoriez:")],
    },
    Case {
        name: "missing_required_field",
        file_name: "demo.yaml",
        edits: &[(
            "  token_url: https://{{ subdomain }}.example.com/oauth/token\n",
            "",
        )],
    },
    Case {
        name: "missing_top_level_field",
        file_name: "demo.yaml",
        edits: &[("display_name: Demo\n", "")],
    },
    Case {
        name: "wrong_type",
        file_name: "demo.yaml",
        edits: &[("default_scopes: [read]", "default_scopes: read")],
    },
    Case {
        name: "invalid_enum_value",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  client_auth: header\n",
        )],
    },
    Case {
        name: "document_not_a_mapping",
        file_name: "demo.yaml",
        edits: &[(VALID, "- just\n- a list\n")],
    },
    Case {
        name: "empty_file",
        file_name: "demo.yaml",
        edits: &[(VALID, "# nothing here\n")],
    },
    Case {
        name: "field_of_another_mode",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  key_title: Token\n",
        )],
    },
    Case {
        name: "bad_mode",
        file_name: "demo.yaml",
        edits: &[("mode: oauth2", "mode: oauth3")],
    },
    Case {
        name: "bad_name_pattern",
        file_name: "demo.yaml",
        edits: &[("name: demo", "name: Demo_Provider")],
    },
    Case {
        name: "undeclared_template_variable",
        file_name: "demo.yaml",
        edits: &[(
            "base_url: https://{{ subdomain }}",
            "base_url: https://{{ subdomian }}",
        )],
    },
    Case {
        name: "credential_variable_outside_inject",
        file_name: "demo.yaml",
        edits: &[(
            "proxy:\n",
            "proxy:\n  headers:\n    X-Token: \"{{ access_token }}\"\n",
        )],
    },
    Case {
        name: "credential_variable_of_other_mode",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  inject:\n    name: Authorization\n    value: Bearer {{ api_key }}\n",
        )],
    },
    Case {
        name: "reserved_connection_config_key",
        file_name: "demo.yaml",
        edits: &[("connection_config:\n", "connection_config:\n  access_token:\n    title: Token\n")],
    },
    Case {
        name: "reserved_token_param",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  token_params:\n    client_secret: hunter2\n",
        )],
    },
    Case {
        name: "url_variable_without_pattern",
        file_name: "demo.yaml",
        edits: &[("    pattern: \"[a-z0-9-]+\"\n", "")],
    },
    Case {
        name: "url_form_out_of_place",
        file_name: "demo.yaml",
        edits: &[(
            "    pattern: \"[a-z0-9-]+\"\n",
            "    format: host_port_path\n",
        )],
    },
    Case {
        name: "url_variable_without_https_pattern",
        file_name: "demo.yaml",
        edits: &[(
            "  base_url: https://{{ subdomain }}.example.com/api",
            "  base_url: \"{{ subdomain }}/api\"",
        )],
    },
    Case {
        name: "url_pattern_accepts_hostile_value",
        file_name: "demo.yaml",
        edits: &[("pattern: \"[a-z0-9-]+\"", "pattern: \".+\"")],
    },
    Case {
        name: "leading_url_pattern_accepts_user_info",
        file_name: "demo.yaml",
        edits: &[
            (
                "connection_config:\n",
                "connection_config:\n  instance_url:\n    title: Instance URL\n    pattern: \"https://.+\"\n",
            ),
            (
                "  base_url: https://{{ subdomain }}.example.com/api",
                "  base_url: \"{{ instance_url }}/api\"",
            ),
        ],
    },
    Case {
        name: "non_https_url",
        file_name: "demo.yaml",
        edits: &[(
            "token_url: https://{{ subdomain }}",
            "token_url: http://{{ subdomain }}",
        )],
    },
    Case {
        name: "url_with_user_info",
        file_name: "demo.yaml",
        edits: &[(
            "token_url: https://{{ subdomain }}",
            "token_url: http://localhost:8080@{{ subdomain }}",
        )],
    },
    Case {
        name: "bad_pattern",
        file_name: "demo.yaml",
        edits: &[("pattern: \"[a-z0-9-]+\"", "pattern: \"[a-z0-9-+\"")],
    },
    Case {
        name: "example_not_matching_pattern",
        file_name: "demo.yaml",
        edits: &[("example: acme", "example: Acme Corp")],
    },
    Case {
        name: "file_name_mismatch",
        file_name: "catalog/providers/demo-app.yaml",
        edits: &[],
    },
    Case {
        name: "oauth_field_on_api_key_mode",
        file_name: "demo.yaml",
        edits: &[(
            "  mode: oauth2\n  authorization_url: https://{{ subdomain }}.example.com/oauth/authorize\n",
            "  mode: api_key\n  inject:\n    name: X-Api-Key\n    value: \"{{ api_key }}\"\n",
        )],
    },
    Case {
        name: "api_key_without_placement",
        file_name: "demo.yaml",
        edits: &[(OAUTH2_AUTH, "  mode: api_key\n")],
    },
    Case {
        name: "api_key_placement_contradiction",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: api_key\n  caller_places_key: true\n  inject:\n    name: X-Api-Key\n    value: \"{{ api_key }}\"\n",
        )],
    },
    Case {
        name: "inject_when_undeclared_field",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: api_key\n  inject:\n    name: \"{{ subdomain }}\"\n    value: \"{{ api_key }}\"\n    when: {field: placement, equals: header}\n",
        )],
    },
    Case {
        name: "capture_not_declared",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  token_response:\n    connection_config:\n      site_id: site.id\n",
        )],
    },
    Case {
        name: "invalid_template",
        file_name: "demo.yaml",
        edits: &[(
            "base_url: https://{{ subdomain }}.example.com/api",
            "base_url: https://{{ subdomain }.example.com/api",
        )],
    },
    Case {
        name: "unused_config_field",
        file_name: "demo.yaml",
        edits: &[(
            "proxy:\n",
            "  region:\n    title: Data region\n    pattern: \"eu|us\"\nproxy:\n",
        )],
    },
    Case {
        name: "schema_keyword_violation",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  refresh_margin_seconds: -5\n",
        )],
    },
    Case {
        name: "model_mismatch",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  refresh_margin_seconds: 1e30\n",
        )],
    },
    Case {
        name: "merge_key",
        file_name: "demo.yaml",
        edits: &[
            ("display_name: Demo\n", "display_name: Demo\nshared: &shared\n  decompress: true\n"),
            ("proxy:\n", "proxy:\n  <<: *shared\n"),
        ],
    },
    Case {
        name: "alias_expansion_limit",
        file_name: "demo.yaml",
        edits: &[("display_name: Demo\n", "display_name: Demo\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\nx1: &x1 [*x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0]\nx2: &x2 [*x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1]\nx3: &x3 [*x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2]\nx4: &x4 [*x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3]\nx5: &x5 [*x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4]\nx6: &x6 [*x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5]\nx7: &x7 [*x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6]\nx8: &x8 [*x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7]\n")],
    },
    Case {
        name: "control_character",
        file_name: "demo.yaml",
        edits: &[("display_name: Demo", "display_name: \"D\u{1}emo\"")],
    },
    Case {
        name: "byte_order_mark_then_unknown_field",
        file_name: "demo.yaml",
        edits: &[
            ("# Demo provider", "\u{feff}# Demo provider"),
            ("display_name:", "display_nme:"),
        ],
    },
    Case {
        name: "tab_indentation",
        file_name: "demo.yaml",
        edits: &[("  token_url:", "\ttoken_url:")],
    },
    Case {
        name: "tab_before_key",
        file_name: "demo.yaml",
        edits: &[("proxy:\n  base_url:", "proxy:\n\tbase_url:")],
    },
    Case {
        name: "duplicate_category",
        file_name: "demo.yaml",
        edits: &[("categories: [storage]", "categories: [storage, crm, storage]")],
    },
    Case {
        name: "multiple_documents",
        file_name: "demo.yaml",
        edits: &[("proxy:\n", "---\nproxy:\n")],
    },
    Case {
        name: "zero_byte_file",
        file_name: "demo.yaml",
        edits: &[(VALID, "")],
    },
    Case {
        name: "two_step_reserved_credential_name",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    username: {title: User}\n    access_token: {title: Token}\n  token_request:\n    url: https://{{ subdomain }}.example.com/login\n    params:\n      username: \"{{ username }}\"\n",
        )],
    },
    Case {
        name: "two_step_unknown_request_field",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    username: {title: User}\n  token_request:\n    url: https://{{ subdomain }}.example.com/login\n    methd: GET\n    params:\n      username: \"{{ username }}\"\n",
        )],
    },
    Case {
        name: "oauth1_protocol_param_set",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: oauth1\n  request_token_url: https://{{ subdomain }}.example.com/oauth/request_token\n  authorization_url: https://{{ subdomain }}.example.com/oauth/authorize\n  access_token_url: https://{{ subdomain }}.example.com/oauth/access_token\n  signature_method: HMAC-SHA1\n  request_token_params:\n    oauth_callback: https://elsewhere.example.com/callback\n",
        )],
    },
    Case {
        name: "mcp_without_endpoints",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: mcp_oauth2\n  registration_params:\n    redirect_uris: [https://elsewhere.example.com/callback]\n",
        )],
    },
    Case {
        name: "jwt_rules",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: jwt\n  algorithm: RS256\n  credentials:\n    private_key: {title: Private key, secret: true}\n  signing_key: \"{{ credentials.private_kee }}\"\n  header:\n    alg: none\n  claims:\n    iss: \"{{ subdomain }}\"\n  lifetime_seconds: 0\n",
        )],
    },
    Case {
        name: "jwt_undeclared_credential_key",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: jwt\n  algorithm: RS256\n  credentials:\n    private_key: {title: Private key, secret: true}\n  signing_key: \"{{ credentials.private_kee }}\"\n  claims:\n    iss: \"{{ subdomain }}\"\n  lifetime_seconds: 600\n",
        )],
    },
    Case {
        name: "saml_credential_named_assertion",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    user_name: {title: User name}\n    private_key: {title: Private key, secret: true}\n    assertion: {title: Assertion}\n  assertion:\n    type: saml2\n    issuer: www.example.com\n    audience: www.example.com\n    recipient: https://{{ subdomain }}.example.com/oauth/token\n    name_id: \"{{ user_name }}\"\n    signing_key: \"{{ private_key }}\"\n    lifetime_seconds: 600\n  token_request:\n    url: https://{{ subdomain }}.example.com/oauth/token\n    params:\n      grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer\n      assertion: \"{{ assertion }}\"\n",
        )],
    },
    Case {
        name: "saml_zero_lifetime",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    user_name: {title: User name}\n    private_key: {title: Private key, secret: true}\n  assertion:\n    type: saml2\n    issuer: www.example.com\n    audience: www.example.com\n    recipient: https://{{ subdomain }}.example.com/oauth/token\n    name_id: \"{{ user_name }}\"\n    signing_key: \"{{ private_key }}\"\n    lifetime_seconds: 0\n  token_request:\n    url: https://{{ subdomain }}.example.com/oauth/token\n    params:\n      grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer\n      assertion: \"{{ assertion }}\"\n",
        )],
    },
    Case {
        name: "saml_blank_attribute_name",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    user_name: {title: User name}\n    private_key: {title: Private key, secret: true}\n  assertion:\n    type: saml2\n    issuer: www.example.com\n    audience: www.example.com\n    recipient: https://{{ subdomain }}.example.com/oauth/token\n    name_id: \"{{ user_name }}\"\n    attributes:\n      \" \": \"true\"\n    signing_key: \"{{ private_key }}\"\n    lifetime_seconds: 600\n  token_request:\n    url: https://{{ subdomain }}.example.com/oauth/token\n    params:\n      grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer\n      assertion: \"{{ assertion }}\"\n",
        )],
    },
    Case {
        name: "saml_constant_signing_key",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    user_name: {title: User name}\n    private_key: {title: Private key, secret: true}\n  assertion:\n    type: saml2\n    issuer: www.example.com\n    audience: www.example.com\n    recipient: https://{{ subdomain }}.example.com/oauth/token\n    name_id: \"{{ user_name }}\"\n    signing_key: not-a-key\n    lifetime_seconds: 600\n  token_request:\n    url: https://{{ subdomain }}.example.com/oauth/token\n    params:\n      grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer\n      assertion: \"{{ assertion }}\"\n",
        )],
    },
    Case {
        name: "saml_control_character",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: two_step\n  credentials:\n    user_name: {title: User name}\n    private_key: {title: Private key, secret: true}\n  assertion:\n    type: saml2\n    issuer: www.example.com\n    audience: \"www\\u0001example.com\"\n    recipient: https://{{ subdomain }}.example.com/oauth/token\n    name_id: \"{{ user_name }}\"\n    signing_key: \"{{ private_key }}\"\n    lifetime_seconds: 600\n  token_request:\n    url: https://{{ subdomain }}.example.com/oauth/token\n    params:\n      grant_type: urn:ietf:params:oauth:grant-type:saml2-bearer\n      assertion: \"{{ assertion }}\"\n",
        )],
    },
    Case {
        name: "param_name_not_standard",
        file_name: "demo.yaml",
        edits: &[(
            "  default_scopes: [read]\n",
            "  default_scopes: [read]\n  authorization_param_names: {client_idd: client_key}\n",
        )],
    },
    Case {
        name: "aws_service_not_lowercase",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: aws_sigv4\n  service: S3\n  region: us-east-1\n",
        )],
    },
    Case {
        name: "signature_not_placed",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: signature\n  algorithm: hmac_sha256\n  string_to_sign: \"{{ timestamp }}\"\n  encoding: hex\n  headers:\n    X-Timestamp: \"{{ timestamp }}\"\n",
        )],
    },
    Case {
        name: "signature_invalid_header_name",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: signature\n  algorithm: hmac_sha256\n  string_to_sign: \"{{ timestamp }}\"\n  encoding: hex\n  headers:\n    \"Bad Header\": \"{{ signature }}\"\n",
        )],
    },
    Case {
        name: "reserved_header_names",
        file_name: "demo.yaml",
        edits: &[
            (
                OAUTH2_AUTH,
                "  mode: api_key\n  inject:\n    name: Content-Length\n    value: \"{{ api_key }}\"\n    additional:\n      - name: EXPECT\n        value: \"{{ api_key }}\"\n      - location: query\n        name: host\n        value: \"{{ api_key }}\"\n",
            ),
            (
                "  base_url: https://{{ subdomain }}.example.com/api\n",
                "  base_url: https://{{ subdomain }}.example.com/api\n  headers:\n    Host: \"{{ subdomain }}.example.com\"\n    Proxy-Authorization: Basic eDp5\n    X-Plain: ok\n",
            ),
        ],
    },
    Case {
        name: "when_equals_outside_pattern",
        file_name: "demo.yaml",
        edits: &[(
            OAUTH2_AUTH,
            "  mode: api_key\n  inject:\n    name: X-Api-Key\n    value: \"{{ api_key }}\"\n    when: {field: subdomain, equals: Header}\n    additional:\n      - location: query\n        name: key\n        value: \"{{ api_key }}\"\n        when: {field: subdomain, equals: query}\n",
        )],
    },
    Case {
        name: "caller_placed_token_in_proxy",
        file_name: "demo.yaml",
        edits: &[
            (
                OAUTH2_AUTH,
                "  mode: two_step\n  credentials:\n    password: {title: Password, secret: true}\n  token_request:\n    url: https://{{ subdomain }}.example.com/login\n    params:\n      password: \"{{ password }}\"\n  token_response: {access_token: token}\n  caller_places_token: true\n",
            ),
            (
                "  base_url: https://{{ subdomain }}.example.com/api\n",
                "  base_url: https://{{ subdomain }}.example.com/api\n  headers:\n    X-Session: \"Session {{ access_token }}\"\n  query:\n    session: \"{{ access_token }}\"\n  body:\n    auth.password: \"{{ password }}\"\n",
            ),
        ],
    },
];

fn apply(edits: &[(&str, &str)]) -> String {
    let mut source = VALID.to_owned();
    for (from, to) in edits {
        assert!(
            source.contains(from),
            "edit target {from:?} is not in the base file"
        );
        source = source.replacen(from, to, 1);
    }
    source
}

fn diagnostics_of(file_name: &str, source: &str) -> Vec<Diagnostic> {
    match parse_provider(file_name, source) {
        Ok(provider) => panic!("{file_name} parsed without errors: {provider:?}"),
        Err(diagnostics) => diagnostics,
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders diagnostics with the temporary directory `dir` shown as `<dir>`,
/// so that snapshots do not depend on where the test runs.
fn render_in(dir: &Path, diagnostics: &[Diagnostic]) -> String {
    render(diagnostics).replace(&dir.display().to_string(), "<dir>")
}

/// Runs `validate_paths` on files that a case writes into a fresh temporary
/// directory; returns the directory and the diagnostics.
struct FileCase {
    name: &'static str,
    /// Writes the files and returns the paths to validate.
    setup: fn(&Path) -> Vec<std::path::PathBuf>,
}

const FILE_CASES: &[FileCase] = &[
    FileCase {
        name: "duplicate_provider_name",
        setup: |dir| {
            let first = dir.join("first");
            let second = dir.join("second");
            fs::create_dir(&first).unwrap();
            fs::create_dir(&second).unwrap();
            fs::write(first.join("demo.yaml"), VALID).unwrap();
            fs::write(second.join("demo.yaml"), VALID).unwrap();
            vec![first, second]
        },
    },
    FileCase {
        name: "yml_extension",
        setup: |dir| {
            let path = dir.join("demo.yml");
            fs::write(&path, VALID).unwrap();
            vec![path]
        },
    },
    FileCase {
        name: "not_utf8",
        setup: |dir| {
            let path = dir.join("demo.yaml");
            fs::write(&path, b"name: d\xffmo\n").unwrap();
            vec![path]
        },
    },
    FileCase {
        name: "unreadable_file",
        setup: |dir| {
            // A symbolic link to itself fails to open with ELOOP on Linux.
            let path = dir.join("demo.yaml");
            std::os::unix::fs::symlink(&path, &path).unwrap();
            vec![path]
        },
    },
    FileCase {
        name: "directory_without_providers",
        setup: |dir| {
            fs::write(dir.join("README.md"), "# notes\n").unwrap();
            vec![dir.to_path_buf()]
        },
    },
    FileCase {
        name: "missing_path",
        setup: |dir| vec![dir.join("absent.yaml")],
    },
    FileCase {
        name: "unknown_alias_target",
        setup: |dir| {
            let path = dir.join("github-work.yaml");
            fs::write(
                &path,
                "# GitHub for work accounts.\nname: github-work\nalias: githb\n",
            )
            .unwrap();
            vec![path]
        },
    },
    FileCase {
        name: "alias_chain",
        setup: |dir| {
            fs::write(
                dir.join("github-work.yaml"),
                "# GitHub for work accounts.\nname: github-work\nalias: github\n",
            )
            .unwrap();
            fs::write(
                dir.join("github-team.yaml"),
                "# GitHub for teams.\nname: github-team\nalias: github-work\n",
            )
            .unwrap();
            vec![dir.to_path_buf()]
        },
    },
    FileCase {
        name: "alias_without_name",
        setup: |dir| {
            let path = dir.join("github-work.yaml");
            fs::write(&path, "# GitHub for work accounts.\nalias: github\n").unwrap();
            vec![path]
        },
    },
];

fn run_file_case(case: &FileCase) -> (tempfile::TempDir, Vec<Diagnostic>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = (case.setup)(dir.path());
    let report = validate_paths(&paths);
    assert!(!report.is_valid(), "{}: no diagnostics", case.name);
    (dir, report.diagnostics)
}

#[test]
fn base_file_is_valid() {
    let provider = parse_provider("demo.yaml", VALID).expect("base file parses");
    assert_eq!(provider.name, "demo");
}

#[test]
fn diagnostics_render_like_rustc() {
    for case in CASES {
        let source = apply(case.edits);
        let output = render(&diagnostics_of(case.file_name, &source));
        insta::assert_snapshot!(case.name, output);
    }
}

#[test]
fn file_diagnostics_render_like_rustc() {
    for case in FILE_CASES {
        let (dir, diagnostics) = run_file_case(case);
        insta::assert_snapshot!(case.name, render_in(dir.path(), &diagnostics));
    }
}

#[test]
fn every_code_has_a_case() {
    let mut seen = BTreeSet::new();
    for case in CASES {
        let source = apply(case.edits);
        seen.extend(
            diagnostics_of(case.file_name, &source)
                .iter()
                .map(|d| d.code),
        );
    }
    for case in FILE_CASES {
        let (_dir, diagnostics) = run_file_case(case);
        seen.extend(diagnostics.iter().map(|d| d.code));
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|code| !seen.contains(code))
        .map(|code| code.as_str())
        .collect();
    assert!(missing.is_empty(), "no snapshot case produces {missing:?}");
}

#[test]
fn diagnostics_serialize_to_json() {
    let source = apply(&[("  token_url:", "  tokn_url:")]);
    let diagnostics = parse_provider("demo.yaml", &source).unwrap_err();
    let json = serde_json::to_value(&diagnostics).unwrap();
    assert_eq!(json[0]["severity"], "error");
    assert_eq!(json[0]["code"], "unknown-field");
    assert_eq!(json[0]["file"], "demo.yaml");
    assert_eq!(json[0]["line"], 9);
    assert_eq!(json[0]["column"], 3);
    assert_eq!(json[0]["end_column"], 11);
    assert_eq!(json[0]["path"], "auth.tokn_url");
    assert_eq!(json[0]["help"], "did you mean `token_url`?");
    assert_eq!(
        json[0]["source_line"],
        "  tokn_url: https://{{ subdomain }}.example.com/oauth/token"
    );
}

#[test]
fn json_lines_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let typo = apply(&[("  token_url:", "  tokn_url:")]);
    fs::write(dir.path().join("demo.yaml"), typo).unwrap();
    fs::write(dir.path().join("other.yml"), VALID).unwrap();

    let report = validate_paths(&[dir.path()]);
    let lines = report.to_json_lines();

    for line in lines.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(value.is_object(), "{line}");
    }
    let shown = lines.replace(&dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!("json_lines", shown);
}

#[test]
fn byte_order_mark_is_accepted() {
    let source = format!("\u{feff}{VALID}");
    assert!(parse_provider("demo.yaml", &source).is_ok());

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("demo.yaml"), &source).unwrap();
    let report = validate_paths(&[dir.path()]);
    assert!(report.is_valid(), "{report}");
}

#[test]
fn not_utf8_points_at_invalid_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.yaml");
    // `é` is two bytes and one column, and 0xc3 0x28 is an invalid pair.
    fs::write(&path, b"name: demo\ndisplay_name: D\xc3\xa9mo \xc3\x28\n").unwrap();
    let report = validate_paths(&[&path]);
    assert_eq!(report.diagnostics.len(), 1, "{report}");
    let diagnostic = &report.diagnostics[0];
    assert_eq!(diagnostic.code, Code::InvalidUtf8);
    assert_eq!(diagnostic.line, Some(2));
    assert_eq!(diagnostic.column, Some(20));
    assert_eq!(
        diagnostic.message,
        "provider file is not valid UTF-8: invalid byte 0xc3"
    );
}

#[test]
fn deep_flow_nesting_is_rejected_quickly() {
    // libyaml takes time quadratic in this depth: about 8 s for 32,000
    // levels in a release build, without the depth check.
    let depth = 200_000;
    let source = format!(
        "name: demo\nx: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let started = std::time::Instant::now();
    let diagnostics = diagnostics_of("demo.yaml", &source);
    let elapsed = started.elapsed();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, Code::InvalidYaml);
    assert_eq!(diagnostics[0].line, Some(2));
    // `x: ` takes 3 columns, and the 129th bracket is the first too deep.
    assert_eq!(diagnostics[0].column, Some(3 + 129));
    assert!(
        diagnostics[0]
            .message
            .contains("nest more than 128 levels deep"),
        "{}",
        diagnostics[0].message
    );
    assert!(elapsed.as_secs() < 5, "took {elapsed:?}");
}

#[test]
fn deep_block_nesting_is_rejected_quickly() {
    // Block collections need no closing bracket, so a line of `- ` or `? `
    // nests as deep as it is long. libyaml reads them in linear time, and
    // serde_yaml then rejects more than 128 levels.
    let depth = 200_000;
    for indicator in ["- ", "? "] {
        let source = format!("name: demo\nx:\n  {}x\n", indicator.repeat(depth));
        let started = std::time::Instant::now();
        let diagnostics = diagnostics_of("demo.yaml", &source);
        let elapsed = started.elapsed();
        assert_eq!(diagnostics.len(), 1, "{indicator:?}");
        assert_eq!(diagnostics[0].code, Code::InvalidYaml, "{indicator:?}");
        assert_eq!(diagnostics[0].line, Some(3), "{indicator:?}");
        assert!(elapsed.as_secs() < 5, "{indicator:?} took {elapsed:?}");
    }
    let source = format!("name: demo\nx:\n  {}x\n", "- ".repeat(depth));
    let diagnostics = diagnostics_of("demo.yaml", &source);
    assert!(
        diagnostics[0].message.contains("recursion limit exceeded"),
        "{}",
        diagnostics[0].message
    );
    let help = diagnostics[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("at most 128 nested levels"), "{help}");
}

#[test]
fn brackets_in_quotes_do_not_count_as_nesting() {
    let brackets = "[".repeat(300);
    let source = apply(&[(
        "    example: acme\n",
        "    example: acme\n    description: 'a [ list' # [[[\n",
    )]);
    let quoted = format!("{source}# {brackets}\n");
    assert!(parse_provider("demo.yaml", &quoted).is_ok());
    let double_quoted = apply(&[(
        "    example: acme\n",
        "    example: acme\n    description: \"x \\\" [[[[\"\n",
    )]);
    let double_quoted = double_quoted.replace("[[[[", &brackets);
    let result = parse_provider("demo.yaml", &double_quoted);
    assert!(result.is_ok(), "{result:?}");
}
