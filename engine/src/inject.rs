//! The headers and query parameters a proxied request carries.

use http::{HeaderName, HeaderValue};
use latchkey_catalog::{AppToken, Auth, InjectLocation, Place, Provider};
use serde_json::Value;

use crate::template::{
    config_variables, render, uses_unset_optional, variable_paths, with_random_token,
    with_request_time,
};
use crate::{ConnectionConfig, Credentials, EngineError, Secret, SessionCredentials};

/// The headers and query parameters to add to one outgoing request: the
/// provider's static `proxy.headers` and `proxy.query`, then the credential.
#[derive(Debug, Clone, Default)]
pub struct Injection {
    /// In order: static headers, then the credential header if the
    /// credential goes in a header. Credential values are marked sensitive.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// In order: static query parameters, then the credential parameter if
    /// the credential goes in the query.
    pub query: Vec<(String, String)>,
    /// Path segments that carry the credential, appended in order to the
    /// base URL's path before the proxied request's path. Each is checked
    /// to be one segment. They are secrets, so a URL that contains them
    /// must not be logged.
    pub path_segments: Vec<String>,
    /// In order: the provider's `proxy.body` members, then the credential's
    /// `json_body` places, each a dot-separated path and its value, to set
    /// in the JSON object body with [`crate::merge_json_body`]. They may
    /// carry the credential, so they must not be logged.
    pub body: Vec<(String, String)>,
}

impl Injection {
    /// Renders the provider's proxy headers, proxy query parameters and the
    /// auth mode's `inject` with the connection config and the credential
    /// values (`access_token`, `api_key`, `username`, `password`) as
    /// variables. Credential values win over config keys of the same name.
    ///
    /// `oauth_client_id` is the integration's OAuth client id: `client_id`
    /// for an `oauth2` connection, and the credential's own for an
    /// `oauth2_client_credentials` one. These templates cannot read the
    /// client secret ([`Injection::for_proxied_request`] can).
    /// `random_token` and `random_uuid` are fresh random values for this
    /// request, and every
    /// `now()` of these templates writes the same instant.
    pub fn for_request(
        provider: &Provider,
        credentials: &Credentials,
        config: &ConnectionConfig,
        client_id: Option<&str>,
    ) -> Result<Injection, EngineError> {
        Injection::for_proxied_request(provider, credentials, config, client_id, None, None)
    }

    /// Renders as [`Injection::for_request`] does, for a request of the
    /// proxy, where `oauth_client_secret` is the integration's OAuth client
    /// secret when it is given. A header whose template reads the secret
    /// is marked sensitive. `request_path` is the path that the caller
    /// requested below the base URL, percent-encoded as received and
    /// without the query, as the `request_path` variable.
    pub fn for_proxied_request(
        provider: &Provider,
        credentials: &Credentials,
        config: &ConnectionConfig,
        client_id: Option<&str>,
        client_secret: Option<&Secret>,
        request_path: Option<&str>,
    ) -> Result<Injection, EngineError> {
        check_mode(provider, credentials)?;
        let vars = with_random_token(&config_variables(provider, config));
        let mut vars = with_request_time(&vars, chrono::Utc::now());
        if let Value::Object(object) = &mut vars {
            if let Some(path) = request_path {
                object.insert(
                    REQUEST_PATH_VARIABLE.to_owned(),
                    Value::String(path.to_owned()),
                );
            }
            if let Some(secret) = client_secret {
                object.insert(
                    CLIENT_SECRET_VARIABLE.to_owned(),
                    Value::String(secret.expose().to_owned()),
                );
            }
            object.extend(credential_variables(provider, credentials));
            let client_id = match credentials {
                Credentials::ClientCredentials { client_id, .. } => Some(client_id.as_str()),
                _ => client_id,
            };
            if let Some(client_id) = client_id {
                object.insert(
                    "oauth_client_id".to_owned(),
                    Value::String(client_id.to_owned()),
                );
            }
        }

        let mut injection = Injection::default();
        for (name, template) in &provider.proxy.headers {
            if uses_unset_optional(provider, template, &vars) {
                continue;
            }
            let field = format!("proxy.headers.{name}");
            let value = render(&provider.name, &field, template, &vars)?;
            let (name, mut value) = header(&provider.name, &field, name, &value)?;
            // The proxy headers of these modes may carry credential fields.
            if matches!(provider.auth, Auth::TwoStep(_) | Auth::Session(_))
                || reads_client_secret(template)
            {
                value.set_sensitive(true);
            }
            injection.headers.push((name, value));
        }
        for (name, template) in &provider.proxy.query {
            if uses_unset_optional(provider, template, &vars) {
                continue;
            }
            let field = format!("proxy.query.{name}");
            let value = render(&provider.name, &field, template, &vars)?;
            injection.query.push((name.clone(), value));
        }
        for (path, template) in &provider.proxy.body {
            if uses_unset_optional(provider, template, &vars) {
                continue;
            }
            let field = format!("proxy.body.{path}");
            let value = render(&provider.name, &field, template, &vars)?;
            injection.body.push((path.clone(), value));
        }

        // A `none` provider has no credential, and a signing mode adds its
        // credential in `sign_request`, once the request that the signature
        // covers is built.
        if !provider.auth.injects_credential() || provider.auth.signs_requests() {
            return Ok(injection);
        }
        let inject = provider.auth.inject();
        // A field's default counts when the connection has no value of its own.
        let with_defaults = config_variables(provider, config);
        let config_text = |key: &str| with_defaults.get(key).and_then(Value::as_str);
        for place_ref in inject.places() {
            if place_ref
                .when
                .is_some_and(|condition| !condition.holds(config_text))
            {
                continue;
            }
            let place = place_field(place_ref);
            let location = place_ref.location;
            let name = &place_name(provider, &place, location, place_ref.name, config)?;
            let field = format!("{place}.value");
            let value = render(&provider.name, &field, place_ref.value, &vars)?;
            match location {
                InjectLocation::Header => {
                    let (name, mut value) = header(&provider.name, &field, name, &value)?;
                    value.set_sensitive(true);
                    injection.headers.push((name, value));
                }
                InjectLocation::Query => injection.query.push((name.clone(), value)),
                InjectLocation::PathSegment => {
                    check_path_segment(&provider.name, &field, &value)?;
                    injection.path_segments.push(value);
                }
                InjectLocation::JsonBody => injection.body.push((name.clone(), value)),
            }
        }
        Ok(injection)
    }
}

