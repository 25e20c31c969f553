//! Nango's `require_client_certificate`: mutual TLS on top of the
//! client-credentials grant, with a certificate and key per connection.

use serde_yaml::{Mapping, Value};

/// The credential fields in which Nango's connections carry the PEM
/// certificate and key, which Latchkey's `OAUTH2_CC` credentials take under
/// the same names.
const CLIENT_CERTIFICATE_FIELDS: [&str; 2] = ["client_certificate", "client_private_key"];

/// Returns whether the entry sets `require_client_certificate: true`.
pub(super) fn requires_client_certificate(entry: &Mapping) -> bool {
    entry
        .get("require_client_certificate")
        .and_then(Value::as_bool)
        == Some(true)
}

/// Returns whether `key` of the entry's `credentials` is one of the
/// certificate fields that `require_client_certificate` converts.
pub(super) fn is_certificate_field(entry: &Mapping, key: &str) -> bool {
    requires_client_certificate(entry) && CLIENT_CERTIFICATE_FIELDS.contains(&key)
}

/// The reason an entry of another mode with `require_client_certificate`
/// stays unconverted.
pub(super) const OTHER_MODE: &str = "Latchkey presents a TLS client certificate only in the oauth2_client_credentials mode (Nango's OAUTH2_CC)";

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::*;

    fn entry(auth_mode: &str, credentials: &str) -> Mapping {
        let yaml = format!(
            "display_name: Fixture\nauth_mode: {auth_mode}\ntoken_url: https://auth.example.com/token\nrequire_client_certificate: true\nproxy:\n  base_url: https://api.example.com\ncredentials:\n{credentials}"
        );
        serde_yaml::from_str(&yaml).unwrap()
    }

    const CERTIFICATE_FIELDS: &str = "  client_certificate:\n    type: string\n    secret: true\n  client_private_key:\n    type: string\n    secret: true\n";

    #[test]
    fn client_credentials_entry_converted() {
        let converted = convert("fixture", &entry("OAUTH2_CC", CERTIFICATE_FIELDS)).unwrap();

        let auth = converted.document.get("auth").unwrap();
        assert_eq!(auth.get("mode").unwrap(), "oauth2_client_credentials");
        assert_eq!(
            auth.get("require_client_certificate"),
            Some(&Value::Bool(true))
        );
    }

    #[test]
    fn other_shapes_stay_unconverted() {
        let extra_field = format!("{CERTIFICATE_FIELDS}  tenant:\n    type: string\n");
        let cases = [
            (
                "another mode",
                entry("TWO_STEP", CERTIFICATE_FIELDS),
                "require_client_certificate",
            ),
            (
                "another credential field",
                entry("OAUTH2_CC", &extra_field),
                "credentials.tenant",
            ),
        ];
        for (case, entry, expected) in cases {
            let reason = convert("fixture", &entry).err().expect(case);

            assert!(
                reason.message.contains(expected),
                "{case}: {}",
                reason.message
            );
        }
    }
}
