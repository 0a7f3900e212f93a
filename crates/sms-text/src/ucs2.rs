//! UCS-2 as SMS carries it today: UTF-16 big-endian (SMPP `data_coding` 8, TP-DCS UCS2).
//!
//! This module owns the conversion between text and UTF-16BE bytes, including surrogate
//! pairs for characters outside the Basic Multilingual Plane (emoji), which every current
//! handset displays even though the name says "UCS-2". It does not split texts (see
//! [`crate::split`]), and it does not guess a byte order: SMS is always big-endian and a
//! byte-order mark is decoded as the character U+FEFF like any other.

/// Encodes `text` as UTF-16BE; characters outside the BMP become surrogate pairs.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Decodes UTF-16BE bytes. Never fails: an unpaired surrogate and an odd trailing byte
/// each become U+FFFD.
pub fn decode(bytes: &[u8]) -> String {
    let pairs = bytes.chunks_exact(2);
    let odd_tail = !pairs.remainder().is_empty();
    let units = pairs.map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut out: String =
        char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    if odd_tail {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

/// Number of UTF-16 code units `c` takes: 1 in the BMP, 2 for a surrogate pair.
pub fn char_units(c: char) -> usize {
    c.len_utf16()
}
