//! Header names that neither a provider file nor a connection-config value
//! may set on a request that Latchkey sends.

use std::collections::BTreeMap;

use crate::checks::{explicit_inject, Problem};
use crate::diagnostic::Code;
use crate::model::{Auth, InjectLocation, Provider};
use crate::positions::escape_pointer;

/// Header names, lowercase, that only the HTTP client may write. `Host`,
/// `Content-Length`, `Transfer-Encoding`, `TE` and `Trailer` frame or route
/// the message. `Connection`, `Keep-Alive`, `Proxy-Connection`, `Upgrade`
/// and `Expect` control one connection hop (RFC 9110 section 7.6.1 lists
/// the hop-by-hop ones). `Proxy-Authorization` and `Proxy-Authenticate`
/// belong to a forward proxy on the way, not to the provider.
pub const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "trailer",
    "expect",
];

/// Returns the entry of [`RESERVED_HEADERS`] that `name` equals, ignoring
/// ASCII case, or `None` when a request may carry the header.
pub fn reserved_header(name: &str) -> Option<&'static str> {
    RESERVED_HEADERS
        .iter()
        .copied()
        .find(|reserved| name.eq_ignore_ascii_case(reserved))
}

/// The reason that follows "`NAME` is a header that ..." in every message
/// about a reserved header name.
pub const RESERVED_HEADER_REASON: &str =
    "frames the request, routes it or controls the connection, so only the HTTP client sets it";

/// Returns the regular expression of a connection-config field's
/// `excluded_pattern` that rejects every reserved name, ignoring case.
pub fn reserved_headers_pattern() -> String {
    format!("(?i){}", RESERVED_HEADERS.join("|"))
}

/// Reports every header name of `provider` that [`reserved_header`]
/// rejects: a literal credential header name, and the keys of each header
/// map of a request that Latchkey sends. A key of those maps must also be
/// an HTTP token, and no header value template may have a control
/// character but tab written in it. A `{{ KEY }}` name is the engine's to
/// check, against the connection config.
pub(crate) fn check_header_names(provider: &Provider, problems: &mut Vec<Problem>) {
    if let Some(inject) = explicit_inject(&provider.auth) {
        for place in inject.places() {
            let literal = crate::model::name_variable(place.name).is_none();
            if place.location != InjectLocation::Header || !literal {
                continue;
            }
            if let Some(problem) =
                reserved_name_problem(&format!("{}/name", place.pointer()), place.name)
            {
                problems.push(Problem {
                    code: Code::InvalidValue,
                    help: Some(
                        "put the credential in another header, such as `Authorization` or `X-Api-Key`"
                            .to_owned(),
                    ),
                    ..problem
                });
            }
        }
    }
    if let Some(inject) = explicit_inject(&provider.auth) {
        for place in inject.places() {
            if place.location == InjectLocation::Header {
                let pointer = format!("{}/value", place.pointer());
                problems.extend(line_break_problem(&pointer, place.value));
            }
        }
    }
    for (pointer, headers) in header_maps(provider) {
        for (name, value) in headers {
            let pointer = format!("{pointer}/{}", escape_pointer(name));
            if let Some(mut problem) = reserved_name_problem(&pointer, name) {
                problem.at_key = true;
                problems.push(problem);
            } else if !is_header_token(name) {
                let mut problem = Problem::new(
                    Code::InvalidKey,
                    pointer.clone(),
                    format!(
                        "{:?} is not a valid HTTP header name",
                        crate::escape_controls(name)
                    ),
                    Some(
                        "use only letters, digits and `!#$%&'*+-.^_`|~`, with no spaces or colon"
                            .to_owned(),
                    ),
                );
                problem.at_key = true;
                problems.push(problem);
            }
            problems.extend(line_break_problem(&pointer, value));
        }
    }
}

/// Checks that `name` is an HTTP field name: one or more token characters
/// (RFC 9110, section 5.6.2).
fn is_header_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Returns the problem of a header value template with a line break or
/// another control character but tab written in it, which no request can
/// carry.
fn line_break_problem(pointer: &str, template: &str) -> Option<Problem> {
    let (message, help) = if template.contains(['\r', '\n']) {
        (
            "the header value contains a line break (CR or LF), which no HTTP request can carry",
            "write the value on one line",
        )
    } else if template.chars().any(|c| c.is_control() && c != '\t') {
        (
            "the header value contains a control character, which no HTTP request can carry",
            "remove the control character",
        )
    } else {
        return None;
    };
    Some(Problem::new(
        Code::InvalidValue,
        pointer.to_owned(),
        message.to_owned(),
        Some(help.to_owned()),
    ))
}

