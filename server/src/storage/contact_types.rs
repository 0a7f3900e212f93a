//! What a contact holds, valid by construction: an e-mail address, a
//! language tag, a time zone name, custom field names, kinds and typed
//! values; and [`fold`], the case- and diacritics-insensitive form in which
//! names are searched and import headers are matched.
//!
//! Parsing happens at the edges (the API, the importer); storage only takes
//! these types. They are domain types in all but location and can move to
//! `domain/` unchanged. Nothing here does I/O.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike as _, NaiveDate};

/// Longest contact name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest external id, in characters.
pub const MAX_EXTERNAL_ID_LEN: usize = 100;
/// Longest notes, in characters.
pub const MAX_NOTES_LEN: usize = 5_000;
/// Most tags on one contact written at once (an API request, a row of an
/// import).
pub const MAX_CONTACT_TAGS: usize = 100;
/// Most groups named for one contact written at once (an API request, a
/// row of an import).
pub const MAX_CONTACT_GROUPS: usize = 100;
/// Longest custom text value, in characters.
pub const MAX_TEXT_VALUE_LEN: usize = 1_000;
/// Longest custom field name.
pub const MAX_FIELD_NAME_LEN: usize = 40;
/// Largest magnitude of a custom number value: beyond it, numbers stop
/// being exact in a 64-bit float and in spreadsheets.
pub const MAX_NUMBER: f64 = 1e15;
/// Longest time zone name.
const MAX_TIME_ZONE_LEN: usize = 64;

/// Why a value was refused; the message says what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("contains a control character")]
    ControlCharacter,
    #[error("'{0}' is not an e-mail address")]
    Email(String),
    #[error("'{0}' is not a language tag such as pl, en-GB or sr-Latn")]
    Language(String),
    #[error("'{0}' is not an IANA time zone such as Europe/Warsaw or UTC")]
    TimeZone(String),
    #[error(
        "'{0}' is not a field name: use 1 to {MAX_FIELD_NAME_LEN} letters a-z, digits and '_', starting with a letter"
    )]
    FieldName(String),
    #[error("'{0}' is the name of a built-in contact attribute")]
    ReservedFieldName(String),
    #[error("'{0}' is not a field kind: use text, number, date or boolean")]
    FieldKind(String),
    #[error("'{0}' is not a number")]
    Number(String),
    #[error("{0} is too large (at most {MAX_NUMBER:e} either way)")]
    NumberTooLarge(String),
    #[error("'{0}' is not a date: write it as YYYY-MM-DD")]
    Date(String),
    #[error("'{0}' is not yes or no (true/false, yes/no, 1/0)")]
    Boolean(String),
    #[error("must be {0}")]
    WrongJsonType(&'static str),
}

/// Trims `input`; `None` when nothing is left. Refuses control characters
/// (tabs and line breaks too, unless `multiline`) and over-long text.
pub fn clean_text(input: &str, max_chars: usize, multiline: bool) -> Result<Option<String>, ValueError> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(ValueError::ControlCharacter);
    }
    if s.chars().count() > max_chars {
        return Err(ValueError::TooLong(max_chars));
    }
    Ok(Some(s.to_owned()))
}

