//! Helpers shared by the integration tests: hex literals and sample values.

#![allow(dead_code)]

use smpp::{Address, COctetString, ShortMessage};

/// Octets from hex text; whitespace is ignored and `#` starts a comment that
/// runs to the end of the line.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.bytes().filter(|b| !b.is_ascii_whitespace()))
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?}"))
        })
        .collect()
}

pub fn cstr<const N: usize>(s: &str) -> COctetString<N> {
    COctetString::try_from(s).unwrap()
}

pub fn intl(number: &str) -> Address<21> {
    Address::international(number).unwrap()
}

pub fn text(s: &str) -> ShortMessage {
    ShortMessage::try_from(s).unwrap()
}
