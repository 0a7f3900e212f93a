//! Every PDU type, with every field set to something non-default (TLVs and
//! unknown TLVs included), survives encode → decode unchanged.

mod common;

use std::collections::HashSet;

use bytes::Bytes;
use common::{cstr, intl, text};
use smpp::{
    Address, AlertNotification, Bind, BindResp, CancelSm, CommandId, CommandStatus, DataCoding, DataSm,
    DataSmResp, DeliverSm, DeliverSmResp, Destination, EsmClass, MessageState, NetworkErrorCode, Npi,
    Outbind, Packet, Pdu, QuerySm, QuerySmResp, RegisteredDelivery, ReplaceSm, SubmitMulti, SubmitMultiResp,
    SubmitSm, SubmitSmResp, Tlv, TlvTag, Tlvs, Ton, UnsuccessSme,
};

fn vendor_tlv() -> Tlv {
    Tlv::new(TlvTag(0x1401), Bytes::from_static(b"vendor")).unwrap()
}

fn bind() -> Bind {
    Bind {
        system_id: cstr("kurier-esme-001"),
        password: cstr("pa55word"),
        system_type: cstr("VMA"),
        interface_version: 0x34,
        address_range: Address::new(Ton::International, Npi::Isdn, "^44770090[0-9]+$").unwrap(),
    }
}

fn bind_resp() -> BindResp {
    BindResp {
        system_id: cstr("SMSC"),
        tlvs: Tlvs::new().with(Tlv::sc_interface_version(0x34)).with(vendor_tlv()),
    }
}

fn submit_sm() -> SubmitSm {
    SubmitSm {
        service_type: cstr("CMT"),
        source: Address::alphanumeric("Kurier").unwrap(),
        destination: intl("447700900123"),
        esm_class: EsmClass::STORE_AND_FORWARD_MODE | EsmClass::UDHI,
        protocol_id: 0x7F,
        priority_flag: 1,
        schedule_delivery_time: cstr("240115123000004+"),
        validity_period: cstr("000001000000000R"),
        registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
        replace_if_present_flag: 1,
        data_coding: DataCoding::UCS2,
        sm_default_msg_id: 3,
        short_message: smpp::ShortMessage::new(vec![0xAB; 254]).unwrap(),
        tlvs: Tlvs::new()
            .with(Tlv::sar_msg_ref_num(0xBEEF))
            .with(vendor_tlv())
            .with(Tlv::sar_total_segments(2))
            .with(Tlv::sar_segment_seqnum(1))
            .with(Tlv::source_port(9200))
            .with(Tlv::destination_port(2948))
            .with(Tlv::more_messages_to_send(true))
            .with(Tlv::payload_type(0))
            .with(Tlv::ms_validity(3))
            .with(Tlv::dest_addr_subunit(1))
            .with(Tlv::language_indicator(2))
            .with(Tlv::privacy_indicator(1))
            .with(Tlv::callback_num(Bytes::from_static(b"\x00\x01\x01447700")).unwrap()),
    }
}

fn deliver_sm() -> DeliverSm {
    DeliverSm {
        service_type: cstr(""),
        source: intl("447700900123"),
        destination: Address::alphanumeric("Kurier").unwrap(),
        esm_class: EsmClass::DELIVERY_RECEIPT,
        short_message: text(
            "id:abc sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 stat:DELIVRD err:000 text:hi",
        ),
        tlvs: Tlvs::new()
            .with(Tlv::receipted_message_id("abc").unwrap())
            .with(Tlv::message_state(MessageState::Delivered))
            .with(Tlv::network_error_code(NetworkErrorCode { network_type: 3, error_code: 0 }))
            .with(vendor_tlv()),
        ..DeliverSm::default()
    }
}

