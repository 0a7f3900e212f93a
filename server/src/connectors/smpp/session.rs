//! One SMPP session of a connector, from dial to close, again and again:
//! connect (TCP, optionally TLS), bind, then serve until shutdown or until
//! the session breaks, and reconnect after an exponential backoff
//! (`reconnect_min_ms` doubling up to `reconnect_max_ms`).
//!
//! While bound, a transmitting session takes commands from the connector's
//! outbox when its window has room, sends each message's parts at the pace
//! of the shared [`Throttle`], and turns the answers into one `Submitted` or
//! `SubmitFailed` per message. Every session answers enquire_link, sends its
//! own every `enquire_link_secs`, and drops the connection when any request
//! goes unanswered for `response_timeout_secs`: what it had sent or taken
//! then fails as temporary, so the dispatcher retries it. deliver_sm and
//! data_sm are reported with `report_stored` by a helper task and answered
//! when that returns; the SMSC's unbind is answered after them (waiting at
//! most the response timeout), so none is left unanswered. At shutdown it
//! stops taking commands, waits (at most the response timeout) for its
//! answers, unbinds and closes.
//!
//! What the PDUs contain is decided in `outbound` and `inbound`; this module
//! owns sequence numbers, the window, timers and the socket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use smpp::{
    Bind, COctetString, CodecError, CommandId, CommandStatus, DataSmResp, DecodeError, DeliverSmResp,
    INTERFACE_VERSION, Packet, Pdu, PduCodec, QuerySm, SubmitSm,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, sleep, sleep_until, timeout, timeout_at};
use tokio_util::codec::Framed;
use tracing::{debug, info, instrument, warn};

use super::inbound::{self, Incoming};
use super::{Shared, ids, outbound, sub};
use crate::connectors::{BIND_LEASE_SECS, Command, ConnectorEvent, LinkStats, OutboundSms};

/// deliver_sm/data_sm being stored (not yet answered) per session at most;
/// beyond it more are answered `ESME_RX_T_APPN` (the SMSC resends them)
/// while the session goes on reading answers to its submissions.
pub const MAX_INBOUND_IN_PROGRESS: usize = 256;

/// Longest wait for unbind_resp at shutdown (and never more than the
/// response timeout).
pub const UNBIND_WAIT: Duration = Duration::from_secs(1);

/// Longest wait for the connection to close cleanly (TLS close_notify).
pub const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// The highest sequence number (spec §3.2: 0x00000001 to 0x7FFFFFFF);
/// numbering then starts again at 1.
pub const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

/// What a session binds as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Transceiver,
    Transmitter,
    Receiver,
}

impl Role {
    /// Sends submit_sm (and query_sm).
    pub fn transmits(self) -> bool {
        matches!(self, Role::Transceiver | Role::Transmitter)
    }

    fn name(self) -> &'static str {
        match self {
            Role::Transceiver => "transceiver",
            Role::Transmitter => "transmitter",
            Role::Receiver => "receiver",
        }
    }

    fn bind(self, bind: Bind) -> Pdu {
        match self {
            Role::Transceiver => Pdu::BindTransceiver(bind),
            Role::Transmitter => Pdu::BindTransmitter(bind),
            Role::Receiver => Pdu::BindReceiver(bind),
        }
    }

    fn bind_resp(self) -> CommandId {
        match self {
            Role::Transceiver => CommandId::BindTransceiverResp,
            Role::Transmitter => CommandId::BindTransmitterResp,
            Role::Receiver => CommandId::BindReceiverResp,
        }
    }

    fn is_bind_resp(self, pdu: &Pdu) -> bool {
        matches!(
            (self, pdu),
            (Role::Transceiver, Pdu::BindTransceiverResp(_))
                | (Role::Transmitter, Pdu::BindTransmitterResp(_))
                | (Role::Receiver, Pdu::BindReceiverResp(_))
        )
    }
}

/// The connection under the codec: TCP or TLS over TCP.
trait AsyncIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncIo for T {}
type Io = Box<dyn AsyncIo>;
type Wire = Framed<Io, PduCodec>;

/// Runs one session slot of the connector until shutdown, while this node
/// holds the slot's bind lease (waiting for it otherwise).
#[instrument(name = "smpp_session", skip_all, fields(connector = %shared.link.name, session = index, role = role.name()))]
pub async fn run(shared: Arc<Shared>, role: Role, index: usize) {
    run_leased(&shared, role, index).await;
    shared.release_lease(index).await;
}

async fn run_leased(shared: &Arc<Shared>, role: Role, index: usize) {
    let shutdown = shared.link.shutdown.clone();
    let mut backoff = Backoff::new(
        Duration::from_millis(shared.cfg.reconnect_min_ms),
        Duration::from_millis(shared.cfg.reconnect_max_ms),
    );
    while !shutdown.is_cancelled() {
        if !shared.hold_lease(index).await {
            debug!("another node holds this session's bind lease");
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = sleep(lease_renewal()) => continue,
            }
        }
        let dialled = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            dialled = dial_and_bind(shared, role) => dialled,
        };
        match dialled {
            Ok(wire) => {
                info!("bound");
                let bound_at = Instant::now();
                shared.session_up(role).await;
                let mut session = Session::new(shared.clone(), role, wire);
                session.slot = index;
                let ended = session.serve().await;
                let reason = session.close(ended).await;
                // Down first, so that retries of what fails next are routed elsewhere.
                shared.session_down(role, &reason).await;
                session.fail_all(&reason).await;
                backoff.after_session(bound_at.elapsed(), shared.enquire_period());
                if shutdown.is_cancelled() {
                    info!(reason, "session closed");
                    return;
                }
                warn!(reason, "session ended");
            }
            Err(e) => warn!(error = %format!("{e:#}"), "cannot bind"),
        }
        let delay = backoff.next();
        debug!(?delay, "reconnecting after a pause");
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = sleep(delay) => {}
        }
    }
}

/// How often a held bind lease is renewed (and a missing one asked for).
fn lease_renewal() -> Duration {
    Duration::from_secs(BIND_LEASE_SECS) / 3
}

/// Reconnect delays: `min`, doubling up to `max`; back to `min` only after
/// a session that lasted (see [`Backoff::after_session`]).
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Self { min, max: max.max(min), next: min }
    }

    fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = delay.saturating_mul(2).min(self.max);
        delay
    }

    /// A session that stayed up `stable` or longer shows the link works:
    /// the next reconnect waits `min` again. One that ended sooner (an SMSC
    /// that takes the bind and then unbinds or closes at once) counts as a
    /// failed attempt, so such an SMSC is not bound again every `min`.
    fn after_session(&mut self, lasted: Duration, stable: Duration) {
        if lasted >= stable {
            self.next = self.min;
        }
    }
}

