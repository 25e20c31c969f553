//! Tests of the `integration_default` flag of connection-config fields and
//! of the entered fields of `two_step`, `session` and `jwt`: a value that
//! an integration sets once (`integration_config` of POST /integrations)
//! and every connection without its own value takes. The schema and the
//! typed model carry the flag, so no semantic check applies to it.

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
    fn jwt_credential_default_accepted() {
        let source = JWT.replace(
            "    private_key_id:\n      title: Private key ID\n",
            "    private_key_id:\n      title: Private key ID\n      integration_default: true\n",
        );
        assert_ne!(source, JWT, "the fixture no longer has the replaced lines");

        let provider = crate::parse_provider("google-service-account.yaml", &source).unwrap();

        let crate::Auth::Jwt(jwt) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        assert!(jwt.credentials["private_key_id"].integration_default);
        assert!(!jwt.credentials["private_key"].integration_default);
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
