//! End-to-end test of `latchkey catalog import --from nango` on the
//! `providers.yaml` of the pinned npm package `@nangohq/providers@0.71.10`,
//! installed under `tests/peers/node_modules` by `scripts/test.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ENTRIES: usize = 1013;
const CONVERTED: usize = 1008;
const SUPPORTED_MODES: [&str; 16] = [
    "AWS_SIGV4",
    "JWT",
    "SIGNATURE",
    "OAUTH2",
    "OAUTH2_CC",
    "API_KEY",
    "BASIC",
    "MCP_OAUTH2",
    "MCP_OAUTH2_GENERIC",
    "OAUTH1",
    "TBA",
    "TWO_STEP",
    "BILL",
    "NONE",
    "APP",
    "CUSTOM",
];

/// Entries not converted, per reason, for the pinned package.
const NOT_CONVERTED_BY_REASON: &[(&str, usize)] = &[
    ("Nango field `installation` has no Latchkey equivalent", 1),
    ("auth mode INSTALL_PLUGIN is not supported", 1),
    ("template variable filled by a post-connection script", 2),
    ("unexpected entry shape", 1),
];

fn providers_yaml() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/node_modules/@nangohq/providers/providers.yaml");
    assert!(
        path.is_file(),
        "{} is missing; run `npm ci` in tests/peers (scripts/test.sh does)",
        path.display()
    );
    path
}

fn latchkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .output()
        .expect("the latchkey binary runs")
}