/// Connects and binds; the bind uses sequence number 1.
async fn dial_and_bind(shared: &Shared, role: Role) -> anyhow::Result<Wire> {
    let cfg = &shared.cfg;
    let limit = shared.response_timeout();
    let tcp = timeout(limit, TcpStream::connect((cfg.host.as_str(), cfg.port)))
        .await
        .map_err(|_| anyhow!("no TCP connection within {limit:?}"))?
        .with_context(|| format!("connecting to {}:{}", cfg.host, cfg.port))?;
    let _ = tcp.set_nodelay(true);
    let io: Io = match &shared.tls {
        Some(Err(e)) => bail!("TLS cannot be set up: {e}"),
        Some(Ok(tls)) => Box::new(
            timeout(limit, tls.wrap(tcp))
                .await
                .map_err(|_| anyhow!("no TLS handshake within {limit:?}"))?
                .context("TLS handshake")?,
        ),
        None => Box::new(tcp),
    };
    let mut wire = Framed::new(io, PduCodec::default());
    let bind = Bind {
        system_id: COctetString::try_from(cfg.system_id.as_str()).context("system_id")?,
        password: COctetString::try_from(cfg.password.expose()).context("password")?,
        system_type: COctetString::try_from(cfg.system_type.as_str()).context("system_type")?,
        interface_version: INTERFACE_VERSION,
        address_range: Default::default(),
    };
    /// The bind is the first request of a connection.
    const BIND_SEQUENCE: u32 = 1;
    timeout(limit, wire.send(Packet::new(BIND_SEQUENCE, role.bind(bind))))
        .await
        .map_err(|_| anyhow!("cannot send the bind within {limit:?}"))?
        .context("sending the bind")?;
    let deadline = Instant::now() + limit;
    loop {
        let frame = timeout_at(deadline, wire.next())
            .await
            .map_err(|_| anyhow!("no answer to the bind within {limit:?}"))?;
        let packet = match frame {
            None => bail!("the SMSC closed the connection before answering the bind"),
            Some(Err(e)) => bail!("reading the answer to the bind: {e}"),
            Some(Ok(Err(e @ DecodeError { header: Some(header), .. })))
                if header.sequence_number == BIND_SEQUENCE && header.is_response() =>
            {
                // Judged by its header's status, as a submit_sm_resp is: the
                // body (the SMSC's system_id, a TLV or two) is not needed.
                let status = header.command_status;
                if !status.is_ok() {
                    bail!("the SMSC refused the bind: {}", status_reason(status));
                }
                if header.command_id == role.bind_resp() as u32 {
                    warn!(error = %e, "the SMSC accepted the bind with a malformed answer");
                    return Ok(wire);
                }
                bail!("malformed answer to the bind: {e}")
            }
            Some(Ok(Err(e))) => {
                if let Some(reply) = e.reply() {
                    timeout_at(deadline, wire.send(reply))
                        .await
                        .map_err(|_| anyhow!("the SMSC does not read what we send while binding"))?
                        .context("answering a malformed PDU")?;
                }
                continue;
            }
            Some(Ok(Ok(packet))) => packet,
        };
        let answers_bind = packet.sequence_number == BIND_SEQUENCE
            && (role.is_bind_resp(&packet.pdu) || packet.pdu == Pdu::GenericNack);
        if answers_bind {
            if packet.status.is_ok() && packet.pdu != Pdu::GenericNack {
                return Ok(wire);
            }
            bail!("the SMSC refused the bind: {}", status_reason(packet.status));
        }
        if packet.pdu == Pdu::EnquireLink {
            // Within the bind's deadline too: an SMSC that sends and never
            // reads must not hold the session here.
            timeout_at(deadline, wire.send(Packet::new(packet.sequence_number, Pdu::EnquireLinkResp)))
                .await
                .map_err(|_| anyhow!("the SMSC does not read what we send while binding"))??;
        } else {
            debug!(command = %packet.command_id(), "ignored while binding");
        }
    }
}

/// `ESME_RINVDSTADR (0x0000000B): Invalid destination address.`, or the
/// code alone for an unnamed one.
pub fn status_reason(status: CommandStatus) -> String {
    match status.description() {
        Some(description) => format!("{status}: {description}"),
        None => format!("{status}: not a standard SMPP 3.4 status"),
    }
}

/// A request waiting for its answer.
#[derive(Debug)]
enum Pending {
    /// Part `index` of message `msg`.
    Submit {
        msg: u64,
        index: usize,
    },
    Query {
        message_id: String,
        smsc_id: String,
    },
    EnquireLink,
    Unbind,
}

impl Pending {
    fn command(&self) -> &'static str {
        match self {
            Pending::Submit { .. } => "submit_sm",
            Pending::Query { .. } => "query_sm",
            Pending::EnquireLink => "enquire_link",
            Pending::Unbind => "unbind",
        }
    }
}

/// A part taken but not yet sent.
struct Part {
    msg: u64,
    index: usize,
    pdu: SubmitSm,
}

/// A message this session took, until its one answer is reported.
struct Msg {
    message_id: String,
    smsc_ids: Vec<Option<String>>,
    /// The SMS segments it makes (`Submitted` reports them).
    segments: usize,
    /// Parts neither answered nor dropped.
    unanswered: usize,
    failure: Option<Failure>,
}

#[derive(Debug, Clone)]
struct Failure {
    temporary: bool,
    reason: String,
}

impl Msg {
    /// Keeps the first failure, unless a permanent one comes after a temporary one.
    fn fail(&mut self, failure: Failure) {
        match &self.failure {
            Some(f) if !f.temporary || failure.temporary => {}
            _ => self.failure = Some(failure),
        }
    }
}

/// Why [`Session::serve`] returned.
#[derive(Debug)]
enum Ended {
    /// Shutting down: unbind; what is still unanswered fails with this reason.
    Shutdown(String),
    /// The SMSC unbound (answered already).
    Unbound,
    /// The session is broken.
    Dropped(String),
}

struct Session {
    shared: Arc<Shared>,
    role: Role,
    wire: Wire,
    last_sequence: u32,
    pending: HashMap<u32, Pending>,
    /// Deadlines in the order requests were sent (all share one timeout).
    deadlines: VecDeque<(Instant, u32)>,
    enquire_pending: bool,
    /// submit_sm and query_sm sent and not answered.
    in_window: usize,
    queue: VecDeque<Part>,
    /// query_sm taken but not yet sent: they go through the window and the
    /// throttle as submissions do (an SMSC counts every request).
    queries: VecDeque<(String, String, QuerySm)>,
    messages: BTreeMap<u64, Msg>,
    next_msg: u64,
    acks_tx: mpsc::Sender<Packet>,
    acks_rx: mpsc::Receiver<Packet>,
    /// deliver_sm handed to helper tasks, not yet answered.
    inbound_busy: usize,
    draining: bool,
    /// The session slot, whose bind lease this session renews.
    slot: usize,
    /// Why the session drains when it was not told to shut down.
    drain_reason: Option<String>,
    /// The SMSC's unbind, not yet answered: its sequence number and when it
    /// is answered at the latest.
    unbind_asked: Option<(u32, Instant)>,
}

impl Session {
    fn new(shared: Arc<Shared>, role: Role, wire: Wire) -> Self {
        let (acks_tx, acks_rx) = mpsc::channel(MAX_INBOUND_IN_PROGRESS);
        Self {
            shared,
            role,
            wire,
            last_sequence: 1,
            pending: HashMap::new(),
            deadlines: VecDeque::new(),
            enquire_pending: false,
            in_window: 0,
            queue: VecDeque::new(),
            queries: VecDeque::new(),
            messages: BTreeMap::new(),
            next_msg: 0,
            acks_tx,
            acks_rx,
            inbound_busy: 0,
            draining: false,
            slot: 0,
            drain_reason: None,
            unbind_asked: None,
        }
    }

