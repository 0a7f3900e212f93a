//! Money: a `Currency` (ISO 4217 code with its number of decimals) and
//! amounts as integer minor units (cents for EUR, yen for JPY), never
//! floats. Amounts enter as decimal text (`"0.07"`) and are refused when
//! they have more decimals than the currency allows, so `"0.075 EUR"` is an
//! error rather than a silently rounded price.

use std::fmt;

/// Largest amount we accept, in minor units: far above any real balance,
/// far below where sums of many amounts could overflow an `i64`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not an ISO 4217 currency code (such as EUR, PLN or USD)")]
    UnknownCurrency(String),
    #[error("'{0}' is not a decimal amount (write it like 12.50)")]
    NotAnAmount(String),
    #[error("'{amount}' has {decimals} decimals; {currency} allows at most {allowed}")]
    TooManyDecimals { amount: String, decimals: usize, currency: String, allowed: u32 },
    #[error("'{0}' is too large")]
    TooLarge(String),
    #[error("'{0}' is negative; only a positive amount or zero is allowed here")]
    Negative(String),
}

/// An ISO 4217 currency: its code and how many decimals its minor unit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

/// Active ISO 4217 codes whose minor unit is not a hundredth.
const EXPONENTS: &[(&str, u32)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLF", 4),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// Active ISO 4217 codes with a hundredth as minor unit.
const TWO_DECIMALS: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL \
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD \
    FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP \
    LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB \
    PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB \
    TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG";

impl Currency {
    /// Reads a currency code, in any letter case.
    pub fn parse(input: &str) -> Result<Self, MoneyError> {
        let code = input.trim().to_ascii_uppercase();
        let bytes: [u8; 3] = code
            .as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; 3]| b.iter().all(u8::is_ascii_uppercase))
            .ok_or_else(|| MoneyError::UnknownCurrency(input.trim().to_owned()))?;
        let exponent = match EXPONENTS.iter().find(|(c, _)| *c == code) {
            Some((_, e)) => *e,
            None if TWO_DECIMALS.split_ascii_whitespace().any(|c| c == code) => 2,
            None => return Err(MoneyError::UnknownCurrency(input.trim().to_owned())),
        };
        Ok(Self { code: bytes, exponent })
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Decimals of the minor unit: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Reads a decimal amount (`"12"`, `"0.07"`, `"1.5"`) as minor units;
    /// refuses negative amounts.
    pub fn parse_amount(&self, input: &str) -> Result<i64, MoneyError> {
        let minor = self.parse_signed_amount(input)?;
        if minor < 0 {
            return Err(MoneyError::Negative(input.trim().to_owned()));
        }
        Ok(minor)
    }

    /// Reads a decimal amount that may be negative (`"-5.00"`).
    pub fn parse_signed_amount(&self, input: &str) -> Result<i64, MoneyError> {
        let text = input.trim();
        let not_amount = || MoneyError::NotAnAmount(text.to_owned());
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (unsigned.contains('.') && fraction.is_empty())
        {
            return Err(not_amount());
        }
        let significant = fraction.trim_end_matches('0');
        if significant.len() > self.exponent as usize {
            return Err(MoneyError::TooManyDecimals {
                amount: text.to_owned(),
                decimals: significant.len(),
                currency: self.code().to_owned(),
                allowed: self.exponent,
            });
        }
        let too_large = || MoneyError::TooLarge(text.to_owned());
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let mut minor = whole.checked_mul(10i64.pow(self.exponent)).ok_or_else(too_large)?;
        if !significant.is_empty() {
            let scale = 10i64.pow(self.exponent - significant.len() as u32);
            let part: i64 = significant.parse().map_err(|_| not_amount())?;
            minor = minor.checked_add(part * scale).ok_or_else(too_large)?;
        }
        if minor > MAX_AMOUNT_MINOR {
            return Err(too_large());
        }
        Ok(if negative { -minor } else { minor })
    }

    /// Minor units as decimal text with exactly the currency's decimals.
    pub fn format(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        if self.exponent == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10u64.pow(self.exponent);
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = self.exponent as usize)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A destination prefix of a price list: 1 to 15 digits of an E.164
/// number without the `+` (`48` is Poland, `4860` part of it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a destination prefix (1 to 15 digits, optionally after '+')")]
pub struct PrefixError(pub String);

impl Prefix {
    pub fn parse(input: &str) -> Result<Self, PrefixError> {
        let t = input.trim();
        let digits = t.strip_prefix('+').unwrap_or(t);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PrefixError(t.to_owned()));
        }
        Ok(Self(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The UTC calendar month a time falls in, `YYYY-MM`: the period packages,
/// quotas and statements count in.
pub fn period_of(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format("%Y-%m").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("eur").unwrap()
    }

    #[test]
    fn currencies_know_their_decimals() {
        assert_eq!(eur().exponent(), 2);
        assert_eq!(eur().code(), "EUR");
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse(" pln ").unwrap().code(), "PLN");
    }

    #[test]
    fn unknown_currencies_are_refused() {
        for bad in ["", "EU", "EURO", "XYZ", "€", "12A", "ÉUR"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_read_as_minor_units() {
        let cases = [("0.07", 7), ("12", 1200), ("1.5", 150), ("1.50", 150), ("0.070", 7), ("+3", 300)];
        for (text, minor) in cases {
            assert_eq!(eur().parse_amount(text), Ok(minor), "{text}");
        }
        assert_eq!(Currency::parse("JPY").unwrap().parse_amount("5"), Ok(5));
        assert_eq!(Currency::parse("KWD").unwrap().parse_amount("0.125"), Ok(125));
        assert_eq!(eur().parse_signed_amount("-2.50"), Ok(-250));
    }

    #[test]
    fn bad_amounts_are_refused_with_the_reason() {
        assert_eq!(
            eur().parse_amount("0.075"),
            Err(MoneyError::TooManyDecimals {
                amount: "0.075".into(),
                decimals: 3,
                currency: "EUR".into(),
                allowed: 2
            })
        );
        assert!(matches!(
            Currency::parse("JPY").unwrap().parse_amount("1.5"),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        for bad in ["", ".5", "5.", "1,50", "1e3", "abc", "--1", "1.2.3", " ", "0x10"] {
            assert!(matches!(eur().parse_amount(bad), Err(MoneyError::NotAnAmount(_))), "{bad}");
        }
        assert!(matches!(eur().parse_amount("-1"), Err(MoneyError::Negative(_))));
        assert!(matches!(eur().parse_amount("99999999999999999999"), Err(MoneyError::TooLarge(_))));
    }

    #[test]
    fn amounts_are_written_with_the_currency_decimals() {
        assert_eq!(eur().format(7), "0.07");
        assert_eq!(eur().format(123456), "1234.56");
        assert_eq!(eur().format(-250), "-2.50");
        assert_eq!(Currency::parse("JPY").unwrap().format(500), "500");
        assert_eq!(Currency::parse("KWD").unwrap().format(5), "0.005");
    }

    #[test]
    fn prefixes_are_digits() {
        assert_eq!(Prefix::parse("+48").unwrap().as_str(), "48");
        assert_eq!(Prefix::parse("4860").unwrap().as_str(), "4860");
        for bad in ["", "+", "48a", "1234567890123456", "+ 48"] {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_are_utc_months() {
        assert_eq!(period_of(0), "1970-01");
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-30T23:59:59Z").unwrap().timestamp_micros();
        assert_eq!(period_of(t), "2026-11");
    }

    proptest! {
        #[test]
        fn formatted_amounts_read_back(minor in 0i64..MAX_AMOUNT_MINOR) {
            for code in ["EUR", "JPY", "KWD"] {
                let c = Currency::parse(code).unwrap();
                prop_assert_eq!(c.parse_amount(&c.format(minor)), Ok(minor));
            }
        }
    }
}
