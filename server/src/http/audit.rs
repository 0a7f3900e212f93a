//! Recording user actions in the audit log, in one place: a middleware
//! around every route gives each request an empty [`AuditSlot`]; whoever
//! authenticates the request (the API's `Auth`, the UI's `Session`, a
//! successful sign-in) fills it with the actor; after the answer, every
//! request that changes something (not GET/HEAD/OPTIONS) and has an actor
//! is recorded with its route, path, status and the client's address
//! (behind a trusted proxy, the forwarded one: `auth::client_ip`).
//! So is every data export (a GET of a `.csv` or `.xlsx` download), as
//! `export GET <route>` with the path and query asked for; signing out is
//! recorded as `sign-out`. A failed write of the log is logged, never
//! turned into a failed answer.
//!
//! A handler that stores its work through a group-commit writer can take the
//! finished entry from the slot ([`AuditSlot::entry`]) and store it in the
//! same transaction; it then marks the slot recorded so the middleware does
//! not write it again. Sending messages does this: one disk sync, not two.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::storage::AuditEntry;

/// Who a request acts for, once known, and what it does.
#[derive(Clone, Default)]
pub(crate) struct AuditSlot(Arc<Mutex<Pending>>);

#[derive(Default)]
struct Pending {
    /// Set by whoever authenticates the request.
    actor: Option<AuditEntry>,
    /// Set by the middleware before the handler runs.
    action: String,
    target: String,
    ip: String,
    /// The handler stored the entry itself.
    recorded: bool,
}

impl Pending {
    fn entry(&self, status: u16) -> Option<AuditEntry> {
        let actor = self.actor.as_ref()?;
        Some(AuditEntry {
            action: self.action.clone(),
            target: self.target.clone(),
            ip: self.ip.clone(),
            status,
            ..actor.clone()
        })
    }
}

impl AuditSlot {
    /// The request's entry as it will be recorded if answered with `status`,
    /// or `None` if no actor is known.
    pub(crate) fn entry(&self, status: u16) -> Option<AuditEntry> {
        self.0.lock().ok()?.entry(status)
    }

    /// The handler stored the entry in its own transaction.
    pub(crate) fn recorded(&self) {
        if let Ok(mut pending) = self.0.lock() {
            pending.recorded = true;
        }
    }
}

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
        && let Ok(mut pending) = slot.0.lock()
    {
        pending.actor = Some(AuditEntry {
            account_id: account_id.to_owned(),
            user_id: user_id.map(str::to_owned),
            username: username.to_owned(),
            api_key_id: api_key_id.map(str::to_owned),
            via,
            ..AuditEntry::default()
        });
    }
}

/// Whether a path is a data export: a CSV or XLSX download.
fn is_export(path: &str) -> bool {
    path.ends_with(".csv") || path.ends_with(".xlsx")
}

pub(crate) async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let export = method == Method::GET && is_export(request.uri().path());
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && !export {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let target = match request.uri().query() {
        Some(q) if export => format!("{}?{q}", request.uri().path()),
        _ => request.uri().path().to_owned(),
    };
    let route = route.as_deref().unwrap_or(request_path(&target));
    let action = match route {
        "/signout" => "sign-out".to_owned(),
        _ if export => format!("export {method} {route}"),
        _ => format!("{method} {route}"),
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = super::auth::forwarded_client(peer, request.headers(), &state.config.server.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let slot = AuditSlot(Arc::new(Mutex::new(Pending { action, target, ip, ..Pending::default() })));
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let entry = slot.0.lock().ok().filter(|p| !p.recorded).and_then(|p| p.entry(response.status().as_u16()));
    if let Some(entry) = entry
        && let Err(e) = state.audit.submit(entry.clone()).await
    {
        tracing::error!(error = %e, action = %entry.action, "recording an action in the audit log failed");
    }
    response
}

/// The path of a target (without its query).
fn request_path(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_exports() {
        assert!(is_export("/api/v1/exports/messages.csv"));
        assert!(is_export("/billing/statement.xlsx"));
        assert!(!is_export("/api/v1/messages"));
        assert_eq!(request_path("/a.csv?x=1"), "/a.csv");
    }
}
