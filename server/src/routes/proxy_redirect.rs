//! Redirects that the proxy follows for a provider with
//! `proxy.follow_redirects`: the credential headers go along only to the
//! base URL's host and the declared hosts, and any other redirect is
//! returned to the caller untouched.

use axum::body::Bytes;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use latchkey_catalog::FollowRedirects;
use latchkey_engine::{sign_request, SigningContext};
use url::Url;

use crate::error::ApiError;

/// Redirects followed for one proxied request before the last redirect
/// goes back to the caller.
const MAX_REDIRECTS: usize = 5;

/// The parts of a proxied request that a followed redirect sends again.
pub(super) struct SentRequest {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Follows the redirects of `upstream` that `policy` allows and returns
/// the first reply that is not a followed redirect. `url` is the URL that
/// `upstream` replied to, and `base` the provider's base URL.
pub(super) async fn follow(
    client: &reqwest::Client,
    policy: &FollowRedirects,
    base: &Url,
    signing: &SigningContext<'_>,
    mut sent: SentRequest,
    mut url: Url,
    mut upstream: reqwest::Response,
) -> Result<reqwest::Response, ApiError> {
    for _ in 0..MAX_REDIRECTS {
        let status = upstream.status();
        if !is_followed_status(status) {
            return Ok(upstream);
        }
        let location = upstream
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok());
        let Some(target) = location.and_then(|location| url.join(location).ok()) else {
            return Ok(upstream);
        };
        if let Err(reason) = check_target(policy, base, &url, &target) {
            tracing::info!(
                target_origin = %target.origin().ascii_serialization(),
                reason,
                "redirect returned to the caller without following it"
            );
            return Ok(upstream);
        }

        // A 303, and a 301 or 302 that replies to a POST, turn into a GET
        // without a body, as browsers do.
        let to_get = status == StatusCode::SEE_OTHER
            || (sent.method == Method::POST
                && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND));
        if to_get {
            sent.method = Method::GET;
            sent.body = Bytes::new();
            sent.headers.remove(CONTENT_TYPE);
            sent.headers.remove(CONTENT_LENGTH);
        }
        let mut request = client
            .request(sent.method.clone(), target.clone())
            .headers(sent.headers.clone())
            .body(sent.body.clone())
            .build()
            .map_err(|error| super::proxy::unreachable_error(&target, error))?;
        sign_request(signing, &mut request).map_err(|error| ApiError::engine(&error))?;
        tracing::debug!(
            target_origin = %target.origin().ascii_serialization(),
            status = status.as_u16(),
            "following redirect"
        );
        upstream = client
            .execute(request)
            .await
            .map_err(|error| super::proxy::unreachable_error(&target, error))?;
        url = target;
    }
    Ok(upstream)
}

fn is_followed_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// Checks that a redirect from `from` to `target` may carry the credential:
/// the scheme stays the same or becomes https, and the target is the base
/// URL's host and port or a host that `policy` lists.
fn check_target(
    policy: &FollowRedirects,
    base: &Url,
    from: &Url,
    target: &Url,
) -> Result<(), &'static str> {
    if target.scheme() != from.scheme() && target.scheme() != "https" {
        return Err("the redirect leaves https or changes the scheme to one other than https");
    }
    if target.origin() == base.origin() {
        return Ok(());
    }
    let Some(host) = target.host_str() else {
        return Err("the redirect target has no host");
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let listed = policy.hosts.iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        match allowed.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == allowed,
        }
    });
    if listed {
        Ok(())
    } else {
        Err("the redirect target is neither the base URL's host nor a host in `proxy.follow_redirects.hosts`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_table() {
        let policy = FollowRedirects {
            hosts: vec!["api.example.com".to_owned(), "*.dayforce.test".to_owned()],
        };
        let base: Url = "https://www.base.test/api".parse().unwrap();
        let from: Url = "https://www.base.test/api/v1/x".parse().unwrap();
        // (case, target, allowed)
        let cases = [
            ("same origin", "https://www.base.test/other", true),
            ("listed host", "https://api.example.com/v1", true),
            ("listed host upper case", "https://API.example.com/v1", true),
            (
                "subdomain wildcard",
                "https://usr57.dayforce.test/api",
                true,
            ),
            ("deeper subdomain", "https://a.b.dayforce.test/api", true),
            (
                "wildcard excludes the domain",
                "https://dayforce.test/api",
                false,
            ),
            (
                "suffix without a dot",
                "https://evildayforce.test/api",
                false,
            ),
            ("unlisted host", "https://attacker.test/api", false),
            ("listed host over http", "http://api.example.com/v1", false),
            (
                "same host other port",
                "https://www.base.test:8443/api",
                false,
            ),
            ("same host over http", "http://www.base.test/api", false),
            (
                "listed host as a suffix",
                "https://api.example.com.attacker.test/",
                false,
            ),
        ];
        for (case, target, allowed) in cases {
            let target: Url = target.parse().unwrap();

            let result = check_target(&policy, &base, &from, &target);

            assert_eq!(result.is_ok(), allowed, "{case}: {result:?}");
        }
    }
}
