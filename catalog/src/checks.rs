//! Checks that run after a provider file has passed the JSON Schema: rules
//! that span fields (template variables, URL schemes, regular expressions,
//! the file name) and so cannot be written in the schema.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use minijinja::Environment;
use regex_automata::meta::Regex;

use crate::diagnostic::Code;
use crate::model::{
    Auth, Basic, ConfigField, FieldFormat, Inject, InjectLocation, McpOAuth2, Provider, Signature,
    TokenBody, TokenResponse,
};
use crate::patterns::{search_regex, whole_value_regex, CompileResult};
use crate::positions::escape_pointer;
use crate::suggest::closest_match;
use crate::two_step::{step_number, TokenRequest, TwoStep};

/// One semantic problem, located by the JSON pointer of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub code: Code,
    pub pointer: String,
    /// Whether the key (for example of a header) is at fault rather than its value.
    pub at_key: bool,
    pub message: String,
    pub help: Option<String>,
    /// A template variable in the value that the problem is about; the
    /// caret then goes under its `{{ ... }}` when the value is on one line.
    pub variable: Option<String>,
}

impl Problem {
    pub(crate) fn new(
        code: Code,
        pointer: String,
        message: String,
        help: Option<String>,
    ) -> Problem {
        Problem {
            code,
            pointer,
            at_key: false,
            message,
            help,
            variable: None,
        }
    }

    pub(crate) fn at_variable(mut self, variable: &str) -> Problem {
        self.variable = Some(variable.to_owned());
        self
    }
}

/// Host names for which plain `http://` is accepted, so that a local test
/// server can stand in for a provider.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// Rejects control characters in the text that people and generated code
/// show: the display name, and each connection-config field's title and
/// example (a description may break lines and use tabs). Such a character
/// would act on a terminal, or end a comment of a generated file.
fn check_shown_text(provider: &Provider, problems: &mut Vec<Problem>) {
    let mut texts = vec![(
        "/display_name".to_owned(),
        provider.display_name.as_str(),
        false,
    )];
    for (key, field) in &provider.connection_config {
        let base = format!("/connection_config/{}", escape_pointer(key));
        texts.push((format!("{base}/title"), field.title.as_str(), false));
        if let Some(example) = &field.example {
            texts.push((format!("{base}/example"), example.as_str(), false));
        }
        if let Some(description) = &field.description {
            texts.push((format!("{base}/description"), description.as_str(), true));
        }
    }
    for (pointer, text, breaks_allowed) in texts {
        // The characters that the text output escapes, line separators and
        // bidirectional controls included.
        let checked: String = if breaks_allowed {
            text.replace(['\n', '\t'], " ")
        } else {
            text.to_owned()
        };
        let hidden = crate::escape_controls(&checked) != checked;
        if hidden {
            problems.push(Problem::new(
                Code::InvalidValue,
                pointer,
                format!(
                    "the text {:?} contains a control character",
                    crate::escape_controls(text)
                ),
                Some("remove it; write the text on one line of printable characters".to_owned()),
            ));
        }
    }
}

/// Runs every semantic check. `expected_name` is the file name without `.yaml`.
pub(crate) fn check(provider: &Provider, expected_name: Option<&str>) -> Vec<Problem> {
    // Several checks read the same patterns and templates, so each one is
    // compiled once per file here.
    let patterns = ConfigPatterns::compile(provider);
    let fields = template_fields(provider);
    let templates = TemplateVariables::compile(&fields, provider.docs_url.as_deref());
    let mut problems = Vec::new();
    if let Some(expected) = expected_name {
        check_name(provider, expected, &mut problems);
    }
    check_shown_text(provider, &mut problems);
    check_config_fields(provider, &patterns, &mut problems);
    check_place_conditions(provider, &patterns, &mut problems);
    crate::reserved_headers::check_header_names(provider, &mut problems);
    check_excluded_patterns(provider, &mut problems);
    check_templates(provider, &fields, &templates, &mut problems);
    check_jwt_credential_keys(provider, &fields, &mut problems);
    check_unused_config_fields(provider, &fields, &templates, &mut problems);
    check_urls(provider, &patterns, &templates, &mut problems);
    check_auth_details(provider, &mut problems);
    check_redirect_hosts(provider, &mut problems);
    check_post_connection_keys(provider, &mut problems);
    crate::assume_role::check(provider, &mut problems);
    crate::json_body::check_json_body_paths(provider, &mut problems);
    crate::password_grant::check_password_grant(provider, &mut problems);
    let mut unique: Vec<Problem> = Vec::with_capacity(problems.len());
    for problem in problems {
        if !unique
            .iter()
            .any(|seen| seen.pointer == problem.pointer && seen.message == problem.message)
        {
            unique.push(problem);
        }
    }
    unique
}

fn check_name(provider: &Provider, expected: &str, problems: &mut Vec<Problem>) {
    if provider.name != expected {
        problems.push(Problem::new(
            Code::NameMismatch,
            "/name".to_owned(),
            format!(
                "provider name `{}` does not match the file name `{expected}.yaml`",
                provider.name
            ),
            Some(name_mismatch_help(&provider.name, expected)),
        ));
    }
}

/// Offers the file name as the provider name only when it is one: lowercase
/// letters, digits and single hyphens, as the schema's `name` pattern allows.
fn name_mismatch_help(name: &str, file_stem: &str) -> String {
    let is_name = !file_stem.is_empty()
        && file_stem.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if is_name {
        format!("set `name: {file_stem}` or rename the file to `{name}.yaml`")
    } else {
        format!("rename the file to `{name}.yaml`; the file name is not a provider name, which has only lowercase letters, digits and single hyphens")
    }
}

/// The connection-config patterns of one provider, each compiled once with
/// [`whole_value_regex`], by field key. Fields without a pattern are absent.
struct ConfigPatterns<'a> {
    by_key: HashMap<&'a str, CompileResult>,
}

impl<'a> ConfigPatterns<'a> {
    fn compile(provider: &'a Provider) -> ConfigPatterns<'a> {
        let by_key = provider
            .connection_config
            .iter()
            .filter_map(|(key, field)| {
                let pattern = field.pattern.as_deref()?;
                Some((key.as_str(), whole_value_regex(pattern)))
            })
            .collect();
        ConfigPatterns { by_key }
    }

    /// Returns the compiled pattern of field `key`, or `None` when the field
    /// has no pattern or its pattern does not compile.
    fn regex(&self, key: &str) -> Option<&Regex> {
        self.by_key.get(key)?.as_deref().ok()
    }
}

fn check_config_fields(
    provider: &Provider,
    patterns: &ConfigPatterns<'_>,
    problems: &mut Vec<Problem>,
) {
    let credentials = credential_variables(&provider.auth);
    for (key, field) in &provider.connection_config {
        let base = format!("/connection_config/{}", escape_pointer(key));
        // A credential variable of the mode would hide the key in the
        // templates that see both, because credential values win.
        if credential_variables_all().contains(&key.as_str()) && credentials.contains(&key.as_str())
        {
            let mut problem = Problem::new(
                Code::InvalidKey,
                base.clone(),
                format!(
                    "connection-config key `{key}` is a credential variable of `{}` mode",
                    provider.auth.mode_name()
                ),
                Some(format!(
                    "rename the key; the credential variables of this mode are {}",
                    quoted(&credentials)
                )),
            );
            problem.at_key = true;
            problems.push(problem);
        }
        let (Some(pattern), Some(compiled)) = (&field.pattern, patterns.by_key.get(key.as_str()))
        else {
            continue;
        };
        let regex = match compiled {
            Ok(regex) => regex,
            Err(error) => {
                problems.push(invalid_regex(format!("{base}/pattern"), pattern, error));
                continue;
            }
        };
        let samples = [("example", &field.example), ("default", &field.default)];
        for (name, sample) in samples {
            let Some(sample) = sample else { continue };
            if !regex.is_match(sample) {
                problems.push(Problem::new(
                    Code::ExampleMismatch,
                    format!("{base}/{name}"),
                    format!("{name} `{sample}` does not match the pattern `{pattern}`"),
                    Some(format!(
                        "change the {name} or the pattern so that the whole {name} matches"
                    )),
                ));
            }
        }
    }
}

/// Checks that each `excluded_pattern` compiles and that no example or
/// default matches it.
fn check_excluded_patterns(provider: &Provider, problems: &mut Vec<Problem>) {
    for (key, field) in &provider.connection_config {
        let Some(excluded) = &field.excluded_pattern else {
            continue;
        };
        let base = format!("/connection_config/{}", escape_pointer(key));
        let regex = match whole_value_regex(excluded) {
            Ok(regex) => regex,
            Err(error) => {
                problems.push(invalid_regex(
                    format!("{base}/excluded_pattern"),
                    excluded,
                    &error,
                ));
                continue;
            }
        };
        let samples = [("example", &field.example), ("default", &field.default)];
        for (name, sample) in samples {
            let Some(sample) = sample else { continue };
            if regex.is_match(sample) {
                problems.push(Problem::new(
                    Code::ExampleMismatch,
                    format!("{base}/{name}"),
                    format!("{name} `{sample}` matches the excluded pattern `{excluded}`"),
                    Some(format!(
                        "change the {name} or the excluded pattern so that the {name} is allowed"
                    )),
                ));
            }
        }
    }
}

/// Checks the hosts that a followed redirect may carry the credential to.
fn check_redirect_hosts(provider: &Provider, problems: &mut Vec<Problem>) {
    let Some(follow) = &provider.proxy.follow_redirects else {
        return;
    };
    for (index, host) in follow.hosts.iter().enumerate() {
        if let Err(message) = crate::url_forms::check_redirect_host(host) {
            problems.push(Problem::new(
                Code::InvalidValue,
                format!("/proxy/follow_redirects/hosts/{index}"),
                message,
                Some("a listed host receives the credential headers; list only hosts the provider runs".to_owned()),
            ));
        }
    }
}

fn check_auth_details(provider: &Provider, problems: &mut Vec<Problem>) {
    check_inject_places(provider, problems);
    if let Auth::Signature(signature) = &provider.auth {
        check_signature(provider, signature, problems);
    }
    if let Auth::Basic(basic) = &provider.auth {
        check_fixed_basic_half(basic, problems);
    }
    if let Auth::Jwt(jwt) = &provider.auth {
        crate::jwt::check_jwt(jwt, problems);
    }
    if let Auth::ApiKey(api_key) = &provider.auth {
        check_key_placement(api_key, problems);
        if let Some(pattern) = &api_key.key_pattern {
            if let Err(error) = search_regex(pattern) {
                problems.push(invalid_regex(
                    "/auth/key_pattern".to_owned(),
                    pattern,
                    &error,
                ));
            }
        }
    }
    let captured = match &provider.auth {
        Auth::Oauth2(oauth) => {
            crate::admin_consent::check_admin_consent(oauth, &provider.connection_config, problems);
            &oauth.token_response.connection_config
        }
        Auth::Oauth2ClientCredentials(cc) => &cc.token_response.connection_config,
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            check_credential_fields(provider, two_step, problems);
            check_token_body(&two_step.token_response, problems);
            crate::xml_body::check_xml_login(two_step, problems);
            crate::saml::check_assertion(two_step, &provider.connection_config, problems);
            crate::xml_body::check_caller_placed_token(provider, two_step, problems);
            &two_step.token_response.connection_config
        }
        Auth::ApiKey(_)
        | Auth::Basic(_)
        | Auth::None(_)
        | Auth::Signature(_)
        | Auth::AwsSigv4(_) => return,
        Auth::Jwt(jwt) => &jwt.token_response.connection_config,
        Auth::App(app) => &app.token_response.connection_config,
        Auth::McpOauth2(_) => return,
        Auth::Oauth1(_) | Auth::Tba(_) => return,
    };
    let declared: Vec<&str> = provider
        .connection_config
        .keys()
        .map(String::as_str)
        .collect();
    for key in captured.keys() {
        if !provider.connection_config.contains_key(key) {
            let mut problem = Problem::new(
                Code::UndeclaredCapture,
                format!("/auth/token_response/connection_config/{}", escape_pointer(key)),
                format!("`{key}` is captured from the token response but not declared in `connection_config`"),
                Some(undeclared_help(key, &declared, "connection_config")),
            );
            problem.at_key = true;
            problems.push(problem);
        }
    }
    if let Auth::Oauth2(oauth) = &provider.auth {
        for key in oauth.callback_connection_config.keys() {
            if !provider.connection_config.contains_key(key) {
                let mut problem = Problem::new(
                    Code::UndeclaredCapture,
                    format!("/auth/callback_connection_config/{}", escape_pointer(key)),
                    format!("`{key}` is captured from the callback but not declared in `connection_config`"),
                    Some(undeclared_help(key, &declared, "connection_config")),
                );
                problem.at_key = true;
                problems.push(problem);
            }
            // The callback's query comes from the end user's browser, so it
            // must not decide a value that the integration sets.
            let set_by_integration = provider
                .connection_config
                .get(key)
                .is_some_and(|field| field.integration_default);
            if set_by_integration {
                let mut problem = Problem::new(
                    Code::InvalidValue,
                    format!("/auth/callback_connection_config/{}", escape_pointer(key)),
                    format!(
                        "`{key}` is captured from the callback, which the end user's browser \
                         carries, but its field has `integration_default: true`, so the \
                         browser could replace the integration's value"
                    ),
                    Some(format!(
                        "remove `integration_default` from field `{key}`, or stop capturing it \
                         from the callback"
                    )),
                );
                problem.at_key = true;
                problems.push(problem);
            }
        }
    }
}

