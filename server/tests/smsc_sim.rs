//! The SMSC simulator, driven over real TCP by a small raw SMPP client
//! written here (no Kurier connector involved): binds, submissions and
//! receipts, reassembly, MO injection, query_sm, every named fault, garbage
//! from the client, the window and rate counters, TLS, and the HTTP control port.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kurier::smsc_sim::{
    Behaviour, IdFormat, MAX_DELAY, MAX_RECEIVED_BYTES, MAX_SYSTEM_IDS, MoSplit, ReceivedMessage,
    SMSC_SYSTEM_ID, SimHandle, SimSettings, SmscSim, serve_control,
};
use serde_json::{Value, json};
use smpp::{
    Address, Bind, CodecError, CommandId, CommandStatus, DataCoding, DeliverSm, DeliverSmResp, Destination,
    EsmClass, MessageState, Packet, Pdu, PduCodec, QuerySm, ReceiptStat, RegisteredDelivery, ShortMessage,
    SubmitMulti, SubmitSm, Tlv, Tlvs,
};
use sms_text::{PartLimits, Udh, gsm7, latin1, ucs2};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

/// How long anything expected may take to arrive.
const WAIT: Duration = Duration::from_secs(3);
/// How long to listen for something that must not arrive.
const QUIET: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------- the test ESME

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, Clone, Copy)]
enum As {
    Transmitter,
    Receiver,
    Transceiver,
}

/// What the next read from the wire gave.
#[derive(Debug)]
enum Item {
    Packet(Box<Packet>),
    Closed,
    Broken(String),
    Nothing,
}

/// A bare-bones ESME: sends PDUs, reads what comes back, keeps requests that
/// arrive while it waits for an answer.
struct Esme {
    wire: Framed<Box<dyn Io>, PduCodec>,
    seq: u32,
    backlog: VecDeque<Packet>,
}

impl Esme {
    async fn connect(addr: SocketAddr) -> Esme {
        Esme::over(Box::new(TcpStream::connect(addr).await.expect("connect")))
    }

    fn over(io: Box<dyn Io>) -> Esme {
        Esme { wire: Framed::new(io, PduCodec::default()), seq: 0, backlog: VecDeque::new() }
    }

    async fn bound(addr: SocketAddr, kind: As, system_id: &str, password: &str) -> Esme {
        let mut esme = Esme::connect(addr).await;
        let resp = esme.bind(kind, system_id, password).await;
        assert_eq!(resp.status, CommandStatus::ESME_ROK, "bind {system_id}");
        esme
    }

    async fn bind(&mut self, kind: As, system_id: &str, password: &str) -> Packet {
        let bind = Bind {
            system_id: system_id.try_into().unwrap(),
            password: password.try_into().unwrap(),
            ..Bind::default()
        };
        let pdu = match kind {
            As::Transmitter => Pdu::BindTransmitter(bind),
            As::Receiver => Pdu::BindReceiver(bind),
            As::Transceiver => Pdu::BindTransceiver(bind),
        };
        self.call(pdu).await
    }

    async fn send(&mut self, pdu: Pdu) -> u32 {
        self.seq += 1;
        self.wire.send(Packet::new(self.seq, pdu)).await.expect("send");
        self.seq
    }

    async fn item(&mut self, within: Duration) -> Item {
        match timeout(within, self.wire.next()).await {
            Err(_) => Item::Nothing,
            Ok(None) => Item::Closed,
            Ok(Some(Ok(Ok(packet)))) => Item::Packet(Box::new(packet)),
            Ok(Some(Ok(Err(e)))) => Item::Broken(e.to_string()),
            Ok(Some(Err(e))) => Item::Broken(e.to_string()),
        }
    }

    async fn packet(&mut self, within: Duration) -> Option<Packet> {
        match self.item(within).await {
            Item::Packet(p) => Some(*p),
            Item::Nothing => None,
            other => panic!("expected a PDU, got {other:?}"),
        }
    }

    /// Sends a request and waits for the response with its sequence number.
    async fn call(&mut self, pdu: Pdu) -> Packet {
        let seq = self.send(pdu).await;
        loop {
            let p = self.packet(WAIT).await.expect("an answer");
            if p.sequence_number == seq && p.command_id().is_response() {
                return p;
            }
            self.backlog.push_back(p);
        }
    }

    async fn submit(&mut self, submit: SubmitSm) -> Packet {
        self.call(Pdu::SubmitSm(submit)).await
    }

    /// Submits and returns the message id, which must be given.
    async fn submit_ok(&mut self, submit: SubmitSm) -> String {
        let resp = self.submit(submit).await;
        assert_eq!(resp.status, CommandStatus::ESME_ROK);
        match resp.pdu {
            Pdu::SubmitSmResp(r) => r.message_id.to_string(),
            other => panic!("{other:?}"),
        }
    }

    /// The next deliver_sm (from the backlog first), if one comes within `within`.
    async fn deliver_within(&mut self, within: Duration) -> Option<(u32, DeliverSm)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let packet = match self.backlog.pop_front() {
                Some(p) => p,
                None => self.packet(deadline.saturating_duration_since(tokio::time::Instant::now())).await?,
            };
            if let Pdu::DeliverSm(d) = packet.pdu {
                return Some((packet.sequence_number, d));
            }
        }
    }

    async fn deliver(&mut self) -> (u32, DeliverSm) {
        self.deliver_within(WAIT).await.expect("a deliver_sm")
    }

    async fn answer(&mut self, seq: u32, status: CommandStatus) {
        let resp = Packet { sequence_number: seq, status, pdu: Pdu::DeliverSmResp(DeliverSmResp::default()) };
        self.wire.send(resp).await.expect("send");
    }

    /// Reads and acknowledges the next receipt.
    async fn receipt(&mut self) -> DeliverSm {
        let (seq, deliver) = self.deliver().await;
        assert!(deliver.is_receipt(), "{deliver:?}");
        self.answer(seq, CommandStatus::ESME_ROK).await;
        deliver
    }
}

// ---------------------------------------------------------------- helpers

async fn start(settings: SimSettings) -> SimHandle {
    SmscSim::start("127.0.0.1:0".parse().unwrap(), settings).await.expect("simulator starts")
}

fn fast() -> SimSettings {
    SimSettings { receipt_delay: Duration::from_millis(20), ..SimSettings::default() }
}

fn sms(to: &str, text: &str) -> SubmitSm {
    SubmitSm {
        source: Address::alphanumeric("Kurier").unwrap(),
        destination: Address::international(to).unwrap(),
        registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
        short_message: ShortMessage::try_from(gsm7::encode(text).unwrap()).unwrap(),
        ..SubmitSm::default()
    }
}

fn no_receipt(submit: SubmitSm) -> SubmitSm {
    SubmitSm { registered_delivery: RegisteredDelivery::NONE, ..submit }
}

/// Polls until `check` holds, for up to [`WAIT`].
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn last_received(sim: &SimHandle) -> ReceivedMessage {
    sim.received().last().cloned().expect("a received message")
}

/// Joins received MO parts (UDH or SAR) back into text.
fn join_mo(parts: &[DeliverSm]) -> String {
    let mut by_seq = BTreeMap::new();
    for part in parts {
        let (seq, body) = if part.esm_class.has_udhi() {
            let (udh, rest) = Udh::parse(part.payload()).expect("a UDH");
            (udh.concatenation().expect("concatenation").seq, rest.to_vec())
        } else {
            (part.tlvs.sar().map_or(1, |s| s.segment_seqnum), part.payload().to_vec())
        };
        let text = match part.data_coding {
            DataCoding::UCS2 => ucs2::decode(&body),
            _ => gsm7::decode(&body),
        };
        by_seq.insert(seq, text);
    }
    by_seq.into_values().collect()
}

