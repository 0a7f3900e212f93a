//! Optional parameters (TLVs, spec §3.2.4 and §5.3): `TlvTag`, `Tlv`, `Tlvs`.
//!
//! A PDU that allows TLVs keeps them in a [`Tlvs`] list in wire order,
//! unknown tags included, so a decode → encode round trip is exact. Values
//! stay raw octets; typed constructors (`Tlv::sar_msg_ref_num(7)`) and typed
//! accessors (`tlvs.message_state()`) convert at the edge. The only value
//! check is the width of the known fixed-size integer tags, made both when a
//! `Tlv` is built and when one is decoded (`ESME_RINVPARLEN`). Text-valued
//! tags such as `receipted_message_id` are accepted with or without their
//! NUL, because SMSCs send both.

use std::fmt;

use bytes::Bytes;

use crate::types::{COctetString, MessageState};

/// The most TLVs one PDU may carry, in both directions.
///
/// SMPP 3.4 sets no limit, but it defines about 45 tags and a real PDU
/// carries a handful. The cap keeps a frame full of empty TLVs from costing
/// ten times its size in memory: 256 `Tlv`s take less room than the
/// smallest frame that could hold them.
pub const MAX_TLVS: usize = 256;

/// A TLV tag. Known 3.4 tags are associated constants; any `u16` is allowed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvTag(pub u16);

/// (tag, name, fixed value width) for every 3.4 tag; width `None` means
/// variable or not checked.
const TAGS: &[(TlvTag, &str, Option<u16>)] = &[
    (TlvTag::DEST_ADDR_SUBUNIT, "dest_addr_subunit", Some(1)),
    (TlvTag::DEST_NETWORK_TYPE, "dest_network_type", Some(1)),
    (TlvTag::DEST_BEARER_TYPE, "dest_bearer_type", Some(1)),
    (TlvTag::DEST_TELEMATICS_ID, "dest_telematics_id", None),
    (TlvTag::SOURCE_ADDR_SUBUNIT, "source_addr_subunit", Some(1)),
    (TlvTag::SOURCE_NETWORK_TYPE, "source_network_type", Some(1)),
    (TlvTag::SOURCE_BEARER_TYPE, "source_bearer_type", Some(1)),
    (TlvTag::SOURCE_TELEMATICS_ID, "source_telematics_id", None),
    (TlvTag::QOS_TIME_TO_LIVE, "qos_time_to_live", Some(4)),
    (TlvTag::PAYLOAD_TYPE, "payload_type", Some(1)),
    (TlvTag::ADDITIONAL_STATUS_INFO_TEXT, "additional_status_info_text", None),
    (TlvTag::RECEIPTED_MESSAGE_ID, "receipted_message_id", None),
    (TlvTag::MS_MSG_WAIT_FACILITIES, "ms_msg_wait_facilities", Some(1)),
    (TlvTag::PRIVACY_INDICATOR, "privacy_indicator", Some(1)),
    (TlvTag::SOURCE_SUBADDRESS, "source_subaddress", None),
    (TlvTag::DEST_SUBADDRESS, "dest_subaddress", None),
    (TlvTag::USER_MESSAGE_REFERENCE, "user_message_reference", Some(2)),
    (TlvTag::USER_RESPONSE_CODE, "user_response_code", Some(1)),
    (TlvTag::SOURCE_PORT, "source_port", Some(2)),
    (TlvTag::DESTINATION_PORT, "destination_port", Some(2)),
    (TlvTag::SAR_MSG_REF_NUM, "sar_msg_ref_num", Some(2)),
    (TlvTag::LANGUAGE_INDICATOR, "language_indicator", Some(1)),
    (TlvTag::SAR_TOTAL_SEGMENTS, "sar_total_segments", Some(1)),
    (TlvTag::SAR_SEGMENT_SEQNUM, "sar_segment_seqnum", Some(1)),
    (TlvTag::SC_INTERFACE_VERSION, "sc_interface_version", Some(1)),
    (TlvTag::CALLBACK_NUM_PRES_IND, "callback_num_pres_ind", Some(1)),
    (TlvTag::CALLBACK_NUM_ATAG, "callback_num_atag", None),
    (TlvTag::NUMBER_OF_MESSAGES, "number_of_messages", Some(1)),
    (TlvTag::CALLBACK_NUM, "callback_num", None),
    (TlvTag::DPF_RESULT, "dpf_result", Some(1)),
    (TlvTag::SET_DPF, "set_dpf", Some(1)),
    (TlvTag::MS_AVAILABILITY_STATUS, "ms_availability_status", Some(1)),
    (TlvTag::NETWORK_ERROR_CODE, "network_error_code", Some(3)),
    (TlvTag::MESSAGE_PAYLOAD, "message_payload", None),
    (TlvTag::DELIVERY_FAILURE_REASON, "delivery_failure_reason", Some(1)),
    (TlvTag::MORE_MESSAGES_TO_SEND, "more_messages_to_send", Some(1)),
    (TlvTag::MESSAGE_STATE, "message_state", Some(1)),
    (TlvTag::USSD_SERVICE_OP, "ussd_service_op", Some(1)),
    (TlvTag::DISPLAY_TIME, "display_time", Some(1)),
    (TlvTag::SMS_SIGNAL, "sms_signal", Some(2)),
    (TlvTag::MS_VALIDITY, "ms_validity", None),
    (TlvTag::ALERT_ON_MESSAGE_DELIVERY, "alert_on_message_delivery", None),
    (TlvTag::ITS_REPLY_TYPE, "its_reply_type", Some(1)),
    (TlvTag::ITS_SESSION_INFO, "its_session_info", Some(2)),
];

