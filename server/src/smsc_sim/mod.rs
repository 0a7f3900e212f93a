//! The SMPP 3.4 SMSC simulator (`kurier smsc-sim`): it plays an operator's
//! SMSC for demos, tests, interoperability checks and the benchmark. ESMEs
//! bind to it over TCP (or TLS), submit messages, get message ids and, after
//! a delay, delivery receipts; tests inject mobile-originated messages, read
//! back what "the other side" received, watch the client's window and
//! throughput, and switch on named faults.
//!
//! The map:
//!
//! - this file: the public API ([`SmscSim::start`] → [`SimHandle`]), the
//!   accept loop and the postman (the task that hands due receipts and MO
//!   parts to bound receivers);
//! - `session`: one ESME connection;
//! - `store`: message ids and states, received messages and counters, over
//!   `outbox` (deliveries owed to ESMEs and the sessions that take them) and
//!   `reassembly` (parts back into whole messages);
//! - `text`: decoding and encoding short messages and receipts;
//! - `behaviour`: the named faults; `control`: the HTTP control port;
//!   `cli`: the `smsc-sim` command.
//!
//! It is not part of Kurier's message path: nothing here touches the
//! database or the connectors, and the connectors do not know it exists.

mod behaviour;
mod cli;
mod control;
mod outbox;
mod reassembly;
mod session;
mod store;
mod text;

pub use behaviour::{BEHAVIOUR_NAMES, BadBehaviour, Behaviour};
pub use cli::{SimArgs, run};
pub use control::{ControlServer, MAX_LIST, serve_control};
pub use outbox::{DELIVER_WINDOW, MAX_DELIVER_WINDOW, MAX_PENDING_DELIVERIES};
pub use reassembly::{MAX_PARTIAL_BYTES, MAX_PARTIAL_MESSAGES, PARTIAL_TTL};
pub use session::{
    BIND_TIMEOUT, IDLE_TIMEOUT, MAX_DELAYED_ANSWERS, MAX_DELAYED_ANSWERS_TOTAL, SMSC_SYSTEM_ID, UNBIND_GRACE,
};
pub use store::{InjectError, MAX_RECEIVED, MAX_RECEIVED_BYTES, MAX_SYSTEM_IDS, MAX_TRACKED_MESSAGES};
pub use text::{MoError, MoSplit, Outcome, RECEIPT_TEXT_CHARS};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use behaviour::FaultSwitch;
use outbox::SessionCmd;
use store::Store;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long [`SimHandle::stop`] lets sessions unbind before cutting them off.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// The postman looks at the store at least this often even when not woken.
const POSTMAN_IDLE: Duration = Duration::from_secs(1);
/// The longest receipt delay, submit delay, receipt retry or idle timeout
/// the simulator takes (a day); beyond it, times would overflow.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How message ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IdFormat {
    /// Lower-case hexadecimal, e.g. `3f2a9c00000001`.
    #[default]
    Hex,
    /// Decimal digits, e.g. `17812463616000001`.
    Decimal,
}

/// Everything the simulator is started with.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// `(system_id, password)` pairs allowed to bind; empty: anyone may.
    pub accounts: Vec<(String, String)>,
    /// From the submit_sm_resp to the final state and its receipt.
    pub receipt_delay: Duration,
    /// Latency of every submit_sm_resp, so a client's window can fill.
    pub submit_delay: Duration,
    /// A deliver_sm unanswered this long, or answered with an error, is sent
    /// again (after this long).
    pub receipt_retry: Duration,
    /// Relative weights of the final outcomes (all 0: everything delivered).
    pub delivered: u32,
    pub undelivered: u32,
    pub expired: u32,
    pub rejected: u32,
    /// Seeds the outcome draw: the same seed and submission order give the same outcomes.
    pub seed: u64,
    pub id_format: IdFormat,
    pub behaviour: Behaviour,
    /// `(certificate chain, private key)` PEM files: serve SMPP over TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// GSM 7-bit text (data_coding 0) packed 8 septets in 7 octets, in both
    /// directions; default one septet per octet, as most SMSCs do over SMPP.
    pub gsm_packed: bool,
    /// How long MO texts are split.
    pub mo_split: MoSplit,
    /// deliver_sm (receipts and MO parts) one session may have unanswered
    /// at once ([`DELIVER_WINDOW`] by default; 1 to [`MAX_DELIVER_WINDOW`]).
    pub deliver_window: usize,
    /// Receipts and MO parts waiting to be delivered at most, for all
    /// accounts together; receipts beyond it are dropped (counted in
    /// `receipts_dropped`, with a warning each time it fills up), MO
    /// injections refused.
    pub max_pending: usize,
    /// A bound session that sends nothing for this long gets an
    /// `enquire_link`; if it still sends nothing for as long again, it is
    /// closed ([`IDLE_TIMEOUT`] by default), so idle connections do not
    /// hold the [`MAX_CONNECTIONS`] slots for ever.
    pub idle_timeout: Duration,
}

