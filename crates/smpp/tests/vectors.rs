//! Every file in `tests/vectors/` decodes (or fails as its `# expect:` line
//! says), and re-encodes to the same bytes unless marked `# canonical: no`.
//! A few vectors also get field-level assertions below.

mod common;

use std::path::{Path, PathBuf};

use common::hex;
use smpp::{
    CommandStatus, DataCoding, EsmClass, MessageState, NetworkErrorCode, Packet, Pdu, ReceiptStat, TlvTag,
};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read_vector(name: &str) -> (String, Vec<u8>) {
    let text = std::fs::read_to_string(vectors_dir().join(format!("{name}.hex")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let bytes = hex(&text);
    (text, bytes)
}

fn decode_vector(name: &str) -> Packet {
    let (_, bytes) = read_vector(name);
    Packet::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn directive<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .find_map(|comment| comment.trim().strip_prefix(key))
        .map(str::trim)
}

#[test]
fn every_vector_decodes_as_expected_and_re_encodes_to_the_same_bytes() {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hex"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "vectors missing: {names:?}");

    for name in names {
        let (text, bytes) = read_vector(&name);
        assert_eq!(
            smpp::frame_len(&bytes, smpp::DEFAULT_MAX_PDU_LEN),
            Ok(Some(bytes.len())),
            "{name}: command_length must match the file"
        );
        let decoded = Packet::decode(&bytes);
        if let Some(expect) = directive(&text, "expect:") {
            let status = expect.strip_prefix("error 0x").expect("expect: error 0x…");
            let status = CommandStatus(u32::from_str_radix(status, 16).unwrap());
            let err = decoded.expect_err(&name);
            assert_eq!(err.status, status, "{name}: {err}");
            continue;
        }
        let packet = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded = packet.to_bytes().unwrap_or_else(|e| panic!("{name}: {e}"));
        if directive(&text, "canonical:").is_some_and(|d| d.starts_with("no")) {
            assert_eq!(Packet::decode(&encoded).as_ref(), Ok(&packet), "{name}");
        } else {
            assert_eq!(encoded.as_ref(), bytes.as_slice(), "{name}");
        }
    }
}

#[test]
fn the_bind_transceiver_vector_has_its_credentials_and_version() {
    let Pdu::BindTransceiver(bind) = decode_vector("bind_transceiver").pdu else {
        panic!("not a bind_transceiver");
    };
    assert_eq!(bind.system_id, "kurier");
    assert_eq!(bind.password, "s3cr3t");
    assert_eq!(bind.system_type, "SMPP");
    assert_eq!(bind.interface_version, smpp::INTERFACE_VERSION);
}

#[test]
fn the_bind_resp_vector_reports_the_smsc_interface_version() {
    let Pdu::BindTransceiverResp(resp) = decode_vector("bind_transceiver_resp").pdu else {
        panic!("not a bind_transceiver_resp");
    };
    assert_eq!(resp.system_id, "SMSC01");
    assert_eq!(resp.sc_interface_version(), Some(0x34));
}

#[test]
fn the_concatenated_ucs2_vector_keeps_its_udh_and_coding() {
    let packet = decode_vector("submit_sm_concatenated_ucs2");
    assert_eq!(packet.sequence_number, 42);
    let Pdu::SubmitSm(submit) = packet.pdu else {
        panic!("not a submit_sm");
    };
    assert!(submit.esm_class.has_udhi());
    assert_eq!(submit.data_coding, DataCoding::UCS2);
    assert_eq!(submit.source.addr, "Kurier");
    assert_eq!(submit.destination.addr, "79161234567");
    assert_eq!(submit.validity_period, "000001000000000R");
    assert_eq!(&submit.short_message.as_bytes()[..6], [5, 0, 3, 0x7A, 2, 1]);
}

#[test]
fn a_bodiless_throttled_submit_sm_resp_decodes_with_an_empty_message_id() {
    let packet = decode_vector("submit_sm_resp_throttled_without_body");
    assert_eq!(packet.status, CommandStatus::ESME_RTHROTTLED);
    assert!(packet.status.is_temporary());
    let Pdu::SubmitSmResp(resp) = packet.pdu else {
        panic!("not a submit_sm_resp");
    };
    assert!(resp.message_id.is_empty());
}

#[test]
fn the_receipt_vector_yields_its_receipt_and_tlvs() {
    let Pdu::DeliverSm(deliver) = decode_vector("deliver_sm_receipt").pdu else {
        panic!("not a deliver_sm");
    };
    assert_eq!(deliver.esm_class, EsmClass::DELIVERY_RECEIPT);
    let receipt = deliver.delivery_receipt().expect("a receipt");
    assert_eq!(receipt.id.as_deref(), Some("5f3c2a1b-0001"));
    assert_eq!(receipt.stat, Some(ReceiptStat::Delivered));
    assert_eq!(receipt.text.as_deref(), Some("Hello world"));
    assert_eq!(deliver.tlvs.receipted_message_id(), Some("5f3c2a1b-0001"));
    assert_eq!(deliver.tlvs.message_state(), Some(MessageState::Delivered));
    assert_eq!(deliver.tlvs.network_error_code(), Some(NetworkErrorCode { network_type: 3, error_code: 0 }));
}

#[test]
fn the_vendor_tlv_receipt_keeps_the_unknown_tag_and_reads_an_id_without_nul() {
    let Pdu::DeliverSm(deliver) = decode_vector("deliver_sm_receipt_vendor_tlv").pdu else {
        panic!("not a deliver_sm");
    };
    let receipt = deliver.delivery_receipt().unwrap();
    assert_eq!(receipt.id.as_deref(), Some("1234567890"));
    assert_eq!(receipt.stat, Some(ReceiptStat::Undeliverable));
    assert_eq!(receipt.err.as_deref(), Some("001"));
    assert_eq!(deliver.tlvs.receipted_message_id(), Some("499602D2"));
    let tags: Vec<TlvTag> = deliver.tlvs.iter().map(|t| t.tag()).collect();
    assert_eq!(tags, [TlvTag::RECEIPTED_MESSAGE_ID, TlvTag(0x1401)]);
    assert_eq!(deliver.tlvs.get(TlvTag(0x1401)).unwrap().value(), b"MegaTel");
}

#[test]
fn the_mo_vector_is_not_a_receipt() {
    let Pdu::DeliverSm(deliver) = decode_vector("deliver_sm_mo").pdu else {
        panic!("not a deliver_sm");
    };
    assert!(!deliver.is_receipt());
    assert_eq!(deliver.delivery_receipt(), None);
    assert_eq!(deliver.payload(), b"STOP");
}

#[test]
fn the_data_sm_vector_carries_its_text_in_message_payload() {
    let Pdu::DataSm(data) = decode_vector("data_sm_message_payload").pdu else {
        panic!("not a data_sm");
    };
    assert_eq!(data.tlvs.message_payload().map(<[u8]>::len), Some(400));
    assert_eq!(data.tlvs.sar().map(|s| s.msg_ref_num), Some(0x1234));
    assert_eq!(data.service_type, "WAP");
}

#[test]
fn the_unknown_command_vector_is_answered_with_generic_nack_and_its_sequence_number() {
    let (_, bytes) = read_vector("reject_unknown_command_id");
    let err = Packet::decode(&bytes).unwrap_err();
    let reply = err.reply().expect("a reply");
    assert_eq!(reply.pdu, Pdu::GenericNack);
    assert_eq!(reply.status, CommandStatus::ESME_RINVCMDID);
    assert_eq!(reply.sequence_number, 77);
}