/// Returns the field of a credential place in error messages, such as
/// `auth.inject.additional[0]`.
fn place_field(place_ref: Place<'_>) -> String {
    match place_ref.additional_index {
        None => "auth.inject".to_owned(),
        Some(index) => format!("auth.inject.additional[{index}]"),
    }
}

/// Returns the name of a credential place: its literal name, or the value
/// of the connection-config key that `{{ KEY }}` names. A value that is not
/// an HTTP token, or that names a header of
/// [`latchkey_catalog::RESERVED_HEADERS`] for a header place, is an
/// [`EngineError::InvalidConnectionConfig`], because the stored value is at
/// fault rather than the provider file.
fn place_name(
    provider: &Provider,
    place: &str,
    location: InjectLocation,
    name: &str,
    config: &ConnectionConfig,
) -> Result<String, EngineError> {
    let Some(key) = latchkey_catalog::name_variable(name) else {
        return Ok(name.to_owned());
    };
    let field = format!("{place}.name");
    let kind = match location {
        InjectLocation::Header => "header",
        _ => "query parameter",
    };
    let vars = config_variables(provider, config);

    // An optional field left unset names nothing. The connection lacks a
    // value, and the definition is not broken.
    if vars.get(key).is_none_or(Value::is_null) {
        return Err(EngineError::InvalidConnectionConfig(format!(
            "provider `{}`: `{field}` takes the {kind} name from connection-config value \
             `{key}`, which this connection does not set; set `{key}` on the connection",
            provider.name
        )));
    }

    let rendered = render(&provider.name, &field, name, &vars)?;
    let is_token = !rendered.is_empty()
        && rendered
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+.^_`|~-".contains(&byte));
    let problem = if !is_token {
        Some(format!(
            "but a {kind} name may contain only letters, digits and !#$%&'*+.^_`|~-, and at least one of them"
        ))
    } else if location == InjectLocation::Header
        && latchkey_catalog::reserved_header(&rendered).is_some()
    {
        Some(format!(
            "which names a header that {}",
            latchkey_catalog::RESERVED_HEADER_REASON
        ))
    } else {
        None
    };

    match problem {
        Some(problem) => Err(EngineError::InvalidConnectionConfig(format!(
            "provider `{}`, field `{field}`: connection config field `{key}` has the value `{}`, {problem}; set `{key}` to another {kind} name",
            provider.name,
            rendered.escape_debug()
        ))),
        None => Ok(rendered),
    }
}

/// Checks the names that the credential places of `provider` read from
/// `config` (`{{ KEY }}`) as the proxy does before each request, for the
/// places whose `when` holds. A place whose key `config` does not set is
/// skipped, because the config check reports a missing required field.
pub fn check_place_names(
    provider: &Provider,
    config: &ConnectionConfig,
) -> Result<(), EngineError> {
    if !provider.auth.injects_credential() || provider.auth.signs_requests() {
        return Ok(());
    }
    let with_defaults = config_variables(provider, config);
    let config_text = |key: &str| with_defaults.get(key).and_then(Value::as_str);
    for place_ref in provider.auth.inject().places() {
        let Some(key) = latchkey_catalog::name_variable(place_ref.name) else {
            continue;
        };
        let selected = place_ref
            .when
            .is_none_or(|condition| condition.holds(config_text));
        if !selected || with_defaults.get(key).is_none() {
            continue;
        }
        place_name(
            provider,
            &place_field(place_ref),
            place_ref.location,
            place_ref.name,
            config,
        )?;
    }
    Ok(())
}

/// The template variable of the path of a proxied request below the base
/// URL.
const REQUEST_PATH_VARIABLE: &str = "request_path";

/// The template variable of the integration's OAuth client secret.
const CLIENT_SECRET_VARIABLE: &str = "oauth_client_secret";

fn reads_client_secret(template: &str) -> bool {
    variable_paths(template)
        .iter()
        .any(|path| path == CLIENT_SECRET_VARIABLE)
}

