//! `/api/v1/permissions`: whom each user may message. A rule for a user
//! (`/api/v1/permissions/users/{id}`) or a user group
//! (`/api/v1/permissions/user-groups/{id}`) names the contact groups and
//! #tags they may send to, and whether they may send to any number. A
//! sender or viewer with no rule is not restricted; with rules, the union
//! applies. Owners and admins are never restricted.
//!
//! The checks ([`restriction`], [`check_audience`], [`check_numbers`]) run
//! in the handlers that send — messages, campaigns, conversation replies —
//! so every interface that calls them (API, web UI) is held to them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Role, Tag};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{PermissionRecord, PermissionRule, Subject};

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PermissionView {
    /// `user` or `user_group`.
    pub subject: String,
    pub subject_id: String,
    /// The user's username or the user group's name.
    pub subject_name: String,
    pub any_number: bool,
    pub groups: Vec<GroupRef>,
    /// With `#`.
    pub tags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PermissionList {
    pub permissions: Vec<PermissionView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionInput {
    /// May send to numbers outside the groups and tags.
    #[serde(default)]
    pub any_number: bool,
    /// Contact group ids or names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Tags, with or without `#`.
    #[serde(default)]
    pub tags: Vec<String>,
}

fn subject_of(kind: &str) -> Result<Subject, ApiError> {
    match kind {
        "users" => Ok(Subject::User),
        "user-groups" => Ok(Subject::Group),
        _ => Err(ApiError::not_found("permission subject (use users or user-groups)")),
    }
}

/// The subject's name, if it is a user or user group of the account.
async fn subject_name(state: &AppState, auth: &Auth, subject: Subject, id: &str) -> Result<String, ApiError> {
    let id = uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).ok();
    let found = match (subject, id) {
        (_, None) => None,
        (Subject::User, Some(id)) => state.store.user(&auth.account_id, &id).await?.map(|u| u.username),
        (Subject::Group, Some(id)) => state
            .store
            .list_user_groups(&auth.account_id)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .map(|g| g.name),
    };
    found.ok_or_else(|| ApiError::not_found(if subject == Subject::User { "user" } else { "user group" }))
}

async fn view(state: &AppState, auth: &Auth, p: PermissionRecord) -> Result<PermissionView, ApiError> {
    let mut groups = Vec::with_capacity(p.rule.groups.len());
    for id in &p.rule.groups {
        let name = state.store.get_group(&auth.account_id, id).await?.map(|g| g.name).unwrap_or_default();
        groups.push(GroupRef { id: id.clone(), name });
    }
    Ok(PermissionView {
        subject: if p.subject == Subject::User { "user" } else { "user_group" }.into(),
        subject_name: subject_name(state, auth, p.subject, &p.subject_id).await.unwrap_or_default(),
        subject_id: p.subject_id,
        any_number: p.rule.any_number,
        groups,
        tags: p.rule.tags.iter().map(|t| format!("#{t}")).collect(),
    })
}

/// Every rule of the account.
#[utoipa::path(get, path = "/api/v1/permissions", tag = "users",
    responses((status = 200, body = PermissionList), (status = 403, body = ErrorBody)))]
