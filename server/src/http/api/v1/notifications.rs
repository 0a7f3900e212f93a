//! `/api/v1/notifications` and friends: events from billing systems (one or
//! a batch), event types and their templates per channel and language,
//! subscribers' preferences and their change log, signed links to the
//! self-service page, account settings for derived events, and the report.
//! The deciding is done in `notifications`; this file translates.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::exports::stream_response;
use crate::domain::canonical_id;
use crate::http::auth::ClientIp;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::notifications::{
    self, EventError, EventInput, EventOutcome, MAX_BATCH, SubscriberRef, check_template, check_type_key,
    ensure_built_in, find_subscriber, format_money, page, parse_money,
};
use crate::storage::{NotificationSettings, NotificationTemplate, PreferenceRow, clean_text, format_micros};
use crate::transfer::{ExportCell, ExportFormat, export_table};

fn event_error(e: EventError) -> ApiError {
    let status = if e.code == "internal" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let code: &'static str = match e.code.as_str() {
        "unknown_subscriber" => "unknown_subscriber",
        "unknown_type" => "unknown_type",
        "missing_data" => "missing_data",
        "no_template" => "no_template",
        "template_error" => "template_error",
        "internal" => "internal",
        _ => "invalid_field",
    };
    ApiError { field: e.field, ..ApiError::new(status, code, e.message) }
}

#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<EventOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    pub accepted: usize,
    pub refused: usize,
    pub results: Vec<BatchResult>,
}

/// Post an event (`{"type", "subscriber", "data", "idempotency_key"}`) or a
/// batch (`{"events": [...]}`, at most 5,000). The answer says, per event,
/// what will be sent, on which channel, to whom and when; a refused event
/// says why, and nothing of it is sent.
#[utoipa::path(post, path = "/api/v1/notifications", tag = "notifications", request_body = EventInput,
    responses((status = 202, body = EventOutcome), (status = 200, description = "A batch", body = BatchResponse),
        (status = 422, body = ErrorBody)))]
