//! Which contact attribute each column of an imported table fills.
//!
//! Headers are compared folded (no case, no diacritics, letters and digits
//! only), against the account's custom fields and a list of common names in
//! the languages Kurier's users write (`Telefon`, `Nr tel.`, `MSISDN`,
//! `Телефон`, `Imię`, `Имя`, `E-mail`…). An explicit mapping (header →
//! attribute) overrides that. A file without any recognised header whose
//! first row holds a phone number is read as a list of numbers without a
//! header row. A groups cell lists names as [`join_group_names`] writes
//! them and [`split_group_names`] reads them.

use std::collections::HashMap;

use serde::Serialize;

use crate::domain::{PhoneNumber, Region};
use crate::storage::{FieldDef, FieldKind, fold_key};

use super::table::column_letter;

/// What a column fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    Phone,
    /// The name, or its first part when there is a last-name column.
    Name,
    /// Appended to the name.
    LastName,
    Email,
    Language,
    TimeZone,
    ExternalId,
    Notes,
    /// Tags, separated by commas, semicolons or spaces.
    Tags,
    /// Group names, separated by semicolons; created if missing.
    Groups,
    /// Yes/no, or a date: the contact opted out.
    OptedOut,
    Field {
        id: String,
        name: String,
        kind: FieldKind,
    },
}

impl Attribute {
    /// The attribute's name as mappings and reports write it.
    pub fn name(&self) -> String {
        match self {
            Self::Phone => "phone".into(),
            Self::Name => "name".into(),
            Self::LastName => "last_name".into(),
            Self::Email => "email".into(),
            Self::Language => "language".into(),
            Self::TimeZone => "time_zone".into(),
            Self::ExternalId => "external_id".into(),
            Self::Notes => "notes".into(),
            Self::Tags => "tags".into(),
            Self::Groups => "groups".into(),
            Self::OptedOut => "opted_out".into(),
            Self::Field { name, .. } => format!("field.{name}"),
        }
    }

    /// Several columns may fill these (their values are joined).
    fn may_repeat(&self) -> bool {
        matches!(self, Self::Tags | Self::Groups)
    }
}

/// Headers (folded) read as each built-in attribute.
const ALIASES: &[(&[&str], Attribute)] = &[
    (
        &[
            "phone",
            "phonenumber",
            "number",
            "mobile",
            "mobilephone",
            "mobilenumber",
            "cell",
            "cellphone",
            "msisdn",
            "gsm",
            "tel",
            "telephone",
            "telefon",
            "telefonkomorkowy",
            "nrtel",
            "nrtelefonu",
            "numer",
            "numertelefonu",
            "komorka",
            "komorkowy",
            "mobil",
            "cislo",
            "telefonnicislo",
            "телефон",
            "тел",
            "номер",
            "номертелефона",
            "мобильный",
            "мобильныйтелефон",
            "сотовый",
        ],
        Attribute::Phone,
    ),
    (
        &[
            "name",
            "fullname",
            "contact",
            "contactname",
            "firstname",
            "givenname",
            "imie",
            "imieinazwisko",
            "nazwa",
            "kontakt",
            "osoba",
            "jmeno",
            "celejmeno",
            "имя",
            "фио",
            "име",
            "контакт",
        ],
        Attribute::Name,
    ),
    (
        &["lastname", "surname", "familyname", "nazwisko", "prijmeni", "фамилия", "презиме"],
        Attribute::LastName,
    ),
    (
        &[
            "email",
            "mail",
            "emailaddress",
            "adresemail",
            "adresmail",
            "почта",
            "электроннаяпочта",
            "емейл",
            "имейл",
        ],
        Attribute::Email,
    ),
    (&["language", "lang", "locale", "jezyk", "jazyk", "язык", "език"], Attribute::Language),
    (&["timezone", "tz", "zone", "strefaczasowa", "casovepasmo", "часовойпояс"], Attribute::TimeZone),
    (
        &[
            "externalid",
            "extid",
            "customerid",
            "clientid",
            "customernumber",
            "identyfikator",
            "idklienta",
            "nrklienta",
            "numerklienta",
            "kodklienta",
            "reference",
            "ref",
        ],
        Attribute::ExternalId,
    ),
    (
        &[
            "notes",
            "note",
            "comment",
            "comments",
            "remarks",
            "uwagi",
            "notatki",
            "notatka",
            "komentarz",
            "poznamka",
            "poznamky",
            "заметки",
            "примечание",
            "комментарий",
        ],
        Attribute::Notes,
    ),
    (&["tags", "tag", "tagi", "hashtags", "stitky", "теги", "тэги"], Attribute::Tags),
    (&["groups", "group", "grupa", "grupy", "skupina", "skupiny", "группа", "группы"], Attribute::Groups),
    (
        &[
            "optedout",
            "optedoutat",
            "optout",
            "unsubscribed",
            "wypisany",
            "rezygnacja",
            "odhlasen",
            "отписан",
        ],
        Attribute::OptedOut,
    ),
];

