//! Delivery-receipt text (SMPP 3.4 Appendix B, the de facto format):
//! `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`.
//!
//! This module owns parsing that text leniently — keys in any case, in any
//! order, `submit date` or `submit_date`, any field missing, everything after
//! `text:` kept as is — and writing it back. Values are kept as the SMSC sent
//! them (the id may be hex or decimal); [`ReceiptStat`] and [`ReceiptDate`]
//! give typed views. It does not decide which id (text or TLV) to trust.

use std::fmt;

use crate::types::MessageState;

/// The fields of a receipt text. Every field is optional because real SMSCs
/// omit some; `to_text` writes only the fields that are present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeliveryReceipt {
    /// The SMSC message id, as in the text (hex or decimal, kept verbatim).
    pub id: Option<String>,
    /// Number of messages originally submitted (usually `001`).
    pub sub: Option<String>,
    /// Number of messages delivered (`001` or `000`).
    pub dlvrd: Option<String>,
    /// `YYMMDDhhmm[ss]`; see [`DeliveryReceipt::submitted_at`].
    pub submit_date: Option<String>,
    /// `YYMMDDhhmm[ss]`; see [`DeliveryReceipt::done_at`].
    pub done_date: Option<String>,
    pub stat: Option<ReceiptStat>,
    /// Network-specific error code, usually three digits.
    pub err: Option<String>,
    /// The rest of the text after `text:`, usually the message's first 20
    /// characters.
    pub text: Option<String>,
}

/// The text did not contain a single receipt key with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a delivery receipt: no id:, stat:, … key with a value found")]
pub struct NotAReceipt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Accepted spellings, matched case-insensitively and followed by `:`.
const KEYS: &[(&str, Key)] = &[
    ("id", Key::Id),
    ("sub", Key::Sub),
    ("dlvrd", Key::Dlvrd),
    ("submit date", Key::SubmitDate),
    ("submit_date", Key::SubmitDate),
    ("done date", Key::DoneDate),
    ("done_date", Key::DoneDate),
    ("stat", Key::Stat),
    ("err", Key::Err),
    ("text", Key::Text),
];

/// The key (and its length including `:`) starting at `rest`, if any.
fn key_at(rest: &[u8]) -> Option<(Key, usize)> {
    KEYS.iter().find_map(|&(spelling, key)| {
        let n = spelling.len();
        let matches =
            rest.len() > n && rest[..n].eq_ignore_ascii_case(spelling.as_bytes()) && rest[n] == b':';
        matches.then_some((key, n + 1))
    })
}

impl DeliveryReceipt {
    /// Parses receipt text. Fails only when no key with a value is found.
    ///
    /// A key counts at the start of the text or after whitespace. Each value
    /// runs to the next key and is trimmed; an empty value counts as absent.
    /// `text:` takes everything after it, untrimmed, and ends the scan. When
    /// a key repeats, the first wins.
    pub fn parse(input: &str) -> Result<DeliveryReceipt, NotAReceipt> {
        let bytes = input.as_bytes();
        // (key, where the key starts, where its value starts)
        let mut found: Vec<(Key, usize, usize)> = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let at_boundary = i == 0 || bytes[i - 1].is_ascii_whitespace();
            if at_boundary && let Some((key, len)) = key_at(&bytes[i..]) {
                found.push((key, i, i + len));
                i += len;
                if key == Key::Text {
                    break;
                }
                continue;
            }
            i += 1;
        }
        if found.is_empty() {
            return Err(NotAReceipt);
        }

