//! Builds and starts the subsystems (storage, connectors, dispatcher,
//! recorder, callbacks, HTTP), and stops them in the order that loses
//! nothing: stop taking work, let connectors finish their windows, record
//! every answer, put unsent claims back in the queue, close the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::campaigns::fanout::FanOut;
use crate::clock::Clock;
use crate::config::Config;
use crate::connectors::{BIND_LEASE_SECS, BindLeases, Connectors, LeaseFuture, sync_from_store};
use crate::dispatch::{Dispatcher, InFlight, Recorder};
use crate::http::{self, AppState};
use crate::mail::Mailer;
use crate::notifications::worker::NotificationWorker;
use crate::outbound::OutboundPolicy;
use crate::storage::{AuditLog, Bootstrap, Intake, Store, now_micros};
use crate::telemetry;
use crate::webhooks::WebhookSender;

/// Values for the first start's admin, normally from `KURIER_ADMIN_PASSWORD`
/// and `KURIER_ADMIN_API_KEY`; generated when absent.
#[derive(Debug, Clone, Default)]
pub struct AdminSeed {
    pub password: Option<String>,
    pub api_key: Option<String>,
}

impl AdminSeed {
    pub fn from_env() -> Self {
        let get = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        Self { password: get("KURIER_ADMIN_PASSWORD"), api_key: get("KURIER_ADMIN_API_KEY") }
    }
}

/// Events buffered between connectors and the recorder.
const EVENT_BUFFER: usize = 16_384;
/// How often the callback worker looks for due callbacks.
const WEBHOOK_POLL: Duration = Duration::from_millis(200);

/// A running Kurier.
pub struct App {
    addr: SocketAddr,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub store: Store,
    /// The wall clock notifications are scheduled by (tests move it).
    pub clock: Clock,
    /// What the first start created (printed once by `kurier serve`).
    pub bootstrap: Option<Bootstrap>,
}

/// Bind leases kept in the database, held in this node's name.
struct NodeLeases {
    store: Store,
    node: String,
}

impl BindLeases for NodeLeases {
    fn hold<'a>(&'a self, connector: &'a str, slot: usize) -> LeaseFuture<'a, bool> {
        Box::pin(async move {
            let now = now_micros();
            let until = now + BIND_LEASE_SECS as i64 * 1_000_000;
            let slot = i64::try_from(slot).unwrap_or(i64::MAX);
            match self.store.hold_bind_lease(connector, slot, &self.node, now, until).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(connector, slot, error = %e, "cannot take or renew a bind lease");
                    false
                }
            }
        })
    }

    fn release<'a>(&'a self, connector: &'a str, slot: usize) -> LeaseFuture<'a, ()> {
        Box::pin(async move {
            let slot = i64::try_from(slot).unwrap_or(i64::MAX);
            if let Err(e) = self.store.release_bind_lease(connector, slot, &self.node).await {
                tracing::warn!(connector, slot, error = %e, "cannot release a bind lease; it lapses by itself");
            }
        })
    }
}

