//! `/api/v1/users` and `/api/v1/user-groups`: the people of an account,
//! their roles, password resets by an admin, and groups of users (which
//! permissions on recipients can name). Only owners and admins reach these
//! routes (`http/auth.rs`); only owners make, change or reset owners, and
//! the last active owner stays one. Users are disabled, never deleted, so
//! their history keeps its name.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::credentials;
use crate::domain::{Role, Username, check_new_password};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::identity;
use crate::storage::{
    MAX_USER_NAME_LEN, NewUser, UserChange, UserGroupRecord, UserRecord, clean_text, format_micros,
    now_micros,
};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `owner`, `admin`, `sender` or `viewer`.
    pub role: String,
    /// Until when the user is locked after repeated failed sign-ins.
    pub locked_until: Option<String>,
    pub disabled: bool,
    /// Names of the user groups the user is in.
    pub groups: Vec<String>,
    pub created_at: String,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        let now = now_micros();
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.as_str().to_owned(),
            locked_until: u.locked_until.filter(|t| *t > now).map(format_micros),
            disabled: u.disabled,
            groups: u.groups,
            created_at: format_micros(u.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[schema(example = "anna")]
    pub username: Option<String>,
    /// At least 10 characters; left out, Kurier generates one and shows it once.
    pub password: Option<String>,
    #[schema(example = "sender")]
    pub role: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub role: Option<String>,
    pub display_name: Option<String>,
    /// `true` ends the user's sessions and revokes their API keys.
    pub disabled: Option<bool>,
    /// The user groups (ids or names) the user is to be in, and no others;
    /// saved in the same transaction as the rest of the change.
    pub groups: Option<Vec<String>>,
}

/// A user with the password set for them, shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserWithPassword {
    pub user: UserView,
    /// The generated password; `null` when the request gave one.
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// Left out, Kurier generates one and shows it once.
    pub password: Option<String>,
}

fn parse_role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).map_err(|e| ApiError::field("role", e.to_string()))
}

fn display_name(s: &str) -> Result<String, ApiError> {
    crate::storage::display_name(s).map_err(|e| ApiError::field("display_name", format!("the name {e}")))
}

/// The password to set: the given one if it is long enough, else a new one.
fn new_password(given: Option<String>) -> Result<(String, bool), ApiError> {
    match given {
        Some(p) => {
            check_new_password(&p).map_err(|m| ApiError::field("password", m))?;
            Ok((p, false))
        }
        None => Ok((credentials::new_password(), true)),
    }
}

/// Refuses a non-owner acting on an owner's things (their keys, their
/// quota); `user_id` `None` is a key of no user, which acts as an owner.
pub(super) async fn require_owner_for(
    state: &AppState,
    auth: &Auth,
    user_id: Option<&str>,
) -> Result<(), ApiError> {
    if auth.role == Role::Owner {
        return Ok(());
    }
    let target = match user_id {
        None => Role::Owner,
        Some(id) => state.store.user(&auth.account_id, id).await?.map_or(Role::Viewer, |u| u.role),
    };
    require_owner_for_role(auth, target, "act on an owner's keys or quota")
}

/// Refuses a non-owner `what` on something of a user with the role `target`.
pub(super) fn require_owner_for_role(auth: &Auth, target: Role, what: &str) -> Result<(), ApiError> {
    if target == Role::Owner && auth.role != Role::Owner { Err(only_owners(what)) } else { Ok(()) }
}

fn only_owners(what: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("only an owner may {what}"))
}

pub(crate) fn user_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).map_err(|_| ApiError::not_found("user"))
}

async fn load(state: &AppState, auth: &Auth, id: &str) -> Result<UserRecord, ApiError> {
    let id = user_id(id)?;
    state.store.user(&auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("user"))
}

/// Every user of the account, by username.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>, auth: Auth) -> Result<Json<UserList>, ApiError> {
    let users = state.store.list_users(&auth.account_id).await?;
    Ok(Json(UserList { users: users.into_iter().map(Into::into).collect() }))
}

