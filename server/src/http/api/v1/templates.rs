//! `/api/v1/templates` and `/api/v1/sender-ids`: the named message
//! templates campaigns are written from, checked when saved, with a
//! preview for a contact; and the sender ids an account may send from.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::billing::{Amount, price_of};
use crate::campaigns::template::{MessageTemplate, TemplateContact, TemplateError};
use crate::domain::{MessageText, PhoneNumber, SenderId};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{self, SenderRecord, TemplateNameTaken, TemplateRecord, format_micros, now_micros};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    /// MiniJinja source: `{{ contact.name }}`, `{{ contact.<custom field> }}`,
    /// `{{ data.<name> }}`, filters `date` and `amount`.
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TemplateRecord> for TemplateView {
    fn from(t: TemplateRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            body: t.body,
            created_at: format_micros(t.created_at),
            updated_at: format_micros(t.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    #[schema(example = "Payment reminder")]
    pub name: Option<String>,
    #[schema(
        example = "Dear {{ contact.name }}, please pay {{ data.amount | amount(currency=\"PLN\") }} by {{ data.due | date }}."
    )]
    pub body: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The source to try; for a saved template, its own.
    pub body: Option<String>,
    /// Render for this contact (id) ...
    pub contact: Option<String>,
    /// ... or for this number (its contact if there is one).
    pub phone: Option<String>,
    /// What a send would pass as `data`.
    pub data: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    /// The text as it would be sent: rendered, and transliterated when the
    /// account transliterates.
    pub text: String,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    pub segments: usize,
    pub characters: usize,
    /// What sending it to the contact (or number) costs now; absent when
    /// the account is not charged, no recipient was given, or the tariff
    /// has no price for the number (`price_problem` says so).
    pub price: Option<Amount>,
    pub price_problem: Option<String>,
}

fn template_error(field: &str, e: &TemplateError) -> ApiError {
    ApiError::field(field, e.to_string())
}

fn template_name(name: &str) -> Result<String, ApiError> {
    storage::template_name(name).map_err(|e| ApiError::field("name", e))
}

fn name_taken(name: &str) -> ApiError {
    ApiError {
        field: Some("name".into()),
        ..ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            format!("a template named '{name}' already exists"),
        )
    }
}

async fn fields(state: &AppState, account_id: &str) -> Result<Vec<String>, ApiError> {
    Ok(state
        .store
        .contact_fields(account_id)
        .await?
        .into_iter()
        .map(|f| f.name.as_str().to_owned())
        .collect())
}

/// Every template of the account, by name.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates",
    responses((status = 200, body = TemplateList), (status = 401, body = ErrorBody)))]
pub async fn list_templates(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<TemplateList>, ApiError> {
    let templates = state.store.list_templates(&auth.account_id).await?;
    Ok(Json(TemplateList { templates: templates.into_iter().map(Into::into).collect() }))
}

/// Save a template. Syntax errors and unknown variables are refused with
/// their line and column.
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<TemplateInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let name = template_name(input.name.as_deref().ok_or_else(|| ApiError::field("name", "is required"))?)?;
    let source = input.body.ok_or_else(|| ApiError::field("body", "is required"))?;
    MessageTemplate::parse(&source, &fields(&state, &auth.account_id).await?)
        .map_err(|e| template_error("body", &e))?;
    match state.store.create_template(&auth.account_id, &name, &source, now_micros()).await? {
        Ok(t) => Ok((StatusCode::CREATED, Json(TemplateView::from(t))).into_response()),
        Err(TemplateNameTaken) => Err(name_taken(&name)),
    }
}

/// Read a template (by id or name).
#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id or name")),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)))]
pub async fn get_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let t = state.store.find_template(&auth.account_id, &id).await?;
    Ok(Json(t.ok_or_else(|| ApiError::not_found("template"))?.into()))
}