impl TlvTag {
    pub const DEST_ADDR_SUBUNIT: TlvTag = TlvTag(0x0005);
    pub const DEST_NETWORK_TYPE: TlvTag = TlvTag(0x0006);
    pub const DEST_BEARER_TYPE: TlvTag = TlvTag(0x0007);
    pub const DEST_TELEMATICS_ID: TlvTag = TlvTag(0x0008);
    pub const SOURCE_ADDR_SUBUNIT: TlvTag = TlvTag(0x000D);
    pub const SOURCE_NETWORK_TYPE: TlvTag = TlvTag(0x000E);
    pub const SOURCE_BEARER_TYPE: TlvTag = TlvTag(0x000F);
    pub const SOURCE_TELEMATICS_ID: TlvTag = TlvTag(0x0010);
    pub const QOS_TIME_TO_LIVE: TlvTag = TlvTag(0x0017);
    pub const PAYLOAD_TYPE: TlvTag = TlvTag(0x0019);
    pub const ADDITIONAL_STATUS_INFO_TEXT: TlvTag = TlvTag(0x001D);
    pub const RECEIPTED_MESSAGE_ID: TlvTag = TlvTag(0x001E);
    pub const MS_MSG_WAIT_FACILITIES: TlvTag = TlvTag(0x0030);
    pub const PRIVACY_INDICATOR: TlvTag = TlvTag(0x0201);
    pub const SOURCE_SUBADDRESS: TlvTag = TlvTag(0x0202);
    pub const DEST_SUBADDRESS: TlvTag = TlvTag(0x0203);
    pub const USER_MESSAGE_REFERENCE: TlvTag = TlvTag(0x0204);
    pub const USER_RESPONSE_CODE: TlvTag = TlvTag(0x0205);
    pub const SOURCE_PORT: TlvTag = TlvTag(0x020A);
    pub const DESTINATION_PORT: TlvTag = TlvTag(0x020B);
    pub const SAR_MSG_REF_NUM: TlvTag = TlvTag(0x020C);
    pub const LANGUAGE_INDICATOR: TlvTag = TlvTag(0x020D);
    pub const SAR_TOTAL_SEGMENTS: TlvTag = TlvTag(0x020E);
    pub const SAR_SEGMENT_SEQNUM: TlvTag = TlvTag(0x020F);
    pub const SC_INTERFACE_VERSION: TlvTag = TlvTag(0x0210);
    pub const CALLBACK_NUM_PRES_IND: TlvTag = TlvTag(0x0302);
    pub const CALLBACK_NUM_ATAG: TlvTag = TlvTag(0x0303);
    pub const NUMBER_OF_MESSAGES: TlvTag = TlvTag(0x0304);
    pub const CALLBACK_NUM: TlvTag = TlvTag(0x0381);
    pub const DPF_RESULT: TlvTag = TlvTag(0x0420);
    pub const SET_DPF: TlvTag = TlvTag(0x0421);
    pub const MS_AVAILABILITY_STATUS: TlvTag = TlvTag(0x0422);
    pub const NETWORK_ERROR_CODE: TlvTag = TlvTag(0x0423);
    pub const MESSAGE_PAYLOAD: TlvTag = TlvTag(0x0424);
    pub const DELIVERY_FAILURE_REASON: TlvTag = TlvTag(0x0425);
    pub const MORE_MESSAGES_TO_SEND: TlvTag = TlvTag(0x0426);
    pub const MESSAGE_STATE: TlvTag = TlvTag(0x0427);
    pub const USSD_SERVICE_OP: TlvTag = TlvTag(0x0501);
    pub const DISPLAY_TIME: TlvTag = TlvTag(0x1201);
    pub const SMS_SIGNAL: TlvTag = TlvTag(0x1203);
    pub const MS_VALIDITY: TlvTag = TlvTag(0x1204);
    pub const ALERT_ON_MESSAGE_DELIVERY: TlvTag = TlvTag(0x130C);
    pub const ITS_REPLY_TYPE: TlvTag = TlvTag(0x1380);
    pub const ITS_SESSION_INFO: TlvTag = TlvTag(0x1383);

