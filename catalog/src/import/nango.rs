//! Conversion of one resolved Nango provider entry into a Latchkey provider
//! document.
//!
//! The input is an entry of Nango's `providers.yaml` after alias
//! resolution. The output is a YAML mapping in Latchkey's provider format
//! that carries only facts: URLs, parameter and header names, separators,
//! modes and connection-config keys and patterns. Nango's descriptions and
//! documentation links are never copied.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::{Mapping, Value};

use super::template::{translate, Translated, Variable};
use super::Reason;

/// The Nango modes that map onto a Latchkey mode.
const MODES: [(&str, &str); 4] = [
    ("OAUTH2", "oauth2"),
    ("OAUTH2_CC", "oauth2_client_credentials"),
    ("API_KEY", "api_key"),
    ("BASIC", "basic"),
];

/// Top-level keys that carry no request behaviour: names, links into
/// Nango's documentation, webhook routing, and scripts that run only when a
/// connection is checked or deleted.
const METADATA_KEYS: &[&str] = &[
    "auth_mode",
    "display_name",
    "categories",
    "docs",
    "docs_connect",
    "setup_guide_url",
    "webhook_routing_script",
    "webhook_user_defined_secret",
    "webhook_allowed_query_params",
    "webhook_response_metadata",
    "pre_connection_deletion_script",
    "credentials_verification_script",
];

/// OAuth keys. An alias that changes the mode to API_KEY or BASIC keeps its
/// target's OAuth keys through Nango's shallow merge, and they are dropped.
const OAUTH_KEYS: &[&str] = &[
    "authorization_url",
    "token_url",
    "refresh_url",
    "scope_separator",
    "default_scopes",
    "authorization_params",
    "token_params",
    "refresh_params",
    "disable_pkce",
    "token_request_auth_method",
    "authorization_method",
    "body_format",
    "authorization_url_skip_empty",
    "authorization_url_skip_encode",
    "authorization_url_replacements",
    "token_response_metadata",
    "redirect_uri_metadata",
    "token_expires_in_ms",
    "expires_in_unit",
];

/// OAuth keys that only the authorization code mode converts; an OAUTH2_CC
/// entry with one of them is not converted.
const OAUTH2_ONLY_KEYS: &[&str] = &[
    "authorization_url",
    "refresh_url",
    "authorization_params",
    "refresh_params",
    "disable_pkce",
    "authorization_url_skip_empty",
    "authorization_url_skip_encode",
    "authorization_url_replacements",
    "redirect_uri_metadata",
];

const STANDARD_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "state",
    "scope",
    "code",
    "code_verifier",
    "grant_type",
    "refresh_token",
];

/// A DNS host name: labels of letters, digits and inner hyphens.
const HOSTNAME_PATTERN: &str =
    "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*";
const UUID_PATTERN: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

static CATEGORY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-z][a-z0-9-]*$").expect("valid regex"));
static FIELD_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
const CREDENTIAL_NAMES: &[&str] = &["access_token", "api_key", "username", "password"];

/// A converted entry: the document and the Latchkey mode name.
pub(super) struct Converted {
    pub document: Mapping,
    pub mode: &'static str,
    pub display_name: String,
}

/// Converts one resolved entry.
pub(super) fn convert(name: &str, entry: &Mapping) -> Result<Converted, Reason> {
    let nango_mode = string(entry, "auth_mode").unwrap_or("(none)");
    let Some(&(_, mode)) = MODES.iter().find(|(nango, _)| *nango == nango_mode) else {
        return Err(Reason::unsupported_mode(nango_mode));
    };
    check_known_keys(entry, mode)?;

    let display_name = string(entry, "display_name")
        .ok_or_else(|| Reason::malformed("`display_name` is missing"))?
        .to_owned();
    let mut builder = Builder::new(entry, mode);
    let auth = builder.auth()?;
    let proxy = builder.proxy()?;
    let connection_config = builder.connection_config()?;

    let mut document = Mapping::new();
    document.insert("name".into(), name.into());
    document.insert("display_name".into(), display_name.clone().into());
    let categories = categories(entry);
    if !categories.is_empty() {
        document.insert("categories".into(), categories.into());
    }
    document.insert("auth".into(), Value::Mapping(auth));
    if !connection_config.is_empty() {
        document.insert(
            "connection_config".into(),
            Value::Mapping(connection_config),
        );
    }
    document.insert("proxy".into(), Value::Mapping(proxy));
    Ok(Converted {
        document,
        mode,
        display_name,
    })
}

