//! Message statuses and directions, with their one-word names as the API shows them.

use std::fmt;
use std::str::FromStr;

/// Whether a message goes out to a phone (MT) or came in from one (MO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

impl FromStr for Direction {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "outbound" => Ok(Self::Outbound),
            "inbound" => Ok(Self::Inbound),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// The life of a message. Outbound: `scheduled` → `queued` → `sending` →
/// `sent` → `delivered` | `undelivered` | `expired` | `rejected`, or `failed`
/// (not submitted after retries) or `canceled`. Inbound messages are `received`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Expired,
    Rejected,
    Failed,
    Canceled,
    Received,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value '{0}'")]
pub struct UnknownStatus(pub String);

impl MessageStatus {
    pub const ALL: [MessageStatus; 11] = [
        Self::Scheduled,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Expired,
        Self::Rejected,
        Self::Failed,
        Self::Canceled,
        Self::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Received => "received",
        }
    }

    /// A final status never changes again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Delivered
                | Self::Undelivered
                | Self::Expired
                | Self::Rejected
                | Self::Failed
                | Self::Canceled
                | Self::Received
        )
    }
}

impl FromStr for MessageStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for st in MessageStatus::ALL {
            assert_eq!(st.as_str().parse::<MessageStatus>().unwrap(), st);
        }
        assert!("DELIVERED".parse::<MessageStatus>().is_err());
    }

    #[test]
    fn only_end_states_are_final() {
        assert!(!MessageStatus::Sent.is_final());
        assert!(!MessageStatus::Sending.is_final());
        assert!(MessageStatus::Delivered.is_final());
        assert!(MessageStatus::Failed.is_final());
    }
}
