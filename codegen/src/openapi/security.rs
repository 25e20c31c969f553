//! The security scheme of a provider's own API, one per auth mode.
//!
//! OpenAPI 3.1 has schemes for OAuth 2.0, API keys and HTTP authentication
//! only. A mode outside those (request signing, OAuth 1.0a, tokens that
//! Latchkey obtains itself) is described as the header or query parameter
//! its credential lands in, with the mode's details under `x-latchkey-*`
//! extensions.

use std::collections::BTreeMap;

use latchkey_catalog::{
    AdminConsent, Auth, Inject, InjectLocation, McpOAuth2, Provider, Signature, SignatureLocation,
};
use serde_json::{json, Value};

use super::url_template::{ServerVariables, UrlTemplate};
use crate::Error;

/// Name of the provider's scheme in `components.securitySchemes`.
pub(crate) const PROVIDER_SCHEME: &str = "providerAuth";

/// Name of the scheme of Latchkey's secret key.
pub(crate) const LATCHKEY_SCHEME: &str = "latchkeySecretKey";

/// The provider's security scheme and the scopes its requirement lists.
pub(crate) struct ProviderSecurity {
    pub scheme: Value,
    pub scopes: Vec<String>,
    /// One scheme per entry of `auth.inject.additional`, by name. The
    /// document's requirement lists them beside [`PROVIDER_SCHEME`],
    /// because each request carries the credential in every place.
    pub additional: Vec<(String, Value)>,
}

/// Returns the name of the scheme of the `auth.inject.additional` entry at
/// `index`.
pub(crate) fn additional_scheme_name(index: usize) -> String {
    format!("{PROVIDER_SCHEME}Additional{}", index + 1)
}