/// Rejects an entry with a top-level key that changes request behaviour in
/// a way this importer does not convert.
fn check_known_keys(entry: &Mapping, mode: &str) -> Result<(), Reason> {
    let oauth = mode.starts_with("oauth2");
    for key in entry.keys().filter_map(Value::as_str) {
        let known = METADATA_KEYS.contains(&key)
            || matches!(key, "proxy" | "connection_config" | "credentials")
            || (key == "auth" && auth_is_default(entry))
            || (!oauth && OAUTH_KEYS.contains(&key))
            || (oauth && OAUTH_KEYS.contains(&key) && !oauth2_only(mode, key));
        if !known {
            return Err(Reason::no_equivalent(key));
        }
    }
    Ok(())
}

fn oauth2_only(mode: &str, key: &str) -> bool {
    mode == "oauth2_client_credentials" && OAUTH2_ONLY_KEYS.contains(&key)
}

/// `auth: {response_type: code}` restates the authorization code default.
fn auth_is_default(entry: &Mapping) -> bool {
    let Some(auth) = mapping(entry, "auth") else {
        return false;
    };
    auth.iter()
        .all(|(key, value)| key.as_str() == Some("response_type") && value.as_str() == Some("code"))
}

fn categories(entry: &Mapping) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    sequence(entry, "categories")
        .iter()
        .filter_map(Value::as_str)
        .filter(|category| CATEGORY.is_match(category) && seen.insert(*category))
        .map(Value::from)
        .collect()
}

/// The places where the converted templates use a connection-config key.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    in_url: bool,
    starts_url: bool,
}

struct Builder<'a> {
    entry: &'a Mapping,
    mode: &'static str,
    usage: BTreeMap<String, Usage>,
    /// Keys filled from the token response or the callback.
    automated: BTreeSet<String>,
    /// Keys filled from the callback, which may lack them.
    from_callback: BTreeSet<String>,
}

