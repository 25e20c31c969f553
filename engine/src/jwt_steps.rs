//! The `steps` of a `jwt` definition: requests sent after the exchange at
//! `token_url`, for a provider that hands out its API token only at the
//! end of a chain. Workday Adaptive Planning's API, for example, takes a
//! second token obtained with the first.
//!
//! The exchange is request 1 of the chain and its reply is `step1`. The
//! steps are sent like the `steps` of a `two_step` login, by
//! [`Engine::continue_chain`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use latchkey_catalog::{step_variable, Jwt, Provider, TokenRequest, TokenResponse};
use url::Url;

use crate::jwt::{assertion_variables, exchange_secrets};
use crate::token_response::{parse_token_reply, RawReply};
use crate::token_steps::{step_reply, ChainStart};
use crate::{ConnectionConfig, Engine, EngineError, Secret, TokenGrant};

/// The exchange at `token_url` that starts a chain: where it went, what it
/// sent and what came back.
pub(crate) struct Exchange<'a> {
    pub url: &'a Url,
    pub reply: &'a RawReply,
    pub assertion: &'a Secret,
    pub sent_at: DateTime<Utc>,
}

impl Engine {
    /// Checks the exchange reply and sends the definition's `steps` after
    /// it. The exchange reply must be a token reply (RFC 6749 section 5.1),
    /// so a rejected assertion is reported with the provider's OAuth error
    /// as without `steps`. Its JSON object is `step1` of the steps'
    /// templates, which also see the connection config and the entered
    /// values as `credentials.<key>`.
    pub(crate) async fn send_jwt_steps(
        &self,
        provider: &Provider,
        jwt: &Jwt,
        fields: &BTreeMap<String, Secret>,
        config: &ConnectionConfig,
        exchange: Exchange<'_>,
    ) -> Result<TokenGrant, EngineError> {
        let assertion = exchange.assertion.expose().to_owned();
        let secrets = exchange_secrets(fields, exchange.assertion);
        let quoted: Vec<&str> = secrets.iter().map(String::as_str).collect();
        parse_token_reply(
            &provider.name,
            &TokenResponse::default(),
            exchange.reply,
            exchange.sent_at,
            None,
        )
        .map_err(|error| error.redact_quoted(&quoted))?;
        let step1 = step_reply(provider, 1, exchange.reply, &secrets)?;

        let mut vars = assertion_variables(provider, fields, config);
        if let Some(object) = vars.as_object_mut() {
            object.insert(step_variable(1), step1.clone());
        }
        let requests: Vec<(String, &TokenRequest)> = jwt
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| (format!("auth.steps.{index}"), step))
            .collect();
        let start = ChainStart {
            vars,
            replies: vec![step1],
            first_url: Some(exchange.url.clone()),
            last_status: Some(exchange.reply.status),
            secrets: vec![assertion],
            log_label: "jwt-steps",
        };
        self.continue_chain(provider, &requests, &jwt.token_response, start, fields)
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{provider_from_yaml, CannedReply, TestServer};

    /// The HS256 secret that the tests enter.
    const SECRET: &str = "chain-test-shared-secret";
    /// The access token of the exchange reply, which the step sends.
    const FIRST_TOKEN: &str = "first-access-token-1234";

    fn provider(base_url: &str) -> Provider {
        provider_with_step_url(
            base_url,
            &format!("{base_url}/api/{{{{ tenant }}}}/apiToken"),
        )
    }

    fn provider_with_step_url(base_url: &str, step_url: &str) -> Provider {
        provider_from_yaml(&format!(
            r#"
name: jwt-chain
display_name: JWT chain
connection_config:
  tenant: {{ title: Tenant }}
auth:
  mode: jwt
  algorithm: HS256
  credentials:
    client_id: {{ title: Client ID }}
    secret: {{ title: Secret, secret: true }}
    region: {{ title: Region, optional: true }}
  signing_key: "{{{{ credentials.secret }}}}"
  claims:
    iss: "{{{{ credentials.client_id }}}}"
  lifetime_seconds: 300
  token_url: "{base_url}/oauth2/{{{{ tenant }}}}/token"
  steps:
    - url: "{step_url}"
      method: GET
      params:
        client: "{{{{ credentials.client_id }}}}"
        region: "{{{{ credentials.region }}}}"
      headers:
        Authorization: "Bearer {{{{ step1.access_token }}}}"
  token_response:
    access_token: apiToken
proxy:
  base_url: "{base_url}"
"#
        ))
    }

    fn fields() -> BTreeMap<String, Secret> {
        BTreeMap::from([
            ("client_id".to_owned(), Secret::new("client-7".to_owned())),
            ("secret".to_owned(), Secret::new(SECRET.to_owned())),
        ])
    }

    fn config() -> ConnectionConfig {
        ConnectionConfig::from_iter([("tenant".to_owned(), json!("acme"))])
    }

    fn exchange_reply() -> CannedReply {
        CannedReply::json(
            200,
            json!({"access_token": FIRST_TOKEN, "token_type": "Bearer", "expires_in": 3600}),
        )
    }

