//! Microsoft's admin consent flow (`admin_consent` of an `oauth2`
//! definition): the callback check, and the client-credentials grant that
//! obtains and renews the token. The authorization URL is built in the
//! parent module, which leaves out `response_type`, PKCE and `scope` for
//! this flow.

use chrono::Utc;
use latchkey_catalog::{
    OAuth2, Provider, StandardParam, ADMIN_CONSENT_PARAM, RESERVED_TOKEN_PARAMS,
};

use super::{join_scopes, oauth2_client, oauth2_settings, oauth2_token_url, rendered_params};
use crate::template::{config_variables, with_random_token};
use crate::token_request::TokenParams;
use crate::token_response::parse_token_reply;
use crate::transport::TokenTransport;
use crate::{ClientApp, ConnectionConfig, Engine, EngineError, TokenGrant};

impl Engine {
    /// Checks the callback of an admin consent flow and obtains the first
    /// token. `callback` returns a query parameter of the redirect back to
    /// Latchkey. The callback must carry `admin_consent=True` (in any ASCII
    /// case) and the tenant parameter, and the tenant must equal the
    /// connection-config value of `tenant_config_key` when the definition
    /// sets one. A callback that fails a check is
    /// [`EngineError::InvalidCallback`], and no token is requested.
    pub async fn finish_admin_consent<'a>(
        &self,
        provider: &Provider,
        app: &ClientApp,
        callback: impl Fn(&str) -> Option<&'a str>,
        config: &ConnectionConfig,
    ) -> Result<TokenGrant, EngineError> {
        let oauth2 = oauth2_settings(provider, "finish an admin consent")?;
        let Some(consent) = &oauth2.admin_consent else {
            return Err(EngineError::Unsupported(format!(
                "provider `{}` has no `admin_consent`, so its callback carries a code to exchange",
                provider.name
            )));
        };
        let invalid = |message: String| {
            EngineError::InvalidCallback(format!(
                "the admin consent callback of provider `{}` {message}; start the connection again",
                provider.name
            ))
        };
        // Callback values are quoted in Debug form, because whoever sends
        // the redirect chooses them and they could carry CR or LF.
        match callback(ADMIN_CONSENT_PARAM) {
            Some(granted) if granted.eq_ignore_ascii_case("true") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "has `{ADMIN_CONSENT_PARAM}` {other:?}, not `True`, so consent was not granted"
                )))
            }
            None => {
                return Err(invalid(format!(
                    "has no `{ADMIN_CONSENT_PARAM}` parameter, so consent was not granted"
                )))
            }
        }
        let tenant = callback(&consent.tenant_param)
            .filter(|tenant| !tenant.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "has no `{}` parameter with the consenting tenant",
                    consent.tenant_param
                ))
            })?;
        if let Some(key) = &consent.tenant_config_key {
            let expected = config
                .get(key)
                .and_then(|value| value.as_str())
                .unwrap_or("");
            if !expected.eq_ignore_ascii_case(tenant) {
                return Err(invalid(format!(
                    "names the tenant {tenant:?}, but the connection-config field `{key}` is {expected:?}, \
                     so an administrator of another tenant consented"
                )));
            }
        }
        self.admin_consent_token(provider, oauth2, app, config)
            .await
    }

    /// Obtains a token with the client-credentials grant at `token_url`:
    /// `grant_type=client_credentials`, the client authentication of
    /// `client_auth`, the default then the integration scopes in `scope`,
    /// and the rendered `token_params`. A renewal sends the same request.
    pub(crate) async fn admin_consent_token(
        &self,
        provider: &Provider,
        oauth2: &OAuth2,
        app: &ClientApp,
        config: &ConnectionConfig,
    ) -> Result<TokenGrant, EngineError> {
        let vars = config_variables(provider, config);
        let token_url = oauth2_token_url(provider, oauth2, &vars)?;
        let extra = rendered_params(
            provider,
            "auth.token_params",
            &oauth2.token_params,
            &with_random_token(&vars),
            RESERVED_TOKEN_PARAMS,
        )?;
        let scope = join_scopes(&oauth2.default_scopes, &app.scopes, &oauth2.scope_separator);
        let trailing = if scope.is_empty() {
            Vec::new()
        } else {
            vec![(StandardParam::Scope, scope)]
        };
        let params = TokenParams {
            grant: vec![(StandardParam::GrantType, "client_credentials".to_owned())],
            trailing,
            extra,
        };
        let request = oauth2_client(oauth2, app).request(&token_url, params)?;

        let obtained_at = Utc::now();
        let reply =
            TokenTransport::new(&self.http, &provider.name, "client_credentials", &token_url)
                .reading(&oauth2.token_response)
                .send(request)
                .await?;
        parse_token_reply(
            &provider.name,
            &oauth2.token_response,
            &reply,
            obtained_at,
            None,
        )
        .map_err(|error| error.redact_quoted(&[app.client_secret.expose()]))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{provider_from_yaml, CannedReply, TestServer};
    use crate::{ClientApp, ConnectionConfig, Engine, EngineError, Secret};

    fn consent_provider(base: &str, client_auth: &str) -> latchkey_catalog::Provider {
        provider_from_yaml(&format!(
            r#"
name: consent
display_name: Consent
auth:
  mode: oauth2
  authorization_url: "{base}/{{{{ tenantId }}}}/adminconsent"
  token_url: "{base}/{{{{ tenantId }}}}/token"
  default_scopes: ["https://graph.example/.default"]
  client_auth: {client_auth}
  admin_consent:
    tenant_config_key: tenantId
connection_config:
  tenantId: {{title: Tenant ID}}
proxy: {{base_url: "https://graph.example"}}
"#
        ))
    }

    fn app() -> ClientApp {
        ClientApp {
            client_id: "cid".to_owned(),
            client_secret: Secret::new("c$ecret"),
            scopes: vec!["extra".to_owned()],
        }
    }

    fn config() -> ConnectionConfig {
        [("tenantId".to_owned(), json!("ABC-1"))]
            .into_iter()
            .collect()
    }

    #[test]
    fn consent_url_leaves_out_code_params() {
        let provider = consent_provider("https://login.example", "body");

        let request = Engine::new(reqwest::Client::new())
            .authorization_url(&provider, &app(), "https://lk.example/cb", &config())
            .unwrap();

        let names: Vec<String> = request
            .url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        assert_eq!(names, ["client_id", "state", "redirect_uri"]);
        assert_eq!(request.url.path(), "/ABC-1/adminconsent");
        assert!(request.pkce_verifier.is_none());
    }

    /// The client-credentials request as the token endpoint received it,
    /// for each client authentication, on the first token and a renewal.
    #[tokio::test]
    async fn consent_token_request_bytes() {
        // (client_auth, expected body, expected Authorization header)
        let cases = [
            (
                "body",
                "grant_type=client_credentials&client_id=cid&client_secret=c%24ecret&scope=https%3A%2F%2Fgraph.example%2F.default+extra",
                None,
            ),
            (
                "basic",
                "grant_type=client_credentials&scope=https%3A%2F%2Fgraph.example%2F.default+extra",
                Some("Basic Y2lkOmMlMjRlY3JldA=="),
            ),
        ];
        for (client_auth, body, authorization) in cases {
            let reply = json!({"access_token": "at-1", "expires_in": 3600});
            let server = TestServer::start(vec![
                CannedReply::json(200, reply.clone()),
                CannedReply::json(200, reply),
            ])
            .await;
            let provider = consent_provider(&server.base_url, client_auth);
            let engine = Engine::new(reqwest::Client::new());
            let callback = |name: &str| match name {
                "tenant" => Some("abc-1"),
                "admin_consent" => Some("True"),
                _ => None,
            };

            let grant = engine
                .finish_admin_consent(&provider, &app(), callback, &config())
                .await
                .unwrap_or_else(|error| panic!("{client_auth}: {error}"));
            let renewed = engine
                .refresh(&provider, &app(), &grant.token, &config())
                .await
                .unwrap_or_else(|error| panic!("{client_auth}: {error}"));

            assert_eq!(grant.token.access_token.expose(), "at-1", "{client_auth}");
            assert!(grant.token.refresh_token.is_none(), "{client_auth}");
            assert!(renewed.token.expires_at.is_some(), "{client_auth}");
            let requests = server.requests();
            assert_eq!(requests.len(), 2, "{client_auth}");
            for request in requests {
                assert_eq!(request.path, "/ABC-1/token", "{client_auth}");
                assert_eq!(request.body, body, "{client_auth}");
                let header = request
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                    .map(|(_, value)| value.as_str());
                assert_eq!(header, authorization, "{client_auth}");
            }
        }
    }

    #[tokio::test]
    async fn consent_callback_checks() {
        // (case, tenant, admin_consent, text the error names)
        let cases = [
            ("not granted", Some("ABC-1"), Some("False"), "not `True`"),
            (
                "no consent parameter",
                Some("ABC-1"),
                None,
                "no `admin_consent`",
            ),
            ("no tenant", None, Some("True"), "no `tenant` parameter"),
            (
                "empty tenant",
                Some(""),
                Some("True"),
                "no `tenant` parameter",
            ),
            (
                "other tenant",
                Some("XYZ\r\n"),
                Some("True"),
                "\"XYZ\\r\\n\"",
            ),
        ];
        let provider = consent_provider("http://127.0.0.1:9", "body");
        for (case, tenant, granted, expected) in cases {
            let callback = |name: &str| match name {
                "tenant" => tenant,
                "admin_consent" => granted,
                _ => None,
            };

            let error = Engine::new(reqwest::Client::new())
                .finish_admin_consent(&provider, &app(), callback, &config())
                .await
                .expect_err(case);

            assert!(
                matches!(error, EngineError::InvalidCallback(_)),
                "{case}: {error:?}"
            );
            let text = error.to_string();
            assert!(text.contains(expected), "{case}: {text}");
            assert!(text.contains("provider `consent`"), "{case}: {text}");
        }
    }
}
