//! `Packet` (header fields + `Pdu`) and the whole-frame decode and encode.
//!
//! This module owns the `Pdu` enum — one variant per SMPP 3.4 command — and
//! the two entry points: [`Packet::decode`] turns exactly one frame (as found
//! by `frame_len`) into a packet, and [`Packet::encode`] appends one frame
//! with the right `command_length`. It does not split a byte stream into
//! frames (`frame`) or know body layouts (`pdu/*`).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::frame::{HEADER_LEN, Header};
use crate::pdu::{
    AlertNotification, Bind, BindResp, CancelSm, DataSm, DataSmResp, DeliverSm, DeliverSmResp, Outbind,
    QuerySm, QuerySmResp, ReplaceSm, SubmitMulti, SubmitMultiResp, SubmitSm, SubmitSmResp,
};
use crate::wire::{EncodeFault, Reader};
use crate::{CommandId, CommandStatus};

/// A PDU body, tagged by command. Bodiless PDUs are unit variants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pdu {
    BindTransmitter(Bind),
    BindTransmitterResp(BindResp),
    BindReceiver(Bind),
    BindReceiverResp(BindResp),
    BindTransceiver(Bind),
    BindTransceiverResp(BindResp),
    Outbind(Outbind),
    Unbind,
    UnbindResp,
    GenericNack,
    SubmitSm(SubmitSm),
    SubmitSmResp(SubmitSmResp),
    SubmitMulti(SubmitMulti),
    SubmitMultiResp(SubmitMultiResp),
    DeliverSm(DeliverSm),
    DeliverSmResp(DeliverSmResp),
    DataSm(DataSm),
    DataSmResp(DataSmResp),
    QuerySm(QuerySm),
    QuerySmResp(QuerySmResp),
    CancelSm(CancelSm),
    CancelSmResp,
    ReplaceSm(ReplaceSm),
    ReplaceSmResp,
    EnquireLink,
    EnquireLinkResp,
    AlertNotification(AlertNotification),
}

impl Pdu {
    pub fn command_id(&self) -> CommandId {
        match self {
            Pdu::BindTransmitter(_) => CommandId::BindTransmitter,
            Pdu::BindTransmitterResp(_) => CommandId::BindTransmitterResp,
            Pdu::BindReceiver(_) => CommandId::BindReceiver,
            Pdu::BindReceiverResp(_) => CommandId::BindReceiverResp,
            Pdu::BindTransceiver(_) => CommandId::BindTransceiver,
            Pdu::BindTransceiverResp(_) => CommandId::BindTransceiverResp,
            Pdu::Outbind(_) => CommandId::Outbind,
            Pdu::Unbind => CommandId::Unbind,
            Pdu::UnbindResp => CommandId::UnbindResp,
            Pdu::GenericNack => CommandId::GenericNack,
            Pdu::SubmitSm(_) => CommandId::SubmitSm,
            Pdu::SubmitSmResp(_) => CommandId::SubmitSmResp,
            Pdu::SubmitMulti(_) => CommandId::SubmitMulti,
            Pdu::SubmitMultiResp(_) => CommandId::SubmitMultiResp,
            Pdu::DeliverSm(_) => CommandId::DeliverSm,
            Pdu::DeliverSmResp(_) => CommandId::DeliverSmResp,
            Pdu::DataSm(_) => CommandId::DataSm,
            Pdu::DataSmResp(_) => CommandId::DataSmResp,
            Pdu::QuerySm(_) => CommandId::QuerySm,
            Pdu::QuerySmResp(_) => CommandId::QuerySmResp,
            Pdu::CancelSm(_) => CommandId::CancelSm,
            Pdu::CancelSmResp => CommandId::CancelSmResp,
            Pdu::ReplaceSm(_) => CommandId::ReplaceSm,
            Pdu::ReplaceSmResp => CommandId::ReplaceSmResp,
            Pdu::EnquireLink => CommandId::EnquireLink,
            Pdu::EnquireLinkResp => CommandId::EnquireLinkResp,
            Pdu::AlertNotification(_) => CommandId::AlertNotification,
        }
    }

