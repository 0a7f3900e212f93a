//! Short-message octets as the simulator reads and writes them: decoding a
//! submitted part by its `data_coding` (GSM packed or unpacked, IA5, Latin-1,
//! UCS-2), finding its concatenation data (UDH with an 8- or 16-bit
//! reference, or SAR TLVs), cutting an injected MO text into deliver_sm
//! parts, and building a delivery receipt.
//!
//! Pure: no sockets, no clocks (dates come in as text). It does not keep
//! parts until a message is whole; that is `store`'s job.

use smpp::{
    Address, DataCoding, DeliverSm, DeliveryReceipt, EsmClass, MessageState, NetworkErrorCode, Npi,
    ReceiptStat, ShortMessage, Tlv, Tlvs, Ton,
};
use sms_text::{Encoding, PartLimits, Udh, gsm7, latin1, ucs2};

/// How long MO texts are cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MoSplit {
    /// A user data header with an 8-bit reference in `short_message` (esm_class UDHI).
    #[default]
    Udh,
    /// The `sar_msg_ref_num` / `sar_total_segments` / `sar_segment_seqnum` TLVs.
    Sar,
}

/// Characters of the original text quoted after `text:` in a receipt.
pub const RECEIPT_TEXT_CHARS: usize = 20;

/// Concatenation data of one part, however it was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PartOf {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// One submitted short message (or part), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedPart {
    pub concat: Option<PartOf>,
    pub data_coding: u8,
    /// Septets for GSM (one per byte, unpacked), otherwise the octets as sent;
    /// joined with the other parts' before decoding, so a character cut
    /// between parts survives.
    pub units: Vec<u8>,
    /// This part alone as text (for the receipt's `text:`).
    pub text: String,
}

/// Which alphabet a `data_coding` value means here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Gsm,
    Latin1,
    Ucs2,
}

fn alphabet(data_coding: u8) -> Alphabet {
    match data_coding {
        0x00 => Alphabet::Gsm,
        0x08 => Alphabet::Ucs2,
        // GSM message-class coding: bit 2 selects 8-bit data over the GSM alphabet.
        0xF0..=0xFF if data_coding & 0x04 == 0 => Alphabet::Gsm,
        // IA5 (1) is ASCII, a subset of Latin-1 (3); binary and unknown codings
        // are shown octet for octet so nothing is lost.
        _ => Alphabet::Latin1,
    }
}

/// Text of `units` (septets for GSM, octets otherwise) in `data_coding`.
pub(crate) fn decode_units(data_coding: u8, units: &[u8]) -> String {
    match alphabet(data_coding) {
        Alphabet::Gsm => gsm7::decode(units),
        Alphabet::Latin1 => latin1::decode(units),
        Alphabet::Ucs2 => ucs2::decode(units),
    }
}

/// Reads one submitted part: `payload` is `short_message` or `message_payload`.
/// `packed` says whether GSM text arrives packed (8 septets in 7 octets) or one
/// septet per octet. Never fails: a broken header is taken as text.
pub(crate) fn decode_part(
    payload: &[u8],
    esm_class: EsmClass,
    data_coding: DataCoding,
    tlvs: &Tlvs,
    packed: bool,
) -> DecodedPart {
    let dc = data_coding.0;
    let (udh_concat, body_start) = match esm_class
        .has_udhi()
        .then(|| Udh::parse(payload))
        .and_then(Result::ok)
    {
        Some((udh, rest)) => {
            let concat =
                udh.concatenation().map(|c| PartOf { reference: c.reference, total: c.total, seq: c.seq });
            (concat, payload.len() - rest.len())
        }
        None => (None, 0),
    };
    let sar = tlvs.sar().and_then(|s| {
        let valid = s.total_segments >= 1 && (1..=s.total_segments).contains(&s.segment_seqnum);
        valid.then_some(PartOf { reference: s.msg_ref_num, total: s.total_segments, seq: s.segment_seqnum })
    });
    let body = payload.get(body_start..).unwrap_or_default();
    let units = match alphabet(dc) {
        Alphabet::Gsm if packed => unpack_septets(body, body_start),
        _ => body.to_vec(),
    };
    let text = decode_units(dc, &units);
    DecodedPart { concat: udh_concat.or(sar), data_coding: dc, units, text }
}

/// Unpacks GSM text that follows a header of `udh_len` octets (0 for none).
fn unpack_septets(body: &[u8], udh_len: usize) -> Vec<u8> {
    let fill = if udh_len == 0 { 0 } else { gsm7::fill_bits_after_udh(udh_len) };
    let bits = (body.len() * 8).saturating_sub(usize::from(fill));
    let mut septets = gsm7::unpack(body, bits / 7, fill);
    // Seven spare bits read as one more septet: a trailing '@' (0x00) there is
    // the sender's padding, not text (3GPP TS 23.038 §6.1.2.1.1).
    if bits % 7 == 0 && septets.last() == Some(&0) {
        septets.pop();
    }
    septets
}

