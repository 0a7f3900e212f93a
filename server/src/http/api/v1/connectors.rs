//! `/api/v1/connectors`: every link to an SMSC with its state and counters;
//! for the platform operator, a connector's settings (secrets masked) and
//! the routes (`/api/v1/routes`), and adding, changing and removing
//! connectors and routes at run time (stored; those of the configuration
//! file change only there); and, for simulated connectors only, a phone that sends a message
//! (`POST /api/v1/connectors/{name}/inbound`: the operator to any number,
//! other accounts to their own dedicated numbers) — the one place HTTP
//! hands something to a connector, so that demos and tests receive through
//! the same path as an operator's deliver_sm.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use utoipa::ToSchema;

use crate::config::{ConfigError, ConnectorConfig, ConnectorKind, RouteConfig};
use crate::connectors::{
    Command, ConnectorHandle, InboundSms, LinkStats, RouteEntry, Source, sync_from_store,
};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{ConnectorInUse, RouteWrite, now_micros, number_spellings};

#[derive(Serialize, ToSchema)]
pub struct ConnectorList {
    pub connectors: Vec<ConnectorView>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorView {
    pub name: String,
    /// `sim` or `smpp`.
    pub kind: String,
    /// `file` (the configuration file's) or `api` (added at run time).
    pub source: Source,
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
            source: h.source,
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
    /// The connector's settings, keyed as in the configuration file; a
    /// password is `***` when set.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

impl ConnectorDetail {
    pub fn of(h: &ConnectorHandle) -> Self {
        Self { status: ConnectorView::of(h), settings: h.config.settings_json() }
    }
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
    require_operator_for(&auth)?;
    let handle = state.connectors.get(&name).ok_or_else(|| ApiError::not_found("connector"))?;
    Ok(Json(ConnectorDetail::of(&handle)))
}

/// A connector to add or change: `name` (when adding) and `kind` beside the
/// settings of that kind, keyed exactly as a `[[connectors]]` table of the
/// configuration file. Changing one replaces all its settings; a password
/// given as `***` keeps the stored one.
#[derive(Deserialize, ToSchema)]
pub struct ConnectorInput {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// Adds a connector at run time (operator): it is stored, started on every
/// node, and may be routed to at once.
#[utoipa::path(post, path = "/api/v1/connectors", tag = "connectors", request_body = ConnectorInput,
    responses((status = 201, body = ConnectorDetail), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_connector(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<ConnectorInput>,
) -> Result<(StatusCode, Json<ConnectorDetail>), ApiError> {
    require_operator_for(&auth)?;
    let mut table = json_table(body.value.settings)?;
    let name = match table.remove("name") {
        Some(toml::Value::String(n)) => n,
        Some(_) => return Err(ApiError::field("name", "must be text")),
        None => return Err(ApiError::field("name", "is required")),
    };
    let detail = save_connector(&state, &auth, &name, table, true).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// Replaces the settings of a connector added at run time (operator); it
/// restarts with them. Those of the configuration file change only there.
#[utoipa::path(put, path = "/api/v1/connectors/{name}", tag = "connectors", request_body = ConnectorInput,
    params(("name" = String, Path, description = "The connector's name")),
    responses((status = 200, body = ConnectorDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn replace_connector(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    body: JsonBody<ConnectorInput>,
) -> Result<Json<ConnectorDetail>, ApiError> {
    require_operator_for(&auth)?;
    let mut table = json_table(body.value.settings)?;
    match table.remove("name") {
        Some(toml::Value::String(n)) if n != name => {
            return Err(ApiError::field("name", "a connector cannot be renamed; add one with the new name"));
        }
        _ => {}
    }
    Ok(Json(save_connector(&state, &auth, &name, table, false).await?))
}

/// Removes a connector added at run time (operator). It stops as at
/// shutdown; messages it had not sent yet are routed again. Refused while
/// stored routes lead to it.
#[utoipa::path(delete, path = "/api/v1/connectors/{name}", tag = "connectors",
    params(("name" = String, Path, description = "The connector's name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_connector(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_operator_for(&auth)?;
    refuse_file_connector(&state, &name)?;
    match state.store.delete_managed_connector(&name).await? {
        Ok(()) => {}
        Err(ConnectorInUse::Missing) => return Err(ApiError::not_found("connector")),
        Err(ConnectorInUse::Routed(routes)) => {
            let listed: Vec<String> = routes.iter().map(|r| format!("{} (id {})", r.prefix, r.id)).collect();
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "connector_in_use",
                format!(
                    "routes lead to '{name}': {}; remove them first (DELETE /api/v1/routes/{{id}})",
                    listed.join(", ")
                ),
            ));
        }
    }
    sync_from_store(&state.store, &state.connectors).await.map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON object as the table the configuration file would have; `null`
/// (which TOML has not) means "leave out".
fn json_table(map: serde_json::Map<String, serde_json::Value>) -> Result<toml::Table, ApiError> {
    let map: serde_json::Map<String, serde_json::Value> =
        map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| ApiError::field("settings", format!("cannot be read: {e}")))
}

fn refuse_file_connector(state: &AppState, name: &str) -> Result<(), ApiError> {
    if state.connectors.view().get(name).is_some_and(|c| c.source == Source::File) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "connector_from_file",
            format!("'{name}' comes from the configuration file; change it there (read at start)"),
        ));
    }
    Ok(())
}

/// Checks and stores a connector's settings (`table` holds `kind` and the
/// settings), then runs them: the API's and the web UI's one way to add
/// (`creating`) or change a connector.
pub(crate) async fn save_connector(
    state: &AppState,
    auth: &Auth,
    name: &str,
    mut table: toml::Table,
    creating: bool,
) -> Result<ConnectorDetail, ApiError> {
    require_operator_for(auth)?;
    refuse_file_connector(state, name)?;
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(_) => return Err(ApiError::field("kind", "must be text: \"sim\" or \"smpp\"")),
        None => return Err(ApiError::field("kind", "is required: \"sim\" or \"smpp\"")),
    };
    let stored = state.store.managed_connector(name).await?;
    if !creating && stored.is_none() {
        return Err(ApiError::not_found("connector"));
    }
    // `***` is how a password is shown: keep the stored one.
    if table.get("password").and_then(toml::Value::as_str) == Some("***") {
        let old = stored
            .as_ref()
            .and_then(|s| serde_json::from_str::<toml::Table>(&s.settings).ok())
            .and_then(|mut t| t.remove("password"));
        match old {
            Some(p) => table.insert("password".into(), p),
            None => table.remove("password"),
        };
    }
    ConnectorConfig::from_table(name, &kind, &table).map_err(config_error)?;
    let settings = serde_json::to_string(&table).map_err(ApiError::internal)?;
    let now = now_micros();
    let saved = if creating {
        state.store.insert_managed_connector(name, &kind, &settings, now).await?
    } else {
        state.store.update_managed_connector(name, &kind, &settings, now).await?
    };
    if !saved {
        return Err(if creating {
            ApiError::new(
                StatusCode::CONFLICT,
                "connector_exists",
                format!("a connector is named '{name}' already"),
            )
        } else {
            ApiError::not_found("connector")
        });
    }
    sync_from_store(&state.store, &state.connectors).await.map_err(ApiError::internal)?;
    let handle = state.connectors.get(name).ok_or_else(|| ApiError::not_found("connector"))?;
    Ok(ConnectorDetail::of(&handle))
}

/// A setting the configuration rules refuse, at its key.
fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Key { key, message } if !(key.is_empty() || key == ".") => ApiError::field(key, message),
        // A setting's type error comes from inside the connector's table:
        // "invalid type: …\nin `port`" names the key at its end.
        ConfigError::Key { message, .. } => match message.split_once("\nin `") {
            Some((what, rest)) => {
                ApiError::field(rest.split('`').next().unwrap_or("settings"), what.trim().to_owned())
            }
            None => ApiError::field("settings", message.trim().to_owned()),
        },
        other => ApiError::field("settings", other.to_string()),
    }
}

