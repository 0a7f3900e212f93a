//! `SenderId`: who a message says it is from.
//!
//! Either alphanumeric (1 to 11 characters, at least one of them not a digit)
//! or numeric (up to 16 digits, optionally with a leading `+`). An
//! alphanumeric sender travels as ASCII in SMPP's `source_addr` and as GSM
//! 03.38 septets on the air, so its characters are those both read alike:
//! the printable ASCII ones of the GSM basic table (letters, digits, space
//! and `!"#$%&'()*+,-./:;<=>?@_`), one octet and one septet each. Operators
//! reject anything else, so we refuse it at the edge.

use std::fmt;

/// Longest alphanumeric sender operators accept.
pub const MAX_ALPHANUMERIC_LEN: usize = 11;
/// Longest numeric sender (digits only).
pub const MAX_NUMERIC_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderIdError {
    #[error("the sender is empty")]
    Empty,
    #[error("an alphanumeric sender has at most {MAX_ALPHANUMERIC_LEN} characters")]
    TooLongAlphanumeric,
    #[error("a numeric sender has at most {MAX_NUMERIC_LEN} digits")]
    TooLongNumeric,
    #[error(
        "an alphanumeric sender may only use letters, digits, spaces and the punctuation !\"#$%&'()*+,-./:;<=>?@_ (plain ASCII of the GSM alphabet); '{}' is not one",
        .0.escape_debug()
    )]
    InvalidCharacter(char),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SenderId {
    /// A name such as `Kurier` or `Shop-24`.
    Alphanumeric(String),
    /// A number such as `+48600100200` or a short code `7100`.
    Numeric(String),
}

impl SenderId {
    pub fn parse(input: &str) -> Result<Self, SenderIdError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(SenderIdError::Empty);
        }
        let digits = s.strip_prefix('+').unwrap_or(s);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            if digits.len() > MAX_NUMERIC_LEN {
                return Err(SenderIdError::TooLongNumeric);
            }
            return Ok(Self::Numeric(s.to_owned()));
        }
        if let Some(bad) = s.chars().find(|c| !is_sender_char(*c)) {
            return Err(SenderIdError::InvalidCharacter(bad));
        }
        // ASCII only: characters, octets and septets count alike.
        if s.len() > MAX_ALPHANUMERIC_LEN {
            return Err(SenderIdError::TooLongAlphanumeric);
        }
        Ok(Self::Alphanumeric(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Alphanumeric(s) | Self::Numeric(s) => s,
        }
    }

    pub fn is_alphanumeric(&self) -> bool {
        matches!(self, Self::Alphanumeric(_))
    }
}

/// Whether an alphanumeric sender may hold `c`: a printable ASCII
/// character (space included) of the GSM 03.38 basic table, so one octet in
/// `source_addr` and one septet on the air (`[`, `~` and the like are
/// ASCII but take an escape in GSM; `é`, `Ä` are GSM but not ASCII).
fn is_sender_char(c: char) -> bool {
    (c == ' ' || c.is_ascii_graphic())
        && sms_text::gsm7::encode(c.encode_utf8(&mut [0; 4])).is_some_and(|septets| septets.len() == 1)
}

impl fmt::Display for SenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_names_numbers_and_short_codes() {
        assert_eq!(SenderId::parse("Kurier").unwrap(), SenderId::Alphanumeric("Kurier".into()));
        assert_eq!(SenderId::parse("Shop 24").unwrap(), SenderId::Alphanumeric("Shop 24".into()));
        assert_eq!(SenderId::parse("7100").unwrap(), SenderId::Numeric("7100".into()));
        assert_eq!(SenderId::parse("+48600100200").unwrap(), SenderId::Numeric("+48600100200".into()));
        assert!(SenderId::parse("ABCDEFGHIJK").unwrap().is_alphanumeric());
        assert!(SenderId::parse("A&B_Shop-24").unwrap().is_alphanumeric());
    }

    #[test]
    fn rejects_senders_operators_would_refuse() {
        let cases = [
            ("", SenderIdError::Empty),
            ("  ", SenderIdError::Empty),
            ("ABCDEFGHIJKL", SenderIdError::TooLongAlphanumeric),
            ("12345678901234567", SenderIdError::TooLongNumeric),
            ("Zażółć", SenderIdError::InvalidCharacter('ż')),
            ("Shop😀", SenderIdError::InvalidCharacter('😀')),
            ("ÄÖÜÄÖÜÄÖÜÄÖ", SenderIdError::InvalidCharacter('Ä')),
            ("Café", SenderIdError::InvalidCharacter('é')),
            ("Shop\nX", SenderIdError::InvalidCharacter('\n')),
            ("Shop\rX", SenderIdError::InvalidCharacter('\r')),
            ("Shop\u{c}X", SenderIdError::InvalidCharacter('\u{c}')),
            ("Shop\tX", SenderIdError::InvalidCharacter('\t')),
            ("Shop[1]", SenderIdError::InvalidCharacter('[')),
            ("A~B", SenderIdError::InvalidCharacter('~')),
        ];
        for (input, want) in cases {
            assert_eq!(SenderId::parse(input).unwrap_err(), want, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn any_short_ascii_name_with_a_letter_is_alphanumeric(s in "[A-Za-z][A-Za-z0-9]{0,10}") {
            prop_assert_eq!(SenderId::parse(&s).unwrap(), SenderId::Alphanumeric(s.clone()));
        }

        #[test]
        fn any_digits_up_to_sixteen_are_numeric(s in "[0-9]{1,16}") {
            prop_assert_eq!(SenderId::parse(&s).unwrap(), SenderId::Numeric(s.clone()));
        }
    }
}
