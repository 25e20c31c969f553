//! The two connection-config formats that carry the start of a URL, host
//! and path together: `base_url` (`https://acme.example.com:8443/api`) and
//! `host_port_path` (the same without `https://`, for a template that
//! writes the scheme itself).
//!
//! A value is checked as a whole, so that it can only name a public https
//! host, an optional port and a path. User info, queries, fragments,
//! percent escapes, backslashes, `.` and `..` segments, IP addresses and
//! names of private networks are rejected. The server runs the check before it
//! stores a connection, and the engine runs it again on every URL it
//! renders from the value.

use crate::model::FieldFormat;

/// Name suffixes that are reserved for or commonly used by private networks.
/// A host equal to one of them (without the leading dot) is rejected too.
pub const INTERNAL_HOST_SUFFIXES: [&str; 8] = [
    ".localhost",
    ".local",
    ".internal",
    ".home.arpa",
    ".lan",
    ".intranet",
    ".corp",
    ".localdomain",
];

/// Second-level labels that registries sell names under, as in `co.uk` or
/// `com.au`: a two-label domain made of one of these and a two-letter
/// country code is a public suffix, not a provider's domain.
const PUBLIC_SECOND_LEVEL: [&str; 13] = [
    "ac", "co", "com", "edu", "gob", "go", "gov", "mil", "ne", "net", "nic", "or", "org",
];

/// Checks a host of `proxy.follow_redirects.hosts`, which receives the
/// credential when the API redirects there. Returns the problem in words.
///
/// A host name is a DNS name with at least one dot (or `localhost`). It is
/// not an IP address other than loopback, and not an internal name.
/// `*.DOMAIN` needs a DOMAIN of at least two labels that is not a public
/// suffix such as `co.uk`, because a wildcard over a suffix covers every
/// other customer's domain too.
// NOTE: the public suffixes known here are a short list of country
// second-level labels. Shared hosting suffixes such as `herokuapp.com` are
// not known, so a wildcard over one passes.
pub fn check_redirect_host(host: &str) -> Result<(), String> {
    let lowercase = host.to_ascii_lowercase();
    let (wildcard, name) = match lowercase.strip_prefix("*.") {
        Some(domain) => (true, domain),
        None => (false, lowercase.as_str()),
    };

    if matches!(name, "localhost" | "127.0.0.1") && !wildcard {
        return Ok(());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!(
            "`{host}` is an IP address; list the API's host name, since a credential must not follow a redirect to an address"
        ));
    }

    let internal = INTERNAL_HOST_SUFFIXES
        .iter()
        .find(|suffix| name.ends_with(*suffix) || name == &suffix[1..]);
    if let Some(suffix) = internal {
        return Err(format!(
            "`{host}` is an internal name under `{suffix}`; list the API's public host name"
        ));
    }

    let labels: Vec<&str> = name.split('.').collect();
    // No top-level domain is numeric, so a name ending in digits is part
    // of an IP address, and a wildcard over it (`*.0.0.1`) would match one.
    if labels
        .last()
        .is_some_and(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "`{host}` ends like an IP address; list the API's host name, since a credential must not follow a redirect to an address"
        ));
    }

    if labels.len() < 2 {
        return Err(if wildcard {
            format!("`{host}` covers a whole top-level domain; write `*.` and the provider's own domain, such as `*.example.com`")
        } else {
            format!(
                "`{host}` has no dot; write the API's full host name, such as `api.example.com`"
            )
        });
    }

    let public_suffix =
        labels.len() == 2 && PUBLIC_SECOND_LEVEL.contains(&labels[0]) && labels[1].len() == 2;
    if wildcard && public_suffix {
        return Err(format!(
            "`{host}` covers the public suffix `{name}`, under which anyone can register a domain; write `*.` and the provider's own domain, such as `*.example.{name}`"
        ));
    }
    Ok(())
}

/// The characters a path segment of a URL-form value may contain: RFC 3986
/// `pchar` without percent escapes.
fn is_path_character(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte)
}

impl FieldFormat {
    /// Checks a value of a URL form (`base_url` or `host_port_path`) and
    /// returns the reason when it is rejected. Other formats accept every
    /// value here, because they have their own checks.
    pub fn check_url_form(self, value: &str) -> Result<(), String> {
        match self {
            FieldFormat::BaseUrl => check_base_url(value),
            FieldFormat::HostPortPath => check_host_port_path(value),
            FieldFormat::Hostname | FieldFormat::Uri | FieldFormat::Uuid | FieldFormat::Email => {
                Ok(())
            }
        }
    }
}

/// Checks `https://host[:port][/path]`.
fn check_base_url(value: &str) -> Result<(), String> {
    let Some(rest) = value.strip_prefix("https://") else {
        return Err(format!(
            "a base URL must start with `https://`, for example \
             `https://acme.example.com/api`, but {value:?} does not"
        ));
    };
    check_host_port_path_of(rest, value)
}

/// Checks `host[:port][/path]`, where the host is a public DNS name.
fn check_host_port_path(value: &str) -> Result<(), String> {
    check_host_port_path_of(value, value)
}

