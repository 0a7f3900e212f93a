//! The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) and its extension table
//! (§6.2.1.1), in both directions, plus septet packing as on the air interface (§6.1.2.1).
//!
//! This module owns the character tables, the escape mechanism (0x1B + code), and the
//! bit-level packing of septets into octets, including the fill bits that align text
//! after a user data header. It does not decide whether a text *should* be sent as GSM
//! (see [`crate::analyze`]), does not split texts into parts (see [`crate::split`]), and
//! does not know the national language shift tables (§6.2.1.2 / Annex A), which Kurier
//! never sends.
//!
//! "Septets" here are always *unpacked*: one septet per byte, value `0x00..=0x7F`.

/// The escape code that selects the extension table for the next septet.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. Index `0x1B` is the escape code and is never
/// produced by a lookup (see [`basic_code`]); the entry there is only a placeholder.
const BASIC: [char; 128] = [
    // 0x00
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', // 0x10
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', // 0x20
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', // 0x30
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', // 0x40
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', // 0x50
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', // 0x60
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', // 0x70
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The extension table: (code after the escape, character). Form feed is the spec's
/// "page break". Codes not listed here (including 0x0D "CR2" and 0x1B "SS2") have no
/// character of their own; see [`decode`] for how they are shown.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The default-alphabet code of `c`, if it has one (never the escape code).
fn basic_code(c: char) -> Option<u8> {
    if c.is_ascii_alphanumeric() {
        // Letters and digits sit at their ASCII positions.
        return u8::try_from(c).ok();
    }
    BASIC
        .iter()
        .position(|&b| b == c)
        .filter(|&i| i != usize::from(ESCAPE))
        .and_then(|i| u8::try_from(i).ok())
}

/// The extension-table code of `c` (the septet that follows the escape), if it has one.
fn extension_code(c: char) -> Option<u8> {
    EXTENSION.iter().find(|&&(_, e)| e == c).map(|&(code, _)| code)
}

/// How many septets `c` takes in GSM 7-bit: 1 in the default alphabet, 2 in the extension
/// table (escape + code), `None` if it cannot be encoded at all.
pub fn char_septets(c: char) -> Option<usize> {
    if basic_code(c).is_some() {
        Some(1)
    } else if extension_code(c).is_some() {
        Some(2)
    } else {
        None
    }
}

/// Whether every character of `text` is in the default alphabet or the extension table.
pub fn is_encodable(text: &str) -> bool {
    text.chars().all(|c| char_septets(c).is_some())
}

/// Encodes `text` as unpacked septets (one per byte); extension characters become the
/// escape `0x1B` followed by their code. `None` if any character is not representable.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        encode_char_into(c, &mut out)?;
    }
    Some(out)
}

/// Appends the septets of `c` to `out`; `None` (and nothing appended) if not representable.
pub(crate) fn encode_char_into(c: char, out: &mut Vec<u8>) -> Option<()> {
    if let Some(code) = basic_code(c) {
        out.push(code);
    } else {
        let code = extension_code(c)?;
        out.extend_from_slice(&[ESCAPE, code]);
    }
    Some(())
}

/// Decodes unpacked septets (one per byte) into text. Never fails:
///
/// - an escape followed by a code with no extension character shows the default-alphabet
///   character of that code, as §6.2.1.1 requires of a receiver;
/// - escape + escape (reserved for a further extension table) shows a space, as does an
///   escape at the very end;
/// - a byte above `0x7F` is not a septet and becomes U+FFFD.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut bytes = septets.iter().copied();
    while let Some(b) = bytes.next() {
        if b != ESCAPE {
            out.push(basic_char(b));
            continue;
        }
        match bytes.next() {
            None | Some(ESCAPE) => out.push(' '),
            Some(code) => out.push(
                EXTENSION.iter().find(|&&(e, _)| e == code).map_or_else(|| basic_char(code), |&(_, c)| c),
            ),
        }
    }
    out
}

/// The default-alphabet character of a septet other than the escape; U+FFFD above 0x7F.
fn basic_char(septet: u8) -> char {
    BASIC.get(usize::from(septet)).copied().unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Number of fill bits needed after a user data header of `udh_len` octets (including the
/// UDHL byte) so that the first septet starts on a septet boundary (3GPP TS 23.040
/// §9.2.3.24). `0` when there is no header. A 6-octet concatenation header needs 1; a
/// 7-octet one needs 0.
pub fn fill_bits_after_udh(udh_len: usize) -> u8 {
    let rem = (udh_len % 7) * 8 % 7; // (udh_len * 8) mod 7 without overflow
    // `(7 - rem) % 7` is always in 0..=6.
    u8::try_from((7 - rem) % 7).unwrap_or(0)
}

/// Packs septets into octets as on the air interface: septet `i` occupies bits
/// `fill_bits + 7 * i ..` of the output, least significant bit first. The first
/// `fill_bits` bits are zero (the fill after a UDH); only the low 7 bits of each input
/// byte are used. An empty input packs to an empty output.
///
/// The output has `ceil((fill_bits + 7 * n) / 8)` octets. When the last octet has 7
/// unused bits a receiver that does not know the septet count would read an extra '@';
/// TP-UDL and SMPP `sm_length` carry the count, so no CR padding is added here.
pub fn pack(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    if septets.is_empty() {
        return Vec::new();
    }
    let fill = usize::from(fill_bits);
    let total_bits = fill + 7 * septets.len();
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    for (i, &septet) in septets.iter().enumerate() {
        let bit = fill + 7 * i;
        let (index, shift) = (bit / 8, bit % 8);
        let value = u16::from(septet & 0x7F) << shift;
        let [low, high] = value.to_le_bytes();
        if let Some(byte) = out.get_mut(index) {
            *byte |= low;
        }
        if let Some(byte) = out.get_mut(index + 1) {
            *byte |= high;
        }
    }
    out
}

/// Unpacks `septet_count` septets from octets packed as by [`pack`], skipping the first
/// `fill_bits` bits. If `packed` is too short for `septet_count` septets, returns only
/// the septets that are wholly present (never panics, never reads past the input).
pub fn unpack(packed: &[u8], septet_count: usize, fill_bits: u8) -> Vec<u8> {
    let fill = usize::from(fill_bits);
    let available = (packed.len() * 8).saturating_sub(fill) / 7;
    let count = septet_count.min(available);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let bit = fill + 7 * i;
        let (index, shift) = (bit / 8, bit % 8);
        let low = packed.get(index).copied().unwrap_or(0);
        let high = packed.get(index + 1).copied().unwrap_or(0);
        let value = u16::from_le_bytes([low, high]) >> shift;
        out.push((value & 0x7F) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_alphabet_has_128_distinct_entries() {
        for (i, a) in BASIC.iter().enumerate() {
            for b in &BASIC[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn no_extension_character_is_also_in_the_default_alphabet() {
        for (_, c) in EXTENSION {
            assert_eq!(basic_code(c), None, "{c:?}");
        }
    }

    #[test]
    fn the_escape_character_itself_is_not_encodable() {
        assert_eq!(encode("\u{1B}"), None);
    }
}
