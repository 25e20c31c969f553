//! Parsing of a token endpoint's raw reply with the definition's
//! `token_response` paths.
//!
//! The oauth2 crate builds the requests, but its typed response cannot follow
//! a nested access token path, an `expires_in` sent as a string or the
//! connection-config values some providers return, so replies are read here.

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use latchkey_catalog::{ExpiresInUnit, TimeFormat, TokenBody, TokenResponse};
use serde_json::Value;

use crate::xml_body::xml_to_value;
use crate::{ConnectionConfig, EngineError, OAuth2Token, ProviderErrorKind, Secret, TokenGrant};

/// How many characters of a non-JSON body an error quotes.
const BODY_START_CHARS: usize = 200;

/// A token endpoint's reply as it came off the wire.
#[derive(Clone)]
pub(crate) struct RawReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The values of the reply's `Set-Cookie` headers, in order.
    pub set_cookies: Vec<String>,
}

/// Turns a raw reply into a token grant.
///
/// `previous_refresh_token` is kept when the reply carries none, as on a
/// refresh by a provider that does not rotate refresh tokens.
pub(crate) fn parse_token_reply(
    provider: &str,
    spec: &TokenResponse,
    reply: &RawReply,
    obtained_at: DateTime<Utc>,
    previous_refresh_token: Option<&Secret>,
) -> Result<TokenGrant, EngineError> {
    if spec.body == TokenBody::Token {
        return parse_token_body(provider, spec, reply, obtained_at);
    }
    let object = match spec.body {
        TokenBody::Xml => parse_xml_body(provider, reply)?,
        _ => parse_body(provider, reply)?,
    };
    let invalid = |reason: String| invalid_response(provider, reply.status, &reason, String::new());

    let non_empty_at = |path: &str| {
        lookup(&object, path)
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
    };
    let access_token = non_empty_at(&spec.access_token)
        .or_else(|| spec.access_token_fallback.as_deref().and_then(non_empty_at));
    let is_success = (200..300).contains(&reply.status);
    if let Some(error) = object.get("error") {
        if !is_success || access_token.is_none() {
            return Err(oauth_error(provider, reply.status, error, &object));
        }
    }
    if !is_success {
        return Err(invalid(describe_unexpected_status(&object)));
    }

    let access_token = match access_token {
        Some(token) => token,
        None => {
            let place = match &spec.access_token_fallback {
                Some(fallback) => format!("`{}` or `{fallback}`", spec.access_token),
                None => format!("`{}`", spec.access_token),
            };
            return Err(invalid(format!(
                "no access token at {place} (the reply has the keys {})",
                list_keys(&object)
            )));
        }
    };

    // The token goes into a header or a query parameter of every proxied
    // request, where a control character is invalid, so such a reply is
    // rejected before anything is stored.
    if access_token.chars().any(char::is_control) {
        return Err(invalid(format!(
            "the access token at `{}` contains a control character, such as a line break, so it cannot be sent in a request",
            spec.access_token
        )));
    }
    let refresh_token = match lookup(&object, &spec.refresh_token).and_then(Value::as_str) {
        Some(token) if token.chars().any(char::is_control) => {
            return Err(invalid(format!(
                "the refresh token at `{}` contains a control character, such as a line break",
                spec.refresh_token
            )))
        }
        Some(token) if !token.is_empty() => Some(Secret::new(token)),
        _ => previous_refresh_token.cloned(),
    };

    let expires_at = match expiry(spec, &object, obtained_at).map_err(invalid)? {
        Some(expires_at) => Some(expires_at),
        None => jwt_expiry(access_token).or(default_expiry(spec, obtained_at)),
    };

    let connection_config = capture_connection_config(spec, &object);
    Ok(TokenGrant {
        cookies: None,
        token: OAuth2Token {
            access_token: Secret::new(access_token),
            refresh_token,
            expires_at,
            obtained_at,
            raw: object,
        },
        connection_config,
    })
}

/// Reads a reply whose whole body is the token (`body: token`): the trimmed
/// body, or the string when the body is a JSON string. Its expiry is a JWT's
/// `exp` claim or the definition's default lifetime.
fn parse_token_body(
    provider: &str,
    spec: &TokenResponse,
    reply: &RawReply,
    obtained_at: DateTime<Utc>,
) -> Result<TokenGrant, EngineError> {
    let invalid = |reason: &str| invalid_response(provider, reply.status, reason, String::new());
    if !(200..300).contains(&reply.status) {
        return Err(invalid(
            "the token endpoint replied with a status other than 2xx",
        ));
    }
    let text = String::from_utf8_lossy(&reply.body);
    let text = text.trim();
    let token = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(token)) => token,
        Ok(Value::Object(_) | Value::Array(_)) => {
            return Err(invalid(
                "the body is JSON structure, but `token_response.body: token` expects the token itself; remove `body: token` and set `access_token` to the token's path",
            ))
        }
        _ => text.to_owned(),
    };
    if token.is_empty() {
        return Err(invalid("the body is empty"));
    }
    if token.chars().any(char::is_control) {
        return Err(invalid(
            "the token in the body contains a control character, such as a line break, so it cannot be sent in a request",
        ));
    }
    let expires_at = jwt_expiry(&token).or(default_expiry(spec, obtained_at));
    Ok(TokenGrant {
        cookies: None,
        token: OAuth2Token {
            access_token: Secret::new(token.clone()),
            refresh_token: None,
            expires_at,
            obtained_at,
            raw: Value::String(token),
        },
        connection_config: ConnectionConfig::new(),
    })
}

