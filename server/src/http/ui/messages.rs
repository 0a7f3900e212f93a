//! The message history: a searchable list (the filters of
//! `GET /api/v1/messages`), one message with its status changes, a live
//! status badge, and the CSV export.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::session::Session;
use super::{OrPage, PageResult, Viewer, render};
use crate::http::AppState;
use crate::http::api::v1::exports;
use crate::http::api::v1::groups::{self, GroupView};
use crate::http::api::v1::messages::{self, ListQuery, MessageList, MessageView};

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

#[derive(Template)]
#[template(path = "message_status.html")]
struct StatusBadge {
    v: Viewer,
    m: MessageView,
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
}

/// Messages received, newest first, with the history's search filters; the
/// rows refresh themselves while the page is open, and each has a reply
/// from the number it was sent to.
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

/// The status badge alone; htmx polls it until the status is final.
pub async fn status(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> Response {
    match messages::get_message(State(state), auth, Path(id)).await {
        Ok(m) => render(&StatusBadge { v, m: m.0 }),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
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

impl StatusBadge {
    /// Whether the status can still change (keep polling).
    fn pending(&self) -> bool {
        matches!(self.m.status.as_str(), "scheduled" | "queued" | "sending" | "sent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
