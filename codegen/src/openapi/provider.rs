//! The OpenAPI 3.1 document of one provider. Its top-level `servers` are
//! the provider's base URL and fallbacks, and its top-level `security` is
//! the provider's own scheme, so the operations under `/{path}` (and the
//! verification request at its own path) describe calls made directly to
//! the provider. The same operations under `/proxy/` name the Latchkey
//! server in their path items and Latchkey's secret key in their
//! `security`, so they override both for calls through the proxy, and
//! neither route hides the other.

use latchkey_catalog::{InjectLocation, Provider, Verification};
use serde_json::{json, Value};

use super::security::{
    additional_scheme_name, body_credential, caller_credential, chosen_credential,
    has_chosen_places, path_credential, provider_security, LATCHKEY_SCHEME, PROVIDER_SCHEME,
};
use super::url_template::{ServerVariables, UrlTemplate};
use super::{error_schema, OPENAPI_VERSION};
use crate::Error;

/// Methods of the pass-through path: every method OpenAPI 3.1 has a field
/// for except TRACE, which the proxy rejects with 405.
const PASS_THROUGH_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// The path prefix of the proxy's operations, under the Latchkey server's
/// base URL.
const PROXY_PREFIX: &str = "/proxy";

/// The destination of an operation: the provider's API, called directly
/// with the document's servers and its `providerAuth` requirement, or the
/// Latchkey proxy, whose path items name the Latchkey server.
#[derive(Clone, Copy)]
enum Route<'a> {
    Upstream,
    Proxy(&'a Value),
}

/// Default of the `latchkeyUrl` server variable: the address `latchkey
/// serve` listens on when `--listen` is not given.
const DEFAULT_LATCHKEY_URL: &str = "http://127.0.0.1:3003";

pub(crate) fn document(provider: &Provider, catalog_version: &str) -> Result<Value, Error> {
    let base = UrlTemplate::parse(provider, "proxy.base_url", &provider.proxy.base_url)?;
    let mut upstreams = vec![base];
    for (index, fallback) in provider.proxy.base_url_fallbacks.iter().enumerate() {
        let field = format!("proxy.base_url_fallbacks[{index}]");
        upstreams.push(UrlTemplate::parse(provider, &field, fallback)?);
    }
    let oauth_templates = oauth_url_templates(provider)?;
    let mut all_templates: Vec<&UrlTemplate> = upstreams.iter().collect();
    all_templates.extend(oauth_templates.iter());
    let variables = ServerVariables::collect(provider, &all_templates);

    let security = provider_security(provider, &variables)?;
    let proxy_server = proxy_server();
    let mut servers = Vec::new();
    for (index, upstream) in upstreams.iter().enumerate() {
        let description = if index == 0 {
            format!(
                "{} upstream, called directly with the provider's own credential.",
                provider.display_name
            )
        } else {
            format!(
                "{} upstream when the connection config lacks a value that the servers above use (fallback {index}).",
                provider.display_name
            )
        };
        let mut server = json!({ "url": upstream.openapi_notation(), "description": description });
        let server_variables = variables.object_for(upstream);
        if server_variables
            .as_object()
            .is_some_and(|map| !map.is_empty())
        {
            server["variables"] = server_variables;
        }
        servers.push(server);
    }

    let mut schemes = serde_json::Map::new();
    schemes.insert(LATCHKEY_SCHEME.to_owned(), latchkey_scheme());
    let mut root_security = Vec::new();
    if let Some(security) = &security {
        schemes.insert(PROVIDER_SCHEME.to_owned(), security.scheme.clone());
        let mut requirement = serde_json::Map::new();
        requirement.insert(PROVIDER_SCHEME.to_owned(), json!(security.scopes));
        for (name, scheme) in &security.additional {
            schemes.insert(name.clone(), scheme.clone());
            requirement.insert(name.clone(), json!([]));
        }
        root_security.push(Value::Object(requirement));
    }

    let mut paths = serde_json::Map::new();
    paths.insert("/{path}".to_owned(), pass_through_path(Route::Upstream));
    paths.insert(
        format!("{PROXY_PREFIX}/{{path}}"),
        pass_through_path(Route::Proxy(&proxy_server)),
    );
    if let Some(verification) = &provider.proxy.verification {
        for route in [Route::Upstream, Route::Proxy(&proxy_server)] {
            let (path, item) = verification_path(provider, verification, route)?;
            paths.insert(path, item);
        }
    }

    let mut document = json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": format!("{} through Latchkey", provider.display_name),
            "version": catalog_version,
            "description": info_description(provider),
            "x-latchkey-provider": provider.name,
            "x-latchkey-auth-mode": provider.auth.mode_name(),
            "x-latchkey-catalog-version": catalog_version,
        },
        "servers": servers,
        "paths": paths,
        "components": {
            "securitySchemes": schemes,
            "parameters": {
                "ProviderConfigKey": {
                    "name": "Provider-Config-Key",
                    "in": "header",
                    "required": true,
                    "description": "Unique key of the Latchkey integration the connection belongs to.",
                    "schema": { "type": "string" },
                },
                "ConnectionId": {
                    "name": "Connection-Id",
                    "in": "header",
                    "required": true,
                    "description": "Id of the connection whose credential Latchkey attaches.",
                    "schema": { "type": "string" },
                },
            },
            "responses": {
                "LatchkeyError": {
                    "description": "An error of the Latchkey proxy itself (missing header, unknown connection, failed refresh, unreachable upstream) in this shape, or the provider's own error passed through unchanged.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
            "schemas": { "Error": error_schema() },
        },
    });
    if !root_security.is_empty() {
        document["security"] = Value::Array(root_security);
    }
    if let Some(credential) = path_credential(provider) {
        document["x-latchkey-path-credential"] = credential;
    }
    if let Some(credential) = body_credential(provider) {
        document["x-latchkey-body-credential"] = credential;
    }
    if let Some(credential) = chosen_credential(provider) {
        document["x-latchkey-chosen-credential"] = credential;
    }
    if let Some(credential) = caller_credential(provider) {
        document["x-latchkey-caller-credential"] = credential;
    }
    if let Some(categories) = non_empty(&provider.categories) {
        document["info"]["x-latchkey-categories"] = json!(categories);
    }
    if let Some(docs_url) = &provider.docs_url {
        document["externalDocs"] = json!({
            "description": format!("{} documentation", provider.display_name),
            "url": docs_url,
        });
    }
    add_proxy_extensions(provider, &mut document);
    Ok(document)
}

