//! `GET /api/v1/audit`: the account's audit log, newest first, searchable
//! by user, action, address, interface and time. Owners and admins only
//! (`http/auth.rs`). What is recorded is said in `http/audit.rs`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::messages::parse_time;
use super::paging;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{AuditFilter, AuditRecord, format_micros};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: String,
    pub user_id: Option<String>,
    pub username: String,
    pub api_key_id: Option<String>,
    /// `api`, `ui`, or `cli` (the operator's `kurier user` commands).
    pub via: String,
    /// The route acted on (`POST /api/v1/users/{id}/password`), a data
    /// export (`export GET /api/v1/exports/messages.csv`), or `sign-in`,
    /// `sign-in refused`, `sign-out`.
    pub action: String,
    /// The path acted on (with the query, for an export).
    pub target: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The client's address.
    pub ip: String,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        let e = r.entry;
        Self {
            id: r.id,
            at: format_micros(r.at),
            user_id: e.user_id,
            username: e.username,
            api_key_id: e.api_key_id,
            via: e.via.to_owned(),
            action: e.action,
            target: e.target,
            status: e.status,
            ip: e.ip,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    /// Pass as `cursor` for older entries; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Username.
    pub user: Option<String>,
    /// Part of the action, e.g. `users` or `DELETE`.
    pub action: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// `api` or `ui`.
    pub via: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn search_audit(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = paging::limit(q.limit)?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let via = nonempty(q.via);
    if via.as_deref().is_some_and(|v| !matches!(v, "api" | "ui" | "cli")) {
        return Err(ApiError::query("via", "must be 'api', 'ui' or 'cli'"));
    }
    let time = |field: &str, s: Option<String>| {
        nonempty(s).map(|s| parse_time(field, &s, ApiError::query)).transpose()
    };
    let filter = AuditFilter {
        username: nonempty(q.user),
        action: nonempty(q.action),
        ip: nonempty(q.ip),
        via,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
        before: paging::cursor(nonempty(q.cursor))?,
        limit: limit + 1,
    };
    let mut rows = state.store.search_audit(&auth.account_id, &filter).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|r| r.id.clone()) } else { None };
    Ok(Json(AuditPage { entries: rows.into_iter().map(Into::into).collect(), next_cursor }))
}
