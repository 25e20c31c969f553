//! Conversion of Nango's entries that sign a credential rather than store
//! one.
//!
//! JWTs become the `jwt` mode: auth mode JWT, the `signature` JWT of a
//! TWO_STEP entry, the `assertion` JWT and OAUTH2_CC's `private_key_jwt`.
//! Emarsys's WSSE header (auth mode SIGNATURE), Duo's HMAC-SHA1 request
//! signature (a BASIC entry with `${hmacSha1Hex(...)}`) and HTTP Message
//! Signatures with Ed25519 (a BASIC entry with `${ed25519Sign(...)}`) become
//! the `signature` mode.
//! BASIC entries whose authorization header is `${awsSigV4(...)}` become the
//! `aws_sigv4` mode.

use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::{Mapping, Value};

use super::nango_integration_config::integration_only_credentials;
use super::nango_two_step::entered_field;
use super::{insert_map, mapping, scalar_text, string, Builder, FIELD_KEY};
use crate::import::template::{translate, Translated, Variable};
use crate::import::Reason;

/// `grant_type` of the JWT bearer grant (RFC 7523 section 2.1).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `client_assertion_type` of a JWT client assertion (RFC 7523 section 2.2).
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Keys of the `credentials` object of the connection API, which no entered
/// value of the `jwt` mode may take.
const RESERVED_JWT_FIELDS: &[&str] = &["type", "token", "expires_at", "raw"];

/// Top-level keys that a signing conversion reads, besides the OAuth keys
/// that [`Builder::jwt`] reads itself.
const SIGNING_KEYS: &[&str] = &[
    "signature",
    "token",
    "assertion",
    "assertion_option",
    "token_response",
    "additional_steps",
];

/// The lifetime of Okta's client assertions: Okta rejects a `private_key_jwt`
/// whose `exp` is more than one hour after `iat`.
const OKTA_ASSERTION_SECONDS: u64 = 3600;

/// Returns the Latchkey mode of an entry that signs, `None` for an entry of
/// another kind, or the reason a signing entry cannot be converted.
pub(super) fn signing_mode(entry: &Mapping) -> Result<Option<&'static str>, Reason> {
    let nango_mode = string(entry, "auth_mode").unwrap_or_default();
    if let Some(assertion) = mapping(entry, "assertion") {
        return match string(assertion, "type") {
            Some("jwt") => Ok(Some("jwt")),
            // A SAML assertion is part of the `two_step` mode; see
            // nango_saml.rs.
            Some("saml") if nango_mode == "TWO_STEP" => Ok(None),
            Some("saml") => Err(Reason::new(
                "SAML 2.0 bearer assertion outside TWO_STEP",
                format!("`assertion.type` is `saml` in auth mode {nango_mode}, and Latchkey signs SAML 2.0 assertions only for the token request of TWO_STEP entries"),
            )),
            _ => Err(Reason::no_equivalent("assertion")),
        };
    }
    let mode = match nango_mode {
        "JWT" => Some("jwt"),
        "TWO_STEP" if mapping(entry, "token").is_some_and(|t| t.contains_key("signing_key")) => {
            Some("jwt")
        }
        // Only a private key that the end user enters converts: the OAuth
        // modes keep their client credentials per integration.
        "OAUTH2_CC"
            if string(entry, "token_request_auth_method") == Some("private_key_jwt")
                && entered_private_jwk(entry) =>
        {
            Some("jwt")
        }
        "SIGNATURE" => match mapping(entry, "signature").and_then(|s| string(s, "protocol")) {
            Some("WSSE") => Some("signature"),
            other => {
                return Err(Reason::new(
                    Reason::unsupported_mode("SIGNATURE").kind,
                    format!(
                        "auth mode SIGNATURE with protocol {}: only WSSE has a Latchkey form",
                        other.unwrap_or("(none)")
                    ),
                ))
            }
        },
        // Temporary keys from STS AssumeRole; see nango_assume_role.rs.
        "AWS_SIGV4" => Some("aws_sigv4"),
        "BASIC" if aws_header(entry).is_some() => Some("aws_sigv4"),
        "BASIC" if duo_header(entry).is_some() => Some("signature"),
        "BASIC" if message_signature_header(entry).is_some() => Some("signature"),
        _ => None,
    };
    Ok(mode)
}

/// Checks whether the end user enters the client id and the private JWK of
/// a `private_key_jwt` entry.
fn entered_private_jwk(entry: &Mapping) -> bool {
    mapping(entry, "credentials").is_some_and(|credentials| {
        credentials.contains_key("client_id") && credentials.contains_key("client_private_key")
    })
}

/// Checks whether a top-level key belongs to the conversion of a signing
/// mode.
pub(super) fn known_key(mode: &str, key: &str) -> bool {
    match mode {
        "jwt" => SIGNING_KEYS.contains(&key),
        "signature" => matches!(key, "signature" | "token"),
        _ => false,
    }
}

/// Checks whether a proxy header is one that the signing mode sets itself,
/// so that the proxy conversion leaves it out.
pub(super) fn set_by_mode(mode: &str, location: &str, name: &str) -> bool {
    location == "headers"
        && match mode {
            "aws_sigv4" => {
                name.eq_ignore_ascii_case("authorization")
                    || name.eq_ignore_ascii_case("x-amz-date")
            }
            "signature" => ["authorization", "date"]
                .iter()
                .chain(MESSAGE_SIGNATURE_HEADERS)
                .any(|header| name.eq_ignore_ascii_case(header)),
            _ => false,
        }
}

/// Returns the `proxy.headers.authorization` of an entry when it is a
/// `${awsSigV4(...)}` call.
fn aws_header(entry: &Mapping) -> Option<&str> {
    let headers = mapping(entry, "proxy").and_then(|proxy| mapping(proxy, "headers"))?;
    headers.iter().find_map(|(name, value)| {
        let name = name.as_str()?;
        let value = value.as_str()?;
        (name.eq_ignore_ascii_case("authorization") && value.starts_with("${awsSigV4("))
            .then_some(value)
    })
}

/// The opening and the end of Duo's `Authorization` header in Nango's form,
/// around the lines of the signed text.
const DUO_PREFIX: &str = "Basic ${base64(${credentials.username}:${hmacSha1Hex(";
const DUO_SUFFIX: &str = ", ${credentials.password})})}";

/// The time format of Duo's `Date` header in Nango's Day.js tokens.
const DUO_DATE: &str = "${now:ddd, DD MMM YYYY HH:mm:ss ZZ}";

/// Returns the `proxy.headers.authorization` of an entry when it is Duo's
/// `Basic ${base64(USERNAME:${hmacSha1Hex(TEXT, PASSWORD)})}`.
fn duo_header(entry: &Mapping) -> Option<&str> {
    let headers = mapping(entry, "proxy").and_then(|proxy| mapping(proxy, "headers"))?;
    headers.iter().find_map(|(name, value)| {
        let name = name.as_str()?;
        let value = value.as_str()?;
        (name.eq_ignore_ascii_case("authorization") && value.contains("${hmacSha1Hex("))
            .then_some(value)
    })
}

