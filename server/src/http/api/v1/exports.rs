//! `/api/v1/exports`: contacts (all, or of a group) and messages (with the
//! filters of `GET /api/v1/messages`) as CSV or XLSX downloads, streamed
//! as they are written. Filters are checked before the first byte, so a
//! bad one is a clear 4xx; a failure half-way aborts the download.

use std::future::Future;
use std::io;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::contacts::{ContactListQuery, read_filter};
use super::messages::ListQuery;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::MessageFilter;
use crate::transfer::{ChannelWriter, ExportFormat, export_contacts, export_messages};

/// Chunks buffered between the writer and the client.
const CHUNKS_AHEAD: usize = 8;

/// A streamed download of what `write` writes. Never stored by a browser
/// or a proxy on the way (`no-store`): it holds an account's contacts or
/// messages, and the next user of a shared computer must not find it there.
pub(super) fn stream_response<F, Fut>(format: ExportFormat, name: &str, write: F) -> Response
where
    F: FnOnce(ChannelWriter) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHUNKS_AHEAD);
    let out = ChannelWriter::new(tx.clone());
    tokio::spawn(async move {
        if let Err(e) = write(out).await {
            tracing::warn!(error = %format!("{e:#}"), "an export stopped before its end");
            let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.extension());
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    *response.status_mut() = StatusCode::OK;
    response
}

async fn contacts(
    state: AppState,
    auth: Auth,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let filter = read_filter(&state, &auth.account_id, pairs, &["group", "tag", "q", "opted_out"]).await?;
    let store = state.store.clone();
    Ok(stream_response(format, "contacts", move |out| async move {
        export_contacts(&store, &auth.account_id, &filter, format, out, |_| {}).await
    }))
}

/// Contacts as CSV (UTF-8 with a byte-order mark), oldest first.
#[utoipa::path(get, path = "/api/v1/exports/contacts.csv", tag = "exports", params(ContactListQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn contacts_csv(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    contacts(state, auth, query, ExportFormat::Csv).await
}

/// Contacts as an XLSX workbook (a new sheet every 1,048,575 contacts).
#[utoipa::path(get, path = "/api/v1/exports/contacts.xlsx", tag = "exports", params(ContactListQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn contacts_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    contacts(state, auth, query, ExportFormat::Xlsx).await
}

/// The message filters, read as `GET /api/v1/messages` reads them, without
/// paging: an export has every matching message.
fn message_filter(state: &AppState, q: ListQuery) -> Result<MessageFilter, ApiError> {
    if q.cursor.is_some() || q.limit.is_some() {
        let field = if q.cursor.is_some() { "cursor" } else { "limit" };
        return Err(ApiError::query(
            field,
            "an export has every matching message; leave out cursor and limit",
        ));
    }
    q.into_filter(state.region, None)
}

async fn messages(
    state: AppState,
    auth: Auth,
    query: Result<Query<ListQuery>, QueryRejection>,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let filter = message_filter(&state, q)?;
    let store = state.store.clone();
    Ok(stream_response(format, "messages", move |out| async move {
        export_messages(&store, &auth.account_id, &filter, format, out, |_| {}).await
    }))
}

/// Messages as CSV, newest first, with the filters of `GET /api/v1/messages`.
#[utoipa::path(get, path = "/api/v1/exports/messages.csv", tag = "exports", params(ListQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn messages_csv(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    messages(state, auth, query, ExportFormat::Csv).await
}

/// Messages as an XLSX workbook, newest first, with the filters of `GET /api/v1/messages`.
#[utoipa::path(get, path = "/api/v1/exports/messages.xlsx", tag = "exports", params(ListQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn messages_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    messages(state, auth, query, ExportFormat::Xlsx).await
}