/// Requires every connection-config key that a post-connection step fills
/// to be declared under `connection_config`.
/// Returns the `when` conditions of a credential's places, with the
/// pointer of each.
fn place_conditions(inject: &Inject) -> Vec<(String, &crate::PlaceCondition)> {
    inject
        .places()
        .into_iter()
        .filter_map(|place| {
            let pointer = format!("{}/when/field", place.pointer());
            place.when.map(|condition| (pointer, condition))
        })
        .collect()
}

/// Checks the places of a credential: a `when` names a declared
/// connection-config field, and only a header or query name is read from
/// the connection config.
fn check_inject_places(provider: &Provider, problems: &mut Vec<Problem>) {
    let Some(inject) = explicit_inject(&provider.auth) else {
        return;
    };
    for (pointer, condition) in place_conditions(inject) {
        if !provider.connection_config.contains_key(&condition.field) {
            problems.push(Problem::new(
                Code::UndeclaredVariable,
                pointer,
                format!(
                    "`when.field` is `{}`, which no connection-config field declares",
                    condition.field
                ),
                Some(format!(
                    "declare `{}` under `connection_config`, or name a field declared there",
                    condition.field
                )),
            ));
        }
    }
    for place in inject.places() {
        let name = place.name;
        let from_config = crate::model::name_variable(name).is_some();
        if from_config
            && !matches!(
                place.location,
                InjectLocation::Header | InjectLocation::Query
            )
        {
            problems.push(Problem::new(
                Code::InvalidValue,
                format!("{}/name", place.pointer()),
                format!("`{name}` reads the name from the connection config, which only a header or query place may do"),
                Some("write the JSON body path as literal text".to_owned()),
            ));
        }
    }
}

/// Rejects a place's `when.equals` that the field's `pattern` rejects,
/// because the connection-config check then never lets the field hold it
/// and the place is never used.
fn check_place_conditions(
    provider: &Provider,
    patterns: &ConfigPatterns<'_>,
    problems: &mut Vec<Problem>,
) {
    let Some(inject) = explicit_inject(&provider.auth) else {
        return;
    };
    for place in inject.places() {
        let Some(condition) = place.when else {
            continue;
        };
        let Some(regex) = patterns.regex(&condition.field) else {
            continue;
        };
        if regex.is_match(&condition.equals) {
            continue;
        }
        let pattern = provider.connection_config[&condition.field]
            .pattern
            .as_deref()
            .unwrap_or_default();
        problems.push(Problem::new(
            Code::InvalidValue,
            format!("{}/when/equals", place.pointer()),
            format!(
                "`when.equals` is `{}`, which the pattern `{pattern}` of connection-config field `{}` does not match, so this place is never used",
                condition.equals, condition.field
            ),
            Some(format!(
                "change `equals` to a value that the whole pattern matches, or widen the pattern of `{}`",
                condition.field
            )),
        ));
    }
}

/// An `api_key` provider states where the proxy puts the key, or that the
/// proxy adds none. The schema requires one of the two, and both at once
/// contradict each other.
fn check_key_placement(api_key: &crate::ApiKey, problems: &mut Vec<Problem>) {
    if api_key.inject.is_some() && api_key.caller_places_key {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/caller_places_key".to_owned(),
            "`caller_places_key: true` says the proxy adds no key, but `inject` says where it adds one".to_owned(),
            Some(
                "remove `inject` when callers put the key into their requests themselves, or remove `caller_places_key` so that the proxy sends the key as `inject` says"
                    .to_owned(),
            ),
        ));
    }
}

fn check_post_connection_keys(provider: &Provider, problems: &mut Vec<Problem>) {
    let declared: Vec<&str> = provider
        .connection_config
        .keys()
        .map(String::as_str)
        .collect();
    for (index, step) in provider.post_connection.iter().enumerate() {
        for key in step.connection_config.keys() {
            if provider.connection_config.contains_key(key) {
                continue;
            }
            let mut problem = Problem::new(
                Code::UndeclaredCapture,
                format!(
                    "/post_connection/{index}/connection_config/{}",
                    escape_pointer(key)
                ),
                format!("`{key}` is filled by a post-connection step but not declared in `connection_config`"),
                Some(undeclared_help(key, &declared, "connection_config")),
            );
            problem.at_key = true;
            problems.push(problem);
        }
    }
}

/// Rejects a credential field that shares its name with a connection-config
/// key, because both are template variables, and a credential field with an
/// invalid pattern.
fn check_credential_fields(provider: &Provider, two_step: &TwoStep, problems: &mut Vec<Problem>) {
    for (key, field) in &two_step.credentials {
        let pointer = format!("/auth/credentials/{}", escape_pointer(key));
        if provider.connection_config.contains_key(key) {
            let mut problem = Problem::new(
                Code::InvalidKey,
                pointer.clone(),
                format!("`{key}` is both a credential field and a connection-config key"),
                Some("rename one of them, because both are template variables".to_owned()),
            );
            problem.at_key = true;
            problems.push(problem);
        }
        if !two_step.steps.is_empty() && step_number(key).is_some() {
            let mut problem = Problem::new(
                Code::InvalidKey,
                pointer.clone(),
                format!("credential field `{key}` has the name of a step reply variable"),
                Some(format!(
                    "rename `{key}`, because the templates of `steps` read `{key}` as the reply of a request of the chain"
                )),
            );
            problem.at_key = true;
            problems.push(problem);
        }
        if let Some(pattern) = &field.pattern {
            if let Err(error) = whole_value_regex(pattern) {
                problems.push(invalid_regex(format!("{pointer}/pattern"), pattern, &error));
            }
        }
    }
}

/// Rejects the paths of a `token_response` whose whole body is the token,
/// because the engine reads none of them.
fn check_token_body(response: &TokenResponse, problems: &mut Vec<Problem>) {
    if response.body != TokenBody::Token {
        return;
    }
    let set = [
        (
            "access_token_fallback",
            response.access_token_fallback.is_some(),
        ),
        ("expires_at", response.expires_at.is_some()),
        ("connection_config", !response.connection_config.is_empty()),
    ];
    for (key, is_set) in set {
        if is_set {
            problems.push(Problem::new(
                Code::InvalidKey,
                format!("/auth/token_response/{key}"),
                format!(
                    "`{key}` reads a path, but with `body: token` the reply has no object to read"
                ),
                Some(format!(
                    "remove `{key}`, or remove `body: token` if the reply is a JSON object"
                )),
            ));
        }
    }
}

/// Rejects a basic mode that fixes both halves, which would give every
/// connection the same credential, and a title for a half that the end
/// user never enters.
fn check_fixed_basic_half(basic: &Basic, problems: &mut Vec<Problem>) {
    if basic.fixed_username.is_some() && basic.fixed_password.is_some() {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/fixed_password".to_owned(),
            "`fixed_username` and `fixed_password` are both set, so the end user would enter no credential".to_owned(),
            Some("keep the one the provider ignores and let the end user enter the other".to_owned()),
        ));
    }
    let halves = [
        ("username", &basic.fixed_username, &basic.username_title),
        ("password", &basic.fixed_password, &basic.password_title),
    ];
    for (half, fixed, title) in halves {
        if fixed.is_some() && title.is_some() {
            let mut problem = Problem::new(
                Code::InvalidValue,
                format!("/auth/{half}_title"),
                format!("`{half}_title` labels an input that the connect page does not show, because `fixed_{half}` is set"),
                Some(format!("remove `{half}_title`")),
            );
            problem.at_key = true;
            problems.push(problem);
        }
    }
}