/// Returns the scheme of the provider's auth mode, or `None` when proxied
/// requests carry no credential: the `none` mode, an `api_key` mode whose
/// callers place the key themselves, and a `two_step` or `session`
/// definition with `caller_places_token`, which [`caller_credential`]
/// describes.
pub(crate) fn provider_security(
    provider: &Provider,
    variables: &ServerVariables,
) -> Result<Option<ProviderSecurity>, Error> {
    if !provider.auth.injects_credential() {
        return Ok(None);
    }
    let inject = provider.auth.inject();
    if has_chosen_places(&inject) {
        // Which places a request carries depends on the connection's
        // values; `chosen_credential` describes them in an extension.
        return Ok(None);
    }
    if matches!(
        inject.location,
        InjectLocation::PathSegment | InjectLocation::JsonBody
    ) {
        // OpenAPI has no security scheme for a credential in the URL path
        // or the request body; `path_credential` and `body_credential`
        // describe it in an extension instead.
        return Ok(None);
    }
    let mut security = match &provider.auth {
        Auth::None(_) => return Ok(None),
        Auth::Oauth2(oauth) => {
            let authorization =
                template(provider, "auth.authorization_url", &oauth.authorization_url)?;
            let token = template(provider, "auth.token_url", &oauth.token_url)?;
            let mut flow = json!({
                "authorizationUrl": authorization.with_defaults(variables),
                "tokenUrl": token.with_defaults(variables),
                "scopes": scope_map(&oauth.default_scopes),
            });
            if let Some(refresh_url) = &oauth.refresh_url {
                let refresh = template(provider, "auth.refresh_url", refresh_url)?;
                flow["refreshUrl"] = json!(refresh.with_defaults(variables));
                add_url_template(&mut flow, "x-latchkey-refresh-url-template", &refresh);
            }
            add_url_template(
                &mut flow,
                "x-latchkey-authorization-url-template",
                &authorization,
            );
            add_url_template(&mut flow, "x-latchkey-token-url-template", &token);
            add_fallbacks(
                provider,
                &mut flow,
                "auth.authorization_url_fallbacks",
                "x-latchkey-authorization-url-fallbacks",
                &oauth.authorization_url_fallbacks,
            )?;
            add_fallbacks(
                provider,
                &mut flow,
                "auth.token_url_fallbacks",
                "x-latchkey-token-url-fallbacks",
                &oauth.token_url_fallbacks,
            )?;
            let mut scheme = json!({
                "type": "oauth2",
                "description": format!(
                    "OAuth 2.0 authorization code grant{}. {}{}",
                    if oauth.pkce { " with PKCE (S256)" } else { "" },
                    scope_separator_note(&oauth.scope_separator),
                    templated_url_note(&[&authorization, &token]),
                ),
                "flows": { "authorizationCode": flow },
            });
            if let Some(consent) = &oauth.admin_consent {
                describe_admin_consent(&mut scheme, consent, &authorization, &token, variables);
            }
            add_inject(&mut scheme, &provider.auth.inject());
            ProviderSecurity {
                scheme,
                scopes: oauth.default_scopes.clone(),
                additional: Vec::new(),
            }
        }
        Auth::Oauth2ClientCredentials(grant) => {
            let token = template(provider, "auth.token_url", &grant.token_url)?;
            let mut flow = json!({
                "tokenUrl": token.with_defaults(variables),
                "scopes": scope_map(&grant.default_scopes),
            });
            add_url_template(&mut flow, "x-latchkey-token-url-template", &token);
            add_fallbacks(
                provider,
                &mut flow,
                "auth.token_url_fallbacks",
                "x-latchkey-token-url-fallbacks",
                &grant.token_url_fallbacks,
            )?;
            let grant_type = match &grant.password_grant {
                Some(_) => "password",
                None => grant.grant_type.as_deref().unwrap_or("client_credentials"),
            };
            // OpenAPI names the password grant's flow `password`.
            let (grant_name, flow_name, password_note) = match &grant.password_grant {
                Some(password) => (
                    "resource owner password credentials grant",
                    "password",
                    format!(
                        " The token request also carries `username` from `{}` and `password` from `{}`, rendered from the connection config.",
                        password.username, password.password
                    ),
                ),
                None => ("client credentials grant", "clientCredentials", String::new()),
            };
            let client_certificate_note = if grant.require_client_certificate {
                " Token requests and proxied requests also present the connection's TLS client certificate (mutual TLS), from `client_certificate` and `client_private_key` (PEM)."
            } else {
                ""
            };
            let mut scheme = json!({
                "type": "oauth2",
                "description": format!(
                    "OAuth 2.0 {grant_name} (`grant_type={grant_type}`).{password_note} {}{}{client_certificate_note}",
                    scope_separator_note(&grant.scope_separator),
                    templated_url_note(&[&token]),
                ),
                "flows": {},
            });
            scheme["flows"][flow_name] = flow;
            if grant.require_client_certificate {
                scheme["x-latchkey-client-certificate"] = json!(true);
            }
            add_inject(&mut scheme, &provider.auth.inject());
            ProviderSecurity {
                scheme,
                scopes: grant.default_scopes.clone(),
                additional: Vec::new(),
            }
        }
        Auth::ApiKey(settings) => {
            let label = settings.key_title.as_deref().unwrap_or("API key");
            simple(api_key_scheme(&provider.auth.inject(), label))
        }
        Auth::Basic(settings) => {
            let username = settings.username_title.as_deref().unwrap_or("username");
            let password = settings.password_title.as_deref().unwrap_or("password");
            let description = format!("{username} and the {password} that the end user enters");
            let inject = provider.auth.inject();
            if inject == Inject::basic_default() {
                let description = format!("HTTP basic authentication with the {description}.");
                simple(json!({ "type": "http", "scheme": "basic", "description": description }))
            } else {
                let description = format!(
                    "The {description}, sent as `{}` in the {} `{}`.",
                    inject.value,
                    place_noun(inject.location),
                    inject.name
                );
                simple(injected_scheme(&inject, &description))
            }
        }
        Auth::TwoStep(settings) | Auth::Session(settings) => {
            let fields: Vec<&str> = settings.credentials.keys().map(String::as_str).collect();
            let url = template(
                provider,
                "auth.token_request.url",
                &settings.token_request.url,
            )?;
            // A login chain sends `token_request` first and reads the token
            // from the reply to its last step.
            let source = match settings.steps.len() {
                0 => format!("from `{}`", url.openapi_notation()),
                steps => format!(
                    "through a chain of {} requests that starts at `{}`",
                    steps + 1,
                    url.openapi_notation()
                ),
            };
            let mut scheme = token_scheme(
                &provider.auth.inject(),
                &format!(
                    "A token that Latchkey obtains {source} with the credential fields {} that the end user enters, and obtains again before it expires.",
                    code_list(&fields),
                ),
            );
            scheme["x-latchkey-token-url-template"] = json!(url.openapi_notation());
            simple(scheme)
        }
        Auth::Jwt(settings) => {
            let exchange = match &settings.token_url {
                Some(url) => {
                    let url = template(provider, "auth.token_url", url)?;
                    let chain = match settings.steps.len() {
                        0 => String::new(),
                        1 => " that one further request trades for the token in use".to_owned(),
                        count => {
                            format!(" that {count} further requests trade for the token in use")
                        }
                    };
                    format!(
                        ", exchanged at `{}` with the JWT bearer grant (RFC 7523) for an access token{chain}",
                        url.openapi_notation()
                    )
                }
                None => String::new(),
            };
            simple(token_scheme(
                &provider.auth.inject(),
                &format!(
                    "A JWT that Latchkey signs ({}) with a key that the end user enters{exchange}; it lives {} seconds.",
                    json!(settings.algorithm).as_str().unwrap_or_default(),
                    settings.lifetime_seconds
                ),
            ))
        }
        Auth::McpOauth2(settings) => mcp_security(provider, settings, variables)?,
        Auth::Oauth1(settings) => {
            let request_token = template(
                provider,
                "auth.request_token_url",
                &settings.request_token_url,
            )?;
            let authorization = template(
                provider,
                "auth.authorization_url",
                &settings.authorization_url,
            )?;
            let access_token = template(
                provider,
                "auth.access_token_url",
                &settings.access_token_url,
            )?;
            let mut scheme = signature_scheme(
                settings.signature_location,
                &format!(
                    "OAuth 1.0a (RFC 5849): Latchkey signs each request with {} and the token from the three-legged flow.",
                    settings.signature_method.as_str()
                ),
            );
            scheme["x-latchkey-oauth1"] = json!({
                "requestTokenUrl": request_token.openapi_notation(),
                "authorizationUrl": authorization.openapi_notation(),
                "accessTokenUrl": access_token.openapi_notation(),
                "signatureMethod": settings.signature_method.as_str(),
            });
            simple(scheme)
        }
        Auth::Tba(settings) => {
            let mut scheme = signature_scheme(
                settings.signature_location,
                &format!(
                    "NetSuite token-based authentication: Latchkey signs each request with OAuth 1.0a {} using the token id and secret that the end user enters.",
                    settings.signature_method.as_str()
                ),
            );
            scheme["x-latchkey-oauth1"] = json!({
                "signatureMethod": settings.signature_method.as_str(),
            });
            simple(scheme)
        }
        Auth::Signature(settings) => simple(request_signature_scheme(provider, settings)?),
        Auth::App(settings) => {
            let url = template(provider, "auth.token_url", &settings.token_url)?;
            let mut scheme = token_scheme(
                &provider.auth.inject(),
                &format!(
                    "An installation token that Latchkey obtains from `{}` with an RS256 app JWT signed by the integration's private key, and obtains again before it expires.",
                    url.openapi_notation(),
                ),
            );
            scheme["x-latchkey-token-url-template"] = json!(url.openapi_notation());
            simple(scheme)
        }
        Auth::AwsSigv4(settings) => simple(json!({
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": format!(
                "AWS Signature Version 4 over each request, for the service `{}` in the region `{}`, {}.",
                settings.service,
                settings.region,
                if settings.assume_role.is_some() {
                    "with temporary keys and a session token that Latchkey obtains from AWS STS AssumeRole for the IAM role ARN that the end user enters, and obtains again before they expire"
                } else {
                    "with the access key that the end user enters"
                }
            ),
            "x-amazon-apigateway-authtype": "awsSigv4",
        })),
    };
    security.additional = additional_schemes(&inject);
    if !security.additional.is_empty() {
        let names: Vec<&str> = security
            .additional
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let description = security.scheme["description"].as_str().unwrap_or_default();
        security.scheme["description"] = json!(format!(
            "{description} Each request also sends the placements of {}, which the same security requirement lists.",
            code_list(&names)
        ));
        security.scheme["x-latchkey-inject"] = inject_json(&inject);
    }
    Ok(Some(security))
}

