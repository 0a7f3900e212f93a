//! `CommandId`: the SMPP 3.4 operation in a PDU header (spec §5.1.2.1).
//!
//! This module owns the list of known command ids, the request ↔ response
//! pairing and their names. It does not decode bodies; an id that is not in
//! the list is reported by [`crate::Packet::decode`] as a [`crate::DecodeError`]
//! carrying `ESME_RINVCMDID`, so the session can answer `generic_nack`.

use std::fmt;

/// Every command id defined by SMPP 3.4.
///
/// The discriminant is the wire value; responses have bit 31 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum CommandId {
    GenericNack = 0x8000_0000,
    BindReceiver = 0x0000_0001,
    BindReceiverResp = 0x8000_0001,
    BindTransmitter = 0x0000_0002,
    BindTransmitterResp = 0x8000_0002,
    QuerySm = 0x0000_0003,
    QuerySmResp = 0x8000_0003,
    SubmitSm = 0x0000_0004,
    SubmitSmResp = 0x8000_0004,
    DeliverSm = 0x0000_0005,
    DeliverSmResp = 0x8000_0005,
    Unbind = 0x0000_0006,
    UnbindResp = 0x8000_0006,
    ReplaceSm = 0x0000_0007,
    ReplaceSmResp = 0x8000_0007,
    CancelSm = 0x0000_0008,
    CancelSmResp = 0x8000_0008,
    BindTransceiver = 0x0000_0009,
    BindTransceiverResp = 0x8000_0009,
    Outbind = 0x0000_000B,
    EnquireLink = 0x0000_0015,
    EnquireLinkResp = 0x8000_0015,
    SubmitMulti = 0x0000_0021,
    SubmitMultiResp = 0x8000_0021,
    AlertNotification = 0x0000_0102,
    DataSm = 0x0000_0103,
    DataSmResp = 0x8000_0103,
}

/// Bit 31 of a command id marks a response.
const RESPONSE_BIT: u32 = 0x8000_0000;

impl CommandId {
    /// All known ids, in wire-value order of their requests.
    pub const ALL: [CommandId; 27] = [
        CommandId::GenericNack,
        CommandId::BindReceiver,
        CommandId::BindReceiverResp,
        CommandId::BindTransmitter,
        CommandId::BindTransmitterResp,
        CommandId::QuerySm,
        CommandId::QuerySmResp,
        CommandId::SubmitSm,
        CommandId::SubmitSmResp,
        CommandId::DeliverSm,
        CommandId::DeliverSmResp,
        CommandId::Unbind,
        CommandId::UnbindResp,
        CommandId::ReplaceSm,
        CommandId::ReplaceSmResp,
        CommandId::CancelSm,
        CommandId::CancelSmResp,
        CommandId::BindTransceiver,
        CommandId::BindTransceiverResp,
        CommandId::Outbind,
        CommandId::EnquireLink,
        CommandId::EnquireLinkResp,
        CommandId::SubmitMulti,
        CommandId::SubmitMultiResp,
        CommandId::AlertNotification,
        CommandId::DataSm,
        CommandId::DataSmResp,
    ];

    /// The wire value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The known id for a wire value, or `None`.
    pub const fn from_u32(value: u32) -> Option<CommandId> {
        Some(match value {
            0x8000_0000 => CommandId::GenericNack,
            0x0000_0001 => CommandId::BindReceiver,
            0x8000_0001 => CommandId::BindReceiverResp,
            0x0000_0002 => CommandId::BindTransmitter,
            0x8000_0002 => CommandId::BindTransmitterResp,
            0x0000_0003 => CommandId::QuerySm,
            0x8000_0003 => CommandId::QuerySmResp,
            0x0000_0004 => CommandId::SubmitSm,
            0x8000_0004 => CommandId::SubmitSmResp,
            0x0000_0005 => CommandId::DeliverSm,
            0x8000_0005 => CommandId::DeliverSmResp,
            0x0000_0006 => CommandId::Unbind,
            0x8000_0006 => CommandId::UnbindResp,
            0x0000_0007 => CommandId::ReplaceSm,
            0x8000_0007 => CommandId::ReplaceSmResp,
            0x0000_0008 => CommandId::CancelSm,
            0x8000_0008 => CommandId::CancelSmResp,
            0x0000_0009 => CommandId::BindTransceiver,
            0x8000_0009 => CommandId::BindTransceiverResp,
            0x0000_000B => CommandId::Outbind,
            0x0000_0015 => CommandId::EnquireLink,
            0x8000_0015 => CommandId::EnquireLinkResp,
            0x0000_0021 => CommandId::SubmitMulti,
            0x8000_0021 => CommandId::SubmitMultiResp,
            0x0000_0102 => CommandId::AlertNotification,
            0x0000_0103 => CommandId::DataSm,
            0x8000_0103 => CommandId::DataSmResp,
            _ => return None,
        })
    }

