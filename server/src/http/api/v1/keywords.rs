//! `/api/v1/keywords`: keywords on an account's numbers, each with a match
//! type, a priority and its actions; conflicts are refused when saved.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::numbers::{check_actions, find_number};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::inbound::actions::Action;
use crate::inbound::compliance;
use crate::inbound::keyword::{self, Keyword, MatchType};
use crate::storage::{KeywordRecord, KeywordWrite, format_micros, now_micros};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeywordView {
    pub id: String,
    pub number_id: String,
    pub number: String,
    pub keyword: String,
    /// `exact`, `base`, `phrase` or `remove`.
    pub match_type: String,
    pub priority: i64,
    pub actions: Vec<Action>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<KeywordRecord> for KeywordView {
    fn from(k: KeywordRecord) -> Self {
        Self {
            id: k.id,
            number_id: k.number_id,
            number: k.number,
            keyword: k.keyword,
            match_type: k.match_type,
            priority: k.priority,
            actions: serde_json::from_str(&k.actions).unwrap_or_default(),
            created_at: format_micros(k.created_at),
            updated_at: format_micros(k.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeywordList {
    pub keywords: Vec<KeywordView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordInput {
    /// The number (id or the number itself) it listens on.
    #[schema(example = "7100")]
    pub number: Option<String>,
    #[schema(example = "PIZZA")]
    pub keyword: Option<String>,
    /// `exact` (the whole text), `base` (the first word, the default),
    /// `phrase` (contained as whole words), `remove` (an opt-out word and
    /// the keyword: `STOP PIZZA`).
    pub match_type: Option<String>,
    /// Higher wins when several of the account's keywords match.
    pub priority: Option<i64>,
    pub actions: Option<Vec<Action>>,
}

#[derive(Deserialize, IntoParams)]
pub struct KeywordQuery {
    /// Only this number's keywords (id or the number).
    pub number: Option<String>,
}

/// The account's keywords, by number and keyword.
#[utoipa::path(get, path = "/api/v1/keywords", tag = "keywords", params(KeywordQuery),
    responses((status = 200, body = KeywordList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_keywords(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<KeywordQuery>, QueryRejection>,
) -> Result<Json<KeywordList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let number_id = match q.number {
        Some(n) => Some(
            find_number(&state, &auth.account_id, &n).await?.ok_or_else(|| ApiError::not_found("number"))?.id,
        ),
        None => None,
    };
    let keywords = state.store.list_keywords(&auth.account_id, number_id.as_deref()).await?;
    Ok(Json(KeywordList { keywords: keywords.into_iter().map(Into::into).collect() }))
}

/// A keyword that passed the rules, to be checked against the others on
/// its number when stored.
struct Checked {
    keyword: Keyword,
    priority: i64,
    actions: String,
    /// Every opt-out word of the accounts on the number.
    words: Vec<String>,
}

impl Checked {
    /// Refuses the keyword if it meets one of `others`, the keywords on
    /// `number` (of any account, for shared numbers; `exclude` is itself):
    /// the account's own that could take the same message need different
    /// priorities; another account's may share no message with it at all.
    fn against(
        &self,
        account_id: &str,
        number: &str,
        exclude: Option<&str>,
        others: &[KeywordRecord],
    ) -> Result<(), ApiError> {
        for other in others {
            if Some(other.id.as_str()) == exclude {
                continue;
            }
            let Some(m) = MatchType::parse(&other.match_type) else { continue };
            let Ok(theirs) = Keyword::new(&other.keyword, m) else { continue };
            let message = if other.account_id != account_id {
                if !keyword::overlap(&self.keyword, &theirs, &self.words) {
                    continue;
                }
                format!(
                    "a message could match both this and '{}' ({}), another account's keyword on {number}; on a shared number a message may match one account's keywords only, whatever the priority",
                    other.keyword, other.match_type
                )
            } else if other.priority == self.priority
                && keyword::conflict(&self.keyword, &theirs, &self.words)
            {
                format!(
                    "conflicts with keyword '{}' ({}, priority {}): a message could match both; give one a different priority",
                    other.keyword, other.match_type, other.priority
                )
            } else {
                continue;
            };
            return Err(ApiError {
                field: Some("keyword".into()),
                ..ApiError::new(StatusCode::CONFLICT, "keyword_conflict", message)
            });
        }
        Ok(())
    }

    fn write(&self) -> KeywordWrite<'_> {
        KeywordWrite {
            keyword: &self.keyword.text,
            keyword_key: &self.keyword.key,
            match_type: self.keyword.match_type.as_str(),
            priority: self.priority,
            actions: &self.actions,
        }
    }
}

/// Checks a keyword against the rules: its text, its actions, and the
/// compliance words of every account on `number`.
async fn check(
    state: &AppState,
    account_id: &str,
    number: &str,
    text: &str,
    match_type: MatchType,
    priority: i64,
    actions: Vec<Action>,
) -> Result<Checked, ApiError> {
    let keyword =
        Keyword::new(text, match_type).map_err(|e| ApiError::field("keyword", format!("the keyword {e}")))?;
    // Every sharer's opt-out words: they are checked before any keyword,
    // and a `remove` keyword matches with any of them.
    let mut all_words = Vec::new();
    for h in state.store.number_holders(&[number.to_owned()]).await? {
        for w in compliance::settings(&state.store, &h.account_id).await?.words {
            if !all_words.contains(&w) {
                all_words.push(w);
            }
        }
    }
    if compliance::is_reserved(&keyword.key, &all_words) {
        return Err(ApiError::field(
            "keyword",
            format!(
                "'{}' is an opt-out, opt-in or help word (of an account on {number}), which Kurier answers itself",
                keyword.text
            ),
        ));
    }
    if actions.is_empty() {
        return Err(ApiError::field("actions", "a keyword needs at least one action"));
    }
    if match_type == MatchType::Remove && !actions.iter().any(|a| matches!(a, Action::RemoveFromGroup { .. }))
    {
        return Err(ApiError::field("actions", "a remove keyword needs a remove_from_group action"));
    }
    let actions = check_actions(state, account_id, "actions", actions).await?;
    Ok(Checked {
        keyword,
        priority,
        actions: serde_json::to_string(&actions).map_err(ApiError::internal)?,
        words: all_words,
    })
}

fn match_type(s: Option<&str>) -> Result<MatchType, ApiError> {
    match s {
        None => Ok(MatchType::Base),
        Some(s) => MatchType::parse(s)
            .ok_or_else(|| ApiError::field("match_type", "must be one of exact, base, phrase, remove")),
    }
}

/// Add a keyword to a number.
#[utoipa::path(post, path = "/api/v1/keywords", tag = "keywords", request_body = KeywordInput,
    responses((status = 201, body = KeywordView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_keyword(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<KeywordInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let number_ref = input.number.ok_or_else(|| ApiError::field("number", "is required"))?;
    let number = find_number(&state, &auth.account_id, &number_ref)
        .await?
        .ok_or_else(|| ApiError::field("number", format!("you have no number '{number_ref}'")))?;
    let text = input.keyword.ok_or_else(|| ApiError::field("keyword", "is required"))?;
    let m = match_type(input.match_type.as_deref())?;
    let priority = input.priority.unwrap_or(0);
    let c = check(
        &state,
        &auth.account_id,
        &number.number,
        &text,
        m,
        priority,
        input.actions.unwrap_or_default(),
    )
    .await?;
    let k = state
        .store
        .create_keyword(&auth.account_id, &number, &c.write(), now_micros(), |others| {
            c.against(&auth.account_id, &number.number, None, others)
        })
        .await??;
    Ok((StatusCode::CREATED, Json(KeywordView::from(k))).into_response())
}

#[utoipa::path(get, path = "/api/v1/keywords/{id}", tag = "keywords",
    params(("id" = String, Path, description = "Keyword id")),
    responses((status = 200, body = KeywordView), (status = 404, body = ErrorBody)))]
pub async fn get_keyword(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<KeywordView>, ApiError> {
    let k = state.store.get_keyword(&auth.account_id, &id).await?;
    Ok(Json(k.ok_or_else(|| ApiError::not_found("keyword"))?.into()))
}

/// Change a keyword's text, match type, priority or actions (checked again).
#[utoipa::path(patch, path = "/api/v1/keywords/{id}", tag = "keywords", request_body = KeywordInput,
    params(("id" = String, Path, description = "Keyword id")),
    responses((status = 200, body = KeywordView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_keyword(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<KeywordInput>,
) -> Result<Json<KeywordView>, ApiError> {
    let existing = state
        .store
        .get_keyword(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("keyword"))?;
    let input = body.value;
    if input.number.is_some() {
        return Err(ApiError::field("number", "cannot be changed; create the keyword on the other number"));
    }
    let text = input.keyword.unwrap_or(existing.keyword.clone());
    let m = match_type(Some(input.match_type.as_deref().unwrap_or(&existing.match_type)))?;
    let priority = input.priority.unwrap_or(existing.priority);
    let actions = match input.actions {
        Some(a) => a,
        None => serde_json::from_str(&existing.actions).unwrap_or_default(),
    };
    let c = check(&state, &auth.account_id, &existing.number, &text, m, priority, actions).await?;
    let k = state
        .store
        .update_keyword(&existing, &c.write(), now_micros(), |others| {
            c.against(&auth.account_id, &existing.number, Some(&existing.id), others)
        })
        .await??;
    Ok(Json(k.ok_or_else(|| ApiError::not_found("keyword"))?.into()))
}

#[utoipa::path(delete, path = "/api/v1/keywords/{id}", tag = "keywords",
    params(("id" = String, Path, description = "Keyword id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_keyword(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_keyword(&auth.account_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("keyword"))
    }
}
