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
//!   (with the SMSC's message id of every part, in order, and the number
//!   of SMS segments the text went out as, by its own coding and
//!   concatenation: what the message is charged for) or `SubmitFailed`
//!   (temporary: retry later; permanent: the SMSC refused it). Nothing else
//!   may end a submission. A long message is split by the connector; if any
//!   part is refused the whole message is reported failed.
//! - Delivery reports are reported as `DeliveryReport` with the SMSC's id;
//!   they may arrive before the `Submitted` they belong to.
//! - Messages from phones are reported as `Inbound`, one event per received
//!   part (with its concatenation data); storage reassembles them.
//! - Whatever the connector must acknowledge to its peer (a receipt, an
//!   inbound message) it reports with [`Link::report_stored`] and answers the
//!   peer only after that returns true: nothing is acknowledged before it is
//!   stored.
//! - `Query` asks for the state of a message whose report is overdue; the
//!   answer, if the SMSC knows one, is a `DeliveryReport`.
//! - `Receive` (simulators only) is reported back as `Inbound` with
//!   `report_stored`, and its sender told whether it was stored; other
//!   connectors drop it (the sender then sees it was not).
//! - Link state changes are reported as `LinkUp` / `LinkDown`.
//! - On shutdown it stops taking commands, waits (bounded) for answers to
//!   what it already sent, reports them, and returns. Commands left in the
//!   outbox are not reported: their messages are put back in the queue.
//!
//! A connector never touches storage: only `dispatch` records what it reports.
//! Where nodes must agree (how many sessions an operator lets us open), it
//! asks through [`BindLeases`], which the application backs with storage.
//!
//! Which connectors run is the registry's job (`registry.rs`): those of the
//! configuration file from start to stop, and those the operator stores at
//! run time, started, restarted and retired as the stored settings change.
//! A connector retired while it runs is stopped like at shutdown; the
//! submissions it never took from its outbox are reported for it as
//! `NotTaken` (not a failure: nothing was tried), so their messages go
//! back to the queue as they were and are routed again.

mod registry;
pub mod sim;
pub mod smpp;

pub use registry::{Connectors, RouteEntry, Source, View, sync_from_store};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{ConnectorConfig, ConnectorKind, ConnectorSettings};
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

#[derive(Debug)]
pub enum Command {
    Submit(OutboundSms),
    /// Ask for the state of a submitted message whose report is overdue.
    /// `from` is the message's sender (query_sm must repeat it).
    Query {
        message_id: String,
        smsc_id: String,
        from: Option<String>,
    },
    /// Simulators only: a phone sends this (a whole message or one part);
    /// the simulator reports it as `Inbound`, as an SMSC's deliver_sm
    /// would be, and answers `stored` with true once it is stored (false, or
    /// dropped, if it is not). Links to real SMSCs ignore it.
    Receive {
        sms: InboundSms,
        stored: oneshot::Sender<bool>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorEvent {
    /// Accepted; the SMSC's id of each part, in order (one for a short
    /// message), and the SMS segments the message went out as (its parts,
    /// or those a `message_payload` makes), which it is charged for.
    Submitted {
        message_id: String,
        smsc_ids: Vec<String>,
        segments: usize,
    },
    SubmitFailed {
        message_id: String,
        temporary: bool,
        reason: String,
    },
    /// Never taken: the connector was retired with the submission still
    /// in its outbox. Reported by the registry for it, never by a
    /// connector; the message goes back to the queue without counting an
    /// attempt, as claims are handed back at shutdown.
    NotTaken {
        message_id: String,
        reason: String,
    },
    /// `status` is `None` for intermediate reports (accepted, en route).
    DeliveryReport {
        smsc_id: String,
        status: Option<MessageStatus>,
        detail: String,
    },
    Inbound(InboundSms),
    LinkUp,
    LinkDown {
        reason: String,
    },
}

/// One received SMS (or one part of a long one), decoded to text.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundSms {
    /// The sender: E.164 (`+48600100200`) when the SMSC says it is
    /// international, else as received (alphanumeric or national).
    pub from: String,
    /// The number it was sent to (ours: a long number or a short code).
    pub to: String,
    pub text: String,
    /// For a part of a concatenated message: (reference, total, sequence).
    pub concat: Option<(u16, u8, u8)>,
    /// The SMSC's id of the message, when it gives one.
    pub smsc_id: Option<String>,
}

/// An event tagged with the connector that reported it.
#[derive(Debug)]
pub struct Event {
    pub connector: Arc<str>,
    pub event: ConnectorEvent,
    /// Fired once the event is committed to storage, when the reporter asked.
    pub stored: Option<oneshot::Sender<()>>,
}

/// Counters a connector keeps about its link, shown by the connectors API
/// and `/metrics`. The connector updates them; readers only load.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Sessions (binds) currently established.
    pub binds_up: AtomicU64,
    /// Sessions configured.
    pub binds_configured: AtomicU64,
    /// Submissions sent and not yet answered, over all binds.
    pub window_used: AtomicU64,
    /// Most unanswered submissions allowed, over all binds.
    pub window_size: AtomicU64,
    /// Submission PDUs sent (one per part).
    pub submitted: AtomicU64,
    /// Submission PDUs the SMSC accepted.
    pub acked: AtomicU64,
    /// Submission PDUs refused or unanswered.
    pub errors: AtomicU64,
    /// Refusals that asked us to slow down (throttled, queue full).
    pub throttled: AtomicU64,
    /// Delivery reports received.
    pub receipts: AtomicU64,
    /// Messages (parts) received from phones.
    pub inbound: AtomicU64,
}

