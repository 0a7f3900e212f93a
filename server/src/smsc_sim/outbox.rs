//! The outbox: every deliver_sm the simulator owes an ESME (delivery
//! receipts and MO parts) and the bound sessions that can take them.
//!
//! A delivery waits until it is due, then for a receiver or transceiver of
//! its system_id with room in its window (`deliver_window`, by default
//! [`DELIVER_WINDOW`]); it is handed
//! to that session and stays here until the ESME answers `deliver_sm_resp`
//! OK. An error answer sends it again after the retry delay, no answer
//! within the retry delay sends it again at once, and a session that goes
//! away gives its deliveries back. So nothing is lost while no receiver is
//! bound: it is delivered when one binds.
//!
//! Pure bookkeeping on the instants passed in: no lock, no task, no socket.
//! `store` keeps it under its mutex; the postman steps it with
//! [`Outbox::dispatch`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use smpp::DeliverSm;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// deliver_sm (receipts and MO parts) one session may have unanswered at
/// once, unless the simulator is started with another window.
pub const DELIVER_WINDOW: usize = 32;
/// The largest deliver window the simulator accepts.
pub const MAX_DELIVER_WINDOW: usize = 10_000;
/// Receipts and MO parts kept for ESMEs at most; beyond it new ones are
/// dropped with a warning (a receiver that never binds must not exhaust memory).
pub const MAX_PENDING_DELIVERIES: usize = 250_000;
/// Pause before a deliver_sm that could not be handed to its session is tried again.
const HANDOVER_RETRY: Duration = Duration::from_millis(20);
/// Room in a session's command queue beyond a full window of deliveries: control commands.
pub(crate) const SESSION_QUEUE_SPARE: usize = 16;

pub(crate) type SessionId = u64;
pub(crate) type DeliveryKey = u64;

/// What the rest of the simulator asks of one session.
#[derive(Debug)]
pub(crate) enum SessionCmd {
    /// Send this deliver_sm and report its answer under `key`.
    Deliver { key: DeliveryKey, pdu: Box<DeliverSm> },
}

/// A deliver_sm to hand to a session.
pub(crate) struct Handover {
    pub tx: mpsc::Sender<SessionCmd>,
    pub session: SessionId,
    pub key: DeliveryKey,
    pub pdu: Box<DeliverSm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Receipt,
    Mo,
}

struct Session {
    system_id: String,
    can_receive: bool,
    tx: mpsc::Sender<SessionCmd>,
    /// The deliveries handed to this session and not yet answered, so that
    /// its end looks at these only (in the order they were added).
    in_flight: BTreeSet<DeliveryKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not before this instant (first due time, or a retry).
    Scheduled(Instant),
    /// In its system's ready queue.
    Ready,
    /// Sent on `session`; sent again if unanswered by `deadline`.
    InFlight { session: SessionId, deadline: Instant },
}

struct Delivery {
    system_id: String,
    kind: Kind,
    pdu: DeliverSm,
    state: State,
}

/// One system_id's due deliveries, waiting for a free receiver slot. It
/// exists while the system_id has deliveries, so system_ids that come and
/// go leave nothing behind.
#[derive(Default)]
struct Queue {
    ready: VecDeque<DeliveryKey>,
    next_receiver: usize,
    /// The system_id's deliveries in any state.
    deliveries: usize,
}

pub(crate) struct Outbox {
    /// deliver_sm one session may have unanswered at once.
    window: usize,
    next_key: DeliveryKey,
    next_session: SessionId,
    sessions: BTreeMap<SessionId, Session>,
    deliveries: HashMap<DeliveryKey, Delivery>,
    queues: BTreeMap<String, Queue>,
    timers: BTreeSet<(Instant, DeliveryKey)>,
    deadlines: BTreeSet<(Instant, DeliveryKey)>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::with_window(DELIVER_WINDOW)
    }
}

impl Outbox {
    /// An empty outbox whose sessions take `window` deliveries at once
    /// (at least 1).
    pub(crate) fn with_window(window: usize) -> Self {
        Outbox {
            window: window.clamp(1, MAX_DELIVER_WINDOW),
            next_key: 0,
            next_session: 0,
            sessions: BTreeMap::new(),
            deliveries: HashMap::new(),
            queues: BTreeMap::new(),
            timers: BTreeSet::new(),
            deadlines: BTreeSet::new(),
        }
    }

    pub(crate) fn register(
        &mut self,
        system_id: &str,
        can_receive: bool,
        tx: mpsc::Sender<SessionCmd>,
    ) -> SessionId {
        self.next_session += 1;
        let session =
            Session { system_id: system_id.to_owned(), can_receive, tx, in_flight: BTreeSet::new() };
        self.sessions.insert(self.next_session, session);
        self.next_session
    }

