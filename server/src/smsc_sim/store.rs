//! The simulator's memory, shared by every session: message ids and the
//! state of every accepted message (for query_sm and receipts), what each
//! system_id sent (reassembled into whole messages), the outbox of
//! deliveries owed to ESMEs, and the counters behind [`SimStats`].
//!
//! Everything sits behind one mutex that is never held across an `.await`.
//! The outbox ([`super::outbox`]) decides what goes to which session and
//! the reassembler ([`super::reassembly`]) joins parts; this module wires
//! them to the sessions and keeps the counts. It never touches a socket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use smpp::{Address, DataCoding, EsmClass, MessageState, RegisteredDelivery, Tlvs, Ton};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::outbox::{DeliveryKey, Handover, Kind, Outbox, SessionCmd, SessionId};
use super::reassembly::{Origin, Reassembler};
use super::text::{self, DecodedPart, MoError, Outcome, ReceiptFacts};
use super::{IdFormat, ReceivedMessage, SimSettings, SimStats, SystemStats};

/// Reassembled messages kept for [`super::SimHandle::received`]; the oldest go first.
pub const MAX_RECEIVED: usize = 100_000;
/// Memory the kept messages may take (their text, addresses and ids),
/// whatever their number; the oldest go first. One submit_multi of 64 KiB
/// to 254 numbers would otherwise keep some 50 MB.
pub const MAX_RECEIVED_BYTES: usize = 64 * 1024 * 1024;
/// Distinct system_ids counted and queued for at once when anyone may bind
/// (no `--account`): past it, idle ones (no session, nothing to deliver)
/// are forgotten, and a bind with a new system_id is refused with
/// `ESME_RBINDFAIL` if none is idle.
pub const MAX_SYSTEM_IDS: usize = 1_000;
/// Accepted messages whose state query_sm can still tell; the oldest go first.
pub const MAX_TRACKED_MESSAGES: usize = 500_000;
/// Length of the span in which the busiest second is measured.
const RATE_SPAN: Duration = Duration::from_secs(1);

/// Why an MO message was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("no receiver or transceiver session is bound{}", for_system(.0))]
    NoReceiver(Option<String>),
    #[error(transparent)]
    Invalid(#[from] MoError),
    #[error("{0} deliveries are already waiting; try again later")]
    Full(usize),
}

fn for_system(system_id: &Option<String>) -> String {
    system_id.as_ref().map(|s| format!(" for system_id '{s}'")).unwrap_or_default()
}

/// One accepted submit_sm or submit_multi as the store sees it: one
/// content for one or more destinations.
pub(crate) struct Submission<'a> {
    pub source: &'a Address<21>,
    pub destinations: Vec<&'a Address<21>>,
    pub esm_class: EsmClass,
    pub data_coding: DataCoding,
    pub registered_delivery: RegisteredDelivery,
    pub payload: &'a [u8],
    pub tlvs: &'a Tlvs,
}

/// What query_sm answers.
pub(crate) struct QueryAnswer {
    pub state: MessageState,
    /// SMPP absolute time, empty while the message is en route.
    pub final_date: String,
    pub error_code: u8,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    binds_now: u64,
    binds_total: u64,
    submits: u64,
    submit_errors: u64,
    messages: u64,
    receipts_sent: u64,
    receipts_pending: u64,
    receipts_dropped: u64,
    mo_sent: u64,
}

/// Submissions outstanding now and at most, and the busiest one-second span.
#[derive(Debug, Default)]
struct Meter {
    outstanding: u64,
    max_window: u64,
    recent: VecDeque<Instant>,
    peak: u64,
}

impl Meter {
    fn submitted(&mut self, now: Instant) {
        self.outstanding += 1;
        self.max_window = self.max_window.max(self.outstanding);
        self.recent.push_back(now);
        while self.recent.front().is_some_and(|&t| now.saturating_duration_since(t) >= RATE_SPAN) {
            self.recent.pop_front();
        }
        self.peak = self.peak.max(self.recent.len() as u64);
    }