impl LinkStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A future a [`BindLeases`] returns.
pub type LeaseFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Leases on a connector's sessions, shared by every node on one database:
/// a session slot is opened only while its lease is held, so a cluster
/// never opens more sessions to an operator than its `binds`. A lease lapses
/// unless renewed within [`BIND_LEASE_SECS`].
pub trait BindLeases: Send + Sync + 'static {
    /// Takes or renews `slot` of `connector` for this node; true if held.
    /// An error (the database is unreachable) counts as not held.
    fn hold<'a>(&'a self, connector: &'a str, slot: usize) -> LeaseFuture<'a, bool>;
    /// Gives `slot` up (at shutdown, or when the session closes).
    fn release<'a>(&'a self, connector: &'a str, slot: usize) -> LeaseFuture<'a, ()>;
}

/// How long a bind lease lasts; it is renewed every third of it.
pub const BIND_LEASE_SECS: u64 = 15;

/// Leases for a node alone (tests, simulators): every slot is always held.
pub struct Unshared;

impl BindLeases for Unshared {
    fn hold<'a>(&'a self, _: &'a str, _: usize) -> LeaseFuture<'a, bool> {
        Box::pin(async { true })
    }
    fn release<'a>(&'a self, _: &'a str, _: usize) -> LeaseFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// What a running connector is given.
pub struct Link {
    pub name: Arc<str>,
    pub outbox: Outbox,
    pub shutdown: CancellationToken,
    pub stats: Arc<LinkStats>,
    pub leases: Arc<dyn BindLeases>,
    events: mpsc::Sender<Event>,
    up: Arc<AtomicBool>,
}

impl Link {
    /// Reports an event; waits while the recorder is behind (backpressure).
    pub async fn report(&self, event: ConnectorEvent) {
        self.send(event, None).await;
    }

    /// Reports an event and waits until it is committed to storage. Returns
    /// false if it could not be stored (the recorder stopped): then the peer
    /// must not be told it was received, so that it sends it again.
    pub async fn report_stored(&self, event: ConnectorEvent) -> bool {
        let (tx, rx) = oneshot::channel();
        self.send(event, Some(tx)).await && rx.await.is_ok()
    }

    async fn send(&self, event: ConnectorEvent, stored: Option<oneshot::Sender<()>>) -> bool {
        match &event {
            ConnectorEvent::LinkUp => self.up.store(true, Ordering::Relaxed),
            ConnectorEvent::LinkDown { .. } => self.up.store(false, Ordering::Relaxed),
            _ => {}
        }
        if self.events.send(Event { connector: self.name.clone(), event, stored }).await.is_err() {
            tracing::error!(connector = %self.name, "event recorder is gone; report lost");
            return false;
        }
        true
    }
}

/// A kind of connector.
pub trait Connector: Send + 'static {
    /// Runs the link until `link.shutdown` is cancelled, keeping the contract
    /// in this module's documentation.
    fn run(self, link: Link) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The commands a connector takes, in the order given. Whatever it never
/// took is kept when it ends, for the registry to give back when the
/// connector was retired at run time.
pub struct Outbox {
    rx: mpsc::Receiver<Command>,
    left: Arc<std::sync::Mutex<Vec<Command>>>,
}

impl Outbox {
    /// An outbox holding up to `capacity` commands, and its sender.
    pub fn new(capacity: usize) -> (mpsc::Sender<Command>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, Self { rx, left: Arc::default() })
    }

    /// The next command; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Command> {
        self.rx.recv().await
    }

    fn leftovers(&self) -> Arc<std::sync::Mutex<Vec<Command>>> {
        self.left.clone()
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.rx.close();
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        while let Ok(command) = self.rx.try_recv() {
            left.push(command);
        }
    }
}

/// The dispatcher's side of a running connector.
#[derive(Clone)]
pub struct ConnectorHandle {
    pub name: Arc<str>,
    pub kind: ConnectorKind,
    pub stats: Arc<LinkStats>,
    /// Where its settings come from.
    pub source: Source,
    /// The settings it runs with.
    pub config: Arc<ConnectorConfig>,
    tx: mpsc::Sender<Command>,
    up: Arc<AtomicBool>,
    stop: CancellationToken,
    retired: Arc<AtomicBool>,
    /// Cancelled when its task has ended.
    ended: CancellationToken,
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

