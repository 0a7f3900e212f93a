//! Who may do what: user groups and their members (`/user-groups`), the
//! recipient permissions of a user or user group (`/permissions/{users |
//! user-groups}/{id}`: contact groups, #tags, any number), and one user's
//! role and user groups (`/users/{id}`). Every read and write is the users,
//! user groups or permissions API handler, so the API's rules (only owners
//! make owners, the last owner stays, unknown groups and bad tags refused)
//! hold here too; only owners and admins reach these pages.

use askama::Template;
use axum::extract::{Form, Path, State};
use serde::Deserialize;
use serde_json::json;

use super::session::Session;
use super::{
    FormError, OrPage, PageError, PageResult, Viewer, from_pairs, json_body, render, see_other, split_list,
    with_status,
};
use crate::domain::Role;
use crate::http::api::v1::groups::{self, GroupView};
use crate::http::api::v1::permissions::{self, PermissionView};
use crate::http::api::v1::users::{self, UserGroupView, UserView};
use crate::http::{ApiError, AppState, Auth};

/// A user group form: its name and the usernames of its members.
#[derive(Deserialize, Default, Clone)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

impl GroupForm {
    fn has(&self, username: &str) -> bool {
        self.members.iter().any(|m| m == username)
    }
}

#[derive(Template)]
#[template(path = "user_groups.html")]
struct GroupsPage {
    v: Viewer,
    active: &'static str,
    groups: Vec<UserGroupView>,
    users: Vec<UserView>,
    rules: Vec<PermissionView>,
    form: GroupForm,
    error: FormError,
}

impl GroupsPage {
    /// The rule of a user group, if it has one.
    fn rule(&self, id: &str) -> Option<&PermissionView> {
        self.rules.iter().find(|r| r.subject == "user_group" && r.subject_id == id)
    }
}

async fn groups_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    form: GroupForm,
    error: FormError,
) -> PageResult {
    let groups = users::list_user_groups(State(state.clone()), auth.clone()).await.page(&v)?.0.groups;
    let users = users::list_users(State(state.clone()), auth.clone()).await.page(&v)?.0.users;
    let rules = permissions::list_permissions(State(state.clone()), auth).await.page(&v)?.0.permissions;
    Ok(render(&GroupsPage { v, active: "user-groups", groups, users, rules, form, error }))
}

pub async fn user_groups(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    groups_page(&state, v, auth, GroupForm::default(), FormError::default()).await
}

pub async fn create_user_group(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f: GroupForm = from_pairs(pairs, &["members"]).page(&v)?;
    let result = async {
        let body = json_body(json!({"name": f.name, "members": f.members}))?;
        users::create_user_group(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/user-groups")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            Ok(with_status(groups_page(&state, v, auth, f, error).await?, status))
        }
    }
}

#[derive(Template)]
#[template(path = "user_group.html")]
struct GroupPage {
    v: Viewer,
    active: &'static str,
    group: UserGroupView,
    users: Vec<UserView>,
    form: GroupForm,
    error: FormError,
}

/// A user group of the account, or 404.
async fn find_group(state: &AppState, auth: &Auth, id: &str) -> Result<UserGroupView, ApiError> {
    users::list_user_groups(State(state.clone()), auth.clone())
        .await?
        .0
        .groups
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found("user group"))
}

async fn group_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    id: &str,
    form: Option<GroupForm>,
    error: FormError,
) -> PageResult {
    let group = find_group(state, &auth, id).await.page(&v)?;
    let users = users::list_users(State(state.clone()), auth).await.page(&v)?.0.users;
    let form = form.unwrap_or_else(|| GroupForm { name: group.name.clone(), members: group.members.clone() });
    Ok(render(&GroupPage { v, active: "user-groups", group, users, form, error }))
}

pub async fn user_group(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    group_page(&state, v, auth, &id, None, FormError::default()).await
}

/// Renames a user group and replaces its members.
pub async fn update_user_group(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f: GroupForm = from_pairs(pairs, &["members"]).page(&v)?;
    let result = async {
        let body = json_body(json!({"name": f.name, "members": f.members}))?;
        users::update_user_group(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/user-groups")),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            Ok(with_status(group_page(&state, v, auth, &id, Some(f), error).await?, status))
        }
    }
}

pub async fn delete_user_group(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    users::delete_user_group(State(state), auth, Path(id)).await.page(&v)?;
    Ok(see_other("/user-groups"))
}

// ---- permissions ----------------------------------------------------------

/// Whom a user or user group may message, as a form.
#[derive(Deserialize, Default, Clone)]
pub struct PermissionForm {
    /// Contact group ids.
    #[serde(default)]
    groups: Vec<String>,
    /// Typed tags, `#night, #day`.
    #[serde(default)]
    tags: String,
    /// A ticked box sends `on`.
    #[serde(default)]
    any_number: Option<String>,
}

impl PermissionForm {
    fn of(rule: &PermissionView) -> Self {
        PermissionForm {
            groups: rule.groups.iter().map(|g| g.id.clone()).collect(),
            tags: rule.tags.join(", "),
            any_number: rule.any_number.then(|| "on".into()),
        }
    }

    fn has(&self, group_id: &str) -> bool {
        self.groups.iter().any(|g| g == group_id)
    }

    /// The API's body: the ticked groups, the typed tags, the box.
    fn body(&self) -> serde_json::Value {
        json!({
            "groups": self.groups,
            "tags": split_list(&self.tags.replace(' ', ",")),
            "any_number": self.any_number.is_some(),
        })
    }
}

