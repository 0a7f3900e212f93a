//! GSM 03.38 tables, escapes, decoding of odd input, and septet packing vectors.

use sms_text::gsm7;

/// The default alphabet as printed in 3GPP TS 23.038 §6.2.1, row by row (column 0x00..0x70
/// read down becomes index 0x00..0x7F). Index 0x1B (the escape) is shown here as the space
/// a lone escape decodes to.
const SPEC_DEFAULT_ALPHABET: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
);

const SPEC_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

#[test]
fn every_default_alphabet_character_round_trips() {
    let expected: Vec<char> = SPEC_DEFAULT_ALPHABET.chars().collect();
    assert_eq!(expected.len(), 128);
    for septet in 0u8..128 {
        let decoded = gsm7::decode(&[septet]);
        assert_eq!(decoded, expected[usize::from(septet)].to_string(), "septet {septet:#04x}");
        if septet != gsm7::ESCAPE {
            assert_eq!(gsm7::encode(&decoded), Some(vec![septet]), "septet {septet:#04x}");
            assert_eq!(gsm7::char_septets(expected[usize::from(septet)]), Some(1));
        }
    }
}

#[test]
fn every_extension_character_round_trips_as_an_escape_pair() {
    for (code, c) in SPEC_EXTENSION {
        let septets = vec![gsm7::ESCAPE, code];
        assert_eq!(gsm7::decode(&septets), c.to_string(), "code {code:#04x}");
        assert_eq!(gsm7::encode(&c.to_string()), Some(septets));
    }
}

#[test]
fn extension_characters_count_two_septets() {
    for (_, c) in SPEC_EXTENSION {
        assert_eq!(gsm7::char_septets(c), Some(2), "{c:?}");
    }
    assert_eq!(gsm7::encode("a€"), Some(vec![0x61, 0x1B, 0x65]));
}

#[test]
fn characters_outside_both_tables_are_not_encodable() {
    for text in ["ą", "ç", "😀", "Ж", "`", "\t", "\u{1B}", "ó"] {
        assert_eq!(gsm7::encode(text), None, "{text:?}");
        assert!(!gsm7::is_encodable(text));
    }
}

#[test]
fn decoding_odd_septets_follows_the_spec_fallbacks() {
    let cases: [(&str, &[u8], &str); 6] = [
        ("unknown escape shows the base character", &[0x1B, 0x41], "A"),
        ("CR2 shows carriage return", &[0x1B, 0x0D], "\r"),
        ("escape escape shows a space", &[0x1B, 0x1B, 0x61], " a"),
        ("a trailing escape shows a space", &[0x61, 0x1B], "a "),
        ("a byte above 0x7F is replaced", &[0x80, 0xFF], "\u{FFFD}\u{FFFD}"),
        ("escape then a high byte is replaced", &[0x1B, 0x80], "\u{FFFD}"),
    ];
    for (case, septets, expected) in cases {
        assert_eq!(gsm7::decode(septets), expected, "{case}");
    }
}

#[test]
fn packing_matches_the_spec_examples() {
    let cases: [(&str, u8, &[u8]); 4] = [
        ("hello", 0, &[0xE8, 0x32, 0x9B, 0xFD, 0x06]),
        ("hellohello", 0, &[0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]),
        // 'h' = 0x68 shifted past one fill bit.
        ("h", 1, &[0xD0]),
        // Eight septets fill exactly seven octets.
        ("12345678", 0, &[0x31, 0xD9, 0x8C, 0x56, 0xB3, 0xDD, 0x70]),
    ];
    for (text, fill, packed) in cases {
        let septets = gsm7::encode(text).unwrap();
        assert_eq!(gsm7::pack(&septets, fill), packed, "{text}");
        assert_eq!(gsm7::unpack(packed, septets.len(), fill), septets, "{text}");
    }
}

#[test]
fn packing_nothing_gives_nothing_even_with_fill_bits() {
    assert!(gsm7::pack(&[], 0).is_empty());
    assert!(gsm7::pack(&[], 1).is_empty());
}

#[test]
fn unpacking_more_septets_than_the_octets_hold_returns_what_is_there() {
    assert_eq!(gsm7::unpack(&[0xE8, 0x32], 10, 0), b"he".to_vec());
    assert_eq!(gsm7::unpack(&[], usize::MAX, 6), Vec::<u8>::new());
    assert_eq!(gsm7::unpack(&[0xFF], 1, 200), Vec::<u8>::new());
}

#[test]
fn fill_bits_align_septets_after_the_header() {
    let cases = [(0, 0), (1, 6), (6, 1), (7, 0), (12, 2), (14, 0)];
    for (udh_len, fill) in cases {
        assert_eq!(gsm7::fill_bits_after_udh(udh_len), fill, "udh of {udh_len}");
        assert_eq!((udh_len * 8 + usize::from(fill)) % 7, 0);
    }
    assert!(gsm7::fill_bits_after_udh(usize::MAX) < 7);
}
