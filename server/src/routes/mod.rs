//! The router: which path goes to which handler, and which routes need the
//! secret key.

mod app;
mod client_certificate;
mod connect;
mod connections;
mod credential_entry;
mod field_entry;
mod integrations;
pub(crate) mod jwt;
mod oauth;
mod oauth1;
mod providers;
mod proxy;
mod proxy_redirect;
mod signing_credentials;

use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::require_secret_key;
use crate::logging::log_request;
use crate::pages::add_browser_headers;
use crate::AppState;

pub fn router(state: AppState) -> Router {
    let with_secret_key = Router::new()
        .route("/providers", get(providers::list))
        .route("/providers/{name}", get(providers::get))
        .route(
            "/integrations",
            get(integrations::list).post(integrations::create),
        )
        .route(
            "/integrations/{unique_key}",
            get(integrations::get)
                .patch(integrations::update)
                .delete(integrations::delete),
        )
        .route("/connect/sessions", post(connect::create_session))
        .route(
            "/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/connections/{connection_id}",
            get(connections::get).delete(connections::delete),
        )
        // `{*path}` does not match an empty path, so the base URL itself
        // has a route of its own.
        .route("/proxy/", any(proxy::forward))
        .route("/proxy/{*path}", any(proxy::forward))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_secret_key,
        ));

    let browser_flow = Router::new()
        .route("/connect", get(connect::page))
        .route(
            "/connect/{unique_key}/{mode}",
            post(credential_entry::enter),
        )
        .route("/oauth/connect/{unique_key}", get(oauth::connect))
        .route("/oauth/callback", get(oauth::callback))
        .route_layer(middleware::from_fn(add_browser_headers));

    browser_flow
        .route("/health", get(health))
        .merge(with_secret_key)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Wraps a value in the `data` object of most responses.
fn data(value: serde_json::Value) -> Json<serde_json::Value> {
    Json(json!({ "data": value }))
}

/// Reads a boolean query value as Nango's clients send it.
fn parse_flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::invalid_query_params(format!(
            "query parameter `{name}` must be true or false, got `{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests;
