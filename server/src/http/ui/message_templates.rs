//! Message templates (`/templates`, `/templates/{id}`): the list, a form to
//! create one, and a template's page to edit or delete it and to preview it
//! for a contact (by their number) with the data a send would pass: the
//! rendered text, encoding, segments and price. Every call is the
//! templates API's handler, so a syntax error or an unknown field comes
//! back as the API words it (with its line and column) next to the body.
//! Everyone signed in reads and previews; changes need the role the API
//! asks for templates (sender and up).

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::session::Session;
use super::{FormError, OrPage, PageError, PageResult, Viewer, json_body, render, see_other, with_status};
use crate::domain::Need;
use crate::http::api::v1::contacts::{self, ContactView};
use crate::http::api::v1::templates::{self, PreviewView, TemplateView};
use crate::http::{ApiError, AppState, Auth};

/// How many contacts the preview's number field offers to pick from.
const CONTACTS_OFFERED: usize = 100;

#[derive(Deserialize, Default, Clone)]
pub struct TemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    body: String,
}

#[derive(Template)]
#[template(path = "templates.html")]
struct ListPage {
    v: Viewer,
    active: &'static str,
    templates: Vec<TemplateView>,
    form: TemplateForm,
    error: FormError,
}

impl ListPage {
    fn may_change(&self) -> bool {
        self.v.may(Need::Write)
    }
}

async fn list_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    form: TemplateForm,
    error: FormError,
) -> PageResult {
    let templates = templates::list_templates(State(state.clone()), auth).await.page(&v)?.0.templates;
    Ok(render(&ListPage { v, active: "templates", templates, form, error }))
}

pub async fn list(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    list_page(&state, v, auth, TemplateForm::default(), FormError::default()).await
}

pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<TemplateForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"name": f.name, "body": f.body}))?;
        let response = templates::create_template(State(state.clone()), auth.clone(), body).await?;
        super::read_json::<TemplateView>(response).await
    }
    .await;
    match result {
        Ok(t) => Ok(see_other(&format!("/templates/{}", t.id))),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            Ok(with_status(list_page(&state, v, auth, f, error).await?, status))
        }
    }
}

/// The preview's inputs, read from the page's query (a GET form: a
/// preview changes nothing).
#[derive(Deserialize, Default, Clone)]
pub struct PreviewForm {
    /// The contact's number (or any number).
    #[serde(default)]
    phone: Option<String>,
    /// What a send would pass as `data`, as JSON.
    #[serde(default)]
    data: Option<String>,
    /// Set by the preview button.
    #[serde(default)]
    preview: Option<String>,
}

#[derive(Template)]
#[template(path = "template.html")]
struct EditPage {
    v: Viewer,
    active: &'static str,
    template: TemplateView,
    form: TemplateForm,
    error: FormError,
    query: PreviewForm,
    preview: Option<PreviewView>,
    preview_error: FormError,
    /// Contacts offered in the number field (the first page of the list).
    contacts: Vec<ContactView>,
}

impl EditPage {
    fn may_change(&self) -> bool {
        self.v.may(Need::Write)
    }
}

/// The API's preview of a saved template for the query's number and data.
async fn preview(
    state: &AppState,
    auth: &Auth,
    id: &str,
    q: &PreviewForm,
) -> Result<Option<PreviewView>, ApiError> {
    if q.preview.is_none() {
        return Ok(None);
    }
    let phone = q.phone.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let data = match q.data.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(
            serde_json::from_str::<serde_json::Value>(d)
                .map_err(|e| ApiError::field("data", format!("not JSON: {e}")))?,
        ),
    };
    let body = json_body(json!({"phone": phone, "data": data}))?;
    let view =
        templates::preview_template(State(state.clone()), auth.clone(), Path(id.to_owned()), body).await?;
    Ok(Some(view.0))
}

async fn edit_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    id: &str,
    form: Option<TemplateForm>,
    error: FormError,
    query: PreviewForm,
) -> PageResult {
    let template =
        templates::get_template(State(state.clone()), auth.clone(), Path(id.to_owned())).await.page(&v)?.0;
    let (preview, preview_error) = match preview(state, &auth, &template.id, &query).await {
        Ok(p) => (p, FormError::default()),
        Err(e) if e.status.is_client_error() => (None, FormError::from_api(&e)),
        Err(e) => return Err(PageError::new(&v, e)),
    };
    let first = vec![("limit".to_owned(), CONTACTS_OFFERED.to_string())];
    let contacts = contacts::list_contacts(State(state.clone()), auth.clone(), Ok(Query(first)))
        .await
        .page(&v)?
        .0
        .contacts;
    let form =
        form.unwrap_or_else(|| TemplateForm { name: template.name.clone(), body: template.body.clone() });
    let status =
        if preview_error.message.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page =
        EditPage { v, active: "templates", template, form, error, query, preview, preview_error, contacts };
    Ok(with_status(render(&page), status))
}

pub async fn detail(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Query(q): Query<PreviewForm>,
) -> PageResult {
    edit_page(&state, v, auth, &id, None, FormError::default(), q).await
}

pub async fn update(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<TemplateForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"name": f.name, "body": f.body}))?;
        templates::update_template(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    }
    .await;
    match result {
        Ok(t) => Ok(see_other(&format!("/templates/{}", t.0.id))),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let page = edit_page(&state, v, auth, &id, Some(f), error, PreviewForm::default()).await?;
            Ok(with_status(page, status))
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    templates::delete_template(State(state), auth, Path(id)).await.page(&v)?;
    Ok(see_other("/templates"))
}
