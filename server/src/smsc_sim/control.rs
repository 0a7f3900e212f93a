//! The simulator's HTTP control port (`--http ADDR`): inject MO messages,
//! read counters and received messages, switch faults, cut connections.
//!
//! A small axum router over the same shared state the sessions use. Every
//! answer is JSON; bad input gets a 4xx with `{"error": {"code", "message"}}`
//! (the shape of Kurier's own API), never a panic. It has no authentication:
//! bind it to loopback or a test network only.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::store::InjectError;
use super::{Behaviour, Shared, SimHandle};

/// Largest request body the control port reads.
pub const MAX_BODY: usize = 64 * 1024;
/// Most messages `GET /messages` returns; also the default `limit` is 100.
pub const MAX_LIST: usize = 10_000;
const DEFAULT_LIST: usize = 100;

/// A running control port; it stops with its simulator.
pub struct ControlServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ControlServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server has stopped (after the simulator's `stop`).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Serves the control API for `sim` on `addr` until the simulator stops.
pub async fn serve_control(sim: &SimHandle, addr: SocketAddr) -> anyhow::Result<ControlServer> {
    let shared = sim.shared();
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("SMSC simulator: cannot listen for HTTP on {addr}"))?;
    let addr = listener.local_addr()?;
    let shutdown = shared.shutdown.clone();
    let app = router(shared);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "SMSC simulator: control port stopped");
        }
    });
    Ok(ControlServer { addr, task })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/mo", post(inject_mo))
        .route("/stats", get(stats))
        .route("/messages", get(messages))
        .route("/behaviour", get(get_behaviour).put(set_behaviour).post(set_behaviour))
        .route("/disconnect", post(disconnect))
        .fallback(|| async { ControlError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|method: Method| async move {
            let message = format!("{method} is not allowed here; the Allow header lists what is");
            ControlError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// A 4xx answer.
#[derive(Debug)]
struct ControlError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ControlError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ControlError { status, code, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        ControlError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

/// Reads a JSON object body: unreadable or not JSON → 400, wrong shape → 422.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ControlError> {
    let body = body.map_err(|r| {
        let status =
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE { r.status() } else { StatusCode::BAD_REQUEST };
        ControlError::new(status, "unreadable_body", r.body_text())
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_data() {
            ControlError::invalid(e.to_string())
        } else {
            ControlError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            )
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoRequest {
    from: String,
    to: String,
    text: String,
    /// The account whose receiver gets it; any bound receiver when absent.
    #[serde(default)]
    system_id: Option<String>,
}

async fn inject_mo(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let req: MoRequest = parse_body(body)?;
    if req.text.is_empty() {
        return Err(ControlError::invalid("'text' must not be empty"));
    }
    match shared.store.inject_mo(req.system_id.as_deref(), &req.from, &req.to, &req.text) {
        Ok((system_id, parts)) => {
            Ok((StatusCode::ACCEPTED, Json(json!({"system_id": system_id, "parts": parts}))))
        }
        Err(e @ InjectError::NoReceiver(_)) => {
            Err(ControlError::new(StatusCode::CONFLICT, "no_receiver", e.to_string()))
        }
        Err(InjectError::Invalid(e)) => Err(ControlError::invalid(e.to_string())),
        Err(e @ InjectError::Full(_)) => {
            Err(ControlError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string()))
        }
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let mut body = serde_json::to_value(shared.store.stats()).unwrap_or_else(|_| json!({}));
    if let Some(object) = body.as_object_mut() {
        object.insert("behaviour".into(), Value::String(shared.fault.current().to_string()));
    }
    Json(body)
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ControlError> {
    let mut limit = DEFAULT_LIST;
    for pair in query.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("limit", value)) => {
                limit =
                    value.parse::<usize>().ok().filter(|n| (1..=MAX_LIST).contains(n)).ok_or_else(|| {
                        ControlError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_parameter",
                            format!("'limit' must be a number from 1 to {MAX_LIST}"),
                        )
                    })?;
            }
            _ => {
                return Err(ControlError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    format!("unknown query parameter '{pair}'; only 'limit' is understood"),
                ));
            }
        }
    }
    Ok(Json(json!({"messages": shared.store.received(limit)})))
}

async fn get_behaviour(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"behaviour": shared.fault.current().to_string()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BehaviourRequest {
    behaviour: String,
}

async fn set_behaviour(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ControlError> {
    let req: BehaviourRequest = parse_body(body)?;
    let behaviour: Behaviour =
        req.behaviour.parse().map_err(|e: super::BadBehaviour| ControlError::invalid(e.to_string()))?;
    shared.fault.set(behaviour);
    Ok(Json(json!({"behaviour": behaviour.to_string()})))
}

async fn disconnect(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<Value>) {
    let dropped = super::disconnect_all(&shared);
    (StatusCode::ACCEPTED, Json(json!({"dropped": dropped})))
}
