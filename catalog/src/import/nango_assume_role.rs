//! Nango's auth mode AWS_SIGV4: the end user enters an IAM role ARN, the
//! integration sets the service, a default region and the keys that call
//! STS, and the proxy signs with the temporary keys that STS `AssumeRole`
//! returns. It becomes an `aws_sigv4` file with `assume_role`.
//!
//! Nango's `stsMode: custom` (an endpoint of the customer's own that issues
//! the keys, called with an API key, basic auth or nothing) is not carried
//! over, because its request and reply format is not published. The
//! converted file's integrations take `stsMode: builtin` only, and the
//! server rejects `custom` with a message that names the supported mode.

use serde_yaml::{Mapping, Value};

use super::{mapping, string, Builder, Reason};

/// The `integration_config` keys of Nango's AWS_SIGV4 entry that the
/// `assume_role` section of the server carries out: `service` through the
/// connection-config field of that name, and the rest by their key.
const BUILTIN_KEYS: &[&str] = &[
    "service",
    "defaultRegion",
    "stsMode",
    "awsAccessKeyId",
    "awsSecretAccessKey",
];

/// The `integration_config` keys of `stsMode: custom`, which are not
/// carried over.
const CUSTOM_STS_KEYS: &[&str] = &[
    "stsEndpointUrl",
    "stsAuthType",
    "stsAuthHeader",
    "stsApiKey",
    "stsAuthUsername",
    "stsAuthPassword",
];

/// Header comment of a converted file.
pub(super) const NOTE: &str = "Nango's `stsMode: custom` (temporary keys from an endpoint of the customer's own) is not carried over: Latchkey calls AWS STS AssumeRole with the integration's `awsAccessKeyId` and `awsSecretAccessKey`, and an integration that sets `stsMode: custom` is rejected.";

/// Returns whether the entry is Nango's AWS_SIGV4 mode.
pub(super) fn applies(entry: &Mapping) -> bool {
    string(entry, "auth_mode") == Some("AWS_SIGV4")
}

/// Checks that every `integration_config` key of the entry is one that the
/// `assume_role` section carries out or one of `stsMode: custom`.
pub(super) fn integration_config_known(entry: &Mapping) -> bool {
    let Some(integration) = mapping(entry, "integration_config") else {
        return false;
    };
    integration.keys().all(|key| {
        key.as_str()
            .is_some_and(|key| BUILTIN_KEYS.contains(&key) || CUSTOM_STS_KEYS.contains(&key))
    })
}

/// Shape of an AWS region name, such as `us-east-1` or `us-gov-west-1`.
const REGION_PATTERN: &str = "[a-z]{2}(-[a-z]+)+-[0-9]+";
/// Shape of the service name in a SigV4 credential scope, as the entry's
/// `integration_config.service` states it.
const SERVICE_PATTERN: &str = "[a-z0-9-]+";

/// Sets `integration_default: true` on the connection-config `service`,
/// the one integration value that a connection copies into its config.
/// Narrows the patterns of `service` and `region` to the names that a SigV4
/// credential scope takes, so a bad value is rejected when it is entered,
/// not when a request is signed.
pub(super) fn complete_fields(connection_config: &mut Mapping) -> Result<(), Reason> {
    for (key, pattern) in [("service", SERVICE_PATTERN), ("region", REGION_PATTERN)] {
        let field = connection_config
            .get_mut(key)
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| {
                Reason::malformed(&format!(
                    "the AWS_SIGV4 entry has no connection-config field `{key}`"
                ))
            })?;
        field.insert("pattern".into(), pattern.into());
        if key == "service" {
            field.insert("integration_default".into(), true.into());
        }
    }
    Ok(())
}

impl Builder<'_> {
    /// Writes the service and region of the signature, read from the
    /// connection config as the base URL reads them, and an empty
    /// `assume_role`, whose defaults are AWS STS's regional endpoint and
    /// STS's default session lifetime of one hour.
    pub(super) fn assume_role(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let credentials = mapping(self.entry, "credentials");
        let entered: Vec<&str> = credentials
            .into_iter()
            .flat_map(|fields| fields.keys())
            .filter_map(Value::as_str)
            .collect();
        if entered != ["role_arn"] {
            return Err(Reason::malformed(&format!(
                "the AWS_SIGV4 entry's credentials are {entered:?}, not the one field `role_arn`"
            )));
        }
        if !integration_config_known(self.entry) {
            return Err(Reason::malformed(
                "the AWS_SIGV4 entry's `integration_config` has keys other than the STS settings",
            ));
        }
        let service = self.template("auth.service", "${connectionConfig.service}")?;
        let region = self.template("auth.region", "${connectionConfig.region}")?;
        auth.insert("service".into(), service.into());
        auth.insert("region".into(), region.into());
        auth.insert("assume_role".into(), Value::Mapping(Mapping::new()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(yaml: &str) -> Mapping {
        serde_yaml::from_str(yaml).unwrap()
    }

    const ENTRY: &str = "auth_mode: AWS_SIGV4
integration_config:
  service: {type: string, title: Service}
  defaultRegion: {type: string, title: Region}
  stsMode: {type: string, title: Mode}
  awsAccessKeyId: {type: string, title: Key}
  awsSecretAccessKey: {type: string, title: Secret}
  stsEndpointUrl: {type: string, title: Endpoint}
";

    #[test]
    fn integration_keys_recognised() {
        assert!(applies(&entry(ENTRY)));
        assert!(integration_config_known(&entry(ENTRY)));

        let extra = format!("{ENTRY}  externalId: {{type: string, title: External ID}}\n");
        assert!(!integration_config_known(&entry(&extra)));
        assert!(!integration_config_known(&entry("auth_mode: AWS_SIGV4\n")));
    }

    #[test]
    fn fields_completed() {
        let mut config: Mapping = serde_yaml::from_str(
            "service: {title: Service, pattern: '.+'}\nregion: {title: Region, optional: true}\n",
        )
        .unwrap();

        complete_fields(&mut config).unwrap();

        assert_eq!(config["service"]["integration_default"], Value::Bool(true));
        assert_eq!(config["service"]["pattern"], Value::from(SERVICE_PATTERN));
        assert_eq!(config["region"]["pattern"], Value::from(REGION_PATTERN));
        assert!(config["region"].get("integration_default").is_none());
        let error = complete_fields(&mut Mapping::new()).unwrap_err();
        assert!(error.message.contains("`service`"), "{}", error.message);
    }
}