    /// Forgets a session; what it had in flight goes back to the front of
    /// its queue, oldest first. Returns the session's system_id. Only that
    /// session's deliveries are looked at.
    pub(crate) fn unregister(&mut self, session: SessionId) -> Option<String> {
        let entry = self.sessions.remove(&session)?;
        for &key in entry.in_flight.iter().rev() {
            if let Some(d) = self.deliveries.get_mut(&key)
                && let State::InFlight { session: s, deadline } = d.state
                && s == session
            {
                self.deadlines.remove(&(deadline, key));
                d.state = State::Ready;
                self.queues.entry(d.system_id.clone()).or_default().ready.push_front(key);
            }
        }
        Some(entry.system_id)
    }

    /// The system_id of a bound receiver: of `system_id` if given, else the
    /// longest-bound one.
    pub(crate) fn receiver_system(&self, system_id: Option<&str>) -> Option<String> {
        self.sessions
            .values()
            .find(|s| s.can_receive && system_id.is_none_or(|id| s.system_id == id))
            .map(|s| s.system_id.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.deliveries.len()
    }

    /// Whether `system_id` has deliveries waiting (in any state).
    pub(crate) fn has_deliveries(&self, system_id: &str) -> bool {
        self.queues.contains_key(system_id)
    }

    /// Adds a delivery, due at `due` (now when `None`).
    pub(crate) fn add(&mut self, system_id: &str, kind: Kind, pdu: DeliverSm, due: Option<Instant>) {
        self.next_key += 1;
        let key = self.next_key;
        let queue = self.queues.entry(system_id.to_owned()).or_default();
        queue.deliveries += 1;
        let state = match due {
            Some(at) => {
                self.timers.insert((at, key));
                State::Scheduled(at)
            }
            None => {
                queue.ready.push_back(key);
                State::Ready
            }
        };
        self.deliveries.insert(key, Delivery { system_id: system_id.to_owned(), kind, pdu, state });
    }

    /// Moves due deliveries to sessions with room in their window; what
    /// stays unanswered until `now + retry` is handed out again. Returns the
    /// handovers and when to look again.
    pub(crate) fn dispatch(&mut self, now: Instant, retry: Duration) -> (Vec<Handover>, Option<Instant>) {
        while let Some(&(at, key)) = self.timers.first().filter(|(at, _)| *at <= now) {
            self.timers.pop_first();
            if let Some(d) = self.deliveries.get_mut(&key)
                && d.state == State::Scheduled(at)
            {
                d.state = State::Ready;
                self.queues.entry(d.system_id.clone()).or_default().ready.push_back(key);
            }
        }
        while let Some(&(at, key)) = self.deadlines.first().filter(|(at, _)| *at <= now) {
            self.deadlines.pop_first();
            if let Some(d) = self.deliveries.get_mut(&key)
                && let State::InFlight { session, deadline } = d.state
                && deadline == at
            {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.in_flight.remove(&key);
                }
                d.state = State::Ready;
                self.queues.entry(d.system_id.clone()).or_default().ready.push_front(key);
            }
        }
        let mut out = Vec::new();
        for (system_id, queue) in self.queues.iter_mut().filter(|(_, q)| !q.ready.is_empty()) {
            let receivers: Vec<SessionId> = self
                .sessions
                .iter()
                .filter(|(_, s)| s.can_receive && s.system_id == *system_id)
                .map(|(&id, _)| id)
                .collect();
            while let Some(&key) = queue.ready.front() {
                let Some(session) =
                    pick_receiver(&receivers, &self.sessions, self.window, &mut queue.next_receiver)
                else {
                    break;
                };
                queue.ready.pop_front();
                // Skips entries answered (removed) or re-queued since they were queued.
                let Some(d) = self.deliveries.get_mut(&key).filter(|d| d.state == State::Ready) else {
                    continue;
                };
                let Some(entry) = self.sessions.get_mut(&session) else { break };
                let deadline = now + retry;
                d.state = State::InFlight { session, deadline };
                self.deadlines.insert((deadline, key));
                entry.in_flight.insert(key);
                out.push(Handover { tx: entry.tx.clone(), session, key, pdu: Box::new(d.pdu.clone()) });
            }
        }
        let next =
            [self.timers.first(), self.deadlines.first()].into_iter().flatten().map(|&(at, _)| at).min();
        (out, next)
    }