// ---------------------------------------------------------------- binding

#[tokio::test]
async fn a_bind_with_the_right_password_is_accepted_and_wrong_ones_are_refused() {
    let accounts = vec![("kurier".to_owned(), "secret".to_owned()), ("other".to_owned(), "pw".to_owned())];
    let sim = start(SimSettings { accounts, ..fast() }).await;
    let cases = [
        (As::Transmitter, "kurier", "secret", CommandStatus::ESME_ROK, CommandId::BindTransmitterResp),
        (As::Receiver, "kurier", "secret", CommandStatus::ESME_ROK, CommandId::BindReceiverResp),
        (As::Transceiver, "other", "pw", CommandStatus::ESME_ROK, CommandId::BindTransceiverResp),
        (As::Transceiver, "kurier", "wrong", CommandStatus::ESME_RINVPASWD, CommandId::BindTransceiverResp),
        (As::Transmitter, "kurier", "", CommandStatus::ESME_RINVPASWD, CommandId::BindTransmitterResp),
        (As::Receiver, "stranger", "secret", CommandStatus::ESME_RINVSYSID, CommandId::BindReceiverResp),
    ];
    let mut sessions = Vec::new();
    for (kind, id, pw, status, resp_id) in cases {
        let mut esme = Esme::connect(sim.addr()).await;
        let resp = esme.bind(kind, id, pw).await;
        assert_eq!((resp.status, resp.command_id()), (status, resp_id), "{kind:?} {id}/{pw}");
        if status.is_ok() {
            match &resp.pdu {
                Pdu::BindTransmitterResp(b) | Pdu::BindReceiverResp(b) | Pdu::BindTransceiverResp(b) => {
                    assert_eq!(b.system_id, SMSC_SYSTEM_ID);
                    assert_eq!(b.sc_interface_version(), Some(0x34));
                }
                other => panic!("{other:?}"),
            }
        }
        sessions.push(esme);
    }
    let again = sessions[0].bind(As::Transmitter, "kurier", "secret").await;
    assert_eq!(again.status, CommandStatus::ESME_RALYBND);
    let stats = sim.stats();
    assert_eq!((stats.binds_now, stats.binds_total), (3, 3));
    assert_eq!(stats.per_system["kurier"].binds_now, 2);
}

#[tokio::test]
async fn requests_before_a_bind_are_refused_but_enquire_link_and_unbind_are_answered() {
    let sim = start(fast()).await;
    let mut esme = Esme::connect(sim.addr()).await;
    let submit = esme.submit(sms("48600100200", "too early")).await;
    assert_eq!(submit.status, CommandStatus::ESME_RINVBNDSTS);
    let query =
        esme.call(Pdu::QuerySm(QuerySm { message_id: "1".try_into().unwrap(), ..QuerySm::default() })).await;
    assert_eq!((query.command_id(), query.status), (CommandId::QuerySmResp, CommandStatus::ESME_RINVBNDSTS));
    assert_eq!(esme.call(Pdu::EnquireLink).await.status, CommandStatus::ESME_ROK);
    assert_eq!(esme.call(Pdu::Unbind).await.command_id(), CommandId::UnbindResp);
    assert!(matches!(esme.item(WAIT).await, Item::Closed));
    assert_eq!(sim.stats().submits, 0);
}

#[tokio::test]
async fn a_receiver_cannot_submit() {
    let sim = start(fast()).await;
    let mut esme = Esme::bound(sim.addr(), As::Receiver, "kurier", "pw").await;
    assert_eq!(esme.submit(sms("48600100200", "hi")).await.status, CommandStatus::ESME_RINVBNDSTS);
}

// ---------------------------------------------------------------- submissions and receipts

#[tokio::test]
async fn a_submission_gets_an_id_and_a_receipt_with_the_same_id_in_hex_or_decimal() {
    for (format, is_digit) in [
        (IdFormat::Hex, (|c: char| c.is_ascii_hexdigit()) as fn(char) -> bool),
        (IdFormat::Decimal, |c| c.is_ascii_digit()),
    ] {
        let sim = start(SimSettings { id_format: format, ..fast() }).await;
        let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
        let id = esme.submit_ok(sms("48600100200", "Your code is 1234")).await;
        assert!(!id.is_empty() && id.chars().all(is_digit), "{format:?}: {id}");
        let receipt = esme.receipt().await;
        assert_eq!(receipt.esm_class, EsmClass::DELIVERY_RECEIPT);
        assert_eq!(receipt.source, Address::international("48600100200").unwrap());
        let parsed = receipt.delivery_receipt().unwrap();
        assert_eq!(parsed.id.as_deref(), Some(id.as_str()));
        assert_eq!(parsed.stat, Some(ReceiptStat::Delivered));
        assert_eq!((parsed.sub.as_deref(), parsed.dlvrd.as_deref()), (Some("001"), Some("001")));
        assert_eq!(parsed.text.as_deref(), Some("Your code is 1234"));
        assert_eq!(parsed.submit_date.as_ref().map(String::len), Some(10));
        assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
        assert_eq!(receipt.tlvs.message_state(), Some(MessageState::Delivered));
        eventually("the receipt counted as sent", || sim.stats().receipts_sent == 1).await;
        let stats = sim.stats();
        assert_eq!((stats.submits, stats.messages, stats.receipts_pending), (1, 1, 0));
        let got = last_received(&sim);
        assert_eq!(
            (got.from.as_str(), got.to.as_str(), got.text.as_str()),
            ("Kurier", "+48600100200", "Your code is 1234")
        );
        assert_eq!(got.message_ids, [id]);
    }
}

