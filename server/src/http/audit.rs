//! Recording user actions in the audit log, in one place: a middleware
//! around every route gives each request an empty [`AuditSlot`]; whoever
//! authenticates the request (the API's `Auth`, the UI's `Session`, a
//! successful sign-in) fills it with the actor; after the answer, every
//! request that changes something (not GET/HEAD/OPTIONS) and has an actor
//! is recorded with its route, path, status and the client's address.
//! A failed write of the log is logged, never turned into a failed answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::storage::AuditEntry;

/// Who a request acts for, once known.
#[derive(Clone, Default)]
pub(crate) struct AuditSlot(Arc<Mutex<Option<AuditEntry>>>);

/// Fills the request's slot (if it has one) with its actor.
pub(crate) fn set_actor(
    parts: &Parts,
    account_id: &str,
    user_id: Option<&str>,
    username: &str,
    api_key_id: Option<&str>,
    via: &'static str,
) {
    if let Some(slot) = parts.extensions.get::<AuditSlot>()
        && let Ok(mut actor) = slot.0.lock()
    {
        *actor = Some(AuditEntry {
            account_id: account_id.to_owned(),
            user_id: user_id.map(str::to_owned),
            username: username.to_owned(),
            api_key_id: api_key_id.map(str::to_owned),
            via,
            ..AuditEntry::default()
        });
    }
}

pub(crate) async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let target = request.uri().path().to_owned();
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical().to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    let actor = slot.0.lock().ok().and_then(|mut a| a.take());
    if let Some(mut entry) = actor {
        entry.action = format!("{method} {}", route.as_deref().unwrap_or(&target));
        entry.target = target;
        entry.status = response.status().as_u16();
        entry.ip = ip;
        if let Err(e) = state.store.record_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "recording an action in the audit log failed");
        }
    }
    response
}