    #[tokio::test]
    async fn step_sends_exchanged_token() {
        let server = TestServer::start(vec![
            exchange_reply(),
            CannedReply::json(
                200,
                json!({"apiToken": "api-token-5678", "expires_in": 1800}),
            ),
        ])
        .await;
        let provider = provider(&server.base_url);
        let now = Utc::now();

        let grant = Engine::new(reqwest::Client::new())
            .jwt_token(&provider, &fields(), &config(), now)
            .await
            .unwrap();

        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/oauth2/acme/token");
        assert_eq!(
            requests[0].form_value("grant_type").as_deref(),
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        );
        let raw = String::from_utf8_lossy(&requests[1].raw);
        assert!(
            raw.starts_with("GET /api/acme/apiToken?client=client-7 HTTP/1.1\r\n"),
            "{raw}"
        );
        assert_eq!(
            requests[1].header("authorization"),
            Some(format!("Bearer {FIRST_TOKEN}").as_str())
        );
        assert_eq!(requests[1].body, "");
        assert_eq!(grant.token.access_token.expose(), "api-token-5678");
        let lifetime = grant.token.expires_at.unwrap() - grant.token.obtained_at;
        assert!(
            (1799..=1800).contains(&lifetime.num_seconds()),
            "{lifetime}"
        );
    }

    #[tokio::test]
    async fn optional_step_param_sent_when_set() {
        let server = TestServer::start(vec![
            exchange_reply(),
            CannedReply::json(200, json!({"apiToken": "api-token-5678"})),
        ])
        .await;
        let provider = provider(&server.base_url);
        let mut fields = fields();
        fields.insert("region".to_owned(), Secret::new("eu".to_owned()));

        Engine::new(reqwest::Client::new())
            .jwt_token(&provider, &fields, &config(), Utc::now())
            .await
            .unwrap();

        let requests = server.requests();
        let raw = String::from_utf8_lossy(&requests[1].raw);
        assert!(
            raw.starts_with("GET /api/acme/apiToken?client=client-7&region=eu HTTP/1.1\r\n"),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn rejected_step_named_and_redacted() {
        let body = json!({"error": "denied", "echo": FIRST_TOKEN, "secret": SECRET});
        let server = TestServer::start(vec![exchange_reply(), CannedReply::json(403, body)]).await;
        let provider = provider(&server.base_url);

        let error = Engine::new(reqwest::Client::new())
            .jwt_token(&provider, &fields(), &config(), Utc::now())
            .await
            .unwrap_err();

        let EngineError::CredentialsRejected {
            step,
            status,
            body_start,
            ..
        } = &error
        else {
            panic!("unexpected error: {error:?}");
        };
        assert_eq!(*step, Some(2));
        assert_eq!(*status, 403);
        assert!(body_start.contains("denied"), "{body_start}");
        assert!(!body_start.contains(FIRST_TOKEN), "{body_start}");
        assert!(!body_start.contains(SECRET), "{body_start}");
        assert!(body_start.contains("[redacted]"), "{body_start}");
        let message = error.to_string();
        assert!(
            message.contains("rejected request 2 of the token request chain with HTTP 403"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn rejected_exchange_stops_chain() {
        let body = json!({"error": "invalid_grant", "error_description": "bad signature"});
        let server = TestServer::start(vec![CannedReply::json(400, body)]).await;
        let provider = provider(&server.base_url);

        let error = Engine::new(reqwest::Client::new())
            .jwt_token(&provider, &fields(), &config(), Utc::now())
            .await
            .unwrap_err();

        let EngineError::Provider { code, status, .. } = &error else {
            panic!("unexpected error: {error:?}");
        };
        assert_eq!(code, "invalid_grant");
        assert_eq!(*status, 400);
        assert_eq!(server.requests().len(), 1, "the step was sent");
    }

    #[tokio::test]
    async fn unusable_step_url_is_invalid_reply() {
        // (case, exchange reply, expected message part)
        let cases = [
            (
                "plain http on another host",
                json!({"access_token": FIRST_TOKEN, "next_url": "http://localhost:9"}),
                "points to `http://localhost:9`, which is rejected because it does not use https",
            ),
            (
                "member missing",
                json!({"access_token": FIRST_TOKEN}),
                "undefined variable `step1.next_url`",
            ),
        ];
        for (case, reply, expected) in cases {
            let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
            let provider =
                provider_with_step_url(&server.base_url, "{{ step1.next_url }}/apiToken");

            let error = Engine::new(reqwest::Client::new())
                .jwt_token(&provider, &fields(), &config(), Utc::now())
                .await
                .unwrap_err();

            let EngineError::InvalidResponse {
                status, message, ..
            } = &error
            else {
                panic!("{case}: unexpected error: {error:?}");
            };
            assert_eq!(*status, 200, "{case}");
            assert!(
                message.contains("request 2 of the token request chain cannot use"),
                "{case}: {message}"
            );
            assert!(message.contains("`auth.steps.0.url`"), "{case}: {message}");
            assert!(message.contains(expected), "{case}: {message}");
            assert!(!message.contains(FIRST_TOKEN), "{case}: {message}");
            assert_eq!(server.requests().len(), 1, "{case}: the step was sent");
        }
    }

    #[tokio::test]
    async fn exchange_reply_must_be_object() {
        let server = TestServer::start(vec![CannedReply::json(
            200,
            json!(["access_token", FIRST_TOKEN]),
        )])
        .await;
        let provider = provider(&server.base_url);

        let error = Engine::new(reqwest::Client::new())
            .jwt_token(&provider, &fields(), &config(), Utc::now())
            .await
            .unwrap_err();

        assert!(
            matches!(error, EngineError::InvalidResponse { .. }),
            "{error:?}"
        );
        assert_eq!(server.requests().len(), 1, "the step was sent");
    }
}
