//! Property tests: decoding never panics on any input, whatever decodes
//! re-encodes to something that decodes the same, valid values of every
//! field type are accepted and survive a round trip, and receipt text
//! survives `to_text` → `parse`.

use bytes::Bytes;
use proptest::prelude::*;
use smpp::{
    Address, COctetString, CommandId, CommandStatus, DataCoding, DeliveryReceipt, EsmClass, Packet, Pdu,
    ReceiptStat, RegisteredDelivery, ShortMessage, SubmitSm, Tlv, TlvTag, Tlvs,
};

fn frame(command_id: u32, sequence_number: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&sequence_number.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A known command id most of the time, any `u32` sometimes.
fn command_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => proptest::sample::select(CommandId::ALL.to_vec()).prop_map(CommandId::as_u32),
        1 => any::<u32>(),
    ]
}

/// Bodies that look like SMPP: short printable runs, NULs and small numbers.
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => Just(0u8),
            3 => 0u8..8,
            4 => b'0'..=b'z',
            2 => any::<u8>(),
        ],
        0..400,
    )
}

/// Whatever decodes must re-encode (unless the encoder refuses it) into
/// bytes that decode to the same packet.
fn check_idempotent(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(packet) = Packet::decode(bytes)
        && let Ok(encoded) = packet.to_bytes()
    {
        prop_assert_eq!(Packet::decode(&encoded), Ok(packet));
    }
    Ok(())
}

fn c_string<const N: usize>() -> impl Strategy<Value = COctetString<N>> {
    proptest::collection::vec(1u8..=255, 0..N)
        .prop_map(|v| COctetString::new(v).expect("no NUL and short enough"))
}

fn address<const N: usize>() -> impl Strategy<Value = Address<N>> {
    (any::<u8>(), any::<u8>(), c_string::<N>()).prop_map(|(ton, npi, addr)| Address {
        ton: ton.into(),
        npi: npi.into(),
        addr,
    })
}

fn tlvs() -> impl Strategy<Value = Tlvs> {
    // Unknown tags only (0x1400..0x14FF is vendor space), so any width is valid.
    proptest::collection::vec((0x1400u16..0x1500, proptest::collection::vec(any::<u8>(), 0..40)), 0..5)
        .prop_map(|tlvs| tlvs.into_iter().map(|(tag, value)| Tlv::new(TlvTag(tag), value).unwrap()).collect())
}

prop_compose! {
    fn submit_sm()(
        service_type in c_string::<6>(),
        source in address::<21>(),
        destination in address::<21>(),
        flags in any::<[u8; 8]>(),
        schedule_delivery_time in c_string::<17>(),
        validity_period in c_string::<17>(),
        short_message in proptest::collection::vec(any::<u8>(), 0..=254),
        tlvs in tlvs(),
    ) -> SubmitSm {
        SubmitSm {
            service_type,
            source,
            destination,
            esm_class: EsmClass(flags[0]),
            protocol_id: flags[1],
            priority_flag: flags[2],
            schedule_delivery_time,
            validity_period,
            registered_delivery: RegisteredDelivery(flags[3]),
            replace_if_present_flag: flags[4],
            data_coding: DataCoding(flags[5]),
            sm_default_msg_id: flags[6],
            short_message: ShortMessage::new(short_message).unwrap(),
            tlvs,
        }
    }
}

fn receipt_value() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[0-9A-Za-z-]{1,16}")
}

prop_compose! {
    fn receipt()(
        id in receipt_value(),
        sub in receipt_value(),
        dlvrd in receipt_value(),
        submit_date in receipt_value(),
        done_date in receipt_value(),
        stat in proptest::option::of("[A-Za-z]{1,9}"),
        err in receipt_value(),
        text in proptest::option::of("[ -~]{0,40}"),
    ) -> DeliveryReceipt {
        DeliveryReceipt {
            id, sub, dlvrd, submit_date, done_date, err, text,
            stat: stat.map(|s| ReceiptStat::parse(&s)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = smpp::frame_len(&bytes, smpp::DEFAULT_MAX_PDU_LEN);
        let _ = Packet::decode(&bytes);
        check_idempotent(&bytes)?;
    }

    #[test]
    fn decoding_a_valid_header_with_a_random_body_never_panics(
        id in command_id(),
        sequence_number in any::<u32>(),
        body in body(),
    ) {
        let bytes = frame(id, sequence_number, &body);
        prop_assert_eq!(
            smpp::frame_len(&bytes, smpp::DEFAULT_MAX_PDU_LEN),
            Ok(Some(bytes.len()))
        );
        match Packet::decode(&bytes) {
            Ok(packet) => prop_assert_eq!(packet.sequence_number, sequence_number),
            Err(err) => {
                prop_assert_eq!(err.sequence_number(), Some(sequence_number));
                if let Some(reply) = err.reply() {
                    prop_assert_eq!(reply.sequence_number, sequence_number);
                    prop_assert!(reply.to_bytes().is_ok());
                }
            }
        }
        check_idempotent(&bytes)?;
    }

    #[test]
    fn decoding_a_mutated_valid_submit_sm_never_panics(
        submit in submit_sm(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Packet::new(1, Pdu::SubmitSm(submit)).to_bytes().unwrap().to_vec();
        for (at, value) in flips {
            let i = 16 + at.index(bytes.len() - 16);
            bytes[i] = value;
        }
        bytes.truncate(16 + cut.index(bytes.len() - 15));
        let len = bytes.len() as u32;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        let _ = Packet::decode(&bytes);
        check_idempotent(&bytes)?;
    }

    #[test]
    fn any_valid_submit_sm_survives_a_round_trip(
        submit in submit_sm(),
        sequence_number in any::<u32>(),
        status in any::<u32>(),
    ) {
        let packet = Packet::new(sequence_number, Pdu::SubmitSm(submit))
            .with_status(CommandStatus(status));
        let bytes = packet.to_bytes().unwrap();
        prop_assert_eq!(Packet::decode(&bytes), Ok(packet));
    }

    #[test]
    fn a_c_string_within_its_limit_is_accepted_and_one_over_is_not(
        content in proptest::collection::vec(1u8..=255, 0..=21),
    ) {
        let fits = content.len() <= 20;
        prop_assert_eq!(COctetString::<21>::new(Bytes::from(content)).is_ok(), fits);
    }

    #[test]
    fn parsing_arbitrary_text_as_a_receipt_never_panics(text in "\\PC{0,200}") {
        let _ = DeliveryReceipt::parse(&text);
        let _ = smpp::ReceiptDate::parse(&text);
    }

    #[test]
    fn a_parsed_receipt_parses_the_same_from_its_own_text(
        text in "((id|sub|dlvrd|submit date|done_date|stat|err|text|ID|Text|delivrd)[:]?|[ \t]|[a-z0-9:]{1,3}|\u{a0}){0,30}",
    ) {
        if let Ok(receipt) = DeliveryReceipt::parse(&text) {
            prop_assert_eq!(DeliveryReceipt::parse(&receipt.to_text()), Ok(receipt));
        }
    }

    #[test]
    fn a_receipt_survives_to_text_then_parse(receipt in receipt()) {
        let any_field = receipt != DeliveryReceipt::default();
        let parsed = DeliveryReceipt::parse(&receipt.to_text());
        if any_field {
            prop_assert_eq!(parsed, Ok(receipt));
        } else {
            prop_assert!(parsed.is_err());
        }
    }
}
