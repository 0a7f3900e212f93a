//! `/api/v1/opt-outs` and `/api/v1/compliance`: the numbers that opted out
//! of the account's marketing (by STOP and the other opt-out words, or set
//! here), every opt change with its source, and the account's HELP text
//! and local opt-out words.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::PhoneNumber;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::inbound::compliance::{self, MAX_LOCAL_WORDS};
use crate::inbound::keyword::{self, MatchType, normalize};
use crate::storage::{KeywordRecord, format_micros, now_micros};

/// Opt-outs listed at most.
const LIST_LIMIT: usize = 10_000;
/// Longest help text, in characters.
const MAX_HELP_LEN: usize = 480;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OptOutView {
    pub phone: String,
    pub opted_out_at: String,
    /// The received message that asked, if a message did.
    pub message_id: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OptOutList {
    pub opt_outs: Vec<OptOutView>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OptEventView {
    /// `out` or `in`.
    pub change: String,
    /// `keyword` (a received message) or `api`.
    pub source: String,
    pub message_id: Option<String>,
    /// The word that asked, as normalized.
    pub word: Option<String>,
    pub at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OptHistory {
    pub phone: String,
    pub opted_out: bool,
    pub events: Vec<OptEventView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutInput {
    #[schema(example = "+48600100200")]
    pub phone: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ComplianceView {
    /// The answer to HELP.
    pub help_text: String,
    /// Words besides STOP, STOPALL, UNSUBSCRIBE, CANCEL, END and QUIT that
    /// opt a sender out.
    pub opt_out_words: Vec<String>,
    /// Every word that opts out, as compared (folded).
    pub all_opt_out_words: Vec<String>,
    pub opt_in_words: Vec<String>,
    pub help_words: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceInput {
    /// `null` restores the default.
    #[serde(default, deserialize_with = "double_option")]
    pub help_text: Option<Option<String>>,
    /// `null` restores the default (`NIE`, `СТОП`).
    #[serde(default, deserialize_with = "double_option")]
    pub opt_out_words: Option<Option<Vec<String>>>,
}

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

fn phone(raw: &str, state: &AppState, field: &str) -> Result<String, ApiError> {
    PhoneNumber::parse(raw, state.region)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| ApiError::field(field, e.to_string()))
}

/// Numbers that opted out, newest first.
#[utoipa::path(get, path = "/api/v1/opt-outs", tag = "opt-outs",
    responses((status = 200, body = OptOutList), (status = 401, body = ErrorBody)))]
pub async fn list_opt_outs(State(state): State<AppState>, auth: Auth) -> Result<Json<OptOutList>, ApiError> {
    let rows = state.store.list_opt_outs(&auth.account_id, LIST_LIMIT).await?;
    Ok(Json(OptOutList {
        opt_outs: rows
            .into_iter()
            .map(|(phone, at, message_id)| OptOutView { phone, opted_out_at: format_micros(at), message_id })
            .collect(),
    }))
}

/// Opt a number out by hand (e.g. asked by phone); recorded with source `api`.
#[utoipa::path(post, path = "/api/v1/opt-outs", tag = "opt-outs", request_body = OptOutInput,
    responses((status = 201, body = OptHistory), (status = 422, body = ErrorBody)))]
pub async fn add_opt_out(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<OptOutInput>,
) -> Result<(StatusCode, Json<OptHistory>), ApiError> {
    let raw = body.value.phone.ok_or_else(|| ApiError::field("phone", "is required"))?;
    let phone = phone(&raw, &state, "phone")?;
    state.store.set_opt_out_by_api(&auth.account_id, &phone, true, now_micros()).await?;
    Ok((StatusCode::CREATED, Json(history(&state, &auth.account_id, phone).await?)))
}

/// A number's opt state and every change of it.
#[utoipa::path(get, path = "/api/v1/opt-outs/{phone}", tag = "opt-outs",
    params(("phone" = String, Path, description = "The number, E.164")),
    responses((status = 200, body = OptHistory), (status = 422, body = ErrorBody)))]