impl<'a> Builder<'a> {
    fn new(entry: &'a Mapping, mode: &'static str) -> Builder<'a> {
        Builder {
            entry,
            mode,
            usage: BTreeMap::new(),
            automated: BTreeSet::new(),
            from_callback: BTreeSet::new(),
        }
    }

    /// Translates a template outside `inject.value`, where no credential
    /// variable may appear.
    fn template(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        if nango.contains("||") {
            return Err(Reason::fallback(field));
        }
        let translated = translate(nango).map_err(|message| Reason::template(field, &message))?;
        if translated.uses_credential() {
            return Err(Reason::credential_placement(&format!(
                "the credential is used in `{field}`"
            )));
        }
        self.record(&translated, false);
        Ok(translated.text)
    }

    fn url(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        if nango.contains("||") {
            return Err(Reason::fallback(field));
        }
        self.url_part(field, nango)
    }

    fn url_part(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        let translated =
            translate(nango.trim()).map_err(|message| Reason::template(field, &message))?;
        if translated.uses_credential() {
            return Err(Reason::credential_placement(&format!(
                "the credential is used in `{field}`"
            )));
        }
        self.record(&translated, true);
        Ok(translated.text)
    }

    fn record(&mut self, translated: &Translated, in_url: bool) {
        for key in translated.config_keys() {
            let usage = self.usage.entry(key.to_owned()).or_default();
            if in_url {
                usage.in_url = true;
                if translated.text.starts_with(&format!("{{{{ {key} }}}}")) {
                    usage.starts_url = true;
                }
            }
        }
    }

    fn auth(&mut self) -> Result<Mapping, Reason> {
        let mut auth = Mapping::new();
        auth.insert("mode".into(), self.mode.into());
        match self.mode {
            "oauth2" => self.oauth2(&mut auth)?,
            "oauth2_client_credentials" => self.client_credentials(&mut auth)?,
            "api_key" => self.api_key(&mut auth)?,
            _ => self.basic(&mut auth)?,
        }
        Ok(auth)
    }

    fn oauth2(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        let authorization_url = string(entry, "authorization_url")
            .ok_or_else(|| Reason::malformed("`authorization_url` is missing"))?;
        let authorization_url = self.url("authorization_url", authorization_url)?;
        auth.insert("authorization_url".into(), authorization_url.into());

        self.token_url(auth)?;
        if let Some(refresh_url) = string(entry, "refresh_url") {
            let refresh_url = self.url("refresh_url", refresh_url)?;
            auth.insert("refresh_url".into(), refresh_url.into());
        }

        self.scopes(auth)?;
        if let Some(skip) = entry.get("authorization_url_skip_encode") {
            let only_scopes = skip
                .as_sequence()
                .is_some_and(|list| list.iter().all(|item| item.as_str() == Some("scopes")));
            if !only_scopes {
                return Err(Reason::no_equivalent("authorization_url_skip_encode"));
            }
            auth.insert("scope_encoding".into(), "raw".into());
        }
        let authorization_params = self.params("authorization_params", None)?;
        insert_map(auth, "authorization_params", authorization_params);
        if entry
            .get("authorization_url_skip_empty")
            .and_then(Value::as_bool)
            == Some(true)
        {
            auth.insert("drop_empty_authorization_params".into(), true.into());
        }
        if let Some(names) = self.param_names()? {
            auth.insert("authorization_param_names".into(), Value::Mapping(names));
        }

        let token_params = self.params("token_params", Some("authorization_code"))?;
        // Nango sends `token_params` on a refresh when an entry has no
        // `refresh_params`; Latchkey keeps them apart.
        let refresh_params = if entry.contains_key("refresh_params") {
            self.params("refresh_params", Some("refresh_token"))?
        } else {
            token_params.clone()
        };
        insert_map(auth, "token_params", token_params);
        insert_map(auth, "refresh_params", refresh_params);

        self.client_auth(auth)?;
        if entry.get("disable_pkce").and_then(Value::as_bool) == Some(true) {
            auth.insert("pkce".into(), false.into());
        }
        self.token_response(auth)?;
        let callback = self.callback()?;
        insert_map(auth, "callback_connection_config", callback);
        Ok(())
    }

    fn client_credentials(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        self.token_url(auth)?;
        self.scopes(auth)?;
        let token_params = self.params("token_params", Some("client_credentials"))?;
        insert_map(auth, "token_params", token_params);
        self.client_auth(auth)?;
        self.token_response(auth)?;
        if let Some(credentials) = mapping(self.entry, "credentials") {
            // NOTE: Nango lets a connection bring its own client ID and
            // secret; Latchkey uses the integration's.
            let extra = credentials
                .keys()
                .filter_map(Value::as_str)
                .find(|key| !matches!(*key, "client_id" | "client_secret" | "type"));
            if let Some(extra) = extra {
                return Err(Reason::no_equivalent(&format!("credentials.{extra}")));
            }
        }
        Ok(())
    }

    fn token_url(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let token_url = match self.entry.get("token_url") {
            Some(Value::String(url)) => url.as_str(),
            Some(_) => return Err(Reason::no_equivalent("token_url (one per mode)")),
            None => return Err(Reason::malformed("`token_url` is missing")),
        };
        let token_url = self.url("token_url", token_url)?;
        auth.insert("token_url".into(), token_url.into());
        Ok(())
    }

    fn scopes(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        if let Some(separator) = string(self.entry, "scope_separator") {
            auth.insert("scope_separator".into(), separator.into());
        }
        let scopes: Vec<Value> = sequence(self.entry, "default_scopes")
            .iter()
            .map(|scope| {
                scope
                    .as_str()
                    .map(Value::from)
                    .ok_or_else(|| Reason::malformed("a default scope is not a string"))
            })
            .collect::<Result<_, _>>()?;
        if !scopes.is_empty() {
            auth.insert("default_scopes".into(), scopes.into());
        }
        Ok(())
    }

    /// Converts a parameter map. `grant_type` with the value Latchkey sends
    /// itself is left out, and another `grant_type` stops the entry.
    fn params(&mut self, key: &str, grant_type: Option<&str>) -> Result<Mapping, Reason> {
        let mut params = Mapping::new();
        let Some(nango) = mapping(self.entry, key) else {
            return Ok(params);
        };
        for (name, value) in nango {
            let name = name
                .as_str()
                .ok_or_else(|| Reason::malformed("a parameter name is not a string"))?;
            let value = scalar_text(value)
                .ok_or_else(|| Reason::malformed(&format!("`{key}.{name}` is not a scalar")))?;
            if let (Some(standard), "grant_type") = (grant_type, name) {
                if value == standard {
                    continue;
                }
                // Latchkey sends the standard grant type itself, and a second
                // `grant_type` would contradict it.
                return Err(Reason::new(
                    "grant type other than the standard one",
                    format!("`{key}.grant_type` is `{value}`, not `{standard}`"),
                ));
            }
            let field = format!("{key}.{name}");
            let value = self.template(&field, &value)?;
            params.insert(name.into(), value.into());
        }
        Ok(params)
    }

    /// `authorization_url_replacements` that rename standard parameters.
    fn param_names(&self) -> Result<Option<Mapping>, Reason> {
        let Some(replacements) = mapping(self.entry, "authorization_url_replacements") else {
            return Ok(None);
        };
        let mut names = Mapping::new();
        for (from, to) in replacements {
            let from = from.as_str().unwrap_or_default().trim_end_matches('=');
            let to = to.as_str().unwrap_or_default().trim_end_matches('=');
            if !STANDARD_PARAMS.contains(&from) || to.is_empty() {
                return Err(Reason::no_equivalent("authorization_url_replacements"));
            }
            names.insert(from.into(), to.into());
        }
        Ok(Some(names))
    }

    /// Nango's `token_request_auth_method: basic` sends the Basic header and
    /// keeps the client ID and secret in the body, unless
    /// `authorization_method: header` is also set.
    /// NOTE: read from Nango's public OAuth client source, not from the
    /// pinned package, which ships only the provider list and its loader.
    fn client_auth(&self, auth: &mut Mapping) -> Result<(), Reason> {
        let method = string(self.entry, "token_request_auth_method");
        let header_only = string(self.entry, "authorization_method") == Some("header");
        let client_auth = match (method, header_only) {
            (None, false) => None,
            (Some("basic"), false) => Some("basic_and_body"),
            (Some("basic"), true) => Some("basic"),
            // `authorization_method: header` makes Nango's OAuth client
            // send the client ID and secret as a Basic header only.
            (None, true) => Some("basic"),
            (Some(_), _) => return Err(Reason::no_equivalent("token_request_auth_method")),
        };
        if let Some(client_auth) = client_auth {
            auth.insert("client_auth".into(), client_auth.into());
        }
        match string(self.entry, "body_format") {
            None | Some("form") => {}
            Some("json") => {
                auth.insert("token_body_format".into(), "json".into());
            }
            Some(_) => return Err(Reason::no_equivalent("body_format")),
        }
        Ok(())
    }

    fn token_response(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let mut response = Mapping::new();
        match string(self.entry, "expires_in_unit") {
            None | Some("seconds") => {}
            Some("milliseconds") => {
                response.insert("expires_in_unit".into(), "milliseconds".into());
            }
            Some(_) => return Err(Reason::no_equivalent("expires_in_unit")),
        }
        if let Some(lifetime) = self.entry.get("token_expires_in_ms") {
            let seconds = lifetime.as_u64().map(|ms| ms / 1000).unwrap_or(0);
            if seconds == 0 {
                return Err(Reason::no_equivalent("token_expires_in_ms"));
            }
            response.insert("default_expires_in".into(), seconds.into());
        }
        let mut captured = Mapping::new();
        for path in self.metadata_keys("token_response_metadata")? {
            captured.insert(path.clone().into(), path.into());
        }
        insert_map(&mut response, "connection_config", captured);
        if !response.is_empty() {
            auth.insert("token_response".into(), Value::Mapping(response));
        }
        Ok(())
    }

    fn callback(&mut self) -> Result<Mapping, Reason> {
        let mut callback = Mapping::new();
        for name in self.metadata_keys("redirect_uri_metadata")? {
            self.from_callback.insert(name.clone());
            callback.insert(name.clone().into(), name.into());
        }
        Ok(callback)
    }

    /// Reads the connection-config keys of a Nango metadata list, which
    /// Latchkey fills itself.
    fn metadata_keys(&mut self, key: &str) -> Result<Vec<String>, Reason> {
        let mut keys = Vec::new();
        for item in sequence(self.entry, key) {
            let name = item
                .as_str()
                .ok_or_else(|| Reason::malformed(&format!("an item of `{key}` is not a string")))?;
            if !FIELD_KEY.is_match(name) || CREDENTIAL_NAMES.contains(&name) {
                return Err(Reason::template(
                    key,
                    &format!("connection-config key `{name}` is not a template variable name"),
                ));
            }
            self.automated.insert(name.to_owned());
            keys.push(name.to_owned());
        }
        Ok(keys)
    }

    fn api_key(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        if let Some(key) = credential(self.entry, "apiKey") {
            if let Some(title) = string(key, "title") {
                auth.insert("key_title".into(), title.into());
            }
            if let Some(pattern) = string(key, "pattern") {
                if Regex::new(pattern).is_ok() {
                    auth.insert("key_pattern".into(), pattern.into());
                }
            }
        }
        let inject = self.inject()?.ok_or_else(|| {
            Reason::credential_placement("the API key is not sent in a header or query parameter")
        })?;
        auth.insert("inject".into(), Value::Mapping(inject));
        Ok(())
    }

    fn basic(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        for (nango, latchkey) in [
            ("username", "username_title"),
            ("password", "password_title"),
        ] {
            let Some(field) = credential(self.entry, nango) else {
                continue;
            };
            if field.contains_key("default_value")
                || field.get("hidden").and_then(Value::as_bool) == Some(true)
            {
                return Err(Reason::fixed_basic_half(nango));
            }
            if let Some(title) = string(field, "title") {
                auth.insert(latchkey.into(), title.into());
            }
        }
        if let Some(inject) = self.inject()? {
            auth.insert("inject".into(), Value::Mapping(inject));
        }
        Ok(())
    }

    /// Builds `inject` from the one proxy header or query parameter that
    /// carries the credential.
    fn inject(&mut self) -> Result<Option<Mapping>, Reason> {
        let proxy = mapping(self.entry, "proxy");
        let mut found = Vec::new();
        for (location, key) in [("header", "headers"), ("query", "query")] {
            let Some(values) = proxy.and_then(|proxy| mapping(proxy, key)) else {
                continue;
            };
            for (name, value) in values {
                let (Some(name), Some(value)) = (name.as_str(), scalar_text(value)) else {
                    return Err(Reason::malformed(&format!(
                        "`proxy.{key}` is not a map of strings"
                    )));
                };
                if !uses_credential(&value) {
                    continue;
                }
                let field = format!("proxy.{key}.{name}");
                if value.contains("||") {
                    return Err(Reason::fallback(&field));
                }
                let translated =
                    translate(&value).map_err(|message| Reason::template(&field, &message))?;
                self.check_credential_names(&field, &translated)?;
                self.record(&translated, false);
                found.push((location, name.to_owned(), translated.text));
            }
        }
        if found.len() > 1 {
            return Err(Reason::credential_placement(
                "the credential is sent in more than one place",
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

    /// Rejects a credential variable of another mode.
    fn check_credential_names(&self, field: &str, translated: &Translated) -> Result<(), Reason> {
        let allowed: &[&str] = match self.mode {
            "api_key" => &["api_key"],
            "basic" => &["username", "password"],
            _ => &["access_token"],
        };
        for variable in &translated.variables {
            if let Variable::Credential(name) = variable {
                if !allowed.contains(name) {
                    return Err(Reason::credential_placement(&format!(
                        "`{field}` uses `{name}`, which the mode does not have"
                    )));
                }
            }
        }
        Ok(())
    }

    fn proxy(&mut self) -> Result<Mapping, Reason> {
        let empty = Mapping::new();
        let nango = mapping(self.entry, "proxy").unwrap_or(&empty);
        for key in nango.keys().filter_map(Value::as_str) {
            if !matches!(
                key,
                "base_url"
                    | "headers"
                    | "query"
                    | "retry"
                    | "paginate"
                    | "verification"
                    | "decompress"
            ) {
                return Err(Reason::no_equivalent(&format!("proxy.{key}")));
            }
        }

        let mut proxy = Mapping::new();
        let base_url = string(nango, "base_url")
            .ok_or_else(|| Reason::malformed("`proxy.base_url` is missing"))?;
        let mut alternatives = base_url.split("||");
        let first = alternatives.next().unwrap_or_default();
        // Nango uses the left side only when a substitution changed it, so
        // a left side without variables would never be used.
        if base_url.contains("||") && !first.contains("${") {
            return Err(Reason::fallback("proxy.base_url"));
        }
        proxy.insert(
            "base_url".into(),
            self.url_part("proxy.base_url", first)?.into(),
        );
        let fallbacks: Vec<Value> = alternatives
            .map(|alternative| {
                self.url_part("proxy.base_url", alternative)
                    .map(Value::from)
            })
            .collect::<Result<_, _>>()?;
        if !fallbacks.is_empty() {
            proxy.insert("base_url_fallbacks".into(), fallbacks.into());
        }

        for key in ["headers", "query"] {
            let values = self.static_values(nango, key)?;
            insert_map(&mut proxy, key, values);
        }
        if let Some(retry) = retry(nango) {
            proxy.insert("retry".into(), Value::Mapping(retry));
        }
        if nango.get("decompress").and_then(Value::as_bool) == Some(true) {
            proxy.insert("decompress".into(), true.into());
        }
        if let Some(verification) = self.verification(nango)? {
            proxy.insert("verification".into(), Value::Mapping(verification));
        }
        if let Some(pagination) = pagination(nango) {
            proxy.insert("pagination".into(), Value::Mapping(pagination));
        }
        Ok(proxy)
    }

    /// Proxy headers or query parameters without the credential, which
    /// goes into `inject`.
    fn static_values(&mut self, proxy: &Mapping, key: &str) -> Result<Mapping, Reason> {
        let mut values = Mapping::new();
        let Some(nango) = mapping(proxy, key) else {
            return Ok(values);
        };
        for (name, value) in nango {
            let (Some(name), Some(value)) = (name.as_str(), scalar_text(value)) else {
                return Err(Reason::malformed(&format!(
                    "`proxy.{key}` is not a map of strings"
                )));
            };
            if uses_credential(&value) {
                continue;
            }
            let value = broker_identity(value);
            let value = self.template(&format!("proxy.{key}.{name}"), &value)?;
            values.insert(name.into(), value.into());
        }
        Ok(values)
    }

    /// Converts a verification request with one endpoint, no body and no
    /// other base URL. Others are left out, because Latchkey does not send
    /// verification requests yet.
    fn verification(&mut self, proxy: &Mapping) -> Result<Option<Mapping>, Reason> {
        let Some(nango) = mapping(proxy, "verification") else {
            return Ok(None);
        };
        let endpoints = sequence(nango, "endpoints");
        if endpoints.len() != 1
            || nango.contains_key("data")
            || nango.contains_key("base_url_override")
        {
            return Ok(None);
        }
        let Some(endpoint) = endpoints[0].as_str() else {
            return Ok(None);
        };
        if endpoint.contains("${") {
            return Ok(None);
        }
        let mut verification = Mapping::new();
        match string(nango, "method") {
            None | Some("GET") => {}
            Some("POST") => {
                verification.insert("method".into(), "POST".into());
            }
            Some(_) => return Ok(None),
        }
        let path = if endpoint.starts_with('/') {
            endpoint.to_owned()
        } else {
            format!("/{endpoint}")
        };
        verification.insert("path".into(), path.into());
        let mut headers = Mapping::new();
        for (name, value) in mapping(nango, "headers").into_iter().flatten() {
            let (Some(name), Some(value)) = (name.as_str(), scalar_text(value)) else {
                return Ok(None);
            };
            if uses_credential(&value) || value.contains("||") {
                return Ok(None);
            }
            let field = format!("proxy.verification.headers.{name}");
            let value = broker_identity(value);
            headers.insert(name.into(), self.template(&field, &value)?.into());
        }
        insert_map(&mut verification, "headers", headers);
        Ok(Some(verification))
    }

    fn connection_config(&mut self) -> Result<Mapping, Reason> {
        let empty = Mapping::new();
        let nango = mapping(self.entry, "connection_config").unwrap_or(&empty);
        let mut fields = Mapping::new();
        for (key, definition) in nango {
            let key = key
                .as_str()
                .ok_or_else(|| Reason::malformed("a connection-config key is not a string"))?;
            let definition = definition.as_mapping().ok_or_else(|| {
                Reason::malformed(&format!("connection-config field `{key}` is not a mapping"))
            })?;
            if !FIELD_KEY.is_match(key) || CREDENTIAL_NAMES.contains(&key) {
                return Err(Reason::template(
                    "connection_config",
                    &format!("connection-config key `{key}` is not a template variable name"),
                ));
            }
            let field = self.field(key, definition)?;
            fields.insert(key.into(), Value::Mapping(field));
        }
        for (key, usage) in self.usage.clone() {
            if nango.contains_key(key.as_str()) {
                continue;
            }
            if !self.automated.contains(&key) {
                return Err(Reason::undeclared(&key));
            }
            let field = self.field(&key, &Mapping::new())?;
            let _ = usage;
            fields.insert(key.into(), Value::Mapping(field));
        }
        for key in self.automated.clone() {
            if !fields.contains_key(key.as_str()) {
                let field = self.field(&key, &Mapping::new())?;
                fields.insert(key.into(), Value::Mapping(field));
            }
        }
        Ok(fields)
    }

    fn field(&self, key: &str, nango: &Mapping) -> Result<Mapping, Reason> {
        let usage = self.usage.get(key).copied().unwrap_or_default();
        let automated = self.automated.contains(key)
            || nango.get("automated").and_then(Value::as_bool) == Some(true);
        let mut field = Mapping::new();
        let title = string(nango, "title")
            .filter(|title| !title.trim().is_empty())
            .map_or_else(|| title_from_key(key), str::to_owned);
        field.insert("title".into(), title.into());

        let pattern = field_pattern(key, nango, usage)?;
        if let Some(pattern) = &pattern {
            field.insert("pattern".into(), pattern.clone().into());
        }
        if let Some(format) = string(nango, "format") {
            if matches!(format, "hostname" | "uri" | "uuid" | "email") {
                field.insert("format".into(), format.into());
            }
        }
        for affix in ["prefix", "suffix"] {
            if let Some(text) = string(nango, affix) {
                field.insert(affix.into(), text.into());
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
            if !matches(&default) {
                return Err(Reason::template(
                    "connection_config",
                    &format!("the default of `{key}` does not match its pattern"),
                ));
            }
            field.insert("default".into(), default.into());
        }
        let used = self.usage.contains_key(key);
        let filled = self.automated.contains(key) && !self.from_callback.contains(key);
        let optional = nango.get("optional").and_then(Value::as_bool) == Some(true);
        // A field that no template uses and no token response fills is only
        // read by callers, which the Latchkey format expresses as optional.
        // A callback value counts as optional too, since the callback may
        // lack it.
        if optional || (!used && !filled) {
            field.insert("optional".into(), true.into());
        }
        if automated {
            field.insert("automated".into(), true.into());
        }
        if nango.get("secret").and_then(Value::as_bool) == Some(true) {
            field.insert("secret".into(), true.into());
        }
        Ok(field)
    }
}

/// Chooses the pattern of a connection-config field: Nango's own without
/// its anchors, or one derived from `format` or the allowed values. A field
/// that a URL uses must end up with one.
fn field_pattern(key: &str, nango: &Mapping, usage: Usage) -> Result<Option<String>, Reason> {
    if let Some(pattern) = string(nango, "pattern") {
        let stripped = pattern.strip_prefix('^').unwrap_or(pattern);
        let stripped = stripped
            .strip_suffix('$')
            .filter(|rest| !rest.ends_with('\\'))
            .unwrap_or(stripped);
        let Ok(regex) = whole_value(stripped) else {
            return Err(Reason::invalid_pattern(key));
        };
        if usage.in_url && accepts_hostile(&regex, usage.starts_url) {
            return Ok(Some(strict_url_pattern(key, nango, usage)?));
        }
        return Ok(Some(stripped.to_owned()));
    }
    let values: Vec<&str> = ["enum", "options"]
        .iter()
        .flat_map(|list| sequence(nango, list))
        .filter_map(Value::as_str)
        .collect();
    if !values.is_empty() {
        let escaped: Vec<String> = values.iter().map(|value| regex::escape(value)).collect();
        return Ok(Some(escaped.join("|")));
    }
    if !usage.in_url {
        return Ok(None);
    }
    let derived = match (string(nango, "format"), usage.starts_url) {
        (Some("hostname"), false) => Some(HOSTNAME_PATTERN.to_owned()),
        (Some("uuid"), false) => Some(UUID_PATTERN.to_owned()),
        (Some("uri"), true) => Some(https_origin_pattern()),
        _ => None,
    };
    derived
        .map(Some)
        .ok_or_else(|| Reason::unpatterned_url_variable(key))
}

/// Returns the pattern that replaces a Nango pattern too loose for a URL:
/// a host name, or an https origin for a variable that starts the URL. It applies
/// only when Nango's example, if any, still matches it, so that a field
/// meant for a path or a port is not silently narrowed.
fn strict_url_pattern(key: &str, nango: &Mapping, usage: Usage) -> Result<String, Reason> {
    let strict = if usage.starts_url {
        https_origin_pattern()
    } else {
        HOSTNAME_PATTERN.to_owned()
    };
    let regex = whole_value(&strict).expect("the strict patterns compile");
    let example_fits = nango
        .get("example")
        .and_then(scalar_text)
        .is_none_or(|example| regex.is_match(&example));
    if !example_fits {
        return Err(Reason::loose_url_pattern(key));
    }
    Ok(strict)
}

fn https_origin_pattern() -> String {
    format!("https://{HOSTNAME_PATTERN}(:[0-9]{{1,5}})?")
}

fn whole_value(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// Checks whether `regex` accepts a value that Latchkey's checks reject
/// for a URL variable, because it could change the URL's host or path.
fn accepts_hostile(regex: &Regex, starts_url: bool) -> bool {
    let hostile: &[&str] = if starts_url {
        &[
            "https://a@b.c",
            "https://a:b@c.d",
            "http://a.b",
            "https://a.b/c",
        ]
    } else {
        &["a/b", "a\\b", "a@b", "a?b", "a#b", "a:1", "a b", "..", "."]
    };
    hostile.iter().any(|value| regex.is_match(value))
}

fn retry(proxy: &Mapping) -> Option<Mapping> {
    let nango = mapping(proxy, "retry")?;
    let mut retry = Mapping::new();
    for (from, to) in [
        ("after", "after_headers"),
        ("at", "reset_at_headers"),
        ("error_code", "statuses"),
    ] {
        let values: Vec<Value> = match nango.get(from) {
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(scalar_text)
                .map(Value::from)
                .collect(),
            Some(value) => scalar_text(value).map(Value::from).into_iter().collect(),
            None => Vec::new(),
        };
        if !values.is_empty() {
            retry.insert(to.into(), values.into());
        }
    }
    (!retry.is_empty()).then_some(retry)
}

/// Nango's `paginate`, when it has the fields that Latchkey's style needs.
fn pagination(proxy: &Mapping) -> Option<Mapping> {
    let nango = mapping(proxy, "paginate")?;
    let mut pagination = Mapping::new();
    let copy = |from: &str, to: &str, pagination: &mut Mapping| {
        if let Some(value) = nango.get(from).and_then(scalar_text) {
            pagination.insert(to.into(), value.into());
        }
    };
    match string(nango, "type")? {
        "cursor" => {
            pagination.insert("style".into(), "cursor".into());
            copy("cursor_name_in_request", "cursor_param", &mut pagination);
            copy("cursor_path_in_response", "cursor_path", &mut pagination);
            if !pagination.contains_key("cursor_param") || !pagination.contains_key("cursor_path") {
                return None;
            }
        }
        "link" => {
            pagination.insert("style".into(), "link".into());
            copy("link_rel_in_response_header", "link_rel", &mut pagination);
            copy(
                "link_path_in_response_body",
                "next_url_path",
                &mut pagination,
            );
            if pagination.len() == 1 {
                return None;
            }
        }
        "offset" => {
            pagination.insert("style".into(), "offset".into());
            copy("offset_name_in_request", "offset_param", &mut pagination);
            if !pagination.contains_key("offset_param") {
                return None;
            }
            if let Some(start) = nango.get("offset_start_value").and_then(Value::as_u64) {
                pagination.insert("offset_start".into(), start.into());
            }
        }
        _ => return None,
    }
    copy("limit_name_in_request", "limit_param", &mut pagination);
    copy("response_path", "results_path", &mut pagination);
    Some(pagination)
}

/// Turns `tenantId` or `api_domain` into `Tenant id` or `Api domain`.
fn title_from_key(key: &str) -> String {
    let mut words = String::new();
    for (index, character) in key.chars().enumerate() {
        if character == '_' {
            words.push(' ');
        } else if character.is_ascii_uppercase() && index > 0 {
            words.push(' ');
            words.push(character.to_ascii_lowercase());
        } else if index == 0 {
            words.push(character.to_ascii_uppercase());
        } else {
            words.push(character);
        }
    }
    words
}

/// Replaces a static header value that names Nango, such as Planning
/// Center's `user-agent: Nango (https://nango.dev)`: it identifies the
/// broker that sends the request, which is now Latchkey.
fn broker_identity(value: String) -> String {
    if value.to_ascii_lowercase().contains("nango") {
        "Latchkey".to_owned()
    } else {
        value
    }
}

fn uses_credential(value: &str) -> bool {
    ["${apiKey}", "${accessToken}", "${credentials.", "${base64("]
        .iter()
        .any(|marker| value.contains(marker))
}

fn insert_map(target: &mut Mapping, key: &str, map: Mapping) {
    if !map.is_empty() {
        target.insert(key.into(), Value::Mapping(map));
    }
}

fn string<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

fn mapping<'a>(map: &'a Mapping, key: &str) -> Option<&'a Mapping> {
    map.get(key).and_then(Value::as_mapping)
}

fn sequence<'a>(map: &'a Mapping, key: &str) -> &'a [Value] {
    map.get(key)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

fn credential<'a>(entry: &'a Mapping, key: &str) -> Option<&'a Mapping> {
    mapping(entry, "credentials").and_then(|credentials| mapping(credentials, key))
}

/// A string, number or boolean as text, since YAML may write `'1800'` as
/// `1800`.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_keys() {
        assert_eq!(title_from_key("tenantId"), "Tenant id");
        assert_eq!(title_from_key("api_domain"), "Api domain");
    }

    #[test]
    fn derived_hostname_pattern_rejects_hostile_values() {
        let regex = Regex::new(&format!("^(?:{HOSTNAME_PATTERN})$")).unwrap();
        assert!(regex.is_match("acme.example.com"));
        for hostile in ["a/b", "a@b", "a:1", "..", ".", "a b", "a?b", "a#b"] {
            assert!(!regex.is_match(hostile), "{hostile}");
        }
    }
}
