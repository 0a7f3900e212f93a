//! `/api/v1/webhooks/deliveries`: every callback and each of its attempts.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::{ApiError, AppState, Auth};
use crate::storage::format_micros;

#[derive(Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// Only the callbacks of this message.
    pub message_id: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub message_id: Option<String>,
    pub event: String,
    pub url: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub payload: serde_json::Value,
    pub log: Vec<AttemptView>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 401, body = crate::http::error::ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = super::paging::limit(q.limit)?;
    let records =
        state.store.list_webhook_deliveries(&auth.account_id, q.message_id.as_deref(), limit).await?;
    let deliveries = records
        .into_iter()
        .map(|d| DeliveryView {
            next_attempt_at: (d.status == "pending").then(|| format_micros(d.next_attempt_at)),
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            id: d.id,
            message_id: d.message_id,
            event: d.event,
            url: d.url,
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error,
            created_at: format_micros(d.created_at),
            log: d
                .log
                .into_iter()
                .map(|a| AttemptView {
                    at: format_micros(a.at),
                    response_status: a.response_status,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        })
        .collect();
    Ok(Json(DeliveryList { deliveries }))
}
