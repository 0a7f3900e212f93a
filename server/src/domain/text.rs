//! `MessageText`: the text of an outbound message with its encoding and
//! segment count, computed once when the text is accepted.
//!
//! The counting rules (GSM 03.38 septets, UCS-2 units, concatenation limits)
//! live in the `sms-text` crate; this type adds the platform's own rules:
//! no empty text, no NUL character (PostgreSQL refuses one in text), and no
//! more segments than the configured maximum.

use std::sync::Arc;

pub use sms_text::Encoding;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageTextError {
    #[error("the text is empty")]
    Empty,
    #[error("the text needs {segments} segments; at most {max} are allowed")]
    TooLong { segments: usize, max: usize },
    #[error("the text holds a NUL character (U+0000), which no phone shows")]
    Nul,
}

/// The text is shared: a request to 10,000 recipients holds it once, not
/// once per message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText {
    text: Arc<str>,
    encoding: Encoding,
    segments: usize,
}

impl MessageText {
    pub fn new(text: &str, max_segments: usize) -> Result<Self, MessageTextError> {
        if text.trim().is_empty() {
            return Err(MessageTextError::Empty);
        }
        if text.contains('\0') {
            return Err(MessageTextError::Nul);
        }
        let info = sms_text::analyze(text);
        if info.segments > max_segments {
            return Err(MessageTextError::TooLong { segments: info.segments, max: max_segments });
        }
        Ok(Self { text: Arc::from(text), encoding: info.encoding, segments: info.segments })
    }

    /// The text as it goes out for an account: transliterated first when
    /// the account (or the request) asks for it, then checked and counted.
    /// Sending, previews and estimates all count through here, so they agree.
    pub fn to_send(text: &str, transliterate: bool, max_segments: usize) -> Result<Self, MessageTextError> {
        if transliterate {
            Self::new(&sms_text::transliterate(text), max_segments)
        } else {
            Self::new(text, max_segments)
        }
    }

    /// Checks a text saved now and sent later (a keyword's or a poll's
    /// answer): it must fit `max_segments` whether or not the account
    /// transliterates by then.
    pub fn check_saved(text: &str, max_segments: usize) -> Result<(), MessageTextError> {
        Self::to_send(text, false, max_segments)?;
        Self::to_send(text, true, max_segments).map(|_| ())
    }

    /// Rebuilds a text read back from storage, recounting its segments.
    pub fn from_trusted(text: String) -> Self {
        let info = sms_text::analyze(&text);
        Self { text: Arc::from(text), encoding: info.encoding, segments: info.segments }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// `gsm7` or `ucs2`, as the API shows it.
    pub fn encoding_name(&self) -> &'static str {
        encoding_name(self.encoding)
    }

    pub fn segments(&self) -> usize {
        self.segments
    }
}

pub fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Gsm7 => "gsm7",
        Encoding::Ucs2 => "ucs2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_encoding_and_segments() {
        let t = MessageText::new("Hello", 10).unwrap();
        assert_eq!((t.encoding_name(), t.segments()), ("gsm7", 1));
        let t = MessageText::new(&"a".repeat(161), 10).unwrap();
        assert_eq!(t.segments(), 2);
        let t = MessageText::new("Zażółć gęślą jaźń", 10).unwrap();
        assert_eq!((t.encoding_name(), t.segments()), ("ucs2", 1));
    }

    #[test]
    fn rejects_empty_and_too_long_texts() {
        assert_eq!(MessageText::new("", 10).unwrap_err(), MessageTextError::Empty);
        assert_eq!(MessageText::new(" \n\t", 10).unwrap_err(), MessageTextError::Empty);
        assert_eq!(MessageText::new("Hi\0", 10).unwrap_err(), MessageTextError::Nul);
        assert_eq!(
            MessageText::new(&"a".repeat(153 * 3 + 1), 3).unwrap_err(),
            MessageTextError::TooLong { segments: 4, max: 3 }
        );
    }

    proptest! {
        #[test]
        fn any_non_blank_text_within_the_limit_is_accepted(s in "[a-zA-Z0-9 ]{1,300}") {
            prop_assume!(!s.trim().is_empty());
            let t = MessageText::new(&s, 10).unwrap();
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert!(t.segments() >= 1 && t.segments() <= 2);
        }
    }
}
