//! Identifiers. Every stored row gets a UUIDv7: time-ordered, so it doubles as
//! a stable cursor for pagination and indexes well in both databases.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// A fresh time-ordered identifier, as text (the form stored and shown).
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// An id as stored (lower-case hyphenated UUID), if `s` is one.
pub fn canonical_id(s: &str) -> Option<String> {
    Uuid::parse_str(s.trim()).ok().map(|u| u.hyphenated().to_string())
}

/// The id of a message, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Uuid);

impl MessageId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for MessageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_time_ordered_and_round_trip_through_text() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<MessageId>().unwrap(), a);
        assert!("not-an-id".parse::<MessageId>().is_err());
    }
}
