//! The `two_step` and `session` flows: a token (or session id) obtained by
//! sending the end user's credentials to the provider's token endpoint.

use std::collections::BTreeMap;

use chrono::Utc;
use http::header::{HeaderValue, CONTENT_TYPE};
use latchkey_catalog::{
    Auth, Provider, TokenBodyFormat, TokenRequest, TokenRequestMethod, TwoStep,
};
use serde_json::Value;
use url::Url;

use crate::cookies::capture_cookies;
use crate::redact::redact;
use crate::saml::add_signed_assertion;
use crate::template::{
    config_variables, render, variable_paths, with_random_token, with_request_time,
};
use crate::token_response::{parse_token_reply, xml_reply_lacks_token, RawReply};
use crate::token_steps::render_request_url;
use crate::transport::TokenTransport;
use crate::xml_body::xml_document;
use crate::{ConnectionConfig, Engine, EngineError, OAuth2Token, Secret, TokenGrant};

/// How many characters of a rejection's body an error quotes.
pub(crate) const BODY_START_CHARS: usize = 300;

impl Engine {
    /// Obtains a token for a `two_step` or `session` connection.
    ///
    /// The refresh request is sent when the definition has one and
    /// `previous` carries a refresh token. Otherwise, or when the provider
    /// rejects the refresh request with a 4xx, the token request is sent
    /// again with the entered `fields`. A reply with a status other than 2xx,
    /// or an XML reply (`token_response.body: xml`) without the token, is
    /// [`EngineError::CredentialsRejected`], quoting the start of its body.
    pub async fn two_step_token(
        &self,
        provider: &Provider,
        fields: &BTreeMap<String, Secret>,
        config: &ConnectionConfig,
        previous: Option<&OAuth2Token>,
    ) -> Result<TokenGrant, EngineError> {
        let settings = two_step_settings(provider)?;
        // One random value and one time serve every request of the flow.
        let now = Utc::now();
        let vars = with_random_token(&config_variables(provider, config));
        let mut vars = with_request_time(&vars, now);
        if let Value::Object(object) = &mut vars {
            for (name, value) in fields {
                object.insert(name.clone(), Value::String(value.expose().to_owned()));
            }
        }
        let assertion = add_signed_assertion(provider, settings, &mut vars, now)?;
        let assertion: Vec<&str> = assertion.iter().map(Secret::expose).collect();

        let refresh = previous.and_then(|token| {
            let refresh_token = token.refresh_token.as_ref()?;
            let request = settings.refresh_request.as_ref()?;
            Some((request, token, refresh_token))
        });
        if let Some((request, token, refresh_token)) = refresh {
            let mut refresh_vars = vars.clone();
            if let Value::Object(object) = &mut refresh_vars {
                let text = |secret: &Secret| Value::String(secret.expose().to_owned());
                object.insert("access_token".to_owned(), text(&token.access_token));
                object.insert("refresh_token".to_owned(), text(refresh_token));
            }
            let mut secrets = vec![token.access_token.expose(), refresh_token.expose()];
            secrets.extend(&assertion);
            let sent = SentRequest {
                field: "auth.refresh_request",
                request,
                vars: &refresh_vars,
                previous_refresh_token: Some(refresh_token),
            };
            match self
                .send_request(provider, settings, sent, fields, &secrets)
                .await
            {
                // The provider rejected the refresh token, but the stored
                // fields may still sign in, so the token request is sent.
                Err(EngineError::CredentialsRejected { status, .. }) if status < 500 => {
                    tracing::info!(
                        provider = %provider.name,
                        status,
                        "refresh request rejected; sending the token request"
                    );
                }
                other => return other,
            }
        }
        if !settings.steps.is_empty() {
            let assertion = assertion.iter().map(|text| text.to_string()).collect();
            return self
                .send_chain(provider, settings, &vars, fields, assertion)
                .await;
        }
        let sent = SentRequest {
            field: "auth.token_request",
            request: &settings.token_request,
            vars: &vars,
            previous_refresh_token: None,
        };
        self.send_request(provider, settings, sent, fields, &assertion)
            .await
    }

