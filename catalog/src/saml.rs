//! The `assertion` section of the `two_step` mode: a signed SAML 2.0
//! assertion that the token request sends as `{{ assertion }}`, for the
//! SAML 2.0 bearer grant (RFC 7522) of providers such as SAP
//! SuccessFactors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::two_step::TwoStep;

/// The template variable that contains the base64 of the signed assertion in
/// the token, refresh and step requests.
pub const ASSERTION_VARIABLE: &str = "assertion";

/// A SAML 2.0 assertion that the engine builds and signs anew for every
/// token request. Every string except `lifetime_seconds` is a template that
/// reads the connection config and the entered credential fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlAssertion {
    /// The assertion format. `saml2` is the only one.
    #[serde(rename = "type")]
    pub kind: AssertionType,
    /// The `<saml2:Issuer>` text.
    pub issuer: String,
    /// The `<saml2:Audience>` text of the audience restriction.
    pub audience: String,
    /// The `Recipient` of the bearer subject confirmation, normally the
    /// token endpoint's URL.
    pub recipient: String,
    /// The `<saml2:NameID>` text, the user the token is for.
    pub name_id: String,
    /// `<saml2:Attribute>` elements by name, each with one string value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The PEM RSA private key (PKCS#8 or PKCS#1) that signs the assertion
    /// with RSA-SHA256.
    pub signing_key: String,
    /// Seconds from the issue instant to `NotOnOrAfter`.
    pub lifetime_seconds: u64,
}

/// The format of a signed assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssertionType {
    /// A SAML 2.0 `<saml2:Assertion>` with an enveloped XML signature.
    Saml2,
}

/// Returns the templates of `assertion` with the JSON pointers of their
/// fields.
pub(crate) fn assertion_templates(assertion: &SamlAssertion) -> Vec<(String, &str)> {
    let mut templates = vec![
        (
            "/auth/assertion/issuer".to_owned(),
            assertion.issuer.as_str(),
        ),
        (
            "/auth/assertion/audience".to_owned(),
            assertion.audience.as_str(),
        ),
        (
            "/auth/assertion/recipient".to_owned(),
            assertion.recipient.as_str(),
        ),
        (
            "/auth/assertion/name_id".to_owned(),
            assertion.name_id.as_str(),
        ),
        (
            "/auth/assertion/signing_key".to_owned(),
            assertion.signing_key.as_str(),
        ),
    ];
    for (name, template) in &assertion.attributes {
        templates.push((
            format!(
                "/auth/assertion/attributes/{}",
                crate::positions::escape_pointer(name)
            ),
            template.as_str(),
        ));
    }
    templates
}

/// Checks whether `variable` is the signed assertion, which only the
/// requests of a `two_step` definition with `assertion` see.
pub(crate) fn is_signed_assertion(two_step: &TwoStep, pointer: &str, variable: &str) -> bool {
    let in_request = [
        "/auth/token_request/",
        "/auth/refresh_request/",
        "/auth/steps/",
    ]
    .iter()
    .any(|prefix| pointer.starts_with(prefix));
    two_step.assertion.is_some() && in_request && variable == ASSERTION_VARIABLE
}

/// Reports an assertion that cannot be built. That is a field named like
/// the assertion's variable, a template with a control character that XML
/// cannot carry, a constant signing key, or a blank attribute name or one
/// with a control character. The schema bounds `lifetime_seconds`.
pub(crate) fn check_assertion(
    two_step: &TwoStep,
    connection_config: &std::collections::BTreeMap<String, crate::model::ConfigField>,
    problems: &mut Vec<Problem>,
) {
    let Some(assertion) = &two_step.assertion else {
        return;
    };
    if connection_config.contains_key(ASSERTION_VARIABLE) {
        let mut problem = Problem::new(
            Code::InvalidKey,
            "/connection_config/assertion".to_owned(),
            "connection-config field `assertion` has the name of the signed assertion's template \
             variable, so the token request could never read it"
                .to_owned(),
            Some("rename the field, or remove `auth.assertion`".to_owned()),
        );
        problem.at_key = true;
        problems.push(problem);
    }
    if two_step.credentials.contains_key(ASSERTION_VARIABLE) {
        problems.push(Problem::new(
            Code::InvalidKey,
            "/auth/credentials/assertion".to_owned(),
            "credential field `assertion` has the name of the signed assertion's template variable"
                .to_owned(),
            Some("rename the field, or remove `auth.assertion`".to_owned()),
        ));
    }
    for (pointer, text) in assertion_templates(assertion) {
        // XML 1.0 allows no control character but tab, LF and CR.
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            problems.push(Problem::new(
                Code::InvalidValue,
                pointer,
                "the template contains a control character, which XML 1.0 cannot carry".to_owned(),
                Some("remove the control character".to_owned()),
            ));
        }
    }
    let key_variables = crate::checks::compile_template(&assertion.signing_key).unwrap_or_default();
    if key_variables.is_empty() {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/assertion/signing_key".to_owned(),
            "`signing_key` is a constant, but each connection signs with its own private key"
                .to_owned(),
            Some(
                "read the key from a secret credential field, such as `{{ privateKey }}`"
                    .to_owned(),
            ),
        ));
    }
    for name in assertion.attributes.keys() {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            problems.push(Problem::new(
                Code::InvalidKey,
                format!(
                    "/auth/assertion/attributes/{}",
                    crate::positions::escape_pointer(name)
                ),
                format!("attribute name {name:?} is blank or contains a control character"),
                Some("name the attribute as the provider expects it".to_owned()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_field_named_assertion_rejected() {
        let source = "name: p\ndisplay_name: P\nauth:\n  mode: two_step\n  credentials:\n    user_name: {title: User name}\n    private_key: {title: Private key, secret: true}\n  assertion:\n    type: saml2\n    issuer: www.example.com\n    audience: www.example.com\n    recipient: https://p.example/token\n    name_id: \"{{ user_name }}\"\n    signing_key: \"{{ private_key }}\"\n    lifetime_seconds: 600\n  token_request:\n    url: https://p.example/token\n    params: {assertion: \"{{ assertion }}\"}\nconnection_config:\n  assertion: {title: Assertion, optional: true}\nproxy:\n  base_url: https://p.example\n";

        let diagnostics = crate::parse_provider("p.yaml", source).expect_err("rejected");

        let paths: Vec<_> = diagnostics.iter().map(|d| d.path.as_deref()).collect();
        assert!(
            paths.contains(&Some("connection_config.assertion")),
            "{diagnostics:?}"
        );
        let found = diagnostics
            .iter()
            .find(|d| d.path.as_deref() == Some("connection_config.assertion"))
            .unwrap();
        assert!(
            found.message.contains("could never read it"),
            "{}",
            found.message
        );
    }
}
