//! `latchkey catalog show`: what Latchkey would send for one provider,
//! rendered by the engine with placeholders for client and credential
//! values, without sending anything.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use clap::Args;
use latchkey_catalog::{Auth, Catalog, ClientAuth, InjectLocation, Provider};
use latchkey_engine::{
    ClientApp, ConnectionConfig, Credentials, Engine, EngineError, Injection, McpSetup,
    OAuth2Token, Secret, SessionCredentials, TwoStepCredentials,
};

/// Query parameters of the authorization URL that differ per integration or
/// per request, shown as placeholders.
const AUTHORIZATION_PLACEHOLDERS: [(&str, &str); 4] = [
    ("client_id", "<client_id>"),
    ("redirect_uri", "<redirect_uri>"),
    ("state", "<state>"),
    ("code_challenge", "<code_challenge>"),
];

/// Redirect URI handed to the engine, which requires a valid URL. The output
/// shows `<redirect_uri>` in its place.
const REDIRECT_STAND_IN: &str = "https://latchkey.invalid/oauth/callback";

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Provider name, for example `github`.
    name: String,

    /// Extra directory of provider files, loaded over the built-in catalog as
    /// `latchkey serve` loads it. Repeatable, and comma-separated in the
    /// environment variable.
    #[arg(long, env = "LATCHKEY_CATALOG_DIR", value_delimiter = ',')]
    catalog_dir: Vec<PathBuf>,

    /// A connection-config value, for example `subdomain=acme`. Repeatable.
    #[arg(long = "connection-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    connection_config: Vec<(String, String)>,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

/// Origin of the value of one connection-config field, as printed.
enum ValueSource {
    Given,
    Default,
    /// An automated field without a value, shown with its example.
    Example,
    Unset,
}

/// Loads the catalog, renders the provider and prints the result on stdout.
pub fn run(args: &ShowArgs) -> anyhow::Result<()> {
    let catalog = Catalog::with_dirs(&args.catalog_dir)
        .map_err(|error| anyhow!("cannot load the provider catalog:\n{error}"))?;
    let provider = find_provider(&catalog, &args.name)?;
    let (config, sources) = connection_config(provider, &args.connection_config)?;
    print!("{}", render(provider, &config, &sources)?);
    Ok(())
}

fn find_provider<'a>(catalog: &'a Catalog, name: &str) -> anyhow::Result<&'a Provider> {
    if let Some(provider) = catalog.get(name) {
        return Ok(provider);
    }
    let names: Vec<&str> = catalog
        .providers()
        .map(|provider| provider.name.as_str())
        .collect();
    let hint = match latchkey_catalog::closest_match(name, &names) {
        Some(closest) => format!("did you mean `{closest}`?"),
        None => "add its file to `catalog/providers/`, or pass the directory of the file with `--catalog-dir DIR`".to_owned(),
    };
    bail!("provider `{name}` not found in the catalog; {hint}")
}

/// Checks the given values against the provider's fields and fills in what
/// the engine needs: an error names every required field that has no value.
fn connection_config(
    provider: &Provider,
    given: &[(String, String)],
) -> anyhow::Result<(ConnectionConfig, Vec<(String, ValueSource)>)> {
    let mut config = ConnectionConfig::new();
    for (key, value) in given {
        let Some(field) = provider.connection_config.get(key) else {
            let declared: Vec<String> = provider
                .connection_config
                .keys()
                .map(|key| format!("`{key}`"))
                .collect();
            let declared = if declared.is_empty() {
                "it declares none".to_owned()
            } else {
                format!("it declares {}", declared.join(", "))
            };
            bail!(
                "provider `{}` has no connection-config field `{key}`; {declared}",
                provider.name
            );
        };
        if !field.accepts(value) {
            if let Some(excluded) = field
                .excluded_pattern
                .as_deref()
                .filter(|_| field.excludes(value))
            {
                bail!("invalid value `{value}` for connection-config field `{key}`: it matches the excluded pattern `{excluded}`");
            }
            let pattern = field.pattern.as_deref().unwrap_or_default();
            let example = field
                .example
                .as_deref()
                .map(|example| format!(", for example `{example}`"))
                .unwrap_or_default();
            bail!("invalid value `{value}` for connection-config field `{key}`: it must match the pattern `{pattern}`{example}");
        }
        config.insert(key.clone(), value.clone().into());
    }

    let mut sources = Vec::new();
    let mut missing = Vec::new();
    for (key, field) in &provider.connection_config {
        let source = if config.contains_key(key) {
            ValueSource::Given
        } else if field.default.is_some() {
            ValueSource::Default
        } else if field.automated && field.example.is_some() {
            let example = field.example.clone().unwrap_or_default();
            config.insert(key.clone(), example.into());
            ValueSource::Example
        } else if field.optional {
            ValueSource::Unset
        } else {
            let example = field.example.as_deref().unwrap_or("VALUE");
            missing.push(format!(
                "`{key}` ({}): pass `--connection-config {key}={example}`",
                field.title
            ));
            continue;
        };
        sources.push((key.clone(), source));
    }
    if !missing.is_empty() {
        bail!(
            "missing connection-config value for provider `{}`:\n  {}",
            provider.name,
            missing.join("\n  ")
        );
    }
    Ok((config, sources))
}

fn render(
    provider: &Provider,
    config: &ConnectionConfig,
    sources: &[(String, ValueSource)],
) -> anyhow::Result<String> {
    let mut out = String::new();
    line(
        &mut out,
        "provider",
        &format!("{} ({})", provider.name, provider.display_name),
    );
    line(&mut out, "auth mode", provider.auth.mode_name());
    render_auth(&mut out, provider, config)?;
    let base = latchkey_engine::base_url(provider, config)?;
    line(&mut out, "base URL", base.as_str());
    render_injection(&mut out, provider, config)?;
    render_config(&mut out, provider, config, sources);
    Ok(out)
}