/// How one column is read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ColumnUse {
    /// `A`, `B`, …
    pub column: String,
    pub header: String,
    /// The attribute filled (`phone`, `field.city`…), or `null` when the
    /// column is ignored.
    pub attribute: Option<String>,
    /// `header`, `custom_field`, `mapping`, `ignored`, or `no_header`.
    pub matched_by: String,
}

/// The columns of a table and what they fill.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// Per column (by index): the attribute, if read.
    pub attributes: Vec<Option<Attribute>>,
    /// Per column: its header (or letter).
    pub headers: Vec<String>,
    pub uses: Vec<ColumnUse>,
    /// The first row is data, not headers.
    pub headerless: bool,
}

impl ColumnPlan {
    /// The header of the column that fills `attribute` (for error reports).
    pub fn header_of(&self, attribute: &str) -> Option<String> {
        self.attributes
            .iter()
            .position(|a| a.as_ref().is_some_and(|a| a.name() == attribute))
            .map(|i| self.headers[i].clone())
    }
}

/// Why the columns cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingProblem {
    #[error(
        "no column holds phone numbers; name one phone (or telefon, msisdn, номер…), or map it with mapping={{\"<header>\": \"phone\"}}. The columns are: {0}"
    )]
    NoPhoneColumn(String),
    #[error(
        "columns {first} and {second} would both fill {attribute}; map one of them to \"ignore\" with mapping="
    )]
    Duplicate { first: String, second: String, attribute: String },
    #[error("the mapping names column '{0}', which the file does not have; its columns are: {1}")]
    UnknownColumn(String, String),
    #[error(
        "the mapping maps '{0}' to '{1}', which is neither a contact attribute (phone, name, last_name, email, language, time_zone, external_id, notes, tags, groups, opted_out, ignore) nor a custom field"
    )]
    UnknownAttribute(String, String),
}

/// The name is neither an attribute nor a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAttribute;

/// Reads an attribute name as a mapping writes it; `None` for `ignore`.
pub fn attribute_by_name(name: &str, fields: &[FieldDef]) -> Result<Option<Attribute>, UnknownAttribute> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("field.").unwrap_or(&n);
    Ok(Some(match n {
        "ignore" | "skip" | "" => return Ok(None),
        "phone" => Attribute::Phone,
        "name" | "first_name" => Attribute::Name,
        "last_name" => Attribute::LastName,
        "email" => Attribute::Email,
        "language" => Attribute::Language,
        "time_zone" => Attribute::TimeZone,
        "external_id" => Attribute::ExternalId,
        "notes" => Attribute::Notes,
        "tags" => Attribute::Tags,
        "groups" => Attribute::Groups,
        "opted_out" => Attribute::OptedOut,
        other => match fields.iter().find(|f| f.name.as_str() == other) {
            Some(f) => field_attribute(f),
            None => return Err(UnknownAttribute),
        },
    }))
}

fn field_attribute(f: &FieldDef) -> Attribute {
    Attribute::Field { id: f.id.clone(), name: f.name.as_str().to_owned(), kind: f.kind }
}

