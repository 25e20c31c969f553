//! Post-connection steps: requests made once a new connection has its
//! credential, whose JSON responses fill connection-config keys and
//! metadata before the connection is stored.
//!
//! Atlassian's OAuth token, for example, names no site. The
//! accessible-resources call lists the sites it may act on, and the first
//! site's `id` becomes the cloud id in the proxy's base URL.

use http::header::ACCEPT;
use http::{HeaderName, HeaderValue, Method};
use latchkey_catalog::{PostConnectionStep, Provider, ResponseSelection, WHOLE_RESPONSE_PATH};
use serde_json::Value;
use url::Url;

use crate::inject::{credential_variables, header};
use crate::redact::redact;
use crate::template::{config_variables, render};
use crate::token_response::lookup;
use crate::url_template::render_url;
use crate::{ConnectionConfig, Credentials, Engine, EngineError, Injection};

/// The largest post-connection response read, in bytes.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How many characters of a response body an error quotes.
const BODY_START_CHARS: usize = 200;

/// The values that a provider's post-connection steps read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostConnectionValues {
    /// Connection-config keys to add to the connection.
    pub connection_config: ConnectionConfig,
    /// Metadata keys to add to the connection.
    pub metadata: serde_json::Map<String, Value>,
}

impl Engine {
    /// Runs the provider's `post_connection` steps in order and returns the
    /// values they read. Each step renders its templates with `config` plus
    /// the keys that earlier steps filled and `config` lacks.
    ///
    /// Fails, so that the caller stores no connection, when a request
    /// fails, its status is not 2xx, its body is not JSON or a path is
    /// missing. `client_id` is the integration's OAuth client id, as for
    /// [`Injection::for_request`].
    pub async fn run_post_connection(
        &self,
        provider: &Provider,
        credentials: &Credentials,
        config: &ConnectionConfig,
        client_id: Option<&str>,
    ) -> Result<PostConnectionValues, EngineError> {
        let mut values = PostConnectionValues::default();
        let mut config = config.clone();
        for (index, step) in provider.post_connection.iter().enumerate() {
            let response = self
                .send_step(provider, index, step, credentials, &config, client_id)
                .await?;
            let read = read_values(provider, index, step, &response)?;
            for (key, value) in &read.connection_config {
                config.entry(key.clone()).or_insert_with(|| value.clone());
            }
            values.connection_config.extend(read.connection_config);
            values.metadata.extend(read.metadata);
        }
        Ok(values)
    }