/// Writes one labelled line. The value may quote a provider file, so its
/// control characters are escaped.
fn line(out: &mut String, label: &str, value: &str) {
    let value = latchkey_catalog::escape_controls(value);
    let text = format!("{:<20} {value}", format!("{label}:"));
    let _ = writeln!(out, "{}", text.trim_end());
}

fn render_auth(
    out: &mut String,
    provider: &Provider,
    config: &ConnectionConfig,
) -> anyhow::Result<()> {
    match &provider.auth {
        Auth::Oauth2(oauth) => {
            let engine = Engine::new(Default::default());
            let app = ClientApp {
                client_id: "client".to_owned(),
                client_secret: Secret::new(""),
                scopes: Vec::new(),
            };
            let request = engine.authorization_url(provider, &app, REDIRECT_STAND_IN, config)?;
            line(
                out,
                "authorization URL",
                &with_placeholders(request.url.as_str(), &placeholder_names(oauth)),
            );
            let pkce = match (&oauth.admin_consent, oauth.pkce) {
                (Some(_), _) => "off (admin consent)",
                (None, true) => "S256",
                (None, false) => "off",
            };
            line(out, "PKCE", pkce);
            render_scopes(out, &oauth.default_scopes, &oauth.scope_separator);
            let token_url = url_field(provider, "auth.token_url", &oauth.token_url, config)?;
            line(out, "token URL", &token_url);
            let refresh = if let Some(consent) = &oauth.admin_consent {
                line(
                    out,
                    "admin consent",
                    &format!(
                        "the callback carries `{}` and `admin_consent=True`, then the client-credentials grant at the token URL obtains the token",
                        consent.tenant_param
                    ),
                );
                "none (the client-credentials grant at the token URL renews the token)".to_owned()
            } else if !oauth.refreshable {
                "none (the provider issues no refresh tokens)".to_owned()
            } else if let Some(template) = &oauth.refresh_url {
                url_field(provider, "auth.refresh_url", template, config)?
            } else {
                format!("{token_url} (the token URL)")
            };
            line(out, "refresh URL", &refresh);
            line(out, "client auth", client_auth(oauth.client_auth));
        }
        Auth::Oauth2ClientCredentials(cc) => {
            render_scopes(out, &cc.default_scopes, &cc.scope_separator);
            let token_url = url_field(provider, "auth.token_url", &cc.token_url, config)?;
            line(out, "token URL", &token_url);
            line(out, "client auth", client_auth(cc.client_auth));
        }
        Auth::ApiKey(_) | Auth::Basic(_) | Auth::None(_) => {}
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            let fields: Vec<&str> = two_step.credentials.keys().map(String::as_str).collect();
            line(out, "credential fields", &fields.join(", "));
            let request = &two_step.token_request;
            let method = match request.method {
                latchkey_catalog::TokenRequestMethod::Post => "POST",
                latchkey_catalog::TokenRequestMethod::Get => "GET",
            };
            // A URL that reads entered fields cannot render from the
            // connection config alone, so it is shown as written.
            let shown_url = |field: &str, template: &str| {
                url_field(provider, field, template, config).unwrap_or_else(|_| template.to_owned())
            };
            let token_url = shown_url("auth.token_request.url", &request.url);
            line(out, "token request", &format!("{method} {token_url}"));
            let renewal = match &two_step.refresh_request {
                Some(refresh) => format!(
                    "refresh request to {}",
                    shown_url("auth.refresh_request.url", &refresh.url)
                ),
                None => "the token request, sent again".to_owned(),
            };
            line(out, "renewal", &renewal);
            if let Some(assertion) = &two_step.assertion {
                line(
                    out,
                    "SAML assertion",
                    &format!(
                        "signed with {} for each token request (RSA-SHA256), valid {} seconds, \
                         read as {{{{ assertion }}}}",
                        assertion.signing_key, assertion.lifetime_seconds
                    ),
                );
            }
        }
        Auth::Signature(signature) => {
            line(out, "algorithm", &format!("{:?}", signature.algorithm));
            line(out, "string to sign", &signature.string_to_sign);
            line(out, "encoding", &format!("{:?}", signature.encoding));
            for (name, value) in &signature.headers {
                line(out, "signed header", &format!("{name}: {value}"));
            }
            for (name, value) in &signature.query {
                line(out, "signed query", &format!("{name}={value}"));
            }
        }
        Auth::AwsSigv4(aws) => {
            // The signer's variables: each field's default where the config
            // lacks a value. A template that still cannot render is shown as
            // written.
            let vars = latchkey_engine::config_variables(provider, config);
            let rendered_or_template = |field: &str, template: &str| {
                latchkey_engine::render(&provider.name, field, template, &vars)
                    .unwrap_or_else(|_| template.to_owned())
            };
            line(
                out,
                "service",
                &rendered_or_template("auth.service", &aws.service),
            );
            line(
                out,
                "region",
                &rendered_or_template("auth.region", &aws.region),
            );
            if let Some(assume_role) = &aws.assume_role {
                let template = assume_role.sts_url_template();
                let sts_url = url_field(provider, "auth.assume_role.sts_url", template, config)
                    .unwrap_or_else(|_| template.to_owned());
                line(
                    out,
                    "keys",
                    &format!(
                        "temporary keys from STS AssumeRole at {sts_url}, renewed before they expire"
                    ),
                );
            }
        }
        Auth::Jwt(jwt) => {
            line(out, "algorithm", &format!("{:?}", jwt.algorithm));
            line(
                out,
                "lifetime",
                &format!("{} seconds", jwt.lifetime_seconds),
            );
            let token_url = match &jwt.token_url {
                Some(template) => url_field(provider, "auth.token_url", template, config)?,
                None => "none (the signed JWT is the bearer token)".to_owned(),
            };
            line(out, "token URL", &token_url);
            for (index, step) in jwt.steps.iter().enumerate() {
                let method = match step.method {
                    latchkey_catalog::TokenRequestMethod::Post => "POST",
                    latchkey_catalog::TokenRequestMethod::Get => "GET",
                };
                // A step URL that the connection config alone cannot
                // render, such as one that reads an earlier reply or an
                // entered value, is shown as its template.
                let field = format!("auth.steps.{index}.url");
                let url = url_field(provider, &field, &step.url, config)
                    .unwrap_or_else(|_| step.url.clone());
                line(out, "then", &format!("{method} {url}"));
            }
        }
        Auth::App(app) => {
            line(
                out,
                "install page",
                &format!("<app_link>{}", app.install_path),
            );
            line(out, "installation param", &app.installation_param);
            line(
                out,
                "token URL",
                &url_field(provider, "auth.token_url", &app.token_url, config)?,
            );
            line(
                out,
                "app JWT",
                &format!(
                    "RS256, iat {} seconds back, exp {} seconds ahead",
                    app.jwt_backdate_seconds, app.jwt_lifetime_seconds
                ),
            );
        }
        Auth::McpOauth2(mcp) => {
            let discovered = "(discovered when a connection starts)".to_owned();
            let fields = [
                ("server URL", "auth.server_url", &mcp.server_url),
                (
                    "authorization URL",
                    "auth.authorization_url",
                    &mcp.authorization_url,
                ),
                ("token URL", "auth.token_url", &mcp.token_url),
                (
                    "registration URL",
                    "auth.registration_url",
                    &mcp.registration_url,
                ),
            ];
            for (label, field, template) in fields {
                let value = match template {
                    Some(template) => url_field(provider, field, template, config)?,
                    None => discovered.clone(),
                };
                line(out, label, &value);
            }
            line(out, "PKCE", "S256");
            render_scopes(out, &mcp.default_scopes, &mcp.scope_separator);
        }
        Auth::Oauth1(oauth1) => {
            let request_token_url = url_field(
                provider,
                "auth.request_token_url",
                &oauth1.request_token_url,
                config,
            )?;
            line(out, "request token URL", &request_token_url);
            let authorization_url = url_field(
                provider,
                "auth.authorization_url",
                &oauth1.authorization_url,
                config,
            )?;
            line(out, "authorization URL", &authorization_url);
            let access_token_url = url_field(
                provider,
                "auth.access_token_url",
                &oauth1.access_token_url,
                config,
            )?;
            line(out, "access token URL", &access_token_url);
            line(out, "signature", oauth1.signature_method.as_str());
        }
        Auth::Tba(tba) => {
            line(out, "signature", tba.signature_method.as_str());
            if let Some(realm) = &tba.realm {
                line(out, "realm template", realm);
            }
        }
    }
    Ok(())
}