    fn answered(&mut self, n: u64) {
        self.outstanding = self.outstanding.saturating_sub(n);
    }
}

/// Counters for one system_id and for all together.
#[derive(Default)]
struct Tally {
    counters: Counters,
    meter: Meter,
}

impl Tally {
    fn stats(&self) -> SystemStats {
        let (c, m) = (&self.counters, &self.meter);
        SystemStats {
            binds_now: c.binds_now,
            binds_total: c.binds_total,
            submits: c.submits,
            submit_errors: c.submit_errors,
            messages: c.messages,
            receipts_sent: c.receipts_sent,
            receipts_pending: c.receipts_pending,
            receipts_dropped: c.receipts_dropped,
            mo_sent: c.mo_sent,
            outstanding: m.outstanding,
            max_window: m.max_window,
            peak_per_second: m.peak,
        }
    }
}

struct MessageRecord {
    system_id: String,
    /// What query_sm tells: the outcome of a submit_sm; for a submit_multi
    /// ([`summary`]), delivered if every destination was, else the first
    /// (in destination order) that was not. All destinations of one
    /// message reach their outcome at `final_at`.
    outcome: Outcome,
    final_at: Instant,
    final_date: String,
}

#[derive(Default)]
struct State {
    rng: u64,
    next_id: u64,
    id_base: u64,
    mo_reference: u16,
    totals: Tally,
    systems: BTreeMap<String, Tally>,
    outbox: Outbox,
    messages: HashMap<String, MessageRecord>,
    message_order: VecDeque<String>,
    reassembler: Reassembler,
    received: VecDeque<ReceivedMessage>,
    /// What `received` takes, as [`received_bytes`] counts it.
    received_bytes: usize,
    /// The outbox was full at the last receipt: warned once until there is room.
    warned_full: bool,
    /// Deliveries waiting at most (`SimSettings::max_pending`).
    max_pending: usize,
}

impl State {
    /// Applies `change` to the totals and to this system's counters.
    fn count(&mut self, system_id: &str, change: impl Fn(&mut Tally)) {
        change(&mut self.totals);
        match self.systems.get_mut(system_id) {
            Some(tally) => change(tally),
            None => change(self.systems.entry(system_id.to_owned()).or_default()),
        }
    }

    fn track(&mut self, message_id: &str, record: MessageRecord) {
        if self.messages.insert(message_id.to_owned(), record).is_none() {
            self.message_order.push_back(message_id.to_owned());
        }
        while self.message_order.len() > MAX_TRACKED_MESSAGES {
            if let Some(old) = self.message_order.pop_front() {
                self.messages.remove(&old);
            }
        }
    }

    fn keep(&mut self, message: ReceivedMessage) {
        self.count(&message.system_id, |t| t.counters.messages += 1);
        self.received_bytes += received_bytes(&message);
        self.received.push_back(message);
        // The newest stays even if it alone is over the budget.
        while self.received.len() > MAX_RECEIVED
            || (self.received_bytes > MAX_RECEIVED_BYTES && self.received.len() > 1)
        {
            if let Some(old) = self.received.pop_front() {
                self.received_bytes -= received_bytes(&old);
            }
        }
    }

    /// Room for `system_id`'s counters: true if it has them or may get
    /// them, after forgetting idle system_ids if there are too many. One
    /// look per system_id: `binds_now` says whether it has a session.
    fn make_room_for(&mut self, system_id: &str) -> bool {
        if self.systems.contains_key(system_id) || self.systems.len() < MAX_SYSTEM_IDS {
            return true;
        }
        let outbox = &self.outbox;
        self.systems
            .retain(|id, t| t.counters.binds_now > 0 || t.meter.outstanding > 0 || outbox.has_deliveries(id));
        self.systems.len() < MAX_SYSTEM_IDS
    }

