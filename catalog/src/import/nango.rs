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

use super::nango_post_connection::{convert_script, inline_client_id_script};
use super::template::{latchkey_key, translate, Translated, Variable};
use super::Reason;
use crate::model::{RESERVED_AUTHORIZATION_PARAMS, RESERVED_TOKEN_PARAMS};

#[path = "nango_mcp.rs"]
mod mcp;

/// Keys of Nango's MCP modes besides the OAuth ones.
const MCP_KEYS: &[&str] = &[
    "client_registration",
    "registration_url",
    "registration_params",
    "mcp_server_url",
];

#[path = "nango_oauth1.rs"]
mod nango_oauth1;

#[path = "nango_two_step.rs"]
mod nango_two_step;

#[path = "nango_steps.rs"]
mod nango_steps;

#[path = "nango_redirect.rs"]
mod nango_redirect;

#[path = "nango_signing.rs"]
mod nango_signing;

#[path = "nango_url_form.rs"]
mod nango_url_form;

#[path = "nango_lookahead.rs"]
mod nango_lookahead;

#[path = "nango_app.rs"]
mod nango_app;

#[path = "nango_mtls.rs"]
mod nango_mtls;

#[path = "nango_integration_config.rs"]
mod nango_integration_config;

#[path = "nango_assume_role.rs"]
mod nango_assume_role;
#[path = "nango_password_grant.rs"]
mod nango_password_grant;

#[path = "nango_body.rs"]
mod nango_body;

#[path = "nango_metadata.rs"]
mod nango_metadata;

#[path = "nango_bare_names.rs"]
mod nango_bare_names;

#[path = "nango_missing_facts.rs"]
mod nango_missing_facts;

#[path = "nango_chosen_key.rs"]
mod nango_chosen_key;

#[path = "nango_xml.rs"]
mod nango_xml;

#[path = "nango_admin_consent.rs"]
mod nango_admin_consent;

#[path = "nango_saml.rs"]
mod nango_saml;

/// The Nango modes that map onto a Latchkey mode.
const MODES: [(&str, &str); 13] = [
    ("OAUTH2", "oauth2"),
    ("OAUTH2_CC", "oauth2_client_credentials"),
    ("API_KEY", "api_key"),
    ("BASIC", "basic"),
    ("MCP_OAUTH2", "mcp_oauth2"),
    ("MCP_OAUTH2_GENERIC", "mcp_oauth2"),
    ("OAUTH1", "oauth1"),
    ("TBA", "tba"),
    ("TWO_STEP", "two_step"),
    ("BILL", "session"),
    ("NONE", "none"),
    ("APP", "app"),
    ("CUSTOM", "app"),
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
    "refresh_token_response_metadata",
    "redirect_uri_metadata",
    "token_expires_in_ms",
    "expires_in_unit",
    "token_expiration_buffer",
    "token_headers",
    "refresh_token_params",
    "authorization_code_param_in_callback",
    "authorization_url_fragment",
    "alternate_access_token_response_path",
    "decode_url",
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
    "refresh_token_params",
    "authorization_code_param_in_callback",
    "authorization_url_fragment",
    "alternate_access_token_response_path",
    "decode_url",
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
/// One URL path segment or query value: unreserved characters (RFC 3986
/// section 2.3) with at least one that is not a dot, so never `.` or `..`.
const SEGMENT_PATTERN: &str = "[A-Za-z0-9._~-]*[A-Za-z0-9_~-][A-Za-z0-9._~-]*";
const UUID_PATTERN: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

static FIELD_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
/// Variable names that the engine fills and no connection-config key may
/// take. The credential variables of the entry's mode are reserved too
/// (see [`mode_credential_names`]).
const RESERVED_NAMES: &[&str] = &[
    "access_token",
    "oauth_client_id",
    "oauth_client_secret",
    "random_token",
    "random_uuid",
    "request_path",
];

/// Returns the credential variables of a Latchkey mode among `api_key`,
/// `username` and `password`, which a connection-config key of that mode
/// may not take.
fn mode_credential_names(mode: &str) -> &'static [&'static str] {
    match mode {
        "api_key" => &["api_key"],
        "basic" | "signature" => &["username", "password"],
        _ => &[],
    }
}

/// A converted entry: the document and the Latchkey mode name.
pub(super) struct Converted {
    pub document: Mapping,
    pub mode: &'static str,
    pub display_name: String,
    /// Lines for the file's header comment about what the conversion left
    /// out.
    pub notes: Vec<&'static str>,
    /// Comments written above the first line that starts with the given
    /// text, such as `  token_url:`, for a fact that differs from Nango's.
    pub field_comments: Vec<(&'static str, &'static str)>,
}

/// Converts one resolved entry.
pub(super) fn convert(name: &str, entry: &Mapping) -> Result<Converted, Reason> {
    let nango_mode = string(entry, "auth_mode").unwrap_or("(none)");
    let signing_mode = nango_signing::signing_mode(entry)?;
    let listed_mode = MODES.iter().find(|(nango, _)| *nango == nango_mode);
    let Some(mode) = signing_mode.or(listed_mode.map(|&(_, mode)| mode)) else {
        return Err(nango_app::unsupported_mode(nango_mode));
    };
    let inlined = inline_client_id_script(entry);
    let entry = inlined.as_ref().unwrap_or(entry);
    let flattened = nango_metadata::flatten_dotted_keys(entry);
    let entry = flattened.as_ref().unwrap_or(entry);
    let qualified = nango_bare_names::qualify_bare_names(entry);
    let entry = qualified.as_ref().unwrap_or(entry);
    let completed = nango_missing_facts::complete(name, entry);
    let entry = completed
        .as_ref()
        .map(|completed| &completed.entry)
        .unwrap_or(entry);
    let chosen = nango_chosen_key::chooses_key_place(entry)
        .then(|| nango_chosen_key::as_connection_fields(entry));
    let entry = chosen.as_ref().unwrap_or(entry);
    check_known_keys(entry, mode)?;
    let app_entry;
    let entry = if mode == "app" {
        let (link_key, _) = nango_app::install_page(entry)?;
        app_entry = nango_app::without_link_field(entry, &link_key);
        &app_entry
    } else {
        entry
    };

    let display_name = string(entry, "display_name")
        .ok_or_else(|| Reason::malformed("`display_name` is missing"))?
        .to_owned();
    let mut builder = Builder::new(entry, mode);
    let mut auth = builder.auth()?;
    if chosen.is_some() {
        auth.remove("caller_places_key");
        auth.insert(
            "inject".into(),
            Value::Mapping(nango_chosen_key::chosen_inject()),
        );
    }
    let mut field_comments = Vec::new();
    if chosen.is_some() {
        field_comments.push(("  base_url:", nango_chosen_key::BASE_URL_COMMENT));
    }
    if let Some(completed) = &completed {
        auth.insert("client_auth".into(), completed.client_auth.into());
        field_comments.push(("  token_url:", nango_missing_facts::TOKEN_URL_COMMENT));
    }
    let proxy = builder.proxy()?;
    let converted_script = convert_script(builder.script.as_deref());
    if let Some(converted) = &converted_script {
        builder
            .automated
            .extend(converted.filled_keys.iter().map(|key| (*key).to_owned()));
    }
    let mut connection_config = builder.connection_config()?;
    if chosen.is_some() {
        nango_chosen_key::finish_key_name(&mut connection_config);
    }
    let mut notes = Vec::new();
    if nango_assume_role::applies(entry) {
        nango_assume_role::complete_fields(&mut connection_config)?;
        notes.push(nango_assume_role::NOTE);
    } else {
        nango_integration_config::mark_defaults(entry, &mut connection_config, &mut auth)?;
    }
    if qualified.is_some() {
        notes.push(nango_bare_names::NOTE);
    }
    if chosen.is_some() {
        notes.push(nango_chosen_key::NOTE);
    }
    if completed.is_some() {
        notes.push(
            "Nango's proxy header reads `${apiKey}`, which a client-credentials connection lacks; the token goes into the bearer header instead.",
        );
    }
    if auth.get("caller_places_key") == Some(&Value::Bool(true)) {
        notes.push(
            "Nango's proxy sends the API key nowhere, so callers put it into their requests themselves.",
        );
    }
    if builder.script.is_some() && converted_script.is_none() {
        notes
            .push("Nango's post-connection step is not run, so values it would record are absent.");
    }

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
    if let Some(converted) = converted_script {
        document.insert("post_connection".into(), converted.steps);
    }
    Ok(Converted {
        document,
        mode,
        display_name,
        notes,
        field_comments,
    })
}

