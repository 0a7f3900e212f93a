//! What a deliver_sm (or data_sm) from the SMSC means: a delivery receipt
//! (its id normalised per `receipt_id_format`, its `stat` mapped to a
//! message status) or a message from a phone (addresses, text decoded per
//! data_coding, concatenation from the UDH or the SAR TLVs).
//!
//! Pure and total: any PDU gives an answer, never a panic. It does not answer
//! the SMSC or store anything; the session reports what this returns and
//! acknowledges once it is stored.

use smpp::{Address, DataSm, DeliverSm, DeliveryReceipt, MessageState, ReceiptStat, ShortMessage, Ton};
use sms_text::{Udh, gsm7, latin1, ucs2};

use super::ids;
use crate::config::SmppConfig;
use crate::connectors::{ConnectorEvent, InboundSms};
use crate::domain::MessageStatus;

/// What one deliver_sm carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A delivery receipt: a `DeliveryReport`.
    Receipt(ConnectorEvent),
    /// A message (or part) from a phone: an `Inbound`.
    Message(ConnectorEvent),
    /// Nothing Kurier can use (a receipt without any message id); it is
    /// acknowledged so that the SMSC does not send it forever.
    Unusable(String),
}

/// Reads a deliver_sm.
pub fn classify(deliver: &DeliverSm, cfg: &SmppConfig) -> Incoming {
    match deliver.delivery_receipt() {
        Some(receipt) => {
            // An id in the text is in the receipt's radix; one only in the
            // receipted_message_id TLV is taken to be in submit_sm_resp's.
            let text = String::from_utf8_lossy(deliver.payload());
            let text_id =
                DeliveryReceipt::parse(&text).ok().and_then(|r| r.id).filter(|id| !id.trim().is_empty());
            let smsc_id = match (text_id, deliver.tlvs.receipted_message_id()) {
                (Some(id), _) => ids::from_receipt(&id, cfg.receipt_id_format),
                (None, Some(id)) if !id.trim().is_empty() => ids::from_submit(id, cfg.receipt_id_format),
                _ => return Incoming::Unusable("delivery receipt without a message id".into()),
            };
            let stat = receipt.stat;
            let detail = format!(
                "stat:{} err:{}",
                stat.as_ref().map_or("?", ReceiptStat::as_str),
                receipt.err.as_deref().unwrap_or("?")
            );
            // As in a message's text: a NUL is padding, never part of an id
            // or an error code.
            let smsc_id = without_nul(smsc_id);
            if smsc_id.len() > ids::MAX_SMSC_ID_LEN {
                // No submission has such an id, and storing it would fail.
                return Incoming::Unusable(format!(
                    "delivery receipt with a message id of {} octets (at most {})",
                    smsc_id.len(),
                    ids::MAX_SMSC_ID_LEN
                ));
            }
            Incoming::Receipt(ConnectorEvent::DeliveryReport {
                smsc_id,
                status: stat.as_ref().and_then(status_of_stat),
                detail: without_nul(detail),
            })
        }
        None => Incoming::Message(ConnectorEvent::Inbound(message(deliver, cfg))),
    }
}

/// Reads a data_sm as the deliver_sm it stands for, with its addresses as
/// they came: a data_sm's hold up to 64 octets, a deliver_sm's 20.
pub fn classify_data_sm(data: DataSm, cfg: &SmppConfig) -> Incoming {
    let (from, to) = (show_address(&data.source), show_address(&data.destination));
    match classify(&deliver_from_data_sm(data), cfg) {
        Incoming::Message(ConnectorEvent::Inbound(sms)) => {
            Incoming::Message(ConnectorEvent::Inbound(InboundSms { from, to, ..sms }))
        }
        other => other,
    }
}

/// A data_sm's body as a deliver_sm's, without the addresses (see
/// [`classify_data_sm`]).
fn deliver_from_data_sm(data: DataSm) -> DeliverSm {
    DeliverSm {
        service_type: data.service_type,
        esm_class: data.esm_class,
        registered_delivery: data.registered_delivery,
        data_coding: data.data_coding,
        short_message: ShortMessage::empty(),
        tlvs: data.tlvs,
        ..DeliverSm::default()
    }
}

