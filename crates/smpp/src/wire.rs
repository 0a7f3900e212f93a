//! Crate-private reading and writing of field types (spec §3.1).
//!
//! [`Reader`] walks a PDU body and turns every problem into a `DecodeError`
//! that names the field and the status to answer with; the field table
//! [`fields`] is the one place that pairs a field name with its status. The
//! `put_*` functions append fields to a `BytesMut`. Nothing here knows which
//! PDU it is in; `pdu/*` says which fields come in which order.

use bytes::{BufMut, Bytes, BytesMut};

use crate::CommandStatus;
use crate::error::{DecodeError, DecodeErrorKind, EncodeErrorKind};
use crate::tlv::{MAX_TLVS, Tlv, TlvTag, Tlvs};
use crate::types::{Address, COctetString, ShortMessage};

/// A body field: its spec name and the status to answer with when its own
/// value is bad. (A body that ends too early is always `ESME_RINVCMDLEN`.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub status: CommandStatus,
}

/// Every body field, paired with its status.
pub(crate) mod fields {
    use super::Field;
    use crate::CommandStatus as S;

    const fn f(name: &'static str, status: S) -> Field {
        Field { name, status }
    }

    /// Fixed-size integers: only truncation can go wrong.
    const fn int(name: &'static str) -> Field {
        Field { name, status: S::ESME_RINVCMDLEN }
    }

    pub const SYSTEM_ID: Field = f("system_id", S::ESME_RINVSYSID);
    pub const PASSWORD: Field = f("password", S::ESME_RINVPASWD);
    pub const SYSTEM_TYPE: Field = f("system_type", S::ESME_RINVSYSTYP);
    pub const INTERFACE_VERSION: Field = int("interface_version");
    pub const ADDR_TON: Field = int("addr_ton");
    pub const ADDR_NPI: Field = int("addr_npi");
    pub const ADDRESS_RANGE: Field = f("address_range", S::ESME_RBINDFAIL);
    pub const SERVICE_TYPE: Field = f("service_type", S::ESME_RINVSERTYP);
    pub const SOURCE_ADDR_TON: Field = int("source_addr_ton");
    pub const SOURCE_ADDR_NPI: Field = int("source_addr_npi");
    pub const SOURCE_ADDR: Field = f("source_addr", S::ESME_RINVSRCADR);
    pub const DEST_ADDR_TON: Field = int("dest_addr_ton");
    pub const DEST_ADDR_NPI: Field = int("dest_addr_npi");
    pub const DESTINATION_ADDR: Field = f("destination_addr", S::ESME_RINVDSTADR);
    pub const ESME_ADDR_TON: Field = int("esme_addr_ton");
    pub const ESME_ADDR_NPI: Field = int("esme_addr_npi");
    pub const ESME_ADDR: Field = f("esme_addr", S::ESME_RINVDSTADR);
    pub const ESM_CLASS: Field = int("esm_class");
    pub const PROTOCOL_ID: Field = int("protocol_id");
    pub const PRIORITY_FLAG: Field = int("priority_flag");
    pub const SCHEDULE_DELIVERY_TIME: Field = f("schedule_delivery_time", S::ESME_RINVSCHED);
    pub const VALIDITY_PERIOD: Field = f("validity_period", S::ESME_RINVEXPIRY);
    pub const REGISTERED_DELIVERY: Field = int("registered_delivery");
    pub const REPLACE_IF_PRESENT_FLAG: Field = int("replace_if_present_flag");
    pub const DATA_CODING: Field = int("data_coding");
    pub const SM_DEFAULT_MSG_ID: Field = int("sm_default_msg_id");
    pub const SM_LENGTH: Field = int("sm_length");
    pub const SHORT_MESSAGE: Field = f("short_message", S::ESME_RINVMSGLEN);
    pub const MESSAGE_ID: Field = f("message_id", S::ESME_RINVMSGID);
    pub const NUMBER_OF_DESTS: Field = f("number_of_dests", S::ESME_RINVNUMDESTS);
    pub const DEST_FLAG: Field = f("dest_flag", S::ESME_RINVDESTFLAG);
    pub const DL_NAME: Field = f("dl_name", S::ESME_RINVDLNAME);
    pub const NO_UNSUCCESS: Field = int("no_unsuccess");
    pub const ERROR_STATUS_CODE: Field = int("error_status_code");
    pub const FINAL_DATE: Field = f("final_date", S::ESME_RUNKNOWNERR);
    pub const MESSAGE_STATE: Field = int("message_state");
    pub const ERROR_CODE: Field = int("error_code");
}

/// The three fields of an address: TON, NPI and the string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressFields {
    pub ton: Field,
    pub npi: Field,
    pub addr: Field,
}