/// Rejects a rendered credential that is not exactly one path segment. The
/// message never shows the value, because it carries the credential.
fn check_path_segment(provider: &str, field: &str, value: &str) -> Result<(), EngineError> {
    let problem = if matches!(value, "" | "." | "..") {
        Some("is empty, `.` or `..`")
    } else if value.contains(['/', '\\', '?', '#', '%']) {
        Some("contains `/`, `\\`, `?`, `#` or `%`")
    } else if value.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(EngineError::template(
            provider,
            field,
            format!(
                "the rendered credential path segment {problem}, so it cannot be one path segment"
            ),
        )),
        None => Ok(()),
    }
}

/// Rejects credentials of another auth mode than the provider's, which the
/// inject template could not render anyway.
fn check_mode(provider: &Provider, credentials: &Credentials) -> Result<(), EngineError> {
    let matches = matches!(
        (&provider.auth, credentials),
        (Auth::Oauth2(_), Credentials::OAuth2(_))
            | (
                Auth::Oauth2ClientCredentials(_),
                Credentials::ClientCredentials { .. }
            )
            | (Auth::ApiKey(_), Credentials::ApiKey { .. })
            | (Auth::Basic(_), Credentials::Basic { .. })
            | (Auth::TwoStep(_), Credentials::TwoStep(_))
            | (Auth::Session(_), Credentials::Session(_))
            | (Auth::None(_), Credentials::None {})
            | (Auth::Signature(_), Credentials::Signature { .. })
            | (Auth::AwsSigv4(_), Credentials::AwsSigV4 { .. })
            | (Auth::Jwt(_), Credentials::Jwt(_))
            | (Auth::McpOauth2(_), Credentials::McpOAuth2 { .. })
            | (Auth::Oauth1(_), Credentials::OAuth1(_))
            | (Auth::Tba(_), Credentials::Tba { .. })
            | (Auth::App(_), Credentials::App(_))
    );
    if matches {
        return Ok(());
    }
    Err(EngineError::Unsupported(format!(
        "provider `{}` uses auth mode `{}`, but the connection holds {} credentials",
        provider.name,
        provider.auth.mode_name(),
        credentials.type_name()
    )))
}

/// Collects the credential values by variable name. A basic-auth half that the
/// provider fixes (`fixed_username`, `fixed_password`) takes the fixed
/// value, whatever the connection stores.
pub(crate) fn credential_variables(
    provider: &Provider,
    credentials: &Credentials,
) -> Vec<(String, Value)> {
    let text = |name: &str, value: &str| (name.to_owned(), Value::String(value.to_owned()));
    match credentials {
        Credentials::OAuth2(token) => vec![text("access_token", token.access_token.expose())],
        Credentials::ClientCredentials {
            token, client_id, ..
        } => vec![
            text("access_token", token.access_token.expose()),
            text("client_id", client_id),
        ],
        Credentials::ApiKey { api_key } => vec![text("api_key", api_key.expose())],
        Credentials::McpOAuth2 { token, .. } => {
            vec![text("access_token", token.access_token.expose())]
        }
        Credentials::Basic { username, password } => {
            let (fixed_username, fixed_password) = match &provider.auth {
                Auth::Basic(basic) => (
                    basic.fixed_username.as_deref(),
                    basic.fixed_password.as_deref(),
                ),
                _ => (None, None),
            };
            vec![
                text("username", fixed_username.unwrap_or(username)),
                text("password", fixed_password.unwrap_or(password.expose())),
            ]
        }
        Credentials::TwoStep(credentials)
        | Credentials::Session(SessionCredentials(credentials)) => {
            let mut variables: Vec<(String, Value)> = credentials
                .fields
                .iter()
                .map(|(name, value)| text(name, value.expose()))
                .collect();
            variables.push(text(
                "access_token",
                credentials.token.access_token.expose(),
            ));
            variables.push(("raw".to_owned(), template_raw(&credentials.token.raw)));
            variables
        }
        Credentials::None {} | Credentials::Signature { .. } | Credentials::AwsSigV4 { .. } => {
            Vec::new()
        }
        // Proxy headers and query parameters see no secret of a signing
        // mode; `sign_request` reads the keys itself.
        Credentials::Jwt(jwt) => vec![text("access_token", jwt.token.access_token.expose())],
        Credentials::App(app) => {
            let user_token = matches!(
                &provider.auth,
                Auth::App(settings) if settings.inject_token == AppToken::User
            );
            let token = if user_token {
                app.user.as_ref()
            } else {
                Some(&app.token)
            };
            // Without the selected token, `access_token` stays unset, and
            // rendering `inject` fails naming the variable.
            token
                .map(|token| vec![text("access_token", token.access_token.expose())])
                .unwrap_or_default()
        }
        Credentials::OAuth1(_) | Credentials::Tba { .. } => Vec::new(),
    }
}

/// Validates a header name and a rendered value. The error names the field
/// but never quotes the value, which may contain the credential.
pub(crate) fn header(
    provider: &str,
    field: &str,
    name: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), EngineError> {
    let header_name = header_name(provider, field, name)?;
    if let Some(problem) = header_value_problem(value) {
        return Err(EngineError::template(
            provider,
            field,
            format!(
                "the rendered value of header `{name}` contains {problem}, but a header value \
                 may contain only visible ASCII characters, spaces and tabs"
            ),
        ));
    }
    let header_value = HeaderValue::from_str(value).map_err(|_| {
        EngineError::template(
            provider,
            field,
            format!("the rendered value of header `{name}` is not a valid header value"),
        )
    })?;
    Ok((header_name, header_value))
}

