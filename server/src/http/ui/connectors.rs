//! Connectors and routes: every connector's state and counters as
//! `GET /api/v1/connectors` reports them, refreshed every two seconds; for
//! the platform operator also each connector's settings (secrets masked,
//! `GET /api/v1/connectors/{name}`) and the routes (`GET /api/v1/routes`),
//! with forms to add, change and remove connectors and routes at run time
//! (the API's handlers do it). Those of the configuration file are shown
//! read-only: they change in the file.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::IntoResponse as _;
use serde::Deserialize;
use serde_json::json;

use super::session::Session;
use super::{FormError, OrPage, PageError, PageResult, Viewer, json_body, render, see_other, with_status};
use crate::connectors::Source;
use crate::http::api::v1::connectors::{self, ConnectorDetail, ConnectorView, RouteList, save_connector};
use crate::http::{ApiError, AppState, Auth};

/// The connector form: a name (when adding), a kind, and the other
/// settings as TOML, keyed as in a `[[connectors]]` table of the file.
#[derive(Deserialize, Default, Clone)]
pub struct ConnectorForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    settings: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct RouteForm {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    connector: String,
    #[serde(default)]
    priority: String,
}

/// A connector's form shown again with what was typed and what was wrong.
struct Editing {
    name: String,
    form: ConnectorForm,
    error: FormError,
}

/// A stored connector's form and its error.
struct EditForm {
    form: ConnectorForm,
    error: FormError,
}

/// The forms of the page and their errors (all empty on a plain visit).
#[derive(Default)]
struct Forms {
    add: ConnectorForm,
    add_error: FormError,
    editing: Option<Editing>,
    route: RouteForm,
    route_error: FormError,
    /// An error of a removal, shown at the top.
    removal_error: String,
}

#[derive(Template)]
#[template(path = "connectors.html")]
struct ConnectorsPage {
    v: Viewer,
    active: &'static str,
    live: String,
    /// The operator's view: settings of each connector, and the routes.
    details: Vec<ConnectorDetail>,
    routes: Option<RouteList>,
    forms: Forms,
}

#[derive(Template)]
#[template(path = "connectors_live.html")]
struct LivePart<'a> {
    v: &'a Viewer,
    connectors: Vec<ConnectorView>,
}

/// One setting as shown: its key and its value as text.
pub struct Setting {
    pub key: String,
    pub value: String,
}

impl ConnectorsPage {
    fn settings(&self, d: &ConnectorDetail) -> Vec<Setting> {
        settings_of(&d.settings)
    }

    /// Whether the page may change it (added at run time, not in the file).
    fn editable(&self, d: &ConnectorDetail) -> bool {
        d.status.source == Source::Api
    }

    /// A stored connector's edit form: as typed if it was refused, else its
    /// settings now (a password as `***`, which keeps it).
    fn edit_form(&self, d: &ConnectorDetail) -> EditForm {
        match &self.forms.editing {
            Some(e) if e.name == d.status.name => EditForm { form: e.form.clone(), error: e.error.clone() },
            _ => EditForm {
                form: ConnectorForm {
                    name: d.status.name.clone(),
                    kind: d.status.kind.clone(),
                    settings: settings_toml(&d.settings),
                },
                error: FormError::default(),
            },
        }
    }

    fn connector_names(&self) -> Vec<String> {
        self.details.iter().map(|d| d.status.name.clone()).collect()
    }
}

/// Settings as TOML lines, `key = value`, unset ones left out. Values are
/// scalars, and JSON's spelling of a string, number or boolean is TOML's.
fn settings_toml(settings: &serde_json::Value) -> String {
    let Some(map) = settings.as_object() else { return String::new() };
    map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| format!("{k} = {v}\n")).collect()
}

/// The settings typed in a form, as the table the API reads.
fn settings_table(f: &ConnectorForm) -> Result<toml::Table, ApiError> {
    let mut table: toml::Table = f.settings.parse().map_err(|e: toml::de::Error| {
        ApiError::field("settings", format!("not valid TOML: {}", e.message()))
    })?;
    table.insert("kind".into(), toml::Value::String(f.kind.trim().to_owned()));
    Ok(table)
}

/// An API refusal as the connector form shows it: a setting's error under
/// the settings box, prefixed with its key.
fn connector_error(e: &ApiError) -> FormError {
    let mut error = FormError::from_api(e);
    if !matches!(error.field.as_str(), "name" | "kind" | "settings" | "") {
        error.message = format!("{}: {}", error.field, error.message);
        error.field = "settings".into();
    }
    error
}

/// A connector's settings as key and text, by key; unset values (`null`)
/// are left out.
fn settings_of(settings: &serde_json::Value) -> Vec<Setting> {
    let Some(map) = settings.as_object() else { return Vec::new() };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| Setting {
            key: k.clone(),
            value: match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        })
        .collect()
}

async fn live_html(state: &AppState, v: &Viewer, auth: &Auth) -> Result<String, ApiError> {
    let connectors = connectors::list_connectors(State(state.clone()), auth.clone()).await?.0.connectors;
    LivePart { v, connectors }.render().map_err(ApiError::internal)
}

