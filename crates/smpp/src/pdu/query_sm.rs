//! `query_sm` and `query_sm_resp` (spec §4.8): ask the SMSC where a
//! previously submitted message is.

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::types::{Address, COctetString, MessageState};
use crate::wire::{self, Reader, fields, put_address, put_c_str};

/// The body of `query_sm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct QuerySm {
    /// The id from `submit_sm_resp`.
    pub message_id: COctetString<65>,
    /// The original sender, which must match the submission.
    pub source: Address<21>,
}

impl QuerySm {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<QuerySm, DecodeError> {
        let query = QuerySm { message_id: r.c_str(fields::MESSAGE_ID)?, source: r.address(wire::SOURCE)? };
        r.finish(fields::SOURCE_ADDR.name)?;
        Ok(query)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.message_id);
        put_address(buf, &self.source);
    }
}

/// The body of `query_sm_resp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct QuerySmResp {
    pub message_id: COctetString<65>,
    /// When the message reached a final state; empty if it has not.
    pub final_date: COctetString<17>,
    pub message_state: MessageState,
    /// Network-specific error code, 0 if none.
    pub error_code: u8,
}

impl QuerySmResp {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<QuerySmResp, DecodeError> {
        if r.is_empty() {
            return Ok(QuerySmResp::default());
        }
        let resp = QuerySmResp {
            message_id: r.c_str(fields::MESSAGE_ID)?,
            final_date: r.c_str(fields::FINAL_DATE)?,
            message_state: r.u8(fields::MESSAGE_STATE)?.into(),
            error_code: r.u8(fields::ERROR_CODE)?,
        };
        r.finish(fields::ERROR_CODE.name)?;
        Ok(resp)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.message_id);
        put_c_str(buf, &self.final_date);
        buf.put_u8(self.message_state.into());
        buf.put_u8(self.error_code);
    }
}
