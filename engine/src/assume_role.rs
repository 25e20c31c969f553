//! Temporary keys from AWS STS `AssumeRole` for an `aws_sigv4` provider with
//! `assume_role`: the call, signed with SigV4 for service `sts` with the
//! integration's keys, and its XML reply.
//!
//! The call follows the STS Query API (API version 2011-06-15): a POST with
//! a form body of `Action=AssumeRole`, `Version`, `RoleArn`,
//! `RoleSessionName` and optionally `DurationSeconds`. A success is an
//! `AssumeRoleResponse` whose `AssumeRoleResult/Credentials` carries
//! `AccessKeyId`, `SecretAccessKey`, `SessionToken` and `Expiration`; a
//! failure is an `ErrorResponse` whose `Error` carries `Code` and `Message`.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::HeaderValue;
use latchkey_catalog::{AssumeRole, Auth, AwsSigV4, Provider};
use serde::Deserialize;

use crate::aws_sigv4::{self, AwsKeys};
use crate::redact::redact;
use crate::template::{config_variables, render};
use crate::url_template::render_url;
use crate::{ConnectionConfig, Engine, EngineError, ProviderErrorKind, Secret};

/// `Version` of the STS Query API.
const STS_API_VERSION: &str = "2011-06-15";
/// Renewal margin when the file sets no `refresh_margin_seconds`.
const DEFAULT_MARGIN: TimeDelta = TimeDelta::minutes(5);
/// Largest STS reply read, in bytes. A real reply is about 2 KB.
const MAX_REPLY_BYTES: usize = 64 * 1024;
/// Characters of a non-XML error reply quoted in an error.
const QUOTED_CHARS: usize = 200;

/// The values of one `AssumeRole` call.
pub struct AssumeRoleCall<'a> {
    /// ARN of the role the connection entered.
    pub role_arn: &'a str,
    /// `RoleSessionName`: 2 to 64 characters of `[A-Za-z0-9_=,.@-]`.
    pub session_name: &'a str,
    /// The integration's access key id, which signs the call.
    pub access_key_id: &'a str,
    /// The integration's secret access key.
    pub secret_access_key: &'a Secret,
}

/// Temporary keys that STS returned.
#[derive(Debug)]
pub struct AssumedRoleKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expires_at: DateTime<Utc>,
}

impl Engine {
    /// Calls STS `AssumeRole` for `call.role_arn` at the provider's
    /// `assume_role.sts_url` and returns the temporary keys.
    ///
    /// A reply other than 2xx with an STS `ErrorResponse` is
    /// [`EngineError::Provider`] with STS's `Code` and `Message`, which is
    /// temporary for HTTP 5xx and `Throttling`. Any other unusable reply is
    /// [`EngineError::InvalidResponse`].
    pub async fn assume_role(
        &self,
        provider: &Provider,
        call: &AssumeRoleCall<'_>,
        config: &ConnectionConfig,
        now: DateTime<Utc>,
    ) -> Result<AssumedRoleKeys, EngineError> {
        let request = assume_role_request(provider, call, config, now)?;
        let endpoint = format!(
            "{}{}",
            request.url().origin().ascii_serialization(),
            request.url().path()
        );
        tracing::debug!(provider = %provider.name, %endpoint, "sending STS AssumeRole");
        let (status, body) = self.send_sts(provider, &endpoint, request).await?;
        tracing::info!(provider = %provider.name, %endpoint, status, "STS AssumeRole finished");
        parse_reply(provider, status, &body, call.secret_access_key, Utc::now())
    }