    /// The spec name (`"message_payload"`), or `None` for a tag 3.4 does not
    /// define.
    pub fn name(self) -> Option<&'static str> {
        TAGS.iter().find(|(t, _, _)| *t == self).map(|(_, n, _)| *n)
    }

    /// The value width 3.4 fixes for this tag, when it fixes one and we check it.
    pub fn fixed_len(self) -> Option<u16> {
        TAGS.iter().find(|(t, _, _)| *t == self).and_then(|(_, _, w)| *w)
    }
}

impl fmt::Display for TlvTag {
    /// `message_payload (0x0424)` or `0x1401` for a tag without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:04X})", self.0),
            None => write!(f, "0x{:04X}", self.0),
        }
    }
}

impl fmt::Debug for TlvTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlvTag({self})")
    }
}

/// Why a TLV value cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The value does not fit the two-octet length field.
    #[error("{tag}: value of {len} octets is longer than 65535")]
    TooLong { tag: TlvTag, len: usize },
    /// A known fixed-width tag got a value of the wrong width.
    #[error("{tag}: value must be {expected} octets, got {actual}")]
    WrongLength { tag: TlvTag, expected: u16, actual: usize },
    /// A text value is longer than the spec allows, or contains a NUL.
    #[error("{tag}: text must be at most {max} octets without NUL")]
    BadText { tag: TlvTag, max: usize },
    /// `callback_num` must be 4 to 19 octets.
    #[error("{tag}: value must be {min} to {max} octets, got {actual}")]
    OutOfRange { tag: TlvTag, min: usize, max: usize, actual: usize },
}

/// One optional parameter. Its value fits a `u16` length and, for known
/// fixed-width tags, has the right width.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    tag: TlvTag,
    value: Bytes,
}