        let mut receipt = DeliveryReceipt::default();
        for (n, &(key, _, value_start)) in found.iter().enumerate() {
            // Keys and `:` are ASCII, so these offsets are char boundaries.
            let value_end = found.get(n + 1).map_or(bytes.len(), |next| next.1);
            let raw = &input[value_start..value_end];
            if key == Key::Text {
                receipt.text.get_or_insert_with(|| raw.to_owned());
                continue;
            }
            // Some SMSCs end the text (or a field) with C-string padding.
            let value = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
            if value.is_empty() {
                continue;
            }
            let slot = match key {
                Key::Id => &mut receipt.id,
                Key::Sub => &mut receipt.sub,
                Key::Dlvrd => &mut receipt.dlvrd,
                Key::SubmitDate => &mut receipt.submit_date,
                Key::DoneDate => &mut receipt.done_date,
                Key::Err => &mut receipt.err,
                Key::Stat => {
                    receipt.stat.get_or_insert_with(|| ReceiptStat::parse(value));
                    continue;
                }
                Key::Text => unreachable!("handled above"),
            };
            slot.get_or_insert_with(|| value.to_owned());
        }
        if receipt == DeliveryReceipt::default() {
            return Err(NotAReceipt);
        }
        Ok(receipt)
    }

    /// The canonical text: present fields in the usual order, lower-case
    /// keys, `submit date`/`done date` with a space, `text:` last.
    pub fn to_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |key: &str, value: Option<&str>| {
            if let Some(value) = value {
                parts.push(format!("{key}:{value}"));
            }
        };
        push("id", self.id.as_deref());
        push("sub", self.sub.as_deref());
        push("dlvrd", self.dlvrd.as_deref());
        push("submit date", self.submit_date.as_deref());
        push("done date", self.done_date.as_deref());
        push("stat", self.stat.as_ref().map(ReceiptStat::as_str));
        push("err", self.err.as_deref());
        push("text", self.text.as_deref());
        parts.join(" ")
    }

    /// `submit_date` as a date, if it is one.
    pub fn submitted_at(&self) -> Option<ReceiptDate> {
        self.submit_date.as_deref().and_then(ReceiptDate::parse)
    }

    /// `done_date` as a date, if it is one.
    pub fn done_at(&self) -> Option<ReceiptDate> {
        self.done_date.as_deref().and_then(ReceiptDate::parse)
    }
}

impl fmt::Display for DeliveryReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// The `stat:` value: the final (or intermediate) state of the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReceiptStat {
    /// `DELIVRD`
    Delivered,
    /// `EXPIRED`
    Expired,
    /// `DELETED`
    Deleted,
    /// `UNDELIV`
    Undeliverable,
    /// `ACCEPTD`
    Accepted,
    /// `UNKNOWN`
    Unknown,
    /// `REJECTD`
    Rejected,
    /// `ENROUTE`
    Enroute,
    /// Anything else, as sent.
    Other(String),
}

impl ReceiptStat {
    /// Case-insensitive; also accepts the long spellings some SMSCs use
    /// (`DELIVERED`, `UNDELIVERABLE`, `ACCEPTED`, `REJECTED`).
    pub fn parse(value: &str) -> ReceiptStat {
        let value = value.trim();
        let known = [
            ("DELIVRD", ReceiptStat::Delivered),
            ("DELIVERED", ReceiptStat::Delivered),
            ("EXPIRED", ReceiptStat::Expired),
            ("DELETED", ReceiptStat::Deleted),
            ("UNDELIV", ReceiptStat::Undeliverable),
            ("UNDELIVERABLE", ReceiptStat::Undeliverable),
            ("ACCEPTD", ReceiptStat::Accepted),
            ("ACCEPTED", ReceiptStat::Accepted),
            ("UNKNOWN", ReceiptStat::Unknown),
            ("REJECTD", ReceiptStat::Rejected),
            ("REJECTED", ReceiptStat::Rejected),
            ("ENROUTE", ReceiptStat::Enroute),
        ];
        known
            .into_iter()
            .find(|(spelling, _)| value.eq_ignore_ascii_case(spelling))
            .map_or_else(|| ReceiptStat::Other(value.to_owned()), |(_, stat)| stat)
    }

    /// The 7-letter spelling, or the `Other` text.
    pub fn as_str(&self) -> &str {
        match self {
            ReceiptStat::Delivered => "DELIVRD",
            ReceiptStat::Expired => "EXPIRED",
            ReceiptStat::Deleted => "DELETED",
            ReceiptStat::Undeliverable => "UNDELIV",
            ReceiptStat::Accepted => "ACCEPTD",
            ReceiptStat::Unknown => "UNKNOWN",
            ReceiptStat::Rejected => "REJECTD",
            ReceiptStat::Enroute => "ENROUTE",
            ReceiptStat::Other(other) => other,
        }
    }

