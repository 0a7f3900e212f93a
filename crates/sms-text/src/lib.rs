//! Text for SMS: which encoding a message needs, how many parts it takes, the parts
//! themselves, and the user data header that ties them together. Pure: no I/O, no
//! dependencies, and no panics on any input.
//!
//! This crate owns the character-level and octet-level view of a short message. It does
//! not know SMPP or TPDU layouts (data_coding, esm_class, sm_length and UDL belong to the
//! `smpp` crate), does not choose concatenation references, and does not reassemble
//! inbound parts.
//!
//! The modules, from the bottom up:
//!
//! - [`gsm7`] — GSM 03.38 default alphabet and extension table; septet packing and fill bits.
//! - [`ucs2`] — UTF-16BE, surrogate pairs included.
//! - [`latin1`] — ISO-8859-1 (SMPP `data_coding` 3).
//! - [`segments`] — encoding choice, unit counts, [`analyze`] and [`split`].
//! - [`udh`] — the user data header and its information elements.
//! - [`transliterate`](mod@transliterate) — rewriting text into the GSM alphabet where possible.
//!
//! ```
//! use sms_text::{analyze, split, Encoding};
//!
//! let info = analyze("Zażółć gęślą jaźń");
//! assert_eq!(info.encoding, Encoding::Ucs2);
//!
//! let plain = sms_text::transliterate("Zażółć gęślą jaźń");
//! assert_eq!(plain, "Zazolc gesla jazn");
//! let parts = split(&plain);
//! assert_eq!(parts.encoding, Encoding::Gsm7);
//! assert_eq!(parts.segments.len(), 1);
//! ```

#![forbid(unsafe_code)]

pub mod gsm7;
pub mod latin1;
pub mod segments;
pub mod transliterate;
pub mod ucs2;
pub mod udh;

pub use segments::{
    Encoding, MAX_PARTS, MAX_USER_DATA_OCTETS, PartLimits, Segment, Split, TextInfo, analyze, analyze_with,
    split, split_with,
};
pub use transliterate::{Transliteration, transliterate, transliterate_with};
pub use udh::{Concat, InformationElement, Udh, UdhError};
