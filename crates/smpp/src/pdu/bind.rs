//! `bind_transmitter`, `bind_receiver`, `bind_transceiver` (spec §4.1.1,
//! §4.1.3, §4.1.5) and their responses: one body shape for all three.

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::tlv::Tlvs;
use crate::types::{Address, COctetString};
use crate::wire::{self, EncodeFault, Reader, fields, put_address, put_c_str, put_tlvs};
use crate::{INTERFACE_VERSION, Pdu};

/// The body of every `bind_*` request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bind {
    /// The account name, at most 15 octets.
    pub system_id: COctetString<16>,
    /// At most 8 octets.
    pub password: COctetString<9>,
    /// At most 12 octets; often empty.
    pub system_type: COctetString<13>,
    /// `0x34` for SMPP 3.4 ([`INTERFACE_VERSION`]).
    pub interface_version: u8,
    /// `addr_ton`, `addr_npi` and `address_range` (a regular expression of
    /// the addresses served; at most 40 octets; usually empty).
    pub address_range: Address<41>,
}

impl Default for Bind {
    /// Empty strings and interface version 3.4.
    fn default() -> Self {
        Bind {
            system_id: COctetString::empty(),
            password: COctetString::empty(),
            system_type: COctetString::empty(),
            interface_version: INTERFACE_VERSION,
            address_range: Address::default(),
        }
    }
}

impl Bind {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Bind, DecodeError> {
        let bind = Bind {
            system_id: r.c_str(fields::SYSTEM_ID)?,
            password: r.c_str(fields::PASSWORD)?,
            system_type: r.c_str(fields::SYSTEM_TYPE)?,
            interface_version: r.u8(fields::INTERFACE_VERSION)?,
            address_range: r.address(wire::ADDRESS_RANGE)?,
        };
        r.finish(fields::ADDRESS_RANGE.name)?;
        Ok(bind)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.system_id);
        put_c_str(buf, &self.password);
        put_c_str(buf, &self.system_type);
        buf.put_u8(self.interface_version);
        put_address(buf, &self.address_range);
    }
}

/// The body of every `bind_*_resp`.
///
/// SMSCs often send error responses with no body at all; that decodes as the
/// default (empty `system_id`, no TLVs). A malformed TLV tail fails the
/// decode but the error keeps `system_id` and the TLVs before it
/// ([`crate::DecodeError::partial`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BindResp {
    /// The SMSC's identifier, at most 15 octets.
    pub system_id: COctetString<16>,
    /// May hold `sc_interface_version`; see [`BindResp::sc_interface_version`].
    pub tlvs: Tlvs,
}

impl BindResp {
    /// The SMPP version the SMSC supports, if it said so.
    pub fn sc_interface_version(&self) -> Option<u8> {
        self.tlvs.sc_interface_version()
    }

    /// `as_pdu` wraps what was read into the PDU it came in, for the error.
    pub(crate) fn decode(r: &mut Reader<'_>, as_pdu: fn(BindResp) -> Pdu) -> Result<BindResp, DecodeError> {
        if r.is_empty() {
            return Ok(BindResp::default());
        }
        let system_id = r.c_str(fields::SYSTEM_ID)?;
        match r.tlvs_or_partial() {
            Ok(tlvs) => Ok(BindResp { system_id, tlvs }),
            Err((tlvs, e)) => Err(e.with_partial(as_pdu(BindResp { system_id, tlvs }))),
        }
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeFault> {
        put_c_str(buf, &self.system_id);
        put_tlvs(buf, &self.tlvs)
    }
}