/// Describes each entry of `inject.additional` as an `apiKey` scheme of its
/// own, so a caller that reads the requirement sends every placement.
fn additional_schemes(inject: &Inject) -> Vec<(String, Value)> {
    inject
        .additional
        .iter()
        .enumerate()
        // OpenAPI has schemes for headers and query parameters only; a body
        // member is described by `x-latchkey-body-credential`.
        .filter(|(_, place)| {
            matches!(
                place.location,
                InjectLocation::Header | InjectLocation::Query
            )
        })
        .map(|(index, place)| {
            let description = format!(
                "Sent together with `{PROVIDER_SCHEME}` in the same request: the {} `{}`, with the value `{}`.",
                place_noun(place.location),
                place.name,
                place.value
            );
            let scheme = json!({
                "type": "apiKey",
                "in": location(place.location),
                "name": place.name,
                "description": description,
                "x-latchkey-inject": {
                    "in": location(place.location),
                    "name": place.name,
                    "value": place.value,
                },
            });
            (additional_scheme_name(index), scheme)
        })
        .collect()
}

fn place_noun(location: InjectLocation) -> &'static str {
    match location {
        InjectLocation::Header => "header",
        InjectLocation::Query => "query parameter",
        InjectLocation::PathSegment => "path segment",
        InjectLocation::JsonBody => "body member",
    }
}

