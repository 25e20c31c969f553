//! Loading the built-in catalog, overriding it from directories, and
//! validating files on disk.

use std::fs;

use latchkey_catalog::{
    parse_provider, validate_paths, Auth, Catalog, ClientAuth, Code, InjectLocation,
};

#[test]
fn builtin_catalog_loads() {
    let catalog = match Catalog::builtin() {
        Ok(catalog) => catalog,
        Err(error) => panic!("built-in catalog is invalid:\n{error}"),
    };
    assert!(catalog.len() >= 40, "only {} providers", catalog.len());

    let names: Vec<&str> = catalog.providers().map(|p| p.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "providers() is not sorted by name");
}

#[test]
fn builtin_contains_required_providers() {
    let catalog = Catalog::builtin().unwrap();
    let required = [
        "confluence",
        "jira",
        "github",
        "google",
        "slack",
        "notion",
        "hubspot",
        "salesforce",
        "microsoft",
        "linear",
        "zoom",
        "dropbox",
        "asana",
        "gitlab",
        "stripe",
        "openai",
        "sendgrid",
        "anthropic",
        "twilio",
        "zendesk",
        "shopify",
        "freshdesk",
        "okta",
    ];
    for name in required {
        assert!(
            catalog.get(name).is_some(),
            "missing built-in provider `{name}`"
        );
    }
}

#[test]
fn builtin_covers_every_auth_mode() {
    let catalog = Catalog::builtin().unwrap();
    let count = |mode: &str| {
        catalog
            .providers()
            .filter(|p| p.auth.mode_name() == mode)
            .count()
    };
    assert!(count("oauth2") >= 14);
    assert!(count("oauth2_client_credentials") >= 2);
    assert!(count("api_key") >= 3);
    assert!(count("basic") >= 1);

    let templated = catalog
        .providers()
        .filter(|p| p.proxy.base_url.contains("{{"))
        .count();
    assert!(
        templated >= 5,
        "only {templated} providers template their base URL"
    );
}

#[test]
fn confluence_uses_atlassian_settings() {
    let catalog = Catalog::builtin().unwrap();
    let confluence = catalog.get("confluence").unwrap();
    let Auth::Oauth2(oauth) = &confluence.auth else {
        panic!("confluence is not oauth2");
    };
    assert_eq!(
        oauth.authorization_url,
        "https://auth.atlassian.com/authorize"
    );
    assert_eq!(oauth.token_url, "https://auth.atlassian.com/oauth/token");
    assert_eq!(oauth.authorization_params["audience"], "api.atlassian.com");
    assert_eq!(oauth.authorization_params["prompt"], "consent");
    assert!(oauth.default_scopes.contains(&"offline_access".to_owned()));
    assert_eq!(
        confluence.proxy.base_url,
        "https://api.atlassian.com/ex/confluence/{{ cloudId }}"
    );
    assert!(confluence.connection_config.contains_key("cloudId"));
}

#[test]
fn provider_specific_facts() {
    let catalog = Catalog::builtin().unwrap();

    let Auth::Oauth2(slack) = &catalog.get("slack").unwrap().auth else {
        panic!("slack is not oauth2");
    };
    assert_eq!(slack.scope_separator, ",");

    let Auth::Oauth2(zoom) = &catalog.get("zoom").unwrap().auth else {
        panic!("zoom is not oauth2");
    };
    assert_eq!(zoom.client_auth, ClientAuth::Basic);

    let Auth::Oauth2(dropbox) = &catalog.get("dropbox").unwrap().auth else {
        panic!("dropbox is not oauth2");
    };
    assert_eq!(dropbox.authorization_params["token_access_type"], "offline");

    let salesforce = catalog.get("salesforce").unwrap();
    let Auth::Oauth2(oauth) = &salesforce.auth else {
        panic!("salesforce is not oauth2");
    };
    assert_eq!(
        oauth.token_response.connection_config["instance_url"],
        "instance_url"
    );
    assert_eq!(salesforce.proxy.base_url, "{{ instance_url }}");

    let microsoft = catalog.get("microsoft").unwrap();
    assert_eq!(
        microsoft.connection_config["tenant"].default.as_deref(),
        Some("common")
    );

    let shopify = catalog.get("shopify").unwrap().auth.inject();
    assert_eq!(shopify.location, InjectLocation::Header);
    assert_eq!(shopify.name, "X-Shopify-Access-Token");
    assert_eq!(shopify.value, "{{ access_token }}");

    let anthropic = catalog.get("anthropic").unwrap();
    assert_eq!(anthropic.auth.inject().name, "x-api-key");
    assert_eq!(anthropic.proxy.headers["anthropic-version"], "2023-06-01");

    let twilio = catalog.get("twilio").unwrap();
    let Auth::Basic(basic) = &twilio.auth else {
        panic!("twilio is not basic");
    };
    assert_eq!(basic.username_title.as_deref(), Some("Account SID"));
    assert_eq!(
        twilio.auth.inject().value,
        "Basic {{ (username ~ ':' ~ password) | base64 }}"
    );
}