/// The headers of an HTTP message signature that the `signature` mode sets
/// itself. `content-type` is signed too, but it stays a proxy header as
/// well, because other signing entries send it unsigned.
const MESSAGE_SIGNATURE_HEADERS: &[&str] = &["content-digest", "signature-input", "signature"];

/// The covered components and parameters of Nango's HTTP message signature
/// (RFC 9421), after `sig=` in `Signature-Input`.
const NANGO_SIGNATURE_PARAMS: &str = r#"("@method" "@target-uri" "content-digest" "content-type");alg="ed25519";created=${now:X};expires=${now+1:minutes:X};keyid="${credentials.username}""#;

/// Nango's RFC 9530 `Content-Digest` of the body.
const NANGO_CONTENT_DIGEST: &str = "sha-256=:${sha256Base64(${bodyCanonicalParams})}:";

/// The same signature parameters in the engine's templates: `now()` is the
/// signing time, which `timestamp` writes in Unix seconds.
const SIGNATURE_PARAMS: &str = r#"("@method" "@target-uri" "content-digest" "content-type");alg="ed25519";created={{ timestamp }};expires={{ now('unix', minutes=1) }};keyid="{{ username }}""#;

/// Returns the `proxy.headers.signature` of an entry when it is an
/// `${ed25519Sign(...)}` call.
fn message_signature_header(entry: &Mapping) -> Option<&str> {
    let headers = mapping(entry, "proxy").and_then(|proxy| mapping(proxy, "headers"))?;
    headers.iter().find_map(|(name, value)| {
        let name = name.as_str()?;
        let value = value.as_str()?;
        (name.eq_ignore_ascii_case("signature") && value.contains("${ed25519Sign("))
            .then_some(value)
    })
}

/// Returns the proxy header `name` of an entry, matched without regard to
/// case.
fn proxy_header<'e>(entry: &'e Mapping, name: &str) -> Option<&'e str> {
    let headers = mapping(entry, "proxy").and_then(|proxy| mapping(proxy, "headers"))?;
    headers.iter().find_map(|(key, value)| {
        key.as_str()
            .is_some_and(|key| key.eq_ignore_ascii_case(name))
            .then(|| value.as_str())
            .flatten()
    })
}

/// One JWT that Nango signs, from `token` or `assertion`.
struct NangoJwt<'e> {
    /// The field of the entry, for reasons: `token` or `assertion`.
    field: &'static str,
    key: &'e str,
    lifetime_seconds: u64,
    header: Option<&'e Mapping>,
    payload: Option<&'e Mapping>,
}