/// Describes an API key by where it is sent. A key sent as
/// `Authorization: Bearer <key>` is an HTTP bearer scheme, as RFC 6750
/// defines it; any other header or prefix, such as `Token <key>`, is an
/// `apiKey` scheme whose description gives the value's format.
fn api_key_scheme(inject: &Inject, label: &str) -> Value {
    let entered = format!("{label} that the end user enters");
    if is_bearer_header(inject, "api_key") {
        return json!({
            "type": "http",
            "scheme": "bearer",
            "description": format!("{entered}, sent as a bearer token."),
        });
    }
    let sent = if is_bare_variable(&inject.value, "api_key") {
        "sent as is".to_owned()
    } else {
        format!(
            "sent in the format `{}`, where `{{{{ api_key }}}}` is the key",
            inject.value
        )
    };
    injected_scheme(inject, &format!("{entered}, {sent}."))
}

/// Returns whether `inject` sends only `variable` in the `Authorization`
/// header after the `Bearer` scheme name, which HTTP compares without
/// regard to case.
fn is_bearer_header(inject: &Inject, variable: &str) -> bool {
    if inject.location != InjectLocation::Header
        || !inject.name.eq_ignore_ascii_case("authorization")
    {
        return false;
    }
    let value = inject.value.trim();
    let Some((scheme, rest)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && is_bare_variable(rest, variable)
}

/// Returns whether `template` is only the placeholder of `variable`.
fn is_bare_variable(template: &str, variable: &str) -> bool {
    template
        .trim()
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        .is_some_and(|inner| inner.trim() == variable)
}

fn simple(scheme: Value) -> ProviderSecurity {
    ProviderSecurity {
        scheme,
        scopes: Vec::new(),
        additional: Vec::new(),
    }
}

fn template(provider: &Provider, field: &str, text: &str) -> Result<UrlTemplate, Error> {
    UrlTemplate::parse(provider, field, text)
}

fn scope_separator_note(separator: &str) -> String {
    if separator == " " {
        "Scopes are joined with a space.".to_owned()
    } else {
        format!("Scopes are joined with `{separator}`.")
    }
}

fn scope_map(scopes: &[String]) -> Value {
    let map: serde_json::Map<String, Value> = scopes
        .iter()
        .map(|scope| (scope.clone(), json!("Requested by default.")))
        .collect();
    Value::Object(map)
}

fn add_url_template(flow: &mut Value, key: &str, url: &UrlTemplate) {
    if url.is_templated() {
        flow[key] = json!(url.openapi_notation());
    }
}

fn add_fallbacks(
    provider: &Provider,
    flow: &mut Value,
    field: &str,
    key: &str,
    fallbacks: &[String],
) -> Result<(), Error> {
    if fallbacks.is_empty() {
        return Ok(());
    }
    let mut urls = Vec::new();
    for (index, fallback) in fallbacks.iter().enumerate() {
        let url = template(provider, &format!("{field}[{index}]"), fallback)?;
        urls.push(url.openapi_notation());
    }
    flow[key] = json!(urls);
    Ok(())
}

/// Explains, for templated OAuth URLs, that the flow's URLs are examples.
fn templated_url_note(urls: &[&UrlTemplate]) -> &'static str {
    if urls.iter().any(|url| url.is_templated()) {
        " The flow's URLs depend on the connection config: they show the server variables' \
         defaults, and the `x-latchkey-*-url-template` extensions give the templates."
    } else {
        ""
    }
}

/// Adds the credential's placement when it is not the standard bearer header.
fn add_inject(scheme: &mut Value, inject: &Inject) {
    if *inject != Inject::bearer_default() {
        scheme["x-latchkey-inject"] = inject_json(inject);
    }
}

