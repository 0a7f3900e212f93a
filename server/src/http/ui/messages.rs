//! The message history: a searchable list (the filters of
//! `GET /api/v1/messages`), one message with its status changes, the live
//! statuses of a send's first messages, and the CSV export.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};

use super::session::Session;
use super::{OrPage, PageResult, Viewer, render};
use crate::domain::{MessageId, MessageStatus};
use crate::http::api::v1::exports;
use crate::http::api::v1::groups::{self, GroupView};
use crate::http::api::v1::messages::{self, ListQuery, MessageList, MessageView};
use crate::http::{ApiError, AppState};

#[derive(Template)]
#[template(path = "messages.html")]
struct ListPage {
    v: Viewer,
    active: &'static str,
    list: MessageList,
    q: String,
    status: String,
    direction: String,
    tag: String,
    /// The filters as a query string, for the next page and the export.
    query: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct DetailPage {
    v: Viewer,
    active: &'static str,
    m: MessageView,
}

/// How many of a send's messages its result lists with their statuses;
/// every message is in the history.
pub(crate) const LIVE_ROWS: usize = 50;
/// The longest wait between two polls of the statuses.
const MAX_POLL_SECS: u64 = 60;
/// Polls at each wait before it doubles (1 s, 2 s, 4 s … up to the longest).
const POLLS_PER_STEP: u32 = 5;

/// The rows of a send's first messages with their statuses. While one can
/// still change, the rows poll themselves as one request
/// (`/messages/statuses`), waiting longer after every few polls, and
/// the longest wait when only scheduled messages are left to change.
#[derive(Template)]
#[template(path = "message_statuses.html")]
pub(crate) struct StatusRows {
    v: Viewer,
    rows: Vec<MessageView>,
    /// The polls before this answer.
    polls: u32,
}

impl StatusRows {
    /// The first [`LIVE_ROWS`] of `messages`, as the answer to poll number `polls`.
    pub(crate) fn new(v: Viewer, mut messages: Vec<MessageView>, polls: u32) -> Self {
        messages.truncate(LIVE_ROWS);
        Self { v, rows: messages, polls }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Seconds until the next poll; `None` when every status is final.
    fn next_poll(&self) -> Option<u64> {
        let open: Vec<MessageStatus> = self
            .rows
            .iter()
            .filter_map(|m| m.status.parse::<MessageStatus>().ok())
            .filter(|s| !s.is_final())
            .collect();
        if open.is_empty() {
            return None;
        }
        if open.iter().all(|s| *s == MessageStatus::Scheduled) {
            return Some(MAX_POLL_SECS);
        }
        let step = (self.polls / POLLS_PER_STEP).min(6);
        Some((1u64 << step).min(MAX_POLL_SECS))
    }

    /// The next poll's query: its number and the rows' ids.
    fn next_query(&self) -> String {
        let mut query = format!("n={}", self.polls.saturating_add(1));
        for m in &self.rows {
            query.push_str("&id=");
            query.push_str(&urlencode(&m.id));
        }
        query
    }
}

/// The filters the page offers, as `ListQuery` pairs (empty ones left out).
fn filters(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(k, v)| {
            matches!(
                k.as_str(),
                "q" | "status" | "direction" | "tag" | "contact" | "group" | "campaign" | "run" | "cursor"
            ) && !v.trim().is_empty()
        })
        .cloned()
        .collect()
}

fn encode(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&")
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn list_query(pairs: &[(String, String)]) -> Result<ListQuery, crate::http::ApiError> {
    super::from_pairs(pairs.to_vec(), &[])
}

pub async fn list(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let pairs = filters(&pairs);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let q = list_query(&pairs).page(&v)?;
    let list = messages::list_messages(State(state), auth, Ok(Query(q))).await.page(&v)?.0;
    let without_cursor: Vec<_> = pairs.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    Ok(render(&ListPage {
        active: "messages",
        q: get("q"),
        status: get("status"),
        direction: get("direction"),
        tag: get("tag"),
        query: encode(&without_cursor),
        list,
        v,
    }))
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    v: Viewer,
    active: &'static str,
    list: MessageList,
    groups: Vec<GroupView>,
    q: String,
    tag: String,
    group: String,
    query: String,
    /// The first page refreshes itself; a later one (with a cursor) stays put.
    live: bool,
}

/// Messages received, newest first, with the history's search filters; the
/// first page's rows refresh themselves while it is open (a later page
/// stays where it is), and each has a reply from the number it was sent to.
pub async fn inbox(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let pairs: Vec<_> = filters(&pairs).into_iter().filter(|(k, _)| k != "direction").collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let q = list_query(&pairs).page(&v)?;
    let groups = groups::list_groups(State(state.clone()), auth.clone()).await.page(&v)?.0.groups;
    let list = messages::list_inbound(State(state), auth, Ok(Query(q))).await.page(&v)?.0;
    let without_cursor: Vec<_> = pairs.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    Ok(render(&InboxPage {
        active: "inbox",
        q: get("q"),
        tag: get("tag"),
        group: get("group"),
        live: get("cursor").is_empty(),
        query: encode(&without_cursor),
        list,
        groups,
        v,
    }))
}

pub async fn export_csv(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let pairs = filters(&pairs);
    let q = list_query(&pairs).page(&v)?;
    exports::messages_csv(State(state), auth, Ok(Query(q))).await.page(&v)
}

pub async fn detail(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let m = messages::get_message(State(state), auth, Path(id)).await.page(&v)?.0;
    Ok(render(&DetailPage { v, active: "messages", m }))
}

/// A send's rows again with their statuses now (`id` repeated, at most
/// [`LIVE_ROWS`]; `n` the number of this poll); htmx polls it from the
/// compose result. An id that is not one of the account's messages is 404.
pub async fn statuses(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let polls = pairs.iter().find(|(k, _)| k == "n").and_then(|(_, n)| n.parse().ok()).unwrap_or(0);
    let ids = pairs.iter().filter(|(k, _)| k == "id").map(|(_, id)| id).take(LIVE_ROWS);
    let mut rows = Vec::new();
    for id in ids {
        let found = match id.parse::<MessageId>() {
            Ok(id) => state.store.get_message(&auth.account_id, &id.to_string()).await,
            Err(_) => Ok(None),
        };
        match found {
            Ok(Some(record)) => rows.push(MessageView::from_record(record, None)),
            Ok(None) => return ApiError::not_found("message").into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    render(&StatusRows::new(v, rows, polls))
}

impl ListPage {
    fn selected(&self, current: &str, value: &str) -> &'static str {
        if current == value { " selected" } else { "" }
    }
}

impl InboxPage {
    fn enc(&self, s: &str) -> String {
        urlencode(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(statuses: &[&str], polls: u32) -> StatusRows {
        let rows = statuses
            .iter()
            .map(|s| MessageView { status: (*s).to_owned(), ..serde_json::from_value(view_json()).unwrap() })
            .collect();
        StatusRows::new(Viewer::test(super::super::i18n::Locale::En), rows, polls)
    }

    fn view_json() -> serde_json::Value {
        serde_json::json!({"id": "m", "direction": "outbound", "to": "+48600100200", "from": null, "text": "Hi",
            "status": "queued", "encoding": "gsm7", "segments": 1, "tags": [], "callback_url": null,
            "connector": null, "smsc_message_id": null, "attempts": 0, "error": null, "send_at": null,
            "created_at": "", "updated_at": ""})
    }

    #[test]
    fn statuses_are_polled_less_often_as_time_goes_on_and_not_once_final() {
        assert_eq!(rows(&["queued", "delivered"], 0).next_poll(), Some(1));
        assert_eq!(rows(&["sent"], 4).next_poll(), Some(1));
        assert_eq!(rows(&["sent"], 5).next_poll(), Some(2));
        assert_eq!(rows(&["sending"], 10).next_poll(), Some(4));
        assert_eq!(rows(&["sent"], 1_000).next_poll(), Some(MAX_POLL_SECS));
        assert_eq!(
            rows(&["scheduled", "delivered"], 0).next_poll(),
            Some(MAX_POLL_SECS),
            "days ahead, maybe"
        );
        assert_eq!(rows(&["delivered", "failed"], 0).next_poll(), None);
        assert_eq!(rows(&["queued"; 80], 0).len(), LIVE_ROWS);
        assert!(rows(&["queued"], 2).next_query().starts_with("n=3&id=m"));
    }

    #[test]
    fn filters_keep_known_non_empty_fields_and_encode_safely() {
        let pairs = vec![
            ("q".to_owned(), "a&b=c".to_owned()),
            ("status".to_owned(), "".to_owned()),
            ("evil".to_owned(), "x".to_owned()),
        ];
        let kept = filters(&pairs);
        assert_eq!(kept.len(), 1);
        assert_eq!(encode(&kept), "q=a%26b%3Dc");
    }
}
