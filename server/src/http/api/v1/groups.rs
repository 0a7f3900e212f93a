//! `/api/v1/groups`: named sets of contacts with their member counts;
//! adding and removing members in bulk by contact id or number. Deleting a
//! group keeps its contacts. A group's members are listed by
//! `GET /api/v1/contacts?group=`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::domain::PhoneNumber;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{
    GroupNameTaken, GroupRecord, MAX_GROUP_DESCRIPTION_LEN, MAX_GROUP_NAME_LEN, clean_text, format_micros,
    now_micros,
};

/// Most contact ids and numbers in one membership request.
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Contacts in the group.
    pub members: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<GroupRecord> for GroupView {
    fn from(g: GroupRecord) -> Self {
        Self {
            id: g.id,
            name: g.name,
            description: g.description,
            members: g.members,
            created_at: format_micros(g.created_at),
            updated_at: format_micros(g.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupView>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    /// Unique per account, whatever the case.
    #[schema(example = "Night shift")]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

fn group_name(name: &str) -> Result<String, ApiError> {
    clean_text(name, MAX_GROUP_NAME_LEN, false)
        .map_err(|e| ApiError::field("name", format!("the name {e}")))?
        .ok_or_else(|| ApiError::field("name", "may not be empty"))
}

fn description(d: &Option<Option<String>>) -> Result<Option<Option<String>>, ApiError> {
    match d {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => clean_text(s, MAX_GROUP_DESCRIPTION_LEN, true)
            .map(Some)
            .map_err(|e| ApiError::field("description", format!("the text {e}"))),
    }
}

fn name_taken(name: &str) -> ApiError {
    ApiError {
        field: Some("name".into()),
        ..ApiError::new(StatusCode::CONFLICT, "duplicate", format!("a group named '{name}' already exists"))
    }
}

fn group_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).map_err(|_| ApiError::not_found("group"))
}

/// Every group of the account, by name, with member counts.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = GroupList), (status = 401, body = ErrorBody)))]
pub async fn list_groups(State(state): State<AppState>, auth: Auth) -> Result<Json<GroupList>, ApiError> {
    let groups = state.store.list_groups(&auth.account_id).await?;
    Ok(Json(GroupList { groups: groups.into_iter().map(Into::into).collect() }))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupInput,
    responses((status = 201, body = GroupView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<GroupInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let name = group_name(input.name.as_deref().ok_or_else(|| ApiError::field("name", "is required"))?)?;
    let description = description(&input.description)?.flatten();
    match state.store.create_group(&auth.account_id, &name, description.as_deref(), now_micros()).await? {
        Ok(g) => Ok((StatusCode::CREATED, Json(GroupView::from(g))).into_response()),
        Err(GroupNameTaken) => Err(name_taken(&name)),
    }
}

/// Read a group.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<GroupView>, ApiError> {
    let id = group_id(&id)?;
    let g =
        state.store.get_group(&auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("group"))?;
    Ok(Json(g.into()))
}

/// Rename a group or change its description.
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", request_body = GroupInput,
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<GroupInput>,
) -> Result<Json<GroupView>, ApiError> {
    let id = group_id(&id)?;
    let input = body.value;
    let name = input.name.as_deref().map(group_name).transpose()?;
    let description = description(&input.description)?;
    let updated = state
        .store
        .update_group(
            &auth.account_id,
            &id,
            name.as_deref(),
            description.as_ref().map(|d| d.as_deref()),
            now_micros(),
        )
        .await?;
    match updated {
        Ok(Some(g)) => Ok(Json(g.into())),
        Ok(None) => Err(ApiError::not_found("group")),
        Err(GroupNameTaken) => Err(name_taken(name.as_deref().unwrap_or_default())),
    }
}

/// Delete a group; its contacts stay.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = group_id(&id)?;
    if !state.store.delete_group(&auth.account_id, &id).await? {
        return Err(ApiError::not_found("group"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersInput {
    /// Contact ids.
    #[serde(default)]
    pub contact_ids: Vec<String>,
    /// Phone numbers of existing contacts.
    #[serde(default)]
    pub phones: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberError {
    /// `contact_ids[3]` or `phones[0]`.
    pub field: String,
    pub value: String,
    /// `invalid_number` or `not_found`.
    pub code: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MembersResult {
    /// Memberships added (or removed).
    pub changed: u64,
    /// Contacts that already were (or were not) members.
    pub unchanged: u64,
    /// Members now.
    pub members: i64,
    pub errors: Vec<MemberError>,
}

/// Add contacts to a group, by id or by number.
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "groups", request_body = MembersInput,
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = MembersResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<MembersInput>,
) -> Result<Json<MembersResult>, ApiError> {
    change_members(&state, &auth, &id, body.value, true).await
}

/// Remove contacts from a group, by id or by number; the contacts stay.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members", tag = "groups", request_body = MembersInput,
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = MembersResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<MembersInput>,
) -> Result<Json<MembersResult>, ApiError> {
    change_members(&state, &auth, &id, body.value, false).await
}

async fn change_members(
    state: &AppState,
    auth: &Auth,
    id: &str,
    input: MembersInput,
    add: bool,
) -> Result<Json<MembersResult>, ApiError> {
    let id = group_id(id)?;
    if state.store.get_group(&auth.account_id, &id).await?.is_none() {
        return Err(ApiError::not_found("group"));
    }
    let total = input.contact_ids.len() + input.phones.len();
    if total == 0 {
        return Err(ApiError::field("contact_ids", "name at least one contact, by contact_ids or phones"));
    }
    if total > MAX_MEMBERS_PER_REQUEST {
        return Err(ApiError::field(
            "contact_ids",
            format!("at most {MAX_MEMBERS_PER_REQUEST} contacts per request, got {total}"),
        ));
    }
    let mut errors = Vec::new();
    // Ids as sent, by position, so unknown ones can be reported where they were.
    let mut ids: Vec<(String, String, String)> = Vec::new();
    for (i, raw) in input.contact_ids.iter().enumerate() {
        let field = format!("contact_ids[{i}]");
        match uuid::Uuid::parse_str(raw.trim()) {
            Ok(u) => ids.push((u.hyphenated().to_string(), field, raw.clone())),
            Err(_) => errors.push(MemberError {
                field,
                value: raw.clone(),
                code: "not_found".into(),
                message: "no such contact".into(),
            }),
        }
    }
    let mut numbers: Vec<(String, String, String)> = Vec::new();
    for (i, raw) in input.phones.iter().enumerate() {
        let field = format!("phones[{i}]");
        match PhoneNumber::parse(raw, state.region) {
            Ok(p) => numbers.push((p.as_str().to_owned(), field, raw.clone())),
            Err(e) => errors.push(MemberError {
                field,
                value: raw.clone(),
                code: "invalid_number".into(),
                message: e.to_string(),
            }),
        }
    }
    let phones: Vec<String> = numbers.iter().map(|(p, _, _)| p.clone()).collect();
    let by_phone = state.store.contact_ids_by_phones(&auth.account_id, &phones).await?;
    for (phone, field, raw) in numbers {
        match by_phone.get(&phone) {
            Some(contact) => ids.push((contact.clone(), field, raw)),
            None => errors.push(MemberError {
                field,
                value: raw,
                code: "not_found".into(),
                message: format!("no contact has the number {phone}"),
            }),
        }
    }
    let contact_ids: Vec<String> = ids.iter().map(|(id, _, _)| id.clone()).collect();
    let changed = state.store.change_members(&auth.account_id, &id, &contact_ids, add, now_micros()).await?;
    for (contact, field, raw) in &ids {
        if changed.unknown.contains(contact) {
            errors.push(MemberError {
                field: field.clone(),
                value: raw.clone(),
                code: "not_found".into(),
                message: "no such contact".into(),
            });
        }
    }
    // By position as sent: the ids, then the phones, each in order.
    errors.sort_by_key(|e| {
        let (list, index) = e.field.split_once('[').unwrap_or((e.field.as_str(), ""));
        (list != "contact_ids", index.trim_end_matches(']').parse::<usize>().unwrap_or(usize::MAX))
    });
    let members = state.store.get_group(&auth.account_id, &id).await?.map_or(0, |g| g.members);
    Ok(Json(MembersResult { changed: changed.changed, unchanged: changed.unchanged, members, errors }))
}
