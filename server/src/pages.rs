//! The small HTML pages of the end user's browser flow.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use latchkey_catalog::{
    Auth, ConfigField, FieldFormat, FieldType, JwtAlgorithm, Provider, SignatureAlgorithm,
};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Middleware for the browser-flow routes: their URLs and pages carry the
/// connect session token, so no Referer may leak them, no cache may keep
/// them and no other site may frame them (clickjacking).
pub async fn add_browser_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    response
}

/// Serializes a value as a JavaScript literal that is safe inside a
/// `<script>` element: `<`, `>` and `&` are written as `\u` escapes.
fn script_literal(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The action of a result page's script after it posts `message` to
/// `window.opener`.
#[derive(Clone, Copy)]
enum AfterMessage {
    /// Closes a popup, so the application gets the result at once.
    ClosePopup,
    /// Keeps the page open, so the end user can read the error.
    Stay,
}

fn page(
    title: &str,
    body_attributes: &str,
    content: &str,
    message: Option<(&serde_json::Value, AfterMessage)>,
) -> String {
    // The target origin of postMessage is `*` because the server does not
    // know the opener's origin: any web application may open the connect
    // link. The message carries only the integration key and connection id,
    // or an error code and description, never a credential.
    let script = match message {
        Some((message, after)) => {
            let close = match after {
                AfterMessage::ClosePopup => "setTimeout(function () { window.close(); }, 300);\n",
                AfterMessage::Stay => "",
            };
            format!(
                "<script>\n\
                 if (window.opener) {{\n\
                 window.opener.postMessage({}, '*');\n\
                 {close}}}\n\
                 </script>\n",
                script_literal(message)
            )
        }
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n</head>\n<body{body_attributes}>\n{content}{script}</body>\n</html>\n",
        escape_html(title)
    )
}

/// The callback page after a connection was stored. It closes itself when
/// it runs in a popup (`window.opener` is set).
pub fn authorization_succeeded(provider_config_key: &str, connection_id: &str) -> Response {
    let message = json!({
        "eventType": "AUTHORIZATION_SUCEEDED",
        "data": { "providerConfigKey": provider_config_key, "connectionId": connection_id },
    });
    let attributes = format!(
        " data-connection-id=\"{}\" data-provider-config-key=\"{}\"",
        escape_html(connection_id),
        escape_html(provider_config_key)
    );
    let content = format!(
        "<h1>Account connected</h1>\n<p>integration: {}</p>\n<p>connection_id: {}</p>\n\
         <p>You can close this window.</p>\n",
        escape_html(provider_config_key),
        escape_html(connection_id)
    );
    let message = (&message, AfterMessage::ClosePopup);
    let html = page("Account connected", &attributes, &content, Some(message));
    (StatusCode::OK, Html(html)).into_response()
}

/// Target of the failure page's "Go back and try again" link.
#[derive(Clone, Copy)]
pub enum Retry<'a> {
    /// The connect page of the session, at this URL.
    ConnectPage(&'a str),
    /// The previous page in the browser's history, when the session token
    /// is not known (the OAuth callback).
    HistoryBack,
}

/// Renders the page after a failure in the browser flow. `error_type` is a
/// Latchkey error code or the provider's own OAuth error code. `explanation`
/// is written for the end user, and `error_description` is the technical
/// message, which the page also posts to `window.opener`. The page does not
/// close itself and links back to the form.
pub fn authorization_failed(
    status: StatusCode,
    error_type: &str,
    explanation: &str,
    error_description: &str,
    retry: Retry,
) -> Response {
    let message = json!({
        "eventType": "AUTHORIZATION_FAILED",
        "data": { "error_type": error_type, "error_desc": error_description },
    });
    let attributes = format!(" data-error-code=\"{}\"", escape_html(error_type));
    let link = match retry {
        Retry::ConnectPage(url) => format!(
            "<a href=\"{}\" data-retry=\"connect-page\">Go back and try again</a>",
            escape_html(url)
        ),
        Retry::HistoryBack => "<a href=\"#\" data-retry=\"history\" \
             onclick=\"history.back(); return false;\">Go back and try again</a>"
            .to_owned(),
    };
    let content = format!(
        "<h1>Connection failed</h1>\n<p>{}</p>\n<p>{link}</p>\n\
         <p>error: {}</p>\n<p>description: {}</p>\n",
        escape_html(explanation),
        escape_html(error_type),
        escape_html(error_description)
    );
    let message = (&message, AfterMessage::Stay);
    let html = page("Connection failed", &attributes, &content, Some(message));
    (status, Html(html)).into_response()
}

/// Renders a Latchkey error as the failure page, with the sentence for the
/// end user, and records its code for the request log line.
pub fn browser_error(error: ApiError, retry: Retry) -> Response {
    let explanation = explain_for_end_user(error.code, &error.message);
    let mut page = authorization_failed(
        error.status,
        error.code,
        &explanation,
        &error.message,
        retry,
    );
    page.extensions_mut().insert(ErrorCode(error.code));
    page
}

/// Renders an error of a browser route (`GET /connect`, `GET /oauth/connect`)
/// as JSON when the request asked for it (see [`wants_json`]), else as the
/// failure page.
pub fn browser_route_error(headers: &HeaderMap, error: ApiError, retry: Retry) -> Response {
    if wants_json(headers) {
        return error.into_response();
    }
    browser_error(error, retry)
}

/// Returns whether a browser-route request expects JSON errors: its `Accept`
/// header names `application/json` and not `text/html`. Browsers send
/// `text/html` when they navigate, so they get the HTML page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/html")
}

