//! Snapshots of provider OpenAPI documents: one provider per auth mode and
//! one per templating feature, plus the Latchkey API document, and the
//! errors for definitions that OpenAPI cannot express.

use latchkey_catalog::{Catalog, InjectLocation, Provider};
use latchkey_codegen::openapi::{latchkey_api_document, provider_document};
use latchkey_codegen::Error;

const CATALOG_VERSION: &str = "0.1.0";

fn builtin(name: &str) -> Provider {
    let catalog = Catalog::builtin().expect("the built-in catalog loads");
    catalog
        .get(name)
        .unwrap_or_else(|| panic!("no built-in provider `{name}`"))
        .clone()
}

fn document_text(name: &str) -> String {
    provider_document(&builtin(name), CATALOG_VERSION).unwrap()
}

/// One provider per auth mode, with the mode it must have.
const AUTH_MODES: &[(&str, &str)] = &[
    ("asana", "oauth2"),
    ("availity", "oauth2_client_credentials"),
    ("anthropic", "api_key"),
    ("twilio", "basic"),
    ("breezy-hr", "two_step"),
    ("bill", "session"),
    ("open-meteo", "none"),
    ("bybit", "signature"),
    ("aws-s3", "aws_sigv4"),
    ("google-service-account", "jwt"),
    ("notion-mcp", "mcp_oauth2"),
    ("trello", "oauth1"),
    ("netsuite-tba", "tba"),
    ("github-app", "app"),
];

#[test]
fn snapshot_per_auth_mode() {
    for (name, mode) in AUTH_MODES {
        let provider = builtin(name);
        assert_eq!(provider.auth.mode_name(), *mode, "provider `{name}`");
        let text = provider_document(&provider, CATALOG_VERSION).unwrap();
        insta::assert_snapshot!(format!("mode_{mode}"), text);
    }
}

/// One provider per templating feature of the provider format.
const FEATURES: &[(&str, &str)] = &[
    ("url_placeholders", "zendesk"),
    ("url_fallbacks", "amplitude"),
    ("query_credential", "builtwith"),
    ("rate_limits_and_pagination", "notion"),
    ("reset_header_and_link_pagination", "aircall"),
    ("fixed_mcp_endpoints", "airtable-mcp"),
    ("verification_with_query", "attention"),
];

#[test]
fn snapshot_per_templating_feature() {
    for (feature, name) in FEATURES {
        insta::assert_snapshot!(format!("feature_{feature}"), document_text(name));
    }
}

#[test]
fn snapshot_latchkey_api() {
    insta::assert_snapshot!(
        "latchkey_api",
        latchkey_api_document(CATALOG_VERSION).unwrap()
    );
}

#[test]
fn output_is_deterministic_json() {
    let first = document_text("zendesk");
    let second = document_text("zendesk");
    assert_eq!(first, second);
    assert!(first.ends_with("}\n"), "no final newline");
    let parsed: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(parsed["openapi"], "3.1.0");
    assert_eq!(parsed["info"]["version"], CATALOG_VERSION);

    let api_first = latchkey_api_document(CATALOG_VERSION).unwrap();
    assert_eq!(api_first, latchkey_api_document(CATALOG_VERSION).unwrap());
    assert!(api_first.ends_with("}\n"), "no final newline");
}