fn render_scopes(out: &mut String, defaults: &[String], separator: &str) {
    let scopes = if defaults.is_empty() {
        "(none)".to_owned()
    } else {
        defaults.join(separator)
    };
    line(
        out,
        "default scopes",
        &format!("{scopes} (an integration's scopes follow, joined with {separator:?})"),
    );
}

fn client_auth(client_auth: ClientAuth) -> &'static str {
    match client_auth {
        ClientAuth::Body => "client_id and client_secret in the request body",
        ClientAuth::Basic => "Authorization: Basic header with client_id and client_secret",
        ClientAuth::BasicAndBody => {
            "Authorization: Basic header, and client_id and client_secret in the body too"
        }
    }
}

/// Lists the authorization URL's per-request parameters, under the names
/// the provider uses (`client_key` for TikTok's `client_id`), with their
/// placeholders. Extra parameters whose template reads `random_token` are
/// listed too, because their value differs on each request.
fn placeholder_names(oauth: &latchkey_catalog::OAuth2) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = AUTHORIZATION_PLACEHOLDERS
        .iter()
        .map(|(standard, placeholder)| {
            let renamed = oauth
                .authorization_param_names
                .iter()
                .find(|(param, _)| param.as_str() == *standard)
                .map_or(*standard, |(_, name)| name.as_str());
            (renamed.to_owned(), (*placeholder).to_owned())
        })
        .collect();
    for (name, template) in &oauth.authorization_params {
        if let Some(placeholder) = random_placeholder(template) {
            names.push((name.clone(), placeholder.to_owned()));
        }
    }
    names
}

/// Returns the placeholder of a template that draws a fresh random value
/// for every request, whose rendered value would mislead as an example.
fn random_placeholder(template: &str) -> Option<&'static str> {
    if template.contains("random_uuid") {
        Some("<random_uuid>")
    } else if template.contains("random_token") {
        Some("<random_token>")
    } else {
        None
    }
}

/// Replaces the values of the per-request query parameters named in
/// `names` with their placeholders. Every other parameter keeps the bytes
/// the engine produced.
fn with_placeholders(url: &str, names: &[(String, String)]) -> String {
    let (head, rest) = match url.split_once('?') {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (rest, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            match names.iter().find(|(key, _)| key == name) {
                Some((key, placeholder)) => format!("{key}={placeholder}"),
                None => pair.to_owned(),
            }
        })
        .collect();
    let mut shown = format!("{head}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        shown.push('#');
        shown.push_str(fragment);
    }
    shown
}

/// Renders a token or refresh URL with the checks the engine applies to
/// every URL field.
///
/// NOTE: the engine exposes these checks publicly only through `base_url`,
/// so the template is rendered as the base URL of a copy of the provider and
/// an error is renamed to the real field.
fn url_field(
    provider: &Provider,
    field: &str,
    template: &str,
    config: &ConnectionConfig,
) -> Result<String, EngineError> {
    let mut copy = provider.clone();
    copy.proxy.base_url = template.to_owned();
    match latchkey_engine::base_url(&copy, config) {
        Ok(url) => Ok(url.to_string()),
        Err(EngineError::Template {
            provider,
            field: _,
            message,
        }) => Err(EngineError::Template {
            provider,
            field: field.to_owned(),
            message,
        }),
        Err(other) => Err(other),
    }
}