    /// Serves the bound session until shutdown completes or it breaks.
    async fn serve(&mut self) -> Ended {
        let shared = self.shared.clone();
        let shutdown = shared.link.shutdown.clone();
        let limit = shared.response_timeout();
        let period = shared.enquire_period();
        let mut enquire = tokio::time::interval_at(Instant::now() + period, period);
        enquire.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drain_until: Option<Instant> = None;
        let mut renew = tokio::time::interval_at(Instant::now() + lease_renewal(), lease_renewal());
        renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some((sequence, _)) = self.unbind_asked
                && self.inbound_busy == 0
            {
                return self.answer_unbind(sequence).await;
            }
            let outgoing = !(self.queue.is_empty() && self.queries.is_empty());
            if self.draining && self.pending.is_empty() && !outgoing && self.inbound_busy == 0 {
                return Ended::Shutdown(self.drain_reason.take().unwrap_or_else(|| "shutdown".into()));
            }
            let next_deadline = self.next_deadline();
            let room = self.in_window < shared.cfg.window && self.unbind_asked.is_none();
            let can_send = room && outgoing;
            let can_take = self.role.transmits() && !self.draining && room && !outgoing;
            let unbind_by = self.unbind_asked.map(|(_, by)| by);
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled(), if !self.draining => {
                    debug!("shutting down: draining the window");
                    self.draining = true;
                    drain_until = Some(Instant::now() + limit);
                    Ok(())
                }
                () = sleep_until(drain_until.unwrap_or_else(Instant::now)), if drain_until.is_some() => {
                    Err(Ended::Shutdown(format!("shutting down: no answer from the SMSC within {}s", limit.as_secs())))
                }
                () = sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                    Err(self.timed_out(limit))
                }
                () = sleep_until(unbind_by.unwrap_or_else(Instant::now)), if unbind_by.is_some() => {
                    warn!(
                        still_storing = self.inbound_busy,
                        "the SMSC unbound; answering before every deliver_sm was stored (it sends those again)"
                    );
                    let sequence = self.unbind_asked.map_or(0, |(sequence, _)| sequence);
                    Err(self.answer_unbind(sequence).await)
                }
                Some(ack) = self.acks_rx.recv() => {
                    self.inbound_busy = self.inbound_busy.saturating_sub(1);
                    self.write(ack).await
                }
                frame = self.wire.next() => self.on_frame(frame).await,
                _ = enquire.tick() => self.enquire().await,
                _ = renew.tick(), if !self.draining => {
                    if !shared.hold_lease(self.slot).await {
                        // Another node took the slot (ours lapsed): hand it over cleanly.
                        warn!("lost this session's bind lease; draining and unbinding");
                        self.draining = true;
                        self.drain_reason = Some("another node holds this session's bind lease".into());
                        drain_until = Some(Instant::now() + limit);
                    }
                    Ok(())
                }
                () = shared.throttle.acquire(), if can_send => self.send_next_part().await,
                command = take_command(&shared), if can_take => match command {
                    Some(command) => self.take(command).await,
                    // The outbox is gone: Kurier is stopping.
                    None => {
                        self.draining = true;
                        drain_until = Some(Instant::now() + limit);
                        Ok(())
                    }
                },
            };
            if let Err(ended) = step {
                return ended;
            }
        }
    }

    /// Unbinds if shutting down and closes the connection; returns why the
    /// session ended.
    async fn close(&mut self, ended: Ended) -> String {
        let reason = match ended {
            Ended::Shutdown(reason) => {
                self.unbind().await;
                reason
            }
            Ended::Unbound => "the SMSC unbound the session".into(),
            Ended::Dropped(reason) => reason,
        };
        let _ = timeout(CLOSE_WAIT, futures_util::SinkExt::<Packet>::close(&mut self.wire)).await;
        reason
    }

    fn next_sequence(&mut self) -> u32 {
        self.last_sequence = if self.last_sequence >= MAX_SEQUENCE { 1 } else { self.last_sequence + 1 };
        self.last_sequence
    }

    /// Sends a request and starts its response timer.
    async fn request(&mut self, pdu: Pdu, pending: Pending) -> Result<u32, Ended> {
        let sequence = self.next_sequence();
        self.pending.insert(sequence, pending);
        self.deadlines.push_back((Instant::now() + self.shared.response_timeout(), sequence));
        self.write(Packet::new(sequence, pdu)).await?;
        Ok(sequence)
    }

    async fn write(&mut self, packet: Packet) -> Result<(), Ended> {
        match timeout(self.shared.response_timeout(), self.wire.send(packet)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Ended::Dropped(format!("writing to the SMSC failed: {e}"))),
            Err(_) => Err(Ended::Dropped("the SMSC does not read what we send".into())),
        }
    }

    /// The earliest deadline of a request still unanswered.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(_, sequence)) = self.deadlines.front() {
            if self.pending.contains_key(&sequence) {
                break;
            }
            self.deadlines.pop_front();
        }
        self.deadlines.front().map(|&(at, _)| at)
    }

    fn timed_out(&self, limit: Duration) -> Ended {
        let command = self
            .deadlines
            .front()
            .and_then(|(_, sequence)| self.pending.get(sequence))
            .map_or("a request", Pending::command);
        let reason = format!("no answer to {command} within {}s", limit.as_secs());
        if self.draining {
            Ended::Shutdown(format!("shutting down: {reason}"))
        } else {
            Ended::Dropped(reason)
        }
    }

    async fn enquire(&mut self) -> Result<(), Ended> {
        if self.enquire_pending || self.draining || self.unbind_asked.is_some() {
            return Ok(());
        }
        self.enquire_pending = true;
        self.request(Pdu::EnquireLink, Pending::EnquireLink).await.map(drop)
    }

    /// Takes one command from the outbox.
    async fn take(&mut self, command: Command) -> Result<(), Ended> {
        match command {
            Command::Submit(sms) => {
                self.accept(sms).await;
                Ok(())
            }
            Command::Query { message_id, smsc_id, from } => {
                let source = outbound::query_source(from.as_deref(), &self.shared.cfg);
                let Ok(id) = COctetString::try_from(ids::to_smsc(&smsc_id)) else {
                    warn!(message_id, smsc_id, "SMSC id too long for query_sm; not asked");
                    return Ok(());
                };
                self.queries.push_back((message_id, smsc_id, QuerySm { message_id: id, source }));
                Ok(())
            }
            Command::Receive { .. } => {
                warn!("a simulated inbound message was sent to an SMPP link; ignored");
                Ok(())
            }
        }
    }

    /// Queues the parts of a message, or fails it at once if it cannot go.
    async fn accept(&mut self, sms: OutboundSms) {
        let shared = self.shared.clone();
        match outbound::build(&sms, &shared.cfg, chrono::Utc::now(), || shared.next_reference()) {
            Ok(submission) => {
                let key = self.next_msg;
                self.next_msg += 1;
                let parts = submission.pdus;
                debug!(message_id = %sms.message_id, parts = parts.len(), "submitting");
                self.messages.insert(
                    key,
                    Msg {
                        message_id: sms.message_id,
                        smsc_ids: vec![None; parts.len()],
                        segments: submission.segments,
                        unanswered: parts.len(),
                        failure: None,
                    },
                );
                self.queue.extend(parts.into_iter().enumerate().map(|(index, pdu)| Part {
                    msg: key,
                    index,
                    pdu,
                }));
            }
            Err(e) => {
                warn!(message_id = %sms.message_id, error = %e, "cannot be submitted");
                let event = ConnectorEvent::SubmitFailed {
                    message_id: sms.message_id,
                    temporary: false,
                    reason: e.to_string(),
                };
                shared.link.report(event).await;
            }
        }
    }

    /// A request takes a slot of the window (submissions and queries).
    fn take_slot(&mut self) {
        self.in_window += 1;
        LinkStats::add(&self.shared.link.stats.window_used, 1);
    }

    /// Its answer (or failure) frees the slot.
    fn free_slot(&mut self) {
        self.in_window = self.in_window.saturating_sub(1);
        sub(&self.shared.link.stats.window_used, 1);
    }

    async fn send_next_part(&mut self) -> Result<(), Ended> {
        let Some(part) = self.queue.pop_front() else {
            let Some((message_id, smsc_id, query)) = self.queries.pop_front() else { return Ok(()) };
            self.take_slot();
            let pending = Pending::Query { message_id, smsc_id };
            return self.request(Pdu::QuerySm(query), pending).await.map(drop);
        };
        self.take_slot();
        LinkStats::add(&self.shared.link.stats.submitted, 1);
        self.request(Pdu::SubmitSm(part.pdu), Pending::Submit { msg: part.msg, index: part.index })
            .await
            .map(drop)
    }

    /// One frame from the SMSC, or the end of the stream.
    async fn on_frame(
        &mut self,
        frame: Option<Result<Result<Packet, DecodeError>, CodecError>>,
    ) -> Result<(), Ended> {
        match frame {
            None => Err(Ended::Dropped("the SMSC closed the connection".into())),
            Some(Err(CodecError::Frame(e))) => {
                // The stream cannot be resynchronised: answer and drop it.
                let _ = self.write(e.reply()).await;
                Err(Ended::Dropped(format!("unreadable PDU framing from the SMSC: {e}")))
            }
            Some(Err(e)) => Err(Ended::Dropped(format!("reading from the SMSC failed: {e}"))),
            Some(Ok(Err(e))) => {
                warn!(error = %e, "malformed PDU from the SMSC");
                if let Some(reply) = e.reply() {
                    return self.write(reply).await;
                }
                // A malformed answer to one of our requests: its header's
                // status still says whether the SMSC took it.
                if let Some(header) = e.header
                    && let Some(pending) = self.pending.remove(&header.sequence_number)
                {
                    let answer = malformed_answer(&pending, header.command_id, header.command_status, &e);
                    self.on_answer(pending, answer).await;
                }
                Ok(())
            }
            Some(Ok(Ok(packet))) => self.on_packet(packet).await,
        }
    }

    async fn on_packet(&mut self, packet: Packet) -> Result<(), Ended> {
        let Packet { sequence_number: sequence, status, pdu } = packet;
        let id = pdu.command_id();
        if id.is_response() {
            let Some(pending) = self.pending.remove(&sequence) else {
                warn!(sequence, command = %id, %status, "answer to no request of ours; ignored");
                return Ok(());
            };
            let answer = match pdu {
                _ if id == CommandId::GenericNack => Err(refusal(status)),
                _ if !status.is_ok() => Err(refusal(status)),
                Pdu::SubmitSmResp(r) if matches!(pending, Pending::Submit { .. }) => {
                    Ok(Answer::MessageId(r.message_id.to_str_lossy().into_owned()))
                }
                Pdu::QuerySmResp(r) if matches!(pending, Pending::Query { .. }) => {
                    Ok(Answer::State(r.message_state))
                }
                Pdu::EnquireLinkResp if matches!(pending, Pending::EnquireLink) => Ok(Answer::Done),
                Pdu::UnbindResp if matches!(pending, Pending::Unbind) => Ok(Answer::Done),
                _ => Err(Failure {
                    temporary: true,
                    reason: format!("the SMSC answered {} with {id}", pending.command()),
                }),
            };
            if let Err(failure) = &answer
                && matches!(status, CommandStatus::ESME_RTHROTTLED | CommandStatus::ESME_RMSGQFUL)
            {
                LinkStats::add(&self.shared.link.stats.throttled, 1);
                let pause = self.shared.throttle.slow_down();
                warn!(reason = %failure.reason, ?pause, "the SMSC asks us to slow down");
            }
            self.on_answer(pending, answer).await;
            return Ok(());
        }
        match pdu {
            Pdu::EnquireLink => self.write(Packet::new(sequence, Pdu::EnquireLinkResp)).await,
            Pdu::Unbind => {
                // Answered once the deliver_sm being stored are answered (at
                // most the response timeout from now), so that the SMSC does
                // not send them again after the next bind; nothing new goes
                // out meanwhile.
                let by = self
                    .unbind_asked
                    .map_or_else(|| Instant::now() + self.shared.response_timeout(), |(_, by)| by);
                self.unbind_asked = Some((sequence, by));
                Ok(())
            }
            Pdu::DeliverSm(deliver) => {
                let incoming = inbound::classify(&deliver, &self.shared.cfg);
                self.on_deliver(sequence, incoming, false).await
            }
            Pdu::DataSm(data) => {
                let incoming = inbound::classify_data_sm(data, &self.shared.cfg);
                self.on_deliver(sequence, incoming, true).await
            }
            Pdu::AlertNotification(_) | Pdu::Outbind(_) => {
                debug!(command = %id, "ignored");
                Ok(())
            }
            _ => {
                warn!(command = %id, sequence, "request an ESME does not take; refused");
                let refusal = match id.response().and_then(Pdu::empty_response_to) {
                    Some(pdu) => {
                        Packet { sequence_number: sequence, status: CommandStatus::ESME_RINVBNDSTS, pdu }
                    }
                    None => Packet {
                        sequence_number: sequence,
                        status: CommandStatus::ESME_RINVCMDID,
                        pdu: Pdu::GenericNack,
                    },
                };
                self.write(refusal).await
            }
        }
    }

    /// The answer to one of our requests (or its failure).
    async fn on_answer(&mut self, pending: Pending, answer: Result<Answer, Failure>) {
        match pending {
            Pending::Submit { msg, index } => self.on_submit_answer(msg, index, answer).await,
            Pending::Query { message_id, smsc_id } => {
                self.free_slot();
                self.on_query_answer(message_id, smsc_id, answer).await;
            }
            Pending::EnquireLink => self.enquire_pending = false,
            Pending::Unbind => {}
        }
    }

    async fn on_query_answer(
        &mut self,
        message_id: String,
        smsc_id: String,
        answer: Result<Answer, Failure>,
    ) {
        match answer {
            Ok(Answer::State(state)) => match inbound::status_of_state(state) {
                Some(status) => {
                    let detail = format!("query_sm: {}", state.name().unwrap_or("final"));
                    debug!(message_id, smsc_id, ?status, "query answered");
                    self.shared
                        .link
                        .report(ConnectorEvent::DeliveryReport { smsc_id, status: Some(status), detail })
                        .await;
                }
                None => debug!(message_id, smsc_id, ?state, "query answered: not final yet"),
            },
            Ok(_) => {}
            Err(f) => debug!(message_id, smsc_id, reason = f.reason, "query refused"),
        }
    }

    async fn on_submit_answer(&mut self, key: u64, index: usize, answer: Result<Answer, Failure>) {
        self.free_slot();
        let stats = &self.shared.link.stats;
        let Some(msg) = self.messages.get_mut(&key) else { return };
        msg.unanswered = msg.unanswered.saturating_sub(1);
        match answer {
            Ok(answer) => {
                LinkStats::add(&stats.acked, 1);
                self.shared.throttle.recovered();
                let id = match answer {
                    Answer::MessageId(id) => id,
                    _ => String::new(),
                };
                if let Some(slot) = msg.smsc_ids.get_mut(index) {
                    *slot = Some(ids::from_submit(&id, self.shared.cfg.receipt_id_format));
                }
            }
            Err(failure) => {
                LinkStats::add(&stats.errors, 1);
                debug!(message_id = %msg.message_id, part = index + 1, reason = %failure.reason, "part refused");
                msg.fail(failure);
                // The rest of the message need not go.
                let before = self.queue.len();
                self.queue.retain(|p| p.msg != key);
                msg.unanswered = msg.unanswered.saturating_sub(before - self.queue.len());
            }
        }
        if msg.unanswered == 0
            && let Some(msg) = self.messages.remove(&key)
        {
            self.report_outcome(msg, None).await;
        }
    }

    /// Reports a message's one answer; `fallback` is the failure of a
    /// message whose parts were left unanswered.
    async fn report_outcome(&mut self, msg: Msg, fallback: Option<&str>) {
        let failure =
            msg.failure.or_else(|| fallback.map(|r| Failure { temporary: true, reason: r.to_owned() }));
        let event = match failure {
            Some(Failure { temporary, reason }) => {
                debug!(message_id = %msg.message_id, temporary, reason, "submission failed");
                ConnectorEvent::SubmitFailed { message_id: msg.message_id, temporary, reason }
            }
            None => ConnectorEvent::Submitted {
                message_id: msg.message_id,
                smsc_ids: msg.smsc_ids.into_iter().map(Option::unwrap_or_default).collect(),
                segments: msg.segments,
            },
        };
        self.shared.link.report(event).await;
    }

    /// A deliver_sm (or data_sm), read: reported by a helper task that
    /// answers it once the report is stored.
    async fn on_deliver(&mut self, sequence: u32, incoming: Incoming, data_sm: bool) -> Result<(), Ended> {
        if self.draining || self.unbind_asked.is_some() || self.inbound_busy >= MAX_INBOUND_IN_PROGRESS {
            // Not taken now; the SMSC sends it again later. Answering at
            // once, rather than no longer reading, keeps our submissions'
            // answers coming while storage catches up.
            return self.write(deliver_resp(sequence, data_sm, CommandStatus::ESME_RX_T_APPN)).await;
        }
        let stats = &self.shared.link.stats;
        let event = match incoming {
            Incoming::Receipt(event) => {
                LinkStats::add(&stats.receipts, 1);
                event
            }
            Incoming::Message(event) => {
                LinkStats::add(&stats.inbound, 1);
                event
            }
            Incoming::Unusable(why) => {
                warn!(sequence, why, "deliver_sm acknowledged but not reported");
                return self.write(deliver_resp(sequence, data_sm, CommandStatus::ESME_ROK)).await;
            }
        };
        self.inbound_busy += 1;
        let shared = self.shared.clone();
        let acks = self.acks_tx.clone();
        tokio::spawn(async move {
            let status = if shared.link.report_stored(event).await {
                CommandStatus::ESME_ROK
            } else {
                CommandStatus::ESME_RX_T_APPN
            };
            // If the session is gone the SMSC sends it again: at least once.
            let _ = acks.send(deliver_resp(sequence, data_sm, status)).await;
        });
        Ok(())
    }

    /// Answers the SMSC's unbind; the session is over.
    async fn answer_unbind(&mut self, sequence: u32) -> Ended {
        let _ = self.write(Packet::new(sequence, Pdu::UnbindResp)).await;
        Ended::Unbound
    }

    /// Sends unbind and waits briefly for its answer, still serving what arrives.
    async fn unbind(&mut self) {
        self.draining = true;
        let Ok(sequence) = self.request(Pdu::Unbind, Pending::Unbind).await else { return };
        let deadline = Instant::now() + UNBIND_WAIT.min(self.shared.response_timeout());
        while self.pending.contains_key(&sequence) {
            let Ok(frame) = timeout_at(deadline, self.wire.next()).await else {
                debug!("no unbind_resp in time; closing");
                return;
            };
            if self.on_frame(frame).await.is_err() {
                return;
            }
        }
    }

    /// The session is over: every message it holds gets its one answer.
    async fn fail_all(&mut self, reason: &str) {
        let stats = &self.shared.link.stats;
        sub(&stats.window_used, self.in_window as u64);
        LinkStats::add(&stats.errors, self.in_window as u64);
        self.in_window = 0;
        self.pending.clear();
        self.deadlines.clear();
        self.queue.clear();
        self.queries.clear();
        let messages = std::mem::take(&mut self.messages);
        if !messages.is_empty() {
            warn!(messages = messages.len(), reason, "unanswered messages fail as temporary");
        }
        for msg in messages.into_values() {
            self.report_outcome(msg, Some(reason)).await;
        }
    }
}