    /// The matching `message_state`; `None` for `Other`.
    pub fn message_state(&self) -> Option<MessageState> {
        Some(match self {
            ReceiptStat::Delivered => MessageState::Delivered,
            ReceiptStat::Expired => MessageState::Expired,
            ReceiptStat::Deleted => MessageState::Deleted,
            ReceiptStat::Undeliverable => MessageState::Undeliverable,
            ReceiptStat::Accepted => MessageState::Accepted,
            ReceiptStat::Unknown => MessageState::Unknown,
            ReceiptStat::Rejected => MessageState::Rejected,
            ReceiptStat::Enroute => MessageState::Enroute,
            ReceiptStat::Other(_) => return None,
        })
    }

    /// The stat for a `message_state`; `None` for `MessageState::Other`.
    pub fn from_message_state(state: MessageState) -> Option<ReceiptStat> {
        Some(match state {
            MessageState::Delivered => ReceiptStat::Delivered,
            MessageState::Expired => ReceiptStat::Expired,
            MessageState::Deleted => ReceiptStat::Deleted,
            MessageState::Undeliverable => ReceiptStat::Undeliverable,
            MessageState::Accepted => ReceiptStat::Accepted,
            MessageState::Unknown => ReceiptStat::Unknown,
            MessageState::Rejected => ReceiptStat::Rejected,
            MessageState::Enroute => ReceiptStat::Enroute,
            MessageState::Other(_) => return None,
        })
    }
}

impl fmt::Display for ReceiptStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A receipt date, `YYMMDDhhmm` or `YYMMDDhhmmss` (also `YYYYMMDDhhmmss`).
/// Local time of the SMSC; no zone is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptDate {
    /// Four digits; two-digit years are taken as 20YY.
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// 0 when the text has no seconds.
    pub second: u8,
}

impl ReceiptDate {
    /// `None` unless the value is 10, 12 or 14 digits forming a plausible
    /// date and time.
    pub fn parse(value: &str) -> Option<ReceiptDate> {
        let value = value.trim();
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |range: std::ops::Range<usize>| value.get(range)?.parse::<u16>().ok();
        let (year, rest) = match value.len() {
            10 | 12 => (2000 + num(0..2)?, 2),
            14 => (num(0..4)?, 4),
            _ => return None,
        };
        let two = |at: usize| num(at..at + 2).and_then(|v| u8::try_from(v).ok());
        let date = ReceiptDate {
            year,
            month: two(rest)?,
            day: two(rest + 2)?,
            hour: two(rest + 4)?,
            minute: two(rest + 6)?,
            second: if value.len() == 10 { 0 } else { two(rest + 8)? },
        };
        let valid = (1..=12).contains(&date.month)
            && (1..=31).contains(&date.day)
            && date.hour < 24
            && date.minute < 60
            && date.second < 60;
        valid.then_some(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPICAL: &str = "id:0123456789 sub:001 dlvrd:001 submit date:2401151230 \
                           done date:2401151231 stat:DELIVRD err:000 text:Hello world";

    #[test]
    fn a_typical_receipt_is_parsed_into_all_its_fields() {
        let r = DeliveryReceipt::parse(TYPICAL).unwrap();
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.submit_date.as_deref(), Some("2401151230"));
        assert_eq!(r.done_date.as_deref(), Some("2401151231"));
        assert_eq!(r.stat, Some(ReceiptStat::Delivered));
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello world"));
        assert_eq!(
            r.done_at(),
            Some(ReceiptDate { year: 2024, month: 1, day: 15, hour: 12, minute: 31, second: 0 })
        );
    }

    #[test]
    fn nul_padding_is_no_part_of_a_field() {
        let r = DeliveryReceipt::parse("id:0123456789\0 stat:DELIVRD\0 err:000\0\0").unwrap();
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.stat, Some(ReceiptStat::Delivered));
        assert_eq!(r.err.as_deref(), Some("000"));
    }

