//! `/api/v1/account`: the calling key's account, including the secret that
//! signs its callbacks, and its defaults.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    /// HMAC-SHA256 key of the `X-Kurier-Signature` header on callbacks.
    pub webhook_secret: String,
    /// Texts are transliterated to the GSM alphabet (Polish diacritics,
    /// Cyrillic to Latin, typographic punctuation) unless a message says
    /// `"transliterate": false`. Saves segments; changes what is sent.
    pub transliterate: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    pub transliterate: Option<bool>,
}

async fn view(state: &AppState, account_id: &str) -> Result<AccountView, ApiError> {
    let a = state.store.account_record(account_id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    Ok(AccountView {
        id: a.id,
        name: a.name,
        webhook_secret: a.webhook_secret,
        transliterate: a.transliterate,
    })
}

#[utoipa::path(get, path = "/api/v1/account", tag = "account",
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)))]
pub async fn get_account(State(state): State<AppState>, auth: Auth) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(view(&state, &auth.account_id).await?))
}

#[utoipa::path(patch, path = "/api/v1/account", tag = "account", request_body = AccountUpdate,
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_account(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<AccountUpdate>,
) -> Result<Json<AccountView>, ApiError> {
    if let Some(on) = body.value.transliterate {
        state.store.set_account_transliterate(&auth.account_id, on).await?;
    }
    Ok(Json(view(&state, &auth.account_id).await?))
}
