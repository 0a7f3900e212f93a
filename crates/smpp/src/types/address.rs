//! `Address<N>`: a TON, an NPI and an address string of at most `N` octets
//! (spec §5.2.5–§5.2.8).
//!
//! `Ton` and `Npi` name the 3.4 values and keep anything else in `Other(u8)`
//! so a peer's unusual value never fails a decode. Whether an address is a
//! valid phone number is the domain layer's business, not this module's.

use super::{COctetString, CStringError};

/// Type of Number (spec §5.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ton {
    #[default]
    Unknown,
    International,
    National,
    NetworkSpecific,
    SubscriberNumber,
    Alphanumeric,
    Abbreviated,
    /// Any value 3.4 does not name. `Other(1)` encodes like `International`
    /// but will decode as `International`.
    Other(u8),
}

impl From<u8> for Ton {
    fn from(value: u8) -> Self {
        match value {
            0 => Ton::Unknown,
            1 => Ton::International,
            2 => Ton::National,
            3 => Ton::NetworkSpecific,
            4 => Ton::SubscriberNumber,
            5 => Ton::Alphanumeric,
            6 => Ton::Abbreviated,
            other => Ton::Other(other),
        }
    }
}

impl From<Ton> for u8 {
    fn from(ton: Ton) -> u8 {
        match ton {
            Ton::Unknown => 0,
            Ton::International => 1,
            Ton::National => 2,
            Ton::NetworkSpecific => 3,
            Ton::SubscriberNumber => 4,
            Ton::Alphanumeric => 5,
            Ton::Abbreviated => 6,
            Ton::Other(other) => other,
        }
    }
}

/// Numbering Plan Indicator (spec §5.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Npi {
    #[default]
    Unknown,
    /// ISDN, E.163/E.164: ordinary phone numbers.
    Isdn,
    /// Data, X.121.
    Data,
    /// Telex, F.69.
    Telex,
    /// Land mobile, E.212.
    LandMobile,
    National,
    Private,
    Ermes,
    /// Internet (IP).
    Internet,
    WapClientId,
    /// Any value 3.4 does not name.
    Other(u8),
}

impl From<u8> for Npi {
    fn from(value: u8) -> Self {
        match value {
            0 => Npi::Unknown,
            1 => Npi::Isdn,
            3 => Npi::Data,
            4 => Npi::Telex,
            6 => Npi::LandMobile,
            8 => Npi::National,
            9 => Npi::Private,
            10 => Npi::Ermes,
            14 => Npi::Internet,
            18 => Npi::WapClientId,
            other => Npi::Other(other),
        }
    }
}

impl From<Npi> for u8 {
    fn from(npi: Npi) -> u8 {
        match npi {
            Npi::Unknown => 0,
            Npi::Isdn => 1,
            Npi::Data => 3,
            Npi::Telex => 4,
            Npi::LandMobile => 6,
            Npi::National => 8,
            Npi::Private => 9,
            Npi::Ermes => 10,
            Npi::Internet => 14,
            Npi::WapClientId => 18,
            Npi::Other(other) => other,
        }
    }
}

/// An SME address: `*_ton`, `*_npi` and the address string, which holds at
/// most `N - 1` octets (`N` = 21 for `source_addr`/`destination_addr`, 65 in
/// `data_sm` and `alert_notification`, 41 for a bind's `address_range`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Address<const N: usize> {
    pub ton: Ton,
    pub npi: Npi,
    pub addr: COctetString<N>,
}

impl<const N: usize> Address<N> {
    pub fn new(ton: Ton, npi: Npi, addr: &str) -> Result<Self, CStringError> {
        Ok(Address { ton, npi, addr: COctetString::try_from(addr)? })
    }

    /// TON international, NPI ISDN: an E.164 number without the `+`.
    pub fn international(addr: &str) -> Result<Self, CStringError> {
        Address::new(Ton::International, Npi::Isdn, addr)
    }

    /// TON alphanumeric, NPI unknown: a sender name such as `"Kurier"`.
    pub fn alphanumeric(addr: &str) -> Result<Self, CStringError> {
        Address::new(Ton::Alphanumeric, Npi::Unknown, addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ton_and_npi_octet_survives_a_round_trip() {
        for value in 0..=u8::MAX {
            assert_eq!(u8::from(Ton::from(value)), value);
            assert_eq!(u8::from(Npi::from(value)), value);
        }
    }

    #[test]
    fn unnamed_values_decode_into_other() {
        assert_eq!(Ton::from(7), Ton::Other(7));
        assert_eq!(Npi::from(2), Npi::Other(2));
    }

    #[test]
    fn a_destination_address_holds_twenty_octets() {
        assert!(Address::<21>::international("12345678901234567890").is_ok());
        assert!(Address::<21>::international("123456789012345678901").is_err());
    }
}