impl Tlv {
    /// Any tag with any value; checks the `u16` length and known widths.
    pub fn new(tag: TlvTag, value: impl Into<Bytes>) -> Result<Tlv, TlvError> {
        let value = value.into();
        if value.len() > usize::from(u16::MAX) {
            return Err(TlvError::TooLong { tag, len: value.len() });
        }
        if let Some(expected) = tag.fixed_len()
            && value.len() != usize::from(expected)
        {
            return Err(TlvError::WrongLength { tag, expected, actual: value.len() });
        }
        Ok(Tlv { tag, value })
    }

    /// Crate-private: the decoder has already checked length and width.
    pub(crate) fn from_checked(tag: TlvTag, value: Bytes) -> Tlv {
        Tlv { tag, value }
    }

    fn fixed(tag: TlvTag, value: &[u8]) -> Tlv {
        debug_assert_eq!(tag.fixed_len(), u16::try_from(value.len()).ok());
        Tlv { tag, value: Bytes::copy_from_slice(value) }
    }

    fn text<const N: usize>(tag: TlvTag, text: &str) -> Result<Tlv, TlvError> {
        let s = COctetString::<N>::try_from(text).map_err(|_| TlvError::BadText { tag, max: N - 1 })?;
        let mut value = Vec::with_capacity(s.wire_len());
        value.extend_from_slice(s.as_bytes());
        value.push(0);
        Ok(Tlv { tag, value: value.into() })
    }

    pub fn tag(&self) -> TlvTag {
        self.tag
    }

    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value as a cheaply clonable `Bytes`.
    pub fn value_bytes(&self) -> Bytes {
        self.value.clone()
    }

    /// A one-octet value.
    pub fn as_u8(&self) -> Option<u8> {
        match *self.value {
            [v] => Some(v),
            _ => None,
        }
    }

    /// A two-octet big-endian value.
    pub fn as_u16(&self) -> Option<u16> {
        <[u8; 2]>::try_from(&*self.value).ok().map(u16::from_be_bytes)
    }

