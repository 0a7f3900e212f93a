//! Framing: where one PDU ends in a byte stream (spec §3.2).
//!
//! This module owns the 16-octet [`Header`], the length limits and
//! [`frame_len`], which looks only at `command_length` and answers "a whole
//! frame of N octets is here", "need more bytes" (`Ok(None)`) or "malformed"
//! (`Err`). It never looks at a body; turning a frame into a `Packet` is
//! `Packet::decode`.

use crate::CommandStatus;
use crate::packet::{Packet, Pdu};

/// Octets in the PDU header: `command_length`, `command_id`,
/// `command_status`, `sequence_number`, four each.
pub const HEADER_LEN: usize = 16;

/// The largest PDU accepted by default, `command_length` included: 68 KiB.
///
/// SMPP 3.4 sets no limit, but a `message_payload` TLV can carry 65,535
/// octets, so 64 KiB of payload plus header, mandatory fields and a few
/// other TLVs must fit. Anything larger is refused before it is buffered.
pub const DEFAULT_MAX_PDU_LEN: u32 = 68 * 1024;

/// The four header fields. `command_id` stays raw so an unknown id can still
/// be reported with its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: CommandStatus,
    pub sequence_number: u32,
}

impl Header {
    /// Reads the header from the first 16 octets; `None` if there are fewer.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let word =
            |i: usize| buf.get(i..i + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
        Some(Header {
            command_length: word(0)?,
            command_id: word(4)?,
            command_status: CommandStatus(word(8)?),
            sequence_number: word(12)?,
        })
    }

    /// `command_id` has the response bit (0x80000000) set, whether or not
    /// the command is one SMPP 3.4 knows (spec §5.1.2.1).
    pub fn is_response(&self) -> bool {
        self.command_id & 0x8000_0000 != 0
    }
}

/// `command_length` is impossible: the connection cannot be resynchronised.
///
/// The session answers `generic_nack` with `ESME_RINVCMDLEN` (see
/// [`FrameError::reply`]) and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("command_length {command_length} is shorter than the 16-octet header")]
    TooShort {
        command_length: u32,
        /// Present when 16 octets had arrived.
        sequence_number: Option<u32>,
    },
    #[error("command_length {command_length} exceeds the maximum of {max_len}")]
    TooLong {
        command_length: u32,
        max_len: u32,
        /// Present when 16 octets had arrived.
        sequence_number: Option<u32>,
    },
}

impl FrameError {
    /// Always `ESME_RINVCMDLEN`.
    pub fn status(&self) -> CommandStatus {
        CommandStatus::ESME_RINVCMDLEN
    }

    pub fn sequence_number(&self) -> Option<u32> {
        match self {
            FrameError::TooShort { sequence_number, .. } | FrameError::TooLong { sequence_number, .. } => {
                *sequence_number
            }
        }
    }

    /// `generic_nack` / `ESME_RINVCMDLEN`, with the offending sequence number
    /// when it had arrived and 0 otherwise.
    pub fn reply(&self) -> Packet {
        Packet {
            sequence_number: self.sequence_number().unwrap_or(0),
            status: self.status(),
            pdu: Pdu::GenericNack,
        }
    }
}

/// The length of the complete frame at the start of `buf`.
///
/// * `Ok(Some(n))`: `buf[..n]` is one whole PDU (pass it to
///   [`Packet::decode`]);
/// * `Ok(None)`: need more bytes — fewer than 4 octets, or fewer than
///   `command_length`;
/// * `Err`: `command_length` is below [`HEADER_LEN`] or above `max_len`.
///   Reported as soon as the length octets arrive, without waiting for the
///   rest.
pub fn frame_len(buf: &[u8], max_len: u32) -> Result<Option<usize>, FrameError> {
    let Some(length_octets) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let command_length = u32::from_be_bytes(*length_octets);
    let sequence_number = Header::parse(buf).map(|h| h.sequence_number);
    if (command_length as usize) < HEADER_LEN {
        return Err(FrameError::TooShort { command_length, sequence_number });
    }
    if command_length > max_len {
        return Err(FrameError::TooLong { command_length, max_len, sequence_number });
    }
    let len = command_length as usize;
    Ok((buf.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENQUIRE_LINK: [u8; 16] = [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7];

    #[test]
    fn fewer_than_four_octets_need_more_bytes() {
        for n in 0..4 {
            assert_eq!(frame_len(&ENQUIRE_LINK[..n], DEFAULT_MAX_PDU_LEN), Ok(None));
        }
    }

    #[test]
    fn a_partial_frame_needs_more_bytes_and_a_whole_one_reports_its_length() {
        assert_eq!(frame_len(&ENQUIRE_LINK[..15], DEFAULT_MAX_PDU_LEN), Ok(None));
        assert_eq!(frame_len(&ENQUIRE_LINK, DEFAULT_MAX_PDU_LEN), Ok(Some(16)));
        let mut two = ENQUIRE_LINK.to_vec();
        two.extend_from_slice(&ENQUIRE_LINK);
        assert_eq!(frame_len(&two, DEFAULT_MAX_PDU_LEN), Ok(Some(16)));
    }

    #[test]
    fn a_length_below_the_header_size_is_malformed_without_waiting_for_more() {
        assert_eq!(
            frame_len(&[0, 0, 0, 15], DEFAULT_MAX_PDU_LEN),
            Err(FrameError::TooShort { command_length: 15, sequence_number: None })
        );
    }

    #[test]
    fn a_length_above_the_maximum_is_malformed_and_keeps_the_sequence_number() {
        let mut buf = ENQUIRE_LINK;
        buf[..4].copy_from_slice(&1025u32.to_be_bytes());
        let err = frame_len(&buf, 1024).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLong { command_length: 1025, max_len: 1024, sequence_number: Some(7) }
        );
        let reply = err.reply();
        assert_eq!(reply.sequence_number, 7);
        assert_eq!(reply.status, CommandStatus::ESME_RINVCMDLEN);
        assert_eq!(reply.pdu, Pdu::GenericNack);
    }
}
