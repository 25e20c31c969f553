use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{McpSetup, Secret};

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
        /// The TLS client certificate and key of a provider with
        /// `require_client_certificate`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_identity: Option<crate::ClientIdentity>,
    },
    #[serde(rename = "API_KEY")]
    ApiKey { api_key: Secret },
    #[serde(rename = "BASIC")]
    Basic { username: String, password: Secret },
    #[serde(rename = "TWO_STEP")]
    TwoStep(TwoStepCredentials),
    /// A `session` connection, in the shape of Nango's Bill.com credential.
    #[serde(rename = "BILL")]
    Session(SessionCredentials),
    #[serde(rename = "NONE")]
    None {},
    /// The key pair of a `signature` provider; only the signature computed
    /// with `password` goes upstream.
    #[serde(rename = "SIGNATURE")]
    Signature { username: String, password: Secret },
    /// AWS access keys; a session token comes with temporary keys from STS.
    #[serde(rename = "AWS_SIGV4")]
    AwsSigV4 {
        access_key_id: String,
        secret_access_key: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<Secret>,
        /// The role whose temporary keys these are, for a provider with
        /// `assume_role`; `None` for keys the end user entered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role_arn: Option<String>,
        /// `Expiration` of temporary keys from STS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
        /// When Latchkey obtained the temporary keys.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        obtained_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "JWT")]
    Jwt(crate::JwtCredentials),
    /// A token of an MCP server, with the endpoints and the client that
    /// obtained it, so that a refresh needs no discovery.
    #[serde(rename = "MCP_OAUTH2")]
    McpOAuth2 {
        #[serde(flatten)]
        token: OAuth2Token,
        mcp: McpSetup,
    },
    #[serde(rename = "OAUTH1")]
    OAuth1(OAuth1Credentials),
    /// Token-based authentication: the token the end user created in the
    /// provider. The consumer key and secret are the integration's.
    #[serde(rename = "TBA")]
    Tba {
        token_id: Secret,
        token_secret: Secret,
    },
    /// An app installation and its installation token. The app id and key
    /// are the integration's.
    #[serde(rename = "APP")]
    App(crate::AppInstallation),
}

/// Returns the access token and the refresh token of `token`.
fn token_values(token: &OAuth2Token) -> Vec<&str> {
    let mut values = vec![token.access_token.expose()];
    values.extend(token.refresh_token.as_ref().map(Secret::expose));
    values
}

