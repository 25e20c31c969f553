//! Conversion of Nango's TWO_STEP, BILL and NONE entries into the
//! `two_step`, `session` and `none` modes.

use serde_yaml::{Mapping, Value};

use super::nango_integration_config::integration_only_credentials;
use super::{
    broker_identity, field_pattern, insert_map, mapping, scalar_text, string, title_from_key,
    whole_value, Builder, Usage, FIELD_KEY,
};
use crate::import::template::{translate_in, Scope, Translated, Variable};
use crate::import::Reason;
use crate::two_step::RESERVED_TWO_STEP_NAMES;

/// Top-level keys of a TWO_STEP entry that the conversion reads.
pub(super) const TWO_STEP_KEYS: &[&str] = &[
    "token_url",
    "token_params",
    "token_headers",
    "token_request_method",
    "body_format",
    "token_response",
    "token_expires_in_ms",
    "token_expiration_buffer",
    "token_response_metadata",
    "refresh_url",
    "refresh_token_params",
    "refresh_token_headers",
    "additional_steps",
    "token_response_headers",
];

/// Nango's variable of the cookies that a login reply set, for an entry
/// whose `token_response_headers` lists `set-cookie`.
const NANGO_COOKIES: &str = "${credentials._cookies}";

/// A literal that stands for [`NANGO_COOKIES`] while the rest of a template
/// is translated.
const COOKIES_MARKER: &str = "LatchkeyCookiesMarker";

/// The entered values that Nango's BILL connect step requests, with their Latchkey field names and the login body keys of Bill's
/// Connect API (`POST /v3/login`).
const BILL_FIELDS: &[(&str, &str, bool)] = &[
    ("username", "username", false),
    ("password", "password", true),
    ("organization_id", "organizationId", false),
    ("dev_key", "devKey", true),
];

/// Token response paths whose `expireAt` value is a remaining time such as
/// `177:05:38`, not a point in time: Tableau's sign-in reply.
const DURATION_EXPIRY_PATHS: &[&str] = &["credentials.estimatedTimeToExpiration"];

/// Bill's session lifetime: a session ends after 35 minutes without a call.
const BILL_SESSION_SECONDS: u64 = 35 * 60;