/// Credentials whose values are their own names in angle brackets, so the
/// rendered injection shows where each one goes.
fn placeholder_credentials(provider: &Provider) -> Credentials {
    let auth = &provider.auth;
    let raw = placeholder_raw_reply(provider);
    let token = || OAuth2Token {
        access_token: Secret::new("<access_token>"),
        refresh_token: None,
        expires_at: None,
        obtained_at: Default::default(),
        raw: raw.clone(),
    };
    match auth {
        Auth::Oauth2(_) => Credentials::OAuth2(token()),
        Auth::Oauth2ClientCredentials(_) => Credentials::ClientCredentials {
            token: token(),
            client_id: "<client_id>".to_owned(),
            client_secret: Secret::new("<client_secret>"),
            client_identity: None,
        },
        Auth::ApiKey(_) => Credentials::ApiKey {
            api_key: Secret::new("<api_key>"),
        },
        Auth::Basic(_) => Credentials::Basic {
            username: "<username>".to_owned(),
            password: Secret::new("<password>"),
        },
        Auth::TwoStep(two_step) | Auth::Session(two_step) => {
            let fields = two_step
                .credentials
                .keys()
                .map(|name| (name.clone(), Secret::new(format!("<{name}>"))))
                .collect();
            let credentials = TwoStepCredentials {
                fields,
                token: token(),
            };
            match auth {
                Auth::Session(_) => Credentials::Session(SessionCredentials(credentials)),
                _ => Credentials::TwoStep(credentials),
            }
        }
        Auth::None(_) => Credentials::None {},
        Auth::Signature(_) => Credentials::Signature {
            username: "<username>".to_owned(),
            password: Secret::new("<password>"),
        },
        Auth::AwsSigv4(_) => Credentials::AwsSigV4 {
            access_key_id: "<access_key_id>".to_owned(),
            secret_access_key: Secret::new("<secret_access_key>"),
            session_token: None,
            role_arn: None,
            expires_at: None,
            obtained_at: None,
        },
        Auth::Jwt(_) => Credentials::Jwt(latchkey_engine::JwtCredentials {
            fields: Default::default(),
            token: token(),
        }),
        Auth::App(_) => Credentials::App(latchkey_engine::AppInstallation {
            installation_id: "<installation_id>".to_owned(),
            token: token(),
            user: Some(token()),
        }),
        Auth::McpOauth2(_) => Credentials::McpOAuth2 {
            token: token(),
            mcp: McpSetup {
                issuer: None,
                authorization_endpoint: String::new(),
                token_endpoint: String::new(),
                resource: None,
                discovered_scopes: Vec::new(),
                client_id: "<client_id>".to_owned(),
                client_secret: Secret::new("<client_secret>"),
                token_endpoint_auth_method: "client_secret_basic".to_owned(),
                client_registered: true,
            },
        },
        Auth::Oauth1(_) => Credentials::OAuth1(latchkey_engine::OAuth1Credentials {
            oauth_token: Secret::new("<oauth_token>"),
            oauth_token_secret: Secret::new("<oauth_token_secret>"),
            raw: Default::default(),
        }),
        Auth::Tba(_) => Credentials::Tba {
            token_id: Secret::new("<token_id>"),
            token_secret: Secret::new("<token_secret>"),
        },
    }
}

/// Builds a token reply with `<raw.PATH>` at each path that the proxy's
/// templates read as `raw.PATH`, so those values render as placeholders.
fn placeholder_raw_reply(provider: &Provider) -> serde_json::Value {
    static RAW_PATH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\braw\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
            .expect("valid regex")
    });
    let proxy = &provider.proxy;
    let inject = provider.auth.inject();
    let templates = proxy
        .headers
        .values()
        .chain(proxy.query.values())
        .chain(proxy.body.values())
        .chain(std::iter::once(&inject.value))
        .chain(inject.additional.iter().map(|place| &place.value));
    let mut raw = serde_json::Map::new();
    for template in templates {
        for found in RAW_PATH.captures_iter(template) {
            let path = &found[1];
            let mut node = &mut raw;
            let mut parts = path.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    node.insert(part.to_owned(), format!("<raw.{path}>").into());
                    break;
                }
                let next = node
                    .entry(part.to_owned())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if !next.is_object() {
                    *next = serde_json::Value::Object(Default::default());
                }
                node = next.as_object_mut().expect("an object was just put here");
            }
        }
    }
    serde_json::Value::Object(raw)
}

