//! Conversations: the phones that wrote in, newest first, and one thread
//! per phone with both directions in order, refreshing itself, with a
//! reply box. A reply goes out from the number the phone last wrote to (or
//! was written from). Every read and write is the conversations API.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::messages::urlencode;
use super::session::Session;
use super::{
    FormError, OrPage, PageError, PageResult, Viewer, json_body, new_send_key, render, see_other,
    send_key_headers,
};
use crate::http::AppState;
use crate::http::api::v1::conversations::{self, ConversationList, ConversationQuery, Thread};

#[derive(Template)]
#[template(path = "conversations.html")]
struct ListPage {
    v: Viewer,
    active: &'static str,
    list: ConversationList,
}

#[derive(Deserialize)]
pub struct Paging {
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(p): Query<Paging>,
) -> PageResult {
    let q = ConversationQuery { limit: None, cursor: p.cursor };
    let list = conversations::list_conversations(State(state), auth, Ok(Query(q))).await.page(&v)?.0;
    Ok(render(&ListPage { v, active: "inbox", list }))
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ThreadPage {
    v: Viewer,
    active: &'static str,
    thread: Thread,
    text: String,
    /// The reply form's key ([`new_send_key`]): the same reply posted twice sends once.
    key: String,
    error: FormError,
}

impl ThreadPage {
    /// The thread's own address (the phone with its `+` escaped).
    fn path(&self) -> String {
        format!("/conversations/{}", urlencode(&self.thread.phone))
    }
}

impl ListPage {
    fn path(&self, phone: &str) -> String {
        format!("/conversations/{}", urlencode(phone))
    }
}

async fn thread_of(
    state: &AppState,
    auth: &crate::http::Auth,
    phone: &str,
) -> Result<Thread, crate::http::ApiError> {
    let q = ConversationQuery { limit: Some(100), cursor: None };
    let thread =
        conversations::get_thread(State(state.clone()), auth.clone(), Path(phone.to_owned()), Ok(Query(q)))
            .await?
            .0;
    // A phone the account never exchanged a message with and has no contact
    // for has no conversation page (as another account's thread has none).
    if thread.messages.is_empty() && thread.contact.is_none() {
        return Err(crate::http::ApiError::not_found("conversation"));
    }
    Ok(thread)
}

pub async fn thread(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(phone): Path<String>,
) -> PageResult {
    let thread = thread_of(&state, &auth, &phone).await.page(&v)?;
    let key = new_send_key();
    Ok(render(&ThreadPage {
        v,
        active: "inbox",
        thread,
        text: String::new(),
        key,
        error: FormError::default(),
    }))
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    text: String,
    /// Ticked: an answer to the phone's question, sent even if it opted out
    /// of marketing.
    #[serde(default)]
    transactional: Option<String>,
    #[serde(default)]
    idempotency_key: String,
}

/// Sends the reply through the API, then shows the thread (with the reply
/// in it) or the form again with the API's error.
pub async fn reply(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(phone): Path<String>,
    Form(f): Form<ReplyForm>,
) -> PageResult {
    let outcome = async {
        thread_of(&state, &auth, &phone).await?;
        let headers = send_key_headers(&f.idempotency_key)?;
        let body = json_body(json!({"text": f.text, "transactional": f.transactional.is_some()}))?;
        conversations::reply_in_thread(State(state.clone()), auth.clone(), Path(phone.clone()), headers, body)
            .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/conversations/{}", urlencode(&phone)))),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let thread = thread_of(&state, &auth, &phone).await.page(&v)?;
            let mut response: Response = render(&ThreadPage {
                v,
                active: "inbox",
                thread,
                text: f.text,
                key: f.idempotency_key,
                error,
            });
            *response.status_mut() = status;
            Ok(response)
        }
    }
}
