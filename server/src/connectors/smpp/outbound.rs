//! Turning one [`OutboundSms`] into the submit_sm PDUs that carry it: the
//! addresses with their TON/NPI, the data_coding and octets of the text, the
//! parts of a long message tied together per `long_messages` (UDH with an 8-
//! or 16-bit reference, SAR TLVs, or one message_payload), the validity
//! period and the receipt request.
//!
//! Pure: no sockets and no clock except the one passed in. It does not pick
//! the concatenation reference (the connector's counter does) and does not
//! send anything.

use smpp::{
    Address, COctetString, DataCoding, EsmClass, Npi, RegisteredDelivery, ShortMessage, SubmitSm, Tlv, Tlvs,
    Ton,
};
use sms_text::{MAX_PARTS, PartLimits, Udh, gsm7, latin1, split_with, ucs2};

use crate::config::{LongMessages, SmppConfig};
use crate::connectors::OutboundSms;

/// Longest sender that TON 3 (network specific, i.e. a short code) is
/// chosen for when `source_ton` is unset; longer digit strings are numbers.
pub const SHORT_CODE_MAX_DIGITS: usize = 8;

/// Validity periods shorter than this many days are sent in the relative
/// format (`000DDhhmmss000R`); longer ones as an absolute UTC time.
pub const RELATIVE_VALIDITY_MAX_DAYS: u64 = 99;

/// Why a message cannot be submitted at all (a permanent failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("destination '{0}' does not fit destination_addr (at most 20 digits)")]
    Destination(String),
    #[error("sender '{0}' does not fit source_addr (at most 20 characters)")]
    Source(String),
    #[error("text needs {0} parts; at most 255 can be concatenated")]
    TooManyParts(usize),
    #[error("text of {0} octets does not fit message_payload (at most 65535)")]
    PayloadTooLong(usize),
    #[error("{0} is not a valid value here")]
    Field(&'static str),
}

/// One message as submit_sm PDUs.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// In order: one per part, or one carrying the whole text in a
    /// message_payload.
    pub pdus: Vec<SubmitSm>,
    /// The SMS segments the message makes: its parts, or for a
    /// message_payload the parts the SMSC cuts it into (what the operator
    /// charges for, and what Kurier charges once it is submitted).
    pub segments: usize,
}

/// How the octets of a text are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// GSM 03.38 septets, one per octet or packed; data_coding 0.
    Gsm { packed: bool },
    /// ASCII octets; data_coding 1.
    Ia5,
    /// ISO-8859-1 octets; data_coding 3.
    Latin1,
    /// UTF-16BE; data_coding 8.
    Ucs2,
}

impl Coding {
    /// GSM-alphabet texts go in `default_data_coding` when that can carry
    /// them; everything else is UCS-2.
    fn choose(text: &str, cfg: &SmppConfig) -> Coding {
        if !gsm7::is_encodable(text) {
            return Coding::Ucs2;
        }
        match cfg.default_data_coding {
            0 => Coding::Gsm { packed: cfg.gsm_packed },
            1 if text.is_ascii() => Coding::Ia5,
            3 if latin1::encode(text).is_some() => Coding::Latin1,
            _ => Coding::Ucs2,
        }
    }

    fn data_coding(self) -> DataCoding {
        match self {
            Coding::Gsm { .. } => DataCoding::SMSC_DEFAULT,
            Coding::Ia5 => DataCoding::IA5,
            Coding::Latin1 => DataCoding::LATIN1,
            Coding::Ucs2 => DataCoding::UCS2,
        }
    }

    /// The octets of `text`, after a header of `udh_len` octets (0: none).
    fn encode(self, text: &str, udh_len: usize) -> Vec<u8> {
        match self {
            Coding::Gsm { packed } => {
                let septets = gsm7::encode(text).unwrap_or_default();
                if packed { gsm7::pack(&septets, gsm7::fill_bits_after_udh(udh_len)) } else { septets }
            }
            Coding::Ia5 | Coding::Latin1 => latin1::encode(text).unwrap_or_default(),
            Coding::Ucs2 => ucs2::encode(text),
        }
    }
}

