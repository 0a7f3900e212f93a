//! Choosing the encoding of a text, counting its units, and cutting it into parts.
//!
//! This module owns the rule "GSM 7-bit if every character is in the default alphabet or
//! the extension table, else UCS-2", the per-part limits, and the one greedy splitter that
//! both [`analyze`] (count only) and [`split`] (the actual parts) go through, so the two
//! can never disagree. A part never ends between an escape and its character or between
//! the two halves of a surrogate pair. It does not build user data headers (see
//! [`crate::udh`]), does not pack septets (see [`crate::gsm7::pack`]; the SMPP layer packs
//! or not depending on the SMSC), and does not cut at word boundaries.

use std::ops::Range;

use crate::{gsm7, ucs2};

/// Octets of user data in one short message (3GPP TS 23.040 TP-UD), header included.
pub const MAX_USER_DATA_OCTETS: usize = 140;

/// Most parts one concatenated message can have: the "total" field of the concatenation
/// information element is one octet. [`split`] does not enforce it; callers that send
/// concatenated messages must reject texts with more parts.
pub const MAX_PARTS: usize = 255;

/// How a text is carried on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet plus extension table; units are septets.
    Gsm7,
    /// UCS-2, in practice UTF-16BE; units are UTF-16 code units (2 octets each).
    Ucs2,
}

/// How many units fit in one message, alone or as a part of a concatenated message.
///
/// A limit below 2 cannot hold an escape pair or a surrogate pair; [`split_with`] treats
/// any part limit below 2 as 2 so that it always makes progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartLimits {
    /// Septets that fit when the whole text goes as one message.
    pub single_septets: usize,
    /// UTF-16 code units that fit when the whole text goes as one message.
    pub single_ucs2_units: usize,
    /// Septets per part of a concatenated message.
    pub part_septets: usize,
    /// UTF-16 code units per part of a concatenated message.
    pub part_ucs2_units: usize,
}

impl PartLimits {
    /// Single messages without a header (160 septets / 70 units); parts carrying a 6-octet
    /// header with an 8-bit-reference concatenation IE (153 septets / 67 units).
    pub const CONCAT_8BIT_REF: Self = Self::for_udh_lens(0, 6);

    /// As [`Self::CONCAT_8BIT_REF`], but parts carry a 7-octet header with a
    /// 16-bit-reference concatenation IE (152 septets / 66 units).
    pub const CONCAT_16BIT_REF: Self = Self::for_udh_lens(0, 7);

    /// Limits when a single message carries a header of `single_udh_len` octets and each
    /// part of a concatenated message one of `part_udh_len` octets (UDHL byte included; 0
    /// for no header). Use it when adding e.g. port addressing: a 16-bit port IE plus an
    /// 8-bit concatenation IE make a 12-octet header. Headers longer than the message
    /// leave no room; see the type's note on small limits.
    pub const fn for_udh_lens(single_udh_len: usize, part_udh_len: usize) -> Self {
        Self {
            single_septets: septets_after_udh(single_udh_len),
            single_ucs2_units: ucs2_units_after_udh(single_udh_len),
            part_septets: septets_after_udh(part_udh_len),
            part_ucs2_units: ucs2_units_after_udh(part_udh_len),
        }
    }

    fn single(&self, encoding: Encoding) -> usize {
        match encoding {
            Encoding::Gsm7 => self.single_septets,
            Encoding::Ucs2 => self.single_ucs2_units,
        }
    }

    fn part(&self, encoding: Encoding) -> usize {
        let limit = match encoding {
            Encoding::Gsm7 => self.part_septets,
            Encoding::Ucs2 => self.part_ucs2_units,
        };
        limit.max(2)
    }
}

impl Default for PartLimits {
    /// [`PartLimits::CONCAT_8BIT_REF`], what nearly every SMSC expects.
    fn default() -> Self {
        Self::CONCAT_8BIT_REF
    }
}

/// Septets that fit after a header of `udh_len` octets and its fill bits.
const fn septets_after_udh(udh_len: usize) -> usize {
    let header_septets = (udh_len.saturating_mul(8)).div_ceil(7);
    (MAX_USER_DATA_OCTETS * 8 / 7).saturating_sub(header_septets)
}

/// UTF-16 code units that fit after a header of `udh_len` octets.
const fn ucs2_units_after_udh(udh_len: usize) -> usize {
    MAX_USER_DATA_OCTETS.saturating_sub(udh_len) / 2
}

