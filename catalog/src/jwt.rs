//! Settings of the `jwt` auth mode: a JWT that Latchkey signs with a key the
//! end user enters, sent as the bearer token or exchanged for an access
//! token with the JWT bearer grant (RFC 7523 section 2.1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::model::{ConfigField, Inject, TokenResponse};
use crate::two_step::TokenRequest;

/// Signed JWT assertion settings.
///
/// The templates of `signing_key`, `header` and `claims` see the connection
/// config and the entered values as `credentials.<key>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// The JWS algorithm of the signature (RFC 7518 section 3.1).
    pub algorithm: JwtAlgorithm,
    /// The values the end user enters, such as a private key and a key id,
    /// by key. They are stored as secrets.
    pub credentials: BTreeMap<String, ConfigField>,
    /// Template of the signing key: a private key for `RS256`, `PS256` and
    /// `ES256` (in the form `signing_key_format` names), a shared secret for
    /// `HS256`.
    pub signing_key: String,
    /// Form of a rendered RSA or EC private key.
    #[serde(default, skip_serializing_if = "SigningKeyFormat::is_pem")]
    pub signing_key_format: SigningKeyFormat,
    /// Encoding of an `HS256` shared secret after rendering.
    #[serde(default, skip_serializing_if = "HmacKeyEncoding::is_utf8")]
    pub hmac_key_encoding: HmacKeyEncoding,
    /// Extra JOSE header parameters; only `kid`, `typ` and `x5t#S256` are
    /// allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    /// Claims of the payload (values are templates). A claim whose template
    /// reads an optional connection-config value that is unset is left out.
    /// Latchkey adds `iat` and `exp` itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, String>,
    /// Claims whose rendered value is split on spaces into a JSON array,
    /// such as a `scope` that a provider expects as a list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list_claims: Vec<String>,
    /// Claims whose rendered value becomes a JSON array of that one string,
    /// such as Apple's `scope` of one API request (`GET /v1/apps`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub array_claims: Vec<String>,
    /// Whether the payload carries a random `jti` claim (RFC 7519 section
    /// 4.1.7), for providers that reject a replayed assertion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jti: bool,
    /// Seconds from `iat` to `exp`.
    pub lifetime_seconds: u64,
    /// Template of a token endpoint. When set, the assertion is exchanged
    /// there with the JWT bearer grant; when absent, the assertion itself is
    /// the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Token URL templates tried in order when `token_url` reads a variable
    /// that the connection lacks. The claim templates see the chosen URL as
    /// `token_url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_url_fallbacks: Vec<String>,
    /// The grant of the token request at `token_url`, which fixes the
    /// parameters that carry the assertion.
    #[serde(default, skip_serializing_if = "JwtGrant::is_jwt_bearer")]
    pub grant: JwtGrant,
    /// Extra form parameters of the token request (values are templates
    /// that see the connection config and `credentials.<key>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    /// Further requests sent in order after the exchange at `token_url`,
    /// each with the JSON replies of the earlier ones as `step1`, `step2`,
    /// and so on (`step1` is the exchange reply). `token_response` then
    /// reads the last reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<TokenRequest>,
    /// Paths of the token and its lifetime in the exchange reply, or in
    /// the reply to the last of `steps`.
    #[serde(default)]
    pub token_response: TokenResponse,
    /// Renew this many seconds before expiry; 900 when absent, and never
    /// more than half the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_margin_seconds: Option<u64>,
    /// Placement of the token in proxied requests; an `Authorization:
    /// Bearer` header when absent. The variable `access_token` contains the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
}

/// A JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// ECDSA with the P-256 curve and SHA-256.
    ES256,
    /// HMAC with SHA-256.
    HS256,
}

/// Encoding of a rendered `HS256` secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacKeyEncoding {
    /// The UTF-8 bytes of the text.
    #[default]
    Utf8,
    /// The text is hexadecimal, as in Ghost's Admin API keys.
    Hex,
}

impl HmacKeyEncoding {
    fn is_utf8(&self) -> bool {
        *self == HmacKeyEncoding::Utf8
    }
}

/// Form of a rendered RSA or EC private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningKeyFormat {
    /// PEM: PKCS#8 (`BEGIN PRIVATE KEY`), or PKCS#1 (`BEGIN RSA PRIVATE
    /// KEY`) for RSA.
    #[default]
    Pem,
    /// A JSON Web Key (RFC 7517) of key type `RSA` with the private members
    /// `d`, `p` and `q`, as Okta's API service applications use.
    Jwk,
}