/// An e-mail address: one `@`, a plausible local part, a domain with at
/// least two labels. The domain is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let bad = || ValueError::Email(s.chars().take(80).collect());
        if s.len() > MAX_EMAIL_LEN {
            return Err(ValueError::TooLong(MAX_EMAIL_LEN));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = (1..=64).contains(&local.len())
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\"\\@".contains(c));
        let domain = domain.to_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
        if !local_ok || !domain_ok {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A BCP 47 language tag, reduced to what messaging needs: a language
/// (2–3 letters), optionally a script (4 letters) and a region (2 letters or
/// 3 digits), in canonical case: `pl`, `en-GB`, `zh-Hant-TW`, `es-419`.
/// `pl_PL` (POSIX style) is read as `pl-PL`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Language(String);

impl Language {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let bad = || ValueError::Language(s.chars().take(40).collect());
        let mut parts = s.split(['-', '_']);
        let lang = parts.next().unwrap_or_default();
        if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad());
        }
        let mut out = lang.to_ascii_lowercase();
        let (mut seen_script, mut seen_region) = (false, false);
        for part in parts {
            let letters = part.bytes().all(|b| b.is_ascii_alphabetic());
            if part.len() == 4 && letters && !seen_script && !seen_region {
                seen_script = true;
                out.push('-');
                out.push_str(&part[..1].to_ascii_uppercase());
                out.push_str(&part[1..].to_ascii_lowercase());
            } else if ((part.len() == 2 && letters)
                || (part.len() == 3 && part.bytes().all(|b| b.is_ascii_digit())))
                && !seen_region
            {
                seen_region = true;
                out.push('-');
                out.push_str(&part.to_ascii_uppercase());
            } else {
                return Err(bad());
            }
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name, checked for form (not against the database,
/// which Kurier does not carry): `UTC`, or an area such as `Europe`,
/// `America` or `Etc` followed by one or two `/`-separated names.
/// The area is put in its canonical case; the rest is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeZone(String);

/// The first part of every IANA zone name in current use.
const TIME_ZONE_AREAS: &[&str] = &[
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
    "Etc",
];

impl TimeZone {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let bad = || ValueError::TimeZone(s.chars().take(70).collect());
        if s.len() > MAX_TIME_ZONE_LEN {
            return Err(bad());
        }
        if s.eq_ignore_ascii_case("UTC") || s.eq_ignore_ascii_case("GMT") {
            return Ok(Self(s.to_ascii_uppercase()));
        }
        let mut parts = s.split('/');
        let area = parts.next().unwrap_or_default();
        let area = TIME_ZONE_AREAS.iter().find(|a| a.eq_ignore_ascii_case(area)).ok_or_else(bad)?;
        let rest: Vec<&str> = parts.collect();
        let name_ok = |p: &&str| {
            p.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
        };
        if rest.is_empty() || rest.len() > 2 || !rest.iter().all(name_ok) {
            return Err(bad());
        }
        Ok(Self(format!("{area}/{}", rest.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Names of the built-in attributes; custom fields may not take them.
pub const BUILT_IN_ATTRIBUTES: &[&str] = &[
    "id",
    "phone",
    "name",
    "first_name",
    "last_name",
    "email",
    "language",
    "time_zone",
    "external_id",
    "notes",
    "tags",
    "groups",
    "opted_out",
    "opted_out_at",
    "created_at",
    "updated_at",
];

/// A custom field's name: `[a-z][a-z0-9_]*`, lower-cased on entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldName(String);

impl FieldName {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim().to_ascii_lowercase();
        let ok = (1..=MAX_FIELD_NAME_LEN).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(ValueError::FieldName(input.trim().chars().take(60).collect()));
        }
        if BUILT_IN_ATTRIBUTES.contains(&s.as_str()) {
            return Err(ValueError::ReservedFieldName(s));
        }
        Ok(Self(s))
    }

    /// A name read back from storage, where only parsed names are kept.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The type of a custom field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    Number,
    Date,
    Boolean,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::Boolean => "boolean",
        }
    }
}

impl FromStr for FieldKind {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "string" => Ok(Self::Text),
            "number" | "numeric" => Ok(Self::Number),
            "date" => Ok(Self::Date),
            "boolean" | "bool" => Ok(Self::Boolean),
            _ => Err(ValueError::FieldKind(s.chars().take(40).collect())),
        }
    }
}

/// A custom field as defined for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub id: String,
    pub name: FieldName,
    pub kind: FieldKind,
    pub created_at: i64,
}

/// A custom field's value, of its field's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(String),
    Number(f64),
    Date(NaiveDate),
    Boolean(bool),
}

