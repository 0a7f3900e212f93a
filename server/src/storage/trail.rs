//! A message's trail: the first entries of its status history, kept on the
//! message's own row (`messages.trail`) instead of as `message_events` rows.
//!
//! The straight way (stored, claimed, sent, receipts) appends each entry
//! in the statement that changes the status — on SQLite's hot path
//! (`hot_path.rs`) and through sqlx on both backends (`messages.rs`) — so
//! such a message costs no history row and no history index entry. A
//! message's history is its trail's entries followed by its
//! `message_events` rows. To keep that order, nothing is appended to a
//! trail once the message has a history row: whoever writes the first one
//! (any other change, `messages::insert_events`) first moves the trail's
//! entries into rows of their own and sets the trail to NULL ("spills" it).
//! A NULL trail means the whole history is in `message_events`.
//!
//! One line per entry: the status, the time in microseconds, and the detail
//! (if any) as a JSON string, separated by single spaces. JSON escaping
//! keeps a detail's own newlines out of the line structure.

use crate::domain::MessageStatus;

use super::messages::EventRecord;

/// One entry, ready to append to a trail.
pub(super) fn entry(status: MessageStatus, at: i64, detail: Option<&str>) -> String {
    let mut line = format!("{status} {at}");
    if let Some(detail) = detail {
        line.push(' ');
        line.push_str(&serde_json::Value::from(detail).to_string());
    }
    line.push('\n');
    line
}

/// A trail's entries, oldest first.
pub(super) fn parse(trail: &str) -> Result<Vec<EventRecord>, BadTrail> {
    trail.lines().map(parse_line).collect()
}

fn parse_line(line: &str) -> Result<EventRecord, BadTrail> {
    let bad = || BadTrail(line.to_owned());
    let mut fields = line.splitn(3, ' ');
    let status = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let at = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let detail = match fields.next() {
        Some(json) => Some(serde_json::from_str::<String>(json).map_err(|_| bad())?),
        None => None,
    };
    Ok(EventRecord { status, at, detail })
}

/// A stored trail line that is not an entry (never written by this code).
#[derive(Debug, thiserror::Error)]
#[error("a message's trail holds an unreadable entry: {0:?}")]
pub struct BadTrail(String);

/// Trails are read where rows are decoded: a bad one fails the read as a
/// column that does not decode would.
impl From<BadTrail> for sqlx::Error {
    fn from(e: BadTrail) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_in_order_with_their_details() {
        let receipt = "id:7 sub:001 dlvrd:001 stat:DELIVRD err:000 text:two\nlines \"quoted\" \\ tab\t";
        let trail = [
            entry(MessageStatus::Queued, 10, None),
            entry(MessageStatus::Sending, 20, None),
            entry(MessageStatus::Sent, 30, Some("accepted by smsc as 7")),
            entry(MessageStatus::Delivered, 40, Some(receipt)),
        ]
        .concat();
        let read = parse(&trail).unwrap();
        let got: Vec<_> = read.iter().map(|e| (e.status, e.at, e.detail.as_deref())).collect();
        assert_eq!(
            got,
            [
                (MessageStatus::Queued, 10, None),
                (MessageStatus::Sending, 20, None),
                (MessageStatus::Sent, 30, Some("accepted by smsc as 7")),
                (MessageStatus::Delivered, 40, Some(receipt)),
            ]
        );
    }

    #[test]
    fn a_detail_is_written_as_serde_json_writes_it() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        for detail in [controls.as_str(), "plain", "\"q\" \\ / \u{7f} zażółć 😀", ""] {
            let expected =
                format!("{} 5 {}\n", MessageStatus::Delivered, serde_json::to_string(detail).unwrap());
            assert_eq!(entry(MessageStatus::Delivered, 5, Some(detail)), expected);
            assert_eq!(parse(&expected).unwrap()[0].detail.as_deref(), Some(detail));
        }
        assert_eq!(entry(MessageStatus::Queued, -1, None), format!("{} -1\n", MessageStatus::Queued));
    }

    #[test]
    fn an_empty_trail_has_no_entries() {
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_damaged_entry_is_an_error_naming_it() {
        for line in ["queued", "queued ten", "lost 10", "sent 10 not-json", "sent 10 \"unterminated"] {
            let err = parse(line).unwrap_err();
            assert!(err.to_string().contains(&format!("{line:?}")), "{err}");
        }
    }
}
