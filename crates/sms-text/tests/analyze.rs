//! Case tables for `analyze` and `split`: encoding choice, unit counts, segment counts,
//! and where the splitter cuts.

use sms_text::{Encoding, PartLimits, analyze, analyze_with, gsm7, split, split_with, ucs2};

fn rep(s: &str, n: usize) -> String {
    s.repeat(n)
}

#[test]
fn analyze_counts_units_and_segments_for_each_case() {
    use Encoding::{Gsm7, Ucs2};
    // (case, text, encoding, units, segments, chars)
    let cases: Vec<(&str, String, Encoding, usize, usize, usize)> = vec![
        ("empty text is one empty GSM message", String::new(), Gsm7, 0, 1, 0),
        ("160 ASCII fit one message", rep("a", 160), Gsm7, 160, 1, 160),
        ("161 ASCII need two parts", rep("a", 161), Gsm7, 161, 2, 161),
        ("2 x 153 ASCII fill two parts", rep("a", 306), Gsm7, 306, 2, 306),
        ("2 x 153 + 1 ASCII need three", rep("a", 307), Gsm7, 307, 3, 307),
        ("80 euro signs are 160 septets", rep("€", 80), Gsm7, 160, 1, 80),
        ("81 euro signs are 162 septets", rep("€", 81), Gsm7, 162, 2, 81),
        ("form feed counts two", "\u{0C}".into(), Gsm7, 2, 1, 1),
        ("every extension character counts two", "^{}\\[~]|€".into(), Gsm7, 18, 1, 9),
        (
            "euro at a part boundary moves and adds a part",
            format!("{}€{}", rep("a", 152), rep("a", 152)),
            Gsm7,
            306,
            3,
            305,
        ),
        ("GSM Greek and accents are one septet", "ΔΦΓΛΩΠΨΣΘΞéüñäöØÅà".into(), Gsm7, 18, 1, 18),
        ("70 Polish letters fit one UCS-2 message", rep("ą", 70), Ucs2, 70, 1, 70),
        ("71 Polish letters need two parts", rep("ą", 71), Ucs2, 71, 2, 71),
        ("2 x 67 UCS-2 units fill two parts", rep("ą", 134), Ucs2, 134, 2, 134),
        ("2 x 67 + 1 UCS-2 units need three", rep("ą", 135), Ucs2, 135, 3, 135),
        ("an emoji counts two units", "😀".into(), Ucs2, 2, 1, 1),
        ("35 emoji fit one message", rep("😀", 35), Ucs2, 70, 1, 35),
        ("36 emoji need two parts", rep("😀", 36), Ucs2, 72, 2, 36),
        (
            "emoji at a part boundary moves and adds a part",
            format!("{}😀{}", rep("ą", 66), rep("ą", 66)),
            Ucs2,
            134,
            3,
            133,
        ),
        (
            "one non-GSM character turns the whole text UCS-2",
            format!("{}ą", rep("a", 159)),
            Ucs2,
            160,
            3,
            160,
        ),
        ("lowercase c cedilla is not GSM", "ç".into(), Ucs2, 1, 1, 1),
    ];
    for (case, text, encoding, units, segments, chars) in cases {
        let info = analyze(&text);
        assert_eq!(info.encoding, encoding, "{case}: encoding");
        assert_eq!(info.units, units, "{case}: units");
        assert_eq!(info.segments, segments, "{case}: segments");
        assert_eq!(info.chars, chars, "{case}: chars");
        assert_eq!(split(&text).segments.len(), segments, "{case}: split");
    }
}

#[test]
fn part_limits_match_the_usual_header_sizes() {
    let l8 = PartLimits::CONCAT_8BIT_REF;
    assert_eq!(
        (l8.single_septets, l8.single_ucs2_units, l8.part_septets, l8.part_ucs2_units),
        (160, 70, 153, 67)
    );
    let l16 = PartLimits::CONCAT_16BIT_REF;
    assert_eq!(
        (l16.single_septets, l16.single_ucs2_units, l16.part_septets, l16.part_ucs2_units),
        (160, 70, 152, 66)
    );
    assert_eq!(PartLimits::default(), l8);
    // 16-bit ports (6 octets) + 8-bit concatenation (5) + UDHL = 12 octets.
    let ports = PartLimits::for_udh_lens(7, 12);
    assert_eq!((ports.single_septets, ports.single_ucs2_units), (152, 66));
    assert_eq!((ports.part_septets, ports.part_ucs2_units), (146, 64));
}