/// The final status a receipt's `stat` means; `None` for intermediate ones.
pub fn status_of_stat(stat: &ReceiptStat) -> Option<MessageStatus> {
    match stat {
        ReceiptStat::Delivered => Some(MessageStatus::Delivered),
        ReceiptStat::Undeliverable | ReceiptStat::Deleted => Some(MessageStatus::Undelivered),
        ReceiptStat::Expired => Some(MessageStatus::Expired),
        ReceiptStat::Rejected => Some(MessageStatus::Rejected),
        ReceiptStat::Accepted | ReceiptStat::Enroute | ReceiptStat::Unknown | ReceiptStat::Other(_) => None,
    }
}

/// The final status a query_sm_resp's `message_state` means.
pub fn status_of_state(state: MessageState) -> Option<MessageStatus> {
    ReceiptStat::from_message_state(state).as_ref().and_then(status_of_stat)
}

fn message(deliver: &DeliverSm, cfg: &SmppConfig) -> InboundSms {
    let user_data = deliver.payload();
    let mut concat = deliver.tlvs.sar().and_then(|sar| {
        // As a UDH's: a part numbered past the total is no part of it.
        (sar.total_segments > 0 && (1..=sar.total_segments).contains(&sar.segment_seqnum)).then_some((
            sar.msg_ref_num,
            sar.total_segments,
            sar.segment_seqnum,
        ))
    });
    let mut text_octets = user_data;
    let mut udh_len = 0;
    if deliver.esm_class.has_udhi()
        && let Ok((udh, rest)) = Udh::parse(user_data)
    {
        udh_len = user_data.len() - rest.len();
        text_octets = rest;
        if let Some(c) = udh.concatenation() {
            concat = Some((c.reference, c.total, c.seq));
        }
    }
    InboundSms {
        from: show_address(&deliver.source),
        to: show_address(&deliver.destination),
        text: decode_text(deliver.data_coding.0, text_octets, udh_len, cfg.gsm_packed),
        concat,
        smsc_id: None,
    }
}

/// `+digits` for an international number, else the address as received.
fn show_address<const N: usize>(a: &Address<N>) -> String {
    let addr = a.addr.to_str_lossy();
    if a.ton == Ton::International && !addr.is_empty() && !addr.starts_with('+') {
        format!("+{addr}")
    } else {
        addr.into_owned()
    }
}

/// Decodes user data that follows a header of `udh_len` octets (0: none).
/// Unknown codings are read as UTF-8 when valid, else as Latin-1. NUL
/// characters are dropped: never text a phone sent (some SMSCs pad with
/// them), and PostgreSQL refuses them in text.
pub fn decode_text(data_coding: u8, octets: &[u8], udh_len: usize, gsm_packed: bool) -> String {
    without_nul(decode_alphabet(data_coding, octets, udh_len, gsm_packed))
}

fn without_nul(s: String) -> String {
    if s.contains('\0') { s.replace('\0', "") } else { s }
}

fn decode_alphabet(data_coding: u8, octets: &[u8], udh_len: usize, gsm_packed: bool) -> String {
    enum Alphabet {
        Gsm,
        Latin1,
        Ucs2,
        Unknown,
    }
    let alphabet = match data_coding {
        0x00 => Alphabet::Gsm,
        0x01 | 0x03 => Alphabet::Latin1, // IA5 is ASCII, a subset
        0x08 => Alphabet::Ucs2,
        // GSM 03.38 "data coding/message class": bit 2 set is 8-bit data.
        0xF0..=0xFF if data_coding & 0x04 == 0 => Alphabet::Gsm,
        // GSM 03.38 general data coding groups: bits 3-2 name the alphabet.
        0x10..=0x3F => match (data_coding >> 2) & 0x03 {
            0 => Alphabet::Gsm,
            2 => Alphabet::Ucs2,
            _ => Alphabet::Unknown,
        },
        _ => Alphabet::Unknown,
    };
    match alphabet {
        Alphabet::Gsm if gsm_packed => {
            let fill = gsm7::fill_bits_after_udh(udh_len);
            let bits = (octets.len() * 8).saturating_sub(usize::from(fill));
            let mut septets = gsm7::unpack(octets, bits / 7, fill);
            // Seven spare bits read as one more septet: zeros ('@') or the
            // CR padding 23.038 asks senders to put there. (A text that
            // really ends in '@' or CR exactly on an octet boundary is
            // indistinguishable; the padding reading is the common one.)
            if bits % 7 == 0 && bits > 0 && matches!(septets.last(), Some(0x00 | 0x0D)) {
                septets.pop();
            }
            gsm7::decode(&septets)
        }
        Alphabet::Gsm => gsm7::decode(octets),
        Alphabet::Latin1 => latin1::decode(octets),
        Alphabet::Ucs2 => ucs2::decode(octets),
        Alphabet::Unknown => match std::str::from_utf8(octets) {
            Ok(text) => text.to_owned(),
            Err(_) => latin1::decode(octets),
        },
    }
}

