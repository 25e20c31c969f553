//! The cookies of a login reply, stored with the token for providers whose
//! API takes the session as cookies (`token_response.capture_cookies`).

use latchkey_catalog::TokenResponse;

use crate::token_response::RawReply;
use crate::{EngineError, Secret, TokenGrant};

/// Stores the cookies of `reply` in `grant` when `spec` requests them.
/// A reply without a cookie is an invalid token response, because every
/// proxied request would then go out without its session.
pub(crate) fn capture_cookies(
    provider: &str,
    spec: &TokenResponse,
    reply: &RawReply,
    grant: &mut TokenGrant,
) -> Result<(), EngineError> {
    if !spec.capture_cookies {
        return Ok(());
    }
    match cookie_header(&reply.set_cookies) {
        Some(header) => {
            grant.cookies = Some(Secret::new(header));
            Ok(())
        }
        None => Err(EngineError::InvalidResponse {
            status: reply.status,
            message: format!(
                "provider `{provider}` sent a token response without a `Set-Cookie` header, and `token_response.capture_cookies` expects the session in cookies; check the login URL and credentials, or remove `capture_cookies`"
            ),
            body_start: String::new(),
        }),
    }
}

/// Combines `Set-Cookie` values (RFC 6265 section 4.1) into a `Cookie`
/// header value: the `name=value` part of each, without its attributes,
/// joined by `; `. A later cookie replaces an earlier one of the same name
/// in its place. A value without `=`, with an empty name or with a control
/// character is skipped. Returns `None` when no cookie is left.
pub(crate) fn cookie_header(set_cookies: &[String]) -> Option<String> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for set_cookie in set_cookies {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || pair.chars().any(char::is_control) {
            continue;
        }
        match pairs.iter_mut().find(|(existing, _)| *existing == name) {
            Some(existing) => existing.1 = value,
            None => pairs.push((name, value)),
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let joined: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    Some(joined.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_header_table() {
        // (case, Set-Cookie values, expected Cookie header)
        let cases: [(&str, &[&str], Option<&str>); 7] = [
            (
                "one cookie",
                &["B1SESSION=abc; Path=/b1s; HttpOnly"],
                Some("B1SESSION=abc"),
            ),
            (
                "two cookies in order",
                &["B1SESSION=abc; Path=/; Secure", "ROUTEID=.node1; path=/b1s"],
                Some("B1SESSION=abc; ROUTEID=.node1"),
            ),
            (
                "later cookie replaces earlier",
                &["a=1", "b=2", "a=3; Max-Age=60"],
                Some("a=3; b=2"),
            ),
            ("value with equals signs", &["t=x==; Path=/"], Some("t=x==")),
            ("no equals sign skipped", &["garbage", "ok=1"], Some("ok=1")),
            ("empty name skipped", &["=1"], None),
            ("none", &[], None),
        ];
        for (case, set_cookies, expected) in cases {
            let set_cookies: Vec<String> = set_cookies.iter().map(|v| (*v).to_owned()).collect();

            let header = cookie_header(&set_cookies);

            assert_eq!(header.as_deref(), expected, "{case}");
        }
    }

    #[test]
    fn missing_cookie_is_invalid() {
        let spec = TokenResponse {
            capture_cookies: true,
            ..TokenResponse::default()
        };
        let reply = RawReply {
            status: 200,
            content_type: None,
            body: Vec::new(),
            set_cookies: vec!["no-equals-sign".to_owned()],
        };
        let mut grant = TokenGrant {
            token: crate::OAuth2Token {
                access_token: Secret::new("t"),
                refresh_token: None,
                expires_at: None,
                obtained_at: chrono::Utc::now(),
                raw: serde_json::Value::Null,
            },
            connection_config: crate::ConnectionConfig::new(),
            cookies: None,
        };

        let err = capture_cookies("sap", &spec, &reply, &mut grant).unwrap_err();

        assert!(
            err.to_string().contains("without a `Set-Cookie` header"),
            "{err}"
        );
        assert!(grant.cookies.is_none());
    }
}