    /// A handover did not reach its session: try again shortly.
    pub(crate) fn handover_failed(&mut self, key: DeliveryKey, session: SessionId, now: Instant) {
        let Some(d) = self.deliveries.get_mut(&key) else { return };
        if let State::InFlight { session: s, deadline } = d.state
            && s == session
        {
            self.deadlines.remove(&(deadline, key));
            if let Some(entry) = self.sessions.get_mut(&session) {
                entry.in_flight.remove(&key);
            }
            let at = now + HANDOVER_RETRY;
            d.state = State::Scheduled(at);
            self.timers.insert((at, key));
        }
    }

    /// The ESME answered the deliver_sm sent under `key` on `session`. OK
    /// removes the delivery, whichever attempt it answers, and returns its
    /// system_id and kind; an error to the latest attempt schedules another
    /// after `retry`.
    pub(crate) fn answered(
        &mut self,
        key: DeliveryKey,
        session: SessionId,
        ok: bool,
        now: Instant,
        retry: Duration,
    ) -> Option<(String, Kind)> {
        let d = self.deliveries.get_mut(&key)?;
        match d.state {
            State::InFlight { session: s, deadline } if ok || s == session => {
                self.deadlines.remove(&(deadline, key));
                if let Some(entry) = self.sessions.get_mut(&s) {
                    entry.in_flight.remove(&key);
                }
                if !ok {
                    let at = now + retry;
                    d.state = State::Scheduled(at);
                    self.timers.insert((at, key));
                    return None;
                }
            }
            State::Scheduled(at) if ok => {
                self.timers.remove(&(at, key));
            }
            // A stale ready-queue entry is skipped when popped.
            State::Ready if ok => {}
            _ => return None,
        }
        let d = self.deliveries.remove(&key)?;
        if let Some(queue) = self.queues.get_mut(&d.system_id) {
            queue.deliveries = queue.deliveries.saturating_sub(1);
            // Whatever is left in `ready` is stale.
            if queue.deliveries == 0 {
                self.queues.remove(&d.system_id);
            }
        }
        Some((d.system_id, d.kind))
    }
}

