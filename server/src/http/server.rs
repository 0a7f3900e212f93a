//! The HTTP listener: the router on hyper's HTTP/1 connections, with the
//! limits `axum::serve` leaves out. Without a timer hyper reads a request's
//! headers for as long as the client takes, and nothing bounds the open
//! connections: a client that opens thousands and sends a byte now and then
//! would hold a task and a file descriptor each, until the process had none
//! left for SMPP sessions and database connections. Here a request's headers
//! must arrive within `header_timeout`, and at most `max_connections` are
//! open at once (the next waits in the kernel's backlog until one closes).
//!
//! Stopping: no new connection is taken, each open one finishes the
//! request in progress and closes, and `serve` returns when all have.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

/// How long the listener waits for a client and for what it sends.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers must arrive within this (from its first byte, or
    /// from when the connection is ready for the next request).
    pub header_timeout: Duration,
    /// Connections open at once, at most.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` is cancelled and every
/// open connection has finished.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: CancellationToken) {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = open.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was
                    // taken: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = router.clone().map_request(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service), limits, stop).await;
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection<S>(
    io: TokioIo<tokio::net::TcpStream>,
    service: S,
    limits: Limits,
    stop: CancellationToken,
) where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = axum::response::Response> + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        }
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
