//! Checks of `ConnectionConfig` in the crate that `latchkey codegen`
//! generates for the built-in catalog. `tests/codegen.rs` copies this file
//! into the crate's `tests/` and runs it there.

use latchkey_providers::providers::{_3cx, aws_scim, salesforce_sandbox};
use latchkey_providers::Error;
use serde_json::json;

fn invalid_reason<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::InvalidConfig { reason, .. }) => reason,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn deserialize_checks_excluded_pattern() {
    let accepted: salesforce_sandbox::ConnectionConfig =
        serde_json::from_value(json!({"hostname": "acme--dev.sandbox.my.salesforce.com"})).unwrap();
    assert_eq!(
        accepted.hostname.as_deref(),
        Some("acme--dev.sandbox.my.salesforce.com")
    );

    let error = serde_json::from_value::<salesforce_sandbox::ConnectionConfig>(
        json!({"hostname": "acme.lightning.force.com"}),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("excluded pattern"), "{message}");
    assert!(message.contains("acme.lightning.force.com"), "{message}");

    let built = salesforce_sandbox::ConnectionConfig::builder()
        .hostname("acme.lightning.force.com")
        .build();
    assert!(
        invalid_reason(built).contains("excluded pattern"),
        "the builder accepted an excluded value"
    );
}

#[test]
fn deserialize_checks_format() {
    let error = serde_json::from_value::<_3cx::ConnectionConfig>(
        json!({"domain": "https://mycompany.3cx.us"}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("a host name"), "{error}");
    let built = _3cx::ConnectionConfig::builder()
        .domain("mycompany.3cx.us/admin")
        .build();
    assert!(invalid_reason(built).contains("a host name"));

    let error = serde_json::from_value::<aws_scim::ConnectionConfig>(
        json!({"scimEndpoint": "https://127.0.0.1/tenant/scim/v2"}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("not an IP address"), "{error}");
    let built = aws_scim::ConnectionConfig::builder()
        .scim_endpoint("http://scim.example.com/tenant/scim/v2")
        .build();
    assert!(invalid_reason(built).contains("https://"));
}

#[test]
fn deserialize_checks_required_and_undeclared() {
    let missing = serde_json::from_value::<_3cx::ConnectionConfig>(json!({})).unwrap_err();
    assert!(
        missing.to_string().contains("`domain` is required"),
        "{missing}"
    );

    let undeclared = serde_json::from_value::<_3cx::ConnectionConfig>(
        json!({"domain": "mycompany.3cx.us", "domian": "x"}),
    )
    .unwrap_err();
    assert!(
        undeclared
            .to_string()
            .contains("declares no connection-config field `domian`"),
        "{undeclared}"
    );
}

#[test]
fn config_round_trips_through_json() {
    let config = aws_scim::ConnectionConfig::builder()
        .scim_endpoint("https://scim.us-east-1.amazonaws.com/tenant-1/scim/v2")
        .build()
        .unwrap();
    let again: aws_scim::ConnectionConfig = serde_json::from_value(config.to_json()).unwrap();
    assert_eq!(again, config);
}