    /// Sends one step's request and returns its JSON body.
    async fn send_step(
        &self,
        provider: &Provider,
        index: usize,
        step: &PostConnectionStep,
        credentials: &Credentials,
        config: &ConnectionConfig,
        client_id: Option<&str>,
    ) -> Result<Value, EngineError> {
        let injection = Injection::for_request(provider, credentials, config, client_id)?;
        let url_field = format!("post_connection.{index}.url");
        let mut url = render_url(
            provider,
            &url_field,
            &step.url,
            &config_variables(provider, config),
        )?;
        if !injection.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&injection.query);
        }

        let method = match step.method {
            latchkey_catalog::PostConnectionMethod::Get => Method::GET,
            latchkey_catalog::PostConnectionMethod::Post => Method::POST,
        };
        let mut request = self.http.request(method, url.clone());
        let mut headers = http::HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in injection.headers {
            headers.insert(name, value);
        }
        for (name, value) in step_headers(provider, index, step, credentials, config)? {
            headers.insert(name, value);
        }
        request = request.headers(headers);

        let endpoint = endpoint_for_errors(&url);
        let failed = |detail: String| {
            EngineError::Transport(format!(
                "post-connection request {index} of provider `{}` to {endpoint} failed: {detail}",
                provider.name
            ))
        };
        tracing::debug!(provider = %provider.name, step = index, endpoint = %endpoint, "sending post-connection request");
        let mut response = request
            .send()
            .await
            .map_err(|err| failed(err.to_string()))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| failed(err.to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(failed(format!(
                    "the response is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::info!(provider = %provider.name, step = index, status, "post-connection request finished");

        let invalid = |reason: &str, body_start: String| {
            EngineError::InvalidResponse {
            status,
            message: format!(
                "post-connection request {index} of provider `{}` to {endpoint} returned HTTP {status}: {reason}",
                provider.name
            ),
            body_start,
        }
        };
        // The quoted body may echo the key or token the step sent.
        let quoted = |body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            body_start(&redact(&text, credentials.secret_values()))
        };
        if !(200..300).contains(&status) {
            return Err(invalid("expected a 2xx status", quoted(&body)));
        }
        serde_json::from_slice(&body).map_err(|_| invalid("the body is not JSON", quoted(&body)))
    }
}

/// Renders the step's own headers with the connection config and the
/// credential variables. Values are marked sensitive because they may carry
/// the credential.
fn step_headers(
    provider: &Provider,
    index: usize,
    step: &PostConnectionStep,
    credentials: &Credentials,
    config: &ConnectionConfig,
) -> Result<Vec<(HeaderName, HeaderValue)>, EngineError> {
    let mut vars = config_variables(provider, config);
    if let Value::Object(object) = &mut vars {
        object.extend(credential_variables(provider, credentials));
    }
    let mut headers = Vec::new();
    for (name, template) in &step.headers {
        let field = format!("post_connection.{index}.headers.{name}");
        let value = render(&provider.name, &field, template, &vars)?;
        let (name, mut value) = header(&provider.name, &field, name, &value)?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    Ok(headers)
}

/// Reads the step's connection-config and metadata paths from `response`.
fn read_values(
    provider: &Provider,
    index: usize,
    step: &PostConnectionStep,
    response: &Value,
) -> Result<PostConnectionValues, EngineError> {
    let missing = |reason: String| EngineError::InvalidResponse {
        status: 200,
        message: format!(
            "the response to post-connection request {index} of provider `{}` {reason}",
            provider.name
        ),
        body_start: String::new(),
    };

    let selected = match step.select {
        ResponseSelection::Whole => response,
        ResponseSelection::First => match response {
            Value::Array(items) => items.first().ok_or_else(|| {
                missing("is an empty array, so it has no first element".to_owned())
            })?,
            _ => {
                return Err(missing(
                    "is not a JSON array, but `select: first` expects one".to_owned(),
                ))
            }
        },
    };

    let mut values = PostConnectionValues::default();
    for (key, path) in &step.connection_config {
        let value = value_at(selected, path).ok_or_else(|| {
            missing(format!(
                "has no value at `{path}` for connection-config key `{key}`"
            ))
        })?;
        values.connection_config.insert(key.clone(), value.clone());
    }
    for (key, path) in &step.metadata {
        let value = value_at(response, path)
            .ok_or_else(|| missing(format!("has no value at `{path}` for metadata key `{key}`")))?;
        values.metadata.insert(key.clone(), value.clone());
    }
    Ok(values)
}

/// Follows a dot-separated path; `$` is the value itself. A JSON `null`
/// counts as missing.
fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let found = if path == WHOLE_RESPONSE_PATH {
        Some(value)
    } else {
        lookup(value, path)
    };
    found.filter(|value| !value.is_null())
}

fn body_start(text: &str) -> String {
    text.chars().take(BODY_START_CHARS).collect()
}

/// Returns the URL without its query string, which might carry an
/// injected API key.
fn endpoint_for_errors(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::test_support::{provider_from_yaml, CannedReply, TestServer};
    use crate::{OAuth2Token, Secret};

    const SITE_ID: &str = "1324a887-45db-1bf4-1e99-ef0ff456d421";

    fn engine() -> Engine {
        Engine::new(reqwest::Client::new())
    }

    fn oauth_credentials(access_token: &str) -> Credentials {
        Credentials::OAuth2(OAuth2Token {
            access_token: Secret::new(access_token),
            refresh_token: None,
            expires_at: None,
            obtained_at: Utc::now(),
            raw: Value::Null,
        })
    }

    /// Returns an Atlassian-like definition whose accessible-resources call goes to
    /// the test server at `base`.
    fn atlassian(base: &str) -> Provider {
        provider_from_yaml(&format!(
            r#"
name: atlassian-like
display_name: Atlassian-like
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/oauth/token
connection_config:
  cloudId: {{title: Cloud ID, automated: true}}
proxy:
  base_url: "{base}/ex/jira/{{{{ cloudId }}}}"
post_connection:
  - url: {base}/oauth/token/accessible-resources
    select: first
    connection_config: {{cloudId: id}}
    metadata: {{accessibleResources: $}}
"#
        ))
    }

    fn sites() -> Value {
        json!([
            {"id": SITE_ID, "name": "acme", "url": "https://acme.atlassian.net", "scopes": ["read:jira-work"]},
            {"id": "99999999-0000-0000-0000-000000000000", "name": "other", "url": "https://other.atlassian.net", "scopes": []},
        ])
    }

    #[tokio::test]
    async fn accessible_resources_fill_cloud_id() {
        let server = TestServer::start(vec![CannedReply::json(200, sites())]).await;
        let provider = atlassian(&server.base_url);

        let values = engine()
            .run_post_connection(
                &provider,
                &oauth_credentials("at-1"),
                &ConnectionConfig::new(),
                Some("cid"),
            )
            .await
            .unwrap();

        let request = server.single_request();
        let raw = String::from_utf8(request.raw.clone()).unwrap();
        assert!(
            raw.starts_with("GET /oauth/token/accessible-resources HTTP/1.1\r\n"),
            "{raw}"
        );
        assert_eq!(request.header("accept"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer at-1"));
        assert_eq!(request.body, "");
        assert_eq!(
            values.connection_config,
            ConnectionConfig::from_iter([("cloudId".to_owned(), json!(SITE_ID))])
        );
        assert_eq!(values.metadata.len(), 1);
        assert_eq!(values.metadata["accessibleResources"], sites());
    }

    #[tokio::test]
    async fn later_step_uses_earlier_value() {
        let server = TestServer::start(vec![
            CannedReply::json(200, json!({"dc": "us6", "login": {"email": "a@b.test"}})),
            CannedReply::json(200, json!({"account_id": "acc-1"})),
        ])
        .await;
        let base = &server.base_url;
        let provider = provider_from_yaml(&format!(
            r#"
name: chained
display_name: Chained
auth:
  mode: oauth2
  authorization_url: {base}/authorize
  token_url: {base}/token
connection_config:
  dc: {{title: Data center, pattern: "[a-z]+[0-9]+", automated: true}}
  account: {{title: Account, automated: true, optional: true}}
proxy:
  base_url: "{base}/{{{{ dc }}}}"
post_connection:
  - url: {base}/oauth2/metadata
    headers: {{Authorization: "OAuth {{{{ access_token }}}}"}}
    connection_config: {{dc: dc}}
    metadata: {{email: login.email}}
  - method: POST
    url: "{base}/{{{{ dc }}}}/account"
    connection_config: {{account: account_id}}
"#
        ));

        let values = engine()
            .run_post_connection(
                &provider,
                &oauth_credentials("at-2"),
                &ConnectionConfig::new(),
                None,
            )
            .await
            .unwrap();

        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        let first = String::from_utf8(requests[0].raw.clone()).unwrap();
        assert!(
            first.starts_with("GET /oauth2/metadata HTTP/1.1\r\n"),
            "{first}"
        );
        assert_eq!(requests[0].header("authorization"), Some("OAuth at-2"));
        let second = String::from_utf8(requests[1].raw.clone()).unwrap();
        assert!(
            second.starts_with("POST /us6/account HTTP/1.1\r\n"),
            "{second}"
        );
        assert_eq!(requests[1].header("authorization"), Some("Bearer at-2"));
        assert_eq!(values.connection_config["dc"], json!("us6"));
        assert_eq!(values.connection_config["account"], json!("acc-1"));
        assert_eq!(values.metadata["email"], json!("a@b.test"));
    }

    #[tokio::test]
    async fn api_key_goes_in_query() {
        let server =
            TestServer::start(vec![CannedReply::json(200, json!({"org": {"id": 7}}))]).await;
        let base = &server.base_url;
        let provider = provider_from_yaml(&format!(
            r#"
name: keyed
display_name: Keyed
auth:
  mode: api_key
  inject: {{location: query, name: key, value: "{{{{ api_key }}}}"}}
connection_config:
  org: {{title: Organization, type: number, automated: true}}
proxy:
  base_url: "{base}"
post_connection:
  - url: {base}/me?fields=org
    connection_config: {{org: org.id}}
"#
        ));
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k 1"),
        };

        let values = engine()
            .run_post_connection(&provider, &credentials, &ConnectionConfig::new(), None)
            .await
            .unwrap();

        assert_eq!(server.single_request().path, "/me?fields=org&key=k+1");
        assert_eq!(values.connection_config["org"], json!(7));
    }

    #[tokio::test]
    async fn failures_name_the_step() {
        let html = "<html><body>Service Unavailable</body></html>";
        // (case, reply, expected message parts)
        #[rustfmt::skip]
        let cases = [
            ("empty array", CannedReply::json(200, json!([])),
                vec!["post-connection request 0 of provider `atlassian-like`", "is an empty array"]),
            ("object instead of array", CannedReply::json(200, json!({"id": SITE_ID})),
                vec!["is not a JSON array, but `select: first` expects one"]),
            ("first element without id", CannedReply::json(200, json!([{"name": "acme"}])),
                vec!["has no value at `id` for connection-config key `cloudId`"]),
            ("id is null", CannedReply::json(200, json!([{"id": null}])),
                vec!["has no value at `id` for connection-config key `cloudId`"]),
            ("401", CannedReply::json(401, json!({"code": 401, "message": "Unauthorized"})),
                vec!["returned HTTP 401: expected a 2xx status", "Unauthorized"]),
            ("HTML page", CannedReply { status: 200, content_type: "text/html", body: html.to_owned() },
                vec!["returned HTTP 200: the body is not JSON", html]),
        ];

        for (case, reply, parts) in cases {
            let server = TestServer::start(vec![reply]).await;
            let provider = atlassian(&server.base_url);

            let error = engine()
                .run_post_connection(
                    &provider,
                    &oauth_credentials("at-secret"),
                    &ConnectionConfig::new(),
                    None,
                )
                .await
                .unwrap_err();

            let text = error.to_string();
            assert!(
                matches!(error, EngineError::InvalidResponse { .. }),
                "{case}: {error:?}"
            );
            for part in parts {
                assert!(text.contains(part), "{case}: {text}");
            }
            assert!(!text.contains("at-secret"), "{case}: {text}");
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let provider = atlassian(&base);

        let error = engine()
            .run_post_connection(
                &provider,
                &oauth_credentials("at"),
                &ConnectionConfig::new(),
                None,
            )
            .await
            .unwrap_err();

        assert!(matches!(error, EngineError::Transport(_)), "{error:?}");
        assert!(
            error.to_string().starts_with(&format!(
                "post-connection request 0 of provider `atlassian-like` to {base}/oauth/token/accessible-resources failed: "
            )),
            "{error}"
        );
    }

    #[tokio::test]
    async fn no_steps_send_nothing() {
        let server = TestServer::start(vec![CannedReply::json(200, json!({}))]).await;
        let mut provider = atlassian(&server.base_url);
        provider.post_connection.clear();

        let values = engine()
            .run_post_connection(
                &provider,
                &oauth_credentials("at"),
                &ConnectionConfig::new(),
                None,
            )
            .await
            .unwrap();

        assert_eq!(values, PostConnectionValues::default());
        assert!(server.requests().is_empty());
    }
}