/// Builds the URL of a session's connect page, for the failure page's link.
pub fn connect_page_url(public_url: &str, session_token: &str) -> String {
    let token: String = url::form_urlencoded::byte_serialize(session_token.as_bytes()).collect();
    format!("{public_url}/connect?session_token={token}")
}

/// Returns a sentence for the end user about a Latchkey error on a browser
/// route. The technical message names API calls of the application, which
/// the end user cannot make.
pub fn explain_for_end_user(code: &str, message: &str) -> String {
    match code {
        "invalid_connect_session_token" => "This link has expired or is not valid. Ask the \
             application that sent you here for a new one."
            .to_owned(),
        "integration_not_allowed" => "This link does not allow connecting this account. Ask the \
             application that sent you here for a new link."
            .to_owned(),
        "connect_session_used" => "This link was already used to connect this account. Ask the \
             application that sent you here for a new link to connect another one."
            .to_owned(),
        "invalid_connection_config" | "invalid_credentials" => {
            format!("A value you entered is not valid: {message}")
        }
        "missing_client_credentials" => "This account cannot be connected yet, because the \
             application that sent you here has not finished setting up this integration. \
             Ask it to complete the setup."
            .to_owned(),
        _ => format!("The account could not be connected: {message}"),
    }
}

/// The inputs of one form of the connect page, by auth mode.
pub enum FormKind<'a> {
    /// Only connection-config values, then the browser goes to the provider.
    OAuth2,
    ApiKey {
        key_title: &'a str,
    },
    /// Each title is `None` when the provider fixes that half, so the form
    /// has no input for it.
    Basic {
        username_title: Option<&'a str>,
        password_title: Option<&'a str>,
    },
    /// A `signature` provider's key pair. The password is a PEM private key
    /// for `ed25519`, so the form shows a textarea for it.
    Signature {
        username_title: &'a str,
        password_title: &'a str,
        pem_password: bool,
    },
    /// AWS access keys, with an optional session token.
    AwsSigV4,
    /// The IAM role ARN of an `aws_sigv4` provider with `assume_role`.
    AwsAssumeRole,
    /// The token id and token secret of token-based authentication.
    Tba,
    /// The credential fields that a `two_step`, `session` or `jwt`
    /// definition declares, posted as `credentials[NAME]` to
    /// `/connect/{unique_key}/{route}`.
    EnteredFields {
        route: &'static str,
        fields: Vec<EnteredField<'a>>,
    },
}

/// One credential field of a [`FormKind::EnteredFields`] form.
pub struct EnteredField<'a> {
    pub name: &'a str,
    pub field: &'a ConfigField,
    /// Whether the value spans lines, such as the PEM private key that a
    /// `jwt` definition signs with, so the form shows a textarea.
    pub multiline: bool,
}

/// One integration of the connect page and the form that connects it.
pub struct ConnectForm<'a> {
    pub unique_key: &'a str,
    pub display_name: &'a str,
    pub kind: FormKind<'a>,
    /// Connection-config fields the end user fills in, by name.
    pub fields: Vec<(&'a str, &'a ConfigField)>,
}

