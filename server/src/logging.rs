//! One log line per request: method, matched route, status, latency and the
//! integration and connection ids that handlers record on the request span.
//!
//! Only the route template is logged, never the query string, because
//! `/oauth/connect` and `/connect` carry the connect session token there.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::field::{self, Empty};
use tracing::{Instrument, Span};

use crate::error::ErrorCode;

pub async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "(no route)".to_owned());
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        integration = Empty,
        connection = Empty,
    );

    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    let error_code = response.extensions().get::<ErrorCode>().map(|code| code.0);
    span.in_scope(|| match error_code {
        Some(error_code) => tracing::info!(status, latency_ms, error_code, "request finished"),
        None => tracing::info!(status, latency_ms, "request finished"),
    });
    response
}

/// Records the integration key on the current request's log line. Ids are
/// recorded in Debug form (quoted, with CR, LF and ESC escaped), because
/// they come from the request path or headers.
pub fn record_integration(unique_key: &str) {
    Span::current().record("integration", field::debug(unique_key));
}

/// Records the integration key and the connection id on the current
/// request's log line, in Debug form like [`record_integration`].
pub fn record_connection(provider_config_key: &str, connection_id: &str) {
    let span = Span::current();
    span.record("integration", field::debug(provider_config_key));
    span.record("connection", field::debug(connection_id));
}
