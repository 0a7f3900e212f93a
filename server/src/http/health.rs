//! Health and metrics for operators and orchestrators: `/healthz` (the
//! process answers), `/readyz` (the database answers and every connector
//! is up), `/metrics` (Prometheus text format).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use crate::telemetry;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let view = state.connectors.view();
    let connectors: Vec<_> =
        view.all().iter().map(|c| json!({ "name": &*c.name, "up": c.is_up() })).collect();
    let all_up = view.all().iter().all(|c| c.is_up());
    let ready = database && all_up;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready, "database": database, "connectors": connectors })))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    telemetry::connectors(&state.connectors.all());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
