//! `deliver_sm` and `deliver_sm_resp` (spec §4.6): the SMSC hands the ESME a
//! mobile-originated message or a delivery receipt.
//!
//! The body has the same fields as `submit_sm`; the helpers here tell a
//! receipt from a message and parse the receipt text.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::pdu::SubmitSm;
use crate::receipt::{DeliveryReceipt, ReceiptStat};
use crate::tlv::Tlvs;
use crate::types::{Address, COctetString, DataCoding, EsmClass, RegisteredDelivery, ShortMessage};
use crate::wire::{Reader, fields, put_c_str};

/// The body of `deliver_sm`. Same fields as [`crate::SubmitSm`]; in a
/// receipt `esm_class` says so and `short_message` (or `message_payload`)
/// holds the receipt text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeliverSm {
    pub service_type: COctetString<6>,
    /// The sender (for a receipt: the original recipient).
    pub source: Address<21>,
    /// The recipient (for a receipt: the original sender).
    pub destination: Address<21>,
    pub esm_class: EsmClass,
    pub protocol_id: u8,
    pub priority_flag: u8,
    /// Always empty per spec.
    pub schedule_delivery_time: COctetString<17>,
    /// Always empty per spec.
    pub validity_period: COctetString<17>,
    pub registered_delivery: RegisteredDelivery,
    pub replace_if_present_flag: u8,
    pub data_coding: DataCoding,
    pub sm_default_msg_id: u8,
    pub short_message: ShortMessage,
    pub tlvs: Tlvs,
}

impl DeliverSm {
    /// `esm_class` says this is a delivery receipt or an intermediate
    /// notification rather than a message from a phone.
    pub fn is_receipt(&self) -> bool {
        self.esm_class.is_receipt()
    }

    /// The user data: the `message_payload` TLV if present, else
    /// `short_message`.
    pub fn payload(&self) -> &[u8] {
        self.tlvs.message_payload().unwrap_or(self.short_message.as_bytes())
    }

    /// The receipt carried by this PDU, or `None` when `esm_class` does not
    /// mark it as one.
    ///
    /// The text is parsed leniently ([`DeliveryReceipt::parse`]); an id or
    /// stat missing from the text is filled from the `receipted_message_id`
    /// and `message_state` TLVs. The TLV values never override the text; read
    /// `self.tlvs` directly to prefer them.
    pub fn delivery_receipt(&self) -> Option<DeliveryReceipt> {
        if !self.is_receipt() {
            return None;
        }
        let text = String::from_utf8_lossy(self.payload());
        let mut receipt = DeliveryReceipt::parse(&text).unwrap_or_default();
        if receipt.id.is_none() {
            receipt.id = self.tlvs.receipted_message_id().map(str::to_owned);
        }
        if receipt.stat.is_none() {
            receipt.stat = self.tlvs.message_state().and_then(ReceiptStat::from_message_state);
        }
        Some(receipt)
    }
}

super::submit_sm::short_message_body!(DeliverSm);

impl From<SubmitSm> for DeliverSm {
    /// Field for field; what an SMSC simulator delivers for a submission.
    fn from(s: SubmitSm) -> DeliverSm {
        DeliverSm {
            service_type: s.service_type,
            source: s.source,
            destination: s.destination,
            esm_class: s.esm_class,
            protocol_id: s.protocol_id,
            priority_flag: s.priority_flag,
            schedule_delivery_time: s.schedule_delivery_time,
            validity_period: s.validity_period,
            registered_delivery: s.registered_delivery,
            replace_if_present_flag: s.replace_if_present_flag,
            data_coding: s.data_coding,
            sm_default_msg_id: s.sm_default_msg_id,
            short_message: s.short_message,
            tlvs: s.tlvs,
        }
    }
}

/// The body of `deliver_sm_resp`. `message_id` is unused by 3.4 and
/// normally empty; many ESMEs send no body at all, which decodes as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeliverSmResp {
    pub message_id: COctetString<65>,
}

impl DeliverSmResp {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<DeliverSmResp, DecodeError> {
        if r.is_empty() {
            return Ok(DeliverSmResp::default());
        }
        let resp = DeliverSmResp { message_id: r.c_str(fields::MESSAGE_ID)? };
        r.finish(fields::MESSAGE_ID.name)?;
        Ok(resp)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.message_id);
    }
}
