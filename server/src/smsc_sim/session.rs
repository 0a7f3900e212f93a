//! One ESME connection, from the first byte to the close: bind (checking
//! the account), answer requests, accept submissions into the store, write
//! the deliver_sm the postman hands over and report their answers, act
//! out the fault in force, and ask a silent peer with `enquire_link`,
//! closing the session if it stays silent.
//!
//! The session owns its socket and nothing else: message ids, receipts,
//! reassembly and counters live in the store. It never panics on what the
//! peer sends: a body that does not decode gets the reply the codec names,
//! a broken frame gets `generic_nack` and the connection is closed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use smpp::{
    Address, Bind, BindResp, COctetString, CodecError, CommandId, CommandStatus, DecodeError, Destination,
    INTERFACE_VERSION, Npi, Packet, Pdu, PduCodec, QuerySm, QuerySmResp, SubmitMulti, SubmitMultiResp,
    SubmitSm, SubmitSmResp, Tlv, Tlvs, Ton, UnsuccessSme, frame_len,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

use super::behaviour::SubmitVerdict;
use super::outbox::{DeliveryKey, SESSION_QUEUE_SPARE, SessionCmd, SessionId};
use super::store::Submission;
use super::{Connection, Shared};

/// The `system_id` the simulator gives in bind responses.
pub const SMSC_SYSTEM_ID: &str = "KurierSim";
/// A connection that has not bound by then is closed.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`super::SimSettings::idle_timeout`]: a bound session silent
/// this long gets an `enquire_link`, and is closed if still silent as long again.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may wait for a peer that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After sending `unbind`, how long to wait for `unbind_resp` before closing.
pub const UNBIND_GRACE: Duration = Duration::from_millis(500);

/// Submissions whose answers a session holds back (`submit_delay`) at
/// most: beyond, it reads no more from that client until some are due, as
/// an SMSC with a full window would, so a client that never reads its
/// answers cannot grow the queue without end.
pub const MAX_DELAYED_ANSWERS: usize = 10_000;
/// Answers all sessions together hold back at most (some 50 MB): past it, a
/// session that holds any reads no more until some are sent, and one that
/// holds none reads one submission at a time, so 1,024 connections cannot
/// hold [`MAX_DELAYED_ANSWERS`] each.
pub const MAX_DELAYED_ANSWERS_TOTAL: usize = 200_000;
/// What `GarbageAfterBind` writes: a `command_length` of 11, below the
/// 16-octet header, so no SMPP decoder can read on.
const GARBAGE: &[u8] = b"\x00\x00\x00\x0bgarbage";
/// XORed into the sequence number by `UnknownSequence`.
const WRONG_SEQUENCE_BIT: u32 = 0x4000_0000;
/// Highest sequence number before wrapping to 1 (spec: 0x7FFFFFFF).
const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

/// Why a session ended (for the log).
#[derive(Debug)]
enum Ended {
    PeerClosed,
    Unbound,
    Framing,
    Io(String),
    Timeout,
    Idle,
    Fault(&'static str),
    Shutdown,
    Dropped,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::PeerClosed => f.write_str("the peer closed the connection"),
            Ended::Unbound => f.write_str("unbound"),
            Ended::Framing => f.write_str("broken framing"),
            Ended::Io(e) => write!(f, "I/O error: {e}"),
            Ended::Timeout => f.write_str("timed out"),
            Ended::Idle => f.write_str("silent, and no answer to enquire_link"),
            Ended::Fault(name) => write!(f, "fault {name}"),
            Ended::Shutdown => f.write_str("shutdown"),
            Ended::Dropped => f.write_str("dropped on request"),
        }
    }
}

type Step = Result<(), Ended>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

struct Bound {
    id: SessionId,
    system_id: String,
    kind: BindKind,
}

/// A submission answer waiting for the configured latency.
struct Delayed {
    due: Instant,
    packet: Packet,
}

