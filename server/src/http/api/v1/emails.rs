//! `/api/v1/emails/deliveries`: every e-mail that forwarded a received
//! message or told a person about one, with each attempt at it, and
//! sending one again by hand — the same shapes as the webhook deliveries.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::webhooks::list_filter;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{DeliveryFilter, MailDelivery, format_micros, now_micros};

#[derive(Deserialize, IntoParams)]
pub struct EmailQuery {
    /// Only the e-mails about this received message.
    pub message_id: Option<String>,
    /// Only e-mails in this state: `pending`, `sent` or `failed`.
    pub status: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
    /// The last id of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailList {
    pub deliveries: Vec<EmailView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailView {
    pub id: String,
    /// The received message it is about.
    pub message_id: Option<String>,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent` or `failed` (refused, or gave up).
    pub status: String,
    /// Attempts since it was queued or last re-sent.
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    /// While pending: no attempt after this time.
    pub retry_until: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// Every attempt ever made, oldest first.
    pub log: Vec<EmailAttemptView>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailAttemptView {
    pub at: String,
    /// `sent`, `retry` (the mail server could not be reached or said "try
    /// later") or `failed` (refused).
    pub result: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

const STATUSES: [&str; 3] = ["pending", "sent", "failed"];

impl From<MailDelivery> for EmailView {
    fn from(d: MailDelivery) -> Self {
        let pending = d.status == "pending";
        EmailView {
            next_attempt_at: pending.then(|| format_micros(d.next_attempt_at)),
            retry_until: pending.then(|| format_micros(d.retry_until)),
            id: d.id,
            message_id: d.message_id,
            to: d.to,
            subject: d.subject,
            body: d.body,
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error,
            created_at: format_micros(d.created_at),
            log: d
                .log
                .into_iter()
                .map(|a| EmailAttemptView {
                    at: format_micros(a.at),
                    result: a.result,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// How long e-mails are retried after they were queued or re-sent, in
/// microseconds.
fn window(state: &AppState) -> i64 {
    crate::storage::secs_to_micros(state.config.smtp.retry_window_secs)
}

#[utoipa::path(get, path = "/api/v1/emails/deliveries", tag = "emails", params(EmailQuery),
    responses((status = 200, body = EmailList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_emails(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<EmailQuery>, QueryRejection>,
) -> Result<Json<EmailList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = super::paging::limit(q.limit)?;
    let cursor = super::paging::cursor(q.cursor)?;
    let filter = list_filter(q.message_id.as_deref(), q.status.as_deref(), &STATUSES, cursor.as_deref())?;
    let records = state.store.list_mail_deliveries(&auth.account_id, &filter, limit, window(&state)).await?;
    let next_cursor = (records.len() == limit).then(|| records.last().map(|d| d.id.clone())).flatten();
    Ok(Json(EmailList { deliveries: records.into_iter().map(EmailView::from).collect(), next_cursor }))
}

async fn one(state: &AppState, auth: &Auth, id: &str) -> Result<EmailView, ApiError> {
    let filter = DeliveryFilter { id: Some(id), ..Default::default() };
    let found = state.store.list_mail_deliveries(&auth.account_id, &filter, 1, window(state)).await?;
    found.into_iter().next().map(EmailView::from).ok_or_else(|| ApiError::not_found("e-mail"))
}

/// One e-mail with every attempt.
#[utoipa::path(get, path = "/api/v1/emails/deliveries/{id}", tag = "emails",
    params(("id" = String, Path, description = "E-mail id")),
    responses((status = 200, body = EmailView), (status = 404, body = ErrorBody)))]
pub async fn get_email(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<EmailView>, ApiError> {
    Ok(Json(one(&state, &auth, &id).await?))
}

/// Sends an e-mail again — sent, failed or still pending: due at once,
/// retried with backoff for a new `smtp.retry_window_secs`.
#[utoipa::path(post, path = "/api/v1/emails/deliveries/{id}/resend", tag = "emails",
    params(("id" = String, Path, description = "E-mail id")),
    responses((status = 202, body = EmailView), (status = 404, body = ErrorBody)))]
pub async fn resend_email(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EmailView>), ApiError> {
    let now = now_micros();
    if !state.store.resend_mail(&auth.account_id, &id, now, now.saturating_add(window(&state))).await? {
        return Err(ApiError::not_found("e-mail"));
    }
    Ok((StatusCode::ACCEPTED, Json(one(&state, &auth, &id).await?)))
}
