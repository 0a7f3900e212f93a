//! `/api/v1/connectors`: every link to an SMSC with its state and counters.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::connectors::{ConnectorHandle, LinkStats};
use crate::http::{ApiError, AppState, Auth};

#[derive(Serialize, ToSchema)]
pub struct ConnectorList {
    pub connectors: Vec<ConnectorView>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorView {
    pub name: String,
    /// `sim` or `smpp`.
    pub kind: String,
    /// At least one session can send.
    pub up: bool,
    pub binds_up: u64,
    pub binds_configured: u64,
    /// Submissions awaiting an answer, and the most allowed.
    pub window_used: u64,
    pub window_size: u64,
    pub submitted: u64,
    pub acked: u64,
    pub errors: u64,
    pub throttled: u64,
    pub receipts: u64,
    pub inbound: u64,
}

impl ConnectorView {
    pub fn of(h: &ConnectorHandle) -> Self {
        let s = &h.stats;
        Self {
            name: h.name.to_string(),
            kind: h.kind.as_str().to_owned(),
            up: h.is_up(),
            binds_up: LinkStats::get(&s.binds_up),
            binds_configured: LinkStats::get(&s.binds_configured),
            window_used: LinkStats::get(&s.window_used),
            window_size: LinkStats::get(&s.window_size),
            submitted: LinkStats::get(&s.submitted),
            acked: LinkStats::get(&s.acked),
            errors: LinkStats::get(&s.errors),
            throttled: LinkStats::get(&s.throttled),
            receipts: LinkStats::get(&s.receipts),
            inbound: LinkStats::get(&s.inbound),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/connectors", tag = "connectors",
    responses((status = 200, body = ConnectorList), (status = 401, body = crate::http::error::ErrorBody)))]
pub async fn list_connectors(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<ConnectorList>, ApiError> {
    Ok(Json(ConnectorList { connectors: state.connectors.all().iter().map(ConnectorView::of).collect() }))
}