/// Checks the two routes of every provider document. The top-level servers
/// are the upstream ones, without template syntax, and the top-level
/// security is the provider's scheme, which the operations outside
/// `/proxy/` use as they are. Every path under `/proxy/` names the Latchkey
/// server, and each of its operations takes the secret key and the two
/// headers. OAuth flows have plain https URLs.
#[test]
fn every_builtin_document_has_both_routes() {
    let catalog = Catalog::builtin().unwrap();
    for provider in catalog.providers() {
        let text = provider_document(provider, CATALOG_VERSION).unwrap();
        let name = &provider.name;
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        let servers = document["servers"].as_array().unwrap();
        assert!(!servers.is_empty(), "provider `{name}`: no upstream server");
        for server in servers {
            let url = server["url"].as_str().unwrap();
            assert!(
                !url.contains("{{") && !url.contains("latchkeyUrl"),
                "provider `{name}`: server `{url}` is not an upstream URL"
            );
        }
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.contains_key("/{path}"), "provider `{name}`");
        assert!(paths.contains_key("/proxy/{path}"), "provider `{name}`");
        let verifications = usize::from(provider.proxy.verification.is_some());
        assert_eq!(paths.len(), 2 + 2 * verifications, "provider `{name}`");
        for (path, item) in paths {
            let through_proxy = path.starts_with("/proxy/");
            if through_proxy {
                assert_eq!(
                    item["servers"],
                    serde_json::json!([{
                        "url": "{latchkeyUrl}",
                        "description": "The Latchkey server, whose `/proxy` route forwards each request to the provider with the credential that the provider's definition asks for, so callers need only Latchkey's secret key.",
                        "variables": {"latchkeyUrl": {
                            "default": "http://127.0.0.1:3003",
                            "description": "Base URL of the Latchkey server, without a trailing slash. The default is the address `latchkey serve` listens on without `--listen`.",
                        }},
                    }]),
                    "provider `{name}`, {path}"
                );
            } else {
                assert!(
                    item.get("servers").is_none(),
                    "provider `{name}`, {path}: the upstream servers are hidden"
                );
            }
            for (method, operation) in item.as_object().unwrap() {
                if matches!(
                    method.as_str(),
                    "servers" | "parameters" | "summary" | "description"
                ) {
                    continue;
                }
                let context = format!("provider `{name}`, {method} {path}");
                let parameters = operation["parameters"].to_string();
                if through_proxy {
                    assert_eq!(
                        operation["security"],
                        serde_json::json!([{ "latchkeySecretKey": [] }]),
                        "{context}"
                    );
                    assert!(parameters.contains("ProviderConfigKey"), "{context}");
                    assert!(parameters.contains("ConnectionId"), "{context}");
                } else {
                    assert!(
                        operation.get("security").is_none(),
                        "{context}: the provider's security is overridden"
                    );
                    assert!(!parameters.contains("ProviderConfigKey"), "{context}");
                    assert!(!parameters.contains("Nango-Proxy-"), "{context}");
                }
            }
        }
        let has_scheme = document["components"]["securitySchemes"]
            .get("providerAuth")
            .is_some();
        // A credential in the URL path or the JSON body, or one whose places
        // depend on the connection config, has no OpenAPI scheme; the
        // document describes it in `x-latchkey-path-credential`,
        // `x-latchkey-body-credential` or `x-latchkey-chosen-credential`.
        let in_path = document.get("x-latchkey-path-credential").is_some();
        let in_body = document.get("x-latchkey-body-credential").is_some();
        let chosen = document.get("x-latchkey-chosen-credential").is_some();
        assert!(
            !(chosen && has_scheme),
            "provider `{name}`: chosen places and a scheme"
        );
        assert_eq!(
            has_scheme || in_path || in_body || chosen,
            provider.auth.injects_credential(),
            "provider `{name}`"
        );
        // A first place in the path or the body leaves no scheme; a body
        // member among further places sits beside the scheme of the first.
        let first_outside_scheme = matches!(
            provider.auth.inject().location,
            InjectLocation::PathSegment | InjectLocation::JsonBody
        );
        let description = document["info"]["description"].as_str().unwrap_or_default();
        assert_eq!(
            description.contains("`providerAuth`"),
            has_scheme,
            "provider `{name}`: the description and the schemes disagree: {description}"
        );
        if (in_path || in_body) && first_outside_scheme {
            assert!(
                !has_scheme,
                "provider `{name}`: a path or body credential and a scheme"
            );
        }
        if has_scheme {
            assert!(
                document["security"][0]["providerAuth"].is_array(),
                "provider `{name}`: no top-level `providerAuth` requirement"
            );
        } else {
            assert!(document.get("security").is_none(), "provider `{name}`");
        }
        for flow in document["components"]["securitySchemes"]["providerAuth"]["flows"]
            .as_object()
            .into_iter()
            .flat_map(|flows| flows.values())
        {
            for key in ["authorizationUrl", "tokenUrl", "refreshUrl"] {
                if let Some(url) = flow[key].as_str() {
                    assert!(
                        url.starts_with("https://") && !url.contains(['{', '}', ' ']),
                        "provider `{name}`: {key} `{url}` is not a plain https URL"
                    );
                }
            }
        }
    }
}

