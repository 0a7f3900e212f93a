//! ISO-8859-1 (Latin-1), which SMPP offers as `data_coding` 3.
//!
//! This module owns only the byte <-> text mapping: each byte is the code point of the
//! same value (U+0000..=U+00FF). It does not decide when Latin-1 is used — Kurier never
//! picks it on its own for outbound text (handsets do not receive it; the SMSC converts)
//! — and it does not treat Windows-1252 extras (0x80..=0x9F) as anything but the C1
//! control characters they are in ISO-8859-1.

/// Encodes `text` as Latin-1; `None` if any character is above U+00FF.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

/// Decodes Latin-1 bytes. Never fails: every byte is a character.
pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}