    /// Queues a receipt; false when the outbox is full: the receipt is
    /// dropped and counted, with a warning the first time since there was room.
    fn add_receipt(&mut self, system_id: &str, pdu: smpp::DeliverSm, due: Instant) -> bool {
        if self.outbox.len() >= self.max_pending {
            if !self.warned_full {
                self.warned_full = true;
                tracing::warn!(
                    max = self.max_pending,
                    %system_id,
                    "SMSC simulator: outbox full; dropping receipts (counted in receipts_dropped)"
                );
            }
            self.count(system_id, |t| t.counters.receipts_dropped += 1);
            return false;
        }
        self.warned_full = false;
        self.outbox.add(system_id, Kind::Receipt, pdu, Some(due));
        self.count(system_id, |t| t.counters.receipts_pending += 1);
        true
    }
}

/// The shared state and the settings it works by.
pub(crate) struct Store {
    settings: SimSettings,
    state: Mutex<State>,
    /// Wakes the postman: something may be ready to deliver.
    pub(crate) wake: Notify,
}

impl Store {
    pub(crate) fn new(settings: &SimSettings) -> Store {
        // Ids start at a random point so that a restarted simulator never
        // repeats the ids a client already holds.
        let id_base = (getrandom::u64().unwrap_or(0) % (1 << 40)) << 20;
        let state = State {
            rng: settings.seed,
            id_base,
            outbox: Outbox::with_window(settings.deliver_window),
            max_pending: settings.max_pending,
            ..State::default()
        };
        Store { settings: settings.clone(), state: Mutex::new(state), wake: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A session bound; receivers get waiting deliveries from now on.
    /// `None` when anyone may bind and [`MAX_SYSTEM_IDS`] others are in
    /// use: the bind is refused.
    pub(crate) fn register(
        &self,
        system_id: &str,
        can_receive: bool,
        tx: mpsc::Sender<SessionCmd>,
    ) -> Option<SessionId> {
        let mut st = self.lock();
        if self.settings.accounts.is_empty() && !st.make_room_for(system_id) {
            return None;
        }
        let id = st.outbox.register(system_id, can_receive, tx);
        st.count(system_id, |t| {
            t.counters.binds_now += 1;
            t.counters.binds_total += 1;
        });
        drop(st);
        if can_receive {
            self.wake.notify_one();
        }
        Some(id)
    }

    /// A bound session ended with `outstanding` submissions never answered;
    /// what it had in flight goes to another session (or waits for one).
    pub(crate) fn unregister(&self, session: SessionId, outstanding: u64) {
        let mut st = self.lock();
        if let Some(system_id) = st.outbox.unregister(session) {
            st.count(&system_id, |t| {
                t.counters.binds_now = t.counters.binds_now.saturating_sub(1);
                t.meter.answered(outstanding);
            });
        }
        drop(st);
        self.wake.notify_one();
    }

    /// A submit_sm (or submit_multi) arrived on a bound session.
    pub(crate) fn submit_received(&self, system_id: &str, now: Instant) {
        self.lock().count(system_id, |t| {
            t.counters.submits += 1;
            t.meter.submitted(now);
        });
    }

    /// `n` submissions of this system got their answer.
    pub(crate) fn submits_answered(&self, system_id: &str, n: u64) {
        self.lock().count(system_id, |t| t.meter.answered(n));
    }

    /// A submission was answered with an error status.
    pub(crate) fn submit_refused(&self, system_id: &str) {
        self.lock().count(system_id, |t| t.counters.submit_errors += 1);
    }

    /// Accepts a submission under one new message id, for each of its
    /// destinations: draws their outcome, schedules their receipts, and
    /// keeps their text (reassembled when whole). The text is decoded once.
    /// `now` is when it was received: the session answers it `submit_delay`
    /// later, and its receipts are due `receipt_delay` after that answer.
    pub(crate) fn accept(&self, system_id: &str, submission: &Submission<'_>, now: Instant) -> String {
        let settings = &self.settings;
        let s = submission;
        let decoded: DecodedPart =
            text::decode_part(s.payload, s.esm_class, s.data_coding, s.tlvs, settings.gsm_packed);
        let after = settings.submit_delay + settings.receipt_delay;
        let wall = chrono::Local::now();
        // SimSettings::check keeps `after` within two days; never panic anyway.
        let done_wall = chrono::TimeDelta::from_std(after)
            .ok()
            .and_then(|after| wall.checked_add_signed(after))
            .unwrap_or(wall);
        let submit_date = wall.format("%y%m%d%H%M").to_string();
        let done_date = done_wall.format("%y%m%d%H%M").to_string();
        let final_date = smpp_absolute_time(&done_wall);
        let final_at = now + after;

        let mut st = self.lock();
        st.next_id += 1;
        let n = st.id_base.wrapping_add(st.next_id);
        let message_id = match settings.id_format {
            IdFormat::Hex => format!("{n:x}"),
            IdFormat::Decimal => n.to_string(),
        };
        let mut scheduled = false;
        let mut outcomes = None;
        for destination in submission.destinations.iter().copied() {
            let outcome = pick_outcome(&mut st.rng, settings);
            outcomes = Some(summary(outcomes, outcome));
            if wants_receipt(submission.registered_delivery, outcome) {
                let facts = ReceiptFacts {
                    message_id: &message_id,
                    outcome,
                    submit_date: &submit_date,
                    done_date: &done_date,
                    text: &decoded.text,
                };
                let pdu = text::receipt(submission.source, destination, &facts);
                scheduled |= st.add_receipt(system_id, pdu, final_at);
            }
            let origin = Origin {
                system_id: system_id.to_owned(),
                from: show_address(submission.source),
                to: show_address(destination),
            };
            if let Some(whole) = st.reassembler.add(origin, decoded.clone(), &message_id, now) {
                st.keep(whole);
            }
        }
        let outcome = outcomes.unwrap_or(Outcome::Delivered);
        st.track(
            &message_id,
            MessageRecord { system_id: system_id.to_owned(), outcome, final_at, final_date },
        );
        drop(st);
        if scheduled {
            self.wake.notify_one();
        }
        message_id
    }

    /// The state of `message_id` if this system submitted it.
    pub(crate) fn query(&self, system_id: &str, message_id: &str, now: Instant) -> Option<QueryAnswer> {
        let st = self.lock();
        let record = st.messages.get(message_id).filter(|r| r.system_id == system_id)?;
        Some(if now >= record.final_at {
            QueryAnswer {
                state: record.outcome.message_state(),
                final_date: record.final_date.clone(),
                error_code: record.outcome.error_code(),
            }
        } else {
            QueryAnswer { state: MessageState::Enroute, final_date: String::new(), error_code: 0 }
        })
    }

    /// Queues an MO message for a receiver of `system_id` (any bound receiver
    /// when `None`); returns the system_id it goes to and its number of parts.
    pub(crate) fn inject_mo(
        &self,
        system_id: Option<&str>,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<(String, usize), InjectError> {
        let mut st = self.lock();
        let target = st
            .outbox
            .receiver_system(system_id)
            .ok_or_else(|| InjectError::NoReceiver(system_id.map(str::to_owned)))?;
        st.mo_reference = st.mo_reference.wrapping_add(1);
        let (split, packed) = (self.settings.mo_split, self.settings.gsm_packed);
        let pdus = text::mo_parts(from, to, text, split, packed, st.mo_reference)?;
        if st.outbox.len() + pdus.len() > st.max_pending {
            return Err(InjectError::Full(st.max_pending));
        }
        let parts = pdus.len();
        for pdu in pdus {
            st.outbox.add(&target, Kind::Mo, pdu, None);
        }
        drop(st);
        self.wake.notify_one();
        Ok((target, parts))
    }

    /// One step of the postman: what to hand to which session now, and when
    /// to look again.
    pub(crate) fn dispatch(&self, now: Instant) -> (Vec<Handover>, Option<Instant>) {
        self.lock().outbox.dispatch(now, self.settings.receipt_retry)
    }

    /// A handover could not reach its session: it is tried again shortly.
    pub(crate) fn handover_failed(&self, key: DeliveryKey, session: SessionId, now: Instant) {
        self.lock().outbox.handover_failed(key, session, now);
    }

    /// The ESME answered a deliver_sm: OK settles it, an error retries it.
    pub(crate) fn delivery_answered(&self, key: DeliveryKey, session: SessionId, ok: bool, now: Instant) {
        let mut st = self.lock();
        match st.outbox.answered(key, session, ok, now, self.settings.receipt_retry) {
            Some((system_id, Kind::Receipt)) => st.count(&system_id, |t| {
                t.counters.receipts_sent += 1;
                t.counters.receipts_pending = t.counters.receipts_pending.saturating_sub(1);
            }),
            Some((system_id, Kind::Mo)) => st.count(&system_id, |t| t.counters.mo_sent += 1),
            None => {}
        }
        drop(st);
        self.wake.notify_one();
    }

    pub(crate) fn stats(&self) -> SimStats {
        let st = self.lock();
        let totals = st.totals.stats();
        SimStats {
            binds_now: totals.binds_now,
            binds_total: totals.binds_total,
            submits: totals.submits,
            submit_errors: totals.submit_errors,
            messages: totals.messages,
            receipts_sent: totals.receipts_sent,
            receipts_pending: totals.receipts_pending,
            receipts_dropped: totals.receipts_dropped,
            mo_sent: totals.mo_sent,
            outstanding: totals.outstanding,
            max_window: totals.max_window,
            peak_per_second: totals.peak_per_second,
            per_system: st.systems.iter().map(|(id, tally)| (id.clone(), tally.stats())).collect(),
        }
    }

    /// The last `limit` reassembled messages, oldest first.
    pub(crate) fn received(&self, limit: usize) -> Vec<ReceivedMessage> {
        let st = self.lock();
        let skip = st.received.len().saturating_sub(limit);
        st.received.iter().skip(skip).cloned().collect()
    }
}

/// Memory one kept message takes, roughly.
fn received_bytes(m: &ReceivedMessage) -> usize {
    m.system_id.len()
        + m.from.len()
        + m.to.len()
        + m.text.len()
        + m.message_ids.iter().map(|id| id.len() + 24).sum::<usize>()
        + 128
}

/// `registered_delivery` bits 1–0: 01 (and the reserved 11) always, 10 on failure only.
fn wants_receipt(registered_delivery: RegisteredDelivery, outcome: Outcome) -> bool {
    match registered_delivery.0 & 0x03 {
        0x01 | 0x03 => true,
        0x02 => outcome != Outcome::Delivered,
        _ => false,
    }
}

/// SplitMix64: small, seedable, and the same sequence everywhere.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick_outcome(rng: &mut u64, settings: &SimSettings) -> Outcome {
    let weights = [
        (Outcome::Delivered, settings.delivered),
        (Outcome::Undelivered, settings.undelivered),
        (Outcome::Expired, settings.expired),
        (Outcome::Rejected, settings.rejected),
    ];
    let total: u64 = weights.iter().map(|&(_, w)| u64::from(w)).sum();
    if total == 0 {
        return Outcome::Delivered;
    }
    let mut roll = next_random(rng) % total;
    for (outcome, weight) in weights {
        if roll < u64::from(weight) {
            return outcome;
        }
        roll -= u64::from(weight);
    }
    Outcome::Delivered
}

/// The outcome of a message so far (`None` before its first destination)
/// and that of its next destination: delivered while every one was, else
/// the first that was not.
fn summary(so_far: Option<Outcome>, next: Outcome) -> Outcome {
    match so_far {
        None | Some(Outcome::Delivered) => next,
        Some(failed) => failed,
    }
}

/// `+48600100200` for an international number, otherwise the address as sent.
fn show_address(address: &Address<21>) -> String {
    let addr = address.addr.to_str_lossy();
    if address.ton == Ton::International && !addr.is_empty() && !addr.starts_with('+') {
        format!("+{addr}")
    } else {
        addr.into_owned()
    }
}

/// SMPP absolute time `YYMMDDhhmmsstnnp`: tenths, then the offset from UTC
/// in quarter hours and its sign.
fn smpp_absolute_time(at: &chrono::DateTime<chrono::Local>) -> String {
    let offset = at.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let quarters = offset.unsigned_abs() / 900;
    format!("{}0{quarters:02}{sign}", at.format("%y%m%d%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_second_counts_submissions_less_than_a_second_apart() {
        let start = Instant::now();
        let mut meter = Meter::default();
        for ms in [0, 100, 900, 999, 1000, 1500, 1999] {
            meter.submitted(start + Duration::from_millis(ms));
            meter.answered(1);
        }
        // [0, 1000) holds 4; [900, 1900) holds 4; [1000, 2000) holds 3.
        assert_eq!(meter.peak, 4);
        assert_eq!(meter.max_window, 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_outcomes_in_the_weighted_mix() {
        let settings =
            SimSettings { delivered: 2, undelivered: 1, expired: 1, rejected: 0, ..SimSettings::default() };
        let draw = |seed| {
            let mut rng = seed;
            (0..200).map(|_| pick_outcome(&mut rng, &settings)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!(!a.contains(&Outcome::Rejected));
        let delivered = a.iter().filter(|&&o| o == Outcome::Delivered).count();
        assert!((70..=130).contains(&delivered), "{delivered} of 200");
    }

    #[test]
    fn receipts_are_wanted_as_registered_delivery_says() {
        let cases = [
            (0x00, Outcome::Undelivered, false),
            (0x01, Outcome::Delivered, true),
            (0x02, Outcome::Delivered, false),
            (0x02, Outcome::Expired, true),
            (0x03, Outcome::Delivered, true),
            (0x1C, Outcome::Rejected, false),
        ];
        for (bits, outcome, wanted) in cases {
            assert_eq!(wants_receipt(RegisteredDelivery(bits), outcome), wanted, "{bits:#x} {outcome:?}");
        }
    }

    #[test]
    fn a_message_to_several_destinations_is_delivered_only_if_each_one_was() {
        use Outcome::{Delivered, Expired, Undelivered};
        let cases: [(&[Outcome], Outcome); 5] = [
            (&[Delivered], Delivered),
            (&[Expired], Expired),
            (&[Delivered, Delivered, Delivered], Delivered),
            (&[Delivered, Undelivered, Delivered], Undelivered),
            (&[Expired, Delivered, Undelivered], Expired),
        ];
        for (outcomes, told) in cases {
            let summed = outcomes.iter().fold(None, |so_far, &next| Some(summary(so_far, next)));
            assert_eq!(summed, Some(told), "{outcomes:?}");
        }
    }

    #[test]
    fn international_numbers_are_shown_with_a_plus() {
        let cases = [
            (Address::international("48600100200").unwrap(), "+48600100200"),
            (Address::alphanumeric("Kurier").unwrap(), "Kurier"),
            (Address::new(Ton::Unknown, smpp::Npi::Isdn, "7100").unwrap(), "7100"),
        ];
        for (address, shown) in cases {
            assert_eq!(show_address(&address), shown);
        }
    }

    #[test]
    fn smpp_absolute_time_has_sixteen_characters() {
        assert_eq!(smpp_absolute_time(&chrono::Local::now()).len(), 16);
    }
}