/// Describes a credential that the proxy appends to the base URL's path as
/// one segment, because OpenAPI has no security scheme for it. Returns
/// `None` for a credential placed elsewhere.
pub(crate) fn path_credential(provider: &Provider) -> Option<Value> {
    let inject = provider.auth.inject();
    (inject.location == InjectLocation::PathSegment).then(|| {
        json!({
            "description": "The credential is appended to the upstream base URL's path as one segment, so a direct call carries it in the URL. Through the proxy, Latchkey adds it.",
            "value": inject.value,
        })
    })
}

/// Describes the credential of a `two_step` or `session` definition with
/// `caller_places_token`, or of an `api_key` one with `caller_places_key`,
/// which the caller writes into its own requests because the proxy
/// attaches none. Returns `None` for any other definition.
pub(crate) fn caller_credential(provider: &Provider) -> Option<Value> {
    match &provider.auth {
        Auth::TwoStep(settings) | Auth::Session(settings) if settings.caller_places_token => {
            Some(json!({
                "description": "The proxy attaches no credential. The caller reads the token as `credentials.token` from `GET /connections/{connectionId}`, which obtains a new one first when it is due, and writes it into its own request, for example inside an XML body.",
                "connection_field": "credentials.token",
            }))
        }
        Auth::ApiKey(settings) if settings.caller_places_key => Some(json!({
            "description": "The proxy attaches no credential. The caller reads the key as `credentials.apiKey` from `GET /connections/{connectionId}` and writes it into its own request, for example as a form field.",
            "connection_field": "credentials.apiKey",
        })),
        _ => None,
    }
}

/// Describes a credential that the proxy sets as a member of the JSON
/// object body, because OpenAPI has no security scheme for it. Returns
/// `None` for a credential placed elsewhere.
pub(crate) fn body_credential(provider: &Provider) -> Option<Value> {
    let inject = provider.auth.inject();
    let first = (inject.location == InjectLocation::JsonBody)
        .then(|| (inject.name.clone(), inject.value.clone()));
    let places: Vec<(String, String)> = first
        .into_iter()
        .chain(
            inject
                .additional
                .iter()
                .filter(|place| place.location == InjectLocation::JsonBody)
                .map(|place| (place.name.clone(), place.value.clone())),
        )
        .collect();
    let (path, value) = places.first()?.clone();
    let mut credential = json!({
        "description": "The credential is a member of the JSON object body, at the dot-separated path `path`, so a direct call carries it in the body. Through the proxy, Latchkey sets it, replacing the caller's member at that path. `places` lists every body member that carries a credential.",
        "path": path,
        "value": value,
    });
    credential["places"] = places
        .iter()
        .map(|(path, value)| json!({"path": path, "value": value}))
        .collect();
    Some(credential)
}

/// Returns whether a place of the credential is used only for some
/// connection-config value, or takes its name from the connection config.
pub(crate) fn has_chosen_places(inject: &Inject) -> bool {
    inject
        .places()
        .iter()
        .any(|place| place.when.is_some() || latchkey_catalog::name_variable(place.name).is_some())
}

/// Describes a credential whose places depend on the connection config,
/// because an OpenAPI security scheme has one fixed place and name.
/// Returns `None` for a credential with fixed places.
pub(crate) fn chosen_credential(provider: &Provider) -> Option<Value> {
    if !provider.auth.injects_credential() || provider.auth.signs_requests() {
        return None;
    }
    let inject = provider.auth.inject();
    if !has_chosen_places(&inject) {
        return None;
    }
    let places: Vec<Value> = inject
        .places()
        .iter()
        .map(|place| {
            let mut described =
                json!({ "in": location(place.location), "name": place.name, "value": place.value });
            if let Some(when) = place.when {
                described["when"] = json!({ "field": when.field, "equals": when.equals });
            }
            described
        })
        .collect();
    Some(json!({
        "description": "Where the credential goes depends on the connection's configuration: a place with `when` is used only when the connection-config field `when.field` has the value `when.equals`, and a name written `{{ KEY }}` is the value of the connection-config field `KEY`. Through the proxy, Latchkey adds it.",
        "places": places,
    }))
}

/// Describes the placement of a credential, with the further placements of
/// `inject.additional` under `additional`, each also a scheme of its own.
fn inject_json(inject: &Inject) -> Value {
    let mut placement = json!({
        "in": location(inject.location),
        "name": inject.name,
        "value": inject.value,
    });
    if !inject.additional.is_empty() {
        let additional: Vec<Value> = inject
            .additional
            .iter()
            .map(|place| {
                json!({
                    "in": location(place.location),
                    "name": place.name,
                    "value": place.value,
                })
            })
            .collect();
        placement["additional"] = Value::Array(additional);
    }
    placement
}

