//! Building the body and headers of a token request.
//!
//! The parameters go out in the order RFC 6749 lists them: the grant's own
//! parameters, then the client credentials when they travel in the body,
//! then `redirect_uri` and `scope`, then the definition's extra parameters.
//! A definition may rename standard parameters and choose a JSON body or
//! parameters in the URL's query string.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use latchkey_catalog::{ClientAuth, StandardParam, TokenBodyFormat};
use serde_json::Value;
use url::Url;

use crate::{EngineError, Secret};

/// The client and encoding settings shared by every token request of one
/// provider.
pub(crate) struct TokenClient<'a> {
    pub client_id: &'a str,
    /// Empty for a public client, which then sends only `client_id` in the
    /// body, whatever `client_auth` is set to.
    pub client_secret: &'a Secret,
    pub client_auth: ClientAuth,
    pub body_format: TokenBodyFormat,
    pub param_names: &'a BTreeMap<StandardParam, String>,
}

/// The parameters of one token request, before client authentication.
pub(crate) struct TokenParams {
    /// `grant_type` and the grant's own parameters (`code`, `refresh_token`).
    pub grant: Vec<(StandardParam, String)>,
    /// Standard parameters sent after the client credentials
    /// (`redirect_uri`, `scope`).
    pub trailing: Vec<(StandardParam, String)>,
    /// The definition's rendered extra parameters, sent under their own names.
    pub extra: Vec<(String, String)>,
}

impl TokenClient<'_> {
    /// Builds a POST request to `url` carrying `params`.
    pub(crate) fn request(
        &self,
        url: &Url,
        params: TokenParams,
    ) -> Result<Request<Vec<u8>>, EngineError> {
        let has_secret = !self.client_secret.expose().is_empty();
        let basic_header = has_secret && self.client_auth != ClientAuth::Body;
        let secret_in_body = has_secret && self.client_auth != ClientAuth::Basic;

        let mut pairs: Vec<(String, String)> = Vec::new();
        for (param, value) in params.grant {
            pairs.push((self.name_of(param), value));
        }
        if !basic_header || secret_in_body {
            pairs.push((
                self.name_of(StandardParam::ClientId),
                self.client_id.to_owned(),
            ));
        }
        if secret_in_body {
            let secret = self.client_secret.expose().to_owned();
            pairs.push((self.name_of(StandardParam::ClientSecret), secret));
        }
        for (param, value) in params.trailing {
            pairs.push((self.name_of(param), value));
        }
        pairs.extend(params.extra);

        let mut url = url.clone();
        let (content_type, body) = match self.body_format {
            TokenBodyFormat::Form => (Some("application/x-www-form-urlencoded"), form_body(&pairs)),
            TokenBodyFormat::Json => (Some("application/json"), json_body(&pairs)),
            TokenBodyFormat::Query => {
                url.query_pairs_mut().extend_pairs(&pairs);
                (None, Vec::new())
            }
            // The schema offers `xml` only to `two_step` and `session`
            // requests, whose parameters are nested.
            TokenBodyFormat::Xml => {
                return Err(EngineError::Unsupported(
                    "an OAuth token request cannot be sent as XML; use `form`, `json` or `query`"
                        .to_owned(),
                ))
            }
        };
        let mut request = Request::builder().method(Method::POST).uri(url.as_str());
        match content_type {
            Some(content_type) => {
                request = request.header(CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
            // Servers may reject a POST without a length with 411 Length
            // Required, and the HTTP client sends none for an empty body.
            None => request = request.header(CONTENT_LENGTH, HeaderValue::from_static("0")),
        }
        if basic_header {
            request = request.header(AUTHORIZATION, self.basic_header()?);
        }
        request
            .body(body)
            .map_err(|err| EngineError::Transport(format!("invalid token request: {err}")))
    }

    fn name_of(&self, param: StandardParam) -> String {
        match self.param_names.get(&param) {
            Some(name) => name.clone(),
            None => param.as_str().to_owned(),
        }
    }

    /// `Basic base64(id:secret)`, where id and secret are form-encoded
    /// first (RFC 6749 section 2.3.1), so `$` becomes `%24`.
    fn basic_header(&self) -> Result<HeaderValue, EngineError> {
        let id = form_encode(self.client_id);
        let secret = form_encode(self.client_secret.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|err| EngineError::Transport(format!("invalid Basic header: {err}")))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn form_body(pairs: &[(String, String)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn json_body(pairs: &[(String, String)]) -> Vec<u8> {
    let object: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    Value::Object(object).to_string().into_bytes()
}