fn invalid_regex(pointer: String, pattern: &str, error: &regex::Error) -> Problem {
    // The regex crate's message spans several lines with its own caret; the
    // last line carries the reason.
    let reason = error
        .to_string()
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid syntax")
        .trim()
        .trim_start_matches("error: ")
        .to_owned();
    Problem::new(
        Code::InvalidRegex,
        pointer,
        format!("invalid regular expression `{pattern}`: {reason}"),
        Some("write the pattern in Rust regex syntax (https://docs.rs/regex)".to_owned()),
    )
}

/// A template field: its JSON pointer, its text, and which variables
/// besides the connection-config keys are in scope.
struct TemplateField<'a> {
    pointer: String,
    text: &'a str,
    credentials: bool,
    /// Whether `random_token` is in scope, in request parameters and
    /// proxy headers and query parameters.
    random: bool,
    /// Whether `oauth_client_id` is in scope, in what proxied requests
    /// carry.
    client_id: bool,
}

/// The variables with fresh random values per request: 22 base64url
/// characters, and a version 4 UUID.
const RANDOM_VARIABLES: [&str; 2] = ["random_token", "random_uuid"];
/// The variable with the last token reply of a `two_step` or `session`
/// connection, whose members templates read as `raw.PATH`.
const RAW_REPLY_VARIABLE: &str = "raw";
/// The variable with the integration's OAuth client id.
const CLIENT_ID_VARIABLE: &str = "oauth_client_id";
/// The variable with the integration's OAuth client secret, which only the
/// credential places, headers, query parameters and body members of an
/// `oauth2` provider's proxied requests see.
const CLIENT_SECRET_VARIABLE: &str = "oauth_client_secret";

/// Checks whether `pointer` is a template that may read the integration's
/// client secret.
fn sees_client_secret(auth: &Auth, pointer: &str) -> bool {
    let proxied = [
        "/auth/inject/",
        "/proxy/headers/",
        "/proxy/query/",
        "/proxy/body/",
    ]
    .iter()
    .any(|prefix| pointer.starts_with(prefix));
    proxied && matches!(auth, Auth::Oauth2(_))
}

fn template_fields(provider: &Provider) -> Vec<TemplateField<'_>> {
    let mut fields = Vec::new();
    match &provider.auth {
        Auth::Oauth2(oauth) => {
            push_one(
                &mut fields,
                "/auth/authorization_url",
                &oauth.authorization_url,
            );
            push_list(
                &mut fields,
                "/auth/authorization_url_fallbacks",
                &oauth.authorization_url_fallbacks,
            );
            push_one(&mut fields, "/auth/token_url", &oauth.token_url);
            push_list(
                &mut fields,
                "/auth/token_url_fallbacks",
                &oauth.token_url_fallbacks,
            );
            if let Some(refresh_url) = &oauth.refresh_url {
                push_one(&mut fields, "/auth/refresh_url", refresh_url);
            }
            push_params(
                &mut fields,
                "/auth/authorization_params",
                &oauth.authorization_params,
            );
            push_params(&mut fields, "/auth/token_params", &oauth.token_params);
            push_params(&mut fields, "/auth/refresh_params", &oauth.refresh_params);
        }
        Auth::Oauth2ClientCredentials(cc) => {
            push_one(&mut fields, "/auth/token_url", &cc.token_url);
            push_list(
                &mut fields,
                "/auth/token_url_fallbacks",
                &cc.token_url_fallbacks,
            );
            push_list(&mut fields, "/auth/default_scopes", &cc.default_scopes);
            push_params(&mut fields, "/auth/token_params", &cc.token_params);
            if let Some(grant) = &cc.password_grant {
                push_one(
                    &mut fields,
                    "/auth/password_grant/username",
                    &grant.username,
                );
                push_one(
                    &mut fields,
                    "/auth/password_grant/password",
                    &grant.password,
                );
            }
        }
        Auth::ApiKey(_) | Auth::Basic(_) => {}
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            push_token_request(&mut fields, "/auth/token_request", &two_step.token_request);
            if let Some(refresh) = &two_step.refresh_request {
                push_token_request(&mut fields, "/auth/refresh_request", refresh);
            }
            for (index, step) in two_step.steps.iter().enumerate() {
                push_token_request(&mut fields, &format!("/auth/steps/{index}"), step);
            }
            if let Some(assertion) = &two_step.assertion {
                for (pointer, text) in crate::saml::assertion_templates(assertion) {
                    fields.push(TemplateField {
                        pointer,
                        text,
                        credentials: true,
                        random: false,
                        client_id: false,
                    });
                }
            }
        }
        Auth::None(_) | Auth::Signature(_) => {}
        // The signature templates see request parts as well, so
        // `check_signature` checks them.
        Auth::AwsSigv4(aws) => {
            push_one(&mut fields, "/auth/service", &aws.service);
            push_one(&mut fields, "/auth/region", &aws.region);
            if let Some(assume_role) = &aws.assume_role {
                push_one(
                    &mut fields,
                    "/auth/assume_role/sts_url",
                    assume_role.sts_url_template(),
                );
            }
        }
        Auth::Jwt(jwt) => push_jwt_fields(&mut fields, jwt),
        Auth::App(app) => {
            push_one(&mut fields, "/auth/token_url", &app.token_url);
            if let Some(url) = &app.user_token_url {
                push_one(&mut fields, "/auth/user_token_url", url);
            }
        }
        Auth::McpOauth2(mcp) => push_mcp_urls(&mut fields, mcp),
        Auth::Oauth1(oauth1) => {
            push_one(
                &mut fields,
                "/auth/request_token_url",
                &oauth1.request_token_url,
            );
            push_one(
                &mut fields,
                "/auth/authorization_url",
                &oauth1.authorization_url,
            );
            push_one(
                &mut fields,
                "/auth/access_token_url",
                &oauth1.access_token_url,
            );
            push_params(
                &mut fields,
                "/auth/request_token_params",
                &oauth1.request_token_params,
            );
            push_params(
                &mut fields,
                "/auth/authorization_params",
                &oauth1.authorization_params,
            );
            push_params(
                &mut fields,
                "/auth/access_token_params",
                &oauth1.access_token_params,
            );
        }
        Auth::Tba(tba) => {
            if let Some(realm) = &tba.realm {
                push_one(&mut fields, "/auth/realm", realm);
            }
        }
    }
    let oauth = matches!(
        provider.auth,
        Auth::Oauth2(_) | Auth::Oauth2ClientCredentials(_)
    );
    if let Some(inject) = explicit_inject(&provider.auth) {
        fields.push(TemplateField {
            pointer: "/auth/inject/value".to_owned(),
            text: &inject.value,
            credentials: true,
            random: false,
            client_id: oauth,
        });
        for (index, place) in inject.additional.iter().enumerate() {
            fields.push(TemplateField {
                pointer: format!("/auth/inject/additional/{index}/value"),
                text: &place.value,
                credentials: true,
                random: false,
                client_id: oauth,
            });
        }
        // A name from the connection config may not read a credential,
        // because a header name is not marked sensitive.
        for place in inject.places() {
            if crate::model::name_variable(place.name).is_some() {
                push_one(
                    &mut fields,
                    &format!("{}/name", place.pointer()),
                    place.name,
                );
            }
        }
    }
    push_one(&mut fields, "/proxy/base_url", &provider.proxy.base_url);
    push_list(
        &mut fields,
        "/proxy/base_url_fallbacks",
        &provider.proxy.base_url_fallbacks,
    );
    let proxied = [
        ("/proxy/headers", &provider.proxy.headers),
        ("/proxy/query", &provider.proxy.query),
        ("/proxy/body", &provider.proxy.body),
    ];
    let verification = provider
        .proxy
        .verification
        .as_ref()
        .map(|verification| ("/proxy/verification/headers", &verification.headers));
    // The proxy headers, query parameters and body members of a two_step or
    // session provider may carry its credential fields, because one `inject` cannot
    // place every value that such a provider's API expects.
    let proxy_credentials = matches!(provider.auth, Auth::TwoStep(_) | Auth::Session(_));
    for (base, map) in proxied.into_iter().chain(verification) {
        for (key, value) in map {
            fields.push(TemplateField {
                pointer: format!("{base}/{}", escape_pointer(key)),
                text: value,
                credentials: proxy_credentials,
                random: true,
                client_id: oauth,
            });
        }
    }
    for (index, step) in provider.post_connection.iter().enumerate() {
        push_one(
            &mut fields,
            &format!("/post_connection/{index}/url"),
            &step.url,
        );
        for (key, value) in &step.headers {
            fields.push(TemplateField {
                pointer: format!("/post_connection/{index}/headers/{}", escape_pointer(key)),
                text: value,
                credentials: true,
                random: false,
                client_id: oauth,
            });
        }
    }
    fields
}

/// Pushes the templates of a `jwt` definition. Those that build the
/// assertion also see the entered values as `credentials.<key>`.
fn push_jwt_fields<'a>(fields: &mut Vec<TemplateField<'a>>, jwt: &'a crate::Jwt) {
    if let Some(token_url) = &jwt.token_url {
        push_one(fields, "/auth/token_url", token_url);
    }
    push_list(
        fields,
        "/auth/token_url_fallbacks",
        &jwt.token_url_fallbacks,
    );
    let assertion_fields = std::iter::once(("/auth/signing_key".to_owned(), &jwt.signing_key))
        .chain(
            jwt.header
                .iter()
                .map(|(key, text)| (format!("/auth/header/{}", escape_pointer(key)), text)),
        )
        .chain(
            jwt.claims
                .iter()
                .map(|(key, text)| (format!("/auth/claims/{}", escape_pointer(key)), text)),
        )
        .chain(
            jwt.token_params
                .iter()
                .map(|(key, text)| (format!("/auth/token_params/{}", escape_pointer(key)), text)),
        );
    for (pointer, text) in assertion_fields {
        fields.push(TemplateField {
            pointer,
            text,
            credentials: false,
            random: false,
            client_id: false,
        });
    }
    for (index, step) in jwt.steps.iter().enumerate() {
        let start = fields.len();
        push_token_request(fields, &format!("/auth/steps/{index}"), step);
        // A step of a `jwt` chain reads the entered values only as
        // `credentials.<key>`, which `is_entered_credentials` allows, and
        // has no `random_token`.
        for field in &mut fields[start..] {
            field.credentials = false;
            field.random = false;
        }
    }
}