pub async fn post_notifications(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let value = body.value;
    let accept = |input: EventInput| {
        let state = state.clone();
        let account = auth.account_id.clone();
        async move {
            notifications::accept(
                &state.store,
                &state.clock,
                state.region,
                state.config.messages.max_segments,
                &account,
                input,
                false,
            )
            .await
        }
    };
    match value.get("events") {
        Some(events) => {
            let events = events.as_array().ok_or_else(|| ApiError::field("events", "must be a list"))?;
            if events.is_empty() || events.len() > MAX_BATCH {
                return Err(ApiError::field("events", format!("1 to {MAX_BATCH} events per request")));
            }
            let mut results = Vec::with_capacity(events.len());
            for (index, e) in events.iter().enumerate() {
                let result = match serde_json::from_value::<EventInput>(e.clone()) {
                    Ok(input) => accept(input).await,
                    Err(err) => Err(EventError {
                        code: "invalid_field".into(),
                        field: None,
                        message: err.to_string(),
                    }),
                };
                results.push(match result {
                    Ok(n) => BatchResult { index, notification: Some(n), error: None },
                    Err(e) => BatchResult { index, notification: None, error: Some(e) },
                });
            }
            let accepted = results.iter().filter(|r| r.notification.is_some()).count();
            let refused = results.len() - accepted;
            Ok((StatusCode::OK, Json(BatchResponse { accepted, refused, results })).into_response())
        }
        None => {
            let input: EventInput =
                serde_json::from_value(value).map_err(|e| ApiError::field("body", e.to_string()))?;
            let outcome = accept(input).await.map_err(event_error)?;
            Ok((StatusCode::ACCEPTED, Json(outcome)).into_response())
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct NotificationListQuery {
    /// Only this contact's notifications.
    pub contact: Option<String>,
    pub cursor: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<EventOutcome>,
    pub next_cursor: Option<String>,
}

/// Notifications, newest first, with where each delivery stands.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationListQuery),
    responses((status = 200, body = NotificationList), (status = 400, body = ErrorBody)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<NotificationListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = super::paging::limit(q.limit)?;
    let cursor = super::paging::cursor(q.cursor)?;
    let list = state
        .store
        .list_notifications(&auth.account_id, q.contact.as_deref(), cursor.as_deref(), limit)
        .await?;
    let next_cursor = (list.len() == limit).then(|| list.last().map(|n| n.id.clone())).flatten();
    Ok(Json(NotificationList {
        notifications: list.into_iter().map(|n| EventOutcome::from_record(n, false, vec![])).collect(),
        next_cursor,
    }))
}

/// One notification with its deliveries.
#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = EventOutcome), (status = 404, body = ErrorBody)))]
pub async fn get_notification(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<EventOutcome>, ApiError> {
    let id = canonical_id(&id).ok_or_else(|| ApiError::not_found("notification"))?;
    let n = state
        .store
        .get_notification(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("notification"))?;
    Ok(Json(EventOutcome::from_record(n, false, vec![])))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    /// `sms` or `email`.
    pub channel: String,
    /// A language code such as `en`, `pl`, `ru`, `bg`.
    pub language: String,
    /// E-mail only.
    pub subject: Option<String>,
    /// The SMS text, or the e-mail's text part (MiniJinja, like campaign templates).
    pub body: String,
    /// E-mail only: the HTML part.
    pub html: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TypeView {
    pub key: String,
    pub name: String,
    /// Sent at once, whatever the subscriber's window.
    pub urgent: bool,
    pub built_in: bool,
    pub templates: Vec<TemplateView>,
}

#[derive(Serialize, ToSchema)]
pub struct TypeList {
    pub types: Vec<TypeView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeInput {
    /// For a new type: a-z, 0-9 and `_`.
    pub key: Option<String>,
    pub name: Option<String>,
    pub urgent: Option<bool>,
}

/// The event types (built in, then the account's own) with their templates.
#[utoipa::path(get, path = "/api/v1/notification-types", tag = "notifications",
    responses((status = 200, body = TypeList)))]
pub async fn list_types(State(state): State<AppState>, auth: Auth) -> Result<Json<TypeList>, ApiError> {
    let types = ensure_built_in(&state.store, &auth.account_id, state.clock.now_micros()).await?;
    Ok(Json(TypeList {
        types: types
            .into_iter()
            .map(|t| TypeView {
                key: t.key,
                name: t.name,
                urgent: t.urgent,
                built_in: t.built_in,
                templates: t
                    .templates
                    .into_iter()
                    .map(|x| TemplateView {
                        channel: x.channel,
                        language: x.language,
                        subject: x.subject,
                        body: x.body,
                        html: x.html,
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// Longest name of an event type.
const MAX_TYPE_NAME_LEN: usize = 100;

/// A type's name as given: one line of at most 100 characters; `None` when
/// not given or blank.
fn type_name(given: Option<&str>) -> Result<Option<String>, ApiError> {
    clean_text(given.unwrap_or(""), MAX_TYPE_NAME_LEN, false)
        .map_err(|e| ApiError::field("name", format!("the name {e}")))
}

/// Add a custom event type (give it templates with `PUT …/templates/{channel}/{language}`).
#[utoipa::path(post, path = "/api/v1/notification-types", tag = "notifications", request_body = TypeInput,
    responses((status = 201, body = TypeView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_type(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<TypeInput>,
) -> Result<(StatusCode, Json<TypeView>), ApiError> {
    let input = body.value;
    let key = input.key.ok_or_else(|| ApiError::field("key", "is required"))?;
    check_type_key(&key).map_err(|m| ApiError::field("key", m))?;
    let name = type_name(input.name.as_deref())?.unwrap_or_else(|| key.replace('_', " "));
    let urgent = input.urgent.unwrap_or(false);
    ensure_built_in(&state.store, &auth.account_id, state.clock.now_micros()).await?;
    let created = state
        .store
        .create_notification_type(&auth.account_id, &key, &name, urgent, false, &[], state.clock.now_micros())
        .await?;
    if !created {
        return Err(ApiError {
            field: Some("key".into()),
            ..ApiError::new(StatusCode::CONFLICT, "duplicate", format!("the type {key} exists"))
        });
    }
    Ok((StatusCode::CREATED, Json(TypeView { key, name, urgent, built_in: false, templates: Vec::new() })))
}

/// Rename a type or mark it urgent.
#[utoipa::path(patch, path = "/api/v1/notification-types/{key}", tag = "notifications", request_body = TypeInput,
    params(("key" = String, Path, description = "Type key")),
    responses((status = 204, description = "Changed"), (status = 404, body = ErrorBody)))]
pub async fn update_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    body: JsonBody<TypeInput>,
) -> Result<StatusCode, ApiError> {
    let input = body.value;
    if input.key.as_deref().is_some_and(|k| k != key) {
        return Err(ApiError::field("key", "a type's key cannot change"));
    }
    let name = match input.name.as_deref() {
        Some(given) => Some(type_name(Some(given))?.ok_or_else(|| ApiError::field("name", "is empty"))?),
        None => None,
    };
    ensure_built_in(&state.store, &auth.account_id, state.clock.now_micros()).await?;
    if !state.store.update_notification_type(&auth.account_id, &key, name.as_deref(), input.urgent).await? {
        return Err(ApiError::not_found("notification type"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct TemplatePath {
    pub key: String,
    /// `sms` or `email`.
    pub channel: String,
    pub language: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub subject: Option<String>,
    pub body: Option<String>,
    pub html: Option<String>,
}

/// Set a type's template for a channel and language; checked like campaign templates.
#[utoipa::path(put, path = "/api/v1/notification-types/{key}/templates/{channel}/{language}", tag = "notifications",
    params(TemplatePath), request_body = TemplateInput,
    responses((status = 204, description = "Saved"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<TemplatePath>,
    body: JsonBody<TemplateInput>,
) -> Result<StatusCode, ApiError> {
    let ty = find_type(&state, &auth, &p.key).await?;
    let language = p.language.trim().to_ascii_lowercase();
    if language.is_empty()
        || language.len() > 8
        || !language.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
    {
        return Err(ApiError::field("language", "a language code such as en, pl, ru, bg"));
    }
    let input = body.value;
    let template = NotificationTemplate {
        channel: p.channel,
        language,
        subject: input.subject,
        body: input.body.ok_or_else(|| ApiError::field("body", "is required"))?,
        html: input.html,
    };
    check_template(&state.store, &auth.account_id, &template).await.map_err(event_error)?;
    state.store.put_notification_template(&ty.id, &template, state.clock.now_micros()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a type's template for a channel and language.
#[utoipa::path(delete, path = "/api/v1/notification-types/{key}/templates/{channel}/{language}", tag = "notifications",
    params(TemplatePath), responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<TemplatePath>,
) -> Result<StatusCode, ApiError> {
    let ty = find_type(&state, &auth, &p.key).await?;
    if !state.store.delete_notification_template(&ty.id, &p.channel, &p.language).await? {
        return Err(ApiError::not_found("template"));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn find_type(
    state: &AppState,
    auth: &Auth,
    key: &str,
) -> Result<crate::storage::NotificationType, ApiError> {
    let types = ensure_built_in(&state.store, &auth.account_id, state.clock.now_micros()).await?;
    types.into_iter().find(|t| t.key == key).ok_or_else(|| ApiError::not_found("notification type"))
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct WindowView {
    /// `HH:MM` local time.
    pub start: String,
    pub end: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct PreferenceView {
    /// An event type's key, or `*` for every type.
    #[serde(rename = "type")]
    pub type_key: String,
    /// `sms`, `email`; empty: none of this type.
    pub channels: Vec<String>,
    #[serde(default)]
    pub extra_phones: Vec<String>,
    #[serde(default)]
    pub extra_emails: Vec<String>,
    /// The hours messages may arrive; none: any time.
    pub window: Option<WindowView>,
    /// IANA zone of the window; default: the contact's, then the account's.
    pub time_zone: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    pub preferences: Vec<PreferenceView>,
}

fn hhmm(m: i64) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn minutes(field: &str, s: &str) -> Result<i64, ApiError> {
    let t = chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| ApiError::field(field, format!("'{s}' is not a time as HH:MM")))?;
    Ok(i64::from(chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t)))
}

async fn contact_key(state: &AppState, auth: &Auth, contact: &str) -> Result<String, ApiError> {
    if contact == "*" {
        return Ok("*".into());
    }
    let id = canonical_id(contact).ok_or_else(|| ApiError::not_found("contact"))?;
    state
        .store
        .get_contact(&auth.account_id, &id)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| ApiError::not_found("contact"))
}

/// A subscriber's own preferences (`*`: the account's defaults).
#[utoipa::path(get, path = "/api/v1/notification-preferences/{contact}", tag = "notifications",
    params(("contact" = String, Path, description = "Contact id, or * for the account's defaults")),
    responses((status = 200, body = Preferences), (status = 404, body = ErrorBody)))]
pub async fn get_preferences(
    State(state): State<AppState>,
    auth: Auth,
    Path(contact): Path<String>,
) -> Result<Json<Preferences>, ApiError> {
    let contact = contact_key(&state, &auth, &contact).await?;
    let rows = state.store.notification_preferences(&auth.account_id, &contact).await?;
    Ok(Json(Preferences {
        preferences: rows
            .into_iter()
            .filter(|r| r.contact_id == contact)
            .map(|r| PreferenceView {
                type_key: r.type_key,
                channels: r.channels,
                extra_phones: r.extra_phones,
                extra_emails: r.extra_emails,
                window: r.window.map(|(s, e)| WindowView { start: hhmm(s), end: hhmm(e) }),
                time_zone: r.time_zone,
            })
            .collect(),
    }))
}

/// Replace a subscriber's preferences (`*`: the account's defaults). The
/// change is recorded.
#[utoipa::path(put, path = "/api/v1/notification-preferences/{contact}", tag = "notifications",
    params(("contact" = String, Path, description = "Contact id, or *")), request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_preferences(
    State(state): State<AppState>,
    auth: Auth,
    Path(contact_path): Path<String>,
    ClientIp(from): ClientIp,
    body: JsonBody<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    let contact = contact_key(&state, &auth, &contact_path).await?;
    let types = ensure_built_in(&state.store, &auth.account_id, state.clock.now_micros()).await?;
    let mut rows = Vec::new();
    for (i, p) in body.value.preferences.iter().enumerate() {
        let f = |name: &str| format!("preferences[{i}].{name}");
        if p.type_key != "*" && !types.iter().any(|t| t.key == p.type_key) {
            return Err(ApiError::field(f("type"), format!("no event type '{}'", p.type_key)));
        }
        if rows.iter().any(|r: &PreferenceRow| r.type_key == p.type_key) {
            return Err(ApiError::field(f("type"), "given twice"));
        }
        for c in &p.channels {
            if !notifications::CHANNELS.contains(&c.as_str()) {
                return Err(ApiError::field(f("channels"), format!("'{c}' is not sms or email")));
            }
        }
        let mut phones = Vec::new();
        for ph in &p.extra_phones {
            let n = crate::domain::PhoneNumber::parse(ph, state.region)
                .map_err(|e| ApiError::field(f("extra_phones"), e.to_string()))?;
            phones.push(n.as_str().to_owned());
        }
        for e in &p.extra_emails {
            crate::storage::Email::parse(e)
                .map_err(|err| ApiError::field(f("extra_emails"), err.to_string()))?;
        }
        let window = match &p.window {
            Some(w) => {
                let w = (minutes(&f("window.start"), &w.start)?, minutes(&f("window.end"), &w.end)?);
                if w.0 == w.1 {
                    return Err(ApiError::field(f("window"), "start and end must differ"));
                }
                Some(w)
            }
            None => None,
        };
        if let Some(z) = &p.time_zone {
            crate::campaigns::schedule::parse_zone(z).map_err(|m| ApiError::field(f("time_zone"), m))?;
        }
        rows.push(PreferenceRow {
            contact_id: contact.clone(),
            type_key: p.type_key.clone(),
            channels: p.channels.clone(),
            extra_phones: phones,
            extra_emails: p.extra_emails.iter().map(|e| e.trim().to_owned()).collect(),
            window,
            time_zone: p.time_zone.clone(),
        });
    }
    let from = from.map(|ip| ip.to_string());
    state
        .store
        .replace_notification_preferences(
            &auth.account_id,
            &contact,
            &rows,
            "api",
            from.as_deref(),
            state.clock.now_micros(),
        )
        .await?;
    get_preferences(State(state), auth, Path(contact_path)).await
}

#[derive(Serialize, ToSchema)]
pub struct PreferenceChange {
    /// `api` or `self-service`.
    pub source: String,
    pub remote_addr: Option<String>,
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    pub at: String,
}

/// Every change of a subscriber's preferences, oldest first.
#[utoipa::path(get, path = "/api/v1/notification-preferences/{contact}/changes", tag = "notifications",
    params(("contact" = String, Path, description = "Contact id")),
    responses((status = 200, body = Vec<PreferenceChange>), (status = 404, body = ErrorBody)))]
pub async fn preference_changes(
    State(state): State<AppState>,
    auth: Auth,
    Path(contact): Path<String>,
) -> Result<Json<Vec<PreferenceChange>>, ApiError> {
    let contact = contact_key(&state, &auth, &contact).await?;
    let changes = state.store.notification_preference_changes(&auth.account_id, &contact).await?;
    Ok(Json(
        changes
            .into_iter()
            .map(|(source, remote_addr, after, at)| PreferenceChange {
                source,
                remote_addr,
                preferences: serde_json::from_str(&after).unwrap_or_default(),
                at: format_micros(at),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    pub subscriber: Option<SubscriberRef>,
    /// How long the link works (default 72, at most 720).
    pub valid_hours: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    pub url: String,
    pub expires_at: String,
}

/// A signed link to the self-service page of one subscriber (send it in a
/// message, or show it in the billing system).
#[utoipa::path(post, path = "/api/v1/notification-links", tag = "notifications", request_body = LinkInput,
    responses((status = 201, body = LinkView), (status = 422, body = ErrorBody)))]
pub async fn create_link(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<LinkInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let hours = input.valid_hours.unwrap_or(72);
    if !(1..=page::MAX_LINK_LIFETIME_HOURS).contains(&hours) {
        return Err(ApiError::field("valid_hours", format!("1 to {}", page::MAX_LINK_LIFETIME_HOURS)));
    }
    let s = input.subscriber.ok_or_else(|| ApiError::field("subscriber", "is required"))?;
    let contact =
        find_subscriber(&state.store, &auth.account_id, state.region, &s).await.map_err(event_error)?;
    let account =
        state.store.account_record(&auth.account_id).await?.ok_or_else(|| ApiError::not_found("account"))?;
    let expires = state.clock.now() + chrono::Duration::hours(hours);
    let token = page::sign(&account.webhook_secret, &account.id, &contact.id, expires.timestamp());
    let base = state
        .config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.server.http_listen));
    let url = format!("{}/preferences/{token}", base.trim_end_matches('/'));
    Ok((StatusCode::CREATED, Json(LinkView { url, expires_at: format_micros(expires.timestamp_micros()) }))
        .into_response())
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsView {
    /// A reported balance below this raises `balance_low` (decimal, e.g. "10.00"); null: never.
    pub low_balance_threshold: Option<String>,
    /// A forecast of this many days or fewer raises `funds_run_out`.
    pub runout_days: Option<i64>,
    /// Templates in this language are used when none matches the subscriber's.
    pub default_language: Option<String>,
}

/// The account's notification settings.
#[utoipa::path(get, path = "/api/v1/notification-settings", tag = "notifications",
    responses((status = 200, body = SettingsView)))]
pub async fn get_settings(State(state): State<AppState>, auth: Auth) -> Result<Json<SettingsView>, ApiError> {
    let s = state.store.notification_settings(&auth.account_id).await?;
    Ok(Json(SettingsView {
        low_balance_threshold: s.low_balance_threshold.map(format_money),
        runout_days: Some(s.runout_days),
        default_language: Some(s.default_language),
    }))
}

/// Change the account's notification settings.
#[utoipa::path(put, path = "/api/v1/notification-settings", tag = "notifications", request_body = SettingsView,
    responses((status = 200, body = SettingsView), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<SettingsView>,
) -> Result<Json<SettingsView>, ApiError> {
    let input = body.value;
    let current = state.store.notification_settings(&auth.account_id).await?;
    let threshold = match &input.low_balance_threshold {
        Some(t) => Some(
            parse_money(&serde_json::Value::String(t.clone()))
                .map_err(|m| ApiError::field("low_balance_threshold", m))?,
        ),
        None => None,
    };
    let runout_days = input.runout_days.unwrap_or(current.runout_days);
    if !(0..=365).contains(&runout_days) {
        return Err(ApiError::field("runout_days", "0 to 365"));
    }
    let settings = NotificationSettings {
        low_balance_threshold: threshold,
        runout_days,
        default_language: input.default_language.unwrap_or(current.default_language).to_ascii_lowercase(),
    };
    state.store.put_notification_settings(&auth.account_id, &settings, state.clock.now_micros()).await?;
    get_settings(State(state), auth).await
}

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// RFC 3339; default 30 days ago.
    pub since: Option<String>,
    /// RFC 3339; default now.
    pub until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportLine {
    pub day: String,
    #[serde(rename = "type")]
    pub type_key: String,
    pub channel: String,
    /// waiting_window, queued, sent, delivered, undelivered, failed, bounced, suppressed, …
    pub status: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Report {
    pub lines: Vec<ReportLine>,
}

async fn report_lines(state: &AppState, auth: &Auth, q: ReportQuery) -> Result<Vec<ReportLine>, ApiError> {
    let time = |field: &str, s: &Option<String>, default: DateTime<Utc>| -> Result<i64, ApiError> {
        match s {
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_micros())
                .map_err(|_| ApiError::query(field, "is not an RFC 3339 time")),
            None => Ok(default.timestamp_micros()),
        }
    };
    let now = state.clock.now();
    let since = time("since", &q.since, now - chrono::Duration::days(30))?;
    let until = time("until", &q.until, now + chrono::Duration::seconds(1))?;
    let rows = state.store.notification_report(&auth.account_id, since, until).await?;
    Ok(rows
        .into_iter()
        .map(|r| ReportLine {
            day: r.day,
            type_key: r.type_key,
            channel: r.channel,
            status: r.status,
            count: r.count,
        })
        .collect())
}

/// Notifications by day, type, channel and status.
#[utoipa::path(get, path = "/api/v1/notifications/report", tag = "notifications", params(ReportQuery),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    Ok(Json(Report { lines: report_lines(&state, &auth, q).await? }))
}

async fn report_file(
    state: AppState,
    auth: Auth,
    q: ReportQuery,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let lines = report_lines(&state, &auth, q).await?;
    let header = ["day", "type", "channel", "status", "count"].map(str::to_owned).to_vec();
    let rows = lines
        .into_iter()
        .map(|l| {
            vec![
                l.day.into(),
                l.type_key.into(),
                l.channel.into(),
                l.status.into(),
                ExportCell::Number(l.count as f64),
            ]
        })
        .collect();
    Ok(stream_response(format, "notifications-report", move |out| async move {
        export_table(format, out, header, rows).await
    }))
}

/// The report as CSV.
#[utoipa::path(get, path = "/api/v1/notifications/report.csv", tag = "notifications", params(ReportQuery),
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn report_csv(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    report_file(state, auth, q, ExportFormat::Csv).await
}

/// The report as XLSX.
#[utoipa::path(get, path = "/api/v1/notifications/report.xlsx", tag = "notifications", params(ReportQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)))]
pub async fn report_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    report_file(state, auth, q, ExportFormat::Xlsx).await
}
