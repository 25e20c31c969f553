//! The `assume_role` section of an `aws_sigv4` provider: the proxy signs
//! with temporary keys that AWS STS `AssumeRole` returns for the role ARN
//! each connection enters, called with access keys the integration sets.

use serde::{Deserialize, Serialize};

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::model::{Auth, Provider};

/// The STS endpoint used when a file sets no `sts_url`: AWS's regional
/// endpoint of the connection's region.
pub const DEFAULT_STS_URL: &str = "https://sts.{{ region }}.amazonaws.com";

/// Integration-config key of the access key id that calls STS.
pub const ACCESS_KEY_ID_KEY: &str = "awsAccessKeyId";
/// Integration-config key of the secret access key that calls STS.
pub const SECRET_ACCESS_KEY_KEY: &str = "awsSecretAccessKey";
/// Integration-config key of the region a connection takes when it sets
/// none of its own.
pub const DEFAULT_REGION_KEY: &str = "defaultRegion";
/// Integration-config key of the way temporary keys are issued. Only
/// `builtin` (AWS STS) is accepted.
pub const STS_MODE_KEY: &str = "stsMode";

/// Settings of the STS `AssumeRole` call of an `aws_sigv4` provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeRole {
    /// Template of the STS endpoint, [`DEFAULT_STS_URL`] when absent. It is
    /// rendered with the connection-config values, so `{{ region }}` is the
    /// connection's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_url: Option<String>,
    /// `DurationSeconds` of the call; STS uses one hour when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    /// How long before `Expiration` the keys are renewed; 300 seconds when
    /// absent, and at most half of the keys' lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u32>,
}

impl AssumeRole {
    /// Returns the template of the STS endpoint.
    pub fn sts_url_template(&self) -> &str {
        self.sts_url.as_deref().unwrap_or(DEFAULT_STS_URL)
    }
}

/// Checks that an `aws_sigv4` file with `assume_role` declares the
/// connection-config keys `region` and `service` that the server fills.
/// The schema checks the range of `duration_seconds`.
pub(crate) fn check(provider: &Provider, problems: &mut Vec<Problem>) {
    let Auth::AwsSigv4(settings) = &provider.auth else {
        return;
    };
    if settings.assume_role.is_none() {
        return;
    }
    for key in ["region", "service"] {
        if !provider.connection_config.contains_key(key) {
            problems.push(Problem::new(
                Code::InvalidValue,
                "/auth/assume_role".to_owned(),
                format!("`assume_role` fills connection-config key `{key}`, which this file does not declare"),
                Some(format!("declare `connection_config.{key}`")),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    const FILE: &str = "name: assumed-example
display_name: Assumed example
auth:
  mode: aws_sigv4
  service: \"{{ service }}\"
  region: \"{{ region }}\"
  assume_role:
    duration_seconds: 900
connection_config:
  region: {title: AWS region, optional: true, pattern: '[a-z]{2}(-[a-z]+)+-[0-9]+'}
  service: {title: AWS service, automated: true, integration_default: true, pattern: '[a-z0-9-]+'}
proxy:
  base_url: https://{{ service }}.{{ region }}.amazonaws.com
";

    #[test]
    fn assume_role_parses() {
        let provider = crate::parse_provider("assumed-example.yaml", FILE).unwrap();

        let crate::Auth::AwsSigv4(settings) = &provider.auth else {
            panic!("mode is {}", provider.auth.mode_name());
        };
        let assume_role = settings.assume_role.as_ref().expect("assume_role");
        assert_eq!(assume_role.duration_seconds, Some(900));
        assert_eq!(assume_role.sts_url_template(), super::DEFAULT_STS_URL);
    }

    #[test]
    fn assume_role_lints() {
        let cases = [
            (
                FILE.replace("duration_seconds: 900", "duration_seconds: 60"),
                "auth.assume_role.duration_seconds",
                "minimum of 900",
            ),
            (
                FILE.replace("  region: {title: AWS region, optional: true, pattern: '[a-z]{2}(-[a-z]+)+-[0-9]+'}\n", "")
                    .replace("\"{{ region }}\"", "eu-west-3")
                    .replace("{{ region }}.amazonaws.com", "eu-west-3.amazonaws.com")
                    .replace("  assume_role:\n", "  assume_role:\n    sts_url: https://sts.eu-west-3.amazonaws.com\n"),
                "auth.assume_role",
                "connection-config key `region`",
            ),
            (
                FILE.replace("duration_seconds: 900", "session_policy: x"),
                "auth.assume_role",
                "session_policy",
            ),
        ];
        for (source, path, message) in cases {
            let diagnostics = crate::parse_provider("assumed-example.yaml", &source).unwrap_err();

            assert_eq!(diagnostics.len(), 1, "{path}: {diagnostics:?}");
            assert!(
                diagnostics[0].message.contains(message),
                "{path}: {}",
                diagnostics[0].message
            );
            assert!(
                diagnostics[0]
                    .path
                    .as_deref()
                    .is_some_and(|p| p.starts_with(path)),
                "{path}: {:?}",
                diagnostics[0].path
            );
        }
    }
}