    /// True for `*_resp` ids and `generic_nack`.
    pub const fn is_response(self) -> bool {
        self.as_u32() & RESPONSE_BIT != 0
    }

    /// The response id that answers this request; `None` for responses and
    /// for the two requests that have no response (`outbind`,
    /// `alert_notification`).
    pub const fn response(self) -> Option<CommandId> {
        match self {
            CommandId::Outbind | CommandId::AlertNotification => None,
            id if id.is_response() => None,
            id => CommandId::from_u32(id.as_u32() | RESPONSE_BIT),
        }
    }

    /// The spec's name, e.g. `"submit_sm_resp"`.
    pub const fn name(self) -> &'static str {
        match self {
            CommandId::GenericNack => "generic_nack",
            CommandId::BindReceiver => "bind_receiver",
            CommandId::BindReceiverResp => "bind_receiver_resp",
            CommandId::BindTransmitter => "bind_transmitter",
            CommandId::BindTransmitterResp => "bind_transmitter_resp",
            CommandId::QuerySm => "query_sm",
            CommandId::QuerySmResp => "query_sm_resp",
            CommandId::SubmitSm => "submit_sm",
            CommandId::SubmitSmResp => "submit_sm_resp",
            CommandId::DeliverSm => "deliver_sm",
            CommandId::DeliverSmResp => "deliver_sm_resp",
            CommandId::Unbind => "unbind",
            CommandId::UnbindResp => "unbind_resp",
            CommandId::ReplaceSm => "replace_sm",
            CommandId::ReplaceSmResp => "replace_sm_resp",
            CommandId::CancelSm => "cancel_sm",
            CommandId::CancelSmResp => "cancel_sm_resp",
            CommandId::BindTransceiver => "bind_transceiver",
            CommandId::BindTransceiverResp => "bind_transceiver_resp",
            CommandId::Outbind => "outbind",
            CommandId::EnquireLink => "enquire_link",
            CommandId::EnquireLinkResp => "enquire_link_resp",
            CommandId::SubmitMulti => "submit_multi",
            CommandId::SubmitMultiResp => "submit_multi_resp",
            CommandId::AlertNotification => "alert_notification",
            CommandId::DataSm => "data_sm",
            CommandId::DataSmResp => "data_sm_resp",
        }
    }
}

impl TryFrom<u32> for CommandId {
    type Error = u32;

    /// Fails with the unknown value itself.
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        CommandId::from_u32(value).ok_or(value)
    }
}

impl From<CommandId> for u32 {
    fn from(id: CommandId) -> u32 {
        id.as_u32()
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Formats a raw command id: its name when known, else hex.
pub(crate) fn describe_command_id(raw: u32) -> String {
    match CommandId::from_u32(raw) {
        Some(id) => id.name().to_owned(),
        None => format!("command 0x{raw:08X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_through_its_wire_value() {
        for id in CommandId::ALL {
            assert_eq!(CommandId::from_u32(id.as_u32()), Some(id));
        }
    }

    #[test]
    fn every_request_with_a_response_pairs_with_the_id_that_has_bit_31_set() {
        for id in CommandId::ALL {
            match id.response() {
                Some(resp) => {
                    assert!(!id.is_response());
                    assert!(resp.is_response());
                    assert_eq!(resp.as_u32(), id.as_u32() | RESPONSE_BIT);
                }
                None => assert!(
                    id.is_response() || id == CommandId::Outbind || id == CommandId::AlertNotification
                ),
            }
        }
    }

    #[test]
    fn unknown_wire_values_are_not_command_ids() {
        for raw in [0, 0x0A, 0x8000_000B, 0x0000_0111, 0xFFFF_FFFF] {
            assert_eq!(CommandId::try_from(raw), Err(raw));
        }
    }
}
