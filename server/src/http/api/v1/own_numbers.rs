//! `/api/v1/me/numbers`: a user's own phone numbers as senders. Adding one
//! sends a one-time code to it by SMS, through the queue like any message;
//! only after the code is entered (`…/{phone}/verify`) may the number be
//! the `from` of the user's messages.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::credentials;
use crate::domain::{MessageText, PhoneNumber, SenderId};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{AcceptRequest, CodeCheck, NewMessage, Origin, format_micros, now_micros};

/// How long a code may be entered.
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OwnNumberView {
    pub phone: String,
    pub verified: bool,
    pub verified_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OwnNumberList {
    pub numbers: Vec<OwnNumberView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnNumberInput {
    #[schema(example = "+48600100200")]
    pub phone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    #[schema(example = "123456")]
    pub code: Option<String>,
}

/// The user a request acts for; a key of no user has none (422 `no_user`).
pub(crate) fn user_of(auth: &Auth) -> Result<&str, ApiError> {
    auth.user_id.as_deref().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_user", "this API key belongs to no user")
    })
}

fn code_hash(user_id: &str, phone: &str, code: &str) -> String {
    credentials::hash_api_key(&format!("{user_id}:{phone}:{code}"))
}

fn phone_of(state: &AppState, raw: &str, field: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, state.region).map_err(|e| ApiError::field(field, e.to_string()))
}

/// The user's own numbers.
#[utoipa::path(get, path = "/api/v1/me/numbers", tag = "users",
    responses((status = 200, body = OwnNumberList), (status = 422, body = ErrorBody)))]
pub async fn list_own_numbers(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<OwnNumberList>, ApiError> {
    let numbers = state.store.own_numbers(user_of(&auth)?).await?;
    let numbers = numbers
        .into_iter()
        .map(|(phone, at)| OwnNumberView {
            phone,
            verified: at.is_some(),
            verified_at: at.map(format_micros),
        })
        .collect();
    Ok(Json(OwnNumberList { numbers }))
}

/// Add a number: Kurier sends it a one-time code by SMS.
#[utoipa::path(post, path = "/api/v1/me/numbers", tag = "users", request_body = OwnNumberInput,
    responses((status = 202, body = OwnNumberView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_own_number(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<OwnNumberInput>,
) -> Result<Response, ApiError> {
    let user = user_of(&auth)?;
    let phone = phone_of(&state, body.value.phone.as_deref().unwrap_or(""), "phone")?;
    let known = state.store.own_numbers(user).await?;
    if known.iter().any(|(p, at)| p == phone.as_str() && at.is_some()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_verified",
            "this number is verified already",
        ));
    }
    let mut raw = [0u8; 4];
    getrandom::fill(&mut raw).map_err(ApiError::internal)?;
    let code = format!("{:06}", u32::from_le_bytes(raw) % 1_000_000);
    let now = now_micros();
    let expires = now + i64::try_from(CODE_LIFETIME.as_micros()).unwrap_or(i64::MAX);
    let hash = code_hash(user, phone.as_str(), &code);
    state.store.start_own_number(&auth.account_id, user, phone.as_str(), &hash, expires).await?;
    let text = MessageText::new(&format!("Kurier code: {code}"), 1).map_err(ApiError::internal)?;
    let message = NewMessage { transactional: true, ..NewMessage::plain(phone.clone(), text) };
    let request = AcceptRequest {
        account_id: auth.account_id.clone(),
        origin: Origin { user_id: auth.user_id.clone(), api_key_id: auth.key_id.clone() },
        messages: [message].into(),
        idempotency: None,
        now,
        audit: None,
        opt_out_writes_seen: None,
    };
    state.intake.submit(request).await?;
    state.dispatch.wake.notify_one();
    let view = OwnNumberView { phone: phone.as_str().to_owned(), verified: false, verified_at: None };
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// Enter the code the number received.
#[utoipa::path(post, path = "/api/v1/me/numbers/{phone}/verify", tag = "users", request_body = CodeInput,
    params(("phone" = String, Path, description = "The number, E.164")),
    responses((status = 200, body = OwnNumberView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn verify_own_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(phone): Path<String>,
    body: JsonBody<CodeInput>,
) -> Result<Json<OwnNumberView>, ApiError> {
    let user = user_of(&auth)?;
    let phone = PhoneNumber::parse(&phone, state.region).map_err(|_| ApiError::not_found("number"))?;
    let code = body.value.code.unwrap_or_default();
    let hash = code_hash(user, phone.as_str(), code.trim());
    match state.store.check_own_number_code(user, phone.as_str(), &hash).await? {
        CodeCheck::Verified => {}
        CodeCheck::Wrong => return Err(ApiError::field("code", "the code is wrong")),
        CodeCheck::Spent => {
            return Err(ApiError::field(
                "code",
                "the code expired or was tried too often; add the number again",
            ));
        }
        CodeCheck::NotFound => return Err(ApiError::not_found("number")),
    }
    let at = state
        .store
        .own_numbers(user)
        .await?
        .into_iter()
        .find(|(p, _)| p == phone.as_str())
        .and_then(|(_, at)| at);
    Ok(Json(OwnNumberView {
        phone: phone.as_str().to_owned(),
        verified: true,
        verified_at: at.map(format_micros),
    }))
}

/// Refuses a numeric sender the caller may not use: their own number
/// before it is verified; and for senders (not owners or admins), any
/// number but their verified own ones and the account's registered
/// numbers (`/api/v1/numbers`: the numbers phones write to, which a reply
/// from a conversation goes out from).
pub(crate) async fn check_sender(state: &AppState, auth: &Auth, from: &SenderId) -> Result<(), ApiError> {
    let Some(user) = auth.user_id.as_deref() else { return Ok(()) };
    if from.is_alphanumeric() {
        return Ok(());
    }
    let own = state.store.own_numbers(user).await?;
    let digits = |s: &str| s.trim_start_matches('+').to_owned();
    let mine = own.iter().find(|(p, _)| digits(p) == digits(from.as_str()));
    let verified = mine.is_some_and(|(_, at)| at.is_some());
    if verified || (mine.is_none() && auth.role.unrestricted()) {
        return Ok(());
    }
    if state.store.holds_number(&auth.account_id, from.as_str()).await? {
        return Ok(());
    }
    Err(ApiError {
        field: Some("from".into()),
        ..ApiError::new(
            StatusCode::FORBIDDEN,
            "sender_not_verified",
            "a phone number is a sender only once it is your own verified number (POST /api/v1/me/numbers)",
        )
    })
}
