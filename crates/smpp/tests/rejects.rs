//! Malformed input, as raw bytes in case tables: every case fails with a
//! typed error naming the field and the status to answer with, and keeps
//! the sequence number when the header was readable. Also: what the session
//! should send back, and packets the encoder refuses to produce.

mod common;

use bytes::{Bytes, BytesMut};
use common::{intl, text};
use smpp::{
    CommandStatus as S, DecodeErrorKind as K, Destination, EncodeErrorKind, FrameError, Packet, Pdu,
    SubmitMulti, SubmitMultiResp, SubmitSm, Tlv, TlvTag, UnsuccessSme,
};

const SEQ: u32 = 0x0102_0304;

/// A frame with a correct `command_length` around `body`.
fn frame(command_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&SEQ.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The mandatory part of a submit_sm/deliver_sm body up to (not including)
/// sm_length, with the given destination address.
fn sm_head(destination: &[u8]) -> Vec<u8> {
    let mut b = vec![0x00]; // service_type ''
    b.extend_from_slice(b"\x01\x01447700900123\0"); // source
    b.extend_from_slice(b"\x01\x01");
    b.extend_from_slice(destination);
    b.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
    b.extend_from_slice(&[0, 0]); // schedule_delivery_time '', validity_period ''
    b.extend_from_slice(&[0, 0, 0, 0]); // registered_delivery, replace, data_coding, default msg id
    b
}

fn sm(sm_length: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = sm_head(b"447700900999\0");
    b.push(sm_length);
    b.extend_from_slice(rest);
    b
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    status: S,
    field: &'static str,
    kind: K,
}

fn cases() -> Vec<Case> {
    let tlv_overrun = cat(&[&sm(0, &[]), &[0x04, 0x24, 0x00, 0xC8], b"hello"]);
    vec![
        Case {
            name: "frame shorter than the header",
            bytes: vec![0, 0, 0, 10, 0, 0, 0, 0x15, 0, 0],
            status: S::ESME_RINVCMDLEN,
            field: "command_length",
            kind: K::HeaderTooShort { len: 10 },
        },
        Case {
            name: "command_length larger than the frame",
            bytes: {
                let mut b = frame(0x15, &[]);
                b[3] = 20;
                b
            },
            status: S::ESME_RINVCMDLEN,
            field: "command_length",
            kind: K::CommandLengthMismatch { command_length: 20, frame_len: 16 },
        },
        Case {
            name: "unknown command id",
            bytes: frame(0x0000_0112, b"\x01\x02"),
            status: S::ESME_RINVCMDID,
            field: "command_id",
            kind: K::UnknownCommandId,
        },
        Case {
            name: "unknown response id",
            bytes: frame(0x8000_0112, &[]),
            status: S::ESME_RINVCMDID,
            field: "command_id",
            kind: K::UnknownCommandId,
        },
        Case {
            name: "submit_sm body cut off after esm_class",
            bytes: frame(4, &sm_head(b"447700900999\0")[..32]),
            status: S::ESME_RINVCMDLEN,
            field: "protocol_id",
            kind: K::Truncated,
        },
        Case {
            name: "empty submit_sm body",
            bytes: frame(4, &[]),
            status: S::ESME_RINVSERTYP,
            field: "service_type",
            kind: K::MissingNul,
        },
        Case {
            name: "bind system_id without its NUL at the end of the body",
            bytes: frame(2, b"kurier"),
            status: S::ESME_RINVSYSID,
            field: "system_id",
            kind: K::MissingNul,
        },
        Case {
            name: "bind password of 9 octets",
            bytes: frame(2, b"kurier\0ninechars\0\0\x34\0\0\0"),
            status: S::ESME_RINVPASWD,
            field: "password",
            kind: K::TooLong { max: 9 },
        },
        Case {
            name: "destination_addr of 21 octets",
            bytes: frame(4, &sm_head(b"123456789012345678901\0")),
            status: S::ESME_RINVDSTADR,
            field: "destination_addr",
            kind: K::TooLong { max: 21 },
        },
        Case {
            name: "service_type of 6 octets",
            bytes: frame(4, b"CMT123\0"),
            status: S::ESME_RINVSERTYP,
            field: "service_type",
            kind: K::TooLong { max: 6 },
        },
        Case {
            name: "submit_sm_resp message_id of 65 octets",
            bytes: frame(0x8000_0004, &cat(&[&[b'a'; 65], b"\0"])),
            status: S::ESME_RINVMSGID,
            field: "message_id",
            kind: K::TooLong { max: 65 },
        },
        Case {
            name: "sm_length past the end of the body",
            bytes: frame(4, &sm(20, b"only ten..")),
            status: S::ESME_RINVMSGLEN,
            field: "short_message",
            kind: K::Overrun { declared: 20, available: 10 },
        },
        Case {
            name: "sm_length of 255",
            bytes: frame(5, &sm(255, &[b'x'; 255])),
            status: S::ESME_RINVMSGLEN,
            field: "short_message",
            kind: K::OutOfRange { value: 255, max: 254 },
        },
        Case {
            name: "TLV running past the end of the PDU",
            bytes: frame(4, &tlv_overrun),
            status: S::ESME_RINVOPTPARSTREAM,
            field: "message_payload",
            kind: K::TlvOverrun { tag: TlvTag::MESSAGE_PAYLOAD, declared: 200, available: 5 },
        },
        Case {
            name: "unknown TLV running past the end of the PDU",
            bytes: frame(5, &cat(&[&sm(0, &[]), &[0x14, 0x01, 0x00, 0x09], b"abc"])),
            status: S::ESME_RINVOPTPARSTREAM,
            field: "tlv",
            kind: K::TlvOverrun { tag: TlvTag(0x1401), declared: 9, available: 3 },
        },
        Case {
            name: "three stray octets where a TLV should start",
            bytes: frame(4, &cat(&[&sm(0, &[]), &[0x02, 0x0C, 0x00]])),
            status: S::ESME_RINVOPTPARSTREAM,
            field: "tlv",
            kind: K::TlvHeaderTruncated { available: 3 },
        },
        Case {
            name: "sar_msg_ref_num one octet wide",
            bytes: frame(4, &cat(&[&sm(0, &[]), &[0x02, 0x0C, 0x00, 0x01, 0x07]])),
            status: S::ESME_RINVPARLEN,
            field: "sar_msg_ref_num",
            kind: K::TlvWrongLength { tag: TlvTag::SAR_MSG_REF_NUM, expected: 2, actual: 1 },
        },
        Case {
            name: "more TLVs than MAX_TLVS",
            bytes: frame(4, &cat(&[&sm(0, &[]), &[0x14, 0x01, 0x00, 0x00].repeat(smpp::MAX_TLVS + 1)])),
            status: S::ESME_RINVOPTPARSTREAM,
            field: "tlv",
            kind: K::TooManyTlvs { max: smpp::MAX_TLVS },
        },
        Case {
            name: "enquire_link with a body",
            bytes: frame(0x15, b"\0"),
            status: S::ESME_RINVCMDLEN,
            field: "command_length",
            kind: K::TrailingBytes { count: 1 },
        },
        Case {
            name: "garbage after a bind body",
            bytes: frame(9, b"kurier\0pw\0\0\x34\0\0\0junk"),
            status: S::ESME_RINVCMDLEN,
            field: "address_range",
            kind: K::TrailingBytes { count: 4 },
        },
        Case {
            name: "garbage after a submit_sm_resp message_id",
            bytes: frame(0x8000_0004, b"abc\0\x01\x02"),
            status: S::ESME_RINVOPTPARSTREAM,
            field: "tlv",
            kind: K::TlvHeaderTruncated { available: 2 },
        },
        Case {
            name: "submit_multi with dest_flag 3",
            bytes: frame(0x21, b"\0\x01\x01447700900123\0\x01\x03"),
            status: S::ESME_RINVDESTFLAG,
            field: "dest_flag",
            kind: K::InvalidValue { value: 3 },
        },
        Case {
            name: "submit_multi with no destinations",
            bytes: frame(0x21, b"\0\x01\x01447700900123\0\x00"),
            status: S::ESME_RINVNUMDESTS,
            field: "number_of_dests",
            kind: K::OutOfRange { value: 0, max: 254 },
        },
        Case {
            name: "submit_multi with 255 destinations",
            bytes: frame(0x21, b"\0\x01\x01447700900123\0\xff"),
            status: S::ESME_RINVNUMDESTS,
            field: "number_of_dests",
            kind: K::OutOfRange { value: 255, max: 254 },
        },
        Case {
            name: "submit_multi_resp claiming more unsuccess_smes than it holds",
            bytes: frame(0x8000_0021, b"id\0\x02\x01\x01447700900123\0\0\0\0\x0b"),
            status: S::ESME_RINVCMDLEN,
            field: "dest_addr_ton",
            kind: K::Truncated,
        },
    ]
}

#[test]
fn every_malformed_frame_fails_with_the_field_status_and_kind_in_its_case() {
    for case in cases() {
        let err = Packet::decode(&case.bytes).expect_err(case.name);
        assert_eq!(
            (err.status, err.field, &err.kind),
            (case.status, case.field, &case.kind),
            "{}: {err}",
            case.name
        );
        if case.bytes.len() >= 16 {
            assert_eq!(err.sequence_number(), Some(SEQ), "{}", case.name);
        } else {
            assert_eq!(err.header, None, "{}", case.name);
        }
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn an_unknown_command_is_answered_with_generic_nack_rinvcmdid_and_its_sequence_number() {
    let err = Packet::decode(&frame(0x0000_0112, &[])).unwrap_err();
    assert_eq!(err.command_id(), Some(0x0000_0112));
    assert_eq!(err.reply(), Some(Packet::new(SEQ, Pdu::GenericNack).with_status(S::ESME_RINVCMDID)));
}

#[test]
fn an_unknown_response_gets_no_reply_not_even_generic_nack() {
    // SMPP 5.0's broadcast_sm_resp and a vendor's response: answering a
    // response with generic_nack would make the peer answer that in turn.
    for id in [0x8000_0111, 0x8000_0112, 0x8001_0000] {
        let err = Packet::decode(&frame(id, &[])).unwrap_err();
        assert_eq!((err.reply(), err.kind), (None, K::UnknownCommandId), "{id:#x}");
    }
}

#[test]
fn a_bad_destination_in_submit_sm_is_answered_with_submit_sm_resp_rinvdstadr() {
    let err = Packet::decode(&frame(4, &sm_head(b"123456789012345678901\0"))).unwrap_err();
    let reply = err.reply().unwrap();
    assert_eq!(reply.sequence_number, SEQ);
    assert_eq!(reply.status, S::ESME_RINVDSTADR);
    assert!(matches!(reply.pdu, Pdu::SubmitSmResp(ref r) if r.message_id.is_empty()));
}

#[test]
fn a_body_shorter_than_its_mandatory_fields_is_answered_with_generic_nack_rinvcmdlen() {
    let err = Packet::decode(&frame(4, &sm_head(b"447700900999\0")[..32])).unwrap_err();
    assert_eq!(err.reply(), Some(Packet::new(SEQ, Pdu::GenericNack).with_status(S::ESME_RINVCMDLEN)));
}

#[test]
fn a_submit_sm_resp_with_smpp_5_tlvs_after_its_id_keeps_the_id() {
    // additional_status_info_text (0x001D), as SMPP 5.0 SMSCs append it.
    let packet = Packet::decode(&frame(0x8000_0004, b"abc\0\x00\x1d\x00\x03ok\0")).unwrap();
    assert!(matches!(packet.pdu, Pdu::SubmitSmResp(ref r) if r.message_id.as_bytes() == b"abc"));
}

#[test]
fn one_to_three_nul_octets_after_the_last_field_are_padding_and_read_past() {
    // Some SMSCs put a stray NUL after short_message or a response's id
    // (praekelt/python-smpp#7); the PDU itself is whole.
    for pad in [&b"\0"[..], b"\0\0", b"\0\0\0"] {
        let receipt = Packet::decode(&frame(5, &cat(&[&sm(2, b"ok"), pad]))).expect("deliver_sm");
        assert!(
            matches!(receipt.pdu, Pdu::DeliverSm(ref d) if d.short_message.as_bytes() == b"ok" && d.tlvs.is_empty()),
            "{receipt:?}"
        );
        let data_sm = cat(&[b"\0\x01\x01447700900123\0\x01\x01447700900999\0\0\0\0", pad]);
        assert!(matches!(Packet::decode(&frame(0x103, &data_sm)).expect("data_sm").pdu, Pdu::DataSm(_)));
        let resp = Packet::decode(&frame(0x8000_0004, &cat(&[b"abc\0", pad]))).expect("submit_sm_resp");
        assert!(matches!(resp.pdu, Pdu::SubmitSmResp(ref r) if r.message_id.as_bytes() == b"abc"));
        let bind = Packet::decode(&frame(0x8000_0009, &cat(&[b"SMSC\0", pad]))).expect("bind_resp");
        assert!(matches!(bind.pdu, Pdu::BindTransceiverResp(ref r) if r.system_id.as_bytes() == b"SMSC"));
    }
    // Padding after a TLV too.
    let tlv_then_pad = cat(&[&sm(0, &[]), &[0x02, 0x04, 0x00, 0x02, 0x00, 0x2a, 0x00]]);
    let packet = Packet::decode(&frame(5, &tlv_then_pad)).unwrap();
    assert!(matches!(packet.pdu, Pdu::DeliverSm(ref d) if d.tlvs.len() == 1));
}

#[test]
fn a_response_with_a_broken_tail_is_refused_but_keeps_the_fields_read_before_it() {
    let err = Packet::decode(&frame(0x8000_0004, b"abc\0\x01\x02")).unwrap_err();
    assert_eq!(err.kind, K::TlvHeaderTruncated { available: 2 });
    assert!(
        matches!(err.partial.as_deref(), Some(Pdu::SubmitSmResp(r)) if r.message_id.as_bytes() == b"abc"),
        "{err:?}"
    );
    // sc_interface_version, then a TLV running past the end.
    let err =
        Packet::decode(&frame(0x8000_0002, b"SMSC\0\x02\x10\x00\x01\x34\x14\x01\x00\x09ab")).unwrap_err();
    let Some(Pdu::BindTransmitterResp(bind)) = err.partial.as_deref() else { panic!("{err:?}") };
    assert_eq!((bind.system_id.as_bytes(), bind.sc_interface_version()), (&b"SMSC"[..], Some(0x34)));
    // A request gets its refusal and nothing kept.
    let err = Packet::decode(&frame(5, &cat(&[&sm(0, &[]), b"\x01\x02"]))).unwrap_err();
    assert_eq!((err.kind, err.partial), (K::TlvHeaderTruncated { available: 2 }, None));
}

#[test]
fn a_malformed_response_gets_no_reply_and_a_headerless_frame_neither() {
    let err = Packet::decode(&frame(0x8000_0004, b"abc")).unwrap_err();
    assert_eq!(err.reply(), None);
    let err = Packet::decode(&[0, 0, 0, 8, 0, 0, 0, 0x15]).unwrap_err();
    assert_eq!(err.reply(), None);
}

#[test]
fn framing_rejects_lengths_below_the_header_and_above_the_maximum() {
    let cases: [(&str, Vec<u8>, u32, FrameError); 3] = [
        (
            "length 0",
            vec![0, 0, 0, 0],
            1024,
            FrameError::TooShort { command_length: 0, sequence_number: None },
        ),
        (
            "length 15 with a readable header",
            frame(0x15, &[]).into_iter().enumerate().map(|(i, b)| if i == 3 { 15 } else { b }).collect(),
            1024,
            FrameError::TooShort { command_length: 15, sequence_number: Some(SEQ) },
        ),
        (
            "length 0xFFFFFFFF",
            vec![0xFF, 0xFF, 0xFF, 0xFF, 0, 0],
            smpp::DEFAULT_MAX_PDU_LEN,
            FrameError::TooLong {
                command_length: u32::MAX,
                max_len: smpp::DEFAULT_MAX_PDU_LEN,
                sequence_number: None,
            },
        ),
    ];
    for (name, bytes, max, expected) in cases {
        let err = smpp::frame_len(&bytes, max).expect_err(name);
        assert_eq!(err, expected, "{name}");
        assert_eq!(err.reply().status, S::ESME_RINVCMDLEN, "{name}");
        assert_eq!(err.reply().pdu, Pdu::GenericNack, "{name}");
    }
}

#[test]
fn a_frame_of_exactly_the_maximum_is_accepted() {
    let mut bytes = frame(0x15, &[]);
    bytes[..4].copy_from_slice(&1024u32.to_be_bytes());
    assert_eq!(smpp::frame_len(&bytes, 1024), Ok(None));
    bytes.resize(1024, 0);
    assert_eq!(smpp::frame_len(&bytes, 1024), Ok(Some(1024)));
}

#[test]
fn the_encoder_refuses_short_message_and_message_payload_together() {
    let submit = SubmitSm {
        destination: intl("447700900123"),
        short_message: text("hi"),
        tlvs: [Tlv::message_payload(Bytes::from_static(b"hello")).unwrap()].into_iter().collect(),
        ..SubmitSm::default()
    };
    let mut buf = BytesMut::from(&b"prefix"[..]);
    let err = Packet::new(1, Pdu::SubmitSm(submit)).encode(&mut buf).unwrap_err();
    assert_eq!(err.field, "short_message");
    assert_eq!(err.kind, EncodeErrorKind::ShortMessageAndPayload);
    assert_eq!(&buf[..], b"prefix", "a failed encode leaves the buffer as it was");
}

#[test]
fn the_encoder_refuses_submit_multi_with_zero_or_too_many_destinations() {
    for count in [0, 255] {
        let multi = SubmitMulti {
            destinations: vec![Destination::Sme(intl("447700900123")); count],
            ..SubmitMulti::default()
        };
        let err = Packet::new(1, Pdu::SubmitMulti(multi)).to_bytes().unwrap_err();
        assert_eq!(err.field, "number_of_dests", "{count}");
        assert!(matches!(err.kind, EncodeErrorKind::CountOutOfRange { .. }));
    }
}

#[test]
fn exactly_max_tlvs_decode_and_one_more_is_refused_by_the_encoder_too() {
    let bytes = frame(4, &cat(&[&sm(0, &[]), &[0x14, 0x01, 0x00, 0x00].repeat(smpp::MAX_TLVS)]));
    let packet = Packet::decode(&bytes).unwrap();
    let Pdu::SubmitSm(mut submit) = packet.pdu else {
        panic!("not a submit_sm");
    };
    assert_eq!(submit.tlvs.len(), smpp::MAX_TLVS);
    submit.tlvs.push(Tlv::new(TlvTag(0x1401), Bytes::new()).unwrap());
    let err = Packet::new(1, Pdu::SubmitSm(submit)).to_bytes().unwrap_err();
    assert_eq!(err.field, "tlvs");
}

#[test]
fn the_encoder_refuses_more_than_255_unsuccessful_destinations() {
    let resp =
        SubmitMultiResp { unsuccess_smes: vec![UnsuccessSme::default(); 256], ..SubmitMultiResp::default() };
    let err = Packet::new(1, Pdu::SubmitMultiResp(resp)).to_bytes().unwrap_err();
    assert_eq!(err.field, "no_unsuccess");
}