/// Parses every OAuth URL template of the auth mode, so that the variables
/// they use get defaults even when no server URL uses them.
fn oauth_url_templates(provider: &Provider) -> Result<Vec<UrlTemplate>, Error> {
    use latchkey_catalog::Auth;
    let mut fields: Vec<(String, &str)> = Vec::new();
    match &provider.auth {
        Auth::Oauth2(oauth) => {
            fields.push((
                "auth.authorization_url".to_owned(),
                &oauth.authorization_url,
            ));
            fields.push(("auth.token_url".to_owned(), &oauth.token_url));
            if let Some(refresh_url) = &oauth.refresh_url {
                fields.push(("auth.refresh_url".to_owned(), refresh_url));
            }
        }
        Auth::Oauth2ClientCredentials(grant) => {
            fields.push(("auth.token_url".to_owned(), &grant.token_url));
        }
        Auth::McpOauth2(settings) => {
            if let (Some(authorization), Some(token)) =
                (&settings.authorization_url, &settings.token_url)
            {
                fields.push(("auth.authorization_url".to_owned(), authorization));
                fields.push(("auth.token_url".to_owned(), token));
            }
        }
        _ => {}
    }
    fields
        .into_iter()
        .map(|(field, text)| UrlTemplate::parse(provider, &field, text))
        .collect()
}

fn proxy_server() -> Value {
    json!({
        "url": "{latchkeyUrl}",
        "description": "The Latchkey server, whose `/proxy` route forwards each request to the provider with the credential that the provider's definition asks for, so callers need only Latchkey's secret key.",
        "variables": {
            "latchkeyUrl": {
                "default": DEFAULT_LATCHKEY_URL,
                "description": "Base URL of the Latchkey server, without a trailing slash. The default is the address `latchkey serve` listens on without `--listen`.",
            },
        },
    })
}

fn latchkey_scheme() -> Value {
    json!({
        "type": "http",
        "scheme": "bearer",
        "description": "Latchkey's secret key. Operations served through the Latchkey proxy take it in place of the provider's credential.",
    })
}