impl SigningKeyFormat {
    fn is_pem(&self) -> bool {
        *self == SigningKeyFormat::Pem
    }
}

/// The OAuth grant that carries the signed assertion in the token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtGrant {
    /// The JWT bearer grant (RFC 7523 section 2.1): `grant_type` is
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion` the JWT.
    #[default]
    JwtBearer,
    /// The client credentials grant with the JWT as client authentication
    /// (RFC 7523 section 2.2, `private_key_jwt` in OpenID Connect):
    /// `grant_type` is `client_credentials`, `client_assertion_type` is
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
    /// `client_assertion` the JWT.
    ClientAssertion,
}

impl JwtGrant {
    fn is_jwt_bearer(&self) -> bool {
        *self == JwtGrant::JwtBearer
    }
}

/// Checks the settings of a `jwt` definition that the schema cannot relate:
/// claim lists that name claims, token request settings without a
/// `token_url`, and key options of another algorithm.
pub(crate) fn check_jwt(jwt: &Jwt, problems: &mut Vec<Problem>) {
    for (field, names) in [
        ("list_claims", &jwt.list_claims),
        ("array_claims", &jwt.array_claims),
    ] {
        for (index, name) in names.iter().enumerate() {
            if !jwt.claims.contains_key(name) {
                problems.push(Problem::new(
                    Code::InvalidValue,
                    format!("/auth/{field}/{index}"),
                    format!("claim `{name}` is not in `claims`"),
                    Some(format!("add `{name}` to `claims` or remove it here")),
                ));
            } else if field == "array_claims" && jwt.list_claims.contains(name) {
                problems.push(Problem::new(
                    Code::InvalidValue,
                    format!("/auth/{field}/{index}"),
                    format!("claim `{name}` is in both `list_claims` and `array_claims`"),
                    Some("keep it in one of the two lists".to_owned()),
                ));
            }
        }
    }
    if jwt.token_url.is_none() {
        if !jwt.token_url_fallbacks.is_empty() {
            problems.push(Problem::new(
                Code::InvalidValue,
                "/auth/token_url_fallbacks".to_owned(),
                "`token_url_fallbacks` has no effect without `token_url`".to_owned(),
                Some("add the `token_url` that takes the assertion".to_owned()),
            ));
        }
        if jwt.grant != JwtGrant::JwtBearer {
            problems.push(Problem::new(
                Code::InvalidValue,
                "/auth/grant".to_owned(),
                "`grant` has no effect without `token_url`".to_owned(),
                Some("add the `token_url` that takes the assertion".to_owned()),
            ));
        }
        if !jwt.token_params.is_empty() {
            problems.push(Problem::new(
                Code::InvalidValue,
                "/auth/token_params".to_owned(),
                "`token_params` has no effect without `token_url`".to_owned(),
                Some("add the `token_url` that takes the assertion".to_owned()),
            ));
        }
        if !jwt.steps.is_empty() {
            problems.push(Problem::new(
                Code::InvalidValue,
                "/auth/steps".to_owned(),
                "`steps` follow the exchange at `token_url`, which is missing".to_owned(),
                Some("add the `token_url` that takes the assertion".to_owned()),
            ));
        }
    }
    if jwt.hmac_key_encoding != HmacKeyEncoding::Utf8 && jwt.algorithm != JwtAlgorithm::HS256 {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/hmac_key_encoding".to_owned(),
            format!(
                "`hmac_key_encoding` applies to HS256, not {:?}",
                jwt.algorithm
            ),
            Some("remove `hmac_key_encoding`".to_owned()),
        ));
    }
    let rsa = matches!(jwt.algorithm, JwtAlgorithm::RS256 | JwtAlgorithm::PS256);
    if jwt.signing_key_format == SigningKeyFormat::Jwk && !rsa {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/signing_key_format".to_owned(),
            format!(
                "`signing_key_format: jwk` takes an RSA key, and {:?} does not use one",
                jwt.algorithm
            ),
            Some("use `RS256` or `PS256`, or remove `signing_key_format`".to_owned()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_provider;

    /// Returns the messages of the diagnostics of a `jwt` provider whose
    /// auth section ends with `extra`.
    fn messages(extra: &str) -> Vec<String> {
        let source = format!(
            r#"name: demo
display_name: Demo
auth:
  mode: jwt
  algorithm: RS256
  credentials:
    key: {{ title: Key }}
  signing_key: "{{{{ credentials.key }}}}"
  lifetime_seconds: 60
  claims:
    iss: demo
    scope: read
{extra}
proxy:
  base_url: https://api.demo.example
"#
        );
        match parse_provider("demo.yaml", &source) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics.into_iter().map(|d| d.message).collect(),
        }
    }

    #[test]
    fn jwt_settings_checked_together() {
        let cases = [
            ("  list_claims: [aud]", "claim `aud` is not in `claims`"),
            ("  array_claims: [aud]", "claim `aud` is not in `claims`"),
            (
                "  list_claims: [scope]\n  array_claims: [scope]",
                "claim `scope` is in both `list_claims` and `array_claims`",
            ),
            (
                "  grant: client_assertion",
                "`grant` has no effect without `token_url`",
            ),
            (
                "  token_params: { scope: read }",
                "`token_params` has no effect without `token_url`",
            ),
            (
                "  token_url_fallbacks: [https://login.demo.example/token]",
                "`token_url_fallbacks` has no effect without `token_url`",
            ),
            (
                "  hmac_key_encoding: hex",
                "`hmac_key_encoding` applies to HS256, not RS256",
            ),
            (
                "  header: { kid: \"{{ token_url }}\" }",
                "template variable `token_url`",
            ),
            (
                "  steps: [{ url: https://api.demo.example/token }]",
                "`steps` follow the exchange at `token_url`, which is missing",
            ),
        ];
        for (extra, expected) in cases {
            let messages = messages(extra);
            assert!(
                messages.iter().any(|message| message.contains(expected)),
                "{extra}: {messages:?}"
            );
        }
    }

    #[test]
    fn jwt_settings_accepted_with_token_url() {
        let extra = "  token_url: https://login.demo.example/token
  token_url_fallbacks: [https://backup.demo.example/token]
  grant: client_assertion
  token_params: { client_id: \"{{ credentials.key }}\" }
  array_claims: [scope]";

        assert_eq!(messages(extra), Vec::<String>::new());
    }

    #[test]
    fn token_url_claim_needs_token_url() {
        let claim = "    aud: \"{{ token_url }}\"";
        let with_url = format!("{claim}\n  token_url: https://login.demo.example/token");

        let without = messages(claim);

        assert!(
            without
                .iter()
                .any(|message| message.contains("template variable `token_url`")),
            "{without:?}"
        );
        assert_eq!(messages(&with_url), Vec::<String>::new());
    }

    #[test]
    fn steps_after_exchange_accepted() {
        let extra = r#"  token_url: https://login.demo.example/token
  steps:
    - url: https://api.demo.example/exchange
      method: GET
      params: { client: "{{ credentials.key }}" }
      headers: { Authorization: "Bearer {{ step1.access_token }}" }
    - url: https://api.demo.example/final
      headers: { Authorization: "Bearer {{ step2.token }}" }
  token_response: { access_token: token }"#;

        assert_eq!(messages(extra), Vec::<String>::new());
    }

    #[test]
    fn step_templates_checked() {
        let cases = [
            (
                "later reply",
                "headers: { Authorization: \"Bearer {{ step2.token }}\" }",
                "template variable `step2`",
            ),
            (
                "entered value without credentials",
                "params: { client: \"{{ key }}\" }",
                "template variable `key`",
            ),
            (
                "undeclared entered value",
                "params: { client: \"{{ credentials.other }}\" }",
                "`credentials.other`",
            ),
            (
                "random token",
                "params: { nonce: \"{{ random_token }}\" }",
                "`random_token`",
            ),
            ("plain http", "params: {}", "does not use https"),
        ];
        for (case, request, expected) in cases {
            let url = if case == "plain http" {
                "http://api.demo.example/exchange"
            } else {
                "https://api.demo.example/exchange"
            };
            let extra = format!(
                "  token_url: https://login.demo.example/token\n  steps:\n    - url: {url}\n      {request}"
            );

            let messages = messages(&extra);

            assert!(
                messages.iter().any(|message| message.contains(expected)),
                "{case}: {messages:?}"
            );
        }
    }
}
