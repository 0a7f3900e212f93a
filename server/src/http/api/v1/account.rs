//! `/api/v1/account`: the calling key's account, including the secret that
//! signs its callbacks.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::{ApiError, AppState, Auth};

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    /// HMAC-SHA256 key of the `X-Kurier-Signature` header on callbacks.
    pub webhook_secret: String,
}

#[utoipa::path(get, path = "/api/v1/account", tag = "account",
    responses((status = 200, body = AccountView), (status = 401, body = crate::http::error::ErrorBody)))]
pub async fn get_account(State(state): State<AppState>, auth: Auth) -> Result<Json<AccountView>, ApiError> {
    let (name, webhook_secret) =
        state.store.account(&auth.account_id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(AccountView { id: auth.account_id, name, webhook_secret }))
}
