//! `COctetString<N>`: a NUL-terminated string field whose wire size,
//! terminator included, is at most `N` octets (spec §3.1).
//!
//! The value is kept as bytes without the terminator, so text that is not
//! ASCII or UTF-8 survives a round trip; [`COctetString::as_str`] and
//! [`COctetString::to_str_lossy`] give text views. Encoding appends the NUL.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

/// A C-Octet String of at most `N` octets on the wire, NUL included, so at
/// most `N - 1` content octets. `COctetString<21>` is a `source_addr`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct COctetString<const N: usize>(Bytes);

/// Why a value cannot be a `COctetString<N>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CStringError {
    /// The content is longer than `max` octets (the field size minus the NUL).
    #[error("{len} octets is longer than the {max} allowed")]
    TooLong { len: usize, max: usize },
    /// The content contains a NUL, which would end the field early on the wire.
    #[error("contains a NUL octet at position {position}")]
    InteriorNul { position: usize },
}

impl<const N: usize> COctetString<N> {
    /// The most content octets the field can hold (`N - 1`).
    pub const MAX_LEN: usize = N - 1;

    /// The empty string (encoded as a single NUL).
    pub const fn empty() -> Self {
        COctetString(Bytes::new())
    }

    /// Validates `value` (without a terminating NUL) against the limit.
    pub fn new(value: impl Into<Bytes>) -> Result<Self, CStringError> {
        let value = value.into();
        if let Some(position) = value.iter().position(|&b| b == 0) {
            return Err(CStringError::InteriorNul { position });
        }
        if value.len() > Self::MAX_LEN {
            return Err(CStringError::TooLong { len: value.len(), max: Self::MAX_LEN });
        }
        Ok(COctetString(value))
    }

    /// Crate-private: the decoder has already checked length and NULs.
    pub(crate) fn from_checked(value: Bytes) -> Self {
        debug_assert!(value.len() <= Self::MAX_LEN && !value.contains(&0));
        COctetString(value)
    }

    /// The content octets, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The content as text if it is valid UTF-8 (SMPP says ASCII).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The content as text, with invalid UTF-8 replaced by U+FFFD.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Content length in octets, without the NUL.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Octets on the wire: content plus the NUL.
    pub(crate) fn wire_len(&self) -> usize {
        self.0.len() + 1
    }
}

impl<const N: usize> TryFrom<&str> for COctetString<N> {
    type Error = CStringError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        COctetString::new(Bytes::copy_from_slice(value.as_bytes()))
    }
}

impl<const N: usize> TryFrom<String> for COctetString<N> {
    type Error = CStringError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        COctetString::new(value)
    }
}

impl<const N: usize> TryFrom<&[u8]> for COctetString<N> {
    type Error = CStringError;
    fn try_from(value: &[u8]) -> Result<Self, Self::Error> {
        COctetString::new(Bytes::copy_from_slice(value))
    }
}

impl<const N: usize> FromStr for COctetString<N> {
    type Err = CStringError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        COctetString::try_from(s)
    }
}

impl<const N: usize> fmt::Display for COctetString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

impl<const N: usize> fmt::Debug for COctetString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_str_lossy(), f)
    }
}

impl<const N: usize> PartialEq<str> for COctetString<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<&str> for COctetString<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_one_shorter_than_the_field_size_fits() {
        let s = COctetString::<6>::try_from("CMT12").unwrap();
        assert_eq!(s, "CMT12");
        assert_eq!(s.wire_len(), 6);
    }

    #[test]
    fn a_string_as_long_as_the_field_size_is_rejected_because_the_nul_needs_room() {
        assert_eq!(COctetString::<6>::try_from("CMT123"), Err(CStringError::TooLong { len: 6, max: 5 }));
    }

    #[test]
    fn an_interior_nul_is_rejected() {
        assert_eq!(COctetString::<21>::try_from("44\u{0}77"), Err(CStringError::InteriorNul { position: 2 }));
    }

    #[test]
    fn non_utf8_content_is_kept_and_shown_lossily() {
        let s = COctetString::<16>::try_from(&b"caf\xe9"[..]).unwrap();
        assert_eq!(s.as_str(), None);
        assert_eq!(s.to_str_lossy(), "caf\u{FFFD}");
    }
}