#[test]
fn sixteen_bit_reference_parts_hold_one_unit_less() {
    let text = rep("a", 306);
    let parts = split_with(&text, PartLimits::CONCAT_16BIT_REF);
    let sizes: Vec<usize> = parts.segments.iter().map(|s| s.units).collect();
    assert_eq!(sizes, [152, 152, 2]);
    assert_eq!(analyze_with(&text, PartLimits::CONCAT_16BIT_REF).segments, 3);

    let text = rep("ą", 134);
    let sizes: Vec<usize> =
        split_with(&text, PartLimits::CONCAT_16BIT_REF).segments.iter().map(|s| s.units).collect();
    assert_eq!(sizes, [66, 66, 2]);
}

#[test]
fn euro_sign_at_a_part_boundary_moves_whole_to_the_next_part() {
    let text = format!("{}€{}", rep("a", 152), rep("b", 10));
    let parts = split(&text);
    assert_eq!(parts.encoding, Encoding::Gsm7);
    assert_eq!(parts.segments.len(), 2);
    assert_eq!(parts.segments[0].text, rep("a", 152));
    assert_eq!(parts.segments[0].units, 152);
    assert_eq!(parts.segments[1].text, format!("€{}", rep("b", 10)));
    assert_eq!(&parts.segments[1].payload[..2], &[gsm7::ESCAPE, 0x65]);
}

#[test]
fn emoji_are_never_split_between_surrogates() {
    let text = format!("{}😀{}", rep("ą", 66), rep("ą", 10));
    let parts = split(&text);
    assert_eq!(parts.encoding, Encoding::Ucs2);
    assert_eq!(parts.segments[0].text, rep("ą", 66));
    assert_eq!(parts.segments[0].payload.len(), 132);
    assert_eq!(parts.segments[1].text, format!("😀{}", rep("ą", 10)));
    assert_eq!(&parts.segments[1].payload[..4], &[0xD8, 0x3D, 0xDE, 0x00]);
}

#[test]
fn a_single_message_payload_is_the_whole_encoded_text() {
    let parts = split("Hi €5");
    assert_eq!(parts.segments.len(), 1);
    assert_eq!(parts.segments[0].payload, gsm7::encode("Hi €5").unwrap());
    assert_eq!(parts.segments[0].units, 6);

    let parts = split("Cześć");
    assert_eq!(parts.segments[0].payload, ucs2::encode("Cześć"));
    assert_eq!(parts.segments[0].units, 5);
}

#[test]
fn the_empty_text_splits_into_one_empty_segment() {
    let parts = split("");
    assert_eq!(parts.encoding, Encoding::Gsm7);
    assert_eq!(parts.segments.len(), 1);
    assert!(parts.segments[0].text.is_empty());
    assert!(parts.segments[0].payload.is_empty());
}

#[test]
fn absurd_limits_still_split_without_looping() {
    let zero = PartLimits { single_septets: 0, single_ucs2_units: 0, part_septets: 0, part_ucs2_units: 0 };
    let texts = |text: &str| -> Vec<String> {
        let parts = split_with(text, zero);
        parts.segments.into_iter().map(|s| s.text).collect()
    };
    assert_eq!(texts("a€b"), ["a", "€", "b"]);
    assert_eq!(texts("ą😀ą"), ["ą", "😀", "ą"]);
    assert_eq!(analyze_with("a€b", zero).segments, 3);
    // A header longer than the message.
    let huge = PartLimits::for_udh_lens(200, 200);
    assert_eq!(split_with("abc", huge).segments.len(), 2);
}
