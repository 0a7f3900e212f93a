//! The web UI: server-rendered HTML pages at `/`, next to the JSON API.
//!
//! Pages are askama templates (escaping by default) kept next to their
//! handlers; htmx, served from the binary, adds live parts (the character
//! counter, the dashboard over server-sent events, progress bars), and
//! every page reads and every basic form submits without JavaScript.
//!
//! The UI owns no business rule: a page that reads or writes calls the
//! API's own handler function for it (`api::v1::*`), with the same
//! account, user and permission checks, and shows its answer or its error
//! next to the field it names. What the UI adds is only presentation:
//! languages ([`i18n`]), the signed-in [`Viewer`], and forms.

mod access;
mod billing;
mod campaigns;
mod compose;
mod connectors;
mod contacts;
mod conversations;
mod dashboard;
pub mod i18n;
mod message_templates;
mod messages;
mod numbers;
mod operator;
mod polls;
mod preferences;
mod profile;
mod reports;
mod senders;
mod session;
mod settings;
mod users;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

pub use session::Viewer;

use super::body::{JsonBody, refuse_nul};
use super::{ApiError, AppState};

/// The UI's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard/live", get(dashboard::live))
        .route("/signin", get(session::form).post(session::sign_in))
        .route("/signout", post(session::sign_out))
        .route("/language", post(session::set_language))
        .route("/compose", get(compose::page).post(compose::send))
        .route("/compose/counter", post(compose::counter))
        .route("/compose/template", get(compose::template))
        .route("/inbox", get(messages::inbox))
        .route("/conversations", get(conversations::list))
        .route("/conversations/{phone}", get(conversations::thread))
        .route("/conversations/{phone}/reply", post(conversations::reply))
        .route("/messages", get(messages::list))
        .route("/messages/export.csv", get(messages::export_csv))
        .route("/messages/{id}", get(messages::detail))
        .route("/messages/statuses", get(messages::statuses))
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/contacts/new", get(contacts::new_form))
        .route("/contacts/export.csv", get(contacts::export_csv))
        .route("/contacts/export.xlsx", get(contacts::export_xlsx))
        .route(
            "/contacts/import",
            get(contacts::import_form).post(contacts::import).layer(DefaultBodyLimit::max(
                usize::try_from(super::api::v1::imports::MAX_IMPORT_BYTES).unwrap_or(usize::MAX),
            )),
        )
        .route("/contacts/{id}", get(contacts::edit_form).post(contacts::update))
        .route("/groups", get(contacts::groups).post(contacts::create_group))
        .route("/imports/{id}", get(contacts::import_page))
        .route("/imports/{id}/progress", get(contacts::import_progress))
        .route("/imports/{id}/errors.csv", get(contacts::import_errors))
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/new", get(campaigns::new_form))
        .route("/campaigns/{id}", get(campaigns::detail))
        .route("/campaigns/{id}/progress", get(campaigns::progress))
        .route("/campaigns/{id}/action/{action}", post(campaigns::action))
        .route("/campaigns/{id}/runs/{run}", get(campaigns::run))
        .route("/campaigns/{id}/runs/{run}/messages.csv", get(campaigns::run_csv))
        .route("/campaigns/{id}/runs/{run}/messages.xlsx", get(campaigns::run_xlsx))
        .route("/numbers", get(numbers::list).post(numbers::create))
        .route("/numbers/{id}", get(numbers::detail))
        .route("/numbers/{id}/keywords", post(numbers::create_keyword))
        .route("/numbers/{id}/keywords/{keyword}/delete", post(numbers::delete_keyword))
        .route("/opt-outs", get(numbers::opt_out_list).post(numbers::add_opt_out))
        .route("/opt-outs/{phone}/remove", post(numbers::remove_opt_out))
        .route("/connectors", get(connectors::page).post(connectors::create))
        .route("/connectors/live", get(connectors::live))
        .route("/connectors/{name}/edit", post(connectors::update))
        .route("/connectors/{name}/delete", post(connectors::remove))
        .route("/routes", post(connectors::add_route))
        .route("/routes/{id}/delete", post(connectors::remove_route))
        .route("/operator/prices", get(operator::prices))
        .route("/operator/tariffs", post(operator::create_tariff))
        .route("/operator/tariffs/{id}", get(operator::tariff).post(operator::update_tariff))
        .route("/operator/tariffs/{id}/delete", post(operator::delete_tariff))
        .route("/operator/tariffs/{id}/prices", post(operator::put_price))
        .route("/operator/tariffs/{id}/prices/{prefix}/delete", post(operator::delete_price))
        .route("/operator/packages", post(operator::create_package))
        .route("/operator/accounts", get(operator::accounts))
        .route("/operator/accounts/{id}", get(operator::account))
        .route("/operator/accounts/{id}/billing", post(operator::set_account_billing))
        .route("/operator/accounts/{id}/top-ups", post(operator::top_up))
        .route("/operator/accounts/{id}/packages", post(operator::subscribe))
        .route("/operator/accounts/{id}/packages/{sub}/end", post(operator::unsubscribe))
        .route("/settings", get(settings::page))
        .route("/settings/account", post(settings::save_account))
        .route("/settings/compliance", post(settings::save_compliance))
        .route("/billing", get(billing::page))
        .route("/billing/usage", get(billing::usage))
        .route("/billing/statement.csv", get(billing::statement_csv))
        .route("/billing/statement.xlsx", get(billing::statement_xlsx))
        .route("/polls", get(polls::list).post(polls::create))
        .route("/polls/{id}", get(polls::detail).post(polls::update))
        .route("/polls/{id}/chart", get(polls::chart))
        .route("/polls/{id}/draw", post(polls::draw))
        .route("/polls/{id}/votes.csv", get(polls::votes_csv))
        .route("/polls/{id}/votes.xlsx", get(polls::votes_xlsx))
        .route("/reports", get(reports::page))
        .route("/reports/messages.csv", get(reports::export_csv))
        .route("/reports/messages.xlsx", get(reports::export_xlsx))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(access::user).post(access::update_user))
        .route("/users/{id}/password", post(users::reset))
        .route("/users/{id}/disabled", post(users::set_disabled))
        .route("/api-keys", get(users::keys).post(users::create_key))
        .route("/api-keys/{id}/revoke", post(users::revoke_key))
        .route("/audit", get(users::audit_log))
        .route("/user-groups", get(access::user_groups).post(access::create_user_group))
        .route("/user-groups/{id}", get(access::user_group).post(access::update_user_group))
        .route("/user-groups/{id}/delete", post(access::delete_user_group))
        .route("/permissions/{kind}/{id}", get(access::permission).post(access::save_permission))
        .route("/permissions/{kind}/{id}/delete", post(access::delete_permission))
        .route("/sender-ids", get(senders::list).post(senders::add))
        .route("/sender-ids/delete", post(senders::delete))
        .route("/templates", get(message_templates::list).post(message_templates::create))
        .route("/templates/{id}", get(message_templates::detail).post(message_templates::update))
        .route("/templates/{id}/delete", post(message_templates::delete))
        .route("/profile", get(profile::page).post(profile::save))
        .route("/profile/password", post(profile::change_password))
        .route("/profile/numbers", post(profile::add_number))
        .route("/profile/numbers/verify", post(profile::verify_number))
        .route("/preferences/{token}", get(preferences::show).post(preferences::save))
        .route("/static/{file}", get(asset))
        .layer(axum::middleware::map_response(protect))
}