/// Checks `value` as `host[:port][/path]`. Messages show `whole`, the value
/// as the connection config contains it.
fn check_host_port_path_of(value: &str, whole: &str) -> Result<(), String> {
    let (authority, path) = match value.find('/') {
        Some(index) => (&value[..index], Some(&value[index + 1..])),
        None => (value, None),
    };
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    check_public_host_name(host)?;
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|byte| byte.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|number| number > 0);
        if !valid {
            return Err(format!(
                "the port {port:?} must be a number from 1 to 65535"
            ));
        }
    }
    let Some(path) = path else {
        return Ok(());
    };
    // A trailing `/` is kept: Nango's examples have it, and the template
    // then appends its own path after it.
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        return Ok(());
    }
    for segment in path.split('/') {
        if matches!(segment, "" | "." | "..") {
            return Err(format!(
                "the path must not contain an empty, `.` or `..` segment, but {whole:?} does"
            ));
        }
        if let Some(byte) = segment.bytes().find(|byte| !is_path_character(*byte)) {
            return Err(format!(
                "the path may contain only letters, digits and `-._~!$&'()*+,;=:@`, \
                 but {whole:?} contains {:?}",
                char::from(byte)
            ));
        }
    }
    Ok(())
}

/// Checks that `host` is a DNS name with at least two labels of letters,
/// digits and inner hyphens, whose last label starts with a letter (so no
/// form of an IPv4 address), outside the names of private networks.
fn check_public_host_name(host: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = host.split('.').collect();
    let last_starts_with_letter = labels
        .last()
        .and_then(|label| label.bytes().next())
        .is_some_and(|byte| byte.is_ascii_alphabetic());
    if labels.len() < 2 || !labels.iter().all(|label| label_ok(label)) || !last_starts_with_letter {
        return Err(format!(
            "the host {host:?} must be a DNS name of at least two labels made of letters, \
             digits and hyphens, such as `acme.example.com`, not an IP address"
        ));
    }
    let lowercase = host.to_ascii_lowercase();
    let internal = INTERNAL_HOST_SUFFIXES
        .iter()
        .find(|suffix| lowercase.ends_with(*suffix) || lowercase == suffix[1..]);
    if let Some(suffix) = internal {
        return Err(format!(
            "the host {host:?} is an internal name under `{suffix}`, which is not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_cases() {
        let cases = [
            ("https://scim.example.com/tenant/scim/v2", true),
            ("https://acme.example.com", true),
            ("https://acme.example.com/", true),
            ("https://acme.example.com:8443/api/", true),
            ("http://acme.example.com", false),
            ("HTTPS://acme.example.com", false),
            ("acme.example.com", false),
            ("https://user@acme.example.com", false),
            ("https://user:secret@acme.example.com", false),
            ("https://acme.example.com?x=1", false),
            ("https://acme.example.com/api#top", false),
            ("https://acme.example.com/a/../b", false),
            ("https://acme.example.com/a/./b", false),
            ("https://acme.example.com//b", false),
            ("https://acme.example.com/%2e%2e", false),
            ("https://acme.example.com\\@evil.example", false),
            ("https://127.0.0.1/api", false),
            ("https://0x7f.1", false),
            ("https://2130706433", false),
            ("https://[::1]/api", false),
            ("https://localhost/api", false),
            ("https://api.internal/x", false),
            ("https://corp", false),
            ("https://acme.example.com:0", false),
            ("https://acme.example.com:65536", false),
            ("https://acme.example.com:", false),
            ("https://acme.example.com:80a", false),
            ("https://acme .example.com", false),
            ("https://acme.example.com/a b", false),
            ("https://-acme.example.com", false),
        ];
        for (value, expected) in cases {
            let result = FieldFormat::BaseUrl.check_url_form(value);
            assert_eq!(result.is_ok(), expected, "{value}: {result:?}");
        }
    }

    #[test]
    fn host_port_path_cases() {
        let cases = [
            ("yourcompany.com:8000/ADOXX", true),
            ("acme.highq.com/main", true),
            (
                "api.patientfusion.com/fhir/r4/v1/118b460b-8390-4754-8e4a-1dd5ee20f599/",
                true,
            ),
            ("acme.myfreshworks.com/crm/sales", true),
            ("myorg.visualstudio.com", true),
            ("https://acme.example.com", false),
            ("evil.example@acme.example.com", false),
            ("acme.example.com/../x", false),
            ("acme.example.com/a?b", false),
            ("acme.example.com#x", false),
            ("localhost:8080", false),
            ("10.0.0.1/api", false),
            ("acme.example.com/%2F", false),
        ];
        for (value, expected) in cases {
            let result = FieldFormat::HostPortPath.check_url_form(value);
            assert_eq!(result.is_ok(), expected, "{value}: {result:?}");
        }
    }

    #[test]
    fn other_formats_pass_url_form_check() {
        assert!(FieldFormat::Hostname.check_url_form("a/b").is_ok());
        assert!(FieldFormat::Uri.check_url_form("http://x").is_ok());
    }

    #[test]
    fn redirect_hosts_checked() {
        for allowed in [
            "api.example.com",
            "*.dayforcehcm.com",
            "*.example.co.uk",
            "localhost",
            "127.0.0.1",
        ] {
            assert_eq!(check_redirect_host(allowed), Ok(()), "{allowed}");
        }
        let refused = [
            ("*.com", "top-level domain"),
            ("*.co.uk", "public suffix"),
            ("*.com.au", "public suffix"),
            ("10.0.0.1", "IP address"),
            ("*.127.0.0.1", "IP address"),
            ("*.0.0.1", "IP address"),
            ("*.254.169.254", "IP address"),
            ("metadata.google.internal", "internal name"),
            ("*.localhost", "internal name"),
            ("apihost", "no dot"),
        ];
        for (host, expected) in refused {
            let message = check_redirect_host(host).unwrap_err();
            assert!(message.contains(expected), "{host}: {message}");
        }
    }
}