/// Rename or rewrite a template. Campaigns already created keep the text
/// they were created with.
#[utoipa::path(patch, path = "/api/v1/templates/{id}", tag = "templates", request_body = TemplateInput,
    params(("id" = String, Path, description = "Template id or name")),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<TemplateInput>,
) -> Result<Json<TemplateView>, ApiError> {
    let existing = state
        .store
        .find_template(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    let input = body.value;
    let name = input.name.as_deref().map(template_name).transpose()?;
    if let Some(source) = &input.body {
        MessageTemplate::parse(source, &fields(&state, &auth.account_id).await?)
            .map_err(|e| template_error("body", &e))?;
    }
    let updated = state
        .store
        .update_template(&auth.account_id, &existing.id, name.as_deref(), input.body.as_deref(), now_micros())
        .await?;
    match updated {
        Some(Ok(t)) => Ok(Json(t.into())),
        None => Err(ApiError::not_found("template")),
        Some(Err(TemplateNameTaken)) => Err(name_taken(name.as_deref().unwrap_or_default())),
    }
}

/// Delete a template; campaigns made from it keep their text.
#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id or name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = state
        .store
        .find_template(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    state.store.delete_template(&auth.account_id, &t.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Render a saved template for a contact (or number): the text, its
/// encoding and segment count.
#[utoipa::path(post, path = "/api/v1/templates/{id}/preview", tag = "templates", request_body = PreviewInput,
    params(("id" = String, Path, description = "Template id or name")),
    responses((status = 200, body = PreviewView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<PreviewInput>,
) -> Result<Json<PreviewView>, ApiError> {
    let t = state
        .store
        .find_template(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    let mut input = body.value;
    if input.body.is_some() {
        return Err(ApiError::field("body", "a saved template is previewed with its own body"));
    }
    input.body = Some(t.body);
    preview(&state, &auth, input).await.map(Json)
}

/// Render a template source that is not saved (for a live editor).
#[utoipa::path(post, path = "/api/v1/templates/preview", tag = "templates", request_body = PreviewInput,
    responses((status = 200, body = PreviewView), (status = 422, body = ErrorBody)))]
pub async fn preview_source(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<PreviewInput>,
) -> Result<Json<PreviewView>, ApiError> {
    preview(&state, &auth, body.value).await.map(Json)
}

async fn preview(state: &AppState, auth: &Auth, input: PreviewInput) -> Result<PreviewView, ApiError> {
    let source = input.body.ok_or_else(|| ApiError::field("body", "is required"))?;
    let fields = fields(state, &auth.account_id).await?;
    let template = MessageTemplate::parse(&source, &fields).map_err(|e| template_error("body", &e))?;
    // The contact to render for, and the number the message would go to.
    let (contact, to) = match (input.contact, input.phone) {
        (Some(_), Some(_)) => return Err(ApiError::field("phone", "give a contact or a phone, not both")),
        (Some(id), None) => {
            let c = state.store.get_contact(&auth.account_id, &id).await?;
            let c = c.ok_or_else(|| ApiError::field("contact", "no such contact"))?;
            (TemplateContact::from_record(&c), Some(PhoneNumber::from_trusted(c.phone.clone())))
        }
        (None, Some(phone)) => {
            let p = PhoneNumber::parse(&phone, state.region)
                .map_err(|e| ApiError::field("phone", e.to_string()))?;
            let record = match state.store.contact_id_by_phone(&auth.account_id, &p).await? {
                Some(id) => state.store.get_contact(&auth.account_id, &id).await?,
                None => None,
            };
            let contact = match record {
                Some(c) => TemplateContact::from_record(&c),
                None => TemplateContact::number_only(p.as_str()),
            };
            (contact, Some(p))
        }
        (None, None) => (TemplateContact::number_only("+48600100200"), None),
    };
    let contact = contact.with_missing_fields(&fields);
    let data = input.data.unwrap_or_else(|| serde_json::json!({}));
    if !data.is_object() {
        return Err(ApiError::field("data", "must be a JSON object"));
    }
    let rendered = template.render(&contact, &data).map_err(|e| ApiError::field("data", e.to_string()))?;
    let message = MessageText::to_send(&rendered, auth.transliterate, state.config.messages.max_segments)
        .map_err(|e| ApiError::field("body", e.to_string()))?;
    let text = message.as_str().to_owned();
    let (price, price_problem) = match to {
        Some(to) => price_of(state, &auth.account_id, &to, message.segments() as i64).await?,
        None => (None, None),
    };
    Ok(PreviewView {
        characters: text.chars().count(),
        encoding: message.encoding_name().into(),
        segments: message.segments(),
        text,
        price,
        price_problem,
    })
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SenderView {
    /// Up to 11 GSM characters, or up to 16 digits.
    pub sender: String,
    /// Used when a campaign names no sender.
    pub default: bool,
    pub created_at: String,
}

impl From<SenderRecord> for SenderView {
    fn from(s: SenderRecord) -> Self {
        Self { sender: s.sender, default: s.is_default, created_at: format_micros(s.created_at) }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SenderList {
    pub sender_ids: Vec<SenderView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderInput {
    #[schema(example = "Kurier")]
    pub sender: Option<String>,
    pub default: Option<bool>,
}

/// The account's sender ids, the default first. Campaigns may only use these.
#[utoipa::path(get, path = "/api/v1/sender-ids", tag = "templates",
    responses((status = 200, body = SenderList), (status = 401, body = ErrorBody)))]
pub async fn list_senders(State(state): State<AppState>, auth: Auth) -> Result<Json<SenderList>, ApiError> {
    let senders = state.store.list_senders(&auth.account_id).await?;
    Ok(Json(SenderList { sender_ids: senders.into_iter().map(Into::into).collect() }))
}

/// Add a sender id (or make an existing one the default).
#[utoipa::path(post, path = "/api/v1/sender-ids", tag = "templates", request_body = SenderInput,
    responses((status = 201, body = SenderList), (status = 422, body = ErrorBody)))]
pub async fn add_sender(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<SenderInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let raw = input.sender.ok_or_else(|| ApiError::field("sender", "is required"))?;
    let sender = SenderId::parse(&raw).map_err(|e| ApiError::field("sender", e.to_string()))?;
    state.store.put_sender(&auth.account_id, &sender, input.default.unwrap_or(false), now_micros()).await?;
    let senders = state.store.list_senders(&auth.account_id).await?;
    Ok((StatusCode::CREATED, Json(SenderList { sender_ids: senders.into_iter().map(Into::into).collect() }))
        .into_response())
}

/// Remove a sender id.
#[utoipa::path(delete, path = "/api/v1/sender-ids/{sender}", tag = "templates",
    params(("sender" = String, Path, description = "The sender id")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn delete_sender(
    State(state): State<AppState>,
    auth: Auth,
    Path(sender): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_sender(&auth.account_id, &sender).await? {
        return Err(ApiError::not_found("sender id"));
    }
    Ok(StatusCode::NO_CONTENT)
}