impl Default for SimSettings {
    /// Happy, anyone may bind, everything delivered 50 ms after an immediate
    /// answer, hex ids, receipts resent after 5 s.
    fn default() -> Self {
        SimSettings {
            accounts: Vec::new(),
            receipt_delay: Duration::from_millis(50),
            submit_delay: Duration::ZERO,
            receipt_retry: Duration::from_secs(5),
            delivered: 1,
            undelivered: 0,
            expired: 0,
            rejected: 0,
            seed: 1,
            id_format: IdFormat::Hex,
            behaviour: Behaviour::Happy,
            tls: None,
            gsm_packed: false,
            mo_split: MoSplit::Udh,
            deliver_window: DELIVER_WINDOW,
            max_pending: MAX_PENDING_DELIVERIES,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

impl SimSettings {
    /// Refuses delays and timeouts beyond [`MAX_DELAY`].
    fn check(&self) -> anyhow::Result<()> {
        let times = [
            ("receipt_delay", self.receipt_delay),
            ("submit_delay", self.submit_delay),
            ("receipt_retry", self.receipt_retry),
            ("idle_timeout", self.idle_timeout),
        ];
        for (name, time) in times {
            anyhow::ensure!(
                time <= MAX_DELAY,
                "SMSC simulator: {name} of {time:?} is longer than the limit of {MAX_DELAY:?}"
            );
        }
        Ok(())
    }
}

/// A message as the simulated network received it, reassembled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedMessage {
    /// The account that submitted it.
    pub system_id: String,
    /// `source_addr`; `+` and digits when its TON is international.
    pub from: String,
    /// `destination_addr`, written the same way.
    pub to: String,
    pub text: String,
    /// Number of submit_sm it came in.
    pub parts: usize,
    pub data_coding: u8,
    /// The id given to each part, in part order.
    pub message_ids: Vec<String>,
}

/// Counters for one system_id (and, in [`SimStats`], for all together).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemStats {
    /// Sessions bound now.
    pub binds_now: u64,
    /// Successful binds since start.
    pub binds_total: u64,
    /// submit_sm (and submit_multi) PDUs received while bound: one per part.
    pub submits: u64,
    /// Submissions answered with an error status.
    pub submit_errors: u64,
    /// Whole messages received (long ones counted once, when complete).
    pub messages: u64,
    /// Receipts the ESME acknowledged with `deliver_sm_resp` OK.
    pub receipts_sent: u64,
    /// Receipts decided and not yet acknowledged (not yet due, waiting for a
    /// receiver, or sent and unanswered).
    pub receipts_pending: u64,
    /// Receipts asked for and never queued because [`SimSettings::max_pending`]
    /// deliveries were already waiting (of any account).
    pub receipts_dropped: u64,
    /// MO deliver_sm PDUs (parts) the ESME acknowledged.
    pub mo_sent: u64,
    /// Submissions received and not answered right now.
    pub outstanding: u64,
    /// Most submissions ever outstanding at once (the client's window, when
    /// answers are slow enough: see [`SimSettings::submit_delay`]).
    pub max_window: u64,
    /// Most submissions received within any one second.
    pub peak_per_second: u64,
}

/// Totals over all accounts, plus the same counters per system_id. For the
/// totals, `max_window` and `peak_per_second` are measured over all sessions
/// together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    pub binds_now: u64,
    pub binds_total: u64,
    pub submits: u64,
    pub submit_errors: u64,
    pub messages: u64,
    pub receipts_sent: u64,
    pub receipts_pending: u64,
    pub receipts_dropped: u64,
    pub mo_sent: u64,
    pub outstanding: u64,
    pub max_window: u64,
    pub peak_per_second: u64,
    pub per_system: BTreeMap<String, SystemStats>,
}

/// What every task of one simulator shares.
pub(crate) struct Shared {
    pub(crate) settings: SimSettings,
    pub(crate) fault: FaultSwitch,
    pub(crate) store: Store,
    pub(crate) shutdown: CancellationToken,
    pub(crate) connections: Connections,
    pub(crate) held_answers: session::HeldAnswers,
}

/// The open connections, bound or not, so that [`disconnect_all`] can cut
/// every one of them at once: each holds the current generation's token,
/// and a cut cancels that generation and starts a new one for connections
/// accepted later.
#[derive(Default)]
pub(crate) struct Connections {
    current: Mutex<Arc<Generation>>,
}

#[derive(Default)]
struct Generation {
    cut: CancellationToken,
    open: AtomicUsize,
}

/// One connection's place in [`Connections`], given back when dropped.
pub(crate) struct Connection {
    generation: Arc<Generation>,
}