/// Parses a header name that a provider file writes, rejecting a name of
/// [`latchkey_catalog::RESERVED_HEADERS`] as the catalog checks do, for a
/// catalog loaded without them.
pub(crate) fn header_name(
    provider: &str,
    field: &str,
    name: &str,
) -> Result<HeaderName, EngineError> {
    if latchkey_catalog::reserved_header(name).is_some() {
        return Err(EngineError::template(
            provider,
            field,
            format!(
                "`{name}` is a header that {}; remove it from the provider file",
                latchkey_catalog::RESERVED_HEADER_REASON
            ),
        ));
    }
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        EngineError::template(
            provider,
            field,
            format!("`{name}` is not a valid header name"),
        )
    })
}

/// Names the first kind of character that a header value may not contain
/// (RFC 9110 section 5.5 allows visible ASCII, space and tab; Latchkey also
/// rejects the obsolete non-ASCII bytes), without quoting the value.
fn header_value_problem(value: &str) -> Option<&'static str> {
    value.chars().find_map(|c| match c {
        '\r' | '\n' => Some("a line break (CR or LF)"),
        ' ' | '\t' | '!'..='~' => None,
        c if c.is_ascii() => Some("an ASCII control character"),
        _ => Some("a non-ASCII character"),
    })
}

/// Prepares the last token reply for proxy templates as `raw`. A `null`
/// member is left out, so using it fails as a missing member does. Booleans
/// become `true` and `false`, and a list becomes its JSON text, the forms an
/// API expects in a header or query.
fn template_raw(reply: &Value) -> Value {
    match reply {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(_, member)| !member.is_null())
                .map(|(key, member)| (key.clone(), template_raw(member)))
                .collect(),
        ),
        Value::Bool(flag) => Value::String(flag.to_string()),
        Value::Array(_) => Value::String(reply.to_string()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn raw_reply_values_render_as_text() {
        let reply = serde_json::json!({
            "acct": null,
            "flag": true,
            "ids": [1, 2],
            "nested": {"gone": null, "n": 5},
            "name": "x"
        });
        assert_eq!(
            super::template_raw(&reply),
            serde_json::json!({
                "flag": "true",
                "ids": "[1,2]",
                "nested": {"n": 5},
                "name": "x"
            })
        );
    }

    use super::*;
    use crate::test_support::provider_from_yaml;
    use crate::{OAuth2Token, Secret};
    use serde_json::json;

    fn oauth2_credentials(access_token: &str) -> Credentials {
        Credentials::OAuth2(OAuth2Token {
            access_token: Secret::new(access_token),
            refresh_token: None,
            expires_at: None,
            obtained_at: chrono::Utc::now(),
            raw: Value::Null,
        })
    }

    fn config(pairs: &[(&str, &str)]) -> ConnectionConfig {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect()
    }

    fn header_pairs(injection: &Injection) -> Vec<(String, String)> {
        injection
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// A key whose place, name and format the integration chooses.
    const CHOSEN_PLACE: &str = r#"
name: chosen
display_name: Chosen
auth:
  mode: api_key
  inject:
    name: "{{ keyName }}"
    value: "{{ valueTemplate | replace('${apiKey}', api_key) }}"
    when: {field: keyPlacement, equals: header}
    additional:
      - location: query
        name: "{{ keyName }}"
        value: "{{ valueTemplate | replace('${apiKey}', api_key) }}"
        when: {field: keyPlacement, equals: query}
connection_config:
  keyPlacement: {title: Key placement, pattern: "header|query"}
  keyName: {title: Key name, pattern: "[A-Za-z0-9-]+"}
  valueTemplate: {title: Value template, pattern: "\\$\\{apiKey\\}"}
proxy:
  base_url: https://api.example.com
"#;

    #[test]
    fn place_chosen_by_config() {
        let provider = provider_from_yaml(CHOSEN_PLACE);
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k-1"),
        };
        let cases = [
            (
                "header",
                "X-Api-Key",
                "Api-Key ${apiKey}",
                vec![("x-api-key", "Api-Key k-1")],
                vec![],
            ),
            (
                "query",
                "api_key",
                "${apiKey}",
                vec![],
                vec![("api_key", "k-1")],
            ),
            ("neither", "api_key", "${apiKey}", vec![], vec![]),
        ];
        for (placement, name, format, headers, query) in cases {
            let config = config(&[
                ("keyPlacement", placement),
                ("keyName", name),
                ("valueTemplate", format),
            ]);
            let injection = Injection::for_request(&provider, &credentials, &config, None).unwrap();
            assert_eq!(header_pairs(&injection), pairs(&headers), "{placement}");
            assert_eq!(injection.query, pairs(&query), "{placement}");
        }
    }

    #[test]
    fn chosen_name_must_be_a_usable_token() {
        let provider = provider_from_yaml(CHOSEN_PLACE);
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k-1"),
        };
        // (placement, name, expected cause)
        let cases = [
            ("header", "Host", "names a header that frames the request"),
            ("header", "content-length", "names a header that frames"),
            ("header", "Expect", "names a header that frames"),
            (
                "header",
                "Proxy-Authorization",
                "names a header that frames",
            ),
            ("header", "keep-alive", "names a header that frames"),
            ("header", "X Key", "may contain only letters, digits"),
            ("header", "", "may contain only letters, digits"),
            (
                "header",
                "X-A\r\nEvil: 1",
                "may contain only letters, digits",
            ),
            ("query", "a&b=c", "may contain only letters, digits"),
        ];
        for (placement, name, expected) in cases {
            let config = config(&[
                ("keyPlacement", placement),
                ("keyName", name),
                ("valueTemplate", "${apiKey}"),
            ]);
            let error = Injection::for_request(&provider, &credentials, &config, None).unwrap_err();
            assert!(
                matches!(error, EngineError::InvalidConnectionConfig(_)),
                "{name}: {error:?}"
            );
            let text = error.to_string();
            assert!(text.contains(expected), "{name}: {text}");
            let value = format!("has the value `{}`", name.escape_debug());
            assert!(text.contains(&value), "{name}: {text}");
            assert!(text.contains("set `keyName` to another"), "{name}: {text}");
            assert!(!text.contains("k-1"), "{text}");

            let checked = check_place_names(&provider, &config).unwrap_err();
            assert_eq!(checked.to_string(), text, "{name}");
        }
    }

    #[test]
    fn place_names_checked_for_selected_place() {
        let provider = provider_from_yaml(CHOSEN_PLACE);
        // `Host` is a valid query name, and the header place is not used.
        let query = config(&[
            ("keyPlacement", "query"),
            ("keyName", "Host"),
            ("valueTemplate", "${apiKey}"),
        ]);
        check_place_names(&provider, &query).unwrap();
        let unset = config(&[("keyPlacement", "header"), ("valueTemplate", "${apiKey}")]);
        check_place_names(&provider, &unset).unwrap();

        // At send time the unset name is the connection's problem.
        let error = place_name(
            &provider,
            "auth.inject",
            InjectLocation::Header,
            "{{ keyName }}",
            &unset,
        )
        .unwrap_err();
        assert!(
            matches!(error, EngineError::InvalidConnectionConfig(_)),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("set `keyName` on the connection"),
            "{error}"
        );
    }

    #[test]
    fn reserved_literal_header_rejected_at_send() {
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k-1"),
        };
        // The catalog checks reject these files, so each is changed after
        // parsing, as a catalog loaded without the checks would be.
        let mut in_proxy_headers = provider_from_yaml(SHOPIFY);
        in_proxy_headers
            .proxy
            .headers
            .insert("Content-Length".to_owned(), "5".to_owned());
        let mut as_credential = provider_from_yaml(SHOPIFY);
        if let Auth::ApiKey(api_key) = &mut as_credential.auth {
            api_key.inject.as_mut().unwrap().name = "Transfer-Encoding".to_owned();
        }
        let cases = [
            (
                in_proxy_headers,
                "proxy.headers.Content-Length",
                "Content-Length",
            ),
            (as_credential, "auth.inject.value", "Transfer-Encoding"),
        ];
        for (provider, field, name) in cases {
            let error =
                Injection::for_request(&provider, &credentials, &config(&[("shop", "acme")]), None)
                    .unwrap_err();
            let text = error.to_string();
            assert!(text.contains(&format!("field `{field}`")), "{text}");
            assert!(
                text.contains(&format!("`{name}` is a header that frames")),
                "{text}"
            );
            assert!(!text.contains("k-1"), "{text}");
        }
    }

    const BEARER: &str = r#"