    /// A four-octet big-endian value.
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(&*self.value).ok().map(u32::from_be_bytes)
    }

    /// A text value up to its first NUL (or the end, for senders that omit
    /// the NUL), if that is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        let end = self.value.iter().position(|&b| b == 0).unwrap_or(self.value.len());
        std::str::from_utf8(&self.value[..end]).ok()
    }

    /// `message_payload` (0x0424): user data longer than `short_message`
    /// allows, up to 65535 octets.
    pub fn message_payload(payload: impl Into<Bytes>) -> Result<Tlv, TlvError> {
        Tlv::new(TlvTag::MESSAGE_PAYLOAD, payload)
    }

    /// `sar_msg_ref_num` (0x020C): the concatenated message's reference.
    pub fn sar_msg_ref_num(reference: u16) -> Tlv {
        Tlv::fixed(TlvTag::SAR_MSG_REF_NUM, &reference.to_be_bytes())
    }

    /// `sar_total_segments` (0x020E).
    pub fn sar_total_segments(total: u8) -> Tlv {
        Tlv::fixed(TlvTag::SAR_TOTAL_SEGMENTS, &[total])
    }

    /// `sar_segment_seqnum` (0x020F), counted from 1.
    pub fn sar_segment_seqnum(seqnum: u8) -> Tlv {
        Tlv::fixed(TlvTag::SAR_SEGMENT_SEQNUM, &[seqnum])
    }

    /// `receipted_message_id` (0x001E): the SMSC's id of the message a
    /// receipt is about; at most 64 octets, sent with its NUL.
    pub fn receipted_message_id(id: &str) -> Result<Tlv, TlvError> {
        Tlv::text::<65>(TlvTag::RECEIPTED_MESSAGE_ID, id)
    }

    /// `message_state` (0x0427).
    pub fn message_state(state: MessageState) -> Tlv {
        Tlv::fixed(TlvTag::MESSAGE_STATE, &[u8::from(state)])
    }

    /// `network_error_code` (0x0423).
    pub fn network_error_code(code: NetworkErrorCode) -> Tlv {
        let [hi, lo] = code.error_code.to_be_bytes();
        Tlv::fixed(TlvTag::NETWORK_ERROR_CODE, &[code.network_type, hi, lo])
    }

    /// `user_message_reference` (0x0204).
    pub fn user_message_reference(reference: u16) -> Tlv {
        Tlv::fixed(TlvTag::USER_MESSAGE_REFERENCE, &reference.to_be_bytes())
    }

    /// `source_port` (0x020A).
    pub fn source_port(port: u16) -> Tlv {
        Tlv::fixed(TlvTag::SOURCE_PORT, &port.to_be_bytes())
    }

    /// `destination_port` (0x020B).
    pub fn destination_port(port: u16) -> Tlv {
        Tlv::fixed(TlvTag::DESTINATION_PORT, &port.to_be_bytes())
    }

    /// `sc_interface_version` (0x0210), e.g. [`crate::INTERFACE_VERSION`].
    pub fn sc_interface_version(version: u8) -> Tlv {
        Tlv::fixed(TlvTag::SC_INTERFACE_VERSION, &[version])
    }

    /// `more_messages_to_send` (0x0426).
    pub fn more_messages_to_send(more: bool) -> Tlv {
        Tlv::fixed(TlvTag::MORE_MESSAGES_TO_SEND, &[u8::from(more)])
    }

    /// `payload_type` (0x0019): 0 default/WDP, 1 WCMP.
    pub fn payload_type(payload_type: u8) -> Tlv {
        Tlv::fixed(TlvTag::PAYLOAD_TYPE, &[payload_type])
    }

    /// `ms_validity` (0x1204), the one-octet 3.4 form.
    pub fn ms_validity(validity: u8) -> Tlv {
        Tlv { tag: TlvTag::MS_VALIDITY, value: Bytes::copy_from_slice(&[validity]) }
    }

    /// `dest_addr_subunit` (0x0005): 1 MS display, 2 mobile equipment, 3 SIM…
    pub fn dest_addr_subunit(subunit: u8) -> Tlv {
        Tlv::fixed(TlvTag::DEST_ADDR_SUBUNIT, &[subunit])
    }

    /// `language_indicator` (0x020D).
    pub fn language_indicator(language: u8) -> Tlv {
        Tlv::fixed(TlvTag::LANGUAGE_INDICATOR, &[language])
    }

    /// `privacy_indicator` (0x0201).
    pub fn privacy_indicator(level: u8) -> Tlv {
        Tlv::fixed(TlvTag::PRIVACY_INDICATOR, &[level])
    }

    /// `callback_num` (0x0381): 4 to 19 octets (digit mode, TON, NPI, digits).
    pub fn callback_num(value: impl Into<Bytes>) -> Result<Tlv, TlvError> {
        let value = value.into();
        if !(4..=19).contains(&value.len()) {
            return Err(TlvError::OutOfRange {
                tag: TlvTag::CALLBACK_NUM,
                min: 4,
                max: 19,
                actual: value.len(),
            });
        }
        Ok(Tlv { tag: TlvTag::CALLBACK_NUM, value })
    }

    /// `additional_status_info_text` (0x001D): at most 255 octets, sent with its NUL.
    pub fn additional_status_info_text(text: &str) -> Result<Tlv, TlvError> {
        Tlv::text::<256>(TlvTag::ADDITIONAL_STATUS_INFO_TEXT, text)
    }

    /// `delivery_failure_reason` (0x0425), in `data_sm_resp`.
    pub fn delivery_failure_reason(reason: u8) -> Tlv {
        Tlv::fixed(TlvTag::DELIVERY_FAILURE_REASON, &[reason])
    }

    /// `ms_availability_status` (0x0422), in `alert_notification`.
    pub fn ms_availability_status(status: u8) -> Tlv {
        Tlv::fixed(TlvTag::MS_AVAILABILITY_STATUS, &[status])
    }
}

