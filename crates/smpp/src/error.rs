//! `DecodeError` and `EncodeError`: what went wrong, in which field, and —
//! for decoding — how the session should answer the peer.
//!
//! A decode error carries the header when it was readable (so the reply can
//! reuse the sequence number), the `CommandStatus` to answer with, the name of
//! the field that failed and a [`DecodeErrorKind`]. [`DecodeError::reply`]
//! builds that answer. Framing errors (a bad `command_length` before a frame
//! exists) are `crate::FrameError`, not this.

use std::fmt;

use crate::command_id::describe_command_id;
use crate::frame::Header;
use crate::packet::{Packet, Pdu};
use crate::{CommandId, CommandStatus, TlvTag};

/// A frame could not be decoded into a [`Packet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The header, when the frame held at least 16 octets.
    pub header: Option<Header>,
    /// What to answer the peer with (e.g. `ESME_RINVDSTADR`).
    pub status: CommandStatus,
    /// The spec name of the field that failed, e.g. `"destination_addr"`,
    /// `"command_length"`, or a TLV's name (`"message_payload"`, or `"tlv"`
    /// for a tag without a name).
    pub field: &'static str,
    pub kind: DecodeErrorKind,
    /// A response's body as far as it was read, when its fields were read
    /// and only its TLVs after them are malformed (e.g. a `submit_sm_resp`
    /// whose message id is followed by a broken TLV): the peer's answer is
    /// still there to use. `None` for requests and when a field failed.
    pub partial: Option<Box<Pdu>>,
}

/// What exactly was wrong with the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Fewer than 16 octets: the header itself is incomplete.
    HeaderTooShort { len: usize },
    /// `command_length` disagrees with the size of the frame handed in.
    CommandLengthMismatch { command_length: u32, frame_len: usize },
    /// The command id is not an SMPP 3.4 command.
    UnknownCommandId,
    /// The body ended inside a fixed-size field.
    Truncated,
    /// The body ended before a C-Octet String's NUL.
    MissingNul,
    /// A C-Octet String had no NUL within its `max` octets (NUL included).
    TooLong { max: usize },
    /// A declared length or count is outside what the spec allows.
    OutOfRange { value: usize, max: usize },
    /// A declared length (e.g. `sm_length`) runs past the end of the body.
    Overrun { declared: usize, available: usize },
    /// A value the spec does not define where there is no catch-all (e.g.
    /// `dest_flag` other than 1 or 2).
    InvalidValue { value: u32 },
    /// Octets left after the last field of a body that allows no TLVs.
    TrailingBytes { count: usize },
    /// Fewer than four octets left where a TLV header should start.
    TlvHeaderTruncated { available: usize },
    /// A TLV's length runs past the end of the PDU.
    TlvOverrun { tag: TlvTag, declared: u16, available: usize },
    /// More than [`crate::MAX_TLVS`] TLVs in one PDU.
    TooManyTlvs { max: usize },
    /// A known fixed-width TLV has the wrong length.
    TlvWrongLength { tag: TlvTag, expected: u16, actual: u16 },
}

impl DecodeError {
    /// The sequence number to reply with, when the header was readable.
    pub fn sequence_number(&self) -> Option<u32> {
        self.header.map(|h| h.sequence_number)
    }

    /// The raw command id, when the header was readable.
    pub fn command_id(&self) -> Option<u32> {
        self.header.map(|h| h.command_id)
    }

