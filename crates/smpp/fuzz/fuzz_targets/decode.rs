//! Splits arbitrary bytes into frames the way a session would and decodes
//! each: nothing may panic, and whatever decodes must re-encode into bytes
//! that decode to the same packet. The whole input is also decoded as one
//! frame, to reach header and length checks directly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smpp::{DEFAULT_MAX_PDU_LEN, Packet, frame_len};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(len)) = frame_len(rest, DEFAULT_MAX_PDU_LEN) {
        let (frame, tail) = rest.split_at(len);
        match Packet::decode(frame) {
            Ok(packet) => {
                if let Ok(bytes) = packet.to_bytes() {
                    assert_eq!(Packet::decode(&bytes).as_ref(), Ok(&packet));
                }
            }
            Err(err) => {
                if let Some(reply) = err.reply() {
                    assert!(reply.to_bytes().is_ok());
                }
            }
        }
        rest = tail;
    }
    let _ = Packet::decode(data);
});
