//! `outbind` (spec §4.1.7): the SMSC asks the ESME to bind as a receiver.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::types::COctetString;
use crate::wire::{Reader, fields, put_c_str};

/// The body of `outbind`. It has no response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Outbind {
    pub system_id: COctetString<16>,
    pub password: COctetString<9>,
}

impl Outbind {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Outbind, DecodeError> {
        let outbind =
            Outbind { system_id: r.c_str(fields::SYSTEM_ID)?, password: r.c_str(fields::PASSWORD)? };
        r.finish(fields::PASSWORD.name)?;
        Ok(outbind)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_c_str(buf, &self.system_id);
        put_c_str(buf, &self.password);
    }
}
