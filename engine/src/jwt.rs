//! The `jwt` auth mode: signing the assertion and, where the definition has
//! a token URL, exchanging it with the JWT bearer grant (RFC 7523 section
//! 2.1).
//!
//! The jsonwebtoken crate does the signing. This module renders the header
//! and the claims from the definition, turns the entered key into a signing
//! key, and builds the exchange request.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_catalog::{
    Auth, HmacKeyEncoding, Jwt, JwtAlgorithm, JwtGrant, Provider, SigningKeyFormat,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::jwt_keys::{rsa_jwk_to_pkcs1_der, rsa_public_key_sha256};
use crate::jwt_steps::Exchange;
use crate::template::{
    config_variables, render, render_params, render_url_with_fallbacks, uses_unset_optional,
    variable_paths,
};
use crate::token_response::parse_token_reply;
use crate::transport::TokenTransport;
use crate::{ConnectionConfig, Engine, EngineError, OAuth2Token, Secret, TokenGrant};

/// The `grant_type` of the JWT bearer grant (RFC 7523 section 2.1).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 section
/// 2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The template variable of the base64 SHA-256 digest of the signing key's
/// public half, which Snowflake's issuer claim carries.
const PUBLIC_KEY_SHA256: &str = "public_key_sha256";

/// Random bytes of a `jti` claim: 128 bits, base64url-encoded.
const JTI_BYTES: u32 = 16;

/// The credential of a `jwt` connection: what the end user entered and the
/// token currently in use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JwtCredentials {
    /// The entered values by the keys of the definition's `credentials`.
    pub fields: BTreeMap<String, Secret>,
    /// The signed assertion, or the access token it was exchanged for.
    pub token: OAuth2Token,
}