impl<'a> ConnectForm<'a> {
    /// Builds the form for an integration of `provider`, or `None` for the
    /// client-credentials grant, whose connections the application creates.
    /// Fields marked `automated` are left out because Latchkey fills them,
    /// and so are the keys of `integration_values`, whose values the
    /// connection takes from the integration.
    pub fn new(
        unique_key: &'a str,
        display_name: &'a str,
        provider: &'a Provider,
        integration_values: &BTreeMap<String, String>,
    ) -> Option<ConnectForm<'a>> {
        let kind = match &provider.auth {
            Auth::Oauth2(_) => FormKind::OAuth2,
            Auth::ApiKey(settings) => FormKind::ApiKey {
                key_title: settings.key_title.as_deref().unwrap_or("API key"),
            },
            Auth::Basic(settings) => FormKind::Basic {
                username_title: settings
                    .fixed_username
                    .is_none()
                    .then(|| settings.username_title.as_deref().unwrap_or("Username")),
                password_title: settings
                    .fixed_password
                    .is_none()
                    .then(|| settings.password_title.as_deref().unwrap_or("Password")),
            },
            Auth::Oauth2ClientCredentials(_) => return None,
            Auth::TwoStep(settings) => {
                entered_fields_form("two-step", &settings.credentials, None, integration_values)
            }
            Auth::Session(settings) => {
                entered_fields_form("session", &settings.credentials, None, integration_values)
            }
            Auth::None(_) => return None,
            Auth::Signature(settings) => FormKind::Signature {
                username_title: settings.username_title.as_deref().unwrap_or("Key id"),
                password_title: settings.password_title.as_deref().unwrap_or("Secret"),
                pem_password: settings.algorithm == SignatureAlgorithm::Ed25519,
            },
            Auth::AwsSigv4(aws) if aws.assume_role.is_some() => FormKind::AwsAssumeRole,
            Auth::AwsSigv4(_) => FormKind::AwsSigV4,
            Auth::Jwt(settings) => {
                let pem_key = settings.algorithm != JwtAlgorithm::HS256;
                let signing_key = pem_key.then_some(settings.signing_key.as_str());
                entered_fields_form(
                    "jwt",
                    &settings.credentials,
                    signing_key,
                    integration_values,
                )
            }
            Auth::McpOauth2(_) => FormKind::OAuth2,
            Auth::Oauth1(_) => FormKind::OAuth2,
            Auth::Tba(_) => FormKind::Tba,
            // The install page of the app is reached through the same
            // browser-flow route as an OAuth authorization.
            Auth::App(_) => FormKind::OAuth2,
        };
        let fields = provider
            .connection_config
            .iter()
            .filter(|(_, field)| !field.automated)
            .filter(|(name, _)| !integration_values.contains_key(*name))
            .map(|(name, field)| (name.as_str(), field))
            .collect();
        Some(ConnectForm {
            unique_key,
            display_name,
            kind,
            fields,
        })
    }
}

/// Builds the form of the credential fields a definition declares, except
/// those whose values the connection takes from `integration_values`. A
/// field that `pem_signing_key` (the `signing_key` template of an RS256 or
/// ES256 `jwt` definition) reads gets a textarea, because a PEM key spans
/// lines.
fn entered_fields_form<'a>(
    route: &'static str,
    credentials: &'a BTreeMap<String, ConfigField>,
    pem_signing_key: Option<&str>,
    integration_values: &BTreeMap<String, String>,
) -> FormKind<'a> {
    let fields = credentials
        .iter()
        .filter(|(name, _)| !integration_values.contains_key(*name))
        .map(|(name, field)| EnteredField {
            name,
            field,
            multiline: pem_signing_key
                .is_some_and(|template| template.contains(&format!("credentials.{name}"))),
        })
        .collect();
    FormKind::EnteredFields { route, fields }
}

/// Renders the page behind a connect session's `connect_link`: one form per
/// integration, each sending the session token along.
pub fn connect_page(public_url: &str, session_token: &str, forms: &[ConnectForm]) -> Response {
    let mut content = String::from("<h1>Connect an account</h1>\n");
    if forms.is_empty() {
        content
            .push_str("<p>This session allows no integration that an end user can connect.</p>\n");
    }
    for form in forms {
        content.push_str(&render_form(public_url, session_token, form));
    }
    let html = page("Connect an account", "", &content, None);
    (StatusCode::OK, Html(html)).into_response()
}

