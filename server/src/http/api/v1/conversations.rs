//! `/api/v1/conversations`: one thread per phone that wrote in, with every
//! message to and from it in order, and replying from the thread (through
//! the normal queue, from the number the phone last wrote to or was last
//! written from).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::messages::{MessageView, SendRequest};
use crate::domain::PhoneNumber;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::format_micros;

#[derive(Deserialize, IntoParams)]
pub struct ConversationQuery {
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactRef {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationSummary {
    pub phone: String,
    pub contact: Option<ContactRef>,
    /// The account's number the phone last wrote to.
    pub number: Option<String>,
    /// Messages received from the phone.
    pub received: i64,
    pub last_received_at: String,
    /// The newest message either way.
    pub last_message: Option<MessageView>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Thread {
    pub phone: String,
    pub contact: Option<ContactRef>,
    /// The number a reply from the thread is sent from.
    pub reply_from: Option<String>,
    /// Oldest first; `next_cursor` fetches the older page.
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadReply {
    #[schema(required = true)]
    pub text: Option<String>,
    /// Send even if the phone opted out of marketing (an answer to its
    /// question is not marketing).
    pub transactional: Option<bool>,
}

fn phone_of(raw: &str, state: &AppState) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, state.region).map_err(|e| ApiError::field("phone", e.to_string()))
}

async fn contact_ref(
    state: &AppState,
    account_id: &str,
    phone: &PhoneNumber,
) -> Result<Option<ContactRef>, ApiError> {
    let Some(id) = state.store.contact_id_by_phone(account_id, phone).await? else { return Ok(None) };
    Ok(state.store.get_contact(account_id, &id).await?.map(|c| ContactRef { id: c.id, name: c.name }))
}

/// A page's end in the list of conversations: its last one's time and
/// phone (conversations may share a time), written `<micros>.<phone in
/// hex>` so that it needs no escaping in a URL.
fn cursor(last_at: i64, phone: &str) -> String {
    format!("{last_at}.{}", hex::encode(phone))
}

/// The time and phone a [`cursor`] holds.
fn read_cursor(s: &str) -> Option<(i64, String)> {
    let (at, phone) = s.split_once('.')?;
    Some((at.parse().ok()?, String::from_utf8(hex::decode(phone).ok()?).ok()?))
}

/// The phones that wrote in, newest first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ConversationQuery),
    responses((status = 200, body = ConversationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_conversations(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = super::paging::limit(q.limit)?;
    let after = q
        .cursor
        .map(|c| read_cursor(&c).ok_or_else(|| ApiError::query("cursor", "is not a cursor from this API")))
        .transpose()?;
    let after_ref = after.as_ref().map(|(at, phone)| (*at, phone.as_str()));
    let mut rows = state.store.list_conversations(&auth.account_id, after_ref, limit + 1).await?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| cursor(r.last_at, &r.phone))
    } else {
        None
    };
    let mut conversations = Vec::with_capacity(rows.len());
    for r in rows {
        let phone = PhoneNumber::parse(&r.phone, None).ok();
        let contact = match &phone {
            Some(p) => contact_ref(&state, &auth.account_id, p).await?,
            None => None,
        };
        let last = state.store.thread_ids(&auth.account_id, &r.phone, None, 1).await?;
        let last_message = match last.first() {
            Some(id) => state
                .store
                .get_message(&auth.account_id, id)
                .await?
                .map(|m| MessageView::from_record(m, None)),
            None => None,
        };
        conversations.push(ConversationSummary {
            phone: r.phone,
            contact,
            number: r.number,
            received: r.received,
            last_received_at: format_micros(r.last_at),
            last_message,
        });
    }
    Ok(Json(ConversationList { conversations, next_cursor }))
}

/// Every message to and from one phone, oldest first (one page of the newest).
#[utoipa::path(get, path = "/api/v1/conversations/{phone}", tag = "conversations", params(
        ("phone" = String, Path, description = "The phone number (E.164; `+` may be written %2B)"), ConversationQuery),
    responses((status = 200, body = Thread), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_thread(
    State(state): State<AppState>,
    auth: Auth,
    Path(phone): Path<String>,
    query: Result<Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Thread>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = super::paging::limit(q.limit)?;
    let cursor = super::paging::cursor(q.cursor)?;
    let phone = phone_of(&phone, &state)?;
    let mut ids =
        state.store.thread_ids(&auth.account_id, phone.as_str(), cursor.as_deref(), limit + 1).await?;
    let next_cursor = if ids.len() > limit {
        ids.truncate(limit);
        ids.last().cloned()
    } else {
        None
    };
    ids.reverse();
    let mut messages = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(m) = state.store.get_message(&auth.account_id, id).await? {
            messages.push(MessageView::from_record(m, None));
        }
    }
    Ok(Json(Thread {
        contact: contact_ref(&state, &auth.account_id, &phone).await?,
        reply_from: state.store.last_number_with(&auth.account_id, phone.as_str()).await?,
        phone: phone.as_str().to_owned(),
        messages,
        next_cursor,
    }))
}

/// Reply from the thread: queued like `POST /api/v1/messages`, from the
/// number the phone last wrote to or was written from (else from the
/// account's pool, else the default sender); an `Idempotency-Key` as there.
#[utoipa::path(post, path = "/api/v1/conversations/{phone}/messages", tag = "conversations",
    params(("phone" = String, Path, description = "The phone number"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key within 24 hours returns the first answer and sends nothing again")),
    request_body = ThreadReply,
    responses((status = 202, body = super::messages::SendResponse), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reply_in_thread(
    State(state): State<AppState>,
    auth: Auth,
    Path(phone): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ThreadReply>,
) -> Result<Response, ApiError> {
    let phone = phone_of(&phone, &state)?;
    let input = body.value;
    let from = state.store.last_number_with(&auth.account_id, phone.as_str()).await?;
    let pool = from.is_none() && !state.store.pool_numbers(&auth.account_id).await?.is_empty();
    let request = SendRequest {
        to: Some(serde_json::Value::String(phone.as_str().to_owned())),
        from,
        sender_pool: pool.then_some(true),
        text: input.text,
        transactional: input.transactional,
        ..SendRequest::default()
    };
    // What an `Idempotency-Key` is checked against: the thread and the reply as sent.
    let fingerprint =
        serde_json::json!({"thread": phone.as_str(), "reply": String::from_utf8_lossy(&body.raw)});
    let raw = Bytes::from(serde_json::to_vec(&fingerprint).unwrap_or_default());
    super::messages::send(state, auth, headers, None, JsonBody { value: request, raw }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_its_time_and_phone_and_nothing_else_reads() {
        let c = cursor(1_764_000_000_000_000, "+48600100200");
        assert!(c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '.'), "{c}");
        assert_eq!(read_cursor(&c), Some((1_764_000_000_000_000, "+48600100200".to_owned())));
        for bad in ["", "abc", "1764000000000000", "x.2b34", "17.zz", "17.2b3"] {
            assert_eq!(read_cursor(bad), None, "{bad}");
        }
    }
}
