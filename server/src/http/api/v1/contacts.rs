//! `/api/v1/contacts`: the address book — create, read, update (PATCH),
//! delete, list with filters and a cursor, bulk upsert, #tag subscriptions;
//! and `/api/v1/contact-fields`, the account's typed custom fields.
//!
//! Bodies are read into domain values at this edge; every refusal names
//! the field at fault (`email`, `fields.city`, `contacts[3].phone`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{PhoneNumber, Tag};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::contact_types::{MAX_EXTERNAL_ID_LEN, MAX_NAME_LEN, MAX_NOTES_LEN};
use crate::storage::{
    ContactChanges, ContactFilter, ContactRecord, ContactWrite, Email, FieldCreateError, FieldDef, FieldKind,
    FieldName, FieldValue, GroupRecord, Language, MAX_CONTACT_FIELDS, MAX_CONTACT_GROUPS, MAX_CONTACT_TAGS,
    MatchBy, RowProblem, SetChange, Target, TimeZone, WriteOutcome, clean_text, format_micros,
    group_name_key, now_micros,
};

/// Most contacts in one bulk request.
pub const MAX_BULK_CONTACTS: usize = 10_000;
/// Largest bulk request body (10,000 contacts with room for notes).
pub const MAX_BULK_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Page size of the contact list: default and most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// Reads a present field as `Some(value)`, `null` as `Some(None)`; an
/// absent field stays `None` (through `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A contact as sent. In a PATCH, absent fields stay as they are and
/// `null` clears a field.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// E.164 or national (with `messages.default_region`); unique per account.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "+48600100200")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Language tag such as `pl` or `en-GB`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    /// IANA time zone such as `Europe/Warsaw`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    /// Your system's id for the contact; unique per account.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// Custom field values by field name, typed as the field is; `null`
    /// removes a value.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Tags (with or without `#`); replaces the contact's tags.
    pub tags: Option<Vec<String>>,
    /// Group ids or names; replaces the contact's groups.
    pub groups: Option<Vec<String>>,
    /// Opted out of messages (records the time).
    pub opted_out: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct GroupRefView {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub id: String,
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub external_id: Option<String>,
    pub notes: Option<String>,
    /// Custom values by field name: text, number, `YYYY-MM-DD` or boolean.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub groups: Vec<GroupRefView>,
    pub opted_out: bool,
    pub opted_out_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ContactRecord> for ContactView {
    fn from(c: ContactRecord) -> Self {
        Self {
            id: c.id,
            phone: c.phone,
            name: c.name,
            email: c.email,
            language: c.language,
            time_zone: c.time_zone,
            external_id: c.external_id,
            notes: c.notes,
            fields: c.fields.into_iter().map(|(k, v)| (k, v.to_json())).collect(),
            tags: c.tags,
            groups: c.groups.into_iter().map(|g| GroupRefView { id: g.id, name: g.name }).collect(),
            opted_out: c.opted_out_at.is_some(),
            opted_out_at: c.opted_out_at.map(format_micros),
            created_at: format_micros(c.created_at),
            updated_at: format_micros(c.updated_at),
        }
    }
}

/// What a request's contacts are read against: the account's custom
/// fields and groups, and the default region.
pub(super) struct Context {
    region: Option<crate::domain::Region>,
    fields: Vec<FieldDef>,
    groups: Option<Vec<GroupRecord>>,
}

impl Context {
    pub(super) async fn load(
        state: &AppState,
        account_id: &str,
        need_groups: bool,
    ) -> Result<Self, ApiError> {
        let fields = state.store.contact_fields(account_id).await?;
        let groups = if need_groups { Some(state.store.list_groups(account_id).await?) } else { None };
        Ok(Self { region: state.region, fields, groups })
    }

    /// A group id from an id or a name (any case).
    fn group_id(&self, id_or_name: &str) -> Option<String> {
        let groups = self.groups.as_deref().unwrap_or_default();
        let key = group_name_key(id_or_name);
        groups
            .iter()
            .find(|g| g.id == id_or_name.trim())
            .or_else(|| groups.iter().find(|g| group_name_key(&g.name) == key))
            .map(|g| g.id.clone())
    }
}

fn text_field(
    prefix: &str,
    name: &str,
    value: &Option<Option<String>>,
    max: usize,
    multiline: bool,
) -> Result<Option<Option<String>>, ApiError> {
    match value {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => clean_text(s, max, multiline)
            .map(Some)
            .map_err(|e| ApiError::field(format!("{prefix}{name}"), format!("the text {e}"))),
    }
}

fn parsed<T, E: std::fmt::Display>(
    prefix: &str,
    name: &str,
    value: &Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<Option<T>>, ApiError> {
    match value {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Some(s)) => parse(s)
            .map(|v| Some(Some(v)))
            .map_err(|e| ApiError::field(format!("{prefix}{name}"), e.to_string())),
    }
}

/// Reads a request's contact into changes. `creating` requires a phone.
fn changes_from(
    input: &ContactInput,
    ctx: &Context,
    prefix: &str,
    creating: bool,
) -> Result<ContactChanges, ApiError> {
    let field = |name: &str| format!("{prefix}{name}");
    let phone = match &input.phone {
        None if creating => return Err(ApiError::field(field("phone"), "is required")),
        None => None,
        Some(None) if creating => return Err(ApiError::field(field("phone"), "is required")),
        Some(None) => {
            return Err(ApiError::field(field("phone"), "cannot be removed; every contact has a number"));
        }
        Some(Some(p)) => Some(
            PhoneNumber::parse(p, ctx.region).map_err(|e| ApiError::field(field("phone"), e.to_string()))?,
        ),
    };
    let mut changes = ContactChanges {
        phone,
        name: text_field(prefix, "name", &input.name, MAX_NAME_LEN, false)?,
        email: parsed(prefix, "email", &input.email, Email::parse)?,
        language: parsed(prefix, "language", &input.language, Language::parse)?,
        time_zone: parsed(prefix, "time_zone", &input.time_zone, TimeZone::parse)?,
        external_id: text_field(prefix, "external_id", &input.external_id, MAX_EXTERNAL_ID_LEN, false)?,
        notes: text_field(prefix, "notes", &input.notes, MAX_NOTES_LEN, true)?,
        opted_out: input.opted_out,
        ..ContactChanges::default()
    };
    for (name, value) in input.fields.iter().flatten() {
        let at = field(&format!("fields.{name}"));
        let def =
            FieldName::parse(name).ok().and_then(|n| ctx.fields.iter().find(|f| f.name == n)).ok_or_else(
                || ApiError::field(&at, "no such contact field; define it at /api/v1/contact-fields"),
            )?;
        let value =
            FieldValue::from_json(def.kind, value).map_err(|e| ApiError::field(&at, e.to_string()))?;
        changes.fields.push((def.id.clone(), value));
    }
    if let Some(tags) = &input.tags {
        if tags.len() > MAX_CONTACT_TAGS {
            return Err(ApiError::field(field("tags"), format!("at most {MAX_CONTACT_TAGS} tags")));
        }
        let mut parsed: Vec<Tag> = Vec::new();
        for (i, t) in tags.iter().enumerate() {
            let tag =
                Tag::parse(t).map_err(|e| ApiError::field(field(&format!("tags[{i}]")), e.to_string()))?;
            if !parsed.contains(&tag) {
                parsed.push(tag);
            }
        }
        changes.tags = SetChange::Replace(parsed);
    }
    if let Some(groups) = &input.groups {
        if groups.len() > MAX_CONTACT_GROUPS {
            return Err(ApiError::field(field("groups"), format!("at most {MAX_CONTACT_GROUPS} groups")));
        }
        let mut ids = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let id = ctx.group_id(g).ok_or_else(|| {
                ApiError::field(field(&format!("groups[{i}]")), format!("no such group: {g}"))
            })?;
            ids.push(id);
        }
        changes.groups = SetChange::Replace(ids);
    }
    Ok(changes)
}