    /// Sends one token or refresh request and reads the token from its reply.
    async fn send_request(
        &self,
        provider: &Provider,
        settings: &TwoStep,
        sent: SentRequest<'_>,
        fields: &BTreeMap<String, Secret>,
        other_secrets: &[&str],
    ) -> Result<TokenGrant, EngineError> {
        let (url, http_request) = build_request(provider, sent.field, sent.request, sent.vars)?;
        let obtained_at = Utc::now();
        let reply = TokenTransport::new(&self.http, &provider.name, "two_step", &url)
            .reading(&settings.token_response)
            .send(http_request)
            .await?;
        let secrets: Vec<&str> = fields
            .values()
            .map(Secret::expose)
            .chain(other_secrets.iter().copied())
            .collect();
        if !(200..300).contains(&reply.status)
            || xml_reply_lacks_token(&settings.token_response, &reply)
        {
            return Err(rejected(provider, &reply, secrets));
        }
        // A 2xx reply that is not a usable token reply is quoted in the
        // error, and it may echo what was sent.
        let mut grant = parse_token_reply(
            &provider.name,
            &settings.token_response,
            &reply,
            obtained_at,
            sent.previous_refresh_token,
        )
        .map_err(|error| error.redact_quoted(&secrets))?;
        capture_cookies(&provider.name, &settings.token_response, &reply, &mut grant)
            .map_err(|error| error.redact_quoted(&secrets))?;
        Ok(grant)
    }
}

/// One request of a `two_step` definition with the variables it renders
/// with.
struct SentRequest<'a> {
    /// The definition field of the request, for error messages.
    field: &'static str,
    request: &'a TokenRequest,
    vars: &'a Value,
    /// The refresh token sent, which the reply may omit.
    previous_refresh_token: Option<&'a Secret>,
}

pub(crate) fn two_step_settings(provider: &Provider) -> Result<&TwoStep, EngineError> {
    match &provider.auth {
        Auth::TwoStep(settings) | Auth::Session(settings) => Ok(settings),
        other => Err(EngineError::Unsupported(format!(
            "provider `{}` uses auth mode `{}`, which has no token request of its own",
            provider.name,
            other.mode_name()
        ))),
    }
}

/// Renders the URL, the parameters and the headers of `request`.
/// `field` is the definition field of the request, for error messages.
pub(crate) fn build_request(
    provider: &Provider,
    field: &str,
    request: &TokenRequest,
    vars: &Value,
) -> Result<(Url, http::Request<Vec<u8>>), EngineError> {
    let name = provider.name.as_str();
    let mut url = render_request_url(provider, field, request, vars)?;
    let mut params = serde_json::Map::new();
    for (key, value) in &request.params {
        if let Value::String(template) = value {
            if reads_unset_optional_field(provider, template, vars) {
                continue;
            }
        }
        let key_field = format!("{field}.params.{key}");
        params.insert(key.clone(), render_value(name, &key_field, value, vars)?);
    }

    let (method, body, content_type) = match request.method {
        TokenRequestMethod::Get => {
            let pairs = scalar_pairs(name, field, &params)?;
            if !pairs.is_empty() {
                url.query_pairs_mut().extend_pairs(pairs);
            }
            (http::Method::GET, Vec::new(), None)
        }
        TokenRequestMethod::Post => match request.body_format {
            TokenBodyFormat::Json => (
                http::Method::POST,
                serde_json::to_vec(&Value::Object(params)).unwrap_or_default(),
                Some("application/json"),
            ),
            TokenBodyFormat::Form => {
                let pairs = scalar_pairs(name, field, &params)?;
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                (
                    http::Method::POST,
                    body.into_bytes(),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            TokenBodyFormat::Query => {
                let pairs = scalar_pairs(name, field, &params)?;
                if !pairs.is_empty() {
                    url.query_pairs_mut().extend_pairs(pairs);
                }
                (http::Method::POST, Vec::new(), None)
            }
            TokenBodyFormat::Xml => (
                http::Method::POST,
                xml_document(name, field, &params)?,
                Some("application/xml"),
            ),
        },
    };

    let mut builder = http::Request::builder().method(method).uri(url.as_str());
    let mut has_content_type = false;
    for (header_name, template) in &request.headers {
        let header_field = format!("{field}.headers.{header_name}");
        let value = render(name, &header_field, template, vars)?;
        let parsed_name = crate::inject::header_name(name, &header_field, header_name)?;
        let mut parsed_value = HeaderValue::from_str(&value).map_err(|_| {
            EngineError::template(
                name,
                &header_field,
                format!("the rendered value of header `{header_name}` is not a valid header value"),
            )
        })?;
        parsed_value.set_sensitive(true);
        has_content_type |= parsed_name == CONTENT_TYPE;
        builder = builder.header(parsed_name, parsed_value);
    }
    if let (Some(content_type), false) = (content_type, has_content_type) {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    let http_request = builder.body(body).map_err(|error| {
        EngineError::template(name, field, format!("the request cannot be built: {error}"))
    })?;
    Ok((url, http_request))
}

/// Renders every string inside a parameter value as a template.
fn render_value(
    provider: &str,
    field: &str,
    value: &Value,
    vars: &Value,
) -> Result<Value, EngineError> {
    Ok(match value {
        Value::String(template) => Value::String(render(provider, field, template, vars)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    render_value(provider, &format!("{field}.{index}"), item, vars)
                })
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let item = render_value(provider, &format!("{field}.{key}"), item, vars)?;
                    Ok((key.clone(), item))
                })
                .collect::<Result<_, EngineError>>()?,
        ),
        other => other.clone(),
    })
}