/// What an answer carried.
enum Answer {
    MessageId(String),
    State(smpp::MessageState),
    Done,
}

/// The answer a malformed response still gives. An error status is the
/// SMSC's refusal, whatever the body; a submit_sm_resp with `ESME_ROK`
/// means the SMSC took the message, so it must not be sent again. Its id is
/// kept when it was read before what is malformed (a broken TLV after it);
/// else its receipts cannot be matched.
fn malformed_answer(
    pending: &Pending,
    command_id: u32,
    status: CommandStatus,
    e: &DecodeError,
) -> Result<Answer, Failure> {
    if !status.is_ok() {
        return Err(refusal(status));
    }
    if let Pending::Submit { .. } = pending
        && command_id == CommandId::SubmitSmResp as u32
    {
        if let Some(Pdu::SubmitSmResp(resp)) = e.partial.as_deref() {
            warn!(error = %e, "the SMSC accepted a submission; what follows its message id is malformed");
            return Ok(Answer::MessageId(resp.message_id.to_str_lossy().into_owned()));
        }
        warn!(error = %e, "the SMSC accepted a submission with an unreadable message id; its receipts cannot be matched");
        return Ok(Answer::MessageId(String::new()));
    }
    Err(Failure { temporary: true, reason: format!("malformed answer from the SMSC: {e}") })
}