fn proxy_parameters() -> Vec<Value> {
    vec![
        json!({ "$ref": "#/components/parameters/ProviderConfigKey" }),
        json!({ "$ref": "#/components/parameters/ConnectionId" }),
    ]
}

fn proxy_security() -> Value {
    json!([{ LATCHKEY_SCHEME: [] }])
}

fn proxy_responses() -> Value {
    json!({
        "default": { "description": "The provider's response, passed through unchanged." },
        "4XX": { "$ref": "#/components/responses/LatchkeyError" },
        "5XX": { "$ref": "#/components/responses/LatchkeyError" },
    })
}

/// Describes the `path` parameter of a pass-through operation on both
/// routes.
const PATH_PARAMETER_DESCRIPTION: &str = "Path under the provider's base URL, such as `v1/items`. It may contain `/`, which separates segments and must be sent unencoded, but OpenAPI tools percent-encode a path parameter's `/` as `%2F`: build such a URL by hand, or use the generated Rust client, which sends the path as written. Write `%2F` for a `/` inside one segment, such as GitLab's `group%2Fproject`.";

/// The sentence that the `path` parameter of a proxy operation adds.
const PROXY_PATH_PARAMETER_NOTE: &str = " Latchkey forwards a `%2F` encoded, and rejects a dot segment (`.` or `..`, also percent-encoded, after an encoded `/` or `\\`, or followed by `;`) with status 400 and the code `invalid_proxy_path`.";

fn pass_through_path(route: Route) -> Value {
    let description = match route {
        Route::Upstream => PATH_PARAMETER_DESCRIPTION.to_owned(),
        Route::Proxy(_) => format!("{PATH_PARAMETER_DESCRIPTION}{PROXY_PATH_PARAMETER_NOTE}"),
    };
    let path_parameter = json!({
        "name": "path",
        "in": "path",
        "required": true,
        "description": description,
        "schema": { "type": "string" },
    });
    let mut item = match route {
        Route::Upstream => json!({
            "summary": "Any path of the provider's API, called directly",
            "description": "The provider's own API at `<base URL>/<path>`, called with the provider's credential (`providerAuth`) in place of Latchkey.",
            "parameters": [path_parameter],
        }),
        Route::Proxy(proxy_server) => json!({
            "summary": "Pass-through to any path of the provider's API",
            "description": "Latchkey forwards the method, the query string, the body, `Content-Type` and every `Nango-Proxy-<Name>` header (as `<Name>`) to `<base URL>/<path>`, with the connection's credential attached.",
            "servers": [proxy_server],
            "parameters": [path_parameter],
        }),
    };
    for method in PASS_THROUGH_METHODS {
        let upper = method.to_ascii_uppercase();
        let mut operation = match route {
            Route::Upstream => json!({
                "operationId": format!("upstream{}", capitalized(method)),
                "summary": format!("{upper} on the provider's API"),
                "responses": upstream_responses(),
            }),
            Route::Proxy(_) => json!({
                "operationId": format!("proxy{}", capitalized(method)),
                "summary": format!("{upper} through the proxy"),
                "security": proxy_security(),
                "parameters": proxy_parameters(),
                "responses": proxy_responses(),
            }),
        };
        if matches!(*method, "put" | "post" | "patch") {
            let description = match route {
                Route::Upstream => "The request body, in the format the provider expects.",
                Route::Proxy(_) => "Forwarded as is, with its `Content-Type`.",
            };
            operation["requestBody"] = json!({
                "required": false,
                "description": description,
                "content": { "*/*": { "schema": {} } },
            });
        }
        item[*method] = operation;
    }
    item
}

fn upstream_responses() -> Value {
    json!({ "default": { "description": "The provider's response." } })
}

