//! SMPP 3.4 codec: bytes ↔ PDUs, TLVs, framing and delivery-receipt text.
//! Pure: no sockets, no clocks, no database; a session layer drives it.
//!
//! Map of the modules, in the order a byte meets them:
//!
//! * `frame` — [`frame_len`]: where one PDU ends in a stream ("need more
//!   bytes" is `Ok(None)`, a bad `command_length` is [`FrameError`]);
//!   [`Header`], [`DEFAULT_MAX_PDU_LEN`].
//! * `packet` — [`Packet`] (`sequence_number`, `status`, [`Pdu`]) with
//!   [`Packet::decode`] for one whole frame and [`Packet::encode`].
//! * `pdu` — one file per body: [`Bind`], [`SubmitSm`], [`DeliverSm`],
//!   [`SubmitMulti`], [`DataSm`], [`QuerySm`], [`CancelSm`], [`ReplaceSm`],
//!   [`AlertNotification`], [`Outbind`] and their responses.
//! * `types` — field types with wire limits built in: [`COctetString`],
//!   [`ShortMessage`], [`Address`]/[`Ton`]/[`Npi`], [`EsmClass`],
//!   [`RegisteredDelivery`], [`DataCoding`], [`MessageState`].
//! * `tlv` — optional parameters: [`Tlv`], [`TlvTag`], [`Tlvs`] (unknown
//!   tags kept in order), typed constructors and accessors.
//! * `command_id`, `command_status` — [`CommandId`]; [`CommandStatus`] with
//!   every 3.4 error code and the temporary/permanent split.
//! * `error` — [`DecodeError`] (field, status to answer, [`DecodeError::reply`])
//!   and [`EncodeError`].
//! * `receipt` — [`DeliveryReceipt`] text (Appendix B), [`ReceiptStat`],
//!   [`ReceiptDate`].
//! * `codec` (feature `tokio-codec`) — `PduCodec` for
//!   `tokio_util::codec::Framed`.
//! * `wire` (private) — the field reader/writer and the field → status table.
//!
//! Text encoding of `short_message` (GSM 03.38, UCS-2, segmentation, UDH)
//! lives in the `sms-text` crate, not here.
//!
//! ```
//! use bytes::BytesMut;
//! use smpp::*;
//!
//! // Build and encode a submit_sm.
//! let submit = SubmitSm {
//!     source: Address::alphanumeric("Kurier")?,
//!     destination: Address::international("447700900123")?,
//!     registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
//!     short_message: ShortMessage::try_from("Your code is 1234")?,
//!     tlvs: Tlvs::new().with(Tlv::user_message_reference(7)),
//!     ..SubmitSm::default()
//! };
//! let mut wire = BytesMut::new();
//! Packet::new(1, Pdu::SubmitSm(submit)).encode(&mut wire)?;
//!
//! // Read one frame back and decode it.
//! let len = frame_len(&wire, DEFAULT_MAX_PDU_LEN)?.expect("a whole frame");
//! let packet = Packet::decode(&wire[..len])?;
//! assert_eq!(packet.command_id(), CommandId::SubmitSm);
//!
//! // A deliver_sm receipt, as an SMSC would send it.
//! let receipt = DeliverSm {
//!     esm_class: EsmClass::DELIVERY_RECEIPT,
//!     short_message: ShortMessage::try_from(
//!         "id:5f3c sub:001 dlvrd:001 submit date:2401151230 \
//!          done date:2401151231 stat:DELIVRD err:000 text:Your code",
//!     )?,
//!     ..DeliverSm::default()
//! };
//! let bytes = Packet::new(9, Pdu::DeliverSm(receipt)).to_bytes()?;
//! match Packet::decode(&bytes) {
//!     Ok(Packet { pdu: Pdu::DeliverSm(deliver), sequence_number, .. }) => {
//!         let receipt = deliver.delivery_receipt().expect("esm_class says receipt");
//!         assert_eq!(receipt.id.as_deref(), Some("5f3c"));
//!         assert_eq!(receipt.stat, Some(ReceiptStat::Delivered));
//!         // Acknowledge it.
//!         let ack = Packet::new(sequence_number, Pdu::DeliverSmResp(DeliverSmResp::default()));
//!         assert!(ack.to_bytes().is_ok());
//!     }
//!     Ok(other) => unreachable!("{other:?}"),
//!     // A malformed PDU: send what the error says, if anything.
//!     Err(err) => { let _reply: Option<Packet> = err.reply(); }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "tokio-codec")]
mod codec;
mod command_id;
mod command_status;
mod error;
mod frame;
mod packet;
mod pdu;
mod receipt;
mod tlv;
mod types;
mod wire;

#[cfg(feature = "tokio-codec")]
pub use codec::{CodecError, PduCodec};
pub use command_id::CommandId;
pub use command_status::{CommandStatus, StatusClass};
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use frame::{DEFAULT_MAX_PDU_LEN, FrameError, HEADER_LEN, Header, frame_len};
pub use packet::{Packet, Pdu};
pub use pdu::{
    AlertNotification, Bind, BindResp, CancelSm, DataSm, DataSmResp, DeliverSm, DeliverSmResp, Destination,
    Outbind, QuerySm, QuerySmResp, ReplaceSm, SubmitMulti, SubmitMultiResp, SubmitSm, SubmitSmResp,
    UnsuccessSme,
};
pub use receipt::{DeliveryReceipt, NotAReceipt, ReceiptDate, ReceiptStat};
pub use tlv::{MAX_TLVS, NetworkErrorCode, Sar, Tlv, TlvError, TlvTag, Tlvs};
pub use types::{
    Address, COctetString, CStringError, DataCoding, EsmClass, MessageState, Npi, RegisteredDelivery,
    ShortMessage, ShortMessageTooLong, Ton,
};

/// `interface_version` for SMPP 3.4, sent in binds and `sc_interface_version`.
pub const INTERFACE_VERSION: u8 = 0x34;