fn every_pdu() -> Vec<Pdu> {
    vec![
        Pdu::BindTransmitter(bind()),
        Pdu::BindTransmitterResp(bind_resp()),
        Pdu::BindReceiver(bind()),
        Pdu::BindReceiverResp(bind_resp()),
        Pdu::BindTransceiver(bind()),
        Pdu::BindTransceiverResp(bind_resp()),
        Pdu::Outbind(Outbind { system_id: cstr("SMSC"), password: cstr("secret") }),
        Pdu::Unbind,
        Pdu::UnbindResp,
        Pdu::GenericNack,
        Pdu::SubmitSm(submit_sm()),
        Pdu::SubmitSmResp(SubmitSmResp { message_id: cstr(&"f".repeat(64)) }),
        Pdu::SubmitMulti(SubmitMulti {
            service_type: cstr("CMT"),
            source: intl("447700900000"),
            destinations: vec![
                Destination::Sme(intl("447700900001")),
                Destination::DistributionList(cstr("friends")),
                Destination::Sme(Address::new(Ton::National, Npi::Isdn, "07700900002").unwrap()),
            ],
            esm_class: EsmClass::DEFAULT,
            protocol_id: 0,
            priority_flag: 0,
            schedule_delivery_time: cstr(""),
            validity_period: cstr(""),
            registered_delivery: RegisteredDelivery::SMSC_RECEIPT_ON_FAILURE,
            replace_if_present_flag: 0,
            data_coding: DataCoding::IA5,
            sm_default_msg_id: 0,
            short_message: smpp::ShortMessage::empty(),
            tlvs: Tlvs::new()
                .with(Tlv::message_payload(Bytes::from(vec![b'x'; 1000])).unwrap())
                .with(vendor_tlv()),
        }),
        Pdu::SubmitMultiResp(SubmitMultiResp {
            message_id: cstr("m-1"),
            unsuccess_smes: vec![
                UnsuccessSme {
                    address: intl("447700900001"),
                    error_status_code: CommandStatus::ESME_RINVDSTADR,
                },
                UnsuccessSme { address: intl("447700900002"), error_status_code: CommandStatus(0x0400) },
            ],
        }),
        Pdu::DeliverSm(deliver_sm()),
        Pdu::DeliverSmResp(DeliverSmResp::default()),
        Pdu::DataSm(DataSm {
            service_type: cstr("WAP"),
            source: Address::new(Ton::International, Npi::Internet, &"a".repeat(64)).unwrap(),
            destination: Address::new(Ton::Other(9), Npi::Other(7), &"b".repeat(64)).unwrap(),
            esm_class: EsmClass::DATAGRAM_MODE,
            registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
            data_coding: DataCoding::BINARY,
            tlvs: Tlvs::new()
                .with(Tlv::message_payload(Bytes::from(vec![0u8; 65_535])).unwrap())
                .with(Tlv::new(TlvTag::QOS_TIME_TO_LIVE, Bytes::from_static(&[0, 0, 0x0E, 0x10])).unwrap()),
        }),
        Pdu::DataSmResp(DataSmResp {
            message_id: cstr("d-1"),
            tlvs: Tlvs::new()
                .with(Tlv::delivery_failure_reason(1))
                .with(Tlv::additional_status_info_text("absent subscriber").unwrap())
                .with(vendor_tlv()),
        }),
        Pdu::QuerySm(QuerySm { message_id: cstr("q-1"), source: intl("447700900000") }),
        Pdu::QuerySmResp(QuerySmResp {
            message_id: cstr("q-1"),
            final_date: cstr("240115123100000+"),
            message_state: MessageState::Undeliverable,
            error_code: 27,
        }),
        Pdu::CancelSm(CancelSm {
            service_type: cstr("CMT"),
            message_id: cstr("c-1"),
            source: intl("447700900000"),
            destination: intl("447700900001"),
        }),
        Pdu::CancelSmResp,
        Pdu::ReplaceSm(ReplaceSm {
            message_id: cstr("r-1"),
            source: intl("447700900000"),
            schedule_delivery_time: cstr(""),
            validity_period: cstr("000002000000000R"),
            registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
            sm_default_msg_id: 0,
            short_message: text("replacement"),
        }),
        Pdu::ReplaceSmResp,
        Pdu::EnquireLink,
        Pdu::EnquireLinkResp,
        Pdu::AlertNotification(AlertNotification {
            source: Address::international("447700900123").unwrap(),
            esme: Address::new(Ton::Unknown, Npi::Unknown, "kurier").unwrap(),
            tlvs: Tlvs::new().with(Tlv::ms_availability_status(0)).with(vendor_tlv()),
        }),
    ]
}

#[test]
fn the_sample_list_covers_every_command_id() {
    let covered: HashSet<CommandId> = every_pdu().iter().map(Pdu::command_id).collect();
    for id in CommandId::ALL {
        assert!(covered.contains(&id), "{id} has no round-trip sample");
    }
}

#[test]
fn every_pdu_survives_encode_then_decode() {
    for (i, pdu) in every_pdu().into_iter().enumerate() {
        let name = pdu.command_id();
        let sequence_number = 0x7FFF_FFF0 + i as u32;
        let packet = Packet::new(sequence_number, pdu).with_status(CommandStatus(i as u32));
        let bytes = packet.to_bytes().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len(),
            "{name}: command_length"
        );
        assert_eq!(Packet::decode(&bytes), Ok(packet), "{name}");
    }
}

#[test]
fn unknown_tlvs_keep_their_position_among_known_ones() {
    let packet = Packet::new(1, Pdu::SubmitSm(submit_sm()));
    let Pdu::SubmitSm(decoded) = Packet::decode(&packet.to_bytes().unwrap()).unwrap().pdu else {
        panic!("not a submit_sm");
    };
    let tags: Vec<TlvTag> = decoded.tlvs.iter().map(Tlv::tag).take(3).collect();
    assert_eq!(tags, [TlvTag::SAR_MSG_REF_NUM, TlvTag(0x1401), TlvTag::SAR_TOTAL_SEGMENTS]);
}

#[test]
fn encoding_appends_to_a_buffer_that_already_holds_a_frame() {
    let mut buf = bytes::BytesMut::new();
    Packet::new(1, Pdu::EnquireLink).encode(&mut buf).unwrap();
    Packet::new(2, Pdu::SubmitSm(submit_sm())).encode(&mut buf).unwrap();
    let first = smpp::frame_len(&buf, smpp::DEFAULT_MAX_PDU_LEN).unwrap().unwrap();
    assert_eq!(Packet::decode(&buf[..first]), Ok(Packet::new(1, Pdu::EnquireLink)));
    let rest = &buf[first..];
    let second = smpp::frame_len(rest, smpp::DEFAULT_MAX_PDU_LEN).unwrap().unwrap();
    assert_eq!(second, rest.len());
    assert_eq!(Packet::decode(rest).map(|p| p.sequence_number), Ok(2));
}

#[test]
fn deliver_sm_can_be_made_from_a_submit_sm_field_for_field() {
    let submit = submit_sm();
    let deliver = DeliverSm::from(submit.clone());
    assert_eq!(deliver.source, submit.source);
    assert_eq!(deliver.tlvs, submit.tlvs);
    assert_eq!(deliver.short_message, submit.short_message);
}
