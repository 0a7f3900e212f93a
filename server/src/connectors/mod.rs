//! Connectors: the links Kurier dials to deliver messages (operators' SMSCs
//! over SMPP, the simulated SMSC). This file is the contract every connector
//! keeps; each kind lives in its own file.
//!
//! # The contract
//!
//! A connector is a task that runs until its shutdown token is cancelled.
//! It takes [`Command`]s from its outbox and reports on its event sink:
//!
//! - For every `Submit` it takes, it MUST report exactly one `Submitted`
//!   (with the SMSC's message id) or `SubmitFailed` (temporary: retry later;
//!   permanent: the SMSC refused it). Nothing else may end a submission.
//! - Delivery reports are reported as `DeliveryReport` with the SMSC's id;
//!   they may arrive before the `Submitted` they belong to.
//! - `Query` asks for the state of a message whose report is overdue; the
//!   answer, if the SMSC knows one, is a `DeliveryReport`.
//! - Link state changes are reported as `LinkUp` / `LinkDown`.
//! - On shutdown it stops taking commands, waits (bounded) for answers to
//!   what it already sent, reports them, and returns. Commands left in the
//!   outbox are not reported: their messages are put back in the queue.
//!
//! A connector never touches storage: only `dispatch` records what it reports.

pub mod sim;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{ConnectorConfig, ConnectorKind};
use crate::domain::MessageStatus;

/// A message handed to a connector for submission.
#[derive(Debug, Clone)]
pub struct OutboundSms {
    pub message_id: String,
    /// E.164, e.g. `+48600100200`.
    pub to: String,
    pub from: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Command {
    Submit(OutboundSms),
    /// Ask for the state of a submitted message whose report is overdue.
    Query {
        message_id: String,
        smsc_id: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorEvent {
    Submitted {
        message_id: String,
        smsc_id: String,
    },
    SubmitFailed {
        message_id: String,
        temporary: bool,
        reason: String,
    },
    /// `status` is `None` for intermediate reports (accepted, en route).
    DeliveryReport {
        smsc_id: String,
        status: Option<MessageStatus>,
        detail: String,
    },
    LinkUp,
    LinkDown {
        reason: String,
    },
}

/// An event tagged with the connector that reported it.
#[derive(Debug, Clone)]
pub struct Event {
    pub connector: Arc<str>,
    pub event: ConnectorEvent,
}

/// What a running connector is given.
pub struct Link {
    pub name: Arc<str>,
    pub outbox: mpsc::Receiver<Command>,
    pub shutdown: CancellationToken,
    events: mpsc::Sender<Event>,
    up: Arc<AtomicBool>,
}

impl Link {
    /// Reports an event; waits while the recorder is behind (backpressure).
    pub async fn report(&self, event: ConnectorEvent) {
        match &event {
            ConnectorEvent::LinkUp => self.up.store(true, Ordering::Relaxed),
            ConnectorEvent::LinkDown { .. } => self.up.store(false, Ordering::Relaxed),
            _ => {}
        }
        if self.events.send(Event { connector: self.name.clone(), event }).await.is_err() {
            tracing::error!(connector = %self.name, "event recorder is gone; report lost");
        }
    }
}

/// A kind of connector.
pub trait Connector: Send + 'static {
    /// Runs the link until `link.shutdown` is cancelled, keeping the contract
    /// in this module's documentation.
    fn run(self, link: Link) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The dispatcher's side of a running connector.
#[derive(Clone)]
pub struct ConnectorHandle {
    pub name: Arc<str>,
    tx: mpsc::Sender<Command>,
    up: Arc<AtomicBool>,
}

impl ConnectorHandle {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Hands a command over; waits while the connector's outbox is full.
    /// Fails only when the connector has stopped.
    pub async fn send(&self, command: Command) -> Result<(), Command> {
        self.tx.send(command).await.map_err(|e| e.0)
    }
}

/// Commands buffered per connector beyond its own window.
const OUTBOX_CAPACITY: usize = 1_024;

/// All running connectors by name, in configuration order.
#[derive(Clone, Default)]
pub struct Connectors {
    ordered: Vec<ConnectorHandle>,
    by_name: HashMap<Arc<str>, usize>,
}

impl Connectors {
    /// Starts one task per configured connector.
    pub fn spawn(
        configs: &[ConnectorConfig],
        events: &mpsc::Sender<Event>,
        shutdown: &CancellationToken,
        tasks: &mut JoinSet<anyhow::Result<()>>,
    ) -> Self {
        let mut set = Self::default();
        for cfg in configs {
            let name: Arc<str> = Arc::from(cfg.name.as_str());
            let (tx, outbox) = mpsc::channel(OUTBOX_CAPACITY);
            let up = Arc::new(AtomicBool::new(false));
            let link = Link {
                name: name.clone(),
                outbox,
                shutdown: shutdown.clone(),
                events: events.clone(),
                up: up.clone(),
            };
            match cfg.kind {
                ConnectorKind::Sim => spawn_one(tasks, sim::SimConnector::new(cfg.sim.clone()), link),
            }
            set.by_name.insert(name.clone(), set.ordered.len());
            set.ordered.push(ConnectorHandle { name, tx, up });
        }
        set
    }

    pub fn get(&self, name: &str) -> Option<&ConnectorHandle> {
        self.by_name.get(name).map(|&i| &self.ordered[i])
    }

    pub fn all(&self) -> &[ConnectorHandle] {
        &self.ordered
    }
}

fn spawn_one<C: Connector>(tasks: &mut JoinSet<anyhow::Result<()>>, connector: C, link: Link) {
    let name = link.name.clone();
    tasks.spawn(async move {
        let result = connector.run(link).await;
        if let Err(e) = &result {
            tracing::error!(connector = %name, error = %e, "connector stopped with an error");
        }
        result
    });
}