name: github
display_name: GitHub
auth:
  mode: oauth2
  authorization_url: https://github.com/login/oauth/authorize
  token_url: https://github.com/login/oauth/access_token
proxy:
  base_url: https://api.github.com
  headers:
    Accept: application/vnd.github+json
    X-GitHub-Api-Version: "2022-11-28"
"#;

    const SHOPIFY: &str = r#"
name: shopify
display_name: Shopify
auth:
  mode: api_key
  inject: {name: X-Shopify-Access-Token, value: "{{ api_key }}"}
connection_config:
  shop: {title: Shop}
proxy:
  base_url: https://{{ shop }}.myshopify.com
"#;

    const QUERY_KEY: &str = r#"
name: weather
display_name: Weather
auth:
  mode: api_key
  inject: {location: query, name: appid, value: "{{ api_key }}"}
proxy:
  base_url: https://api.weather.example
  query:
    units: "{{ units }}"
"#;

    const TWILIO: &str = r#"
name: twilio
display_name: Twilio
auth:
  mode: basic
proxy:
  base_url: https://api.twilio.com
"#;

    const FIXED_EMPTY_PASSWORD: &str = r#"
name: stripe-basic
display_name: Stripe
auth:
  mode: basic
  fixed_password: ""
proxy:
  base_url: https://api.stripe.com
"#;

    const FIXED_PASSWORD_X: &str = r#"
name: freshdesk-basic
display_name: Freshdesk
auth:
  mode: basic
  fixed_password: X
proxy:
  base_url: https://acme.freshdesk.com
"#;

    const FIXED_EMPTY_USERNAME: &str = r#"
name: affinity-basic
display_name: Affinity
auth:
  mode: basic
  fixed_username: ""