    /// A response PDU of kind `id` with an empty/default body, for replying
    /// with an error status. `None` if `id` is not a response.
    pub fn empty_response_to(id: CommandId) -> Option<Pdu> {
        Some(match id {
            CommandId::GenericNack => Pdu::GenericNack,
            CommandId::BindTransmitterResp => Pdu::BindTransmitterResp(BindResp::default()),
            CommandId::BindReceiverResp => Pdu::BindReceiverResp(BindResp::default()),
            CommandId::BindTransceiverResp => Pdu::BindTransceiverResp(BindResp::default()),
            CommandId::UnbindResp => Pdu::UnbindResp,
            CommandId::SubmitSmResp => Pdu::SubmitSmResp(SubmitSmResp::default()),
            CommandId::SubmitMultiResp => Pdu::SubmitMultiResp(SubmitMultiResp::default()),
            CommandId::DeliverSmResp => Pdu::DeliverSmResp(DeliverSmResp::default()),
            CommandId::DataSmResp => Pdu::DataSmResp(DataSmResp::default()),
            CommandId::QuerySmResp => Pdu::QuerySmResp(QuerySmResp::default()),
            CommandId::CancelSmResp => Pdu::CancelSmResp,
            CommandId::ReplaceSmResp => Pdu::ReplaceSmResp,
            CommandId::EnquireLinkResp => Pdu::EnquireLinkResp,
            _ => return None,
        })
    }

    fn decode_body(id: CommandId, r: &mut Reader<'_>) -> Result<Pdu, DecodeError> {
        let pdu = match id {
            CommandId::BindTransmitter => Pdu::BindTransmitter(Bind::decode(r)?),
            CommandId::BindTransmitterResp => {
                Pdu::BindTransmitterResp(BindResp::decode(r, Pdu::BindTransmitterResp)?)
            }
            CommandId::BindReceiver => Pdu::BindReceiver(Bind::decode(r)?),
            CommandId::BindReceiverResp => Pdu::BindReceiverResp(BindResp::decode(r, Pdu::BindReceiverResp)?),
            CommandId::BindTransceiver => Pdu::BindTransceiver(Bind::decode(r)?),
            CommandId::BindTransceiverResp => {
                Pdu::BindTransceiverResp(BindResp::decode(r, Pdu::BindTransceiverResp)?)
            }
            CommandId::Outbind => Pdu::Outbind(Outbind::decode(r)?),
            CommandId::Unbind => Pdu::Unbind,
            CommandId::UnbindResp => Pdu::UnbindResp,
            CommandId::GenericNack => Pdu::GenericNack,
            CommandId::SubmitSm => Pdu::SubmitSm(SubmitSm::decode(r)?),
            CommandId::SubmitSmResp => Pdu::SubmitSmResp(SubmitSmResp::decode(r)?),
            CommandId::SubmitMulti => Pdu::SubmitMulti(SubmitMulti::decode(r)?),
            CommandId::SubmitMultiResp => Pdu::SubmitMultiResp(SubmitMultiResp::decode(r)?),
            CommandId::DeliverSm => Pdu::DeliverSm(DeliverSm::decode(r)?),
            CommandId::DeliverSmResp => Pdu::DeliverSmResp(DeliverSmResp::decode(r)?),
            CommandId::DataSm => Pdu::DataSm(DataSm::decode(r)?),
            CommandId::DataSmResp => Pdu::DataSmResp(DataSmResp::decode(r)?),
            CommandId::QuerySm => Pdu::QuerySm(QuerySm::decode(r)?),
            CommandId::QuerySmResp => Pdu::QuerySmResp(QuerySmResp::decode(r)?),
            CommandId::CancelSm => Pdu::CancelSm(CancelSm::decode(r)?),
            CommandId::CancelSmResp => Pdu::CancelSmResp,
            CommandId::ReplaceSm => Pdu::ReplaceSm(ReplaceSm::decode(r)?),
            CommandId::ReplaceSmResp => Pdu::ReplaceSmResp,
            CommandId::EnquireLink => Pdu::EnquireLink,
            CommandId::EnquireLinkResp => Pdu::EnquireLinkResp,
            CommandId::AlertNotification => Pdu::AlertNotification(AlertNotification::decode(r)?),
        };
        // Bodiless PDUs must be exactly 16 octets; bodies with fields check
        // their own end.
        r.finish("command_length")?;
        Ok(pdu)
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeFault> {
        match self {
            Pdu::BindTransmitter(b) | Pdu::BindReceiver(b) | Pdu::BindTransceiver(b) => b.encode(buf),
            Pdu::BindTransmitterResp(b) | Pdu::BindReceiverResp(b) | Pdu::BindTransceiverResp(b) => {
                b.encode(buf)?
            }
            Pdu::Outbind(b) => b.encode(buf),
            Pdu::SubmitSm(b) => b.encode(buf)?,
            Pdu::SubmitSmResp(b) => b.encode(buf),
            Pdu::SubmitMulti(b) => b.encode(buf)?,
            Pdu::SubmitMultiResp(b) => b.encode(buf)?,
            Pdu::DeliverSm(b) => b.encode(buf)?,
            Pdu::DeliverSmResp(b) => b.encode(buf),
            Pdu::DataSm(b) => b.encode(buf)?,
            Pdu::DataSmResp(b) => b.encode(buf)?,
            Pdu::QuerySm(b) => b.encode(buf),
            Pdu::QuerySmResp(b) => b.encode(buf),
            Pdu::CancelSm(b) => b.encode(buf),
            Pdu::ReplaceSm(b) => b.encode(buf),
            Pdu::AlertNotification(b) => b.encode(buf)?,
            Pdu::Unbind
            | Pdu::UnbindResp
            | Pdu::GenericNack
            | Pdu::CancelSmResp
            | Pdu::ReplaceSmResp
            | Pdu::EnquireLink
            | Pdu::EnquireLinkResp => {}
        }
        Ok(())
    }
}

/// One PDU with its header fields; `command_id` comes from the `Pdu` and
/// `command_length` is computed when encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// 1 to 0x7FFFFFFF by spec; a response repeats its request's number.
    pub sequence_number: u32,
    /// `ESME_ROK` in requests; the result in responses.
    pub status: CommandStatus,
    pub pdu: Pdu,
}