/// The `network_error_code` TLV: which network reported the failure and its
/// own code (e.g. a GSM MAP error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkErrorCode {
    /// 1 ANSI-136, 2 IS-95, 3 GSM, 4–8 reserved in 3.4.
    pub network_type: u8,
    pub error_code: u16,
}

/// The three SAR TLVs of one segment of a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sar {
    pub msg_ref_num: u16,
    pub total_segments: u8,
    pub segment_seqnum: u8,
}

/// The optional parameters of one PDU, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tlvs(Vec<Tlv>);

impl Tlvs {
    pub const fn new() -> Tlvs {
        Tlvs(Vec::new())
    }

    /// Appends, keeping any earlier TLV with the same tag.
    pub fn push(&mut self, tlv: Tlv) {
        self.0.push(tlv);
    }

    /// Replaces the first TLV with this tag in place and drops any others
    /// with it, or appends when there is none.
    pub fn set(&mut self, tlv: Tlv) {
        let tag = tlv.tag;
        match self.0.iter().position(|t| t.tag == tag) {
            Some(first) => {
                self.0[first] = tlv;
                let mut index = 0;
                self.0.retain(|t| {
                    let keep = t.tag != tag || index == first;
                    index += 1;
                    keep
                });
            }
            None => self.0.push(tlv),
        }
    }

    /// Builder form of [`push`](Self::push).
    pub fn with(mut self, tlv: Tlv) -> Tlvs {
        self.push(tlv);
        self
    }

    /// The first TLV with this tag.
    pub fn get(&self, tag: TlvTag) -> Option<&Tlv> {
        self.0.iter().find(|t| t.tag == tag)
    }

    /// Removes every TLV with this tag; returns the first.
    pub fn remove(&mut self, tag: TlvTag) -> Option<Tlv> {
        let first = self.0.iter().position(|t| t.tag == tag)?;
        let removed = self.0.remove(first);
        self.0.retain(|t| t.tag != tag);
        Some(removed)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Tlv> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Tlv] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn u8(&self, tag: TlvTag) -> Option<u8> {
        self.get(tag).and_then(Tlv::as_u8)
    }

    fn u16(&self, tag: TlvTag) -> Option<u16> {
        self.get(tag).and_then(Tlv::as_u16)
    }

    /// `message_payload` octets.
    pub fn message_payload(&self) -> Option<&[u8]> {
        self.get(TlvTag::MESSAGE_PAYLOAD).map(Tlv::value)
    }

    pub fn sar_msg_ref_num(&self) -> Option<u16> {
        self.u16(TlvTag::SAR_MSG_REF_NUM)
    }

    pub fn sar_total_segments(&self) -> Option<u8> {
        self.u8(TlvTag::SAR_TOTAL_SEGMENTS)
    }

    pub fn sar_segment_seqnum(&self) -> Option<u8> {
        self.u8(TlvTag::SAR_SEGMENT_SEQNUM)
    }

    /// All three SAR TLVs, or `None` if any is missing.
    pub fn sar(&self) -> Option<Sar> {
        Some(Sar {
            msg_ref_num: self.sar_msg_ref_num()?,
            total_segments: self.sar_total_segments()?,
            segment_seqnum: self.sar_segment_seqnum()?,
        })
    }

    /// `receipted_message_id` text, NUL stripped if present.
    pub fn receipted_message_id(&self) -> Option<&str> {
        self.get(TlvTag::RECEIPTED_MESSAGE_ID).and_then(Tlv::as_text)
    }

    pub fn message_state(&self) -> Option<MessageState> {
        self.u8(TlvTag::MESSAGE_STATE).map(MessageState::from)
    }

    pub fn network_error_code(&self) -> Option<NetworkErrorCode> {
        match *self.get(TlvTag::NETWORK_ERROR_CODE)?.value() {
            [network_type, hi, lo] => {
                Some(NetworkErrorCode { network_type, error_code: u16::from_be_bytes([hi, lo]) })
            }
            _ => None,
        }
    }