/// The submit_sm PDUs for `sms`, in order, and the segments they make.
/// `next_reference` is called once for a message of more than one part.
pub fn build(
    sms: &OutboundSms,
    cfg: &SmppConfig,
    now: chrono::DateTime<chrono::Utc>,
    next_reference: impl FnOnce() -> u16,
) -> Result<Submission, BuildError> {
    let coding = Coding::choose(&sms.text, cfg);
    let limits = match cfg.long_messages {
        LongMessages::Udh16 => PartLimits::CONCAT_16BIT_REF,
        // SAR and payload parts carry no header of ours, but the SMSC adds
        // one for the handset, so they are cut as 8-bit-reference parts.
        LongMessages::Udh8 | LongMessages::Sar | LongMessages::Payload => PartLimits::CONCAT_8BIT_REF,
    };
    let limits = if coding == Coding::Ucs2 { as_ucs2(limits) } else { limits };
    let split = split_with(&sms.text, limits);
    let total = split.segments.len();
    let template = SubmitSm {
        service_type: COctetString::try_from(cfg.service_type.as_str())
            .map_err(|_| BuildError::Field("service_type"))?,
        source: source_address(sms.from.as_deref().or(cfg.default_sender.as_deref()), cfg)?,
        destination: destination_address(&sms.to, cfg)?,
        validity_period: match cfg.validity_secs {
            Some(secs) => validity_period(secs, now)
                .and_then(|period| COctetString::try_from(period.as_str()).ok())
                .ok_or(BuildError::Field("validity_period"))?,
            None => COctetString::empty(),
        },
        registered_delivery: RegisteredDelivery(cfg.registered_delivery),
        data_coding: coding.data_coding(),
        ..SubmitSm::default()
    };
    if total == 1 {
        let pdu = with_user_data(template, coding.encode(&sms.text, 0))?;
        return Ok(Submission { pdus: vec![pdu], segments: 1 });
    }
    if total > MAX_PARTS {
        return Err(BuildError::TooManyParts(total));
    }
    let total_u8 = u8::try_from(total).map_err(|_| BuildError::TooManyParts(total))?;
    if cfg.long_messages == LongMessages::Payload {
        let octets = coding.encode(&sms.text, 0);
        let len = octets.len();
        let tlv = Tlv::message_payload(octets).map_err(|_| BuildError::PayloadTooLong(len))?;
        let pdu = SubmitSm { tlvs: Tlvs::new().with(tlv), ..template };
        return Ok(Submission { pdus: vec![pdu], segments: total });
    }
    let reference = next_reference();
    let mut parts = Vec::with_capacity(total);
    for (i, segment) in split.segments.iter().enumerate() {
        let seq = u8::try_from(i + 1).map_err(|_| BuildError::TooManyParts(total))?;
        let part = match cfg.long_messages {
            LongMessages::Udh8 | LongMessages::Udh16 => {
                let udh = if cfg.long_messages == LongMessages::Udh8 {
                    Udh::concat8(reference.to_be_bytes()[1], total_u8, seq)
                } else {
                    Udh::concat16(reference, total_u8, seq)
                };
                let mut user_data = udh.encode();
                user_data.extend(coding.encode(&segment.text, user_data.len()));
                let part = SubmitSm { esm_class: EsmClass::DEFAULT.with_udhi(), ..template.clone() };
                with_user_data(part, user_data)?
            }
            LongMessages::Sar | LongMessages::Payload => {
                let tlvs = Tlvs::new()
                    .with(Tlv::sar_msg_ref_num(reference))
                    .with(Tlv::sar_total_segments(total_u8))
                    .with(Tlv::sar_segment_seqnum(seq));
                with_user_data(SubmitSm { tlvs, ..template.clone() }, coding.encode(&segment.text, 0))?
            }
        };
        parts.push(part);
    }
    Ok(Submission { pdus: parts, segments: total })
}

/// Limits for a GSM-alphabet text that goes as UCS-2 (its coding cannot
/// carry it): the septet limits take the UCS-2 values. Every GSM character
/// is one UTF-16 unit and one or two septets, so no part is too long.
fn as_ucs2(limits: PartLimits) -> PartLimits {
    PartLimits { single_septets: limits.single_ucs2_units, part_septets: limits.part_ucs2_units, ..limits }
}

