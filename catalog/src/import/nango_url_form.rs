//! Choice of the `base_url` and `host_port_path` formats for a Nango field
//! that carries a host together with a port or path, such as ADOxx's
//! `yourcompany.com:8000/ADOXX` in `https://${connectionConfig.baseUrl}/rest`.

use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::Mapping;

use super::{string, whole_value, Usage};
use crate::import::Reason;
use crate::model::FieldFormat;

/// A `{...}` placeholder in one of Nango's examples.
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{[^{}]*\}").expect("valid regex"));

/// A URL form chosen for a field, with the pattern and example the field
/// keeps.
pub(super) struct UrlForm {
    pub(super) format: FieldFormat,
    /// Nango's own pattern without its anchors, when it has one.
    pub(super) pattern: Option<String>,
    /// The first of Nango's examples that the format and the pattern
    /// accept. An example such as `http://localhost:8080`, which Latchkey
    /// rejects, is left out.
    pub(super) example: Option<String>,
}

impl UrlForm {
    /// The name of the format in a provider file.
    pub(super) fn format_name(&self) -> &'static str {
        match self.format {
            FieldFormat::BaseUrl => "base_url",
            _ => "host_port_path",
        }
    }
}

/// Chooses a URL form for a field when every URL that uses it puts it where
/// the form belongs and Nango shows that the value carries more than a host.
/// Either an example has a port or path that the form accepts, or the
/// pattern accepts a path. A field that starts every URL it is in gets `base_url`,
/// and one that is the whole authority after `https://` gets
/// `host_port_path`. Returns `None` when the field keeps the ordinary
/// check of its place, and an error when Nango's own pattern does not
/// compile.
pub(super) fn choose(key: &str, nango: &Mapping, usage: Usage) -> Result<Option<UrlForm>, Reason> {
    if !usage.in_url || usage.in_path {
        return Ok(None);
    }
    let (format, path_probe) = if usage.starts_url && !usage.in_host {
        (FieldFormat::BaseUrl, "https://acme.example.com/api")
    } else if usage.in_host && !usage.starts_url && !usage.partial_host {
        (FieldFormat::HostPortPath, "acme.example.com/api")
    } else {
        return Ok(None);
    };
    let regex = match string(nango, "pattern") {
        Some(pattern) => {
            let stripped = super::whole_value_pattern(pattern);
            let regex = whole_value(&stripped).map_err(|_| Reason::invalid_pattern(key))?;
            Some((stripped, regex))
        }
        None => None,
    };
    let accepted = |value: &str| {
        format.check_url_form(value).is_ok()
            && regex
                .as_ref()
                .is_none_or(|(_, regex)| regex.is_match(value))
    };
    // Nango writes two examples as `A or B`, as for Azure DevOps.
    let examples: Vec<String> = nango
        .get("example")
        .and_then(super::scalar_text)
        .map(|example| example.split(" or ").map(str::to_owned).collect())
        .unwrap_or_default();
    let host_part = |example: &str| match format {
        FieldFormat::BaseUrl => example.strip_prefix("https://").map(str::to_owned),
        _ => Some(example.to_owned()),
    };
    // An example may name its host by a placeholder, as Veeva's
    // `{your-okta-domain}/oauth2/default/v1/token` does. A stand-in host
    // shows what the rest carries; the example itself is not a value, so
    // it is not kept.
    let probes: Vec<String> = examples
        .iter()
        .map(|example| {
            PLACEHOLDER
                .replace_all(example, "acme.example.com")
                .into_owned()
        })
        .collect();
    let example_carries_more = probes.iter().all(|example| accepted(example))
        && probes
            .iter()
            .any(|example| host_part(example).is_some_and(|rest| rest.contains(['/', ':'])));
    let pattern_allows_path = regex
        .as_ref()
        .is_some_and(|(_, regex)| regex.is_match(path_probe));
    if !example_carries_more && !pattern_allows_path {
        return Ok(None);
    }
    Ok(Some(UrlForm {
        format,
        example: examples.iter().find(|example| accepted(example)).cloned(),
        pattern: regex.map(|(pattern, _)| pattern),
    }))
}

/// Drops the `https://` that a URL template writes before a field whose
/// Nango pattern requires the value to start with a scheme, such as
/// Blackbaud's `https://${connectionConfig.hostName}` with the pattern
/// `^https?:\/\/[a-z0-9.-]+(:\d+)?(\/.*)?$`. The value then starts the URL,
/// as the pattern shows it must. Returns `None` when `text` does not start
/// with such a field.
pub(super) fn drop_doubled_scheme(entry: &Mapping, text: &str) -> Option<String> {
    let rest = text.strip_prefix("https://")?;
    let inner = rest.strip_prefix("{{ ")?;
    let key = &inner[..inner.find(" }}")?];
    let field = super::mapping(entry, "connection_config")?
        .get(key)
        .and_then(serde_yaml::Value::as_mapping)?;
    let pattern = string(field, "pattern")?;
    let regex = whole_value(&super::whole_value_pattern(pattern)).ok()?;
    let requires_scheme =
        regex.is_match("https://acme.example.com") && !regex.is_match("acme.example.com");
    requires_scheme.then(|| rest.to_owned())
}