fn run_import(out: &Path) -> Value {
    let input = providers_yaml();
    let output = latchkey(&[
        "catalog",
        "import",
        "--from",
        "nango",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "import failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("the report is one JSON object")
}

/// Reads the auth mode of every entry line by line from the file with
/// Nango's alias rule (an alias takes its target's mode unless it sets its
/// own), independently of the importer's YAML handling.
fn modes_by_entry(source: &str) -> BTreeMap<String, String> {
    let mut own_mode: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in source.lines() {
        if let Some(name) = line
            .strip_suffix(':')
            .filter(|name| !name.starts_with([' ', '#']) && !name.is_empty() && !name.contains(' '))
        {
            own_mode.push((name.to_owned(), None, None));
        } else if let Some((_, mode, alias)) = own_mode.last_mut() {
            if let Some(value) = line.strip_prefix("    auth_mode: ") {
                *mode = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("    alias: ") {
                *alias = Some(value.trim().to_owned());
            }
        }
    }
    let raw: BTreeMap<_, _> = own_mode
        .iter()
        .map(|(name, mode, _)| (name.clone(), mode.clone()))
        .collect();
    let mut modes = BTreeMap::new();
    for (name, mode, alias) in &own_mode {
        let resolved = match (mode, alias) {
            (Some(mode), _) => mode.clone(),
            (None, Some(target)) => modes
                .get(target)
                .cloned()
                .or_else(|| raw.get(target).cloned().flatten())
                .unwrap_or_default(),
            (None, None) => String::new(),
        };
        modes.insert(name.clone(), resolved);
    }
    modes
}

fn names(report: &Value, key: &str) -> BTreeSet<String> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn nango_import_counts() {
    let out = tempfile::tempdir().unwrap();
    let report = run_import(out.path());

    assert_eq!(report["total"], ENTRIES);
    assert_eq!(report["converted"], CONVERTED);
    assert_eq!(report["not_converted"], ENTRIES - CONVERTED);
    let by_reason: BTreeMap<String, u64> =
        serde_json::from_value(report["not_converted_by_reason"].clone()).unwrap();
    let expected: BTreeMap<String, u64> = NOT_CONVERTED_BY_REASON
        .iter()
        .map(|(reason, count)| ((*reason).to_owned(), *count as u64))
        .collect();
    assert_eq!(by_reason, expected);

    let converted = names(&report, "converted_entries");
    let not_converted = names(&report, "not_converted_entries");
    assert_eq!(converted.len() + not_converted.len(), ENTRIES);
    assert!(converted.is_disjoint(&not_converted));

    let written: BTreeSet<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected_files: BTreeSet<String> = converted
        .iter()
        .map(|name| format!("{name}.yaml"))
        .collect();
    assert_eq!(written, expected_files);
}

#[test]
fn unsupported_modes_are_listed() {
    let out = tempfile::tempdir().unwrap();
    let report = run_import(out.path());
    let source = std::fs::read_to_string(providers_yaml()).unwrap();
    let modes = modes_by_entry(&source);
    assert_eq!(modes.len(), ENTRIES);

    let reasons: BTreeMap<&str, &str> = report["not_converted_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["name"].as_str().unwrap(),
                entry["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let mut unsupported = 0;
    for (name, mode) in &modes {
        if SUPPORTED_MODES.contains(&mode.as_str()) {
            continue;
        }
        unsupported += 1;
        // INSTALL_PLUGIN adds what the mode would need.
        let expected = format!("auth mode {mode} is not supported");
        let message = reasons.get(name.as_str()).copied().unwrap_or_default();
        assert!(message.starts_with(&expected), "{name}: {message}");
    }
    assert_eq!(unsupported, 1);
}

#[test]
fn imported_files_validate_and_copy_no_prose() {
    let out = tempfile::tempdir().unwrap();
    run_import(out.path());

    let output = latchkey(&["catalog", "validate", out.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "validate failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("{CONVERTED} provider files valid")),
        "{stdout}"
    );

    // Descriptions of connection-config fields in Nango's file.
    let nango_descriptions = [
        "The subdomain of your Zendesk account",
        "The version of the Anthropic API to use",
    ];
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lowercase = text.to_ascii_lowercase();
        assert!(!lowercase.contains("nango.dev"), "{}", path.display());
        assert!(!text.contains("description:"), "{}", path.display());
        for description in nango_descriptions {
            assert!(!text.contains(description), "{}", path.display());
        }
        // Titles are written from the keys, and credential labels are left
        // to the connect page's defaults.
        for copied in ["key_title:", "username_title:", "password_title:"] {
            assert!(!text.contains(copied), "{}: {copied}", path.display());
        }
        let first_line = text.lines().next().unwrap();
        assert!(
            first_line.starts_with("# ")
                && first_line.contains(": imported from Nango's provider catalog (auth mode "),
            "{}: {first_line}",
            path.display()
        );
    }
    for name in ["zendesk", "anthropic"] {
        assert!(out.path().join(format!("{name}.yaml")).is_file(), "{name}");
    }

    // Freshdesk sends the API key as the username and a fixed `X` as the
    // password, which Nango writes as a hidden password with a default.
    let freshdesk = std::fs::read_to_string(out.path().join("freshdesk.yaml")).unwrap();
    assert!(freshdesk.contains("  fixed_password: X\n"), "{freshdesk}");
    // Jira's post-connection script only records values that no template
    // uses, so the entry converts with a note.
    let jira = std::fs::read_to_string(out.path().join("jira.yaml")).unwrap();
    assert!(
        jira.lines()
            .nth(1)
            .is_some_and(|line| line.contains("post-connection step is not run")),
        "{jira}"
    );
    // Mailchimp's script only reads the data center from one call, so the
    // entry converts with that call as a post-connection step.
    let mailchimp = std::fs::read_to_string(out.path().join("mailchimp.yaml")).unwrap();
    let expected_step = "post_connection:
- url: https://login.mailchimp.com/oauth2/metadata
  headers:
    Authorization: OAuth {{ access_token }}
  connection_config:
    dc: dc
";
    assert!(mailchimp.ends_with(expected_step), "{mailchimp}");
    assert!(!mailchimp.contains("is not run"), "{mailchimp}");
    // Sophos Central's script reads the tenant id and the regional API
    // origin from `whoami`, and the proxy's base URL is that origin.
    let sophos = std::fs::read_to_string(out.path().join("sophos-central.yaml")).unwrap();
    let expected_step = "post_connection:
- url: https://api.central.sophos.com/whoami/v1
  connection_config:
    dataRegion: apiHosts.dataRegion
    tenantId: id
";
    assert!(sophos.ends_with(expected_step), "{sophos}");
    assert!(
        sophos.contains("  base_url: '{{ dataRegion }}'\n"),
        "{sophos}"
    );
}

#[test]
fn signing_entries_keep_their_facts() {
    let out = tempfile::tempdir().unwrap();
    run_import(out.path());
    let cases = [
        (
            "tripletex",
            vec![
                "      expirationDate: '{{ now(''%Y-%m-%d'', days=7) }}'\n",
                "    value: Basic {{ (proxyCompanyId ~ ':' ~ access_token) | base64 }}\n",
            ],
        ),
        (
            "ghost-admin",
            vec![
                "  signing_key: '{{ (credentials.privateKey | split('':''))[1] }}'\n",
                "  hmac_key_encoding: hex\n",
                "    value: Ghost {{ access_token }}\n",
            ],
        ),
        (
            "snowflake-jwt",
            vec!["    iss: '{{ credentials.accountIdentifier }}.{{ credentials.userName }}.SHA256:{{ public_key_sha256 }}'\n"],
        ),
        (
            "okta-cc",
            vec![
                "  signing_key_format: jwk\n",
                "    aud: '{{ token_url }}'\n",
                "  - https://{{ subdomain }}.okta.com/oauth2/v1/token\n",
                "  grant: client_assertion\n",
            ],
        ),
        (
            "microsoft-oauth2-cc-cert",
            vec!["  algorithm: PS256\n", "    x5t#S256: '{{ credentials.certificateThumbprint }}'\n"],
        ),
        ("cisco-duo-admin", vec!["  timestamp_format: rfc2822\n"]),
        ("aws-multi-service", vec!["  service: '{{ service }}'\n"]),
        (
            "aws-sigv4",
            vec![
                "  assume_role: {}\n",
                "    pattern: '[a-z]{2}(-[a-z]+)+-[0-9]+'\n",
                "    pattern: '[a-z0-9-]+'\n    automated: true\n    integration_default: true\n",
                "# Nango's `stsMode: custom`",
            ],
        ),
        ("emarsys", vec!["  encoding: base64_hex\n"]),
    ];
    for (name, lines) in cases {
        let text = std::fs::read_to_string(out.path().join(format!("{name}.yaml"))).unwrap();
        for line in lines {
            assert!(text.contains(line), "{name} lacks {line:?}:\n{text}");
        }
    }
}