fn with_user_data(submit: SubmitSm, octets: Vec<u8>) -> Result<SubmitSm, BuildError> {
    let len = octets.len();
    match ShortMessage::new(octets) {
        Ok(short_message) => Ok(SubmitSm { short_message, ..submit }),
        // Cannot happen with 140-octet parts; kept as an error, not a panic.
        Err(_) => Err(BuildError::PayloadTooLong(len)),
    }
}

/// `destination_addr`: the E.164 number without `+`, with `dest_ton/npi`.
fn destination_address(to: &str, cfg: &SmppConfig) -> Result<Address<21>, BuildError> {
    let digits = to.strip_prefix('+').unwrap_or(to);
    Address::new(Ton::from(cfg.dest_ton), Npi::from(cfg.dest_npi), digits)
        .map_err(|_| BuildError::Destination(to.to_owned()))
}

/// `source_addr` with its TON/NPI: as configured, or chosen from the sender
/// (alphanumeric 5/0, `+digits` 1/1, up to 8 digits 3/0, other digits 0/1).
/// No sender: empty, TON/NPI 0/0 (the SMSC's default).
fn source_address(sender: Option<&str>, cfg: &SmppConfig) -> Result<Address<21>, BuildError> {
    let Some(sender) = sender.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Address::default());
    };
    let digits = sender.strip_prefix('+').unwrap_or(sender);
    let numeric = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    let (ton, npi, addr) = if !numeric {
        (Ton::Alphanumeric, Npi::Unknown, sender)
    } else if sender.starts_with('+') {
        (Ton::International, Npi::Isdn, digits)
    } else if digits.len() <= SHORT_CODE_MAX_DIGITS {
        (Ton::NetworkSpecific, Npi::Unknown, digits)
    } else {
        (Ton::Unknown, Npi::Isdn, digits)
    };
    let ton = cfg.source_ton.map_or(ton, Ton::from);
    let npi = cfg.source_npi.map_or(npi, Npi::from);
    Address::new(ton, npi, addr).map_err(|_| BuildError::Source(sender.to_owned()))
}

/// The source address of query_sm, which must match the submission's: the
/// message's sender, or the default one.
pub fn query_source(from: Option<&str>, cfg: &SmppConfig) -> Address<21> {
    source_address(from.or(cfg.default_sender.as_deref()), cfg).unwrap_or_default()
}

