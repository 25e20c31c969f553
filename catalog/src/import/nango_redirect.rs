//! Conversion of Nango's `proxy.forward_headers_on_redirect` into
//! `proxy.follow_redirects`.

use serde_yaml::{Mapping, Value};

use crate::import::Reason;

/// Builds `follow_redirects` from Nango's flag and the converted proxy
/// section, or returns `None` when the flag is absent or false.
///
/// Nango forwards the credential headers to whatever host a redirect names.
/// Latchkey follows only to the base URL's host and the listed hosts, so the
/// list gets `*.` and the parent domain of each host written literally in
/// `base_url` and `base_url_fallbacks` (`*.dayforcehcm.com` for
/// `https://www.dayforcehcm.com/api`).
/// NOTE: a redirect to a host outside those domains, which Nango would
/// follow, goes back to the caller.
pub(super) fn follow_redirects(
    nango: &Mapping,
    proxy: &Mapping,
) -> Result<Option<Mapping>, Reason> {
    match nango.get("forward_headers_on_redirect") {
        None => return Ok(None),
        Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Bool(true)) => {}
        Some(_) => {
            return Err(Reason::malformed(
                "`proxy.forward_headers_on_redirect` is not a boolean",
            ))
        }
    }
    let fallbacks = proxy
        .get("base_url_fallbacks")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten();
    let urls = proxy.get("base_url").into_iter().chain(fallbacks);
    let mut hosts: Vec<Value> = Vec::new();
    for url in urls.filter_map(Value::as_str) {
        let Some(domain) = literal_parent_domain(url) else {
            continue;
        };
        let host = Value::from(format!("*.{domain}"));
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let mut follow = Mapping::new();
    if !hosts.is_empty() {
        follow.insert("hosts".into(), Value::Sequence(hosts));
    }
    Ok(Some(follow))
}

/// Returns the parent domain of an https URL's host when the template
/// writes the host literally and the parent has at least two labels.
fn literal_parent_domain(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#', ':']).next()?;
    if host.contains("{{") || host.contains('}') {
        return None;
    }
    let (_, parent) = host.split_once('.')?;
    crate::url_forms::check_redirect_host(&format!("*.{parent}"))
        .is_ok()
        .then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Mapping {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn follow_redirects_table() {
        // (case, Nango proxy, converted proxy, expected follow_redirects)
        let cases = [
            (
                "literal fallback host",
                "forward_headers_on_redirect: true",
                "base_url: https://{{ clientHostname }}/api\nbase_url_fallbacks: [https://www.dayforcehcm.com/api]",
                Some("hosts: ['*.dayforcehcm.com']"),
            ),
            (
                "only a templated host",
                "forward_headers_on_redirect: true",
                "base_url: https://{{ host }}/api",
                Some("{}"),
            ),
            (
                "two-label host has no parent domain to list",
                "forward_headers_on_redirect: true",
                "base_url: https://example.com/api",
                Some("{}"),
            ),
            (
                "parent domain that is a public suffix",
                "forward_headers_on_redirect: true",
                "base_url: https://example.co.uk/api",
                Some("{}"),
            ),
            ("flag false", "forward_headers_on_redirect: false", "base_url: https://a.b.com", None),
            ("flag absent", "decompress: true", "base_url: https://a.b.com", None),
        ];
        for (case, nango, proxy, expected) in cases {
            let result = follow_redirects(&yaml(nango), &yaml(proxy)).unwrap();

            assert_eq!(result, expected.map(yaml), "{case}");
        }
    }

    #[test]
    fn non_boolean_flag_rejected() {
        let nango = yaml("forward_headers_on_redirect: 'yes'");

        let reason = follow_redirects(&nango, &yaml("base_url: https://a.b.com")).unwrap_err();

        assert_eq!(
            reason.message,
            "`proxy.forward_headers_on_redirect` is not a boolean"
        );
    }
}