/// Checks whether `variable` is the `credentials` object of entered values,
/// which the assertion templates of a `jwt` definition see.
fn is_entered_credentials(auth: &Auth, pointer: &str, variable: &str) -> bool {
    let assertion_field = [
        "/auth/signing_key",
        "/auth/header/",
        "/auth/claims/",
        "/auth/token_params/",
        "/auth/steps/",
    ]
    .iter()
    .any(|prefix| pointer.starts_with(prefix));
    let fingerprint_field = ["/auth/header/", "/auth/claims/"]
        .iter()
        .any(|prefix| pointer.starts_with(prefix));
    let exchanged = matches!(auth, Auth::Jwt(jwt) if jwt.token_url.is_some());
    matches!(auth, Auth::Jwt(_))
        && ((assertion_field && variable == JWT_CREDENTIALS_VARIABLE)
            || (fingerprint_field && variable == JWT_PUBLIC_KEY_SHA256_VARIABLE)
            || (exchanged && pointer.starts_with("/auth/claims/") && variable == "token_url"))
}

/// Checks whether `variable` is the `cookies` of the last login, which only
/// the proxy headers of a definition with `capture_cookies` see.
fn is_captured_cookies(auth: &Auth, pointer: &str, variable: &str) -> bool {
    let captures = match auth {
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            two_step.token_response.capture_cookies
        }
        _ => false,
    };
    captures && variable == "cookies" && pointer.starts_with("/proxy/headers/")
}

/// Checks whether `variable` is the `request_path` of a proxied request,
/// which only the proxy headers, query parameters and body members see.
fn is_proxied_request_path(pointer: &str, variable: &str) -> bool {
    variable == REQUEST_PATH_VARIABLE
        && ["/proxy/headers/", "/proxy/query/", "/proxy/body/"]
            .iter()
            .any(|prefix| pointer.starts_with(prefix))
}

/// The variable of the path that the caller of the proxy requested below
/// the base URL.
const REQUEST_PATH_VARIABLE: &str = "request_path";

/// Checks whether `variable` is the reply of a request before the step at
/// `pointer`: the step at `/auth/steps/<i>` is request `i + 2` of the chain,
/// so it sees `step1` to `step<i + 1>`.
fn is_earlier_step_reply(pointer: &str, variable: &str) -> bool {
    let Some(rest) = pointer.strip_prefix("/auth/steps/") else {
        return false;
    };
    let index = rest
        .split('/')
        .next()
        .and_then(|index| index.parse::<usize>().ok());
    match (index, step_number(variable)) {
        (Some(index), Some(number)) => number <= index + 1,
        _ => false,
    }
}

/// The variable of the SHA-256 fingerprint of the signing key's public half,
/// which the claim and header templates of a `jwt` definition see.
const JWT_PUBLIC_KEY_SHA256_VARIABLE: &str = "public_key_sha256";

/// The variable that contains the entered values in `jwt` assertion templates.
const JWT_CREDENTIALS_VARIABLE: &str = "credentials";

/// Reports a `credentials.<key>` in a `jwt` assertion template whose key is
/// not declared under `auth.credentials`, because rendering it fails on
/// every connection.
fn check_jwt_credential_keys(
    provider: &Provider,
    fields: &[TemplateField<'_>],
    problems: &mut Vec<Problem>,
) {
    let Auth::Jwt(jwt) = &provider.auth else {
        return;
    };
    let declared: Vec<&str> = jwt.credentials.keys().map(String::as_str).collect();
    let prefix = format!("{JWT_CREDENTIALS_VARIABLE}.");
    for field in fields {
        if !is_entered_credentials(&provider.auth, &field.pointer, JWT_CREDENTIALS_VARIABLE) {
            continue;
        }
        // Syntax errors are reported by `check_templates`.
        let Ok(template) = ENVIRONMENT.template_from_str(field.text) else {
            continue;
        };
        for path in template.undeclared_variables(true) {
            let Some(key) = path.strip_prefix(&prefix) else {
                continue;
            };
            let key = key.split('.').next().unwrap_or(key);
            if declared.contains(&key) {
                continue;
            }
            problems.push(Problem::new(
                Code::UndeclaredVariable,
                field.pointer.clone(),
                format!("`{JWT_CREDENTIALS_VARIABLE}.{key}` is not a declared credential field"),
                Some(undeclared_help(key, &declared, "auth.credentials")),
            ));
        }
    }
}

fn push_one<'a>(fields: &mut Vec<TemplateField<'a>>, pointer: &str, text: &'a str) {
    fields.push(TemplateField {
        pointer: pointer.to_owned(),
        text,
        credentials: false,
        random: false,
        client_id: false,
    });
}

fn push_list<'a>(fields: &mut Vec<TemplateField<'a>>, base: &str, list: &'a [String]) {
    for (index, text) in list.iter().enumerate() {
        push_one(fields, &format!("{base}/{index}"), text);
    }
}

/// Pushes the values of an authorization or token parameter map, where
/// `random_token` is in scope.
fn push_params<'a>(
    fields: &mut Vec<TemplateField<'a>>,
    base: &str,
    map: &'a BTreeMap<String, String>,
) {
    for (key, value) in map {
        fields.push(TemplateField {
            pointer: format!("{base}/{}", escape_pointer(key)),
            text: value,
            credentials: false,
            random: true,
            client_id: false,
        });
    }
}

/// Pushes the URL, header and parameter templates of a token request,
/// which see the credential fields and `random_token`.
fn push_token_request<'a>(
    fields: &mut Vec<TemplateField<'a>>,
    base: &str,
    request: &'a TokenRequest,
) {
    push_one(fields, &format!("{base}/url"), &request.url);
    push_list(
        fields,
        &format!("{base}/url_fallbacks"),
        &request.url_fallbacks,
    );
    let texts = request
        .params
        .iter()
        .flat_map(|(key, value)| {
            template_leaves(&format!("{base}/params/{}", escape_pointer(key)), value)
        })
        .chain(request.headers.iter().map(|(key, value)| {
            (
                format!("{base}/headers/{}", escape_pointer(key)),
                value.as_str(),
            )
        }));
    for (pointer, text) in texts {
        fields.push(TemplateField {
            pointer,
            text,
            credentials: true,
            random: true,
            client_id: false,
        });
    }
}

/// Lists the strings of a JSON parameter value with their pointers.
fn template_leaves<'a>(pointer: &str, value: &'a serde_json::Value) -> Vec<(String, &'a str)> {
    match value {
        serde_json::Value::String(text) => vec![(pointer.to_owned(), text.as_str())],
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(index, item)| template_leaves(&format!("{pointer}/{index}"), item))
            .collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(key, item)| {
                template_leaves(&format!("{pointer}/{}", escape_pointer(key)), item)
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn explicit_inject(auth: &Auth) -> Option<&Inject> {
    match auth {
        Auth::Oauth2(oauth) => oauth.inject.as_ref(),
        Auth::Oauth2ClientCredentials(cc) => cc.inject.as_ref(),
        Auth::ApiKey(api_key) => api_key.inject.as_ref(),
        Auth::Basic(basic) => basic.inject.as_ref(),
        Auth::TwoStep(two_step) | Auth::Session(two_step) => two_step.inject.as_ref(),
        Auth::None(_) | Auth::Signature(_) | Auth::AwsSigv4(_) => None,
        Auth::Jwt(jwt) => jwt.inject.as_ref(),
        Auth::App(app) => app.inject.as_ref(),
        Auth::McpOauth2(mcp) => mcp.inject.as_ref(),
        Auth::Oauth1(_) | Auth::Tba(_) => None,
    }
}

/// Returns the credential variables that the engine passes to `inject.value`
/// in each mode. In `two_step` and `session` mode they are the token, the
/// refresh token (seen only by a refresh request) and the credential fields.
fn credential_variables(auth: &Auth) -> Vec<&str> {
    match auth {
        Auth::Oauth2(_) | Auth::Oauth2ClientCredentials(_) => vec!["access_token"],
        Auth::ApiKey(_) => vec!["api_key"],
        Auth::Basic(_) => vec!["username", "password"],
        Auth::TwoStep(two_step) | Auth::Session(two_step) => ["access_token", "refresh_token"]
            .into_iter()
            .chain(std::iter::once(RAW_REPLY_VARIABLE))
            .chain(two_step.credentials.keys().map(String::as_str))
            .collect(),
        Auth::Signature(_) => vec!["username", "password"],
        Auth::None(_) | Auth::AwsSigv4(_) => Vec::new(),
        Auth::Jwt(_) | Auth::App(_) => vec!["access_token"],
        Auth::McpOauth2(_) => vec!["access_token"],
        Auth::Oauth1(_) | Auth::Tba(_) => Vec::new(),
    }
}

/// The environment that compiles templates for the checks. Nothing adds
/// templates or settings to it, so one is shared by every file and thread.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);

/// The undeclared variables of each distinct template text of one provider
/// (every template field and `docs_url`), compiled once, or the compile
/// error's detail.
struct TemplateVariables<'a> {
    by_text: HashMap<&'a str, Result<BTreeSet<String>, String>>,
}

impl<'a> TemplateVariables<'a> {
    fn compile(fields: &[TemplateField<'a>], docs_url: Option<&'a str>) -> TemplateVariables<'a> {
        let texts = fields.iter().map(|field| field.text).chain(docs_url);
        let mut by_text = HashMap::new();
        for text in texts {
            by_text
                .entry(text)
                .or_insert_with(|| compile_template(text));
        }
        TemplateVariables { by_text }
    }

    /// Returns the variables of `text`, compiling it when it is not one of
    /// the texts compiled up front.
    fn variables(&self, text: &str) -> Result<BTreeSet<String>, String> {
        match self.by_text.get(text) {
            Some(compiled) => compiled.clone(),
            None => compile_template(text),
        }
    }
}

/// The functions that the engine adds to its template environment, which
/// templates call by name and no provider declares.
const TEMPLATE_FUNCTIONS: &[&str] = &["now"];

pub(crate) fn compile_template(text: &str) -> Result<BTreeSet<String>, String> {
    match ENVIRONMENT.template_from_str(text) {
        Ok(template) => Ok(template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !TEMPLATE_FUNCTIONS.contains(&name.as_str()))
            .collect()),
        Err(error) => Err(error.detail().unwrap_or("syntax error").to_owned()),
    }
}