impl Credentials {
    /// Returns the wire name of the credential type (`OAUTH2`, `API_KEY`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Credentials::OAuth2(_) => "OAUTH2",
            Credentials::ClientCredentials { .. } => "OAUTH2_CC",
            Credentials::ApiKey { .. } => "API_KEY",
            Credentials::Basic { .. } => "BASIC",
            Credentials::TwoStep(_) => "TWO_STEP",
            Credentials::Session(_) => "BILL",
            Credentials::None {} => "NONE",
            Credentials::Signature { .. } => "SIGNATURE",
            Credentials::AwsSigV4 { .. } => "AWS_SIGV4",
            Credentials::Jwt(_) => "JWT",
            Credentials::McpOAuth2 { .. } => "MCP_OAUTH2",
            Credentials::OAuth1(_) => "OAUTH1",
            Credentials::Tba { .. } => "TBA",
            Credentials::App(_) => "APP",
        }
    }

    /// Returns every secret value of the credential (tokens, keys,
    /// passwords and entered secret fields), for redacting quoted replies.
    pub(crate) fn secret_values(&self) -> Vec<&str> {
        match self {
            Credentials::OAuth2(token) => token_values(token),
            Credentials::McpOAuth2 { token, mcp } => {
                let mut values = token_values(token);
                values.push(mcp.client_secret.expose());
                values
            }
            Credentials::ClientCredentials {
                token,
                client_secret,
                client_identity,
                ..
            } => {
                let mut values = token_values(token);
                values.push(client_secret.expose());
                if let Some(identity) = client_identity {
                    values.push(identity.certificate().expose());
                    values.push(identity.private_key().expose());
                }
                values
            }
            Credentials::ApiKey { api_key } => vec![api_key.expose()],
            Credentials::Basic { password, .. } | Credentials::Signature { password, .. } => {
                vec![password.expose()]
            }
            Credentials::TwoStep(two_step) | Credentials::Session(SessionCredentials(two_step)) => {
                let mut values = token_values(&two_step.token);
                values.extend(two_step.fields.values().map(Secret::expose));
                values
            }
            Credentials::Jwt(jwt) => {
                let mut values = token_values(&jwt.token);
                values.extend(jwt.fields.values().map(Secret::expose));
                values
            }
            Credentials::AwsSigV4 {
                secret_access_key,
                session_token,
                ..
            } => {
                let mut values = vec![secret_access_key.expose()];
                values.extend(session_token.as_ref().map(Secret::expose));
                values
            }
            Credentials::OAuth1(oauth1) => vec![
                oauth1.oauth_token.expose(),
                oauth1.oauth_token_secret.expose(),
            ],
            Credentials::Tba {
                token_id,
                token_secret,
            } => vec![token_id.expose(), token_secret.expose()],
            Credentials::App(app) => {
                let mut values = token_values(&app.token);
                values.extend(app.user.as_ref().map(token_values).unwrap_or_default());
                values
            }
            Credentials::None {} => Vec::new(),
        }
    }

    /// Returns the token of an `OAUTH2`, `OAUTH2_CC`, `JWT`, `MCP_OAUTH2` or
    /// `APP` credential.
    pub fn oauth2_token(&self) -> Option<&OAuth2Token> {
        match self {
            Credentials::OAuth2(token) | Credentials::ClientCredentials { token, .. } => {
                Some(token)
            }
            Credentials::Jwt(jwt) => Some(&jwt.token),
            Credentials::App(app) => Some(&app.token),
            Credentials::McpOAuth2 { token, .. } => Some(token),
            Credentials::ApiKey { .. }
            | Credentials::Basic { .. }
            | Credentials::TwoStep(_)
            | Credentials::Session(_)
            | Credentials::None {}
            | Credentials::Signature { .. }
            | Credentials::AwsSigV4 { .. }
            | Credentials::OAuth1(_)
            | Credentials::Tba { .. } => None,
        }
    }

    /// Returns the token of a credential whose token Latchkey obtains and
    /// renews itself: OAuth tokens, and the token or session id of a
    /// `two_step` or `session` connection.
    pub fn renewable_token(&self) -> Option<&OAuth2Token> {
        match self {
            Credentials::TwoStep(credentials) => Some(&credentials.token),
            Credentials::Session(SessionCredentials(credentials)) => Some(&credentials.token),
            other => other.oauth2_token(),
        }
    }
}

/// The credential of a `two_step` connection: the values the end user
/// entered and the token obtained with them.
///
/// On the wire (Nango's `TWO_STEP` shape) the token is `token` and the
/// entered values sit beside it as top-level keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "TwoStepWire", into = "TwoStepWire")]
pub struct TwoStepCredentials {
    /// The entered values by credential field name. All are kept as
    /// secrets, because a definition decides which of them are confidential.
    pub fields: BTreeMap<String, Secret>,
    /// `access_token` is the token; `raw` is the token endpoint's reply.
    pub token: OAuth2Token,
}

/// The credential of a `session` connection, stored like
/// [`TwoStepCredentials`] but with the token named `session_id` on the wire,
/// as in Nango's `BILL` shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "SessionWire", into = "SessionWire")]
pub struct SessionCredentials(pub TwoStepCredentials);

#[derive(Clone, Serialize, Deserialize)]
struct TwoStepWire {
    token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default = "Utc::now")]
    obtained_at: DateTime<Utc>,
    #[serde(default)]
    raw: serde_json::Value,
    #[serde(flatten)]
    fields: BTreeMap<String, Secret>,
}

#[derive(Clone, Serialize, Deserialize)]
struct SessionWire {
    session_id: Secret,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default = "Utc::now")]
    obtained_at: DateTime<Utc>,
    #[serde(default)]
    raw: serde_json::Value,
    #[serde(flatten)]
    fields: BTreeMap<String, Secret>,
}

impl From<TwoStepWire> for TwoStepCredentials {
    fn from(wire: TwoStepWire) -> TwoStepCredentials {
        TwoStepCredentials {
            fields: wire.fields,
            token: OAuth2Token {
                access_token: wire.token,
                refresh_token: wire.refresh_token,
                expires_at: wire.expires_at,
                obtained_at: wire.obtained_at,
                raw: wire.raw,
            },
        }
    }
}