#[cfg(test)]
mod tests {
    use smpp::{DataCoding, EsmClass, Npi, Tlv, Tlvs};

    use super::*;
    use crate::config::ReceiptIdFormat;

    fn cfg() -> SmppConfig {
        SmppConfig::default()
    }

    fn receipt(text: &str, tlvs: Tlvs) -> DeliverSm {
        DeliverSm {
            esm_class: EsmClass::DELIVERY_RECEIPT,
            short_message: ShortMessage::try_from(text).unwrap(),
            tlvs,
            ..DeliverSm::default()
        }
    }

    fn report(smsc_id: &str, status: Option<MessageStatus>, detail: &str) -> Incoming {
        Incoming::Receipt(ConnectorEvent::DeliveryReport {
            smsc_id: smsc_id.into(),
            status,
            detail: detail.into(),
        })
    }

    #[test]
    fn each_receipt_stat_maps_to_its_status() {
        let cases = [
            ("DELIVRD", Some(MessageStatus::Delivered)),
            ("UNDELIV", Some(MessageStatus::Undelivered)),
            ("EXPIRED", Some(MessageStatus::Expired)),
            ("REJECTD", Some(MessageStatus::Rejected)),
            ("DELETED", Some(MessageStatus::Undelivered)),
            ("ACCEPTD", None),
            ("ENROUTE", None),
            ("UNKNOWN", None),
            ("WHATEVER", None),
        ];
        for (stat, want) in cases {
            let d = receipt(
                &format!(
                    "id:7 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 stat:{stat} err:000 text:x"
                ),
                Tlvs::new(),
            );
            assert_eq!(classify(&d, &cfg()), report("7", want, &format!("stat:{stat} err:000")), "{stat}");
        }
    }

    #[test]
    fn a_decimal_receipt_id_is_reported_in_the_hex_form_of_the_submit_answer() {
        let c = SmppConfig { receipt_id_format: ReceiptIdFormat::HexToDecimal, ..cfg() };
        let d = receipt("id:0000006683 stat:DELIVRD err:000", Tlvs::new());
        assert_eq!(classify(&d, &c), report("1a1b", Some(MessageStatus::Delivered), "stat:DELIVRD err:000"));
        // An id only in the receipted_message_id TLV is already in the submit form.
        let d = receipt(
            "",
            Tlvs::new()
                .with(Tlv::receipted_message_id("1A1B").unwrap())
                .with(Tlv::message_state(MessageState::Expired)),
        );
        assert_eq!(classify(&d, &c), report("1a1b", Some(MessageStatus::Expired), "stat:EXPIRED err:?"));
    }

    #[test]
    fn nul_padding_is_dropped_from_receipts_and_messages() {
        let d = receipt("id:7\0 stat:DELIVRD\0 err:000\0", Tlvs::new());
        assert_eq!(classify(&d, &cfg()), report("7", Some(MessageStatus::Delivered), "stat:DELIVRD err:000"));
        for (dc, octets) in [
            (DataCoding::IA5, b"plain\0\0".to_vec()),
            (DataCoding::LATIN1, b"pl\0ain".to_vec()),
            (DataCoding::UCS2, [ucs2::encode("plain"), vec![0, 0]].concat()),
        ] {
            let sms = inbound(&mo(EsmClass::DEFAULT, dc, octets, Tlvs::new()), &cfg());
            assert_eq!(sms.text, "plain", "{dc:?}");
        }
    }

