//! `replace_sm` (spec §4.10): replace the text and times of a message the
//! SMSC has not delivered yet. Its response has no body; 3.4 allows no TLVs.

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::types::{Address, COctetString, RegisteredDelivery, ShortMessage};
use crate::wire::{self, Reader, fields, put_address, put_c_str, put_short_message};

/// The body of `replace_sm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReplaceSm {
    pub message_id: COctetString<65>,
    pub source: Address<21>,
    pub schedule_delivery_time: COctetString<17>,
    pub validity_period: COctetString<17>,
    pub registered_delivery: RegisteredDelivery,
    pub sm_default_msg_id: u8,
    pub short_message: ShortMessage,
}

impl ReplaceSm {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<ReplaceSm, DecodeError> {
        let replace = ReplaceSm {
            message_id: r.c_str(fields::MESSAGE_ID)?,
            source: r.address(wire::SOURCE)?,
            schedule_delivery_time: r.c_str(fields::SCHEDULE_DELIVERY_TIME)?,
            validity_period: r.c_str(fields::VALIDITY_PERIOD)?,
            registered_delivery: RegisteredDelivery(r.u8(fields::REGISTERED_DELIVERY)?),
            sm_default_msg_id: r.u8(fields::SM_DEFAULT_MSG_ID)?,
            short_message: r.short_message()?,
        };
        r.finish(fields::SHORT_MESSAGE.name)?;
        Ok(replace)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.message_id);
        put_address(buf, &self.source);
        put_c_str(buf, &self.schedule_delivery_time);
        put_c_str(buf, &self.validity_period);
        buf.put_u8(self.registered_delivery.0);
        buf.put_u8(self.sm_default_msg_id);
        put_short_message(buf, &self.short_message);
    }
}
