//! The running connectors and the routes to them. The configuration file's
//! connectors run from start to stop; those the operator stores at run time
//! (`/api/v1/connectors`, the web UI) are started, restarted with new
//! settings and retired as the database says, on every node: each node
//! syncs when its own API changes them and every few seconds for the
//! others' changes.
//!
//! Readers (the dispatcher, the API) take a [`View`]: a snapshot of the
//! connectors and the router that a change replaces whole, so a step of the
//! dispatcher never sees half a change.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{BindLeases, ConnectorHandle, Event, start};
use crate::config::{ConnectorConfig, ConnectorKind, RouteConfig};
use crate::routing::Router;
use crate::storage::{ManagedRoute, Store};

/// Where a connector's or a route's settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The configuration file: changed there, read at start.
    File,
    /// Stored by the operator through the API or the web UI.
    Api,
}

/// A route with where it comes from; stored routes have an id.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEntry {
    pub id: Option<String>,
    pub route: RouteConfig,
}

impl From<ManagedRoute> for RouteEntry {
    fn from(r: ManagedRoute) -> Self {
        Self {
            id: Some(r.id),
            route: RouteConfig {
                prefix: r.prefix,
                connector: r.connector,
                priority: u32::try_from(r.priority).unwrap_or(u32::MAX),
            },
        }
    }
}

/// The connectors and routes at one moment.
pub struct View {
    ordered: Vec<ConnectorHandle>,
    by_name: HashMap<Arc<str>, usize>,
    router: Router,
    routes: Vec<RouteEntry>,
}

impl View {
    fn new(ordered: Vec<ConnectorHandle>, routes: Vec<RouteEntry>) -> Self {
        let by_name = ordered.iter().enumerate().map(|(i, h)| (h.name.clone(), i)).collect();
        let names: Vec<String> = ordered.iter().map(|h| h.name.to_string()).collect();
        let plain: Vec<RouteConfig> = routes.iter().map(|r| r.route.clone()).collect();
        // A simulator first (the embedded `sim` stays first when real links
        // are added at run time) takes what no route matches, but never a
        // routed message whose links are down: it would "deliver" it.
        let default_is_sim = ordered.first().is_some_and(|h| h.kind == ConnectorKind::Sim);
        let router = Router::new(&plain, &names).default_fails_over(!default_is_sim);
        Self { ordered, by_name, router, routes }
    }

    pub fn get(&self, name: &str) -> Option<&ConnectorHandle> {
        self.by_name.get(name).map(|&i| &self.ordered[i])
    }

