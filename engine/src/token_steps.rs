//! The `steps` of a `two_step` login or of a `jwt` exchange: a first
//! request followed by further requests, each of which may use the JSON
//! replies of the earlier ones as `step1`, `step2`, and so on. The last
//! reply carries the token.

use std::collections::BTreeMap;

use chrono::Utc;
use latchkey_catalog::{
    step_number, step_variable, Provider, TokenRequest, TokenResponse, TwoStep,
};
use serde_json::Value;
use url::Url;

use crate::cookies::capture_cookies;
use crate::redact::redact;
use crate::template::{render, render_url_with_fallbacks, variable_paths};
use crate::token_response::{lookup, parse_token_reply, RawReply};
use crate::transport::TokenTransport;
use crate::two_step::{build_request, rejected, BODY_START_CHARS};
use crate::url_template::check_public_host;
use crate::{Engine, EngineError, Secret, TokenGrant};

/// Strings of earlier replies shorter than this are not redacted from a
/// later step's error, because short values such as `Bearer` or `3600`
/// would hide most of the reply and are no secrets.
const MIN_REDACTED_CHARS: usize = 8;

impl Engine {
    /// Sends `token_request` and then each of `settings.steps`, and reads
    /// the token from the last reply. The reply to request `n` becomes the
    /// variable `step<n>` of every later request. A failure names the
    /// request's number in the chain. No error quotes `secrets`, the
    /// values that the requests send besides the entered ones.
    pub(crate) async fn send_chain(
        &self,
        provider: &Provider,
        settings: &TwoStep,
        vars: &Value,
        fields: &BTreeMap<String, Secret>,
        secrets: Vec<String>,
    ) -> Result<TokenGrant, EngineError> {
        let requests: Vec<(String, &TokenRequest)> =
            std::iter::once(("auth.token_request".to_owned(), &settings.token_request))
                .chain(
                    settings
                        .steps
                        .iter()
                        .enumerate()
                        .map(|(index, step)| (format!("auth.steps.{index}"), step)),
                )
                .collect();
        let start = ChainStart {
            vars: vars.clone(),
            replies: Vec::new(),
            first_url: None,
            last_status: None,
            secrets,
            log_label: "two_step",
        };
        self.continue_chain(provider, &requests, &settings.token_response, start, fields)
            .await
    }

    /// Sends `requests` in order after the requests of `start`, and reads
    /// the token from the last reply with `token_response`. The first of
    /// `requests` is number `start.replies.len() + 1` of the chain.
    pub(crate) async fn continue_chain(
        &self,
        provider: &Provider,
        requests: &[(String, &TokenRequest)],
        token_response: &TokenResponse,
        start: ChainStart,
        fields: &BTreeMap<String, Secret>,
    ) -> Result<TokenGrant, EngineError> {
        let ChainStart {
            mut vars,
            mut replies,
            mut first_url,
            mut last_status,
            secrets: earlier_secrets,
            log_label,
        } = start;
        let last = replies.len() + requests.len();

        for (field, request) in requests {
            let number = replies.len() + 1;
            let mut secrets = chain_secrets(fields, &replies);
            secrets.extend(earlier_secrets.iter().cloned());
            let unusable = |error| {
                let error = unusable_reply(provider, field, request, number, last_status, error);
                redact_chain(error, &secrets)
            };
            let (url, http_request) =
                build_request(provider, field, request, &vars).map_err(unusable)?;
            match &first_url {
                None => first_url = Some(url.clone()),
                Some(first) if uses_step_reply(request) => {
                    check_step_host(provider, field, first, &url).map_err(unusable)?;
                }
                Some(_) => {}
            }

            let obtained_at = Utc::now();
            let mut transport = TokenTransport::new(&self.http, &provider.name, log_label, &url);
            // Only the last reply is read with `token_response`, because the
            // earlier ones must be JSON objects.
            if number == last {
                transport = transport.reading(token_response);
            }
            let reply = transport
                .send(http_request)
                .await
                .map_err(|error| in_step(error, number))?;
            if !(200..300).contains(&reply.status) {
                let mut error = rejected(provider, &reply, secrets.iter().map(String::as_str));
                if let EngineError::CredentialsRejected { step, .. } = &mut error {
                    *step = Some(number);
                }
                return Err(error);
            }

            if number == last {
                let mut grant =
                    parse_token_reply(&provider.name, token_response, &reply, obtained_at, None)
                        .map_err(|error| in_step(redact_chain(error, &secrets), number))?;
                capture_cookies(&provider.name, token_response, &reply, &mut grant)
                    .map_err(|error| in_step(redact_chain(error, &secrets), number))?;
                capture_from_earlier(token_response, &replies, &mut grant);
                return Ok(grant);
            }

            let object = step_reply(provider, number, &reply, &secrets)?;
            if let Value::Object(map) = &mut vars {
                map.insert(step_variable(number), object.clone());
            }
            replies.push(object);
            last_status = Some(reply.status);
        }
        Err(EngineError::Unsupported(format!(
            "provider `{}` has no request left in its token request chain",
            provider.name
        )))
    }
}

