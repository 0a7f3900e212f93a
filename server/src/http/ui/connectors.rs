//! Connectors and routes: every connector's state and counters as
//! `GET /api/v1/connectors` reports them, refreshed every two seconds; for
//! the platform operator also each connector's settings (secrets masked,
//! `GET /api/v1/connectors/{name}`) and the routes (`GET /api/v1/routes`).
//! Both come from the configuration file and are read at start, so the
//! page shows them and says where to change them.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse as _;

use super::session::Session;
use super::{OrPage, PageResult, Viewer, render};
use crate::http::api::v1::connectors::{self, ConnectorDetail, ConnectorView, RouteList};
use crate::http::{ApiError, AppState, Auth};

#[derive(Template)]
#[template(path = "connectors.html")]
struct ConnectorsPage {
    v: Viewer,
    active: &'static str,
    live: String,
    /// The operator's view: settings of each connector, and the routes.
    details: Vec<ConnectorDetail>,
    routes: Option<RouteList>,
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
    let live = live_html(&state, &v, &auth).await.page(&v)?;
    let (details, routes) = if v.operator {
        let mut details = Vec::new();
        for c in state.connectors.all() {
            let name = c.name.to_string();
            details.push(
                connectors::get_connector(State(state.clone()), auth.clone(), Path(name)).await.page(&v)?.0,
            );
        }
        let routes = connectors::list_routes(State(state.clone()), auth.clone()).await.page(&v)?.0;
        (details, Some(routes))
    } else {
        (Vec::new(), None)
    };
    Ok(render(&ConnectorsPage { v, active: "connectors", live, details, routes }))
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
    fn settings_are_listed_as_text_without_unset_ones() {
        let s = settings_of(
            &serde_json::json!({"host": "smsc", "port": 2775, "password": "***", "validity_secs": null}),
        );
        let shown: Vec<(&str, &str)> = s.iter().map(|s| (s.key.as_str(), s.value.as_str())).collect();
        assert_eq!(shown, [("host", "smsc"), ("password", "***"), ("port", "2775")]);
    }
}