    /// The packet the session should send back, or `None` when it should
    /// send nothing (no readable header, or the bad PDU was itself a
    /// response: its command id has the response bit, even one SMPP 3.4
    /// does not know, such as an SMPP 5.0 or vendor `*_resp`).
    ///
    /// * unknown command id, bad `command_length` or a body shorter than its
    ///   mandatory fields → `generic_nack` with this status;
    /// * a malformed request → its own `*_resp` with this status and an
    ///   empty body (e.g. `submit_sm_resp` / `ESME_RINVDSTADR`);
    ///   `outbind` and `alert_notification`, which have no response, get
    ///   `generic_nack`.
    pub fn reply(&self) -> Option<Packet> {
        let header = self.header?;
        if header.is_response() {
            return None;
        }
        let nack =
            Packet { sequence_number: header.sequence_number, status: self.status, pdu: Pdu::GenericNack };
        let Some(id) = CommandId::from_u32(header.command_id) else {
            return Some(nack);
        };
        if self.status == CommandStatus::ESME_RINVCMDLEN {
            return Some(nack);
        }
        match id.response().and_then(Pdu::empty_response_to) {
            Some(pdu) => Some(Packet { pdu, ..nack }),
            None => Some(nack),
        }
    }

    pub(crate) fn without_header(
        field: &'static str,
        status: CommandStatus,
        kind: DecodeErrorKind,
    ) -> DecodeError {
        DecodeError { header: None, status, field, kind, partial: None }
    }

    /// The same error, keeping the response body read before it.
    pub(crate) fn with_partial(self, pdu: Pdu) -> DecodeError {
        DecodeError { partial: Some(Box::new(pdu)), ..self }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.header {
            Some(h) => write!(f, "{} (sequence {}): ", describe_command_id(h.command_id), h.sequence_number)?,
            None => f.write_str("PDU: ")?,
        }
        write!(f, "{}: {} [{}]", self.field, self.kind, self.status)
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::HeaderTooShort { len } => {
                write!(f, "{len} octets is shorter than the 16-octet header")
            }
            DecodeErrorKind::CommandLengthMismatch { command_length, frame_len } => {
                write!(f, "command_length {command_length} but the frame has {frame_len} octets")
            }
            DecodeErrorKind::UnknownCommandId => f.write_str("not an SMPP 3.4 command"),
            DecodeErrorKind::Truncated => f.write_str("body ends inside the field"),
            DecodeErrorKind::MissingNul => f.write_str("body ends before the terminating NUL"),
            DecodeErrorKind::TooLong { max } => {
                write!(f, "no NUL within {max} octets")
            }
            DecodeErrorKind::OutOfRange { value, max } => {
                write!(f, "{value} is more than the {max} allowed")
            }
            DecodeErrorKind::Overrun { declared, available } => {
                write!(f, "declares {declared} octets but only {available} remain")
            }
            DecodeErrorKind::InvalidValue { value } => write!(f, "invalid value {value}"),
            DecodeErrorKind::TrailingBytes { count } => {
                write!(f, "{count} unexpected octets after the body")
            }
            DecodeErrorKind::TlvHeaderTruncated { available } => {
                write!(f, "{available} octets left, too few for a TLV tag and length")
            }
            DecodeErrorKind::TlvOverrun { tag, declared, available } => {
                write!(f, "TLV {tag} declares {declared} octets but only {available} remain")
            }
            DecodeErrorKind::TooManyTlvs { max } => {
                write!(f, "more than {max} TLVs in one PDU")
            }
            DecodeErrorKind::TlvWrongLength { tag, expected, actual } => {
                write!(f, "TLV {tag} must be {expected} octets, got {actual}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A packet could not be encoded because it would not be a valid PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command_id}: {field}: {kind}")]
pub struct EncodeError {
    pub command_id: CommandId,
    pub field: &'static str,
    pub kind: EncodeErrorKind,
}

/// What exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeErrorKind {
    /// A list has too few or too many entries for its count octet.
    #[error("{count} entries, must be {min} to {max}")]
    CountOutOfRange { count: usize, min: usize, max: usize },
    /// Both `short_message` and the `message_payload` TLV carry data.
    #[error("short_message and message_payload must not both be used")]
    ShortMessageAndPayload,
    /// The encoded PDU would be longer than allowed.
    #[error("PDU of {len} octets exceeds the maximum of {max}")]
    TooLong { len: usize, max: u64 },
}