fn location(location: InjectLocation) -> &'static str {
    match location {
        InjectLocation::Header => "header",
        InjectLocation::Query => "query",
        InjectLocation::PathSegment => "path",
        InjectLocation::JsonBody => "body",
    }
}

/// Describes a token sent as `Authorization: Bearer` as an HTTP bearer
/// scheme, and one sent elsewhere as an API key in that place.
fn token_scheme(inject: &Inject, description: &str) -> Value {
    if *inject == Inject::bearer_default() {
        json!({ "type": "http", "scheme": "bearer", "description": description })
    } else {
        let sent = if is_bare_variable(&inject.value, "access_token") {
            "It is sent as is.".to_owned()
        } else {
            format!("It is sent as `{}`.", inject.value)
        };
        injected_scheme(inject, &format!("{description} {sent}"))
    }
}

fn injected_scheme(inject: &Inject, description: &str) -> Value {
    json!({
        "type": "apiKey",
        "in": location(inject.location),
        "name": inject.name,
        "description": description,
        "x-latchkey-inject": inject_json(inject),
    })
}

fn signature_scheme(location: SignatureLocation, description: &str) -> Value {
    match location {
        SignatureLocation::Header => json!({
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": description,
        }),
        SignatureLocation::Query => json!({
            "type": "apiKey",
            "in": "query",
            "name": "oauth_signature",
            "description": format!("{description} The OAuth parameters go in the query string."),
        }),
    }
}

/// Describes a `signature` mode by the first header, or else the first
/// query parameter, that carries the signature, falling back to the first
/// header or parameter when no template reads `signature` (the catalog
/// checks reject such a file). A definition with neither is an error.
fn request_signature_scheme(provider: &Provider, settings: &Signature) -> Result<Value, Error> {
    let header = signature_carrier(&settings.headers).or(settings.headers.keys().next());
    let parameter = signature_carrier(&settings.query).or(settings.query.keys().next());
    let (place, name) = match (header, parameter) {
        (Some(header), _) => ("header", header),
        (None, Some(parameter)) => ("query", parameter),
        (None, None) => {
            return Err(Error::OpenApi {
                provider: provider.name.clone(),
                field: "auth.headers".to_owned(),
                reason: "a `signature` definition must send the signature in at least one \
                         header or query parameter (`auth.headers` or `auth.query`); add one"
                    .to_owned(),
            })
        }
    };
    let mut headers: Vec<&str> = settings.headers.keys().map(String::as_str).collect();
    headers.extend(settings.query.keys().map(String::as_str));
    Ok(json!({
        "type": "apiKey",
        "in": place,
        "name": name,
        "description": format!(
            "A signature (`{}`) over `{}`, computed by Latchkey for each request with the key that the end user enters, and sent in {}.",
            json!(settings.algorithm).as_str().unwrap_or_default(),
            settings.string_to_sign,
            code_list(&headers),
        ),
        "x-latchkey-signature": {
            "algorithm": settings.algorithm,
            "headers": settings.headers,
            "query": settings.query,
            "stringToSign": settings.string_to_sign,
        },
    }))
}

/// Returns the first name whose template reads `signature`.
fn signature_carrier(templates: &BTreeMap<String, String>) -> Option<&String> {
    templates
        .iter()
        .find(|(_, template)| reads_signature(template))
        .map(|(name, _)| name)
}

/// Checks whether a template reads the `signature` variable inside one of
/// its `{{ ... }}` expressions.
fn reads_signature(template: &str) -> bool {
    template.split("{{").skip(1).any(|rest| {
        let expression = rest.split("}}").next().unwrap_or_default();
        expression
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == "signature")
    })
}