/// Checks whether `template` reads an optional credential field that the
/// connection left unset (`credentials.<key>` in a `jwt` step), or an
/// unset optional connection-config field, and no other missing variable.
/// A parameter built from such a template is left out of the request: a
/// provider that takes either of two optional fields gets only the one
/// entered.
fn reads_unset_optional_field(provider: &Provider, template: &str, vars: &Value) -> bool {
    let missing: Vec<String> = variable_paths(template)
        .into_iter()
        .filter(|path| {
            vars.pointer(&format!("/{}", path.replace('.', "/")))
                .is_none()
        })
        .collect();
    !missing.is_empty()
        && missing.iter().all(|path| {
            let root = path.split('.').next().unwrap_or(path);
            let credential = match &provider.auth {
                Auth::TwoStep(settings) | Auth::Session(settings) => settings.credentials.get(root),
                Auth::Jwt(jwt) => path
                    .strip_prefix("credentials.")
                    .and_then(|key| jwt.credentials.get(key.split('.').next().unwrap_or(key))),
                _ => None,
            };
            let optional_credential = credential.is_some_and(|field| field.optional);
            let optional_config = provider
                .connection_config
                .get(root)
                .is_some_and(|field| field.optional);
            optional_credential || optional_config
        })
}

/// Turns rendered parameters into name-value pairs for a form body or a
/// query string, where only strings, numbers and booleans fit.
fn scalar_pairs(
    provider: &str,
    field: &str,
    params: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, EngineError> {
    params
        .iter()
        .map(|(key, value)| {
            let text =
                match value {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    Value::Bool(flag) => flag.to_string(),
                    Value::Null => String::new(),
                    Value::Array(_) | Value::Object(_) => return Err(EngineError::template(
                        provider,
                        &format!("{field}.params.{key}"),
                        "a form body or a query string holds only strings, numbers and booleans; \
                         use `body_format: json` for nested values",
                    )),
                };
            Ok((key.clone(), text))
        })
        .collect()
}

/// Builds the error of a reply with a status other than 2xx. Every entered
/// value and token sent is redacted from the quoted body, because some
/// providers echo the request.
pub(crate) fn rejected<'a>(
    provider: &Provider,
    reply: &RawReply,
    secrets: impl IntoIterator<Item = &'a str>,
) -> EngineError {
    let body = String::from_utf8_lossy(&reply.body);
    let text = redact(&body, secrets);
    EngineError::CredentialsRejected {
        provider: provider.name.clone(),
        step: None,
        status: reply.status,
        body_start: text.trim().chars().take(BODY_START_CHARS).collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{provider_from_yaml, CannedReply, TestServer};

    /// Every token request goes out through `TokenTransport`, which sets
    /// the `Accept` header. These cases check it on the bytes that reach
    /// the socket, for each body format of a `two_step` login.
    #[tokio::test]
    async fn token_request_accepts_json() {
        // (case, token_request lines, expected request line)
        let cases = [
            (
                "form body",
                "    method: POST\n    body_format: form",
                "POST /login HTTP/1.1\r\n",
            ),
            (
                "json body",
                "    method: POST\n    body_format: json",
                "POST /login HTTP/1.1\r\n",
            ),
            (
                "get with query",
                "    method: GET",
                "GET /login?user=u1 HTTP/1.1\r\n",
            ),
        ];

        for (case, request_lines, request_line) in cases {
            let reply = json!({"token": "tk", "expires_in": 600});
            let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
            let provider = provider_from_yaml(&format!(
                r#"
name: login
display_name: Login
auth:
  mode: two_step
  credentials:
    user: {{title: User}}
  token_request:
    url: {base}/login
{request_lines}
    params: {{user: "{{{{ user }}}}"}}
  token_response:
    access_token: token
proxy: {{base_url: "{base}"}}
"#,
                base = server.base_url
            ));
            let fields = BTreeMap::from([("user".to_owned(), Secret::new("u1"))]);

            Engine::new(reqwest::Client::new())
                .two_step_token(&provider, &fields, &ConnectionConfig::new(), None)
                .await
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            let request = server.single_request();
            let raw = String::from_utf8_lossy(&request.raw).to_ascii_lowercase();
            assert!(
                raw.starts_with(&request_line.to_ascii_lowercase()),
                "{case}: {raw}"
            );
            assert_eq!(
                raw.matches("\r\naccept: application/json\r\n").count(),
                1,
                "{case}: {raw}"
            );
            assert_eq!(raw.matches("\r\naccept:").count(), 1, "{case}: {raw}");
        }
    }

    #[tokio::test]
    async fn echoing_success_reply_is_redacted() {
        let secret = "Hunter2-SECRET";
        let cases = [
            (
                "not JSON",
                CannedReply {
                    status: 200,
                    content_type: "text/plain",
                    body: format!("{secret} is not JSON"),
                },
            ),
            (
                "bad expires_in",
                CannedReply::json(200, json!({"token": "tk", "expires_in": secret})),
            ),
            (
                "no token",
                CannedReply::json(200, json!({"error": "bad", "error_description": secret})),
            ),
        ];
        for (case, reply) in cases {
            let server = TestServer::start(vec![reply]).await;
            let provider = provider_from_yaml(&format!(
                r#"
name: login
display_name: Login
auth:
  mode: two_step
  credentials:
    password: {{title: Password, secret: true}}
  token_request:
    url: {base}/login
    params: {{password: "{{{{ password }}}}"}}
  token_response:
    access_token: token
proxy: {{base_url: "{base}"}}
"#,
                base = server.base_url
            ));
            let fields = BTreeMap::from([("password".to_owned(), Secret::new(secret))]);

            let error = Engine::new(reqwest::Client::new())
                .two_step_token(&provider, &fields, &ConnectionConfig::new(), None)
                .await
                .expect_err(case);

            let text = error.to_string();
            assert!(!text.contains(secret), "{case}: {text}");
            assert!(text.contains("[redacted]"), "{case}: {text}");
        }
    }

    /// A parameter that reads an unset optional field is left out of the
    /// form body, and one that reads a set field is sent. The body is
    /// checked as the bytes the token endpoint received.
    #[tokio::test]
    async fn unset_optional_field_param_omitted() {
        // (case, entered fields, expected form body)
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let cases: [Case; 4] = [
            (
                "all set",
                &[
                    ("client_id", "c1"),
                    ("session_id", "s1"),
                    ("username", "u1"),
                ],
                "client_id=c1&grant_type=client_credentials&session_id=s1&username=u1",
            ),
            (
                "session id unset",
                &[("client_id", "c1"), ("username", "u1")],
                "client_id=c1&grant_type=client_credentials&username=u1",
            ),
            (
                "username unset",
                &[("client_id", "c1"), ("session_id", "s1")],
                "client_id=c1&grant_type=client_credentials&session_id=s1",
            ),
            ("none set", &[], "grant_type=client_credentials"),
        ];

        for (case, entered, expected_body) in cases {
            let reply = json!({"access_token": "tk", "expires_in": 600});
            let server = TestServer::start(vec![CannedReply::json(200, reply)]).await;
            let provider = provider_from_yaml(&format!(
                r#"
name: login
display_name: Login
auth:
  mode: two_step
  credentials:
    client_id: {{title: Client ID, optional: true}}
    session_id: {{title: Session ID, optional: true, secret: true}}
    username: {{title: Username, optional: true}}
  token_request:
    url: {base}/token
    params:
      grant_type: client_credentials
      client_id: "{{{{ client_id }}}}"
      session_id: "{{{{ session_id }}}}"
      username: "{{{{ username }}}}"
proxy: {{base_url: "{base}"}}
"#,
                base = server.base_url
            ));
            let fields: BTreeMap<String, Secret> = entered
                .iter()
                .map(|(name, value)| ((*name).to_owned(), Secret::new(*value)))
                .collect();

            Engine::new(reqwest::Client::new())
                .two_step_token(&provider, &fields, &ConnectionConfig::new(), None)
                .await
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            let request = server.single_request();
            assert_eq!(request.body, expected_body, "{case}");
        }
    }

    /// XML logins: a reply without the session id, or with a failure
    /// status, is a rejected login that quotes the redacted reply, and a
    /// 2xx reply that is not XML is an invalid response.
    #[tokio::test]
    async fn xml_login_failures_classified() {
        let secret = "pw<&>1";
        let echo = "pw&lt;&amp;&gt;1";
        // (case, status, body, expected start of the message, expected text)
        let cases = [
            (
                "failure status in a 200 reply",
                200,
                format!("<response><status>failure</status><error>bad password {echo}</error></response>"),
                "provider `xml` rejected the token request with HTTP 200",
                "bad password [redacted]",
            ),
            (
                "failure with HTTP 400",
                400,
                format!("<response><error>{secret}</error></response>"),
                "provider `xml` rejected the token request with HTTP 400",
                "<error>[redacted]</error>",
            ),
            (
                "not XML",
                200,
                format!("login page {secret}"),
                "provider `xml` sent an invalid token response with HTTP 200: the body is not well-formed XML",
                "[redacted]",
            ),
        ];
        for (case, status, body, start, expected) in cases {
            let reply = CannedReply {
                status,
                content_type: "application/xml",
                body,
            };
            let server = TestServer::start(vec![reply]).await;
            let provider = provider_from_yaml(&format!(
                r#"
name: xml
display_name: XML
auth:
  mode: two_step
  credentials:
    password: {{title: Password, secret: true}}
  token_request:
    url: {base}/gateway
    body_format: xml
    params:
      login:
      - password: "{{{{ password }}}}"
  token_response:
    body: xml
    access_token: response.sessionid
  caller_places_token: true
proxy: {{base_url: "{base}"}}
"#,
                base = server.base_url
            ));
            let fields = BTreeMap::from([("password".to_owned(), Secret::new(secret))]);

            let error = Engine::new(reqwest::Client::new())
                .two_step_token(&provider, &fields, &ConnectionConfig::new(), None)
                .await
                .expect_err(case);

            let text = error.to_string();
            assert!(text.starts_with(start), "{case}: {text}");
            assert!(text.contains(expected), "{case}: {text}");
            assert!(!text.contains(secret), "{case}: {text}");
            assert!(!text.contains(echo), "{case}: {text}");
            let request = server.single_request();
            assert_eq!(
                request.body,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><login><password>pw&lt;&amp;&gt;1</password></login>",
                "{case}"
            );
        }
    }
}