/// A refusal of one of our requests, with the reason in the contract's form.
fn refusal(status: CommandStatus) -> Failure {
    if status.is_ok() {
        return Failure { temporary: true, reason: "generic_nack without an error status".into() };
    }
    Failure { temporary: status.is_temporary(), reason: status_reason(status) }
}

fn deliver_resp(sequence: u32, data_sm: bool, status: CommandStatus) -> Packet {
    let pdu = if data_sm {
        Pdu::DataSmResp(DataSmResp::default())
    } else {
        Pdu::DeliverSmResp(DeliverSmResp::default())
    };
    Packet { sequence_number: sequence, status, pdu }
}

async fn take_command(shared: &Shared) -> Option<Command> {
    shared.outbox.lock().await.recv().await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32};

    use tokio::sync::Mutex;
    use tokio_util::sync::CancellationToken;

    use smpp::DeliverSm;

    use super::*;
    use crate::config::SmppConfig;
    use crate::connectors::smpp::throttle::Throttle;
    use crate::connectors::{Event, Link};

    /// A session over an in-memory pipe, and the SMSC's end of the pipe.
    type Ends =
        (Session, Framed<tokio::io::DuplexStream, PduCodec>, (mpsc::Sender<Command>, mpsc::Receiver<Event>));

    fn session(cfg: SmppConfig) -> Ends {
        let (client, smsc) = tokio::io::duplex(64 * 1024);
        let (shared, commands, events) = shared(cfg);
        let wire: Wire = Framed::new(Box::new(client), PduCodec::default());
        (
            Session::new(shared, Role::Transceiver, wire),
            Framed::new(smsc, PduCodec::default()),
            (commands, events),
        )
    }

    /// A connector's shared state, with its command and event channels.
    fn shared(cfg: SmppConfig) -> (Arc<Shared>, mpsc::Sender<Command>, mpsc::Receiver<Event>) {
        let (events_tx, events) = mpsc::channel(64);
        let (commands, outbox) = crate::connectors::Outbox::new(8);
        let link = Link {
            name: Arc::from("test"),
            outbox: crate::connectors::Outbox::new(1).1,
            shutdown: CancellationToken::new(),
            stats: Default::default(),
            leases: Arc::new(crate::connectors::Unshared),
            events: events_tx,
            up: Arc::new(AtomicBool::new(false)),
        };
        let shared = Arc::new(Shared {
            throttle: Throttle::new(cfg.throughput),
            cfg,
            link,
            outbox: Mutex::new(outbox),
            tls: None,
            next_reference: AtomicU32::new(0),
            transmitters_up: Mutex::new(0),
            leased: Mutex::new(vec![false]),
        });
        (shared, commands, events)
    }

    #[tokio::test]
    async fn an_smsc_that_never_reads_while_the_bind_waits_ends_the_attempt() {
        // It takes the bind, then sends enquire_links without end and reads
        // nothing more: our answers fill the socket's buffers.
        use tokio::io::AsyncWriteExt as _;
        use tokio_util::codec::Encoder as _;
        // A small receive buffer on its side, so ours fill soon.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let port = listener.local_addr().unwrap().port();
        let smsc = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut wire = Framed::new(tcp, PduCodec::default());
            let _bind = wire.next().await;
            let (_, mut write) = wire.into_inner().into_split();
            let mut links = bytes::BytesMut::new();
            for sequence in 1..=4096 {
                PduCodec::default().encode(Packet::new(sequence, Pdu::EnquireLink), &mut links).unwrap();
            }
            while write.write_all(&links).await.is_ok() {}
        });
        // The buffers fill within a fraction of a second on an idle machine;
        // the deadline leaves room for a loaded one (else the read's
        // deadline comes first, which proves nothing about the write).
        let cfg =
            SmppConfig { host: "127.0.0.1".into(), port, response_timeout_secs: 4, ..SmppConfig::default() };
        let (shared, _commands, _events) = shared(cfg);
        let attempt = timeout(Duration::from_secs(60), dial_and_bind(&shared, Role::Transceiver)).await;
        let error =
            attempt.expect("the attempt ends once a write waits past the bind's deadline").err().unwrap();
        assert!(error.to_string().contains("does not read what we send while binding"), "{error:#}");
        smsc.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn enquire_link_goes_out_every_period_and_an_unanswered_one_ends_the_session() {
        let cfg = SmppConfig { enquire_link_secs: 30, response_timeout_secs: 10, ..SmppConfig::default() };
        let (mut session, mut smsc, _keep) = session(cfg);
        let start = Instant::now();
        let served = tokio::spawn(async move { session.serve().await });
        let first = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((first.pdu, start.elapsed()), (Pdu::EnquireLink, Duration::from_secs(30)));
        smsc.send(Packet::new(first.sequence_number, Pdu::EnquireLinkResp)).await.unwrap();
        let second = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((second.pdu, start.elapsed()), (Pdu::EnquireLink, Duration::from_secs(60)));
        let ended = served.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(70));
        assert!(
            matches!(&ended, Ended::Dropped(r) if r == "no answer to enquire_link within 10s"),
            "{ended:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_shutdown_the_window_is_answered_before_the_unbind() {
        let (mut session, mut smsc, (commands, mut events)) = session(SmppConfig::default());
        let shutdown = session.shared.link.shutdown.clone();
        let task = tokio::spawn(async move {
            let ended = session.serve().await;
            let reason = session.close(ended).await;
            session.fail_all(&reason).await;
            reason
        });
        let sms =
            OutboundSms { message_id: "m1".into(), to: "+48600100200".into(), from: None, text: "hi".into() };
        commands.send(Command::Submit(sms)).await.unwrap();
        let submit = smsc.next().await.unwrap().unwrap().unwrap();
        assert!(matches!(submit.pdu, Pdu::SubmitSm(_)), "{submit:?}");
        shutdown.cancel();
        sleep(Duration::from_secs(5)).await;
        let resp = smpp::SubmitSmResp { message_id: COctetString::try_from("abc").unwrap() };
        smsc.send(Packet::new(submit.sequence_number, Pdu::SubmitSmResp(resp))).await.unwrap();
        let unbind = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!(unbind.pdu, Pdu::Unbind);
        smsc.send(Packet::new(unbind.sequence_number, Pdu::UnbindResp)).await.unwrap();
        assert_eq!(task.await.unwrap(), "shutdown");
        let event = events.recv().await.unwrap().event;
        assert_eq!(
            event,
            ConnectorEvent::Submitted { message_id: "m1".into(), smsc_ids: vec!["abc".into()], segments: 1 }
        );
    }

    /// Submits one message and returns the submit_sm the SMSC read.
    async fn submit_one(
        commands: &mpsc::Sender<Command>,
        smsc: &mut Framed<tokio::io::DuplexStream, PduCodec>,
    ) -> Packet {
        let sms =
            OutboundSms { message_id: "m1".into(), to: "+48600100200".into(), from: None, text: "hi".into() };
        commands.send(Command::Submit(sms)).await.unwrap();
        let submit = smsc.next().await.unwrap().unwrap().unwrap();
        assert!(matches!(submit.pdu, Pdu::SubmitSm(_)), "{submit:?}");
        submit
    }

    /// A submit_sm_resp whose message_id has no NUL (undecodable), with `status`.
    fn unterminated_submit_resp(sequence: u32, status: CommandStatus) -> Vec<u8> {
        let mut raw = 19u32.to_be_bytes().to_vec();
        raw.extend_from_slice(&(CommandId::SubmitSmResp as u32).to_be_bytes());
        raw.extend_from_slice(&status.0.to_be_bytes());
        raw.extend_from_slice(&sequence.to_be_bytes());
        raw.extend_from_slice(b"abc");
        raw
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_submit_answer_is_judged_by_its_status_so_an_accepted_message_is_not_sent_again() {
        use tokio::io::AsyncWriteExt as _;
        for (status, expected) in [
            (
                CommandStatus::ESME_ROK,
                ConnectorEvent::Submitted {
                    message_id: "m1".into(),
                    smsc_ids: vec![String::new()],
                    segments: 1,
                },
            ),
            (
                CommandStatus::ESME_RINVDSTADR,
                ConnectorEvent::SubmitFailed {
                    message_id: "m1".into(),
                    temporary: false,
                    reason: "ESME_RINVDSTADR (0x0000000B): Invalid destination address.".into(),
                },
            ),
        ] {
            let (mut session, mut smsc, (commands, mut events)) = session(SmppConfig::default());
            let served = tokio::spawn(async move { session.serve().await });
            let submit = submit_one(&commands, &mut smsc).await;
            let raw = unterminated_submit_resp(submit.sequence_number, status);
            smsc.get_mut().write_all(&raw).await.unwrap();
            assert_eq!(events.recv().await.unwrap().event, expected);
            served.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_submit_answer_with_padding_or_a_broken_tail_after_its_id_keeps_the_id() {
        use tokio::io::AsyncWriteExt as _;
        for tail in [&b"\0"[..], b"\0\0", b"\x01\x02", b"\x00\x1d\x00\x09ok"] {
            let (mut session, mut smsc, (commands, mut events)) = session(SmppConfig::default());
            let served = tokio::spawn(async move { session.serve().await });
            let submit = submit_one(&commands, &mut smsc).await;
            let body = [&b"abc\0"[..], tail].concat();
            let raw = raw_frame(
                CommandId::SubmitSmResp as u32,
                CommandStatus::ESME_ROK,
                submit.sequence_number,
                &body,
            );
            smsc.get_mut().write_all(&raw).await.unwrap();
            assert_eq!(
                events.recv().await.unwrap().event,
                ConnectorEvent::Submitted {
                    message_id: "m1".into(),
                    smsc_ids: vec!["abc".into()],
                    segments: 1
                },
                "{tail:?}"
            );
            served.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_receipt_with_a_stray_nul_after_its_text_is_stored_and_acknowledged() {
        use tokio::io::AsyncWriteExt as _;
        let (mut session, mut smsc, (_commands, mut events)) = session(SmppConfig::default());
        let served = tokio::spawn(async move { session.serve().await });
        let receipt = DeliverSm {
            esm_class: smpp::EsmClass::DELIVERY_RECEIPT,
            short_message: smpp::ShortMessage::try_from("id:abc stat:DELIVRD err:000").unwrap(),
            ..DeliverSm::default()
        };
        let mut raw = Packet::new(9, Pdu::DeliverSm(receipt)).to_bytes().unwrap().to_vec();
        raw.push(0);
        let len = raw.len() as u32;
        raw[..4].copy_from_slice(&len.to_be_bytes());
        smsc.get_mut().write_all(&raw).await.unwrap();
        let event = events.recv().await.unwrap();
        assert!(
            matches!(&event.event, ConnectorEvent::DeliveryReport { smsc_id, .. } if smsc_id == "abc"),
            "{event:?}"
        );
        event.stored.unwrap().send(()).unwrap();
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((resp.sequence_number, resp.status), (9, CommandStatus::ESME_ROK));
        served.abort();
    }

    /// A frame of `command_id` with `body` as it is, however malformed.
    fn raw_frame(command_id: u32, status: CommandStatus, sequence: u32, body: &[u8]) -> Vec<u8> {
        let mut raw = (16 + body.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(&command_id.to_be_bytes());
        raw.extend_from_slice(&status.0.to_be_bytes());
        raw.extend_from_slice(&sequence.to_be_bytes());
        raw.extend_from_slice(body);
        raw
    }

    /// Dials an SMSC that answers the bind with `body` and `status`.
    async fn bind_answered_with(body: &'static [u8], status: CommandStatus) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let smsc = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut wire = Framed::new(tcp, PduCodec::default());
            let bind = wire.next().await.unwrap().unwrap().unwrap();
            let answer = raw_frame(CommandId::BindTransceiverResp as u32, status, bind.sequence_number, body);
            wire.get_mut().write_all(&answer).await.unwrap();
            // Held open until the session has read the answer.
            let _ = wire.next().await;
        });
        let cfg = SmppConfig { host: "127.0.0.1".into(), port, ..SmppConfig::default() };
        let (shared, _commands, _events) = shared(cfg);
        let bound = dial_and_bind(&shared, Role::Transceiver).await.map(drop);
        smsc.abort();
        bound
    }

    #[tokio::test]
    async fn a_malformed_bind_answer_is_judged_by_its_status() {
        // A stray NUL after system_id, and a system_id past its 15 octets.
        for body in [&b"SMSC\0\0"[..], b"a-very-long-smsc-name\0"] {
            let bound = bind_answered_with(body, CommandStatus::ESME_ROK).await;
            assert!(bound.is_ok(), "{body:?}: {bound:?}");
        }
        let refused = bind_answered_with(b"a-very-long-smsc-name\0", CommandStatus::ESME_RBINDFAIL).await;
        let error = refused.unwrap_err().to_string();
        assert!(error.contains("refused the bind: ESME_RBINDFAIL"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn with_its_inbound_limit_busy_a_session_still_reads_answers_and_refuses_more_for_now() {
        let (mut session, mut smsc, (commands, mut events)) = session(SmppConfig::default());
        let served = tokio::spawn(async move { session.serve().await });
        let submit = submit_one(&commands, &mut smsc).await;
        let Pdu::SubmitSm(sm) = submit.pdu.clone() else { unreachable!() };
        // Storage holds every inbound report without committing it.
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(event) = events.recv().await {
                if matches!(event.event, ConnectorEvent::Submitted { .. }) {
                    return (held.len(), event.event);
                }
                held.push(event);
            }
            panic!("the session ended");
        });
        let first = 1000;
        let over = first + MAX_INBOUND_IN_PROGRESS as u32;
        for sequence in first..=over {
            smsc.send(Packet::new(sequence, Pdu::DeliverSm(DeliverSm::from(sm.clone())))).await.unwrap();
        }
        let refused = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((refused.sequence_number, refused.status), (over, CommandStatus::ESME_RX_T_APPN));
        let resp = smpp::SubmitSmResp { message_id: COctetString::try_from("abc").unwrap() };
        smsc.send(Packet::new(submit.sequence_number, Pdu::SubmitSmResp(resp))).await.unwrap();
        let (busy, submitted) = held.await.unwrap();
        assert_eq!(busy, MAX_INBOUND_IN_PROGRESS);
        assert_eq!(
            submitted,
            ConnectorEvent::Submitted { message_id: "m1".into(), smsc_ids: vec!["abc".into()], segments: 1 }
        );
        served.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_query_waits_for_room_in_the_window_as_a_submission_does() {
        let (mut session, mut smsc, (commands, mut events)) =
            session(SmppConfig { window: 1, ..SmppConfig::default() });
        let served = tokio::spawn(async move { session.serve().await });
        let submit = submit_one(&commands, &mut smsc).await;
        let query = Command::Query { message_id: "m0".into(), smsc_id: "old".into(), from: None };
        commands.send(query).await.unwrap();
        assert!(timeout(Duration::from_secs(5), smsc.next()).await.is_err(), "the window is full");
        let resp = smpp::SubmitSmResp { message_id: COctetString::try_from("abc").unwrap() };
        smsc.send(Packet::new(submit.sequence_number, Pdu::SubmitSmResp(resp))).await.unwrap();
        let query = smsc.next().await.unwrap().unwrap().unwrap();
        assert!(matches!(query.pdu, Pdu::QuerySm(ref q) if q.message_id.as_bytes() == b"old"), "{query:?}");
        assert!(matches!(events.recv().await.unwrap().event, ConnectorEvent::Submitted { .. }));
        served.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_smscs_enquire_link_and_unbind_are_answered() {
        let (mut session, mut smsc, _keep) = session(SmppConfig::default());
        let served = tokio::spawn(async move { session.serve().await });
        smsc.send(Packet::new(7, Pdu::EnquireLink)).await.unwrap();
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((resp.sequence_number, resp.pdu), (7, Pdu::EnquireLinkResp));
        smsc.send(Packet::new(8, Pdu::Unbind)).await.unwrap();
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((resp.sequence_number, resp.pdu), (8, Pdu::UnbindResp));
        assert!(matches!(served.await.unwrap(), Ended::Unbound));
    }

    /// A deliver_sm carrying a message from a phone.
    fn mo(text: &str) -> Pdu {
        let short_message = smpp::ShortMessage::try_from(text).unwrap();
        Pdu::DeliverSm(DeliverSm { short_message, ..DeliverSm::default() })
    }

    #[tokio::test(start_paused = true)]
    async fn the_smscs_unbind_is_answered_after_the_deliver_sm_being_stored() {
        let (mut session, mut smsc, (_commands, mut events)) = session(SmppConfig::default());
        let served = tokio::spawn(async move { session.serve().await });
        smsc.send(Packet::new(20, mo("hello"))).await.unwrap();
        // Storage holds it.
        let stored = events.recv().await.unwrap().stored.unwrap();
        smsc.send(Packet::new(21, Pdu::Unbind)).await.unwrap();
        assert!(timeout(Duration::from_secs(2), smsc.next()).await.is_err(), "no answer before it is stored");
        stored.send(()).unwrap();
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!(
            (resp.sequence_number, resp.status, resp.pdu),
            (20, CommandStatus::ESME_ROK, Pdu::DeliverSmResp(DeliverSmResp::default()))
        );
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((resp.sequence_number, resp.pdu), (21, Pdu::UnbindResp));
        assert!(matches!(served.await.unwrap(), Ended::Unbound));
    }

    #[tokio::test(start_paused = true)]
    async fn the_smscs_unbind_waits_for_storage_no_longer_than_the_response_timeout() {
        let cfg = SmppConfig { response_timeout_secs: 10, ..SmppConfig::default() };
        let (mut session, mut smsc, (_commands, mut events)) = session(cfg);
        let served = tokio::spawn(async move { session.serve().await });
        smsc.send(Packet::new(20, mo("hello"))).await.unwrap();
        let _held = events.recv().await.unwrap();
        let start = Instant::now();
        smsc.send(Packet::new(21, Pdu::Unbind)).await.unwrap();
        // What arrives meanwhile is not taken.
        smsc.send(Packet::new(22, mo("later"))).await.unwrap();
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!((resp.sequence_number, resp.status), (22, CommandStatus::ESME_RX_T_APPN));
        let resp = smsc.next().await.unwrap().unwrap().unwrap();
        assert_eq!(
            (resp.sequence_number, resp.pdu, start.elapsed()),
            (21, Pdu::UnbindResp, Duration::from_secs(10))
        );
        assert!(matches!(served.await.unwrap(), Ended::Unbound));
    }

    #[test]
    fn the_reconnect_delay_doubles_up_to_its_cap_and_resets_after_a_session_that_lasted() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u64> = (0..5).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        let stable = Duration::from_secs(30);
        b.after_session(Duration::from_secs(29), stable);
        assert_eq!(b.next(), Duration::from_millis(500));
        b.after_session(stable, stable);
        assert_eq!(b.next(), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn an_smsc_that_unbinds_each_session_at_once_is_bound_again_ever_more_slowly() {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let binds = Arc::new(AtomicU32::new(0));
        let counted = binds.clone();
        let smsc = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut wire = Framed::new(tcp, PduCodec::default());
                let Some(Ok(Ok(bind))) = wire.next().await else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                let resp = Pdu::BindTransceiverResp(smpp::BindResp::default());
                let _ = wire.send(Packet::new(bind.sequence_number, resp)).await;
                let _ = wire.send(Packet::new(1, Pdu::Unbind)).await;
                let _ = wire.next().await;
            }
        });
        let cfg = SmppConfig {
            host: "127.0.0.1".into(),
            port,
            reconnect_min_ms: 50,
            reconnect_max_ms: 60_000,
            ..SmppConfig::default()
        };
        let (shared, _commands, mut events) = shared(cfg);
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let shutdown = shared.link.shutdown.clone();
        let sessions = tokio::spawn(run(shared, Role::Transceiver, 0));
        // Binds at 0, 50, 150, 350, 750 and 1550 ms or later: at most 5 in
        // 1.4 s (a fixed 50 ms wait would give about 28).
        sleep(Duration::from_millis(1400)).await;
        let seen = binds.load(Ordering::SeqCst);
        assert!((2..=5).contains(&seen), "{seen} binds");
        shutdown.cancel();
        sessions.await.unwrap();
        smsc.abort();
    }

    #[test]
    fn refusals_carry_the_status_name_code_and_description() {
        let f = refusal(CommandStatus::ESME_RINVDSTADR);
        assert!(!f.temporary);
        assert_eq!(f.reason, "ESME_RINVDSTADR (0x0000000B): Invalid destination address.");
        let f = refusal(CommandStatus::ESME_RTHROTTLED);
        assert!(f.temporary);
        assert!(refusal(CommandStatus(0x0400)).reason.starts_with("0x00000400: "));
        assert!(!refusal(CommandStatus(0x0400)).temporary);
    }

    #[test]
    fn a_permanent_failure_wins_over_a_temporary_one_but_not_the_reverse() {
        let mut m =
            Msg { message_id: "m".into(), smsc_ids: vec![], segments: 1, unanswered: 0, failure: None };
        m.fail(Failure { temporary: true, reason: "t".into() });
        m.fail(Failure { temporary: false, reason: "p".into() });
        m.fail(Failure { temporary: true, reason: "t2".into() });
        assert_eq!(m.failure.map(|f| (f.temporary, f.reason)), Some((false, "p".into())));
    }
}