/// Builds the path item of the provider's verification request. Its query
/// string, if any, becomes required query parameters with fixed values.
fn verification_path(
    provider: &Provider,
    verification: &Verification,
    route: Route,
) -> Result<(String, Value), Error> {
    let (path, query) = match verification.path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (verification.path.as_str(), None),
    };
    if path.contains(['{', '}']) || !path.starts_with('/') {
        return Err(Error::OpenApi {
            provider: provider.name.clone(),
            field: "proxy.verification.path".to_owned(),
            reason: format!(
                "the path `{}` must start with `/` and contain no `{{` or `}}`, which OpenAPI \
                 reads as path parameters; percent-encode them",
                verification.path
            ),
        });
    }

    let mut parameters = match route {
        Route::Upstream => Vec::new(),
        Route::Proxy(_) => proxy_parameters(),
    };
    for pair in query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        parameters.push(json!({
            "name": percent_decode(name),
            "in": "query",
            "required": true,
            "schema": { "type": "string", "const": value },
        }));
    }
    let mut content_type = None;
    for (name, value) in &verification.headers {
        // The proxy forwards `Content-Type` as sent, and OpenAPI ignores a
        // `Content-Type` header parameter, so the description states it.
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
            continue;
        }
        let mut schema = json!({ "type": "string" });
        if !value.contains("{{") {
            schema["const"] = json!(value);
        }
        let (header, description) = match route {
            Route::Upstream => (name.clone(), format!("The definition's value: `{value}`.")),
            Route::Proxy(_) => (
                format!("Nango-Proxy-{name}"),
                format!(
                    "The proxy forwards it upstream as `{name}`. The definition's value: `{value}`."
                ),
            ),
        };
        parameters.push(json!({
            "name": header,
            "in": "header",
            "required": true,
            "description": description,
            "schema": schema,
        }));
    }

    let statuses = if verification.expected_statuses.is_empty() {
        "any 2xx status".to_owned()
    } else {
        let codes: Vec<String> = verification
            .expected_statuses
            .iter()
            .map(u16::to_string)
            .collect();
        format!("status {}", codes.join(" or "))
    };
    let mut description =
        format!("The provider answers with {statuses} when the credential works.");
    if let Some(content_type) = content_type {
        description.push_str(&format!(" Send `Content-Type: {content_type}`."));
    }

    let mut responses = match route {
        Route::Upstream => upstream_responses(),
        Route::Proxy(_) => proxy_responses(),
    };
    let success_statuses: Vec<String> = if verification.expected_statuses.is_empty() {
        vec!["2XX".to_owned()]
    } else {
        verification
            .expected_statuses
            .iter()
            .map(u16::to_string)
            .collect()
    };
    for status in success_statuses {
        responses[status] = json!({ "description": "The credential works." });
    }

    // The method serializes as its uppercase name, as in provider files.
    let method_name = json!(verification.method)
        .as_str()
        .unwrap_or("GET")
        .to_owned();
    let method = method_name.to_ascii_lowercase();
    let mut operation = json!({
        "parameters": parameters,
        "responses": responses,
        "x-latchkey-verification": {
            "method": method_name,
            "path": verification.path,
            "expectedStatuses": verification.expected_statuses,
        },
    });
    let item = match route {
        Route::Upstream => {
            operation["operationId"] = json!("verifyCredentialUpstream");
            operation["summary"] = json!("Check that a credential works, called directly");
            operation["description"] = json!(description);
            json!({ method: operation })
        }
        Route::Proxy(proxy_server) => {
            operation["operationId"] = json!("verifyCredential");
            operation["summary"] = json!("Check that the connection's credential works");
            operation["description"] = json!(description);
            operation["security"] = proxy_security();
            json!({ "servers": [proxy_server], method: operation })
        }
    };
    let path = match route {
        Route::Upstream => path.to_owned(),
        Route::Proxy(_) => format!("{PROXY_PREFIX}{path}"),
    };
    Ok((path, item))
}

fn add_proxy_extensions(provider: &Provider, document: &mut Value) {
    let proxy = &provider.proxy;
    if let Some(retry) = &proxy.retry {
        let mut headers = serde_json::Map::new();
        if !retry.after_headers.is_empty() {
            headers.insert("retryAfterSeconds".to_owned(), json!(retry.after_headers));
        }
        if !retry.reset_at_headers.is_empty() {
            headers.insert(
                "resetAtUnixSeconds".to_owned(),
                json!(retry.reset_at_headers),
            );
        }
        if !headers.is_empty() {
            document["x-latchkey-rate-limit-headers"] = Value::Object(headers);
        }
        if !retry.statuses.is_empty() {
            document["x-latchkey-retryable-statuses"] = json!(retry.statuses);
        }
    }
    if let Some(pagination) = &proxy.pagination {
        document["x-latchkey-pagination"] = json!(pagination);
    }
    if proxy.decompress {
        document["x-latchkey-decompress"] = json!(true);
    }
    if !proxy.headers.is_empty() {
        document["x-latchkey-static-headers"] = json!(proxy.headers);
    }
    if !proxy.query.is_empty() {
        document["x-latchkey-static-query"] = json!(proxy.query);
    }
}