fn mcp_security(
    provider: &Provider,
    settings: &McpOAuth2,
    variables: &ServerVariables,
) -> Result<ProviderSecurity, Error> {
    let server = settings
        .server_url
        .as_deref()
        .map(|url| template(provider, "auth.server_url", url))
        .transpose()?;
    let mut description = "OAuth 2.0 for an MCP server".to_owned();
    if let Some(server) = &server {
        description.push_str(&format!(" at `{}`", server.openapi_notation()));
    }
    if let (Some(authorization), Some(token)) = (&settings.authorization_url, &settings.token_url) {
        let authorization = template(provider, "auth.authorization_url", authorization)?;
        let token = template(provider, "auth.token_url", token)?;
        let mut flow = json!({
            "authorizationUrl": authorization.with_defaults(variables),
            "tokenUrl": token.with_defaults(variables),
            "scopes": scope_map(&settings.default_scopes),
        });
        add_url_template(
            &mut flow,
            "x-latchkey-authorization-url-template",
            &authorization,
        );
        add_url_template(&mut flow, "x-latchkey-token-url-template", &token);
        let mut scheme = json!({
            "type": "oauth2",
            "description": format!("{description}, with PKCE (S256) and the `resource` parameter (RFC 8707)."),
            "flows": { "authorizationCode": flow },
        });
        add_inject(&mut scheme, &provider.auth.inject());
        return Ok(ProviderSecurity {
            scheme,
            scopes: settings.default_scopes.clone(),
            additional: Vec::new(),
        });
    }
    // Without fixed endpoints there is no URL to put in an OAuth flow: the
    // endpoints are discovered per connection, so the result is described
    // as the bearer token it produces.
    let mut scheme = token_scheme(
        &provider.auth.inject(),
        &format!(
            "{description}. Latchkey discovers the authorization server (RFC 9728, RFC 8414) and registers a client (RFC 7591); the resulting access token is sent with each request."
        ),
    );
    if let Some(server) = &server {
        scheme["x-latchkey-mcp-server-url"] = json!(server.openapi_notation());
    }
    Ok(ProviderSecurity {
        scheme,
        scopes: Vec::new(),
        additional: Vec::new(),
    })
}

/// Rewrites the OAuth 2.0 scheme of an `admin_consent` definition: an
/// administrator consents once at the authorization URL, whose callback
/// carries no code, and the token comes from the client-credentials grant
/// at the token URL.
fn describe_admin_consent(
    scheme: &mut Value,
    consent: &AdminConsent,
    authorization: &UrlTemplate,
    token: &UrlTemplate,
    variables: &ServerVariables,
) {
    let flow = scheme["flows"]["authorizationCode"].take();
    let mut client_credentials = json!({
        "tokenUrl": token.with_defaults(variables),
        "scopes": flow["scopes"].clone(),
    });
    add_url_template(
        &mut client_credentials,
        "x-latchkey-token-url-template",
        token,
    );
    scheme["flows"] = json!({ "clientCredentials": client_credentials });
    scheme["description"] = json!(format!(
        "Admin consent: an administrator grants the application access to a tenant at `{}`, whose redirect carries the tenant in `{}` and no code. Latchkey then obtains the token with the OAuth 2.0 client-credentials grant at the token URL, and renews it the same way.",
        authorization.openapi_notation(),
        consent.tenant_param,
    ));
    scheme["x-latchkey-admin-consent"] = json!({
        "authorization_url": authorization.with_defaults(variables),
        "tenant_param": consent.tenant_param,
        "tenant_config_key": consent.tenant_config_key,
    });
}