/// Marker on the first line of files written by `scripts/import-nango.sh`.
const IMPORTED_MARKER: &str = "imported from Nango's provider catalog";

fn first_line_of(name: &str) -> String {
    let path = format!("{}/providers/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let source = fs::read_to_string(&path).unwrap();
    source.lines().next().unwrap_or_default().to_owned()
}

/// Hand-written files link the provider's own documentation. Imported files
/// carry no link, because Nango's entries link only to Nango's pages.
#[test]
fn builtin_files_declare_docs_and_categories() {
    let catalog = Catalog::builtin().unwrap();
    for provider in catalog.providers() {
        if first_line_of(&provider.name).contains(IMPORTED_MARKER) {
            assert_eq!(provider.docs_url, None, "{}", provider.name);
            continue;
        }
        assert!(
            provider.docs_url.is_some(),
            "{} has no docs_url",
            provider.name
        );
        assert!(
            !provider.categories.is_empty(),
            "{} has no categories",
            provider.name
        );
    }
}

#[test]
fn builtin_files_start_with_comment() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/providers");
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = fs::read_to_string(&path).unwrap();
        let first = source.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("# "),
            "{} does not start with a comment",
            path.display()
        );
    }
}

#[test]
fn provider_round_trips_through_json() {
    let catalog = Catalog::builtin().unwrap();
    for provider in catalog.providers() {
        let json = serde_json::to_value(provider).unwrap();
        assert_eq!(json["auth"]["mode"], provider.auth.mode_name());
        let file_name = format!("{}.yaml", provider.name);
        let yaml = serde_yaml::to_string(&json).unwrap();
        let reparsed = parse_provider(&file_name, &yaml).unwrap();
        assert_eq!(&reparsed, provider);
    }
}

const LOCAL_GITHUB: &str = "# GitHub pointed at a local test server.
name: github
display_name: GitHub (local)
auth:
  mode: oauth2
  authorization_url: http://127.0.0.1:4010/login/oauth/authorize
  token_url: http://127.0.0.1:4010/login/oauth/access_token
proxy:
  base_url: http://127.0.0.1:4011
";

const LOCAL_EXTRA: &str = "# A provider that only exists in the extra directory.
name: local-echo
display_name: Local echo
auth:
  mode: api_key
  inject:
    location: query
    name: key
    value: '{{ api_key }}'
proxy:
  base_url: http://localhost:4012/v1
";

#[test]
fn directory_overrides_builtin_entry() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("github.yaml"), LOCAL_GITHUB).unwrap();
    fs::write(dir.path().join("local-echo.yaml"), LOCAL_EXTRA).unwrap();
    fs::write(dir.path().join("notes.txt"), "not a provider").unwrap();

    let builtin = Catalog::builtin().unwrap();
    let catalog = Catalog::with_dirs(&[dir.path()]).unwrap();

    assert_eq!(catalog.len(), builtin.len() + 1);
    let github = catalog.get("github").unwrap();
    assert_eq!(github.display_name, "GitHub (local)");
    assert_eq!(github.proxy.base_url, "http://127.0.0.1:4011");
    let echo = catalog.get("local-echo").unwrap();
    assert_eq!(echo.auth.inject().location, InjectLocation::Query);
    assert_eq!(catalog.get("slack"), builtin.get("slack"));
}

#[test]
fn later_directory_wins() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    fs::write(first.path().join("github.yaml"), LOCAL_GITHUB).unwrap();
    let renamed = LOCAL_GITHUB.replace("GitHub (local)", "GitHub (second)");
    fs::write(second.path().join("github.yaml"), renamed).unwrap();

    let catalog = Catalog::with_dirs(&[first.path(), second.path()]).unwrap();
    assert_eq!(
        catalog.get("github").unwrap().display_name,
        "GitHub (second)"
    );
}

#[test]
fn with_dirs_reports_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let broken = LOCAL_GITHUB.replace("token_url:", "tokn_url:");
    fs::write(dir.path().join("github.yaml"), broken).unwrap();

    let error = Catalog::with_dirs(&[dir.path()]).unwrap_err();
    assert_eq!(error.diagnostics.len(), 1);
    let diagnostic = &error.diagnostics[0];
    assert_eq!(diagnostic.path.as_deref(), Some("auth.tokn_url"));
    assert_eq!(diagnostic.line, Some(7));
    assert!(diagnostic.file.ends_with("github.yaml"));
    assert!(error.to_string().contains("did you mean `token_url`?"));
}