impl From<TwoStepCredentials> for TwoStepWire {
    fn from(credentials: TwoStepCredentials) -> TwoStepWire {
        let token = credentials.token;
        TwoStepWire {
            token: token.access_token,
            refresh_token: token.refresh_token,
            expires_at: token.expires_at,
            obtained_at: token.obtained_at,
            raw: token.raw,
            fields: credentials.fields,
        }
    }
}

impl From<SessionWire> for SessionCredentials {
    fn from(wire: SessionWire) -> SessionCredentials {
        SessionCredentials(TwoStepCredentials {
            fields: wire.fields,
            token: OAuth2Token {
                access_token: wire.session_id,
                refresh_token: None,
                expires_at: wire.expires_at,
                obtained_at: wire.obtained_at,
                raw: wire.raw,
            },
        })
    }
}

impl From<SessionCredentials> for SessionWire {
    fn from(SessionCredentials(credentials): SessionCredentials) -> SessionWire {
        let token = credentials.token;
        SessionWire {
            session_id: token.access_token,
            expires_at: token.expires_at,
            obtained_at: token.obtained_at,
            raw: token.raw,
            fields: credentials.fields,
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
    /// The cookies that the reply set, as a `Cookie` header value, when the
    /// definition has `token_response.capture_cookies`.
    pub cookies: Option<Secret>,
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
                client_identity: None,
            },
            Credentials::ApiKey {
                api_key: Secret::new("sk_test_1"),
            },
            Credentials::Basic {
                username: "AC123".to_owned(),
                password: Secret::new("pw"),
            },
            Credentials::TwoStep(two_step_sample()),
            Credentials::Session(SessionCredentials(two_step_sample())),
            Credentials::None {},
            Credentials::Signature {
                username: "key-id".to_owned(),
                password: Secret::new("key-secret"),
            },
            Credentials::AwsSigV4 {
                access_key_id: "AKIDEXAMPLE".to_owned(),
                secret_access_key: Secret::new("aws-secret"),
                session_token: Some(Secret::new("aws-session")),
                role_arn: None,
                expires_at: None,
                obtained_at: None,
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

    fn two_step_sample() -> TwoStepCredentials {
        TwoStepCredentials {
            fields: BTreeMap::from([
                ("username".to_owned(), Secret::new("ada")),
                ("password".to_owned(), Secret::new("pw-1")),
            ]),
            token: sample_token(),
        }
    }

    #[test]
    fn two_step_serializes_in_wire_shape() {
        let value = serde_json::to_value(Credentials::TwoStep(two_step_sample())).unwrap();

        assert_eq!(
            value,
            json!({
                "type": "TWO_STEP",
                "token": "at-1",
                "refresh_token": "rt-1",
                "expires_at": "2026-01-01T01:00:00Z",
                "obtained_at": "2026-01-01T00:00:00Z",
                "raw": {"access_token": "at-1", "refresh_token": "rt-1"},
                "username": "ada",
                "password": "pw-1",
            })
        );
    }

    #[test]
    fn session_serializes_in_bill_shape() {
        let credentials = Credentials::Session(SessionCredentials(two_step_sample()));
        let value = serde_json::to_value(&credentials).unwrap();

        assert_eq!(value["type"], "BILL");
        assert_eq!(value["session_id"], "at-1");
        assert_eq!(value["username"], "ada");
        assert!(value.get("token").is_none(), "{value}");
        assert_eq!(
            credentials.renewable_token().unwrap().access_token.expose(),
            "at-1"
        );
    }

    #[test]
    fn none_serializes_as_type_only() {
        let value = serde_json::to_value(Credentials::None {}).unwrap();

        assert_eq!(value, json!({"type": "NONE"}));
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
                client_identity: None,
            }
        );

        assert!(!text.contains("at-1"), "{text}");
        assert!(!text.contains("rt-1"), "{text}");
        assert!(!text.contains("cs-secret"), "{text}");
        assert!(text.contains("cid"), "{text}");

        let text = format!("{:?}", Credentials::TwoStep(two_step_sample()));
        assert!(!text.contains("pw-1"), "{text}");
        assert!(!text.contains("at-1"), "{text}");
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
