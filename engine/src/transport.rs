//! The HTTP client that sends token requests.

use std::error::Error as _;
use std::sync::Arc;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::HeaderValue;
use latchkey_catalog::{TokenBody, TokenResponse};
use url::Url;

use crate::token_response::RawReply;
use crate::EngineError;

type HttpRequest = http::Request<Vec<u8>>;

/// The largest token reply read, in bytes. Real token replies are a few
/// kilobytes, so this only stops a misbehaving endpoint from filling memory.
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// A token request failure before a complete reply arrived. The message
/// names the provider and the endpoint.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TransportError(String);

/// Sends one token request over the engine's reqwest client and keeps the
/// raw reply.
///
/// [`TokenTransport::send`] takes the transport by value, so its future
/// borrows nothing and stays `Send` for callers that box it as
/// `dyn Future + Send`.
pub(crate) struct TokenTransport {
    http: reqwest::Client,
    provider: Arc<str>,
    grant_type: &'static str,
    endpoint: Arc<str>,
    accept: &'static str,
}

impl TokenTransport {
    pub(crate) fn new(
        http: &reqwest::Client,
        provider: &str,
        grant_type: &'static str,
        token_url: &Url,
    ) -> TokenTransport {
        TokenTransport {
            http: http.clone(),
            provider: provider.into(),
            grant_type,
            endpoint: endpoint_for_logs(token_url).into(),
            accept: "application/json",
        }
    }

    /// Sets the `Accept` header to the media type that `token_response`
    /// reads: `application/xml` for `body: xml`, else `application/json`.
    pub(crate) fn reading(mut self, token_response: &TokenResponse) -> TokenTransport {
        self.accept = match token_response.body {
            TokenBody::Xml => "application/xml",
            TokenBody::Object | TokenBody::Token => "application/json",
        };
        self
    }

    /// Sends `request` with `Accept: application/json`, or the media type
    /// that [`TokenTransport::reading`] set, and returns the raw reply,
    /// which [`crate::token_response::parse_token_reply`] reads with the
    /// definition's paths.
    pub(crate) async fn send(self, mut request: HttpRequest) -> Result<RawReply, EngineError> {
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(self.accept));
        tracing::debug!(
            provider = &*self.provider,
            grant_type = self.grant_type,
            endpoint = %self.endpoint,
            "sending token request"
        );

        let (status, headers, body) = match self.execute(request).await {
            Ok(reply) => reply,
            Err(err) => {
                tracing::info!(
                    provider = &*self.provider,
                    grant_type = self.grant_type,
                    error = %err,
                    "token request failed"
                );
                return Err(EngineError::Transport(err.0));
            }
        };
        tracing::info!(
            provider = &*self.provider,
            grant_type = self.grant_type,
            status = status.as_u16(),
            "token request finished"
        );
        if status.is_redirection() {
            return Err(EngineError::InvalidResponse {
                status: status.as_u16(),
                message: format!(
                    "provider `{}` replied to the token request at {} with a redirect (HTTP {}), which Latchkey does not follow because it would resend the request's secrets; set the provider file's URL to the endpoint that replies directly",
                    self.provider,
                    self.endpoint,
                    status.as_u16()
                ),
                body_start: String::new(),
            });
        }

        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let set_cookies = headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        Ok(RawReply {
            status: status.as_u16(),
            content_type,
            body,
            set_cookies,
        })
    }

    async fn execute(
        &self,
        request: HttpRequest,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>), TransportError> {
        let request = reqwest::Request::try_from(request).map_err(|err| self.failure(&err))?;
        let mut response = self
            .http
            .execute(request)
            .await
            .map_err(|err| self.failure(&err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(&mut response).await?;
        Ok((status, headers, body))
    }

    async fn read_body(&self, response: &mut reqwest::Response) -> Result<Vec<u8>, TransportError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| self.failure(&err))? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(TransportError(format!(
                    "token request to provider `{}` at {} failed: the reply is larger than {MAX_REPLY_BYTES} bytes",
                    self.provider, self.endpoint
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn failure(&self, err: &reqwest::Error) -> TransportError {
        let mut message = format!(
            "token request to provider `{}` at {} failed: {}",
            self.provider,
            self.endpoint,
            describe_chain(err)
        );
        if err.is_timeout() {
            message.push_str(" (timed out)");
        }
        TransportError(message)
    }
}

/// The endpoint without its query string, which might carry a parameter the
/// logs should not show.
fn endpoint_for_logs(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// Joins an error and its sources ("error sending request: connection
/// refused"), leaving out reqwest's repetition of the URL.
fn describe_chain(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }

    let head = match err.url() {
        Some(url) => err.to_string().replace(&format!(" for url ({url})"), ""),
        None => err.to_string(),
    };
    std::iter::once(head)
        .chain(parts)
        .collect::<Vec<_>>()
        .join(": ")
}
