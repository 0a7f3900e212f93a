//! `submit_multi` and `submit_multi_resp` (spec §4.5): one message to up to
//! 254 SME addresses and/or distribution lists; the response lists the
//! destinations that failed.

use bytes::{BufMut, BytesMut};

use crate::CommandStatus;
use crate::error::{DecodeError, DecodeErrorKind, EncodeErrorKind};
use crate::tlv::Tlvs;
use crate::types::{Address, COctetString, DataCoding, EsmClass, RegisteredDelivery, ShortMessage};
use crate::wire::{self, EncodeFault, Reader, fields, put_address, put_c_str};

/// `dest_flag` value for an SME address.
const DEST_FLAG_SME: u8 = 1;
/// `dest_flag` value for a distribution list name.
const DEST_FLAG_LIST: u8 = 2;

/// One entry of `dest_address`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// `dest_flag` 1: TON, NPI and an address of at most 20 octets.
    Sme(Address<21>),
    /// `dest_flag` 2: a distribution list name of at most 20 octets.
    DistributionList(COctetString<21>),
}

/// The body of `submit_multi`: the `submit_sm` fields with a list of
/// destinations instead of one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubmitMulti {
    pub service_type: COctetString<6>,
    pub source: Address<21>,
    /// 1 to [`SubmitMulti::MAX_DESTINATIONS`] entries.
    pub destinations: Vec<Destination>,
    pub esm_class: EsmClass,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: COctetString<17>,
    pub validity_period: COctetString<17>,
    pub registered_delivery: RegisteredDelivery,
    pub replace_if_present_flag: u8,
    pub data_coding: DataCoding,
    pub sm_default_msg_id: u8,
    pub short_message: ShortMessage,
    pub tlvs: Tlvs,
}

impl SubmitMulti {
    /// The spec's cap on `number_of_dests`.
    pub const MAX_DESTINATIONS: usize = 254;
}

super::submit_sm::short_message_body!(SubmitMulti, destinations: read_destinations, put_destinations);

/// `number_of_dests` and the `dest_address` entries.
fn read_destinations(r: &mut Reader<'_>) -> Result<Vec<Destination>, DecodeError> {
    let count = usize::from(r.u8(fields::NUMBER_OF_DESTS)?);
    if !(1..=SubmitMulti::MAX_DESTINATIONS).contains(&count) {
        return Err(DecodeError::without_header(
            fields::NUMBER_OF_DESTS.name,
            fields::NUMBER_OF_DESTS.status,
            DecodeErrorKind::OutOfRange { value: count, max: SubmitMulti::MAX_DESTINATIONS },
        ));
    }
    // Each entry takes at least 3 octets, so `count` is bounded by the
    // body; no capacity is reserved from the peer's number alone.
    let mut destinations = Vec::new();
    for _ in 0..count {
        destinations.push(match r.u8(fields::DEST_FLAG)? {
            DEST_FLAG_SME => Destination::Sme(r.address(wire::DESTINATION)?),
            DEST_FLAG_LIST => Destination::DistributionList(r.c_str(fields::DL_NAME)?),
            other => {
                return Err(DecodeError::without_header(
                    fields::DEST_FLAG.name,
                    fields::DEST_FLAG.status,
                    DecodeErrorKind::InvalidValue { value: other.into() },
                ));
            }
        });
    }
    Ok(destinations)
}

fn put_destinations(buf: &mut BytesMut, destinations: &[Destination]) -> Result<(), EncodeFault> {
    let count = destinations.len();
    let Some(count_octet) =
        u8::try_from(count).ok().filter(|_| (1..=SubmitMulti::MAX_DESTINATIONS).contains(&count))
    else {
        return Err(EncodeFault {
            field: fields::NUMBER_OF_DESTS.name,
            kind: EncodeErrorKind::CountOutOfRange { count, min: 1, max: SubmitMulti::MAX_DESTINATIONS },
        });
    };
    buf.put_u8(count_octet);
    for destination in destinations {
        match destination {
            Destination::Sme(address) => {
                buf.put_u8(DEST_FLAG_SME);
                put_address(buf, address);
            }
            Destination::DistributionList(name) => {
                buf.put_u8(DEST_FLAG_LIST);
                put_c_str(buf, name);
            }
        }
    }
    Ok(())
}

/// A destination the SMSC could not accept, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UnsuccessSme {
    pub address: Address<21>,
    pub error_status_code: CommandStatus,
}

/// The body of `submit_multi_resp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubmitMultiResp {
    pub message_id: COctetString<65>,
    /// At most 255 entries (`no_unsuccess` is one octet).
    pub unsuccess_smes: Vec<UnsuccessSme>,
}

impl SubmitMultiResp {
    /// The cap on `no_unsuccess`.
    pub const MAX_UNSUCCESS: usize = 255;

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<SubmitMultiResp, DecodeError> {
        if r.is_empty() {
            return Ok(SubmitMultiResp::default());
        }
        let message_id = r.c_str(fields::MESSAGE_ID)?;
        let count = r.u8(fields::NO_UNSUCCESS)?;
        let mut unsuccess_smes = Vec::new();
        for _ in 0..count {
            unsuccess_smes.push(UnsuccessSme {
                address: r.address(wire::DESTINATION)?,
                error_status_code: CommandStatus(r.u32(fields::ERROR_STATUS_CODE)?),
            });
        }
        r.finish(fields::ERROR_STATUS_CODE.name)?;
        Ok(SubmitMultiResp { message_id, unsuccess_smes })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeFault> {
        let count = u8::try_from(self.unsuccess_smes.len()).map_err(|_| EncodeFault {
            field: fields::NO_UNSUCCESS.name,
            kind: EncodeErrorKind::CountOutOfRange {
                count: self.unsuccess_smes.len(),
                min: 0,
                max: Self::MAX_UNSUCCESS,
            },
        })?;
        put_c_str(buf, &self.message_id);
        buf.put_u8(count);
        for sme in &self.unsuccess_smes {
            put_address(buf, &sme.address);
            buf.put_u32(sme.error_status_code.0);
        }
        Ok(())
    }
}
