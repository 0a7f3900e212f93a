//! The account's sender ids (`/sender-ids`): the senders its campaigns may
//! use, and the default one. Adding, making default and deleting are the
//! sender ids API's handlers (`/api/v1/sender-ids`), which parse the
//! sender as the API does (up to 11 characters, or up to 16 digits).
//! Everyone signed in reads the list; changes need an owner or admin.

use askama::Template;
use axum::extract::{Form, State};
use serde::Deserialize;
use serde_json::json;

use super::session::Session;
use super::{FormError, OrPage, PageResult, Viewer, json_body, render, see_other, with_status};
use crate::http::api::v1::templates::{self, SenderView};
use crate::http::{AppState, Auth};

#[derive(Deserialize, Default, Clone)]
pub struct SenderForm {
    #[serde(default)]
    sender: String,
    /// A ticked box sends `on`.
    #[serde(default)]
    default: Option<String>,
}

#[derive(Template)]
#[template(path = "sender_ids.html")]
struct SendersPage {
    v: Viewer,
    active: &'static str,
    senders: Vec<SenderView>,
    form: SenderForm,
    error: FormError,
}

impl SendersPage {
    fn may_change(&self) -> bool {
        self.v.manages()
    }
}

async fn senders_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    form: SenderForm,
    error: FormError,
) -> PageResult {
    let senders = templates::list_senders(State(state.clone()), auth).await.page(&v)?.0.sender_ids;
    Ok(render(&SendersPage { v, active: "sender-ids", senders, form, error }))
}

pub async fn list(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    senders_page(&state, v, auth, SenderForm::default(), FormError::default()).await
}

/// Adds a sender id, or makes one the default (the API's own add).
pub async fn add(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<SenderForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"sender": f.sender.trim(), "default": f.default.is_some()}))?;
        templates::add_sender(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/sender-ids")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            Ok(with_status(senders_page(&state, v, auth, f, error).await?, status))
        }
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    sender: String,
}

/// Deletes a sender id (named in the form, as a sender may hold a space).
pub async fn delete(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<DeleteForm>,
) -> PageResult {
    templates::delete_sender(State(state), auth, axum::extract::Path(f.sender)).await.page(&v)?;
    Ok(see_other("/sender-ids"))
}