/// Headers on every answer of the UI, the public preference pages
/// included: no site may show a page in a frame (clickjacking: a signed-in
/// user tricked into clicking a hidden form), by `X-Frame-Options` for old
/// browsers and CSP `frame-ancestors` for current ones; the declared
/// content type is the one used (`nosniff`); and a link followed to
/// another site sends no `Referer`, so a preference link's token stays here.
/// The policy restricts framing only, so htmx and its event streams work.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// Files served from the binary: htmx (2.0.11, BSD-0), its SSE extension
/// (2.2.4), the style sheet.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "htmx.min.js" => (include_bytes!("static/htmx.min.js"), "text/javascript"),
        "sse.min.js" => (include_bytes!("static/sse.min.js"), "text/javascript"),
        "kurier.css" => (include_bytes!("static/kurier.css"), "text/css"),
        _ => return ApiError::not_found("file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_str(kind).expect("static content type")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

/// Renders a template as an HTML answer.
pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            html,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// An error page: the API's message, in the page layout.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    v: &'a Viewer,
    active: &'static str,
    status: u16,
    message: String,
}

/// What a page handler fails with: an API error shown as a page.
pub(crate) struct PageError(Box<(Viewer, ApiError)>);

impl PageError {
    pub fn new(viewer: &Viewer, error: ApiError) -> Self {
        Self(Box::new((viewer.clone(), error)))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // An internal error was logged where it was made; the page says no more than the API.
        let (viewer, error) = *self.0;
        let status = error.status;
        let page = ErrorPage { v: &viewer, active: "", status: status.as_u16(), message: error.message };
        let mut response = render(&page);
        *response.status_mut() = status;
        response
    }
}

/// `Result` of a page handler.
pub(crate) type PageResult = Result<Response, PageError>;

/// Lets page handlers write `api_call().await.page(&v)?`.
pub(crate) trait OrPage<T> {
    fn page(self, v: &Viewer) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, ApiError> {
    fn page(self, v: &Viewer) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(v, e))
    }
}

