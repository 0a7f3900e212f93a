//! Contacts and groups: the list with search and filters, a contact's form
//! (new and edit), groups, import with a progress bar and the error
//! report, export. Every read and write is the contacts, groups, imports
//! or exports API handler.

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::json;

use super::session::Session;
use super::{
    FormError, OrPage, PageError, PageResult, Viewer, from_pairs, json_body, read_json, render, see_other,
};
use crate::http::api::v1::contacts::{self, ContactList, ContactView};
use crate::http::api::v1::exports;
use crate::http::api::v1::groups::{self, GroupView};
use crate::http::api::v1::imports::{self, ImportView};
use crate::http::{ApiError, AppState, Auth};

#[derive(Template)]
#[template(path = "contacts.html")]
struct ListPage {
    v: Viewer,
    active: &'static str,
    list: ContactList,
    groups: Vec<GroupView>,
    q: String,
    group: String,
    tag: String,
    query: String,
}

impl ListPage {
    fn selected(&self, current: &str, value: &str) -> &'static str {
        if current == value { " selected" } else { "" }
    }
}

const LIST_FILTERS: [&str; 4] = ["q", "group", "tag", "cursor"];

fn kept(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.into_iter().filter(|(k, v)| LIST_FILTERS.contains(&k.as_str()) && !v.trim().is_empty()).collect()
}

pub async fn list(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let pairs = kept(pairs);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let groups = groups::list_groups(State(state.clone()), auth.clone()).await.page(&v)?.0.groups;
    let list = contacts::list_contacts(State(state), auth, Ok(Query(pairs.clone()))).await.page(&v)?.0;
    let query = pairs
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, val)| format!("{k}={}", super::messages::urlencode(val)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(render(&ListPage {
        active: "contacts",
        q: get("q"),
        group: get("group"),
        tag: get("tag"),
        list,
        groups,
        query,
        v,
    }))
}

pub async fn export_csv(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let pairs = kept(pairs).into_iter().filter(|(k, _)| k != "cursor").collect();
    exports::contacts_csv(State(state), auth, Ok(Query(pairs))).await.page(&v)
}

pub async fn export_xlsx(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let pairs = kept(pairs).into_iter().filter(|(k, _)| k != "cursor").collect();
    exports::contacts_xlsx(State(state), auth, Ok(Query(pairs))).await.page(&v)
}

/// The contact form's fields, as typed.
#[derive(Deserialize, Default)]
pub struct ContactForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    /// Space- or comma-separated.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    opted_out: Option<String>,
}

impl ContactForm {
    fn of(c: &ContactView) -> Self {
        ContactForm {
            phone: c.phone.clone(),
            name: c.name.clone().unwrap_or_default(),
            email: c.email.clone().unwrap_or_default(),
            tags: c.tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" "),
            groups: c.groups.iter().map(|g| g.id.clone()).collect(),
            notes: c.notes.clone().unwrap_or_default(),
            opted_out: c.opted_out.then(|| "on".to_owned()),
        }
    }

    /// The body of `POST`/`PATCH /api/v1/contacts`: empty fields clear.
    fn body(&self) -> serde_json::Value {
        let opt = |s: &str| if s.trim().is_empty() { serde_json::Value::Null } else { json!(s.trim()) };
        let tags: Vec<&str> =
            self.tags.split([' ', ',', ';', '\n']).map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
        json!({
            "phone": self.phone.trim(),
            "name": opt(&self.name),
            "email": opt(&self.email),
            "notes": opt(&self.notes),
            "tags": tags,
            "groups": self.groups,
            "opted_out": self.opted_out.is_some(),
        })
    }
}

#[derive(Template)]
#[template(path = "contact_form.html")]
struct FormPage {
    v: Viewer,
    active: &'static str,
    /// `None` for a new contact.
    id: Option<String>,
    form: ContactForm,
    groups: Vec<GroupView>,
    error: FormError,
    saved: bool,
}

impl FormPage {
    /// The phone number for a link's query string.
    fn phone_q(&self) -> String {
        super::messages::urlencode(&self.form.phone)
    }
}

pub async fn new_form(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
    Ok(render(&FormPage {
        v,
        active: "contacts",
        id: None,
        form: ContactForm::default(),
        groups,
        error: FormError::default(),
        saved: false,
    }))
}

#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

pub async fn edit_form(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Query(s): Query<Saved>,
) -> PageResult {
    let contact =
        contacts::get_contact(State(state.clone()), auth.clone(), Path(id.clone())).await.page(&v)?.0;
    let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
    Ok(render(&FormPage {
        v,
        active: "contacts",
        id: Some(contact.id.clone()),
        form: ContactForm::of(&contact),
        groups,
        error: FormError::default(),
        saved: s.saved.is_some(),
    }))
}

async fn form_failed(
    state: AppState,
    v: Viewer,
    auth: Auth,
    id: Option<String>,
    form: ContactForm,
    e: ApiError,
) -> PageResult {
    if !e.status.is_client_error() || e.status == StatusCode::NOT_FOUND && e.field.is_none() {
        return Err(PageError::new(&v, e));
    }
    let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
    let mut response = render(&FormPage {
        v,
        active: "contacts",
        id,
        form,
        groups,
        error: FormError::from_api(&e),
        saved: false,
    });
    *response.status_mut() = e.status;
    Ok(response)
}

pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let form: ContactForm = from_pairs(pairs, &["groups"]).page(&v)?;
    let outcome = async {
        let body = json_body(form.body())?;
        let response = contacts::create_contact(State(state.clone()), auth.clone(), body).await?;
        read_json::<ContactView>(response).await
    }
    .await;
    match outcome {
        Ok(c) => Ok(see_other(&format!("/contacts/{}?saved=1", c.id))),
        Err(e) => form_failed(state, v, auth, None, form, e).await,
    }
}

pub async fn update(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let form: ContactForm = from_pairs(pairs, &["groups"]).page(&v)?;
    let outcome = async {
        let body = json_body(form.body())?;
        contacts::update_contact(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    }
    .await;
    match outcome {
        Ok(c) => Ok(see_other(&format!("/contacts/{}?saved=1", c.0.id))),
        Err(e) => form_failed(state, v, auth, Some(id), form, e).await,
    }
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    v: Viewer,
    active: &'static str,
    groups: Vec<GroupView>,
    name: String,
    description: String,
    error: FormError,
}

pub async fn groups(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
    Ok(render(&GroupsPage {
        v,
        active: "groups",
        groups,
        name: String::new(),
        description: String::new(),
        error: FormError::default(),
    }))
}

#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_group(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<GroupForm>,
) -> PageResult {
    let description =
        if f.description.trim().is_empty() { serde_json::Value::Null } else { json!(f.description) };
    let outcome = async {
        let body = json_body(json!({ "name": f.name, "description": description }))?;
        groups::create_group(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/groups")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
            let mut response = render(&GroupsPage {
                v,
                active: "groups",
                groups,
                name: f.name,
                description: f.description,
                error,
            });
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

#[derive(Template)]
#[template(path = "import_form.html")]
struct ImportForm {
    v: Viewer,
    active: &'static str,
    groups: Vec<GroupView>,
    /// The group picked (kept when the form comes back with an error).
    group: String,
    error: FormError,
}

pub async fn import_form(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
    Ok(render(&ImportForm {
        v,
        active: "contacts",
        groups,
        group: String::new(),
        error: FormError::default(),
    }))
}

/// The uploaded file is spooled as `POST /api/v1/imports` spools its body
/// (never whole in memory, up to the API's limit), the group is its
/// `group` parameter; the answer's job is then shown with progress.
pub async fn import(
    State(state): State<AppState>,
    Session(v, auth): Session,
    mut multipart: Multipart,
) -> PageResult {
    let mut file: Option<imports::Spooled> = None;
    let mut group = String::new();
    let bad = |m: String| ApiError::field("file", m);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return import_failed(state, v, auth, group, bad(e.body_text())).await,
        };
        match field.name() {
            Some("file") => match imports::spool(field).await {
                Ok(spooled) => file = Some(spooled),
                Err(e) => return import_failed(state, v, auth, group, bad(e.message)).await,
            },
            Some("group") => group = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let Some(spooled) = file.filter(|f| f.size() > 0) else {
        return import_failed(state, v, auth, group, bad("choose a CSV or XLSX file".into())).await;
    };
    let query: Vec<(String, String)> =
        if group.trim().is_empty() { Vec::new() } else { vec![("group".into(), group.trim().to_owned())] };
    let outcome = async {
        let options = imports::read_options(query, state.region)?;
        imports::start_import(&state, &auth, options, spooled).await
    }
    .await;
    match outcome {
        Ok(job) => Ok(see_other(&format!("/imports/{}", job.id))),
        Err(e) if e.status.is_client_error() => {
            let e = if e.field.as_deref() == Some("body") {
                ApiError { field: Some("file".into()), ..e }
            } else {
                e
            };
            import_failed(state, v, auth, group, e).await
        }
        Err(e) => Err(PageError::new(&v, e)),
    }
}

async fn import_failed(state: AppState, v: Viewer, auth: Auth, group: String, e: ApiError) -> PageResult {
    let groups = groups::list_groups(State(state), auth).await.page(&v)?.0.groups;
    let error = FormError::from_api(&e);
    let mut response = render(&ImportForm { v, active: "contacts", groups, group, error });
    *response.status_mut() =
        if e.status.is_client_error() { e.status } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(response)
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    v: Viewer,
    active: &'static str,
    progress: String,
}

#[derive(Template)]
#[template(path = "import_progress.html")]
struct ImportProgress<'a> {
    v: &'a Viewer,
    job: ImportView,
}

impl ImportProgress<'_> {
    fn running(&self) -> bool {
        matches!(self.job.status.as_str(), "pending" | "running")
    }

    /// Rows read, and the total when known, for the progress bar.
    fn done_of(&self) -> (i64, i64) {
        let total = self.job.rows_total.unwrap_or(0).max(self.job.rows_read);
        (self.job.rows_read, total.max(1))
    }
}

async fn progress_html(state: AppState, v: &Viewer, auth: Auth, id: String) -> Result<String, ApiError> {
    let job = imports::get_import(State(state), auth, Path(id)).await?.0;
    ImportProgress { v, job }.render().map_err(ApiError::internal)
}

pub async fn import_page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let progress = progress_html(state, &v, auth, id).await.page(&v)?;
    Ok(render(&ImportPage { v, active: "contacts", progress }))
}

/// The progress part alone; htmx polls it while the import runs.
pub async fn import_progress(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> Response {
    match progress_html(state, &v, auth, id).await {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

pub async fn import_errors(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    imports::import_errors(State(state), auth, Path(id)).await.page(&v)
}
