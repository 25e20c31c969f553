//! The template context of one provider's module.

use std::collections::BTreeMap;

use latchkey_catalog::{Auth, ConfigField, FieldFormat, FieldType, Provider};
use serde::Serialize;

use super::layout::{self, string_literal};
use super::names::field_name;
use crate::Error;

/// Everything `provider.rs.j2` renders.
#[derive(Serialize)]
pub struct ProviderContext {
    header: String,
    name: String,
    display_name: String,
    auth_mode: &'static str,
    docs_url: Option<String>,
    /// The constant items, laid out.
    constants: Vec<Constant>,
    auth_mode_variant: &'static str,
    fields: Vec<Field>,
    /// Whether a field has a `format`, so the module imports `Format`.
    uses_format: bool,
    /// The `FIELDS` table, laid out.
    fields_table: String,
    credentials: Credentials,
}

#[derive(Serialize)]
struct Constant {
    doc: &'static str,
    item: String,
}

/// One connection-config or credential field.
#[derive(Serialize)]
struct Field {
    key: String,
    ident: String,
    doc: Vec<String>,
    /// The `#[serde(rename = ...)]` line, empty when the key is the
    /// identifier.
    rename: String,
    optional: bool,
    rust_type: String,
    /// The setter's signature line and its `set` statement, laid out.
    setter: String,
    set: String,
    /// The `FieldRule` static, laid out.
    rule: Vec<String>,
    /// The field's line in `ConnectionConfig::try_from`, laid out.
    take: String,
}

#[derive(Serialize)]
struct Credentials {
    /// The shared type of `crate::credentials`, for modes with a fixed shape.
    shared: Option<&'static str>,
    /// The `type` tag of a per-provider struct.
    tag: &'static str,
    doc: &'static str,
    fields: Vec<Field>,
}

/// Builds the context of `provider`'s module.
pub fn context(provider: &Provider, header: &str) -> Result<ProviderContext, Error> {
    let fields = fields(
        provider,
        &provider.connection_config,
        FieldUse::ConnectionConfig,
    )?;
    let rules: Vec<String> = (0..fields.len()).map(|i| format!("&FIELD_{i}")).collect();
    let fields_table = layout::list_assignment(
        0,
        &format!("static FIELDS: [&FieldRule; {}] =", rules.len()),
        "[",
        &rules,
    );
    Ok(ProviderContext {
        header: header.to_owned(),
        name: provider.name.clone(),
        // Both go into `//!` lines, which a line break would end.
        display_name: latchkey_catalog::escape_controls(&provider.display_name).into_owned(),
        auth_mode: provider.auth.mode_name(),
        docs_url: provider
            .docs_url
            .as_deref()
            .map(|url| latchkey_catalog::escape_controls(url).into_owned()),
        constants: constants(provider),
        auth_mode_variant: auth_mode_variant(&provider.auth),
        uses_format: provider
            .connection_config
            .values()
            .any(|field| field.format.is_some()),
        fields,
        fields_table,
        credentials: credentials(provider)?,
    })
}

fn constants(provider: &Provider) -> Vec<Constant> {
    let strings = |values: &[String]| values.iter().map(|v| string_literal(v)).collect::<Vec<_>>();
    let retry = provider.proxy.retry.clone().unwrap_or_default();
    let string = |doc, head: &str, value: &str| Constant {
        doc,
        item: layout::assignment(0, head, &string_literal(value)),
    };
    let slice = |doc, head: &str, values: &[String]| Constant {
        doc,
        item: layout::slice_assignment(0, head, &strings(values)),
    };
    vec![
        string(
            "The provider's name in the catalog, and the default integration key.",
            "pub const NAME: &str =",
            &provider.name,
        ),
        string(
            "The provider's name as shown to people.",
            "pub const DISPLAY_NAME: &str =",
            &provider.display_name,
        ),
        slice(
            "The provider's catalog categories.",
            "pub const CATEGORIES: &[&str] =",
            &provider.categories,
        ),
        string(
            "The minijinja template of the base URL that proxied paths are appended to; its variables are connection-config keys.",
            "pub const BASE_URL_TEMPLATE: &str =",
            &provider.proxy.base_url,
        ),
        slice(
            "Base URL templates that Latchkey tries in order when `BASE_URL_TEMPLATE` uses a variable that the connection config lacks.",
            "pub const BASE_URL_FALLBACKS: &[&str] =",
            &provider.proxy.base_url_fallbacks,
        ),
        slice(
            "Headers whose value is the number of seconds to wait after a rate-limited request.",
            "pub const RETRY_AFTER_HEADERS: &[&str] =",
            &retry.after_headers,
        ),
        slice(
            "Headers whose value is the Unix time at which the rate limit resets.",
            "pub const RATE_LIMIT_RESET_HEADERS: &[&str] =",
            &retry.reset_at_headers,
        ),
        slice(
            "Statuses besides 429 that mean a rate-limited request when a header above is present.",
            "pub const RATE_LIMIT_STATUSES: &[&str] =",
            &retry.statuses,
        ),
    ]
}