fn code_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY_KEY: &str = "name: p\ndisplay_name: P\nauth:\n  mode: api_key\n  inject:\n    location: json_body\n    name: auth.key\n    value: \"{{ api_key }}\"\nproxy:\n  base_url: https://p.example\n";

    #[test]
    fn admin_consent_described() {
        let source = "name: p\ndisplay_name: P\nauth:\n  mode: oauth2\n  authorization_url: https://login.p.example/common/adminconsent\n  token_url: https://login.p.example/common/token\n  default_scopes: [\"https://api.p.example/.default\"]\n  admin_consent: {}\nproxy:\n  base_url: https://api.p.example\n";
        let provider = latchkey_catalog::parse_provider("p.yaml", source).expect("valid file");
        let variables = ServerVariables::default();

        let security = provider_security(&provider, &variables)
            .expect("no codegen error")
            .expect("a scheme");

        let flows = &security.scheme["flows"];
        assert!(flows.get("authorizationCode").is_none(), "{flows}");
        let flow = &flows["clientCredentials"];
        assert_eq!(flow["tokenUrl"], "https://login.p.example/common/token");
        assert!(flow["scopes"]
            .get("https://api.p.example/.default")
            .is_some());
        let consent = &security.scheme["x-latchkey-admin-consent"];
        assert_eq!(
            consent["authorization_url"],
            "https://login.p.example/common/adminconsent"
        );
        assert_eq!(consent["tenant_param"], "tenant");
        let description = security.scheme["description"].as_str().unwrap();
        assert!(
            description.contains("client-credentials grant"),
            "{description}"
        );
    }

    #[test]
    fn caller_placed_token_described() {
        let source = "name: p\ndisplay_name: P\nauth:\n  mode: two_step\n  credentials:\n    user: {title: User}\n  token_request:\n    url: https://p.example/login\n    params: {user: \"{{ user }}\"}\n  caller_places_token: true\nproxy:\n  base_url: https://p.example\n";
        let provider = latchkey_catalog::parse_provider("p.yaml", source).expect("valid file");
        let variables = ServerVariables::default();

        let security = provider_security(&provider, &variables).expect("no codegen error");

        assert!(security.is_none(), "the proxy attaches no credential");
        let credential = caller_credential(&provider).expect("a caller credential");
        assert_eq!(credential["connection_field"], "credentials.token");
        let bearer = latchkey_catalog::parse_provider(
            "p.yaml",
            &source.replace("  caller_places_token: true\n", ""),
        )
        .expect("valid file");
        assert!(caller_credential(&bearer).is_none());
        assert!(provider_security(&bearer, &variables)
            .expect("no codegen error")
            .is_some());
    }

    #[test]
    fn body_credential_described() {
        let provider = latchkey_catalog::parse_provider("p.yaml", BODY_KEY).expect("valid file");
        let variables = ServerVariables::default();
        let security = provider_security(&provider, &variables).expect("no codegen error");
        assert!(
            security.is_none(),
            "OpenAPI has no scheme for a body member"
        );

        let credential = body_credential(&provider).expect("a body credential");
        assert_eq!(credential["path"], "auth.key");
        assert_eq!(credential["value"], "{{ api_key }}");
        assert!(path_credential(&provider).is_none());
    }

    const JWT_CHAIN: &str = r#"name: p
display_name: P
connection_config:
  host: { title: Host, pattern: "[a-z0-9-]+" }
auth:
  mode: jwt
  algorithm: RS256
  credentials:
    private_key: { title: Private key, secret: true }
  signing_key: "{{ credentials.private_key }}"
  lifetime_seconds: 300
  token_url: "https://{{ host }}.p.example/token"
  steps:
    - url: "https://{{ host }}.p.example/api/token"
      method: GET
      headers: { Authorization: "Bearer {{ step1.access_token }}" }
  token_response: { access_token: apiToken }
proxy:
  base_url: https://api.p.example
"#;

    #[test]
    fn jwt_steps_described() {
        let provider = latchkey_catalog::parse_provider("p.yaml", JWT_CHAIN).expect("valid file");
        let variables = ServerVariables::default();

        let security = provider_security(&provider, &variables)
            .expect("no codegen error")
            .expect("a bearer scheme");

        let description = security.scheme["description"].as_str().unwrap();
        assert!(
            description.contains("exchanged at `https://{host}.p.example/token`"),
            "{description}"
        );
        assert!(
            description.contains("that one further request trades for the token in use"),
            "{description}"
        );
    }

    const ED25519_SIGNATURE: &str = r#"name: p
display_name: P
auth:
  mode: signature
  algorithm: ed25519
  string_to_sign: "{{ method }} {{ target_uri }}"
  encoding: base64
  headers:
    authorization: 'Signature keyid="{{ username }}"'
    signature: "sig=:{{ signature }}:"
proxy:
  base_url: https://p.example
"#;

    #[test]
    fn signature_scheme_names_carrier() {
        let provider =
            latchkey_catalog::parse_provider("p.yaml", ED25519_SIGNATURE).expect("valid file");

        let scheme = request_signature_scheme(
            &provider,
            match &provider.auth {
                Auth::Signature(settings) => settings,
                _ => unreachable!("the fixture is a signature file"),
            },
        )
        .expect("no codegen error");

        assert_eq!(scheme["in"], "header");
        assert_eq!(scheme["name"], "signature");
        assert_eq!(scheme["x-latchkey-signature"]["algorithm"], "ed25519");
        let description = scheme["description"].as_str().unwrap();
        assert!(
            description.starts_with("A signature (`ed25519`)"),
            "{description}"
        );
    }

    #[test]
    fn reads_signature_table() {
        let cases = [
            ("{{ signature }}", true),
            ("sig=:{{signature}}:", true),
            ("Basic {{ (username ~ ':' ~ signature) | base64 }}", true),
            ("Signature keyid=\"{{ username }}\"", false),
            ("{{ signature_version }}", false),
            ("signature", false),
        ];
        for (template, expected) in cases {
            assert_eq!(reads_signature(template), expected, "{template}");
        }
    }
}