impl Connections {
    /// Counts a connection in until its [`Connection`] is dropped.
    pub(crate) fn open(&self) -> Connection {
        // Counted under the lock, so a cut counts every connection it cuts.
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.open.fetch_add(1, Ordering::Relaxed);
        Connection { generation: current.clone() }
    }

    /// Cuts every connection open now; returns how many there were.
    fn cut_all(&self) -> usize {
        let old = std::mem::take(&mut *self.current.lock().unwrap_or_else(PoisonError::into_inner));
        old.cut.cancel();
        old.open.load(Ordering::Relaxed)
    }
}

impl Connection {
    /// Completes when the connection is to be dropped (a cut).
    pub(crate) async fn cut(&self) {
        self.generation.cut.cancelled().await
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.generation.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts simulators.
pub struct SmscSim;

impl SmscSim {
    /// Listens on `listen` (port 0 picks one; see [`SimHandle::addr`]) and
    /// serves until [`SimHandle::stop`] or the handle is dropped.
    pub async fn start(listen: SocketAddr, settings: SimSettings) -> anyhow::Result<SimHandle> {
        settings.check()?;
        let tls = match &settings.tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("SMSC simulator: cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            fault: FaultSwitch::new(settings.behaviour),
            store: Store::new(&settings),
            settings,
            shutdown: CancellationToken::new(),
            connections: Connections::default(),
            held_answers: session::HeldAnswers::new(MAX_DELAYED_ANSWERS_TOTAL),
        });
        let acceptor = tokio::spawn(accept_loop(shared.clone(), listener, tls));
        let postman = tokio::spawn(postman(shared.clone()));
        tracing::info!(%addr, "SMSC simulator listening");
        Ok(SimHandle { shared, addr, tasks: vec![acceptor, postman] })
    }
}

/// A running simulator. Dropping it stops it too (without waiting).
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// Where ESMEs connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> SimStats {
        self.shared.store.stats()
    }

    /// Every message received and kept (up to [`MAX_RECEIVED`]), oldest first.
    pub fn received(&self) -> Vec<ReceivedMessage> {
        self.shared.store.received(MAX_RECEIVED)
    }

    /// Sends an MO message to any bound receiver or transceiver (split and
    /// encoded as [`SimSettings::mo_split`] and the text require). Fails when
    /// none is bound or the addresses are unusable. It is delivered (and
    /// retried) in the background; `stats().mo_sent` counts acknowledged parts.
    pub async fn inject_mo(&self, from: &str, to: &str, text: &str) -> anyhow::Result<()> {
        self.shared.store.inject_mo(None, from, to, text)?;
        Ok(())
    }

    /// As [`SimHandle::inject_mo`], to a receiver of this system_id.
    pub async fn inject_mo_to(
        &self,
        system_id: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        self.shared.store.inject_mo(Some(system_id), from, to, text)?;
        Ok(())
    }

    /// Switches the fault in force; every-n-th counts start again.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.fault.set(behaviour);
    }

    pub fn behaviour(&self) -> Behaviour {
        self.shared.fault.current()
    }

    /// Drops every connection at once, bound or not, without unbind (a
    /// network cut); the simulator keeps listening. Returns how many were
    /// dropped.
    pub fn disconnect_all(&self) -> usize {
        disconnect_all(&self.shared)
    }

    /// Stops listening, unbinds every session (waiting up to [`STOP_TIMEOUT`]),
    /// and stops the background tasks.
    pub async fn stop(mut self) {
        self.shared.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

pub(crate) fn disconnect_all(shared: &Shared) -> usize {
    shared.connections.cut_all()
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("SMSC simulator: cannot read certificates from {}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "SMSC simulator: no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("SMSC simulator: cannot read the private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("SMSC simulator: TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("SMSC simulator: the TLS certificate and key do not fit together")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if sessions.len() >= MAX_CONNECTIONS {
                        tracing::warn!(%peer, max = MAX_CONNECTIONS, "SMSC simulator: too many connections");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    sessions.spawn(session::serve_connection(shared.clone(), stream, peer, tls.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SMSC simulator: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let drained = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(STOP_TIMEOUT, drained).await.is_err() {
        sessions.abort_all();
    }
}

/// Hands due receipts and MO parts to bound receivers, as their windows allow.
async fn postman(shared: Arc<Shared>) {
    loop {
        let now = Instant::now();
        let (handovers, next) = shared.store.dispatch(now);
        for h in handovers {
            if h.tx.try_send(SessionCmd::Deliver { key: h.key, pdu: h.pdu }).is_err() {
                shared.store.handover_failed(h.key, h.session, now);
            }
        }
        let wake_at = next.unwrap_or(now + POSTMAN_IDLE).min(now + POSTMAN_IDLE);
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = shared.store.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
    }
}