fn require_operator_for(auth: &Auth) -> Result<(), ApiError> {
    auth.require_operator("sees and changes connector settings and routes")
}

#[derive(Serialize, ToSchema)]
pub struct RouteView {
    /// Stored routes only: the id to remove it by.
    pub id: Option<String>,
    /// `file` (the configuration file's) or `api` (added at run time).
    pub source: Source,
    /// E.164 prefix; the longest matching prefix wins.
    pub prefix: String,
    pub connector: String,
    /// Among routes with the same prefix the lowest is tried first; the
    /// others take over while it is down.
    pub priority: u32,
    /// The connector is up now.
    pub up: bool,
    /// The connector runs on this node. A stored route to a connector that
    /// does not (a stored connector that fails the checks and was skipped,
    /// see the log) is listed but not used.
    pub running: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RouteList {
    /// In the order they are tried: longest prefix first, then priority.
    pub routes: Vec<RouteView>,
    /// Takes messages no route matches (the first connector).
    pub default_connector: Option<String>,
}

/// The routes: the configuration file's and every one added at run time
/// (operator), also those to a connector that does not run here.
#[utoipa::path(get, path = "/api/v1/routes", tag = "connectors",
    responses((status = 200, body = RouteList), (status = 403, body = ErrorBody)))]
pub async fn list_routes(State(state): State<AppState>, auth: Auth) -> Result<Json<RouteList>, ApiError> {
    require_operator_for(&auth)?;
    let view = state.connectors.view();
    let mut routes: Vec<RouteEntry> = view.routes().iter().filter(|r| r.id.is_none()).cloned().collect();
    routes.extend(state.store.managed_routes().await?.into_iter().map(RouteEntry::from));
    routes.sort_by(|a, b| {
        let (a, b) = (&a.route, &b.route);
        b.prefix.len().cmp(&a.prefix.len()).then(a.prefix.cmp(&b.prefix)).then(a.priority.cmp(&b.priority))
    });
    Ok(Json(RouteList {
        routes: routes
            .into_iter()
            .map(|r| {
                let running = view.get(&r.route.connector);
                RouteView {
                    up: running.is_some_and(ConnectorHandle::is_up),
                    running: running.is_some(),
                    source: if r.id.is_some() { Source::Api } else { Source::File },
                    id: r.id,
                    prefix: r.route.prefix,
                    connector: r.route.connector,
                    priority: r.route.priority,
                }
            })
            .collect(),
        default_connector: view.default_connector().map(str::to_owned),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    /// E.164 prefix such as `+48`.
    #[schema(example = "+48")]
    pub prefix: String,
    /// A running connector.
    pub connector: String,
    /// Among routes with the same prefix the lowest is tried first.
    #[serde(default)]
    pub priority: u32,
}

/// Adds a route at run time (operator); every node routes by it at once
/// or within seconds.
#[utoipa::path(post, path = "/api/v1/routes", tag = "connectors", request_body = RouteInput,
    responses((status = 201, body = RouteView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_route(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<RouteInput>,
) -> Result<(StatusCode, Json<RouteView>), ApiError> {
    require_operator_for(&auth)?;
    let input = body.value;
    let route = RouteConfig {
        prefix: input.prefix.trim().to_owned(),
        connector: input.connector,
        priority: input.priority,
    };
    route.check("").map_err(config_error)?;
    if state.connectors.get(&route.connector).is_none() {
        return Err(ApiError::field("connector", format!("no connector is named '{}'", route.connector)));
    }
    let w = RouteWrite {
        prefix: &route.prefix,
        connector: &route.connector,
        priority: i64::from(route.priority),
    };
    let stored = state.store.insert_managed_route(w, now_micros()).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "route_exists",
            format!("a route already leads {} to '{}'", route.prefix, route.connector),
        )
    })?;
    sync_from_store(&state.store, &state.connectors).await.map_err(ApiError::internal)?;
    let running = state.connectors.get(&route.connector);
    Ok((
        StatusCode::CREATED,
        Json(RouteView {
            id: Some(stored.id),
            source: Source::Api,
            prefix: route.prefix,
            connector: route.connector,
            priority: route.priority,
            up: running.as_ref().is_some_and(ConnectorHandle::is_up),
            running: running.is_some(),
        }),
    ))
}

/// Removes a route added at run time (operator).
#[utoipa::path(delete, path = "/api/v1/routes/{id}", tag = "connectors",
    params(("id" = String, Path, description = "The route's id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_route(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_operator_for(&auth)?;
    if !state.store.delete_managed_route(&id).await? {
        return Err(ApiError::not_found("route"));
    }
    sync_from_store(&state.store, &state.connectors).await.map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
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
/// numbers. The simulator reports it like an SMSC's deliver_sm; the answer
/// (`202`) comes once every part is stored, and matching (keywords, opt-out,
/// replies) follows. `503` if the connector stopped or storage failed.
///
/// The platform operator's account may write to any number. Any other
/// account only to a dedicated number it holds (reachable through this
/// connector): a number it does not hold is `404`, as if nobody had it; a
/// shared one is `403`, since the message could match — and act for —
/// another account that shares it.
#[utoipa::path(post, path = "/api/v1/connectors/{name}/inbound", tag = "connectors", request_body = SimulatedInbound,
    params(("name" = String, Path, description = "A connector of kind sim")),
    responses((status = 202, body = SimulatedAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
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
    if !auth.operator {
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
    let stopped =
        || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "connector_stopped", "the connector has stopped");
    for sms in messages {
        let (stored, answer) = oneshot::channel();
        handle.send(Command::Receive { sms, stored }).await.map_err(|_| stopped())?;
        match answer.await {
            Ok(true) => {}
            Ok(false) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_stored",
                    "the message could not be stored; nothing was received",
                ));
            }
            Err(_) => return Err(stopped()),
        }
    }
    Ok((StatusCode::ACCEPTED, Json(SimulatedAccepted { parts: n })))
}