pub async fn list_permissions(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<PermissionList>, ApiError> {
    let mut permissions = Vec::new();
    for p in state.store.list_permissions(&auth.account_id).await? {
        permissions.push(view(&state, &auth, p).await?);
    }
    Ok(Json(PermissionList { permissions }))
}

/// Set whom a user or user group may message (replaces their rule).
#[utoipa::path(put, path = "/api/v1/permissions/{subject}/{id}", tag = "users", request_body = PermissionInput,
    params(("subject" = String, Path, description = "`users` or `user-groups`"), ("id" = String, Path, description = "User or user group id")),
    responses((status = 200, body = PermissionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_permission(
    State(state): State<AppState>,
    auth: Auth,
    Path((kind, id)): Path<(String, String)>,
    body: JsonBody<PermissionInput>,
) -> Result<Json<PermissionView>, ApiError> {
    let subject = subject_of(&kind)?;
    subject_name(&state, &auth, subject, &id).await?;
    let id = uuid::Uuid::parse_str(&id).map(|u| u.hyphenated().to_string()).map_err(ApiError::internal)?;
    let input = body.value;
    let mut rule = PermissionRule { any_number: input.any_number, ..Default::default() };
    for (i, g) in input.groups.iter().enumerate() {
        let group = state.store.find_group(&auth.account_id, g).await?.ok_or_else(|| {
            ApiError::field(format!("groups[{i}]"), format!("no group is called or has the id '{g}'"))
        })?;
        if !rule.groups.contains(&group.id) {
            rule.groups.push(group.id);
        }
    }
    for (i, t) in input.tags.iter().enumerate() {
        let tag = Tag::parse(t).map_err(|e| ApiError::field(format!("tags[{i}]"), e.to_string()))?;
        if !rule.tags.iter().any(|x| x == tag.as_str()) {
            rule.tags.push(tag.as_str().to_owned());
        }
    }
    state.store.put_permission(&auth.account_id, subject, &id, &rule).await?;
    let record = PermissionRecord { subject, subject_id: id, rule };
    Ok(Json(view(&state, &auth, record).await?))
}

/// Remove a rule: the user or group is no longer restricted by it.
#[utoipa::path(delete, path = "/api/v1/permissions/{subject}/{id}", tag = "users",
    params(("subject" = String, Path, description = "`users` or `user-groups`"), ("id" = String, Path, description = "User or user group id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_permission(
    State(state): State<AppState>,
    auth: Auth,
    Path((kind, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let subject = subject_of(&kind)?;
    let id = uuid::Uuid::parse_str(&id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::not_found("permission"))?;
    if state.store.delete_permission(&auth.account_id, subject, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("permission"))
    }
}

// ---- the checks ---------------------------------------------------------

/// The rule the caller is held to; `None`: not restricted.
pub(crate) async fn restriction(state: &AppState, auth: &Auth) -> Result<Option<PermissionRule>, ApiError> {
    restriction_of(state, auth.user_id.as_deref(), auth.role).await
}

/// The rule a user of `role` is held to; `None`: not restricted.
async fn restriction_of(
    state: &AppState,
    user_id: Option<&str>,
    role: Role,
) -> Result<Option<PermissionRule>, ApiError> {
    match user_id {
        Some(user) if !role.unrestricted() => Ok(state.store.effective_permission(user).await?),
        _ => Ok(None),
    }
}

/// Whether a change to `resource` (the first part of the path, API or web
/// UI) changes the address book: contacts with their groups and tags, and
/// imports of them.
pub(crate) fn changes_address_book(resource: &str) -> bool {
    matches!(resource, "contacts" | "groups" | "imports")
}

/// Refuses a user whose messages are limited to some recipients a change
/// of the address book: it decides whom they may message, so adding a
/// number to an allowed group or tag would lift the limit.
pub(crate) async fn refuse_address_book_change(
    state: &AppState,
    user_id: Option<&str>,
    role: Role,
) -> Result<(), ApiError> {
    match restriction_of(state, user_id, role).await? {
        Some(rule) if !rule.any_number => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "recipient_not_permitted",
            "your messages are limited to some recipients, and the address book decides whom: \
             you may read it, and an admin may change it",
        )),
        _ => Ok(()),
    }
}

fn not_permitted(field: String, what: &str) -> ApiError {
    ApiError {
        field: Some(field),
        ..ApiError::new(
            StatusCode::FORBIDDEN,
            "recipient_not_permitted",
            format!("you may not send to {what}; an admin decides whom you may message"),
        )
    }
}

/// Refuses contact groups (ids or names) and tags outside the rule; each
/// error names its field (`{groups_field}[i]`, `{tags_field}[i]`).
pub(crate) async fn check_audience(
    state: &AppState,
    auth: &Auth,
    rule: &PermissionRule,
    groups: (&str, &[String]),
    tags: (&str, &[String]),
) -> Result<(), ApiError> {
    for (i, g) in groups.1.iter().enumerate() {
        // An unknown group is the sending handler's error to report.
        if let Some(group) = state.store.find_group(&auth.account_id, g).await?
            && !rule.groups.contains(&group.id)
        {
            return Err(not_permitted(format!("{}[{i}]", groups.0), &format!("the group '{}'", group.name)));
        }
    }
    for (i, t) in tags.1.iter().enumerate() {
        if let Ok(tag) = Tag::parse(t)
            && !rule.tags.iter().any(|x| x == tag.as_str())
        {
            return Err(not_permitted(format!("{}[{i}]", tags.0), &format!("the tag #{}", tag.as_str())));
        }
    }
    Ok(())
}

/// Refuses numbers outside the rule: unless it allows any number, each
/// must belong to a contact in an allowed group or with an allowed tag.
/// `numbers` are (field, E.164 number).
pub(crate) async fn check_numbers(
    state: &AppState,
    auth: &Auth,
    rule: &PermissionRule,
    numbers: &[(String, &str)],
) -> Result<(), ApiError> {
    if rule.any_number || numbers.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = numbers.iter().map(|(_, n)| *n).collect();
    let reachable = state.store.numbers_reachable(&auth.account_id, &list, &rule.groups, &rule.tags).await?;
    match numbers.iter().find(|(_, n)| !reachable.contains(*n)) {
        Some((field, n)) => Err(not_permitted(field.clone(), n)),
        None => Ok(()),
    }
}