impl Builder<'_> {
    /// Converts a TWO_STEP entry: the `credentials` become the entered
    /// fields, `token_url`, `token_params` and `token_headers` the token
    /// request, `refresh_url` with `refresh_token_params` and
    /// `refresh_token_headers` the refresh request, and the proxy header
    /// or query parameter with `${accessToken}` the `inject`.
    pub(super) fn two_step(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        auth.insert("credentials".into(), Value::Mapping(self.entered_fields()?));
        if super::nango_saml::applies(entry) {
            self.saml_assertion(auth)?;
        }

        let body_format = body_format(entry)?;
        let url = string(entry, "token_url")
            .ok_or_else(|| Reason::malformed("`token_url` is missing"))?;
        let get = match string(entry, "token_request_method") {
            None | Some("POST") => false,
            Some("GET") => true,
            Some(other) => {
                return Err(Reason::malformed(&format!(
                    "`token_request_method` is `{other}`, not GET or POST"
                )))
            }
        };
        // A GET token request that sends entered values in the query
        // carries them in `params`, which the engine appends to the URL.
        let (url, query) = match url.split_once('?') {
            Some((path, query)) if get && query.contains("${credentials.") => (path, Some(query)),
            _ => (url, None),
        };
        let mut request = Mapping::new();
        self.insert_field_url(&mut request, "token_url", url)?;
        if get {
            request.insert("method".into(), "GET".into());
        }
        if body_format != "form" {
            request.insert("body_format".into(), body_format.into());
        }
        let mut params = match body_format {
            "xml" => self.xml_params("token_params")?,
            _ => self.field_params("token_params", body_format)?,
        };
        for pair in query.into_iter().flat_map(|query| query.split('&')) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = self.field_template(&format!("token_url.{name}"), value)?;
            params.insert(name.into(), value.text.into());
        }
        insert_map(&mut request, "params", params);
        let headers = self.field_headers("token_headers")?;
        insert_map(&mut request, "headers", headers);
        auth.insert("token_request".into(), Value::Mapping(request));

        // NOTE: without `refresh_url`, `refresh_token_params` and
        // `refresh_token_headers` are taken to renew the token at
        // `token_url` in place of the token request's own parameters and
        // headers. The catalog does not state how Nango combines them.
        let refreshes = [
            "refresh_url",
            "refresh_token_params",
            "refresh_token_headers",
        ]
        .iter()
        .any(|key| entry.contains_key(*key));
        if refreshes {
            let mut refresh = Mapping::new();
            match string(entry, "refresh_url") {
                Some(refresh_url) => {
                    self.insert_field_url(&mut refresh, "refresh_url", refresh_url)?
                }
                None => self.insert_field_url(&mut refresh, "token_url", url)?,
            }
            if body_format != "form" {
                refresh.insert("body_format".into(), body_format.into());
            }
            let params = match body_format {
                "xml" => self.xml_params("refresh_token_params")?,
                _ => self.field_params("refresh_token_params", body_format)?,
            };
            insert_map(&mut refresh, "params", params);
            let headers = self.field_headers("refresh_token_headers")?;
            insert_map(&mut refresh, "headers", headers);
            auth.insert("refresh_request".into(), Value::Mapping(refresh));
        }

        self.additional_steps(auth)?;
        self.two_step_response(auth)?;
        if let Some(buffer) = entry.get("token_expiration_buffer") {
            let seconds = buffer
                .as_u64()
                .ok_or_else(|| Reason::no_equivalent("token_expiration_buffer"))?;
            auth.insert("refresh_margin_seconds".into(), seconds.into());
        }
        match self.token_inject()? {
            Some(inject) => {
                auth.insert("inject".into(), Value::Mapping(inject));
            }
            // An XML gateway such as Sage Intacct's reads the session id
            // inside each XML request body, which the caller writes.
            None if body_format == "xml" => {
                auth.insert("caller_places_token".into(), true.into());
            }
            None => {}
        }
        Ok(())
    }

    /// Converts a BILL entry. Nango's catalog gives only the login URL,
    /// because its BILL mode fixes the rest: the four entered values, a
    /// JSON login body, the `sessionId` of the reply and the `sessionId`
    /// and `devKey` headers of each API call.
    pub(super) fn session(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let url = string(self.entry, "token_url")
            .ok_or_else(|| Reason::malformed("`token_url` is missing"))?;
        let url = self.url("token_url", url)?;
        let mut credentials = Mapping::new();
        let mut params = Mapping::new();
        for (name, body_key, secret) in BILL_FIELDS {
            let mut field = Mapping::new();
            field.insert("title".into(), title_from_key(name).into());
            if *secret {
                field.insert("secret".into(), true.into());
            }
            credentials.insert((*name).into(), Value::Mapping(field));
            params.insert((*body_key).into(), format!("{{{{ {name} }}}}").into());
        }
        auth.insert("credentials".into(), Value::Mapping(credentials));
        let mut request = Mapping::new();
        request.insert("url".into(), url.into());
        request.insert("body_format".into(), "json".into());
        request.insert("params".into(), Value::Mapping(params));
        auth.insert("token_request".into(), Value::Mapping(request));
        let mut response = Mapping::new();
        response.insert("access_token".into(), "sessionId".into());
        response.insert("default_expires_in".into(), BILL_SESSION_SECONDS.into());
        auth.insert("token_response".into(), Value::Mapping(response));
        let mut inject = Mapping::new();
        inject.insert("name".into(), "sessionId".into());
        inject.insert("value".into(), "{{ access_token }}".into());
        auth.insert("inject".into(), Value::Mapping(inject));
        Ok(())
    }

    /// Converts Nango's `credentials` into the fields that the end user
    /// enters. Nango's titles are its own prose, so each title is written
    /// from the key.
    fn entered_fields(&self) -> Result<Mapping, Reason> {
        let Some(nango) = mapping(self.entry, "credentials") else {
            return Err(Reason::malformed("`credentials` is missing"));
        };
        let config = mapping(self.entry, "connection_config");
        let mut fields = Mapping::new();
        for (key, definition) in nango {
            let key = key
                .as_str()
                .ok_or_else(|| Reason::malformed("a credential key is not a string"))?;
            let definition = definition.as_mapping().ok_or_else(|| {
                Reason::malformed(&format!("credential field `{key}` is not a mapping"))
            })?;
            if !FIELD_KEY.is_match(key) || RESERVED_TWO_STEP_NAMES.contains(&key) {
                return Err(Reason::template(
                    "credentials",
                    &format!("credential field `{key}` is not a free template variable name"),
                ));
            }
            if config.is_some_and(|config| config.contains_key(key)) {
                return Err(Reason::template(
                    "credentials",
                    &format!("`{key}` is both a credential field and a connection-config key"),
                ));
            }
            if definition.get("automated").and_then(Value::as_bool) == Some(true) {
                // Nango fills `assertion` with the signed SAML assertion,
                // which the engine builds as `{{ assertion }}`.
                if key == crate::ASSERTION_VARIABLE && super::nango_saml::applies(self.entry) {
                    continue;
                }
                return Err(Reason::new(
                    "credential field that Nango fills itself",
                    format!("credential field `{key}` is automated, so Nango's connect step fills it in a way the catalog does not describe"),
                ));
            }
            fields.insert(key.into(), Value::Mapping(entered_field(key, definition)?));
        }
        for (key, definition) in integration_only_credentials(self.entry) {
            if !FIELD_KEY.is_match(key) || RESERVED_TWO_STEP_NAMES.contains(&key) {
                return Err(Reason::template(
                    "integration_config",
                    &format!("integration_config key `{key}` is not a free template variable name"),
                ));
            }
            fields.insert(key.into(), Value::Mapping(entered_field(key, definition)?));
        }
        if super::nango_saml::applies(self.entry) {
            self.assertion_option_fields(&mut fields)?;
        }
        Ok(fields)
    }

    /// Translates a template of the token request or the proxy, where the
    /// entered fields, `access_token`, `random_uuid` and, in a refresh,
    /// `refresh_token` are variables.
    pub(super) fn field_template(
        &mut self,
        field: &str,
        nango: &str,
    ) -> Result<Translated, Reason> {
        let translated = self.translate_fields(field, nango)?;
        self.record(&translated, false);
        Ok(translated)
    }

    fn translate_fields(&self, field: &str, nango: &str) -> Result<Translated, Reason> {
        if nango.contains("||") {
            return Err(Reason::fallback(field));
        }
        let translated = translate_in(nango, Scope::Fields)
            .map_err(|message| Reason::template(field, &message))?;
        let credentials = mapping(self.entry, "credentials");
        for variable in &translated.variables {
            let name = match variable {
                Variable::Field(name) => name.as_str(),
                Variable::Credential(name @ ("username" | "password")) => name,
                Variable::Credential("access_token") | Variable::Builtin(_) => continue,
                Variable::Config(_) | Variable::RawReply(_) => continue,
                Variable::Credential(other) => {
                    return Err(Reason::credential_placement(&format!(
                        "`{field}` uses `{other}`, which the mode does not have"
                    )))
                }
            };
            let integration_only = integration_only_credentials(self.entry)
                .iter()
                .any(|(key, _)| *key == name);
            if !credentials.is_some_and(|fields| fields.contains_key(name)) && !integration_only {
                return Err(Reason::template(
                    field,
                    &format!("credential field `{name}` is not declared under `credentials`"),
                ));
            }
        }
        Ok(translated)
    }

    /// Inserts the token or refresh URL, with the alternatives of Nango's
    /// `A || B` as `url_fallbacks`. The URL may not carry an entered field,
    /// because servers and proxies log URLs.
    pub(super) fn insert_field_url(
        &mut self,
        request: &mut Mapping,
        field: &str,
        nango: &str,
    ) -> Result<(), Reason> {
        if nango.contains("${credentials.") {
            return Err(Reason::credential_placement(&format!(
                "the credential is used in `{field}`"
            )));
        }
        if nango.contains("||") {
            return self.insert_url(request, "url", field, nango);
        }
        let translated = self.translate_fields(field, nango.trim())?;
        self.record(&translated, true);
        request.insert("url".into(), translated.text.into());
        Ok(())
    }

    /// Converts a body or query parameter map. String values are templates.
    /// A JSON body keeps numbers, booleans, lists and nested maps.
    fn field_params(&mut self, key: &str, body_format: &str) -> Result<Mapping, Reason> {
        let mut params = Mapping::new();
        for (name, value) in mapping(self.entry, key).into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| Reason::malformed("a parameter name is not a string"))?;
            let field = format!("{key}.{name}");
            let value = self.field_value(&field, value, body_format)?;
            params.insert(name.into(), value);
        }
        Ok(params)
    }

    pub(super) fn field_value(
        &mut self,
        field: &str,
        value: &Value,
        body_format: &str,
    ) -> Result<Value, Reason> {
        match value {
            Value::String(text) => Ok(self.field_template(field, text)?.text.into()),
            Value::Number(_) | Value::Bool(_) if body_format == "json" => Ok(value.clone()),
            Value::Number(_) | Value::Bool(_) => Ok(scalar_text(value).unwrap_or_default().into()),
            Value::Sequence(items) if body_format == "json" => items
                .iter()
                .map(|item| self.field_value(field, item, body_format))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::from),
            Value::Mapping(nested) if body_format == "json" => {
                let mut converted = Mapping::new();
                for (name, item) in nested {
                    let name = name
                        .as_str()
                        .ok_or_else(|| Reason::malformed("a parameter name is not a string"))?;
                    let item = self.field_value(&format!("{field}.{name}"), item, body_format)?;
                    converted.insert(name.into(), item);
                }
                Ok(Value::Mapping(converted))
            }
            _ => Err(Reason::malformed(&format!(
                "`{field}` is not a scalar, and only a JSON body takes lists and maps"
            ))),
        }
    }

    fn field_headers(&mut self, key: &str) -> Result<Mapping, Reason> {
        let mut headers = Mapping::new();
        for (name, value) in mapping(self.entry, key).into_iter().flatten() {
            let (Some(name), Some(value)) = (name.as_str(), scalar_text(value)) else {
                return Err(Reason::malformed(&format!(
                    "`{key}` is not a map of strings"
                )));
            };
            let value = self.field_template(&format!("{key}.{name}"), &value)?;
            headers.insert(name.into(), value.text.into());
        }
        Ok(headers)
    }

    /// Converts Nango's `token_response`: `token` is the token's path,
    /// `token_expiration` with the strategy `expireIn` the path of its
    /// lifetime in seconds, and `refresh_token` the refresh token's path.
    fn two_step_response(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let nango = mapping(self.entry, "token_response")
            .ok_or_else(|| Reason::malformed("`token_response` is missing"))?;
        let mut response = Mapping::new();
        let token = string(nango, "token")
            .ok_or_else(|| Reason::malformed("`token_response.token` is missing"))?;
        if body_format(self.entry)? == "xml" {
            if token.is_empty() {
                return Err(Reason::malformed(
                    "`token_response.token` is empty, which makes the whole reply the token, but an XML reply is a document",
                ));
            }
            response.insert("body".into(), "xml".into());
        }
        // An empty path makes the whole reply body the token, which has no
        // paths for a refresh token, an expiry or metadata.
        if token.is_empty() {
            let paths = ["refresh_token", "token_expiration"];
            if let Some(key) = paths.iter().find(|key| nango.contains_key(**key)) {
                return Err(Reason::new(
                    "path into a reply whose whole body is the token",
                    format!("`token_response.token` is empty, so the whole reply body is the token, and `token_response.{key}` has no object to read"),
                ));
            }
            if self.entry.contains_key("token_response_metadata") {
                return Err(Reason::new(
                    "path into a reply whose whole body is the token",
                    "`token_response.token` is empty, so the whole reply body is the token, and `token_response_metadata` has no object to read",
                ));
            }
            response.insert("body".into(), "token".into());
        } else {
            response.insert("access_token".into(), token.into());
        }
        if let Some(path) = string(nango, "refresh_token") {
            response.insert("refresh_token".into(), path.into());
        }
        match (
            string(nango, "token_expiration"),
            string(nango, "token_expiration_strategy"),
        ) {
            (None, None) => {}
            (Some(path), Some("expireIn")) => {
                response.insert("expires_in".into(), path.into());
            }
            (Some(path), Some("expireAt")) if DURATION_EXPIRY_PATHS.contains(&path) => {
                let mut remaining = Mapping::new();
                remaining.insert("path".into(), path.into());
                remaining.insert("format".into(), "remaining_hms".into());
                response.insert("expires_at".into(), Value::Mapping(remaining));
            }
            (Some(path), Some("expireAt")) => {
                // Nango's catalog does not say how an `expireAt` value is
                // written. Nango reads a number as Unix seconds and a string
                // as a date, and `auto` reads both, plus Unix milliseconds.
                let mut absolute = Mapping::new();
                absolute.insert("path".into(), path.into());
                absolute.insert("format".into(), "auto".into());
                response.insert("expires_at".into(), Value::Mapping(absolute));
            }
            _ => {
                return Err(Reason::malformed(
                    "`token_response.token_expiration` and `token_expiration_strategy` do not form a pair of a path and `expireIn` or `expireAt`",
                ))
            }
        }
        for key in nango.keys().filter_map(Value::as_str) {
            if !matches!(
                key,
                "token" | "refresh_token" | "token_expiration" | "token_expiration_strategy"
            ) {
                return Err(Reason::no_equivalent(&format!("token_response.{key}")));
            }
        }
        if let Some(lifetime) = self.entry.get("token_expires_in_ms") {
            let seconds = lifetime.as_u64().map_or(0, |ms| ms / 1000);
            if seconds == 0 {
                return Err(Reason::no_equivalent("token_expires_in_ms"));
            }
            response.insert("default_expires_in".into(), seconds.into());
        }
        let mut captured = Mapping::new();
        for (key, path) in self.metadata_keys("token_response_metadata")? {
            captured.insert(key.into(), path.into());
        }
        insert_map(&mut response, "connection_config", captured);
        if captures_cookies(self.entry)? {
            response.insert("capture_cookies".into(), true.into());
        }
        auth.insert("token_response".into(), Value::Mapping(response));
        Ok(())
    }

    /// Builds `inject` from the one proxy header or query parameter that
    /// carries `${accessToken}`. Without one, `inject` stays absent and the
    /// engine sends `Authorization: Bearer`.
    /// NOTE: that default is taken to match Nango's proxy for TWO_STEP
    /// entries without such a header; the catalog does not state it.
    fn token_inject(&mut self) -> Result<Option<Mapping>, Reason> {
        let proxy = mapping(self.entry, "proxy");
        let mut found = Vec::new();
        for (location, key) in [("header", "headers"), ("query", "query")] {
            let values = proxy.and_then(|proxy| mapping(proxy, key));
            for (name, value) in values.into_iter().flatten() {
                let (Some(name), Some(value)) = (name.as_str(), scalar_text(value)) else {
                    return Err(Reason::malformed(&format!(
                        "`proxy.{key}` is not a map of strings"
                    )));
                };
                let value = token_alias(self.entry, &value);
                if !value.contains("${accessToken}") {
                    continue;
                }
                let translated = self.field_template(&format!("proxy.{key}.{name}"), &value)?;
                found.push((location, name.to_owned(), translated.text));
            }
        }
        if found.len() > 1 {
            return Err(Reason::credential_placement(
                "the token is sent in more than one place",
            ));
        }
        Ok(found.pop().map(|(location, name, value)| {
            let mut inject = Mapping::new();
            if location == "query" {
                inject.insert("location".into(), "query".into());
            }
            inject.insert("name".into(), name.into());
            inject.insert("value".into(), value.into());
            inject
        }))
    }

    /// Translates a proxy header or query value of a `two_step` entry,
    /// which may use the entered fields. The value with `${accessToken}`
    /// goes into `inject` and is skipped here.
    pub(super) fn two_step_static_value(
        &mut self,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, Reason> {
        let value = token_alias(self.entry, value);
        if value.contains("${accessToken}") {
            return Ok(None);
        }
        let value = broker_identity(value);
        if value.contains(NANGO_COOKIES) && captures_cookies(self.entry)? {
            let marked = value.replace(NANGO_COOKIES, COOKIES_MARKER);
            let text = self.field_template(field, &marked)?.text;
            return Ok(Some(text.replace(COOKIES_MARKER, "{{ cookies }}")));
        }
        Ok(Some(self.field_template(field, &value)?.text))
    }
}