/// What a text costs to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TextInfo {
    /// The encoding the text goes in.
    pub encoding: Encoding,
    /// Septets (GSM, extension characters count 2) or UTF-16 code units (UCS-2,
    /// characters outside the BMP count 2).
    pub units: usize,
    /// Number of messages; always at least 1 (the empty text is one empty message).
    pub segments: usize,
    /// Number of Unicode scalar values (Rust `char`s).
    pub chars: usize,
}

/// A text cut into messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The encoding of every segment.
    pub encoding: Encoding,
    /// The messages in order; never empty (the empty text gives one empty segment).
    pub segments: Vec<Segment>,
}

/// One message of a [`Split`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The slice of the original text this segment carries.
    pub text: String,
    /// Unpacked septets, one per byte, escapes included ([`Encoding::Gsm7`]); or UTF-16BE
    /// bytes ([`Encoding::Ucs2`]). No user data header.
    pub payload: Vec<u8>,
    /// Septets or UTF-16 code units in `payload`.
    pub units: usize,
}

/// Analyses `text` with [`PartLimits::CONCAT_8BIT_REF`].
pub fn analyze(text: &str) -> TextInfo {
    analyze_with(text, PartLimits::CONCAT_8BIT_REF)
}

/// Analyses `text`: encoding, units, number of segments as [`split_with`] would cut it
/// with the same limits, and number of characters. The empty text is 0 units, 1 segment.
pub fn analyze_with(text: &str, limits: PartLimits) -> TextInfo {
    let encoding = choose_encoding(text);
    let units = text.chars().map(|c| char_units(c, encoding)).sum();
    TextInfo {
        encoding,
        units,
        segments: parts(text, encoding, units, limits).len(),
        chars: text.chars().count(),
    }
}

/// Splits `text` with [`PartLimits::CONCAT_8BIT_REF`].
pub fn split(text: &str) -> Split {
    split_with(text, PartLimits::CONCAT_8BIT_REF)
}

/// Splits `text` into messages: one if it fits the single limit, otherwise as many parts
/// as needed, each filled as far as the part limit allows without cutting an escape pair
/// or a surrogate pair. Concatenating the segments' texts gives `text` back.
pub fn split_with(text: &str, limits: PartLimits) -> Split {
    let (encoding, payload, unit_octets) = match gsm7::encode(text) {
        Some(septets) => (Encoding::Gsm7, septets, 1),
        None => (Encoding::Ucs2, ucs2::encode(text), 2),
    };
    let units = payload.len() / unit_octets;
    let segments = parts(text, encoding, units, limits)
        .into_iter()
        .map(|part| Segment {
            text: text.get(part.bytes).unwrap_or_default().to_owned(),
            payload: payload
                .get(part.units.start * unit_octets..part.units.end * unit_octets)
                .unwrap_or_default()
                .to_vec(),
            units: part.units.len(),
        })
        .collect();
    Split { encoding, segments }
}

fn choose_encoding(text: &str) -> Encoding {
    if gsm7::is_encodable(text) { Encoding::Gsm7 } else { Encoding::Ucs2 }
}

/// Units of `c` in `encoding`; only called with characters the encoding can carry.
fn char_units(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7::char_septets(c).unwrap_or(1),
        Encoding::Ucs2 => ucs2::char_units(c),
    }
}

/// Where one part lies in the text (byte offsets) and in the encoded units.
struct Part {
    bytes: Range<usize>,
    units: Range<usize>,
}

/// The one splitter: `total_units` is the text's size in `encoding`.
fn parts(text: &str, encoding: Encoding, total_units: usize, limits: PartLimits) -> Vec<Part> {
    if total_units <= limits.single(encoding) {
        return vec![Part { bytes: 0..text.len(), units: 0..total_units }];
    }
    let limit = limits.part(encoding);
    let mut parts = Vec::with_capacity(total_units.div_ceil(limit - 1));
    let (mut byte_start, mut unit_start, mut unit_end) = (0, 0, 0);
    for (i, c) in text.char_indices() {
        let cost = char_units(c, encoding);
        if unit_end + cost - unit_start > limit {
            parts.push(Part { bytes: byte_start..i, units: unit_start..unit_end });
            (byte_start, unit_start) = (i, unit_end);
        }
        unit_end += cost;
    }
    parts.push(Part { bytes: byte_start..text.len(), units: unit_start..unit_end });
    parts
}
