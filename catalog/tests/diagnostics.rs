//! Rendered diagnostics for each kind of bad provider file, as snapshots.

use latchkey_catalog::parse_provider;

/// A valid OAuth2 provider that the cases below break in one place each.
const VALID: &str = r#"# Demo provider used by the diagnostics tests.
name: demo
display_name: Demo
categories: [testing]
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
        edits: &[("connection_config:\n", "connection_config:\n  password:\n    title: Password\n")],
    },
    Case {
        name: "url_variable_without_pattern",
        file_name: "demo.yaml",
        edits: &[("    pattern: \"[a-z0-9-]+\"\n", "")],
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

fn render(file_name: &str, source: &str) -> String {
    match parse_provider(file_name, source) {
        Ok(provider) => panic!("{file_name} parsed without errors: {provider:?}"),
        Err(diagnostics) => diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
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
        let output = render(case.file_name, &source);
        insta::assert_snapshot!(case.name, output);
    }
}

#[test]
fn diagnostics_serialize_to_json() {
    let source = apply(&[("  token_url:", "  tokn_url:")]);
    let diagnostics = parse_provider("demo.yaml", &source).unwrap_err();
    let json = serde_json::to_value(&diagnostics).unwrap();
    assert_eq!(json[0]["file"], "demo.yaml");
    assert_eq!(json[0]["line"], 9);
    assert_eq!(json[0]["column"], 3);
    assert_eq!(json[0]["path"], "auth.tokn_url");
    assert_eq!(json[0]["help"], "did you mean `token_url`?");
}
