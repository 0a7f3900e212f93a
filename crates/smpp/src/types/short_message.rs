//! `ShortMessage`: the `short_message` field, 0 to 254 octets (spec §5.2.22).
//!
//! Its length travels in the one-octet `sm_length` field just before it. The
//! octets are opaque here: how text maps to them depends on `data_coding` and
//! lives in the `sms-text` crate.

use bytes::Bytes;

/// Up to [`ShortMessage::MAX_LEN`] octets of user data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ShortMessage(Bytes);

/// A value longer than 254 octets cannot go in `short_message`; use the
/// `message_payload` TLV instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("short_message of {len} octets is longer than the 254 allowed")]
pub struct ShortMessageTooLong {
    pub len: usize,
}

impl ShortMessage {
    /// The most octets `short_message` can hold.
    pub const MAX_LEN: usize = 254;

    /// The empty message (`sm_length` 0).
    pub const fn empty() -> Self {
        ShortMessage(Bytes::new())
    }

    /// Checks the 254-octet limit.
    pub fn new(value: impl Into<Bytes>) -> Result<Self, ShortMessageTooLong> {
        let value = value.into();
        if value.len() > Self::MAX_LEN {
            return Err(ShortMessageTooLong { len: value.len() });
        }
        Ok(ShortMessage(value))
    }

    /// Crate-private: the decoder has already checked the length.
    pub(crate) fn from_checked(value: Bytes) -> Self {
        debug_assert!(value.len() <= Self::MAX_LEN);
        ShortMessage(value)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The octets as a cheaply clonable `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<&[u8]> for ShortMessage {
    type Error = ShortMessageTooLong;
    fn try_from(value: &[u8]) -> Result<Self, Self::Error> {
        ShortMessage::new(Bytes::copy_from_slice(value))
    }
}

impl TryFrom<&str> for ShortMessage {
    type Error = ShortMessageTooLong;
    /// The UTF-8 octets of `value`; fine for ASCII text with `data_coding` 0 or 1.
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        ShortMessage::try_from(value.as_bytes())
    }
}

impl TryFrom<Vec<u8>> for ShortMessage {
    type Error = ShortMessageTooLong;
    fn try_from(value: Vec<u8>) -> Result<Self, Self::Error> {
        ShortMessage::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundred_fifty_four_octets_fit_and_two_hundred_fifty_five_do_not() {
        assert!(ShortMessage::new(vec![b'a'; 254]).is_ok());
        assert_eq!(ShortMessage::new(vec![b'a'; 255]), Err(ShortMessageTooLong { len: 255 }));
    }
}