/// Decodes the body as a JSON object, or as a form-encoded one when the
/// content type is `application/x-www-form-urlencoded` (some providers reply
/// `access_token=...&...`).
fn parse_body(provider: &str, reply: &RawReply) -> Result<Value, EngineError> {
    let invalid = |reason: &str, body_start: String| {
        invalid_response(provider, reply.status, reason, body_start)
    };

    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the body is empty", String::new()));
    }

    let value = match serde_json::from_slice::<Value>(&reply.body) {
        Ok(value) => value,
        Err(_) if is_form_encoded(reply.content_type.as_deref()) => {
            let object = url::form_urlencoded::parse(&reply.body)
                .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
                .collect();
            Value::Object(object)
        }
        Err(_) => {
            let text = String::from_utf8_lossy(&reply.body);
            let body_start: String = text.chars().take(BODY_START_CHARS).collect();
            return Err(invalid("the body is not JSON", body_start));
        }
    };

    match value {
        Value::Object(_) => Ok(value),
        other => Err(invalid(
            &format!("expected a JSON object, got {}", json_kind(&other)),
            String::new(),
        )),
    }
}

/// Converts an XML body (`body: xml`) into an object read with the paths.
/// A body that is not well-formed XML is quoted, like a body that is not
/// JSON.
fn parse_xml_body(provider: &str, reply: &RawReply) -> Result<Value, EngineError> {
    xml_to_value(&reply.body).map_err(|problem| {
        let text = String::from_utf8_lossy(&reply.body);
        invalid_response(
            provider,
            reply.status,
            &format!("the body is not well-formed XML ({problem})"),
            text.chars().take(BODY_START_CHARS).collect(),
        )
    })
}

/// Checks whether an XML reply (`body: xml`) is well-formed but has no
/// token at `spec.access_token`: how an XML login gateway such as Sage
/// Intacct's reports a failed sign-in, with HTTP 200 and a `status` of
/// `failure`.
pub(crate) fn xml_reply_lacks_token(spec: &TokenResponse, reply: &RawReply) -> bool {
    if spec.body != TokenBody::Xml {
        return false;
    }
    let Ok(object) = xml_to_value(&reply.body) else {
        return false;
    };
    let non_empty_at = |path: &str| {
        lookup(&object, path)
            .and_then(Value::as_str)
            .is_some_and(|token| !token.is_empty())
    };
    !non_empty_at(&spec.access_token)
        && !spec
            .access_token_fallback
            .as_deref()
            .is_some_and(non_empty_at)
}

fn invalid_response(provider: &str, status: u16, reason: &str, body_start: String) -> EngineError {
    EngineError::InvalidResponse {
        status,
        message: format!(
            "provider `{provider}` sent an invalid token response with HTTP {status}: {reason}"
        ),
        body_start,
    }
}

fn is_form_encoded(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        value
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// Builds the error for a reply with an `error` field (RFC 6749 section
/// 5.2). Some providers send an object (`{"code": ..., "message": ...}`)
/// instead of a string.
fn oauth_error(provider: &str, status: u16, error: &Value, object: &Value) -> EngineError {
    let (code, nested_description) = match error {
        Value::String(code) => (code.clone(), None),
        Value::Object(fields) => {
            let code = ["code", "type"]
                .iter()
                .find_map(|key| fields.get(*key).map(json_to_text))
                .unwrap_or_else(|| "unknown_error".to_owned());
            let description = fields.get("message").map(json_to_text);
            (code, description)
        }
        other => (json_to_text(other), None),
    };
    let description = object
        .get("error_description")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(nested_description);

    tracing::debug!(provider, status, code = %code, "token endpoint replied with an OAuth error");
    EngineError::Provider {
        provider: provider.to_owned(),
        kind: ProviderErrorKind::classify(&code, status),
        status,
        code,
        description,
    }
}

fn describe_unexpected_status(object: &Value) -> String {
    let mut message = "the reply has no OAuth `error` field".to_owned();
    if let Some(text) = object.get("message").and_then(Value::as_str) {
        message.push_str(&format!(" and the message {text:?}"));
    }
    message
}

/// Reads the expiry that the reply states: the absolute `expires_at` when
/// the definition has one and the reply carries it, else `expires_in` in
/// its unit. `None` means the reply states none.
fn expiry(
    spec: &TokenResponse,
    object: &Value,
    obtained_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    if let Some(absolute) = &spec.expires_at {
        match lookup(object, &absolute.path) {
            None | Some(Value::Null) => {}
            Some(value) => {
                return parse_expires_at(value, absolute.format, obtained_at)
                    .map(Some)
                    .ok_or_else(|| {
                        format!(
                            "`{}` is {value}, but {} was expected",
                            absolute.path,
                            describe_time_format(absolute.format)
                        )
                    })
            }
        }
    }

    let (lifetime, unit) = match lookup(object, &spec.expires_in) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => {
            let number = parse_expires_in(value).ok_or_else(|| {
                let unit = match spec.expires_in_unit {
                    ExpiresInUnit::Seconds => "seconds",
                    ExpiresInUnit::Milliseconds => "milliseconds",
                };
                format!(
                    "`{}` is {value}, but a number of {unit} was expected",
                    spec.expires_in
                )
            })?;
            (number, spec.expires_in_unit)
        }
    };
    let delta = match unit {
        ExpiresInUnit::Seconds => i64::try_from(lifetime)
            .ok()
            .and_then(TimeDelta::try_seconds),
        ExpiresInUnit::Milliseconds => i64::try_from(lifetime)
            .ok()
            .and_then(TimeDelta::try_milliseconds),
    };
    delta
        .and_then(|delta| obtained_at.checked_add_signed(delta))
        .map(Some)
        .ok_or_else(|| format!("`{}` of {lifetime} is out of range", spec.expires_in))
}