    pub fn user_message_reference(&self) -> Option<u16> {
        self.u16(TlvTag::USER_MESSAGE_REFERENCE)
    }

    pub fn source_port(&self) -> Option<u16> {
        self.u16(TlvTag::SOURCE_PORT)
    }

    pub fn destination_port(&self) -> Option<u16> {
        self.u16(TlvTag::DESTINATION_PORT)
    }

    pub fn sc_interface_version(&self) -> Option<u8> {
        self.u8(TlvTag::SC_INTERFACE_VERSION)
    }

    /// Any non-zero octet means "more to send".
    pub fn more_messages_to_send(&self) -> Option<bool> {
        self.u8(TlvTag::MORE_MESSAGES_TO_SEND).map(|v| v != 0)
    }

    pub fn payload_type(&self) -> Option<u8> {
        self.u8(TlvTag::PAYLOAD_TYPE)
    }

    /// The one-octet 3.4 form.
    pub fn ms_validity(&self) -> Option<u8> {
        self.u8(TlvTag::MS_VALIDITY)
    }

    pub fn dest_addr_subunit(&self) -> Option<u8> {
        self.u8(TlvTag::DEST_ADDR_SUBUNIT)
    }

    pub fn language_indicator(&self) -> Option<u8> {
        self.u8(TlvTag::LANGUAGE_INDICATOR)
    }

    pub fn privacy_indicator(&self) -> Option<u8> {
        self.u8(TlvTag::PRIVACY_INDICATOR)
    }

    pub fn callback_num(&self) -> Option<&[u8]> {
        self.get(TlvTag::CALLBACK_NUM).map(Tlv::value)
    }

    pub fn additional_status_info_text(&self) -> Option<&str> {
        self.get(TlvTag::ADDITIONAL_STATUS_INFO_TEXT).and_then(Tlv::as_text)
    }

    pub fn delivery_failure_reason(&self) -> Option<u8> {
        self.u8(TlvTag::DELIVERY_FAILURE_REASON)
    }

    pub fn dpf_result(&self) -> Option<u8> {
        self.u8(TlvTag::DPF_RESULT)
    }

    pub fn ms_availability_status(&self) -> Option<u8> {
        self.u8(TlvTag::MS_AVAILABILITY_STATUS)
    }
}

impl From<Vec<Tlv>> for Tlvs {
    fn from(tlvs: Vec<Tlv>) -> Tlvs {
        Tlvs(tlvs)
    }
}

impl From<Tlvs> for Vec<Tlv> {
    fn from(tlvs: Tlvs) -> Vec<Tlv> {
        tlvs.0
    }
}