    /// In order: the file's, then the stored ones oldest first.
    pub fn all(&self) -> &[ConnectorHandle] {
        &self.ordered
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Every route in use (those to a connector that runs).
    pub fn routes(&self) -> &[RouteEntry] {
        &self.routes
    }

    /// The connector that takes what no route matches.
    pub fn default_connector(&self) -> Option<&str> {
        self.ordered.first().map(|h| &*h.name)
    }
}

/// The running connectors; cheap to clone, shared by the dispatcher, the
/// API and the sync loop.
#[derive(Clone)]
pub struct Connectors {
    shared: Arc<Shared>,
}

struct Shared {
    view: RwLock<Arc<View>>,
    file_routes: Vec<RouteConfig>,
    links: std::sync::Mutex<Links>,
    /// One sync at a time.
    syncing: tokio::sync::Mutex<()>,
}

/// What starting a connector needs; `events` is dropped at shutdown so
/// the recorder can end.
struct Links {
    events: Option<mpsc::Sender<Event>>,
    shutdown: CancellationToken,
    leases: Arc<dyn BindLeases>,
    tasks: JoinSet<anyhow::Result<()>>,
}

/// How often a node looks for connectors changed by another node.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(5);

impl Connectors {
    /// Starts the configuration file's connectors with its routes.
    pub fn start(
        file: &[ConnectorConfig],
        routes: &[RouteConfig],
        events: mpsc::Sender<Event>,
        leases: Arc<dyn BindLeases>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let ordered: Vec<ConnectorHandle> = file
            .iter()
            .map(|cfg| start(cfg, Source::File, &events, &shutdown, &leases, &mut tasks, None))
            .collect();
        let entries = routes.iter().map(|r| RouteEntry { id: None, route: r.clone() }).collect();
        Self {
            shared: Arc::new(Shared {
                view: RwLock::new(Arc::new(View::new(ordered, entries))),
                file_routes: routes.to_vec(),
                links: std::sync::Mutex::new(Links { events: Some(events), shutdown, leases, tasks }),
                syncing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The connectors and routes now.
    pub fn view(&self) -> Arc<View> {
        self.shared.view.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn get(&self, name: &str) -> Option<ConnectorHandle> {
        self.view().get(name).cloned()
    }

    pub fn all(&self) -> Vec<ConnectorHandle> {
        self.view().all().to_vec()
    }

    /// Runs what `stored` says beside the file's connectors: starts new
    /// ones, restarts changed ones, retires removed ones, and routes by the
    /// file's routes and `routes` (those to a connector that runs). Stored
    /// connectors named like one of the file are skipped.
    fn apply(&self, stored: Vec<ConnectorConfig>, routes: Vec<RouteEntry>) {
        let current = self.view();
        let mut retired = Vec::new();
        let mut ordered: Vec<ConnectorHandle> =
            current.all().iter().filter(|h| h.source == Source::File).cloned().collect();
        {
            let mut links = self.shared.links.lock().unwrap_or_else(PoisonError::into_inner);
            let Links { events, shutdown, leases, tasks } = &mut *links;
            let Some(events) = events.as_ref() else {
                return; // shutting down: nothing starts any more
            };
            for cfg in stored {
                if ordered.iter().any(|h| *h.name == *cfg.name) {
                    tracing::warn!(connector = %cfg.name, "a stored connector has the name of one in the file; skipped");
                    continue;
                }
                match current.get(&cfg.name) {
                    Some(h) if *h.config == cfg => ordered.push(h.clone()),
                    was => {
                        if let Some(old) = was {
                            retired.push(old.clone());
                        }
                        // A changed one's new instance opens its sessions
                        // once the old one has ended (`Turn`).
                        tracing::info!(connector = %cfg.name, kind = cfg.kind().as_str(), "starting a stored connector");
                        ordered.push(start(&cfg, Source::Api, events, shutdown, leases, tasks, was));
                    }
                }
            }
        }
        for h in current.all() {
            if h.source == Source::Api && !ordered.iter().any(|n| n.name == h.name) {
                retired.push(h.clone());
            }
        }
        let mut entries: Vec<RouteEntry> =
            self.shared.file_routes.iter().map(|r| RouteEntry { id: None, route: r.clone() }).collect();
        entries.extend(routes.into_iter().filter(|r| ordered.iter().any(|h| *h.name == *r.route.connector)));
        *self.shared.view.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(View::new(ordered, entries));
        // Only now that no step can pick them do they stop.
        for h in retired {
            tracing::info!(connector = %h.name, "retiring a connector: removed or changed");
            h.retire();
        }
    }

    /// Stops every connector (each finishes its window, bounded by
    /// `grace`) and lets go of the event sink, so the recorder can end.
    pub async fn stop(&self, grace: Duration) {
        let mut tasks = {
            let mut links = self.shared.links.lock().unwrap_or_else(PoisonError::into_inner);
            links.shutdown.cancel();
            links.events = None;
            std::mem::take(&mut links.tasks)
        };
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!("connectors did not stop within the grace period; stopping them");
            tasks.shutdown().await;
        }
    }

    /// Reaps connector tasks that ended (retired ones), so they do not
    /// pile up; logs a task that panicked.
    fn reap(&self) {
        let mut links = self.shared.links.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(ended) = links.tasks.try_join_next() {
            if let Err(e) = ended {
                tracing::error!(error = %e, "connector task failed");
            }
        }
    }

    /// Every sync reads and applies under one lock, so a sync that read
    /// the database earlier never applies after one that read it later.
    async fn one_at_a_time(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.shared.syncing.lock().await
    }

    /// Syncs with the database every [`SYNC_INTERVAL`] until `shutdown`.
    pub async fn run_sync(self, store: Store, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            if let Err(e) = sync_from_store(&store, &self).await {
                tracing::error!(error = %format!("{e:#}"), "cannot read the stored connectors; keeping the running ones");
            }
            self.reap();
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(SYNC_INTERVAL) => {}
            }
        }
    }
}

/// Reads the stored connectors and routes and runs what they say. A stored
/// connector whose settings no longer read (after an upgrade, say) is
/// skipped with an error in the log.
pub async fn sync_from_store(store: &Store, connectors: &Connectors) -> anyhow::Result<()> {
    let _one = connectors.one_at_a_time().await;
    let mut stored = Vec::new();
    for m in store.managed_connectors().await? {
        let parsed = serde_json::from_str::<toml::Table>(&m.settings)
            .map_err(|e| e.to_string())
            .and_then(|t| ConnectorConfig::from_table(&m.name, &m.kind, &t).map_err(|e| e.to_string()));
        match parsed {
            Ok(cfg) => stored.push(cfg),
            Err(e) => {
                tracing::error!(connector = %m.name, error = %e, "a stored connector cannot be read; not started")
            }
        }
    }
    let routes = store.managed_routes().await?.into_iter().map(RouteEntry::from).collect();
    connectors.apply(stored, routes);
    Ok(())
}