    /// Whether the outbox has room for a command now.
    pub fn has_room(&self) -> bool {
        self.tx.capacity() > 0
    }

    /// Stops the connector for good (it was removed or replaced): it ends
    /// as at shutdown, and what it never took is routed again.
    fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.stop.cancel();
    }
}

/// Commands buffered per connector beyond its own window.
const OUTBOX_CAPACITY: usize = 1_024;

/// Starts one connector as a task in `tasks`, stopped by `shutdown` (or by
/// being retired), and returns the dispatcher's handle on it.
pub fn start(
    cfg: &ConnectorConfig,
    source: Source,
    events: &mpsc::Sender<Event>,
    shutdown: &CancellationToken,
    leases: &Arc<dyn BindLeases>,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    replaces: Option<&ConnectorHandle>,
) -> ConnectorHandle {
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    let (tx, outbox) = Outbox::new(OUTBOX_CAPACITY);
    let left = outbox.leftovers();
    let up = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(LinkStats::default());
    let stop = shutdown.child_token();
    let retired = Arc::new(AtomicBool::new(false));
    let ended = CancellationToken::new();
    let link = Link {
        name: name.clone(),
        outbox,
        shutdown: stop.clone(),
        stats: stats.clone(),
        leases: leases.clone(),
        events: events.clone(),
        up: up.clone(),
    };
    let ending = Ending { name: name.clone(), events: events.clone(), left, retired: retired.clone() };
    let turn = Turn {
        ended: ended.clone(),
        after: replaces.map(|old| (old.ended.clone(), drain_time(&old.config))),
    };
    match &cfg.settings {
        ConnectorSettings::Sim(sim) => {
            spawn_one(tasks, sim::SimConnector::new(sim.clone()), link, ending, turn)
        }
        ConnectorSettings::Smpp(smpp_cfg) => {
            spawn_one(tasks, smpp::SmppConnector::new(smpp_cfg.clone()), link, ending, turn)
        }
    }
    ConnectorHandle {
        name,
        kind: cfg.kind(),
        stats,
        source,
        config: Arc::new(cfg.clone()),
        tx,
        up,
        stop,
        retired,
        ended,
    }
}

/// How long a stopped connector may take to end.
fn drain_time(cfg: &ConnectorConfig) -> Duration {
    match &cfg.settings {
        ConnectorSettings::Sim(_) => Duration::from_secs(1),
        ConnectorSettings::Smpp(smpp_cfg) => smpp::drain_time(smpp_cfg),
    }
}

/// When a connector's task may run: a replacement (new settings) waits
/// until the instance it replaces has ended — its sessions drained,
/// unbound and their bind leases given up — so the two never hold sessions
/// at once and the old one's lease release cannot free a slot the new one
/// holds. The wait is bounded by the old one's [`drain_time`].
struct Turn {
    /// Cancelled when this instance's task ends.
    ended: CancellationToken,
    /// The replaced instance's end, and how long to wait for it.
    after: Option<(CancellationToken, Duration)>,
}

/// What is done after a connector's task ends.
struct Ending {
    name: Arc<str>,
    events: mpsc::Sender<Event>,
    left: Arc<std::sync::Mutex<Vec<Command>>>,
    retired: Arc<AtomicBool>,
}

impl Ending {
    /// A retired connector's untaken submissions are reported as
    /// `NotTaken`, so their messages go back to the queue, untried, and to
    /// another route. (At shutdown the node re-queues them itself.)
    async fn give_back(self) {
        if !self.retired.load(Ordering::Relaxed) {
            return;
        }
        let left = std::mem::take(&mut *self.left.lock().unwrap_or_else(PoisonError::into_inner));
        for command in left {
            if let Command::Submit(sms) = command {
                let event = ConnectorEvent::NotTaken {
                    message_id: sms.message_id,
                    reason: format!("connector '{}' was removed before sending it", self.name),
                };
                let _ = self.events.send(Event { connector: self.name.clone(), event, stored: None }).await;
            }
        }
    }
}

fn spawn_one<C: Connector>(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    connector: C,
    link: Link,
    ending: Ending,
    turn: Turn,
) {
    let name = link.name.clone();
    tasks.spawn(async move {
        let _ended = turn.ended.drop_guard();
        if let Some((before, limit)) = turn.after {
            tokio::select! {
                () = before.cancelled() => {}
                () = link.shutdown.cancelled() => {}
                () = tokio::time::sleep(limit) => {
                    tracing::warn!(connector = %name, "the instance it replaces has not ended in {limit:?}; starting anyway");
                }
            }
        }
        let result = connector.run(link).await;
        if let Err(e) = &result {
            tracing::error!(connector = %name, error = %e, "connector stopped with an error");
        }
        ending.give_back().await;
        result
    });
}
