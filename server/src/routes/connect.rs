//! Connect sessions (`POST /connect/sessions`) and the page behind their
//! `connect_link` (`GET /connect`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::pages::{self, ConnectForm, Retry};
use crate::records::{ConnectSessionRecord, EndUser};
use crate::validate::check_end_user;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct CreateSession {
    end_user: EndUser,
    #[serde(default)]
    allowed_integrations: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    session_token: Option<String>,
}

/// SHA-256 of a bearer value (session token, OAuth state), hex-encoded: the
/// store keeps only this, so its files never contain the value itself.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Generates a random token: `prefix`, then 32 random bytes in base64url.
pub(super) fn generate_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub async fn create_session(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<Response, ApiError> {
    check_end_user("end_user", &body.end_user)?;
    for key in body.allowed_integrations.iter().flatten() {
        if state.store.get_integration(key)?.is_none() {
            return Err(ApiError::unknown_integration(key));
        }
    }

    let token = generate_token("lk_cs_");
    let now = Utc::now();
    let record = ConnectSessionRecord {
        end_user: body.end_user,
        allowed_integrations: body.allowed_integrations,
        created_at: now,
        expires_at: state
            .settings
            .expiry(now, state.settings.connect_session_ttl)?,
        connected_integrations: Vec::new(),
    };
    state
        .store
        .create_session(&hash_token(&token), &record)
        .await?;
    tracing::info!(end_user = ?record.end_user.id, "created connect session");

    let connect_link = format!(
        "{}/connect?session_token={token}",
        state.settings.public_url
    );
    let body = json!({
        "data": { "token": token, "connect_link": connect_link, "expires_at": record.expires_at }
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Looks up a connect session by its token; 401 when missing, unknown or
/// expired.
pub fn session_for(
    state: &AppState,
    token: Option<&str>,
) -> Result<ConnectSessionRecord, ApiError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::invalid_connect_session_token)?;
    state
        .store
        .get_session(&hash_token(token), Utc::now())?
        .ok_or_else(ApiError::invalid_connect_session_token)
}

/// Renders one form per integration the session allows and an end user
/// can connect (OAuth2, API key, basic). Errors are an HTML page unless the
/// request accepts only JSON.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Response {
    render_page(&state, &query)
        .unwrap_or_else(|error| pages::browser_route_error(&headers, error, Retry::HistoryBack))
}

fn render_page(state: &AppState, query: &PageQuery) -> Result<Response, ApiError> {
    let token = query.session_token.as_deref();
    let session = session_for(state, token)?;
    let token = token.unwrap_or_default();

    let integrations: Vec<_> = state
        .store
        .list_integrations()?
        .into_iter()
        .filter(|integration| session.allows(&integration.unique_key))
        .collect();
    let mut forms = Vec::new();
    for integration in &integrations {
        let Some(provider) = state.catalog.get(&integration.provider) else {
            continue;
        };
        let display_name = integration
            .display_name
            .as_deref()
            .unwrap_or(&provider.display_name);
        forms.extend(ConnectForm::new(
            &integration.unique_key,
            display_name,
            provider,
            &integration.integration_config,
        ));
    }
    Ok(pages::connect_page(
        &state.settings.public_url,
        token,
        &forms,
    ))
}