/// Why an MO text cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoError {
    #[error("'{field}' is not a usable address: {reason}")]
    BadAddress { field: &'static str, reason: String },
    #[error("the text needs {parts} parts; at most {max} fit one concatenated message")]
    TooLong { parts: usize, max: usize },
}

/// An address as a phone would show it: `+48…` international, digits as
/// unknown TON (short codes, national), anything else alphanumeric.
pub(crate) fn address(field: &'static str, value: &str) -> Result<Address<21>, MoError> {
    let value = value.trim();
    let bad = |reason: &str| MoError::BadAddress { field, reason: reason.to_owned() };
    if value.is_empty() {
        return Err(bad("empty"));
    }
    let result = if let Some(digits) = value.strip_prefix('+') {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("after '+' only digits may follow"));
        }
        Address::international(digits)
    } else if value.bytes().all(|b| b.is_ascii_digit()) {
        Address::new(Ton::Unknown, Npi::Isdn, value)
    } else {
        Address::alphanumeric(value)
    };
    result.map_err(|e| bad(&e.to_string()))
}

/// Cuts `text` into deliver_sm PDUs (esm_class 0, or UDHI with a header):
/// GSM 7-bit when every character fits, else UCS-2; one PDU when it fits in
/// one message. `reference` ties the parts together.
pub(crate) fn mo_parts(
    from: &str,
    to: &str,
    text: &str,
    split: MoSplit,
    packed: bool,
    reference: u16,
) -> Result<Vec<DeliverSm>, MoError> {
    let source = address("from", from)?;
    let destination = address("to", to)?;
    let parts = sms_text::split_with(text, PartLimits::CONCAT_8BIT_REF);
    let total = parts.segments.len();
    let total_u8 =
        u8::try_from(total).map_err(|_| MoError::TooLong { parts: total, max: sms_text::MAX_PARTS })?;
    let data_coding = match parts.encoding {
        Encoding::Gsm7 => DataCoding::SMSC_DEFAULT,
        Encoding::Ucs2 => DataCoding::UCS2,
    };
    let mut out = Vec::with_capacity(total);
    for (index, segment) in parts.segments.into_iter().enumerate() {
        let seq = u8::try_from(index + 1).unwrap_or(u8::MAX);
        let header = (total > 1 && split == MoSplit::Udh)
            .then(|| Udh::concat8(reference.to_be_bytes()[1], total_u8, seq).encode());
        let header_len = header.as_ref().map_or(0, Vec::len);
        let body = match parts.encoding {
            Encoding::Gsm7 if packed => {
                let fill = if header_len == 0 { 0 } else { gsm7::fill_bits_after_udh(header_len) };
                gsm7::pack(&segment.payload, fill)
            }
            _ => segment.payload,
        };
        let mut user_data = header.unwrap_or_default();
        user_data.extend_from_slice(&body);
        let mut tlvs = Tlvs::new();
        if total > 1 && split == MoSplit::Sar {
            tlvs.push(Tlv::sar_msg_ref_num(reference));
            tlvs.push(Tlv::sar_total_segments(total_u8));
            tlvs.push(Tlv::sar_segment_seqnum(seq));
        }
        let esm_class = if header_len > 0 { EsmClass::DEFAULT.with_udhi() } else { EsmClass::DEFAULT };
        let short_message = ShortMessage::try_from(user_data)
            .map_err(|_| MoError::TooLong { parts: total, max: sms_text::MAX_PARTS })?;
        out.push(DeliverSm {
            source: source.clone(),
            destination: destination.clone(),
            esm_class,
            data_coding,
            short_message,
            tlvs,
            ..DeliverSm::default()
        });
    }
    Ok(out)
}

/// The final outcome the simulated network reports for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Delivered,
    Undelivered,
    Expired,
    Rejected,
}

impl Outcome {
    pub(crate) fn message_state(self) -> MessageState {
        match self {
            Outcome::Delivered => MessageState::Delivered,
            Outcome::Undelivered => MessageState::Undeliverable,
            Outcome::Expired => MessageState::Expired,
            Outcome::Rejected => MessageState::Rejected,
        }
    }

    fn stat(self) -> ReceiptStat {
        match self {
            Outcome::Delivered => ReceiptStat::Delivered,
            Outcome::Undelivered => ReceiptStat::Undeliverable,
            Outcome::Expired => ReceiptStat::Expired,
            Outcome::Rejected => ReceiptStat::Rejected,
        }
    }