/// The `path` parameter describes how a `/` in it is sent on both routes,
/// and which paths Latchkey rejects on the proxy route.
#[test]
fn path_parameter_explains_encoding() {
    let document: serde_json::Value = serde_json::from_str(&document_text("zendesk")).unwrap();
    for path in ["/{path}", "/proxy/{path}"] {
        let parameter = &document["paths"][path]["parameters"][0];
        assert_eq!(parameter["name"], "path", "{path}");
        let description = parameter["description"].as_str().unwrap();
        for fact in ["sent unencoded", "`%2F`", "group%2Fproject"] {
            assert!(
                description.contains(fact),
                "{path}: `{fact}` missing from {description}"
            );
        }
        let through_proxy = path.starts_with("/proxy/");
        assert_eq!(
            description.contains("invalid_proxy_path"),
            through_proxy,
            "{path}: {description}"
        );
    }
}

#[test]
fn assume_role_scheme_names_sts() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/features/aws-assume-role.yaml"
    );
    let source = std::fs::read_to_string(path).unwrap();
    let provider = latchkey_catalog::parse_provider("aws-assume-role.yaml", &source).unwrap();

    let text = provider_document(&provider, CATALOG_VERSION).unwrap();

    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    let descriptions: Vec<&str> = schemes
        .values()
        .filter_map(|scheme| scheme["description"].as_str())
        .collect();
    assert!(
        descriptions
            .iter()
            .any(|text| text.contains("AWS STS AssumeRole for the IAM role ARN")),
        "{descriptions:?}"
    );
    assert!(
        !descriptions
            .iter()
            .any(|text| text.contains("access key that the end user enters")),
        "{descriptions:?}"
    );
}

#[test]
fn server_variables_describe_defaults() {
    let document: serde_json::Value = serde_json::from_str(&document_text("zendesk")).unwrap();
    let upstream = &document["servers"][0];
    assert_eq!(upstream["url"], "https://{subdomain}.zendesk.com");
    let variable = &upstream["variables"]["subdomain"];
    assert_eq!(variable["default"], "acme");
    let description = variable["description"].as_str().unwrap();
    assert!(description.contains("example"), "{description}");

    let document: serde_json::Value = serde_json::from_str(&document_text("amplitude")).unwrap();
    let hostname = &document["servers"][0]["variables"]["hostname"];
    let allowed = serde_json::json!(["amplitude.com", "analytics.eu.amplitude.com"]);
    assert_eq!(hostname["enum"], allowed);
    assert_eq!(hostname["default"], "amplitude.com");
    assert_eq!(document["servers"][1]["url"], "https://amplitude.com");
}

fn expect_openapi_error(provider: &Provider, field: &str, detail: &str) {
    let error = provider_document(provider, CATALOG_VERSION).unwrap_err();
    let message = error.to_string();
    match &error {
        Error::OpenApi {
            provider: name,
            field: error_field,
            ..
        } => {
            assert_eq!(name, &provider.name, "{message}");
            assert_eq!(error_field, field, "{message}");
        }
        other => panic!("expected Error::OpenApi, got {other:?}"),
    }
    assert!(message.contains(&provider.name), "{message}");
    assert!(message.contains(field), "{message}");
    assert!(message.contains(detail), "{message}");
}

