//! `submit_sm` and `submit_sm_resp` (spec §4.4): an ESME hands one short
//! message to the SMSC and gets back the SMSC's message id.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::tlv::Tlvs;
use crate::types::{Address, COctetString, DataCoding, EsmClass, RegisteredDelivery, ShortMessage};
use crate::wire::{EncodeFault, Reader, fields, put_c_str};

/// The body of `submit_sm`.
///
/// Build one with struct-update syntax:
/// `SubmitSm { source, destination, short_message, ..Default::default() }`,
/// or [`SubmitSm::new`]. Text longer than 254 octets goes in the
/// `message_payload` TLV with an empty `short_message`; encoding refuses a
/// PDU that uses both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubmitSm {
    /// At most 5 octets; usually empty (SMSC default).
    pub service_type: COctetString<6>,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr` (at most 20 octets).
    pub source: Address<21>,
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr` (at most 20 octets).
    pub destination: Address<21>,
    pub esm_class: EsmClass,
    pub protocol_id: u8,
    pub priority_flag: u8,
    /// Empty (immediate) or a 16-character SMPP time; at most 16 octets.
    pub schedule_delivery_time: COctetString<17>,
    /// Empty (SMSC default) or a 16-character SMPP time; at most 16 octets.
    pub validity_period: COctetString<17>,
    pub registered_delivery: RegisteredDelivery,
    pub replace_if_present_flag: u8,
    pub data_coding: DataCoding,
    pub sm_default_msg_id: u8,
    /// Up to 254 octets; `sm_length` is derived from it.
    pub short_message: ShortMessage,
    /// Optional parameters in wire order, unknown ones included.
    pub tlvs: Tlvs,
}

impl SubmitSm {
    /// A message with every other field at its default (no receipt,
    /// SMSC-default coding, no TLVs).
    pub fn new(
        source: Address<21>,
        destination: Address<21>,
        data_coding: DataCoding,
        short_message: ShortMessage,
    ) -> SubmitSm {
        SubmitSm { source, destination, data_coding, short_message, ..SubmitSm::default() }
    }

    /// The user data: the `message_payload` TLV if present, else
    /// `short_message`.
    pub fn payload(&self) -> &[u8] {
        self.tlvs.message_payload().unwrap_or(self.short_message.as_bytes())
    }
}

/// Reading and writing the body `submit_sm` and `deliver_sm` share (spec
/// §4.4.1 and §4.6.1 list the same fields in the same order), for a struct
/// with those fields. `submit_multi` (§4.5.1) has the same fields with a
/// list of destinations in place of one: it names its field and the
/// functions that read and write it.
macro_rules! short_message_body {
    ($body:ident) => {
        $crate::pdu::submit_sm::short_message_body!(
            $body,
            destination: $crate::pdu::submit_sm::read_destination,
            $crate::pdu::submit_sm::put_destination
        );
    };
    ($body:ident, $dest:ident: $read_dest:path, $put_dest:path) => {
        impl $body {
            pub(crate) fn decode(
                r: &mut $crate::wire::Reader<'_>,
            ) -> Result<$body, $crate::error::DecodeError> {
                use $crate::types::{DataCoding, EsmClass, RegisteredDelivery};
                use $crate::wire::{self, fields};
                Ok($body {
                    service_type: r.c_str(fields::SERVICE_TYPE)?,
                    source: r.address(wire::SOURCE)?,
                    $dest: $read_dest(r)?,
                    esm_class: EsmClass(r.u8(fields::ESM_CLASS)?),
                    protocol_id: r.u8(fields::PROTOCOL_ID)?,
                    priority_flag: r.u8(fields::PRIORITY_FLAG)?,
                    schedule_delivery_time: r.c_str(fields::SCHEDULE_DELIVERY_TIME)?,
                    validity_period: r.c_str(fields::VALIDITY_PERIOD)?,
                    registered_delivery: RegisteredDelivery(r.u8(fields::REGISTERED_DELIVERY)?),
                    replace_if_present_flag: r.u8(fields::REPLACE_IF_PRESENT_FLAG)?,
                    data_coding: DataCoding(r.u8(fields::DATA_CODING)?),
                    sm_default_msg_id: r.u8(fields::SM_DEFAULT_MSG_ID)?,
                    short_message: r.short_message()?,
                    tlvs: r.tlvs()?,
                })
            }

            pub(crate) fn encode(&self, buf: &mut bytes::BytesMut) -> Result<(), $crate::wire::EncodeFault> {
                use bytes::BufMut as _;
                use $crate::wire::{check_one_payload, put_address, put_c_str, put_short_message, put_tlvs};
                check_one_payload(&self.short_message, &self.tlvs)?;
                put_c_str(buf, &self.service_type);
                put_address(buf, &self.source);
                $put_dest(buf, &self.$dest)?;
                buf.put_u8(self.esm_class.0);
                buf.put_u8(self.protocol_id);
                buf.put_u8(self.priority_flag);
                put_c_str(buf, &self.schedule_delivery_time);
                put_c_str(buf, &self.validity_period);
                buf.put_u8(self.registered_delivery.0);
                buf.put_u8(self.replace_if_present_flag);
                buf.put_u8(self.data_coding.0);
                buf.put_u8(self.sm_default_msg_id);
                put_short_message(buf, &self.short_message);
                put_tlvs(buf, &self.tlvs)
            }
        }
    };
}
pub(super) use short_message_body;

/// The one destination of `submit_sm` and `deliver_sm`.
pub(super) fn read_destination(r: &mut Reader<'_>) -> Result<Address<21>, DecodeError> {
    r.address(crate::wire::DESTINATION)
}

pub(super) fn put_destination(buf: &mut BytesMut, destination: &Address<21>) -> Result<(), EncodeFault> {
    crate::wire::put_address(buf, destination);
    Ok(())
}

short_message_body!(SubmitSm);

/// The body of `submit_sm_resp`: the SMSC's id for the message, which its
/// delivery receipts will quote.
///
/// Error responses often come without a body; that decodes as an empty id.
/// SMPP 5.0 SMSCs may append TLVs (e.g. `additional_status_info_text`):
/// well-formed ones are read past, as a 3.4 ESME should. A malformed tail
/// fails the decode but the error keeps the id
/// ([`crate::DecodeError::partial`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubmitSmResp {
    /// At most 64 octets.
    pub message_id: COctetString<65>,
}

impl SubmitSmResp {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<SubmitSmResp, DecodeError> {
        if r.is_empty() {
            return Ok(SubmitSmResp::default());
        }
        let resp = SubmitSmResp { message_id: r.c_str(fields::MESSAGE_ID)? };
        match r.tlvs() {
            Ok(_) => Ok(resp),
            Err(e) => Err(e.with_partial(crate::Pdu::SubmitSmResp(resp))),
        }
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.message_id);
    }
}
