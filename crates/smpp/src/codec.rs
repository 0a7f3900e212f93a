//! `PduCodec`: `tokio_util::codec` glue so a session can use
//! `Framed<TcpStream, PduCodec>` (feature `tokio-codec`).
//!
//! This module only joins [`frame_len`] and [`Packet::decode`]/
//! [`Packet::encode`] to a byte buffer. A body that fails to decode is
//! yielded as `Ok(Some(Err(DecodeError)))`, not as a stream error, because
//! `Framed` ends the stream after an error and the session must be able to
//! answer with `generic_nack` (or the matching `*_resp`) and carry on. Only a
//! framing error (bad `command_length`) or I/O error ends the stream.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{EncodeError, EncodeErrorKind};
use crate::frame::{DEFAULT_MAX_PDU_LEN, FrameError, frame_len};
use crate::{DecodeError, Packet};

/// Frames SMPP PDUs on a byte stream, refusing any PDU longer than
/// `max_len` octets in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduCodec {
    pub max_len: u32,
}

impl PduCodec {
    pub fn new(max_len: u32) -> PduCodec {
        PduCodec { max_len }
    }
}

impl Default for PduCodec {
    /// [`DEFAULT_MAX_PDU_LEN`].
    fn default() -> Self {
        PduCodec::new(DEFAULT_MAX_PDU_LEN)
    }
}

/// Why the stream cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// `command_length` is impossible: answer [`FrameError::reply`] and close.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// An outgoing packet is not a valid PDU or exceeds `max_len`.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Decoder for PduCodec {
    /// One frame: a packet, or the reason its body could not be decoded
    /// (with what to answer; see [`DecodeError::reply`]).
    type Item = Result<Packet, DecodeError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        match frame_len(src, self.max_len)? {
            Some(len) => {
                let frame = src.split_to(len);
                Ok(Some(Packet::decode(&frame)))
            }
            None => {
                // The length is known and within max_len once 4 octets are in.
                if let Some(length) = src.first_chunk::<4>() {
                    let wanted = u32::from_be_bytes(*length) as usize;
                    src.reserve(wanted.saturating_sub(src.len()));
                }
                Ok(None)
            }
        }
    }
}

impl Encoder<&Packet> for PduCodec {
    type Error = CodecError;

    fn encode(&mut self, packet: &Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        let start = dst.len();
        packet.encode(dst)?;
        let len = dst.len() - start;
        if len > self.max_len as usize {
            dst.truncate(start);
            return Err(EncodeError {
                command_id: packet.command_id(),
                field: "command_length",
                kind: EncodeErrorKind::TooLong { len, max: self.max_len.into() },
            }
            .into());
        }
        Ok(())
    }
}

impl Encoder<Packet> for PduCodec {
    type Error = CodecError;

    fn encode(&mut self, packet: Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        Encoder::<&Packet>::encode(self, &packet, dst)
    }
}