/// Rejects an entry with a top-level key that changes request behaviour in
/// a way this importer does not convert.
fn check_known_keys(entry: &Mapping, mode: &str) -> Result<(), Reason> {
    let oauth = mode.starts_with("oauth2");
    // An OAUTH1 entry's OAuth keys are converted, so none is dropped.
    let oauth1 = mode == "oauth1";
    // A TWO_STEP entry's token keys are converted, and a BILL entry's
    // `token_url` is its login URL.
    let two_step = mode == "two_step";
    let session = mode == "session";
    let app = mode == "app";
    for key in entry.keys().filter_map(Value::as_str) {
        let known = METADATA_KEYS.contains(&key)
            || matches!(
                key,
                "proxy" | "connection_config" | "credentials" | "post_connection_script"
            )
            || (key == "connection_configuration" && entry.contains_key("post_connection_script"))
            || (key == "auth" && auth_is_default(entry))
            || (oauth1 && nango_oauth1::OAUTH1_KEYS.contains(&key))
            || (two_step && nango_two_step::TWO_STEP_KEYS.contains(&key))
            || (two_step && nango_saml::applies(entry) && nango_saml::SAML_KEYS.contains(&key))
            || (session && key == "token_url")
            || (app && nango_app::APP_KEYS.contains(&key))
            || (key == "require_client_certificate" && mode == "oauth2_client_credentials")
            || (key == "integration_config"
                && nango_integration_config::defaults_connection_config(entry))
            || (key == "integration_config" && nango_assume_role::applies(entry))
            || (app
                && key == "authorization_url_skip_encode"
                && nango_app::skips_only_base_url(entry))
            || (!oauth && !oauth1 && !two_step && !session && !app && OAUTH_KEYS.contains(&key))
            || (oauth && OAUTH_KEYS.contains(&key) && !oauth2_only(mode, key))
            || (mode == "mcp_oauth2" && MCP_KEYS.contains(&key))
            || nango_signing::known_key(mode, key)
            || unused_oauth_key(mode, key);
        if !known {
            return Err(unconverted_key(key));
        }
    }
    Ok(())
}

/// Returns the reason for a top-level key that stops the entry, with what
/// the key needs where that is known.
fn unconverted_key(key: &str) -> Reason {
    let needs = match key {
        "require_client_certificate" => nango_mtls::OTHER_MODE,
        "installation" => nango_app::OUTBOUND_INSTALLATION,
        "integration_config" => {
            "Latchkey takes integration values only as defaults of connection-config fields and of entered fields of TWO_STEP or BILL entries (`integration_default`), and some of the entry's `integration_config` keys are neither: no token request, refresh request, login step, signed assertion or proxy template reads them, or the mode takes no entered fields"
        }
        _ => return Reason::no_equivalent(key),
    };
    Reason::new(
        Reason::no_equivalent(key).kind,
        format!("Nango field `{key}` has no Latchkey equivalent: {needs}"),
    )
}

/// Returns whether Nango's flow for the mode never reads the key, which is
/// then dropped. Neither the client-credentials grant nor the TWO_STEP
/// token request sends the end user to an `authorization_url`, and the
/// TWO_STEP request sends no scopes. These keys reach such entries through
/// an alias of an OAUTH2 entry, or stand in the entry unused.
fn unused_oauth_key(mode: &str, key: &str) -> bool {
    match mode {
        "oauth2_client_credentials" => key == "authorization_url",
        "two_step" => matches!(
            key,
            "authorization_url" | "authorization_params" | "default_scopes" | "scope_separator"
        ),
        _ => false,
    }
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

/// Nango's categories that Latchkey names differently. A category that is
/// neither here nor in [`SAME_CATEGORIES`] is dropped: `popular`, `other` and
/// `mcp` describe Nango's listing, not the provider's topic.
const RENAMED_CATEGORIES: &[(&str, &str)] = &[
    ("ats", "recruiting"),
    ("dev-tools", "developer-tools"),
    ("e-commerce", "ecommerce"),
    ("iam", "identity"),
    ("payment", "payments"),
];

/// Nango's categories whose name is also in Latchkey's list.
const SAME_CATEGORIES: &[&str] = &[
    "accounting",
    "analytics",
    "banking",
    "cms",
    "communication",
    "crm",
    "design",
    "erp",
    "gaming",
    "hr",
    "invoicing",
    "knowledge-base",
    "legal",
    "marketing",
    "productivity",
    "search",
    "social",
    "sports",
    "storage",
    "support",
    "surveys",
    "ticketing",
    "video",
];

/// Maps Nango's categories onto Latchkey's list, keeping the first
/// occurrence of each.
fn categories(entry: &Mapping) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    sequence(entry, "categories")
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|category| {
            RENAMED_CATEGORIES
                .iter()
                .find(|(nango, _)| *nango == category)
                .map(|(_, latchkey)| *latchkey)
                .or_else(|| {
                    SAME_CATEGORIES
                        .iter()
                        .copied()
                        .find(|name| *name == category)
                })
        })
        .filter(|category| seen.insert(*category))
        .map(Value::from)
        .collect()
}

/// The places where the converted templates use a connection-config key.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    in_url: bool,
    /// The value is the start of a URL, so it carries the scheme and host.
    starts_url: bool,
    /// The value is part of a URL's host.
    in_host: bool,
    /// The value is part of a URL's path or query.
    in_path: bool,
    /// The value is a URL's whole host, which the engine accepts only with
    /// at least two labels.
    whole_host: bool,
    /// The value is in a URL's host without being the whole authority
    /// right after `https://`.
    partial_host: bool,
    /// Number of template fields that use the key.
    fields: usize,
}

/// The part of a URL that a variable sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlPart {
    Start,
    Host,
    Path,
}

/// Returns the scheme and authority of a translated URL template, up to the
/// first `/`, `?` or `#` after `://`.
fn url_origin(text: &str) -> &str {
    let Some(scheme_end) = text.find("://") else {
        return text;
    };
    let start = scheme_end + 3;
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |offset| start + offset);
    &text[..end]
}

/// Classifies every `{{ key }}` of a translated URL template by the part of
/// the URL it sits in. The authority runs from after `://` to the first `/`,
/// `?` or `#`, none of which a `{{ key }}` expression contains.
fn url_parts(text: &str) -> Vec<(String, UrlPart)> {
    static EXPRESSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\{\{ ([A-Za-z_][A-Za-z0-9_]*) \}\}").expect("valid regex"));
    let authority = text.find("://").map(|scheme_end| {
        let start = scheme_end + 3;
        let end = text[start..]
            .find(['/', '?', '#'])
            .map_or(text.len(), |offset| start + offset);
        start..end
    });
    EXPRESSION
        .captures_iter(text)
        .filter_map(|captures| {
            let whole = captures.get(0)?;
            let part = if whole.start() == 0 {
                UrlPart::Start
            } else if authority
                .as_ref()
                .is_some_and(|range| range.contains(&whole.start()))
            {
                UrlPart::Host
            } else {
                UrlPart::Path
            };
            Some((captures[1].to_owned(), part))
        })
        .collect()
}

struct Builder<'a> {
    entry: &'a Mapping,
    mode: &'static str,
    usage: BTreeMap<String, Usage>,
    /// Keys filled from the token response or the callback.
    automated: BTreeSet<String>,
    /// Keys filled from the callback, which may lack them.
    from_callback: BTreeSet<String>,
    /// Keys that Nango's `proxy.connection_config` lists, which the
    /// connection must declare.
    listed: BTreeSet<String>,
    /// Defaults taken from a template fallback `${connectionConfig.KEY} ||
    /// VALUE`, with the field that had it.
    fallback_defaults: BTreeMap<String, (String, String)>,
    /// For a key that starts a fallback URL, the origins of the main URLs
    /// that the fallback replaces, such as `https://accounts.zoho.{{
    /// extension }}`.
    replaced_origins: BTreeMap<String, Vec<String>>,
    /// The name of Nango's post-connection script, which Latchkey does not
    /// run.
    script: Option<String>,
    /// A fixed `scope` value from the authorization or token parameters,
    /// which becomes the default scopes.
    param_scopes: Vec<String>,
    /// A client-credentials grant type other than `client_credentials`.
    grant_type: Option<String>,
    /// `proxy.base_url` without its last path segment, when that segment
    /// carries the API key and becomes a `path_segment` injection.
    base_url_before_key: Option<String>,
}

