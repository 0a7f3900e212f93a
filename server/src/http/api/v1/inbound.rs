//! `/api/v1/inbound/{id}`: one received message with what matching made of
//! it (compliance word, keyword or default, and what each action did), and
//! whether it was stored incomplete, and the e-mails its actions sent. The
//! list is `GET /api/v1/inbound`; its webhook forwards are
//! `GET /api/v1/webhooks/deliveries?message_id=…`.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Direction;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::format_micros;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct InboundView {
    pub id: String,
    pub from: Option<String>,
    pub to: String,
    pub text: String,
    pub connector: Option<String>,
    pub received_at: String,
    /// Stored after the reassembly timeout without some of its parts.
    pub incomplete: bool,
    /// The outbound message this one answers: the last one sent to the
    /// sender from the number written to.
    pub in_reply_to: Option<String>,
    /// The campaign and run of that message.
    pub campaign_id: Option<String>,
    pub run_id: Option<String>,
    /// `null` while the message waits to be matched.
    #[serde(rename = "match")]
    pub matched: Option<MatchView>,
    /// E-mails its actions sent (forwards, notifications), with their state.
    #[serde(default)]
    pub emails: Vec<MailView>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MailView {
    pub id: String,
    pub to: String,
    pub subject: String,
    /// `pending` (sending, or waiting to retry), `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// While pending: the next attempt.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MatchView {
    /// `keyword`, `default`, `opt_out`, `opt_in`, `help` or `none`.
    pub kind: String,
    pub keyword_id: Option<String>,
    /// What each action did (`skipped` says why one did nothing).
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
}

/// One received message with its match.
#[utoipa::path(get, path = "/api/v1/inbound/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = InboundView), (status = 404, body = ErrorBody)))]
pub async fn get_inbound(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<InboundView>, ApiError> {
    let m = state
        .store
        .get_message(&auth.account_id, &id)
        .await?
        .filter(|m| m.direction == Direction::Inbound)
        .ok_or_else(|| ApiError::not_found("inbound message"))?;
    // The match first: what it stored with it (the link) is then visible too.
    let matched = state.store.inbound_match(&m.id).await?.map(|(kind, keyword_id, actions)| MatchView {
        kind,
        keyword_id,
        actions: serde_json::from_str(&actions).unwrap_or_default(),
    });
    let incomplete = state.store.is_incomplete(&m.id).await?;
    let link = state.store.reply_link(&m.id).await?;
    let emails = state
        .store
        .mails_of_message(&m.id)
        .await?
        .into_iter()
        .map(|e| MailView {
            next_attempt_at: (e.status == "pending").then(|| format_micros(e.next_attempt_at)),
            id: e.id,
            to: e.to,
            subject: e.subject,
            status: e.status,
            attempts: e.attempts,
            last_error: e.last_error,
            updated_at: format_micros(e.updated_at),
        })
        .collect();
    Ok(Json(InboundView {
        id: m.id,
        from: m.from,
        to: m.to,
        text: m.text,
        connector: m.connector,
        received_at: format_micros(m.created_at),
        incomplete,
        in_reply_to: link.message_id,
        campaign_id: link.campaign_id,
        run_id: link.run_id,
        matched,
        emails,
    }))
}