/// Create a user. Without `password`, one is generated and shown once.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserInput,
    responses((status = 201, body = UserWithPassword), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let username = Username::parse(input.username.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::field("username", format!("the username {e}")))?;
    let role = parse_role(input.role.as_deref().ok_or_else(|| ApiError::field("role", "is required"))?)?;
    if role == Role::Owner && auth.role != Role::Owner {
        return Err(only_owners("make an owner"));
    }
    let name = display_name(input.display_name.as_deref().unwrap_or(""))?;
    let (password, generated) = new_password(input.password)?;
    let hash = identity::hash_password(password.clone()).await?;
    let new = NewUser { username: &username, display_name: &name, role, password_hash: &hash };
    match state.store.create_user(&auth.account_id, new).await? {
        Ok(user) => {
            let body = UserWithPassword { user: user.into(), password: generated.then_some(password) };
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(_) => Err(ApiError {
            field: Some("username".into()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "duplicate",
                format!("the username '{}' is taken", username.as_str()),
            )
        }),
    }
}

/// Read a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(load(&state, &auth, &id).await?.into()))
}

/// Change a user's role or name, or disable (or re-enable) them.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserUpdate,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<UserUpdate>,
) -> Result<Json<UserView>, ApiError> {
    let user = load(&state, &auth, &id).await?;
    let input = body.value;
    let role = input.role.as_deref().map(parse_role).transpose()?;
    let name = input.display_name.as_deref().map(display_name).transpose()?;
    let touches_owner = user.role == Role::Owner || role == Some(Role::Owner);
    if touches_owner && auth.role != Role::Owner {
        return Err(only_owners("make or change an owner"));
    }
    let groups = match &input.groups {
        Some(wanted) => Some(group_ids(&state, &auth, wanted).await?),
        None => None,
    };
    let change = UserChange {
        role,
        display_name: name.as_deref(),
        disabled: input.disabled,
        groups: groups.as_deref(),
    };
    if let Err(last) = state.store.update_user(&auth.account_id, &user.id, change).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "last_owner", last.to_string()));
    }
    Ok(Json(load(&state, &auth, &user.id).await?.into()))
}

/// The ids of the account's user groups named (by id or name) in `wanted`;
/// an unknown one is refused at its index (`groups[i]`).
async fn group_ids(state: &AppState, auth: &Auth, wanted: &[String]) -> Result<Vec<String>, ApiError> {
    let all = state.store.list_user_groups(&auth.account_id).await?;
    let mut ids = Vec::with_capacity(wanted.len());
    for (i, w) in wanted.iter().enumerate() {
        let w = w.trim();
        let group = all.iter().find(|g| g.id == w || g.name == w).ok_or_else(|| {
            ApiError::field(format!("groups[{i}]"), format!("no user group '{w}' in this account"))
        })?;
        if !ids.contains(&group.id) {
            ids.push(group.id.clone());
        }
    }
    Ok(ids)
}

/// Set a user's password (an admin's reset): ends a lockout and the
/// user's sessions. Without `password`, one is generated and shown once.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", request_body = PasswordReset,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserWithPassword), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<PasswordReset>,
) -> Result<Json<UserWithPassword>, ApiError> {
    let user = load(&state, &auth, &id).await?;
    if user.role == Role::Owner && auth.role != Role::Owner && auth.user_id.as_deref() != Some(&user.id) {
        return Err(only_owners("reset an owner's password"));
    }
    let (password, generated) = new_password(body.value.password)?;
    let hash = identity::hash_password(password.clone()).await?;
    state.store.set_password(&auth.account_id, &user.id, &hash).await?;
    let user = load(&state, &auth, &user.id).await?;
    Ok(Json(UserWithPassword { user: user.into(), password: generated.then_some(password) }))
}