/// A JSON request body for an API handler, built from a form: the value is
/// read by the API's own input type, so a wrong shape is the API's error,
/// and a NUL character is refused at its field as the API refuses it.
pub(crate) fn json_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<JsonBody<T>, ApiError> {
    refuse_nul(&value)?;
    let raw = serde_json::to_vec(&value).map_err(ApiError::internal)?;
    let value = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::field(if path == "." { "body".into() } else { path }, e.inner().to_string())
    })?;
    Ok(JsonBody { value, raw: raw.into() })
}

/// A fresh key for a form that sends messages, rendered in it as the
/// hidden field `idempotency_key`: the same form posted again (a refresh of
/// its answer, a second click) makes the API replay its first answer
/// instead of sending again.
pub(crate) fn new_send_key() -> String {
    crate::credentials::random_hex(16)
}

/// The headers that give a form's key to the API as `Idempotency-Key`
/// (none for a form without one).
pub(crate) fn send_key_headers(key: &str) -> Result<axum::http::HeaderMap, ApiError> {
    let mut headers = axum::http::HeaderMap::new();
    let key = key.trim();
    if !key.is_empty() {
        let value = HeaderValue::from_str(key)
            .map_err(|_| ApiError::field("Idempotency-Key", "must be visible characters"))?;
        headers.insert("idempotency-key", value);
    }
    Ok(headers)
}

/// A form (or query) read as `T`: each key once, except the `multi` keys,
/// which collect every value (`groups=a&groups=b`) into a list.
pub(crate) fn from_pairs<T: DeserializeOwned>(
    pairs: Vec<(String, String)>,
    multi: &[&str],
) -> Result<T, ApiError> {
    let mut map = serde_json::Map::new();
    for key in multi {
        map.insert((*key).to_owned(), serde_json::Value::Array(Vec::new()));
    }
    for (k, v) in pairs {
        if multi.contains(&k.as_str()) {
            if let Some(serde_json::Value::Array(list)) = map.get_mut(&k) {
                list.push(serde_json::Value::String(v));
            }
        } else {
            map.insert(k, serde_json::Value::String(v));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| ApiError::field("form", e.to_string()))
}

/// The JSON body of an API handler's answer, read as `T`.
pub(crate) async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(ApiError::internal)?;
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

/// `response` with another status (a form shown again with its errors).
pub(crate) fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// A redirect after a successful form post (303: the browser GETs it).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A field's error next to the field in a re-rendered form.
#[derive(Debug, Clone, Default)]
pub(crate) struct FormError {
    pub field: String,
    pub message: String,
}

impl FormError {
    pub fn from_api(e: &ApiError) -> Self {
        Self { field: e.field.clone().unwrap_or_default(), message: e.message.clone() }
    }

    /// The message if the error is about `field` (or one of its items, `to[3]`).
    pub fn on(&self, field: &str) -> &str {
        let f = self.field.as_str();
        let hit = f == field
            || f.strip_prefix(field).is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'));
        if hit { &self.message } else { "" }
    }

    /// The message if it names no field the form shows.
    pub fn general(&self, fields: &[&str]) -> &str {
        if fields.iter().any(|f| !self.on(f).is_empty()) { "" } else { &self.message }
    }

    /// How a form shows an API refusal: the user's mistake (a 4xx) next to
    /// its field, with the status to re-render the form with; anything else
    /// as an error page.
    pub fn or_page(v: &Viewer, e: ApiError) -> Result<(StatusCode, FormError), PageError> {
        if e.status.is_client_error() {
            Ok((e.status, FormError::from_api(&e)))
        } else {
            Err(PageError::new(v, e))
        }
    }
}

/// Splits a list typed in a text field: commas, semicolons, new lines.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', '\n', '\r']).map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// An empty answer body, for htmx requests that only need a status.
#[allow(dead_code)]
pub(crate) fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_error_is_shown_at_its_field_or_as_general() {
        let e = FormError { field: "to[2]".into(), message: "bad number".into() };
        assert_eq!(e.on("to"), "bad number");
        assert_eq!(e.on("text"), "");
        assert_eq!(e.general(&["to", "text"]), "");
        assert_eq!(e.general(&["text"]), "bad number");
        let e = FormError { field: "tokens".into(), message: "x".into() };
        assert_eq!(e.on("to"), "");
    }

    #[test]
    fn typed_lists_split_on_commas_semicolons_and_lines() {
        assert_eq!(
            split_list(" +48600100200, 600100201;\n\n#promo "),
            ["+48600100200", "600100201", "#promo"]
        );
        assert!(split_list(" , ;").is_empty());
    }
}