fn render_injection(
    out: &mut String,
    provider: &Provider,
    config: &ConnectionConfig,
) -> anyhow::Result<()> {
    let credentials = placeholder_credentials(provider);
    let client_secret = Secret::new("<client_secret>");
    let injection = Injection::for_proxied_request(
        provider,
        &credentials,
        config,
        Some("<client_id>"),
        Some(&client_secret),
        Some("<request_path>"),
    )?;
    // Without credential places the proxy adds only the static parts.
    let whole_request = if !provider.auth.injects_credential() {
        Some(match &provider.auth {
            Auth::TwoStep(settings) | Auth::Session(settings) if settings.caller_places_token => {
                "none added by the proxy (caller_places_token): the caller writes the token, \
                 credentials.token of GET /connections/{id}, into its own requests"
            }
            Auth::ApiKey(api_key) if api_key.caller_places_key => {
                "none added by the proxy (caller_places_key): the caller writes the key, \
                 credentials.apiKey of GET /connections/{id}, into its own requests"
            }
            _ => "none",
        })
    } else if provider.auth.signs_requests() {
        Some(match provider.auth {
            Auth::Oauth1(_) | Auth::Tba(_) => {
                "header Authorization: OAuth ... (an OAuth 1.0a signature of each request)"
            }
            _ => "a signature computed for each request",
        })
    } else {
        None
    };
    if let Some(credential) = whole_request {
        line(out, "credential", credential);
        render_static(
            out,
            provider,
            &injection.headers,
            &injection.query,
            &injection.body,
        );
        return Ok(());
    }
    let inject = provider.auth.inject();

    // The engine adds the credential places after the static headers and
    // query parameters, in order: `inject` first, then its `additional`
    // places, each only when its `when` holds for the connection config.
    // So they are the last entries of their lists.
    // As in the engine, a field's default counts when the config lacks a value.
    let config_text = |key: &str| {
        config
            .get(key)
            .and_then(serde_json::Value::as_str)
            .or_else(|| {
                provider
                    .connection_config
                    .get(key)
                    .and_then(|field| field.default.as_deref())
            })
    };
    let used = |when: Option<&latchkey_catalog::PlaceCondition>| {
        when.is_none_or(|condition| condition.holds(config_text))
    };
    let places: Vec<(InjectLocation, &str)> = inject
        .places()
        .into_iter()
        .filter(|place| used(place.when))
        .map(|place| (place.location, place.value))
        .collect();
    if places.is_empty() {
        line(
            out,
            "credential",
            "none for this connection config (no place's `when` holds)",
        );
    }
    let locations: Vec<InjectLocation> = places.iter().map(|(location, _)| *location).collect();
    let header_count = locations
        .iter()
        .filter(|location| **location == InjectLocation::Header)
        .count();
    let query_count = locations
        .iter()
        .filter(|location| **location == InjectLocation::Query)
        .count();
    let body_count = locations
        .iter()
        .filter(|location| **location == InjectLocation::JsonBody)
        .count();
    let static_headers = injection
        .headers
        .len()
        .checked_sub(header_count)
        .context("the engine added fewer credential headers than the provider declares")?;
    let static_query =
        injection.query.len().checked_sub(query_count).context(
            "the engine added fewer credential query parameters than the provider declares",
        )?;
    let static_body = injection
        .body
        .len()
        .checked_sub(body_count)
        .context("the engine added fewer credential body members than the provider declares")?;
    let mut credential_headers = injection.headers[static_headers..].iter();
    let mut credential_body = injection.body[static_body..].iter();
    let mut credential_query = injection.query[static_query..].iter();
    let mut credential_segments = injection.path_segments.iter();
    let templates = places.iter().map(|(_, template)| *template);
    for (location, template) in locations.iter().zip(templates) {
        let credential = match location {
            InjectLocation::Header => {
                let (name, value) = credential_headers
                    .next()
                    .context("the engine added no credential header")?;
                let value = value.to_str().unwrap_or("<not visible ASCII>");
                format!("header {name}: {}", redact_encoded_placeholders(value))
            }
            InjectLocation::Query => {
                let (name, value) = credential_query
                    .next()
                    .context("the engine added no credential query parameter")?;
                format!("query {name}={}", redact_encoded_placeholders(value))
            }
            InjectLocation::PathSegment => {
                let value = credential_segments
                    .next()
                    .context("the engine added no credential path segment")?;
                format!("path segment /{value} after the base URL's path")
            }
            InjectLocation::JsonBody => {
                let (path, value) = credential_body
                    .next()
                    .context("the engine added no credential body member")?;
                format!(
                    "JSON body member {path}: {}",
                    redact_encoded_placeholders(value)
                )
            }
        };
        line(out, "credential", &credential);
        line(out, "credential template", template);
    }
    render_static(
        out,
        provider,
        &injection.headers[..static_headers],
        &injection.query[..static_query],
        &injection.body[..static_body],
    );
    Ok(())
}

/// Lists the proxy's static headers, query parameters and body members as
/// the engine rendered them, except that a value drawn afresh for each
/// request shows its placeholder.
fn render_static<N: std::fmt::Display>(
    out: &mut String,
    provider: &Provider,
    headers: &[(N, latchkey_engine::HeaderValue)],
    query: &[(String, String)],
    body: &[(String, String)],
) {
    let displayed =
        |templates: &std::collections::BTreeMap<String, String>, name: &str, value: &str| {
            templates
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, template)| random_placeholder(template))
                .map_or_else(|| value.to_owned(), str::to_owned)
        };
    let proxy = &provider.proxy;
    for (name, value) in headers {
        let name = name.to_string();
        let value = value.to_str().unwrap_or("<not visible ASCII>");
        let value = displayed(&proxy.headers, &name, value);
        line(out, "static header", &format!("{name}: {value}"));
    }
    for (name, value) in query {
        let value = displayed(&proxy.query, name, value);
        line(out, "static query", &format!("{name}={value}"));
    }
    for (path, value) in body {
        let value = displayed(&proxy.body, path, value);
        line(out, "static JSON body member", &format!("{path}: {value}"));
    }
}