#[test]
fn expression_in_base_url_is_rejected() {
    let mut provider = builtin("zendesk");
    provider.proxy.base_url = "https://{{ subdomain | lower }}.zendesk.com".to_owned();
    expect_openapi_error(&provider, "proxy.base_url", "subdomain | lower");
}

#[test]
fn block_syntax_in_fallback_is_rejected() {
    let mut provider = builtin("amplitude");
    provider.proxy.base_url_fallbacks = vec!["https://{% if region %}x{% endif %}.io".to_owned()];
    expect_openapi_error(&provider, "proxy.base_url_fallbacks[0]", "block syntax");
}

#[test]
fn undeclared_variable_in_token_url_is_rejected() {
    let mut provider = builtin("asana");
    let latchkey_catalog::Auth::Oauth2(oauth) = &mut provider.auth else {
        panic!("asana is not oauth2");
    };
    oauth.token_url = "https://{{ tenant }}.asana.com/oauth_token".to_owned();
    expect_openapi_error(
        &provider,
        "auth.token_url",
        "not a key of `connection_config`",
    );
}

#[test]
fn literal_brace_in_url_is_rejected() {
    let mut provider = builtin("asana");
    provider.proxy.base_url = "https://app.asana.com/api/}".to_owned();
    expect_openapi_error(&provider, "proxy.base_url", "literal `}`");
}

#[test]
fn braces_in_verification_path_are_rejected() {
    let mut provider = builtin("attention");
    let verification = provider
        .proxy
        .verification
        .as_mut()
        .expect("attention has a verification request");
    verification.path = "/v1/users/{id}".to_owned();
    expect_openapi_error(&provider, "proxy.verification.path", "/v1/users/{id}");
}

#[test]
fn signature_without_target_is_rejected() {
    let mut provider = builtin("bybit");
    let latchkey_catalog::Auth::Signature(signature) = &mut provider.auth else {
        panic!("bybit is not signature");
    };
    signature.headers.clear();
    signature.query.clear();
    expect_openapi_error(&provider, "auth.headers", "at least one");
}

fn operation_parameter<'a>(
    operation: &'a serde_json::Value,
    name: &str,
) -> Option<&'a serde_json::Value> {
    operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == name)
}

#[test]
fn verification_query_becomes_parameters() {
    let document: serde_json::Value = serde_json::from_str(&document_text("attention")).unwrap();
    let direct = &document["paths"]["/v2/conversations"]["get"];
    let size = operation_parameter(direct, "size").expect("no direct `size` parameter");
    assert_eq!(size["schema"]["const"], "1");
    assert!(direct.get("security").is_none(), "{direct}");
    let operation = &document["paths"]["/proxy/v2/conversations"]["get"];
    let size = operation_parameter(operation, "size").expect("no `size` parameter");
    assert_eq!(size["in"], "query");
    assert_eq!(size["schema"]["const"], "1");
    assert!(operation_parameter(operation, "Nango-Proxy-content-type").is_none());
    let description = operation["description"].as_str().unwrap();
    assert!(
        description.contains("Content-Type: application/json"),
        "{description}"
    );

    let document: serde_json::Value = serde_json::from_str(&document_text("fireflies")).unwrap();
    let operation = &document["paths"]["/proxy/graphql"];
    let method = ["get", "post"]
        .into_iter()
        .find(|method| operation.get(*method).is_some())
        .expect("no verification operation");
    let query = operation_parameter(&operation[method], "query").expect("no `query` parameter");
    assert_eq!(query["schema"]["const"], "{__schema{types{name}}}");
}

/// Returns the `providerAuth` scheme of an `api_key` provider whose key is
/// sent in `header` as `value`.
fn api_key_scheme(header: &str, value: &str) -> serde_json::Value {
    let provider: Provider = serde_json::from_value(serde_json::json!({
        "name": "keyed",
        "display_name": "Keyed",
        "auth": {"mode": "api_key", "inject": {"name": header, "value": value}},
        "proxy": {"base_url": "https://api.keyed.example"},
    }))
    .unwrap();
    let text = provider_document(&provider, CATALOG_VERSION).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    document["components"]["securitySchemes"]["providerAuth"].clone()
}

