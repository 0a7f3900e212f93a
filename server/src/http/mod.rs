//! HTTP: the JSON API under `/api/v1` (with its OpenAPI document), the web
//! UI at `/` (`ui`, which calls the API's handlers), health and metrics. Handlers parse requests into domain types and write to
//! storage; they never call connectors (dispatch does).

pub mod api;
mod audit;
mod auth;
pub(crate) mod body;
mod error;
mod health;
pub mod server;
mod ui;

pub use auth::Auth;
pub use error::ApiError;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::connectors::Connectors;
use crate::dispatch::InFlight;
use crate::domain::Region;
use crate::storage::{AuditLog, Intake, Store};

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Group-commit writer for accepted messages.
    pub intake: Intake,
    /// Group-commit writer for the audit log.
    pub audit: AuditLog,
    pub config: Arc<Config>,
    pub region: Option<Region>,
    pub connectors: Connectors,
    /// Wakes the dispatcher when new work was queued.
    pub dispatch: InFlight,
    /// Wakes the campaign worker when a campaign was started or resumed.
    pub campaigns: std::sync::Arc<tokio::sync::Notify>,
    /// The wall clock notifications are scheduled by.
    pub clock: crate::clock::Clock,
    pub metrics: PrometheusHandle,
    /// Cancelled when the app stops: long-lived answers (the UI's
    /// server-sent events) end with it, so a graceful stop never waits on them.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Counts every answer by status class, whatever handler (or rejection)
/// produced it.
async fn count_responses(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    crate::telemetry::http_response(response.status().as_u16());
    response
}

pub fn router(state: AppState) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let (api, openapi) = api::v1::router().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(move || async move { axum::Json(openapi.as_ref().clone()) }))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(ui::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .fallback(|| async { ApiError::not_found("page") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(count_responses))
        .with_state(state)
}
