//! UCS-2 (UTF-16BE) and Latin-1 conversions.

use sms_text::{latin1, ucs2};

#[test]
fn ucs2_encodes_big_endian_with_surrogate_pairs() {
    assert_eq!(ucs2::encode("Aą"), [0x00, 0x41, 0x01, 0x05]);
    assert_eq!(ucs2::encode("😀"), [0xD8, 0x3D, 0xDE, 0x00]);
    assert_eq!(ucs2::decode(&[0xD8, 0x3D, 0xDE, 0x00, 0x00, 0x41]), "😀A");
}

#[test]
fn ucs2_decoding_replaces_broken_input() {
    let cases: [(&str, &[u8], &str); 5] = [
        ("odd trailing byte", &[0x00, 0x41, 0x00], "A\u{FFFD}"),
        ("lone high surrogate", &[0xD8, 0x3D, 0x00, 0x41], "\u{FFFD}A"),
        ("lone low surrogate", &[0xDE, 0x00], "\u{FFFD}"),
        ("high surrogate at the end", &[0x00, 0x41, 0xD8, 0x3D], "A\u{FFFD}"),
        ("nothing", &[], ""),
    ];
    for (case, bytes, expected) in cases {
        assert_eq!(ucs2::decode(bytes), expected, "{case}");
    }
}

#[test]
fn latin1_maps_bytes_to_the_first_256_code_points() {
    assert_eq!(latin1::encode("café ÿ"), Some(vec![0x63, 0x61, 0x66, 0xE9, 0x20, 0xFF]));
    assert_eq!(latin1::encode("€"), None);
    assert_eq!(latin1::encode("ą"), None);
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(latin1::encode(&latin1::decode(&all)), Some(all));
}
