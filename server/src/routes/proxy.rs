//! `ANY /proxy/{*path}`: forwards a request to the provider's API with the
//! connection's credential injected. TRACE and CONNECT get 405.
//!
//! Only the method, the raw query string, the body, `Content-Type` and the
//! `Nango-Proxy-<Name>` headers (as `<Name>`) go upstream, so the caller's
//! `Authorization`, `Provider-Config-Key` and `Connection-Id` never do.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use chrono::Utc;
use latchkey_catalog::{Auth, Provider};
use latchkey_engine::{sign_request, Injection, Secret, SigningContext};
use url::Url;

use crate::error::ApiError;
use crate::extract::read_body;
use crate::logging::record_connection;
use crate::records::ConnectionRecord;
use crate::refresh::fresh_connection;
use crate::AppState;

use super::proxy_redirect;

/// Largest request body forwarded, because the body is buffered whole so
/// that upstreams get a `Content-Length` instead of a chunked body.
const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;
const FORWARDED_PREFIX: &str = "nango-proxy-";

// NOTE: `Retries`, `Retry-On`, `Decompress` and `Nango-Activity-Log-Id` are
// accepted and ignored: each request goes upstream once, and the body comes
// back as the upstream encoded it.
pub async fn forward(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    // TRACE echoes the request, credential included, back to the caller,
    // and CONNECT opens a tunnel instead of calling the API, so neither is
    // forwarded.
    if parts.method == Method::TRACE || parts.method == Method::CONNECT {
        return Err(ApiError::method_not_allowed(
            parts.method.as_str(),
            parts.uri.path(),
        ));
    }
    let path = parts.uri.path().strip_prefix("/proxy").unwrap_or("/");
    check_path_segments(path)?;
    let provider_config_key = required_header(&parts.headers, "Provider-Config-Key")?;
    let connection_id = required_header(&parts.headers, "Connection-Id")?;
    record_connection(&provider_config_key, &connection_id);

    let connection = fresh_connection(&state, &provider_config_key, &connection_id, false).await?;
    let provider = state.provider(&connection.provider)?;
    let base = base_url(
        provider,
        &connection,
        parts.headers.get("base-url-override"),
    )?;
    let client = integration_client(&state, provider, &connection)?;
    let injection = Injection::for_proxied_request(
        provider,
        &connection.credentials,
        &connection.connection_config,
        client.as_ref().map(|(id, _)| id.as_str()),
        client.as_ref().map(|(_, secret)| secret),
        Some(path),
    )
    .map_err(|error| ApiError::engine(&error))?;

    let url = target_url(&base, path, parts.uri.query(), &injection.query)?;
    check_within_base(&base, &url)?;
    // The base check runs without the credential's path segments, so its
    // error never shows them. Each is one checked segment, so adding them
    // keeps the URL under the base.
    let url = if injection.path_segments.is_empty() {
        url
    } else {
        let base = with_path_segments(base.clone(), &injection.path_segments);
        target_url(&base, path, parts.uri.query(), &injection.query)?
    };
    let mut headers = upstream_headers(&parts.headers, &injection);
    let body = read_body(body, MAX_REQUEST_BODY).await?;
    let body = with_json_members(&provider.name, &mut headers, body, &injection.body)?;

    let client = super::client_certificate::proxy_client(&state, &connection.credentials)?;
    let sent = provider
        .proxy
        .follow_redirects
        .as_ref()
        .map(|_| proxy_redirect::SentRequest {
            method: parts.method.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
    let mut request = client
        .request(parts.method, url.clone())
        .headers(headers)
        .body(body)
        .build()
        .map_err(|error| unreachable_error(&url, error))?;
    let app = super::oauth1::signing_app(&state, provider, &connection)?;
    let signing = SigningContext {
        provider,
        credentials: &connection.credentials,
        config: &connection.connection_config,
        app: app.as_ref(),
        now: Utc::now(),
    };
    sign_request(&signing, &mut request).map_err(|error| ApiError::engine(&error))?;
    let upstream = client
        .execute(request)
        .await
        .map_err(|error| unreachable_error(&url, error))?;
    let upstream = match (&provider.proxy.follow_redirects, sent) {
        (Some(policy), Some(sent)) => {
            proxy_redirect::follow(&client, policy, &base, &signing, sent, url, upstream).await?
        }
        _ => upstream,
    };
    tracing::debug!(status = upstream.status().as_u16(), "upstream responded");
    Ok(downstream_response(upstream))
}

/// Sets the provider's JSON body members in the request body, and
/// `Content-Type: application/json` when the caller sent none. A body
/// that cannot take them is a 400 `invalid_body`, and nothing goes
/// upstream.
fn with_json_members(
    provider: &str,
    headers: &mut HeaderMap,
    body: bytes::Bytes,
    members: &[(String, String)],
) -> Result<bytes::Bytes, ApiError> {
    if members.is_empty() {
        return Ok(body);
    }
    let content_type = match headers.get(CONTENT_TYPE) {
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::invalid_body(format!(
                "the request's Content-Type is not valid text, but provider `{provider}` adds members to a JSON object body: send the body as `application/json`"
            ))
        })?),
        None => None,
    };
    let merged = latchkey_engine::merge_json_body(provider, content_type, &body, members)
        .map_err(|error| ApiError::invalid_body(error.to_string()))?;
    if merged.needs_content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(merged.bytes.into())
}