impl App {
    pub async fn start(config: Config, admin: AdminSeed) -> anyhow::Result<App> {
        let config = Arc::new(config);
        // The phone number metadata loads on first use, ~70 ms on a 2-core
        // machine; loaded meanwhile, the first requests do not wait for it.
        let phone_metadata = tokio::task::spawn_blocking(crate::domain::load_metadata);
        let store = Store::open(
            &config.database.url,
            config.database.max_connections,
            &config.database.sqlite_synchronous,
        )
        .await?;
        let bootstrap = store.bootstrap(admin.password.as_deref(), admin.api_key.as_deref()).await?;
        let node = config.node_id();
        let recovered = store
            .requeue_sending(Some(&node), now_micros(), "re-queued: Kurier restarted while sending")
            .await?;
        if recovered > 0 {
            tracing::warn!(messages = recovered, node, "recovered messages left in sending by the last run");
        }

        let released = store.release_runs_of(&node).await?;
        if released > 0 {
            tracing::warn!(runs = released, node, "resuming campaign fan-outs left by the last run");
        }

        let shutdown = CancellationToken::new();
        let mut intake: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();

        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let leases: Arc<dyn BindLeases> = Arc::new(NodeLeases { store: store.clone(), node: node.clone() });
        let connectors = Connectors::start(&config.effective_connectors(), &config.routes, events_tx, leases);
        sync_from_store(&store, &connectors).await.context("starting the stored connectors")?;
        let token = shutdown.clone();
        let syncing = connectors.clone();
        let synced_store = store.clone();
        intake.spawn(async move { ("connector sync", syncing.run_sync(synced_store, token).await) });
        let in_flight = InFlight::default();
        let retry = Dispatcher::retry_policy(&config.dispatch);
        let recorder = tokio::spawn(Recorder::new(store.clone(), events_rx, retry, in_flight.clone()).run());

        let dispatcher = Dispatcher::new(
            store.clone(),
            connectors.clone(),
            node.clone(),
            config.dispatch.clone(),
            in_flight.clone(),
        );
        let token = shutdown.clone();
        intake.spawn(async move { ("dispatcher", dispatcher.run(token).await) });

        let fan_out =
            FanOut::new(store.clone(), node.clone(), in_flight.wake.clone(), config.messages.max_segments);
        let campaigns_wake = fan_out.waker();
        let token = shutdown.clone();
        intake.spawn(async move { ("campaigns", fan_out.run(token).await) });

        let clock = Clock::system();
        let outbound = OutboundPolicy::new(config.server.outbound_denied_networks.clone());
        let notifications = NotificationWorker::new(
            store.clone(),
            node.clone(),
            clock.clone(),
            Mailer::new(&config.smtp)?,
            config.default_region(),
            config.messages.max_segments,
            in_flight.wake.clone(),
            &outbound,
        );
        let token = shutdown.clone();
        intake.spawn(async move { ("notifications", notifications.run(token).await) });

        let inbound = crate::inbound::InboundWorker::new(
            store.clone(),
            node.clone(),
            config.inbound.clone(),
            config.default_region(),
            config.messages.max_segments,
            in_flight.wake.clone(),
        );
        let token = shutdown.clone();
        intake.spawn(async move { ("inbound", inbound.run(token).await) });

        let billing = crate::billing::BillingWorker::new(
            store.clone(),
            Mailer::new(&config.smtp)?,
            config.billing.clone(),
        );
        let token = shutdown.clone();
        intake.spawn(async move { ("billing", billing.run(token).await) });

        let outbox = crate::mail::outbox::MailOutbox::new(store.clone(), node.clone(), &config.smtp)?;
        let token = shutdown.clone();
        intake.spawn(async move { ("mail outbox", outbox.run(token).await) });

        let webhooks =
            WebhookSender::new(store.clone(), node.clone(), config.webhooks.clone(), outbound.clone())?;
        let token = shutdown.clone();
        intake.spawn(async move { ("callbacks", webhooks.run(WEBHOOK_POLL, token).await) });

        phone_metadata.await.context("loading the phone number metadata")?;
        let listener = TcpListener::bind(config.server.http_listen).await.with_context(|| {
            format!("cannot listen on {} (server.http_listen)", config.server.http_listen)
        })?;
        let addr = listener.local_addr()?;
        let state = AppState {
            store: store.clone(),
            intake: Intake::spawn(store.clone()),
            audit: AuditLog::spawn(store.clone()),
            config: config.clone(),
            region: config.default_region(),
            connectors: connectors.clone(),
            dispatch: in_flight,
            campaigns: campaigns_wake,
            clock: clock.clone(),
            metrics: telemetry::prometheus(),
            shutdown: shutdown.clone(),
        };
        let token = shutdown.clone();
        let limits = http::server::Limits {
            header_timeout: Duration::from_secs(config.server.http_header_timeout_secs),
            max_connections: config.server.max_http_connections,
        };
        intake.spawn(async move {
            http::server::serve(listener, http::router(state), limits, token).await;
            ("http", Ok(()))
        });

        let grace = Duration::from_secs(config.server.shutdown_grace_secs);
        let done = tokio::spawn(supervise(
            intake,
            connectors,
            recorder,
            shutdown.clone(),
            store.clone(),
            node,
            grace,
        ));
        tracing::info!(%addr, database = %redact(&config.database.url), "Kurier is up");
        Ok(App { addr, shutdown, done, store, clock, bootstrap })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cancelling this token stops the app gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until stopped (by the token or a failing subsystem).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await.context("supervisor task")?
    }

    /// Stops gracefully and waits until everything is recorded.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

async fn supervise(
    mut intake: JoinSet<(&'static str, anyhow::Result<()>)>,
    connectors: Connectors,
    recorder: tokio::task::JoinHandle<anyhow::Result<()>>,
    shutdown: CancellationToken,
    store: Store,
    node: String,
    grace: Duration,
) -> anyhow::Result<()> {
    let mut failure = None;
    // 1. Run until asked to stop or until a subsystem ends by itself.
    tokio::select! {
        biased;
        () = shutdown.cancelled() => {}
        Some(ended) = intake.join_next() => {
            let (name, result) = ended.unwrap_or(("a task", Err(anyhow::anyhow!("panicked"))));
            // A task that ends cleanly because shutdown began is no failure.
            if !(shutdown.is_cancelled() && result.is_ok()) {
                let err = result.err().unwrap_or_else(|| anyhow::anyhow!("ended unexpectedly"));
                tracing::error!(subsystem = name, error = %format!("{err:#}"), "subsystem stopped; shutting down");
                failure = Some(err.context(format!("{name} stopped")));
                shutdown.cancel();
            }
        }
    }
    tracing::info!("shutting down: no new work is taken");
    // 2. Stop taking work: HTTP, dispatcher and callbacks finish what they do.
    while let Some(ended) = intake.join_next().await {
        if let Ok((name, Err(e))) = ended {
            tracing::error!(subsystem = name, error = %format!("{e:#}"), "stopped with an error");
        }
    }
    // 3. Connectors finish their windows and report; then the recorder
    //    writes every last report and ends.
    connectors.stop(grace).await;
    recorder.await.context("recorder task")??;
    // 4. What was claimed but never handed over goes back to the queue.
    let requeued = store.requeue_sending(Some(&node), now_micros(), "re-queued at shutdown").await?;
    if requeued > 0 {
        tracing::info!(messages = requeued, "re-queued unsent messages");
    }
    store.close().await;
    tracing::info!("stopped");
    failure.map_or(Ok(()), Err)
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://kurier.db"), "sqlite://kurier.db");
    }
}