pub async fn get_opt_out(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<Json<OptHistory>, ApiError> {
    let phone = phone(&raw, &state, "phone")?;
    Ok(Json(history(&state, &auth.account_id, phone).await?))
}

/// Opt a number back in by hand; recorded with source `api`.
#[utoipa::path(delete, path = "/api/v1/opt-outs/{phone}", tag = "opt-outs",
    params(("phone" = String, Path, description = "The number, E.164")),
    responses((status = 200, body = OptHistory), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove_opt_out(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<Json<OptHistory>, ApiError> {
    let phone = phone(&raw, &state, "phone")?;
    if !state.store.opted_out_among(&auth.account_id, &[phone.as_str()]).await?.contains(&phone) {
        return Err(ApiError::not_found("opt-out of this number"));
    }
    state.store.set_opt_out_by_api(&auth.account_id, &phone, false, now_micros()).await?;
    Ok(Json(history(&state, &auth.account_id, phone).await?))
}

async fn history(state: &AppState, account_id: &str, phone: String) -> Result<OptHistory, ApiError> {
    let opted_out = state.store.opted_out_among(account_id, &[phone.as_str()]).await?.contains(&phone);
    let events = state
        .store
        .opt_events(account_id, &phone)
        .await?
        .into_iter()
        .map(|e| OptEventView {
            change: e.change,
            source: e.source,
            message_id: e.message_id,
            word: e.word,
            at: format_micros(e.at),
        })
        .collect();
    Ok(OptHistory { phone, opted_out, events })
}

/// Whether a message of the one normalized `word` would match keyword `k`.
fn takes_word(k: &KeywordRecord, word: &str) -> bool {
    MatchType::parse(&k.match_type).is_some_and(|m| keyword::matches(m, &k.keyword_key, word, &[]))
}

async fn compliance_view(state: &AppState, account_id: &str) -> Result<ComplianceView, ApiError> {
    let s = compliance::settings(&state.store, account_id).await?;
    Ok(ComplianceView {
        help_text: s.help,
        all_opt_out_words: s.words,
        opt_out_words: s.local,
        opt_in_words: compliance::OPT_IN.iter().map(|w| (*w).to_owned()).collect(),
        help_words: compliance::HELP.iter().map(|w| (*w).to_owned()).collect(),
    })
}

/// The account's HELP text and opt-out words.
#[utoipa::path(get, path = "/api/v1/compliance", tag = "opt-outs",
    responses((status = 200, body = ComplianceView), (status = 401, body = ErrorBody)))]
pub async fn get_compliance(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<ComplianceView>, ApiError> {
    Ok(Json(compliance_view(&state, &auth.account_id).await?))
}

/// Set the HELP text or the local opt-out words.
#[utoipa::path(patch, path = "/api/v1/compliance", tag = "opt-outs", request_body = ComplianceInput,
    responses((status = 200, body = ComplianceView), (status = 422, body = ErrorBody)))]
pub async fn update_compliance(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<ComplianceInput>,
) -> Result<Json<ComplianceView>, ApiError> {
    let input = body.value;
    let help = match &input.help_text {
        Some(Some(h)) => {
            let h = h.trim();
            if h.is_empty() || h.chars().count() > MAX_HELP_LEN {
                return Err(ApiError::field("help_text", format!("must be 1 to {MAX_HELP_LEN} characters")));
            }
            Some(Some(h))
        }
        Some(None) => Some(None),
        None => None,
    };
    let words = match input.opt_out_words {
        Some(Some(words)) => {
            if words.len() > MAX_LOCAL_WORDS {
                return Err(ApiError::field("opt_out_words", format!("at most {MAX_LOCAL_WORDS} words")));
            }
            // Keywords on the account's numbers, other sharers' too: an
            // opt-out word is checked before them all.
            let mut keywords = Vec::new();
            for n in state.store.list_numbers(&auth.account_id).await? {
                keywords.extend(state.store.keywords_on(&n.number, None).await?);
            }
            let mut out = Vec::with_capacity(words.len());
            for (i, w) in words.iter().enumerate() {
                let n = normalize(w);
                if n.is_empty() || n.contains(' ') {
                    return Err(ApiError::field(format!("opt_out_words[{i}]"), "must be one word"));
                }
                if compliance::OPT_IN.contains(&n.as_str()) || compliance::HELP.contains(&n.as_str()) {
                    return Err(ApiError::field(
                        format!("opt_out_words[{i}]"),
                        format!("'{w}' opts in or asks for help"),
                    ));
                }
                if let Some(k) = keywords.iter().find(|k| takes_word(k, &n)) {
                    return Err(ApiError::field(
                        format!("opt_out_words[{i}]"),
                        format!(
                            "'{w}' is the keyword '{}' on {}: a message of it would opt out instead",
                            k.keyword, k.number
                        ),
                    ));
                }
                out.push(w.trim().to_owned());
            }
            Some(Some(out))
        }
        Some(None) => Some(None),
        None => None,
    };
    state.store.set_compliance_settings(&auth.account_id, help, words.as_ref().map(|w| w.as_deref())).await?;
    Ok(Json(compliance_view(&state, &auth.account_id).await?))
}
