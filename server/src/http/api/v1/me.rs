//! `/api/v1/me`: the calling user's own settings — their UI language and
//! time zone (`GET`/`PATCH /api/v1/me`) and their password
//! (`POST /api/v1/me/password`, the current one required). Every user may
//! change their own, whatever their role; their own phone numbers as
//! senders are `own_numbers.rs` (`/api/v1/me/numbers`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::own_numbers::user_of;
use crate::domain::check_new_password;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::ui::i18n::Locale;
use crate::http::{ApiError, AppState, Auth};
use crate::identity::{self, SignInError};
use crate::storage::UserPreferences;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MeView {
    pub id: String,
    pub username: String,
    pub role: String,
    /// `en`, `pl`, `ru` or `bg`; absent: the browser's language.
    pub language: Option<String>,
    /// An IANA time zone; absent: times are shown in UTC.
    pub time_zone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeUpdate {
    /// `en`, `pl`, `ru` or `bg`; an empty string removes the choice.
    #[schema(example = "pl")]
    pub language: Option<String>,
    /// An IANA time zone name; an empty string removes it.
    #[schema(example = "Europe/Warsaw")]
    pub time_zone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: Option<String>,
    pub password: Option<String>,
}

/// A language the UI speaks, as its tag; `None` for an empty value.
fn language(raw: &str) -> Result<Option<String>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    Locale::parse(raw)
        .map(|l| Some(l.tag().to_owned()))
        .ok_or_else(|| ApiError::field("language", format!("'{raw}' is not one of en, pl, ru, bg")))
}

fn time_zone(raw: &str) -> Result<Option<String>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let zone = crate::campaigns::schedule::parse_zone(raw).map_err(|m| ApiError::field("time_zone", m))?;
    Ok(Some(zone.name().to_owned()))
}

async fn view(state: &AppState, auth: &Auth) -> Result<MeView, ApiError> {
    let user = user_of(auth)?;
    let p = state.store.user_preferences(user).await?;
    Ok(me_view(auth, user, p))
}

fn me_view(auth: &Auth, user: &str, p: UserPreferences) -> MeView {
    MeView {
        id: user.to_owned(),
        username: auth.username.clone(),
        role: auth.role.as_str().to_owned(),
        language: p.language,
        time_zone: p.time_zone,
    }
}

/// The calling user and their own settings.
#[utoipa::path(get, path = "/api/v1/me", tag = "users",
    responses((status = 200, body = MeView), (status = 422, body = ErrorBody)))]
pub async fn get_me(State(state): State<AppState>, auth: Auth) -> Result<Json<MeView>, ApiError> {
    Ok(Json(view(&state, &auth).await?))
}

/// Change the calling user's language or time zone.
#[utoipa::path(patch, path = "/api/v1/me", tag = "users", request_body = MeUpdate,
    responses((status = 200, body = MeView), (status = 422, body = ErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<MeUpdate>,
) -> Result<Json<MeView>, ApiError> {
    let user = user_of(&auth)?;
    let input = body.value;
    let language = input.language.as_deref().map(language).transpose()?;
    let time_zone = input.time_zone.as_deref().map(time_zone).transpose()?;
    let p = state
        .store
        .update_user_preferences(
            user,
            language.as_ref().map(Option::as_deref),
            time_zone.as_ref().map(Option::as_deref),
        )
        .await?;
    Ok(Json(me_view(&auth, user, p)))
}

/// Change the calling user's password; the current one is required and a
/// wrong one counts as a failed sign-in. Every session of the user ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "users", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let user = user_of(&auth)?.to_owned();
    let input = body.value;
    let new = input.password.unwrap_or_default();
    check_new_password(&new).map_err(|m| ApiError::field("password", m))?;
    let current = input.current_password.unwrap_or_default();
    match identity::confirm_password(&state.store, &state.config.auth, &user, &current).await {
        Ok(()) => {}
        Err(SignInError::Refused) => {
            return Err(ApiError::field(
                "current_password",
                "the current password is wrong, or too many attempts failed; try again later",
            ));
        }
        Err(SignInError::Internal(e)) => return Err(ApiError::internal(e)),
    }
    let hash = identity::hash_password(new).await?;
    state.store.set_password(&auth.account_id, &user, &hash).await?;
    Ok(StatusCode::NO_CONTENT)
}