    #[test]
    fn a_receipt_without_an_id_is_unusable() {
        assert!(matches!(classify(&receipt("stat:DELIVRD", Tlvs::new()), &cfg()), Incoming::Unusable(_)));
    }

    #[test]
    fn a_receipt_whose_id_is_longer_than_any_smsc_id_is_unusable() {
        let long = "7".repeat(100);
        let in_text = receipt(&format!("id:{long} stat:DELIVRD err:000"), Tlvs::new());
        let in_payload = DeliverSm {
            short_message: ShortMessage::empty(),
            tlvs: Tlvs::new()
                .with(Tlv::message_payload(format!("id:{} stat:DELIVRD", "x".repeat(5000))).unwrap()),
            ..in_text.clone()
        };
        for d in [in_text, in_payload] {
            let got = classify(&d, &cfg());
            assert!(matches!(&got, Incoming::Unusable(why) if why.contains("at most 64")), "{got:?}");
        }
        // 64 octets is an id an SMSC may give.
        let d = receipt(&format!("id:{} stat:DELIVRD err:000", "7".repeat(64)), Tlvs::new());
        assert!(matches!(classify(&d, &cfg()), Incoming::Receipt(_)));
    }

    fn mo(esm: EsmClass, dc: DataCoding, octets: Vec<u8>, tlvs: Tlvs) -> DeliverSm {
        DeliverSm {
            source: Address::international("48600100200").unwrap(),
            destination: Address::new(Ton::NetworkSpecific, Npi::Unknown, "7100").unwrap(),
            esm_class: esm,
            data_coding: dc,
            short_message: ShortMessage::new(octets).unwrap(),
            tlvs,
            ..DeliverSm::default()
        }
    }

