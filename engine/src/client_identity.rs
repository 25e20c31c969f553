//! TLS client certificates (mutual TLS) and the HTTP clients that present
//! them.
//!
//! A provider with `require_client_certificate` authenticates the client at
//! the TLS layer as well as with its OAuth client secret. Each connection
//! stores its own certificate and key, so a request of that connection goes
//! out over a client built with that identity.

use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::Secret;

/// Connect timeout of the token client and its copies that present a
/// client certificate.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its private key, both PEM, that a connection
/// presents in the TLS handshake.
///
/// Both halves are secrets, because the certificate identifies the
/// customer's account at the provider and the key proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIdentity {
    certificate: Secret,
    private_key: Secret,
}

/// A reason a certificate and key pair cannot be used. Each message names the
/// field it concerns as `POST /connections` takes it
/// (`credentials.client_certificate`, `credentials.client_private_key`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdentityError {
    #[error(
        "`credentials.client_certificate` is not a PEM certificate ({0}); pass the certificate as PEM text starting with -----BEGIN CERTIFICATE-----"
    )]
    InvalidCertificate(String),
    #[error(
        "`credentials.client_private_key` is not a PEM private key ({0}); pass the key as PEM text starting with -----BEGIN PRIVATE KEY----- (PKCS#8), -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----"
    )]
    InvalidPrivateKey(String),
    #[error(
        "`credentials.client_private_key` does not match the public key of `credentials.client_certificate`; pass the private key that the certificate was issued for"
    )]
    KeyMismatch,
}

impl ClientIdentity {
    /// Checks that `certificate` contains at least one PEM certificate (the
    /// first is the end-entity certificate), that `private_key` contains a PEM
    /// key of a type rustls can sign with, and that the key belongs to the
    /// end-entity certificate.
    /// Literal `\n` sequences in a value without line breaks are restored
    /// to line breaks first.
    pub fn parse(certificate: &str, private_key: &str) -> Result<Self, ClientIdentityError> {
        let certificate = crate::jwt::pem_text(certificate);
        let private_key = crate::jwt::pem_text(private_key);
        let chain = CertificateDer::pem_slice_iter(certificate.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                ClientIdentityError::InvalidCertificate(describe_pem_error(&error, "CERTIFICATE"))
            })?;
        if chain.is_empty() {
            return Err(ClientIdentityError::InvalidCertificate(
                "no CERTIFICATE block found".to_owned(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(private_key.as_bytes()).map_err(|error| {
            ClientIdentityError::InvalidPrivateKey(describe_pem_error(&error, "PRIVATE KEY"))
        })?;
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|error| ClientIdentityError::InvalidPrivateKey(error.to_string()))?;
        let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(ClientIdentityError::KeyMismatch);
            }
            Err(error) => {
                return Err(ClientIdentityError::InvalidCertificate(error.to_string()));
            }
        }
        Ok(ClientIdentity {
            certificate: Secret::new(certificate),
            private_key: Secret::new(private_key),
        })
    }

    /// The certificate chain as entered, for the reply that returns a
    /// connection's credentials.
    pub fn certificate(&self) -> &Secret {
        &self.certificate
    }

    /// The private key as entered, for the reply that returns a
    /// connection's credentials.
    pub fn private_key(&self) -> &Secret {
        &self.private_key
    }

    /// Converts the pair into reqwest's identity, which takes the key and
    /// the certificates in one PEM buffer.
    fn reqwest_identity(&self) -> Result<reqwest::Identity, reqwest::Error> {
        let mut pem = String::with_capacity(
            self.private_key.expose().len() + self.certificate.expose().len() + 1,
        );
        pem.push_str(self.private_key.expose());
        pem.push('\n');
        pem.push_str(self.certificate.expose());
        reqwest::Identity::from_pem(pem.as_bytes())
    }
}

/// Describes a PEM parse failure in words, because the parser's own
/// message prints the marker line as a list of byte values.
fn describe_pem_error(error: &rustls_pki_types::pem::Error, block: &str) -> String {
    use rustls_pki_types::pem::Error;
    match error {
        Error::NoItemsFound => format!("no {block} block found"),
        Error::MissingSectionEnd { end_marker } => format!(
            "a block has no `-----END {}-----` line",
            String::from_utf8_lossy(end_marker)
        ),
        Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed".to_owned(),
        Error::Base64Decode(message) => format!("a block is not valid base64: {message}"),
        other => other.to_string(),
    }
}

