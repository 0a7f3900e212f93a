//! `/api/v1/webhooks/deliveries`: every callback (status callbacks and
//! forwards of received messages) with each of its attempts, and sending
//! one again by hand.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{DeliveryFilter, DeliveryRecord, format_micros, now_micros};
use crate::webhooks::window_micros;

#[derive(Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// Only the callbacks of this message (an outbound message, or a
    /// received one that was forwarded).
    pub message_id: Option<String>,
    /// Only callbacks in this state: `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
    /// The last id of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub message_id: Option<String>,
    /// `message.status` (a status callback) or `message.inbound` (a forward).
    pub event: String,
    pub url: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    /// Attempts since it was created or last re-sent.
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    /// While pending: no attempt after this time.
    pub retry_until: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub payload: serde_json::Value,
    /// Every attempt ever made, oldest first.
    pub log: Vec<AttemptView>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        let pending = d.status == "pending";
        DeliveryView {
            next_attempt_at: pending.then(|| format_micros(d.next_attempt_at)),
            retry_until: pending.then(|| format_micros(d.retry_until)),
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
        }
    }
}

/// What a list of deliveries (callbacks here, e-mails in `emails`) shows:
/// those of `message_id`, in `status` (one of `statuses`, else a 400
/// naming `status`), older than `cursor`.
pub(super) fn list_filter<'a>(
    message_id: Option<&'a str>,
    status: Option<&'a str>,
    statuses: &[&str],
    cursor: Option<&'a str>,
) -> Result<DeliveryFilter<'a>, ApiError> {
    if let Some(s) = status.filter(|s| !statuses.contains(s)) {
        return Err(ApiError::query("status", format!("'{s}' is none of {}", statuses.join(", "))));
    }
    Ok(DeliveryFilter { message_id, status, id: None, before: cursor })
}

#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = super::paging::limit(q.limit)?;
    let cursor = super::paging::cursor(q.cursor)?;
    let filter = list_filter(q.message_id.as_deref(), q.status.as_deref(), &STATUSES, cursor.as_deref())?;
    let window = window_micros(&state.config.webhooks);
    let records = state.store.list_webhook_deliveries(&auth.account_id, &filter, limit, window).await?;
    let next_cursor = (records.len() == limit).then(|| records.last().map(|d| d.id.clone())).flatten();
    Ok(Json(DeliveryList { deliveries: records.into_iter().map(DeliveryView::from).collect(), next_cursor }))
}

async fn one(state: &AppState, auth: &Auth, id: &str) -> Result<DeliveryView, ApiError> {
    let filter = DeliveryFilter { id: Some(id), ..Default::default() };
    let window = window_micros(&state.config.webhooks);
    let found = state.store.list_webhook_deliveries(&auth.account_id, &filter, 1, window).await?;
    found.into_iter().next().map(DeliveryView::from).ok_or_else(|| ApiError::not_found("webhook delivery"))
}

/// One callback with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    Ok(Json(one(&state, &auth, &id).await?))
}

/// Sends a callback again — delivered, given up or still pending: due at
/// once, retried with backoff for a new `webhooks.retry_window_secs`.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/resend", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody)))]
pub async fn resend_delivery(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let now = now_micros();
    let until = now.saturating_add(window_micros(&state.config.webhooks));
    if !state.store.resend_webhook(&auth.account_id, &id, now, until).await? {
        return Err(ApiError::not_found("webhook delivery"));
    }
    Ok((StatusCode::ACCEPTED, Json(one(&state, &auth, &id).await?)))
}