    fn inbound(d: &DeliverSm, c: &SmppConfig) -> InboundSms {
        match classify(d, c) {
            Incoming::Message(ConnectorEvent::Inbound(sms)) => sms,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_message_from_a_phone_is_decoded_per_data_coding() {
        let cases: Vec<(DataCoding, Vec<u8>, &str)> = vec![
            (DataCoding::SMSC_DEFAULT, gsm7::encode("Hi @ £5 {ok}").unwrap(), "Hi @ £5 {ok}"),
            (DataCoding::IA5, b"plain".to_vec(), "plain"),
            (DataCoding::LATIN1, b"caf\xe9".to_vec(), "café"),
            (DataCoding::UCS2, ucs2::encode("Zażółć 😀"), "Zażółć 😀"),
            (DataCoding(0xF0), gsm7::encode("flash").unwrap(), "flash"),
            (DataCoding::BINARY, vec![0xff, 0x00, 0x41], "\u{ff}A"),
        ];
        for (dc, octets, want) in cases {
            let sms = inbound(&mo(EsmClass::DEFAULT, dc, octets, Tlvs::new()), &cfg());
            assert_eq!(sms.text, want, "{dc:?}");
            assert_eq!((sms.from.as_str(), sms.to.as_str(), sms.concat), ("+48600100200", "7100", None));
        }
    }

    #[test]
    fn concatenation_comes_from_the_udh_or_the_sar_tlvs() {
        let mut ud = Udh::concat8(9, 3, 2).encode();
        ud.extend(ucs2::encode("part two"));
        let sms = inbound(&mo(EsmClass::UDHI, DataCoding::UCS2, ud, Tlvs::new()), &cfg());
        assert_eq!((sms.text.as_str(), sms.concat), ("part two", Some((9, 3, 2))));

        let sar = Tlvs::new()
            .with(Tlv::sar_msg_ref_num(300))
            .with(Tlv::sar_total_segments(2))
            .with(Tlv::sar_segment_seqnum(1));
        let sms = inbound(
            &mo(EsmClass::DEFAULT, DataCoding::SMSC_DEFAULT, gsm7::encode("one").unwrap(), sar),
            &cfg(),
        );
        assert_eq!((sms.text.as_str(), sms.concat), ("one", Some((300, 2, 1))));
        for (total, seq) in [(2, 7), (2, 0), (0, 1)] {
            let sar = Tlvs::new()
                .with(Tlv::sar_msg_ref_num(300))
                .with(Tlv::sar_total_segments(total))
                .with(Tlv::sar_segment_seqnum(seq));
            let sms = inbound(
                &mo(EsmClass::DEFAULT, DataCoding::SMSC_DEFAULT, gsm7::encode("odd").unwrap(), sar),
                &cfg(),
            );
            assert_eq!(
                (sms.text.as_str(), sms.concat),
                ("odd", None),
                "part {seq} of {total}: a message of its own"
            );
        }

        let payload = Tlvs::new().with(Tlv::message_payload(ucs2::encode(&"ż".repeat(200))).unwrap());
        let sms = inbound(&mo(EsmClass::DEFAULT, DataCoding::UCS2, Vec::new(), payload), &cfg());
        assert_eq!(sms.text, "ż".repeat(200));
    }

    #[test]
    fn packed_gsm_is_unpacked_after_the_header_and_its_fill_bits() {
        let packed = SmppConfig { gsm_packed: true, ..cfg() };
        for text in ["1234567", "12345678", "hello world", "@x", "abc@"] {
            let septets = gsm7::encode(text).unwrap();
            let sms = inbound(
                &mo(EsmClass::DEFAULT, DataCoding::SMSC_DEFAULT, gsm7::pack(&septets, 0), Tlvs::new()),
                &packed,
            );
            assert_eq!(sms.text, text);
            let mut ud = Udh::concat8(1, 2, 1).encode();
            ud.extend(gsm7::pack(&septets, gsm7::fill_bits_after_udh(ud.len())));
            let sms = inbound(&mo(EsmClass::UDHI, DataCoding::SMSC_DEFAULT, ud, Tlvs::new()), &packed);
            assert_eq!(sms.text, text, "after a header");
        }
    }

    #[test]
    fn a_broken_header_or_strange_coding_never_panics() {
        for octets in [vec![], vec![0xff], vec![5, 0, 3, 1], vec![0x00, 0x00, 0x00]] {
            for dc in [0u8, 1, 3, 4, 8, 0x18, 0x24, 0xF4, 0xFF] {
                for esm in [EsmClass::DEFAULT, EsmClass::UDHI] {
                    for c in [cfg(), SmppConfig { gsm_packed: true, ..cfg() }] {
                        let _ = classify(&mo(esm, DataCoding(dc), octets.clone(), Tlvs::new()), &c);
                    }
                }
            }
        }
    }

    #[test]
    fn a_receipt_in_a_data_sm_reads_like_one_in_a_deliver_sm() {
        let data = DataSm {
            esm_class: EsmClass::DELIVERY_RECEIPT,
            tlvs: Tlvs::new()
                .with(Tlv::receipted_message_id("abc").unwrap())
                .with(Tlv::message_state(MessageState::Delivered)),
            ..DataSm::default()
        };
        assert_eq!(
            classify_data_sm(data, &cfg()),
            report("abc", Some(MessageStatus::Delivered), "stat:DELIVRD err:?")
        );
    }

    #[test]
    fn a_data_sm_from_a_long_address_keeps_all_of_it() {
        let data = |source: Address<65>| DataSm {
            source,
            destination: Address::new(Ton::NetworkSpecific, Npi::Unknown, "7100").unwrap(),
            data_coding: DataCoding::IA5,
            tlvs: Tlvs::new().with(Tlv::message_payload(&b"hello"[..]).unwrap()),
            ..DataSm::default()
        };
        let digits = "480123456789012345678901";
        let sms = match classify_data_sm(data(Address::international(digits).unwrap()), &cfg()) {
            Incoming::Message(ConnectorEvent::Inbound(sms)) => sms,
            other => panic!("{other:?}"),
        };
        assert_eq!((sms.from, sms.to.as_str(), sms.text.as_str()), (format!("+{digits}"), "7100", "hello"));
        // Octets that are not UTF-8 still name a sender (22 octets as text).
        let odd = Address {
            ton: Ton::Alphanumeric,
            npi: Npi::Unknown,
            addr: smpp::COctetString::new(&b"Shop\xe9\xe9\xe9\xe9\xe9\xe9"[..]).unwrap(),
        };
        let Incoming::Message(ConnectorEvent::Inbound(sms)) = classify_data_sm(data(odd), &cfg()) else {
            panic!()
        };
        assert_eq!(sms.from, format!("Shop{}", "\u{fffd}".repeat(6)));
    }
}