/// Writes Nango's `${credentials.token}`, the token of a TWO_STEP
/// connection, as `${accessToken}` when no entered field is named `token`.
fn token_alias(entry: &Mapping, value: &str) -> String {
    let entered = mapping(entry, "credentials").is_some_and(|fields| fields.contains_key("token"));
    if entered {
        value.to_owned()
    } else {
        value.replace("${credentials.token}", "${accessToken}")
    }
}

/// Checks whether `token_response_headers` requests the reply's cookies,
/// the only reply header that Latchkey stores.
fn captures_cookies(entry: &Mapping) -> Result<bool, Reason> {
    let Some(headers) = entry.get("token_response_headers") else {
        return Ok(false);
    };
    let headers = headers
        .as_sequence()
        .ok_or_else(|| Reason::malformed("`token_response_headers` is not a list"))?;
    let mut cookies = false;
    for header in headers {
        match header.as_str() {
            Some(name) if name.eq_ignore_ascii_case("set-cookie") => cookies = true,
            Some(name) => {
                return Err(Reason::new(
                    "reply header other than Set-Cookie",
                    format!("`token_response_headers` lists `{name}`, and Latchkey stores only the cookies of a login reply"),
                ))
            }
            None => return Err(Reason::malformed("an item of `token_response_headers` is not a string")),
        }
    }
    Ok(cookies)
}