fn render_form(public_url: &str, session_token: &str, form: &ConnectForm) -> String {
    let key = form.unique_key;
    let token: String = url::form_urlencoded::byte_serialize(session_token.as_bytes()).collect();
    let (method, action, mut inputs) = match &form.kind {
        FormKind::OAuth2 => (
            "get",
            format!("{public_url}/oauth/connect/{key}"),
            format!(
                "<input type=\"hidden\" name=\"connect_session_token\" value=\"{}\">\n",
                escape_html(session_token)
            ),
        ),
        FormKind::ApiKey { key_title } => (
            "post",
            format!("{public_url}/connect/{key}/api-key?connect_session_token={token}"),
            credential_input(key, "api_key", "password", key_title),
        ),
        FormKind::Basic {
            username_title,
            password_title,
        } => (
            "post",
            format!("{public_url}/connect/{key}/basic?connect_session_token={token}"),
            username_title
                .map(|title| credential_input(key, "username", "text", title))
                .unwrap_or_default()
                + &password_title
                    .map(|title| credential_input(key, "password", "password", title))
                    .unwrap_or_default(),
        ),
        FormKind::Signature {
            username_title,
            password_title,
            pem_password,
        } => {
            let password = if *pem_password {
                credential_textarea(key, "password", password_title)
            } else {
                credential_input(key, "password", "password", password_title)
            };
            (
                "post",
                format!("{public_url}/connect/{key}/signature?connect_session_token={token}"),
                credential_input(key, "username", "text", username_title) + &password,
            )
        }
        FormKind::AwsSigV4 => (
            "post",
            format!("{public_url}/connect/{key}/aws-sigv4?connect_session_token={token}"),
            credential_input(key, "access_key_id", "text", "Access key ID")
                + &credential_input(key, "secret_access_key", "password", "Secret access key")
                + &optional_credential_input(key, "session_token", "Session token (optional)"),
        ),
        FormKind::AwsAssumeRole => (
            "post",
            format!("{public_url}/connect/{key}/aws-sigv4?connect_session_token={token}"),
            credential_input(key, "role_arn", "text", "IAM role ARN"),
        ),
        FormKind::Tba => (
            "post",
            format!("{public_url}/connect/{key}/tba?connect_session_token={token}"),
            credential_input(key, "token_id", "password", "Token ID")
                + &credential_input(key, "token_secret", "password", "Token secret"),
        ),
        FormKind::EnteredFields { route, fields } => (
            "post",
            format!("{public_url}/connect/{key}/{route}?connect_session_token={token}"),
            fields
                .iter()
                .map(|entered| {
                    let id = format!("{key}-credentials-{}", entered.name);
                    let name = format!("credentials[{}]", entered.name);
                    field_input(&id, &name, entered.field, entered.multiline)
                })
                .collect(),
        ),
    };
    for (name, field) in &form.fields {
        inputs.push_str(&config_input(key, name, field));
    }
    format!(
        "<section>\n<h2>{}</h2>\n<form method=\"{method}\" action=\"{}\" data-integration=\"{}\">\n\
         {inputs}<button type=\"submit\">Connect</button>\n</form>\n</section>\n",
        escape_html(form.display_name),
        escape_html(&action),
        escape_html(key)
    )
}

/// Renders a required input for a credential (`api_key`, `username`, `password`).
fn credential_input(unique_key: &str, name: &str, input_type: &str, label: &str) -> String {
    let id = escape_html(&format!("{unique_key}-{name}"));
    format!(
        "<p>\n<label for=\"{id}\">{}</label>\n\
         <input type=\"{input_type}\" id=\"{id}\" name=\"{name}\" required autocomplete=\"off\">\n</p>\n",
        escape_html(label)
    )
}

/// Renders a required secret that spans lines, such as a PEM private key.
fn credential_textarea(unique_key: &str, name: &str, label: &str) -> String {
    let id = escape_html(&format!("{unique_key}-{name}"));
    format!(
        "<p>\n<label for=\"{id}\">{}</label>\n\
         <textarea id=\"{id}\" name=\"{name}\" rows=\"8\" spellcheck=\"false\" required \
         autocomplete=\"off\"></textarea>\n</p>\n",
        escape_html(label)
    )
}

