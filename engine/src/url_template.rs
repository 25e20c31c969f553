//! Rendering of the URL fields of a provider definition (`auth.authorization_url`,
//! `auth.token_url`, `auth.refresh_url`, `proxy.base_url`), with the checks
//! that keep connection-config values from changing the URL's structure.
//!
//! A connection-config value comes from the application (`POST /connections`),
//! from the end user's browser (`params[KEY]`) or from a token reply, so it is
//! untrusted. Each variable is first rendered as a marker to find where the
//! template puts it, and the value is then checked against the rule of that
//! place:
//!
//! - a template that starts with the variable (`{{ instance_url }}/api`): an
//!   https URL with only a scheme, a host and an optional port;
//! - the scheme, user info, host or port: a host name of letters, digits,
//!   hyphens and dots;
//! - the path: no `/`, `\`, `?` or `#` (raw or percent-encoded), not `.` or `..`;
//! - the query: no `&` or `#`;
//! - a field with `format: base_url` that starts the template, or with
//!   `format: host_port_path` that is the whole authority after a literal
//!   `https://`: the whole value is checked by that format, which allows a
//!   public host, a port and a path, but no user info, query or fragment;
//!
//! and every value must also match its field's `pattern`. After rendering,
//! the URL must have the scheme, host, port and number of path segments of
//! the marker rendering with the values before the path filled in. When a
//! value is part of the host, the rendered host must also be a public DNS
//! name (see [`check_public_host`]). A host written in the template itself,
//! such as `http://127.0.0.1:{{ port }}`, is not checked, unless a filter
//! hides where a variable lands, which counts as a variable in the host.

use minijinja::Environment;
use serde_json::Value;
use url::{Host, Url};

use latchkey_catalog::{FieldFormat, Provider, INTERNAL_HOST_SUFFIXES};

use crate::template::render;
use crate::EngineError;

/// The part of a URL template that a variable falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The template starts with the variable, which supplies scheme and host.
    Leading,
    /// The host, after any user info and before any port.
    Host,
    /// The scheme, user info or port.
    Authority,
    Path,
    Query,
    Fragment,
}

/// Renders a URL field with `vars`, checks every connection-config value it
/// uses, and parses the result as an absolute http(s) URL.
///
/// Errors name the provider, the field and the connection-config key. They
/// show a value with Rust string escaping, so control characters never
/// reach a log raw. Connection-config values are not secrets (credentials
/// are not template variables of URL fields).
pub(crate) fn render_url(
    provider: &Provider,
    field: &str,
    template: &str,
    vars: &Value,
) -> Result<Url, EngineError> {
    let name = provider.name.as_str();
    let text = render(name, field, template, vars)?;
    let variables = used_variables(name, field, template)?;
    let skeleton = render_skeleton(name, field, template, vars, &variables)?;
    let bounds = PartBounds::of(&skeleton, variables.len());

    let mut values = Vec::with_capacity(variables.len());
    let mut host_variables = Vec::new();
    for (index, variable) in variables.iter().enumerate() {
        let Some(value) = vars.get(variable) else {
            values.push(None);
            continue;
        };
        let value = scalar_text(name, field, variable, value)?;
        check_pattern(provider, field, variable, &value)?;
        let places = places_of(&skeleton, &bounds, &marker(index));
        // A filter such as `upper` can hide the marker, so the value then
        // gets the strictest rule, which includes the public-host check.
        let places = if places.is_empty() {
            vec![Place::Host]
        } else {
            places
        };
        if places
            .iter()
            .any(|place| matches!(place, Place::Leading | Place::Host))
        {
            host_variables.push(variable.as_str());
        }
        let format = provider
            .connection_config
            .get(variable)
            .and_then(|config_field| config_field.format);
        for place in places {
            let checked = match url_form(format, place, &skeleton, &bounds, &marker(index)) {
                Some(form) => check_url_form(form, &value),
                None => check_value(place, &value),
            };
            checked.map_err(|reason| config_error(name, field, variable, &value, &reason))?;
        }
        values.push(Some(value));
    }

    let url = parse_http_url(name, field, &text)?;
    check_structure(name, field, &url, &skeleton, &bounds, &values)?;
    if !host_variables.is_empty() {
        check_public_host(&url)
            .map_err(|reason| host_error(name, field, &host_variables, &url, &reason))?;
    }
    Ok(url)
}