impl Packet {
    /// A packet with status `ESME_ROK`.
    pub fn new(sequence_number: u32, pdu: Pdu) -> Packet {
        Packet { sequence_number, status: CommandStatus::ESME_ROK, pdu }
    }

    /// The same packet with another status.
    pub fn with_status(self, status: CommandStatus) -> Packet {
        Packet { status, ..self }
    }

    pub fn command_id(&self) -> CommandId {
        self.pdu.command_id()
    }

    /// Decodes exactly one frame: `frame` must be `command_length` octets
    /// long (see [`crate::frame_len`]). Never panics; allocates at most the
    /// octets the frame holds plus the containers around them.
    pub fn decode(frame: &[u8]) -> Result<Packet, DecodeError> {
        let Some(header) = Header::parse(frame) else {
            return Err(DecodeError::without_header(
                "command_length",
                CommandStatus::ESME_RINVCMDLEN,
                DecodeErrorKind::HeaderTooShort { len: frame.len() },
            ));
        };
        let with_header = |mut e: DecodeError| {
            e.header = Some(header);
            e
        };
        if usize::try_from(header.command_length).ok() != Some(frame.len()) {
            return Err(with_header(DecodeError::without_header(
                "command_length",
                CommandStatus::ESME_RINVCMDLEN,
                DecodeErrorKind::CommandLengthMismatch {
                    command_length: header.command_length,
                    frame_len: frame.len(),
                },
            )));
        }
        let Some(id) = CommandId::from_u32(header.command_id) else {
            return Err(with_header(DecodeError::without_header(
                "command_id",
                CommandStatus::ESME_RINVCMDID,
                DecodeErrorKind::UnknownCommandId,
            )));
        };
        let mut body = Reader::new(&frame[HEADER_LEN..]);
        let pdu = Pdu::decode_body(id, &mut body).map_err(with_header)?;
        Ok(Packet { sequence_number: header.sequence_number, status: header.command_status, pdu })
    }

    /// Appends one frame to `dst`. On error `dst` is left as it was.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let start = dst.len();
        dst.put_u32(0); // command_length, patched below
        dst.put_u32(self.command_id().as_u32());
        dst.put_u32(self.status.0);
        dst.put_u32(self.sequence_number);
        let fault = match self.pdu.encode_body(dst) {
            Ok(()) => {
                let len = dst.len() - start;
                match u32::try_from(len) {
                    Ok(command_length) => {
                        dst[start..start + 4].copy_from_slice(&command_length.to_be_bytes());
                        return Ok(());
                    }
                    Err(_) => EncodeFault {
                        field: "command_length",
                        kind: EncodeErrorKind::TooLong { len, max: u32::MAX.into() },
                    },
                }
            }
            Err(fault) => fault,
        };
        dst.truncate(start);
        Err(EncodeError { command_id: self.command_id(), field: fault.field, kind: fault.kind })
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        Ok(buf.freeze())
    }
}