/// Renders an optional secret input, such as an AWS session token.
fn optional_credential_input(unique_key: &str, name: &str, label: &str) -> String {
    let id = escape_html(&format!("{unique_key}-{name}"));
    format!(
        "<p>\n<label for=\"{id}\">{}</label>\n\
         <input type=\"password\" id=\"{id}\" name=\"{name}\" autocomplete=\"off\">\n</p>\n",
        escape_html(label)
    )
}

/// Renders the input of one connection-config field, sent as `params[NAME]`.
fn config_input(unique_key: &str, name: &str, field: &ConfigField) -> String {
    let id = format!("{unique_key}-params-{name}");
    field_input(&id, &format!("params[{name}]"), field, false)
}

/// Renders a labelled input for `field`, sent as `input_name`: a textarea
/// when `multiline`, else an `<input>` whose type follows the field (a
/// password input for a secret).
fn field_input(id: &str, input_name: &str, field: &ConfigField, multiline: bool) -> String {
    let id = escape_html(id);
    let mut attributes = if multiline {
        format!(
            " id=\"{id}\" name=\"{}\" rows=\"8\" spellcheck=\"false\"",
            escape_html(input_name)
        )
    } else {
        format!(
            " type=\"{}\" id=\"{id}\" name=\"{}\"",
            config_input_type(field),
            escape_html(input_name)
        )
    };
    if field.secret {
        attributes.push_str(" autocomplete=\"off\"");
    }
    if !field.optional {
        attributes.push_str(" required");
    }
    // A textarea has no `pattern` or `value` attribute: the server checks
    // the pattern, and the default is the element's content.
    let browser_pattern = field
        .pattern
        .as_deref()
        .filter(|_| !multiline)
        .map(browser_pattern);
    let value = field.default.clone().filter(|_| !multiline);
    let optional_attributes = [
        ("pattern", &browser_pattern),
        ("placeholder", &field.example),
        ("value", &value),
    ];
    for (attribute, value) in optional_attributes {
        if let Some(value) = value {
            attributes.push_str(&format!(" {attribute}=\"{}\"", escape_html(value)));
        }
    }
    let help = match &field.description {
        Some(description) => {
            attributes.push_str(&format!(" aria-describedby=\"{id}-help\""));
            format!(
                "<small id=\"{id}-help\">{}</small>\n",
                escape_html(description)
            )
        }
        None => String::new(),
    };
    let affix = |text: &Option<String>| match text {
        Some(text) => format!("<span>{}</span>", escape_html(text)),
        None => String::new(),
    };
    let control = if multiline {
        let content = field.default.as_deref().unwrap_or_default();
        format!("<textarea{attributes}>{}</textarea>", escape_html(content))
    } else {
        format!("<input{attributes}>")
    };
    format!(
        "<p>\n<label for=\"{id}\">{}</label>\n{}{control}{}\n{help}</p>\n",
        escape_html(&field.title),
        affix(&field.prefix),
        affix(&field.suffix),
    )
}

/// Characters that a character class must escape under the RegExp `v`
/// flag, which browsers use for the `pattern` attribute: the syntax
/// characters and the reserved double punctuators (ECMAScript 2024,
/// ClassSetSyntaxCharacter and ClassSetReservedPunctuator).
const V_FLAG_CLASS_ESCAPES: &str = "()[]{}/-\\|&!#$%*+,.:;<=>?@^`~";

