//! `GET /providers` and `GET /providers/{name}`.

use axum::extract::{Path, State};
use axum::Json;

use super::data;
use crate::error::ApiError;
use crate::AppState;

/// Lists every provider, sorted by name.
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let providers: Vec<serde_json::Value> = state
        .catalog
        .values()
        .map(provider_json)
        .collect::<Result<_, _>>()?;
    Ok(data(serde_json::Value::Array(providers)))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let provider = state.provider(&name)?;
    Ok(data(provider_json(provider)?))
}

fn provider_json(provider: &latchkey_catalog::Provider) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(provider).map_err(|error| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("cannot serialize provider `{}`: {error}", provider.name),
        )
    })
}
