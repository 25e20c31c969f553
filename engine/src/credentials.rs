use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Secret;

/// Per-connection values (a subdomain, a shop name, an instance URL) that
/// provider templates refer to by key.
pub type ConnectionConfig = serde_json::Map<String, serde_json::Value>;

/// The app an integration registered with a provider.
#[derive(Debug, Clone)]
pub struct ClientApp {
    pub client_id: String,
    /// Empty for a public client, which then sends only its `client_id`.
    pub client_secret: Secret,
    /// Requested after the provider's default scopes.
    pub scopes: Vec<String>,
}

/// The credential of one connection, in Nango's wire shape: an object whose
/// `type` field names the auth mode.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Credentials {
    #[serde(rename = "OAUTH2")]
    OAuth2(OAuth2Token),
    #[serde(rename = "OAUTH2_CC")]
    ClientCredentials {
        token: OAuth2Token,
        client_id: String,
        client_secret: Secret,
    },
    #[serde(rename = "API_KEY")]
    ApiKey { api_key: Secret },
    #[serde(rename = "BASIC")]
    Basic { username: String, password: Secret },
    #[serde(rename = "OAUTH1")]
    OAuth1(OAuth1Credentials),
    /// Token-based authentication: the token the end user created in the
    /// provider. The consumer key and secret are the integration's.
    #[serde(rename = "TBA")]
    Tba {
        token_id: Secret,
        token_secret: Secret,
    },
}

impl Credentials {
    /// Returns the wire name of the credential type (`OAUTH2`, `API_KEY`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Credentials::OAuth2(_) => "OAUTH2",
            Credentials::ClientCredentials { .. } => "OAUTH2_CC",
            Credentials::ApiKey { .. } => "API_KEY",
            Credentials::Basic { .. } => "BASIC",
            Credentials::OAuth1(_) => "OAUTH1",
            Credentials::Tba { .. } => "TBA",
        }
    }

    /// Returns the OAuth token of an `OAUTH2` or `OAUTH2_CC` credential.
    pub fn oauth2_token(&self) -> Option<&OAuth2Token> {
        match self {
            Credentials::OAuth2(token) | Credentials::ClientCredentials { token, .. } => {
                Some(token)
            }
            Credentials::ApiKey { .. } | Credentials::Basic { .. } => None,
            Credentials::OAuth1(_) | Credentials::Tba { .. } => None,
        }
    }
}

/// An OAuth 2.0 access token with what is known about its lifetime.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuth2Token {
    pub access_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// `None` when the provider gave no lifetime and the definition assumes
    /// none, so the token is used until the provider rejects it.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the token request was sent; imported tokens default to the time
    /// of import.
    #[serde(default = "Utc::now")]
    pub obtained_at: DateTime<Utc>,
    /// The full token response. It contains secrets, so `Debug` omits it and
    /// the server stores it encrypted only.
    #[serde(default)]
    pub raw: serde_json::Value,
}

impl fmt::Debug for OAuth2Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Token")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("obtained_at", &self.obtained_at)
            .field("raw", &"[redacted]")
            .finish()
    }
}

/// OAuth 1.0a token credentials (RFC 5849 section 2.3). They do not
/// expire, so nothing refreshes them.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuth1Credentials {
    pub oauth_token: Secret,
    pub oauth_token_secret: Secret,
    /// The whole access token reply, which contains the token secret, so
    /// `Debug` omits it.
    #[serde(default)]
    pub raw: serde_json::Value,
}

impl fmt::Debug for OAuth1Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth1Credentials")
            .field("oauth_token", &self.oauth_token)
            .field("oauth_token_secret", &self.oauth_token_secret)
            .field("raw", &"[redacted]")
            .finish()
    }
}

