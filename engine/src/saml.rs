//! Signed SAML 2.0 assertions for the `assertion` section of the `two_step`
//! mode, sent in the SAML 2.0 bearer grant (RFC 7522).
//!
//! The XML is written in its exclusive canonical form (Exclusive XML
//! Canonicalization 1.0 without comments) from the start, so the SHA-256
//! digest over the written bytes equals the digest a verifier computes
//! after the enveloped-signature and exclusive c14n transforms:
//! - there is no whitespace between elements and no XML declaration;
//! - every element has an end tag, even when empty;
//! - each element declares only the namespace its own name uses, and only
//!   where no output ancestor declares it (`saml2` on the root, `ds` on
//!   `<ds:Signature>` and, in the signed bytes only, on `<ds:SignedInfo>`);
//! - attributes are unprefixed and written in the order of their names;
//! - text and attribute values are escaped as c14n escapes them.
//!
//! `<saml2:AttributeValue>` carries no `xsi:type`, because exclusive c14n
//! would drop the `xs` namespace declaration that the type's value uses.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use latchkey_catalog::{Provider, SamlAssertion, TwoStep, ASSERTION_VARIABLE};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jwt::pem_text;
use crate::template::{render, variable_paths};
use crate::{EngineError, Secret};

const SAML_ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const XMLDSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXCLUSIVE_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256_DIGEST: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const NAME_ID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const BEARER_CONFIRMATION: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";

/// Random bytes in the assertion's `ID` and in `SessionIndex`.
const RANDOM_ID_BYTES: usize = 16;

/// The rendered contents of one assertion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssertionClaims {
    /// The `ID` attribute, which the signature's reference names.
    pub id: String,
    pub session_index: String,
    /// The issue instant, which is also `NotBefore` and `AuthnInstant`.
    pub issued_at: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub issuer: String,
    pub audience: String,
    pub recipient: String,
    pub name_id: String,
    /// Attribute names and values, in the order they are written.
    pub attributes: Vec<(String, String)>,
}

/// Signs the assertion of a `two_step` definition that has one and adds
/// its base64 to `vars` as `assertion`. Returns the base64, which errors
/// must not quote, or `None` for a definition without an assertion.
///
/// `vars` are the token request's variables: the connection config and
/// the entered credential fields.
pub(crate) fn add_signed_assertion(
    provider: &Provider,
    settings: &TwoStep,
    vars: &mut Value,
    now: DateTime<Utc>,
) -> Result<Option<Secret>, EngineError> {
    let Some(assertion) = &settings.assertion else {
        return Ok(None);
    };
    let claims = render_claims(provider, assertion, vars, now)?;
    let key = signing_key(provider, settings, assertion, vars)?;
    let encoded = STANDARD.encode(signed_assertion_xml(&claims, &key));
    if let Value::Object(object) = vars {
        object.insert(
            ASSERTION_VARIABLE.to_owned(),
            Value::String(encoded.clone()),
        );
    }
    Ok(Some(Secret::new(encoded)))
}

/// Renders the templates of `assertion` and draws a new `ID` and
/// `SessionIndex`.
fn render_claims(
    provider: &Provider,
    assertion: &SamlAssertion,
    vars: &Value,
    now: DateTime<Utc>,
) -> Result<AssertionClaims, EngineError> {
    let text = |field: &str, template: &str| -> Result<String, EngineError> {
        let field = format!("auth.assertion.{field}");
        let value = render(&provider.name, &field, template, vars)?;
        check_xml_text(&value).map_err(|detail| {
            EngineError::InvalidCredential(format!(
                "`{field}` of provider `{}` cannot be written into XML: {detail}",
                provider.name
            ))
        })?;
        Ok(value)
    };
    let issued_at = now.trunc_subsecs(0);
    let lifetime = i64::try_from(assertion.lifetime_seconds)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|lifetime| issued_at.checked_add_signed(lifetime))
        .ok_or_else(|| {
            EngineError::template(
                &provider.name,
                "auth.assertion.lifetime_seconds",
                format!("{} seconds is out of range", assertion.lifetime_seconds),
            )
        })?;
    let mut attributes = Vec::new();
    for (name, template) in &assertion.attributes {
        check_xml_text(name).map_err(|detail| {
            EngineError::template(
                &provider.name,
                "auth.assertion.attributes",
                format!("attribute name {name:?} cannot be written into XML: {detail}"),
            )
        })?;
        let value = text(&format!("attributes.{name}"), template)?;
        attributes.push((name.clone(), value));
    }
    Ok(AssertionClaims {
        id: random_id(),
        session_index: random_id(),
        issued_at,
        not_on_or_after: lifetime,
        issuer: text("issuer", &assertion.issuer)?,
        audience: text("audience", &assertion.audience)?,
        recipient: text("recipient", &assertion.recipient)?,
        name_id: text("name_id", &assertion.name_id)?,
        attributes,
    })
}

