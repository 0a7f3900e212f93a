//! The SMPP 3.4 client connector (`kind = "smpp"`): the link Kurier dials to
//! an operator's SMSC. It keeps the contract in [`crate::connectors`]: one
//! `Submitted`/`SubmitFailed` per `Submit` it takes, receipts and inbound
//! messages acknowledged only once stored, `LinkUp`/`LinkDown` while at
//! least one transmitting session is bound.
//!
//! The connector runs `binds` sessions (a transceiver each, or a transmitter
//! and a receiver each) that share its outbox, its throughput and its
//! concatenation references. Map of the folder:
//!
//! * [`session`] — one bound session: dial (TCP or TLS), bind, window,
//!   enquire_link, response timeouts, reconnect with backoff, drain and
//!   unbind at shutdown;
//! * [`throttle`] — the token bucket all sessions share, and the pause the
//!   SMSC asks for with `ESME_RTHROTTLED`/`ESME_RMSGQFUL`;
//!
//! Each session slot opens only while this node holds its bind lease
//! ([`crate::connectors::BindLeases`]), so nodes sharing a database never
//! open more sessions than `binds`, and each node sends the share of the
//! throughput that its sessions are of the connector's.
//! * [`outbound`] — an `OutboundSms` to its submit_sm PDUs;
//! * [`inbound`] — a deliver_sm to a delivery report or an inbound message;
//! * [`ids`] — SMSC message ids in one form for submit answers and receipts;
//! * [`tls`] — the TLS client.
//!
//! It does not retry messages (the dispatcher does, after a temporary
//! failure) and never touches storage.

mod ids;
mod inbound;
mod outbound;
mod session;
mod throttle;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinSet;

use self::session::Role;
use self::throttle::Throttle;
use self::tls::Tls;
use super::{Connector, ConnectorEvent, Link, LinkStats, Outbox};
use crate::config::{BindMode, SmppConfig};

pub use self::throttle::{SLOW_DOWN_MAX, SLOW_DOWN_MIN, THROTTLE_BURST_SECS};

/// An SMPP client link to one SMSC.
pub struct SmppConnector {
    cfg: SmppConfig,
}

impl SmppConnector {
    pub fn new(cfg: SmppConfig) -> Self {
        Self { cfg }
    }

    /// The sessions to run, in order.
    fn roles(&self) -> Vec<Role> {
        let per_bind: &[Role] = match self.cfg.bind {
            BindMode::Transceiver => &[Role::Transceiver],
            BindMode::TransmitterReceiver => &[Role::Transmitter, Role::Receiver],
        };
        (0..self.cfg.binds.max(1)).flat_map(|_| per_bind.iter().copied()).collect()
    }
}

impl Connector for SmppConnector {
    async fn run(self, mut link: Link) -> anyhow::Result<()> {
        let roles = self.roles();
        // The sessions share the outbox; the link keeps an empty one.
        let outbox = std::mem::replace(&mut link.outbox, Outbox::new(1).1);
        // A TLS setup that fails leaves the connector down (and saying why
        // at each attempt) rather than gone: its outbox must stay open.
        let tls = self.cfg.tls.then(|| Tls::new(&self.cfg).map_err(|e| format!("{e:#}")));
        let transmitters = roles.iter().filter(|r| r.transmits()).count();
        let stats = &link.stats;
        stats.binds_configured.store(roles.len() as u64, Ordering::Relaxed);
        stats.window_size.store((self.cfg.window * transmitters) as u64, Ordering::Relaxed);
        tracing::info!(
            connector = %link.name,
            host = %self.cfg.host,
            port = self.cfg.port,
            sessions = roles.len(),
            tls = self.cfg.tls,
            "starting SMPP connector"
        );
        let shared = Arc::new(Shared {
            throttle: Throttle::new(self.cfg.throughput),
            cfg: self.cfg,
            link,
            outbox: Mutex::new(outbox),
            tls,
            // Start somewhere new each run so references rarely repeat across restarts.
            next_reference: AtomicU32::new(chrono::Utc::now().timestamp_subsec_nanos()),
            transmitters_up: Mutex::new(0),
            leased: Mutex::new(vec![false; roles.len()]),
        });
        let mut sessions = JoinSet::new();
        for (index, role) in roles.into_iter().enumerate() {
            sessions.spawn(session::run(shared.clone(), role, index));
        }
        while let Some(ended) = sessions.join_next().await {
            if let Err(e) = ended {
                tracing::error!(connector = %shared.link.name, error = %e, "SMPP session task failed");
            }
        }
        Ok(())
    }
}