pub(crate) const SOURCE: AddressFields =
    AddressFields { ton: fields::SOURCE_ADDR_TON, npi: fields::SOURCE_ADDR_NPI, addr: fields::SOURCE_ADDR };

pub(crate) const DESTINATION: AddressFields =
    AddressFields { ton: fields::DEST_ADDR_TON, npi: fields::DEST_ADDR_NPI, addr: fields::DESTINATION_ADDR };

pub(crate) const ESME: AddressFields =
    AddressFields { ton: fields::ESME_ADDR_TON, npi: fields::ESME_ADDR_NPI, addr: fields::ESME_ADDR };

pub(crate) const ADDRESS_RANGE: AddressFields =
    AddressFields { ton: fields::ADDR_TON, npi: fields::ADDR_NPI, addr: fields::ADDRESS_RANGE };

/// The field name used for a TLV without a spec name.
const UNNAMED_TLV: &str = "tlv";

fn fail(field: Field, kind: DecodeErrorKind) -> DecodeError {
    DecodeError::without_header(field.name, field.status, kind)
}

/// Reads fields from the front of a body. Never reads past its end and
/// never allocates more than the octets it hands out.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::without_header(
                field.name,
                CommandStatus::ESME_RINVCMDLEN,
                DecodeErrorKind::Truncated,
            ));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u8(&mut self, field: Field) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    pub fn u32(&mut self, field: Field) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A C-Octet String of at most `N` octets, NUL included.
    pub fn c_str<const N: usize>(&mut self, field: Field) -> Result<COctetString<N>, DecodeError> {
        let window = &self.buf[..self.buf.len().min(N)];
        match window.iter().position(|&b| b == 0) {
            Some(nul) => {
                let value = Bytes::copy_from_slice(&window[..nul]);
                self.buf = &self.buf[nul + 1..];
                Ok(COctetString::from_checked(value))
            }
            None if self.buf.len() >= N => Err(fail(field, DecodeErrorKind::TooLong { max: N })),
            None => Err(fail(field, DecodeErrorKind::MissingNul)),
        }
    }

    pub fn address<const N: usize>(&mut self, f: AddressFields) -> Result<Address<N>, DecodeError> {
        Ok(Address { ton: self.u8(f.ton)?.into(), npi: self.u8(f.npi)?.into(), addr: self.c_str(f.addr)? })
    }

    /// `sm_length` then that many octets of `short_message`.
    pub fn short_message(&mut self) -> Result<ShortMessage, DecodeError> {
        let declared = usize::from(self.u8(fields::SM_LENGTH)?);
        if declared > ShortMessage::MAX_LEN {
            return Err(fail(
                fields::SHORT_MESSAGE,
                DecodeErrorKind::OutOfRange { value: declared, max: ShortMessage::MAX_LEN },
            ));
        }
        if declared > self.buf.len() {
            return Err(fail(
                fields::SHORT_MESSAGE,
                DecodeErrorKind::Overrun { declared, available: self.buf.len() },
            ));
        }
        let value = self.take(declared, fields::SHORT_MESSAGE)?;
        Ok(ShortMessage::from_checked(Bytes::copy_from_slice(value)))
    }

    /// Every remaining octet as TLVs, in order. A tail of fewer than four
    /// octets, all NUL, is padding and read past (see [`is_padding`]).
    pub fn tlvs(&mut self) -> Result<Tlvs, DecodeError> {
        self.tlvs_or_partial().map_err(|(_, e)| e)
    }

    /// As [`Reader::tlvs`]; on failure also the TLVs read before the bad one.
    pub fn tlvs_or_partial(&mut self) -> Result<Tlvs, (Tlvs, DecodeError)> {
        let mut tlvs = Tlvs::new();
        while !self.buf.is_empty() {
            if is_padding(self.buf) {
                self.buf = &[];
                break;
            }
            if tlvs.len() == MAX_TLVS {
                let e = DecodeError::without_header(
                    UNNAMED_TLV,
                    CommandStatus::ESME_RINVOPTPARSTREAM,
                    DecodeErrorKind::TooManyTlvs { max: MAX_TLVS },
                );
                return Err((tlvs, e));
            }
            let Some((head, rest)) = self.buf.split_first_chunk::<4>() else {
                let e = DecodeError::without_header(
                    UNNAMED_TLV,
                    CommandStatus::ESME_RINVOPTPARSTREAM,
                    DecodeErrorKind::TlvHeaderTruncated { available: self.buf.len() },
                );
                return Err((tlvs, e));
            };
            let tag = TlvTag(u16::from_be_bytes([head[0], head[1]]));
            let declared = u16::from_be_bytes([head[2], head[3]]);
            let name = tag.name().unwrap_or(UNNAMED_TLV);
            let Some((value, rest)) = rest.split_at_checked(usize::from(declared)) else {
                let e = DecodeError::without_header(
                    name,
                    CommandStatus::ESME_RINVOPTPARSTREAM,
                    DecodeErrorKind::TlvOverrun { tag, declared, available: rest.len() },
                );
                return Err((tlvs, e));
            };
            if let Some(expected) = tag.fixed_len()
                && expected != declared
            {
                let e = DecodeError::without_header(
                    name,
                    CommandStatus::ESME_RINVPARLEN,
                    DecodeErrorKind::TlvWrongLength { tag, expected, actual: declared },
                );
                return Err((tlvs, e));
            }
            tlvs.push(Tlv::from_checked(tag, Bytes::copy_from_slice(value)));
            self.buf = rest;
        }
        Ok(tlvs)
    }

    /// Fails if any octet is left: bodies without TLVs end exactly.
    pub fn finish(&self, last: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::without_header(
                last,
                CommandStatus::ESME_RINVCMDLEN,
                DecodeErrorKind::TrailingBytes { count: self.buf.len() },
            ))
        }
    }
}