impl FromIterator<Tlv> for Tlvs {
    fn from_iter<I: IntoIterator<Item = Tlv>>(iter: I) -> Tlvs {
        Tlvs(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Tlvs {
    type Item = &'a Tlv;
    type IntoIter = std::slice::Iter<'a, Tlv>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Tlvs {
    type Item = Tlv;
    type IntoIter = std::vec::IntoIter<Tlv>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_are_unique() {
        for (i, (tag, name, _)) in TAGS.iter().enumerate() {
            for (other, other_name, _) in &TAGS[i + 1..] {
                assert_ne!(tag, other);
                assert_ne!(name, other_name);
            }
        }
    }

    #[test]
    fn typed_constructors_and_accessors_agree() {
        let tlvs: Tlvs = [
            Tlv::sar_msg_ref_num(0x1234),
            Tlv::sar_total_segments(3),
            Tlv::sar_segment_seqnum(2),
            Tlv::receipted_message_id("0A1B2C").unwrap(),
            Tlv::message_state(MessageState::Delivered),
            Tlv::network_error_code(NetworkErrorCode { network_type: 3, error_code: 0x0101 }),
            Tlv::source_port(9200),
            Tlv::destination_port(2948),
            Tlv::more_messages_to_send(true),
            Tlv::sc_interface_version(0x34),
            Tlv::user_message_reference(42),
            Tlv::ms_validity(1),
            Tlv::payload_type(1),
            Tlv::callback_num(&b"\x00\x01\x01123"[..]).unwrap(),
            Tlv::additional_status_info_text("busy").unwrap(),
        ]
        .into_iter()
        .collect();
        assert_eq!(tlvs.sar(), Some(Sar { msg_ref_num: 0x1234, total_segments: 3, segment_seqnum: 2 }));
        assert_eq!(tlvs.receipted_message_id(), Some("0A1B2C"));
        assert_eq!(tlvs.message_state(), Some(MessageState::Delivered));
        assert_eq!(tlvs.network_error_code(), Some(NetworkErrorCode { network_type: 3, error_code: 0x0101 }));
        assert_eq!(tlvs.source_port(), Some(9200));
        assert_eq!(tlvs.destination_port(), Some(2948));
        assert_eq!(tlvs.more_messages_to_send(), Some(true));
        assert_eq!(tlvs.sc_interface_version(), Some(0x34));
        assert_eq!(tlvs.user_message_reference(), Some(42));
        assert_eq!(tlvs.ms_validity(), Some(1));
        assert_eq!(tlvs.payload_type(), Some(1));
        assert_eq!(tlvs.callback_num(), Some(&b"\x00\x01\x01123"[..]));
        assert_eq!(tlvs.additional_status_info_text(), Some("busy"));
        assert_eq!(tlvs.message_payload(), None);
    }

    #[test]
    fn receipted_message_id_is_read_with_or_without_its_nul() {
        let with = Tlvs::new().with(Tlv::new(TlvTag::RECEIPTED_MESSAGE_ID, &b"abc\0"[..]).unwrap());
        let without = Tlvs::new().with(Tlv::new(TlvTag::RECEIPTED_MESSAGE_ID, &b"abc"[..]).unwrap());
        assert_eq!(with.receipted_message_id(), Some("abc"));
        assert_eq!(without.receipted_message_id(), Some("abc"));
    }

    #[test]
    fn a_known_fixed_width_tag_with_the_wrong_width_is_rejected() {
        assert_eq!(
            Tlv::new(TlvTag::SAR_MSG_REF_NUM, &[1u8][..]),
            Err(TlvError::WrongLength { tag: TlvTag::SAR_MSG_REF_NUM, expected: 2, actual: 1 })
        );
    }

    #[test]
    fn a_value_longer_than_65535_octets_is_rejected() {
        assert!(matches!(
            Tlv::message_payload(vec![0u8; 65_536]),
            Err(TlvError::TooLong { len: 65_536, .. })
        ));
        assert!(Tlv::message_payload(vec![0u8; 65_535]).is_ok());
    }

    #[test]
    fn set_replaces_in_place_and_drops_duplicates() {
        let mut tlvs =
            Tlvs::new().with(Tlv::source_port(1)).with(Tlv::destination_port(2)).with(Tlv::source_port(3));
        tlvs.set(Tlv::source_port(4));
        let tags: Vec<_> = tlvs.iter().map(Tlv::tag).collect();
        assert_eq!(tags, [TlvTag::SOURCE_PORT, TlvTag::DESTINATION_PORT]);
        assert_eq!(tlvs.source_port(), Some(4));
        assert_eq!(tlvs.remove(TlvTag::SOURCE_PORT), Some(Tlv::source_port(4)));
        assert_eq!(tlvs.len(), 1);
    }

    #[test]
    fn unknown_tags_are_shown_in_hex() {
        assert_eq!(TlvTag(0x1401).to_string(), "0x1401");
        assert_eq!(TlvTag::MESSAGE_PAYLOAD.to_string(), "message_payload (0x0424)");
    }
}