/// Timers taken from the configuration (response timeout, enquire_link
/// period) are capped at one day, so no deadline overflows the clock.
const MAX_TIMER_SECS: u64 = 86_400;

/// Room beyond the owed answers and the unbind for a stopped link's last
/// steps (closing, giving its bind leases up).
const DRAIN_MARGIN: Duration = Duration::from_secs(2);

/// How long a stopped connector with these settings may take to end: its
/// sessions wait up to the response timeout for the answers they are owed,
/// then for `unbind_resp`, then give their bind leases up.
pub fn drain_time(cfg: &SmppConfig) -> Duration {
    Duration::from_secs(cfg.response_timeout_secs.clamp(1, MAX_TIMER_SECS))
        + session::UNBIND_WAIT
        + DRAIN_MARGIN
}

/// What the sessions of one connector share.
struct Shared {
    cfg: SmppConfig,
    link: Link,
    outbox: Mutex<Outbox>,
    throttle: Throttle,
    /// `None`: plain TCP; an error: TLS is configured but cannot be used.
    tls: Option<Result<Tls, String>>,
    next_reference: AtomicU32,
    /// Transmitting sessions bound now; the link is up while above 0.
    transmitters_up: Mutex<usize>,
    /// Which session slots this node holds the bind lease of.
    leased: Mutex<Vec<bool>>,
}

impl Shared {
    /// Waiting longer than this for any answer means the session is dead.
    fn response_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.response_timeout_secs.clamp(1, MAX_TIMER_SECS))
    }

    /// How often a session sends enquire_link. A session that stayed bound
    /// this long also starts the reconnect backoff again from its minimum.
    fn enquire_period(&self) -> Duration {
        Duration::from_secs(self.cfg.enquire_link_secs.clamp(1, MAX_TIMER_SECS))
    }

    /// The next concatenation reference of this connector.
    fn next_reference(&self) -> u16 {
        (self.next_reference.fetch_add(1, Ordering::Relaxed) & 0xFFFF) as u16
    }

    /// Takes or renews the bind lease of session `slot`; false while
    /// another node holds it. Keeps the throughput share in step.
    async fn hold_lease(&self, slot: usize) -> bool {
        let held = self.link.leases.hold(&self.link.name, slot).await;
        self.mark_leased(slot, held).await;
        held
    }

    /// Gives the bind lease of session `slot` up.
    async fn release_lease(&self, slot: usize) {
        self.link.leases.release(&self.link.name, slot).await;
        self.mark_leased(slot, false).await;
    }

    async fn mark_leased(&self, slot: usize, held: bool) {
        let mut leased = self.leased.lock().await;
        if let Some(s) = leased.get_mut(slot)
            && *s != held
        {
            *s = held;
            let count = leased.iter().filter(|h| **h).count();
            self.throttle.set_share(count, leased.len());
        }
    }

    /// A session is bound; the first transmitting one brings the link up.
    async fn session_up(&self, role: Role) {
        LinkStats::add(&self.link.stats.binds_up, 1);
        if role.transmits() {
            let mut up = self.transmitters_up.lock().await;
            *up += 1;
            if *up == 1 {
                self.link.report(ConnectorEvent::LinkUp).await;
            }
        }
    }

    /// A session ended; the last transmitting one takes the link down.
    async fn session_down(&self, role: Role, reason: &str) {
        sub(&self.link.stats.binds_up, 1);
        if role.transmits() {
            let mut up = self.transmitters_up.lock().await;
            *up = up.saturating_sub(1);
            if *up == 0 {
                self.link.report(ConnectorEvent::LinkDown { reason: reason.to_owned() }).await;
            }
        }
    }
}

/// Lowers a [`LinkStats`] gauge, never below zero.
fn sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c.saturating_sub(n)));
}