/// Returns the OAuth client id and secret of the connection's integration,
/// which the `oauth_client_id` and `oauth_client_secret` template variables
/// hold, for an `oauth2` provider. An integration without client
/// credentials has none.
fn integration_client(
    state: &AppState,
    provider: &Provider,
    connection: &ConnectionRecord,
) -> Result<Option<(String, Secret)>, ApiError> {
    if !matches!(provider.auth, Auth::Oauth2(_)) {
        return Ok(None);
    }
    let integration = state
        .store
        .get_integration(&connection.provider_config_key)?
        .ok_or_else(|| ApiError::unknown_integration(&connection.provider_config_key))?;
    Ok(integration
        .credentials
        .map(|credentials| (credentials.client_id, credentials.client_secret)))
}

/// Rejects a path with a dot segment, because the URL parser here or the
/// upstream could resolve it and leave the provider's base path. Each
/// segment is percent-decoded and split again on `/` and `\\`, since some
/// upstreams (IIS, some gateways) decode `%2F` and `%5C` before routing and
/// WHATWG URL parsing treats `\\` as a separator. A piece is rejected when
/// it is `.` or `..`, or starts with `.;` or `..;`, which Tomcat reads as a
/// dot segment with a path parameter. An encoded slash inside an ordinary
/// segment (GitLab's `group%2Fproject`) passes.
fn check_path_segments(path: &str) -> Result<(), ApiError> {
    for segment in path.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        let is_dot_piece = |piece: &str| {
            piece == "." || piece == ".." || piece.starts_with(".;") || piece.starts_with("..;")
        };
        if decoded.split(['/', '\\']).any(is_dot_piece) {
            return Err(ApiError::invalid_proxy_path(format!(
                "the proxy path `{path}` contains the segment `{segment}`, which is or hides a \
                 dot segment (`.` or `..`, also percent-encoded, after `\\` or an encoded \
                 slash, or followed by `;`): send the path without dot segments"
            )));
        }
    }
    Ok(())
}

/// Checks that the upstream URL kept the base URL's origin and stays under
/// its path, as a second guard after [`check_path_segments`].
fn check_within_base(base: &Url, url: &Url) -> Result<(), ApiError> {
    let base_path = base.path().trim_end_matches('/');
    let under_base = url.path() == base_path
        || url
            .path()
            .strip_prefix(base_path)
            .is_some_and(|rest| rest.starts_with('/'));
    if url.origin() == base.origin() && under_base {
        return Ok(());
    }
    Err(ApiError::invalid_proxy_path(format!(
        "the upstream path `{}` is outside the provider's base URL `{}{base_path}`: \
         send a path relative to the base URL",
        url.path(),
        base.origin().ascii_serialization()
    )))
}

fn required_header(headers: &HeaderMap, name: &str) -> Result<String, ApiError> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::missing_header(name))
}

