//! The `integration_default` flag of connection-config fields: a value that
//! an integration sets once (`integration_config` of POST /integrations) and
//! every connection without its own value takes.

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::model::{Auth, Provider};
use crate::positions::escape_pointer;

/// Rejects `integration_default` on a credential field, because only
/// connection-config fields take integration values.
pub(crate) fn check_credential_fields(provider: &Provider, problems: &mut Vec<Problem>) {
    let credentials = match &provider.auth {
        Auth::TwoStep(two_step) | Auth::Session(two_step) => &two_step.credentials,
        Auth::Jwt(jwt) => &jwt.credentials,
        _ => return,
    };
    for (key, field) in credentials {
        if field.integration_default {
            problems.push(Problem::new(
                Code::InvalidValue,
                format!("/auth/credentials/{}/integration_default", escape_pointer(key)),
                format!("credential field `{key}` sets `integration_default`, which only connection-config fields take"),
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

    #[test]
    fn credential_field_default_rejected() {
        let diagnostics = crate::parse_provider("sign-in-example.yaml", TWO_STEP).unwrap_err();

        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let text = diagnostics[0].to_string();
        assert!(
            text.contains("credential field `email` sets `integration_default`"),
            "{text}"
        );
        assert_eq!(
            diagnostics[0].path.as_deref(),
            Some("auth.credentials.email.integration_default")
        );
    }

    #[test]
    fn connection_config_default_accepted() {
        let valid = TWO_STEP.replace(
            "{title: Email, integration_default: true}",
            "{title: Email}",
        );

        let provider = crate::parse_provider("sign-in-example.yaml", &valid).unwrap();

        assert!(provider.connection_config["workspace"].integration_default);
    }
}