/// The deliver_sm a session sent and has no answer to yet, by sequence
/// number and in the order they were sent, so an answer finds its delivery
/// and the oldest is found without a scan.
///
/// A full window (`deliver_window`) is always remembered: past twice the
/// window, only attempts older than `receipt_retry` are forgotten (the
/// outbox has handed those out again, and the newer attempt's answer
/// settles them); past four times the window, the oldest go regardless,
/// so a peer that never answers cannot grow it without end.
struct SentDeliveries {
    /// Sequence number → (delivery, send number).
    by_seq: HashMap<u32, (DeliveryKey, u64)>,
    /// Send number → (sequence number, sent at), oldest first.
    by_age: BTreeMap<u64, (u32, Instant)>,
    sends: u64,
    /// Past this many, attempts older than `old_after` are forgotten.
    soft_limit: usize,
    /// Past this many, the oldest are forgotten whatever their age.
    hard_limit: usize,
    old_after: Duration,
}

impl SentDeliveries {
    fn new(settings: &super::SimSettings) -> Self {
        let window = settings.deliver_window.max(1);
        SentDeliveries {
            by_seq: HashMap::new(),
            by_age: BTreeMap::new(),
            sends: 0,
            soft_limit: window * 2,
            hard_limit: window * 4,
            old_after: settings.receipt_retry,
        }
    }

    fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Remembers that `key` went out under `seq` at `now`.
    fn insert(&mut self, seq: u32, key: DeliveryKey, now: Instant) {
        while self.len() >= self.soft_limit
            && let Some((_, &(oldest, at))) = self.by_age.first_key_value()
            && (self.len() >= self.hard_limit || now.saturating_duration_since(at) >= self.old_after)
        {
            self.by_age.pop_first();
            self.by_seq.remove(&oldest);
        }
        self.sends += 1;
        // A sequence number used again (after wrapping) replaces the old attempt.
        if let Some((_, old)) = self.by_seq.insert(seq, (key, self.sends)) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(self.sends, (seq, now));
    }

    /// The delivery sent under `seq`, forgotten now that it is answered.
    fn remove(&mut self, seq: u32) -> Option<DeliveryKey> {
        let (key, send) = self.by_seq.remove(&seq)?;
        self.by_age.remove(&send);
        Some(key)
    }
}

/// The answers all sessions hold back, counted against one limit
/// ([`MAX_DELAYED_ANSWERS_TOTAL`]) besides each session's own
/// ([`MAX_DELAYED_ANSWERS`]).
pub(crate) struct HeldAnswers {
    held: AtomicUsize,
    limit: usize,
}

impl HeldAnswers {
    pub(crate) fn new(limit: usize) -> Self {
        HeldAnswers { held: AtomicUsize::new(0), limit }
    }

    /// Whether a session holding `own` answers back may read more from its
    /// client. One holding none always may: it has no due answer to wake
    /// it, and it adds one answer at most before it stops.
    fn may_read(&self, own: usize) -> bool {
        own == 0 || (own < MAX_DELAYED_ANSWERS && self.held.load(Ordering::Relaxed) < self.limit)
    }

    fn hold(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    fn release(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Serves one accepted TCP connection (TLS first when configured).
pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    let connection = shared.connections.open();
    match tls {
        None => run(shared, stream, peer, &connection).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                handshake = timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
                () = connection.cut() => return,
            };
            match handshake {
                Ok(Ok(stream)) => run(shared, stream, peer, &connection).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "SMSC simulator: TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "SMSC simulator: TLS handshake timed out"),
            }
        }
    }
}

async fn run<S>(shared: Arc<Shared>, io: S, peer: SocketAddr, connection: &Connection)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (tx, rx) = mpsc::channel(shared.settings.deliver_window.max(1) + SESSION_QUEUE_SPARE);
    let sent = SentDeliveries::new(&shared.settings);
    let mut session = Session {
        shared,
        framed: Framed::new(io, PduCodec::default()),
        tx,
        rx,
        bound: None,
        next_seq: 0,
        delayed: VecDeque::new(),
        unanswered: 0,
        submits: 0,
        sent,
        closing: None,
        last_heard: Instant::now(),
        probing: false,
    };
    let ended = tokio::select! {
        ended = session.serve() => ended,
        () = connection.cut() => Ended::Dropped,
    };
    tracing::debug!(%peer, %ended, "SMSC simulator: session ended");
    if let Some(bound) = session.bound.take() {
        session.shared.store.unregister(bound.id, session.unanswered);
    }
    let io = session.framed.get_mut();
    let _ = timeout(Duration::from_secs(1), poll_fn(|cx| Pin::new(&mut *io).poll_shutdown(cx))).await;
}