/// Returns the provider's base URL, or `Base-Url-Override` when it is set (an empty
/// value counts as unset) and points at the same scheme, host and port.
fn base_url(
    provider: &Provider,
    connection: &ConnectionRecord,
    override_value: Option<&HeaderValue>,
) -> Result<Url, ApiError> {
    let base = latchkey_engine::base_url(provider, &connection.connection_config)
        .map_err(|error| ApiError::engine(&error))?;
    let Some(value) = override_value.filter(|v| !v.is_empty()) else {
        return Ok(base);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::forbidden_base_url_override("header `Base-Url-Override` is not valid text")
    })?;
    let requested = Url::parse(text).map_err(|error| {
        ApiError::forbidden_base_url_override(format!(
            "header `Base-Url-Override` is not a valid URL: {error}"
        ))
    })?;
    let same_origin = requested.scheme() == base.scheme()
        && requested.host_str() == base.host_str()
        && requested.port_or_known_default() == base.port_or_known_default();
    if !same_origin {
        return Err(ApiError::forbidden_base_url_override(format!(
            "header `Base-Url-Override` must point at the provider's own origin `{}`, not `{}`",
            base.origin().ascii_serialization(),
            requested.origin().ascii_serialization()
        )));
    }
    Ok(requested)
}

/// Appends the credential's path segments to the base URL's path. The
/// engine has checked that each is one segment, and `push` percent-encodes
/// what a path segment cannot carry raw.
fn with_path_segments(mut base: Url, segments: &[String]) -> Url {
    if segments.is_empty() {
        return base;
    }
    if let Ok(mut path) = base.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    base
}

/// `<base>/<path>?<query>`, with the caller's query string copied as is and
/// injected query parameters appended after it. A caller parameter with the
/// name of an injected one is removed, so the provider receives only the
/// stored credential.
fn target_url(
    base: &Url,
    path: &str,
    query: Option<&str>,
    injected: &[(String, String)],
) -> Result<Url, ApiError> {
    let mut base_text = base.as_str().to_owned();
    if let Some(position) = base_text.find(['?', '#']) {
        base_text.truncate(position);
    }
    let mut url = format!(
        "{}/{}",
        base_text.trim_end_matches('/'),
        path.trim_start_matches('/')
    );

    let mut query_text = without_parameters(query.unwrap_or(""), injected);
    if !injected.is_empty() {
        let extra = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(injected)
            .finish();
        if !query_text.is_empty() {
            query_text.push('&');
        }
        query_text.push_str(&extra);
    }
    if !query_text.is_empty() {
        url.push('?');
        url.push_str(&query_text);
    }
    // NOTE: the url crate percent-encodes the few query bytes that WHATWG URL
    // parsing escapes, for example `'` in http and https URLs. Every other
    // byte goes upstream unchanged.
    Url::parse(&url).map_err(|error| {
        ApiError::invalid_query_params(format!("cannot build the upstream URL: {error}"))
    })
}

/// Removes the `&`-separated pairs of `query` whose decoded name is one of
/// `injected`'s names, keeping every other pair byte for byte.
fn without_parameters(query: &str, injected: &[(String, String)]) -> String {
    if injected.is_empty() {
        return query.to_owned();
    }
    query
        .split('&')
        .filter(|pair| {
            let raw_name = pair.split('=').next().unwrap_or("");
            let name: String = url::form_urlencoded::parse(raw_name.as_bytes())
                .map(|(name, _)| name.into_owned())
                .collect();
            !injected
                .iter()
                .any(|(injected_name, _)| *injected_name == name)
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Headers for the upstream request: `Content-Type`, every
/// `Nango-Proxy-<Name>` as `<Name>`, then the injected credential headers,
/// which replace any caller header of the same name. A forwarded
/// `Nango-Proxy-Content-Type` replaces the caller's `Content-Type`.
fn upstream_headers(incoming: &HeaderMap, injection: &Injection) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(content_type) = incoming.get(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, content_type.clone());
    }
    for (name, value) in incoming {
        let Some(forwarded) = name.as_str().strip_prefix(FORWARDED_PREFIX) else {
            continue;
        };
        let Ok(forwarded) = HeaderName::from_bytes(forwarded.as_bytes()) else {
            continue;
        };
        if is_hop_by_hop(&forwarded) || forwarded == HOST || forwarded == CONTENT_LENGTH {
            continue;
        }
        if forwarded == CONTENT_TYPE {
            headers.insert(forwarded, value.clone());
        } else {
            headers.append(forwarded, value.clone());
        }
    }
    for (name, value) in &injection.headers {
        headers.insert(name.clone(), value.clone());
    }
    headers
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1, plus the `Proxy-*` family and
/// the obsolete `Keep-Alive`), which apply to one connection only.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "trailers"
            | "transfer-encoding"
            | "upgrade"
    ) || name.as_str().starts_with("proxy-")
}