proxy:
  base_url: https://api.affinity.co
"#;

    const CLIENT_CREDENTIALS: &str = r#"
name: machine
display_name: Machine
auth:
  mode: oauth2_client_credentials
  token_url: https://machine.example/token
  inject: {name: Authorization, value: "Token {{ access_token }}"}
proxy:
  base_url: https://machine.example
"#;

    #[test]
    fn injection_table() {
        let client_credentials = Credentials::ClientCredentials {
            token: match oauth2_credentials("cc-token") {
                Credentials::OAuth2(token) => token,
                _ => unreachable!(),
            },
            client_id: "cid".to_owned(),
            client_secret: Secret::new("cs"),
            client_identity: None,
        };

        // (case, provider yaml, credentials, config, expected headers, expected query)
        #[rustfmt::skip]
        let cases = vec![
            (
                "bearer header after static headers",
                BEARER,
                oauth2_credentials("gho_abc"),
                config(&[]),
                pairs(&[
                    ("accept", "application/vnd.github+json"),
                    ("x-github-api-version", "2022-11-28"),
                    ("authorization", "Bearer gho_abc"),
                ]),
                vec![],
            ),
            (
                "custom header and no authorization",
                SHOPIFY,
                Credentials::ApiKey { api_key: Secret::new("shpat_1") },
                config(&[("shop", "acme")]),
                pairs(&[("x-shopify-access-token", "shpat_1")]),
                vec![],
            ),
            (
                "query parameter after static query",
                QUERY_KEY,
                Credentials::ApiKey { api_key: Secret::new("k123") },
                config(&[("units", "metric")]),
                vec![],
                pairs(&[("units", "metric"), ("appid", "k123")]),
            ),
            (
                "basic via base64",
                TWILIO,
                Credentials::Basic { username: "AC123".to_owned(), password: Secret::new("tok") },
                config(&[]),
                pairs(&[("authorization", "Basic QUMxMjM6dG9r")]),
                vec![],
            ),
            (
                "fixed empty password",
                FIXED_EMPTY_PASSWORD,
                Credentials::Basic { username: "key_123".to_owned(), password: Secret::new("") },
                config(&[]),
                pairs(&[("authorization", "Basic a2V5XzEyMzo=")]),
                vec![],
            ),
            (
                "fixed password wins over stored one",
                FIXED_PASSWORD_X,
                Credentials::Basic { username: "key_123".to_owned(), password: Secret::new("stored") },
                config(&[]),
                pairs(&[("authorization", "Basic a2V5XzEyMzpY")]),
                vec![],
            ),
            (
                "fixed empty username",
                FIXED_EMPTY_USERNAME,
                Credentials::Basic { username: "stored".to_owned(), password: Secret::new("tok") },
                config(&[]),
                pairs(&[("authorization", "Basic OnRvaw==")]),
                vec![],
            ),
            (
                "client credentials token",
                CLIENT_CREDENTIALS,
                client_credentials,
                config(&[]),
                pairs(&[("authorization", "Token cc-token")]),
                vec![],
            ),
            (
                "credential wins over config key",
                SHOPIFY,
                Credentials::ApiKey { api_key: Secret::new("real") },
                config(&[("shop", "acme"), ("api_key", "from-config")]),
                pairs(&[("x-shopify-access-token", "real")]),
                vec![],
            ),
        ];

        for (case, yaml, credentials, config, headers, query) in cases {
            let provider = provider_from_yaml(yaml);

            let injection = Injection::for_request(&provider, &credentials, &config, None)
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(header_pairs(&injection), headers, "{case}");
            assert_eq!(injection.query, query, "{case}");
        }
    }

    const CLIENT_ID_HEADERS: &str = r#"
name: getty
display_name: Getty
auth:
  mode: oauth2
  authorization_url: https://auth.getty.example/authorize
  token_url: https://auth.getty.example/token
proxy:
  base_url: https://api.getty.example
  headers:
    api-key: "{{ oauth_client_id }}"
  query:
    app: "{{ oauth_client_id }}"
"#;

    const CLIENT_ID_CC: &str = r#"
name: machine-key
display_name: Machine
auth:
  mode: oauth2_client_credentials
  token_url: https://machine.example/token
proxy:
  base_url: https://machine.example
  headers:
    x-client: "{{ oauth_client_id }}"
"#;

    const OPTIONAL_HEADER: &str = r#"
name: ads
display_name: Ads
auth:
  mode: oauth2
  authorization_url: https://ads.example/authorize
  token_url: https://ads.example/token
connection_config:
  manager_id:
    title: Manager ID
    pattern: "[0-9]{10}"
    optional: true
proxy:
  base_url: https://ads.example
  headers:
    login-customer-id: "{{ manager_id }}"
  query:
    manager: "{{ manager_id }}"