impl<'e> NangoJwt<'e> {
    fn from_entry(entry: &'e Mapping) -> Result<Option<NangoJwt<'e>>, Reason> {
        if let Some(token) = mapping(entry, "token").filter(|t| t.contains_key("signing_key")) {
            check_keys(
                token,
                "token",
                &["signing_key", "expires_in_ms", "header", "payload"],
            )?;
            let lifetime_ms = token.get("expires_in_ms").and_then(Value::as_u64);
            return Ok(Some(NangoJwt {
                field: "token",
                key: string(token, "signing_key").unwrap_or_default(),
                lifetime_seconds: lifetime_ms.map_or(0, |ms| ms / 1000),
                header: mapping(token, "header"),
                payload: mapping(token, "payload"),
            }));
        }
        let Some(assertion) = mapping(entry, "assertion") else {
            return Ok(None);
        };
        check_keys(
            assertion,
            "assertion",
            &[
                "type",
                "key",
                "lifetimeInSeconds",
                "header",
                "payload",
                "singleUse",
            ],
        )?;
        // Latchkey signs a new assertion for every token request, so an
        // assertion that the provider accepts only once needs no field.
        if assertion
            .get("singleUse")
            .is_some_and(|value| !value.is_bool())
        {
            return Err(Reason::malformed("`assertion.singleUse` is not a boolean"));
        }
        let lifetime = assertion.get("lifetimeInSeconds").and_then(scalar_text);
        Ok(Some(NangoJwt {
            field: "assertion",
            key: string(assertion, "key").unwrap_or_default(),
            lifetime_seconds: lifetime.and_then(|text| text.parse().ok()).unwrap_or(0),
            header: mapping(assertion, "header"),
            payload: mapping(assertion, "payload"),
        }))
    }
}

/// Rejects a key of `map` that the conversion does not read.
fn check_keys(map: &Mapping, field: &str, known: &[&str]) -> Result<(), Reason> {
    for key in map.keys().filter_map(Value::as_str) {
        if !known.contains(&key) {
            return Err(Reason::no_equivalent(&format!("{field}.{key}")));
        }
    }
    Ok(())
}

impl Builder<'_> {
    /// Converts a JWT entry into the `jwt` mode: the entered values, the
    /// signing key, the JOSE header and the claims, and for an entry with a
    /// `token_url` the token request that exchanges the JWT.
    pub(super) fn jwt(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        auth.insert("credentials".into(), Value::Mapping(self.jwt_fields()?));
        if string(entry, "token_request_auth_method") == Some("private_key_jwt") {
            return self.private_key_jwt(auth);
        }
        let jwt = NangoJwt::from_entry(entry)?
            .ok_or_else(|| Reason::malformed("the entry has no JWT to sign"))?;
        let algorithm = self.jwt_algorithm(&jwt)?;
        auth.insert("algorithm".into(), algorithm.into());
        let signing_key = self.jwt_template(&format!("{}.key", jwt.field), jwt.key)?;
        auth.insert("signing_key".into(), signing_key.into());
        if algorithm == "HS256" {
            self.hmac_key(auth)?;
        }

        let mut header = Mapping::new();
        for (name, value) in jwt.header.into_iter().flatten() {
            let (Some(name), Some(value)) = (name.as_str(), scalar_text(value)) else {
                return Err(Reason::malformed(&format!(
                    "`{}.header` is not a map of strings",
                    jwt.field
                )));
            };
            let field = format!("{}.header.{name}", jwt.field);
            match name {
                "alg" => {}
                "kid" | "typ" | "x5t#S256" => {
                    header.insert(name.into(), self.jwt_template(&field, &value)?.into());
                }
                _ => return Err(Reason::no_equivalent(&field)),
            }
        }
        insert_map(auth, "header", header);

        let mut claims = Mapping::new();
        let mut array_claims = Vec::new();
        let mut jti = false;
        for (name, value) in jwt.payload.into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| Reason::malformed("a claim name is not a string"))?;
            let field = format!("{}.payload.{name}", jwt.field);
            if matches!(name, "iat" | "exp") {
                return Err(Reason::no_equivalent(&field));
            }
            let text = match value {
                Value::Sequence(items) if items.len() == 1 => {
                    array_claims.push(Value::from(name));
                    scalar_text(&items[0])
                }
                other => scalar_text(other),
            }
            .ok_or_else(|| Reason::no_equivalent(&field))?;
            if name == "jti" && text == "${random}" {
                jti = true;
                continue;
            }
            if text.contains("${fingerprint(")
                && !text.contains(&format!("${{fingerprint({})}}", jwt.key))
            {
                return Err(Reason::template(
                    &field,
                    "`${fingerprint(...)}` takes a key other than the signing key",
                ));
            }
            claims.insert(name.into(), self.jwt_template(&field, &text)?.into());
        }
        insert_map(auth, "claims", claims);
        if !array_claims.is_empty() {
            auth.insert("array_claims".into(), array_claims.into());
        }
        if jti {
            auth.insert("jti".into(), true.into());
        }
        if jwt.lifetime_seconds == 0 {
            return Err(Reason::malformed(&format!(
                "`{}` has no positive lifetime",
                jwt.field
            )));
        }
        auth.insert("lifetime_seconds".into(), jwt.lifetime_seconds.into());

        if entry.contains_key("token_url") {
            self.jwt_exchange(auth)?;
            self.additional_steps(auth)?;
        } else if entry.contains_key("additional_steps") {
            return Err(Reason::malformed(
                "`additional_steps` follow a token request, but `token_url` is missing",
            ));
        }
        if let Some(inject) = self.jwt_inject()? {
            auth.insert("inject".into(), Value::Mapping(inject));
        }
        Ok(())
    }

    /// Converts OAUTH2_CC with `token_request_auth_method: private_key_jwt`:
    /// the client credentials grant authenticated with a JWT that the
    /// client's private JWK signs, with the claims OpenID Connect Core
    /// section 9 fixes (`iss` and `sub` the client id, `aud` the token
    /// endpoint that the request goes to, a random `jti`).
    fn private_key_jwt(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        let nango_url = string(entry, "token_url")
            .ok_or_else(|| Reason::malformed("`token_url` is missing"))?;
        self.insert_url(auth, "token_url", "token_url", nango_url)?;
        auth.insert("algorithm".into(), "RS256".into());
        auth.insert(
            "signing_key".into(),
            "{{ credentials.client_private_key }}".into(),
        );
        auth.insert("signing_key_format".into(), "jwk".into());
        let mut claims = Mapping::new();
        claims.insert("iss".into(), "{{ credentials.client_id }}".into());
        claims.insert("sub".into(), "{{ credentials.client_id }}".into());
        claims.insert("aud".into(), "{{ token_url }}".into());
        auth.insert("claims".into(), Value::Mapping(claims));
        auth.insert("jti".into(), true.into());
        auth.insert("lifetime_seconds".into(), OKTA_ASSERTION_SECONDS.into());
        self.jwt_exchange(auth)?;
        self.additional_steps(auth)?;
        if let Some(inject) = self.jwt_inject()? {
            auth.insert("inject".into(), Value::Mapping(inject));
        }
        Ok(())
    }

    /// Converts the entered values: Nango's `credentials` without the
    /// automated `assertion`, its `assertion_option` fields, and the
    /// `integration_config` keys that only the templates read, which
    /// [`super::nango_integration_config::mark_defaults`] marks as
    /// integration defaults.
    fn jwt_fields(&self) -> Result<Mapping, Reason> {
        let mut fields = Mapping::new();
        let config = mapping(self.entry, "connection_config");
        for source in ["credentials", "assertion_option"] {
            for (key, definition) in mapping(self.entry, source).into_iter().flatten() {
                let key = key
                    .as_str()
                    .ok_or_else(|| Reason::malformed("a credential key is not a string"))?;
                let definition = definition.as_mapping().ok_or_else(|| {
                    Reason::malformed(&format!("credential field `{key}` is not a mapping"))
                })?;
                if definition.get("automated").and_then(Value::as_bool) == Some(true) {
                    if key == "assertion" {
                        continue;
                    }
                    return Err(Reason::new(
                        "credential field that Nango fills itself",
                        format!("credential field `{key}` is automated, so Nango's connect step fills it in a way the catalog does not describe"),
                    ));
                }
                if !FIELD_KEY.is_match(key) || RESERVED_JWT_FIELDS.contains(&key) {
                    return Err(Reason::template(
                        source,
                        &format!("credential field `{key}` is not a free template variable name"),
                    ));
                }
                if config.is_some_and(|config| config.contains_key(key)) || fields.contains_key(key)
                {
                    return Err(Reason::template(
                        source,
                        &format!("`{key}` is declared twice"),
                    ));
                }
                fields.insert(key.into(), Value::Mapping(entered_field(key, definition)?));
            }
        }
        for (key, definition) in integration_only_credentials(self.entry) {
            if !FIELD_KEY.is_match(key) || RESERVED_JWT_FIELDS.contains(&key) {
                return Err(Reason::template(
                    "integration_config",
                    &format!("integration_config key `{key}` is not a free template variable name"),
                ));
            }
            fields.insert(key.into(), Value::Mapping(entered_field(key, definition)?));
        }
        if fields.is_empty() {
            return Err(Reason::malformed("`credentials` is missing"));
        }
        Ok(fields)
    }

    /// Returns the JWS algorithm of the header's `alg`, checked against
    /// Nango's `signature.protocol` where the entry has one.
    fn jwt_algorithm(&self, jwt: &NangoJwt<'_>) -> Result<&'static str, Reason> {
        let alg = jwt.header.and_then(|header| string(header, "alg"));
        let algorithm = match alg {
            Some("RS256") => "RS256",
            Some("PS256") => "PS256",
            Some("ES256") => "ES256",
            Some("HS256") => "HS256",
            Some(other) => {
                return Err(Reason::new(
                    "JWT algorithm with no Latchkey form",
                    format!(
                    "`{}.header.alg` is `{other}`; Latchkey signs RS256, PS256, ES256 and HS256",
                    jwt.field
                ),
                ))
            }
            None => {
                return Err(Reason::malformed(&format!(
                    "`{}.header.alg` is missing",
                    jwt.field
                )))
            }
        };
        let protocol = mapping(self.entry, "signature").and_then(|s| string(s, "protocol"));
        let expected = match algorithm {
            "HS256" => "HMAC",
            "ES256" => "EC",
            _ => "RSA",
        };
        if protocol.is_some_and(|protocol| protocol != expected) {
            return Err(Reason::malformed(&format!(
                "`signature.protocol` does not match `{}.header.alg` {algorithm}",
                jwt.field
            )));
        }
        Ok(algorithm)
    }

    /// Sets how an HS256 secret becomes key bytes. Nango's
    /// `signature.hmac_secret_encoding` is `utf8` where the secret is used
    /// as text, and the secret is hexadecimal when it is absent, as Ghost's
    /// Admin API keys are.
    fn hmac_key(&self, auth: &mut Mapping) -> Result<(), Reason> {
        let encoding = mapping(self.entry, "signature")
            .and_then(|signature| string(signature, "hmac_secret_encoding"));
        match encoding {
            Some("utf8") => Ok(()),
            None | Some("hex") => {
                auth.insert("hmac_key_encoding".into(), "hex".into());
                Ok(())
            }
            Some(other) => Err(Reason::no_equivalent(&format!(
                "signature.hmac_secret_encoding` `{other}"
            ))),
        }
    }

    /// Converts the token request that exchanges the JWT: the JWT bearer
    /// grant (`assertion: ${token}` or `${credentials.assertion}`), or the
    /// client credentials grant with the JWT as `client_assertion`. The
    /// other token parameters become `token_params`.
    fn jwt_exchange(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        let nango_url = string(entry, "token_url")
            .ok_or_else(|| Reason::malformed("`token_url` is missing"))?;
        if auth.get("token_url").is_none() {
            let url = self.url("token_url", nango_url)?;
            auth.insert("token_url".into(), url.into());
        }
        match string(entry, "body_format") {
            None | Some("form") => {}
            Some(other) => {
                return Err(Reason::no_equivalent(&format!("body_format` `{other}")));
            }
        }
        for (name, value) in mapping(entry, "token_headers").into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let value = value.as_str().unwrap_or_default();
            // The engine sends the form with these two headers itself.
            let sent = (name.eq_ignore_ascii_case("content-type")
                && value == "application/x-www-form-urlencoded")
                || (name.eq_ignore_ascii_case("accept") && value == "application/json");
            if !sent {
                return Err(Reason::no_equivalent(&format!("token_headers.{name}")));
            }
        }

        let mut grant = None;
        let mut params = Mapping::new();
        let private_key_jwt = string(entry, "token_request_auth_method") == Some("private_key_jwt");
        for (name, value) in mapping(entry, "token_params").into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| Reason::malformed("a token parameter name is not a string"))?;
            let value = scalar_text(value)
                .ok_or_else(|| Reason::malformed("a token parameter is not a string"))?;
            let assertion = matches!(value.as_str(), "${token}" | "${credentials.assertion}");
            match (name, value.as_str()) {
                ("grant_type", JWT_BEARER) => grant = grant.or(Some("jwt_bearer")),
                ("grant_type", "client_credentials")
                    if private_key_jwt || entry.contains_key("assertion") =>
                {
                    grant = Some("client_assertion")
                }
                ("assertion", _) | ("client_assertion", _) if assertion => {}
                ("client_assertion_type", CLIENT_ASSERTION_TYPE) => {}
                ("grant_type" | "assertion" | "client_assertion" | "client_assertion_type", _) => {
                    return Err(Reason::no_equivalent(&format!("token_params.{name}")));
                }
                _ => {
                    let field = format!("token_params.{name}");
                    params.insert(name.into(), self.jwt_template(&field, &value)?.into());
                }
            }
        }
        if private_key_jwt {
            grant = Some("client_assertion");
            if let Some(scopes) = mapping(entry, "connection_config")
                .filter(|config| config.contains_key("oauth_scopes"))
                .map(|_| "{{ oauth_scopes }}")
            {
                params.insert("scope".into(), scopes.into());
                self.record(&config_usage("oauth_scopes"), false);
            }
        }
        match grant {
            Some("client_assertion") => {
                auth.insert("grant".into(), "client_assertion".into());
            }
            Some(_) => {}
            None => return Err(Reason::no_equivalent("token_params.grant_type")),
        }
        insert_map(auth, "token_params", params);
        self.jwt_response(auth)
    }

    /// Converts `token_response` and `token_response_metadata` of the
    /// exchange.
    fn jwt_response(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        let mut response = Mapping::new();
        if let Some(nango) = mapping(entry, "token_response") {
            check_keys(
                nango,
                "token_response",
                &["token", "token_expiration", "token_expiration_strategy"],
            )?;
            let token = string(nango, "token").unwrap_or("access_token");
            if token != "access_token" {
                response.insert("access_token".into(), token.into());
            }
            match (
                string(nango, "token_expiration"),
                string(nango, "token_expiration_strategy"),
            ) {
                (None, None) => {}
                (Some(path), Some("expireIn")) => {
                    if path != "expires_in" {
                        response.insert("expires_in".into(), path.into());
                    }
                }
                _ => return Err(Reason::no_equivalent("token_response.token_expiration")),
            }
        }
        // Salesforce's JWT entry writes 0, which states no lifetime.
        if let Some(ms) = entry.get("token_expires_in_ms").and_then(Value::as_u64) {
            if ms >= 1000 {
                response.insert("default_expires_in".into(), (ms / 1000).into());
            }
        }
        let mut captured = Mapping::new();
        for (key, path) in self.metadata_keys("token_response_metadata")? {
            captured.insert(key.into(), path.into());
        }
        insert_map(&mut response, "connection_config", captured);
        insert_map(auth, "token_response", response);
        Ok(())
    }

    /// Builds `inject` from the proxy header that carries `${accessToken}`,
    /// or none for `Authorization: Bearer`, which is the mode's default.
    fn jwt_inject(&mut self) -> Result<Option<Mapping>, Reason> {
        let headers = mapping(self.entry, "proxy").and_then(|proxy| mapping(proxy, "headers"));
        let mut found = Vec::new();
        for (name, value) in headers.into_iter().flatten() {
            let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                continue;
            };
            if value.contains("${accessToken}") {
                found.push((name, value));
            }
        }
        if let Some(query) = mapping(self.entry, "proxy").and_then(|proxy| mapping(proxy, "query"))
        {
            if query
                .values()
                .filter_map(Value::as_str)
                .any(|v| v.contains("${accessToken}"))
            {
                return Err(Reason::credential_placement(
                    "the token is sent in a query parameter",
                ));
            }
        }
        match found.as_slice() {
            [] => Ok(None),
            [(name, "Bearer ${accessToken}")] if name.eq_ignore_ascii_case("authorization") => {
                Ok(None)
            }
            [(name, value)] => {
                let field = format!("proxy.headers.{name}");
                let translated =
                    translate(value).map_err(|message| Reason::template(&field, &message))?;
                self.check_credential_names(&field, &translated)?;
                self.record(&translated, false);
                let mut inject = Mapping::new();
                inject.insert("name".into(), (*name).into());
                inject.insert("value".into(), translated.text.into());
                Ok(Some(inject))
            }
            _ => Err(Reason::credential_placement(
                "the token is sent in more than one place",
            )),
        }
    }

    /// Translates a template of the JWT or its token request.
    ///
    /// `${credentials.KEY}` and `${assertionOption.KEY}` are entered values
    /// (`{{ credentials.KEY }}`). `${credentials.KEY.id}` and
    /// `${credentials.KEY.secret}` are the two halves of a Ghost Admin API
    /// key `ID:SECRET`. `${fingerprint(${credentials.KEY})}` is the SHA-256
    /// fingerprint of that RSA key's public half in Snowflake's form.
    pub(super) fn jwt_template(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        static EXPRESSION: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"\$\{(fingerprint\(\$\{credentials\.([A-Za-z_][A-Za-z0-9_]*)\}\)|(?:credentials|assertionOption)\.([A-Za-z_][A-Za-z0-9_]*)(?:\.(id|secret))?|connectionConfig\.[^{}]+)\}")
                .expect("valid regex")
        });
        let mut text = String::new();
        let mut last = 0;
        for captures in EXPRESSION.captures_iter(nango) {
            let whole = captures.get(0).expect("the whole match");
            text.push_str(&self.jwt_literal(field, &nango[last..whole.start()])?);
            last = whole.end();
            if captures.get(2).is_some() {
                // The engine computes the fingerprint from the signing key.
                text.push_str("SHA256:{{ public_key_sha256 }}");
            } else if let Some(key) = captures.get(3) {
                let key = key.as_str();
                match captures.get(4).map(|half| half.as_str()) {
                    None => text.push_str(&format!("{{{{ credentials.{key} }}}}")),
                    Some("id") => {
                        text.push_str(&format!("{{{{ (credentials.{key} | split(':'))[0] }}}}"))
                    }
                    Some(_) => {
                        text.push_str(&format!("{{{{ (credentials.{key} | split(':'))[1] }}}}"))
                    }
                }
            } else {
                let translated = translate(whole.as_str())
                    .map_err(|message| Reason::template(field, &message))?;
                self.record(&translated, false);
                text.push_str(&translated.text);
            }
        }
        text.push_str(&self.jwt_literal(field, &nango[last..])?);
        Ok(text)
    }

    /// Checks literal text between the expressions of a JWT template.
    fn jwt_literal(&self, field: &str, literal: &str) -> Result<String, Reason> {
        if literal.contains("${") {
            let start = literal.find("${").unwrap_or_default();
            return Err(Reason::template(
                field,
                &format!(
                    "template `{}` has no Latchkey equivalent",
                    &literal[start..]
                ),
            ));
        }
        translate(literal)
            .map(|translated| translated.text)
            .map_err(|message| Reason::template(field, &message))
    }

    /// Converts a SIGNATURE entry or a BASIC entry with Duo's signature.
    pub(super) fn signature(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        if let Some(header) = duo_header(self.entry) {
            return self.duo(auth, header);
        }
        if let Some(header) = message_signature_header(self.entry) {
            return self.message_signature(auth, header);
        }
        self.wsse(auth)
    }

    /// Converts an HTTP message signature (RFC 9421) over the method, the
    /// target URI, the RFC 9530 `Content-Digest` of the body and the
    /// content type. The end user enters the key id as the username and
    /// the PEM Ed25519 private key as the password. Only Nango's exact form
    /// converts, because each header must repeat the signed values.
    fn message_signature(&mut self, auth: &mut Mapping, header: &str) -> Result<(), Reason> {
        let base = [
            r#""@method": ${method}"#.to_owned(),
            r#""@target-uri": https://${host}${path}"#.to_owned(),
            format!(r#""content-digest": {NANGO_CONTENT_DIGEST}"#),
            r#""content-type": application/json"#.to_owned(),
            format!(r#""@signature-params": {NANGO_SIGNATURE_PARAMS}"#),
        ]
        .join("\n");
        let expected = [
            (
                "signature",
                format!("sig=:${{ed25519Sign({base}, ${{credentials.password}})}}:"),
            ),
            ("signature-input", format!("sig={NANGO_SIGNATURE_PARAMS}")),
            ("content-digest", NANGO_CONTENT_DIGEST.to_owned()),
            ("content-type", "application/json".to_owned()),
            (
                "authorization",
                r#"Signature keyid="${credentials.username}""#.to_owned(),
            ),
        ];
        for (name, value) in &expected {
            let found = if *name == "signature" {
                Some(header)
            } else {
                proxy_header(self.entry, name)
            };
            if found != Some(value.as_str()) {
                return Err(Reason::template(
                    &format!("proxy.headers.{name}"),
                    &format!(
                        "template `{}` has no Latchkey equivalent",
                        found.unwrap_or("(missing)")
                    ),
                ));
            }
        }

        auth.insert("algorithm".into(), "ed25519".into());
        // NOTE: Nango signs `https://${host}${path}`, which leaves out the
        // query, while RFC 9421 section 2.2.2 defines `@target-uri` as the
        // whole target URI. `target_uri` follows the RFC, so the two differ
        // for a request with a query.
        let string_to_sign = [
            "\"@method\": {{ method }}".to_owned(),
            "\"@target-uri\": {{ target_uri }}".to_owned(),
            "\"content-digest\": sha-256=:{{ body_sha256_base64 }}:".to_owned(),
            "\"content-type\": application/json".to_owned(),
            format!("\"@signature-params\": {SIGNATURE_PARAMS}"),
        ]
        .join("\n");
        auth.insert("string_to_sign".into(), string_to_sign.into());
        auth.insert("encoding".into(), "base64".into());
        let mut headers = Mapping::new();
        headers.insert(
            "authorization".into(),
            r#"Signature keyid="{{ username }}""#.into(),
        );
        headers.insert("content-type".into(), "application/json".into());
        headers.insert(
            "content-digest".into(),
            "sha-256=:{{ body_sha256_base64 }}:".into(),
        );
        headers.insert(
            "signature-input".into(),
            format!("sig={SIGNATURE_PARAMS}").into(),
        );
        headers.insert("signature".into(), "sig=:{{ signature }}:".into());
        auth.insert("headers".into(), Value::Mapping(headers));
        Ok(())
    }

    /// Converts Duo's Admin API signature: the hex HMAC-SHA1, keyed with the
    /// secret key, of the `Date` header, the method, the host, the path and
    /// the sorted query parameters on separate lines, sent as the password
    /// of basic authentication with the integration key as username.
    fn duo(&mut self, auth: &mut Mapping, header: &str) -> Result<(), Reason> {
        let field = "proxy.headers.authorization";
        let lines: Option<Vec<&str>> = header
            .strip_prefix(DUO_PREFIX)
            .and_then(|rest| rest.strip_suffix(DUO_SUFFIX))
            .map(|text| text.split('\n').collect());
        let expected = [DUO_DATE, "${method}", "${host}", "${path}", "${params}"];
        if lines.as_deref() != Some(expected.as_slice()) {
            return Err(Reason::template(
                field,
                &format!("template `{header}` has no Latchkey equivalent"),
            ));
        }
        let date = mapping(self.entry, "proxy")
            .and_then(|proxy| mapping(proxy, "headers"))
            .and_then(|headers| {
                headers.iter().find(|(name, _)| {
                    name.as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case("date"))
                })
            })
            .and_then(|(_, value)| value.as_str());
        if date != Some(DUO_DATE) {
            return Err(Reason::template(
                "proxy.headers.date",
                "the `date` header is not the time that the signature covers",
            ));
        }
        auth.insert("algorithm".into(), "hmac_sha1".into());
        // NOTE: Duo signs the form parameters of a POST body in place of
        // the query, and `sorted_query` covers only the query string, so a
        // POST with a form body is signed over an empty parameter line.
        auth.insert(
            "string_to_sign".into(),
            "{{ timestamp }}\n{{ method }}\n{{ host }}\n{{ path }}\n{{ sorted_query }}".into(),
        );
        auth.insert("encoding".into(), "hex".into());
        auth.insert("timestamp_format".into(), "rfc2822".into());
        let mut headers = Mapping::new();
        headers.insert("date".into(), "{{ timestamp }}".into());
        headers.insert(
            "authorization".into(),
            "Basic {{ (username ~ ':' ~ signature) | base64 }}".into(),
        );
        auth.insert("headers".into(), Value::Mapping(headers));
        Ok(())
    }

    /// Converts Nango's WSSE signature (Emarsys): an `X-WSSE` header with a
    /// `UsernameToken` whose `PasswordDigest` is the base64 of the lowercase
    /// hex SHA-1 of nonce, creation time and secret.
    fn wsse(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let headers = mapping(self.entry, "proxy").and_then(|proxy| mapping(proxy, "headers"));
        let header = headers
            .into_iter()
            .flatten()
            .find(|(_, value)| value.as_str() == Some("${accessToken}"))
            .and_then(|(name, _)| name.as_str())
            .ok_or_else(|| Reason::credential_placement("the WSSE header is not a proxy header"))?;
        auth.insert("algorithm".into(), "sha1".into());
        auth.insert(
            "string_to_sign".into(),
            "{{ nonce }}{{ timestamp }}{{ password }}".into(),
        );
        auth.insert("encoding".into(), "base64_hex".into());
        auth.insert("timestamp_format".into(), "iso8601".into());
        let mut signed = Mapping::new();
        signed.insert(
            header.into(),
            r#"UsernameToken Username="{{ username }}", PasswordDigest="{{ signature }}", Nonce="{{ nonce }}", Created="{{ timestamp }}""#.into(),
        );
        auth.insert("headers".into(), Value::Mapping(signed));
        Ok(())
    }

    /// Converts `${awsSigV4(USERNAME, PASSWORD, REGION, SERVICE[, HOST])}`
    /// into the region and service of the `aws_sigv4` mode. The host, when
    /// given, must be the host of the base URL, because the engine signs the
    /// host that the request goes to.
    pub(super) fn aws_sigv4(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let field = "proxy.headers.authorization";
        let header = aws_header(self.entry)
            .ok_or_else(|| Reason::malformed("the awsSigV4 header is missing"))?;
        let arguments = header
            .strip_prefix("${awsSigV4(")
            .and_then(|rest| rest.strip_suffix(")}"))
            .ok_or_else(|| Reason::template(field, "`${awsSigV4(...)}` is not the whole value"))?;
        let arguments: Vec<&str> = arguments.split(',').map(str::trim).collect();
        let [username, password, region, service, rest @ ..] = arguments.as_slice() else {
            return Err(Reason::template(
                field,
                "`${awsSigV4(...)}` has fewer than four arguments",
            ));
        };
        if *username != "${credentials.username}" || *password != "${credentials.password}" {
            return Err(Reason::template(
                field,
                "the keys of `${awsSigV4(...)}` are not the entered username and password",
            ));
        }
        let region = self.template(&format!("{field}.region"), region)?;
        let service = self.template(&format!("{field}.service"), service)?;

        if let [host] = rest {
            let base_url = mapping(self.entry, "proxy")
                .and_then(|proxy| string(proxy, "base_url"))
                .unwrap_or_default();
            if base_url != format!("https://{host}") {
                return Err(Reason::template(
                    field,
                    "the host of `${awsSigV4(...)}` is not the host of `proxy.base_url`",
                ));
            }
        } else if !rest.is_empty() {
            return Err(Reason::template(
                field,
                "`${awsSigV4(...)}` has more than five arguments",
            ));
        }
        auth.insert("service".into(), service.into());
        auth.insert("region".into(), region.into());
        Ok(())
    }
}