// ---- user groups ------------------------------------------------------

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserGroupView {
    pub id: String,
    pub name: String,
    /// Usernames of the members.
    pub members: Vec<String>,
}

impl From<UserGroupRecord> for UserGroupView {
    fn from(g: UserGroupRecord) -> Self {
        Self { id: g.id, name: g.name, members: g.members }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserGroupList {
    pub groups: Vec<UserGroupView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserGroupInput {
    #[schema(example = "Dispatchers")]
    pub name: Option<String>,
    /// Usernames of the members (replaces the list).
    #[serde(default)]
    pub members: Vec<String>,
}

/// Every user group of the account.
#[utoipa::path(get, path = "/api/v1/user-groups", tag = "users",
    responses((status = 200, body = UserGroupList), (status = 403, body = ErrorBody)))]
pub async fn list_user_groups(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<UserGroupList>, ApiError> {
    let groups = state.store.list_user_groups(&auth.account_id).await?;
    Ok(Json(UserGroupList { groups: groups.into_iter().map(Into::into).collect() }))
}

/// The members' user ids, each a user of the account.
async fn member_ids(state: &AppState, auth: &Auth, names: &[String]) -> Result<Vec<String>, ApiError> {
    let users = state.store.list_users(&auth.account_id).await?;
    let mut ids = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let wanted = Username::parse(name).map(|u| u.as_str().to_owned()).unwrap_or_default();
        let user = users
            .iter()
            .find(|u| u.username == wanted)
            .ok_or_else(|| ApiError::field(format!("members[{i}]"), format!("no user '{name}'")))?;
        if !ids.contains(&user.id) {
            ids.push(user.id.clone());
        }
    }
    Ok(ids)
}

async fn save_group(
    state: &AppState,
    auth: &Auth,
    id: Option<&str>,
    input: UserGroupInput,
) -> Result<UserGroupView, ApiError> {
    let name = clean_text(input.name.as_deref().unwrap_or(""), MAX_USER_NAME_LEN, false)
        .map_err(|e| ApiError::field("name", format!("the name {e}")))?
        .ok_or_else(|| ApiError::field("name", "may not be empty"))?;
    let members = member_ids(state, auth, &input.members).await?;
    let saved = state.store.save_user_group(&auth.account_id, id, &name, &members).await?;
    let id = saved.ok_or_else(|| ApiError {
        field: Some("name".into()),
        ..ApiError::new(StatusCode::CONFLICT, "duplicate", format!("a user group named '{name}' exists"))
    })?;
    let groups = state.store.list_user_groups(&auth.account_id).await?;
    groups.into_iter().find(|g| g.id == id).map(Into::into).ok_or_else(|| ApiError::not_found("user group"))
}

fn group_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::not_found("user group"))
}

/// Create a user group with its members.
#[utoipa::path(post, path = "/api/v1/user-groups", tag = "users", request_body = UserGroupInput,
    responses((status = 201, body = UserGroupView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user_group(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<UserGroupInput>,
) -> Result<Response, ApiError> {
    let group = save_group(&state, &auth, None, body.value).await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

/// Rename a user group and replace its members.
#[utoipa::path(put, path = "/api/v1/user-groups/{id}", tag = "users", request_body = UserGroupInput,
    params(("id" = String, Path, description = "User group id")),
    responses((status = 200, body = UserGroupView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_user_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<UserGroupInput>,
) -> Result<Json<UserGroupView>, ApiError> {
    let id = group_id(&id)?;
    if !state.store.list_user_groups(&auth.account_id).await?.iter().any(|g| g.id == id) {
        return Err(ApiError::not_found("user group"));
    }
    Ok(Json(save_group(&state, &auth, Some(&id), body.value).await?))
}

/// Delete a user group (its users stay).
#[utoipa::path(delete, path = "/api/v1/user-groups/{id}", tag = "users",
    params(("id" = String, Path, description = "User group id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_user_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = group_id(&id)?;
    if state.store.delete_user_group(&auth.account_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("user group"))
    }
}