#[test]
fn bearer_api_key_is_http_bearer() {
    for value in [
        "Bearer {{ api_key }}",
        "Bearer {{api_key}}",
        "bearer {{ api_key }}",
    ] {
        let scheme = api_key_scheme("Authorization", value);
        assert_eq!(scheme["type"], "http", "{value}: {scheme}");
        assert_eq!(scheme["scheme"], "bearer", "{value}: {scheme}");
        assert!(scheme.get("in").is_none(), "{value}: {scheme}");
    }
}

#[test]
fn other_api_key_prefixes_stay_api_key() {
    let cases = [
        ("Authorization", "Token {{ api_key }}"),
        ("Authorization", "Api-Key {{ api_key }}"),
        ("Authorization", "Bearer sk-{{ api_key }}"),
        ("X-Api-Key", "Bearer {{ api_key }}"),
    ];
    for (header, value) in cases {
        let scheme = api_key_scheme(header, value);
        assert_eq!(scheme["type"], "apiKey", "{value}: {scheme}");
        assert_eq!(scheme["in"], "header", "{value}: {scheme}");
        assert_eq!(scheme["name"], header, "{value}: {scheme}");
        let description = scheme["description"].as_str().unwrap();
        assert!(
            description.contains(&format!("in the format `{value}`")),
            "{description}"
        );
    }
    let raw = api_key_scheme("X-Api-Key", "{{ api_key }}");
    assert_eq!(raw["type"], "apiKey");
    assert!(
        raw["description"].as_str().unwrap().contains("sent as is"),
        "{raw}"
    );
}

#[test]
fn password_grant_security_scheme() {
    let source = "name: password-example\ndisplay_name: Password example\nauth:\n  mode: oauth2_client_credentials\n  token_url: https://auth.example.com/token\n  password_grant:\n    username: \"{{ username }}\"\n    password: \"{{ password }}\"\nconnection_config:\n  username: {title: Username}\n  password: {title: Password, secret: true}\nproxy:\n  base_url: https://api.example.com\n";
    let provider = latchkey_catalog::parse_provider("password-example.yaml", source).unwrap();

    let text = provider_document(&provider, CATALOG_VERSION).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let scheme = &document["components"]["securitySchemes"]["providerAuth"];

    assert_eq!(
        scheme["flows"]["password"]["tokenUrl"],
        "https://auth.example.com/token"
    );
    assert!(
        scheme["flows"].get("clientCredentials").is_none(),
        "{scheme}"
    );
    let description = scheme["description"].as_str().unwrap();
    assert!(
        description.contains("`grant_type=password`"),
        "{description}"
    );
    assert!(description.contains("`{{ password }}`"), "{description}");
}

#[test]
fn client_certificate_in_security_scheme() {
    let source = "name: mtls-example\ndisplay_name: mTLS example\nauth:\n  mode: oauth2_client_credentials\n  token_url: https://auth.example.com/token\n  require_client_certificate: true\nproxy:\n  base_url: https://api.example.com\n";
    let provider = latchkey_catalog::parse_provider("mtls-example.yaml", source).unwrap();
    let without = source.replace("  require_client_certificate: true\n", "");
    let plain = latchkey_catalog::parse_provider("mtls-example.yaml", &without).unwrap();

    let scheme = |provider: &Provider| -> serde_json::Value {
        let text = provider_document(provider, CATALOG_VERSION).unwrap();
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        document["components"]["securitySchemes"]["providerAuth"].clone()
    };
    let with_certificate = scheme(&provider);
    let without_certificate = scheme(&plain);

    assert_eq!(with_certificate["x-latchkey-client-certificate"], true);
    let description = with_certificate["description"].as_str().unwrap();
    assert!(
        description.contains("TLS client certificate"),
        "{description}"
    );
    assert!(
        description.contains("`client_private_key`"),
        "{description}"
    );
    assert!(without_certificate
        .get("x-latchkey-client-certificate")
        .is_none());
    let description = without_certificate["description"].as_str().unwrap();
    assert!(
        !description.contains("TLS client certificate"),
        "{description}"
    );
}