fn auth_mode_variant(auth: &Auth) -> &'static str {
    match auth {
        Auth::Oauth2(_) => "Oauth2",
        Auth::Oauth2ClientCredentials(_) => "Oauth2ClientCredentials",
        Auth::ApiKey(_) => "ApiKey",
        Auth::Basic(_) => "Basic",
        Auth::TwoStep(_) => "TwoStep",
        Auth::Session(_) => "Session",
        Auth::None(_) => "None",
        Auth::Signature(_) => "Signature",
        Auth::AwsSigv4(_) => "AwsSigv4",
        Auth::Jwt(_) => "Jwt",
        Auth::McpOauth2(_) => "McpOauth2",
        Auth::Oauth1(_) => "Oauth1",
        Auth::Tba(_) => "Tba",
        Auth::App(_) => "App",
    }
}

fn credentials(provider: &Provider) -> Result<Credentials, Error> {
    let shared = |name| Credentials {
        shared: Some(name),
        tag: "",
        doc: "",
        fields: Vec::new(),
    };
    let own =
        |tag, doc, definition: &BTreeMap<String, ConfigField>| -> Result<Credentials, Error> {
            Ok(Credentials {
                shared: None,
                tag,
                doc,
                fields: fields(provider, definition, FieldUse::Credential)?,
            })
        };
    match &provider.auth {
        Auth::Oauth2(_) | Auth::McpOauth2(_) => Ok(shared("OAuth2Token")),
        Auth::Oauth2ClientCredentials(_) => Ok(shared("ClientCredentials")),
        Auth::ApiKey(_) => Ok(shared("ApiKey")),
        Auth::Basic(_) => Ok(shared("Basic")),
        Auth::None(_) => Ok(shared("NoCredentials")),
        Auth::Signature(_) => Ok(shared("SignatureCredentials")),
        Auth::AwsSigv4(aws) if aws.assume_role.is_some() => Ok(shared("AwsRole")),
        Auth::AwsSigv4(_) => Ok(shared("AwsCredentials")),
        Auth::Oauth1(_) => Ok(shared("OAuth1Token")),
        Auth::Tba(_) => Ok(shared("TbaToken")),
        Auth::App(_) => Ok(shared("AppInstallation")),
        Auth::TwoStep(two_step) => own(
            "TWO_STEP",
            "The values the end user enters, sent to the token endpoint.",
            &two_step.credentials,
        ),
        Auth::Session(two_step) => own(
            "BILL",
            "The values the end user enters, sent to the login endpoint.",
            &two_step.credentials,
        ),
        Auth::Jwt(jwt) => own(
            "JWT",
            "The values the end user enters, with which Latchkey signs the JWT.",
            &jwt.credentials,
        ),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldUse {
    ConnectionConfig,
    Credential,
}

fn fields(
    provider: &Provider,
    definition: &BTreeMap<String, ConfigField>,
    field_use: FieldUse,
) -> Result<Vec<Field>, Error> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut fields = Vec::with_capacity(definition.len());
    for (index, (key, field)) in definition.iter().enumerate() {
        let ident = field_name(key);
        if let Some(first) = seen.insert(ident.clone(), key) {
            return Err(Error::FieldCollision {
                provider: provider.name.clone(),
                first: first.to_owned(),
                second: key.clone(),
                identifier: ident,
            });
        }
        fields.push(field_context(index, key, &ident, field, field_use));
    }
    Ok(fields)
}

fn field_context(
    index: usize,
    key: &str,
    ident: &str,
    field: &ConfigField,
    field_use: FieldUse,
) -> Field {
    let key_literal = string_literal(key);
    let (value_type, setter_param, set_function) = if field.secret {
        (
            "crate::Secret",
            "impl Into<crate::Secret>",
            "config::set_secret",
        )
    } else {
        match field.field_type {
            FieldType::String => ("String", "impl Into<String>", "config::set_string"),
            FieldType::Number => ("f64", "f64", "config::set_number"),
            FieldType::Boolean => ("bool", "bool", "config::set_bool"),
        }
    };

    let set_value = if setter_param.starts_with("impl") {
        "value.into()"
    } else {
        "value"
    };

    let optional = match field_use {
        // A field that Latchkey fills may be missing from a caller's values.
        FieldUse::ConnectionConfig => {
            field.default.is_none() && (field.optional || field.automated)
        }
        FieldUse::Credential => field.optional,
    };
    let rust_type = if optional {
        format!("Option<{value_type}>")
    } else {
        value_type.to_owned()
    };

    let bare_ident = ident.trim_start_matches("r#");
    let rename = if bare_ident == key {
        String::new()
    } else {
        layout::attribute(4, "serde", &[format!("rename = {key_literal}")])
    };

    // `build` is the builder's own method.
    let setter_name = if ident == "build" { "build_" } else { ident };
    let setter = layout::signature(
        4,
        &format!("pub fn {setter_name}"),
        &["mut self".to_owned(), format!("value: {setter_param}")],
        "Self",
    );
    let set = layout::call_statement(
        8,
        set_function,
        &[
            "&mut self.values".to_owned(),
            key_literal.clone(),
            set_value.to_owned(),
        ],
    );

    Field {
        key: key.to_owned(),
        ident: ident.to_owned(),
        doc: field_doc(field),
        rename,
        optional,
        rust_type,
        setter,
        set,
        rule: field_rule(index, &key_literal, field),
        take: layout::field_call(
            12,
            ident,
            "config::take",
            &["&mut values".to_owned(), format!("&FIELD_{index}")],
            "?",
        ),
    }
}

/// Returns the doc comment of a field: its title, description and what the
/// builder checks, as `///` lines for an indent of 4.
fn field_doc(field: &ConfigField) -> Vec<String> {
    let mut text = field.title.trim().to_owned();
    if !text.ends_with('.') {
        text.push('.');
    }
    if let Some(description) = &field.description {
        text.push_str("\n\n");
        text.push_str(description);
    }
    let mut facts = Vec::new();
    if let Some(format) = field.format {
        facts.push(format!("Format: `{}`.", format_name(format)));
    }
    if let Some(pattern) = &field.pattern {
        facts.push(format!("Pattern: `{}`.", pattern.replace('`', "'")));
    }
    if let Some(excluded) = &field.excluded_pattern {
        facts.push(format!(
            "Excluded pattern: `{}`.",
            excluded.replace('`', "'")
        ));
    }
    if let Some(default) = &field.default {
        facts.push(format!("Default: `{}`.", default.replace('`', "'")));
    }
    if let Some(example) = &field.example {
        facts.push(format!("Example: `{}`.", example.replace('`', "'")));
    }
    if field.automated {
        facts.push("Latchkey fills this value.".to_owned());
    }
    if !facts.is_empty() {
        text.push_str("\n\n");
        text.push_str(&facts.join(" "));
    }
    layout::doc_comment(4, &text)
}

fn field_rule(index: usize, key_literal: &str, field: &ConfigField) -> Vec<String> {
    let field_type = match field.field_type {
        FieldType::String => "String",
        FieldType::Number => "Number",
        FieldType::Boolean => "Boolean",
    };
    let presence = match &field.default {
        Some(default) => format!("Presence::Default({})", string_literal(default)),
        None if field.optional || field.automated => "Presence::Optional".to_owned(),
        None => "Presence::Required".to_owned(),
    };
    let pattern = match &field.pattern {
        Some(pattern) => format!("Some({})", string_literal(pattern)),
        None => "None".to_owned(),
    };
    let excluded_pattern = match &field.excluded_pattern {
        Some(pattern) => format!("Some({})", string_literal(pattern)),
        None => "None".to_owned(),
    };
    let format = match field.format {
        Some(format) => format!("Some(Format::{})", format_variant(format)),
        None => "None".to_owned(),
    };
    let body = layout::struct_fields(
        4,
        &[
            ("key", key_literal.to_owned()),
            ("field_type", format!("FieldType::{field_type}")),
            ("presence", presence),
            ("pattern", pattern),
            ("excluded_pattern", excluded_pattern),
            ("format", format),
            ("secret", field.secret.to_string()),
            ("regex", "OnceLock::new()".to_owned()),
            ("excluded_regex", "OnceLock::new()".to_owned()),
        ],
    );
    let mut lines = vec![format!("static FIELD_{index}: FieldRule = FieldRule {{")];
    lines.extend(body);
    lines.push("};".to_owned());
    lines
}

/// Returns the variant of the generated `config::Format` enum.
fn format_variant(format: FieldFormat) -> &'static str {
    match format {
        FieldFormat::Hostname => "Hostname",
        FieldFormat::Uri => "Uri",
        FieldFormat::Uuid => "Uuid",
        FieldFormat::Email => "Email",
        FieldFormat::BaseUrl => "BaseUrl",
        FieldFormat::HostPortPath => "HostPortPath",
    }
}

/// Returns the name of a format as provider files write it.
fn format_name(format: FieldFormat) -> &'static str {
    match format {
        FieldFormat::Hostname => "hostname",
        FieldFormat::Uri => "uri",
        FieldFormat::Uuid => "uuid",
        FieldFormat::Email => "email",
        FieldFormat::BaseUrl => "base_url",
        FieldFormat::HostPortPath => "host_port_path",
    }
}