#[test]
fn with_dirs_reports_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    let error = Catalog::with_dirs(&[&missing]).unwrap_err();
    assert_eq!(error.diagnostics.len(), 1);
    assert_eq!(
        error.diagnostics[0].message,
        format!("path `{}` does not exist", missing.display())
    );
}

#[test]
fn directory_rules_for_catalog_dirs() {
    let with_yml = tempfile::tempdir().unwrap();
    fs::write(with_yml.path().join("github.yml"), LOCAL_GITHUB).unwrap();
    fs::write(with_yml.path().join("local-echo.yaml"), LOCAL_EXTRA).unwrap();
    let only_other = tempfile::tempdir().unwrap();
    fs::write(only_other.path().join("README.md"), "# notes").unwrap();
    let empty = tempfile::tempdir().unwrap();

    let error = Catalog::with_dirs(&[with_yml.path()]).unwrap_err();
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    assert!(error.diagnostics[0].file.ends_with("github.yml"));
    assert_eq!(
        error.diagnostics[0].help.as_deref(),
        Some("rename `github.yml` to `github.yaml`")
    );

    for dir in [only_other.path(), empty.path()] {
        let error = Catalog::with_dirs(&[dir]).unwrap_err();
        assert_eq!(error.diagnostics.len(), 1, "{error}");
        assert_eq!(
            error.diagnostics[0].message,
            format!("no provider files (*.yaml) in `{}`", dir.display())
        );

        let report = validate_paths(&[dir]);
        assert_eq!(report.diagnostics, error.diagnostics);
    }

    let report = validate_paths(&[with_yml.path()]);
    assert_eq!(report.files_checked, 2);
    assert_eq!(report.diagnostics.len(), 1, "{report}");
}

#[test]
fn validate_paths_reports_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    let missing_file = dir.path().join("absent.yaml");
    let missing_dir = dir.path().join("absent");

    let report = validate_paths(&[&missing_file, &missing_dir]);

    let messages: Vec<&str> = report
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            format!("path `{}` does not exist", missing_file.display()),
            format!("path `{}` does not exist", missing_dir.display()),
        ]
    );
    assert!(!report.is_valid());
}

#[test]
fn validate_paths_checks_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("github.yaml"), LOCAL_GITHUB).unwrap();
    fs::write(dir.path().join("local-echo.yaml"), LOCAL_EXTRA).unwrap();
    let bad = LOCAL_EXTRA.replace("http://localhost:4012", "http://example.com");
    let single = tempfile::tempdir().unwrap();
    let bad_path = single.path().join("local-echo.yaml");
    fs::write(&bad_path, bad).unwrap();

    let valid = validate_paths(&[dir.path()]);
    assert_eq!(valid.files_checked, 2);
    assert!(valid.diagnostics.is_empty(), "{valid}");
    assert!(valid.to_string().ends_with("2 provider files valid"));

    let report = validate_paths(&[dir.path(), bad_path.as_path()]);
    assert_eq!(report.files_checked, 3);
    assert_eq!(report.diagnostics.len(), 1);
    assert_eq!(
        report.diagnostics[0].path.as_deref(),
        Some("proxy.base_url")
    );
    assert!(report.to_string().ends_with("1 error in 3 provider files"));
}

#[test]
fn validate_paths_rejects_other_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("github.yml");
    fs::write(&path, LOCAL_GITHUB).unwrap();

    let report = validate_paths(&[&path]);
    assert_eq!(report.files_checked, 1);
    assert_eq!(report.diagnostics.len(), 1);
    assert!(report.diagnostics[0].message.contains("`.yaml`"));
    assert_eq!(
        report.diagnostics[0].help.as_deref(),
        Some("rename `github.yml` to `github.yaml`")
    );
}

#[test]
fn validate_paths_without_paths_checks_builtin() {
    let report = validate_paths::<&str>(&[]);
    assert_eq!(report.files_checked, Catalog::builtin().unwrap().len());
    assert!(report.is_valid(), "{report}");
}

#[test]
fn serde_rejects_unknown_auth_field() {
    let json = serde_json::json!({
        "name": "demo",
        "display_name": "Demo",
        "auth": {"mode": "basic", "username_titel": "User"},
        "proxy": {"base_url": "https://api.example.com"}
    });
    let error = serde_json::from_value::<latchkey_catalog::Provider>(json).unwrap_err();
    assert!(error.to_string().contains("username_titel"), "{error}");
}