    async fn send_sts(
        &self,
        provider: &Provider,
        endpoint: &str,
        request: reqwest::Request,
    ) -> Result<(u16, Vec<u8>), EngineError> {
        let failure = |error: &reqwest::Error| {
            let timed_out = if error.is_timeout() {
                " (timed out)"
            } else {
                ""
            };
            EngineError::Transport(format!(
                "STS AssumeRole of provider `{}` at {endpoint} failed: {error}{timed_out}",
                provider.name
            ))
        };
        let mut response = self.http.execute(request).await.map_err(|e| failure(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failure(&e))? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(EngineError::Transport(format!(
                    "STS AssumeRole of provider `{}` at {endpoint} failed: the reply is larger than {MAX_REPLY_BYTES} bytes",
                    provider.name
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

/// Returns whether keys obtained at `obtained_at` that expire at
/// `expires_at` are due for renewal: within the provider's
/// `refresh_margin_seconds` (300 when unset) of `expires_at`, capped at half
/// their lifetime.
pub fn assumed_keys_due(
    provider: &Provider,
    obtained_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let configured = settings(provider)
        .and_then(|(_, assume_role)| assume_role.refresh_margin_seconds)
        .map(|seconds| TimeDelta::seconds(i64::from(seconds)))
        .unwrap_or(DEFAULT_MARGIN);
    let half_lifetime = ((expires_at - obtained_at) / 2).max(TimeDelta::zero());
    now >= expires_at - configured.min(half_lifetime)
}

fn settings(provider: &Provider) -> Option<(&AwsSigV4, &AssumeRole)> {
    match &provider.auth {
        Auth::AwsSigv4(aws) => aws
            .assume_role
            .as_ref()
            .map(|assume_role| (aws, assume_role)),
        _ => None,
    }
}

/// Builds the signed `AssumeRole` request: the form body, then SigV4 for
/// service `sts` in the connection's region with the integration's keys.
fn assume_role_request(
    provider: &Provider,
    call: &AssumeRoleCall<'_>,
    config: &ConnectionConfig,
    now: DateTime<Utc>,
) -> Result<reqwest::Request, EngineError> {
    let Some((aws, assume_role)) = settings(provider) else {
        return Err(EngineError::Unsupported(format!(
            "provider `{}` has no `auth.assume_role`, so its connections enter their own keys",
            provider.name
        )));
    };
    let vars = config_variables(provider, config);
    let url = render_url(
        provider,
        "auth.assume_role.sts_url",
        assume_role.sts_url_template(),
        &vars,
    )?;
    // The region renders as for proxied requests; `sign` checks its form.
    let region = render(&provider.name, "auth.region", &aws.region, &vars)?;

    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "AssumeRole")
        .append_pair("Version", STS_API_VERSION)
        .append_pair("RoleArn", call.role_arn)
        .append_pair("RoleSessionName", call.session_name);
    if let Some(seconds) = assume_role.duration_seconds {
        form.append_pair("DurationSeconds", &seconds.to_string());
    }
    let body = form.finish();

    let mut request = reqwest::Request::new(reqwest::Method::POST, url);
    let headers = request.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("text/xml"));
    *request.body_mut() = Some(body.into());

    let sts = AwsSigV4 {
        service: "sts".to_owned(),
        region,
        double_encode_path: true,
        assume_role: None,
    };
    let keys = AwsKeys {
        access_key_id: call.access_key_id,
        secret_access_key: call.secret_access_key,
        session_token: None,
    };
    aws_sigv4::sign(provider, &sts, config, &keys, now, &mut request)?;
    Ok(request)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    assume_role_result: AssumeRoleResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResult {
    credentials: StsCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: StsError,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsError {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

/// Reads the STS reply, received at `received_at`. Neither the success
/// body nor the parse error of one is quoted, because a success body
/// contains the temporary keys. Keys whose `Expiration` is not after
/// `received_at` are rejected, because no request could use them.
fn parse_reply(
    provider: &Provider,
    status: u16,
    body: &[u8],
    signing_secret: &Secret,
    received_at: DateTime<Utc>,
) -> Result<AssumedRoleKeys, EngineError> {
    let text = String::from_utf8_lossy(body);
    if !(200..300).contains(&status) {
        return Err(error_reply(provider, status, &text, signing_secret));
    }
    let invalid = |problem: String| EngineError::InvalidResponse {
        status,
        message: format!(
            "provider `{}`: the STS AssumeRole reply (HTTP {status}) {problem}",
            provider.name
        ),
        body_start: String::new(),
    };
    let reply: AssumeRoleResponse = quick_xml::de::from_str(&text).map_err(|_| {
        invalid(
            "is not an AssumeRoleResponse with AssumeRoleResult/Credentials/AccessKeyId, \
             SecretAccessKey, SessionToken and Expiration"
                .to_owned(),
        )
    })?;
    let credentials = reply.assume_role_result.credentials;
    let expires_at = DateTime::parse_from_rfc3339(credentials.expiration.trim())
        .map_err(|_| {
            invalid(format!(
                "has Expiration {:?}, which is not an ISO 8601 time such as 2026-01-01T00:00:00Z",
                credentials.expiration
            ))
        })?
        .with_timezone(&Utc);
    if expires_at <= received_at {
        return Err(invalid(format!(
            "has Expiration {:?}, which is already past at {}; check the clocks of STS and of this host",
            credentials.expiration.trim(),
            received_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )));
    }
    let values = [
        ("AccessKeyId", &credentials.access_key_id),
        ("SecretAccessKey", &credentials.secret_access_key),
        ("SessionToken", &credentials.session_token),
    ];
    for (name, value) in values {
        let usable = !value.trim().is_empty() && HeaderValue::from_str(value.trim()).is_ok();
        if !usable {
            return Err(invalid(format!(
                "has an empty {name}, or one that cannot be sent in a header"
            )));
        }
    }
    Ok(AssumedRoleKeys {
        access_key_id: credentials.access_key_id.trim().to_owned(),
        secret_access_key: Secret::new(credentials.secret_access_key.trim()),
        session_token: Secret::new(credentials.session_token.trim()),
        expires_at,
    })
}

/// Turns a reply other than 2xx into an error: STS's `Code` and `Message`
/// when the body is an `ErrorResponse`, else the start of the body.
fn error_reply(
    provider: &Provider,
    status: u16,
    text: &str,
    signing_secret: &Secret,
) -> EngineError {
    match quick_xml::de::from_str::<ErrorResponse>(text) {
        Ok(reply) => {
            let code = reply.error.code;
            let kind = if status >= 500 || code == "Throttling" {
                ProviderErrorKind::Temporary
            } else {
                ProviderErrorKind::Other
            };
            EngineError::Provider {
                provider: provider.name.clone(),
                kind,
                status,
                code,
                description: reply
                    .error
                    .message
                    .map(|message| redact(&message, [signing_secret.expose()])),
            }
        }
        Err(_) => {
            let start: String = text.chars().take(QUOTED_CHARS).collect();
            EngineError::InvalidResponse {
                status,
                message: format!(
                    "provider `{}`: STS AssumeRole failed with HTTP {status} and a body that is not an STS ErrorResponse",
                    provider.name
                ),
                body_start: redact(&start, [signing_secret.expose()]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const PROVIDER: &str = "name: assumed-example
display_name: Assumed example
auth:
  mode: aws_sigv4
  service: \"{{ service }}\"
  region: \"{{ region }}\"
  assume_role:
    sts_url: http://127.0.0.1:9/sts
    duration_seconds: 900
    refresh_margin_seconds: 60
connection_config:
  region: {title: AWS region, optional: true, pattern: '[a-z]{2}(-[a-z]+)+-[0-9]+'}
  service: {title: AWS service, automated: true, integration_default: true, pattern: '[a-z0-9-]+'}
proxy:
  base_url: https://{{ service }}.{{ region }}.amazonaws.com
";
    /// The secret of AWS's published SigV4 examples.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn provider(source: &str) -> Provider {
        latchkey_catalog::parse_provider("assumed-example.yaml", source).unwrap()
    }

    fn config() -> ConnectionConfig {
        serde_json::from_value(serde_json::json!({"region": "eu-west-3", "service": "s3"})).unwrap()
    }

    fn header<'a>(request: &'a reqwest::Request, name: &str) -> &'a str {
        request.headers()[name].to_str().unwrap()
    }

    /// The signature was computed with botocore 1.35.99's `SigV4Auth` over
    /// the same request (`tests/peers/sts_peer.py` verifies it the same
    /// way), so this checks the bytes against a second implementation.
    #[test]
    fn assume_role_request_bytes() {
        struct Case {
            name: &'static str,
            source: String,
            url: &'static str,
            body: &'static str,
            signature: &'static str,
        }
        let cases = [
            Case {
                name: "duration set",
                source: PROVIDER.to_owned(),
                url: "http://127.0.0.1:9/sts",
                body: "Action=AssumeRole&Version=2011-06-15\
                       &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FReader\
                       &RoleSessionName=latchkey-conn-1&DurationSeconds=900",
                signature: "9596b65a1ef7aaf7245b2c795ab0c7737ae59fb2bd6369347d625dc931acf64c",
            },
            Case {
                name: "default endpoint, no duration",
                source: PROVIDER
                    .replace("    sts_url: http://127.0.0.1:9/sts\n", "")
                    .replace("    duration_seconds: 900\n", ""),
                url: "https://sts.eu-west-3.amazonaws.com/",
                body: "Action=AssumeRole&Version=2011-06-15\
                       &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FReader\
                       &RoleSessionName=latchkey-conn-1",
                signature: "6405969981fb78b1bec5a6dba4f33f0187a55e2282ab9690e020a5332cc05ce2",
            },
        ];
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let secret = Secret::new(SECRET);
        let call = AssumeRoleCall {
            role_arn: "arn:aws:iam::123456789012:role/Reader",
            session_name: "latchkey-conn-1",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: &secret,
        };
        for case in cases {
            let provider = provider(&case.source);

            let request = assume_role_request(&provider, &call, &config(), now).unwrap();

            let name = case.name;
            assert_eq!(request.method(), reqwest::Method::POST, "{name}");
            assert_eq!(request.url().as_str(), case.url, "{name}");
            let body = request.body().and_then(|b| b.as_bytes()).unwrap();
            assert_eq!(std::str::from_utf8(body).unwrap(), case.body, "{name}");
            assert_eq!(
                header(&request, "content-type"),
                "application/x-www-form-urlencoded; charset=utf-8",
                "{name}"
            );
            assert_eq!(header(&request, "x-amz-date"), "20260102T030405Z", "{name}");
            assert_eq!(
                header(&request, "x-amz-content-sha256"),
                aws_sigv4::hex(&<sha2::Sha256 as sha2::Digest>::digest(body)),
                "{name}"
            );
            assert!(
                request.headers().get("x-amz-security-token").is_none(),
                "{name}"
            );
            assert_eq!(
                header(&request, "authorization"),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/eu-west-3/sts/aws4_request, \
                     SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
                    case.signature
                ),
                "{name}"
            );
        }
    }

    const SUCCESS: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>DevUser123</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/Reader/latchkey-conn-1</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:latchkey-conn-1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>temporary/secret+key</SecretAccessKey>
      <SessionToken>session-token-value</SessionToken>
      <Expiration>2026-01-02T04:04:05Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#;

    /// The time the tests receive `SUCCESS`, an hour before its expiration.
    fn before_expiration() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn success_reply_parsed() {
        let provider = provider(PROVIDER);

        let keys = parse_reply(
            &provider,
            200,
            SUCCESS.as_bytes(),
            &Secret::new(SECRET),
            before_expiration(),
        )
        .unwrap();

        assert_eq!(keys.access_key_id, "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(keys.secret_access_key.expose(), "temporary/secret+key");
        assert_eq!(keys.session_token.expose(), "session-token-value");
        assert_eq!(
            keys.expires_at,
            Utc.with_ymd_and_hms(2026, 1, 2, 4, 4, 5).unwrap()
        );
    }

    #[test]
    fn unusable_replies_rejected() {
        let error = |code: &str, message: &str| {
            format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>1</RequestId></ErrorResponse>"
            )
        };
        let cases = [
            (
                "access denied",
                403,
                error("AccessDenied", "not authorized to perform sts:AssumeRole"),
                "rejected the token request with HTTP 403 and error `AccessDenied`: not authorized to perform sts:AssumeRole",
                false,
            ),
            (
                "signature echoed with the secret",
                403,
                error("SignatureDoesNotMatch", &format!("bad signature for {SECRET}")),
                "error `SignatureDoesNotMatch`: bad signature for [redacted]",
                false,
            ),
            (
                "throttled",
                400,
                error("Throttling", "Rate exceeded"),
                "error `Throttling`",
                true,
            ),
            (
                "server error",
                503,
                error("ServiceUnavailable", "try later"),
                "error `ServiceUnavailable`",
                true,
            ),
            (
                "HTML error page",
                502,
                "<html>bad gateway</html>".to_owned(),
                "not an STS ErrorResponse (body starts with \"<html>bad gateway</html>\")",
                true,
            ),
            (
                "no session token",
                200,
                SUCCESS.replace("<SessionToken>session-token-value</SessionToken>", ""),
                "is not an AssumeRoleResponse",
                false,
            ),
            (
                "empty access key",
                200,
                SUCCESS.replace("ASIAIOSFODNN7EXAMPLE", " "),
                "has an empty AccessKeyId",
                false,
            ),
            (
                "bad expiration",
                200,
                SUCCESS.replace("2026-01-02T04:04:05Z", "tomorrow"),
                "has Expiration \"tomorrow\"",
                false,
            ),
            (
                "past expiration",
                200,
                SUCCESS.replace("2026-01-02T04:04:05Z", "2020-01-01T00:00:00Z"),
                "has Expiration \"2020-01-01T00:00:00Z\", which is already past at 2026-01-02T03:04:05Z",
                false,
            ),
            (
                "expiration at receipt",
                200,
                SUCCESS.replace("2026-01-02T04:04:05Z", "2026-01-02T03:04:05Z"),
                "has Expiration \"2026-01-02T03:04:05Z\", which is already past",
                false,
            ),
        ];
        let provider = provider(PROVIDER);
        for (name, status, body, message, temporary) in cases {
            let error = parse_reply(
                &provider,
                status,
                body.as_bytes(),
                &Secret::new(SECRET),
                before_expiration(),
            )
            .unwrap_err();

            let text = error.to_string();
            assert!(text.contains(message), "{name}: {text}");
            assert!(!text.contains("temporary/secret+key"), "{name}: {text}");
            assert_eq!(error.is_temporary(), temporary, "{name}: {text}");
        }
    }

    #[test]
    fn renewal_due_at_margin() {
        let provider = provider(PROVIDER);
        let obtained = Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).unwrap();
        let cases = [
            // One hour of lifetime, 60 s of margin.
            (3600, 3539, false),
            (3600, 3540, true),
            // 60 s of lifetime: the margin is capped at half of it.
            (60, 29, false),
            (60, 30, true),
        ];
        for (lifetime, elapsed, due) in cases {
            let expires = obtained + TimeDelta::seconds(lifetime);
            let now = obtained + TimeDelta::seconds(elapsed);

            assert_eq!(
                assumed_keys_due(&provider, obtained, expires, now),
                due,
                "lifetime {lifetime} s, after {elapsed} s"
            );
        }
    }
}
