//! `data_sm` and `data_sm_resp` (spec §4.7): a message whose user data and
//! options travel entirely in TLVs, in either direction.

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::tlv::Tlvs;
use crate::types::{Address, COctetString, DataCoding, EsmClass, RegisteredDelivery};
use crate::wire::{self, EncodeFault, Reader, fields, put_address, put_c_str, put_tlvs};

/// The body of `data_sm`. The user data, if any, is the `message_payload` TLV.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DataSm {
    pub service_type: COctetString<6>,
    /// Addresses here hold up to 64 octets.
    pub source: Address<65>,
    pub destination: Address<65>,
    pub esm_class: EsmClass,
    pub registered_delivery: RegisteredDelivery,
    pub data_coding: DataCoding,
    pub tlvs: Tlvs,
}

impl DataSm {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<DataSm, DecodeError> {
        Ok(DataSm {
            service_type: r.c_str(fields::SERVICE_TYPE)?,
            source: r.address(wire::SOURCE)?,
            destination: r.address(wire::DESTINATION)?,
            esm_class: EsmClass(r.u8(fields::ESM_CLASS)?),
            registered_delivery: RegisteredDelivery(r.u8(fields::REGISTERED_DELIVERY)?),
            data_coding: DataCoding(r.u8(fields::DATA_CODING)?),
            tlvs: r.tlvs()?,
        })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeFault> {
        put_c_str(buf, &self.service_type);
        put_address(buf, &self.source);
        put_address(buf, &self.destination);
        buf.put_u8(self.esm_class.0);
        buf.put_u8(self.registered_delivery.0);
        buf.put_u8(self.data_coding.0);
        put_tlvs(buf, &self.tlvs)
    }
}

/// The body of `data_sm_resp`: the message id and optional failure details
/// (`delivery_failure_reason`, `network_error_code`,
/// `additional_status_info_text`, `dpf_result`). A malformed TLV tail fails
/// the decode but the error keeps what was read before it
/// ([`crate::DecodeError::partial`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DataSmResp {
    pub message_id: COctetString<65>,
    pub tlvs: Tlvs,
}

impl DataSmResp {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<DataSmResp, DecodeError> {
        if r.is_empty() {
            return Ok(DataSmResp::default());
        }
        let message_id = r.c_str(fields::MESSAGE_ID)?;
        match r.tlvs_or_partial() {
            Ok(tlvs) => Ok(DataSmResp { message_id, tlvs }),
            Err((tlvs, e)) => Err(e.with_partial(crate::Pdu::DataSmResp(DataSmResp { message_id, tlvs }))),
        }
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeFault> {
        put_c_str(buf, &self.message_id);
        put_tlvs(buf, &self.tlvs)
    }
}
