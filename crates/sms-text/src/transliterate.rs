//! Rewriting text so that it fits the GSM 7-bit alphabet, to send fewer, cheaper parts.
//!
//! This module owns the mapping tables: Latin letters with diacritics that GSM lacks to
//! their base letters (Polish ą ć ę ł ń ó ś ź ż and the rest of Central and Western
//! European Latin), Russian and Bulgarian Cyrillic to Latin, Greek capitals that look
//! like Latin ones, and typographic punctuation and spaces to ASCII. Characters that are
//! already in the GSM alphabet or its extension table are always kept (é, ü, ñ, ä, ö, Ø,
//! Å, à, Δ, €, …). Characters with no mapping (CJK, Arabic, emoji, …) are kept as they
//! are, so the result may still need UCS-2: check with [`crate::analyze`]. It does not
//! decide *whether* to transliterate — that is the sender's choice — and it does not
//! normalise Unicode: combining marks (U+0300..=U+036F) are simply dropped.

use crate::gsm7;

/// How Cyrillic is romanised. Latin, Greek and punctuation rules are the same in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transliteration {
    /// ICAO Doc 9303, used in Russian passports since 2013: ж zh, х kh, ц ts, ч ch, ш sh,
    /// щ shch, ъ ie, ы y, ь dropped, ё e, й i, э e, ю iu, я ia.
    #[default]
    Russian,
    /// The Bulgarian Streamlined System (official since 2009): ж zh, х h, ц ts, ч ch,
    /// ш sh, щ sht, ъ a, ь y, й y, ю yu, я ya, and a word-final ия as ia (София → Sofia).
    /// The law's list of exceptions (България → Bulgaria) is not applied. Letters
    /// Bulgarian lacks (ё ы э) fall back to the Russian values.
    Bulgarian,
}

/// Transliterates `text` with the default scheme ([`Transliteration::Russian`] for
/// Cyrillic).
pub fn transliterate(text: &str) -> String {
    transliterate_with(text, Transliteration::default())
}

/// Transliterates `text`, romanising Cyrillic with `scheme`. Capitals stay capitals; a
/// capital Cyrillic letter that becomes several Latin letters is written "Zh" inside a
/// word in mixed case and "ZH" next to another capital.
pub fn transliterate_with(text: &str, scheme: Transliteration) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if gsm7::char_septets(c).is_some() {
            out.push(c);
        } else if let Some(latin) = common(c) {
            out.push_str(latin);
        } else if let Some(latin) = cyrillic(&chars, i, scheme) {
            let upper = c.is_uppercase();
            push_cased(&mut out, latin, upper, upper && neighbour_is_upper(&chars, i));
        } else {
            out.push(c);
        }
    }
    out
}

/// Appends `latin` (lowercase) as lowercase, capitalised, or all capitals.
fn push_cased(out: &mut String, latin: &str, upper: bool, all_caps: bool) {
    let mut letters = latin.chars();
    if let Some(first) = letters.next() {
        if upper {
            out.push(first.to_ascii_uppercase());
        } else {
            out.push(first);
        }
    }
    for letter in letters {
        if all_caps {
            out.push(letter.to_ascii_uppercase());
        } else {
            out.push(letter);
        }
    }
}

/// Whether the letter after `i` (or, at the end of a word, the one before) is a capital.
fn neighbour_is_upper(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some(next) if next.is_alphabetic() => next.is_uppercase(),
        _ => i.checked_sub(1).and_then(|p| chars.get(p)).is_some_and(|prev| prev.is_uppercase()),
    }
}

/// Cyrillic letter at `i` in lowercase Latin, per `scheme`.
fn cyrillic(chars: &[char], i: usize, scheme: Transliteration) -> Option<&'static str> {
    let lower = to_lower(*chars.get(i)?);
    match scheme {
        Transliteration::Russian => russian(lower),
        Transliteration::Bulgarian => {
            let word_final_ia = lower == 'я'
                && i.checked_sub(1).and_then(|p| chars.get(p)).is_some_and(|&prev| to_lower(prev) == 'и')
                && !chars.get(i + 1).is_some_and(|next| next.is_alphabetic());
            if word_final_ia { Some("a") } else { bulgarian(lower).or_else(|| russian(lower)) }
        }
    }
}

