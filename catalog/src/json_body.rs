//! Checks of the JSON body members that proxied requests carry: the
//! `proxy.body` paths and the `json_body` places of `inject`.

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::model::{InjectLocation, Provider};
use crate::positions::escape_pointer;

/// Reports a `json_body` path with an empty member name, and two paths of
/// which one is the other or lies inside it (`auth` and `auth.key`),
/// because the request body could not carry both.
pub(crate) fn check_json_body_paths(provider: &Provider, problems: &mut Vec<Problem>) {
    let mut paths: Vec<(String, String)> = provider
        .proxy
        .body
        .keys()
        .map(|key| (format!("/proxy/body/{}", escape_pointer(key)), key.clone()))
        .collect();
    if provider.auth.injects_credential() && !provider.auth.signs_requests() {
        let inject = provider.auth.inject();
        for place in inject.places() {
            if place.location != InjectLocation::JsonBody {
                continue;
            }
            let pointer = format!("{}/name", place.pointer());
            let name = place.name;
            if name.split('.').any(str::is_empty) {
                problems.push(Problem::new(
                    Code::PatternMismatch,
                    pointer,
                    format!("JSON body path `{name}` has an empty member name"),
                    Some("separate member names with single dots, as in `auth.key`".to_owned()),
                ));
                continue;
            }
            paths.push((pointer, name.to_owned()));
        }
    }
    for (index, (pointer, path)) in paths.iter().enumerate() {
        let clash = paths[..index]
            .iter()
            .find(|(_, earlier)| overlaps(earlier, path));
        if let Some((earlier_pointer, earlier)) = clash {
            let mut problem = Problem::new(
                Code::InvalidKey,
                pointer.clone(),
                format!("JSON body path `{path}` overlaps `{earlier}` at `{earlier_pointer}`"),
                Some(
                    "set each body member once, and no member inside another that is set"
                        .to_owned(),
                ),
            );
            problem.at_key = pointer.starts_with("/proxy/body/");
            problems.push(problem);
        }
    }
}

/// Checks whether one path equals the other or names a member inside it.
fn overlaps(first: &str, second: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    inside(first, second) || inside(second, first)
}

#[cfg(test)]
mod tests {
    /// Returns the code and path of every diagnostic of a provider file.
    fn diagnostics(yaml: &str) -> Vec<(String, String)> {
        match crate::load::parse_provider("p.yaml", yaml) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics
                .iter()
                .map(|diagnostic| {
                    (
                        diagnostic.code.as_str().to_owned(),
                        diagnostic.path.clone().unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    fn file(inject_name: &str, body: &str) -> String {
        format!(
            "name: p\ndisplay_name: P\nauth:\n  mode: api_key\n  inject:\n    location: json_body\n    name: \"{inject_name}\"\n    value: \"{{{{ api_key }}}}\"\nproxy:\n  base_url: https://p.example\n{body}"
        )
    }

    /// A case: its name, the inject path, the `proxy.body` lines, and the
    /// expected diagnostics as (code, field path) pairs.
    type PathCase = (
        &'static str,
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str)>,
    );

    #[test]
    fn json_body_paths_checked() {
        let cases: [PathCase; 6] = [
            (
                "separate paths",
                "auth.key",
                "  body:\n    auth.id: \"1\"\n    mode: live\n",
                vec![],
            ),
            ("no body members", "key", "", vec![]),
            (
                "empty member name",
                "auth..key",
                "",
                vec![("pattern-mismatch", "auth.inject.name")],
            ),
            (
                "same path",
                "auth.key",
                "  body:\n    auth.key: \"1\"\n",
                vec![("invalid-key", "auth.inject.name")],
            ),
            (
                "inject inside body member",
                "auth.key",
                "  body:\n    auth: \"1\"\n",
                vec![("invalid-key", "auth.inject.name")],
            ),
            (
                "body members nested",
                "key",
                "  body:\n    auth: \"1\"\n    auth.id: \"2\"\n",
                vec![("invalid-key", "proxy.body.auth.id")],
            ),
        ];
        for (case, inject_name, body, expected) in cases {
            let found = diagnostics(&file(inject_name, body));
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(code, path)| (code.to_owned(), path.to_owned()))
                .collect();
            assert_eq!(found, expected, "{case}");
        }
    }

    #[test]
    fn body_key_with_empty_member_rejected() {
        let found = diagnostics(&file("key", "  body:\n    \"auth.\": \"1\"\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "invalid-key");
    }
}