"#;

    #[test]
    fn unset_optional_field_drops_header() {
        let provider = provider_from_yaml(OPTIONAL_HEADER);
        let credentials = oauth2_credentials("tok");
        let without = Injection::for_request(&provider, &credentials, &config(&[]), None).unwrap();
        assert_eq!(
            header_pairs(&without),
            pairs(&[("authorization", "Bearer tok")])
        );
        assert!(without.query.is_empty(), "{:?}", without.query);

        let with = Injection::for_request(
            &provider,
            &credentials,
            &config(&[("manager_id", "1234567890")]),
            None,
        )
        .unwrap();
        assert_eq!(
            header_pairs(&with),
            pairs(&[
                ("login-customer-id", "1234567890"),
                ("authorization", "Bearer tok")
            ])
        );
        assert_eq!(with.query, pairs(&[("manager", "1234567890")]));
    }

    #[test]
    fn client_id_reaches_headers_and_query() {
        let provider = provider_from_yaml(CLIENT_ID_HEADERS);
        let injection = Injection::for_request(
            &provider,
            &oauth2_credentials("tok"),
            &config(&[]),
            Some("the-client-id"),
        )
        .unwrap();
        assert_eq!(
            header_pairs(&injection),
            pairs(&[
                ("api-key", "the-client-id"),
                ("authorization", "Bearer tok")
            ])
        );
        assert_eq!(injection.query, pairs(&[("app", "the-client-id")]));

        let missing =
            Injection::for_request(&provider, &oauth2_credentials("tok"), &config(&[]), None)
                .unwrap_err()
                .to_string();
        assert!(missing.contains("proxy.headers.api-key"), "{missing}");
        assert!(missing.contains("`oauth_client_id`"), "{missing}");
    }

    #[test]
    fn client_credentials_use_own_client_id() {
        let provider = provider_from_yaml(CLIENT_ID_CC);
        let credentials = Credentials::ClientCredentials {
            token: match oauth2_credentials("cc-token") {
                Credentials::OAuth2(token) => token,
                _ => unreachable!(),
            },
            client_id: "stored-id".to_owned(),
            client_secret: Secret::new("never-sent"),
            client_identity: None,
        };
        let injection =
            Injection::for_request(&provider, &credentials, &config(&[]), Some("other")).unwrap();
        let headers = header_pairs(&injection);
        assert_eq!(
            headers,
            pairs(&[
                ("x-client", "stored-id"),
                ("authorization", "Bearer cc-token")
            ])
        );
        assert!(
            headers
                .iter()
                .all(|(_, value)| !value.contains("never-sent")),
            "{headers:?}"
        );
    }

    #[test]
    fn random_token_fresh_per_request() {
        let provider = provider_from_yaml(
            r#"
name: walmart-like
display_name: Walmart
auth:
  mode: oauth2
  authorization_url: https://auth.example/authorize
  token_url: https://auth.example/token
proxy:
  base_url: https://api.example
  headers:
    correlation-id: "{{ random_token }}"
    echo: "{{ random_token }}"
    x-request-id: "{{ random_uuid }}"
    x-request-id-echo: "{{ random_uuid }}"
"#,
        );
        let render = || {
            let injection =
                Injection::for_request(&provider, &oauth2_credentials("t"), &config(&[]), None)
                    .unwrap();
            header_pairs(&injection)
        };
        let first = render();
        let second = render();
        assert_eq!(first[0].0, "correlation-id");
        assert_eq!(first[0].1.len(), 22, "{first:?}");
        assert!(first[0]
            .1
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(first[0].1, first[1].1, "one value per request");
        assert_ne!(first[0].1, second[0].1, "a new value per request");
        assert_eq!(first[2].1.len(), 36, "{first:?}");
        assert_eq!(first[2].1, first[3].1, "one UUID per request");
        assert_ne!(first[2].1, second[2].1, "a new UUID per request");
    }

    #[test]
    fn credential_header_is_sensitive() {
        let provider = provider_from_yaml(BEARER);

        let injection =
            Injection::for_request(&provider, &oauth2_credentials("t"), &config(&[]), None)
                .unwrap();

        let (_, credential) = injection.headers.last().unwrap();
        assert!(credential.is_sensitive());
        assert!(!injection.headers[0].1.is_sensitive());
    }

    #[test]
    fn invalid_header_value_names_field() {
        let provider = provider_from_yaml(SHOPIFY);
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("bad\nsecret-value"),
        };

        let err = Injection::for_request(&provider, &credentials, &config(&[]), None).unwrap_err();
        let text = err.to_string();

        assert!(
            text.starts_with("provider `shopify`, field `auth.inject.value`: "),
            "{text}"
        );
        assert!(text.contains("X-Shopify-Access-Token"), "{text}");
        assert!(!text.contains("secret-value"), "{text}");
    }

    #[test]
    fn header_value_problems_name_cause() {
        let provider = provider_from_yaml(SHOPIFY);

        // (credential value, expected cause)
        let cases = [
            ("caf\u{e9}-secret", "contains a non-ASCII character"),
            ("line\r\nX-Evil: 1", "contains a line break (CR or LF)"),
            ("bell\u{7}-secret", "contains an ASCII control character"),
            ("del\u{7f}-secret", "contains an ASCII control character"),
        ];

        for (value, cause) in cases {
            let credentials = Credentials::ApiKey {
                api_key: Secret::new(value),
            };

            let err = Injection::for_request(&provider, &credentials, &config(&[]), None)
                .expect_err(&format!("{value:?} was accepted"));
            let text = err.to_string();

            assert!(text.contains(cause), "{value:?}: {text}");
            assert!(!text.contains("secret"), "{value:?}: {text}");
        }

        let spaced = Credentials::ApiKey {
            api_key: Secret::new("a b\tc"),
        };
        let injection = Injection::for_request(&provider, &spaced, &config(&[]), None).unwrap();
        assert_eq!(injection.headers[0].1.as_bytes(), b"a b\tc");
    }

    #[test]
    fn invalid_header_name_names_field() {
        let provider = provider_from_yaml(
            r#"
name: broken
display_name: Broken
auth: {mode: api_key, inject: {name: "Bad Header", value: "{{ api_key }}"}}
proxy: {base_url: "https://broken.example"}
"#,
        );
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k"),
        };

        let err = Injection::for_request(&provider, &credentials, &config(&[]), None).unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `broken`, field `auth.inject.value`: `Bad Header` is not a valid header name"
        );
    }

    #[test]
    fn missing_proxy_variable_names_field() {
        let provider = provider_from_yaml(QUERY_KEY);
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k"),
        };

        let err = Injection::for_request(&provider, &credentials, &config(&[]), None).unwrap_err();
        let text = err.to_string();

        assert!(
            text.starts_with(
                "provider `weather`, field `proxy.query.units`: undefined variable `units`"
            ),
            "{text}"
        );
    }

    #[test]
    fn mismatched_credentials_rejected() {
        let provider = provider_from_yaml(BEARER);
        let credentials = Credentials::ApiKey {
            api_key: Secret::new("k"),
        };

        let err = Injection::for_request(&provider, &credentials, &config(&[]), None).unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `github` uses auth mode `oauth2`, but the connection holds API_KEY credentials"
        );
    }
    const RAW_REPLY_QUERY: &str = r#"