/// Returns the `exp` claim (RFC 7519 section 4.1.4) of an access token
/// that is a JWT, for a reply that states no expiry.
///
/// NOTE: the signature is not checked. The claim only schedules a refresh,
/// and the token came from the provider's token endpoint.
fn jwt_expiry(access_token: &str) -> Option<DateTime<Utc>> {
    let mut parts = access_token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let seconds = i64::try_from(parse_expires_in(claims.get("exp")?)?).ok()?;
    DateTime::from_timestamp(seconds, 0)
}

/// Returns the definition's default lifetime counted from `obtained_at`,
/// for a token whose expiry is otherwise unknown.
fn default_expiry(spec: &TokenResponse, obtained_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(spec.default_expires_in?).ok()?;
    obtained_at.checked_add_signed(TimeDelta::try_seconds(seconds)?)
}

/// Unix times from this value up are read as milliseconds by
/// [`TimeFormat::Auto`]: 10^11 seconds is in the year 5138, 10^11
/// milliseconds in 1973, so a current time in either unit is on its side.
const AUTO_MILLISECONDS_FROM: u64 = 100_000_000_000;

/// Parses an absolute time: a number or numeric string for the Unix
/// formats, an RFC 3339 string for ISO 8601.
fn parse_expires_at(
    value: &Value,
    format: TimeFormat,
    obtained_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match format {
        TimeFormat::Auto => match parse_expires_in(value) {
            Some(number) if number >= AUTO_MILLISECONDS_FROM => {
                parse_expires_at(value, TimeFormat::UnixMilliseconds, obtained_at)
            }
            Some(_) => parse_expires_at(value, TimeFormat::UnixSeconds, obtained_at),
            None => parse_expires_at(value, TimeFormat::Iso8601, obtained_at),
        },
        TimeFormat::RemainingHms => {
            let seconds = i64::try_from(parse_hms(value.as_str()?)?).ok()?;
            obtained_at.checked_add_signed(TimeDelta::try_seconds(seconds)?)
        }
        TimeFormat::Iso8601 => {
            let text = value.as_str()?.trim();
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|time| time.with_timezone(&Utc))
        }
        TimeFormat::UnixSeconds => {
            let seconds = i64::try_from(parse_expires_in(value)?).ok()?;
            DateTime::from_timestamp(seconds, 0)
        }
        TimeFormat::UnixMilliseconds => {
            let millis = i64::try_from(parse_expires_in(value)?).ok()?;
            DateTime::from_timestamp_millis(millis)
        }
    }
}

/// Parses a duration written `H:MM:SS` (any number of hour digits, two
/// digits each for minutes below 60 and seconds below 60) into seconds.
fn parse_hms(text: &str) -> Option<u64> {
    let mut parts = text.trim().split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hours.is_empty() {
        return None;
    }
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) || !digits(seconds) {
        return None;
    }
    if minutes.len() != 2 || seconds.len() != 2 {
        return None;
    }
    let (minutes, seconds): (u64, u64) = (minutes.parse().ok()?, seconds.parse().ok()?);
    if minutes >= 60 || seconds >= 60 {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    hours.checked_mul(3600)?.checked_add(minutes * 60 + seconds)
}

fn describe_time_format(format: TimeFormat) -> &'static str {
    match format {
        TimeFormat::UnixSeconds => "a Unix time in seconds",
        TimeFormat::UnixMilliseconds => "a Unix time in milliseconds",
        TimeFormat::Iso8601 => "an ISO 8601 date-time with an offset",
        TimeFormat::Auto => {
            "a Unix time in seconds or milliseconds, or an ISO 8601 date-time with an offset"
        }
        TimeFormat::RemainingHms => "a remaining duration written `H:MM:SS`",
    }
}

/// Accepts a non-negative number as a JSON number or a numeric
/// string; fractions are dropped.
fn parse_expires_in(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number
            .as_u64()
            .or_else(|| number.as_f64().and_then(seconds_from_float)),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<u64>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().and_then(seconds_from_float))
        }
        _ => None,
    }
}

fn seconds_from_float(value: f64) -> Option<u64> {
    if value.is_finite() && value >= 0.0 && value < u64::MAX as f64 {
        Some(value as u64)
    } else {
        None
    }
}

fn capture_connection_config(spec: &TokenResponse, object: &Value) -> ConnectionConfig {
    let mut captured = ConnectionConfig::new();
    for (key, path) in &spec.connection_config {
        match lookup(object, path) {
            Some(Value::Null) | None => {
                tracing::debug!(key = %key, path = %path, "token response has no value for connection-config key");
            }
            Some(value) => {
                captured.insert(key.clone(), value.clone());
            }
        }
    }
    captured
}

/// Follows a dot-separated path of object keys (or array indexes).
pub(crate) fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(object) => object.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn list_keys(object: &Value) -> String {
    match object.as_object() {
        Some(fields) if !fields.is_empty() => fields
            .keys()
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "(none)".to_owned(),
    }
}