#[tokio::test]
async fn a_transceiver_gets_each_receipt_after_the_answer_that_gave_its_id() {
    // The answer held back 50 ms, the receipt due right after it.
    let settings =
        SimSettings { submit_delay: Duration::from_millis(50), receipt_delay: Duration::ZERO, ..fast() };
    let sim = start(settings).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    let n = 200;
    for i in 0..n {
        esme.send(Pdu::SubmitSm(sms("48600100200", &format!("m{i}")))).await;
    }
    let mut answered = HashSet::new();
    let mut receipts = 0;
    while receipts < n {
        let packet = esme.packet(WAIT).await.expect("answers and receipts");
        match packet.pdu {
            Pdu::SubmitSmResp(resp) => {
                assert_eq!(packet.status, CommandStatus::ESME_ROK);
                answered.insert(resp.message_id.to_string());
            }
            Pdu::DeliverSm(receipt) => {
                let id = receipt.tlvs.receipted_message_id().expect("a receipted_message_id").to_owned();
                assert!(answered.contains(&id), "the receipt for {id} came before its submit_sm_resp");
                esme.answer(packet.sequence_number, CommandStatus::ESME_ROK).await;
                receipts += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answered.len(), n);
}

#[tokio::test]
async fn receipts_come_only_when_asked_for_and_on_failure_only_when_it_failed() {
    let sim = start(SimSettings { delivered: 1, undelivered: 1, seed: 3, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    esme.submit_ok(no_receipt(sms("48600100200", "no receipt please"))).await;
    let on_failure = |n: usize| SubmitSm {
        registered_delivery: RegisteredDelivery::SMSC_RECEIPT_ON_FAILURE,
        ..sms("48600100200", &format!("failure only {n}"))
    };
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(esme.submit_ok(on_failure(n)).await);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut receipts = Vec::new();
    while let Some((seq, deliver)) = esme.deliver_within(QUIET).await {
        esme.answer(seq, CommandStatus::ESME_ROK).await;
        receipts.push(deliver.delivery_receipt().unwrap());
    }
    assert!(!receipts.is_empty() && receipts.len() < 8, "{} receipts", receipts.len());
    for r in &receipts {
        assert_eq!(r.stat, Some(ReceiptStat::Undeliverable));
        assert!(ids.contains(r.id.as_ref().unwrap()));
    }
}

#[tokio::test]
async fn a_receipt_waits_while_no_receiver_is_bound_and_arrives_when_one_binds() {
    let sim = start(fast()).await;
    let mut tx = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    let id = tx.submit_ok(sms("48600100200", "kept for later")).await;
    // Another account's receiver must not get it.
    let mut stranger = Esme::bound(sim.addr(), As::Receiver, "other", "pw").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.stats().receipts_pending, 1);
    assert!(stranger.deliver_within(QUIET).await.is_none());

    let mut rx = Esme::bound(sim.addr(), As::Receiver, "kurier", "pw").await;
    let receipt = rx.receipt().await;
    assert_eq!(receipt.delivery_receipt().unwrap().id, Some(id));
    eventually("nothing pending", || sim.stats().receipts_pending == 0).await;
}

#[tokio::test]
async fn a_receipt_survives_a_cut_connection_and_arrives_after_the_next_bind() {
    let sim = start(SimSettings { receipt_delay: Duration::from_millis(150), ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    let id = esme.submit_ok(sms("48600100200", "crash me")).await;
    assert_eq!(sim.disconnect_all(), 1);
    assert!(matches!(esme.item(WAIT).await, Item::Closed));
    eventually("the session gone", || sim.stats().binds_now == 0).await;

    let mut again = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    assert_eq!(again.receipt().await.delivery_receipt().unwrap().id, Some(id));
}

#[tokio::test]
async fn an_unanswered_or_refused_receipt_is_sent_again_until_acknowledged() {
    let retry = Duration::from_millis(150);
    let sim = start(SimSettings { receipt_retry: retry, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    let id = esme.submit_ok(sms("48600100200", "retry me")).await;

    let (_, first) = esme.deliver().await; // never answered
    let (seq, second) = esme.deliver().await;
    esme.answer(seq, CommandStatus::ESME_RX_T_APPN).await;
    let third = esme.receipt().await;
    for receipt in [first, second, third] {
        assert_eq!(receipt.delivery_receipt().unwrap().id.as_deref(), Some(id.as_str()));
    }
    assert!(esme.deliver_within(retry * 2).await.is_none(), "acknowledged, so not sent again");
    let stats = sim.stats();
    assert_eq!((stats.receipts_sent, stats.receipts_pending), (1, 0));
}

#[tokio::test]
async fn a_deliver_window_of_thousands_gets_each_receipt_acknowledged_once() {
    let (n, retry) = (6_000, Duration::from_secs(3));
    let sim = start(SimSettings { deliver_window: n, receipt_retry: retry, ..fast() }).await;
    let mut tx = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    for batch in 0..n / 500 {
        for i in 0..500 {
            tx.send(Pdu::SubmitSm(sms("48600100200", &format!("m{}", batch * 500 + i)))).await;
        }
        for _ in 0..500 {
            assert_eq!(tx.packet(WAIT).await.expect("an answer").status, CommandStatus::ESME_ROK);
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // every receipt due, none sent
    // A receiver binds and gets all of them at once, a full window.
    let mut rx = Esme::bound(sim.addr(), As::Receiver, "kurier", "pw").await;
    let bound_at = tokio::time::Instant::now();
    let mut seen = HashSet::new();
    while seen.len() < n {
        let (seq, receipt) = rx.deliver().await;
        let id = receipt.tlvs.receipted_message_id().expect("a receipted_message_id").to_owned();
        assert!(seen.insert(id.clone()), "receipt {id} sent twice");
        rx.answer(seq, CommandStatus::ESME_ROK).await;
    }
    while sim.stats().receipts_sent < n as u64 {
        assert!(bound_at.elapsed() < retry, "acknowledged receipts not counted: {:?}", sim.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Past the retry delay, nothing is sent again.
    let listen = (retry + Duration::from_millis(500)).saturating_sub(bound_at.elapsed());
    if let Some((_, again)) = rx.deliver_within(listen).await {
        panic!("sent again: {:?}", again.tlvs.receipted_message_id());
    }
    assert_eq!(sim.stats().receipts_pending, 0);
}

#[tokio::test]
async fn the_outcome_mix_follows_the_weights_and_the_seed() {
    let outcomes = |seed| async move {
        let sim =
            start(SimSettings { delivered: 0, undelivered: 1, expired: 1, rejected: 1, seed, ..fast() })
                .await;
        let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
        let mut by_id = BTreeMap::new();
        let mut order = Vec::new();
        for n in 0..12 {
            order.push(esme.submit_ok(sms("48600100200", &format!("n{n}"))).await);
        }
        for _ in 0..12 {
            let r = esme.receipt().await.delivery_receipt().unwrap();
            by_id.insert(r.id.unwrap(), r.stat.unwrap());
        }
        order.iter().map(|id| by_id[id].clone()).collect::<Vec<_>>()
    };
    let a = outcomes(9).await;
    assert!(!a.contains(&ReceiptStat::Delivered));
    assert!(a.contains(&ReceiptStat::Undeliverable) && a.contains(&ReceiptStat::Expired));
    assert_eq!(a, outcomes(9).await);
}

// ---------------------------------------------------------------- text and reassembly

#[tokio::test]
async fn each_data_coding_is_decoded_into_the_text_that_was_sent() {
    let cases: [(bool, DataCoding, &str, Vec<u8>); 5] = [
        (false, DataCoding::SMSC_DEFAULT, "Hello @£$ {}", gsm7::encode("Hello @£$ {}").unwrap()),
        (true, DataCoding::SMSC_DEFAULT, "Packed text", gsm7::pack(&gsm7::encode("Packed text").unwrap(), 0)),
        (false, DataCoding::IA5, "plain ASCII", b"plain ASCII".to_vec()),
        (false, DataCoding::LATIN1, "Grüße", latin1::encode("Grüße").unwrap()),
        (false, DataCoding::UCS2, "Привет 👋", ucs2::encode("Привет 👋")),
    ];
    for (packed, data_coding, text, payload) in cases {
        let sim = start(SimSettings { gsm_packed: packed, ..fast() }).await;
        let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
        let submit = SubmitSm {
            data_coding,
            short_message: ShortMessage::try_from(payload).unwrap(),
            ..sms("48600100200", "")
        };
        esme.submit_ok(submit).await;
        let got = last_received(&sim);
        assert_eq!(
            (got.text.as_str(), got.data_coding, got.parts),
            (text, data_coding.0, 1),
            "{data_coding:?}"
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum Concat {
    Udh8,
    Udh16,
    Sar,
}

#[tokio::test]
async fn a_long_ucs2_text_sent_in_parts_is_reassembled_and_each_part_gets_its_own_receipt() {
    let text = "Zażółć gęślą jaźń. ".repeat(8);
    for concat in [Concat::Udh8, Concat::Udh16, Concat::Sar] {
        let sim = start(fast()).await;
        let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
        let limits = if matches!(concat, Concat::Udh16) {
            PartLimits::CONCAT_16BIT_REF
        } else {
            PartLimits::CONCAT_8BIT_REF
        };
        let split = sms_text::split_with(&text, limits);
        let total = u8::try_from(split.segments.len()).unwrap();
        assert_eq!(total, 3);
        // Sent last part first: reassembly goes by sequence number.
        let mut ids = BTreeMap::new();
        for (index, segment) in split.segments.iter().enumerate().rev() {
            let seq = u8::try_from(index + 1).unwrap();
            let mut payload = match concat {
                Concat::Udh8 => Udh::concat8(42, total, seq).encode(),
                Concat::Udh16 => Udh::concat16(0x1234, total, seq).encode(),
                Concat::Sar => Vec::new(),
            };
            payload.extend_from_slice(&segment.payload);
            let tlvs = match concat {
                Concat::Sar => Tlvs::new()
                    .with(Tlv::sar_msg_ref_num(777))
                    .with(Tlv::sar_total_segments(total))
                    .with(Tlv::sar_segment_seqnum(seq)),
                _ => Tlvs::new(),
            };
            let esm_class = if matches!(concat, Concat::Sar) { EsmClass::DEFAULT } else { EsmClass::UDHI };
            let submit = SubmitSm {
                esm_class,
                data_coding: DataCoding::UCS2,
                short_message: ShortMessage::try_from(payload).unwrap(),
                tlvs,
                ..sms("48600100200", "")
            };
            ids.insert(seq, esme.submit_ok(submit).await);
            if index > 0 {
                assert!(sim.received().is_empty(), "{concat:?}: not whole yet");
            }
        }
        let got = last_received(&sim);
        assert_eq!(got.text, text, "{concat:?}");
        assert_eq!((got.parts, got.data_coding), (3, 8), "{concat:?}");
        assert_eq!(got.message_ids, ids.values().cloned().collect::<Vec<_>>(), "{concat:?}");
        let mut receipted = Vec::new();
        for _ in 0..3 {
            receipted.push(esme.receipt().await.tlvs.receipted_message_id().unwrap().to_owned());
        }
        receipted.sort();
        let mut expected: Vec<String> = ids.into_values().collect();
        expected.sort();
        assert_eq!(receipted, expected, "{concat:?}");
        assert_eq!((sim.stats().submits, sim.stats().messages), (3, 1));
    }
}

#[tokio::test]
async fn a_long_text_in_message_payload_is_received_whole() {
    let sim = start(fast()).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    let text = "A long notice that does not fit one message. ".repeat(7);
    let submit = SubmitSm {
        short_message: ShortMessage::empty(),
        tlvs: Tlvs::new().with(Tlv::message_payload(gsm7::encode(&text).unwrap()).unwrap()),
        ..sms("48600100200", "")
    };
    esme.submit_ok(submit).await;
    let got = last_received(&sim);
    assert_eq!((got.text.as_str(), got.parts), (text.as_str(), 1));
}

#[tokio::test]
async fn submit_multi_gets_one_id_and_each_destination_is_received() {
    // Seed 7 draws UNDELIV for the first destination and DELIVRD for the second.
    let sim = start(SimSettings { delivered: 1, undelivered: 1, seed: 7, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    let multi = SubmitMulti {
        source: Address::alphanumeric("Kurier").unwrap(),
        destinations: vec![
            Destination::Sme(Address::international("48600100200").unwrap()),
            Destination::Sme(Address::international("48600100201").unwrap()),
            Destination::DistributionList("staff".try_into().unwrap()),
        ],
        registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
        short_message: ShortMessage::try_from(gsm7::encode("To all").unwrap()).unwrap(),
        ..SubmitMulti::default()
    };
    let resp = esme.call(Pdu::SubmitMulti(multi)).await;
    let Pdu::SubmitMultiResp(resp) = resp.pdu else { panic!("{resp:?}") };
    assert!(!resp.message_id.is_empty());
    assert_eq!(resp.unsuccess_smes.len(), 1);
    assert_eq!(resp.unsuccess_smes[0].error_status_code, CommandStatus::ESME_RCNTSUBDL);
    let tos: Vec<String> = sim.received().into_iter().map(|m| m.to).collect();
    assert_eq!(tos, ["+48600100200", "+48600100201"]);
    let mut states = BTreeMap::new();
    for _ in 0..2 {
        let receipt = esme.receipt().await;
        assert_eq!(receipt.tlvs.receipted_message_id(), Some(resp.message_id.to_string().as_str()));
        states.insert(receipt.source.addr.to_string(), receipt.tlvs.message_state().unwrap());
    }
    let in_order: Vec<MessageState> = states.into_values().collect();
    assert_eq!(in_order, [MessageState::Undeliverable, MessageState::Delivered]);
    // query_sm sums the destinations up: DELIVERED only if every one was,
    // else the first one's (in destination order) that was not.
    let query = QuerySm { message_id: resp.message_id.clone(), ..QuerySm::default() };
    let answer = esme.call(Pdu::QuerySm(query)).await;
    let Pdu::QuerySmResp(answer) = answer.pdu else { panic!("{answer:?}") };
    assert_eq!((answer.message_state, answer.error_code), (MessageState::Undeliverable, 1));
}

// ---------------------------------------------------------------- MO and query_sm

#[tokio::test]
async fn mo_messages_reach_a_bound_receiver_short_long_and_in_ucs2() {
    let long_gsm = "Reply from the phone, quite a long one. ".repeat(5);
    let long_ucs2 = "Odpowiedź z telefonu – dość długa. ".repeat(4);
    let cases = [
        (MoSplit::Udh, "Hello", 1, DataCoding::SMSC_DEFAULT),
        (MoSplit::Udh, long_gsm.as_str(), 2, DataCoding::SMSC_DEFAULT),
        (MoSplit::Udh, long_ucs2.as_str(), 3, DataCoding::UCS2),
        (MoSplit::Sar, long_ucs2.as_str(), 3, DataCoding::UCS2),
    ];
    for (split, text, parts, data_coding) in cases {
        let sim = start(SimSettings { mo_split: split, ..fast() }).await;
        let mut esme = Esme::bound(sim.addr(), As::Receiver, "kurier", "pw").await;
        sim.inject_mo("+48600100200", "7100", text).await.expect("a receiver is bound");
        let mut got = Vec::new();
        for _ in 0..parts {
            let (seq, deliver) = esme.deliver().await;
            esme.answer(seq, CommandStatus::ESME_ROK).await;
            got.push(deliver);
        }
        assert!(esme.deliver_within(QUIET).await.is_none(), "{split:?} {parts}");
        for d in &got {
            assert_eq!(d.esm_class.message_type(), EsmClass::DEFAULT, "not a receipt");
            assert_eq!(d.data_coding, data_coding);
            assert_eq!(d.source, Address::international("48600100200").unwrap());
            assert_eq!(d.destination.addr, "7100");
            if parts > 1 {
                assert_eq!(d.esm_class.has_udhi(), split == MoSplit::Udh);
                assert_eq!(d.tlvs.sar().is_some(), split == MoSplit::Sar);
            }
        }
        assert_eq!(join_mo(&got), text, "{split:?}");
        eventually("MO parts counted", || sim.stats().mo_sent == parts as u64).await;
    }
}

#[tokio::test]
async fn mo_injection_fails_when_no_receiver_is_bound_for_the_account() {
    let sim = start(fast()).await;
    assert!(sim.inject_mo("+48600100200", "7100", "nobody").await.is_err());
    let _tx = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    assert!(sim.inject_mo("+48600100200", "7100", "still nobody").await.is_err());
    let _rx = Esme::bound(sim.addr(), As::Transceiver, "other", "pw").await;
    assert!(sim.inject_mo_to("kurier", "+48600100200", "7100", "not for other").await.is_err());
    sim.inject_mo_to("other", "+48600100200", "7100", "for other").await.unwrap();
}

#[tokio::test]
async fn query_sm_tells_the_state_before_and_after_the_final_outcome() {
    let sim =
        start(SimSettings { receipt_delay: Duration::from_millis(300), delivered: 0, expired: 1, ..fast() })
            .await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    let id = esme.submit_ok(no_receipt(sms("48600100200", "where are you"))).await;
    let query = |id: &str| Pdu::QuerySm(QuerySm { message_id: id.try_into().unwrap(), ..QuerySm::default() });

    let early = esme.call(query(&id)).await;
    let Pdu::QuerySmResp(early) = early.pdu else { panic!() };
    assert_eq!((early.message_state, early.final_date.len()), (MessageState::Enroute, 0));

    tokio::time::sleep(Duration::from_millis(350)).await;
    let late = esme.call(query(&id)).await;
    let Pdu::QuerySmResp(late) = late.pdu else { panic!() };
    assert_eq!(late.message_id, id.as_str());
    assert_eq!((late.message_state, late.final_date.len()), (MessageState::Expired, 16));

    let unknown = esme.call(query("nope")).await;
    assert_eq!(unknown.status, CommandStatus::ESME_RINVMSGID);
    let mut other = Esme::bound(sim.addr(), As::Transmitter, "other", "pw").await;
    assert_eq!(
        other.call(query(&id)).await.status,
        CommandStatus::ESME_RINVMSGID,
        "another account's message"
    );
}

// ---------------------------------------------------------------- named faults

#[tokio::test]
async fn black_hole_binds_but_answers_nothing_after_that() {
    let sim = start(SimSettings { behaviour: Behaviour::BlackHole, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    esme.send(Pdu::SubmitSm(sms("48600100200", "into the void"))).await;
    esme.send(Pdu::EnquireLink).await;
    assert!(esme.packet(QUIET).await.is_none());
    let stats = sim.stats();
    assert_eq!((stats.submits, stats.outstanding, stats.messages), (1, 1, 0));
}

#[tokio::test]
async fn no_response_on_submit_answers_everything_but_submissions() {
    let sim = start(SimSettings { behaviour: Behaviour::NoResponseOnSubmit, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    esme.send(Pdu::SubmitSm(sms("48600100200", "unanswered"))).await;
    assert_eq!(esme.call(Pdu::EnquireLink).await.command_id(), CommandId::EnquireLinkResp);
    assert!(esme.packet(QUIET).await.is_none());
    assert_eq!(sim.stats().outstanding, 1);
}

#[tokio::test]
async fn refusing_behaviours_answer_submissions_with_their_status() {
    const OK: CommandStatus = CommandStatus::ESME_ROK;
    const THROTTLED: CommandStatus = CommandStatus::ESME_RTHROTTLED;
    const FULL: CommandStatus = CommandStatus::ESME_RMSGQFUL;
    let fail = CommandStatus::ESME_RSUBMITFAIL;
    let cases = [
        (Behaviour::ErrorOnSubmit(0x45), vec![fail, fail, fail]),
        (Behaviour::ThrottleEvery(3), vec![OK, OK, THROTTLED, OK, OK, THROTTLED]),
        (Behaviour::QueueFullEvery(2), vec![OK, FULL, OK, FULL]),
    ];
    for (behaviour, expected) in cases {
        let sim = start(SimSettings { behaviour, ..fast() }).await;
        let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
        let mut statuses = Vec::new();
        for n in 0..expected.len() {
            statuses.push(esme.submit(no_receipt(sms("48600100200", &format!("n{n}")))).await.status);
        }
        assert_eq!(statuses, expected, "{behaviour}");
        let refused = expected.iter().filter(|s| !s.is_ok()).count() as u64;
        let stats = sim.stats();
        assert_eq!(
            (stats.submit_errors, stats.messages),
            (refused, expected.len() as u64 - refused),
            "{behaviour}"
        );
    }
}

#[tokio::test]
async fn unbind_on_submit_sends_unbind_instead_of_an_answer() {
    let sim = start(SimSettings { behaviour: Behaviour::UnbindOnSubmit, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    esme.send(Pdu::SubmitSm(sms("48600100200", "bye"))).await;
    let unbind = esme.packet(WAIT).await.expect("unbind");
    assert_eq!(unbind.pdu, Pdu::Unbind);
    esme.wire.send(Packet::new(unbind.sequence_number, Pdu::UnbindResp)).await.unwrap();
    assert!(matches!(esme.item(WAIT).await, Item::Closed));
    eventually("the session gone", || sim.stats().binds_now == 0).await;
}

#[tokio::test]
async fn answers_held_back_are_sent_before_either_side_unbinds() {
    let sim = start(SimSettings { submit_delay: Duration::from_secs(1), ..fast() }).await;
    // The client unbinds with three answers still held back.
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    for i in 0..3 {
        esme.send(Pdu::SubmitSm(no_receipt(sms("48600100200", &format!("m{i}"))))).await;
    }
    eventually("three held back", || sim.stats().outstanding == 3).await;
    let unbind = esme.send(Pdu::Unbind).await;
    let mut answers = 0;
    loop {
        let packet = esme.packet(WAIT).await.expect("the answers, then unbind_resp");
        match packet.pdu {
            Pdu::SubmitSmResp(_) => answers += 1,
            Pdu::UnbindResp => {
                assert_eq!(packet.sequence_number, unbind);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answers, 3, "every accepted submission answered before unbind_resp");

    // The simulator stops (and unbinds) with two answers held back.
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    for i in 0..2 {
        esme.send(Pdu::SubmitSm(no_receipt(sms("48600100200", &format!("n{i}"))))).await;
    }
    eventually("two held back", || sim.stats().outstanding == 2).await;
    let stopping = tokio::spawn(sim.stop());
    let mut answers = 0;
    loop {
        let packet = esme.packet(WAIT).await.expect("the answers, then unbind");
        match packet.pdu {
            Pdu::SubmitSmResp(_) => answers += 1,
            Pdu::Unbind => {
                esme.wire.send(Packet::new(packet.sequence_number, Pdu::UnbindResp)).await.unwrap();
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answers, 2, "every accepted submission answered before unbind");
    timeout(WAIT, stopping).await.expect("stop returns").unwrap();
}

#[tokio::test]
async fn disconnect_after_n_drops_the_connection_when_the_next_submission_arrives() {
    let sim = start(SimSettings { behaviour: Behaviour::DisconnectAfter(2), ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    esme.submit_ok(no_receipt(sms("48600100200", "one"))).await;
    esme.submit_ok(no_receipt(sms("48600100200", "two"))).await;
    esme.send(Pdu::SubmitSm(sms("48600100200", "three"))).await;
    assert!(matches!(esme.item(WAIT).await, Item::Closed));
    // A new session gets another two.
    let mut again = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    again.submit_ok(no_receipt(sms("48600100200", "four"))).await;
    assert_eq!(sim.stats().submits, 4);
}

#[tokio::test]
async fn garbage_after_bind_writes_bytes_no_decoder_can_frame() {
    let sim = start(SimSettings { behaviour: Behaviour::GarbageAfterBind, ..fast() }).await;
    let mut esme = Esme::connect(sim.addr()).await;
    esme.send(Pdu::BindTransceiver(Bind { system_id: "kurier".try_into().unwrap(), ..Bind::default() }))
        .await;
    let resp = esme.packet(WAIT).await.expect("bind_resp");
    assert_eq!((resp.command_id(), resp.status), (CommandId::BindTransceiverResp, CommandStatus::ESME_ROK));
    match timeout(WAIT, esme.wire.next()).await {
        Ok(Some(Err(CodecError::Frame(_)))) => {}
        other => panic!("expected a framing error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_sequence_answers_submissions_with_a_number_never_sent() {
    let sim = start(SimSettings { behaviour: Behaviour::UnknownSequence, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    let seq = esme.send(Pdu::SubmitSm(no_receipt(sms("48600100200", "lost answer")))).await;
    let resp = esme.packet(WAIT).await.expect("an answer");
    assert_eq!((resp.command_id(), resp.status), (CommandId::SubmitSmResp, CommandStatus::ESME_ROK));
    assert_ne!(resp.sequence_number, seq);
    assert!(resp.sequence_number > esme.seq);
}

#[tokio::test]
async fn close_mid_pdu_writes_half_an_answer_and_closes() {
    let sim = start(SimSettings { behaviour: Behaviour::CloseMidPdu, ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    esme.send(Pdu::SubmitSm(sms("48600100200", "cut"))).await;
    match esme.item(WAIT).await {
        Item::Broken(e) => assert!(e.contains("bytes remaining"), "{e}"),
        other => panic!("expected a half PDU, got {other:?}"),
    }
}

#[tokio::test]
async fn the_behaviour_can_be_switched_while_sessions_run() {
    let sim = start(fast()).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "kurier", "pw").await;
    esme.submit_ok(no_receipt(sms("48600100200", "fine"))).await;
    sim.set_behaviour(Behaviour::ErrorOnSubmit(CommandStatus::ESME_RSYSERR.0));
    assert_eq!(sim.behaviour().to_string(), "error-on-submit=0x8");
    assert_eq!(esme.submit(sms("48600100200", "refused")).await.status, CommandStatus::ESME_RSYSERR);
    sim.set_behaviour(Behaviour::Happy);
    esme.submit_ok(no_receipt(sms("48600100200", "fine again"))).await;
}

// ---------------------------------------------------------------- garbage from the client

#[tokio::test]
async fn garbage_from_a_client_gets_generic_nack_and_the_server_survives() {
    let sim = start(fast()).await;
    let header = |len: u32, id: u32, seq: u32| {
        let mut b = Vec::new();
        for word in [len, id, 0, seq] {
            b.extend_from_slice(&word.to_be_bytes());
        }
        b
    };
    let mut cut_submit = header(19, CommandId::SubmitSm.as_u32(), 6);
    cut_submit.extend_from_slice(&[0, 1, 1]);
    let mut too_short = header(16, 0x15, 8);
    too_short[..4].copy_from_slice(&8u32.to_be_bytes());
    // (case, bytes, expected answer, status, connection stays open)
    let cases = [
        (
            "unknown command id",
            header(16, 0x99, 5),
            CommandId::GenericNack,
            Some(CommandStatus::ESME_RINVCMDID),
            true,
        ),
        ("submit_sm body cut short", cut_submit, CommandId::SubmitSmResp, None, true),
        (
            "command_length below the header",
            too_short,
            CommandId::GenericNack,
            Some(CommandStatus::ESME_RINVCMDLEN),
            false,
        ),
        (
            "command_length above the maximum",
            header(1 << 24, 4, 9),
            CommandId::GenericNack,
            Some(CommandStatus::ESME_RINVCMDLEN),
            false,
        ),
    ];
    for (case, bytes, answer, status, stays_open) in cases {
        let mut esme = Esme::connect(sim.addr()).await;
        esme.wire.get_mut().write_all(&bytes).await.unwrap();
        let reply = esme.packet(WAIT).await.unwrap_or_else(|| panic!("{case}: no answer"));
        assert_eq!(reply.command_id(), answer, "{case}");
        assert!(!reply.status.is_ok(), "{case}");
        if let Some(status) = status {
            assert_eq!(reply.status, status, "{case}");
        }
        if stays_open {
            assert_eq!(esme.call(Pdu::EnquireLink).await.command_id(), CommandId::EnquireLinkResp, "{case}");
        } else {
            assert!(matches!(esme.item(WAIT).await, Item::Closed), "{case}");
        }
    }
    // Random bytes on fresh connections, then a normal session.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..40 {
        let mut esme = Esme::connect(sim.addr()).await;
        let len = 1 + (state % 120) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_be_bytes()[0]
            })
            .collect();
        let _ = esme.wire.get_mut().write_all(&bytes).await;
        let _ = esme.item(Duration::from_millis(20)).await;
    }
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    esme.submit_ok(sms("48600100200", "still here")).await;
    esme.receipt().await;
}

// ---------------------------------------------------------------- window and rate

#[tokio::test]
async fn the_window_and_rate_counters_measure_what_each_account_sent() {
    let sim = start(SimSettings { submit_delay: Duration::from_millis(100), ..fast() }).await;
    let mut a = Esme::bound(sim.addr(), As::Transmitter, "alpha", "pw").await;
    let mut b = Esme::bound(sim.addr(), As::Transmitter, "beta", "pw").await;
    for n in 0..7 {
        a.send(Pdu::SubmitSm(no_receipt(sms("48600100200", &format!("a{n}"))))).await;
    }
    for n in 0..3 {
        b.send(Pdu::SubmitSm(no_receipt(sms("48600100200", &format!("b{n}"))))).await;
    }
    eventually("all ten outstanding", || sim.stats().outstanding == 10).await;
    for _ in 0..7 {
        assert_eq!(a.packet(WAIT).await.unwrap().status, CommandStatus::ESME_ROK);
    }
    for _ in 0..3 {
        b.packet(WAIT).await.unwrap();
    }
    // One per round trip, a second later: neither the window nor the peak grows.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    for n in 0..3 {
        a.submit_ok(no_receipt(sms("48600100200", &format!("late{n}")))).await;
    }
    let stats = sim.stats();
    let alpha = &stats.per_system["alpha"];
    assert_eq!((alpha.submits, alpha.max_window, alpha.peak_per_second, alpha.outstanding), (10, 7, 7, 0));
    let beta = &stats.per_system["beta"];
    assert_eq!((beta.max_window, beta.peak_per_second), (3, 3));
    assert_eq!((stats.max_window, stats.peak_per_second), (10, 10));
}

#[tokio::test]
async fn a_client_that_never_reads_its_delayed_answers_is_read_no_further_than_the_limit() {
    use kurier::smsc_sim::MAX_DELAYED_ANSWERS;
    let sim = start(SimSettings { submit_delay: Duration::from_secs(5), ..fast() }).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "alpha", "pw").await;
    let n = MAX_DELAYED_ANSWERS + 100;
    for i in 0..n {
        esme.send(Pdu::SubmitSm(no_receipt(sms("48600100200", &format!("m{i}"))))).await;
    }
    eventually("the limit held back", || sim.stats().outstanding == MAX_DELAYED_ANSWERS as u64).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sim.stats().submits, MAX_DELAYED_ANSWERS as u64, "no more read while the limit is reached");
    // Once the held answers are due, the rest is read and answered.
    let mut answered = 0;
    while answered < n {
        let p = esme.packet(Duration::from_secs(10)).await.expect("every submission is answered");
        assert_eq!(p.status, CommandStatus::ESME_ROK);
        answered += 1;
    }
    assert_eq!(sim.stats().submits, n as u64);
}

// ---------------------------------------------------------------- TLS, stop

#[tokio::test]
async fn tls_sessions_bind_and_submit_like_plain_ones() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let sim = start(SimSettings { tls: Some((cert_path, key_path)), ..fast() }).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(sim.addr()).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let mut esme = Esme::over(Box::new(tls));
    assert_eq!(esme.bind(As::Transceiver, "kurier", "pw").await.status, CommandStatus::ESME_ROK);
    let id = esme.submit_ok(sms("48600100200", "over TLS")).await;
    assert_eq!(esme.receipt().await.tlvs.receipted_message_id(), Some(id.as_str()));

    // A plain client gets no SMPP from a TLS port.
    let mut plain = Esme::connect(sim.addr()).await;
    plain.send(Pdu::EnquireLink).await;
    assert!(!matches!(plain.item(QUIET).await, Item::Packet(_)));
}

#[tokio::test]
async fn starting_with_unreadable_tls_files_fails_with_a_clear_error() {
    let missing = std::path::PathBuf::from("/nonexistent/cert.pem");
    let settings = SimSettings { tls: Some((missing.clone(), missing)), ..fast() };
    let err = SmscSim::start("127.0.0.1:0".parse().unwrap(), settings).await.err().expect("an error");
    assert!(format!("{err:#}").contains("certificates"), "{err:#}");
}

#[tokio::test]
async fn starting_with_a_delay_longer_than_a_day_fails_with_a_clear_error() {
    let too_long = MAX_DELAY + Duration::from_millis(1);
    for settings in [
        SimSettings { receipt_delay: too_long, ..fast() },
        SimSettings { submit_delay: too_long, ..fast() },
        SimSettings { receipt_retry: too_long, ..fast() },
        SimSettings { idle_timeout: too_long, ..fast() },
    ] {
        let err = SmscSim::start("127.0.0.1:0".parse().unwrap(), settings).await.err().expect("an error");
        assert!(format!("{err:#}").contains("longer than the limit"), "{err:#}");
    }
}

#[tokio::test]
async fn stop_unbinds_every_session_and_closes_the_listener() {
    let sim = start(fast()).await;
    let addr = sim.addr();
    let mut esme = Esme::bound(addr, As::Transceiver, "kurier", "pw").await;
    let stopping = tokio::spawn(sim.stop());
    let unbind = esme.packet(WAIT).await.expect("unbind");
    assert_eq!(unbind.pdu, Pdu::Unbind);
    esme.wire.send(Packet::new(unbind.sequence_number, Pdu::UnbindResp)).await.unwrap();
    assert!(matches!(esme.item(WAIT).await, Item::Closed));
    timeout(WAIT, stopping).await.expect("stop returns").unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

// ---------------------------------------------------------------- HTTP control port

async fn control(sim: &SimHandle) -> (reqwest::Client, String) {
    kurier::install_crypto_provider();
    let server = serve_control(sim, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    (reqwest::Client::new(), format!("http://{}", server.addr()))
}

#[tokio::test]
async fn the_control_port_injects_mo_and_reports_stats_messages_and_behaviour() {
    let sim = start(fast()).await;
    let (http, base) = control(&sim).await;
    let mut esme = Esme::bound(sim.addr(), As::Transceiver, "kurier", "pw").await;
    esme.submit_ok(sms("48600100200", "to the phone")).await;
    esme.receipt().await;

    let resp = http
        .post(format!("{base}/mo"))
        .json(&json!({"from": "+48600100200", "to": "7100", "text": "STOP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"system_id": "kurier", "parts": 1}));
    let (seq, mo) = esme.deliver().await;
    esme.answer(seq, CommandStatus::ESME_ROK).await;
    assert_eq!(join_mo(&[mo]), "STOP");
    eventually("the MO acknowledged", || sim.stats().mo_sent == 1).await;

    let stats: Value = http.get(format!("{base}/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["behaviour"], "happy");
    assert_eq!(stats["submits"], 1);
    assert_eq!(stats["receipts_sent"], 1);
    assert_eq!(stats["mo_sent"], 1);
    assert_eq!(stats["per_system"]["kurier"]["binds_now"], 1);

    let list: Value =
        http.get(format!("{base}/messages?limit=5")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["messages"][0]["text"], "to the phone");
    assert_eq!(list["messages"][0]["to"], "+48600100200");

    let set = http
        .put(format!("{base}/behaviour"))
        .json(&json!({"behaviour": "throttle-every=1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(sim.behaviour(), Behaviour::ThrottleEvery(1));
    assert_eq!(esme.submit(sms("48600100200", "slow down")).await.status, CommandStatus::ESME_RTHROTTLED);

    // Every connection is cut, bound or not.
    let mut unbound = Esme::connect(sim.addr()).await;
    assert_eq!(unbound.call(Pdu::EnquireLink).await.pdu, Pdu::EnquireLinkResp);
    let cut: Value = http.post(format!("{base}/disconnect")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cut["dropped"], 2);
    assert!(matches!(esme.item(WAIT).await, Item::Closed));
    assert!(matches!(unbound.item(WAIT).await, Item::Closed));
}

#[tokio::test]
async fn the_control_port_answers_bad_input_with_json_errors() {
    let sim = start(fast()).await;
    let (http, base) = control(&sim).await;
    let _other = Esme::bound(sim.addr(), As::Receiver, "other", "pw").await;
    // (case, method, path, body, status, error code)
    let cases: [(&str, &str, &str, &str, u16, &str); 13] = [
        ("not JSON", "POST", "/mo", "from=me", 400, "malformed_json"),
        ("cut JSON", "POST", "/mo", r#"{"from": "+4860"#, 400, "malformed_json"),
        ("wrong type", "POST", "/mo", r#"{"from": 1, "to": "7100", "text": "x"}"#, 422, "invalid_field"),
        ("missing text", "POST", "/mo", r#"{"from": "+48600100200", "to": "7100"}"#, 422, "invalid_field"),
        (
            "empty text",
            "POST",
            "/mo",
            r#"{"from": "+48600100200", "to": "7100", "text": ""}"#,
            422,
            "invalid_field",
        ),
        (
            "bad number",
            "POST",
            "/mo",
            r#"{"from": "+48abc", "to": "7100", "text": "x"}"#,
            422,
            "invalid_field",
        ),
        (
            "no receiver for the account",
            "POST",
            "/mo",
            r#"{"from": "+48600100200", "to": "7100", "text": "x", "system_id": "kurier"}"#,
            409,
            "no_receiver",
        ),
        ("limit zero", "GET", "/messages?limit=0", "", 400, "invalid_parameter"),
        ("limit not a number", "GET", "/messages?limit=ten", "", 400, "invalid_parameter"),
        ("unknown behaviour", "PUT", "/behaviour", r#"{"behaviour": "sad"}"#, 422, "invalid_field"),
        ("unknown path", "GET", "/nope", "", 404, "not_found"),
        ("GET of a POST endpoint", "GET", "/mo", "", 405, "method_not_allowed"),
        ("DELETE of the behaviour", "DELETE", "/behaviour", "", 405, "method_not_allowed"),
    ];
    for (case, method, path, body, status, code) in cases {
        let url = format!("{base}{path}");
        let request = match method {
            "POST" => http.post(url),
            "PUT" => http.put(url),
            "DELETE" => http.delete(url),
            _ => http.get(url),
        };
        let resp =
            request.header("content-type", "application/json").body(body.to_owned()).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{case}");
        let json: Value = resp.json().await.unwrap_or_else(|e| panic!("{case}: not JSON: {e}"));
        assert_eq!(json["error"]["code"], code, "{case}: {json}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}");
    }
    let wrong_method = http.get(format!("{base}/mo")).send().await.unwrap();
    assert_eq!(wrong_method.headers().get("allow").map(|v| v.to_str().unwrap()), Some("POST"));
    assert_eq!(sim.stats().mo_sent, 0);
}

// ---------------------------------------------------------------- memory and idle clients

#[tokio::test]
async fn receipts_beyond_max_pending_are_dropped_and_counted_per_account() {
    let sim = start(SimSettings { max_pending: 3, ..fast() }).await;
    let (http, base) = control(&sim).await;
    // alpha asks receipts and never binds a receiver: it fills the outbox.
    let mut alpha = Esme::bound(sim.addr(), As::Transmitter, "alpha", "pw").await;
    for i in 0..4 {
        alpha.submit_ok(sms("48600100200", &format!("a{i}"))).await;
    }
    let mut beta = Esme::bound(sim.addr(), As::Transceiver, "beta", "pw").await;
    beta.submit_ok(sms("48600100200", "b")).await;
    assert!(beta.deliver_within(QUIET).await.is_none(), "no room left for beta's receipt");

    let stats = sim.stats();
    assert_eq!((stats.receipts_pending, stats.receipts_dropped), (3, 2));
    let (alpha, beta) = (&stats.per_system["alpha"], &stats.per_system["beta"]);
    assert_eq!((alpha.receipts_pending, alpha.receipts_dropped), (3, 1));
    assert_eq!((beta.receipts_pending, beta.receipts_dropped), (0, 1));
    let json: Value = http.get(format!("{base}/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&json["receipts_dropped"], &json["per_system"]["beta"]["receipts_dropped"]),
        (&json!(2), &json!(1))
    );

    // An MO message finds no room either: 429, and nothing is queued.
    let mo = json!({"from": "+48600100200", "to": "7100", "text": "hi", "system_id": "beta"});
    let resp = http.post(format!("{base}/mo")).json(&mo).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "busy");
}

#[tokio::test]
async fn large_submit_multi_floods_keep_received_messages_within_their_byte_budget() {
    let sim = start(fast()).await;
    let mut esme = Esme::bound(sim.addr(), As::Transmitter, "flood", "pw").await;
    // 60,000 octets ≥ 0x80 in data_coding 0: each becomes U+FFFD, 3 bytes
    // of text, for each of 254 destinations: some 46 MB per PDU.
    let destinations: Vec<Destination> = (0..254)
        .map(|i| Destination::Sme(Address::international(&format!("4860010{i:04}")).unwrap()))
        .collect();
    for _ in 0..3 {
        let multi = SubmitMulti {
            source: Address::alphanumeric("Kurier").unwrap(),
            destinations: destinations.clone(),
            data_coding: DataCoding(0),
            tlvs: Tlvs::new().with(Tlv::message_payload(vec![0x80; 60_000]).unwrap()),
            ..SubmitMulti::default()
        };
        let resp = esme.call(Pdu::SubmitMulti(multi)).await;
        assert_eq!(resp.status, CommandStatus::ESME_ROK, "{resp:?}");
    }
    assert_eq!(sim.stats().messages, 3 * 254);
    let kept = sim.received();
    let text: usize = kept.iter().map(|m| m.text.len()).sum();
    assert!(text <= MAX_RECEIVED_BYTES, "{text} bytes of text kept in {} messages", kept.len());
    assert!(kept.iter().all(|m| m.text.len() == 180_000), "each whole, decoded the same");
    assert_eq!(kept.last().unwrap().to, "+48600100253", "the newest are kept");
}

#[tokio::test]
async fn binds_under_ever_new_system_ids_are_refused_past_the_cap_until_one_is_idle() {
    let sim = start(fast()).await;
    // Each system_id leaves a receipt waiting for a receiver: none is idle.
    for i in 0..MAX_SYSTEM_IDS {
        let mut esme = Esme::bound(sim.addr(), As::Transmitter, &format!("s{i}"), "pw").await;
        esme.submit_ok(sms("48600100200", "Hi")).await;
        esme.call(Pdu::Unbind).await;
    }
    eventually("every receipt waits", || sim.stats().receipts_pending == MAX_SYSTEM_IDS as u64).await;
    let mut late = Esme::connect(sim.addr()).await;
    assert_eq!(late.bind(As::Transmitter, "newcomer", "pw").await.status, CommandStatus::ESME_RBINDFAIL);
    let mut known = Esme::bound(sim.addr(), As::Transmitter, "s1", "pw").await;
    known.call(Pdu::Unbind).await;

    // s0 takes its receipt and goes: it is idle, and makes room.
    let mut s0 = Esme::bound(sim.addr(), As::Receiver, "s0", "pw").await;
    s0.receipt().await;
    eventually("s0's receipt is settled", || sim.stats().per_system["s0"].receipts_pending == 0).await;
    s0.call(Pdu::Unbind).await;
    eventually("s0 is unbound", || sim.stats().per_system["s0"].binds_now == 0).await;
    let mut newcomer = Esme::connect(sim.addr()).await;
    assert_eq!(newcomer.bind(As::Transmitter, "newcomer", "pw").await.status, CommandStatus::ESME_ROK);
    let stats = sim.stats();
    assert_eq!(stats.per_system.len(), MAX_SYSTEM_IDS);
    assert!(!stats.per_system.contains_key("s0") && stats.per_system.contains_key("newcomer"));
}

#[tokio::test]
async fn a_silent_session_is_asked_with_enquire_link_and_closed_if_it_stays_silent() {
    let idle = Duration::from_millis(300);
    let sim = start(SimSettings { idle_timeout: idle, ..fast() }).await;
    let mut silent = Esme::bound(sim.addr(), As::Transmitter, "silent", "pw").await;
    let mut alive = Esme::bound(sim.addr(), As::Transmitter, "alive", "pw").await;

    let asked = silent.packet(WAIT).await.expect("an enquire_link");
    assert_eq!(asked.pdu, Pdu::EnquireLink);
    for _ in 0..3 {
        let asked = alive.packet(WAIT).await.expect("an enquire_link");
        assert_eq!(asked.pdu, Pdu::EnquireLink);
        let answer = Packet::new(asked.sequence_number, Pdu::EnquireLinkResp);
        alive.wire.send(answer).await.unwrap();
    }
    assert!(matches!(silent.item(WAIT).await, Item::Closed), "the silent one was closed");
    eventually("one is still bound", || sim.stats().binds_now == 1).await;
    assert_eq!(alive.call(Pdu::EnquireLink).await.pdu, Pdu::EnquireLinkResp, "the other one was not");
}