impl FieldValue {
    /// Reads a value written as text (an import cell, a query parameter).
    /// `None` for an empty cell.
    pub fn parse_text(kind: FieldKind, input: &str) -> Result<Option<Self>, ValueError> {
        let s = input.trim();
        if s.is_empty() {
            return Ok(None);
        }
        Ok(Some(match kind {
            FieldKind::Text => Self::Text(clean_text(s, MAX_TEXT_VALUE_LEN, false)?.unwrap_or_default()),
            FieldKind::Number => Self::Number(parse_number(s)?),
            FieldKind::Date => Self::Date(parse_date(s)?),
            FieldKind::Boolean => Self::Boolean(parse_bool(s)?),
        }))
    }

    /// Reads a value from JSON: the JSON type of the kind, or text in the
    /// forms [`FieldValue::parse_text`] reads. `None` for `null`.
    pub fn from_json(kind: FieldKind, value: &serde_json::Value) -> Result<Option<Self>, ValueError> {
        use serde_json::Value;
        match (kind, value) {
            (_, Value::Null) => Ok(None),
            (_, Value::String(s)) => {
                Self::parse_text(kind, s).and_then(|v| v.map(Some).ok_or(ValueError::Empty))
            }
            (FieldKind::Number, Value::Number(n)) => {
                let x = n.as_f64().ok_or_else(|| ValueError::Number(n.to_string()))?;
                check_number(x, || n.to_string()).map(|x| Some(Self::Number(x)))
            }
            (FieldKind::Boolean, Value::Bool(b)) => Ok(Some(Self::Boolean(*b))),
            (FieldKind::Text, _) => Err(ValueError::WrongJsonType("text")),
            (FieldKind::Number, _) => Err(ValueError::WrongJsonType("a number")),
            (FieldKind::Date, _) => Err(ValueError::WrongJsonType("a date as text, YYYY-MM-DD")),
            (FieldKind::Boolean, _) => Err(ValueError::WrongJsonType("true or false")),
        }
    }

    /// The canonical text stored (and compared by filters).
    pub fn to_stored(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number(x) => format_number(*x),
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
            Self::Boolean(b) => b.to_string(),
        }
    }

    /// Rebuilds a stored value; text that no longer fits the kind (it
    /// cannot, as values are checked on entry) is kept as text.
    pub fn from_stored(kind: FieldKind, stored: &str) -> Self {
        match Self::parse_text(kind, stored) {
            Ok(Some(v)) => v,
            _ => Self::Text(stored.to_owned()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Text(s) => s.clone().into(),
            Self::Number(x) if x.fract() == 0.0 && x.abs() <= MAX_NUMBER => (*x as i64).into(),
            Self::Number(x) => serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into),
            Self::Date(_) => self.to_stored().into(),
            Self::Boolean(b) => (*b).into(),
        }
    }
}

fn check_number(x: f64, text: impl Fn() -> String) -> Result<f64, ValueError> {
    if !x.is_finite() {
        return Err(ValueError::Number(text()));
    }
    if x.abs() > MAX_NUMBER {
        return Err(ValueError::NumberTooLarge(text()));
    }
    Ok(if x == 0.0 { 0.0 } else { x })
}

/// Reads `1234`, `-12.5`, `12,5`, `1 234,50`, `1,234.50` (the last of `.`
/// and `,` is the decimal separator). No exponents, no `inf` or `NaN`.
pub fn parse_number(input: &str) -> Result<f64, ValueError> {
    let bad = || ValueError::Number(input.chars().take(40).collect());
    let s: String =
        input.trim().chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'')).collect();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.strip_prefix('+').unwrap_or(&s)),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        return Err(bad());
    }
    let decimal = digits.rfind(['.', ',']);
    let mut plain = String::with_capacity(digits.len() + 1);
    plain.push_str(sign);
    for (i, c) in digits.char_indices() {
        match c {
            '.' | ',' if Some(i) == decimal => plain.push('.'),
            '.' | ',' => {}
            d => plain.push(d),
        }
    }
    // `1.234` alone is a decimal, but `1.234.567` is thousands: then the
    // last separator is a thousands separator too.
    let separators = digits.chars().filter(|c| matches!(c, '.' | ',')).count();
    let same_kind =
        digits.chars().filter(|c| Some(*c) == decimal.map(|i| digits.as_bytes()[i] as char)).count();
    if separators > 1 && same_kind == separators {
        plain.retain(|c| c != '.');
    }
    if plain.ends_with('.') || plain.trim_start_matches('-').starts_with('.') {
        return Err(bad());
    }
    let x: f64 = plain.parse().map_err(|_| bad())?;
    check_number(x, || input.trim().to_owned())
}