/// A storage refusal of a single contact, as an answer.
fn problem_error(p: RowProblem) -> ApiError {
    match p.code {
        "duplicate" => ApiError {
            field: Some(p.field.into()),
            ..ApiError::new(StatusCode::CONFLICT, "duplicate", p.message)
        },
        "not_found" => ApiError::not_found("contact"),
        _ => ApiError::field(p.field, p.message),
    }
}

async fn write_one(state: &AppState, account_id: &str, write: ContactWrite) -> Result<ContactView, ApiError> {
    let outcome = state.store.write_contacts(account_id, &[write], now_micros()).await?.remove(0);
    let id = outcome.map_err(problem_error)?.id().to_owned();
    let record =
        state.store.get_contact(account_id, &id).await?.ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(record.into())
}

/// A contact id from a path: any text that is not an id is simply unknown.
fn contact_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).map_err(|_| ApiError::not_found("contact"))
}

/// Add a contact.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", request_body = ContactInput,
    responses((status = 201, body = ContactView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "The number or external id belongs to another contact", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_contact(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<ContactInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let ctx = Context::load(&state, &auth.account_id, input.groups.is_some()).await?;
    let changes = changes_from(&input, &ctx, "", true)?;
    let view = write_one(&state, &auth.account_id, ContactWrite { target: Target::New, changes }).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Read one contact.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, body = ContactView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<ContactView>, ApiError> {
    let id = contact_id(&id)?;
    let record = state
        .store
        .get_contact(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(Json(record.into()))
}

/// Change a contact: absent fields stay, `null` clears; `tags`, `groups`
/// and each named custom field are replaced.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", request_body = ContactInput,
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<ContactInput>,
) -> Result<Json<ContactView>, ApiError> {
    let id = contact_id(&id)?;
    let input = body.value;
    let ctx = Context::load(&state, &auth.account_id, input.groups.is_some()).await?;
    let changes = changes_from(&input, &ctx, "", false)?;
    let view = write_one(&state, &auth.account_id, ContactWrite { target: Target::Id(id), changes }).await?;
    Ok(Json(view))
}

/// Delete a contact (with its values, tags and memberships).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = contact_id(&id)?;
    if !state.store.delete_contact(&auth.account_id, &id).await? {
        return Err(ApiError::not_found("contact"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The list's query parameters (documentation; read by hand so that
/// `field.<name>` works and unknown parameters are refused).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ContactListQuery {
    /// Members of this group (id or name).
    pub group: Option<String>,
    /// Contacts with this tag (with or without `#`).
    pub tag: Option<String>,
    /// Part of the name or e-mail (any case, any accents), or digits of the number.
    pub q: Option<String>,
    /// `true`: only opted-out contacts; `false`: only the others.
    pub opted_out: Option<bool>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
    /// `field.<name>=<value>`: the custom field has this value (repeatable for several fields).
    #[param(rename = "field.<name>")]
    pub field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<ContactView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Reads the list's filters (shared with the contact export).
pub(super) async fn read_filter(
    state: &AppState,
    account_id: &str,
    pairs: Vec<(String, String)>,
    allowed: &[&str],
) -> Result<ContactFilter, ApiError> {
    let mut filter = ContactFilter { limit: DEFAULT_LIMIT, ..ContactFilter::default() };
    let mut fields: Option<Vec<FieldDef>> = None;
    for (key, value) in pairs {
        if let Some(name) = key.strip_prefix("field.") {
            if fields.is_none() {
                fields = Some(state.store.contact_fields(account_id).await?);
            }
            let def = FieldName::parse(name)
                .ok()
                .and_then(|n| fields.iter().flatten().find(|f| f.name == n).cloned())
                .ok_or_else(|| ApiError::query(&key, "no such contact field"))?;
            let v = FieldValue::parse_text(def.kind, &value)
                .map_err(|e| ApiError::query(&key, e.to_string()))?
                .ok_or_else(|| ApiError::query(&key, "needs a value"))?;
            filter.fields.push((def.id, v.to_stored()));
            continue;
        }
        if !allowed.contains(&key.as_str()) {
            return Err(ApiError::query(&key, format!("unknown parameter; use {}", allowed.join(", "))));
        }
        match key.as_str() {
            "group" => {
                let g = state
                    .store
                    .find_group(account_id, &value)
                    .await?
                    .ok_or_else(|| ApiError::query("group", "no such group"))?;
                filter.group_id = Some(g.id);
            }
            "tag" => {
                filter.tag = Some(
                    Tag::parse(&value)
                        .map_err(|e| ApiError::query("tag", e.to_string()))?
                        .as_str()
                        .to_owned(),
                );
            }
            "q" => filter.q = Some(value).filter(|q| !q.trim().is_empty()),
            "opted_out" => {
                filter.opted_out = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::query("opted_out", "must be true or false")),
                })
            }
            "cursor" => {
                filter.cursor = Some(
                    contact_id(&value)
                        .map_err(|_| ApiError::query("cursor", "is not a cursor from this API"))?,
                )
            }
            "limit" => {
                filter.limit =
                    value.parse().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                        ApiError::query("limit", format!("must be between 1 and {MAX_LIMIT}"))
                    })?;
            }
            _ => {}
        }
    }
    Ok(filter)
}

/// List contacts, newest first, with filters.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactListQuery),
    responses((status = 200, body = ContactList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_contacts(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ContactList>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let mut filter =
        read_filter(&state, &auth.account_id, pairs, &["group", "tag", "q", "opted_out", "cursor", "limit"])
            .await?;
    let limit = filter.limit;
    filter.limit = limit + 1;
    let mut records = state.store.list_contacts(&auth.account_id, &filter).await?;
    let next_cursor = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Json(ContactList { contacts: records.into_iter().map(Into::into).collect(), next_cursor }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// Up to 10,000 contacts, each as in `POST /api/v1/contacts`.
    #[schema(value_type = Vec<ContactInput>)]
    pub contacts: Vec<serde_json::Value>,
    /// `phone` (default) or `external_id`: how rows find the contact they
    /// update; rows that find none create one.
    pub match_by: Option<String>,
    /// Refuse the whole request if any row is refused.
    pub atomic: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    /// Position in `contacts`.
    pub index: usize,
    pub id: String,
    /// `created` or `updated`.
    pub action: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct BulkError {
    pub index: usize,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct BulkResponse {
    pub created: usize,
    pub updated: usize,
    pub results: Vec<BulkResult>,
    /// Rows that were refused; nothing of them was stored.
    pub errors: Vec<BulkError>,
}

/// Create or update up to 10,000 contacts at once, matched by number or
/// by external id. Rows for the same contact merge (later values win).
#[utoipa::path(post, path = "/api/v1/contacts/bulk", tag = "contacts", request_body = BulkRequest,
    responses((status = 200, body = BulkResponse), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn bulk_upsert(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<BulkRequest>,
) -> Result<Json<BulkResponse>, ApiError> {
    let req = body.value;
    if req.contacts.is_empty() {
        return Err(ApiError::field("contacts", "needs at least one contact"));
    }
    if req.contacts.len() > MAX_BULK_CONTACTS {
        return Err(ApiError::field(
            "contacts",
            format!("at most {MAX_BULK_CONTACTS} contacts per request, got {}", req.contacts.len()),
        ));
    }
    let match_by = match req.match_by.as_deref() {
        None => MatchBy::Phone,
        Some(m) => crate::transfer::parse_match_by(m)
            .ok_or_else(|| ApiError::field("match_by", "must be phone or external_id"))?,
    };
    let need_groups = req.contacts.iter().any(|c| c.get("groups").is_some());
    let ctx = Context::load(&state, &auth.account_id, need_groups).await?;
    let mut errors = Vec::new();
    let mut writes = Vec::new();
    let mut indexes = Vec::new();
    for (index, value) in req.contacts.into_iter().enumerate() {
        let prefix = format!("contacts[{index}].");
        let input: Result<ContactInput, _> = serde_path_to_error::deserialize(value);
        let changes = input
            .map_err(|e| {
                let path = e.path().to_string();
                let path = if path == "." {
                    prefix.trim_end_matches('.').to_owned()
                } else {
                    format!("{prefix}{path}")
                };
                ApiError::field(path, e.into_inner().to_string())
            })
            .and_then(|input| changes_from(&input, &ctx, &prefix, false));
        match changes {
            Ok(changes)
                if changes.phone.is_none()
                    && (match_by == MatchBy::Phone
                        || changes.external_id.as_ref().is_none_or(Option::is_none)) =>
            {
                errors.push(BulkError {
                    index,
                    field: Some(format!("{prefix}phone")),
                    code: "invalid_field".into(),
                    message: "is required".into(),
                })
            }
            Ok(changes) => {
                writes.push(ContactWrite { target: Target::Match(match_by), changes });
                indexes.push(index);
            }
            Err(e) => {
                errors.push(BulkError { index, field: e.field, code: e.code.into(), message: e.message })
            }
        }
    }
    let atomic = req.atomic == Some(true);
    if atomic && !errors.is_empty() {
        return Err(atomic_refusal(&errors, writes.len() + errors.len()));
    }
    let now = now_micros();
    let outcomes = if atomic {
        state.store.write_contacts_atomic(&auth.account_id, &writes, now).await?
    } else {
        state.store.write_contacts(&auth.account_id, &writes, now).await?
    };
    let mut response = BulkResponse { created: 0, updated: 0, results: Vec::new(), errors: Vec::new() };
    for (outcome, index) in outcomes.into_iter().zip(indexes) {
        match outcome {
            Ok(WriteOutcome::Created(id)) => {
                response.created += 1;
                response.results.push(BulkResult { index, id, action: "created".into() });
            }
            Ok(WriteOutcome::Updated(id)) => {
                response.updated += 1;
                response.results.push(BulkResult { index, id, action: "updated".into() });
            }
            Err(p) => errors.push(BulkError {
                index,
                field: Some(format!("contacts[{index}].{}", p.field)),
                code: p.code.into(),
                message: p.message,
            }),
        }
    }
    errors.sort_by_key(|e| e.index);
    if atomic && !errors.is_empty() {
        return Err(atomic_refusal(&errors, response.results.len() + errors.len()));
    }
    response.errors = errors;
    Ok(Json(response))
}

fn atomic_refusal(errors: &[BulkError], total: usize) -> ApiError {
    let first = &errors[0];
    ApiError {
        field: first.field.clone(),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!(
                "{} of {total} contacts are refused and atomic is set, so none was stored; first: {}",
                errors.len(),
                first.message
            ),
        )
    }
}

/// Subscribe a contact to a #tag.
#[utoipa::path(put, path = "/api/v1/contacts/{id}/tags/{tag}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id"), ("tag" = String, Path, description = "Tag, with or without `#` (URL-encoded)")),
    responses((status = 204, description = "Subscribed"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_tag(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_tag(&state, &auth, &id, &tag, true).await
}

/// Unsubscribe a contact from a #tag.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}/tags/{tag}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id"), ("tag" = String, Path, description = "Tag, with or without `#` (URL-encoded)")),
    responses((status = 204, description = "Unsubscribed (or was not subscribed)"), (status = 404, body = ErrorBody)))]
pub async fn remove_tag(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_tag(&state, &auth, &id, &tag, false).await
}

async fn set_tag(
    state: &AppState,
    auth: &Auth,
    id: &str,
    tag: &str,
    present: bool,
) -> Result<StatusCode, ApiError> {
    let id = contact_id(id)?;
    let tag = Tag::parse(tag).map_err(|e| ApiError::field("tag", e.to_string()))?;
    state
        .store
        .set_contact_tag(&auth.account_id, &id, &tag, present, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FieldView {
    pub name: String,
    /// `text`, `number`, `date` or `boolean`.
    pub kind: String,
    pub created_at: String,
}

impl From<FieldDef> for FieldView {
    fn from(f: FieldDef) -> Self {
        Self {
            name: f.name.as_str().to_owned(),
            kind: f.kind.as_str().to_owned(),
            created_at: format_micros(f.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FieldList {
    pub fields: Vec<FieldView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    /// `a-z`, digits and `_`, starting with a letter; not a built-in attribute.
    #[schema(required = true, example = "city")]
    pub name: Option<String>,
    /// `text`, `number`, `date` or `boolean`.
    #[schema(required = true, example = "text")]
    pub kind: Option<String>,
}

/// The account's custom contact fields.
#[utoipa::path(get, path = "/api/v1/contact-fields", tag = "contacts",
    responses((status = 200, body = FieldList), (status = 401, body = ErrorBody)))]
pub async fn list_fields(State(state): State<AppState>, auth: Auth) -> Result<Json<FieldList>, ApiError> {
    let fields = state.store.contact_fields(&auth.account_id).await?;
    Ok(Json(FieldList { fields: fields.into_iter().map(Into::into).collect() }))
}

/// Define a custom contact field.
#[utoipa::path(post, path = "/api/v1/contact-fields", tag = "contacts", request_body = FieldInput,
    responses((status = 201, body = FieldView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_field(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<FieldInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let name = input.name.as_deref().ok_or_else(|| ApiError::field("name", "is required"))?;
    let name = FieldName::parse(name).map_err(|e| ApiError::field("name", e.to_string()))?;
    let kind = input.kind.as_deref().ok_or_else(|| ApiError::field("kind", "is required"))?;
    let kind: FieldKind =
        kind.parse().map_err(|e: crate::storage::ValueError| ApiError::field("kind", e.to_string()))?;
    match state.store.create_contact_field(&auth.account_id, &name, kind, now_micros()).await? {
        Ok(def) => Ok((StatusCode::CREATED, Json(FieldView::from(def))).into_response()),
        Err(FieldCreateError::Exists) => Err(ApiError {
            field: Some("name".into()),
            ..ApiError::new(StatusCode::CONFLICT, "duplicate", format!("the field '{name}' already exists"))
        }),
        Err(FieldCreateError::TooMany) => {
            Err(ApiError::field("name", format!("an account has at most {MAX_CONTACT_FIELDS} custom fields")))
        }
    }
}

/// Remove a custom field and every contact's value of it.
#[utoipa::path(delete, path = "/api/v1/contact-fields/{name}", tag = "contacts",
    params(("name" = String, Path, description = "Field name")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn delete_field(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = FieldName::parse(&name).map_err(|_| ApiError::not_found("contact field"))?;
    if !state.store.delete_contact_field(&auth.account_id, &name).await? {
        return Err(ApiError::not_found("contact field"));
    }
    Ok(StatusCode::NO_CONTENT)
}