/// Returns `_` and 32 random hexadecimal digits: an `xs:ID`, which must not
/// start with a digit.
fn random_id() -> String {
    let bytes: [u8; RANDOM_ID_BYTES] = rand::random();
    format!("_{}", hex::encode(bytes))
}

/// Parses the rendered `signing_key` as a PEM RSA private key. The error
/// names the credential fields that the template reads, never the key.
fn signing_key(
    provider: &Provider,
    settings: &TwoStep,
    assertion: &SamlAssertion,
    vars: &Value,
) -> Result<RsaPrivateKey, EngineError> {
    let text = render(
        &provider.name,
        "auth.assertion.signing_key",
        &assertion.signing_key,
        vars,
    )?;
    let pem = pem_text(&text);
    let parsed = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(&pem).map_err(|error| error.to_string())
    } else {
        RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|error| error.to_string())
    };
    parsed.map_err(|detail| {
        let fields: Vec<String> = variable_paths(&assertion.signing_key)
            .into_iter()
            .filter(|path| settings.credentials.contains_key(path))
            .map(|path| format!("`{path}`"))
            .collect();
        let source = match fields.as_slice() {
            [] => String::new(),
            [field] => format!(", rendered from field {field},"),
            _ => format!(", rendered from fields {},", fields.join(", ")),
        };
        EngineError::InvalidCredential(format!(
            "`auth.assertion.signing_key` of provider `{}`{source} is not a PEM RSA private key \
             (`-----BEGIN PRIVATE KEY-----` or `-----BEGIN RSA PRIVATE KEY-----`): {detail}; \
             enter the key that signs the provider's SAML assertions",
            provider.name
        ))
    })
}