/// A number in plain decimal, without exponent or trailing zeros.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() <= MAX_NUMBER { format!("{}", x as i64) } else { format!("{x}") }
}

/// Reads `2024-05-01`, `2024/05/01`, `01.05.2024`, and the date part of
/// `2024-05-01T10:00:00` or `2024-05-01 10:00:00`. Other orders (is
/// `01/05/2024` May or January?) are refused rather than guessed.
pub fn parse_date(input: &str) -> Result<NaiveDate, ValueError> {
    let s = input.trim();
    let bad = || ValueError::Date(s.chars().take(40).collect());
    let head = s.split(['T', ' ']).next().unwrap_or(s);
    let date = NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(head, "%Y/%m/%d"))
        .or_else(|_| NaiveDate::parse_from_str(head, "%d.%m.%Y"))
        .map_err(|_| bad())?;
    if !(1000..=9999).contains(&date.year()) {
        return Err(bad());
    }
    Ok(date)
}

/// Reads yes/no in the forms spreadsheets and people write them, in
/// English, Polish, Czech and Russian.
pub fn parse_bool(input: &str) -> Result<bool, ValueError> {
    match fold(input.trim()).as_str() {
        "true" | "t" | "yes" | "y" | "1" | "tak" | "ano" | "да" | "x" => Ok(true),
        "false" | "f" | "no" | "n" | "0" | "nie" | "ne" | "нет" => Ok(false),
        _ => Err(ValueError::Boolean(input.trim().chars().take(40).collect())),
    }
}

/// Lower case without diacritics, for matching what people type:
/// `Łukasz Żółć` → `lukasz zolc`, `Ёлка` → `елка`. Combining marks are
/// dropped; letters of other scripts are only lower-cased.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match fold_char(c) {
            Folded::Keep => out.push(c),
            Folded::Drop => {}
            Folded::One(f) => out.push(f),
            Folded::Two(a, b) => {
                out.push(a);
                out.push(b);
            }
        }
    }
    out
}

