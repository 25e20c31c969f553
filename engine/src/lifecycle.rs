//! When a token must be refreshed before use.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_catalog::{Auth, Provider};

use crate::OAuth2Token;

/// How long before expiry a token is refreshed when the provider sets no
/// `refresh_margin_seconds`.
pub const DEFAULT_REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(15);

/// Returns whether `token` expires within the refresh margin at `now`.
///
/// The margin is the provider's `refresh_margin_seconds` or
/// [`DEFAULT_REFRESH_MARGIN`], capped at half the token's lifetime
/// (`expires_at - obtained_at`) so that a short-lived token is not refreshed
/// on every use. A token of unknown expiry is never due. Neither is a token
/// of an OAuth2 provider marked `refreshable: false`, because no refresh can
/// renew it and it stays usable until it actually expires.
pub fn refresh_due(provider: &Provider, token: &OAuth2Token, now: DateTime<Utc>) -> bool {
    let Some(expires_at) = token.expires_at else {
        return false;
    };
    if let Auth::Oauth2(oauth2) = &provider.auth {
        if !oauth2.refreshable {
            return false;
        }
    }

    let half_lifetime = ((expires_at - token.obtained_at) / 2).max(TimeDelta::zero());
    let margin = configured_margin(&provider.auth).min(half_lifetime);
    now >= expires_at - margin
}

fn configured_margin(auth: &Auth) -> TimeDelta {
    let seconds = match auth {
        Auth::Oauth2(oauth2) => oauth2.refresh_margin_seconds,
        Auth::Oauth2ClientCredentials(cc) => cc.refresh_margin_seconds,
        Auth::TwoStep(two_step) | Auth::Session(two_step) => two_step.refresh_margin_seconds,
        Auth::ApiKey(_)
        | Auth::Basic(_)
        | Auth::None(_)
        | Auth::Signature(_)
        | Auth::AwsSigv4(_) => None,
        Auth::Jwt(jwt) => jwt.refresh_margin_seconds,
        Auth::App(app) => app.refresh_margin_seconds,
        Auth::McpOauth2(mcp) => mcp.refresh_margin_seconds,
        Auth::Oauth1(_) | Auth::Tba(_) => None,
    };
    match seconds {
        // A margin too large for TimeDelta is larger than any lifetime, so
        // the cap at half the lifetime applies.
        Some(seconds) => i64::try_from(seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX),
        None => DEFAULT_REFRESH_MARGIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{oauth2_provider, provider_from_yaml};
    use crate::Secret;

    fn token(obtained_at: &str, expires_at: Option<&str>) -> OAuth2Token {
        OAuth2Token {
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt")),
            expires_at: expires_at.map(|text| text.parse().unwrap()),
            obtained_at: obtained_at.parse().unwrap(),
            raw: serde_json::Value::Null,
        }
    }

    fn with_margin(seconds: u64) -> Provider {
        let mut provider = oauth2_provider();
        if let Auth::Oauth2(oauth2) = &mut provider.auth {
            oauth2.refresh_margin_seconds = Some(seconds);
        }
        provider
    }

    fn not_refreshable() -> Provider {
        let mut provider = oauth2_provider();
        if let Auth::Oauth2(oauth2) = &mut provider.auth {
            oauth2.refreshable = false;
        }
        provider
    }

    #[test]
    fn refresh_due_table() {
        let obtained = "2026-01-01T00:00:00Z";
        let one_hour = Some("2026-01-01T01:00:00Z");
        let ten_minutes = Some("2026-01-01T00:10:00Z");

        // (case, provider, token expiry, now, expected)
        #[rustfmt::skip]
        let cases = [
            ("default margin, 16 min left", oauth2_provider(), one_hour, "2026-01-01T00:44:00Z", false),
            ("default margin, 15 min left", oauth2_provider(), one_hour, "2026-01-01T00:45:00Z", true),
            ("default margin, expired", oauth2_provider(), one_hour, "2026-01-01T02:00:00Z", true),
            ("provider margin 60 s, 2 min left", with_margin(60), one_hour, "2026-01-01T00:58:00Z", false),
            ("provider margin 60 s, 1 min left", with_margin(60), one_hour, "2026-01-01T00:59:00Z", true),
            ("capped at half of 10 min, 6 min left", oauth2_provider(), ten_minutes, "2026-01-01T00:04:00Z", false),
            ("capped at half of 10 min, 5 min left", oauth2_provider(), ten_minutes, "2026-01-01T00:05:00Z", true),
            ("huge provider margin capped", with_margin(u64::MAX), one_hour, "2026-01-01T00:29:00Z", false),
            ("huge provider margin capped, half gone", with_margin(u64::MAX), one_hour, "2026-01-01T00:30:00Z", true),
            ("unknown expiry", oauth2_provider(), None, "2030-01-01T00:00:00Z", false),
            ("provider margin 30 s, 31 s left", with_margin(30), one_hour, "2026-01-01T00:59:29Z", false),
            ("provider margin 30 s, 30 s left", with_margin(30), one_hour, "2026-01-01T00:59:30Z", true),
            ("not refreshable, expired", not_refreshable(), one_hour, "2026-01-01T02:00:00Z", false),
            ("zero lifetime, at once", oauth2_provider(), Some(obtained), obtained, true),
            ("zero lifetime, later", oauth2_provider(), Some(obtained), "2026-01-01T00:00:01Z", true),
        ];

        for (case, provider, expires_at, now, expected) in cases {
            let token = token(obtained, expires_at);
            let now: DateTime<Utc> = now.parse().unwrap();

            assert_eq!(refresh_due(&provider, &token, now), expected, "{case}");
        }
    }

    /// A provider that replies to an early refresh with the same token and the
    /// same absolute expiry: the stored token then has a short lifetime, so
    /// the cap at half of it keeps the next request from refreshing again.
    #[test]
    fn same_token_after_refresh_not_due() {
        let provider = with_margin(30);
        let refreshed = token("2026-01-01T00:59:30Z", Some("2026-01-01T01:00:00Z"));

        // (now, expected)
        let cases = [
            ("2026-01-01T00:59:31Z", false),
            ("2026-01-01T00:59:44Z", false),
            ("2026-01-01T00:59:45Z", true),
        ];
        for (now, expected) in cases {
            let now: DateTime<Utc> = now.parse().unwrap();
            assert_eq!(refresh_due(&provider, &refreshed, now), expected, "{now}");
        }
    }

    #[test]
    fn client_credentials_margin_applies() {
        let provider = provider_from_yaml(
            r#"
name: cc
display_name: CC
auth:
  mode: oauth2_client_credentials
  token_url: https://cc.example/token
  refresh_margin_seconds: 120
proxy:
  base_url: https://cc.example
"#,
        );
        let token = token("2026-01-01T00:00:00Z", Some("2026-01-01T01:00:00Z"));

        let before: DateTime<Utc> = "2026-01-01T00:57:59Z".parse().unwrap();
        let at: DateTime<Utc> = "2026-01-01T00:58:00Z".parse().unwrap();
        assert!(!refresh_due(&provider, &token, before));
        assert!(refresh_due(&provider, &token, at));
    }
}