/// Returns the problem of a header name on the reserved list, or `None`.
fn reserved_name_problem(pointer: &str, name: &str) -> Option<Problem> {
    reserved_header(name)?;
    Some(Problem::new(
        Code::InvalidKey,
        pointer.to_owned(),
        format!("`{name}` is a header that {RESERVED_HEADER_REASON}"),
        Some(format!(
            "remove `{name}`; Latchkey's HTTP client sets the headers of this kind itself or leaves them out"
        )),
    ))
}

/// Returns each map of header names to value templates in `provider`, with
/// its JSON pointer.
fn header_maps(provider: &Provider) -> Vec<(String, &BTreeMap<String, String>)> {
    let mut maps = vec![("/proxy/headers".to_owned(), &provider.proxy.headers)];
    if let Some(verification) = &provider.proxy.verification {
        maps.push((
            "/proxy/verification/headers".to_owned(),
            &verification.headers,
        ));
    }
    for (index, step) in provider.post_connection.iter().enumerate() {
        maps.push((format!("/post_connection/{index}/headers"), &step.headers));
    }
    let steps = match &provider.auth {
        Auth::Signature(signature) => {
            maps.push(("/auth/headers".to_owned(), &signature.headers));
            &[][..]
        }
        Auth::App(app) => {
            maps.push((
                "/auth/token_request_headers".to_owned(),
                &app.token_request_headers,
            ));
            &[][..]
        }
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            maps.push((
                "/auth/token_request/headers".to_owned(),
                &two_step.token_request.headers,
            ));
            if let Some(refresh) = &two_step.refresh_request {
                maps.push(("/auth/refresh_request/headers".to_owned(), &refresh.headers));
            }
            two_step.steps.as_slice()
        }
        Auth::Jwt(jwt) => jwt.steps.as_slice(),
        _ => &[][..],
    };
    for (index, step) in steps.iter().enumerate() {
        maps.push((format!("/auth/steps/{index}/headers"), &step.headers));
    }
    maps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_header_ignores_case() {
        assert_eq!(reserved_header("Host"), Some("host"));
        assert_eq!(
            reserved_header("PROXY-AUTHORIZATION"),
            Some("proxy-authorization")
        );
        assert_eq!(reserved_header("Expect"), Some("expect"));
        assert_eq!(reserved_header("X-Host"), None);
        assert_eq!(reserved_header("Authorization"), None);
    }

    #[test]
    fn pattern_matches_every_name_whole() {
        let pattern = crate::patterns::whole_value_regex(&reserved_headers_pattern()).unwrap();
        for name in RESERVED_HEADERS {
            assert!(pattern.is_match(&name.to_ascii_uppercase()), "{name}");
        }
        assert!(!pattern.is_match("x-host"));
        assert!(!pattern.is_match("tea"));
    }

    #[test]
    fn header_names_and_values_checked() {
        let provider = |headers: &str, inject_value: &str| {
            format!(
                "name: p\ndisplay_name: P\nauth:\n  mode: api_key\n  inject: {{name: X-Key, value: \"{inject_value}\"}}\nproxy:\n  base_url: https://p.example\n  headers: {headers}\n"
            )
        };
        let located = |source: String| -> Vec<(String, String)> {
            match crate::parse_provider("p.yaml", &source) {
                Ok(_) => Vec::new(),
                Err(diagnostics) => diagnostics
                    .into_iter()
                    .map(|d| (d.code.to_string(), d.path.unwrap_or_default()))
                    .collect(),
            }
        };
        let key = "{{ api_key }}";
        assert_eq!(located(provider("{X-Ok: \"1\"}", key)), []);

        let cases = [
            (
                "{\" Host\": \"1\"}",
                key,
                "invalid-key",
                "proxy.headers. Host",
            ),
            (
                "{\"Host:\": \"1\"}",
                key,
                "invalid-key",
                "proxy.headers.Host:",
            ),
            ("{\"\": \"1\"}", key, "invalid-key", "proxy.headers."),
            (
                "{\"X-A\\r\\nEvil\": \"1\"}",
                key,
                "invalid-key",
                "proxy.headers.X-A\r\nEvil",
            ),
            (
                "{X-Ok: \"a\\r\\nX-Evil: 1\"}",
                key,
                "invalid-value",
                "proxy.headers.X-Ok",
            ),
            (
                "{X-Ok: \"1\"}",
                "{{ api_key }}\\r\\nX-Evil: 1",
                "invalid-value",
                "auth.inject.value",
            ),
            (
                "{X-Ok: \"a\\u0085b\\u0001\"}",
                key,
                "invalid-value",
                "proxy.headers.X-Ok",
            ),
        ];
        for (headers, inject_value, code, path) in cases {
            let found = located(provider(headers, inject_value));
            assert_eq!(
                found,
                [(code.to_owned(), path.to_owned())],
                "{headers} {inject_value}"
            );
        }
    }
}