/// A signed assertion and its expiry.
#[derive(Debug)]
pub struct SignedAssertion {
    pub assertion: Secret,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Engine {
    /// Obtains the token of a `jwt` connection: signs a new assertion at
    /// `now` and, when the definition has a `token_url`, exchanges it there.
    /// Without a token URL the assertion is the token, valid until its `exp`.
    pub async fn jwt_token(
        &self,
        provider: &Provider,
        fields: &BTreeMap<String, Secret>,
        config: &ConnectionConfig,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, EngineError> {
        let jwt = jwt_settings(provider)?;
        let Some(token_url) = &jwt.token_url else {
            let signed = sign_assertion(provider, fields, config, now)?;
            return Ok(TokenGrant {
                cookies: None,
                token: OAuth2Token {
                    access_token: signed.assertion,
                    refresh_token: None,
                    expires_at: Some(signed.expires_at),
                    obtained_at: signed.issued_at,
                    raw: json!({}),
                },
                connection_config: ConnectionConfig::new(),
            });
        };

        let vars = config_variables(provider, config);
        let url = render_url_with_fallbacks(
            provider,
            "auth.token_url",
            token_url,
            &jwt.token_url_fallbacks,
            &vars,
        )?;
        let signed = sign_assertion_for(provider, fields, config, now, Some(url.as_str()))?;
        let body = token_request_body(provider, jwt, fields, config, &signed.assertion)?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(body.into_bytes())
            .map_err(|err| EngineError::Transport(format!("invalid token request: {err}")))?;
        let mut transport = TokenTransport::new(&self.http, &provider.name, "jwt-bearer", &url);
        // With `steps`, the exchange reply is JSON and the last step's reply
        // is the one that `token_response` reads.
        if jwt.steps.is_empty() {
            transport = transport.reading(&jwt.token_response);
        }
        let reply = transport.send(request).await?;
        if !jwt.steps.is_empty() {
            let exchange = Exchange {
                url: &url,
                reply: &reply,
                assertion: &signed.assertion,
                sent_at: now,
            };
            return self
                .send_jwt_steps(provider, jwt, fields, config, exchange)
                .await;
        }
        let secrets = exchange_secrets(fields, &signed.assertion);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        parse_token_reply(&provider.name, &jwt.token_response, &reply, now, None)
            .map_err(|error| error.redact_quoted(&secrets))
    }
}

/// Lists the values that a quoted exchange reply must not show: every
/// entered value and the signed assertion, because a provider may echo
/// any of them in its `error_description`.
pub(crate) fn exchange_secrets(
    fields: &BTreeMap<String, Secret>,
    assertion: &Secret,
) -> Vec<String> {
    fields
        .values()
        .chain([assertion])
        .map(|value| value.expose().to_owned())
        .collect()
}

/// Builds the form body of the token request: the grant's own parameters,
/// then the rendered `token_params`.
fn token_request_body(
    provider: &Provider,
    jwt: &Jwt,
    fields: &BTreeMap<String, Secret>,
    config: &ConnectionConfig,
    assertion: &Secret,
) -> Result<String, EngineError> {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    match jwt.grant {
        JwtGrant::JwtBearer => body
            .append_pair("grant_type", JWT_BEARER_GRANT)
            .append_pair("assertion", assertion.expose()),
        JwtGrant::ClientAssertion => body
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE)
            .append_pair("client_assertion", assertion.expose()),
    };
    let vars = assertion_variables(provider, fields, config);
    let params: BTreeMap<String, String> = jwt
        .token_params
        .iter()
        .filter(|(_, template)| !uses_unset_optional(provider, template, &vars))
        .map(|(key, template)| (key.clone(), template.clone()))
        .collect();
    for (key, value) in render_params(&provider.name, "auth.token_params", &params, &vars)? {
        body.append_pair(&key, &value);
    }
    Ok(body.finish())
}

/// Returns the `jwt` settings of `provider`, or an error for another mode.
pub(crate) fn jwt_settings(provider: &Provider) -> Result<&Jwt, EngineError> {
    match &provider.auth {
        Auth::Jwt(jwt) => Ok(jwt),
        other => Err(EngineError::Unsupported(format!(
            "provider `{}` uses auth mode `{}`, which signs no JWT",
            provider.name,
            other.mode_name()
        ))),
    }
}

/// Signs the assertion of a `jwt` definition at `now`: its header
/// parameters and claims rendered with the connection config and the
/// entered values, plus `iat`, `exp` and, with `jti: true`, a random `jti`.
pub fn sign_assertion(
    provider: &Provider,
    fields: &BTreeMap<String, Secret>,
    config: &ConnectionConfig,
    now: DateTime<Utc>,
) -> Result<SignedAssertion, EngineError> {
    sign_assertion_for(provider, fields, config, now, None)
}

/// Signs the assertion as [`sign_assertion`] does, with `token_url` (the
/// rendered URL the assertion goes to) as a template variable.
fn sign_assertion_for(
    provider: &Provider,
    fields: &BTreeMap<String, Secret>,
    config: &ConnectionConfig,
    now: DateTime<Utc>,
    token_url: Option<&str>,
) -> Result<SignedAssertion, EngineError> {
    let jwt = jwt_settings(provider)?;
    let mut vars = assertion_variables(provider, fields, config);
    if let (Some(url), Value::Object(object)) = (token_url, &mut vars) {
        object.insert("token_url".to_owned(), Value::String(url.to_owned()));
    }
    add_public_key_sha256(provider, jwt, &mut vars)?;
    let expires_at = now.checked_add_signed(lifetime(jwt)).ok_or_else(|| {
        EngineError::template(
            &provider.name,
            "auth.lifetime_seconds",
            format!("{} seconds is out of range", jwt.lifetime_seconds),
        )
    })?;
    let claims = render_claims(provider, jwt, &vars, now, expires_at)?;
    let header = render_header(provider, jwt, &vars)?;
    let key = signing_key(provider, jwt, &vars)?;

    let assertion = jsonwebtoken::encode(&header, &claims, &key).map_err(|err| {
        EngineError::InvalidCredential(format!(
            "signing the JWT of provider `{}` with {:?} failed: {err}",
            provider.name, jwt.algorithm
        ))
    })?;
    Ok(SignedAssertion {
        assertion: Secret::new(assertion),
        issued_at: now,
        expires_at,
    })
}

/// Checks that every entered value the definition requires is present and
/// that no value has a key the definition lacks.
pub fn check_entered_values(
    provider: &Provider,
    fields: &BTreeMap<String, Secret>,
) -> Result<(), EngineError> {
    let jwt = jwt_settings(provider)?;
    for (key, field) in &jwt.credentials {
        let present = fields
            .get(key)
            .is_some_and(|v| !v.expose().trim().is_empty());
        if !field.optional && !present {
            return Err(EngineError::MissingCredential(format!(
                "missing field `credentials.{key}` ({}): provider `{}` requires it",
                field.title, provider.name
            )));
        }
    }
    if let Some(unknown) = fields
        .keys()
        .find(|key| !jwt.credentials.contains_key(*key))
    {
        let known: Vec<String> = jwt.credentials.keys().map(|k| format!("`{k}`")).collect();
        return Err(EngineError::InvalidCredential(format!(
            "unknown field `credentials.{unknown}`: provider `{}` takes {}",
            provider.name,
            known.join(", ")
        )));
    }
    Ok(())
}

/// Checks a value for entered field `key` that is the whole signing key,
/// such as a private key that an integration sets for every connection,
/// by building the key from it. A field that is not the signing key on
/// its own, or a provider of another mode, passes unchecked, because the
/// key then needs values that are not known yet.
pub fn check_signing_key_field(
    provider: &Provider,
    key: &str,
    value: &str,
) -> Result<(), EngineError> {
    let Auth::Jwt(jwt) = &provider.auth else {
        return Ok(());
    };
    let whole_key = format!("credentials.{key}");
    if variable_paths(&jwt.signing_key) != [whole_key] {
        return Ok(());
    }
    let vars = json!({ "credentials": { key: value } });
    signing_key(provider, jwt, &vars).map(drop)
}

/// Template variables of the assertion: the connection config, and the
/// entered values under `credentials`.
pub(crate) fn assertion_variables(
    provider: &Provider,
    fields: &BTreeMap<String, Secret>,
    config: &ConnectionConfig,
) -> Value {
    let mut vars = config_variables(provider, config);
    // A blank value counts as unset, as `check_entered_values` counts it.
    let entered: Map<String, Value> = fields
        .iter()
        .filter(|(_, value)| !value.expose().trim().is_empty())
        .map(|(key, value)| (key.clone(), Value::String(value.expose().to_owned())))
        .collect();
    if let Value::Object(object) = &mut vars {
        object.insert("credentials".to_owned(), Value::Object(entered));
    }
    vars
}

/// Checks whether `template` reads an optional entered value that is unset
/// or blank, and no other missing variable, so that its claim is left out.
fn uses_unset_optional_credential(jwt: &Jwt, template: &str, vars: &Value) -> bool {
    let missing: Vec<String> = variable_paths(template)
        .into_iter()
        .filter(|path| {
            vars.pointer(&format!("/{}", path.replace('.', "/")))
                .is_none()
        })
        .collect();
    !missing.is_empty()
        && missing.iter().all(|path| {
            path.strip_prefix("credentials.")
                .and_then(|key| jwt.credentials.get(key))
                .is_some_and(|field| field.optional)
        })
}

/// Sets `public_key_sha256` when a claim or header template reads it, so
/// that other definitions never parse their key twice.
fn add_public_key_sha256(
    provider: &Provider,
    jwt: &Jwt,
    vars: &mut Value,
) -> Result<(), EngineError> {
    let reads_fingerprint = jwt
        .claims
        .values()
        .chain(jwt.header.values())
        .any(|template| {
            variable_paths(template)
                .iter()
                .any(|path| path == PUBLIC_KEY_SHA256)
        });
    if !reads_fingerprint {
        return Ok(());
    }
    let pem = render(&provider.name, "auth.signing_key", &jwt.signing_key, vars)?;
    let fingerprint = rsa_public_key_sha256(&pem_text(&pem)).map_err(|detail| {
        EngineError::InvalidCredential(format!(
            "{} of provider `{}` has no public key fingerprint: {detail}",
            key_fields(&jwt.signing_key),
            provider.name
        ))
    })?;
    if let Value::Object(object) = vars {
        object.insert(PUBLIC_KEY_SHA256.to_owned(), Value::String(fingerprint));
    }
    Ok(())
}

/// Renders the claims, then sets `iat`, `exp` and `jti`. A claim listed in
/// `list_claims` becomes an array of its space-separated parts, and one in
/// `array_claims` an array of its whole value.
pub(crate) fn render_claims(
    provider: &Provider,
    jwt: &Jwt,
    vars: &Value,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Map<String, Value>, EngineError> {
    let mut claims = Map::new();
    for (name, template) in &jwt.claims {
        if uses_unset_optional(provider, template, vars)
            || uses_unset_optional_credential(jwt, template, vars)
        {
            continue;
        }
        let value = render(
            &provider.name,
            &format!("auth.claims.{name}"),
            template,
            vars,
        )?;
        let value = if jwt.list_claims.contains(name) {
            Value::Array(
                value
                    .split_whitespace()
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            )
        } else if jwt.array_claims.contains(name) {
            Value::Array(vec![Value::String(value)])
        } else {
            Value::String(value)
        };
        claims.insert(name.clone(), value);
    }
    claims.insert("iat".to_owned(), json!(now.timestamp()));
    claims.insert("exp".to_owned(), json!(expires_at.timestamp()));
    if jwt.jti {
        let jti = oauth2::CsrfToken::new_random_len(JTI_BYTES).into_secret();
        claims.insert("jti".to_owned(), Value::String(jti));
    }
    Ok(claims)
}

fn render_header(provider: &Provider, jwt: &Jwt, vars: &Value) -> Result<Header, EngineError> {
    let mut header = Header::new(algorithm(jwt.algorithm));
    for (name, template) in &jwt.header {
        let value = render(
            &provider.name,
            &format!("auth.header.{name}"),
            template,
            vars,
        )?;
        match name.as_str() {
            "kid" => header.kid = Some(value),
            "typ" => header.typ = Some(value),
            "x5t#S256" => header.x5t_s256 = Some(value),
            // The schema allows only `kid`, `typ` and `x5t#S256`.
            _ => {
                return Err(EngineError::template(
                    &provider.name,
                    &format!("auth.header.{name}"),
                    "only the header parameters `kid`, `typ` and `x5t#S256` can be set",
                ))
            }
        }
    }
    Ok(header)
}

/// Builds the signing key from the rendered `signing_key`. Errors name the
/// entered fields that the template reads, never the key.
fn signing_key(provider: &Provider, jwt: &Jwt, vars: &Value) -> Result<EncodingKey, EngineError> {
    let text = render(&provider.name, "auth.signing_key", &jwt.signing_key, vars)?;
    let invalid = |expected: &str, detail: String| {
        EngineError::InvalidCredential(format!(
            "{} of provider `{}` is not {expected}: {detail}",
            key_fields(&jwt.signing_key),
            provider.name
        ))
    };
    match jwt.algorithm {
        JwtAlgorithm::RS256 | JwtAlgorithm::PS256
            if jwt.signing_key_format == SigningKeyFormat::Jwk =>
        {
            rsa_jwk_to_pkcs1_der(&text)
                .map(|der| EncodingKey::from_rsa_der(&der))
                .map_err(|detail| invalid("an RSA private JSON Web Key", detail))
        }
        JwtAlgorithm::RS256 | JwtAlgorithm::PS256 => EncodingKey::from_rsa_pem(pem_text(&text).as_bytes()).map_err(|err| {
            invalid(
                "a PEM RSA private key (`-----BEGIN PRIVATE KEY-----` or `-----BEGIN RSA PRIVATE KEY-----`)",
                pem_problem(&err),
            )
        }),
        JwtAlgorithm::ES256 => EncodingKey::from_ec_pem(pem_text(&text).as_bytes()).map_err(|err| {
            invalid(
                "a PEM PKCS#8 P-256 private key (`-----BEGIN PRIVATE KEY-----`)",
                pem_problem(&err),
            )
        }),
        JwtAlgorithm::HS256 => match jwt.hmac_key_encoding {
            HmacKeyEncoding::Utf8 => Ok(EncodingKey::from_secret(text.as_bytes())),
            HmacKeyEncoding::Hex => hex::decode(text.trim())
                .map(|bytes| EncodingKey::from_secret(&bytes))
                .map_err(|err| invalid("a hexadecimal secret", err.to_string())),
        },
    }
}

/// Describes why a PEM key did not load, in words rather than the name of
/// the library's error variant.
fn pem_problem(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => {
            "the text is not a PEM block of that kind of key".to_owned()
        }
        _ => error.to_string(),
    }
}

/// Restores the line breaks of a PEM key pasted with literal `\n`
/// sequences, as keys copied from JSON files often are.
pub(crate) fn pem_text(text: &str) -> String {
    let text = text.trim();
    if !text.contains('\n') && text.contains("\\n") {
        text.replace("\\n", "\n")
    } else {
        text.to_owned()
    }
}

/// Names the entered fields a template reads, for example
/// "field `credentials.private_key`".
fn key_fields(template: &str) -> String {
    let fields: Vec<String> = variable_paths(template)
        .into_iter()
        .filter(|path| path.starts_with("credentials."))
        .map(|path| format!("`{path}`"))
        .collect();
    match fields.len() {
        0 => "the signing key".to_owned(),
        1 => format!("field {}", fields[0]),
        _ => format!("the signing key built from fields {}", fields.join(", ")),
    }
}

fn algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::HS256 => Algorithm::HS256,
    }
}

