//! `cancel_sm` (spec §4.9): withdraw one message, or all messages from a
//! source to a destination, that the SMSC has not delivered yet. Its
//! response has no body.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::types::{Address, COctetString};
use crate::wire::{self, Reader, fields, put_address, put_c_str};

/// The body of `cancel_sm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CancelSm {
    pub service_type: COctetString<6>,
    /// Empty to cancel by source/destination instead of by id.
    pub message_id: COctetString<65>,
    pub source: Address<21>,
    pub destination: Address<21>,
}

impl CancelSm {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<CancelSm, DecodeError> {
        let cancel = CancelSm {
            service_type: r.c_str(fields::SERVICE_TYPE)?,
            message_id: r.c_str(fields::MESSAGE_ID)?,
            source: r.address(wire::SOURCE)?,
            destination: r.address(wire::DESTINATION)?,
        };
        r.finish(fields::DESTINATION_ADDR.name)?;
        Ok(cancel)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.service_type);
        put_c_str(buf, &self.message_id);
        put_address(buf, &self.source);
        put_address(buf, &self.destination);
    }
}