/// Plans how to read a table whose first row is `first_row`.
pub fn plan(
    first_row: &[String],
    mapping: &[(String, String)],
    fields: &[FieldDef],
    region: Option<Region>,
) -> Result<ColumnPlan, MappingProblem> {
    let headers: Vec<String> = first_row
        .iter()
        .enumerate()
        .map(|(i, h)| if h.trim().is_empty() { column_letter(i) } else { h.trim().to_owned() })
        .collect();
    let listing = || headers.iter().map(|h| format!("'{h}'")).collect::<Vec<_>>().join(", ");
    let mut attributes: Vec<Option<Attribute>> = vec![None; headers.len()];
    let mut matched_by: Vec<&str> = vec!["ignored"; headers.len()];
    let mut mapped = vec![false; headers.len()];
    for (column, target) in mapping {
        let key = fold_key(column);
        let index = headers
            .iter()
            .enumerate()
            .position(|(i, h)| fold_key(h) == key || column_letter(i).eq_ignore_ascii_case(column.trim()))
            .ok_or_else(|| MappingProblem::UnknownColumn(column.clone(), listing()))?;
        attributes[index] = attribute_by_name(target, fields)
            .map_err(|_| MappingProblem::UnknownAttribute(column.clone(), target.clone()))?;
        matched_by[index] = "mapping";
        mapped[index] = true;
    }
    let aliases: HashMap<&str, &Attribute> =
        ALIASES.iter().flat_map(|(names, a)| names.iter().map(move |n| (*n, a))).collect();
    for (i, header) in headers.iter().enumerate() {
        if mapped[i] {
            continue;
        }
        let key = fold_key(header);
        if let Some(f) = fields.iter().find(|f| fold_key(f.name.as_str()) == key) {
            attributes[i] = Some(field_attribute(f));
            matched_by[i] = "custom_field";
        } else if let Some(a) = aliases.get(key.as_str()) {
            attributes[i] = Some((*a).clone());
            matched_by[i] = "header";
        }
    }
    let mut headerless = false;
    if attributes.iter().all(Option::is_none) && mapping.is_empty() {
        // No header row? Then the first column holding a number is the phone.
        if let Some(i) = first_row.iter().position(|c| PhoneNumber::parse(c, region).is_ok()) {
            headerless = true;
            attributes[i] = Some(Attribute::Phone);
            matched_by.fill("no_header");
        }
    }
    if !attributes.contains(&Some(Attribute::Phone)) {
        return Err(MappingProblem::NoPhoneColumn(listing()));
    }
    for (i, a) in attributes.iter().enumerate() {
        let Some(a) = a else { continue };
        if a.may_repeat() {
            continue;
        }
        if let Some(j) = attributes[..i].iter().position(|b| b.as_ref() == Some(a)) {
            return Err(MappingProblem::Duplicate {
                first: format!("{} ({})", column_letter(j), headers[j]),
                second: format!("{} ({})", column_letter(i), headers[i]),
                attribute: a.name(),
            });
        }
    }
    let headers: Vec<String> =
        if headerless { (0..headers.len()).map(column_letter).collect() } else { headers };
    let uses = headers
        .iter()
        .enumerate()
        .map(|(i, h)| ColumnUse {
            column: column_letter(i),
            header: if headerless { String::new() } else { h.clone() },
            attribute: attributes[i].as_ref().map(Attribute::name),
            matched_by: if attributes[i].is_none() && !headerless {
                "ignored".into()
            } else {
                matched_by[i].into()
            },
        })
        .collect();
    Ok(ColumnPlan { attributes, headers, uses, headerless })
}

/// Characters that separate the names of a groups cell.
const GROUP_SEPARATORS: [char; 3] = [',', ';', '|'];

/// Group names as one cell: separated by `; `, a name that holds a
/// separator or a quote in double quotes (a quote doubled), so that
/// [`split_group_names`] reads back the same names.
pub fn join_group_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted = |n: &str| {
        if n.contains(GROUP_SEPARATORS) || n.contains('"') {
            format!("\"{}\"", n.replace('"', "\"\""))
        } else {
            n.to_owned()
        }
    };
    names.into_iter().map(quoted).collect::<Vec<_>>().join("; ")
}