fn check_templates(
    provider: &Provider,
    fields: &[TemplateField<'_>],
    templates: &TemplateVariables<'_>,
    problems: &mut Vec<Problem>,
) {
    let config_keys: Vec<&str> = provider
        .connection_config
        .keys()
        .map(String::as_str)
        .collect();
    let credentials = credential_variables(&provider.auth);

    for field in fields {
        let used = match templates.variables(field.text) {
            Ok(used) => used,
            Err(detail) => {
                problems.push(Problem::new(
                    Code::InvalidTemplate,
                    field.pointer.clone(),
                    format!("invalid template: {detail}"),
                    Some("write variables as `{{ name }}` (minijinja syntax)".to_owned()),
                ));
                continue;
            }
        };
        for variable in used {
            let is_config = provider.connection_config.contains_key(&variable);
            let is_credential = field.credentials && credentials.contains(&variable.as_str());
            // Only a refresh request reads the refresh token, and only the
            // templates of proxied requests read the last token reply.
            let is_credential = is_credential
                && (variable != "refresh_token"
                    || field.pointer.starts_with("/auth/refresh_request"))
                && (variable != RAW_REPLY_VARIABLE
                    || !(field.pointer.starts_with("/auth/token_request")
                        || field.pointer.starts_with("/auth/refresh_request")));
            let is_random = field.random && RANDOM_VARIABLES.contains(&variable.as_str());
            let is_client_id = field.client_id && variable == CLIENT_ID_VARIABLE;
            let is_client_secret = variable == CLIENT_SECRET_VARIABLE
                && sees_client_secret(&provider.auth, &field.pointer);
            let is_entered = is_entered_credentials(&provider.auth, &field.pointer, &variable);
            let is_step_reply = is_earlier_step_reply(&field.pointer, &variable);
            let is_cookies = is_captured_cookies(&provider.auth, &field.pointer, &variable);
            let is_assertion = matches!(&provider.auth, Auth::TwoStep(two_step)
                if crate::saml::is_signed_assertion(two_step, &field.pointer, &variable));
            let is_request_path = provider.post_connection.is_empty()
                && is_proxied_request_path(&field.pointer, &variable);
            if is_config
                || is_credential
                || is_random
                || is_client_id
                || is_client_secret
                || is_entered
                || is_step_reply
                || is_cookies
                || is_assertion
                || is_request_path
            {
                continue;
            }
            let mut known = config_keys.clone();
            if field.credentials {
                known.extend_from_slice(&credentials);
            }
            let is_credential_name = credential_variables_all().contains(&variable.as_str());
            let (code, message, help) = if variable == REQUEST_PATH_VARIABLE {
                (
                    Code::UndeclaredVariable,
                    format!("template variable `{variable}` is not available in this field"),
                    "`request_path` is available in `proxy.headers`, `proxy.query` and `proxy.body` of a provider without `post_connection` steps, whose requests have no proxied path".to_owned(),
                )
            } else if RANDOM_VARIABLES.contains(&variable.as_str()) {
                (
                    Code::UndeclaredVariable,
                    format!("template variable `{variable}` is not available in this field"),
                    format!("`{variable}` is available in `authorization_params`, `token_params`, `refresh_params`, `proxy.headers`, `proxy.query` and `proxy.verification.headers`"),
                )
            } else if variable == CLIENT_ID_VARIABLE {
                (
                    Code::UndeclaredVariable,
                    format!(
                        "template variable `{variable}` is not available in this field of `{}` mode",
                        provider.auth.mode_name()
                    ),
                    "`oauth_client_id` is available in `auth.inject.value`, `proxy.headers`, `proxy.query` and `proxy.verification.headers` of the OAuth modes".to_owned(),
                )
            } else if variable == CLIENT_SECRET_VARIABLE {
                (
                    Code::UndeclaredVariable,
                    format!(
                        "template variable `{variable}` is not available in this field of `{}` mode",
                        provider.auth.mode_name()
                    ),
                    "`oauth_client_secret` is available in `auth.inject`, `proxy.headers`, `proxy.query` and `proxy.body` of `oauth2` mode".to_owned(),
                )
            } else if is_credential_name && !field.credentials {
                (
                    Code::CredentialOutsideInject,
                    format!("template variable `{variable}` is not available outside `auth.inject.value`"),
                    "a credential reaches a request only through `auth.inject`; set the header or query parameter there".to_owned(),
                )
            } else if is_credential_name {
                (
                    Code::CredentialOfOtherMode,
                    format!(
                        "template variable `{variable}` is not available in `{}` mode",
                        provider.auth.mode_name()
                    ),
                    format!(
                        "the credential variables of this mode: {}",
                        quoted(&credentials)
                    ),
                )
            } else {
                (
                    Code::UndeclaredVariable,
                    format!(
                        "template variable `{variable}` is not a declared connection-config key"
                    ),
                    undeclared_help(&variable, &known, "connection_config"),
                )
            };
            problems.push(
                Problem::new(code, field.pointer.clone(), message, Some(help))
                    .at_variable(&variable),
            );
        }
    }
}

/// Reports a connection-config field that no template uses and the token
/// response does not fill, because its value would reach nothing. A field
/// marked `optional: true` is exempt, because that is how a file declares a
/// value that only callers of the connection read (for example an id they
/// put into proxied paths).
fn check_unused_config_fields(
    provider: &Provider,
    fields: &[TemplateField<'_>],
    templates: &TemplateVariables<'_>,
    problems: &mut Vec<Problem>,
) {
    let Some(used) = variables_in_templates(fields, templates) else {
        // A template that does not compile is reported on its own, and its
        // variables are unknown.
        return;
    };
    let mut captured = captured_keys(&provider.auth);
    captured.extend(
        provider
            .post_connection
            .iter()
            .flat_map(|step| step.connection_config.keys()),
    );
    // A field that chooses a credential's place is used by that choice.
    let chooses_place: Vec<&String> = explicit_inject(&provider.auth)
        .map(place_conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, condition)| &condition.field)
        .collect();
    captured.extend(chooses_place);
    for (key, field) in &provider.connection_config {
        if field.optional || used.contains(key) || captured.contains(key) {
            continue;
        }
        let mut problem = Problem::new(
            Code::UnusedConfigField,
            format!("/connection_config/{}", escape_pointer(key)),
            format!(
                "connection-config field `{key}` is not used by any template and not filled from the token response or the callback"
            ),
            Some(format!(
                "use it as `{{{{ {key} }}}}` in a URL, header or parameter, or remove it; if only callers of the connection read it, mark it `optional: true`"
            )),
        );
        problem.at_key = true;
        problems.push(problem);
    }
}

/// Collects the variables of every template field, or `None` when one of
/// them does not compile.
fn variables_in_templates(
    fields: &[TemplateField<'_>],
    templates: &TemplateVariables<'_>,
) -> Option<BTreeSet<String>> {
    let mut used = BTreeSet::new();
    for field in fields {
        used.extend(templates.variables(field.text).ok()?);
    }
    Some(used)
}

/// Returns the connection-config keys that the token response or the
/// callback query fills.
fn captured_keys(auth: &Auth) -> BTreeSet<&String> {
    match auth {
        Auth::Oauth2(oauth) => oauth
            .token_response
            .connection_config
            .keys()
            .chain(oauth.callback_connection_config.keys())
            .collect(),
        Auth::Oauth2ClientCredentials(cc) => cc.token_response.connection_config.keys().collect(),
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            two_step.token_response.connection_config.keys().collect()
        }
        Auth::ApiKey(_)
        | Auth::Basic(_)
        | Auth::None(_)
        | Auth::Signature(_)
        | Auth::AwsSigv4(_) => BTreeSet::new(),
        Auth::Jwt(jwt) => jwt.token_response.connection_config.keys().collect(),
        Auth::App(app) => app.token_response.connection_config.keys().collect(),
        Auth::McpOauth2(_) => BTreeSet::new(),
        Auth::Oauth1(_) | Auth::Tba(_) => BTreeSet::new(),
    }
}

fn credential_variables_all() -> [&'static str; 4] {
    ["access_token", "api_key", "username", "password"]
}

fn quoted(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}

fn undeclared_help(name: &str, known: &[&str], section: &str) -> String {
    match closest_match(name, known) {
        Some(best) => {
            format!("did you mean `{best}`? otherwise declare `{name}` under `{section}`")
        }
        None if known.is_empty() => format!("declare `{name}` under `{section}`"),
        None => format!(
            "declare `{name}` under `{section}`; variables available here: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn check_urls(
    provider: &Provider,
    patterns: &ConfigPatterns<'_>,
    templates: &TemplateVariables<'_>,
    problems: &mut Vec<Problem>,
) {
    let mut urls: Vec<(String, &str)> =
        vec![("/proxy/base_url".to_owned(), &provider.proxy.base_url)];
    let mut fallbacks: Vec<(&str, &[String])> = Vec::new();
    match &provider.auth {
        Auth::Oauth2(oauth) => {
            urls.push((
                "/auth/authorization_url".to_owned(),
                &oauth.authorization_url,
            ));
            urls.push(("/auth/token_url".to_owned(), &oauth.token_url));
            if let Some(refresh_url) = &oauth.refresh_url {
                urls.push(("/auth/refresh_url".to_owned(), refresh_url));
            }
            fallbacks.push((
                "/auth/authorization_url_fallbacks",
                &oauth.authorization_url_fallbacks,
            ));
            fallbacks.push(("/auth/token_url_fallbacks", &oauth.token_url_fallbacks));
        }
        Auth::Oauth2ClientCredentials(cc) => {
            urls.push(("/auth/token_url".to_owned(), &cc.token_url));
            fallbacks.push(("/auth/token_url_fallbacks", &cc.token_url_fallbacks));
        }
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            let requests = [
                ("/auth/token_request", Some(&two_step.token_request)),
                ("/auth/refresh_request", two_step.refresh_request.as_ref()),
            ];
            for (base, request) in requests {
                let Some(request) = request else { continue };
                urls.push((format!("{base}/url"), &request.url));
                for (index, url) in request.url_fallbacks.iter().enumerate() {
                    urls.push((format!("{base}/url_fallbacks/{index}"), url));
                }
            }
            for (index, step) in two_step.steps.iter().enumerate() {
                urls.push((format!("/auth/steps/{index}/url"), &step.url));
                for (fallback, url) in step.url_fallbacks.iter().enumerate() {
                    urls.push((format!("/auth/steps/{index}/url_fallbacks/{fallback}"), url));
                }
            }
        }
        Auth::AwsSigv4(aws) => {
            if let Some(assume_role) = &aws.assume_role {
                urls.push((
                    "/auth/assume_role/sts_url".to_owned(),
                    assume_role.sts_url_template(),
                ));
            }
        }
        Auth::ApiKey(_) | Auth::Basic(_) | Auth::None(_) | Auth::Signature(_) => {}
        Auth::Jwt(jwt) => {
            if let Some(token_url) = &jwt.token_url {
                urls.push(("/auth/token_url".to_owned(), token_url));
            }
            for (index, url) in jwt.token_url_fallbacks.iter().enumerate() {
                urls.push((format!("/auth/token_url_fallbacks/{index}"), url));
            }
            for (index, step) in jwt.steps.iter().enumerate() {
                urls.push((format!("/auth/steps/{index}/url"), &step.url));
                for (fallback, url) in step.url_fallbacks.iter().enumerate() {
                    urls.push((format!("/auth/steps/{index}/url_fallbacks/{fallback}"), url));
                }
            }
        }
        Auth::App(app) => {
            urls.push(("/auth/token_url".to_owned(), &app.token_url));
            if let Some(url) = &app.user_token_url {
                urls.push(("/auth/user_token_url".to_owned(), url));
            }
        }
        Auth::McpOauth2(mcp) => {
            for (pointer, url) in mcp_urls(mcp) {
                urls.push((pointer.to_owned(), url));
            }
        }
        Auth::Oauth1(oauth1) => {
            urls.push((
                "/auth/request_token_url".to_owned(),
                &oauth1.request_token_url,
            ));
            urls.push((
                "/auth/authorization_url".to_owned(),
                &oauth1.authorization_url,
            ));
            urls.push((
                "/auth/access_token_url".to_owned(),
                &oauth1.access_token_url,
            ));
        }
        Auth::Tba(_) => {}
    }
    if let Some(docs_url) = &provider.docs_url {
        urls.push(("/docs_url".to_owned(), docs_url));
    }
    // Fallbacks come after the primary URLs so that a problem shared by
    // both is reported at the primary one.
    fallbacks.push((
        "/proxy/base_url_fallbacks",
        &provider.proxy.base_url_fallbacks,
    ));
    for (base, list) in fallbacks {
        for (index, url) in list.iter().enumerate() {
            urls.push((format!("{base}/{index}"), url));
        }
    }
    for (index, step) in provider.post_connection.iter().enumerate() {
        urls.push((format!("/post_connection/{index}/url"), &step.url));
    }
    for (_, url) in &urls {
        check_url_variables_constrained(provider, url, patterns, templates, problems);
    }
    for (pointer, url) in urls {
        // The engine checks the scheme and host of a URL taken from an
        // earlier step's reply when it sends the request.
        if leading_step_reply(url) {
            continue;
        }
        if let Err(help) = check_url_scheme(provider, url) {
            problems.push(Problem::new(
                Code::InsecureUrl,
                pointer,
                format!("URL `{url}` does not use https"),
                Some(help),
            ));
        }
    }
}

/// Requires a `pattern` on every connection-config field that a URL uses, so
/// that a connection's value cannot move requests (and the credential that
/// goes with them) to another host.
fn check_url_variables_constrained(
    provider: &Provider,
    url: &str,
    patterns: &ConfigPatterns<'_>,
    templates: &TemplateVariables<'_>,
    problems: &mut Vec<Problem>,
) {
    let Ok(used) = templates.variables(url) else {
        return;
    };
    for variable in used {
        let Some(field) = provider.connection_config.get(&variable) else {
            continue;
        };
        if let Some(format @ (FieldFormat::BaseUrl | FieldFormat::HostPortPath)) = field.format {
            // The format checks the whole value, so no pattern is needed.
            if let Some(problem) = check_url_form_place(&variable, format, url) {
                problems.push(problem);
            }
            continue;
        }
        if field.pattern.is_none() {
            // The message names no URL, so that a field used by several URLs
            // is reported once (`check` drops repeated problems).
            let mut problem = Problem::new(
                Code::UrlFieldWithoutPattern,
                format!("/connection_config/{}", escape_pointer(&variable)),
                format!("connection-config field `{variable}` is used in a URL but has no `pattern`"),
                Some(format!(
                    "add a `pattern` that allows only valid values of `{variable}`, so that a connection cannot send requests to another host"
                )),
            );
            problem.at_key = true;
            problems.push(problem);
            continue;
        }
        let leading = leading_variable(url) == Some(variable.as_str());
        // A pattern that does not compile accepts nothing, as in
        // `ConfigField::accepts`, and is reported by `check_config_fields`.
        let Some(regex) = patterns.regex(&variable) else {
            continue;
        };
        if let Some(problem) = probe_pattern(&variable, field, regex, leading) {
            problems.push(problem);
            continue;
        }
        if leading && captured_from_callback(provider, &variable) {
            if let Some(problem) = check_callback_origin_pattern(&variable, field) {
                problems.push(problem);
            }
        }
    }
}

/// Requires a `base_url` field to start the URL and a `host_port_path`
/// field to be the whole authority right after `https://`, each used once
/// in the URL. Elsewhere the engine gives the value the ordinary check of
/// its place, which rejects the port or path the format allows.
fn check_url_form_place(variable: &str, format: FieldFormat, url: &str) -> Option<Problem> {
    let (placed, name, place) = match format {
        FieldFormat::BaseUrl => (
            leading_variable(url) == Some(variable),
            "base_url",
            "start the URL (`{{ KEY }}/api`)",
        ),
        _ => {
            let after_scheme = url.strip_prefix("https://").filter(|rest| {
                leading_variable(rest) == Some(variable)
                    && rest
                        .find("}}")
                        .and_then(|end| rest[end + 2..].chars().next())
                        .is_none_or(|next| matches!(next, '/' | '?' | '#'))
            });
            (
                after_scheme.is_some(),
                "host_port_path",
                "be the whole authority after `https://` (`https://{{ KEY }}/api`)",
            )
        }
    };
    let word = regex::Regex::new(&format!(r"\b{}\b", regex::escape(variable))).ok()?;
    if placed && word.find_iter(url).count() == 1 {
        return None;
    }
    Some(Problem::new(
        Code::UrlFormOutOfPlace,
        format!("/connection_config/{}/format", escape_pointer(variable)),
        format!("field `{variable}` has `format: {name}`, but the URL `{url}` does not use it where that format applies"),
        Some(format!("a `{name}` field must {place} and appear once in each URL. Elsewhere, replace the format with a `pattern` for the field's place")),
    ))
}

fn captured_from_callback(provider: &Provider, key: &str) -> bool {
    match &provider.auth {
        Auth::Oauth2(oauth) => oauth.callback_connection_config.contains_key(key),
        _ => false,
    }
}

/// Requires a finite pattern on a field that starts a URL and is filled
/// from the OAuth callback. Whoever sends the callback chooses the value,
/// so the pattern must list the provider's hosts: a pattern such as
/// `https://[a-z.]+` would let a forged callback send the code exchange,
/// with the client secret, to any host.
fn check_callback_origin_pattern(variable: &str, field: &ConfigField) -> Option<Problem> {
    let pattern = field.pattern.as_deref()?;
    if pattern_is_finite(pattern) {
        return None;
    }
    Some(Problem::new(
        Code::PermissiveUrlPattern,
        format!("/connection_config/{}/pattern", escape_pointer(variable)),
        format!(
            "pattern `{pattern}` of field `{variable}` accepts unboundedly many hosts, but the field starts a URL and is filled from the OAuth callback, whose query anyone can forge"
        ),
        Some("list the provider's hosts without `*`, `+` or `{n,}`, for example `https://accounts\\.example\\.(com|eu)`".to_owned()),
    ))
}

/// Checks whether a pattern matches only finitely many strings: it parses,
/// and no repetition in it is unbounded. A pattern that does not parse
/// counts as finite, because its syntax error is reported on its own.
fn pattern_is_finite(pattern: &str) -> bool {
    fn finite(hir: &regex_syntax::hir::Hir) -> bool {
        use regex_syntax::hir::HirKind;
        match hir.kind() {
            HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => true,
            HirKind::Repetition(repetition) => repetition.max.is_some() && finite(&repetition.sub),
            HirKind::Capture(capture) => finite(&capture.sub),
            HirKind::Concat(parts) | HirKind::Alternation(parts) => parts.iter().all(finite),
        }
    }
    match regex_syntax::parse(pattern) {
        Ok(hir) => finite(&hir),
        Err(_) => true,
    }
}

/// Values that a pattern of a field inside a URL must reject, because each
/// one would move the URL to another host, port or path.
const HOSTILE_PART_PROBES: [&str; 9] =
    ["a/b", "a\\b", "a@b", "a?b", "a#b", "a:1", "a b", "..", "."];

/// Values that a pattern of a field that starts a URL must reject: user
/// info (which hides the real host after `@`) and schemes other than https.
const HOSTILE_LEADING_PROBES: [&str; 3] = ["https://a@b.c", "https://a:b@c.d", "http://a.b"];

/// Tries the hostile probes against a field's pattern and reports the first
/// one it accepts. `regex` is the field's pattern compiled by
/// [`whole_value_regex`], so it is anchored exactly as
/// [`ConfigField::accepts`] anchors it.
fn probe_pattern(
    variable: &str,
    field: &ConfigField,
    regex: &Regex,
    leading: bool,
) -> Option<Problem> {
    let pattern = field.pattern.as_deref()?;
    let probes: &[&str] = if leading {
        &HOSTILE_LEADING_PROBES
    } else {
        &HOSTILE_PART_PROBES
    };
    let accepted = probes.iter().find(|probe| regex.is_match(probe))?;
    let pointer = format!("/connection_config/{}/pattern", escape_pointer(variable));
    let (message, help) = if leading {
        (
            format!(
                "pattern `{pattern}` of field `{variable}` accepts `{accepted}`, which could send requests to another host or without TLS"
            ),
            "restrict it to `https://` and the provider's own hosts, for example `https://[a-z0-9-]+\\.example\\.com`".to_owned(),
        )
    } else {
        (
            format!(
                "pattern `{pattern}` of field `{variable}` accepts `{accepted}`, which could change the URL's host or path"
            ),
            "restrict it, for example to `[a-z0-9-]+`".to_owned(),
        )
    };
    Some(Problem::new(
        Code::PermissiveUrlPattern,
        pointer,
        message,
        Some(help),
    ))
}

/// Accepts `https://...`, plain `http://` to a loopback host, and a URL that
/// starts with a connection-config variable whose pattern forces `https://`
/// (Salesforce's `{{ instance_url }}`). Returns the help text otherwise.
fn check_url_scheme(provider: &Provider, url: &str) -> Result<(), String> {
    let scheme_rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if let Some(rest) = scheme_rest {
        // User info makes the text before `@` look like the host:
        // `http://localhost:8080@example.com` goes to example.com.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("remove the user info (the part before `@`) from the URL; \
                 credentials go in `inject`, and the host must follow `://` directly"
                .to_owned());
        }
        if authority.is_empty() {
            return Err("write the host after `://`".to_owned());
        }
    }
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(_) => authority.split_inclusive(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        if LOOPBACK_HOSTS.contains(&host) {
            return Ok(());
        }
        return Err(format!(
            "use `https://`; plain http is allowed only for {}",
            LOOPBACK_HOSTS.join(", ")
        ));
    }
    if let Some(variable) = leading_variable(url) {
        let field = provider.connection_config.get(variable);
        let forces_https = field
            .and_then(|field| field.pattern.as_deref())
            .is_some_and(pattern_forces_https)
            || field.is_some_and(|field| field.format == Some(FieldFormat::BaseUrl));
        if forces_https {
            return Ok(());
        }
        return Err(format!(
            "give the connection-config field `{variable}` a pattern that starts with `https://` and has no top-level `|`"
        ));
    }
    Err("start the URL with `https://`".to_owned())
}