/// [`fold`] keeping only letters and digits: how column headers compare
/// (`E-mail`, `e_mail` and `EMAIL` are all `email`).
pub fn fold_key(s: &str) -> String {
    fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

enum Folded {
    Keep,
    Drop,
    One(char),
    Two(char, char),
}

fn fold_char(c: char) -> Folded {
    use Folded::{Drop, Keep, One, Two};
    match c {
        '\u{300}'..='\u{36f}' => Drop,
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => One('a'),
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => One('c'),
        'ď' | 'đ' => One('d'),
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => One('e'),
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => One('g'),
        'ĥ' | 'ħ' => One('h'),
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => One('i'),
        'ĵ' => One('j'),
        'ķ' => One('k'),
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => One('l'),
        'ñ' | 'ń' | 'ņ' | 'ň' => One('n'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => One('o'),
        'ŕ' | 'ŗ' | 'ř' => One('r'),
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => One('s'),
        'ţ' | 'ť' | 'ŧ' | 'ț' => One('t'),
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => One('u'),
        'ý' | 'ÿ' => One('y'),
        'ź' | 'ż' | 'ž' => One('z'),
        'ß' => Two('s', 's'),
        'æ' => Two('a', 'e'),
        'œ' => Two('o', 'e'),
        'ё' => One('е'),
        _ => Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn e_mail_addresses_are_checked_and_their_domain_lower_cased() {
        assert_eq!(Email::parse(" Jan.Kowalski@Example.PL ").unwrap().as_str(), "Jan.Kowalski@example.pl");
        assert_eq!(Email::parse("a+b@poczta.onet.pl").unwrap().as_str(), "a+b@poczta.onet.pl");
        assert_eq!(Email::parse("иван@почта.рф").unwrap().as_str(), "иван@почта.рф");
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@b.pl",
            "a b@c.pl",
            "a@b..pl",
            "a@-b.pl",
            ".a@b.pl",
            "a..b@c.pl",
            "a@b.1",
            "<a>@b.pl",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Email::parse("  ").unwrap_err(), ValueError::Empty);
        assert_eq!(
            Email::parse(&format!("{}@b.pl", "a".repeat(260))).unwrap_err(),
            ValueError::TooLong(MAX_EMAIL_LEN)
        );
    }

    #[test]
    fn language_tags_are_put_in_canonical_case() {
        for (input, want) in [
            ("pl", "pl"),
            ("PL", "pl"),
            ("en-gb", "en-GB"),
            ("pl_PL", "pl-PL"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sr-Latn", "sr-Latn"),
        ] {
            assert_eq!(Language::parse(input).unwrap().as_str(), want, "{input}");
        }
        for bad in ["p", "polish", "pl-", "pl-PL-PL", "pl-12", "en-GB-Latn", "1a", "pl PL"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_need_a_known_area_and_a_plausible_name() {
        for (input, want) in [
            ("Europe/Warsaw", "Europe/Warsaw"),
            ("europe/Warsaw", "Europe/Warsaw"),
            ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
            ("America/Port-au-Prince", "America/Port-au-Prince"),
            ("Etc/GMT+2", "Etc/GMT+2"),
            ("utc", "UTC"),
        ] {
            assert_eq!(TimeZone::parse(input).unwrap().as_str(), want, "{input}");
        }
        for bad in
            ["Warsaw", "Mars/Olympus", "Europe/", "Europe/Warsaw/A/B", "Europe/War saw", "+02:00", "CET"]
        {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_names_are_identifiers_and_not_built_in_attributes() {
        assert_eq!(FieldName::parse("City").unwrap().as_str(), "city");
        assert_eq!(FieldName::parse("member_since_2").unwrap().as_str(), "member_since_2");
        for bad in ["", "2nd", "with space", "miasto-główne", &"a".repeat(41)] {
            assert!(matches!(FieldName::parse(bad), Err(ValueError::FieldName(_))), "{bad}");
        }
        assert_eq!(FieldName::parse("Phone").unwrap_err(), ValueError::ReservedFieldName("phone".into()));
    }

    #[test]
    fn values_are_read_as_their_kind_and_stored_canonically() {
        let cases: &[(FieldKind, &str, &str)] = &[
            (FieldKind::Number, "42", "42"),
            (FieldKind::Number, "-12,5", "-12.5"),
            (FieldKind::Number, "1 234,50", "1234.5"),
            (FieldKind::Number, "1,234.50", "1234.5"),
            (FieldKind::Number, "1.234.567", "1234567"),
            (FieldKind::Number, "0.25", "0.25"),
            (FieldKind::Number, "-0", "0"),
            (FieldKind::Date, "2024-05-01", "2024-05-01"),
            (FieldKind::Date, "01.05.2024", "2024-05-01"),
            (FieldKind::Date, "2024/5/1", "2024-05-01"),
            (FieldKind::Date, "2024-05-01T10:00:00Z", "2024-05-01"),
            (FieldKind::Boolean, "Tak", "true"),
            (FieldKind::Boolean, "no", "false"),
            (FieldKind::Boolean, "1", "true"),
            (FieldKind::Boolean, "НЕТ", "false"),
            (FieldKind::Text, "  Kraków ", "Kraków"),
        ];
        for (kind, input, want) in cases {
            let v = FieldValue::parse_text(*kind, input).unwrap().unwrap();
            assert_eq!(v.to_stored(), *want, "{input}");
            assert_eq!(FieldValue::from_stored(*kind, want), v, "{input} round trip");
        }
        assert_eq!(FieldValue::parse_text(FieldKind::Number, "  ").unwrap(), None);
    }

    #[test]
    fn values_that_do_not_fit_their_kind_are_refused() {
        let cases: &[(FieldKind, &str)] = &[
            (FieldKind::Number, "abc"),
            (FieldKind::Number, "1e5"),
            (FieldKind::Number, "inf"),
            (FieldKind::Number, "NaN"),
            (FieldKind::Number, "12."),
            (FieldKind::Number, ".5"),
            (FieldKind::Number, "1-2"),
            (FieldKind::Number, "9999999999999999"),
            (FieldKind::Date, "01/05/2024"),
            (FieldKind::Date, "2024-02-30"),
            (FieldKind::Date, "tomorrow"),
            (FieldKind::Date, "0001-01-01"),
            (FieldKind::Boolean, "maybe"),
            (FieldKind::Text, "bell\u{7}"),
        ];
        for (kind, input) in cases {
            assert!(FieldValue::parse_text(*kind, input).is_err(), "{kind:?} {input}");
        }
        assert!(FieldValue::parse_text(FieldKind::Text, &"x".repeat(MAX_TEXT_VALUE_LEN + 1)).is_err());
    }

    #[test]
    fn json_values_must_have_the_type_of_their_kind() {
        use serde_json::json;
        let ok = |k, v: serde_json::Value| FieldValue::from_json(k, &v).unwrap();
        assert_eq!(ok(FieldKind::Number, json!(42)), Some(FieldValue::Number(42.0)));
        assert_eq!(ok(FieldKind::Number, json!("42,5")), Some(FieldValue::Number(42.5)));
        assert_eq!(ok(FieldKind::Boolean, json!(true)), Some(FieldValue::Boolean(true)));
        assert_eq!(ok(FieldKind::Text, json!(null)), None);
        assert_eq!(FieldValue::Number(42.0).to_json(), json!(42));
        assert_eq!(FieldValue::Number(0.5).to_json(), json!(0.5));
        for (kind, v) in [
            (FieldKind::Text, json!(5)),
            (FieldKind::Number, json!(true)),
            (FieldKind::Date, json!(20240501)),
            (FieldKind::Boolean, json!("perhaps")),
            (FieldKind::Text, json!("")),
        ] {
            assert!(FieldValue::from_json(kind, &v).is_err(), "{kind:?} {v}");
        }
    }

    #[test]
    fn folding_removes_case_and_diacritics() {
        assert_eq!(fold("Łukasz ŻÓŁĆ"), "lukasz zolc");
        assert_eq!(fold("Příliš žluťoučký kůň"), "prilis zlutoucky kun");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Ёлка Телефон"), "елка телефон");
        assert_eq!(fold("e\u{301}"), "e");
        assert_eq!(fold_key("E-mail"), "email");
        assert_eq!(fold_key(" Nr. telefonu "), "nrtelefonu");
    }

    #[test]
    fn text_is_trimmed_and_control_characters_refused() {
        assert_eq!(clean_text("  a  ", 10, false).unwrap(), Some("a".into()));
        assert_eq!(clean_text("   ", 10, false).unwrap(), None);
        assert_eq!(clean_text("a\nb", 10, true).unwrap(), Some("a\nb".into()));
        assert_eq!(clean_text("a\nb", 10, false).unwrap_err(), ValueError::ControlCharacter);
        assert_eq!(clean_text("abc", 2, false).unwrap_err(), ValueError::TooLong(2));
    }

    proptest! {
        #[test]
        fn parsing_any_text_never_panics(s in ".{0,80}") {
            let _ = Email::parse(&s);
            let _ = Language::parse(&s);
            let _ = TimeZone::parse(&s);
            let _ = FieldName::parse(&s);
            for kind in [FieldKind::Text, FieldKind::Number, FieldKind::Date, FieldKind::Boolean] {
                if let Ok(Some(v)) = FieldValue::parse_text(kind, &s) {
                    prop_assert_eq!(FieldValue::from_stored(kind, &v.to_stored()), v);
                }
            }
            let _ = fold_key(&s);
        }

        #[test]
        fn any_number_written_plainly_round_trips(x in -1e12f64..1e12f64) {
            let text = format_number(x);
            prop_assert_eq!(parse_number(&text).unwrap(), x);
        }
    }
}