/// Adds the `devKey` header that Bill's Connect API expects on each call
/// besides the session id.
pub(super) fn insert_session_headers(proxy: &mut Mapping) {
    let headers = proxy
        .entry("headers".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if let Value::Mapping(headers) = headers {
        headers.insert("devKey".into(), "{{ dev_key }}".into());
    }
}

/// Returns the body format of the token request: Nango's `body_format`, or
/// JSON when it is absent and `token_headers` sets a JSON content type.
pub(super) fn body_format(entry: &Mapping) -> Result<&'static str, Reason> {
    match string(entry, "body_format") {
        Some("form") => Ok("form"),
        Some("json") => Ok("json"),
        Some("xml") => Ok("xml"),
        Some(other) => Err(Reason::new(
            "token request body format with no Latchkey form",
            format!(
                "`body_format` is `{other}`, and a token request body is `form`, `json` or `xml`"
            ),
        )),
        None => {
            let json =
                mapping(entry, "token_headers")
                    .into_iter()
                    .flatten()
                    .any(|(name, value)| {
                        name.as_str()
                            .is_some_and(|name| name.eq_ignore_ascii_case("content-type"))
                            && value
                                .as_str()
                                .is_some_and(|value| value.starts_with("application/json"))
                    });
            Ok(if json { "json" } else { "form" })
        }
    }
}