/// Returns the top-level variables that `template` reads, sorted.
fn used_variables(provider: &str, field: &str, template: &str) -> Result<Vec<String>, EngineError> {
    let environment = Environment::new();
    let compiled = environment
        .template_from_str(template)
        .map_err(|err| EngineError::template(provider, field, err.to_string()))?;
    let mut variables: Vec<String> = compiled.undeclared_variables(false).into_iter().collect();
    variables.sort();
    Ok(variables)
}

/// Builds the marker of the variable at `index`. It is made of lowercase
/// letters and digits, which every URL part accepts unchanged, and is never
/// a substring of another marker.
fn marker(index: usize) -> String {
    format!("lkvar{index}x")
}

/// Renders `template` with each used variable replaced by its marker.
fn render_skeleton(
    provider: &str,
    field: &str,
    template: &str,
    vars: &Value,
    variables: &[String],
) -> Result<String, EngineError> {
    let mut marked = vars.as_object().cloned().unwrap_or_default();
    for (index, variable) in variables.iter().enumerate() {
        if marked.contains_key(variable) {
            marked.insert(variable.clone(), Value::String(marker(index)));
        }
    }
    render(provider, field, template, &Value::Object(marked))
}

/// Returns the value as text: strings as they are, numbers in decimal.
fn scalar_text(
    provider: &str,
    field: &str,
    variable: &str,
    value: &Value,
) -> Result<String, EngineError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(EngineError::template(
            provider,
            field,
            format!(
                "connection-config key `{variable}` must be a string to be used in a URL, got {other}"
            ),
        )),
    }
}

/// Checks the value of a declared field against its `pattern`. The server
/// checks input values too, but values taken from a token reply reach the
/// engine unchecked.
fn check_pattern(
    provider: &Provider,
    field: &str,
    variable: &str,
    value: &str,
) -> Result<(), EngineError> {
    let Some(config_field) = provider.connection_config.get(variable) else {
        return Ok(());
    };
    if config_field.accepts(value) {
        return Ok(());
    }
    if config_field.excludes(value) {
        let excluded = config_field.excluded_pattern.as_deref().unwrap_or_default();
        return Err(config_error(
            &provider.name,
            field,
            variable,
            value,
            &format!("it matches the excluded pattern `{excluded}` of the field"),
        ));
    }
    let pattern = config_field.pattern.as_deref().unwrap_or_default();
    Err(config_error(
        &provider.name,
        field,
        variable,
        value,
        &format!("it does not match the pattern `{pattern}` of the field"),
    ))
}

fn config_error(
    provider: &str,
    field: &str,
    variable: &str,
    value: &str,
    reason: &str,
) -> EngineError {
    EngineError::template(
        provider,
        field,
        format!("connection-config key `{variable}` has the value {value:?}, which is not allowed here: {reason}"),
    )
}

/// Finds each occurrence of `marker` in the marker rendering and the URL
/// part it falls in.
fn places_of(skeleton: &str, bounds: &PartBounds, marker: &str) -> Vec<Place> {
    skeleton
        .match_indices(marker)
        .map(|(start, _)| bounds.place(start))
        .collect()
}

/// The parts of a marker rendering: which variable (by index) starts it, the
/// byte range of the host, and the byte offsets where the authority, the path
/// and the query end. A rendering that starts with a marker has no authority
/// of its own.
struct PartBounds {
    leading: Option<usize>,
    host_start: usize,
    host_end: usize,
    authority_end: usize,
    path_end: usize,
    query_end: usize,
}

impl PartBounds {
    fn of(skeleton: &str, variable_count: usize) -> PartBounds {
        let leading = (0..variable_count).find(|index| skeleton.starts_with(&marker(*index)));
        let authority_start = match leading {
            Some(index) => marker(index).len(),
            None => skeleton.find("://").map_or(0, |index| index + 3),
        };
        let after = |from: usize, stops: &[char]| {
            skeleton[from..]
                .find(stops)
                .map_or(skeleton.len(), |offset| from + offset)
        };
        let authority_end = after(authority_start, &['/', '\\', '?', '#']);
        let (host_start, host_end) = host_range(skeleton, authority_start, authority_end);
        let path_end = after(authority_end, &['?', '#']);
        let query_end = after(path_end, &['#']);
        PartBounds {
            leading,
            host_start,
            host_end,
            authority_end,
            path_end,
            query_end,
        }
    }