impl<'a> Builder<'a> {
    fn new(entry: &'a Mapping, mode: &'static str) -> Builder<'a> {
        Builder {
            entry,
            mode,
            usage: BTreeMap::new(),
            automated: BTreeSet::new(),
            from_callback: BTreeSet::new(),
            listed: BTreeSet::new(),
            fallback_defaults: BTreeMap::new(),
            replaced_origins: BTreeMap::new(),
            script: string(entry, "post_connection_script").map(str::to_owned),
            param_scopes: Vec::new(),
            grant_type: None,
            base_url_before_key: None,
        }
    }

    /// Collapses `${credentials.raw.KEY} || ${connectionConfig.KEY}` into
    /// `${connectionConfig.KEY}` when `token_response_metadata` (and so
    /// every token reply) fills KEY. Latchkey stores KEY from each reply that
    /// carries it and keeps the stored value otherwise, which is what the
    /// fallback means. Returns `None` for any other value.
    fn raw_reply_fallback(&self, nango: &str) -> Option<String> {
        static RAW_OR_STORED: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^\$\{credentials\.raw\.([A-Za-z_][A-Za-z0-9_]*)\}\s*\|\|\s*\$\{connectionConfig\.([A-Za-z_][A-Za-z0-9_]*)\}$")
                .expect("valid regex")
        });
        let captures = RAW_OR_STORED.captures(nango.trim())?;
        let key = &captures[1];
        let captured = sequence(self.entry, "token_response_metadata")
            .iter()
            .any(|listed| listed.as_str() == Some(key));
        (key == &captures[2] && captured).then(|| format!("${{connectionConfig.{key}}}"))
    }

    /// Translates a template outside `inject.value`, where no credential
    /// variable may appear.
    fn template(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        if let Some(stored) = self.raw_reply_fallback(nango) {
            return self.template(field, &stored);
        }
        if nango.contains("||") {
            return self.value_fallback(field, nango);
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

    /// Converts `${connectionConfig.KEY} || VALUE`, which Nango renders as
    /// VALUE when the connection lacks KEY, into `{{ KEY }}` with VALUE as
    /// the field's default. Any other fallback stops the entry.
    fn value_fallback(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        static SINGLE_VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^\$\{connectionConfig\.([A-Za-z_][A-Za-z0-9_]*)\}$").expect("valid regex")
        });
        let Some((left, right)) = nango.split_once("||") else {
            return Err(Reason::fallback(field));
        };
        let (left, right) = (left.trim(), right.trim());
        let Some(captures) = SINGLE_VARIABLE.captures(left) else {
            return Err(Reason::fallback(field));
        };
        if right.contains("${") || right.contains("||") || right.is_empty() {
            return Err(Reason::fallback(field));
        }
        let key = captures[1].to_owned();
        let default = broker_identity(right.to_owned());
        if let Some((earlier, _)) = self.fallback_defaults.get(&key) {
            if *earlier != default {
                return Err(Reason::fallback(field));
            }
        }
        self.fallback_defaults
            .insert(key.clone(), (default, field.to_owned()));
        let translated = translate(left).map_err(|message| Reason::template(field, &message))?;
        self.record(&translated, false);
        Ok(translated.text)
    }

    fn url(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        if nango.contains("||") {
            return Err(Reason::fallback(field));
        }
        self.url_part(field, nango)
    }

    /// Converts `A || B || ...` into the template A and the fallbacks B,
    /// ... . Nango uses the left side only when a substitution changed it,
    /// so a left side without variables would never be used.
    fn url_with_fallbacks(
        &mut self,
        field: &str,
        nango: &str,
    ) -> Result<(String, Vec<String>), Reason> {
        let mut alternatives = nango.split("||");
        let first = alternatives.next().unwrap_or_default();
        if nango.contains("||") && !first.contains("${") {
            return Err(Reason::fallback(field));
        }
        let first = self.url_part(field, first)?;
        let fallbacks: Vec<String> = alternatives
            .map(|alternative| self.url_part(field, alternative))
            .collect::<Result<_, _>>()?;
        for fallback in &fallbacks {
            let leading = url_parts(fallback)
                .into_iter()
                .find(|(_, part)| *part == UrlPart::Start);
            if let Some((key, _)) = leading {
                let origin = url_origin(&first).to_owned();
                self.replaced_origins.entry(key).or_default().push(origin);
            }
        }
        Ok((first, fallbacks))
    }

    /// Inserts a URL and its fallbacks under `key` and `{key}_fallbacks`
    /// of `target`; `field` names Nango's field in reasons.
    fn insert_url(
        &mut self,
        target: &mut Mapping,
        key: &str,
        field: &str,
        nango: &str,
    ) -> Result<(), Reason> {
        let (url, fallbacks) = self.url_with_fallbacks(field, nango)?;
        target.insert(key.into(), url.into());
        if !fallbacks.is_empty() {
            let fallbacks: Vec<Value> = fallbacks.into_iter().map(Value::from).collect();
            target.insert(format!("{key}_fallbacks").into(), fallbacks.into());
        }
        Ok(())
    }

    fn url_part(&mut self, field: &str, nango: &str) -> Result<String, Reason> {
        let mut translated =
            translate(nango.trim()).map_err(|message| Reason::template(field, &message))?;
        if translated.uses_credential() {
            return Err(Reason::credential_placement(&format!(
                "the credential is used in `{field}`"
            )));
        }
        if let Some(text) = nango_url_form::drop_doubled_scheme(self.entry, &translated.text) {
            translated.text = text;
        }
        self.record(&translated, true);
        Ok(translated.text)
    }

    fn record(&mut self, translated: &Translated, in_url: bool) {
        for key in translated.config_keys() {
            self.usage.entry(key.to_owned()).or_default().fields += 1;
        }
        if !in_url {
            return;
        }
        let origin = url_origin(&translated.text);
        let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
        for (key, part) in url_parts(&translated.text) {
            let whole_host = part == UrlPart::Host && authority == format!("{{{{ {key} }}}}");
            let whole_https_authority = whole_host && origin.starts_with("https://");
            let usage = self.usage.entry(key).or_default();
            usage.in_url = true;
            usage.whole_host |= whole_host;
            usage.partial_host |= part == UrlPart::Host && !whole_https_authority;
            match part {
                UrlPart::Start => usage.starts_url = true,
                UrlPart::Host => usage.in_host = true,
                UrlPart::Path => usage.in_path = true,
            }
        }
    }

    fn auth(&mut self) -> Result<Mapping, Reason> {
        let mut auth = Mapping::new();
        auth.insert("mode".into(), self.mode.into());
        match self.mode {
            "oauth2" | "oauth2_client_credentials" => {
                if self.mode == "oauth2" {
                    self.oauth2(&mut auth)?;
                } else {
                    self.client_credentials(&mut auth)?;
                }
                // A token in another header than `Authorization`, such as
                // Shopify's `X-Shopify-Access-Token`, replaces the bearer
                // default, because the API reads it there.
                if let Some(inject) = self.inject()? {
                    auth.insert("inject".into(), Value::Mapping(inject));
                }
            }
            "api_key" => self.api_key(&mut auth)?,
            "mcp_oauth2" => self.mcp_oauth2(&mut auth)?,
            "oauth1" => self.oauth1(&mut auth)?,
            "tba" => self.tba(&mut auth)?,
            "two_step" => self.two_step(&mut auth)?,
            "session" => self.session(&mut auth)?,
            "jwt" => self.jwt(&mut auth)?,
            "signature" => self.signature(&mut auth)?,
            "aws_sigv4" if nango_assume_role::applies(self.entry) => self.assume_role(&mut auth)?,
            "aws_sigv4" => self.aws_sigv4(&mut auth)?,
            "app" => self.app(&mut auth)?,
            "none" => {}
            _ => self.basic(&mut auth)?,
        }
        Ok(auth)
    }

    fn oauth2(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let entry = self.entry;
        let authorization_url = string(entry, "authorization_url")
            .ok_or_else(|| Reason::malformed("`authorization_url` is missing"))?;
        self.insert_url(
            auth,
            "authorization_url",
            "authorization_url",
            authorization_url,
        )?;

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
        if entry.get("decode_url").and_then(Value::as_bool) == Some(true) {
            decoded_url_scopes(&authorization_params)?;
            auth.insert("scope_encoding".into(), "raw".into());
        }
        insert_map(auth, "authorization_params", authorization_params);
        self.insert_param_scopes(auth);
        if entry
            .get("authorization_url_skip_empty")
            .and_then(Value::as_bool)
            == Some(true)
        {
            auth.insert("drop_empty_authorization_params".into(), true.into());
        }
        if let Some(response_type) = response_type(entry)? {
            auth.insert("response_type".into(), response_type.into());
        }
        if let Some(names) = self.param_names()? {
            auth.insert("authorization_param_names".into(), Value::Mapping(names));
        }
        if let Some(fragment) = string(entry, "authorization_url_fragment") {
            auth.insert("authorization_url_fragment".into(), fragment.into());
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
        let refresh_scopes = refresh_scopes(entry)?;
        if !refresh_scopes.is_empty() {
            auth.insert("refresh_scopes".into(), refresh_scopes.into());
        }

        self.client_auth(auth)?;
        self.token_request(auth)?;
        if entry.get("disable_pkce").and_then(Value::as_bool) == Some(true) {
            auth.insert("pkce".into(), false.into());
        }
        self.token_response(auth)?;
        let callback = self.callback()?;
        insert_map(auth, "callback_connection_config", callback);
        if let Some(param) = string(entry, "authorization_code_param_in_callback") {
            // A renamed parameter converts as such only when its name says
            // that it carries a code (Amazon's `spapi_oauth_code`).
            // Microsoft's admin consent names `tenant`, which carries a
            // tenant id, and its token comes from the client-credentials
            // grant.
            if param.contains("code") {
                auth.insert("callback_code_param".into(), param.into());
            } else {
                self.admin_consent(auth, param)?;
            }
        }
        Ok(())
    }

    fn client_credentials(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        self.token_url(auth)?;
        self.scopes(auth)?;
        let token_params = self.params("token_params", Some("client_credentials"))?;
        insert_map(auth, "token_params", token_params);
        self.password_grant(auth)?;
        self.insert_param_scopes(auth);
        if let Some(grant_type) = self.grant_type.take() {
            auth.insert("grant_type".into(), grant_type.into());
        }
        self.client_auth(auth)?;
        self.token_request(auth)?;
        self.token_response(auth)?;
        self.custom_login(auth);
        if nango_mtls::requires_client_certificate(self.entry) {
            auth.insert("require_client_certificate".into(), true.into());
        }
        if let Some(credentials) = mapping(self.entry, "credentials") {
            // NOTE: Nango lets a connection bring its own client ID and
            // secret; Latchkey uses the integration's.
            let extra = credentials
                .keys()
                .filter_map(Value::as_str)
                .filter(|key| !nango_mtls::is_certificate_field(self.entry, key))
                .find(|key| !matches!(*key, "client_id" | "client_secret" | "type"));
            if let Some(extra) = extra {
                return Err(Reason::no_equivalent(&format!("credentials.{extra}")));
            }
        }
        Ok(())
    }

    /// Converts `token_request_auth_method: custom` of a client-credentials
    /// entry. Nango's client-credentials request then sends the client ID
    /// and secret as `username` and `password`, adds no `grant_type` that
    /// `token_params` lacks, and takes the token from `access_token`, or
    /// from `jwt` as ZoomInfo's login replies.
    /// NOTE: read from Nango's public client-credentials source, not from
    /// the pinned package, which ships only the provider list.
    fn custom_login(&self, auth: &mut Mapping) {
        if string(self.entry, "token_request_auth_method") != Some("custom") {
            return;
        }
        let mut names = Mapping::new();
        names.insert("client_id".into(), "username".into());
        names.insert("client_secret".into(), "password".into());
        auth.insert("token_param_names".into(), Value::Mapping(names));
        if !auth.contains_key("grant_type") && !self.has_grant_type_param() {
            auth.insert("grant_type".into(), "".into());
        }
        let response = auth
            .entry("token_response".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Value::Mapping(response) = response {
            response.insert("access_token_fallback".into(), "jwt".into());
        }
    }

    fn has_grant_type_param(&self) -> bool {
        mapping(self.entry, "token_params").is_some_and(|params| params.contains_key("grant_type"))
    }

    fn token_url(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let token_url = match self.entry.get("token_url") {
            Some(Value::String(url)) => url.as_str(),
            Some(_) => return Err(Reason::no_equivalent("token_url (one per mode)")),
            None if self.mode == "oauth2_client_credentials" => {
                return Err(Reason::malformed(
                    "`token_url` is missing, so no client-credentials token can be requested; a proxy header that uses `apiKey` does not make the entry an API_KEY one",
                ))
            }
            None => return Err(Reason::malformed("`token_url` is missing")),
        };
        self.insert_url(auth, "token_url", "token_url", token_url)
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
                if standard == "client_credentials" && value == "password" {
                    // `password_grant` converts it.
                    self.grant_type = Some(value);
                    continue;
                }
                if standard == "client_credentials" {
                    self.grant_type = Some(client_grant_type(&value)?);
                    continue;
                }
                // Latchkey sends the standard grant type itself, and a second
                // `grant_type` would contradict it.
                return Err(Reason::new(
                    "grant type other than the standard one",
                    format!("`{key}.grant_type` is `{value}`, not `{standard}`"),
                ));
            }
            if key == "authorization_params"
                && name == "response_type"
                && (value == "code" || self.mode == "oauth2")
            {
                // Latchkey sends `response_type=code` unless the definition
                // sets another `response_type`, which `oauth2` writes.
                continue;
            }
            let reserved = if key == "authorization_params" {
                RESERVED_AUTHORIZATION_PARAMS
            } else {
                RESERVED_TOKEN_PARAMS
            };
            if name == "scope" && self.scope_param_is_default(key, &value)? {
                continue;
            }
            if (key, name) == ("refresh_params", "scope") && self.mode == "oauth2" {
                // `oauth2` writes it as `refresh_scopes`.
                continue;
            }
            if reserved.contains(&name) {
                return Err(Reason::new(
                    "parameter that Latchkey sets itself",
                    format!("`{key}.{name}` is `{value}`, but Latchkey sets `{name}` itself"),
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
            if from == "response_type" && to.is_empty() {
                // `response_type()` turns this into an empty `response_type`.
                continue;
            }
            if !STANDARD_PARAMS.contains(&from) || to.is_empty() {
                return Err(Reason::no_equivalent("authorization_url_replacements"));
            }
            names.insert(from.into(), to.into());
        }
        Ok((!names.is_empty()).then_some(names))
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
            // `client_credentials` converts this login in `custom_login`.
            (Some("custom"), false) if self.mode == "oauth2_client_credentials" => None,
            (None, false) => None,
            (Some("basic"), false) => Some("basic_and_body"),
            (Some("basic"), true) => Some("basic"),
            // `authorization_method: header` makes Nango's OAuth client
            // send the client ID and secret as a Basic header only.
            (None, true) => Some("basic"),
            (Some(method), _) => return Err(unconverted_auth_method(method)),
        };
        // NOTE: with the parameters in the token URL's query, the Basic
        // header alone carries the client credentials, so the secret stays
        // out of a URL that servers and proxies log. Nango's catalog does
        // not say whether Nango also puts them in that query.
        let query = string(self.entry, "body_format") == Some("query");
        let client_auth = client_auth.map(|method| match method {
            "basic_and_body" if query => "basic",
            other => other,
        });
        if let Some(client_auth) = client_auth {
            auth.insert("client_auth".into(), client_auth.into());
        }
        match string(self.entry, "body_format") {
            None | Some("form") => {}
            Some(format @ ("json" | "query")) => {
                auth.insert("token_body_format".into(), format.into());
            }
            Some(_) => return Err(Reason::no_equivalent("body_format")),
        }
        Ok(())
    }

    /// Converts the token request settings that have a Latchkey form:
    /// `token_expiration_buffer` (seconds before expiry that Nango
    /// refreshes, 15 minutes when absent) becomes `refresh_margin_seconds`,
    /// and `token_headers` and `refresh_token_params` convert when they
    /// only restate what Latchkey sends anyway.
    fn token_request(&self, auth: &mut Mapping) -> Result<(), Reason> {
        if let Some(buffer) = self.entry.get("token_expiration_buffer") {
            let seconds = buffer
                .as_u64()
                .ok_or_else(|| Reason::no_equivalent("token_expiration_buffer"))?;
            auth.insert("refresh_margin_seconds".into(), seconds.into());
        }
        let json = string(self.entry, "body_format") == Some("json");
        for (name, value) in mapping(self.entry, "token_headers").into_iter().flatten() {
            let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                return Err(Reason::no_equivalent("token_headers"));
            };
            let restated = match name.to_ascii_lowercase().as_str() {
                "content-type" if json => value.eq_ignore_ascii_case("application/json"),
                "content-type" => value.eq_ignore_ascii_case("application/x-www-form-urlencoded"),
                "accept" => value.eq_ignore_ascii_case("application/json"),
                _ => false,
            };
            if !restated {
                return Err(Reason::no_equivalent("token_headers"));
            }
        }
        for (name, value) in mapping(self.entry, "refresh_token_params")
            .into_iter()
            .flatten()
        {
            if name.as_str() != Some("grant_type") || value.as_str() != Some("refresh_token") {
                return Err(Reason::no_equivalent("refresh_token_params"));
            }
        }
        Ok(())
    }

    fn token_response(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let mut response = Mapping::new();
        if let Some(path) = string(self.entry, "alternate_access_token_response_path") {
            response.insert(
                "access_token_fallback".into(),
                access_token_fallback(path).into(),
            );
        }
        match string(self.entry, "expires_in_unit") {
            None | Some("seconds") => {}
            Some("milliseconds") => {
                response.insert("expires_in_unit".into(), "milliseconds".into());
            }
            Some(_) => return Err(Reason::no_equivalent("expires_in_unit")),
        }
        if let Some(lifetime) = self.entry.get("token_expires_in_ms") {
            // NOTE: Salesforce's client-credentials entry sets 0 for a token
            // whose reply states no lifetime, taken here to mean that each
            // use needs a new token. Nango's catalog does not say whether 0
            // means that or no lifetime at all.
            let seconds = lifetime.as_u64().map(|ms| ms / 1000).unwrap_or(0);
            if seconds == 0 && lifetime.as_u64() != Some(0) {
                let key = "token_expires_in_ms";
                return Err(Reason::new(
                    Reason::no_equivalent(key).kind,
                    format!("Nango field `{key}` is `{}`, a lifetime under one second, and `token_response.default_expires_in` takes whole seconds", scalar_text(lifetime).unwrap_or_default()),
                ));
            }
            response.insert("default_expires_in".into(), seconds.into());
        }
        nango_metadata::check_refresh_metadata(self.entry)?;
        let mut captured = Mapping::new();
        for (key, path) in self.metadata_keys("token_response_metadata")? {
            captured.insert(key.into(), path.into());
        }
        insert_map(&mut response, "connection_config", captured);
        if !response.is_empty() {
            auth.insert("token_response".into(), Value::Mapping(response));
        }
        Ok(())
    }

    fn callback(&mut self) -> Result<Mapping, Reason> {
        let mut callback = Mapping::new();
        for (key, name) in self.metadata_keys("redirect_uri_metadata")? {
            self.from_callback.insert(key.clone());
            callback.insert(key.into(), name.into());
        }
        Ok(callback)
    }

    /// Reads the names of a Nango metadata list, which Latchkey fills
    /// itself, as pairs of the Latchkey connection-config key and Nango's
    /// name. A name with `-` gets `_` in its key, as in templates, because
    /// no client enters these values.
    fn metadata_keys(&mut self, key: &str) -> Result<Vec<(String, String)>, Reason> {
        let mut keys = Vec::new();
        for item in sequence(self.entry, key) {
            let name = item
                .as_str()
                .ok_or_else(|| Reason::malformed(&format!("an item of `{key}` is not a string")))?;
            let latchkey =
                latchkey_key(&nango_metadata::flat_key(name)).filter(|key| !self.is_reserved(key));
            let Some(latchkey) = latchkey else {
                return Err(Reason::template(
                    key,
                    &format!("connection-config key `{name}` is not a template variable name"),
                ));
            };
            self.automated.insert(latchkey.clone());
            keys.push((latchkey, name.to_owned()));
        }
        Ok(keys)
    }

    /// Checks whether a connection-config key would take a variable that
    /// the engine fills in this entry's mode.
    fn is_reserved(&self, key: &str) -> bool {
        RESERVED_NAMES.contains(&key) || mode_credential_names(self.mode).contains(&key)
    }

    fn api_key(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        // Nango's credential titles are its own prose, so none is copied and
        // the connect page uses its default label.
        if let Some(key) = credential(self.entry, "apiKey") {
            if let Some(pattern) = string(key, "pattern") {
                if Regex::new(pattern).is_ok() {
                    auth.insert("key_pattern".into(), pattern.into());
                }
            }
        }
        // An entry whose proxy carries the key nowhere leaves it to the
        // caller, who reads it from the connection.
        match self.inject()?.or_else(|| self.key_path_segment()) {
            Some(inject) => auth.insert("inject".into(), Value::Mapping(inject)),
            None => auth.insert("caller_places_key".into(), true.into()),
        };
        Ok(())
    }

    /// Builds a `path_segment` injection from a `proxy.base_url` whose last
    /// path segment is a literal prefix and the API key, such as Telegram's
    /// `https://api.telegram.org/bot${apiKey}`. The base URL then ends
    /// before that segment.
    fn key_path_segment(&mut self) -> Option<Mapping> {
        static KEY_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^(https://[^$/]+(?:/[^$]*)?)/([A-Za-z0-9._~-]*)\$\{apiKey\}$")
                .expect("valid regex")
        });
        let base_url = mapping(self.entry, "proxy").and_then(|proxy| string(proxy, "base_url"))?;
        let captures = KEY_SEGMENT.captures(base_url.trim())?;
        self.base_url_before_key = Some(captures[1].to_owned());
        let mut inject = Mapping::new();
        inject.insert("location".into(), "path_segment".into());
        inject.insert(
            "value".into(),
            format!("{}{{{{ api_key }}}}", &captures[2]).into(),
        );
        Some(inject)
    }

    /// Converts the basic credentials. A half that Nango hides and fills
    /// with its `default_value` (the password of an API key sent as the
    /// username, for example) becomes `fixed_username` or `fixed_password`.
    /// A shown half with a `default_value` is still entered by the end user,
    /// because the default only fills the input in advance.
    fn basic(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let mut fixed = Vec::new();
        for half in ["username", "password"] {
            let Some(field) = credential(self.entry, half) else {
                continue;
            };
            if field.get("hidden").and_then(Value::as_bool) != Some(true) {
                continue;
            }
            let Some(value) = field.get("default_value").and_then(scalar_text) else {
                return Err(Reason::fixed_basic_half(&format!(
                    "{half} that is hidden and has no default value"
                )));
            };
            let printable = value.chars().all(|c| matches!(c, ' '..='~'));
            if !printable || (half == "username" && value.contains(':')) {
                return Err(Reason::fixed_basic_half(&format!(
                    "{half} whose fixed value cannot go into a basic-auth header"
                )));
            }
            fixed.push((half, value));
        }
        if fixed.len() > 1 {
            return Err(Reason::fixed_basic_half(
                "username and password, both fixed",
            ));
        }
        for (half, value) in fixed {
            auth.insert(format!("fixed_{half}").into(), value.into());
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
                if !uses_credential(&value) || self.raw_reply_fallback(&value).is_some() {
                    continue;
                }
                let field = format!("proxy.{key}.{name}");
                if location == "header" {
                    check_header_name(&field, name)?;
                }
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
        for (path, value) in self.body_credential_places()? {
            // Nango's proxy sends the basic-auth header in BASIC mode, and
            // a body value does not carry the password, so the header stays
            // the first place.
            if found.is_empty() && self.mode == "basic" {
                found.push((
                    "header",
                    "Authorization".to_owned(),
                    crate::model::Inject::basic_default().value,
                ));
            }
            found.push(("json_body", path, value));
        }
        // The first place becomes `inject`, and the others, in Nango's
        // order, its `additional` places.
        let place = |(location, name, value): (&str, String, String)| {
            let mut place = Mapping::new();
            if location != "header" {
                place.insert("location".into(), location.into());
            }
            place.insert("name".into(), name.into());
            place.insert("value".into(), value.into());
            place
        };
        let mut places = found.into_iter().map(place);
        let Some(mut inject) = places.next() else {
            return Ok(None);
        };
        let additional: Vec<Value> = places.map(Value::Mapping).collect();
        if !additional.is_empty() {
            inject.insert("additional".into(), additional.into());
        }
        Ok(Some(inject))
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

    /// Chooses the base URL of an entry without `proxy.base_url`. An MCP
    /// entry serves its API on the origin of its fixed authorization URL,
    /// such as `https://mcp.linear.app`. Any other entry is not converted,
    /// because a provider without a base URL, least of all one without a
    /// credential, would let the caller choose the host that the proxy
    /// sends requests to.
    fn missing_base_url(&self) -> Result<String, Reason> {
        let authorization_url = string(self.entry, "authorization_url")
            .filter(|_| self.mode == "mcp_oauth2")
            .filter(|url| url.starts_with("https://") && !url.contains("${"));
        if let Some(url) = authorization_url {
            return Ok(url_origin(url).to_owned());
        }
        if string(self.entry, "auth_mode") == Some("MCP_OAUTH2_GENERIC") {
            return Ok(mcp::GENERIC_SERVER_URL.to_owned());
        }
        let message = if self.mode == "none" {
            "`proxy.base_url` is missing, and a provider without a credential or a base URL would make the proxy send requests to any host the caller names"
        } else {
            "`proxy.base_url` is missing"
        };
        Err(Reason::malformed(message))
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
                    | "connection_config"
                    | "forward_headers_on_redirect"
                    | "body"
            ) {
                return Err(Reason::no_equivalent(&format!("proxy.{key}")));
            }
        }

        let mut proxy = Mapping::new();
        let derived_base_url;
        let before_key = self.base_url_before_key.clone();
        let base_url = match before_key.as_deref().or_else(|| string(nango, "base_url")) {
            Some(base_url) => base_url,
            None => {
                derived_base_url = self.missing_base_url()?;
                derived_base_url.as_str()
            }
        };
        self.insert_url(&mut proxy, "base_url", "proxy.base_url", base_url)?;
        self.listed_keys(nango)?;

        for key in ["headers", "query"] {
            let values = self.static_values(nango, key)?;
            insert_map(&mut proxy, key, values);
        }
        let body = self.static_body()?;
        insert_map(&mut proxy, "body", body);
        if self.mode == "session" {
            nango_two_step::insert_session_headers(&mut proxy);
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
        if let Some(follow) = nango_redirect::follow_redirects(nango, &proxy)? {
            proxy.insert("follow_redirects".into(), Value::Mapping(follow));
        }
        Ok(proxy)
    }

    /// Reads Nango's `proxy.connection_config`, which lists the
    /// connection-config keys that its connect step collects even though no
    /// template uses them. Declaring the keys under `connection_config`
    /// expresses the same in Latchkey, so only a list of plain `KEY:
    /// ${connectionConfig.KEY}` entries converts.
    fn listed_keys(&mut self, proxy: &Mapping) -> Result<(), Reason> {
        for (name, value) in mapping(proxy, "connection_config").into_iter().flatten() {
            let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                return Err(Reason::no_equivalent("proxy.connection_config"));
            };
            if value != format!("${{connectionConfig.{name}}}") {
                return Err(Reason::no_equivalent("proxy.connection_config"));
            }
            self.listed.insert(name.to_owned());
        }
        Ok(())
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
            let field = format!("proxy.{key}.{name}");
            if nango_signing::set_by_mode(self.mode, key, name) {
                continue;
            }
            if key == "headers" {
                check_header_name(&field, name)?;
            }
            if self.mode == "two_step" {
                if let Some(value) = self.two_step_static_value(&field, &value)? {
                    values.insert(name.into(), value.into());
                }
                continue;
            }
            if uses_credential(&value) && self.raw_reply_fallback(&value).is_none() {
                continue;
            }
            let value = broker_identity(value);
            let value = self.template(&field, &value)?;
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
            check_header_name(&field, name)?;
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
            // A key with `-` is renamed only when Latchkey fills it, because
            // clients send the other keys under Nango's name.
            let renamed = latchkey_key(key).filter(|renamed| self.automated.contains(renamed));
            let key = match renamed {
                Some(renamed) => renamed,
                None if FIELD_KEY.is_match(key) => key.to_owned(),
                None => {
                    return Err(Reason::template(
                        "connection_config",
                        &format!("connection-config key `{key}` is not a template variable name"),
                    ))
                }
            };
            if self.is_reserved(&key) {
                // Clients send entered keys under Nango's name, so a
                // reserved one cannot be renamed.
                return Err(Reason::template(
                    "connection_config",
                    &format!("connection-config key `{key}` is a template variable that Latchkey reserves for a credential or a built-in value, and clients send it under this name"),
                ));
            }
            let field = self.field(&key, definition)?;
            fields.insert(key.into(), Value::Mapping(field));
        }
        for (key, usage) in self.usage.clone() {
            if fields.contains_key(key.as_str()) {
                continue;
            }
            if !self.automated.contains(&key) {
                return Err(Reason::undeclared(&key));
            }
            let _ = usage;
            let field = self.field(&key, &Mapping::new())?;
            fields.insert(key.into(), Value::Mapping(field));
        }
        for key in &self.listed {
            if !nango.contains_key(key.as_str()) && !self.automated.contains(key) {
                return Err(Reason::undeclared(key));
            }
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
        // A pattern with a leading negative lookahead continues as its
        // rest, and the lookahead becomes `excluded_pattern`.
        let split = string(nango, "pattern").and_then(nango_lookahead::split_leading_lookahead);
        let mut with_split_pattern = nango.clone();
        if let Some(split) = &split {
            with_split_pattern.insert("pattern".into(), split.included.clone().into());
        }
        let nango = &with_split_pattern;
        let automated = self.automated.contains(key)
            || nango.get("automated").and_then(Value::as_bool) == Some(true);
        let mut field = Mapping::new();
        // Nango's titles are its own prose, so the title is written from the key.
        field.insert("title".into(), title_from_key(key).into());

        let url_form = if self.from_callback.contains(key) {
            None
        } else {
            nango_url_form::choose(key, nango, usage)?
        };
        let pattern = if let Some(url_form) = &url_form {
            url_form.pattern.clone()
        } else if self.from_callback.contains(key) && usage.starts_url {
            Some(self.callback_origin_pattern(key)?)
        } else {
            field_pattern(key, nango, usage)?
        };
        if let Some(pattern) = &pattern {
            field.insert("pattern".into(), pattern.clone().into());
        }
        if let Some(split) = &split {
            field.insert("excluded_pattern".into(), split.excluded.clone().into());
        }
        if let Some(url_form) = &url_form {
            field.insert("format".into(), url_form.format_name().into());
        } else if let Some(format) = string(nango, "format") {
            if matches!(format, "hostname" | "uri" | "uuid" | "email") {
                field.insert("format".into(), format.into());
            }
        }
        let matches = |value: &str| {
            pattern
                .as_ref()
                .is_none_or(|pattern| whole_value(pattern).is_ok_and(|regex| regex.is_match(value)))
        };
        let example = nango.get("example").and_then(scalar_text);
        let suffix = string(nango, "suffix");
        let completed = example
            .as_ref()
            .filter(|example| !matches(example))
            .zip(suffix)
            .map(|(example, suffix)| format!("{example}{suffix}"))
            .filter(|completed| matches(completed));
        // A suffix that the value must contain is no longer shown after the
        // input, because the end user then enters the whole value.
        let suffix = suffix.filter(|_| completed.is_none());
        for (affix, text) in [("prefix", string(nango, "prefix")), ("suffix", suffix)] {
            if let Some(text) = text {
                field.insert(affix.into(), text.into());
            }
        }
        let (example, completed) = match &url_form {
            Some(url_form) => (url_form.example.clone(), None),
            None => (example, completed),
        };
        if let Some(example) = completed.or(example.filter(|example| matches(example))) {
            field.insert("example".into(), example.into());
        }
        let default = self.field_default(key, nango, usage)?;
        if let Some(default) = &default {
            if !matches(default) {
                return Err(Reason::template(
                    "connection_config",
                    &format!("the default of `{key}` does not match its pattern"),
                ));
            }
            field.insert("default".into(), default.clone().into());
        }
        let used = self.usage.contains_key(key);
        let nango_automated = nango.get("automated").and_then(Value::as_bool) == Some(true);
        if let Some(script) = &self.script {
            // NOTE: the catalog does not say which values a script records. An
            // automated field that neither the token response nor the callback
            // fills is taken to come from the script.
            if used && nango_automated && !self.automated.contains(key) && default.is_none() {
                return Err(Reason::script_variable(key, script));
            }
        }
        let filled = self.automated.contains(key) && !self.from_callback.contains(key);
        let optional = nango.get("optional").and_then(Value::as_bool) == Some(true);
        // A field that no template uses and no token response fills is only
        // read by callers, which the Latchkey format expresses as optional.
        // A callback value counts as optional too, since the callback may
        // lack it.
        let from_fallback = self.fallback_defaults.contains_key(key);
        if optional || from_fallback || hidden_and_empty(nango) || (!used && !filled) {
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

impl Builder<'_> {
    /// Checks whether a `scope` parameter can become the default scopes:
    /// the one in `authorization_params` of the authorization code mode or
    /// in `token_params` of the client-credentials mode, with a fixed value,
    /// in an entry without `default_scopes`. The value is then split on the
    /// scope separator and kept for [`Builder::insert_param_scopes`].
    /// NOTE: Latchkey appends the integration's scopes to the default ones,
    /// and Nango's catalog does not say whether its parameter replaces them.
    fn scope_param_is_default(&mut self, key: &str, value: &str) -> Result<bool, Reason> {
        let place = match self.mode {
            "oauth2" => "authorization_params",
            "oauth2_client_credentials" => "token_params",
            _ => return Ok(false),
        };
        if key != place || self.entry.contains_key("default_scopes") {
            return Ok(false);
        }
        // Client-credentials default scopes are templates, and those of
        // the authorization code mode are fixed strings.
        if value.contains("${") && self.mode != "oauth2_client_credentials" {
            return Err(Reason::new(
                "parameter that Latchkey sets itself",
                format!("`{key}.scope` is the template `{value}`, but Latchkey sets `scope` itself from default scopes, which are fixed strings"),
            ));
        }
        let separator = string(self.entry, "scope_separator").unwrap_or(" ");
        let mut scopes = Vec::new();
        for scope in value.split(separator).filter(|scope| !scope.is_empty()) {
            scopes.push(self.template(&format!("{key}.scope"), scope)?);
        }
        self.param_scopes = scopes;
        Ok(true)
    }

    fn insert_param_scopes(&mut self, auth: &mut Mapping) {
        if self.param_scopes.is_empty() {
            return;
        }
        let scopes: Vec<Value> = self.param_scopes.drain(..).map(Value::from).collect();
        auth.insert("default_scopes".into(), scopes.into());
    }
}

/// Checks that Nango's `decode_url`, which percent-decodes the whole
/// authorization URL before the redirect, changes only what
/// `scope_encoding: raw` changes. Decoding leaves the scopes' spaces and
/// colons as written, and the browser then encodes a space as `%20`, as
/// raw scopes do. The decoded `redirect_uri` means the same URL as the
/// encoded one that Latchkey sends. A parameter value with a character
/// other than the unreserved ones (RFC 3986 section 2.3), or a template,
/// would decode into other bytes, so it stops the entry.
fn decoded_url_scopes(authorization_params: &Mapping) -> Result<(), Reason> {
    let unchanged_by_decoding = |text: &str| {
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
    };
    for value in authorization_params.values() {
        let text = value.as_str().unwrap_or_default();
        if !unchanged_by_decoding(text) {
            return Err(Reason::no_equivalent("decode_url"));
        }
    }
    Ok(())
}

/// Splits an OAUTH2 entry's `refresh_params.scope` on its scope separator.
fn refresh_scopes(entry: &Mapping) -> Result<Vec<Value>, Reason> {
    let Some(value) = mapping(entry, "refresh_params").and_then(|params| params.get("scope"))
    else {
        return Ok(Vec::new());
    };
    let value = scalar_text(value)
        .ok_or_else(|| Reason::malformed("`refresh_params.scope` is not a scalar"))?;
    if value.contains("${") {
        return Err(Reason::new(
            "parameter that Latchkey sets itself",
            format!("`refresh_params.scope` is the template `{value}`, but `refresh_scopes` are fixed strings"),
        ));
    }
    let separator = string(entry, "scope_separator").unwrap_or(" ");
    Ok(value
        .split(separator)
        .filter(|scope| !scope.is_empty())
        .map(Value::from)
        .collect())
}

/// Reads the `response_type` an OAUTH2 entry sends in place of `code`:
/// another `authorization_params.response_type`, or none when
/// `authorization_url_replacements` replaces `response_type` with nothing.
/// Nango's replacement then leaves `=code` in the URL, a parameter with no
/// name, so leaving the parameter out sends the same name-value pairs.
fn response_type(entry: &Mapping) -> Result<Option<String>, Reason> {
    let removed = mapping(entry, "authorization_url_replacements").is_some_and(|replacements| {
        replacements
            .iter()
            .any(|(from, to)| from.as_str() == Some("response_type") && to.as_str() == Some(""))
    });
    let value = mapping(entry, "authorization_params")
        .and_then(|params| params.get("response_type"))
        .map(|value| {
            scalar_text(value).ok_or_else(|| {
                Reason::malformed("`authorization_params.response_type` is not a scalar")
            })
        })
        .transpose()?;
    match (removed, value.as_deref()) {
        (true, None | Some("code")) => Ok(Some(String::new())),
        (true, Some(_)) => Err(Reason::no_equivalent("authorization_url_replacements")),
        (false, None | Some("code")) => Ok(None),
        (false, Some(value)) => {
            let valid = value.split(' ').all(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if !valid {
                return Err(Reason::malformed(&format!(
                    "`authorization_params.response_type` `{value}` is not a list of response names separated by spaces"
                )));
            }
            Ok(Some(value.to_owned()))
        }
    }
}

/// Returns the reason for a `token_request_auth_method` other than `basic`.
fn unconverted_auth_method(method: &str) -> Reason {
    let needs = match method {
        "private_key_jwt" => {
            "`private_key_jwt` signs a JWT client assertion with the client's private key (RFC 7523), and the OAuth modes send only a client secret"
        }
        "custom" => {
            "`custom` stands for a token request that Nango builds in provider-specific code, which the catalog does not describe"
        }
        _ => "Latchkey knows no such client authentication",
    };
    let key = "token_request_auth_method";
    Reason::new(
        Reason::no_equivalent(key).kind,
        format!("Nango field `{key}` has no Latchkey equivalent: {needs}"),
    )
}

/// Checks a client-credentials entry's own grant type. A grant such as
/// Zoom's `account_credentials` still needs only the client's credentials
/// and converts, but the code and refresh grants need the end user. The
/// password grant is converted by `password_grant` before this check.
fn client_grant_type(value: &str) -> Result<String, Reason> {
    let needs_end_user = match value {
        "authorization_code" => Some("an authorization code from the end user"),
        "refresh_token" => Some("a refresh token"),
        _ => None,
    };
    if let Some(needs) = needs_end_user {
        return Err(Reason::new(
            "grant type other than the standard one",
            format!("`token_params.grant_type` is `{value}`, which needs {needs}, and the client-credentials mode sends only the client's credentials"),
        ));
    }
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-'));
    if !valid {
        return Err(Reason::malformed(&format!(
            "`token_params.grant_type` `{value}` is not a grant type name"
        )));
    }
    Ok(value.to_owned())
}

impl Builder<'_> {
    /// Derives the pattern of a field that the callback fills and that
    /// starts a fallback URL, such as Zoho's `accounts-server`. Whoever sends
    /// the callback chooses the value, so the pattern lists the origins of
    /// the URL that the fallback stands in for, with each variable there
    /// replaced by its allowed values.
    fn callback_origin_pattern(&self, key: &str) -> Result<String, Reason> {
        static EXPRESSION: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"\{\{ ([A-Za-z_][A-Za-z0-9_]*) \}\}").expect("valid regex")
        });
        let unlisted = || {
            Reason::new(
                "callback value starts a URL without a list of hosts",
                format!("connection-config field `{key}` comes from the callback and starts a URL, but no list of the provider's hosts restricts it"),
            )
        };
        let origins = self.replaced_origins.get(key).ok_or_else(unlisted)?;
        let empty = Mapping::new();
        let declared = mapping(self.entry, "connection_config").unwrap_or(&empty);
        let mut alternatives = Vec::new();
        for origin in origins {
            let mut pattern = String::new();
            let mut rest = origin.as_str();
            while let Some(captures) = EXPRESSION.captures(rest) {
                let whole = captures.get(0).expect("group 0 is the whole match");
                pattern.push_str(&regex::escape(&rest[..whole.start()]));
                let values: Vec<String> = declared
                    .get(&captures[1])
                    .and_then(Value::as_mapping)
                    .map(|field| sequence(field, "enum"))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_str)
                    .map(regex::escape)
                    .collect();
                if values.is_empty() {
                    return Err(unlisted());
                }
                pattern.push_str(&format!("({})", values.join("|")));
                rest = &rest[whole.end()..];
            }
            pattern.push_str(&regex::escape(rest));
            if !pattern.starts_with("https://") {
                return Err(unlisted());
            }
            alternatives.push(pattern);
        }
        match alternatives.as_slice() {
            [only] => Ok(only.clone()),
            _ => Ok(format!(
                "https://({})",
                alternatives
                    .iter()
                    .map(|pattern| pattern.trim_start_matches("https://").to_owned())
                    .collect::<Vec<_>>()
                    .join("|")
            )),
        }
    }

    /// Chooses a field's default: Nango's `default_value`, or the value of
    /// a template fallback. A fallback default applies only when that one
    /// template uses the field, because a default also fills every other
    /// template that uses it.
    fn field_default(
        &self,
        key: &str,
        nango: &Mapping,
        usage: Usage,
    ) -> Result<Option<String>, Reason> {
        let own = nango
            .get("default_value")
            .and_then(scalar_text)
            .filter(|own| !(own.is_empty() && hidden_and_empty(nango)));
        let Some((fallback, field)) = self.fallback_defaults.get(key) else {
            return Ok(own);
        };
        let conflicts = own.as_ref().is_some_and(|own| own != fallback);
        if usage.fields > 1 || conflicts {
            return Err(Reason::fallback(field));
        }
        Ok(Some(fallback.clone()))
    }
}