/// Checks that every value a whole-value pattern accepts starts with
/// `https://`. The pattern must start with that literal and have no
/// top-level alternation that could offer another start.
fn pattern_forces_https(pattern: &str) -> bool {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    body.starts_with("https://") && !has_top_level_alternation(body)
}

fn has_top_level_alternation(pattern: &str) -> bool {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.saturating_sub(1),
            '|' if !in_class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Extracts the variable of a leading `{{ name }}` expression, if the URL starts with one.
/// Checks whether `url` starts with a value of an earlier step's reply,
/// such as `{{ step1.instance_url }}`.
fn leading_step_reply(url: &str) -> bool {
    let Some(inner) = url.strip_prefix("{{") else {
        return false;
    };
    let root = inner.trim_start().split(['.', ' ', '}', '|']).next();
    root.and_then(step_number).is_some()
}

fn leading_variable(url: &str) -> Option<&str> {
    let inner = url.strip_prefix("{{")?;
    let end = inner.find("}}")?;
    let name = inner[..end].trim();
    let is_identifier =
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_identifier.then_some(name)
}

/// Variables available to every `signature` template besides the
/// connection-config keys.
const SIGNATURE_VARIABLES: [&str; 13] = [
    "method",
    "host",
    "path",
    "query",
    "target_uri",
    "sorted_query",
    "body",
    "body_sha256",
    "body_sha256_base64",
    "timestamp",
    "nonce",
    "username",
    "password",
];

/// Checks the `signature` mode: its templates use only variables in scope,
/// a digest algorithm has no key, and the signature lands in the request.
fn check_signature(provider: &Provider, signature: &Signature, problems: &mut Vec<Problem>) {
    let mut templates = vec![(
        "/auth/string_to_sign".to_owned(),
        signature.string_to_sign.as_str(),
        false,
    )];
    if let Some(key) = &signature.key {
        templates.push(("/auth/key".to_owned(), key.as_str(), false));
    }
    for (base, map) in [
        ("/auth/headers", &signature.headers),
        ("/auth/query", &signature.query),
    ] {
        for (name, value) in map {
            templates.push((
                format!("{base}/{}", escape_pointer(name)),
                value.as_str(),
                true,
            ));
        }
    }

    let mut placed = false;
    for (pointer, text, sees_signature) in templates {
        let used = match compile_template(text) {
            Ok(used) => used,
            Err(detail) => {
                problems.push(Problem::new(
                    Code::InvalidTemplate,
                    pointer,
                    format!("invalid template: {detail}"),
                    Some("write variables as `{{ name }}` (minijinja syntax)".to_owned()),
                ));
                continue;
            }
        };
        placed |= sees_signature && used.contains("signature");
        for variable in used {
            let known = provider.connection_config.contains_key(&variable)
                || SIGNATURE_VARIABLES.contains(&variable.as_str())
                || (sees_signature && variable == "signature");
            if !known {
                problems.push(Problem::new(
                    Code::UndeclaredVariable,
                    pointer.clone(),
                    format!("template variable `{variable}` is not available in this field"),
                    Some(format!(
                        "use a connection-config key or one of {}{}",
                        quoted(&SIGNATURE_VARIABLES),
                        if sees_signature { ", `signature`" } else { "" }
                    )),
                ));
            }
        }
    }

    if signature.key.is_some() && !signature.algorithm.is_keyed() {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/key".to_owned(),
            "a digest algorithm takes no key".to_owned(),
            Some("remove `key` and put the secret into `string_to_sign`, or use an `hmac_*` algorithm".to_owned()),
        ));
    }
    // The server checks the entered password as a PEM key when a connection
    // is created, so an Ed25519 key read from anywhere else could be
    // stored unchecked and fail every request.
    let reads_password = |key: &str| key.split_whitespace().collect::<String>() == "{{password}}";
    if signature.algorithm == crate::signing::SignatureAlgorithm::Ed25519
        && signature
            .key
            .as_deref()
            .is_some_and(|key| !reads_password(key))
    {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/key".to_owned(),
            "an `ed25519` signature is made with the entered password, a PEM private key, \
             which connections are checked against, but `key` reads something else"
                .to_owned(),
            Some("remove `key`, so that the password is the key".to_owned()),
        ));
    }
    if !placed {
        // Underline the key of the mapping that should use the signature
        // (`headers`, `query`, or `mode` when neither is set).
        let pointer = if !signature.headers.is_empty() {
            "/auth/headers"
        } else if !signature.query.is_empty() {
            "/auth/query"
        } else {
            "/auth/mode"
        };
        let mut problem = Problem::new(
            Code::InvalidValue,
            pointer.to_owned(),
            "no value of `headers` or `query` uses `signature`, so requests would go out unsigned"
                .to_owned(),
            Some("add a header such as `X-Signature: \"{{ signature }}\"`".to_owned()),
        );
        problem.at_key = true;
        problems.push(problem);
    }
}