    fn place(&self, start: usize) -> Place {
        if self.leading.is_some() && start == 0 {
            Place::Leading
        } else if (self.host_start..self.host_end).contains(&start) {
            Place::Host
        } else if start < self.authority_end {
            Place::Authority
        } else if start < self.path_end {
            Place::Path
        } else if start < self.query_end {
            Place::Query
        } else {
            Place::Fragment
        }
    }
}

/// Finds the byte range of the host in the authority `skeleton[start..end]`:
/// after the last `@`, and up to the `]` of an IPv6 literal or the `:` of a
/// port.
fn host_range(skeleton: &str, start: usize, end: usize) -> (usize, usize) {
    let authority = &skeleton[start..end];
    let host_start = authority.rfind('@').map_or(0, |index| index + 1);
    let host = &authority[host_start..];
    let host_length = if host.starts_with('[') {
        host.find(']').map_or(host.len(), |index| index + 1)
    } else {
        host.find(':').unwrap_or(host.len())
    };
    (start + host_start, start + host_start + host_length)
}

/// Returns the URL form of a field whose `format` is `base_url` or
/// `host_port_path` when the variable sits where that form belongs: a
/// `base_url` value starts the URL, and a `host_port_path` value is the
/// whole authority right after a literal `https://`. Anywhere else the
/// value gets the ordinary check of its place.
fn url_form(
    format: Option<FieldFormat>,
    place: Place,
    skeleton: &str,
    bounds: &PartBounds,
    marker: &str,
) -> Option<FieldFormat> {
    const SCHEME: &str = "https://";
    match (format?, place) {
        (FieldFormat::BaseUrl, Place::Leading) => Some(FieldFormat::BaseUrl),
        (FieldFormat::HostPortPath, Place::Host)
            if skeleton.starts_with(SCHEME)
                && skeleton[SCHEME.len()..].starts_with(marker)
                && bounds.host_start == SCHEME.len()
                && bounds.authority_end == SCHEME.len() + marker.len() =>
        {
            Some(FieldFormat::HostPortPath)
        }
        _ => None,
    }
}

/// Checks a value of a URL form as a whole; returns the reason when it is
/// rejected.
fn check_url_form(form: FieldFormat, value: &str) -> Result<(), String> {
    if let Some(character) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "it contains the control character U+{:04X}",
            u32::from(character)
        ));
    }
    form.check_url_form(value)
}

/// Checks one value for one place; returns the reason when it is rejected.
fn check_value(place: Place, value: &str) -> Result<(), String> {
    if let Some(character) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "it contains the control character U+{:04X}",
            u32::from(character)
        ));
    }
    match place {
        Place::Leading => check_origin(value),
        Place::Host | Place::Authority => check_host_name(value),
        Place::Path => check_path_segment(value),
        Place::Query => check_query_value(value),
        Place::Fragment => Ok(()),
    }
}

/// Accepts dot-separated labels of ASCII letters, digits and inner hyphens.
fn check_host_name(value: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if value.split('.').all(label_ok) {
        return Ok(());
    }
    Err(
        "a value in the URL's host must be a host name made of letters, digits, \
         hyphens and dots, for example `acme` or `eu.example.com`"
            .to_owned(),
    )
}

const PUBLIC_HOST_RULE: &str = "a host that comes from connection config must be a public DNS \
     name with at least two labels, for example `acme.example.com`. IP addresses, `localhost` \
     and names ending in `.localhost`, `.local`, `.internal`, `.home.arpa`, `.lan`, \
     `.intranet`, `.corp` or `.localdomain` are rejected";