/// Checks for a field that Nango's connect page hides and fills with an
/// empty default, which only older connections set. The Latchkey field is
/// optional with no default, because an empty value would make a URL
/// that uses it invalid and would keep a fallback URL from being chosen.
fn hidden_and_empty(nango: &Mapping) -> bool {
    nango.get("hidden").and_then(Value::as_bool) == Some(true)
        && nango.get("default_value").and_then(Value::as_str) == Some("")
}

/// Rewrites one of Nango's patterns, which JavaScript searches for, as a
/// pattern of the whole value, which Latchkey checks: the anchors `^` and
/// `$` are dropped, and a pattern anchored only at the start, such as
/// `^https?://`, which checks a prefix, gets `.*` at its end.
pub(super) fn whole_value_pattern(pattern: &str) -> String {
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    match rest.strip_suffix('$').filter(|body| !body.ends_with('\\')) {
        Some(body) => body.to_owned(),
        // Only the start is anchored: a prefix check.
        None if anchored_start && !rest.ends_with(".*") => format!("{rest}.*"),
        None => rest.to_owned(),
    }
}

/// Chooses the pattern of a connection-config field: Nango's own without
/// its anchors, or one derived from the allowed values, from `format`, or
/// from where the field sits in a URL. A field that a URL uses must end up
/// with one that keeps its value inside its part of the URL.
fn field_pattern(key: &str, nango: &Mapping, usage: Usage) -> Result<Option<String>, Reason> {
    if let Some(pattern) = string(nango, "pattern") {
        let stripped = &whole_value_pattern(pattern);
        let Ok(regex) = whole_value(stripped) else {
            return Err(Reason::invalid_pattern(key));
        };
        if usage.in_url && accepts_hostile(&regex, usage.starts_url) {
            let strict = position_pattern(key, usage)?;
            return match example_mismatch(nango, &strict) {
                None => Ok(Some(strict.pattern)),
                Some(_) => Err(Reason::loose_url_pattern(key)),
            };
        }
        // An example that Nango's own pattern rejects, such as the masked
        // `mew08***`, shows nothing of what the field carries, and
        // `field` leaves it out.
        let example_fits_own = nango
            .get("example")
            .and_then(scalar_text)
            .is_none_or(|example| regex.is_match(&example));
        if usage.in_url && example_fits_own {
            // Nango's own example shows what the field carries: one that
            // its place in the URL cannot hold means the URL would break.
            let position = position_pattern(key, usage)?;
            if let Some(example) = example_mismatch(nango, &position) {
                return Err(Reason::example_outside_url_part(
                    key,
                    &example,
                    position.part,
                ));
            }
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
    let from_format = match (string(nango, "format"), usage.starts_url) {
        (Some("hostname"), false) => Some(PositionPattern {
            pattern: host_pattern(usage),
            part: "a host name",
        }),
        (Some("uuid"), false) => Some(PositionPattern {
            pattern: UUID_PATTERN.to_owned(),
            part: "a UUID",
        }),
        _ => None,
    };
    if let Some(derived) = from_format {
        if let Some(example) = example_mismatch(nango, &derived) {
            return Err(Reason::example_outside_url_part(
                key,
                &example,
                derived.part,
            ));
        }
        return Ok(Some(derived.pattern));
    }
    let derived = position_pattern(key, usage)?;
    if let Some(example) = example_mismatch(nango, &derived) {
        return Err(Reason::example_outside_url_part(
            key,
            &example,
            derived.part,
        ));
    }
    Ok(Some(derived.pattern))
}

/// A pattern derived from where a field sits in a URL, and the name of
/// that part for messages.
struct PositionPattern {
    pattern: String,
    part: &'static str,
}

/// Derives the pattern that keeps a value inside its part of the URL. That
/// is an https origin for a value that starts the URL, a host name for a
/// value in the host, and one segment of unreserved characters (RFC 3986
/// section 2.3) other than `.` and `..` for a value in the path or query. A field
/// used in the host and in the path gets the host-name pattern, which also
/// fits a path segment. A field that starts one URL and sits inside another
/// has no single safe pattern.
fn position_pattern(key: &str, usage: Usage) -> Result<PositionPattern, Reason> {
    if usage.starts_url && (usage.in_host || usage.in_path) {
        return Err(Reason::new(
            "connection-config field both starts a URL and sits inside one",
            format!("connection-config field `{key}` starts one URL and sits inside another, so no one pattern fits both"),
        ));
    }
    let (pattern, part) = if usage.starts_url {
        (https_origin_pattern(), "an https origin")
    } else if usage.in_host {
        (host_pattern(usage), "a host name")
    } else {
        (SEGMENT_PATTERN.to_owned(), "one path segment")
    };
    Ok(PositionPattern { pattern, part })
}

/// Returns Nango's example of a field when the pattern rejects it, which
/// shows that the field is meant to carry more than the pattern allows,
/// such as a path after a host name.
/// An example that matches once the field's `suffix` is appended, such as
/// Snipe-IT's `yourcompany` with `.snipe-it.io`, fits: `field` then shows
/// the completed example and drops the suffix.
fn example_mismatch(nango: &Mapping, derived: &PositionPattern) -> Option<String> {
    let regex = whole_value(&derived.pattern).expect("the derived patterns compile");
    let example = nango.get("example").and_then(scalar_text)?;
    if regex.is_match(&example) {
        return None;
    }
    let completed = string(nango, "suffix").map(|suffix| format!("{example}{suffix}"));
    if completed.is_some_and(|completed| regex.is_match(&completed)) {
        return None;
    }
    Some(example)
}

/// Returns the host-name pattern, with at least two labels when the value
/// is a URL's whole host.
fn host_pattern(usage: Usage) -> String {
    if usage.whole_host {
        HOSTNAME_PATTERN.replacen(")*", ")+", 1)
    } else {
        HOSTNAME_PATTERN.to_owned()
    }
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

/// Rejects an entry that sets a header of [`crate::RESERVED_HEADERS`],
/// which no provider file may name.
fn check_header_name(field: &str, name: &str) -> Result<(), Reason> {
    match crate::reserved_header(name) {
        Some(_) => Err(Reason::reserved_header(field, name)),
        None => Ok(()),
    }
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

/// Words that a title writes in a fixed case rather than in lowercase.
const TITLE_WORDS: &[&str] = &[
    "API", "ARN", "AU", "AWS", "CA", "CRM", "DC", "DNS", "EU", "GCP", "HTTP", "HTTPS", "ID", "IDs",
    "IMAP", "IP", "JWT", "OAuth", "OIDC", "PAT", "SAML", "SCIM", "SDK", "SFTP", "SID", "SMTP",
    "SSO", "TLS", "UK", "URI", "URL", "URLs", "US", "UUID",
];

/// Writes a connection-config key as a title: `tenantId` becomes
/// `Tenant ID` and `api_domain` becomes `API domain`. Words split at `_`,
/// `-`, `.` and at each change from lowercase to uppercase, and an
/// uppercase run such as `APIKey` splits before its last capital.
fn title_from_key(key: &str) -> String {
    let characters: Vec<char> = key.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for (index, &character) in characters.iter().enumerate() {
        if matches!(character, '_' | '-' | '.' | ' ') {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let previous = index.checked_sub(1).map(|before| characters[before]);
        let next = characters.get(index + 1).copied();
        let boundary = character.is_ascii_uppercase()
            && previous.is_some_and(|previous| {
                previous.is_ascii_lowercase()
                    || previous.is_ascii_digit()
                    || (previous.is_ascii_uppercase()
                        && next.is_some_and(|next| next.is_ascii_lowercase()))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(character);
    }
    if !current.is_empty() {
        words.push(current);
    }
    let words: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(index, word)| {
            if let Some(fixed) = TITLE_WORDS
                .iter()
                .find(|fixed| fixed.eq_ignore_ascii_case(word))
            {
                return (*fixed).to_owned();
            }
            let lower = word.to_ascii_lowercase();
            if index > 0 {
                return lower;
            }
            let mut characters = lower.chars();
            characters.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + characters.as_str()
            })
        })
        .collect();
    words.join(" ")
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

/// Converts Nango's `alternate_access_token_response_path` into
/// `access_token_fallback`.
///
/// NOTE: Nango reads the token at this path when the reply has no
/// `access_token`. Slack's `authed_user` is an object that contains the
/// user token under `access_token`, so a path that does not end there gets
/// it appended.
fn access_token_fallback(path: &str) -> String {
    if path == "access_token" || path.ends_with(".access_token") {
        path.to_owned()
    } else {
        format!("{path}.access_token")
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
        #[rustfmt::skip]
        let cases = [
            ("tenantId", "Tenant ID"),
            ("tenantID", "Tenant ID"),
            ("api_domain", "API domain"),
            ("subdomain", "Subdomain"),
            ("snowflake_account_url", "Snowflake account URL"),
            ("botHostTenantId", "Bot host tenant ID"),
            ("APIKey", "API key"),
            ("oauthHostname", "OAuth hostname"),
            ("accounts-server", "Accounts server"),
            ("eu10Region", "Eu10 region"),
            ("region", "Region"),
            ("dc", "DC"),
            ("us", "US"),
            ("sdkVersion", "SDK version"),
        ];
        for (key, title) in cases {
            assert_eq!(title_from_key(key), title, "{key}");
        }
    }

    #[test]
    fn url_parts_by_position() {
        let parts = url_parts("{{ base }}/x");
        assert_eq!(parts, [("base".to_owned(), UrlPart::Start)]);
        let parts = url_parts("https://{{ a }}-login.{{ b }}.example.com/v1/{{ c }}?key={{ d }}");
        assert_eq!(
            parts,
            [
                ("a".to_owned(), UrlPart::Host),
                ("b".to_owned(), UrlPart::Host),
                ("c".to_owned(), UrlPart::Path),
                ("d".to_owned(), UrlPart::Path),
            ]
        );
        assert_eq!(
            url_parts("https://{{ host }}"),
            [("host".to_owned(), UrlPart::Host)]
        );
    }

    #[test]
    fn position_patterns_by_part() {
        let usage = |starts_url, in_host, in_path| Usage {
            in_url: true,
            starts_url,
            in_host,
            in_path,
            whole_host: false,
            partial_host: false,
            fields: 1,
        };
        let pattern = |usage| position_pattern("key", usage).unwrap().pattern;
        assert_eq!(pattern(usage(false, false, true)), SEGMENT_PATTERN);
        assert_eq!(pattern(usage(false, true, false)), HOSTNAME_PATTERN);
        let whole_host = Usage {
            whole_host: true,
            ..usage(false, true, false)
        };
        let two_labels = whole_value(&pattern(whole_host)).unwrap();
        assert!(two_labels.is_match("acme.example.com"));
        assert!(!two_labels.is_match("acme"));
        assert_eq!(pattern(usage(false, true, true)), HOSTNAME_PATTERN);
        assert_eq!(pattern(usage(true, false, false)), https_origin_pattern());
        assert!(position_pattern("key", usage(true, true, false)).is_err());
    }

    #[test]
    fn derived_segment_pattern_rejects_hostile_values() {
        let regex = whole_value(SEGMENT_PATTERN).unwrap();
        for value in [
            "acme",
            "ACME_PRD",
            "v1.2",
            "a..b",
            "~user",
            "598134325779301",
        ] {
            assert!(regex.is_match(value), "{value}");
        }
        for hostile in [
            "a/b", "a\\b", "a@b", "a?b", "a#b", "a:1", "a b", "..", ".", "", "a%2Fb", "a&b",
        ] {
            assert!(!regex.is_match(hostile), "{hostile}");
        }
    }

    #[test]
    fn derived_origin_pattern_rejects_hostile_values() {
        let regex = whole_value(&https_origin_pattern()).unwrap();
        assert!(regex.is_match("https://acme.pipedrive.com"));
        assert!(regex.is_match("https://acme.example.com:8443"));
        for hostile in [
            "https://a@b.c",
            "https://a:b@c.d",
            "http://a.b",
            "https://a.b/c",
            "https://a.b?c",
        ] {
            assert!(!regex.is_match(hostile), "{hostile}");
        }
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