/// Rewrites a connection-config pattern, written for Rust's regex crate,
/// into the RegExp `v` syntax of the HTML `pattern` attribute. Inside a
/// character class, a literal punctuation character gets a backslash (a
/// bare `-` at the start or end of a class is an error under `v`), and a
/// `-` between two characters stays a range. A `-` right after a range,
/// as in `[0-9-_]`, is a literal in Rust and gets a backslash too, because
/// `v` rejects a range that starts at the end of another. Outside a class, an escaped
/// punctuation character that is not a RegExp syntax character loses its
/// backslash, because the `v` flag rejects such identity escapes.
// NOTE: nested classes, POSIX classes (`[[:alpha:]]`) and Rust-only
// escapes such as `\A` are copied unchanged; no built-in pattern uses them.
fn browser_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut converted = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut class_start = 0;
    // Whether the last item in the class can start a range: a single
    // character, not the end of a range.
    let mut can_start_range = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&next) = chars.get(i + 1) else {
                converted.push(c);
                break;
            };
            let js_syntax = "^$\\.*+?()[]{}|/".contains(next);
            if !in_class && next.is_ascii_punctuation() && !js_syntax {
                converted.push(next);
            } else {
                converted.push(c);
                converted.push(next);
            }
            can_start_range = true;
            i += 2;
            continue;
        }
        if !in_class {
            if c == '[' {
                in_class = true;
                can_start_range = false;
                converted.push(c);
                if chars.get(i + 1) == Some(&'^') {
                    converted.push('^');
                    i += 1;
                }
                class_start = i + 1;
            } else {
                converted.push(c);
            }
            i += 1;
            continue;
        }
        if c == ']' && i > class_start {
            in_class = false;
            converted.push(c);
        } else if c == '-'
            && i > class_start
            && can_start_range
            && chars.get(i + 1).is_some_and(|n| *n != ']')
        {
            converted.push(c);
            // The range's end is pushed next and cannot start another.
            i += 1;
            let end = chars[i];
            if end == '\\' {
                converted.push(end);
                if let Some(&escaped) = chars.get(i + 1) {
                    converted.push(escaped);
                    i += 1;
                }
            } else {
                if V_FLAG_CLASS_ESCAPES.contains(end) {
                    converted.push('\\');
                }
                converted.push(end);
            }
            can_start_range = false;
        } else {
            if V_FLAG_CLASS_ESCAPES.contains(c) {
                converted.push('\\');
            }
            converted.push(c);
            can_start_range = true;
        }
        i += 1;
    }
    converted
}