name: shop
display_name: Shop
auth:
  mode: two_step
  credentials:
    email: {title: Email}
  token_request:
    url: https://api.shop.example/login
    params: {user: "{{ email }}"}
  token_response: {access_token: authToken}
  inject: {location: query, name: authToken, value: "{{ access_token }}"}
proxy:
  base_url: https://api.shop.example
  query:
    account_id: "{{ raw.accountID }}"
"#;

    fn two_step_credentials(raw: Value) -> Credentials {
        Credentials::TwoStep(crate::TwoStepCredentials {
            fields: [("email".to_owned(), Secret::new("a@b.example"))].into(),
            token: OAuth2Token {
                access_token: Secret::new("t-1"),
                refresh_token: None,
                expires_at: None,
                obtained_at: chrono::Utc::now(),
                raw,
            },
        })
    }

    #[test]
    fn raw_reply_value_in_query() {
        let provider = provider_from_yaml(RAW_REPLY_QUERY);
        let cases = [
            (
                "string",
                json!({"authToken": "t-1", "accountID": "acc-7"}),
                "acc-7",
            ),
            ("number", json!({"authToken": "t-1", "accountID": 42}), "42"),
        ];
        for (case, raw, expected) in cases {
            let injection =
                Injection::for_request(&provider, &two_step_credentials(raw), &config(&[]), None)
                    .expect(case);
            let query: Vec<(&str, &str)> = injection
                .query
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            assert_eq!(
                query,
                [("account_id", expected), ("authToken", "t-1")],
                "{case}"
            );
        }
    }

    #[test]
    fn missing_raw_reply_value_named() {
        let provider = provider_from_yaml(RAW_REPLY_QUERY);
        let credentials = two_step_credentials(json!({"authToken": "t-1"}));

        let err = Injection::for_request(&provider, &credentials, &config(&[]), None).unwrap_err();
        let text = err.to_string();

        assert!(text.contains("field `proxy.query.account_id`"), "{text}");
        assert!(text.contains("`raw.accountID`"), "{text}");
        assert!(!text.contains("t-1"), "{text}");
    }
    const CLIENT_KEY_HEADER: &str = r#"
name: shop-oauth
display_name: Shop
auth:
  mode: oauth2
  authorization_url: https://shop.example/oauth/connect
  token_url: https://api.shop.example/oauth/token
proxy:
  base_url: https://api.shop.example
  headers:
    x-api-key: "{{ oauth_client_id }}:{{ oauth_client_secret }}"
    x-plain: fixed
"#;

    #[test]
    fn client_secret_header_sensitive() {
        let provider = provider_from_yaml(CLIENT_KEY_HEADER);
        let secret = Secret::new("shared-secret");
        let injection = Injection::for_proxied_request(
            &provider,
            &oauth2_credentials("t-1"),
            &config(&[]),
            Some("keystring"),
            Some(&secret),
            None,
        )
        .expect("renders");
        let header = |name: &str| {
            injection
                .headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| panic!("no {name} header"))
        };
        assert_eq!(header("x-api-key"), "keystring:shared-secret");
        assert!(header("x-api-key").is_sensitive());
        assert!(!header("x-plain").is_sensitive());
    }

    #[test]
    fn client_secret_absent_outside_proxy() {
        let provider = provider_from_yaml(CLIENT_KEY_HEADER);
        let err = Injection::for_request(
            &provider,
            &oauth2_credentials("t-1"),
            &config(&[]),
            Some("keystring"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("field `proxy.headers.x-api-key`"), "{text}");
        assert!(
            text.contains("undefined variable `oauth_client_secret`"),
            "{text}"
        );
    }
}