#[derive(Template)]
#[template(path = "permission.html")]
struct PermissionPage {
    v: Viewer,
    active: &'static str,
    /// `users` or `user-groups`.
    kind: String,
    id: String,
    /// The user's username or the user group's name.
    name: String,
    /// The subject has a rule now (else: not restricted).
    has_rule: bool,
    /// An owner or admin: never restricted, whatever the rule says.
    unrestricted: bool,
    groups: Vec<GroupView>,
    form: PermissionForm,
    error: FormError,
}

/// The subject's name and whether it is an owner or admin, if it is a user
/// or user group of the account; else 404.
async fn subject(state: &AppState, auth: &Auth, kind: &str, id: &str) -> Result<(String, bool), ApiError> {
    match kind {
        "users" => {
            let u = users::get_user(State(state.clone()), auth.clone(), Path(id.to_owned())).await?.0;
            let unrestricted = Role::parse(&u.role).is_ok_and(Role::unrestricted);
            Ok((u.username, unrestricted))
        }
        "user-groups" => Ok((find_group(state, auth, id).await?.name, false)),
        _ => Err(ApiError::not_found("page")),
    }
}

async fn permission_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    (kind, id): (String, String),
    form: Option<PermissionForm>,
    error: FormError,
) -> PageResult {
    let (name, unrestricted) = subject(state, &auth, &kind, &id).await.page(&v)?;
    let subject_kind = if kind == "users" { "user" } else { "user_group" };
    let rules =
        permissions::list_permissions(State(state.clone()), auth.clone()).await.page(&v)?.0.permissions;
    let rule = rules.iter().find(|r| r.subject == subject_kind && r.subject_id == id);
    let groups = groups::list_groups(State(state.clone()), auth).await.page(&v)?.0.groups;
    let form = form.unwrap_or_else(|| rule.map(PermissionForm::of).unwrap_or_default());
    Ok(render(&PermissionPage {
        v,
        active: "users",
        has_rule: rule.is_some(),
        kind,
        id,
        name,
        unrestricted,
        groups,
        form,
        error,
    }))
}

pub async fn permission(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(path): Path<(String, String)>,
) -> PageResult {
    permission_page(&state, v, auth, path, None, FormError::default()).await
}

/// Sets (replaces) the rule of a user or user group.
pub async fn save_permission(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((kind, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f: PermissionForm = from_pairs(pairs, &["groups"]).page(&v)?;
    let result = async {
        let body = json_body(f.body())?;
        permissions::put_permission(
            State(state.clone()),
            auth.clone(),
            Path((kind.clone(), id.clone())),
            body,
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/permissions/{kind}/{id}"))),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            Ok(with_status(permission_page(&state, v, auth, (kind, id), Some(f), error).await?, status))
        }
    }
}

/// Removes the rule: the subject is no longer restricted by it.
pub async fn delete_permission(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((kind, id)): Path<(String, String)>,
) -> PageResult {
    subject(&state, &auth, &kind, &id).await.page(&v)?;
    permissions::delete_permission(State(state), auth, Path((kind.clone(), id.clone()))).await.page(&v)?;
    Ok(see_other(&format!("/permissions/{kind}/{id}")))
}

// ---- one user ---------------------------------------------------------------

/// A user's role, name and user groups (ids).
#[derive(Deserialize, Default, Clone)]
pub struct UserEditForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    groups: Vec<String>,
}

impl UserEditForm {
    fn in_group(&self, id: &str) -> bool {
        self.groups.iter().any(|g| g == id)
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    v: Viewer,
    active: &'static str,
    user: UserView,
    groups: Vec<UserGroupView>,
    form: UserEditForm,
    error: FormError,
}

async fn user_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    id: &str,
    form: Option<UserEditForm>,
    error: FormError,
) -> PageResult {
    let user = users::get_user(State(state.clone()), auth.clone(), Path(id.to_owned())).await.page(&v)?.0;
    let groups = users::list_user_groups(State(state.clone()), auth).await.page(&v)?.0.groups;
    let form = form.unwrap_or_else(|| UserEditForm {
        display_name: user.display_name.clone(),
        role: user.role.clone(),
        groups: groups.iter().filter(|g| g.members.contains(&user.username)).map(|g| g.id.clone()).collect(),
    });
    Ok(render(&UserPage { v, active: "users", user, groups, form, error }))
}

pub async fn user(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    user_page(&state, v, auth, &id, None, FormError::default()).await
}

/// Saves a user's name, role (only when changed, so an admin may rename an
/// owner) and user groups in one change through the API's user handler.
pub async fn update_user(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f: UserEditForm = from_pairs(pairs, &["groups"]).page(&v)?;
    let result = async {
        let user = users::get_user(State(state.clone()), auth.clone(), Path(id.clone())).await?.0;
        let mut change = json!({"display_name": f.display_name, "groups": f.groups});
        if f.role != user.role {
            change["role"] = json!(f.role);
        }
        let _saved =
            users::update_user(State(state.clone()), auth.clone(), Path(id.clone()), json_body(change)?)
                .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Ok(see_other("/users")),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND && e.field.is_none() => {
            Err(PageError::new(&v, e))
        }
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            Ok(with_status(user_page(&state, v, auth, &id, Some(f), error).await?, status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_form_becomes_the_apis_body() {
        let f =
            PermissionForm { groups: vec!["g1".into()], tags: "#night #day, late".into(), any_number: None };
        assert_eq!(
            f.body(),
            json!({"groups": ["g1"], "tags": ["#night", "#day", "late"], "any_number": false})
        );
        let f = PermissionForm { any_number: Some("on".into()), ..Default::default() };
        assert_eq!(f.body(), json!({"groups": [], "tags": [], "any_number": true}));
    }
}
