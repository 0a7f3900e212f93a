//! `PhoneNumber`: a valid number in E.164 form (`+48600100200`).
//!
//! Numbers are parsed with libphonenumber's metadata (the `phonenumber` crate),
//! so a national number needs a default region and every number must be valid
//! for its country, not merely look like digits.

use std::fmt;
use std::str::FromStr;

use phonenumber::Mode;

/// A region (ISO 3166 alpha-2, e.g. `PL`) used to read national numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl FromStr for Region {
    type Err = PhoneNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .map(Region)
            .map_err(|_| PhoneNumberError::UnknownRegion(s.to_owned()))
    }
}

/// The country of an E.164 number (or of its first digits): its calling
/// code and the main region that uses it (`+48…` → 48, `PL`; `+1…` → 1,
/// `US`, shared with Canada and others). `None` when no calling code fits.
pub fn country_of(e164: &str) -> Option<(u16, &'static str)> {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    // Calling codes are 1 to 3 digits and none is a prefix of another.
    (1..=3.min(digits.len())).find_map(|n| {
        let code: u16 = digits.get(..n)?.parse().ok()?;
        let regions = phonenumber::metadata::DATABASE.by_code(&code)?;
        regions.first().map(|m| (code, m.id()))
    })
}

/// Loads libphonenumber's metadata, which otherwise loads (for tens of
/// milliseconds, every caller waiting) when the first number is read.
pub fn load_metadata() {
    let _ = &*phonenumber::metadata::DATABASE;
}

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("the phone number is empty")]
    Empty,
    #[error("the phone number is too long")]
    TooLong,
    #[error("'{0}' is not a phone number")]
    NotANumber(String),
    #[error(
        "'{0}' is a national number; write it with a country code (+48...) or configure messages.default_region"
    )]
    NoRegion(String),
    #[error("'{0}' is not a valid phone number for its country")]
    Invalid(String),
    #[error("unknown region '{0}' (expected a two-letter country code such as PL)")]
    UnknownRegion(String),
}

/// A phone number in E.164 form; always valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Longer digit strings from an SMSC are read as international numbers
/// first ([`PhoneNumber::is_bare_international`]).
const MIN_BARE_INTERNATIONAL: usize = 8;

/// Longest input we bother to parse; anything longer is not a phone number.
const MAX_INPUT_LEN: usize = 64;

