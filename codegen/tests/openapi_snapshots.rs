//! Snapshots of provider OpenAPI documents: one provider per auth mode and
//! one per templating feature, plus the Latchkey API document, and the
//! errors for definitions that OpenAPI cannot express.

use latchkey_catalog::{Catalog, Provider};
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

/// Checks what every provider document must have: the proxy server first,
/// the secret-key requirement and the two headers on each operation, no
/// template syntax in the servers, and plain https URLs in OAuth flows.
#[test]
fn every_builtin_document_has_proxy_contract() {
    let catalog = Catalog::builtin().unwrap();
    for provider in catalog.providers() {
        let text = provider_document(provider, CATALOG_VERSION).unwrap();
        let name = &provider.name;
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        let servers = document["servers"].to_string();
        assert!(
            !servers.contains("{{"),
            "provider `{name}`: template syntax in servers"
        );
        assert_eq!(
            document["servers"][0]["url"], "{latchkeyUrl}/proxy",
            "provider `{name}`"
        );
        assert!(
            document["servers"].as_array().unwrap().len() >= 2,
            "provider `{name}`: no upstream server"
        );
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.contains_key("/{path}"), "provider `{name}`");
        assert_eq!(
            paths.len(),
            1 + usize::from(provider.proxy.verification.is_some()),
            "provider `{name}`"
        );
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                if matches!(
                    method.as_str(),
                    "servers" | "parameters" | "summary" | "description"
                ) {
                    continue;
                }
                let context = format!("provider `{name}`, {method} {path}");
                assert_eq!(
                    operation["security"],
                    serde_json::json!([{ "latchkeySecretKey": [] }]),
                    "{context}"
                );
                let parameters = operation["parameters"].to_string();
                assert!(parameters.contains("ProviderConfigKey"), "{context}");
                assert!(parameters.contains("ConnectionId"), "{context}");
            }
        }
        let has_scheme = document["components"]["securitySchemes"]
            .get("providerAuth")
            .is_some();
        // A credential in the URL path or the JSON body has no OpenAPI
        // scheme; the document describes it in `x-latchkey-path-credential`
        // or `x-latchkey-body-credential` instead.
        let in_path = document.get("x-latchkey-path-credential").is_some();
        let in_body = document.get("x-latchkey-body-credential").is_some();
        assert_eq!(
            has_scheme || in_path || in_body,
            provider.auth.injects_credential(),
            "provider `{name}`"
        );
        if in_path || in_body {
            assert!(
                !has_scheme,
                "provider `{name}`: a path or body credential and a scheme"
            );
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

#[test]
fn server_variables_describe_defaults() {
    let document: serde_json::Value = serde_json::from_str(&document_text("zendesk")).unwrap();
    let upstream = &document["servers"][1];
    assert_eq!(upstream["url"], "https://{subdomain}.zendesk.com");
    let variable = &upstream["variables"]["subdomain"];
    assert_eq!(variable["default"], "acme");
    let description = variable["description"].as_str().unwrap();
    assert!(description.contains("example"), "{description}");

    let document: serde_json::Value = serde_json::from_str(&document_text("amplitude")).unwrap();
    let hostname = &document["servers"][1]["variables"]["hostname"];
    let allowed = serde_json::json!(["amplitude.com", "analytics.eu.amplitude.com"]);
    assert_eq!(hostname["enum"], allowed);
    assert_eq!(hostname["default"], "amplitude.com");
    assert_eq!(document["servers"][2]["url"], "https://amplitude.com");
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
    let operation = &document["paths"]["/v2/conversations"]["get"];
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
    let operation = &document["paths"]["/graphql"];
    let method = ["get", "post"]
        .into_iter()
        .find(|method| operation.get(*method).is_some())
        .expect("no verification operation");
    let query = operation_parameter(&operation[method], "query").expect("no `query` parameter");
    assert_eq!(query["schema"]["const"], "{__schema{types{name}}}");
}
