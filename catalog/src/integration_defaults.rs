//! The `integration_default` flag of connection-config fields and of
//! `two_step` or `session` credential fields: a value that an integration
//! sets once (`integration_config` of POST /integrations) and every
//! connection without its own value takes.

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::model::{Auth, Provider};
use crate::positions::escape_pointer;

/// Rejects `integration_default` on a `jwt` credential field, because only
/// connection-config fields and the entered fields of `two_step` and
/// `session` take integration values.
pub(crate) fn check_credential_fields(provider: &Provider, problems: &mut Vec<Problem>) {
    let Auth::Jwt(jwt) = &provider.auth else {
        return;
    };
    for (key, field) in &jwt.credentials {
        if field.integration_default {
            problems.push(Problem::new(
                Code::InvalidValue,
                format!("/auth/credentials/{}/integration_default", escape_pointer(key)),
                format!("credential field `{key}` of a `jwt` definition sets `integration_default`, which only connection-config fields and `two_step` or `session` credential fields take"),
                Some("move the field to `connection_config`, or remove `integration_default`".to_owned()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    const TWO_STEP: &str = "name: sign-in-example
display_name: Sign-in example
auth:
  mode: two_step
  credentials:
    email: {title: Email, integration_default: true}
  token_request:
    url: https://api.example.com/signin
    params:
      email: \"{{ email }}\"
  token_response:
    access_token: access_token
connection_config:
  workspace: {title: Workspace, pattern: '[a-z]+', integration_default: true}
proxy:
  base_url: https://api.example.com/{{ workspace }}
";

    const JWT: &str = include_str!("../providers/google-service-account.yaml");

    #[test]
    fn jwt_credential_default_rejected() {
        let source = JWT.replace(
            "    private_key_id:\n      title: Private key ID\n",
            "    private_key_id:\n      title: Private key ID\n      integration_default: true\n",
        );
        assert_ne!(source, JWT, "the fixture no longer has the replaced lines");

        let diagnostics =
            crate::parse_provider("google-service-account.yaml", &source).unwrap_err();

        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0]
                .message
                .contains("credential field `private_key_id` of a `jwt` definition"),
            "{}",
            diagnostics[0].message
        );
        assert_eq!(
            diagnostics[0].path.as_deref(),
            Some("auth.credentials.private_key_id.integration_default")
        );
    }

    #[test]
    fn two_step_defaults_accepted() {
        let provider = crate::parse_provider("sign-in-example.yaml", TWO_STEP).unwrap();

        assert!(provider.connection_config["workspace"].integration_default);
        let crate::Auth::TwoStep(two_step) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert!(two_step.credentials["email"].integration_default);
    }
}