pub async fn page(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    connectors_page(&state, v, auth, Forms::default()).await
}

async fn connectors_page(state: &AppState, v: Viewer, auth: Auth, forms: Forms) -> PageResult {
    let live = live_html(state, &v, &auth).await.page(&v)?;
    let (details, routes) = if v.operator {
        // The routes' handler checks that this is the operator's account.
        let details = state.connectors.view().all().iter().map(ConnectorDetail::of).collect();
        let routes = connectors::list_routes(State(state.clone()), auth.clone()).await.page(&v)?.0;
        (details, Some(routes))
    } else {
        (Vec::new(), None)
    };
    Ok(render(&ConnectorsPage { v, active: "connectors", live, details, routes, forms }))
}

/// A form's answer: back to the page, or the page again with the error
/// (and the API's status); an error that is not the form's is an error page.
async fn answer(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    result: Result<(), ApiError>,
    forms: impl FnOnce(&ApiError) -> Forms,
) -> PageResult {
    match result {
        Ok(()) => Ok(see_other("/connectors")),
        Err(e) if e.status.is_client_error() => {
            let status = e.status;
            Ok(with_status(connectors_page(state, v, auth, forms(&e)).await?, status))
        }
        Err(e) => Err(PageError::new(&v, e)),
    }
}

/// Adds a connector (operator).
pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<ConnectorForm>,
) -> PageResult {
    let result = async {
        let table = settings_table(&f)?;
        save_connector(&state, &auth, f.name.trim(), table, true).await.map(|_| ())
    }
    .await;
    answer(&state, v, auth.clone(), result, |e| Forms {
        add: f,
        add_error: connector_error(e),
        ..Forms::default()
    })
    .await
}

/// Changes a connector added at run time (operator); it restarts.
pub async fn update(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(name): Path<String>,
    Form(f): Form<ConnectorForm>,
) -> PageResult {
    let result = async {
        let table = settings_table(&f)?;
        save_connector(&state, &auth, &name, table, false).await.map(|_| ())
    }
    .await;
    answer(&state, v, auth.clone(), result, |e| Forms {
        editing: Some(Editing { name: name.clone(), form: f, error: connector_error(e) }),
        ..Forms::default()
    })
    .await
}

/// Removes a connector added at run time (operator).
pub async fn remove(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(name): Path<String>,
) -> PageResult {
    let result =
        connectors::delete_connector(State(state.clone()), auth.clone(), Path(name)).await.map(|_| ());
    answer(&state, v, auth.clone(), result, |e| Forms {
        removal_error: e.message.clone(),
        ..Forms::default()
    })
    .await
}

/// Adds a route (operator).
pub async fn add_route(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<RouteForm>,
) -> PageResult {
    let result = async {
        let priority = match f.priority.trim() {
            "" => 0,
            p => {
                p.parse::<u32>().map_err(|_| ApiError::field("priority", "must be a whole number from 0"))?
            }
        };
        let body =
            json_body(json!({"prefix": f.prefix.trim(), "connector": f.connector, "priority": priority}))?;
        connectors::create_route(State(state.clone()), auth.clone(), body).await.map(|_| ())
    }
    .await;
    answer(&state, v, auth.clone(), result, |e| Forms {
        route: f,
        route_error: FormError::from_api(e),
        ..Forms::default()
    })
    .await
}

/// Removes a route added at run time (operator).
pub async fn remove_route(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let result = connectors::delete_route(State(state.clone()), auth.clone(), Path(id)).await.map(|_| ());
    answer(&state, v, auth.clone(), result, |e| Forms {
        removal_error: e.message.clone(),
        ..Forms::default()
    })
    .await
}

/// The state and counters alone, for htmx to swap in every two seconds.
pub async fn live(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let html = live_html(&state, &v, &auth).await.page(&v)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_toml_that_reads_back_the_same() {
        let settings =
            serde_json::json!({"host": "smsc \"a\"", "port": 2775, "tls": false, "validity_secs": null});
        let text = settings_toml(&settings);
        assert_eq!(text, "host = \"smsc \\\"a\\\"\"\nport = 2775\ntls = false\n");
        let f = ConnectorForm { name: "x".into(), kind: "smpp".into(), settings: text };
        let table = settings_table(&f).unwrap();
        assert_eq!(table["host"].as_str(), Some("smsc \"a\""));
        assert_eq!(table["kind"].as_str(), Some("smpp"));
        let bad = ConnectorForm { settings: "host = ".into(), ..f };
        assert_eq!(settings_table(&bad).unwrap_err().field.as_deref(), Some("settings"));
    }

    #[test]
    fn settings_are_listed_as_text_without_unset_ones() {
        let s = settings_of(
            &serde_json::json!({"host": "smsc", "port": 2775, "password": "***", "validity_secs": null}),
        );
        let shown: Vec<(&str, &str)> = s.iter().map(|s| (s.key.as_str(), s.value.as_str())).collect();
        assert_eq!(shown, [("host", "smsc"), ("password", "***"), ("port", "2775")]);
    }
}
