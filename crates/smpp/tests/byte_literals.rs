//! Spec-shaped PDUs written out in hex by hand: each decodes to the expected
//! value, and that value encodes back to exactly these bytes.

mod common;

use common::{cstr, hex, intl, text};
use smpp::{
    Address, Bind, CommandStatus, DataCoding, DeliverSmResp, EsmClass, Npi, Packet, Pdu, RegisteredDelivery,
    SubmitSm, SubmitSmResp, Tlv, Tlvs, Ton,
};

fn assert_both_ways(bytes: &[u8], packet: &Packet) {
    assert_eq!(Packet::decode(bytes).as_ref(), Ok(packet));
    assert_eq!(packet.to_bytes().unwrap().as_ref(), bytes);
}

#[test]
fn a_bind_transmitter_in_hex_decodes_to_its_fields_and_back() {
    let bytes = hex("
        0000002a 00000002 00000000 00000001   # length 42, bind_transmitter, ok, seq 1
        73 6d 70 70 63 6c 69 65 6e 74 31 00   # system_id 'smppclient1'
        70 61 73 73 77 6f 72 64 00            # password 'password'
        00                                    # system_type ''
        34                                    # interface_version 3.4
        00 00                                 # addr_ton, addr_npi
        00                                    # address_range ''
    ");
    let packet = Packet::new(
        1,
        Pdu::BindTransmitter(Bind {
            system_id: cstr("smppclient1"),
            password: cstr("password"),
            ..Bind::default()
        }),
    );
    assert_both_ways(&bytes, &packet);
}

#[test]
fn a_submit_sm_in_hex_decodes_to_its_fields_and_back() {
    let bytes = hex("
        00000044 00000004 00000000 00000002   # length 68, submit_sm, ok, seq 2
        00                                    # service_type ''
        05 00 4b 75 72 69 65 72 00            # source 5/0 'Kurier'
        01 01 34 34 37 37 30 30 39 30 30 31 32 33 00  # dest 1/1 '447700900123'
        00 00 00                              # esm_class, protocol_id, priority_flag
        00                                    # schedule_delivery_time ''
        00                                    # validity_period ''
        01 00 00 00                           # registered_delivery 1, replace, data_coding 0, default msg id
        0b 48 65 6c 6c 6f 20 77 6f 72 6c 64   # sm_length 11, 'Hello world'
        02 04 00 02 00 2a                     # TLV user_message_reference = 42
    ");
    let packet = Packet::new(
        2,
        Pdu::SubmitSm(SubmitSm {
            source: Address::new(Ton::Alphanumeric, Npi::Unknown, "Kurier").unwrap(),
            destination: intl("447700900123"),
            registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
            short_message: text("Hello world"),
            tlvs: Tlvs::new().with(Tlv::user_message_reference(42)),
            ..SubmitSm::default()
        }),
    );
    assert_both_ways(&bytes, &packet);
    let Pdu::SubmitSm(submit) = &packet.pdu else { unreachable!() };
    assert_eq!(submit.esm_class, EsmClass::DEFAULT);
    assert_eq!(submit.data_coding, DataCoding::SMSC_DEFAULT);
}

#[test]
fn a_submit_sm_resp_with_an_error_status_keeps_status_and_sequence_number() {
    let bytes = hex("
        00000011 80000004 0000000b 00000002   # length 17, submit_sm_resp, RINVDSTADR, seq 2
        00                                    # message_id ''
    ");
    let packet = Packet::new(2, Pdu::SubmitSmResp(SubmitSmResp::default()))
        .with_status(CommandStatus::ESME_RINVDSTADR);
    assert_both_ways(&bytes, &packet);
}

#[test]
fn a_deliver_sm_resp_is_seventeen_octets_with_its_empty_message_id() {
    let bytes = hex("00000011 80000005 00000000 0000000a 00");
    let packet = Packet::new(10, Pdu::DeliverSmResp(DeliverSmResp::default()));
    assert_both_ways(&bytes, &packet);
}

#[test]
fn enquire_link_and_its_response_are_header_only() {
    assert_both_ways(&hex("00000010 00000015 00000000 00000003"), &Packet::new(3, Pdu::EnquireLink));
    assert_both_ways(&hex("00000010 80000015 00000000 00000003"), &Packet::new(3, Pdu::EnquireLinkResp));
}