fn info_description(provider: &Provider) -> String {
    let mut text = format!(
        "The {} API (provider `{}`, auth mode `{}`) in two routes. The operations under `/proxy/` go to the Latchkey server (their path items name it as their server): each takes Latchkey's secret key (`latchkeySecretKey`) and the `Provider-Config-Key` and `Connection-Id` headers{}. The other operations go to the provider's own servers, the document's `servers`,",
        provider.display_name,
        provider.name,
        provider.auth.mode_name(),
        if provider.auth.injects_credential() {
            ", and Latchkey attaches the connection's credential"
        } else {
            ""
        }
    );
    if provider.auth.injects_credential() {
        // Only headers and query parameters have OpenAPI schemes; a place in
        // the path or the body is described by an `x-latchkey-` extension.
        let inject = provider.auth.inject();
        let has_scheme = |location: InjectLocation| {
            matches!(location, InjectLocation::Header | InjectLocation::Query)
        };
        let chosen = has_chosen_places(&inject);
        let mut names = Vec::new();
        if chosen {
            // No scheme: the places depend on the connection's values.
        } else if has_scheme(inject.location) {
            names.push(format!("`{PROVIDER_SCHEME}`"));
        }
        for (index, place) in inject.additional.iter().enumerate() {
            if has_scheme(place.location) && !chosen {
                names.push(format!("`{}`", additional_scheme_name(index)));
            }
        }
        let mut extensions = Vec::new();
        if chosen {
            extensions.push("`x-latchkey-chosen-credential`");
        }
        if inject.location == InjectLocation::PathSegment {
            extensions.push("`x-latchkey-path-credential`");
        }
        if inject.location == InjectLocation::JsonBody
            || inject
                .additional
                .iter()
                .any(|place| place.location == InjectLocation::JsonBody)
        {
            extensions.push("`x-latchkey-body-credential`");
        }
        let mut parts = Vec::new();
        if !names.is_empty() {
            parts.push(format!(
                "the document's security requirement {}",
                names.join(" with ")
            ));
        }
        if !extensions.is_empty() {
            parts.push(format!("as {} describes", extensions.join(" and ")));
        }
        text.push_str(&format!(
            " with the provider's credential, {}.",
            parts.join(", and ")
        ));
    } else if caller_credential(provider).is_some() {
        text.push_str(" and take no credential from Latchkey: the caller writes the connection's credential into its own requests, as `x-latchkey-caller-credential` describes.");
    } else {
        text.push_str(" and take no credential.");
    }
    text
}

fn non_empty(values: &[String]) -> Option<&[String]> {
    (!values.is_empty()).then_some(values)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Decodes `%XX` escapes and `+`, as a query string carries them; an
/// invalid escape stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
            if let Some(value) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                decoded.push(value);
                index += 3;
                continue;
            }
        }
        decoded.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::info_description;

    fn described(auth: &str) -> String {
        let source = format!(
            "name: p\ndisplay_name: P\nauth:\n{auth}proxy:\n  base_url: https://p.example\n"
        );
        let provider = latchkey_catalog::parse_provider("p.yaml", &source).expect("valid file");
        info_description(&provider)
    }

    #[test]
    fn only_attached_credentials_are_described_as_attached() {
        let attached = "Latchkey attaches the connection's credential";
        let header_key = described(
            "  mode: api_key\n  inject: {location: header, name: X-Key, value: \"{{ api_key }}\"}\n",
        );
        let caller_key = described("  mode: api_key\n  caller_places_key: true\n");
        let no_credential = described("  mode: none\n");

        assert!(header_key.contains(attached), "{header_key}");
        assert!(!caller_key.contains(attached), "{caller_key}");
        assert!(
            caller_key.contains("the caller writes the connection's credential"),
            "{caller_key}"
        );
        assert!(!no_credential.contains(attached), "{no_credential}");
    }
}