/// Octets after a body's last field that are padding, not a TLV: fewer
/// than a TLV header's four, all NUL. Some SMSCs put a stray NUL after
/// `short_message` or a response's id; read as the start of a TLV it would
/// make the whole PDU unreadable (a receipt refused and lost, a bind
/// failed). Four NULs or more are a TLV (tag 0, empty) and read as one.
fn is_padding(tail: &[u8]) -> bool {
    tail.len() < 4 && tail.iter().all(|&b| b == 0)
}

/// An encode failure before the command id is attached.
#[derive(Debug)]
pub(crate) struct EncodeFault {
    pub field: &'static str,
    pub kind: EncodeErrorKind,
}

pub(crate) fn put_c_str<const N: usize>(buf: &mut BytesMut, value: &COctetString<N>) {
    buf.put_slice(value.as_bytes());
    buf.put_u8(0);
}

pub(crate) fn put_address<const N: usize>(buf: &mut BytesMut, address: &Address<N>) {
    buf.put_u8(address.ton.into());
    buf.put_u8(address.npi.into());
    put_c_str(buf, &address.addr);
}

pub(crate) fn put_short_message(buf: &mut BytesMut, message: &ShortMessage) {
    let len = u8::try_from(message.len()).expect("ShortMessage holds at most 254 octets");
    buf.put_u8(len);
    buf.put_slice(message.as_bytes());
}

/// Refuses more than [`MAX_TLVS`], like the decoder.
pub(crate) fn put_tlvs(buf: &mut BytesMut, tlvs: &Tlvs) -> Result<(), EncodeFault> {
    if tlvs.len() > MAX_TLVS {
        return Err(EncodeFault {
            field: "tlvs",
            kind: EncodeErrorKind::CountOutOfRange { count: tlvs.len(), min: 0, max: MAX_TLVS },
        });
    }
    for tlv in tlvs {
        let len = u16::try_from(tlv.value().len()).expect("Tlv values fit a u16 length");
        buf.put_u16(tlv.tag().0);
        buf.put_u16(len);
        buf.put_slice(tlv.value());
    }
    Ok(())
}

/// `short_message` and `message_payload` are alternatives (spec §5.3.2.32).
pub(crate) fn check_one_payload(message: &ShortMessage, tlvs: &Tlvs) -> Result<(), EncodeFault> {
    if !message.is_empty() && tlvs.get(TlvTag::MESSAGE_PAYLOAD).is_some() {
        return Err(EncodeFault {
            field: fields::SHORT_MESSAGE.name,
            kind: EncodeErrorKind::ShortMessageAndPayload,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_c_string_stops_at_its_nul_and_leaves_the_rest() {
        let mut r = Reader::new(b"abc\0xyz\0");
        assert_eq!(r.c_str::<6>(fields::SERVICE_TYPE).unwrap(), "abc");
        assert_eq!(r.c_str::<6>(fields::SERVICE_TYPE).unwrap(), "xyz");
        assert!(r.is_empty());
    }

    #[test]
    fn a_c_string_filling_its_whole_field_without_nul_is_too_long() {
        let err = Reader::new(b"abcdef\0").c_str::<6>(fields::SERVICE_TYPE).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::TooLong { max: 6 });
        assert_eq!(err.status, CommandStatus::ESME_RINVSERTYP);
        assert_eq!(err.field, "service_type");
    }

    #[test]
    fn a_c_string_cut_off_by_the_end_of_the_body_is_missing_its_nul() {
        let err = Reader::new(b"abc").c_str::<6>(fields::SERVICE_TYPE).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::MissingNul);
    }
}