/// The state that a chain carries over from the requests sent before
/// [`Engine::continue_chain`] is called.
pub(crate) struct ChainStart {
    /// The template variables, with `step<n>` set for each earlier reply.
    pub vars: Value,
    /// The JSON replies of the earlier requests, in order.
    pub replies: Vec<Value>,
    /// The URL of the chain's first request, against which a URL taken
    /// from a reply is checked.
    pub first_url: Option<Url>,
    /// The HTTP status of the latest of `replies`, or `None` when there
    /// is no earlier reply.
    pub last_status: Option<u16>,
    /// Values that earlier requests sent and that no error may quote, such
    /// as a signed JWT assertion.
    pub secrets: Vec<String>,
    /// The kind of request that logs of the chain's requests name.
    pub log_label: &'static str,
}

/// Redacts the chain's entered values and earlier reply strings from a
/// 2xx reply that is quoted because it is not a usable token reply.
fn redact_chain(error: EngineError, secrets: &[String]) -> EngineError {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    error.redact_quoted(&secrets)
}

/// Renders the URL of a token request. A URL that uses an earlier reply
/// (`{{ step1.instance_url }}`) is rendered as it stands, because the
/// connection-config checks of [`render_url_with_fallbacks`] apply to
/// connection-config values only; [`check_step_host`] checks its host.
pub(crate) fn render_request_url(
    provider: &Provider,
    field: &str,
    request: &TokenRequest,
    vars: &Value,
) -> Result<Url, EngineError> {
    let url_field = format!("{field}.url");
    if !uses_step_reply(request) {
        return render_url_with_fallbacks(
            provider,
            &url_field,
            &request.url,
            &request.url_fallbacks,
            vars,
        );
    }
    let text = render(&provider.name, &url_field, &request.url, vars)?;
    let url = Url::parse(text.trim()).map_err(|error| {
        EngineError::template(
            &provider.name,
            &url_field,
            format!("the rendered URL {text:?} is not a valid absolute URL: {error}"),
        )
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(EngineError::template(
            &provider.name,
            &url_field,
            format!("the rendered URL {text:?} is not an http or https URL"),
        ));
    }
    Ok(url)
}

/// Checks whether the URL of `request` reads a `step<n>` variable.
fn uses_step_reply(request: &TokenRequest) -> bool {
    reads_step_reply(&request.url)
}

/// Checks whether `template` reads a `step<n>` variable.
fn reads_step_reply(template: &str) -> bool {
    variable_paths(template).iter().any(|path| {
        let root = path.split('.').next().unwrap_or(path);
        step_number(root).is_some()
    })
}

/// Reports a template error of request `number` as an invalid provider
/// reply when the failing template reads an earlier reply (`step<n>`):
/// the reply lacks a member that the template reads, or gave a URL that
/// the chain rejects. The definition cannot be fixed for such a reply,
/// so it is the provider's error, not a `template_error` of the server.
/// Other errors, and errors of a request without an earlier reply, are
/// returned unchanged.
///
/// NOTE: a template that reads a reply and also a connection-config value
/// that is missing is reported as an invalid reply too. The message still
/// names the undefined variable.
fn unusable_reply(
    provider: &Provider,
    field: &str,
    request: &TokenRequest,
    number: usize,
    last_status: Option<u16>,
    error: EngineError,
) -> EngineError {
    let (
        Some(status),
        EngineError::Template {
            field: failed,
            message,
            ..
        },
    ) = (last_status, &error)
    else {
        return error;
    };
    let reads_reply = templates_of_field(field, request, failed)
        .into_iter()
        .any(reads_step_reply);
    if !reads_reply {
        return error;
    }
    EngineError::InvalidResponse {
        status,
        message: format!(
            "provider `{}` sent a reply that request {number} of the token request chain cannot use: field `{failed}`: {message}",
            provider.name
        ),
        body_start: String::new(),
    }
}

/// Lists the templates of `request` (at `field` of the definition) that
/// the error field `failed` names: the URL with its fallbacks, one
/// parameter or one header, or every template of the request when
/// `failed` names the request as a whole.
fn templates_of_field<'a>(field: &str, request: &'a TokenRequest, failed: &str) -> Vec<&'a str> {
    let url = || {
        std::iter::once(request.url.as_str())
            .chain(request.url_fallbacks.iter().map(String::as_str))
    };
    let params = |key: Option<&str>| {
        let mut templates = Vec::new();
        for (name, value) in &request.params {
            if key.is_none_or(|key| key == name || key.starts_with(&format!("{name}."))) {
                collect_templates(value, &mut templates);
            }
        }
        templates
    };
    let rest = failed.strip_prefix(field).unwrap_or_default();
    if rest == ".url" {
        return url().collect();
    }
    if let Some(key) = rest.strip_prefix(".params.") {
        return params(Some(key));
    }
    if let Some(name) = rest.strip_prefix(".headers.") {
        return request
            .headers
            .get(name)
            .map(String::as_str)
            .into_iter()
            .collect();
    }
    let mut templates: Vec<&str> = url().collect();
    templates.extend(params(None));
    templates.extend(request.headers.values().map(String::as_str));
    templates
}