/// Upstream headers minus hop-by-hop ones, including those the upstream
/// named in its own `Connection` header.
fn filter_response_headers(upstream: &HeaderMap) -> HeaderMap {
    let named_in_connection: Vec<String> = upstream
        .get_all("connection")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream {
        // Only Latchkey's own error responses may carry its error header.
        if is_hop_by_hop(name)
            || name.as_str() == crate::error::ERROR_CODE_HEADER
            || named_in_connection
                .iter()
                .any(|token| token == name.as_str())
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers
}

fn downstream_response(upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    let headers = filter_response_headers(upstream.headers());
    let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Describes a transport error without the URL, because its query string
/// can carry an injected API key.
pub(super) fn unreachable_error(url: &Url, error: reqwest::Error) -> ApiError {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::warn!(error = %message, "proxied request failed");
    ApiError::upstream_unreachable(format!(
        "the request to {} failed: {message}",
        url.origin().ascii_serialization()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn response_drops_hop_by_hop_headers() {
        let upstream = header_map(&[
            ("connection", "close, x-private"),
            ("keep-alive", "timeout=5"),
            ("proxy-authenticate", "Basic"),
            ("te", "trailers"),
            ("trailer", "expires"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("x-private", "dropped because Connection names it"),
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("x-ratelimit-remaining", "9"),
            ("x-latchkey-error", "refresh_failed"),
        ]);
        let filtered = filter_response_headers(&upstream);
        let names: Vec<&str> = filtered.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            ["content-type", "set-cookie", "x-ratelimit-remaining"]
        );
        assert_eq!(filtered.get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn request_forwards_only_allowed_headers() {
        let incoming = header_map(&[
            ("authorization", "Bearer latchkey-secret"),
            ("provider-config-key", "github"),
            ("connection-id", "c1"),
            ("content-type", "application/json"),
            ("accept", "text/plain"),
            ("nango-proxy-accept", "application/vnd.github+json"),
            ("nango-proxy-x-custom", "1"),
            ("nango-proxy-transfer-encoding", "chunked"),
            ("nango-proxy-host", "evil.example"),
            ("nango-proxy-authorization", "Bearer caller-value"),
        ]);
        let injection = Injection {
            headers: vec![(
                HeaderName::from_static("authorization"),
                HeaderValue::from_static("Bearer stored-token"),
            )],
            query: Vec::new(),
            path_segments: Vec::new(),
            body: Vec::new(),
        };
        let headers = upstream_headers(&incoming, &injection);

        assert_eq!(headers["authorization"], "Bearer stored-token");
        assert_eq!(headers.get_all("authorization").iter().count(), 1);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["accept"], "application/vnd.github+json");
        assert_eq!(headers["x-custom"], "1");
        assert!(headers.get("provider-config-key").is_none());
        assert!(headers.get("connection-id").is_none());
        assert!(headers.get("transfer-encoding").is_none());
        assert!(headers.get("host").is_none());
        assert_eq!(headers.len(), 4);
    }

    #[test]
    fn forwarded_content_type_replaces_callers() {
        let incoming = header_map(&[
            ("content-type", "application/json"),
            (
                "nango-proxy-content-type",
                "application/x-www-form-urlencoded",
            ),
        ]);
        let injection = Injection {
            headers: Vec::new(),
            query: Vec::new(),
            path_segments: Vec::new(),
            body: Vec::new(),
        };
        let headers = upstream_headers(&incoming, &injection);
        let values: Vec<_> = headers.get_all(CONTENT_TYPE).iter().collect();
        assert_eq!(values, ["application/x-www-form-urlencoded"]);
    }

    #[test]
    fn dot_segments_are_rejected() {
        let rejected = [
            "/../admin",
            "/a/./b",
            "/a/..",
            "/%2e%2e/admin",
            "/%2E%2E/admin",
            "/%2e./admin",
            "/.%2E/admin",
            "/%2e/admin",
            "/a\\..\\admin",
            "/x%2f..%2f..%2fhits",
            "/x%2F..%2Fhits",
            "/x%5c..%5cy",
            "/x%5C.%5Cy",
            "/x/..;/y",
            "/x/.;/y",
            "/x/..;jsessionid=1/y",
            "/x/%2e%2e;/y",
            "/x/%2e%2e%3b/y",
            "/%252e%252e/admin%2f..",
        ];
        for path in rejected {
            let error = check_path_segments(path).unwrap_err();
            assert_eq!(error.code, "invalid_proxy_path", "{path}");
            assert!(error.message.contains(path), "{}", error.message);
        }
        let accepted = [
            "/",
            "/users/me",
            "/a..b/.c/..d",
            "/v1/%2e%2ex",
            "/api/v4/projects/group%2Fproject/issues",
            "/api/v4/projects/group%2fsub%2Fproject",
            "/files/a%5Cb",
            "/matrix;a=1/b",
            "/x/..a;/y",
        ];
        for path in accepted {
            assert!(check_path_segments(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn upstream_url_stays_under_base() {
        let base = Url::parse("https://api.example.com/v2/").unwrap();
        for inside in [
            "https://api.example.com/v2",
            "https://api.example.com/v2/users?a=1",
        ] {
            assert!(
                check_within_base(&base, &Url::parse(inside).unwrap()).is_ok(),
                "{inside}"
            );
        }
        let outside = [
            "https://api.example.com/v1/users",
            "https://api.example.com/v2x/users",
            "https://other.example.com/v2/users",
            "http://api.example.com/v2/users",
            "https://api.example.com:8443/v2/users",
        ];
        for url in outside {
            let error = check_within_base(&base, &Url::parse(url).unwrap()).unwrap_err();
            assert_eq!(error.code, "invalid_proxy_path", "{url}");
        }
    }

    /// Path, raw query, injected query parameters, expected URL.
    type TargetCase = (
        &'static str,
        Option<&'static str>,
        Vec<(String, String)>,
        &'static str,
    );

    #[test]
    fn target_url_keeps_query_bytes() {
        let base = Url::parse("https://api.example.com/v2/").unwrap();
        let cases: [TargetCase; 8] = [
            ("/users", None, vec![], "https://api.example.com/v2/users"),
            (
                "/projects/group%2Fproject/issues",
                None,
                vec![],
                "https://api.example.com/v2/projects/group%2Fproject/issues",
            ),
            (
                "/search",
                Some("q=a%20b&q=c+d&empty=&flag"),
                vec![],
                "https://api.example.com/v2/search?q=a%20b&q=c+d&empty=&flag",
            ),
            (
                "/items",
                Some("b=2&a=1"),
                vec![("api_key".to_owned(), "k y".to_owned())],
                "https://api.example.com/v2/items?b=2&a=1&api_key=k+y",
            ),
            (
                "/items",
                None,
                vec![("key".to_owned(), "v".to_owned())],
                "https://api.example.com/v2/items?key=v",
            ),
            (
                "/items",
                Some("api_key=caller&b=%20x&api_key=again"),
                vec![("api_key".to_owned(), "stored".to_owned())],
                "https://api.example.com/v2/items?b=%20x&api_key=stored",
            ),
            (
                "/items",
                Some("api%5Fkey=caller&a=1&&c"),
                vec![("api_key".to_owned(), "stored".to_owned())],
                "https://api.example.com/v2/items?a=1&&c&api_key=stored",
            ),
            (
                "/items",
                Some("api_key=caller"),
                vec![("api_key".to_owned(), "stored".to_owned())],
                "https://api.example.com/v2/items?api_key=stored",
            ),
        ];
        for (path, query, injected, expected) in cases {
            let url = target_url(&base, path, query, &injected).unwrap();
            assert_eq!(url.as_str(), expected);
        }
    }
}