/// The HTML input type of a connection-config field: masked for a secret,
/// else by the field's type and format.
fn config_input_type(field: &ConfigField) -> &'static str {
    if field.secret {
        return "password";
    }
    match (field.field_type, field.format) {
        (FieldType::Number, _) => "number",
        (_, Some(FieldFormat::Email)) => "email",
        (_, Some(FieldFormat::Uri | FieldFormat::BaseUrl)) => "url",
        _ => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn escape_html_escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[tokio::test]
    async fn success_page_carries_connection_id() {
        let html = text(authorization_succeeded("github", "0f3c")).await;
        assert!(html.contains("data-connection-id=\"0f3c\""));
        assert!(html.contains("connection_id: 0f3c"));
        assert!(html.contains("\"eventType\":\"AUTHORIZATION_SUCEEDED\""));
        assert!(html.contains("\"providerConfigKey\":\"github\""));
    }

    #[tokio::test]
    async fn failure_page_cannot_close_script() {
        let response = authorization_failed(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "The provider denied access.",
            "</script><b>x</b>",
            Retry::HistoryBack,
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = text(response).await;
        assert!(!html.contains("</script><b>"));
        assert!(html.contains("&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.contains("\\u003c/script\\u003e"));
        assert!(html.contains("error: access_denied"));
    }

    #[test]
    fn browser_pattern_escapes_class_punctuation() {
        let cases = [
            ("[a-z0-9-]+", "[a-z0-9\\-]+"),
            ("[-a-z]", "[\\-a-z]"),
            ("[^-a]", "[^\\-a]"),
            (
                "[a-z0-9][a-z0-9-]*(\\.[a-z0-9-]+)*",
                "[a-z0-9][a-z0-9\\-]*(\\.[a-z0-9\\-]+)*",
            ),
            ("[.]", "[\\.]"),
            ("[a\\-b]", "[a\\-b]"),
            ("[]a]", "[\\]a]"),
            ("a\\-b", "a-b"),
            ("a\\.b", "a\\.b"),
            ("[0-9a-f]{8}-[0-9a-f]{4}", "[0-9a-f]{8}-[0-9a-f]{4}"),
            ("[a-zA-Z0-9-_]+", "[a-zA-Z0-9\\-_]+"),
            ("[a-z0-9-]", "[a-z0-9\\-]"),
            ("[!-/]", "[\\!-\\/]"),
        ];
        for (rust, expected) in cases {
            assert_eq!(browser_pattern(rust), expected, "{rust}");
        }
    }

    /// Compiles every `pattern` attribute of every built-in provider's form
    /// with Node's RegExp under the `v` flag, as browsers do.
    #[tokio::test]
    async fn builtin_patterns_compile_with_v_flag() {
        let catalog = latchkey_catalog::Catalog::builtin().unwrap();
        let mut forms = Vec::new();
        for provider in catalog.providers() {
            forms.extend(ConnectForm::new(
                &provider.name,
                &provider.display_name,
                provider,
                &BTreeMap::new(),
            ));
        }
        let html = text(connect_page("http://127.0.0.1:3003", "lk_cs_t", &forms)).await;
        let patterns: Vec<String> = html
            .split(" pattern=\"")
            .skip(1)
            .map(|rest| {
                let value = &rest[..rest.find('"').unwrap()];
                value
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
            .collect();
        let config_patterns = forms
            .iter()
            .flat_map(|form| &form.fields)
            .filter(|(_, field)| field.pattern.is_some())
            .count();
        // Entered credential fields carry a pattern too, except in a
        // textarea, which has no `pattern` attribute.
        let credential_patterns = forms
            .iter()
            .filter_map(|form| match &form.kind {
                FormKind::EnteredFields { fields, .. } => Some(fields),
                _ => None,
            })
            .flatten()
            .filter(|entered| entered.field.pattern.is_some() && !entered.multiline)
            .count();
        let declared = config_patterns + credential_patterns;
        assert_eq!(patterns.len(), declared, "{html}");
        assert!(!patterns.is_empty());

        let script = "const patterns = JSON.parse(process.argv[1]);\n\
            const failures = [];\n\
            for (const p of patterns) {\n\
              try { new RegExp('^(?:' + p + ')$', 'v'); }\n\
              catch (e) { failures.push(p + ': ' + e.message); }\n\
            }\n\
            if (failures.length) { console.error(failures.join('\\n')); process.exit(1); }";
        let output = std::process::Command::new("node")
            .arg("-e")
            .arg(script)
            .arg(serde_json::to_string(&patterns).unwrap())
            .output()
            .expect("run node, which the test peers need");
        assert!(
            output.status.success(),
            "patterns rejected under the v flag:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[tokio::test]
    async fn failure_page_stays_open() {
        let retries = [
            (Retry::HistoryBack, "history.back()"),
            (
                Retry::ConnectPage("/connect?session_token=lk_cs_a&b"),
                "href=\"/connect?session_token=lk_cs_a&amp;b\"",
            ),
        ];
        for (retry, link) in retries {
            let response = authorization_failed(
                StatusCode::BAD_REQUEST,
                "invalid_credentials",
                "x",
                "y",
                retry,
            );
            let html = text(response).await;
            assert!(!html.contains("window.close"), "{html}");
            assert!(html.contains("Go back and try again"), "{html}");
            assert!(html.contains(link), "{html}");
            assert!(html.contains("AUTHORIZATION_FAILED"), "{html}");
        }
        let html = text(authorization_succeeded("github", "0f3c")).await;
        assert!(html.contains("if (window.opener) {"), "{html}");
        assert!(html.contains("window.close()"), "{html}");
    }

    #[test]
    fn config_input_attributes() {
        let field = |yaml: &str| -> ConfigField { serde_json::from_str(yaml).unwrap() };

        // (field, expected part of the rendered input)
        #[rustfmt::skip]
        let cases = [
            (field(r#"{"title": "Site"}"#), r#"<input type="text" id="k-params-f" name="params[f]" required>"#),
            (field(r#"{"title": "Token", "secret": true, "type": "number"}"#), r#"type="password""#),
            (field(r#"{"title": "Port", "type": "number"}"#), r#"type="number""#),
            (field(r#"{"title": "Mail", "format": "email"}"#), r#"type="email""#),
            (field(r#"{"title": "Site", "format": "uri"}"#), r#"type="url""#),
            (field(r#"{"title": "Site", "prefix": "https://", "suffix": ".atlassian.net"}"#),
                r#"<span>https://</span><input type="text" id="k-params-f" name="params[f]" required><span>.atlassian.net</span>"#),
        ];

        for (field, expected) in cases {
            let html = config_input("k", "f", &field);

            assert!(html.contains(expected), "{expected}: {html}");
        }
    }
}