struct Session<S> {
    shared: Arc<Shared>,
    framed: Framed<S, PduCodec>,
    tx: mpsc::Sender<SessionCmd>,
    rx: mpsc::Receiver<SessionCmd>,
    bound: Option<Bound>,
    next_seq: u32,
    delayed: VecDeque<Delayed>,
    /// Submissions received and not answered (counted in the store's window).
    unanswered: u64,
    /// Submissions received on this session.
    submits: u64,
    /// Our deliver_sm waiting for an answer.
    sent: SentDeliveries,
    /// Set once we sent `unbind`: close at this instant at the latest.
    closing: Option<Instant>,
    /// When the peer last sent anything.
    last_heard: Instant,
    /// We sent `enquire_link` after a silence and wait for any answer.
    probing: bool,
}

impl<S> Drop for Session<S> {
    /// Answers still held back go unsent: their share of the limit is free.
    fn drop(&mut self) {
        self.shared.held_answers.release(self.delayed.len());
    }
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn serve(&mut self) -> Ended {
        let bind_deadline = Instant::now() + BIND_TIMEOUT;
        loop {
            let delayed_due = self.delayed.front().map(|d| d.due);
            let deadline = self.closing.or(if self.bound.is_none() { Some(bind_deadline) } else { None });
            // Bound, not closing and owing no answers: silence is watched.
            let idle_at =
                (self.bound.is_some() && self.closing.is_none() && self.delayed.is_empty()).then(|| {
                    self.last_heard + self.shared.settings.idle_timeout * if self.probing { 2 } else { 1 }
                });
            // Due answers before deliveries: a receipt is due no earlier
            // than its submission's answer, and must not overtake it.
            let step = tokio::select! {
                biased;
                _ = self.shared.shutdown.cancelled(), if self.closing.is_none() => self.begin_unbind().await,
                _ = sleep_until(delayed_due.unwrap_or(bind_deadline)), if delayed_due.is_some() => {
                    self.send_due().await
                }
                Some(cmd) = self.rx.recv() => self.on_command(cmd).await,
                _ = sleep_until(deadline.unwrap_or(bind_deadline)), if deadline.is_some() => Err(Ended::Timeout),
                _ = sleep_until(idle_at.unwrap_or(bind_deadline)), if idle_at.is_some() => self.on_silence().await,
                item = self.framed.next(), if self.shared.held_answers.may_read(self.delayed.len()) => {
                    self.on_item(item).await
                }
            };
            if let Err(ended) = step {
                let _ = timeout(WRITE_TIMEOUT, SinkExt::<Packet>::flush(&mut self.framed)).await;
                return ended;
            }
            // Write in batches: flush only when no whole PDU is already waiting.
            let more_input =
                matches!(frame_len(self.framed.read_buffer(), self.framed.codec().max_len), Ok(Some(_)));
            if !more_input && let Err(ended) = self.flush().await {
                return ended;
            }
        }
    }