/// Builds a translated template that reads the connection-config `key`, so
/// that its use is recorded.
fn config_usage(key: &str) -> Translated {
    Translated {
        text: format!("{{{{ {key} }}}}"),
        variables: [Variable::Config(key.to_owned())].into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::import::import_nango;

    const FIXTURE: &str = r#"
message-signature:
    display_name: Message Signature
    auth_mode: BASIC
    proxy:
        base_url: https://ms.example/api
        headers:
            authorization: 'Signature keyid="${credentials.username}"'
            content-type: application/json
            content-digest: 'sha-256=:${sha256Base64(${bodyCanonicalParams})}:'
            signature-input: 'sig=("@method" "@target-uri" "content-digest" "content-type");alg="ed25519";created=${now:X};expires=${now+1:minutes:X};keyid="${credentials.username}"'
            signature: "sig=:${ed25519Sign(\"@method\": ${method}\n\"@target-uri\": https://${host}${path}\n\"content-digest\": sha-256=:${sha256Base64(${bodyCanonicalParams})}:\n\"content-type\": application/json\n\"@signature-params\": (\"@method\" \"@target-uri\" \"content-digest\" \"content-type\");alg=\"ed25519\";created=${now:X};expires=${now+1:minutes:X};keyid=\"${credentials.username}\", ${credentials.password})}:"
message-signature-two-minutes:
    display_name: Message Signature Two Minutes
    auth_mode: BASIC
    proxy:
        base_url: https://ms.example/api
        headers:
            authorization: 'Signature keyid="${credentials.username}"'
            content-type: application/json
            content-digest: 'sha-256=:${sha256Base64(${bodyCanonicalParams})}:'
            signature-input: 'sig=("@method" "@target-uri" "content-digest" "content-type");alg="ed25519";created=${now:X};expires=${now+2:minutes:X};keyid="${credentials.username}"'
            signature: "sig=:${ed25519Sign(\"@method\": ${method}\n\"@target-uri\": https://${host}${path}\n\"content-digest\": sha-256=:${sha256Base64(${bodyCanonicalParams})}:\n\"content-type\": application/json\n\"@signature-params\": (\"@method\" \"@target-uri\" \"content-digest\" \"content-type\");alg=\"ed25519\";created=${now:X};expires=${now+2:minutes:X};keyid=\"${credentials.username}\", ${credentials.password})}:"
hs-hex:
    display_name: HS Hex
    auth_mode: JWT
    signature:
        protocol: HMAC
    token:
        signing_key: ${credentials.apiKey.secret}
        expires_in_ms: 300000
        header:
            alg: HS256
            kid: ${credentials.apiKey.id}
        payload:
            aud: /admin/
    proxy:
        base_url: https://${connectionConfig.domain}/api/
        headers:
            authorization: Key ${accessToken}
    connection_config:
        domain:
            type: string
            title: Domain
            pattern: ^[a-z]+\.example$
    credentials:
        apiKey:
            type: string
            title: Key
            pattern: ^[a-f0-9]{4}:[a-f0-9]{8}$
es-list:
    display_name: ES List
    auth_mode: JWT
    signature:
        protocol: EC
    token:
        signing_key: ${credentials.privateKey}
        expires_in_ms: 900000
        header:
            alg: ES256
            kid: ${credentials.keyId}
            typ: JWT
        payload:
            iss: ${credentials.issuer}
            scope:
                - ${connectionConfig.scope}
            jti: ${random}
    proxy:
        base_url: https://es.example
        headers:
            authorization: Bearer ${accessToken}
    connection_config:
        scope:
            type: string
            title: Scope
            optional: true
    credentials:
        issuer: { type: string, title: Issuer }
        keyId: { type: string, title: Key }
        privateKey: { type: string, title: Key, secret: true }
rs-exchange:
    display_name: RS Exchange
    auth_mode: TWO_STEP
    signature:
        protocol: RSA
    body_format: form
    token:
        signing_key: ${credentials.privateKey}
        expires_in_ms: 3600000
        header:
            alg: RS256
        payload:
            iss: ${credentials.clientId}.${fingerprint(${credentials.privateKey})}
            aud: https://${connectionConfig.host}
    token_url: https://${connectionConfig.host}/token
    token_params:
        grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer
        client_id: ${credentials.clientId}
        assertion: ${token}
    token_response:
        token: access_token
        token_expiration: expires_in
        token_expiration_strategy: expireIn
    token_response_metadata:
        - instance_url
    proxy:
        base_url: ${connectionConfig.instance_url}
    connection_config:
        host:
            type: string
            title: Host
            format: hostname
    credentials:
        clientId: { type: string, title: Client }
        privateKey: { type: string, title: Key }
client-assertion:
    display_name: Client Assertion
    auth_mode: TWO_STEP
    body_format: form
    token_url: https://login.example/token
    token_params:
        grant_type: client_credentials
        client_id: ${credentials.clientId}
        client_assertion_type: urn:ietf:params:oauth:client-assertion-type:jwt-bearer
        client_assertion: ${credentials.assertion}
        scope: read
    token_headers:
        content-type: application/x-www-form-urlencoded
    assertion:
        type: jwt
        key: ${assertionOption.privateKey}
        lifetimeInSeconds: 600
        header:
            alg: PS256
            x5t#S256: ${credentials.thumbprint}
        payload:
            iss: ${credentials.clientId}
            sub: ${credentials.clientId}
    token_response:
        token: access_token
    proxy:
        base_url: https://api.example
    credentials:
        clientId: { type: string, title: Client }
        thumbprint: { type: string, title: Thumbprint }
        assertion: { type: string, title: '', automated: true }
    assertion_option:
        privateKey: { type: string, title: Key }
private-key-jwt:
    display_name: Private Key JWT
    auth_mode: OAUTH2_CC
    token_url: https://${connectionConfig.hostname}/token || https://${connectionConfig.subdomain}.idp.example/token
    token_request_auth_method: private_key_jwt
    token_params:
        grant_type: client_credentials
    proxy:
        base_url: https://${connectionConfig.hostname}
    credentials:
        client_id: { type: string, title: Client }
        client_private_key: { type: string, title: Key, secret: true }
    connection_config:
        hostname: { type: string, title: Host, format: hostname }
        subdomain: { type: string, title: Sub, pattern: "^[a-z0-9-]+$" }
        oauth_scopes: { type: string, title: Scopes }
saml:
    display_name: SAML
    auth_mode: TWO_STEP
    token_url: https://saml.example/token
    assertion:
        type: saml
        key: ${assertionOption.privateKey}
    token_response:
        token: access_token
    proxy:
        base_url: https://saml.example
    credentials:
        assertion: { type: string, title: '', automated: true }
wsse:
    display_name: WSSE
    auth_mode: SIGNATURE
    signature:
        protocol: WSSE
    token:
        expires_in_ms: 300000
    proxy:
        base_url: https://wsse.example
        headers:
            x-wsse: ${accessToken}
    credentials:
        username: { type: string, title: User }
        password: { type: string, title: Secret }
duo:
    display_name: Duo
    auth_mode: BASIC
    proxy:
        base_url: https://duo.example
        headers:
            date: ${now:ddd, DD MMM YYYY HH:mm:ss ZZ}
            authorization: "Basic ${base64(${credentials.username}:${hmacSha1Hex(${now:ddd, DD MMM YYYY HH:mm:ss ZZ}\n${method}\n${host}\n${path}\n${params}, ${credentials.password})})}"
duo-other-text:
    display_name: Duo Other Text
    auth_mode: BASIC
    proxy:
        base_url: https://duo.example
        headers:
            date: ${now:ddd, DD MMM YYYY HH:mm:ss ZZ}
            authorization: "Basic ${base64(${credentials.username}:${hmacSha1Hex(${method}\n${path}, ${credentials.password})})}"
aws-fixed:
    display_name: AWS Fixed
    auth_mode: BASIC
    proxy:
        base_url: https://svc.${connectionConfig.region}.amazonaws.com
        headers:
            authorization: ${awsSigV4(${credentials.username}, ${credentials.password}, ${connectionConfig.region}, svc, svc.${connectionConfig.region}.amazonaws.com)}
            x-amz-date: ${now:YYYYMMDDTHHmmss[Z]}
    connection_config:
        region:
            type: string
            title: Region
            pattern: ^[a-z0-9-]+$
aws-other-host:
    display_name: AWS Other Host
    auth_mode: BASIC
    proxy:
        base_url: https://svc.amazonaws.com
        headers:
            authorization: ${awsSigV4(${credentials.username}, ${credentials.password}, us-east-1, svc, other.amazonaws.com)}
rs-other-key:
    display_name: RS Other Key
    auth_mode: JWT
    token:
        signing_key: ${credentials.privateKey}
        expires_in_ms: 60000
        header:
            alg: RS256
        payload:
            iss: ${fingerprint(${credentials.otherKey})}
    proxy:
        base_url: https://rs.example
    credentials:
        privateKey: { type: string, title: Key }
        otherKey: { type: string, title: Key }
eddsa:
    display_name: EdDSA
    auth_mode: JWT
    token:
        signing_key: ${credentials.privateKey}
        expires_in_ms: 60000
        header:
            alg: EdDSA
    proxy:
        base_url: https://ed.example
    credentials:
        privateKey: { type: string, title: Key }
"#;

    /// Imports the fixture and returns the converted documents by name, and
    /// the reasons of the others.
    fn import() -> (
        BTreeMap<String, serde_yaml::Value>,
        BTreeMap<String, String>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, FIXTURE).unwrap();
        let report = import_nango(&input, &dir.path().join("out")).unwrap();
        let mut auths = BTreeMap::new();
        for entry in &report.converted {
            let text = std::fs::read_to_string(&entry.path).unwrap();
            let document: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            auths.insert(entry.name.clone(), document.clone());
        }
        let reasons = report
            .not_converted
            .iter()
            .map(|entry| (entry.name.clone(), entry.reason.message.clone()))
            .collect();
        (auths, reasons)
    }

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn jwt_entries_convert_to_jwt_mode() {
        let (documents, reasons) = import();
        let cases = [
            (
                "hs-hex",
                r#"
mode: jwt
credentials:
  apiKey: { title: API key, pattern: "[a-f0-9]{4}:[a-f0-9]{8}" }
algorithm: HS256
signing_key: "{{ (credentials.apiKey | split(':'))[1] }}"
hmac_key_encoding: hex
header:
  kid: "{{ (credentials.apiKey | split(':'))[0] }}"
claims:
  aud: /admin/
lifetime_seconds: 300
inject: { name: authorization, value: "Key {{ access_token }}" }
"#,
            ),
            (
                "es-list",
                r#"
mode: jwt
credentials:
  issuer: { title: Issuer }
  keyId: { title: Key ID }
  privateKey: { title: Private key, secret: true }
algorithm: ES256
signing_key: "{{ credentials.privateKey }}"
header:
  kid: "{{ credentials.keyId }}"
  typ: JWT
claims:
  iss: "{{ credentials.issuer }}"
  scope: "{{ scope }}"
array_claims: [scope]
jti: true
lifetime_seconds: 900
"#,
            ),
            (
                "rs-exchange",
                r#"
mode: jwt
credentials:
  clientId: { title: Client ID }
  privateKey: { title: Private key }
algorithm: RS256
signing_key: "{{ credentials.privateKey }}"
claims:
  iss: "{{ credentials.clientId }}.SHA256:{{ public_key_sha256 }}"
  aud: "https://{{ host }}"
lifetime_seconds: 3600
token_url: "https://{{ host }}/token"
token_params:
  client_id: "{{ credentials.clientId }}"
token_response:
  connection_config: { instance_url: instance_url }
"#,
            ),
            (
                "client-assertion",
                r#"
mode: jwt
credentials:
  clientId: { title: Client ID }
  thumbprint: { title: Thumbprint }
  privateKey: { title: Private key }
algorithm: PS256
signing_key: "{{ credentials.privateKey }}"
header:
  x5t#S256: "{{ credentials.thumbprint }}"
claims:
  iss: "{{ credentials.clientId }}"
  sub: "{{ credentials.clientId }}"
lifetime_seconds: 600
token_url: https://login.example/token
grant: client_assertion
token_params:
  client_id: "{{ credentials.clientId }}"
  scope: read
"#,
            ),
            (
                "private-key-jwt",
                r#"
mode: jwt
credentials:
  client_id: { title: Client ID }
  client_private_key: { title: Client private key, secret: true }
token_url: "https://{{ hostname }}/token"
token_url_fallbacks: ["https://{{ subdomain }}.idp.example/token"]
algorithm: RS256
signing_key: "{{ credentials.client_private_key }}"
signing_key_format: jwk
claims:
  iss: "{{ credentials.client_id }}"
  sub: "{{ credentials.client_id }}"
  aud: "{{ token_url }}"
jti: true
lifetime_seconds: 3600
grant: client_assertion
token_params:
  scope: "{{ oauth_scopes }}"
"#,
            ),
            (
                "wsse",
                r#"
mode: signature
algorithm: sha1
string_to_sign: "{{ nonce }}{{ timestamp }}{{ password }}"
encoding: base64_hex
timestamp_format: iso8601
headers:
  x-wsse: 'UsernameToken Username="{{ username }}", PasswordDigest="{{ signature }}", Nonce="{{ nonce }}", Created="{{ timestamp }}"'
"#,
            ),
            (
                "duo",
                r#"
mode: signature
algorithm: hmac_sha1
string_to_sign: "{{ timestamp }}\n{{ method }}\n{{ host }}\n{{ path }}\n{{ sorted_query }}"
encoding: hex
timestamp_format: rfc2822
headers:
  date: "{{ timestamp }}"
  authorization: "Basic {{ (username ~ ':' ~ signature) | base64 }}"
"#,
            ),
            (
                "aws-fixed",
                r#"
mode: aws_sigv4
service: svc
region: "{{ region }}"
"#,
            ),
            (
                "message-signature",
                r#"
mode: signature
algorithm: ed25519
string_to_sign: "\"@method\": {{ method }}\n\"@target-uri\": {{ target_uri }}\n\"content-digest\": sha-256=:{{ body_sha256_base64 }}:\n\"content-type\": application/json\n\"@signature-params\": (\"@method\" \"@target-uri\" \"content-digest\" \"content-type\");alg=\"ed25519\";created={{ timestamp }};expires={{ now('unix', minutes=1) }};keyid=\"{{ username }}\""
encoding: base64
headers:
  authorization: 'Signature keyid="{{ username }}"'
  content-type: application/json
  content-digest: "sha-256=:{{ body_sha256_base64 }}:"
  signature-input: "sig=(\"@method\" \"@target-uri\" \"content-digest\" \"content-type\");alg=\"ed25519\";created={{ timestamp }};expires={{ now('unix', minutes=1) }};keyid=\"{{ username }}\""
  signature: "sig=:{{ signature }}:"
"#,
            ),
        ];
        for (name, expected) in cases {
            let document = documents
                .get(name)
                .unwrap_or_else(|| panic!("{name} not converted: {:?}", reasons.get(name)));
            assert_eq!(document["auth"], yaml(expected), "{name}");
        }
        // The signing modes set these headers themselves.
        let aws_proxy = &documents["aws-fixed"]["proxy"];
        assert_eq!(aws_proxy.get("headers"), None);
        assert_eq!(documents["wsse"]["proxy"].get("headers"), None);
        assert_eq!(documents["duo"]["proxy"].get("headers"), None);
        // The content type is signed, and it stays a static header as well.
        let message_proxy = &documents["message-signature"]["proxy"];
        assert_eq!(
            message_proxy["headers"],
            yaml("content-type: application/json")
        );
    }

    #[test]
    fn unconvertible_signing_entries_name_reason() {
        let (_, reasons) = import();
        let cases = [
            ("saml", "`assertion.issuer` is missing"),
            (
                "aws-other-host",
                "the host of `${awsSigV4(...)}` is not the host of `proxy.base_url`",
            ),
            (
                "rs-other-key",
                "`${fingerprint(...)}` takes a key other than the signing key",
            ),
            ("eddsa", "`token.header.alg` is `EdDSA`"),
            ("duo-other-text", "hmacSha1Hex(${method}"),
            (
                "message-signature-two-minutes",
                "proxy.headers.signature: template `sig=:${ed25519Sign(",
            ),
        ];
        for (name, expected) in cases {
            let reason = reasons
                .get(name)
                .unwrap_or_else(|| panic!("{name} converted"));
            assert!(reason.contains(expected), "{name}: {reason}");
        }
    }
}