/// Collects every string inside a parameter value, each a template.
fn collect_templates<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_templates(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_templates(item, out)),
        _ => {}
    }
}

/// Checks the host of a step URL taken from a provider's reply: it must be
/// the scheme, host and port of the first request, or an https URL on a
/// public DNS name, so that a reply cannot send the entered values to a
/// plain-http or internal address.
fn check_step_host(
    provider: &Provider,
    field: &str,
    first: &Url,
    url: &Url,
) -> Result<(), EngineError> {
    if url.origin() == first.origin() {
        return Ok(());
    }
    let reason = if url.scheme() != "https" {
        Some("it does not use https".to_owned())
    } else {
        check_public_host(url).err()
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(EngineError::template(
            &provider.name,
            &format!("{field}.url"),
            format!(
                "the URL taken from an earlier reply points to `{}`, which is rejected because {reason}; a step URL must keep the first request's scheme, host and port, or be an https URL on a public host",
                url.origin().ascii_serialization()
            ),
        )),
    }
}

/// Decodes the reply to a request that is not the last one, which must be
/// a JSON object for later requests to read.
pub(crate) fn step_reply(
    provider: &Provider,
    number: usize,
    reply: &RawReply,
    secrets: &[String],
) -> Result<Value, EngineError> {
    match serde_json::from_slice::<Value>(&reply.body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => {
            let body = String::from_utf8_lossy(&reply.body);
            let text = redact(&body, secrets.iter().map(String::as_str));
            Err(EngineError::InvalidResponse {
                status: reply.status,
                message: format!(
                    "provider `{}` replied to request {number} of the token request chain with a body that is not a JSON object, which the later requests need",
                    provider.name
                ),
                body_start: text.trim().chars().take(BODY_START_CHARS).collect(),
            })
        }
    }
}

/// Fills the `token_response.connection_config` keys that the last reply
/// lacks from the earlier replies, the latest first.
fn capture_from_earlier(token_response: &TokenResponse, replies: &[Value], grant: &mut TokenGrant) {
    for (key, path) in &token_response.connection_config {
        if grant.connection_config.contains_key(key) {
            continue;
        }
        let found = replies
            .iter()
            .rev()
            .find_map(|reply| lookup(reply, path).filter(|value| !value.is_null()));
        if let Some(value) = found {
            grant.connection_config.insert(key.clone(), value.clone());
        }
    }
}

/// Lists what a step's error must not quote: the entered values, and the
/// strings of the earlier replies (which may hold a token that a later
/// request sends), except short ones and URLs.
fn chain_secrets(fields: &BTreeMap<String, Secret>, replies: &[Value]) -> Vec<String> {
    let mut secrets: Vec<String> = fields
        .values()
        .map(|secret| secret.expose().to_owned())
        .collect();
    for reply in replies {
        collect_strings(reply, &mut secrets);
    }
    secrets
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            let is_url = text.starts_with("https://") || text.starts_with("http://");
            if text.chars().count() >= MIN_REDACTED_CHARS && !is_url {
                out.push(text.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

/// Adds the request's number in the chain to an error without one.
fn in_step(error: EngineError, number: usize) -> EngineError {
    let prefix = format!("request {number} of the token request chain");
    match error {
        EngineError::Transport(message) => EngineError::Transport(format!("{prefix}: {message}")),
        EngineError::InvalidResponse {
            status,
            message,
            body_start,
        } => EngineError::InvalidResponse {
            status,
            message: format!("{prefix}: {message}"),
            body_start,
        },
        other => other,
    }
}