/// Settings shared by every HTTP client that sends token requests: extra
/// trusted root certificates, on top of the built-in web PKI roots.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    extra_roots: Vec<reqwest::Certificate>,
}

impl TlsSettings {
    /// Trusts the certificates in `pem`, one or more PEM blocks, besides the
    /// built-in roots. `source` names where the PEM came from in errors.
    pub fn with_extra_roots_pem(pem: &[u8], source: &str) -> Result<TlsSettings, String> {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|error| format!("cannot read the certificates in {source}: {error}"))?;
        if roots.is_empty() {
            return Err(format!(
                "{source} contains no PEM certificate; pass a file with one or more -----BEGIN CERTIFICATE----- blocks"
            ));
        }
        let settings = TlsSettings { extra_roots: roots };
        // reqwest parses a certificate's body only when a client is built,
        // so a damaged one is caught here, where the file can be named.
        settings
            .apply(reqwest::Client::builder())
            .build()
            .map_err(|error| {
                let cause = std::error::Error::source(&error)
                    .map_or_else(|| error.to_string(), ToString::to_string);
                format!("{source} holds a certificate that cannot be used as a root ({cause}); pass a PEM file of valid CA certificates")
            })?;
        Ok(settings)
    }

    /// Adds the extra roots to `builder`.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        for root in &self.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        builder
    }

    /// Returns a builder of the token client: no redirects, because token
    /// requests carry secrets that a redirect would resend to whatever host
    /// the `Location` names, a User-Agent (GitHub's REST API, which issues
    /// `app` installation tokens, rejects requests without one) and
    /// timeouts.
    pub fn token_client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(Duration::from_secs(30));
        self.apply(builder)
    }

    /// Builds a client from `builder` that presents `identity` in every TLS
    /// handshake. The builder should come from [`TlsSettings::apply`] or
    /// [`TlsSettings::token_client_builder`], so the extra roots hold too.
    pub fn client_with_identity(
        builder: reqwest::ClientBuilder,
        identity: &ClientIdentity,
    ) -> Result<reqwest::Client, reqwest::Error> {
        // NOTE: each call builds a new client and so a new connection pool,
        // which costs a TLS handshake per request to a mutual-TLS provider.
        builder.identity(identity.reqwest_identity()?).build()
    }
}