/// `validity_period` for `secs` from `now`: relative (`YYMMDDhhmmss000R`)
/// below [`RELATIVE_VALIDITY_MAX_DAYS`], else absolute in UTC (`…000+`).
/// `None` when that time cannot be represented (the configuration bounds
/// `validity_secs` well below that).
pub fn validity_period(secs: u64, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let days = secs / 86_400;
    if days < RELATIVE_VALIDITY_MAX_DAYS {
        let (h, m, s) = ((secs % 86_400) / 3_600, (secs % 3_600) / 60, secs % 60);
        return Some(format!("0000{days:02}{h:02}{m:02}{s:02}000R"));
    }
    let delta = i64::try_from(secs).ok().and_then(chrono::TimeDelta::try_seconds)?;
    let at = now.checked_add_signed(delta)?;
    Some(format!("{}000+", at.format("%y%m%d%H%M%S")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(text: &str, from: Option<&str>) -> OutboundSms {
        OutboundSms {
            message_id: "m1".into(),
            to: "+48600100200".into(),
            from: from.map(str::to_owned),
            text: text.into(),
        }
    }

    fn cfg() -> SmppConfig {
        SmppConfig { system_id: "kurier".into(), ..SmppConfig::default() }
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn build_one(text: &str, cfg: &SmppConfig) -> Vec<SubmitSm> {
        build(&sms(text, None), cfg, now(), || 0x1234).unwrap().pdus
    }

    fn segments(text: &str, cfg: &SmppConfig) -> usize {
        build(&sms(text, None), cfg, now(), || 0x1234).unwrap().segments
    }

    #[test]
    fn a_short_gsm_text_goes_as_unpacked_septets_in_the_default_coding() {
        let parts = build_one("Hello @ home {x}", &cfg());
        assert_eq!(parts.len(), 1);
        let p = &parts[0];
        assert_eq!(p.data_coding, DataCoding::SMSC_DEFAULT);
        assert_eq!(p.short_message.as_bytes(), gsm7::encode("Hello @ home {x}").unwrap());
        assert_eq!(p.destination, Address::international("48600100200").unwrap());
        assert_eq!(p.registered_delivery, RegisteredDelivery::SMSC_RECEIPT);
        assert_eq!(p.esm_class, EsmClass::DEFAULT);
        assert!(p.tlvs.is_empty());
    }

    #[test]
    fn packed_gsm_after_a_header_starts_on_a_septet_boundary() {
        let text = "x".repeat(200);
        let parts = build_one(&text, &SmppConfig { gsm_packed: true, ..cfg() });
        assert_eq!(parts.len(), 2);
        let ud = parts[0].short_message.as_bytes();
        let (udh, rest) = Udh::parse(ud).unwrap();
        assert_eq!(udh.concatenation().unwrap().total, 2);
        let septets = gsm7::unpack(rest, 153, gsm7::fill_bits_after_udh(6));
        assert_eq!(gsm7::decode(&septets), "x".repeat(153));
        assert_eq!(ud.len(), 6 + (1 + 153 * 7usize).div_ceil(8));
    }

    #[test]
    fn ia5_and_latin1_carry_what_they_can_and_the_rest_goes_as_ucs2() {
        let ia5 = SmppConfig { default_data_coding: 1, ..cfg() };
        assert_eq!(build_one("plain", &ia5)[0].data_coding, DataCoding::IA5);
        assert_eq!(build_one("plain", &ia5)[0].short_message.as_bytes(), b"plain");
        assert_eq!(build_one("5 £", &ia5)[0].data_coding, DataCoding::UCS2);
        let l1 = SmppConfig { default_data_coding: 3, ..cfg() };
        let p = &build_one("5 £ é", &l1)[0];
        assert_eq!((p.data_coding, p.short_message.as_bytes()), (DataCoding::LATIN1, &b"5 \xa3 \xe9"[..]));
        assert_eq!(build_one("5 €", &l1)[0].data_coding, DataCoding::UCS2);
        // A GSM text forced into UCS-2 is cut at UCS-2 limits.
        let long = "£".repeat(100);
        let parts = build_one(&long, &ia5);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.short_message.len() <= 140));
    }

    #[test]
    fn a_long_ucs2_text_is_cut_into_udh8_parts_with_one_reference() {
        let text = "Zażółć gęślą jaźń 😀 ".repeat(10);
        let parts = build_one(&text, &cfg());
        assert_eq!(parts.len(), 4);
        let mut back = String::new();
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(p.data_coding, DataCoding::UCS2);
            assert!(p.esm_class.has_udhi());
            assert!(p.short_message.len() <= 140);
            let (udh, rest) = Udh::parse(p.short_message.as_bytes()).unwrap();
            let c = udh.concatenation().unwrap();
            assert_eq!((c.reference, c.total, usize::from(c.seq)), (0x34, 4, i + 1));
            back.push_str(&ucs2::decode(rest));
        }
        assert_eq!(back, text);
    }

    #[test]
    fn udh16_sar_and_payload_tie_parts_together_their_own_way() {
        let text = "y".repeat(400);
        let parts = build_one(&text, &SmppConfig { long_messages: LongMessages::Udh16, ..cfg() });
        assert_eq!(parts.len(), 3);
        let (udh, _) = Udh::parse(parts[2].short_message.as_bytes()).unwrap();
        assert_eq!(udh.encoded_len(), 7);
        assert_eq!(udh.concatenation().unwrap().reference, 0x1234);

        let parts = build_one(&text, &SmppConfig { long_messages: LongMessages::Sar, ..cfg() });
        assert_eq!(parts.len(), 3);
        let sar = parts[1].tlvs.sar().unwrap();
        assert_eq!((sar.msg_ref_num, sar.total_segments, sar.segment_seqnum), (0x1234, 3, 2));
        assert!(!parts[1].esm_class.has_udhi());
        assert_eq!(parts[1].short_message.len(), 153);

        let payload = SmppConfig { long_messages: LongMessages::Payload, ..cfg() };
        let parts = build_one(&text, &payload);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].short_message.is_empty());
        assert_eq!(parts[0].tlvs.message_payload().unwrap().len(), 400);
        assert_eq!(segments(&text, &payload), 3, "one PDU, three segments on the air");
    }

    #[test]
    fn the_segments_are_those_the_connector_cuts_not_the_standard_count() {
        // (text, config, segments): 160/153 septets and 70/67 UCS-2 units
        // are the count a message is first charged for; these differ.
        let plain = cfg();
        let udh16 = SmppConfig { long_messages: LongMessages::Udh16, ..cfg() };
        let ia5 = SmppConfig { default_data_coding: 1, ..cfg() };
        let latin1 = SmppConfig { default_data_coding: 3, ..cfg() };
        let payload_ia5 = SmppConfig { long_messages: LongMessages::Payload, ..ia5.clone() };
        let e100 = format!("{}é", "x".repeat(99));
        let cases: Vec<(String, &SmppConfig, usize)> = vec![
            ("x".repeat(306), &plain, 2),
            ("x".repeat(306), &udh16, 3),
            ("x".repeat(304), &udh16, 2),
            ("ż".repeat(134), &udh16, 3),
            (e100.clone(), &plain, 1),
            (e100.clone(), &ia5, 2),
            (e100.clone(), &payload_ia5, 2),
            ("Δ".repeat(70), &latin1, 1),
            ("Δ".repeat(71), &latin1, 2),
            ("é".repeat(160), &latin1, 1),
        ];
        for (text, c, want) in cases {
            assert_eq!(
                segments(&text, c),
                want,
                "{} chars of {:?}",
                text.chars().count(),
                text.chars().last()
            );
        }
    }

    #[test]
    fn the_source_ton_and_npi_follow_the_sender_unless_configured() {
        let c = cfg();
        let cases: &[(&str, Ton, Npi, &str)] = &[
            ("Kurier", Ton::Alphanumeric, Npi::Unknown, "Kurier"),
            ("+48600100200", Ton::International, Npi::Isdn, "48600100200"),
            ("7100", Ton::NetworkSpecific, Npi::Unknown, "7100"),
            ("600100200", Ton::Unknown, Npi::Isdn, "600100200"),
        ];
        for &(from, ton, npi, addr) in cases {
            let p = &build(&sms("hi", Some(from)), &c, now(), || 0).unwrap().pdus[0];
            assert_eq!(p.source, Address::new(ton, npi, addr).unwrap(), "{from}");
        }
        let fixed = SmppConfig { source_ton: Some(2), source_npi: Some(8), ..cfg() };
        let p = &build(&sms("hi", Some("+48600")), &fixed, now(), || 0).unwrap().pdus[0];
        assert_eq!((p.source.ton, p.source.npi), (Ton::National, Npi::National));
        let default_sender = SmppConfig { default_sender: Some("Shop".into()), ..cfg() };
        assert_eq!(build_one("hi", &default_sender)[0].source, Address::alphanumeric("Shop").unwrap());
        assert_eq!(build_one("hi", &cfg())[0].source, Address::default());
    }

    #[test]
    fn messages_that_cannot_go_are_permanent_errors() {
        let too_long_to = OutboundSms { to: format!("+{}", "1".repeat(21)), ..sms("hi", None) };
        assert!(matches!(build(&too_long_to, &cfg(), now(), || 0), Err(BuildError::Destination(_))));
        let huge = "z".repeat(153 * 256);
        assert_eq!(build(&sms(&huge, None), &cfg(), now(), || 0), Err(BuildError::TooManyParts(256)));
    }

    #[test]
    fn validity_is_relative_for_short_periods_and_absolute_for_long_ones() {
        assert_eq!(validity_period(3_600, now()).unwrap(), "000000010000000R");
        assert_eq!(validity_period(2 * 86_400 + 3_723, now()).unwrap(), "000002010203000R");
        assert_eq!(validity_period(100 * 86_400, now()).unwrap(), "240222221320000+");
        let p = &build_one("hi", &SmppConfig { validity_secs: Some(90), ..cfg() })[0];
        assert_eq!(p.validity_period, "000000000130000R");
    }

    #[test]
    fn a_validity_beyond_any_date_fails_the_message_instead_of_panicking() {
        for secs in [u64::MAX, i64::MAX as u64, i64::MAX as u64 / 1000 + 1] {
            assert_eq!(validity_period(secs, now()), None, "{secs}");
            let c = SmppConfig { validity_secs: Some(secs), ..cfg() };
            assert_eq!(build(&sms("hi", None), &c, now(), || 0), Err(BuildError::Field("validity_period")));
        }
    }
}
