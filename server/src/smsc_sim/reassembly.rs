//! Putting long messages back together: parts of one concatenated message
//! (same account, sender, recipient, reference and total, by UDH or SAR)
//! are kept until every sequence number has arrived, in any order, and then
//! joined into one [`ReceivedMessage`].
//!
//! Bounded: at most [`MAX_PARTIAL_MESSAGES`] messages and
//! [`MAX_PARTIAL_BYTES`] of parts wait at once, none longer than
//! [`PARTIAL_TTL`]; the oldest are dropped first. A part sent twice replaces
//! the earlier copy. Decoding each part is `text`'s job.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::ReceivedMessage;
use super::text::{self, DecodedPart, PartOf};

/// Concatenated messages waiting for missing parts at once.
pub const MAX_PARTIAL_MESSAGES: usize = 10_000;
/// Memory the waiting parts may take at once (their octets, text and ids),
/// whatever their number: a client sending 64 KiB parts that never
/// complete must not exhaust memory.
pub const MAX_PARTIAL_BYTES: usize = 64 * 1024 * 1024;
/// How long parts wait for the rest of their message.
pub const PARTIAL_TTL: Duration = Duration::from_secs(600);

/// Where a part came from.
pub(crate) struct Origin {
    pub system_id: String,
    pub from: String,
    pub to: String,
}

type Key = (String, String, String, u16, u8);

struct Partial {
    first_seen: Instant,
    /// Its place in [`Reassembler::order`].
    serial: u64,
    bytes: usize,
    parts: BTreeMap<u8, (DecodedPart, String)>,
}

#[derive(Default)]
pub(crate) struct Reassembler {
    partials: HashMap<Key, Partial>,
    /// Every waiting message by when it started, oldest first, for
    /// eviction; a message leaves it when it completes or is dropped, so it
    /// holds exactly the messages in `partials`.
    order: BTreeMap<u64, Key>,
    next_serial: u64,
    /// What the waiting parts take, as [`part_bytes`] counts it.
    bytes: usize,
}

/// Memory one waiting part takes, roughly.
fn part_bytes(part: &DecodedPart, message_id: &str) -> usize {
    part.units.len() + part.text.len() + message_id.len() + 64
}

impl Reassembler {
    /// Takes one received part with the id it was given; returns the whole
    /// message once it is complete (at once for a message of one part).
    pub(crate) fn add(
        &mut self,
        origin: Origin,
        part: DecodedPart,
        message_id: &str,
        now: Instant,
    ) -> Option<ReceivedMessage> {
        let Some(PartOf { reference, total, seq }) = part.concat.filter(|c| c.total > 1) else {
            return Some(ReceivedMessage {
                system_id: origin.system_id,
                from: origin.from,
                to: origin.to,
                text: part.text,
                parts: 1,
                data_coding: part.data_coding,
                message_ids: vec![message_id.to_owned()],
            });
        };
        let size = part_bytes(&part, message_id);
        self.evict(now, size);
        let key: Key = (origin.system_id, origin.from, origin.to, reference, total);
        let partial = match self.partials.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.next_serial += 1;
                self.order.insert(self.next_serial, key.clone());
                e.insert(Partial {
                    first_seen: now,
                    serial: self.next_serial,
                    bytes: 0,
                    parts: BTreeMap::new(),
                })
            }
        };
        if let Some((old, old_id)) = partial.parts.insert(seq, (part, message_id.to_owned())) {
            let freed = part_bytes(&old, &old_id);
            partial.bytes -= freed;
            self.bytes -= freed;
        }
        partial.bytes += size;
        self.bytes += size;
        if partial.parts.len() < usize::from(total) {
            return None;
        }
        let whole = self.remove(&key)?;
        let (system_id, from, to, _, _) = key;
        Some(assemble(Origin { system_id, from, to }, whole))
    }

    /// Messages waiting for parts.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.partials.len()
    }

    fn remove(&mut self, key: &Key) -> Option<Partial> {
        let partial = self.partials.remove(key)?;
        self.order.remove(&partial.serial);
        self.bytes -= partial.bytes;
        Some(partial)
    }

    /// Drops the oldest messages while they are too old, or while there
    /// is no room for one more message of `incoming` bytes.
    fn evict(&mut self, now: Instant, incoming: usize) {
        while let Some((_, key)) = self.order.first_key_value() {
            let Some(oldest) = self.partials.get(key) else {
                self.order.pop_first();
                continue;
            };
            let too_old = now.saturating_duration_since(oldest.first_seen) > PARTIAL_TTL;
            let too_many = self.partials.len() >= MAX_PARTIAL_MESSAGES;
            let too_big = self.bytes + incoming > MAX_PARTIAL_BYTES;
            if !(too_old || too_many || too_big) {
                break;
            }
            let key = key.clone();
            self.remove(&key);
        }
    }
}

