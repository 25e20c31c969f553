//! The resource owner password credentials grant (RFC 6749 section 4.3)
//! of an `oauth2_client_credentials` definition: the client authenticates
//! as in the client-credentials grant, and the token request also carries
//! a user's name and password from the connection config.

use serde::{Deserialize, Serialize};

use crate::checks::{compile_template, Problem};
use crate::diagnostic::Code;
use crate::model::{Auth, Provider};

/// The user's name and password of a password grant, as templates over
/// the connection config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordGrant {
    /// Template of the `username` parameter, such as `{{ username }}`.
    pub username: String,
    /// Template of the `password` parameter, such as `{{ password }}`.
    pub password: String,
}

/// Reports a password grant that also sets `grant_type` or sets
/// `username` or `password` in `token_params`, because the grant sends
/// those parameters itself. Also reports a password template that reads a
/// connection-config field not marked `secret: true`.
pub(crate) fn check_password_grant(provider: &Provider, problems: &mut Vec<Problem>) {
    let Auth::Oauth2ClientCredentials(settings) = &provider.auth else {
        return;
    };
    let Some(grant) = &settings.password_grant else {
        return;
    };
    if let Some(grant_type) = &settings.grant_type {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/grant_type".to_owned(),
            format!(
                "`grant_type` is `{grant_type}`, but `password_grant` sends `grant_type=password`"
            ),
            Some("remove `grant_type`".to_owned()),
        ));
    }
    for name in ["username", "password"] {
        if settings.token_params.contains_key(name) {
            problems.push(Problem::new(
                Code::InvalidKey,
                format!("/auth/token_params/{name}"),
                format!("token parameter `{name}` is also sent by `password_grant`"),
                Some(format!("remove `{name}` from `token_params`")),
            ));
        }
    }
    // A template that does not compile is reported by the template checks.
    let read = compile_template(&grant.password).unwrap_or_default();
    let plain = read.iter().filter(|key| {
        provider
            .connection_config
            .get(key.as_str())
            .is_some_and(|field| !field.secret)
    });
    for key in plain {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/password_grant/password".to_owned(),
            format!("the password reads connection-config field `{key}`, which is not marked `secret: true`"),
            Some(format!("set `secret: true` on `connection_config.{key}`")),
        ));
    }
}

#[cfg(test)]
mod tests {
    /// Returns the (diagnostic code, path) pairs of a provider file.
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

    /// Returns a password-grant provider file with `auth_lines` added to
    /// `auth` and `password_line` as the `password` connection-config field.
    fn file(auth_lines: &str, password_line: &str) -> String {
        format!(
            "name: p\ndisplay_name: P\nauth:\n  mode: oauth2_client_credentials\n  token_url: https://auth.example.com/token\n  password_grant:\n    username: \"{{{{ username }}}}\"\n    password: \"{{{{ password }}}}\"\n{auth_lines}connection_config:\n  username: {{title: Username}}\n{password_line}\nproxy:\n  base_url: https://api.example.com\n"
        )
    }

    const SECRET_PASSWORD: &str = "  password: {title: Password, secret: true}";

    #[test]
    fn password_grant_checked() {
        // (case, auth lines, password field, expected (code, path) pairs)
        let cases = [
            ("valid", "", SECRET_PASSWORD, vec![]),
            (
                "grant_type also set",
                "  grant_type: password\n",
                SECRET_PASSWORD,
                vec![("invalid-value", "auth.grant_type")],
            ),
            (
                "username in token_params",
                "  token_params:\n    username: ada\n",
                SECRET_PASSWORD,
                vec![("invalid-key", "auth.token_params.username")],
            ),
            (
                "password field not secret",
                "",
                "  password: {title: Password}",
                vec![("invalid-value", "auth.password_grant.password")],
            ),
        ];

        for (case, auth_lines, password_line, expected) in cases {
            let found = diagnostics(&file(auth_lines, password_line));
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(code, path)| (code.to_owned(), path.to_owned()))
                .collect();
            assert_eq!(found, expected, "{case}");
        }
    }

    #[test]
    fn undeclared_username_variable_reported() {
        let yaml = file("", SECRET_PASSWORD).replace("{{ username }}", "{{ login }}");

        let found = diagnostics(&yaml);

        assert!(
            found.contains(&(
                "undeclared-variable".to_owned(),
                "auth.password_grant.username".to_owned()
            )),
            "{found:?}"
        );
    }
}
