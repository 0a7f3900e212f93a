//! The admin pages for people and access: users (create, reset a
//! password, disable or enable), and API keys (create with scopes and an
//! IP allow-list, shown once; revoke), and the audit log. Every read and write is the users
//! or API keys API handler; only owners and admins reach these pages.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use serde::Deserialize;
use serde_json::json;

use super::session::Session;
use super::{FormError, OrPage, PageResult, Viewer, json_body, render, see_other, split_list};
use crate::http::api::v1::api_keys::{self, ApiKeyView};
use crate::http::api::v1::audit::{self, AuditQuery, AuditView};
use crate::http::api::v1::users::{self, UserView};
use crate::http::{AppState, Auth};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    v: Viewer,
    active: &'static str,
    users: Vec<UserView>,
    /// A password just set, shown this once: (username, password).
    shown: Option<(String, String)>,
    form: UserForm,
    error: FormError,
}

#[derive(Deserialize, Default, Clone)]
pub struct UserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn users_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    shown: Option<(String, String)>,
    form: UserForm,
    error: FormError,
) -> PageResult {
    let users = users::list_users(State(state.clone()), auth).await.page(&v)?.0.users;
    Ok(render(&UsersPage { v, active: "users", users, shown, form, error }))
}

pub async fn list(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    users_page(
        &state,
        v,
        auth,
        None,
        UserForm { role: "sender".into(), ..Default::default() },
        FormError::default(),
    )
    .await
}

/// Creates a user; a generated password is shown once on the page.
pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<UserForm>,
) -> PageResult {
    let outcome = async {
        let password = (!f.password.is_empty()).then(|| f.password.clone());
        let body = json_body(json!({
            "username": f.username, "display_name": f.display_name, "role": f.role, "password": password,
        }))?;
        let response = users::create_user(State(state.clone()), auth.clone(), body).await?;
        super::read_json::<users::UserWithPassword>(response).await
    }
    .await;
    match outcome {
        Ok(made) => {
            let shown = made.password.map(|p| (made.user.username, p));
            users_page(&state, v, auth, shown, UserForm::default(), FormError::default()).await
        }
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let mut response = users_page(&state, v, auth, None, f, error).await?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

/// Resets a user's password to a generated one, shown once.
pub async fn reset(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let body = json_body(json!({})).page(&v)?;
    let made = users::reset_password(State(state.clone()), auth.clone(), Path(id), body).await.page(&v)?.0;
    let shown = made.password.map(|p| (made.user.username, p));
    users_page(&state, v, auth, shown, UserForm::default(), FormError::default()).await
}

#[derive(Deserialize)]
pub struct EnableForm {
    disabled: String,
}

pub async fn set_disabled(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<EnableForm>,
) -> PageResult {
    let body = json_body(json!({"disabled": f.disabled == "true"})).page(&v)?;
    let _user = users::update_user(State(state), auth, Path(id), body).await.page(&v)?;
    Ok(see_other("/users"))
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    v: Viewer,
    active: &'static str,
    keys: Vec<ApiKeyView>,
    users: Vec<UserView>,
    /// A key just created, shown this once.
    shown: Option<String>,
    form: KeyForm,
    error: FormError,
}

#[derive(Deserialize, Default, Clone)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    allowed_ips: String,
    /// `datetime-local` in the viewer's zone; empty: never.
    #[serde(default)]
    expires_at: String,
}

impl KeyForm {
    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

async fn keys_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    shown: Option<String>,
    form: KeyForm,
    error: FormError,
) -> PageResult {
    let keys = api_keys::list_keys(State(state.clone()), auth.clone()).await.page(&v)?.0.keys;
    let users = users::list_users(State(state.clone()), auth).await.page(&v)?.0.users;
    Ok(render(&KeysPage { v, active: "users", keys, users, shown, form, error }))
}

pub async fn keys(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let form = KeyForm { scopes: vec!["read".into(), "send".into()], ..Default::default() };
    keys_page(&state, v, auth, None, form, FormError::default()).await
}

/// Creates a key; it is shown once on the page.
pub async fn create_key(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f: KeyForm = super::from_pairs(pairs, &["scopes"]).page(&v)?;
    let outcome = async {
        let expires_at = super::compose::local_time(&v, &f.expires_at)
            .map_err(|m| crate::http::ApiError::field("expires_at", m))?;
        let body = json_body(json!({
            "name": f.name, "user_id": f.user_id, "scopes": f.scopes, "allowed_ips": split_list(&f.allowed_ips),
            "expires_at": expires_at,
        }))?;
        let response = api_keys::create_key(State(state.clone()), auth.clone(), body).await?;
        super::read_json::<api_keys::NewKeyView>(response).await
    }
    .await;
    match outcome {
        Ok(made) => {
            keys_page(&state, v, auth, Some(made.key), KeyForm::default(), FormError::default()).await
        }
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let mut response = keys_page(&state, v, auth, None, f, error).await?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    api_keys::revoke_key(State(state), auth, Path(id)).await.page(&v)?;
    Ok(see_other("/api-keys"))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    v: Viewer,
    active: &'static str,
    entries: Vec<AuditView>,
    q: AuditQuery,
    /// The link to older entries, with the filter kept.
    older: Option<String>,
}

/// The audit log with the API's filters, newest first.
pub async fn audit_log(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    let page = audit::search_audit(State(state), auth, Ok(Query(q.clone()))).await.page(&v)?.0;
    let older = page.next_cursor.map(|c| {
        let keep = [("user", &q.user), ("action", &q.action), ("ip", &q.ip), ("via", &q.via)];
        let mut url = format!("/audit?cursor={c}");
        for (k, val) in keep {
            if let Some(val) = val.as_deref().filter(|s| !s.is_empty()) {
                url.push_str(&format!("&{k}={}", super::messages::urlencode(val)));
            }
        }
        url
    });
    Ok(render(&AuditPage { v, active: "users", entries: page.entries, q, older }))
}