    async fn flush(&mut self) -> Step {
        match timeout(WRITE_TIMEOUT, SinkExt::<Packet>::flush(&mut self.framed)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Ended::Io(e.to_string())),
            Err(_) => Err(Ended::Io("write timed out".into())),
        }
    }

    async fn send(&mut self, packet: Packet) -> Step {
        match timeout(WRITE_TIMEOUT, self.framed.feed(packet)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(CodecError::Encode(e))) => {
                tracing::warn!(error = %e, "SMSC simulator: could not encode a PDU; skipped");
                Ok(())
            }
            Ok(Err(e)) => Err(Ended::Io(e.to_string())),
            Err(_) => Err(Ended::Io("write timed out".into())),
        }
    }

    /// Writes octets that are not a PDU (faults), after what is queued.
    async fn write_raw(&mut self, bytes: &[u8]) -> Step {
        self.flush().await?;
        let io = self.framed.get_mut();
        let write = async {
            let mut rest = bytes;
            while !rest.is_empty() {
                let n = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, rest)).await?;
                if n == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
                }
                rest = rest.get(n..).unwrap_or_default();
            }
            poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await
        };
        match timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Ended::Io(e.to_string())),
            Err(_) => Err(Ended::Io("write timed out".into())),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.next_seq = if self.next_seq >= MAX_SEQUENCE { 1 } else { self.next_seq + 1 };
        self.next_seq
    }

    /// Answers a request with its own response (or generic_nack) and `status`.
    async fn refuse(&mut self, seq: u32, id: CommandId, status: CommandStatus) -> Step {
        let pdu = id.response().and_then(Pdu::empty_response_to).unwrap_or(Pdu::GenericNack);
        self.send(Packet { sequence_number: seq, status, pdu }).await
    }

    /// The bound system_id if this session may submit (transmitter or transceiver).
    fn transmitting(&self) -> Option<String> {
        self.bound.as_ref().filter(|b| b.kind != BindKind::Receiver).map(|b| b.system_id.clone())
    }

    async fn begin_unbind(&mut self) -> Step {
        if self.bound.is_none() {
            return Err(Ended::Shutdown);
        }
        if self.closing.is_none() {
            // Every submission accepted is answered before the session ends.
            self.send_held(None).await?;
            let seq = self.next_seq();
            self.closing = Some(Instant::now() + UNBIND_GRACE);
            self.send(Packet::new(seq, Pdu::Unbind)).await?;
        }
        Ok(())
    }

    async fn on_command(&mut self, cmd: SessionCmd) -> Step {
        match cmd {
            SessionCmd::Deliver { key, pdu } => {
                let Some(bound) = &self.bound else { return Ok(()) };
                if self.closing.is_some() {
                    self.shared.store.handover_failed(key, bound.id, Instant::now());
                    return Ok(());
                }
                // Answers due by now go first, so a receipt (due no earlier
                // than its submission's answer) never overtakes its answer.
                if !self.delayed.is_empty() {
                    self.send_due().await?;
                }
                let seq = self.next_seq();
                self.sent.insert(seq, key, Instant::now());
                self.send(Packet::new(seq, Pdu::DeliverSm(*pdu))).await
            }
        }
    }

    /// The peer has been silent for the idle timeout: ask whether it is
    /// there, or, if it was asked and still said nothing, close.
    async fn on_silence(&mut self) -> Step {
        if self.probing {
            return Err(Ended::Idle);
        }
        self.probing = true;
        let seq = self.next_seq();
        self.send(Packet::new(seq, Pdu::EnquireLink)).await
    }

    /// Sends the held-back answers that are due.
    async fn send_due(&mut self) -> Step {
        self.send_held(Some(Instant::now())).await
    }

    /// Sends the held-back answers due by `until`, or all of them (`None`).
    async fn send_held(&mut self, until: Option<Instant>) -> Step {
        let mut answered = 0;
        while self.delayed.front().is_some_and(|d| until.is_none_or(|until| d.due <= until)) {
            if let Some(d) = self.delayed.pop_front() {
                self.shared.held_answers.release(1);
                self.send(d.packet).await?;
                answered += 1;
            }
        }
        self.note_answered(answered);
        Ok(())
    }

    fn note_answered(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.unanswered = self.unanswered.saturating_sub(n);
        if let Some(bound) = &self.bound {
            self.shared.store.submits_answered(&bound.system_id, n);
        }
    }

    /// Sends the answer to a submission received at `received` now, or at
    /// `received` + the configured latency (the instant the store counts
    /// the receipt delay from).
    async fn answer_submit(&mut self, packet: Packet, received: Instant) -> Step {
        let delay = self.shared.settings.submit_delay;
        if delay.is_zero() {
            self.send(packet).await?;
            self.note_answered(1);
        } else {
            self.delayed.push_back(Delayed { due: received + delay, packet });
            self.shared.held_answers.hold();
        }
        Ok(())
    }

    async fn on_item(&mut self, item: Option<Result<Result<Packet, DecodeError>, CodecError>>) -> Step {
        self.last_heard = Instant::now();
        self.probing = false;
        match item {
            None => Err(Ended::PeerClosed),
            Some(Err(CodecError::Frame(frame))) => {
                tracing::debug!(error = %frame, "SMSC simulator: broken frame; closing");
                self.send(frame.reply()).await?;
                Err(Ended::Framing)
            }
            Some(Err(e)) => Err(Ended::Io(e.to_string())),
            Some(Ok(Err(bad))) => {
                tracing::debug!(error = %bad, "SMSC simulator: undecodable PDU");
                if self.bound.is_some() && self.shared.fault.current().ignores_everything() {
                    return Ok(());
                }
                let is_submit = bad.command_id() == Some(CommandId::SubmitSm.as_u32());
                if is_submit && let Some(system_id) = self.transmitting() {
                    self.shared.store.submit_refused(&system_id);
                }
                match bad.reply() {
                    Some(reply) => self.send(reply).await,
                    None => Ok(()),
                }
            }
            Some(Ok(Ok(packet))) => self.on_packet(packet).await,
        }
    }

    async fn on_packet(&mut self, packet: Packet) -> Step {
        let Packet { sequence_number: seq, status, pdu } = packet;
        let id = pdu.command_id();
        let black_hole = self.bound.is_some() && self.shared.fault.current().ignores_everything();
        match pdu {
            Pdu::BindTransmitter(b) => self.on_bind(seq, BindKind::Transmitter, b).await,
            Pdu::BindReceiver(b) => self.on_bind(seq, BindKind::Receiver, b).await,
            Pdu::BindTransceiver(b) => self.on_bind(seq, BindKind::Transceiver, b).await,
            Pdu::SubmitSm(submit) => self.on_submit(seq, submit).await,
            Pdu::SubmitMulti(multi) => self.on_submit_multi(seq, multi).await,
            Pdu::DeliverSmResp(_) | Pdu::GenericNack => {
                let ok = status.is_ok() && id == CommandId::DeliverSmResp;
                self.on_delivery_answer(seq, ok);
                Ok(())
            }
            Pdu::UnbindResp if self.closing.is_some() => Err(Ended::Unbound),
            _ if id.is_response() => Ok(()),
            _ if black_hole => Ok(()),
            Pdu::EnquireLink => self.send(Packet::new(seq, Pdu::EnquireLinkResp)).await,
            Pdu::Unbind => {
                // Every submission accepted is answered before the session ends.
                self.send_held(None).await?;
                self.send(Packet::new(seq, Pdu::UnbindResp)).await?;
                Err(Ended::Unbound)
            }
            Pdu::QuerySm(query) => self.on_query(seq, query).await,
            Pdu::CancelSm(_) | Pdu::ReplaceSm(_) | Pdu::DataSm(_) => {
                let status = match (self.transmitting(), id) {
                    (None, _) => CommandStatus::ESME_RINVBNDSTS,
                    (Some(_), CommandId::CancelSm) => CommandStatus::ESME_RCANCELFAIL,
                    (Some(_), CommandId::ReplaceSm) => CommandStatus::ESME_RREPLACEFAIL,
                    (Some(_), _) => CommandStatus::ESME_RINVCMDID,
                };
                self.refuse(seq, id, status).await
            }
            // deliver_sm, outbind and alert_notification go the other way.
            _ => {
                self.send(Packet {
                    sequence_number: seq,
                    status: CommandStatus::ESME_RINVCMDID,
                    pdu: Pdu::GenericNack,
                })
                .await
            }
        }
    }

    async fn on_bind(&mut self, seq: u32, kind: BindKind, bind: Bind) -> Step {
        let resp_id = match kind {
            BindKind::Transmitter => CommandId::BindTransmitter,
            BindKind::Receiver => CommandId::BindReceiver,
            BindKind::Transceiver => CommandId::BindTransceiver,
        };
        if self.bound.is_some() {
            return self.refuse(seq, resp_id, CommandStatus::ESME_RALYBND).await;
        }
        let system_id = bind.system_id.to_str_lossy().into_owned();
        let password = bind.password.to_str_lossy();
        let accounts = &self.shared.settings.accounts;
        let status =
            if accounts.is_empty() || accounts.iter().any(|(id, pw)| *id == system_id && *pw == password) {
                CommandStatus::ESME_ROK
            } else if accounts.iter().any(|(id, _)| *id == system_id) {
                CommandStatus::ESME_RINVPASWD
            } else {
                CommandStatus::ESME_RINVSYSID
            };
        if !status.is_ok() {
            tracing::debug!(%system_id, %status, "SMSC simulator: bind refused");
            return self.refuse(seq, resp_id, status).await;
        }
        let can_receive = kind != BindKind::Transmitter;
        let Some(id) = self.shared.store.register(&system_id, can_receive, self.tx.clone()) else {
            tracing::debug!(%system_id, "SMSC simulator: bind refused, too many system_ids in use");
            return self.refuse(seq, resp_id, CommandStatus::ESME_RBINDFAIL).await;
        };
        tracing::debug!(%system_id, ?kind, session = id, "SMSC simulator: bound");
        self.bound = Some(Bound { id, system_id, kind });
        // SMPP 3.3 peers know no TLVs; 3.4 ones learn our version from this one.
        let tlvs = if bind.interface_version >= INTERFACE_VERSION {
            [Tlv::sc_interface_version(INTERFACE_VERSION)].into_iter().collect()
        } else {
            Tlvs::new()
        };
        let resp = BindResp { system_id: COctetString::try_from(SMSC_SYSTEM_ID).unwrap_or_default(), tlvs };
        let pdu = match kind {
            BindKind::Transmitter => Pdu::BindTransmitterResp(resp),
            BindKind::Receiver => Pdu::BindReceiverResp(resp),
            BindKind::Transceiver => Pdu::BindTransceiverResp(resp),
        };
        self.send(Packet::new(seq, pdu)).await?;
        if self.shared.fault.current() == super::Behaviour::GarbageAfterBind {
            self.write_raw(GARBAGE).await?;
        }
        Ok(())
    }

    /// Counts a submission and asks the fault switch what to do with it.
    fn count_submit(&mut self, system_id: &str) -> SubmitVerdict {
        self.submits += 1;
        self.unanswered += 1;
        self.shared.store.submit_received(system_id, Instant::now());
        self.shared.fault.on_submit(self.submits)
    }

    /// Carries out a verdict other than accepting; `None` means accept.
    async fn act_out(
        &mut self,
        seq: u32,
        id: CommandId,
        verdict: SubmitVerdict,
        system_id: &str,
    ) -> Option<Step> {
        match verdict {
            SubmitVerdict::Accept | SubmitVerdict::AcceptWrongSequence => None,
            SubmitVerdict::Ignore => Some(Ok(())),
            SubmitVerdict::Refuse(status) => {
                self.shared.store.submit_refused(system_id);
                let pdu = id.response().and_then(Pdu::empty_response_to).unwrap_or(Pdu::GenericNack);
                Some(self.answer_submit(Packet { sequence_number: seq, status, pdu }, Instant::now()).await)
            }
            SubmitVerdict::Unbind => Some(self.begin_unbind().await),
            SubmitVerdict::Disconnect => Some(Err(Ended::Fault("disconnect-after"))),
            SubmitVerdict::CloseMidPdu => {
                let resp = Packet::new(seq, Pdu::SubmitSmResp(SubmitSmResp::default()));
                let bytes = resp.to_bytes().unwrap_or_default();
                let half = bytes.get(..bytes.len() / 2).unwrap_or_default();
                Some(self.write_raw(half).await.and(Err(Ended::Fault("close-mid-pdu"))))
            }
        }
    }

    async fn on_submit(&mut self, seq: u32, submit: SubmitSm) -> Step {
        let Some(system_id) = self.transmitting() else {
            return self.refuse(seq, CommandId::SubmitSm, CommandStatus::ESME_RINVBNDSTS).await;
        };
        let verdict = self.count_submit(&system_id);
        if let Some(step) = self.act_out(seq, CommandId::SubmitSm, verdict, &system_id).await {
            return step;
        }
        if submit.destination.addr.is_empty() {
            self.shared.store.submit_refused(&system_id);
            let pdu = Pdu::SubmitSmResp(SubmitSmResp::default());
            let packet = Packet { sequence_number: seq, status: CommandStatus::ESME_RINVDSTADR, pdu };
            return self.answer_submit(packet, Instant::now()).await;
        }
        let submission = Submission {
            source: &submit.source,
            destinations: vec![&submit.destination],
            esm_class: submit.esm_class,
            data_coding: submit.data_coding,
            registered_delivery: submit.registered_delivery,
            payload: submit.payload(),
            tlvs: &submit.tlvs,
        };
        let received = Instant::now();
        let message_id = self.shared.store.accept(&system_id, &submission, received);
        let seq = if verdict == SubmitVerdict::AcceptWrongSequence { seq ^ WRONG_SEQUENCE_BIT } else { seq };
        let resp = SubmitSmResp { message_id: COctetString::try_from(message_id).unwrap_or_default() };
        self.answer_submit(Packet::new(seq, Pdu::SubmitSmResp(resp)), received).await
    }

    async fn on_submit_multi(&mut self, seq: u32, multi: SubmitMulti) -> Step {
        let Some(system_id) = self.transmitting() else {
            return self.refuse(seq, CommandId::SubmitMulti, CommandStatus::ESME_RINVBNDSTS).await;
        };
        let verdict = self.count_submit(&system_id);
        if let Some(step) = self.act_out(seq, CommandId::SubmitMulti, verdict, &system_id).await {
            return step;
        }
        let payload = multi.tlvs.message_payload().unwrap_or(multi.short_message.as_bytes());
        let mut unsuccess_smes = Vec::new();
        let mut submission = Submission {
            source: &multi.source,
            destinations: Vec::new(),
            esm_class: multi.esm_class,
            data_coding: multi.data_coding,
            registered_delivery: multi.registered_delivery,
            payload,
            tlvs: &multi.tlvs,
        };
        for destination in &multi.destinations {
            match destination {
                Destination::Sme(address) if !address.addr.is_empty() => {
                    submission.destinations.push(address)
                }
                Destination::Sme(address) => unsuccess_smes.push(UnsuccessSme {
                    address: address.clone(),
                    error_status_code: CommandStatus::ESME_RINVDSTADR,
                }),
                Destination::DistributionList(name) => unsuccess_smes.push(UnsuccessSme {
                    address: Address::new(Ton::Unknown, Npi::Unknown, &name.to_str_lossy())
                        .unwrap_or_default(),
                    error_status_code: CommandStatus::ESME_RCNTSUBDL,
                }),
            }
        }
        if submission.destinations.is_empty() {
            self.shared.store.submit_refused(&system_id);
            let resp = SubmitMultiResp { message_id: COctetString::empty(), unsuccess_smes };
            let packet = Packet {
                sequence_number: seq,
                status: CommandStatus::ESME_RCNTSUBDL,
                pdu: Pdu::SubmitMultiResp(resp),
            };
            return self.answer_submit(packet, Instant::now()).await;
        }
        let received = Instant::now();
        let message_id = self.shared.store.accept(&system_id, &submission, received);
        let seq = if verdict == SubmitVerdict::AcceptWrongSequence { seq ^ WRONG_SEQUENCE_BIT } else { seq };
        let resp = SubmitMultiResp {
            message_id: COctetString::try_from(message_id).unwrap_or_default(),
            unsuccess_smes,
        };
        self.answer_submit(Packet::new(seq, Pdu::SubmitMultiResp(resp)), received).await
    }

    async fn on_query(&mut self, seq: u32, query: QuerySm) -> Step {
        let Some(system_id) = self.transmitting() else {
            return self.refuse(seq, CommandId::QuerySm, CommandStatus::ESME_RINVBNDSTS).await;
        };
        let message_id = query.message_id.to_str_lossy();
        match self.shared.store.query(&system_id, &message_id, Instant::now()) {
            Some(answer) => {
                let resp = QuerySmResp {
                    message_id: query.message_id.clone(),
                    final_date: COctetString::try_from(answer.final_date).unwrap_or_default(),
                    message_state: answer.state,
                    error_code: answer.error_code,
                };
                self.send(Packet::new(seq, Pdu::QuerySmResp(resp))).await
            }
            None => self.refuse(seq, CommandId::QuerySm, CommandStatus::ESME_RINVMSGID).await,
        }
    }

    fn on_delivery_answer(&mut self, seq: u32, ok: bool) {
        let (Some(key), Some(bound)) = (self.sent.remove(seq), &self.bound) else { return };
        self.shared.store.delivery_answered(key, bound.id, ok, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: Duration = Duration::from_secs(5);

    fn sent_with_window(window: usize) -> SentDeliveries {
        SentDeliveries::new(&super::super::SimSettings {
            deliver_window: window,
            receipt_retry: RETRY,
            ..Default::default()
        })
    }

    #[test]
    fn past_the_shared_limit_only_sessions_holding_no_answers_read_on() {
        let held = HeldAnswers::new(3);
        for _ in 0..3 {
            assert!(held.may_read(1));
            held.hold();
        }
        assert!(!held.may_read(1), "three held: a session holding some waits");
        assert!(held.may_read(0), "one holding none reads on");
        held.release(1);
        assert!(held.may_read(2));
        assert!(!HeldAnswers::new(usize::MAX).may_read(MAX_DELAYED_ANSWERS), "each session's own limit");
    }

    #[test]
    fn every_unanswered_delivery_of_a_full_window_is_remembered_whatever_its_size() {
        let t0 = Instant::now();
        let mut sent = sent_with_window(10_000);
        for seq in 1..=10_000 {
            sent.insert(seq, u64::from(seq) + 100, t0);
        }
        assert_eq!(sent.len(), 10_000);
        assert_eq!(sent.remove(1), Some(101), "the first one sent is still known");
        assert_eq!(sent.remove(1), None, "and answered once");
    }

    #[test]
    fn past_twice_the_window_only_attempts_older_than_the_retry_are_forgotten() {
        let t0 = Instant::now();
        let mut sent = sent_with_window(2);
        for seq in 1..=4 {
            sent.insert(seq, u64::from(seq), t0);
        }
        // Four (twice the window) and none older than the retry: kept.
        sent.insert(5, 5, t0 + RETRY / 2);
        assert_eq!(sent.len(), 5);
        // Those sent at t0 are now as old as the retry: they go, oldest first,
        // until there is room.
        sent.insert(6, 6, t0 + RETRY);
        assert_eq!(sent.len(), 4);
        assert_eq!((sent.remove(1), sent.remove(2), sent.remove(3)), (None, None, Some(3)));
        assert_eq!((sent.remove(5), sent.remove(6)), (Some(5), Some(6)));
    }

    #[test]
    fn past_four_times_the_window_the_oldest_go_whatever_their_age() {
        let t0 = Instant::now();
        let mut sent = sent_with_window(2);
        for seq in 1..=20 {
            sent.insert(seq, u64::from(seq), t0);
        }
        assert_eq!(sent.len(), 8);
        assert_eq!(sent.remove(12), None);
        assert_eq!(sent.remove(13), Some(13));
    }

    #[test]
    fn a_sequence_number_used_again_replaces_the_old_attempt() {
        let t0 = Instant::now();
        let mut sent = sent_with_window(2);
        sent.insert(7, 1, t0);
        sent.insert(7, 2, t0);
        assert_eq!((sent.len(), sent.by_age.len()), (1, 1));
        assert_eq!(sent.remove(7), Some(2));
        assert!(sent.by_age.is_empty());
    }
}