impl PhoneNumber {
    /// Parses a number as a user typed it: `+48 600 100 200`, `0048600100200`,
    /// or `600100200` when `region` is given.
    pub fn parse(input: &str, region: Option<Region>) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        if trimmed.len() > MAX_INPUT_LEN {
            return Err(PhoneNumberError::TooLong);
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'))
        {
            return Err(PhoneNumberError::NotANumber(trimmed.to_owned()));
        }
        let international = trimmed.starts_with('+') || trimmed.starts_with("00");
        let normalised = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_owned(),
        };
        if !international && region.is_none() {
            return Err(PhoneNumberError::NoRegion(trimmed.to_owned()));
        }
        let parsed = phonenumber::parse(region.map(|r| r.0), &normalised)
            .map_err(|_| PhoneNumberError::NotANumber(trimmed.to_owned()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneNumberError::Invalid(trimmed.to_owned()));
        }
        Ok(Self(parsed.format().mode(Mode::E164).to_string()))
    }

    /// Reads an address as an SMSC gives it: E.164, or its digits without
    /// the `+` (a long digit string, as SMSCs write international numbers
    /// with a type of number other than international), or a national
    /// number of `region`. A long digit string that is no valid
    /// international number is read as national.
    pub fn parse_address(input: &str, region: Option<Region>) -> Result<Self, PhoneNumberError> {
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if Self::is_bare_international(&compact)
            && let Ok(n) = Self::parse(&format!("+{compact}"), None)
        {
            return Ok(n);
        }
        Self::parse(input.trim(), region)
    }

    /// Whether `digits` (spaces taken out) may be an international number
    /// written without its `+`: digits only, longer than a national number
    /// tends to be. SMSCs write addresses so; [`Self::parse_address`] and
    /// `storage::number_spellings` both read them by this rule.
    pub fn is_bare_international(digits: &str) -> bool {
        digits.len() > MIN_BARE_INTERNATIONAL && digits.bytes().all(|b| b.is_ascii_digit())
    }

    /// Rebuilds a number that was validated before (read back from storage).
    /// Storage only ever holds numbers that went through [`PhoneNumber::parse`].
    pub fn from_trusted(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country (ISO 3166 alpha-2, e.g. `PL`) the number belongs to, by
    /// libphonenumber's metadata.
    pub fn country(&self) -> Option<String> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        parsed.country().id().map(|id| id.as_ref().to_owned())
    }

    /// The digits without the leading `+`, as SMPP addresses carry them.
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches('+')
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pl() -> Option<Region> {
        Some("PL".parse().unwrap())
    }

    #[test]
    fn accepts_the_usual_ways_of_writing_a_number() {
        for input in [
            "+48600100200",
            "+48 600 100 200",
            "0048600100200",
            "600100200",
            "600-100-200",
            " +48 (600) 100-200 ",
        ] {
            let n = PhoneNumber::parse(input, pl()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(n.as_str(), "+48600100200", "{input}");
        }
        let bg = PhoneNumber::parse("+359 88 123 4567", None).unwrap();
        assert_eq!(bg.as_str(), "+359881234567");
        assert_eq!(bg.digits(), "359881234567");
    }

    #[test]
    fn rejects_what_is_not_a_valid_number() {
        let cases: &[(&str, Option<Region>, PhoneNumberError)] = &[
            ("", pl(), PhoneNumberError::Empty),
            ("   ", pl(), PhoneNumberError::Empty),
            ("hello", pl(), PhoneNumberError::NotANumber("hello".into())),
            ("+48abc", pl(), PhoneNumberError::NotANumber("+48abc".into())),
            ("600100200", None, PhoneNumberError::NoRegion("600100200".into())),
            ("+48 12", pl(), PhoneNumberError::Invalid("+48 12".into())),
            ("+999123456789", None, PhoneNumberError::NotANumber("+999123456789".into())),
        ];
        for (input, region, want) in cases {
            assert_eq!(&PhoneNumber::parse(input, *region).unwrap_err(), want, "{input:?}");
        }
        assert_eq!(PhoneNumber::parse(&"1".repeat(65), pl()).unwrap_err(), PhoneNumberError::TooLong);
    }

    #[test]
    fn an_smsc_address_is_read_with_or_without_its_plus_or_as_national() {
        let cases: &[(&str, Option<Region>, Option<&str>)] = &[
            ("+48600100200", None, Some("+48600100200")),
            ("48600100200", None, Some("+48600100200")),
            ("48600100200", pl(), Some("+48600100200")),
            ("4915112345678", pl(), Some("+4915112345678")),
            ("600100200", pl(), Some("+48600100200")),
            ("0048600100200", pl(), Some("+48600100200")),
            ("48 600 100 200", None, Some("+48600100200")),
            ("600100200", None, None),
            ("7100", pl(), None),
            ("Kurier", pl(), None),
            ("", pl(), None),
        ];
        for (input, region, want) in cases {
            let got = PhoneNumber::parse_address(input, *region).ok();
            assert_eq!(got.as_ref().map(PhoneNumber::as_str), *want, "{input:?} in {region:?}");
        }
    }

    #[test]
    fn unknown_regions_are_refused() {
        assert!("XX".parse::<Region>().is_err());
        assert!("pl".parse::<Region>().is_ok());
    }

    proptest! {
        #[test]
        fn any_polish_mobile_in_any_spacing_normalises_to_e164(
            first in prop::sample::select(vec!['5', '6', '7', '8']),
            rest in "[0-9]{8}",
            sep in prop::sample::select(vec!["", " ", "-"]),
            prefix in prop::sample::select(vec!["+48", "0048", ""]),
        ) {
            let national = format!("{first}{rest}");
            let spaced = format!("{}{sep}{}{sep}{}", &national[..3], &national[3..6], &national[6..]);
            let input = format!("{prefix}{spaced}");
            if let Ok(n) = PhoneNumber::parse(&input, pl()) {
                prop_assert_eq!(n.as_str(), format!("+48{national}"));
            }
        }

        #[test]
        fn parsing_never_panics(input in ".{0,80}") {
            let _ = PhoneNumber::parse(&input, pl());
        }
    }

    #[test]
    fn a_number_or_its_first_digits_tell_the_country() {
        assert_eq!(country_of("+48600100200"), Some((48, "PL")));
        assert_eq!(country_of("+359881234567"), Some((359, "BG")));
        assert_eq!(country_of("+79161234567"), Some((7, "RU")));
        assert_eq!(country_of("+1416"), Some((1, "US")));
        assert_eq!(country_of("+4860"), Some((48, "PL")));
        assert_eq!(country_of("+"), None);
        assert_eq!(country_of("+999"), None);
    }
}