#[test]
fn leading_url_fields_accept_only_provider_hosts() {
    let catalog = Catalog::builtin().unwrap();

    // (provider, field, accepted values, rejected values)
    #[rustfmt::skip]
    let cases: [(&str, &str, &[&str], &[&str]); 2] = [
        (
            "salesforce",
            "instance_url",
            &[
                "https://acme.my.salesforce.com",
                "https://acme--dev.sandbox.my.salesforce.com",
                "https://na123.salesforce.com",
                "https://acme.lightning.force.com",
                "https://acme.my.site.com",
            ],
            &[
                "https://evil.example",
                "https://127.0.0.1",
                "https://acme.my.salesforce.com.evil.example",
                "https://evil.example/.salesforce.com",
                "https://a@acme.my.salesforce.com",
                "http://acme.my.salesforce.com",
                "https://salesforce.com",
            ],
        ),
        (
            "pipedrive",
            "api_domain",
            &["https://acme.pipedrive.com"],
            &["https://evil.example", "https://acme.pipedrive.com.evil.example", "http://acme.pipedrive.com"],
        ),
    ];

    for (provider, field, accepted, rejected) in cases {
        let config_field = &catalog.get(provider).unwrap().connection_config[field];
        for value in accepted {
            assert!(
                config_field.accepts(value),
                "{provider}.{field} rejects {value}"
            );
        }
        for value in rejected {
            assert!(
                !config_field.accepts(value),
                "{provider}.{field} accepts {value}"
            );
        }
    }
}

#[test]
fn validate_paths_checks_a_file_once() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("github.yaml"), LOCAL_GITHUB).unwrap();
    fs::write(dir.path().join("local-echo.yaml"), LOCAL_EXTRA).unwrap();

    let report = validate_paths(&[dir.path(), &dir.path().join("github.yaml")]);
    assert_eq!(report.files_checked, 2);
    assert!(report.is_valid(), "{report}");
}

#[test]
fn validate_paths_rejects_duplicate_names() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    fs::write(first.path().join("github.yaml"), LOCAL_GITHUB).unwrap();
    fs::write(second.path().join("github.yaml"), LOCAL_GITHUB).unwrap();

    let report = validate_paths(&[first.path(), second.path()]);
    assert_eq!(report.files_checked, 2);
    assert_eq!(report.diagnostics.len(), 1, "{report}");
    let diagnostic = &report.diagnostics[0];
    assert_eq!(diagnostic.code, Code::DuplicateProvider);
    assert!(diagnostic
        .file
        .starts_with(&*second.path().to_string_lossy()));
    assert_eq!(diagnostic.line, Some(2));
    assert!(
        diagnostic
            .message
            .contains(&*first.path().join("github.yaml").to_string_lossy()),
        "{}",
        diagnostic.message
    );

    // Catalog directories may replace each other's providers.
    assert!(Catalog::with_dirs(&[first.path(), second.path()]).is_ok());
}

#[test]
fn providers_on_disk_validate() {
    // New files reach the embedded catalog only when the crate is rebuilt,
    // so the files on disk are checked directly as well.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/providers");
    let report = validate_paths(&[dir]);
    assert!(report.is_valid(), "{report}");
    assert!(report.files_checked >= Catalog::builtin().unwrap().len());
}

#[test]
fn template_validates_as_a_provider_file() {
    let template = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("catalog/template.yaml exists");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example-cloud.yaml");
    fs::write(&path, &template).unwrap();

    let report = validate_paths(&[&path]);
    assert!(report.is_valid(), "{report}");

    let provider = parse_provider("example-cloud.yaml", &template).unwrap();
    assert_eq!(provider.auth.mode_name(), "oauth2");
    assert!(provider.connection_config.contains_key("subdomain"));
}

#[test]
fn unused_field_lint_exemptions() {
    let source = "# Fields that no template uses but that are still allowed.
name: exempt
display_name: Exempt
auth:
  mode: oauth2
  authorization_url: https://example.com/authorize
  token_url: https://example.com/token
  token_response:
    connection_config:
      account_id: account.id
connection_config:
  account_id:
    title: Account ID
    automated: true
  team:
    title: Team
    optional: true
proxy:
  base_url: https://api.example.com
";
    let provider = parse_provider("exempt.yaml", source).unwrap();
    assert_eq!(provider.connection_config.len(), 2);

    let required = source.replace("    optional: true\n", "");
    let diagnostics = parse_provider("exempt.yaml", &required).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, Code::UnusedConfigField);
    assert_eq!(
        diagnostics[0].path.as_deref(),
        Some("connection_config.team")
    );
}