fn lifetime(jwt: &Jwt) -> TimeDelta {
    i64::try_from(jwt.lifetime_seconds)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::provider_from_yaml;
    use jsonwebtoken::{DecodingKey, Validation};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// Builds a `jwt` provider signing with HS256 over `SECRET`, with `claims` as
    /// the YAML of its claims map.
    fn provider(claims: &str, extra: &str) -> Provider {
        provider_from_yaml(&format!(
            r#"
name: claims
display_name: Claims
connection_config:
  tenant: {{ title: Tenant }}
  scope: {{ title: Scope, optional: true }}
auth:
  mode: jwt
  algorithm: HS256
  credentials:
    secret: {{ title: Secret }}
    issuer: {{ title: Issuer }}
  signing_key: "{{{{ credentials.secret }}}}"
  claims: {claims}
  lifetime_seconds: 600
{extra}
proxy:
  base_url: https://api.claims.example
"#
        ))
    }

    fn entered() -> BTreeMap<String, Secret> {
        BTreeMap::from([
            ("secret".to_owned(), Secret::new(SECRET)),
            ("issuer".to_owned(), Secret::new("iss-1")),
        ])
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    /// Signs with `provider` and decodes the payload with the same secret.
    fn signed_claims(provider: &Provider, config: Value) -> Map<String, Value> {
        let config = config.as_object().unwrap().clone();
        let signed = sign_assertion(provider, &entered(), &config, now()).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Map<String, Value>>(
            signed.assertion.expose(),
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims
    }

    #[test]
    fn claims_rendered_from_table() {
        let cases = [
            (
                "entered value and config",
                r#"{ iss: "{{ credentials.issuer }}", sub: "{{ tenant }}" }"#,
                "",
                json!({"tenant": "t-1"}),
                json!({"iss": "iss-1", "sub": "t-1"}),
            ),
            (
                "static audience",
                r#"{ aud: "https://oauth2.example/token" }"#,
                "",
                json!({"tenant": "t-1"}),
                json!({"aud": "https://oauth2.example/token"}),
            ),
            (
                "list claim",
                r#"{ scope: "{{ scope }}" }"#,
                "  list_claims: [scope]",
                json!({"tenant": "t-1", "scope": "a b  c"}),
                json!({"scope": ["a", "b", "c"]}),
            ),
            (
                "optional value unset",
                r#"{ iss: x, scope: "{{ scope }}" }"#,
                "",
                json!({"tenant": "t-1"}),
                json!({"iss": "x"}),
            ),
        ];
        for (case, claims, extra, config, expected) in cases {
            let mut rendered = signed_claims(&provider(claims, extra), config);

            assert_eq!(
                rendered.remove("iat"),
                Some(json!(now().timestamp())),
                "{case}"
            );
            assert_eq!(
                rendered.remove("exp"),
                Some(json!(now().timestamp() + 600)),
                "{case}"
            );
            assert_eq!(Value::Object(rendered), expected, "{case}");
        }
    }

    #[test]
    fn jti_random_per_assertion() {
        let provider = provider("{ iss: x }", "  jti: true");
        let config = json!({"tenant": "t"});

        let first = signed_claims(&provider, config.clone());
        let second = signed_claims(&provider, config);

        assert!(first["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
        assert_ne!(first["jti"], second["jti"]);
    }

    #[test]
    fn missing_config_value_names_variable() {
        let provider = provider(r#"{ sub: "{{ tenant }}" }"#, "");

        let error = sign_assertion(&provider, &entered(), &ConnectionConfig::new(), now())
            .unwrap_err()
            .to_string();

        assert!(error.contains("auth.claims.sub"), "{error}");
        assert!(error.contains("`tenant`"), "{error}");
    }

    #[test]
    fn invalid_hex_secret_names_field() {
        let provider = provider("{ iss: x }", "  hmac_key_encoding: hex");
        let config = json!({"tenant": "t"}).as_object().unwrap().clone();
        let mut fields = entered();
        fields.insert("secret".to_owned(), Secret::new("not-hex-secret"));

        let error = sign_assertion(&provider, &fields, &config, now()).unwrap_err();

        assert!(
            matches!(error, EngineError::InvalidCredential(_)),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("`credentials.secret`"), "{message}");
        assert!(!message.contains("not-hex-secret"), "{message}");
    }

    #[test]
    fn entered_values_checked() {
        let provider = provider("{ iss: x }", "");
        let mut missing = entered();
        missing.remove("issuer");
        let mut unknown = entered();
        unknown.insert("other".to_owned(), Secret::new("v"));

        let missing = check_entered_values(&provider, &missing)
            .unwrap_err()
            .to_string();
        let unknown = check_entered_values(&provider, &unknown)
            .unwrap_err()
            .to_string();

        assert!(missing.contains("`credentials.issuer`"), "{missing}");
        assert!(unknown.contains("`credentials.other`"), "{unknown}");
        assert!(check_entered_values(&provider, &entered()).is_ok());
    }

    const RSA_PEM: &str = include_str!("../testdata/rsa2048.pem");

    /// Builds an RSA `jwt` provider whose key is entered as `key`.
    fn rsa_provider(auth: &str) -> Provider {
        provider_from_yaml(&format!(
            r#"
name: rsa
display_name: RSA
connection_config:
  host: {{ title: Host, pattern: "[a-z.]+" }}
  audience: {{ title: Audience, optional: true }}
auth:
  mode: jwt
  credentials:
    key: {{ title: Key }}
    client_id: {{ title: Client ID }}
  signing_key: "{{{{ credentials.key }}}}"
  lifetime_seconds: 300
{auth}
proxy:
  base_url: https://api.rsa.example
"#
        ))
    }

    /// Returns the PEM public key of `RSA_PEM`.
    fn rsa_public_pem() -> String {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PEM)
            .unwrap()
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    /// Signs with `provider` and the entered `key`, then verifies the JWT
    /// with the public half of `RSA_PEM`.
    fn decode_rsa(provider: &Provider, key: &str) -> (Header, Map<String, Value>) {
        let fields = BTreeMap::from([
            ("key".to_owned(), Secret::new(key)),
            ("client_id".to_owned(), Secret::new("client-1")),
        ]);
        let config = json!({"host": "login.example"})
            .as_object()
            .unwrap()
            .clone();
        let signed = sign_assertion(provider, &fields, &config, now()).unwrap();
        let jwt = jwt_settings(provider).unwrap();
        let mut validation = Validation::new(algorithm(jwt.algorithm));
        validation.validate_exp = false;
        validation.validate_aud = false;
        let decoded = jsonwebtoken::decode::<Map<String, Value>>(
            signed.assertion.expose(),
            &DecodingKey::from_rsa_pem(rsa_public_pem().as_bytes()).unwrap(),
            &validation,
        )
        .unwrap();
        (decoded.header, decoded.claims)
    }

    #[test]
    fn ps256_with_certificate_thumbprint() {
        let provider = rsa_provider(
            "  algorithm: PS256\n  header:\n    x5t#S256: abc-_1\n  claims:\n    iss: \"{{ credentials.client_id }}\"",
        );

        let (header, claims) = decode_rsa(&provider, RSA_PEM);

        assert_eq!(header.alg, Algorithm::PS256);
        assert_eq!(header.x5t_s256.as_deref(), Some("abc-_1"));
        assert_eq!(claims["iss"], "client-1");
    }

    #[test]
    fn public_key_sha256_in_claim() {
        let provider = rsa_provider(
            "  algorithm: RS256\n  claims:\n    iss: \"ACCT.USER.SHA256:{{ public_key_sha256 }}\"",
        );

        let (_, claims) = decode_rsa(&provider, RSA_PEM);

        // The digest that `openssl pkey -pubout -outform DER | openssl dgst
        // -sha256 -binary | base64` prints for testdata/rsa2048.pem.
        assert_eq!(
            claims["iss"],
            "ACCT.USER.SHA256:6DQ26LSw87qAxDx52ZRgDvmUQxkRAi8OvdS3Zi/VHwU="
        );
    }

    #[test]
    fn jwk_signing_key_verified_with_pem() {
        use base64::Engine as _;
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PEM).unwrap();
        let b64 = |n: &rsa::BigUint| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n.to_bytes_be())
        };
        let jwk = json!({
            "kty": "RSA", "kid": "k1", "n": b64(key.n()), "e": b64(key.e()),
            "d": b64(key.d()), "p": b64(&key.primes()[0]), "q": b64(&key.primes()[1]),
        })
        .to_string();
        let provider = rsa_provider(
            "  algorithm: RS256\n  signing_key_format: jwk\n  claims:\n    sub: \"{{ credentials.client_id }}\"",
        );

        let (header, claims) = decode_rsa(&provider, &jwk);

        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(claims["sub"], "client-1");
    }

    #[test]
    fn optional_credential_claim_left_out() {
        let auth =
            "  algorithm: RS256\n  claims:\n    sub: \"{{ credentials.delegate }}\"\n    iss: x";
        let mut provider = rsa_provider(auth);
        if let Auth::Jwt(jwt) = &mut provider.auth {
            let field: latchkey_catalog::ConfigField =
                serde_yaml::from_str("{ title: Delegate, optional: true }").unwrap();
            jwt.credentials.insert("delegate".to_owned(), field);
        }
        let config = json!({"host": "h"}).as_object().unwrap().clone();
        let unset = BTreeMap::from([("key".to_owned(), Secret::new(RSA_PEM))]);
        let mut blank = unset.clone();
        blank.insert("delegate".to_owned(), Secret::new(" "));
        let mut set = unset.clone();
        set.insert("delegate".to_owned(), Secret::new("user@example.com"));

        for (case, fields, expected) in [
            ("unset", unset, None),
            ("blank", blank, None),
            ("set", set, Some(json!("user@example.com"))),
        ] {
            let signed = sign_assertion(&provider, &fields, &config, now()).unwrap();
            let payload = signed
                .assertion
                .expose()
                .split('.')
                .nth(1)
                .unwrap()
                .to_owned();
            let payload: Map<String, Value> = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(payload.get("sub").cloned(), expected, "{case}");
            assert_eq!(payload["iss"], "x", "{case}");
        }
    }

    #[test]
    fn array_claim_keeps_spaces() {
        let provider = provider(r#"{ scope: "{{ scope }}" }"#, "  array_claims: [scope]");

        let claims = signed_claims(&provider, json!({"tenant": "t", "scope": "GET /v1/apps"}));

        assert_eq!(claims["scope"], json!(["GET /v1/apps"]));
    }

    #[test]
    fn token_request_bodies_by_grant() {
        let cases = [
            (
                "jwt bearer",
                "",
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=A.B.C",
            ),
            (
                "client assertion with params",
                "  grant: client_assertion\n  token_params:\n    client_id: \"{{ credentials.client_id }}\"\n    scope: a b\n    audience: \"{{ audience }}\"",
                "grant_type=client_credentials\
                 &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
                 &client_assertion=A.B.C&client_id=client-1&scope=a+b",
            ),
        ];
        let fields = BTreeMap::from([
            ("key".to_owned(), Secret::new(RSA_PEM)),
            ("client_id".to_owned(), Secret::new("client-1")),
        ]);
        let config = json!({"host": "h"}).as_object().unwrap().clone();
        for (case, extra, expected) in cases {
            let provider = rsa_provider(&format!(
                "  algorithm: RS256\n  token_url: https://{{{{ host }}}}/token\n{extra}"
            ));
            let jwt = jwt_settings(&provider).unwrap();

            let body = token_request_body(&provider, jwt, &fields, &config, &Secret::new("A.B.C"))
                .unwrap();

            assert_eq!(body, expected, "{case}");
        }
    }

    #[test]
    fn invalid_jwk_names_field_not_key() {
        let provider = rsa_provider("  algorithm: RS256\n  signing_key_format: jwk");
        let fields = BTreeMap::from([
            (
                "key".to_owned(),
                Secret::new(r#"{"kty":"RSA","n":"secret-n"}"#),
            ),
            ("client_id".to_owned(), Secret::new("c")),
        ]);
        let config = json!({"host": "h"}).as_object().unwrap().clone();

        let error = sign_assertion(&provider, &fields, &config, now()).unwrap_err();

        let message = error.to_string();
        assert!(
            matches!(error, EngineError::InvalidCredential(_)),
            "{message}"
        );
        assert!(message.contains("`credentials.key`"), "{message}");
        assert!(message.contains("RSA private JSON Web Key"), "{message}");
        assert!(!message.contains("secret-n"), "{message}");
    }

    #[test]
    fn escaped_pem_line_breaks_restored() {
        let text = "-----BEGIN PRIVATE KEY-----\\nABC\\n-----END PRIVATE KEY-----";

        assert_eq!(
            pem_text(text),
            "-----BEGIN PRIVATE KEY-----\nABC\n-----END PRIVATE KEY-----"
        );
        assert_eq!(pem_text("a\nb\\nc"), "a\nb\\nc");
    }
}