/// Rejects text that XML 1.0 cannot carry: control characters below
/// U+0020 other than tab, line feed and carriage return, and the
/// noncharacters U+FFFE and U+FFFF.
fn check_xml_text(text: &str) -> Result<(), String> {
    let invalid = text.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    });
    match invalid {
        Some(c) => Err(format!(
            "it contains the character U+{:04X}, which XML 1.0 does not allow",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// Writes the signed assertion for `claims` with `key`.
pub(crate) fn signed_assertion_xml(claims: &AssertionClaims, key: &RsaPrivateKey) -> String {
    let (head, tail) = assertion_parts(claims);
    let digest = STANDARD.encode(Sha256::digest(format!("{head}{tail}").as_bytes()));
    let signed_info = signed_info(&claims.id, &digest);
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(signed_info.as_bytes());
    // Inside `<ds:Signature>` the `ds` namespace is already declared, so
    // `<ds:SignedInfo>` does not repeat it. A verifier canonicalizes
    // `<ds:SignedInfo>` on its own, which adds the declaration back.
    let embedded_info = signed_info.replacen(&format!(" xmlns:ds=\"{XMLDSIG_NS}\""), "", 1);
    format!(
        "{head}<ds:Signature xmlns:ds=\"{XMLDSIG_NS}\">{embedded_info}\
         <ds:SignatureValue>{}</ds:SignatureValue></ds:Signature>{tail}",
        STANDARD.encode(signature.to_bytes())
    )
}

/// Writes the assertion without its signature, split where
/// `<ds:Signature>` goes: after `<saml2:Issuer>`, as the schema orders it.
pub(crate) fn assertion_parts(claims: &AssertionClaims) -> (String, String) {
    let issued_at = xml_time(claims.issued_at);
    let not_on_or_after = xml_time(claims.not_on_or_after);
    let head = format!(
        "<saml2:Assertion xmlns:saml2=\"{SAML_ASSERTION_NS}\" ID=\"{}\" IssueInstant=\"{issued_at}\" \
         Version=\"2.0\"><saml2:Issuer>{}</saml2:Issuer>",
        escape_attribute(&claims.id),
        escape_text(&claims.issuer),
    );

    let mut tail = format!(
        "<saml2:Subject><saml2:NameID Format=\"{NAME_ID_UNSPECIFIED}\">{}</saml2:NameID>\
         <saml2:SubjectConfirmation Method=\"{BEARER_CONFIRMATION}\">\
         <saml2:SubjectConfirmationData NotOnOrAfter=\"{not_on_or_after}\" Recipient=\"{}\">\
         </saml2:SubjectConfirmationData></saml2:SubjectConfirmation></saml2:Subject>",
        escape_text(&claims.name_id),
        escape_attribute(&claims.recipient),
    );
    tail.push_str(&format!(
        "<saml2:Conditions NotBefore=\"{issued_at}\" NotOnOrAfter=\"{not_on_or_after}\">\
         <saml2:AudienceRestriction><saml2:Audience>{}</saml2:Audience>\
         </saml2:AudienceRestriction></saml2:Conditions>",
        escape_text(&claims.audience),
    ));
    tail.push_str(&format!(
        "<saml2:AuthnStatement AuthnInstant=\"{issued_at}\" SessionIndex=\"{}\">\
         <saml2:AuthnContext><saml2:AuthnContextClassRef>{PASSWORD_PROTECTED_TRANSPORT}\
         </saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>",
        escape_attribute(&claims.session_index),
    ));
    if !claims.attributes.is_empty() {
        tail.push_str("<saml2:AttributeStatement>");
        for (name, value) in &claims.attributes {
            tail.push_str(&format!(
                "<saml2:Attribute Name=\"{}\"><saml2:AttributeValue>{}</saml2:AttributeValue>\
                 </saml2:Attribute>",
                escape_attribute(name),
                escape_text(value),
            ));
        }
        tail.push_str("</saml2:AttributeStatement>");
    }
    tail.push_str("</saml2:Assertion>");
    (head, tail)
}

/// Writes `<ds:SignedInfo>` in the canonical form that is signed: as the
/// apex of its own canonicalization, so with the `ds` declaration.
fn signed_info(reference_id: &str, digest: &str) -> String {
    format!(
        "<ds:SignedInfo xmlns:ds=\"{XMLDSIG_NS}\">\
         <ds:CanonicalizationMethod Algorithm=\"{EXCLUSIVE_C14N}\"></ds:CanonicalizationMethod>\
         <ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"></ds:SignatureMethod>\
         <ds:Reference URI=\"#{}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"{ENVELOPED_SIGNATURE}\"></ds:Transform>\
         <ds:Transform Algorithm=\"{EXCLUSIVE_C14N}\"></ds:Transform></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256_DIGEST}\"></ds:DigestMethod>\
         <ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
        escape_attribute(reference_id),
    )
}

/// Formats an instant as an `xs:dateTime` in UTC with whole seconds.
fn xml_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Escapes element text as canonical XML does.
fn escape_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\r' => escaped.push_str("&#xD;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Escapes an attribute value as canonical XML does.
fn escape_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '"' => escaped.push_str("&quot;"),
            '\t' => escaped.push_str("&#x9;"),
            '\n' => escaped.push_str("&#xA;"),
            '\r' => escaped.push_str("&#xD;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    use super::*;
    use crate::test_support::provider_from_yaml;

    const RSA_PEM: &str = include_str!("../testdata/rsa2048.pem");

    fn claims() -> AssertionClaims {
        let issued_at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        AssertionClaims {
            id: "_0a1b".to_owned(),
            session_index: "_9f8e".to_owned(),
            issued_at,
            not_on_or_after: issued_at + Duration::seconds(3600),
            issuer: "www.successfactors.com".to_owned(),
            audience: "www.successfactors.com".to_owned(),
            recipient: "https://api.example.test/oauth/token?a=1&b=\"2\"".to_owned(),
            name_id: "jo<hn>&\"\r".to_owned(),
            attributes: vec![
                ("api_key".to_owned(), "k&y".to_owned()),
                ("use_username".to_owned(), "true".to_owned()),
            ],
        }
    }

    #[test]
    fn assertion_parts_exact_xml() {
        let (head, tail) = assertion_parts(&claims());
        assert_eq!(
            head,
            "<saml2:Assertion xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
             ID=\"_0a1b\" IssueInstant=\"2026-01-02T03:04:05Z\" Version=\"2.0\">\
             <saml2:Issuer>www.successfactors.com</saml2:Issuer>"
        );
        assert_eq!(
            tail,
            "<saml2:Subject><saml2:NameID \
             Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">\
             jo&lt;hn&gt;&amp;\"&#xD;</saml2:NameID>\
             <saml2:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml2:SubjectConfirmationData NotOnOrAfter=\"2026-01-02T04:04:05Z\" \
             Recipient=\"https://api.example.test/oauth/token?a=1&amp;b=&quot;2&quot;\">\
             </saml2:SubjectConfirmationData></saml2:SubjectConfirmation></saml2:Subject>\
             <saml2:Conditions NotBefore=\"2026-01-02T03:04:05Z\" \
             NotOnOrAfter=\"2026-01-02T04:04:05Z\"><saml2:AudienceRestriction>\
             <saml2:Audience>www.successfactors.com</saml2:Audience>\
             </saml2:AudienceRestriction></saml2:Conditions>\
             <saml2:AuthnStatement AuthnInstant=\"2026-01-02T03:04:05Z\" SessionIndex=\"_9f8e\">\
             <saml2:AuthnContext><saml2:AuthnContextClassRef>\
             urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport\
             </saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>\
             <saml2:AttributeStatement>\
             <saml2:Attribute Name=\"api_key\"><saml2:AttributeValue>k&amp;y\
             </saml2:AttributeValue></saml2:Attribute>\
             <saml2:Attribute Name=\"use_username\"><saml2:AttributeValue>true\
             </saml2:AttributeValue></saml2:Attribute>\
             </saml2:AttributeStatement></saml2:Assertion>"
        );
    }

    #[test]
    fn assertion_without_attributes_has_no_statement() {
        let mut claims = claims();
        claims.attributes.clear();
        let (_, tail) = assertion_parts(&claims);
        assert!(!tail.contains("AttributeStatement"));
        assert!(tail.ends_with("</saml2:AuthnStatement></saml2:Assertion>"));
    }

    #[test]
    fn escaping_table() {
        let cases = [
            ("plain", "plain", "plain"),
            ("a&b", "a&amp;b", "a&amp;b"),
            ("<tag>", "&lt;tag&gt;", "&lt;tag>"),
            ("\"quoted\"", "\"quoted\"", "&quot;quoted&quot;"),
            (
                "tab\tline\nreturn\r",
                "tab\tline\nreturn&#xD;",
                "tab&#x9;line&#xA;return&#xD;",
            ),
            ("ünïcode", "ünïcode", "ünïcode"),
        ];
        for (input, text, attribute) in cases {
            assert_eq!(escape_text(input), text, "text of {input:?}");
            assert_eq!(escape_attribute(input), attribute, "attribute of {input:?}");
        }
    }

    #[test]
    fn xml_text_rejects_control_characters() {
        assert!(check_xml_text("tab\tline\nreturn\r").is_ok());
        let error = check_xml_text("bell\u{7}").unwrap_err();
        assert!(error.contains("U+0007"), "{error}");
        assert!(check_xml_text("\u{ffff}").is_err());
    }

    /// The digest covers the assertion without its signature, and the
    /// signature covers `<ds:SignedInfo>` with its own `ds` declaration.
    #[test]
    fn signature_covers_digest_and_signed_info() {
        let key = RsaPrivateKey::from_pkcs8_pem(RSA_PEM).unwrap();
        let claims = claims();
        let xml = signed_assertion_xml(&claims, &key);
        let (head, tail) = assertion_parts(&claims);
        assert!(xml.starts_with(&format!("{head}<ds:Signature xmlns:ds=\"{XMLDSIG_NS}\"><ds:SignedInfo><ds:CanonicalizationMethod")));
        assert!(xml.ends_with(&format!("</ds:SignatureValue></ds:Signature>{tail}")));

        let digest = STANDARD.encode(Sha256::digest(format!("{head}{tail}").as_bytes()));
        let signed_info = signed_info(&claims.id, &digest);
        assert!(signed_info.contains("<ds:Reference URI=\"#_0a1b\">"));
        assert!(xml.contains(&format!("<ds:DigestValue>{digest}</ds:DigestValue>")));

        let start = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
        let end = xml.find("</ds:SignatureValue>").unwrap();
        let signature =
            Signature::try_from(STANDARD.decode(&xml[start..end]).unwrap().as_slice()).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        assert!(verifier.verify(signed_info.as_bytes(), &signature).is_ok());
    }

    const PROVIDER: &str = r#"
name: saml-demo
display_name: SAML demo
categories: [hr]
auth:
  mode: two_step
  credentials:
    user_name: { title: User name }
    private_key: { title: Private key, secret: true }
    api_key: { title: API key, secret: true }
  assertion:
    type: saml2
    issuer: www.successfactors.com
    audience: www.successfactors.com
    recipient: "https://{{ api_server }}/oauth/token"
    name_id: "{{ user_name }}"
    attributes:
      api_key: "{{ api_key }}"
      use_username: "true"
    signing_key: "{{ private_key }}"
    lifetime_seconds: 600
  token_request:
    url: "https://{{ api_server }}/oauth/token"
    params:
      assertion: "{{ assertion }}"
connection_config:
  api_server: { title: API server }
proxy:
  base_url: "https://{{ api_server }}"
"#;

    fn vars(private_key: &str, user_name: &str) -> Value {
        serde_json::json!({
            "api_server": "api.example.test",
            "user_name": user_name,
            "private_key": private_key,
            "api_key": "key-123",
        })
    }

    #[test]
    fn signed_assertion_renders_templates() {
        let provider = provider_from_yaml(PROVIDER);
        let latchkey_catalog::Auth::TwoStep(settings) = &provider.auth else {
            panic!("not two_step");
        };
        let mut vars = vars(RSA_PEM, "jdoe");
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let secret = add_signed_assertion(&provider, settings, &mut vars, now)
            .unwrap()
            .unwrap();
        assert_eq!(vars["assertion"], Value::String(secret.expose().to_owned()));
        let xml = String::from_utf8(STANDARD.decode(secret.expose()).unwrap()).unwrap();
        let expected = [
            "IssueInstant=\"2026-01-02T03:04:05Z\"",
            "NotOnOrAfter=\"2026-01-02T03:14:05Z\"",
            "Recipient=\"https://api.example.test/oauth/token\"",
            "<saml2:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">jdoe</saml2:NameID>",
            "<saml2:Attribute Name=\"api_key\"><saml2:AttributeValue>key-123</saml2:AttributeValue>",
            "<saml2:Attribute Name=\"use_username\"><saml2:AttributeValue>true</saml2:AttributeValue>",
        ];
        for part in expected {
            assert!(xml.contains(part), "{part} missing from {xml}");
        }
    }

    #[test]
    fn signing_key_not_private_key_rejected() {
        let provider = provider_from_yaml(PROVIDER);
        let latchkey_catalog::Auth::TwoStep(settings) = &provider.auth else {
            panic!("not two_step");
        };
        let public_pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----";
        let mut vars = vars(public_pem, "jdoe");
        let error = add_signed_assertion(&provider, settings, &mut vars, Utc::now()).unwrap_err();
        let EngineError::InvalidCredential(message) = &error else {
            panic!("expected InvalidCredential, got {error:?}");
        };
        assert!(
            message.starts_with(
                "`auth.assertion.signing_key` of provider `saml-demo`, rendered from field \
                 `private_key`, is not a PEM RSA private key"
            ),
            "{message}"
        );
        assert!(!message.contains("MIIB"), "{message}");
        assert!(vars.get("assertion").is_none());
    }

    #[test]
    fn name_id_with_control_character_rejected() {
        let provider = provider_from_yaml(PROVIDER);
        let latchkey_catalog::Auth::TwoStep(settings) = &provider.auth else {
            panic!("not two_step");
        };
        let mut vars = vars(RSA_PEM, "j\u{1}doe");
        let error = add_signed_assertion(&provider, settings, &mut vars, Utc::now()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("`auth.assertion.name_id`"), "{message}");
        assert!(message.contains("U+0001"), "{message}");
    }

    #[test]
    fn attribute_name_with_noncharacter_rejected() {
        let provider = provider_from_yaml(PROVIDER);
        let latchkey_catalog::Auth::TwoStep(settings) = &provider.auth else {
            panic!("not two_step");
        };
        let mut assertion = settings.assertion.clone().unwrap();
        assertion
            .attributes
            .insert("bad\u{fffe}".to_owned(), "x".to_owned());
        let vars = vars(RSA_PEM, "jdoe");
        let error = render_claims(&provider, &assertion, &vars, Utc::now()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("auth.assertion.attributes"), "{message}");
        assert!(message.contains("U+FFFE"), "{message}");
    }
}