/// Checks that the rendered URL's host is a DNS name outside the names of
/// private networks. The url crate has already parsed IPv4 in any of its
/// forms (`2130706433`, `0x7f.1`) into an address and lowercased the name.
///
/// NOTE: a public DNS name can still resolve to a loopback or private
/// address, or change its address between this check and the request (DNS
/// rebinding). Nothing here resolves the name, so that case is not rejected.
pub(crate) fn check_public_host(url: &Url) -> Result<(), String> {
    let name = match url.host() {
        Some(Host::Domain(name)) => name,
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => return Err("it is an IP address".to_owned()),
        None => return Err("it is empty".to_owned()),
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name == "localhost" {
        return Err("it is `localhost`".to_owned());
    }
    if !name.contains('.') {
        return Err("it has only one label".to_owned());
    }
    let internal = INTERNAL_HOST_SUFFIXES
        .iter()
        .find(|suffix| name.ends_with(*suffix) || name == suffix[1..]);
    if let Some(suffix) = internal {
        return Err(format!("it is an internal name under `{suffix}`"));
    }
    Ok(())
}

/// Builds the error for a rendered host that [`check_public_host`] rejects.
/// The host is shown as the url crate normalized it, which names the address
/// that a form such as `0x7f.1` stands for.
fn host_error(provider: &str, field: &str, keys: &[&str], url: &Url, reason: &str) -> EngineError {
    let (noun, verb) = if keys.len() == 1 {
        ("key", "makes")
    } else {
        ("keys", "make")
    };
    let keys = keys
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let host = url.host_str().unwrap_or_default();
    EngineError::template(
        provider,
        field,
        format!(
            "connection-config {noun} {keys} {verb} the URL's host {host:?}, which is not allowed \
             because {reason}: {PUBLIC_HOST_RULE}"
        ),
    )
}

fn check_path_segment(value: &str) -> Result<(), String> {
    let decoded = percent_decode(value);
    for forbidden in ['/', '\\', '?', '#'] {
        if value.contains(forbidden) || decoded.contains(forbidden) {
            return Err(format!(
                "a value in the URL's path must be one path segment, without `{forbidden}` \
                 (raw or percent-encoded)"
            ));
        }
    }
    if matches!(decoded.as_str(), "" | "." | "..") {
        return Err("a value in the URL's path must not be empty, `.` or `..` \
                    (raw or percent-encoded)"
            .to_owned());
    }
    Ok(())
}

fn check_query_value(value: &str) -> Result<(), String> {
    match value.chars().find(|c| matches!(c, '&' | '#')) {
        Some(character) => Err(format!(
            "a value in the URL's query must not contain `{character}`"
        )),
        None => Ok(()),
    }
}

/// Accepts `https://host[:port]`, without a trailing `/` because the
/// template supplies the path.
fn check_origin(value: &str) -> Result<(), String> {
    const EXPECTED: &str =
        "a value that starts the URL must be an https URL with only a scheme, a host and \
         an optional port, for example `https://acme.example.com`";
    let url = Url::parse(value).map_err(|err| format!("{EXPECTED}; it is not a URL ({err})"))?;
    let problem = if url.scheme() != "https" {
        Some(format!("its scheme is `{}`", url.scheme()))
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("it contains user info (`user@`)".to_owned())
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("it has no host".to_owned())
    } else if url.query().is_some() {
        Some("it has a query".to_owned())
    } else if url.fragment().is_some() {
        Some("it has a fragment".to_owned())
    } else if url.path() != "/" || value.ends_with('/') || value.contains('\\') {
        Some("it has a path (even a trailing `/`)".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("{EXPECTED}, but {problem}")),
        None => Ok(()),
    }
}

/// Decodes `%XX` escapes; other bytes pass through. Invalid UTF-8 is
/// replaced, which keeps every ASCII character the checks look for.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes.get(index + 1..index + 3).and_then(|hex| {
            std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        });
        match (bytes[index], escape) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn parse_http_url(provider: &str, field: &str, text: &str) -> Result<Url, EngineError> {
    let url = Url::parse(text).map_err(|err| {
        EngineError::template(
            provider,
            field,
            format!("rendered value `{text}` is not a valid URL: {err}"),
        )
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        scheme => Err(EngineError::template(
            provider,
            field,
            format!(
                "rendered URL `{text}` has scheme `{scheme}`, but only http and https are allowed"
            ),
        )),
    }
}

/// Compares the rendered URL with the marker rendering in which the values
/// before the path are filled in (they were already checked to be host
/// names or an origin). Both must have the same scheme, host and port and
/// the same number of path segments. The value checks above should make this hold;
/// it is a second line of defence against a parser quirk they miss.
fn check_structure(
    provider: &str,
    field: &str,
    url: &Url,
    skeleton: &str,
    bounds: &PartBounds,
    values: &[Option<String>],
) -> Result<(), EngineError> {
    let mut head = skeleton[..bounds.authority_end].to_owned();
    for (index, value) in values.iter().enumerate() {
        if let Some(value) = value {
            head = head.replace(&marker(index), value);
        }
    }
    let expected = Url::parse(&format!("{head}{}", &skeleton[bounds.authority_end..]));
    let Ok(expected) = expected else {
        // The marker rendering is no URL while the real one is: the values
        // changed the structure.
        return Err(structure_error(provider, field, url));
    };

    let same_origin = url.scheme() == expected.scheme()
        && url.host_str() == expected.host_str()
        && url.port_or_known_default() == expected.port_or_known_default();
    let segments = |url: &Url| url.path_segments().map_or(0, Iterator::count);
    if same_origin && segments(url) == segments(&expected) {
        return Ok(());
    }
    Err(structure_error(provider, field, url))
}

fn structure_error(provider: &str, field: &str, url: &Url) -> EngineError {
    EngineError::template(
        provider,
        field,
        format!(
            "the connection-config values change the structure of the URL (rendered as `{url}`)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::{base_url, config_variables};
    use crate::test_support::provider_from_yaml;
    use crate::ConnectionConfig;

    /// A provider with a config variable in each part of a URL and no
    /// patterns, so that only the engine's own checks apply.
    const UNCHECKED: &str = r#"
name: open
display_name: Open
auth:
  mode: oauth2
  authorization_url: "https://{{ sub }}.example.com/{{ tenant }}/authorize?realm={{ realm }}"
  token_url: "https://{{ sub }}.example.com/{{ tenant }}/token"
  refresh_url: "https://{{ sub }}.example.com/{{ tenant }}/refresh"
connection_config:
  sub: {title: Subdomain}
  tenant: {title: Tenant}
  realm: {title: Realm, default: main}
  instance_url: {title: Instance URL, optional: true}
proxy:
  base_url: "{{ instance_url }}/api/{{ tenant }}"
"#;

    fn config(pairs: &[(&str, &str)]) -> ConnectionConfig {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect()
    }

    fn render_field(
        provider: &Provider,
        field: &str,
        config: &ConnectionConfig,
    ) -> Result<Url, EngineError> {
        let template = match field {
            "auth.authorization_url" => {
                "https://{{ sub }}.example.com/{{ tenant }}/authorize?realm={{ realm }}"
            }
            "auth.token_url" => "https://{{ sub }}.example.com/{{ tenant }}/token",
            _ => unreachable!("{field}"),
        };
        render_url(
            provider,
            field,
            template,
            &config_variables(provider, config),
        )
    }

    #[test]
    fn safe_values_render() {
        let provider = provider_from_yaml(UNCHECKED);
        let values = config(&[
            ("sub", "acme-1.eu"),
            ("tenant", "a.b-c_d~e"),
            ("instance_url", "https://acme.my.salesforce.com"),
        ]);

        let url = render_field(&provider, "auth.authorization_url", &values).unwrap();
        assert_eq!(
            url.as_str(),
            "https://acme-1.eu.example.com/a.b-c_d~e/authorize?realm=main"
        );
        let url = base_url(&provider, &values).unwrap();
        assert_eq!(url.as_str(), "https://acme.my.salesforce.com/api/a.b-c_d~e");

        let with_port = config(&[("tenant", "t"), ("instance_url", "https://x.example:8443")]);
        let url = base_url(&provider, &with_port).unwrap();
        assert_eq!(url.as_str(), "https://x.example:8443/api/t");
    }

    #[test]
    fn hostile_values_are_rejected() {
        let provider = provider_from_yaml(UNCHECKED);

        // (config key, hostile value, field to render, expected reason)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str, &str)] = &[
            ("sub", "127.0.0.1:18082/x?", "auth.token_url", "host name"),
            ("sub", "a@127.0.0.1#", "auth.token_url", "host name"),
            ("sub", "evil.com/", "auth.token_url", "host name"),
            ("sub", "evil.com\\", "auth.token_url", "host name"),
            ("sub", "a..b", "auth.token_url", "host name"),
            ("sub", "-a", "auth.token_url", "host name"),
            ("sub", "", "auth.token_url", "host name"),
            ("sub", "a\nb", "auth.token_url", "control character"),
            ("tenant", "..", "auth.token_url", "`.` or `..`"),
            ("tenant", ".", "auth.token_url", "`.` or `..`"),
            ("tenant", "%2e%2E", "auth.token_url", "`.` or `..`"),
            ("tenant", ".%2e", "auth.token_url", "`.` or `..`"),
            ("tenant", "a/b", "auth.token_url", "without `/`"),
            ("tenant", "a%2Fb", "auth.token_url", "without `/`"),
            ("tenant", "a\\b", "auth.token_url", "without `\\`"),
            ("tenant", "x?y", "auth.token_url", "without `?`"),
            ("tenant", "x#y", "auth.token_url", "without `#`"),
            ("tenant", ".\t.", "auth.token_url", "control character"),
            ("tenant", "", "auth.token_url", "must not be empty"),
            ("realm", "main&redirect_uri=https://evil", "auth.authorization_url", "`&`"),
            ("realm", "main#", "auth.authorization_url", "`#`"),
        ];

        for (key, value, field, reason) in cases {
            let mut values = config(&[("sub", "acme"), ("tenant", "t")]);
            values.insert(key.to_string(), json!(value));

            let err = render_field(&provider, field, &values)
                .expect_err(&format!("{key}={value:?} was accepted"));
            let text = err.to_string();

            assert!(
                text.starts_with(&format!(
                    "provider `open`, field `{field}`: connection-config key `{key}`"
                )),
                "{key}={value:?}: {text}"
            );
            assert!(text.contains(reason), "{key}={value:?}: {text}");
        }
    }

    #[test]
    fn hostile_leading_values_are_rejected() {
        let provider = provider_from_yaml(UNCHECKED);

        // (hostile instance_url, expected reason)
        let cases = [
            ("http://acme.example.com", "scheme is `http`"),
            ("https://a@evil.example", "user info"),
            ("https://a:b@evil.example", "user info"),
            ("https://evil.example/x?", "has a query"),
            ("https://evil.example#", "has a fragment"),
            ("https://evil.example/x", "has a path"),
            ("https://evil.example/", "has a path"),
            ("https://evil.example\\x", "has a path"),
            ("evil.example", "not a URL"),
            ("javascript:alert(1)", "scheme is `javascript`"),
        ];

        for (value, reason) in cases {
            let values = config(&[("tenant", "t"), ("instance_url", value)]);

            let err = base_url(&provider, &values).expect_err(value);
            let text = err.to_string();

            assert!(
                text.starts_with(
                    "provider `open`, field `proxy.base_url`: connection-config key `instance_url`"
                ),
                "{value}: {text}"
            );
            assert!(text.contains(reason), "{value}: {text}");
        }
    }

    /// A provider whose proxy host comes from a connection-config value, in
    /// whole or in part.
    const HOSTS: &str = r#"
name: hosts
display_name: Hosts
auth:
  mode: oauth2
  authorization_url: "https://10.0.0.{{ last }}/authorize"
  token_url: "https://{{ sub }}.{{ domain }}/token"
connection_config:
  domain: {title: Domain}
  sub: {title: Subdomain, optional: true}
  last: {title: Last label, optional: true}
proxy:
  base_url: "https://{{ domain }}/api"
"#;

    #[test]
    fn internal_hosts_are_rejected() {
        let provider = provider_from_yaml(HOSTS);

        // (hostile domain, host after url-crate parsing, expected reason)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("127.0.0.1", "127.0.0.1", "IP address"),
            ("10.0.0.5", "10.0.0.5", "IP address"),
            ("192.168.1.1", "192.168.1.1", "IP address"),
            ("169.254.169.254", "169.254.169.254", "IP address"),
            ("2130706433", "127.0.0.1", "IP address"),
            ("0x7f.1", "127.0.0.1", "IP address"),
            ("0177.0.0.1", "127.0.0.1", "IP address"),
            ("127.1", "127.0.0.1", "IP address"),
            ("0", "0.0.0.0", "IP address"),
            ("localhost", "localhost", "is `localhost`"),
            ("LocalHost", "localhost", "is `localhost`"),
            ("api.localhost", "api.localhost", "under `.localhost`"),
            ("localhost.localdomain", "localhost.localdomain", "under `.localdomain`"),
            ("printer.local", "printer.local", "under `.local`"),
            ("metadata.google.internal", "metadata.google.internal", "under `.internal`"),
            ("router.home.arpa", "router.home.arpa", "under `.home.arpa`"),
            ("home.arpa", "home.arpa", "under `.home.arpa`"),
            ("nas.lan", "nas.lan", "under `.lan`"),
            ("wiki.intranet", "wiki.intranet", "under `.intranet`"),
            ("git.corp", "git.corp", "under `.corp`"),
            ("intranet", "intranet", "only one label"),
            ("shop", "shop", "only one label"),
        ];

        for (value, host, reason) in cases {
            let err = base_url(&provider, &config(&[("domain", value)]))
                .expect_err(&format!("domain={value:?} was accepted"));
            let text = err.to_string();

            assert!(
                text.starts_with(&format!(
                    "provider `hosts`, field `proxy.base_url`: connection-config key `domain` \
                     makes the URL's host {host:?}"
                )),
                "{value:?}: {text}"
            );
            assert!(text.contains(reason), "{value:?}: {text}");
            assert!(
                text.contains("must be a public DNS name with at least two labels"),
                "{value:?}: {text}"
            );
        }
    }

    #[test]
    fn internal_leading_hosts_are_rejected() {
        let provider = provider_from_yaml(UNCHECKED);

        // (hostile instance_url, host after url-crate parsing, expected reason)
        let cases = [
            ("https://127.0.0.1", "127.0.0.1", "IP address"),
            ("https://2130706433", "127.0.0.1", "IP address"),
            ("https://0x7f.1:8443", "127.0.0.1", "IP address"),
            ("https://[::1]", "[::1]", "IP address"),
            (
                "https://[::ffff:127.0.0.1]",
                "[::ffff:7f00:1]",
                "IP address",
            ),
            ("https://[fd00::1]:8443", "[fd00::1]", "IP address"),
            ("https://localhost", "localhost", "is `localhost`"),
            ("https://LOCALHOST.", "localhost.", "is `localhost`"),
            ("https://\u{ff4c}ocalhost", "localhost", "is `localhost`"),
            (
                "https://acme.my.salesforce.local",
                "acme.my.salesforce.local",
                "`.local`",
            ),
            ("https://db.internal.", "db.internal.", "`.internal`"),
            ("https://intranet", "intranet", "only one label"),
        ];

        for (value, host, reason) in cases {
            let values = config(&[("tenant", "t"), ("instance_url", value)]);

            let err = base_url(&provider, &values).expect_err(value);
            let text = err.to_string();

            assert!(
                text.starts_with(&format!(
                    "provider `open`, field `proxy.base_url`: connection-config key \
                     `instance_url` makes the URL's host {host:?}"
                )),
                "{value}: {text}"
            );
            assert!(text.contains(reason), "{value}: {text}");
        }
    }

    #[test]
    fn partial_internal_hosts_are_rejected() {
        let provider = provider_from_yaml(HOSTS);
        let vars = |pairs: &[(&str, &str)]| config_variables(&provider, &config(pairs));

        let err = render_url(
            &provider,
            "auth.authorization_url",
            "https://10.0.0.{{ last }}/authorize",
            &vars(&[("domain", "example.com"), ("last", "5")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("key `last` makes the URL's host \"10.0.0.5\""),
            "{err}"
        );

        let err = render_url(
            &provider,
            "auth.token_url",
            "https://{{ sub }}.{{ domain }}/token",
            &vars(&[("domain", "local"), ("sub", "printer")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("keys `domain`, `sub` make the URL's host \"printer.local\""),
            "{err}"
        );
    }

    #[test]
    fn public_hosts_render() {
        let provider = provider_from_yaml(HOSTS);
        for domain in [
            "acme.example.com",
            "shop.myshopify.com",
            "api.eu.mailgun.net",
            "xn--bcher-kva.example",
            "local.example.com",
            "corp.example.com",
            "a1.b2",
        ] {
            let url = base_url(&provider, &config(&[("domain", domain)]))
                .unwrap_or_else(|err| panic!("{domain}: {err}"));
            assert_eq!(url.host_str(), Some(domain));
        }

        let unchecked = provider_from_yaml(UNCHECKED);
        let values = config(&[
            ("tenant", "t"),
            ("instance_url", "https://acme.my.salesforce.com:8443"),
        ]);
        let url = base_url(&unchecked, &values).unwrap();
        assert_eq!(url.as_str(), "https://acme.my.salesforce.com:8443/api/t");
    }

    #[test]
    fn literal_template_hosts_are_not_checked() {
        let provider = provider_from_yaml(
            r#"
name: local
display_name: Local
auth: {mode: basic}
connection_config:
  port: {title: Port}
  tenant: {title: Tenant}
proxy: {base_url: "http://127.0.0.1:{{ port }}/{{ tenant }}?t={{ tenant }}"}
"#,
        );

        let values = config(&[("port", "8080"), ("tenant", "acme")]);
        let url = base_url(&provider, &values).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/acme?t=acme");

        let vars = config_variables(&provider, &values);
        for template in [
            "http://localhost:{{ port }}/p",
            "https://user{{ port }}@db.internal/p",
            "http://[::1]:{{ port }}/p",
        ] {
            let url = render_url(&provider, "proxy.base_url", template, &vars);
            assert!(url.is_ok(), "{template}: {url:?}");
        }
    }

    #[test]
    fn port_value_renders() {
        let provider = provider_from_yaml(
            r#"
name: local
display_name: Local
auth: {mode: basic}
connection_config:
  port: {title: Port}
proxy: {base_url: "http://127.0.0.1:{{ port }}/p"}
"#,
        );

        let url = base_url(&provider, &config(&[("port", "8080")])).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/p");
        for hostile in ["8080/../x", "8080@127.0.0.1:9", "8080?x=1", "8080 "] {
            let err = base_url(&provider, &config(&[("port", hostile)])).unwrap_err();
            assert!(err.to_string().contains("host name"), "{hostile}: {err}");
        }
    }

    #[test]
    fn hidden_marker_gets_host_rule() {
        let provider = provider_from_yaml(
            r#"
name: filtered
display_name: Filtered
auth: {mode: basic}
connection_config:
  path: {title: Path}
proxy: {base_url: "https://api.example.com/{{ path | upper }}"}
"#,
        );

        let err = base_url(&provider, &config(&[("path", "a/b")])).unwrap_err();

        assert!(err.to_string().contains("host name"), "{err}");
        let url = base_url(&provider, &config(&[("path", "v1")])).unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/V1");
    }

    #[test]
    fn pattern_is_enforced_on_render() {
        let provider = provider_from_yaml(
            r#"
name: salesforce
display_name: Salesforce
auth: {mode: basic}
connection_config:
  instance_url: {title: Instance URL, pattern: "https://[a-z0-9-]+\\.my\\.salesforce\\.com", automated: true}
proxy: {base_url: "{{ instance_url }}"}
"#,
        );

        let err = base_url(
            &provider,
            &config(&[("instance_url", "https://evil.example")]),
        )
        .unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `salesforce`, field `proxy.base_url`: connection-config key `instance_url` \
             has the value \"https://evil.example\", which is not allowed here: it does not match \
             the pattern `https://[a-z0-9-]+\\.my\\.salesforce\\.com` of the field"
        );
        assert!(base_url(
            &provider,
            &config(&[("instance_url", "https://acme.my.salesforce.com")])
        )
        .is_ok());
    }

    #[test]
    fn non_string_value_is_rejected() {
        let provider = provider_from_yaml(UNCHECKED);
        let mut values = config(&[("sub", "acme")]);
        values.insert("tenant".to_owned(), json!({"a": "b"}));

        let err = render_field(&provider, "auth.token_url", &values).unwrap_err();

        assert!(
            err.to_string().contains("`tenant` must be a string"),
            "{err}"
        );
        values.insert("tenant".to_owned(), json!(42));
        let url = render_field(&provider, "auth.token_url", &values).unwrap();
        assert_eq!(url.as_str(), "https://acme.example.com/42/token");
    }
}
