//! `MessageState`: where a message is in the SMSC (spec §5.2.28), as carried by
//! `query_sm_resp` and the `message_state` TLV of a delivery receipt.

/// The 3.4 message states, with `Other(u8)` for anything else (SMPP 5.0's
/// `SCHEDULED` = 0 and `SKIPPED` = 9 included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    Enroute,
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Other(u8),
}

impl Default for MessageState {
    /// `Other(0)`: what an absent/zeroed state decodes to.
    fn default() -> Self {
        MessageState::Other(0)
    }
}

impl From<u8> for MessageState {
    fn from(value: u8) -> Self {
        match value {
            1 => MessageState::Enroute,
            2 => MessageState::Delivered,
            3 => MessageState::Expired,
            4 => MessageState::Deleted,
            5 => MessageState::Undeliverable,
            6 => MessageState::Accepted,
            7 => MessageState::Unknown,
            8 => MessageState::Rejected,
            other => MessageState::Other(other),
        }
    }
}

impl From<MessageState> for u8 {
    fn from(state: MessageState) -> u8 {
        match state {
            MessageState::Enroute => 1,
            MessageState::Delivered => 2,
            MessageState::Expired => 3,
            MessageState::Deleted => 4,
            MessageState::Undeliverable => 5,
            MessageState::Accepted => 6,
            MessageState::Unknown => 7,
            MessageState::Rejected => 8,
            MessageState::Other(other) => other,
        }
    }
}

impl MessageState {
    /// The spec name, e.g. `"DELIVERED"`; `None` for `Other`.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            MessageState::Enroute => "ENROUTE",
            MessageState::Delivered => "DELIVERED",
            MessageState::Expired => "EXPIRED",
            MessageState::Deleted => "DELETED",
            MessageState::Undeliverable => "UNDELIVERABLE",
            MessageState::Accepted => "ACCEPTED",
            MessageState::Unknown => "UNKNOWN",
            MessageState::Rejected => "REJECTED",
            MessageState::Other(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_octet_survives_a_round_trip_and_enroute_to_rejected_are_named() {
        for value in 0..=u8::MAX {
            let state = MessageState::from(value);
            assert_eq!(u8::from(state), value);
            assert_eq!(state.name().is_some(), (1..=8).contains(&value));
        }
    }
}