fn pick_receiver(
    receivers: &[SessionId],
    sessions: &BTreeMap<SessionId, Session>,
    window: usize,
    next: &mut usize,
) -> Option<SessionId> {
    let n = receivers.len();
    let start = *next;
    let index = (0..n)
        .map(|i| (start + i) % n)
        .find(|&index| sessions.get(&receivers[index]).is_some_and(|s| s.in_flight.len() < window))?;
    *next = index + 1;
    Some(receivers[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: Duration = Duration::from_secs(5);

    fn session(outbox: &mut Outbox, system_id: &str, can_receive: bool) -> SessionId {
        let (tx, _rx) = mpsc::channel(1);
        outbox.register(system_id, can_receive, tx)
    }

    fn keys(handovers: &[Handover]) -> Vec<(SessionId, DeliveryKey)> {
        handovers.iter().map(|h| (h.session, h.key)).collect()
    }

    #[test]
    fn a_delivery_waits_until_due_and_goes_only_to_a_receiver_of_its_account() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        let _transmitter = session(&mut outbox, "kurier", false);
        let _stranger = session(&mut outbox, "other", true);
        let rx = session(&mut outbox, "kurier", true);
        outbox.add("kurier", Kind::Receipt, DeliverSm::default(), Some(t0 + Duration::from_millis(50)));
        let (early, next) = outbox.dispatch(t0, RETRY);
        assert!(early.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_millis(50)));
        let (due, _) = outbox.dispatch(t0 + Duration::from_millis(50), RETRY);
        assert_eq!(keys(&due), [(rx, 1)]);
    }

    #[test]
    fn without_a_receiver_a_delivery_is_kept_until_one_binds() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        outbox.add("kurier", Kind::Mo, DeliverSm::default(), None);
        assert!(outbox.dispatch(t0, RETRY).0.is_empty());
        let rx = session(&mut outbox, "kurier", true);
        assert_eq!(keys(&outbox.dispatch(t0, RETRY).0), [(rx, 1)]);
    }

    #[test]
    fn each_session_gets_at_most_a_window_and_the_rest_waits() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        let a = session(&mut outbox, "kurier", true);
        let b = session(&mut outbox, "kurier", true);
        for _ in 0..(DELIVER_WINDOW * 2 + 5) {
            outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        }
        let (first, _) = outbox.dispatch(t0, RETRY);
        assert_eq!(first.len(), DELIVER_WINDOW * 2);
        assert_eq!(first.iter().filter(|h| h.session == a).count(), DELIVER_WINDOW);
        assert!(outbox.dispatch(t0, RETRY).0.is_empty(), "both windows are full");
        let freed = first.iter().find(|h| h.session == b).unwrap().key;
        assert_eq!(outbox.answered(freed, b, true, t0, RETRY), Some(("kurier".into(), Kind::Receipt)));
        assert_eq!(outbox.dispatch(t0, RETRY).0.len(), 1);
    }

    #[test]
    fn a_session_window_can_be_set_and_is_at_least_one() {
        let t0 = Instant::now();
        let mut outbox = Outbox::with_window(3);
        let a = session(&mut outbox, "kurier", true);
        for _ in 0..5 {
            outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        }
        let (first, _) = outbox.dispatch(t0, RETRY);
        assert_eq!(keys(&first), [(a, 1), (a, 2), (a, 3)]);
        assert!(outbox.dispatch(t0, RETRY).0.is_empty(), "the window of 3 is full");

        let mut outbox = Outbox::with_window(0);
        let b = session(&mut outbox, "kurier", true);
        outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        assert_eq!(keys(&outbox.dispatch(t0, RETRY).0), [(b, 1)]);
    }

    #[test]
    fn unanswered_goes_out_again_refused_waits_for_the_retry_and_ok_removes_it() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        let rx = session(&mut outbox, "kurier", true);
        outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        assert_eq!(keys(&outbox.dispatch(t0, RETRY).0), [(rx, 1)]);
        let (again, _) = outbox.dispatch(t0 + RETRY, RETRY);
        assert_eq!(keys(&again), [(rx, 1)], "unanswered within the retry delay");
        let t1 = t0 + RETRY;
        assert_eq!(outbox.answered(1, rx, false, t1, RETRY), None);
        assert!(outbox.dispatch(t1 + RETRY / 2, RETRY).0.is_empty());
        assert_eq!(keys(&outbox.dispatch(t1 + RETRY, RETRY).0), [(rx, 1)]);
        assert!(outbox.answered(1, rx, true, t1 + RETRY, RETRY).is_some());
        assert_eq!(outbox.len(), 0);
        assert_eq!(outbox.dispatch(t1 + RETRY * 3, RETRY).1, None, "nothing left to wait for");
    }

    #[test]
    fn a_late_ok_to_an_earlier_attempt_still_counts_once() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        let rx = session(&mut outbox, "kurier", true);
        outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        outbox.dispatch(t0, RETRY);
        outbox.dispatch(t0 + RETRY, RETRY); // second attempt in flight
        assert!(outbox.answered(1, rx, true, t0 + RETRY, RETRY).is_some());
        assert!(outbox.answered(1, rx, true, t0 + RETRY, RETRY).is_none());
    }

    #[test]
    fn a_session_that_ends_gives_back_only_its_own_deliveries_in_the_order_sent() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        let a = session(&mut outbox, "kurier", true);
        let b = session(&mut outbox, "kurier", true);
        for _ in 0..(DELIVER_WINDOW * 2) {
            outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        }
        // Many more waiting for their time: untouched by a session's end.
        for _ in 0..10_000 {
            outbox.add("kurier", Kind::Receipt, DeliverSm::default(), Some(t0 + RETRY * 10));
        }
        let (first, _) = outbox.dispatch(t0, RETRY);
        let of = |s| first.iter().filter(|h| h.session == s).map(|h| h.key).collect::<Vec<_>>();
        let (a_keys, b_keys) = (of(a), of(b));
        assert_eq!((a_keys.len(), b_keys.len()), (DELIVER_WINDOW, DELIVER_WINDOW));

        assert_eq!(outbox.unregister(a).as_deref(), Some("kurier"));
        let c = session(&mut outbox, "kurier", true);
        let (again, _) = outbox.dispatch(t0, RETRY);
        assert_eq!(keys(&again), a_keys.iter().map(|&k| (c, k)).collect::<Vec<_>>(), "a's, oldest first");
        // b's stay with b: answered there, they count.
        for key in b_keys {
            assert!(outbox.answered(key, b, true, t0, RETRY).is_some());
        }
        assert_eq!(outbox.len(), DELIVER_WINDOW + 10_000);
    }

    #[test]
    fn a_session_that_goes_away_gives_its_deliveries_to_another() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        let a = session(&mut outbox, "kurier", true);
        outbox.add("kurier", Kind::Receipt, DeliverSm::default(), None);
        assert_eq!(keys(&outbox.dispatch(t0, RETRY).0), [(a, 1)]);
        assert_eq!(outbox.unregister(a).as_deref(), Some("kurier"));
        let b = session(&mut outbox, "kurier", true);
        assert_eq!(keys(&outbox.dispatch(t0, RETRY).0), [(b, 1)]);
        assert_eq!(outbox.answered(1, a, false, t0, RETRY), None, "the old session's answer is ignored");
    }
}