/// The names of a groups cell, separated by `,` `;` or `|`; a name that
/// starts with a double quote goes on to the closing one, separators and
/// doubled quotes included. Names are not trimmed here.
pub fn split_group_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut name = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    name.push('"');
                }
                '"' => quoted = false,
                _ => name.push(c),
            }
        } else if c == '"' && name.trim().is_empty() {
            name.clear();
            quoted = true;
        } else if GROUP_SEPARATORS.contains(&c) {
            names.push(std::mem::take(&mut name));
        } else {
            name.push(c);
        }
    }
    names.push(name);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_with_separators_and_quotes_survive_a_join_and_a_split() {
        let names = ["Piątki", "Warszawa, Mokotów", "Klub \"Orzeł\" | Kraków", "a;b"];
        let cell = join_group_names(names);
        assert_eq!(cell, "Piątki; \"Warszawa, Mokotów\"; \"Klub \"\"Orzeł\"\" | Kraków\"; \"a;b\"");
        assert_eq!(split_group_names(&cell).iter().map(|n| n.trim()).collect::<Vec<_>>(), names);
        assert_eq!(split_group_names("a, b;c|d"), ["a", " b", "c", "d"]);
        assert_eq!(
            split_group_names("O\"Neil, \"x"),
            ["O\"Neil", "x"],
            "a quote inside a name, an unclosed one"
        );
    }
    use crate::storage::FieldName;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn city() -> FieldDef {
        FieldDef {
            id: "f1".into(),
            name: FieldName::parse("city").unwrap(),
            kind: FieldKind::Text,
            created_at: 0,
        }
    }

    fn names(plan: &ColumnPlan) -> Vec<Option<String>> {
        plan.attributes.iter().map(|a| a.as_ref().map(Attribute::name)).collect()
    }

    #[test]
    fn headers_are_recognised_in_any_case_language_and_spelling() {
        let cases: &[(&[&str], &[Option<&str>])] = &[
            (
                &["Telefon", "Imię", "Nazwisko", "E-mail"],
                &[Some("phone"), Some("name"), Some("last_name"), Some("email")],
            ),
            (&["MSISDN", "Full Name", "Notes"], &[Some("phone"), Some("name"), Some("notes")]),
            (&["Телефон", "Имя", "Фамилия"], &[Some("phone"), Some("name"), Some("last_name")]),
            (
                &["Nr tel.", "e_mail", "Uwagi", "Miasto", "City"],
                &[Some("phone"), Some("email"), Some("notes"), None, Some("field.city")],
            ),
            (&["phone", "tags", "Tagi"], &[Some("phone"), Some("tags"), Some("tags")]),
            (&["číslo", "jméno", "příjmení"], &[Some("phone"), Some("name"), Some("last_name")]),
        ];
        for (headers, want) in cases {
            let plan = plan(&strings(headers), &[], &[city()], None).unwrap();
            let want: Vec<Option<String>> = want.iter().map(|w| w.map(str::to_owned)).collect();
            assert_eq!(names(&plan), want, "{headers:?}");
            assert!(!plan.headerless);
        }
    }

    #[test]
    fn an_explicit_mapping_wins_by_header_or_column_letter() {
        let mapping = vec![
            ("Kontakt główny".to_owned(), "phone".to_owned()),
            ("Telefon".to_owned(), "ignore".to_owned()),
            ("C".to_owned(), "city".to_owned()),
        ];
        let plan =
            plan(&strings(&["Telefon", "Kontakt główny", "Miejscowość"]), &mapping, &[city()], None).unwrap();
        assert_eq!(names(&plan), [None, Some("phone".into()), Some("field.city".into())]);
        assert_eq!(plan.uses[1].matched_by, "mapping");
    }

    #[test]
    fn a_file_without_headers_is_read_as_a_list_of_numbers() {
        let pl = Some("PL".parse().unwrap());
        let plan = plan(&strings(&["Jan", "600 100 200"]), &[], &[], pl).unwrap();
        assert!(plan.headerless);
        assert_eq!(names(&plan), [None, Some("phone".into())]);
    }

    #[test]
    fn unreadable_column_layouts_are_refused_with_a_reason() {
        type Case = (Vec<String>, Vec<(String, String)>, &'static str);
        let cases: Vec<Case> = vec![
            (strings(&["Name", "City"]), vec![], "no column holds phone numbers"),
            (
                strings(&["Phone", "Telefon"]),
                vec![],
                "columns A (Phone) and B (Telefon) would both fill phone",
            ),
            (strings(&["Phone", "Phone"]), vec![], "would both fill phone"),
            (strings(&["Phone"]), vec![("Nope".into(), "phone".into())], "the mapping names column 'Nope'"),
            (strings(&["Phone", "X"]), vec![("X".into(), "colour".into())], "neither a contact attribute"),
        ];
        for (headers, mapping, want) in cases {
            let err = plan(&headers, &mapping, &[], None).unwrap_err().to_string();
            assert!(err.contains(want), "{headers:?}: {err}");
        }
    }
}