/// The outcome of a successful token request.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    pub token: OAuth2Token,
    /// Values captured from this response per the definition's
    /// `token_response.connection_config` (for example Salesforce's
    /// `instance_url`). The caller merges them into the stored config.
    pub connection_config: ConnectionConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_token() -> OAuth2Token {
        OAuth2Token {
            access_token: Secret::new("at-1"),
            refresh_token: Some(Secret::new("rt-1")),
            expires_at: Some("2026-01-01T01:00:00Z".parse().unwrap()),
            obtained_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            raw: json!({"access_token": "at-1", "refresh_token": "rt-1"}),
        }
    }

    #[test]
    fn oauth2_serializes_in_wire_shape() {
        let value = serde_json::to_value(Credentials::OAuth2(sample_token())).unwrap();

        assert_eq!(
            value,
            json!({
                "type": "OAUTH2",
                "access_token": "at-1",
                "refresh_token": "rt-1",
                "expires_at": "2026-01-01T01:00:00Z",
                "obtained_at": "2026-01-01T00:00:00Z",
                "raw": {"access_token": "at-1", "refresh_token": "rt-1"},
            })
        );
    }

    #[test]
    fn credentials_round_trip() {
        let cases = [
            Credentials::OAuth2(sample_token()),
            Credentials::ClientCredentials {
                token: sample_token(),
                client_id: "cid".to_owned(),
                client_secret: Secret::new("cs"),
            },
            Credentials::ApiKey {
                api_key: Secret::new("sk_test_1"),
            },
            Credentials::Basic {
                username: "AC123".to_owned(),
                password: Secret::new("pw"),
            },
            Credentials::OAuth1(OAuth1Credentials {
                oauth_token: Secret::new("ot"),
                oauth_token_secret: Secret::new("ots"),
                raw: json!({"oauth_token": "ot", "oauth_token_secret": "ots"}),
            }),
            Credentials::Tba {
                token_id: Secret::new("tid"),
                token_secret: Secret::new("ts"),
            },
        ];

        for credentials in cases {
            let text = serde_json::to_string(&credentials).unwrap();
            let parsed: Credentials = serde_json::from_str(&text).unwrap();

            assert_eq!(serde_json::to_string(&parsed).unwrap(), text);
            assert_eq!(parsed.type_name(), credentials.type_name());
        }
    }

    #[test]
    fn imported_token_needs_only_access_token() {
        let parsed: Credentials =
            serde_json::from_value(json!({"type": "OAUTH2", "access_token": "at"})).unwrap();

        let token = parsed.oauth2_token().unwrap();
        assert_eq!(token.access_token.expose(), "at");
        assert!(token.refresh_token.is_none());
        assert!(token.expires_at.is_none());
    }

    #[test]
    fn debug_hides_every_secret() {
        let text = format!(
            "{:?}",
            Credentials::ClientCredentials {
                token: sample_token(),
                client_id: "cid".to_owned(),
                client_secret: Secret::new("cs-secret"),
            }
        );

        assert!(!text.contains("at-1"), "{text}");
        assert!(!text.contains("rt-1"), "{text}");
        assert!(!text.contains("cs-secret"), "{text}");
        assert!(text.contains("cid"), "{text}");
    }

    #[test]
    fn oauth1_and_tba_serialize_in_wire_shape() {
        let oauth1 = Credentials::OAuth1(OAuth1Credentials {
            oauth_token: Secret::new("ot"),
            oauth_token_secret: Secret::new("ots"),
            raw: json!({"user_id": "1"}),
        });
        let tba = Credentials::Tba {
            token_id: Secret::new("tid"),
            token_secret: Secret::new("ts"),
        };

        assert_eq!(
            serde_json::to_value(oauth1).unwrap(),
            json!({"type": "OAUTH1", "oauth_token": "ot", "oauth_token_secret": "ots", "raw": {"user_id": "1"}})
        );
        assert_eq!(
            serde_json::to_value(tba).unwrap(),
            json!({"type": "TBA", "token_id": "tid", "token_secret": "ts"})
        );
    }

    #[test]
    fn oauth1_debug_hides_secrets() {
        let text = format!(
            "{:?}",
            Credentials::OAuth1(OAuth1Credentials {
                oauth_token: Secret::new("ot-1"),
                oauth_token_secret: Secret::new("ots-1"),
                raw: json!({"oauth_token_secret": "ots-1"}),
            })
        );
        let tba = format!(
            "{:?}",
            Credentials::Tba {
                token_id: Secret::new("tid-1"),
                token_secret: Secret::new("ts-1"),
            }
        );

        assert!(!text.contains("ot-1"), "{text}");
        assert!(!text.contains("ots-1"), "{text}");
        assert!(!tba.contains("tid-1"), "{tba}");
        assert!(!tba.contains("ts-1"), "{tba}");
    }
}