/// The whole message: units joined and decoded together when every part has
/// the same coding (so a character cut between parts survives), else each
/// part decoded alone.
fn assemble(origin: Origin, whole: Partial) -> ReceivedMessage {
    let parts: Vec<(DecodedPart, String)> = whole.parts.into_values().collect();
    let data_coding = parts.first().map_or(0, |(p, _)| p.data_coding);
    let text = if parts.iter().all(|(p, _)| p.data_coding == data_coding) {
        let units: Vec<u8> = parts.iter().flat_map(|(p, _)| p.units.iter().copied()).collect();
        text::decode_units(data_coding, &units)
    } else {
        parts.iter().map(|(p, _)| p.text.as_str()).collect()
    };
    ReceivedMessage {
        system_id: origin.system_id,
        from: origin.from,
        to: origin.to,
        text,
        parts: parts.len(),
        data_coding,
        message_ids: parts.into_iter().map(|(_, id)| id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(from: &str) -> Origin {
        Origin { system_id: "kurier".into(), from: from.into(), to: "+48600100200".into() }
    }

    fn part(reference: u16, total: u8, seq: u8, units: &[u8]) -> DecodedPart {
        DecodedPart {
            concat: Some(PartOf { reference, total, seq }),
            data_coding: 8,
            units: units.to_vec(),
            text: text::decode_units(8, units),
        }
    }

    #[test]
    fn parts_in_any_order_make_one_message_and_a_surrogate_pair_cut_between_them_survives() {
        let bytes = sms_text::ucs2::encode("ab👋");
        let (head, tail) = bytes.split_at(6); // cuts the emoji's surrogate pair
        let mut r = Reassembler::default();
        let t = Instant::now();
        assert_eq!(r.add(origin("A"), part(5, 2, 2, tail), "id2", t), None);
        let whole = r.add(origin("A"), part(5, 2, 1, head), "id1", t).unwrap();
        assert_eq!(whole.text, "ab👋");
        assert_eq!((whole.parts, whole.message_ids), (2, vec!["id1".to_owned(), "id2".to_owned()]));
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn parts_of_other_senders_with_the_same_reference_do_not_mix() {
        let mut r = Reassembler::default();
        let t = Instant::now();
        assert!(r.add(origin("A"), part(5, 2, 1, &[0, 0x41]), "a1", t).is_none());
        assert!(r.add(origin("B"), part(5, 2, 2, &[0, 0x42]), "b2", t).is_none());
        assert_eq!(r.waiting(), 2);
        assert_eq!(r.add(origin("A"), part(5, 2, 2, &[0, 0x43]), "a2", t).unwrap().text, "AC");
    }

    #[test]
    fn messages_that_complete_leave_nothing_behind_while_another_never_does() {
        let mut r = Reassembler::default();
        let t = Instant::now();
        assert!(r.add(origin("stuck"), part(1, 2, 1, &[0, 0x41]), "s1", t).is_none());
        for reference in 0..1_000u16 {
            assert!(r.add(origin("A"), part(reference, 2, 1, &[0, 0x41]), "a1", t).is_none());
            assert!(r.add(origin("A"), part(reference, 2, 2, &[0, 0x42]), "a2", t).is_some());
        }
        assert_eq!((r.waiting(), r.order.len()), (1, 1), "only the stuck message is remembered");
        assert_eq!(r.bytes, part_bytes(&part(1, 2, 1, &[0, 0x41]), "s1"));
    }

    #[test]
    fn parts_that_would_exceed_the_byte_budget_push_out_the_oldest() {
        let mut r = Reassembler::default();
        let t = Instant::now();
        let big = vec![0x41; 64 * 1024];
        let per_part = part_bytes(&part(0, 2, 1, &big), "id");
        let fit = MAX_PARTIAL_BYTES / per_part;
        for reference in 0..fit as u16 + 10 {
            assert!(r.add(origin("A"), part(reference, 2, 1, &big), "id", t).is_none());
            assert!(r.bytes <= MAX_PARTIAL_BYTES, "{} bytes after {reference}", r.bytes);
        }
        assert_eq!(r.waiting(), fit);
        assert_eq!(r.order.len(), fit);
        // The oldest went first: the tenth is gone, the newest still waits.
        assert!(r.add(origin("A"), part(9, 2, 2, &big), "id", t).is_none());
        assert!(r.add(origin("A"), part(fit as u16 + 9, 2, 2, &big), "id", t).is_some());
    }

    #[test]
    fn parts_that_wait_too_long_are_dropped() {
        let mut r = Reassembler::default();
        let t = Instant::now();
        assert!(r.add(origin("A"), part(1, 2, 1, &[0, 0x41]), "a1", t).is_none());
        let later = t + PARTIAL_TTL + Duration::from_secs(1);
        assert!(
            r.add(origin("A"), part(1, 2, 2, &[0, 0x42]), "a2", later).is_none(),
            "the first part is gone"
        );
        assert_eq!(r.waiting(), 1);
    }
}