/// Converts one credential definition into an entered field: its pattern
/// (without `^` and `$`), format, example when it matches the pattern,
/// `default_value` as the default, and the `optional` and `secret` flags.
pub(super) fn entered_field(key: &str, nango: &Mapping) -> Result<Mapping, Reason> {
    let mut field = Mapping::new();
    field.insert("title".into(), title_from_key(key).into());
    let pattern = field_pattern(key, nango, Usage::default())?;
    if let Some(pattern) = &pattern {
        field.insert("pattern".into(), pattern.clone().into());
    }
    if let Some(format) = string(nango, "format") {
        if matches!(format, "hostname" | "uri" | "uuid" | "email") {
            field.insert("format".into(), format.into());
        }
    }
    let matches = |value: &str| {
        pattern
            .as_ref()
            .is_none_or(|pattern| whole_value(pattern).is_ok_and(|regex| regex.is_match(value)))
    };
    if let Some(example) = nango.get("example").and_then(scalar_text) {
        if matches(&example) {
            field.insert("example".into(), example.into());
        }
    }
    if let Some(default) = nango.get("default_value").and_then(scalar_text) {
        if !default.is_empty() && matches(&default) {
            field.insert("default".into(), default.into());
        }
    }
    if nango.get("optional").and_then(Value::as_bool) == Some(true) {
        field.insert("optional".into(), true.into());
    }
    if nango.get("secret").and_then(Value::as_bool) == Some(true) {
        field.insert("secret".into(), true.into());
    }
    Ok(field)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::import::import_nango;
    use crate::load::parse_provider;
    use crate::two_step::TokenRequestMethod;
    use crate::Auth;

    const FIXTURE: &str = r#"
signin:
    display_name: Sign In
    auth_mode: TWO_STEP
    token_url: https://${connectionConfig.host}/token
    body_format: json
    token_params:
        grant_type: client_credentials
        client_id: ${credentials.clientId}
        options:
            lifetime: 3600
    token_headers:
        authorization: Basic ${base64(${credentials.clientId}:${credentials.clientSecret})}
    refresh_url: https://${connectionConfig.host}/refresh
    refresh_token_params:
        refresh_token: ${refresh_token}
    token_response:
        token: data.token
        refresh_token: data.refresh
        token_expiration: data.ttl
        token_expiration_strategy: expireIn
    token_expiration_buffer: 120
    proxy:
        base_url: https://${connectionConfig.host}/api
        headers:
            x-session: ${accessToken}
            x-client: ${credentials.clientId}
    credentials:
        clientId:
            type: string
            title: Client ID
            pattern: ^[a-z0-9]+$
            example: abc123
        clientSecret:
            type: string
            title: Client Secret
            secret: true
    connection_config:
        host:
            type: string
            title: Host
            format: hostname
            example: api.signin.test
query-login:
    display_name: Query Login
    auth_mode: TWO_STEP
    token_request_method: GET
    token_url: https://login.test/auth?key=${credentials.secret}&mode=full
    token_response:
        token: token
    token_expires_in_ms: 600000
    proxy:
        base_url: https://login.test
    credentials:
        secret:
            type: string
            title: Secret
            secret: true
dated:
    display_name: Dated
    auth_mode: TWO_STEP
    token_url: https://dated.test/token
    token_response:
        token: token
        token_expiration: expires
        token_expiration_strategy: expireAt
    proxy:
        base_url: https://dated.test
    credentials:
        secret:
            type: string
            title: Secret
remaining:
    display_name: Remaining
    auth_mode: TWO_STEP
    token_url: https://remaining.test/token
    token_response:
        token: credentials.token
        token_expiration: credentials.estimatedTimeToExpiration
        token_expiration_strategy: expireAt
    proxy:
        base_url: https://remaining.test
    credentials:
        secret:
            type: string
            title: Secret
bare-token:
    display_name: Bare Token
    auth_mode: TWO_STEP
    token_url: https://bare.test/token
    token_response:
        token: ''
    proxy:
        base_url: https://bare.test
    credentials:
        secret:
            type: string
            title: Secret
bare-token-expiry:
    display_name: Bare Token Expiry
    auth_mode: TWO_STEP
    token_url: https://bare.test/token
    token_response:
        token: ''
        token_expiration: expires_in
        token_expiration_strategy: expireIn
    proxy:
        base_url: https://bare.test
    credentials:
        secret:
            type: string
            title: Secret
cookie-login:
    display_name: Cookie Login
    auth_mode: TWO_STEP
    token_url: https://cookie.test/Login
    token_response:
        token: SessionId
    token_response_headers:
        - set-cookie
    proxy:
        base_url: https://cookie.test
        headers:
            cookie: ${credentials._cookies}
    credentials:
        secret:
            type: string
            title: Secret
header-login:
    display_name: Header Login
    auth_mode: TWO_STEP
    token_url: https://header.test/Login
    token_response:
        token: SessionId
    token_response_headers:
        - x-session
    proxy:
        base_url: https://header.test
    credentials:
        secret:
            type: string
            title: Secret
xml-login:
    display_name: XML Login
    auth_mode: TWO_STEP
    token_url: https://xml.test/token
    body_format: xml
    token_response:
        token: token
    proxy:
        base_url: https://xml.test
    credentials:
        secret:
            type: string
            title: Secret
undeclared:
    display_name: Undeclared
    auth_mode: TWO_STEP
    token_url: https://undeclared.test/token
    token_params:
        key: ${credentials.missing}
    token_response:
        token: token
    proxy:
        base_url: https://undeclared.test
    credentials:
        secret:
            type: string
            title: Secret
twice:
    display_name: Twice
    auth_mode: TWO_STEP
    token_url: https://twice.test/token
    token_response:
        token: token
    proxy:
        base_url: https://twice.test
        headers:
            authorization: Bearer ${accessToken}
            x-token: ${accessToken}
    credentials:
        secret:
            type: string
            title: Secret
filled:
    display_name: Filled
    auth_mode: TWO_STEP
    token_url: https://filled.test/token
    token_response:
        token: token
    proxy:
        base_url: https://filled.test
    credentials:
        secret:
            type: string
            title: Secret
            automated: true
bill-test:
    display_name: Bill Test
    auth_mode: BILL
    token_url: https://bill.test/connect/v3/login
    proxy:
        base_url: https://bill.test/connect
open:
    display_name: Open
    auth_mode: NONE
    proxy:
        base_url: https://open.test
"#;

    fn import() -> (tempfile::TempDir, crate::import::ImportReport) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, FIXTURE).unwrap();
        let report = import_nango(&input, &dir.path().join("out")).unwrap();
        (dir, report)
    }

    fn provider(dir: &tempfile::TempDir, name: &str) -> crate::Provider {
        let text = std::fs::read_to_string(dir.path().join(format!("out/{name}.yaml"))).unwrap();
        parse_provider(&format!("{name}.yaml"), &text).unwrap()
    }

    fn reasons(report: &crate::import::ImportReport) -> BTreeMap<&str, &str> {
        report
            .not_converted
            .iter()
            .map(|entry| (entry.name.as_str(), entry.reason.message.as_str()))
            .collect()
    }

    #[test]
    fn two_step_entry_converts_whole() {
        let (dir, _report) = import();
        let Auth::TwoStep(settings) = provider(&dir, "signin").auth else {
            panic!("signin is not two_step");
        };
        assert_eq!(
            settings.credentials.keys().collect::<Vec<_>>(),
            ["clientId", "clientSecret"]
        );
        let client_id = &settings.credentials["clientId"];
        assert_eq!(client_id.pattern.as_deref(), Some("[a-z0-9]+"));
        assert!(settings.credentials["clientSecret"].secret);
        let request = &settings.token_request;
        assert_eq!(request.url, "https://{{ host }}/token");
        assert_eq!(
            serde_json::Value::Object(request.params.clone().into_iter().collect()),
            serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": "{{ clientId }}",
                "options": {"lifetime": 3600},
            })
        );
        assert_eq!(
            request.headers["authorization"],
            "Basic {{ (clientId ~ ':' ~ clientSecret) | base64 }}"
        );
        let refresh = settings.refresh_request.as_ref().unwrap();
        assert_eq!(refresh.url, "https://{{ host }}/refresh");
        assert_eq!(refresh.params["refresh_token"], "{{ refresh_token }}");
        assert_eq!(settings.token_response.access_token, "data.token");
        assert_eq!(settings.token_response.refresh_token, "data.refresh");
        assert_eq!(settings.token_response.expires_in, "data.ttl");
        assert_eq!(settings.refresh_margin_seconds, Some(120));
        let inject = settings.inject.as_ref().unwrap();
        assert_eq!(inject.name, "x-session");
        assert_eq!(inject.value, "{{ access_token }}");
    }

    #[test]
    fn proxy_keeps_field_headers() {
        let (dir, _report) = import();
        let provider = provider(&dir, "signin");
        assert_eq!(provider.proxy.headers["x-client"], "{{ clientId }}");
        assert!(!provider.proxy.headers.contains_key("x-session"));
    }

    #[test]
    fn get_query_moves_to_params() {
        let (dir, _report) = import();
        let Auth::TwoStep(settings) = provider(&dir, "query-login").auth else {
            panic!("query-login is not two_step");
        };
        let request = &settings.token_request;
        assert_eq!(request.method, TokenRequestMethod::Get);
        assert_eq!(request.url, "https://login.test/auth");
        assert_eq!(request.params["key"], "{{ secret }}");
        assert_eq!(request.params["mode"], "full");
        assert_eq!(settings.token_response.default_expires_in, Some(600));
        assert!(settings.inject.is_none());
    }

    #[test]
    fn bill_and_none_convert() {
        let (dir, _report) = import();
        let Auth::Session(settings) = provider(&dir, "bill-test").auth.clone() else {
            panic!("bill-test is not session");
        };
        assert_eq!(
            settings.token_request.url,
            "https://bill.test/connect/v3/login"
        );
        assert_eq!(settings.token_request.params["devKey"], "{{ dev_key }}");
        assert_eq!(settings.token_response.access_token, "sessionId");
        assert_eq!(settings.inject.as_ref().unwrap().name, "sessionId");
        let bill = provider(&dir, "bill-test");
        assert_eq!(bill.proxy.headers["devKey"], "{{ dev_key }}");
        assert!(matches!(provider(&dir, "open").auth, Auth::None(_)));
    }

    #[test]
    fn expire_at_reads_auto_format() {
        let (dir, _report) = import();
        let Auth::TwoStep(settings) = provider(&dir, "dated").auth.clone() else {
            panic!("dated is not two_step");
        };
        let absolute = settings.token_response.expires_at.expect("expires_at");
        assert_eq!(absolute.path, "expires");
        assert_eq!(absolute.format, crate::model::TimeFormat::Auto);
    }

    #[test]
    fn remaining_time_reads_hms() {
        let (dir, _report) = import();
        let Auth::TwoStep(settings) = provider(&dir, "remaining").auth.clone() else {
            panic!("remaining is not two_step");
        };
        let remaining = settings.token_response.expires_at.expect("expires_at");
        assert_eq!(remaining.path, "credentials.estimatedTimeToExpiration");
        assert_eq!(remaining.format, crate::model::TimeFormat::RemainingHms);
    }

    #[test]
    fn set_cookie_header_captured() {
        let (dir, _report) = import();
        let provider = provider(&dir, "cookie-login");
        let Auth::TwoStep(settings) = &provider.auth else {
            panic!("cookie-login is not two_step");
        };
        assert!(settings.token_response.capture_cookies);
        assert_eq!(provider.proxy.headers["cookie"], "{{ cookies }}");
    }

    #[test]
    fn empty_token_path_reads_body() {
        let (dir, _report) = import();
        let Auth::TwoStep(settings) = provider(&dir, "bare-token").auth.clone() else {
            panic!("bare-token is not two_step");
        };
        assert_eq!(settings.token_response.body, crate::model::TokenBody::Token);
    }

    #[test]
    fn unconvertible_entries_name_reason() {
        let (_dir, report) = import();
        let reasons = reasons(&report);
        let cases = [
            ("header-login", "`token_response_headers` lists `x-session`, and Latchkey stores only the cookies of a login reply"),
            ("bare-token-expiry", "`token_response.token` is empty, so the whole reply body is the token, and `token_response.token_expiration` has no object to read"),
            ("xml-login", "`token_params` is missing, and an XML body needs it"),
            ("undeclared", "token_params.key: credential field `missing` is not declared under `credentials`"),
            ("twice", "the token is sent in more than one place"),
            ("filled", "credential field `secret` is automated, so Nango's connect step fills it in a way the catalog does not describe"),
        ];
        for (name, expected) in cases {
            assert_eq!(reasons.get(name).copied(), Some(expected), "{name}");
        }
        assert_eq!(reasons.len(), cases.len());
    }
}
