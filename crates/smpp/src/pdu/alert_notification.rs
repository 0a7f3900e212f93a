//! `alert_notification` (spec §4.12): the SMSC tells the ESME that a mobile
//! it asked about is reachable again. It has no response.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::tlv::Tlvs;
use crate::types::Address;
use crate::wire::{self, EncodeFault, Reader, put_address, put_tlvs};

/// The body of `alert_notification`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AlertNotification {
    /// The mobile that became available (up to 64 octets).
    pub source: Address<65>,
    /// The ESME that asked to be alerted (up to 64 octets).
    pub esme: Address<65>,
    /// May hold `ms_availability_status`.
    pub tlvs: Tlvs,
}

impl AlertNotification {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<AlertNotification, DecodeError> {
        Ok(AlertNotification {
            source: r.address(wire::SOURCE)?,
            esme: r.address(wire::ESME)?,
            tlvs: r.tlvs()?,
        })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeFault> {
        put_address(buf, &self.source);
        put_address(buf, &self.esme);
        put_tlvs(buf, &self.tlvs)
    }
}