    #[test]
    fn to_text_and_parse_round_trip() {
        let r = DeliveryReceipt::parse(TYPICAL).unwrap();
        assert_eq!(r.to_text(), TYPICAL.split_whitespace().collect::<Vec<_>>().join(" "));
        assert_eq!(DeliveryReceipt::parse(&r.to_text()).unwrap(), r);
    }

    #[test]
    fn keys_are_case_insensitive_and_underscored_dates_are_accepted() {
        let r = DeliveryReceipt::parse(
            "ID:7f3a SUB:001 DLVRD:000 Submit_Date:240115123001 DONE_DATE:240115123502 \
             Stat:undeliv Err:0B1 Text:",
        )
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("7f3a"));
        assert_eq!(r.stat, Some(ReceiptStat::Undeliverable));
        assert_eq!(r.err.as_deref(), Some("0B1"));
        assert_eq!(r.submitted_at().map(|d| d.second), Some(1));
        assert_eq!(r.text.as_deref(), Some(""));
    }

    #[test]
    fn missing_fields_are_tolerated() {
        let r = DeliveryReceipt::parse("id:42 stat:EXPIRED").unwrap();
        assert_eq!(r.id.as_deref(), Some("42"));
        assert_eq!(r.stat, Some(ReceiptStat::Expired));
        assert_eq!(r.sub, None);
        assert_eq!(r.text, None);
    }

    #[test]
    fn text_takes_the_rest_even_when_it_looks_like_keys() {
        let r = DeliveryReceipt::parse("id:1 stat:DELIVRD text:id:2 stat:REJECTD").unwrap();
        assert_eq!(r.id.as_deref(), Some("1"));
        assert_eq!(r.stat, Some(ReceiptStat::Delivered));
        assert_eq!(r.text.as_deref(), Some("id:2 stat:REJECTD"));
    }

    #[test]
    fn a_key_inside_a_word_is_not_a_key() {
        let r = DeliveryReceipt::parse("id:abc kid:9 stat:ENROUTE").unwrap();
        assert_eq!(r.id.as_deref(), Some("abc kid:9"));
    }

    #[test]
    fn every_stat_spelling_maps_to_its_variant_and_unknown_ones_are_kept() {
        let cases = [
            ("DELIVRD", ReceiptStat::Delivered),
            ("EXPIRED", ReceiptStat::Expired),
            ("DELETED", ReceiptStat::Deleted),
            ("UNDELIV", ReceiptStat::Undeliverable),
            ("ACCEPTD", ReceiptStat::Accepted),
            ("UNKNOWN", ReceiptStat::Unknown),
            ("REJECTD", ReceiptStat::Rejected),
            ("ENROUTE", ReceiptStat::Enroute),
            ("delivered", ReceiptStat::Delivered),
            ("FAILED", ReceiptStat::Other("FAILED".into())),
        ];
        for (text, stat) in cases {
            assert_eq!(ReceiptStat::parse(text), stat, "{text}");
        }
    }

    #[test]
    fn stats_and_message_states_map_both_ways() {
        for value in 1..=8u8 {
            let state = MessageState::from(value);
            let stat = ReceiptStat::from_message_state(state).unwrap();
            assert_eq!(stat.message_state(), Some(state));
        }
    }

    #[test]
    fn text_without_any_key_is_not_a_receipt() {
        for text in ["", "Hello there", "identity: none", "id: stat:"] {
            assert_eq!(DeliveryReceipt::parse(text), Err(NotAReceipt), "{text}");
        }
    }

    #[test]
    fn malformed_dates_are_not_dates() {
        for value in ["", "24011512", "2401151230x", "2413151230", "2401152460", "240115123099"] {
            assert_eq!(ReceiptDate::parse(value), None, "{value}");
        }
        assert_eq!(ReceiptDate::parse("20240115123059").map(|d| d.year), Some(2024));
    }
}