/// Shows each word of `value` that is the base64 of text with placeholders,
/// such as the `Basic` credential of `<username>:<password>`, as
/// `base64(<username>:<password>)`. The encoded form would hide which
/// secrets the word carries, where every other secret is shown by its
/// placeholder.
fn redact_encoded_placeholders(value: &str) -> String {
    value
        .split(' ')
        .map(|word| {
            let decoded = BASE64_STANDARD
                .decode(word)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            match decoded {
                Some(text) if text.contains('<') && text.contains('>') => {
                    format!("base64({text})")
                }
                _ => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Names what fills an automated connection-config value: the install
/// callback in the `app` mode, the token response otherwise.
fn automated_source(provider: &Provider) -> &'static str {
    match provider.auth {
        Auth::App(_) => "the install callback",
        _ => "the token response",
    }
}

fn render_config(
    out: &mut String,
    provider: &Provider,
    config: &ConnectionConfig,
    sources: &[(String, ValueSource)],
) {
    if sources.is_empty() {
        line(out, "connection config", "(no fields)");
        return;
    }
    line(out, "connection config", "");
    for (key, source) in sources {
        let field = &provider.connection_config[key];
        let value = config.get(key).and_then(|value| value.as_str());
        let shown = match source {
            ValueSource::Given => format!("{} (given)", value.unwrap_or_default()),
            ValueSource::Default => {
                format!("{} (default)", field.default.as_deref().unwrap_or_default())
            }
            ValueSource::Example => format!(
                "{} (missing: the example is shown; {} fills it when an account connects)",
                value.unwrap_or_default(),
                automated_source(provider)
            ),
            ValueSource::Unset => "(missing, optional)".to_owned(),
        };
        let entry = format!("  {key} ({}): {shown}", field.title);
        let _ = writeln!(out, "{}", latchkey_catalog::escape_controls(&entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(name: &str, given: &[(&str, &str)]) -> anyhow::Result<String> {
        let catalog = Catalog::builtin().unwrap();
        let provider = find_provider(&catalog, name)?;
        let given: Vec<(String, String)> = given
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let (config, sources) = connection_config(provider, &given)?;
        render(provider, &config, &sources)
    }

    #[test]
    fn placeholders_replace_per_request_values() {
        let url = "https://a.example/authorize?response_type=code&client_id=client&state=abc&code_challenge=xyz&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fl.invalid&scope=a+b#frag";
        let names: Vec<(String, String)> = AUTHORIZATION_PLACEHOLDERS
            .iter()
            .map(|(key, placeholder)| ((*key).to_owned(), (*placeholder).to_owned()))
            .collect();
        assert_eq!(
            with_placeholders(url, &names),
            "https://a.example/authorize?response_type=code&client_id=<client_id>&state=<state>&code_challenge=<code_challenge>&code_challenge_method=S256&redirect_uri=<redirect_uri>&scope=a+b#frag"
        );
        assert_eq!(
            with_placeholders("https://a.example/x", &names),
            "https://a.example/x"
        );
    }

    /// The place that the integration's `keyPlacement` selects is shown,
    /// with the field's default when none is given, and a framing header
    /// name is refused with the excluded pattern named.
    #[test]
    fn chosen_credential_place_shown() {
        let base = [("baseUrl", "https://api.acme.example/v1")];
        let header = show(
            "private-api-generic",
            &[base[0], ("keyName", "X-Private-Key")],
        )
        .unwrap();
        assert!(
            header.contains("credential:          header x-private-key: <api_key>\n"),
            "{header}"
        );
        let query = show(
            "private-api-generic",
            &[
                base[0],
                ("keyName", "key"),
                ("keyPlacement", "query"),
                ("valueTemplate", "Token ${apiKey}"),
            ],
        )
        .unwrap();
        assert!(
            query.contains("credential:          query key=Token <api_key>\n"),
            "{query}"
        );
        assert!(!query.contains("header x-"), "{query}");
        let error = show("private-api-generic", &[base[0], ("keyName", "Host")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("matches the excluded pattern"), "{error}");
    }

    #[test]
    fn several_credential_places_shown() {
        let source = r#"
name: places
display_name: Places
auth:
  mode: api_key
  inject:
    name: authorization
    value: "Bearer {{ api_key }}"
    additional:
      - location: query
        name: apiKey
        value: "{{ api_key }}"
      - name: apikey
        value: "{{ api_key }}"
proxy:
  base_url: https://api.places.example
  headers: {accept: application/json}
  query: {format: json}
"#;
        let provider = latchkey_catalog::parse_provider("places.yaml", source).unwrap();
        let (config, sources) = connection_config(&provider, &[]).unwrap();
        let output = render(&provider, &config, &sources).unwrap();
        let expected = [
            "credential:          header authorization: Bearer <api_key>\n\
             credential template: Bearer {{ api_key }}\n\
             credential:          query apiKey=<api_key>\n\
             credential template: {{ api_key }}\n\
             credential:          header apikey: <api_key>\n\
             credential template: {{ api_key }}\n",
            "static header:       accept: application/json\n",
            "static query:        format=json\n",
        ];
        for part in expected {
            assert!(output.contains(part), "missing {part:?} in:\n{output}");
        }
        assert_eq!(output.matches("credential:").count(), 3, "{output}");
    }

    #[test]
    fn admin_consent_shown() {
        let source = r#"
name: consent
display_name: Consent
auth:
  mode: oauth2
  authorization_url: https://login.consent.example/common/adminconsent
  token_url: https://login.consent.example/common/token
  admin_consent: {}
proxy:
  base_url: https://api.consent.example
"#;
        let provider = latchkey_catalog::parse_provider("consent.yaml", source).unwrap();
        let (config, sources) = connection_config(&provider, &[]).unwrap();

        let output = render(&provider, &config, &sources).unwrap();

        let expected = [
            "authorization URL:   https://login.consent.example/common/adminconsent?client_id=<client_id>&state=<state>&redirect_uri=<redirect_uri>\n",
            "PKCE:                off (admin consent)\n",
            "admin consent:       the callback carries `tenant` and `admin_consent=True`",
            "refresh URL:         none (the client-credentials grant at the token URL renews the token)\n",
        ];
        for part in expected {
            assert!(output.contains(part), "missing {part:?} in:\n{output}");
        }
    }

    #[test]
    fn caller_placed_token_shown() {
        let source = r#"
name: gateway
display_name: Gateway
auth:
  mode: two_step
  credentials:
    user: {title: User}
  token_request:
    url: https://api.gateway.example/login
    params: {user: "{{ user }}"}
  caller_places_token: true
proxy:
  base_url: https://api.gateway.example
"#;
        let provider = latchkey_catalog::parse_provider("gateway.yaml", source).unwrap();
        let (config, sources) = connection_config(&provider, &[]).unwrap();

        let output = render(&provider, &config, &sources).unwrap();

        assert!(
            output.contains("credential:          none added by the proxy (caller_places_token)"),
            "{output}"
        );
        assert!(!output.contains("Authorization"), "{output}");
    }

    #[test]
    fn control_characters_escaped() {
        // Validation rejects these texts in a display name and a title, so
        // they are set after parsing; a default may still hold them.
        let source = "name: hostile\ndisplay_name: H\nauth:\n  mode: api_key\n  inject: {name: X-Key, value: \"{{ api_key }}\"}\nconnection_config:\n  region: {title: R, default: \"eu\\e[31m\", optional: true}\nproxy:\n  base_url: https://api.example.com\n";
        let mut provider = latchkey_catalog::parse_provider("hostile.yaml", source).unwrap();
        provider.display_name = "A\u{1b}]0;title\u{7}\u{202e}B".to_owned();
        if let Some(region) = provider.connection_config.get_mut("region") {
            region.title = "R\r\nfake: line".to_owned();
        }
        let (config, sources) = connection_config(&provider, &[]).unwrap();

        let output = render(&provider, &config, &sources).unwrap();

        let hidden = |c: char| c.is_control() && c != '\n';
        assert!(!output.chars().any(hidden), "{output:?}");
        assert!(!output.contains('\u{202e}'), "{output:?}");
        assert!(
            output.contains("A\\u{1b}]0;title\\u{7}\\u{202e}B"),
            "{output}"
        );
        assert!(
            !output.lines().any(|line| line.starts_with("fake")),
            "{output}"
        );
    }

    #[test]
    fn saml_login_rendered() {
        let output = show(
            "sap-success-factors",
            &[
                ("apiServer", "api4.successfactors.com"),
                ("companyId", "ACME"),
            ],
        )
        .unwrap();

        let expected = [
            "token request:       POST https://api4.successfactors.com/oauth/token\n",
            "SAML assertion:      signed with {{ privateKey }} for each token request",
        ];
        for part in expected {
            assert!(output.contains(part), "missing {part:?} in:\n{output}");
        }
    }

    #[test]
    fn caller_placed_key_shown() {
        let output = show("klicktipp", &[]).unwrap();

        assert!(
            output.contains("credential:          none added by the proxy (caller_places_key)"),
            "{output}"
        );
    }

    #[test]
    fn aws_templates_rendered_and_sts_named() {
        let output = show("aws-sigv4", &[("service", "s3"), ("region", "eu-west-1")]).unwrap();

        let expected = [
            "service:             s3\n",
            "region:              eu-west-1\n",
            "keys:                temporary keys from STS AssumeRole at https://sts.",
        ];
        for part in expected {
            assert!(output.contains(part), "missing {part:?} in:\n{output}");
        }
        assert!(!output.contains("{{"), "{output}");
    }

    #[test]
    fn renamed_params_get_placeholders() {
        let tiktok = show("tiktok-accounts", &[]).unwrap();
        assert!(tiktok.contains("client_key=<client_id>"), "{tiktok}");
        assert!(!tiktok.contains("client_key=client&"), "{tiktok}");

        let walmart = show("walmart", &[]).unwrap();
        assert!(walmart.contains("clientId=<client_id>"), "{walmart}");
        assert!(walmart.contains("redirectUri=<redirect_uri>"), "{walmart}");
        assert!(walmart.contains("nonce=<random_uuid>"), "{walmart}");
        assert!(
            walmart.contains("static header:       wm_qos.correlation_id: <random_uuid>"),
            "{walmart}"
        );
    }

    #[test]
    fn oauth2_provider_shows_every_url() {
        let cloud_id = "1324a887-45db-1bf4-1e99-ef0ff456d421";
        let output = show("confluence", &[("cloudId", cloud_id)]).unwrap();
        let expected = [
            "provider:            confluence (Confluence)\n",
            "auth mode:           oauth2\n",
            "authorization URL:   https://auth.atlassian.com/authorize?response_type=code&client_id=<client_id>&state=<state>&code_challenge=<code_challenge>&code_challenge_method=S256&redirect_uri=<redirect_uri>&scope=offline_access&audience=api.atlassian.com&prompt=consent\n",
            "PKCE:                S256\n",
            "token URL:           https://auth.atlassian.com/oauth/token\n",
            "refresh URL:         https://auth.atlassian.com/oauth/token (the token URL)\n",
            "client auth:         client_id and client_secret in the request body\n",
            "base URL:            https://api.atlassian.com/ex/confluence/1324a887-45db-1bf4-1e99-ef0ff456d421\n",
            "credential:          header authorization: Bearer <access_token>\n",
            "credential template: Bearer {{ access_token }}\n",
            "  cloudId (Cloud ID): 1324a887-45db-1bf4-1e99-ef0ff456d421 (given)\n",
        ];
        for part in expected {
            assert!(output.contains(part), "missing {part:?} in:\n{output}");
        }
    }

    #[test]
    fn basic_provider_shows_redacted_header() {
        let output = show("twilio", &[]).unwrap();
        assert!(
            output
                .contains("credential template: Basic {{ (username ~ ':' ~ password) | base64 }}"),
            "{output}"
        );
        assert!(
            output.contains("header authorization: Basic base64(<username>:<password>)"),
            "{output}"
        );
        // The base64 of `<username>:<password>`.
        assert!(!output.contains("PHVzZXJuYW1lPjo8cGFzc3dvcmQ+"), "{output}");
    }

    #[test]
    fn encoded_placeholders_are_redacted() {
        // (rendered credential, shown)
        let cases = [
            (
                "Basic PHVzZXJuYW1lPjo8cGFzc3dvcmQ+",
                "Basic base64(<username>:<password>)",
            ),
            ("Bearer <access_token>", "Bearer <access_token>"),
            // The base64 of `plain`, which has no placeholder.
            ("Token cGxhaW4=", "Token cGxhaW4="),
        ];
        for (rendered, shown) in cases {
            assert_eq!(redact_encoded_placeholders(rendered), shown);
        }
    }

    #[test]
    fn automated_field_uses_example() {
        let output = show("salesforce", &[]).unwrap();
        assert!(
            output.contains("base URL:            https://acme.my.salesforce.com/"),
            "{output}"
        );
        assert!(output.contains("the example is shown"), "{output}");
    }

    #[test]
    fn missing_required_value_names_field_and_example() {
        let error = show("zendesk", &[]).unwrap_err().to_string();
        assert!(error.contains("`subdomain`"), "{error}");
        assert!(error.contains("--connection-config subdomain="), "{error}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let error = show("zendesk", &[("subdomain", "a/b")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("must match the pattern"), "{error}");

        let error = show("zendesk", &[("subdomian", "acme")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no connection-config field `subdomian`"),
            "{error}"
        );

        let error = show("zendesc", &[]).unwrap_err().to_string();
        assert!(error.contains("provider `zendesc` not found"), "{error}");
    }

    #[test]
    fn query_credential_from_catalog_dir() {
        let dir = tempfile::tempdir().unwrap();
        let file = "# A local API key provider.
name: local-echo
display_name: Local echo
auth:
  mode: api_key
  inject:
    location: query
    name: key
    value: '{{ api_key }}'
proxy:
  base_url: http://localhost:4012/v1
  query:
    format: json
";
        std::fs::write(dir.path().join("local-echo.yaml"), file).unwrap();
        let catalog = Catalog::with_dirs(&[dir.path()]).unwrap();
        let provider = find_provider(&catalog, "local-echo").unwrap();
        let (config, sources) = connection_config(provider, &[]).unwrap();

        let output = render(provider, &config, &sources).unwrap();
        assert!(
            output.contains("credential:          query key=<api_key>\n"),
            "{output}"
        );
        assert!(
            output.contains("static query:        format=json\n"),
            "{output}"
        );
        assert!(!output.contains("authorization URL"), "{output}");
    }

    #[test]
    fn key_value_flag_needs_equals_sign() {
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}

#[cfg(test)]
mod whole_catalog {
    use super::*;

    /// Values tried, in order, for a field without a usable example: a
    /// name, a host name, an origin, a UUID, a number and a region code.
    const CANDIDATES: &[&str] = &[
        "acme",
        "acme.example.com",
        "https://acme.example.com",
        "a1b2c3d4-e5f6-47a8-9b0c-d1234567890f",
        "12345",
        "us",
    ];

    /// Picks a value the field accepts: its example when it matches, else
    /// the first candidate that does.
    fn value_for(field: &latchkey_catalog::ConfigField) -> Option<String> {
        field
            .example
            .iter()
            .map(String::as_str)
            .chain(CANDIDATES.iter().copied())
            .find(|value| field.accepts(value))
            .map(str::to_owned)
    }

    /// Renders every built-in provider as `latchkey catalog show` does, with
    /// a value for each field that has no default: the field's example, or
    /// a guess. This catches files that validate but that the engine cannot
    /// use with their own examples, such as an example that its place in a
    /// URL cannot hold.
    #[test]
    fn every_builtin_provider_renders() {
        let catalog = Catalog::builtin().unwrap();
        let mut failures = Vec::new();
        let mut guessed = Vec::new();
        let mut unfilled = Vec::new();
        let mut rendered = 0;
        for provider in catalog.providers() {
            let mut given = Vec::new();
            let mut from_examples = true;
            let mut complete = true;
            for (key, field) in &provider.connection_config {
                if field.default.is_some() {
                    continue;
                }
                let example = field.example.clone().filter(|value| field.accepts(value));
                from_examples &= example.is_some();
                match example.or_else(|| value_for(field)) {
                    Some(value) => given.push((key.clone(), value)),
                    None if field.optional => {}
                    None => complete = false,
                }
            }
            if !complete {
                unfilled.push(provider.name.clone());
                continue;
            }
            let result = connection_config(provider, &given)
                .and_then(|(config, sources)| render(provider, &config, &sources));
            match result {
                Ok(_) => rendered += 1,
                Err(error) if from_examples => {
                    failures.push(format!("{} (its own examples): {error:#}", provider.name))
                }
                Err(error) => guessed.push(format!("{}: {error:#}", provider.name)),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} providers do not render:\n{}",
            failures.len(),
            rendered + failures.len(),
            failures.join("\n")
        );
        // A provider whose fields have no example is rendered with guessed
        // values, and a failure then reflects the guess more than
        // the file, so it only counts against the total.
        assert!(
            rendered >= 700,
            "only {rendered} providers rendered; {} lack a value for a required field ({}), and {} failed with guessed values:\n{}",
            unfilled.len(),
            unfilled.join(", "),
            guessed.len(),
            guessed.join("\n")
        );
    }

    #[test]
    fn jwt_steps_shown_in_order() {
        let provider = latchkey_catalog::parse_provider(
            "chain.yaml",
            r#"name: chain
display_name: Chain
connection_config:
  tenant: { title: Tenant, pattern: "[a-z]+" }
auth:
  mode: jwt
  algorithm: RS256
  credentials:
    private_key: { title: Private key, secret: true }
  signing_key: "{{ credentials.private_key }}"
  lifetime_seconds: 300
  token_url: "https://login.chain.example/{{ tenant }}/token"
  steps:
    - url: "https://api.chain.example/{{ tenant }}/apiToken"
      method: GET
      headers: { Authorization: "Bearer {{ step1.access_token }}" }
    - url: "{{ step2.next_url }}"
proxy:
  base_url: https://api.chain.example
"#,
        )
        .unwrap();
        let given = [("tenant".to_owned(), "acme".to_owned())];
        let (config, sources) = connection_config(&provider, &given).unwrap();

        let text = render(&provider, &config, &sources).unwrap();

        let first = text
            .find("then:                GET https://api.chain.example/acme/apiToken\n")
            .unwrap_or_else(|| panic!("{text}"));
        let second = text
            .find("then:                POST {{ step2.next_url }}\n")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(first < second, "{text}");
    }
}