fn json_to_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obtained_at() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn json_reply(status: u16, body: Value) -> RawReply {
        RawReply {
            status,
            content_type: Some("application/json".to_owned()),
            body: body.to_string().into_bytes(),
            set_cookies: Vec::new(),
        }
    }

    fn slack_spec() -> TokenResponse {
        TokenResponse {
            access_token: "authed_user.access_token".to_owned(),
            ..TokenResponse::default()
        }
    }

    fn user_token_fallback() -> TokenResponse {
        TokenResponse {
            access_token_fallback: Some("authed_user.access_token".to_owned()),
            ..TokenResponse::default()
        }
    }

    fn salesforce_spec() -> TokenResponse {
        let mut spec = TokenResponse::default();
        spec.connection_config
            .insert("instance_url".to_owned(), "instance_url".to_owned());
        spec
    }

    fn with_default_expiry(seconds: u64) -> TokenResponse {
        TokenResponse {
            default_expires_in: Some(seconds),
            ..TokenResponse::default()
        }
    }

    /// The values a successful parse must produce.
    struct Expected {
        access_token: &'static str,
        refresh_token: Option<&'static str>,
        expires_at: Option<&'static str>,
    }

    #[test]
    fn token_reply_parsing_table() {
        let previous = Secret::new("rt-old");

        // (case, spec, reply body, previous refresh token, expected)
        #[rustfmt::skip]
        let cases: Vec<(&str, TokenResponse, Value, Option<&Secret>, Expected)> = vec![
            (
                "flat reply with number expiry",
                TokenResponse::default(),
                json!({"access_token": "at", "refresh_token": "rt", "expires_in": 3600}),
                None,
                Expected { access_token: "at", refresh_token: Some("rt"), expires_at: Some("2026-01-01T01:00:00Z") },
            ),
            (
                "nested access token path",
                slack_spec(),
                json!({"ok": true, "access_token": "xoxb-bot", "authed_user": {"access_token": "xoxp-user"}}),
                None,
                Expected { access_token: "xoxp-user", refresh_token: None, expires_at: None },
            ),
            (
                "fallback unused when the access token is there",
                user_token_fallback(),
                json!({"ok": true, "access_token": "xoxb-bot", "authed_user": {"access_token": "xoxp-user"}}),
                None,
                Expected { access_token: "xoxb-bot", refresh_token: None, expires_at: None },
            ),
            (
                "fallback when the access token is absent",
                user_token_fallback(),
                json!({"ok": true, "authed_user": {"access_token": "xoxp-user"}}),
                None,
                Expected { access_token: "xoxp-user", refresh_token: None, expires_at: None },
            ),
            (
                "fallback when the access token is empty",
                user_token_fallback(),
                json!({"ok": true, "access_token": "", "authed_user": {"access_token": "xoxp-user"}}),
                None,
                Expected { access_token: "xoxp-user", refresh_token: None, expires_at: None },
            ),
            (
                "zero default lifetime expires at once",
                with_default_expiry(0),
                json!({"access_token": "at"}),
                None,
                Expected { access_token: "at", refresh_token: None, expires_at: Some("2026-01-01T00:00:00Z") },
            ),
            (
                "expires_in as a string",
                TokenResponse::default(),
                json!({"access_token": "at", "expires_in": "7200"}),
                None,
                Expected { access_token: "at", refresh_token: None, expires_at: Some("2026-01-01T02:00:00Z") },
            ),
            (
                "expires_in as a float",
                TokenResponse::default(),
                json!({"access_token": "at", "expires_in": 59.9}),
                None,
                Expected { access_token: "at", refresh_token: None, expires_at: Some("2026-01-01T00:00:59Z") },
            ),
            (
                "missing expiry uses the default",
                with_default_expiry(600),
                json!({"access_token": "at"}),
                None,
                Expected { access_token: "at", refresh_token: None, expires_at: Some("2026-01-01T00:10:00Z") },
            ),
            (
                "missing expiry without default is unknown",
                TokenResponse::default(),
                json!({"access_token": "at", "expires_in": null}),
                None,
                Expected { access_token: "at", refresh_token: None, expires_at: None },
            ),
            (
                "refresh without refresh_token keeps the old one",
                TokenResponse::default(),
                json!({"access_token": "at-new", "expires_in": 60}),
                Some(&previous),
                Expected { access_token: "at-new", refresh_token: Some("rt-old"), expires_at: Some("2026-01-01T00:01:00Z") },
            ),
            (
                "refresh with rotated refresh_token takes the new one",
                TokenResponse::default(),
                json!({"access_token": "at-new", "refresh_token": "rt-new"}),
                Some(&previous),
                Expected { access_token: "at-new", refresh_token: Some("rt-new"), expires_at: None },
            ),
        ];

        for (case, spec, body, previous, expected) in cases {
            let reply = json_reply(200, body.clone());

            let grant = parse_token_reply("p", &spec, &reply, obtained_at(), previous)
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            let token = &grant.token;
            assert_eq!(token.access_token.expose(), expected.access_token, "{case}");
            assert_eq!(
                token.refresh_token.as_ref().map(Secret::expose),
                expected.refresh_token,
                "{case}"
            );
            assert_eq!(
                token.expires_at,
                expected.expires_at.map(|text| text.parse().unwrap()),
                "{case}"
            );
            assert_eq!(token.obtained_at, obtained_at(), "{case}");
            assert_eq!(token.raw, body, "{case}");
        }
    }

    #[test]
    fn captures_connection_config() {
        let reply = json_reply(
            200,
            json!({"access_token": "at", "instance_url": "https://acme.my.salesforce.com"}),
        );

        let grant = parse_token_reply(
            "salesforce",
            &salesforce_spec(),
            &reply,
            obtained_at(),
            None,
        )
        .unwrap();

        assert_eq!(
            grant.connection_config.get("instance_url"),
            Some(&json!("https://acme.my.salesforce.com"))
        );
    }

    #[test]
    fn missing_capture_is_skipped() {
        let reply = json_reply(200, json!({"access_token": "at"}));

        let grant = parse_token_reply(
            "salesforce",
            &salesforce_spec(),
            &reply,
            obtained_at(),
            None,
        )
        .unwrap();

        assert!(grant.connection_config.is_empty());
    }

    #[test]
    fn form_encoded_reply_parses() {
        let reply = RawReply {
            status: 200,
            content_type: Some("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
            body: b"access_token=at%2F1&expires_in=60&scope=repo".to_vec(),
            set_cookies: Vec::new(),
        };

        let grant =
            parse_token_reply("p", &TokenResponse::default(), &reply, obtained_at(), None).unwrap();

        assert_eq!(grant.token.access_token.expose(), "at/1");
        assert_eq!(
            grant.token.expires_at,
            Some("2026-01-01T00:01:00Z".parse().unwrap())
        );
    }

    #[test]
    fn error_reply_kinds() {
        // (case, status, body, expected kind, expected code, expected description)
        #[rustfmt::skip]
        let cases = [
            ("invalid_grant", 400, json!({"error": "invalid_grant", "error_description": "expired"}), ProviderErrorKind::Reconnect, "invalid_grant", Some("expired")),
            ("invalid_client", 401, json!({"error": "invalid_client"}), ProviderErrorKind::Reconnect, "invalid_client", None),
            ("unauthorized_client", 400, json!({"error": "unauthorized_client"}), ProviderErrorKind::Reconnect, "unauthorized_client", None),
            ("temporarily_unavailable", 400, json!({"error": "temporarily_unavailable"}), ProviderErrorKind::Temporary, "temporarily_unavailable", None),
            ("server_error", 400, json!({"error": "server_error"}), ProviderErrorKind::Temporary, "server_error", None),
            ("5xx with other code", 503, json!({"error": "busy"}), ProviderErrorKind::Temporary, "busy", None),
            ("invalid_scope", 400, json!({"error": "invalid_scope"}), ProviderErrorKind::Other, "invalid_scope", None),
            ("error with HTTP 200", 200, json!({"ok": false, "error": "invalid_code"}), ProviderErrorKind::Other, "invalid_code", None),
            ("error object", 400, json!({"error": {"code": "bad_code", "message": "Code reused"}}), ProviderErrorKind::Other, "bad_code", Some("Code reused")),
        ];

        for (case, status, body, kind, code, description) in cases {
            let reply = json_reply(status, body);

            let err =
                parse_token_reply("p", &TokenResponse::default(), &reply, obtained_at(), None)
                    .unwrap_err();

            match &err {
                EngineError::Provider {
                    provider,
                    kind: actual_kind,
                    status: actual_status,
                    code: actual_code,
                    description: actual_description,
                } => {
                    assert_eq!(provider, "p", "{case}");
                    assert_eq!(*actual_kind, kind, "{case}");
                    assert_eq!(*actual_status, status, "{case}");
                    assert_eq!(actual_code, code, "{case}");
                    assert_eq!(actual_description.as_deref(), description, "{case}");
                }
                other => panic!("{case}: expected a provider error, got {other:?}"),
            }
            assert!(err.to_string().contains(code), "{case}: {err}");
        }
    }

    #[test]
    fn error_message_is_a_sentence() {
        let reply = json_reply(
            400,
            json!({"error": "invalid_grant", "error_description": "Token expired"}),
        );

        let err = parse_token_reply(
            "github",
            &TokenResponse::default(),
            &reply,
            obtained_at(),
            None,
        )
        .unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `github` rejected the token request with HTTP 400 and error `invalid_grant`: Token expired"
        );
        assert!(err.needs_reconnect());
        assert!(!err.is_temporary());
    }

    #[test]
    fn html_body_quotes_first_200_chars() {
        let html = format!("<html><body>{}</body></html>", "x".repeat(300));
        let reply = RawReply {
            status: 502,
            content_type: Some("text/html".to_owned()),
            body: html.clone().into_bytes(),
            set_cookies: Vec::new(),
        };

        let err = parse_token_reply("p", &TokenResponse::default(), &reply, obtained_at(), None)
            .unwrap_err();

        match &err {
            EngineError::InvalidResponse {
                status,
                message,
                body_start,
                ..
            } => {
                assert_eq!(*status, 502);
                assert_eq!(
                    message,
                    "provider `p` sent an invalid token response with HTTP 502: the body is not JSON"
                );
                assert_eq!(body_start.chars().count(), 200);
                assert_eq!(body_start.as_str(), &html[..200]);
            }
            other => panic!("expected an invalid response, got {other:?}"),
        }
        assert!(err.is_temporary());
        assert!(err.to_string().contains("<html><body>xxx"), "{err}");
    }

    #[test]
    fn invalid_replies_hide_secrets() {
        // (case, status, body, expected message part)
        #[rustfmt::skip]
        let cases = [
            ("no access token", 200, json!({"refresh_token": "rt-secret", "token_type": "bearer"}), "no access token at `access_token` (the reply has the keys `refresh_token`, `token_type`)"),
            ("bad expires_in", 200, json!({"access_token": "at-secret", "expires_in": "soon"}), "`expires_in` is \"soon\", but a number of seconds was expected"),
            ("negative expires_in", 200, json!({"access_token": "at-secret", "expires_in": -5}), "`expires_in` is -5"),
            ("error status without error field", 401, json!({"message": "Bad credentials", "access_token": "at-secret"}), "no OAuth `error` field and the message \"Bad credentials\""),
            ("not an object", 200, json!(["at-secret"]), "expected a JSON object, got an array"),
            ("line break in access token", 200, json!({"access_token": "at-\nsecret"}), "the access token at `access_token` contains a control character"),
            ("tab in refresh token", 200, json!({"access_token": "at-secret", "refresh_token": "rt\tsecret"}), "the refresh token at `refresh_token` contains a control character"),
        ];

        for (case, status, body, expected) in cases {
            let reply = json_reply(status, body);

            let err =
                parse_token_reply("p", &TokenResponse::default(), &reply, obtained_at(), None)
                    .unwrap_err();
            let text = err.to_string();

            assert!(
                matches!(err, EngineError::InvalidResponse { .. }),
                "{case}: {err:?}"
            );
            assert!(text.contains(expected), "{case}: {text}");
            assert!(!text.contains("secret"), "{case}: {text}");
        }
    }

    #[test]
    fn missing_fallback_token_names_both_paths() {
        let reply = json_reply(200, json!({"ok": true, "authed_user": {"id": "U1"}}));

        let err = parse_token_reply("p", &user_token_fallback(), &reply, obtained_at(), None)
            .unwrap_err();

        assert!(
            matches!(err, EngineError::InvalidResponse { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(
                "no access token at `access_token` or `authed_user.access_token` (the reply has the keys `authed_user`, `ok`)"
            ),
            "{err}"
        );
    }

    #[test]
    fn remaining_hms_rejects_bad_forms() {
        for text in [
            "1:5:00",
            "1:60:00",
            "1:00:60",
            "01:00",
            "1:00:00:00",
            ":00:00",
            "a:00:00",
        ] {
            let spec = absolute_expiry("left", TimeFormat::RemainingHms);
            let reply = json_reply(200, json!({"access_token": "at", "left": text}));

            let err = parse_token_reply("p", &spec, &reply, obtained_at(), None).unwrap_err();

            let message = err.to_string();
            assert!(
                message.contains("a remaining duration written `H:MM:SS` was expected"),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn whole_body_token_table() {
        let spec = TokenResponse {
            body: TokenBody::Token,
            default_expires_in: Some(600),
            ..TokenResponse::default()
        };
        // (case, content type, body, expected token)
        let cases = [
            ("plain text", Some("text/plain"), "tok-123\r\n", "tok-123"),
            (
                "json string",
                Some("application/json"),
                "\"tok-456\"",
                "tok-456",
            ),
            ("no content type", None, "  tok-789  ", "tok-789"),
        ];
        for (case, content_type, body, expected) in cases {
            let reply = RawReply {
                status: 200,
                content_type: content_type.map(str::to_owned),
                body: body.as_bytes().to_vec(),
                set_cookies: Vec::new(),
            };

            let grant = parse_token_reply("p", &spec, &reply, obtained_at(), None)
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(grant.token.access_token.expose(), expected, "{case}");
            assert_eq!(
                grant.token.expires_at,
                Some("2026-01-01T00:10:00Z".parse().unwrap()),
                "{case}"
            );
        }
    }

    #[test]
    fn whole_body_token_errors() {
        let spec = TokenResponse {
            body: TokenBody::Token,
            ..TokenResponse::default()
        };
        // (case, status, body, expected end of the message)
        let cases = [
            ("empty", 200, "  ", "the body is empty"),
            ("empty json string", 200, "\"\"", "the body is empty"),
            ("object", 200, "{\"token\": \"x\"}", "remove `body: token` and set `access_token` to the token's path"),
            ("line break inside", 200, "\"a\\nb\"", "contains a control character, such as a line break, so it cannot be sent in a request"),
            ("error status", 401, "denied", "the token endpoint replied with a status other than 2xx"),
        ];
        for (case, status, body, expected) in cases {
            let reply = RawReply {
                status,
                content_type: None,
                body: body.as_bytes().to_vec(),
                set_cookies: Vec::new(),
            };

            let err = parse_token_reply("p", &spec, &reply, obtained_at(), None).unwrap_err();

            let message = err.to_string();
            assert!(message.ends_with(expected), "{case}: {message}");
            assert!(!message.contains("denied"), "{case}: {message}");
        }
    }

    #[test]
    fn empty_body_is_invalid() {
        let reply = RawReply {
            status: 200,
            content_type: None,
            body: Vec::new(),
            set_cookies: Vec::new(),
        };

        let err = parse_token_reply("p", &TokenResponse::default(), &reply, obtained_at(), None)
            .unwrap_err();

        assert_eq!(
            err.to_string(),
            "provider `p` sent an invalid token response with HTTP 200: the body is empty"
        );
    }

    #[test]
    fn lookup_follows_paths() {
        let value = json!({"a": {"b": [10, {"c": "deep"}]}});

        assert_eq!(lookup(&value, "a.b.1.c"), Some(&json!("deep")));
        assert_eq!(lookup(&value, "a.b.0"), Some(&json!(10)));
        assert_eq!(lookup(&value, "a.x"), None);
        assert_eq!(lookup(&value, "a.b.9"), None);
    }

    fn absolute_expiry(path: &str, format: TimeFormat) -> TokenResponse {
        TokenResponse {
            expires_at: Some(latchkey_catalog::ExpiresAt {
                path: path.to_owned(),
                format,
            }),
            ..TokenResponse::default()
        }
    }

    #[test]
    fn expiry_dialects_table() {
        let milliseconds = TokenResponse {
            expires_in_unit: ExpiresInUnit::Milliseconds,
            ..TokenResponse::default()
        };

        // (case, spec, reply body, expected expiry; obtained at 2026-01-01T00:00:00Z)
        #[rustfmt::skip]
        let cases: Vec<(&str, TokenResponse, Value, Option<&str>)> = vec![
            ("unix seconds as a number", absolute_expiry("expires_at", TimeFormat::UnixSeconds),
                json!({"access_token": "at", "expires_at": 1767229200}), Some("2026-01-01T01:00:00Z")),
            ("unix seconds as a string", absolute_expiry("expires_at", TimeFormat::UnixSeconds),
                json!({"access_token": "at", "expires_at": "1767229200"}), Some("2026-01-01T01:00:00Z")),
            ("unix milliseconds", absolute_expiry("token.expiry", TimeFormat::UnixMilliseconds),
                json!({"access_token": "at", "token": {"expiry": 1767225600500_u64}}), Some("2026-01-01T00:00:00.500Z")),
            ("iso 8601 with offset", absolute_expiry("expires", TimeFormat::Iso8601),
                json!({"access_token": "at", "expires": "2026-01-01T03:00:00+02:00"}), Some("2026-01-01T01:00:00Z")),
            ("absolute wins over expires_in", absolute_expiry("expires_at", TimeFormat::UnixSeconds),
                json!({"access_token": "at", "expires_at": 1767229200, "expires_in": 60}), Some("2026-01-01T01:00:00Z")),
            ("expires_in when the absolute time is absent", absolute_expiry("expires_at", TimeFormat::Iso8601),
                json!({"access_token": "at", "expires_in": 60}), Some("2026-01-01T00:01:00Z")),
            ("expires_in in milliseconds", milliseconds.clone(),
                json!({"access_token": "at", "expires_in": 90500}), Some("2026-01-01T00:01:30.500Z")),
            ("milliseconds as a string", milliseconds,
                json!({"access_token": "at", "expires_in": "1000"}), Some("2026-01-01T00:00:01Z")),
            ("nothing at all is unknown", absolute_expiry("expires_at", TimeFormat::UnixSeconds),
                json!({"access_token": "at"}), None),
            ("auto reads seconds", absolute_expiry("expires", TimeFormat::Auto),
                json!({"access_token": "at", "expires": 1767229200}), Some("2026-01-01T01:00:00Z")),
            ("auto reads seconds as a string", absolute_expiry("expires", TimeFormat::Auto),
                json!({"access_token": "at", "expires": "1767229200"}), Some("2026-01-01T01:00:00Z")),
            ("auto reads milliseconds", absolute_expiry("data.accessTokenExpire", TimeFormat::Auto),
                json!({"data": {"accessToken": "at", "accessTokenExpire": 1767229200250_u64}, "access_token": "at"}), Some("2026-01-01T01:00:00.250Z")),
            ("auto below the milliseconds bound", absolute_expiry("expires", TimeFormat::Auto),
                json!({"access_token": "at", "expires": 99_999_999_999_u64}), Some("5138-11-16T09:46:39Z")),
            ("auto at the milliseconds bound", absolute_expiry("expires", TimeFormat::Auto),
                json!({"access_token": "at", "expires": 100_000_000_000_u64}), Some("1973-03-03T09:46:40Z")),
            ("auto reads iso 8601", absolute_expiry("expires", TimeFormat::Auto),
                json!({"access_token": "at", "expires": "2026-01-01T01:30:00.000Z"}), Some("2026-01-01T01:30:00Z")),
            ("remaining hms over 99 hours", absolute_expiry("credentials.left", TimeFormat::RemainingHms),
                json!({"access_token": "at", "credentials": {"left": "177:05:38"}}), Some("2026-01-08T09:05:38Z")),
            ("remaining hms with one hour digit", absolute_expiry("left", TimeFormat::RemainingHms),
                json!({"access_token": "at", "left": "0:00:30"}), Some("2026-01-01T00:00:30Z")),
        ];

        for (case, spec, body, expected) in cases {
            let reply = json_reply(200, body);

            let grant = parse_token_reply("p", &spec, &reply, obtained_at(), None)
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(
                grant.token.expires_at,
                expected.map(|text| text.parse().unwrap()),
                "{case}"
            );
        }
    }

    fn jwt(claims: Value) -> String {
        let encode = |value: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let header = encode(&json!({"alg": "RS256", "typ": "JWT"}));
        format!("{header}.{}.c2lnbmF0dXJl", encode(&claims))
    }

    #[test]
    fn jwt_exp_table() {
        let with_exp = jwt(json!({"sub": "u1", "exp": 1767229200}));
        let with_string_exp = jwt(json!({"exp": "1767229200"}));
        let without_exp = jwt(json!({"sub": "u1"}));

        // (case, spec, reply body, expected expiry; obtained at 2026-01-01T00:00:00Z)
        #[rustfmt::skip]
        let cases: Vec<(&str, TokenResponse, Value, Option<&str>)> = vec![
            ("exp of a JWT without expires_in", TokenResponse::default(),
                json!({"access_token": with_exp}), Some("2026-01-01T01:00:00Z")),
            ("exp as a string", TokenResponse::default(),
                json!({"access_token": with_string_exp}), Some("2026-01-01T01:00:00Z")),
            ("expires_in wins over exp", TokenResponse::default(),
                json!({"access_token": with_exp, "expires_in": 60}), Some("2026-01-01T00:01:00Z")),
            ("exp wins over the default lifetime", with_default_expiry(600),
                json!({"access_token": with_exp}), Some("2026-01-01T01:00:00Z")),
            ("JWT without exp uses the default", with_default_expiry(600),
                json!({"access_token": without_exp}), Some("2026-01-01T00:10:00Z")),
            ("JWT without exp and no default is unknown", TokenResponse::default(),
                json!({"access_token": without_exp}), None),
            ("opaque token with dots is unknown", TokenResponse::default(),
                json!({"access_token": "a.b.c"}), None),
            ("four segments are not a JWT", TokenResponse::default(),
                json!({"access_token": format!("{with_exp}.extra")}), None),
        ];

        for (case, spec, body, expected) in cases {
            let reply = json_reply(200, body);

            let grant = parse_token_reply("p", &spec, &reply, obtained_at(), None)
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(
                grant.token.expires_at,
                expected.map(|text| text.parse().unwrap()),
                "{case}"
            );
        }
    }

    #[test]
    fn reply_shape_table() {
        // (case, status, content type, body, expected access token)
        #[rustfmt::skip]
        let cases = [
            ("no token_type", 200, "application/json", r#"{"access_token":"at-1"}"#, "at-1"),
            ("lowercase token_type", 200, "application/json", r#"{"access_token":"at-2","token_type":"bearer"}"#, "at-2"),
            ("uppercase token_type", 200, "application/json", r#"{"access_token":"at-3","token_type":"BEARER"}"#, "at-3"),
            ("scope as an array", 200, "application/json", r#"{"access_token":"at-4","scope":["read","write"]}"#, "at-4"),
            ("201 with an access token", 201, "application/json", r#"{"access_token":"at-5"}"#, "at-5"),
            ("form-encoded with token_type", 200, "application/x-www-form-urlencoded", "access_token=at-6&token_type=bearer&scope=a%2Cb", "at-6"),
            ("JSON sent as text/plain", 200, "text/plain", r#"{"access_token":"at-7"}"#, "at-7"),
        ];

        for (case, status, content_type, body, expected) in cases {
            let reply = RawReply {
                status,
                content_type: Some(content_type.to_owned()),
                body: body.as_bytes().to_vec(),
                set_cookies: Vec::new(),
            };

            let grant =
                parse_token_reply("p", &TokenResponse::default(), &reply, obtained_at(), None)
                    .unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(grant.token.access_token.expose(), expected, "{case}");
            assert_eq!(grant.token.expires_at, None, "{case}");
            let injection = crate::Injection::for_request(
                &crate::test_support::oauth2_provider(),
                &crate::Credentials::OAuth2(grant.token),
                &ConnectionConfig::new(),
                None,
            )
            .unwrap();
            let authorization: Vec<_> = injection
                .headers
                .iter()
                .filter(|(name, _)| name == http::header::AUTHORIZATION)
                .map(|(_, value)| value.to_str().unwrap().to_owned())
                .collect();
            assert_eq!(authorization, [format!("Bearer {expected}")], "{case}");
        }
    }

    #[test]
    fn invalid_absolute_expiry() {
        // (case, format, value, expected message part)
        #[rustfmt::skip]
        let cases = [
            ("iso 8601 without offset", TimeFormat::Iso8601, json!("2026-01-01T01:00:00"), "`expires_at` is \"2026-01-01T01:00:00\", but an ISO 8601 date-time with an offset was expected"),
            ("iso 8601 as a number", TimeFormat::Iso8601, json!(1767229200), "but an ISO 8601 date-time"),
            ("seconds as text", TimeFormat::UnixSeconds, json!("tomorrow"), "but a Unix time in seconds was expected"),
            ("negative milliseconds", TimeFormat::UnixMilliseconds, json!(-1), "but a Unix time in milliseconds was expected"),
            ("auto with a duration", TimeFormat::Auto, json!("177:05:38"), "`expires_at` is \"177:05:38\", but a Unix time in seconds or milliseconds, or an ISO 8601 date-time with an offset was expected"),
            ("auto with a negative number", TimeFormat::Auto, json!(-1), "but a Unix time in seconds or milliseconds"),
            ("auto with a boolean", TimeFormat::Auto, json!(true), "but a Unix time in seconds or milliseconds"),
        ];

        for (case, format, value, expected) in cases {
            let spec = absolute_expiry("expires_at", format);
            let reply = json_reply(
                200,
                json!({"access_token": "at-secret", "expires_at": value}),
            );

            let err = parse_token_reply("p", &spec, &reply, obtained_at(), None).unwrap_err();

            let text = err.to_string();
            assert!(
                matches!(err, EngineError::InvalidResponse { .. }),
                "{case}: {err:?}"
            );
            assert!(text.contains(expected), "{case}: {text}");
            assert!(!text.contains("secret"), "{case}: {text}");
        }
    }
}
