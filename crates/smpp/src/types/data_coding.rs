//! `DataCoding`: the `data_coding` octet (spec §5.2.19): how the octets of a
//! short message encode text.
//!
//! Only the named values live here; converting text to and from octets is
//! the `sms-text` crate's job.

/// The `data_coding` octet. Values not named here (GSM 03.38 coding groups,
/// message classes) are kept as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataCoding(pub u8);

impl DataCoding {
    /// SMSC default alphabet (usually GSM 03.38 7-bit).
    pub const SMSC_DEFAULT: DataCoding = DataCoding(0x00);
    /// IA5 (CCITT T.50) / ASCII.
    pub const IA5: DataCoding = DataCoding(0x01);
    /// Octet unspecified (8-bit binary), value 2.
    pub const OCTET_UNSPECIFIED_2: DataCoding = DataCoding(0x02);
    /// Latin-1 (ISO-8859-1).
    pub const LATIN1: DataCoding = DataCoding(0x03);
    /// Octet unspecified (8-bit binary), value 4: the usual binary coding.
    pub const BINARY: DataCoding = DataCoding(0x04);
    /// JIS (X 0208-1990).
    pub const JIS: DataCoding = DataCoding(0x05);
    /// Cyrillic (ISO-8859-5).
    pub const CYRILLIC: DataCoding = DataCoding(0x06);
    /// Latin/Hebrew (ISO-8859-8).
    pub const LATIN_HEBREW: DataCoding = DataCoding(0x07);
    /// UCS-2 (ISO/IEC-10646), big-endian.
    pub const UCS2: DataCoding = DataCoding(0x08);
    /// Pictogram encoding.
    pub const PICTOGRAM: DataCoding = DataCoding(0x09);
    /// ISO-2022-JP (music codes).
    pub const ISO_2022_JP: DataCoding = DataCoding(0x0A);
    /// Extended Kanji JIS (X 0212-1990).
    pub const EXTENDED_KANJI_JIS: DataCoding = DataCoding(0x0D);
    /// KS C 5601.
    pub const KS_C_5601: DataCoding = DataCoding(0x0E);
}