#[test]
fn login_chain_described() {
    let yaml = r#"name: chain
display_name: Chain
auth:
  mode: two_step
  credentials:
    password: {title: Password, secret: true}
  token_request:
    url: https://login.chain.example/info
    method: GET
  steps:
    - url: "{{ step1.service }}/discovery"
      method: GET
    - url: "{{ step2.token_endpoint }}"
      params: {password: "{{ password }}"}
proxy:
  base_url: https://api.chain.example
"#;
    let provider = latchkey_catalog::parse_provider("chain.yaml", yaml).unwrap();

    let text = provider_document(&provider, CATALOG_VERSION).unwrap();

    assert!(
        text.contains(
            "obtains through a chain of 3 requests that starts at `https://login.chain.example/info`"
        ),
        "{text}"
    );
}

/// Providers whose credential goes to more than one place, with each place
/// (`in`, name) in the order of the provider file.
const MULTI_PLACE_CREDENTIALS: &[(&str, &[(&str, &str)])] = &[
    (
        "supabase",
        &[("header", "authorization"), ("header", "apikey")],
    ),
    (
        "quickbase",
        &[("header", "authorization"), ("query", "apiKey")],
    ),
    ("konnektive", &[("query", "loginId"), ("query", "password")]),
];

#[test]
fn security_lists_every_credential_place() {
    for (name, places) in MULTI_PLACE_CREDENTIALS {
        let document: serde_json::Value = serde_json::from_str(&document_text(name)).unwrap();
        let requirements = document["security"].as_array().expect("a security array");
        assert_eq!(requirements.len(), 1, "{name}: {requirements:?}");
        let requirement = requirements[0].as_object().expect("a requirement object");
        assert_eq!(requirement.len(), places.len(), "{name}: {requirement:?}");

        let schemes = &document["components"]["securitySchemes"];
        let primary = &schemes["providerAuth"];
        let inject = &primary["x-latchkey-inject"];
        assert_eq!(inject["name"], places[0].1, "{name}: {primary}");
        for (index, (place, parameter)) in places.iter().enumerate().skip(1) {
            let scheme_name = format!("providerAuthAdditional{index}");
            assert!(
                requirement.contains_key(&scheme_name),
                "{name}: {scheme_name} missing from {requirement:?}"
            );
            let scheme = &schemes[&scheme_name];
            assert_eq!(scheme["type"], "apiKey", "{name}: {scheme}");
            assert_eq!(scheme["in"], *place, "{name}: {scheme}");
            assert_eq!(scheme["name"], *parameter, "{name}: {scheme}");
            assert_eq!(
                scheme["x-latchkey-inject"]["name"], *parameter,
                "{name}: {scheme}"
            );
            assert_eq!(
                inject["additional"][index - 1]["name"],
                *parameter,
                "{name}: {primary}"
            );
            let description = primary["description"].as_str().unwrap();
            assert!(description.contains(&scheme_name), "{name}: {description}");
        }
        let info = document["info"]["description"].as_str().unwrap();
        assert!(info.contains("providerAuthAdditional1"), "{name}: {info}");
    }

    let konnektive: serde_json::Value = serde_json::from_str(&document_text("konnektive")).unwrap();
    let scheme = &konnektive["components"]["securitySchemes"]["providerAuth"];
    let description = scheme["description"].as_str().unwrap();
    assert!(!description.contains("HTTP basic"), "{description}");
    assert!(
        description.contains("query parameter `loginId`"),
        "{description}"
    );
}
