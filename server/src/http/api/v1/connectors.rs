//! `/api/v1/connectors`: every link to an SMSC with its state and counters;
//! for the platform operator, a connector's settings (secrets masked) and
//! the routes (`/api/v1/routes`), both as the configuration file has them;
//! and, for simulated connectors only, a phone that sends a message
//! (`POST /api/v1/connectors/{name}/inbound`: the operator to any number,
//! other accounts to their own dedicated numbers) — the one place HTTP
//! hands something to a connector, so that demos and tests receive through
//! the same path as an operator's deliver_sm.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{ConnectorConfig, ConnectorKind};
use crate::connectors::{Command, ConnectorHandle, InboundSms, LinkStats};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::number_spellings;

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

#[derive(Serialize, ToSchema)]
pub struct ConnectorDetail {
    pub status: ConnectorView,
    /// The connector's settings as the configuration file has them (they
    /// change only there, at the next start); a password is `***` when set.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

/// One connector's state and settings (operator).
#[utoipa::path(get, path = "/api/v1/connectors/{name}", tag = "connectors",
    params(("name" = String, Path, description = "The connector's name")),
    responses((status = 200, body = ConnectorDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_connector(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<ConnectorDetail>, ApiError> {
    require_operator_for(&state, &auth).await?;
    let handle = state.connectors.get(&name).ok_or_else(|| ApiError::not_found("connector"))?;
    let settings = state
        .config
        .effective_connectors()
        .iter()
        .find(|c| c.name == name)
        .map(ConnectorConfig::settings_json)
        .unwrap_or_default();
    Ok(Json(ConnectorDetail { status: ConnectorView::of(handle), settings }))
}

async fn require_operator_for(state: &AppState, auth: &Auth) -> Result<(), ApiError> {
    crate::http::auth::require_operator(state, auth, "sees connector settings and routes").await
}

#[derive(Serialize, ToSchema)]
pub struct RouteView {
    /// E.164 prefix; the longest matching prefix wins.
    pub prefix: String,
    pub connector: String,
    /// Among routes with the same prefix the lowest is tried first; the
    /// others take over while it is down.
    pub priority: u32,
    /// The connector is up now.
    pub up: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RouteList {
    /// In the order they are tried: longest prefix first, then priority.
    pub routes: Vec<RouteView>,
    /// Takes messages no route matches (the first connector).
    pub default_connector: Option<String>,
}

/// The routes, as the configuration file sets them (operator).
#[utoipa::path(get, path = "/api/v1/routes", tag = "connectors",
    responses((status = 200, body = RouteList), (status = 403, body = ErrorBody)))]
pub async fn list_routes(State(state): State<AppState>, auth: Auth) -> Result<Json<RouteList>, ApiError> {
    require_operator_for(&state, &auth).await?;
    let mut routes = state.config.routes.clone();
    routes.sort_by(|a, b| {
        b.prefix.len().cmp(&a.prefix.len()).then(a.prefix.cmp(&b.prefix)).then(a.priority.cmp(&b.priority))
    });
    let up = |name: &str| state.connectors.get(name).is_some_and(ConnectorHandle::is_up);
    Ok(Json(RouteList {
        routes: routes
            .into_iter()
            .map(|r| RouteView {
                up: up(&r.connector),
                prefix: r.prefix,
                connector: r.connector,
                priority: r.priority,
            })
            .collect(),
        default_connector: state.config.effective_connectors().first().map(|c| c.name.clone()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedInbound {
    /// The phone that sends.
    #[schema(example = "+48600100200")]
    pub from: Option<String>,
    /// The number it writes to (ours).
    #[schema(example = "7100")]
    pub to: Option<String>,
    /// A whole message ...
    pub text: Option<String>,
    /// ... or parts of a long one (`seq` from 1), some possibly missing.
    pub parts: Option<Vec<SimulatedPart>>,
    /// With `parts`: how many parts the message has, and its reference.
    pub total: Option<u8>,
    pub reference: Option<u16>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedPart {
    pub seq: u8,
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct SimulatedAccepted {
    /// Parts handed to the simulator.
    pub parts: usize,
}

/// Simulated connectors only: a phone sends a message to one of our
/// numbers. The simulator reports it like an SMSC's deliver_sm; it is
/// stored, then matched (keywords, opt-out, replies).
///
/// The platform operator's account may write to any number. Any other
/// account only to a dedicated number it holds (reachable through this
/// connector): a number it does not hold is `404`, as if nobody had it; a
/// shared one is `403`, since the message could match — and act for —
/// another account that shares it.
#[utoipa::path(post, path = "/api/v1/connectors/{name}/inbound", tag = "connectors", request_body = SimulatedInbound,
    params(("name" = String, Path, description = "A connector of kind sim")),
    responses((status = 202, body = SimulatedAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn simulate_inbound(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    body: JsonBody<SimulatedInbound>,
) -> Result<(StatusCode, Json<SimulatedAccepted>), ApiError> {
    let handle = state.connectors.get(&name).ok_or_else(|| ApiError::not_found("connector"))?;
    if handle.kind != ConnectorKind::Sim {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_simulated",
            format!("'{name}' is a real link; only simulated connectors take simulated messages"),
        ));
    }
    let input = body.value;
    let from =
        input.from.filter(|f| !f.trim().is_empty()).ok_or_else(|| ApiError::field("from", "is required"))?;
    let to = input.to.filter(|t| !t.trim().is_empty()).ok_or_else(|| ApiError::field("to", "is required"))?;
    if !auth.is_operator(&state).await? {
        let holders = state.store.number_holders(&number_spellings(&to)).await?;
        let mine = holders.iter().find(|h| {
            h.account_id == auth.account_id && (h.connectors.is_empty() || h.connectors.contains(&name))
        });
        match mine {
            None => return Err(ApiError::not_found("number")),
            Some(n) if n.kind != "dedicated" => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "{to} is a shared number: only the platform operator's account may simulate messages to it"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let sms =
        |text: String, concat| InboundSms { from: from.clone(), to: to.clone(), text, concat, smsc_id: None };
    let messages = match (input.text, input.parts) {
        (Some(text), None) => vec![sms(text, None)],
        (None, Some(parts)) => {
            let total = input.total.ok_or_else(|| ApiError::field("total", "is required with parts"))?;
            let reference = input.reference.unwrap_or(1);
            if total < 2 {
                return Err(ApiError::field("total", "must be at least 2"));
            }
            let mut out = Vec::with_capacity(parts.len());
            for (i, p) in parts.into_iter().enumerate() {
                if p.seq == 0 || p.seq > total {
                    return Err(ApiError::field(format!("parts[{i}].seq"), format!("must be 1 to {total}")));
                }
                out.push(sms(p.text, Some((reference, total, p.seq))));
            }
            out
        }
        _ => return Err(ApiError::field("text", "give a text or parts")),
    };
    let n = messages.len();
    for m in messages {
        handle.send(Command::Receive(m)).await.map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "connector_stopped", "the connector has stopped")
        })?;
    }
    Ok((StatusCode::ACCEPTED, Json(SimulatedAccepted { parts: n })))
}
