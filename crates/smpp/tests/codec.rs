//! `PduCodec` (feature `tokio-codec`): frames split across reads, several
//! frames in one read, a bad body that does not end the stream, a bad length
//! that does, and an outgoing packet over the limit.

#![cfg(feature = "tokio-codec")]

use bytes::BytesMut;
use smpp::{CodecError, CommandStatus, FrameError, Packet, Pdu, PduCodec};
use tokio_util::codec::{Decoder, Encoder};

fn encoded(packets: &[Packet]) -> BytesMut {
    let mut buf = BytesMut::new();
    for packet in packets {
        packet.encode(&mut buf).unwrap();
    }
    buf
}

#[test]
fn a_frame_arriving_one_octet_at_a_time_is_decoded_once_complete() {
    let packet = Packet::new(5, Pdu::EnquireLink);
    let wire = encoded(std::slice::from_ref(&packet));
    let mut codec = PduCodec::default();
    let mut buf = BytesMut::new();
    for (i, octet) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*octet]);
        let out = codec.decode(&mut buf).unwrap();
        if i + 1 < wire.len() {
            assert!(out.is_none(), "decoded early at octet {i}");
        } else {
            assert_eq!(out, Some(Ok(packet.clone())));
        }
    }
    assert!(buf.is_empty());
}

#[test]
fn two_frames_in_one_read_come_out_one_by_one() {
    let packets = [Packet::new(1, Pdu::EnquireLink), Packet::new(2, Pdu::Unbind)];
    let mut buf = encoded(&packets);
    let mut codec = PduCodec::default();
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok(packets[0].clone())));
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok(packets[1].clone())));
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
}

#[test]
fn a_bad_body_is_an_item_so_the_next_frame_is_still_read() {
    let mut buf = BytesMut::new();
    // enquire_link with a stray body octet, then a good enquire_link.
    buf.extend_from_slice(&[0, 0, 0, 17, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9, 0]);
    Packet::new(10, Pdu::EnquireLink).encode(&mut buf).unwrap();
    let mut codec = PduCodec::default();
    let bad = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
    assert_eq!(bad.sequence_number(), Some(9));
    assert_eq!(bad.status, CommandStatus::ESME_RINVCMDLEN);
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok(Packet::new(10, Pdu::EnquireLink))));
}

#[test]
fn a_length_over_the_maximum_is_a_stream_error_with_a_reply() {
    let mut buf = BytesMut::from(&[0, 0, 4, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 3][..]);
    let err = PduCodec::new(1024).decode(&mut buf).unwrap_err();
    let CodecError::Frame(frame) = err else {
        panic!("expected a framing error, got {err}");
    };
    assert!(matches!(frame, FrameError::TooLong { command_length: 1025, .. }));
    assert_eq!(frame.reply().sequence_number, 3);
}

#[test]
fn an_outgoing_packet_over_the_maximum_is_refused_and_nothing_is_written() {
    let mut codec = PduCodec::new(16);
    let mut buf = BytesMut::new();
    let big = Packet::new(1, Pdu::SubmitSmResp(smpp::SubmitSmResp::default()));
    assert!(matches!(codec.encode(&big, &mut buf), Err(CodecError::Encode(_))));
    assert!(buf.is_empty());
    codec.encode(Packet::new(2, Pdu::EnquireLink), &mut buf).unwrap();
    assert_eq!(buf.len(), 16);
}