/// Lowercase of a character that lowercases to exactly one character, else itself.
fn to_lower(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// ICAO Doc 9303 for Russian, lowercase.
fn russian(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' | 'ё' | 'э' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' | 'й' => "i",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' => "ie",
        'ы' => "y",
        'ь' => "",
        'ю' => "iu",
        'я' => "ia",
        _ => return None,
    })
}

/// The Bulgarian Streamlined System, lowercase; only the letters that differ from
/// [`russian`] or that Bulgarian has.
fn bulgarian(c: char) -> Option<&'static str> {
    Some(match c {
        'й' => "y",
        'х' => "h",
        'щ' => "sht",
        'ъ' => "a",
        'ь' => "y",
        'ю' => "yu",
        'я' => "ya",
        'ё' | 'ы' | 'э' => return None,
        _ => return russian(c),
    })
}

/// Latin letters with diacritics GSM lacks, Greek capitals that look Latin, punctuation,
/// spaces, and invisible characters. Only called for characters not in GSM.
fn common(c: char) -> Option<&'static str> {
    Some(match c {
        // Latin, lowercase.
        'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' | 'ǎ' => "a",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'ǐ' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ń' | 'ņ' | 'ň' => "n",
        'ó' | 'ô' | 'õ' | 'ō' | 'ŏ' | 'ő' | 'ǒ' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'ú' | 'û' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' | 'ǔ' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'þ' => "th",
        // Latin, capitals.
        'À' | 'Á' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' | 'Ǎ' => "A",
        'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'Ď' | 'Đ' | 'Ð' => "D",
        'È' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'Ĥ' | 'Ħ' => "H",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' | 'Ǐ' => "I",
        'Ĵ' => "J",
        'Ķ' => "K",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'Ń' | 'Ņ' | 'Ň' => "N",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ō' | 'Ŏ' | 'Ő' | 'Ǒ' => "O",
        'Œ' => "OE",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' | 'Ș' => "S",
        'Ţ' | 'Ť' | 'Ŧ' | 'Ț' => "T",
        'Ù' | 'Ú' | 'Û' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' | 'Ǔ' => "U",
        'Ŵ' => "W",
        'Ý' | 'Ÿ' | 'Ŷ' => "Y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'Þ' => "Th",
        // Greek capitals that GSM lacks but that look exactly like Latin ones.
        'Α' => "A",
        'Β' => "B",
        'Ε' => "E",
        'Ζ' => "Z",
        'Η' => "H",
        'Ι' => "I",
        'Κ' => "K",
        'Μ' => "M",
        'Ν' => "N",
        'Ο' => "O",
        'Ρ' => "P",
        'Τ' => "T",
        'Υ' => "Y",
        'Χ' => "X",
        // Quotes, dashes, ellipsis.
        '‘' | '’' | '‚' | '‛' | '′' | '‹' | '›' | '`' | '´' => "'",
        '“' | '”' | '„' | '‟' | '″' | '«' | '»' => "\"",
        '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' => "-",
        '…' => "...",
        // Spaces: tab, no-break, the typographic widths, ideographic.
        '\t' | '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        // Invisible: soft hyphen, zero-width space, word joiner, byte-order mark, and
        // combining diacritical marks (decomposed accents).
        '\u{AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{300}'..='\u{36F}' => "",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_latin_mapping_is_gsm_encodable() {
        for c in ('\u{80}'..='\u{24F}').chain('\u{2000}'..='\u{206F}') {
            if let Some(latin) = common(c) {
                assert!(gsm7::is_encodable(latin), "{c:?} -> {latin:?}");
            }
        }
    }

    #[test]
    fn every_cyrillic_mapping_is_gsm_encodable() {
        for c in '\u{400}'..='\u{45F}' {
            for latin in [russian(c), bulgarian(c)].into_iter().flatten() {
                assert!(gsm7::is_encodable(latin), "{c:?} -> {latin:?}");
            }
        }
    }
}
