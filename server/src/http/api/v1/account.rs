//! `/api/v1/account`: the calling key's account, including (for those who
//! may manage it) the secret that signs its callbacks, and its defaults.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::outbound::{USER_URL_RULE, is_user_url};

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    /// HMAC-SHA256 key of the `X-Kurier-Signature` header on callbacks
    /// (and of the links to subscribers' preference pages). Shown only to
    /// those who may manage the account (owners, admins, API keys with the
    /// `manage` scope); `null` for the rest.
    pub webhook_secret: Option<String>,
    /// Texts are transliterated to the GSM alphabet (Polish diacritics,
    /// Cyrillic to Latin, typographic punctuation) unless a message says
    /// `"transliterate": false`. Saves segments; changes what is sent.
    pub transliterate: bool,
    /// The account's time zone (IANA): quiet hours of contacts without a
    /// zone of their own, and recurring campaigns, are read in it.
    pub time_zone: String,
    /// Campaign messages due in this window (in each contact's time zone)
    /// wait until it ends; `null`: no quiet hours.
    pub quiet_hours: Option<QuietHoursView>,
    /// Every received message, once matched, is POSTed here signed
    /// (`message.inbound`, `contact.opted_out`, `contact.opted_in`);
    /// `null`: none. See docs/two-way.md.
    pub inbound_url: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct QuietHoursView {
    /// `HH:MM`, e.g. `21:00`.
    pub start: String,
    /// `HH:MM`, e.g. `08:00`; before `start` means the next morning.
    pub end: String,
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    pub transliterate: Option<bool>,
    pub time_zone: Option<String>,
    /// `null` removes quiet hours.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<QuietHoursView>)]
    pub quiet_hours: Option<Option<QuietHoursView>>,
    /// `null` stops posting received messages.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub inbound_url: Option<Option<String>>,
}

async fn view(state: &AppState, auth: &Auth) -> Result<AccountView, ApiError> {
    let account_id = auth.account_id.as_str();
    let a = state.store.account_record(account_id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    let schedule = state.store.account_schedule(account_id).await?;
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    Ok(AccountView {
        time_zone: schedule.time_zone,
        quiet_hours: schedule.quiet.map(|(s, e)| QuietHoursView { start: hhmm(s), end: hhmm(e) }),
        id: a.id,
        name: a.name,
        webhook_secret: auth.manages.then_some(a.webhook_secret),
        transliterate: a.transliterate,
        inbound_url: state.store.inbound_url(account_id).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/account", tag = "account",
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)))]
pub async fn get_account(State(state): State<AppState>, auth: Auth) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(view(&state, &auth).await?))
}

#[utoipa::path(patch, path = "/api/v1/account", tag = "account", request_body = AccountUpdate,
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_account(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<AccountUpdate>,
) -> Result<Json<AccountView>, ApiError> {
    let update = body.value;
    if let Some(Some(u)) = &update.inbound_url
        && !is_user_url(u)
    {
        return Err(ApiError::field("inbound_url", USER_URL_RULE));
    }
    if update.time_zone.is_some() || update.quiet_hours.is_some() {
        let current = state.store.account_schedule(&auth.account_id).await?;
        let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
        let quiet = match &update.quiet_hours {
            Some(q) => q.clone(),
            None => current.quiet.map(|(s, e)| QuietHoursView { start: hhmm(s), end: hhmm(e) }),
        };
        let zone = update.time_zone.as_deref().unwrap_or(&current.time_zone);
        let schedule = crate::campaigns::account_schedule(
            quiet.as_ref().map(|q| (q.start.as_str(), q.end.as_str())),
            zone,
        )?;
        state.store.set_account_schedule(&auth.account_id, &schedule).await?;
    }
    if let Some(on) = update.transliterate {
        state.store.set_account_transliterate(&auth.account_id, on).await?;
    }
    if let Some(url) = &update.inbound_url {
        state.store.set_inbound_url(&auth.account_id, url.as_deref()).await?;
    }
    Ok(Json(view(&state, &auth).await?))
}