/// Returns the URL templates of an `mcp_oauth2` definition with their
/// JSON pointers.
fn mcp_urls(mcp: &McpOAuth2) -> Vec<(&'static str, &str)> {
    [
        ("/auth/server_url", &mcp.server_url),
        ("/auth/authorization_url", &mcp.authorization_url),
        ("/auth/token_url", &mcp.token_url),
        ("/auth/registration_url", &mcp.registration_url),
    ]
    .into_iter()
    .filter_map(|(pointer, url)| url.as_deref().map(|url| (pointer, url)))
    .collect()
}

fn push_mcp_urls<'a>(fields: &mut Vec<TemplateField<'a>>, mcp: &'a McpOAuth2) {
    for (pointer, url) in mcp_urls(mcp) {
        push_one(fields, pointer, url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_mismatch_offers_only_valid_names() {
        assert_eq!(
            name_mismatch_help("confluence", "conf"),
            "set `name: conf` or rename the file to `confluence.yaml`"
        );
        for stem in [
            "conf\u{fffd}luence",
            "Confluence",
            "conf--x",
            "-conf",
            "conf_x",
            "",
        ] {
            let help = name_mismatch_help("confluence", stem);
            assert!(
                help.starts_with("rename the file to `confluence.yaml`;"),
                "{stem}: {help}"
            );
        }
    }

    #[test]
    fn leading_variable_reads_simple_names() {
        assert_eq!(
            leading_variable("{{ instance_url }}/services"),
            Some("instance_url")
        );
        assert_eq!(leading_variable("{{instance_url}}"), Some("instance_url"));
        assert_eq!(leading_variable("{{ a | upper }}"), None);
        assert_eq!(leading_variable("https://x"), None);
    }

    #[test]
    fn probes_use_whole_value_anchoring() {
        let field = |pattern: &str| ConfigField {
            title: "Field".to_owned(),
            description: None,
            pattern: Some(pattern.to_owned()),
            example: None,
            default: None,
            optional: false,
            automated: false,
            ..ConfigField::default()
        };
        let accepted = |pattern: &str, leading: bool| {
            let regex = whole_value_regex(pattern).expect("test pattern compiles");
            probe_pattern("sub", &field(pattern), &regex, leading).map(|problem| problem.message)
        };

        // (pattern, leading, probe the lint must report)
        #[rustfmt::skip]
        let cases = [
            (".+", false, Some("a/b")),
            ("[a-z]+(/[a-z]+)?", false, Some("a/b")),
            ("[a-z\\\\]+", false, Some("a\\b")),
            ("[a-z@]+", false, Some("a@b")),
            ("[a-z:0-9]+", false, Some("a:1")),
            ("[a-z ]+", false, Some("a b")),
            ("[a-z.]+", false, Some("..")),
            // Unanchored, `^[a-z]+|x$` would accept `a/b`, but anchored as a
            // group it does not.
            ("[a-z]+|x", false, None),
            ("[a-z0-9-]+", false, None),
            ("https://.+", true, Some("https://a@b.c")),
            ("https://[a-z]:[a-z]@[a-z.]+", true, Some("https://a:b@c.d")),
            ("(https|http)://[a-z.]+", true, Some("http://a.b")),
            ("https://[a-z0-9-]+\\.example\\.com", true, None),
        ];

        for (pattern, leading, probe) in cases {
            let message = accepted(pattern, leading);
            match probe {
                Some(probe) => {
                    let message = message.unwrap_or_else(|| panic!("{pattern}: no problem"));
                    assert!(
                        message.contains(&format!("accepts `{probe}`")),
                        "{pattern}: {message}"
                    );
                }
                None => assert_eq!(message, None, "{pattern}"),
            }
        }
    }

    /// Returns the code and path of every diagnostic of a provider file.
    fn diagnostics(yaml: &str) -> Vec<(String, String)> {
        match crate::load::parse_provider("p.yaml", yaml) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics
                .iter()
                .map(|diagnostic| {
                    (
                        diagnostic.code.as_str().to_owned(),
                        diagnostic.path.clone().unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn fixed_basic_halves_checked() {
        let basic = |fields: &str| {
            format!(
                "name: p\ndisplay_name: P\nauth:\n  mode: basic\n{fields}proxy:\n  base_url: https://p.example\n"
            )
        };
        assert_eq!(diagnostics(&basic("  fixed_password: \"\"\n")), []);
        assert_eq!(diagnostics(&basic("  fixed_username: \"\"\n")), []);

        let both = diagnostics(&basic("  fixed_username: \"\"\n  fixed_password: X\n"));
        assert_eq!(both.len(), 1, "{both:?}");
        assert_eq!(both[0].1, "auth.fixed_password");

        let titled = diagnostics(&basic("  password_title: Token\n  fixed_password: X\n"));
        assert_eq!(titled.len(), 1, "{titled:?}");
        assert_eq!(titled[0].1, "auth.password_title");

        let colon = diagnostics(&basic("  fixed_username: \"a:b\"\n"));
        assert_eq!(colon.len(), 1, "{colon:?}");
        assert_eq!(colon[0].1, "auth.fixed_username");
    }

    #[test]
    fn url_fallbacks_checked_like_urls() {
        let oauth = |fallbacks: &str| {
            format!(
                "name: p\ndisplay_name: P\nauth:\n  mode: oauth2\n  authorization_url: https://{{{{ host }}}}/authorize\n  token_url: https://p.example/token\n{fallbacks}connection_config:\n  host: {{title: Host, pattern: \"[a-z]+\\\\.p\\\\.example\", optional: true}}\n  region: {{title: Region, optional: true}}\nproxy:\n  base_url: https://p.example\n"
            )
        };
        let valid = oauth("  authorization_url_fallbacks: [\"https://p.example/authorize\"]\n  token_url_fallbacks: [\"https://p.example/token2\"]\n");
        assert_eq!(diagnostics(&valid), []);

        let insecure = diagnostics(&oauth(
            "  token_url_fallbacks: [\"http://p.example/token\"]\n",
        ));
        assert!(
            insecure.contains(&(
                "insecure-url".to_owned(),
                "auth.token_url_fallbacks[0]".to_owned()
            )),
            "{insecure:?}"
        );
        let unpatterned = diagnostics(&oauth(
            "  authorization_url_fallbacks: [\"https://{{ region }}.p.example/authorize\"]\n",
        ));
        assert!(
            unpatterned.contains(&(
                "url-field-without-pattern".to_owned(),
                "connection_config.region".to_owned()
            )),
            "{unpatterned:?}"
        );
    }

    #[test]
    fn finite_patterns_detected() {
        #[rustfmt::skip]
        let cases = [
            ("https://accounts\\.zoho\\.(com|eu|com\\.au)", true),
            ("https://[a-z]{2}\\.example\\.com", true),
            ("https://(a|b){1,3}\\.example\\.com", true),
            ("https://[a-z]+\\.example\\.com", false),
            ("https://[a-z]*\\.example\\.com", false),
            ("https://[a-z]{2,}\\.example\\.com", false),
            ("https://(eu|[a-z.]+)", false),
        ];
        for (pattern, expected) in cases {
            assert_eq!(pattern_is_finite(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn shown_text_rejects_control_characters() {
        let provider = |display_name: &str, field: &str| {
            format!(
                "name: p\ndisplay_name: \"{display_name}\"\nauth:\n  mode: api_key\n  inject: {{name: X-Key, value: \"{{{{ api_key }}}}\"}}\nconnection_config:\n  team: {field}\nproxy:\n  base_url: https://p.example\n  headers: {{X-Team: \"{{{{ team }}}}\"}}\n"
            )
        };
        let plain = "{title: Team, description: \"Line one.\\nLine two.\"}";
        assert_eq!(diagnostics(&provider("P", plain)), []);

        let cases = [
            ("P\\e]0;x\\a", plain, "display_name"),
            (
                "P",
                "{title: \"T\\r\\nfake\"}",
                "connection_config.team.title",
            ),
            (
                "P",
                "{title: T, example: \"a\\u0085b\"}",
                "connection_config.team.example",
            ),
            (
                "P",
                "{title: T, description: \"a\\rb\"}",
                "connection_config.team.description",
            ),
        ];
        for (display_name, field, path) in cases {
            assert_eq!(
                diagnostics(&provider(display_name, field)),
                [("invalid-value".to_owned(), path.to_owned())],
                "{display_name} {field}"
            );
        }
    }

    #[test]
    fn callback_origin_needs_finite_pattern() {
        let provider = |pattern: &str| {
            format!(
                "name: p\ndisplay_name: P\nauth:\n  mode: oauth2\n  authorization_url: https://p.example/authorize\n  token_url: \"{{{{ server }}}}/token\"\n  callback_connection_config:\n    server: accounts-server\nconnection_config:\n  server: {{title: Server, pattern: \"{pattern}\", automated: true}}\nproxy:\n  base_url: https://p.example\n"
            )
        };
        let listed = provider("https://accounts\\\\.p\\\\.(com|eu)");
        assert_eq!(diagnostics(&listed), []);

        let open = diagnostics(&provider("https://[a-z]+\\\\.p\\\\.com"));
        assert_eq!(
            open,
            [(
                "permissive-url-pattern".to_owned(),
                "connection_config.server.pattern".to_owned()
            )]
        );

        let integration_set = listed.replace("automated: true", "integration_default: true");
        assert_eq!(
            diagnostics(&integration_set),
            [(
                "invalid-value".to_owned(),
                "auth.callback_connection_config.server".to_owned()
            )]
        );
    }

    #[test]
    fn scoped_variables_checked() {
        let provider = |mode: &str, fields: &str, proxy: &str| {
            format!(
                "name: p\ndisplay_name: P\nauth:\n  mode: {mode}\n{fields}proxy:\n  base_url: https://p.example\n{proxy}"
            )
        };
        let oauth = "  authorization_url: https://p.example/authorize\n  token_url: https://p.example/token\n";
        let header_client_id = "  headers: {x-api-key: \"{{ oauth_client_id }}\"}\n";
        let header_random = "  headers: {x-request-id: \"{{ random_token }}\"}\n";
        let nonce = "  authorization_params: {nonce: \"{{ random_token }}\"}\n";
        assert_eq!(
            diagnostics(&provider("oauth2", oauth, header_client_id)),
            []
        );
        assert_eq!(diagnostics(&provider("oauth2", oauth, header_random)), []);
        assert_eq!(
            diagnostics(&provider("oauth2", &format!("{oauth}{nonce}"), "")),
            []
        );

        let api_key = "  inject: {name: x-key, value: \"{{ api_key }}\"}\n";
        let outside_oauth = diagnostics(&provider("api_key", api_key, header_client_id));
        assert_eq!(
            outside_oauth,
            [(
                "undeclared-variable".to_owned(),
                "proxy.headers.x-api-key".to_owned()
            )]
        );
        let client_id_in_url = diagnostics(&provider(
            "oauth2",
            "  authorization_url: https://p.example/{{ oauth_client_id }}\n  token_url: https://p.example/token\n",
            "",
        ));
        assert_eq!(
            client_id_in_url,
            [(
                "undeclared-variable".to_owned(),
                "auth.authorization_url".to_owned()
            )]
        );
        let header_path = "  headers: {x-sig: \"{{ request_path | sha256_hex }}\"}\n";
        assert_eq!(diagnostics(&provider("oauth2", oauth, header_path)), []);
        let path_in_token_url = diagnostics(&provider(
            "oauth2",
            "  authorization_url: https://p.example/authorize\n  token_url: https://p.example/{{ request_path }}\n",
            "",
        ));
        assert_eq!(
            path_in_token_url,
            [(
                "undeclared-variable".to_owned(),
                "auth.token_url".to_owned()
            )]
        );
        let with_steps = format!(
            "{header_path}post_connection:\n  - url: https://p.example/me\n    metadata: {{me: $}}\n"
        );
        let path_with_steps = diagnostics(&provider("oauth2", oauth, &with_steps));
        assert_eq!(
            path_with_steps,
            [(
                "undeclared-variable".to_owned(),
                "proxy.headers.x-sig".to_owned()
            )]
        );
        let random_in_url = diagnostics(&provider(
            "oauth2",
            "  authorization_url: https://p.example/authorize\n  token_url: https://p.example/{{ random_token }}\n",
            "",
        ));
        assert_eq!(
            random_in_url,
            [(
                "undeclared-variable".to_owned(),
                "auth.token_url".to_owned()
            )]
        );
    }

    #[test]
    fn https_pattern_without_alternation() {
        assert!(pattern_forces_https("https://[a-z.]+"));
        assert!(pattern_forces_https("^https://(eu|us)\\.example\\.com"));
        assert!(pattern_forces_https("https://[|a-z]+"));
        assert!(!pattern_forces_https("https://a|http://b"));
        assert!(!pattern_forces_https("http://a"));
    }
    #[test]
    fn signature_templates_checked() {
        let signature = |fields: &str| {
            format!(
                "name: p\ndisplay_name: P\nauth:\n  mode: signature\n  encoding: hex\n{fields}proxy:\n  base_url: https://p.example\n"
            )
        };
        let placed = "  headers:\n    X-Sig: \"{{ signature }}\"\n";
        let valid = format!("  algorithm: hmac_sha256\n  string_to_sign: \"{{{{ method }}}}{{{{ body }}}}\"\n{placed}");
        assert_eq!(diagnostics(&signature(&valid)), []);

        let unknown =
            format!("  algorithm: hmac_sha256\n  string_to_sign: \"{{{{ verb }}}}\"\n{placed}");
        assert_eq!(
            diagnostics(&signature(&unknown)),
            [(
                "undeclared-variable".to_owned(),
                "auth.string_to_sign".to_owned()
            )]
        );

        let early = format!(
            "  algorithm: hmac_sha256\n  string_to_sign: \"{{{{ signature }}}}\"\n{placed}"
        );
        assert_eq!(
            diagnostics(&signature(&early)),
            [(
                "undeclared-variable".to_owned(),
                "auth.string_to_sign".to_owned()
            )]
        );

        let keyed_digest = format!("  algorithm: sha1\n  key: k\n  string_to_sign: x\n{placed}");
        assert_eq!(
            diagnostics(&signature(&keyed_digest)),
            [("invalid-value".to_owned(), "auth.key".to_owned())]
        );

        for (key, expected) in [
            ("\"{{password}}\"", vec![]),
            (
                "\"not a pem\"",
                vec![("invalid-value".to_owned(), "auth.key".to_owned())],
            ),
            (
                "\"{{ username }}\"",
                vec![("invalid-value".to_owned(), "auth.key".to_owned())],
            ),
        ] {
            let ed25519 =
                format!("  algorithm: ed25519\n  key: {key}\n  string_to_sign: x\n{placed}");
            assert_eq!(diagnostics(&signature(&ed25519)), expected, "key {key}");
        }

        let unplaced = "  algorithm: hmac_sha1\n  string_to_sign: x\n  headers:\n    X-Time: \"{{ timestamp }}\"\n";
        assert_eq!(
            diagnostics(&signature(unplaced)),
            [("invalid-value".to_owned(), "auth.headers".to_owned())]
        );
    }
}