    /// The `err:` code and `query_sm_resp.error_code`: 0 for delivered, 1–3 otherwise.
    pub(crate) fn error_code(self) -> u8 {
        match self {
            Outcome::Delivered => 0,
            Outcome::Undelivered => 1,
            Outcome::Expired => 2,
            Outcome::Rejected => 3,
        }
    }
}

/// What a receipt is about.
pub(crate) struct ReceiptFacts<'a> {
    pub message_id: &'a str,
    pub outcome: Outcome,
    /// `YYMMDDhhmm`.
    pub submit_date: &'a str,
    pub done_date: &'a str,
    /// The part's text; its first [`RECEIPT_TEXT_CHARS`] characters are quoted.
    pub text: &'a str,
}

/// A delivery receipt for a message sent from `sent_from` to `sent_to`:
/// deliver_sm from the phone back to the sender, esm_class 0x04, the usual
/// text, and the `receipted_message_id` and `message_state` TLVs (plus
/// `network_error_code` when not delivered).
pub(crate) fn receipt(sent_from: &Address<21>, sent_to: &Address<21>, facts: &ReceiptFacts<'_>) -> DeliverSm {
    // The text is ASCII so it reads the same in any default alphabet.
    let quoted: String = facts
        .text
        .chars()
        .take(RECEIPT_TEXT_CHARS)
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    let delivered = facts.outcome == Outcome::Delivered;
    let text = DeliveryReceipt {
        id: Some(facts.message_id.to_owned()),
        sub: Some("001".into()),
        dlvrd: Some(if delivered { "001" } else { "000" }.into()),
        submit_date: Some(facts.submit_date.to_owned()),
        done_date: Some(facts.done_date.to_owned()),
        stat: Some(facts.outcome.stat()),
        err: Some(format!("{:03}", facts.outcome.error_code())),
        text: Some(quoted),
    }
    .to_text();
    let mut bytes = text.into_bytes();
    bytes.truncate(ShortMessage::MAX_LEN);
    let mut tlvs = Tlvs::new();
    if let Ok(tlv) = Tlv::receipted_message_id(facts.message_id) {
        tlvs.push(tlv);
    }
    tlvs.push(Tlv::message_state(facts.outcome.message_state()));
    if !delivered {
        tlvs.push(Tlv::network_error_code(NetworkErrorCode {
            network_type: 3,
            error_code: u16::from(facts.outcome.error_code()),
        }));
    }
    DeliverSm {
        source: sent_to.clone(),
        destination: sent_from.clone(),
        esm_class: EsmClass::DELIVERY_RECEIPT,
        data_coding: DataCoding::SMSC_DEFAULT,
        short_message: ShortMessage::try_from(bytes).unwrap_or_default(),
        tlvs,
        ..DeliverSm::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(payload: &[u8], esm: EsmClass, dc: DataCoding, packed: bool) -> DecodedPart {
        decode_part(payload, esm, dc, &Tlvs::new(), packed)
    }

    #[test]
    fn each_data_coding_decodes_to_the_same_text() {
        let text = "Hello";
        let cases: [(DataCoding, Vec<u8>, bool); 5] = [
            (DataCoding::SMSC_DEFAULT, gsm7::encode(text).unwrap(), false),
            (DataCoding::SMSC_DEFAULT, gsm7::pack(&gsm7::encode(text).unwrap(), 0), true),
            (DataCoding::IA5, text.as_bytes().to_vec(), false),
            (DataCoding::LATIN1, latin1::encode(text).unwrap(), false),
            (DataCoding::UCS2, ucs2::encode(text), false),
        ];
        for (dc, payload, packed) in cases {
            assert_eq!(decode(&payload, EsmClass::DEFAULT, dc, packed).text, text, "{dc:?} packed={packed}");
        }
    }

    #[test]
    fn seven_packed_septets_do_not_grow_a_trailing_at_sign() {
        let septets = gsm7::encode("1234567").unwrap();
        let packed = gsm7::pack(&septets, 0);
        assert_eq!(packed.len(), 7);
        assert_eq!(decode(&packed, EsmClass::DEFAULT, DataCoding::SMSC_DEFAULT, true).text, "1234567");
    }

    #[test]
    fn a_udh_part_with_a_16_bit_reference_is_recognised_and_its_text_follows_the_header() {
        let mut payload = Udh::concat16(0x1234, 3, 2).encode();
        payload.extend_from_slice(&ucs2::encode("zażółć"));
        let part = decode(&payload, EsmClass::DEFAULT.with_udhi(), DataCoding::UCS2, false);
        assert_eq!(part.concat, Some(PartOf { reference: 0x1234, total: 3, seq: 2 }));
        assert_eq!(part.text, "zażółć");
    }

    #[test]
    fn packed_gsm_after_a_header_skips_the_fill_bits() {
        let header = Udh::concat8(7, 2, 1).encode();
        let mut payload = header.clone();
        payload.extend(gsm7::pack(
            &gsm7::encode("Hello world").unwrap(),
            gsm7::fill_bits_after_udh(header.len()),
        ));
        let part = decode(&payload, EsmClass::DEFAULT.with_udhi(), DataCoding::SMSC_DEFAULT, true);
        assert_eq!(part.text, "Hello world");
        assert_eq!(part.concat, Some(PartOf { reference: 7, total: 2, seq: 1 }));
    }

    #[test]
    fn sar_tlvs_make_a_part_and_bad_ones_are_ignored() {
        let tlvs = |total, seq| {
            Tlvs::new()
                .with(Tlv::sar_msg_ref_num(300))
                .with(Tlv::sar_total_segments(total))
                .with(Tlv::sar_segment_seqnum(seq))
        };
        let part = decode_part(b"ab", EsmClass::DEFAULT, DataCoding::IA5, &tlvs(2, 2), false);
        assert_eq!(part.concat, Some(PartOf { reference: 300, total: 2, seq: 2 }));
        for (total, seq) in [(0, 0), (2, 0), (2, 3)] {
            let part = decode_part(b"ab", EsmClass::DEFAULT, DataCoding::IA5, &tlvs(total, seq), false);
            assert_eq!(part.concat, None, "total {total} seq {seq}");
        }
    }

    #[test]
    fn a_broken_header_is_read_as_text_without_panicking() {
        for payload in [&[][..], &[5, 0, 3][..], &[0xFF][..]] {
            let part = decode(payload, EsmClass::DEFAULT.with_udhi(), DataCoding::SMSC_DEFAULT, true);
            assert_eq!(part.concat, None);
        }
    }

    #[test]
    fn a_long_mo_text_is_cut_into_numbered_parts_that_decode_back() {
        let text = "ą".repeat(150);
        for split in [MoSplit::Udh, MoSplit::Sar] {
            let pdus = mo_parts("+48600100200", "7100", &text, split, false, 0x0105).unwrap();
            assert_eq!(pdus.len(), 3, "{split:?}");
            let mut joined = String::new();
            for (i, pdu) in pdus.iter().enumerate() {
                let part = decode_part(pdu.payload(), pdu.esm_class, pdu.data_coding, &pdu.tlvs, false);
                let concat = part.concat.unwrap();
                assert_eq!((concat.total, usize::from(concat.seq)), (3, i + 1));
                joined.push_str(&part.text);
            }
            assert_eq!(joined, text);
            assert_eq!(pdus[0].source, Address::international("48600100200").unwrap());
        }
    }

    #[test]
    fn bad_mo_addresses_are_refused_by_field() {
        for (from, to, field) in [("", "7100", "from"), ("+48x", "7100", "from"), ("+48600", "+", "to")] {
            match mo_parts(from, to, "hi", MoSplit::Udh, false, 1) {
                Err(MoError::BadAddress { field: f, .. }) => assert_eq!(f, field, "{from} {to}"),
                other => panic!("{from} {to}: {other:?}"),
            }
        }
        assert!(matches!(
            mo_parts("a".repeat(21).as_str(), "7100", "hi", MoSplit::Udh, false, 1),
            Err(MoError::BadAddress { field: "from", .. })
        ));
    }

    #[test]
    fn a_receipt_says_what_happened_in_text_and_tlvs() {
        let from = Address::alphanumeric("Kurier").unwrap();
        let to = Address::international("48600100200").unwrap();
        let facts = ReceiptFacts {
            message_id: "1a2b",
            outcome: Outcome::Undelivered,
            submit_date: "2401151230",
            done_date: "2401151231",
            text: "Zażółć gęślą jaźń and more",
        };
        let pdu = receipt(&from, &to, &facts);
        assert_eq!(pdu.source, to);
        assert_eq!(pdu.destination, from);
        let parsed = pdu.delivery_receipt().unwrap();
        assert_eq!(parsed.id.as_deref(), Some("1a2b"));
        assert_eq!(parsed.stat, Some(ReceiptStat::Undeliverable));
        assert_eq!(parsed.dlvrd.as_deref(), Some("000"));
        assert_eq!(parsed.text.as_deref(), Some("Za???? g??l? ja?? an"));
        assert_eq!(pdu.tlvs.receipted_message_id(), Some("1a2b"));
        assert_eq!(pdu.tlvs.message_state(), Some(MessageState::Undeliverable));
    }
}
