//! Nango's `OAUTH2_CC` entries whose `token_params` set
//! `grant_type: password`: the resource owner password credentials grant
//! (RFC 6749 section 4.3), with the user's name and password read from
//! the connection config.

use serde_yaml::{Mapping, Value};

use super::{string, Builder};
use crate::import::Reason;

impl Builder<'_> {
    /// Moves `username` and `password` of a password-grant entry out of
    /// the converted `token_params` into `password_grant`, which sends
    /// `grant_type=password` itself. Other entries are left as they are.
    pub(super) fn password_grant(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        if self.grant_type.as_deref() != Some("password") {
            return Ok(());
        }
        self.grant_type = None;
        if string(self.entry, "token_request_auth_method") == Some("custom") {
            return Err(password_reason(
                "`token_request_auth_method` is `custom`, which sends the client's credentials as `username` and `password` too",
            ));
        }
        let mut params = match auth.remove("token_params") {
            Some(Value::Mapping(params)) => params,
            _ => Mapping::new(),
        };
        let mut grant = Mapping::new();
        for name in ["username", "password"] {
            let value = params.remove(name).ok_or_else(|| {
                password_reason(&format!("`token_params` has no `{name}` to send"))
            })?;
            grant.insert(name.into(), value);
        }
        if !params.is_empty() {
            auth.insert("token_params".into(), Value::Mapping(params));
        }
        auth.insert("password_grant".into(), Value::Mapping(grant));
        Ok(())
    }
}

fn password_reason(detail: &str) -> Reason {
    Reason::new(
        "grant type other than the standard one",
        format!("`token_params.grant_type` is `password`, but {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::*;

    const FIXTURE: &str = "display_name: Fixture\nauth_mode: OAUTH2_CC\ntoken_url: https://${connectionConfig.host}/token\ntoken_params:\n  grant_type: password\n  username: ${connectionConfig.username}\n  password: ${connectionConfig.password}\nproxy:\n  base_url: https://${connectionConfig.host}\nconnection_config:\n  host:\n    type: string\n    title: Host\n    pattern: ^[a-z0-9.-]+$\n  username:\n    type: string\n    title: Username\n  password:\n    type: string\n    title: Password\n    secret: true\n";

    fn entry(yaml: &str) -> Mapping {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn password_params_become_grant() {
        let converted = convert("fixture", &entry(FIXTURE)).unwrap();

        let auth = &converted.document["auth"];
        assert_eq!(
            auth["password_grant"]["username"],
            Value::from("{{ username }}")
        );
        assert_eq!(
            auth["password_grant"]["password"],
            Value::from("{{ password }}")
        );
        assert!(auth.get("token_params").is_none(), "{auth:?}");
        assert!(auth.get("grant_type").is_none(), "{auth:?}");
    }

    #[test]
    fn missing_password_param_unconverted() {
        // (case, YAML, expected part of the message)
        let cases = [
            (
                "no password",
                FIXTURE.replace("  password: ${connectionConfig.password}\n", ""),
                "no `password` to send",
            ),
            (
                "custom client login",
                format!("{FIXTURE}token_request_auth_method: custom\n"),
                "`custom`",
            ),
        ];

        for (case, yaml, expected) in cases {
            let reason = convert("fixture", &entry(&yaml))
                .err()
                .unwrap_or_else(|| panic!("{case}: converted"));

            assert_eq!(
                reason.kind, "grant type other than the standard one",
                "{case}"
            );
            assert!(
                reason.message.contains(expected),
                "{case}: {}",
                reason.message
            );
        }
    }
}