impl crate::Engine {
    /// Returns the client for a token request of `provider`: a client that
    /// presents `identity` when one is given, the shared client otherwise.
    /// A provider that requires a client certificate fails without one
    /// instead of sending a request its server would reject in the
    /// handshake.
    pub(crate) fn client_for(
        &self,
        provider: &latchkey_catalog::Provider,
        required: bool,
        identity: Option<&ClientIdentity>,
    ) -> Result<reqwest::Client, crate::EngineError> {
        match identity {
            Some(identity) => {
                TlsSettings::client_with_identity(self.tls.token_client_builder(), identity)
                    .map_err(|error| {
                        crate::EngineError::Transport(format!(
                            "cannot build the TLS client of provider `{}` with the connection's client certificate: {error}",
                            provider.name
                        ))
                    })
            }
            None if required => Err(crate::EngineError::MissingCredential(format!(
                "provider `{}` requires a TLS client certificate, and the connection has none; recreate it with `credentials.client_certificate` and `credentials.client_private_key`",
                provider.name
            ))),
            None => Ok(self.http.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTIFICATE: &str = include_str!("../testdata/mtls/client-cert.pem");
    const KEY: &str = include_str!("../testdata/mtls/client-key.pem");
    const OTHER_KEY: &str = include_str!("../testdata/mtls/other-key.pem");

    #[test]
    fn matching_pair_parses() {
        let identity = ClientIdentity::parse(CERTIFICATE, KEY).unwrap();

        assert_eq!(identity.certificate().expose(), CERTIFICATE.trim());
        assert_eq!(identity.private_key().expose(), KEY.trim());
        assert!(identity.reqwest_identity().is_ok());
    }

    #[test]
    fn escaped_line_breaks_restored() {
        let escaped_certificate = CERTIFICATE.trim().replace('\n', "\\n");
        let escaped_key = KEY.trim().replace('\n', "\\n");

        let identity = ClientIdentity::parse(&escaped_certificate, &escaped_key).unwrap();

        assert_eq!(identity.certificate().expose(), CERTIFICATE.trim());
        assert_eq!(identity.private_key().expose(), KEY.trim());
    }

    #[test]
    fn invalid_pairs_rejected() {
        let truncated_certificate = &CERTIFICATE[..CERTIFICATE.len() / 2];
        let cases: [(&str, &str, &str, ClientIdentityError); 5] = [
            (
                "no certificate block",
                "not a certificate",
                KEY,
                ClientIdentityError::InvalidCertificate("no CERTIFICATE block found".to_owned()),
            ),
            (
                "key given as certificate",
                KEY,
                KEY,
                ClientIdentityError::InvalidCertificate("no CERTIFICATE block found".to_owned()),
            ),
            (
                "certificate given as key",
                CERTIFICATE,
                CERTIFICATE,
                ClientIdentityError::InvalidPrivateKey("no PRIVATE KEY block found".to_owned()),
            ),
            (
                "key of another pair",
                CERTIFICATE,
                OTHER_KEY,
                ClientIdentityError::KeyMismatch,
            ),
            (
                "truncated certificate",
                truncated_certificate,
                KEY,
                ClientIdentityError::InvalidCertificate(
                    "a block has no `-----END CERTIFICATE-----` line".to_owned(),
                ),
            ),
        ];
        for (case, certificate, key, expected) in cases {
            assert_eq!(
                ClientIdentity::parse(certificate, key).unwrap_err(),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn errors_name_field_and_fix() {
        let certificate_error = ClientIdentity::parse("x", KEY).unwrap_err().to_string();
        let key_error = ClientIdentity::parse(CERTIFICATE, "x")
            .unwrap_err()
            .to_string();
        let mismatch = ClientIdentity::parse(CERTIFICATE, OTHER_KEY)
            .unwrap_err()
            .to_string();

        assert!(
            certificate_error.starts_with("`credentials.client_certificate`"),
            "{certificate_error}"
        );
        assert!(
            certificate_error.contains("BEGIN CERTIFICATE"),
            "{certificate_error}"
        );
        assert!(
            key_error.starts_with("`credentials.client_private_key`"),
            "{key_error}"
        );
        assert!(key_error.contains("BEGIN PRIVATE KEY"), "{key_error}");
        assert!(mismatch.contains("does not match"), "{mismatch}");
    }

    #[tokio::test]
    async fn grant_without_required_identity_fails() {
        let provider = crate::test_support::provider_from_yaml(
            "name: mtls-example\ndisplay_name: mTLS example\nauth:\n  mode: oauth2_client_credentials\n  token_url: https://auth.example.com/token\n  require_client_certificate: true\nproxy:\n  base_url: https://api.example.com\n",
        );
        let engine = crate::Engine::new(reqwest::Client::new());

        let error = engine
            .client_credentials(
                &provider,
                "client",
                &Secret::new("secret"),
                &[],
                &Default::default(),
            )
            .await
            .unwrap_err();

        let message = error.to_string();
        assert!(
            matches!(error, crate::EngineError::MissingCredential(_)),
            "{message}"
        );
        assert!(
            message.contains("requires a TLS client certificate"),
            "{message}"
        );
        assert!(
            message.contains("`credentials.client_certificate`"),
            "{message}"
        );
    }

    #[test]
    fn identity_among_secret_values() {
        let identity = ClientIdentity::parse(CERTIFICATE, KEY).unwrap();
        let credentials = crate::Credentials::ClientCredentials {
            token: crate::OAuth2Token {
                access_token: Secret::new("at"),
                refresh_token: None,
                expires_at: None,
                obtained_at: Default::default(),
                raw: Default::default(),
            },
            client_id: "client".to_owned(),
            client_secret: Secret::new("secret"),
            client_identity: Some(identity),
        };

        let values = credentials.secret_values();

        assert!(values.contains(&CERTIFICATE.trim()), "certificate missing");
        assert!(values.contains(&KEY.trim()), "private key missing");
    }

    #[test]
    fn debug_hides_key_and_certificate() {
        let identity = ClientIdentity::parse(CERTIFICATE, KEY).unwrap();
        let text = format!("{identity:?}");
        let key_body = KEY.lines().nth(1).unwrap();
        let certificate_body = CERTIFICATE.lines().nth(1).unwrap();

        assert!(!text.contains(key_body), "{text}");
        assert!(!text.contains(certificate_body), "{text}");
    }
}
