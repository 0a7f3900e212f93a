//! `/api/v1/numbers`: the long numbers and short codes an account receives
//! on — dedicated (every message to it is the account's) or shared (each
//! sharer owns its keywords) — the connectors they are reachable through,
//! and what happens to messages that match no keyword.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::PhoneNumber;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::inbound::actions::{Action, MAX_ACTIONS};
use crate::storage::{NumberRecord, NumberTaken, NumberWrite, format_micros, now_micros, number_spellings};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NumberView {
    pub id: String,
    /// E.164 (`+48600100200`) or a short code (`7100`).
    pub number: String,
    /// `dedicated` or `shared`.
    pub kind: String,
    /// Connectors it is reachable through; empty: any.
    pub connectors: Vec<String>,
    /// Run for messages that match no keyword.
    pub default_actions: Vec<Action>,
    /// In the account's pool of sender numbers (`sender_pool` on messages
    /// and campaigns); dedicated numbers only.
    pub pool: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<NumberRecord> for NumberView {
    fn from(n: NumberRecord) -> Self {
        Self {
            id: n.id,
            number: n.number,
            kind: n.kind,
            connectors: n.connectors,
            default_actions: serde_json::from_str(&n.default_actions).unwrap_or_default(),
            pool: n.in_pool,
            created_at: format_micros(n.created_at),
            updated_at: format_micros(n.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NumberList {
    pub numbers: Vec<NumberView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberInput {
    #[schema(example = "7100")]
    pub number: Option<String>,
    /// `dedicated` (default) or `shared`.
    pub kind: Option<String>,
    pub connectors: Option<Vec<String>>,
    pub default_actions: Option<Vec<Action>>,
    /// Put the number in (or take it out of) the account's sender pool.
    pub pool: Option<bool>,
}

/// Shortest and longest short code, in digits.
const SHORT_CODE_DIGITS: std::ops::RangeInclusive<usize> = 3..=8;

/// A number as stored: E.164 for `+…` numbers, digits for short codes.
pub(super) fn parse_number(raw: &str, state: &AppState) -> Result<String, ApiError> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if compact.chars().all(|c| c.is_ascii_digit()) && SHORT_CODE_DIGITS.contains(&compact.len()) {
        return Ok(compact);
    }
    PhoneNumber::parse(raw, state.region)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| ApiError::field("number", format!("{e} (or a short code of 3 to 8 digits)")))
}

/// The account's number by id or by the number however it is written: as
/// given, with or without the `+` of an international number (a `+` left
/// unescaped in a query arrives as a space), or as stored
/// ([`parse_number`]: spaces, dashes, a national number in the default
/// region).
pub(super) async fn find_number(
    state: &AppState,
    account_id: &str,
    raw: &str,
) -> Result<Option<NumberRecord>, ApiError> {
    let mut tries = vec![raw.to_owned()];
    tries.extend(number_spellings(raw));
    tries.extend(parse_number(raw, state).ok());
    let mut tried: Vec<&str> = Vec::with_capacity(tries.len());
    for t in &tries {
        if tried.contains(&t.as_str()) {
            continue;
        }
        tried.push(t);
        if let Some(n) = state.store.find_number(account_id, t).await? {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// Checks a list of actions for `field` and puts them in canonical form.
pub(super) async fn check_actions(
    state: &AppState,
    account_id: &str,
    field: &str,
    actions: Vec<Action>,
) -> Result<Vec<Action>, ApiError> {
    if actions.len() > MAX_ACTIONS {
        return Err(ApiError::field(field, format!("at most {MAX_ACTIONS} actions")));
    }
    let fields: Vec<String> = state
        .store
        .contact_fields(account_id)
        .await?
        .into_iter()
        .map(|f| f.name.as_str().to_owned())
        .collect();
    let mut out = Vec::with_capacity(actions.len());
    for (i, a) in actions.into_iter().enumerate() {
        let a = a
            .checked(state.region, &fields, state.config.messages.max_segments)
            .map_err(|e| ApiError::field(format!("{field}[{i}].{}", e.field), e.message))?;
        if let Action::Reply { template: Some(t), .. } = &a {
            let found = state.store.find_template(account_id, t).await?;
            let Some(found) = found else {
                return Err(ApiError::field(format!("{field}[{i}].template"), format!("no template '{t}'")));
            };
            out.push(Action::Reply { text: None, template: Some(found.id) });
            continue;
        }
        if let Action::PollAnswer { poll } = &a {
            let Some(found) = state.store.get_poll(account_id, poll).await? else {
                return Err(ApiError::field(format!("{field}[{i}].poll"), format!("no poll '{poll}'")));
            };
            out.push(Action::PollAnswer { poll: found.id });
            continue;
        }
        out.push(a);
    }
    Ok(out)
}

fn check_connectors(state: &AppState, names: Vec<String>) -> Result<Vec<String>, ApiError> {
    for (i, n) in names.iter().enumerate() {
        if state.connectors.get(n).is_none() {
            return Err(ApiError::field(format!("connectors[{i}]"), format!("no connector named '{n}'")));
        }
    }
    Ok(names)
}

/// Every number of the account.
#[utoipa::path(get, path = "/api/v1/numbers", tag = "numbers",
    responses((status = 200, body = NumberList), (status = 401, body = ErrorBody)))]
pub async fn list_numbers(State(state): State<AppState>, auth: Auth) -> Result<Json<NumberList>, ApiError> {
    let numbers = state.store.list_numbers(&auth.account_id).await?;
    Ok(Json(NumberList { numbers: numbers.into_iter().map(Into::into).collect() }))
}

/// Register a number. A dedicated number may have one holder; a shared one
/// several, each with its own keywords (the first to register takes the
/// messages no keyword claims).
#[utoipa::path(post, path = "/api/v1/numbers", tag = "numbers", request_body = NumberInput,
    responses((status = 201, body = NumberView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_number(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<NumberInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let number = parse_number(
        input.number.as_deref().ok_or_else(|| ApiError::field("number", "is required"))?,
        &state,
    )?;
    let kind = input.kind.unwrap_or_else(|| "dedicated".into());
    if kind != "dedicated" && kind != "shared" {
        return Err(ApiError::field("kind", "must be \"dedicated\" or \"shared\""));
    }
    if input.pool == Some(true) && kind != "dedicated" {
        return Err(ApiError::field("pool", "only a dedicated number can be in the sender pool"));
    }
    let connectors = check_connectors(&state, input.connectors.unwrap_or_default())?;
    let actions =
        check_actions(&state, &auth.account_id, "default_actions", input.default_actions.unwrap_or_default())
            .await?;
    let actions = serde_json::to_string(&actions).map_err(ApiError::internal)?;
    let w = NumberWrite { number: &number, kind: &kind, connectors: &connectors, default_actions: &actions };
    match state.store.create_number(&auth.account_id, &w, now_micros()).await? {
        Ok(mut n) => {
            if input.pool == Some(true) {
                state.store.set_in_pool(&auth.account_id, &n.id, true).await?;
                n.in_pool = true;
            }
            Ok((StatusCode::CREATED, Json(NumberView::from(n))).into_response())
        }
        Err(NumberTaken::Already) => Err(ApiError {
            field: Some("number".into()),
            ..ApiError::new(StatusCode::CONFLICT, "duplicate", format!("you already have {number}"))
        }),
        Err(NumberTaken::Elsewhere) => Err(ApiError {
            field: Some("number".into()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "number_taken",
                format!(
                    "{number} is held by another account (as dedicated, or shared while you asked for it dedicated)"
                ),
            )
        }),
    }
}

/// Read a number (by id or the number itself).
#[utoipa::path(get, path = "/api/v1/numbers/{id}", tag = "numbers",
    params(("id" = String, Path, description = "Number id, or the number")),
    responses((status = 200, body = NumberView), (status = 404, body = ErrorBody)))]
pub async fn get_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<NumberView>, ApiError> {
    let n = find_number(&state, &auth.account_id, &id).await?;
    Ok(Json(n.ok_or_else(|| ApiError::not_found("number"))?.into()))
}

/// Change a number's connectors or default actions.
#[utoipa::path(patch, path = "/api/v1/numbers/{id}", tag = "numbers", request_body = NumberInput,
    params(("id" = String, Path, description = "Number id, or the number")),
    responses((status = 200, body = NumberView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<NumberInput>,
) -> Result<Json<NumberView>, ApiError> {
    let existing =
        find_number(&state, &auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("number"))?;
    let input = body.value;
    if input.number.is_some() || input.kind.is_some() {
        return Err(ApiError::field(
            if input.number.is_some() { "number" } else { "kind" },
            "cannot be changed; delete the number and register it again",
        ));
    }
    if input.pool == Some(true) && existing.kind != "dedicated" {
        return Err(ApiError::field("pool", "only a dedicated number can be in the sender pool"));
    }
    let connectors = input.connectors.map(|c| check_connectors(&state, c)).transpose()?;
    let actions = match input.default_actions {
        Some(a) => Some(
            serde_json::to_string(&check_actions(&state, &auth.account_id, "default_actions", a).await?)
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    if let Some(pool) = input.pool {
        state.store.set_in_pool(&auth.account_id, &existing.id, pool).await?;
    }
    let updated = state
        .store
        .update_number(
            &auth.account_id,
            &existing.id,
            connectors.as_deref(),
            actions.as_deref(),
            now_micros(),
        )
        .await?;
    Ok(Json(updated.ok_or_else(|| ApiError::not_found("number"))?.into()))
}

/// Give a number up, with its keywords.
#[utoipa::path(delete, path = "/api/v1/numbers/{id}", tag = "numbers",
    params(("id" = String, Path, description = "Number id, or the number")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let existing =
        find_number(&state, &auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("number"))?;
    state.store.delete_number(&auth.account_id, &existing.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
