//! Properties over arbitrary input: splitting loses nothing and respects the limits,
//! decoding never panics, packing is reversible.

use proptest::prelude::*;
use sms_text::{
    Encoding, InformationElement as Ie, PartLimits, Split, Udh, analyze_with, gsm7, latin1, split_with,
    transliterate, ucs2,
};

/// Characters that stress the GSM side: plain, accented, Greek, every extension
/// character, control characters that GSM has.
const GSM_SAMPLE: &[char] = &[
    'a', 'Z', '0', ' ', '@', '£', '$', 'é', 'Ç', 'Δ', 'ß', '¿', 'à', '\n', '\r', '^', '{', '}', '\\', '[',
    '~', ']', '|', '€', '\u{0C}',
];

fn gsm_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(GSM_SAMPLE), 0..500).prop_map(String::from_iter)
}

fn any_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => prop::sample::select(GSM_SAMPLE),
        1 => any::<char>(),
        1 => prop::sample::select(&['ą', 'Ж', '😀', '🇵', '中'][..]),
    ];
    prop::collection::vec(ch, 0..400).prop_map(String::from_iter)
}

fn limits() -> impl Strategy<Value = PartLimits> {
    prop_oneof![
        Just(PartLimits::CONCAT_8BIT_REF),
        Just(PartLimits::CONCAT_16BIT_REF),
        (0usize..150, 0usize..150).prop_map(|(s, p)| PartLimits::for_udh_lens(s, p)),
        (0usize..5, 0usize..5, 0usize..5, 0usize..5).prop_map(|(a, b, c, d)| PartLimits {
            single_septets: a,
            single_ucs2_units: b,
            part_septets: c,
            part_ucs2_units: d,
        }),
    ]
}

fn check_split(text: &str, limits: PartLimits, parts: &Split) -> Result<(), TestCaseError> {
    let decode = |payload: &[u8]| match parts.encoding {
        Encoding::Gsm7 => gsm7::decode(payload),
        Encoding::Ucs2 => ucs2::decode(payload),
    };
    let decoded: String = parts.segments.iter().map(|s| decode(&s.payload)).collect();
    prop_assert_eq!(&decoded, text);
    let texts: String = parts.segments.iter().map(|s| s.text.as_str()).collect();
    prop_assert_eq!(&texts, text);

    let (single, part, octets) = match parts.encoding {
        Encoding::Gsm7 => (limits.single_septets, limits.part_septets, 1),
        Encoding::Ucs2 => (limits.single_ucs2_units, limits.part_ucs2_units, 2),
    };
    prop_assert!(!parts.segments.is_empty());
    for segment in &parts.segments {
        prop_assert_eq!(segment.payload.len(), segment.units * octets);
        if parts.segments.len() == 1 {
            prop_assert!(segment.units <= single || segment.units <= part.max(2));
        } else {
            prop_assert!(segment.units <= part.max(2));
            prop_assert!(segment.units > 0);
        }
    }

    let info = analyze_with(text, limits);
    prop_assert_eq!(info.segments, parts.segments.len());
    prop_assert_eq!(info.encoding, parts.encoding);
    prop_assert_eq!(info.units, parts.segments.iter().map(|s| s.units).sum::<usize>());
    prop_assert_eq!(info.chars, text.chars().count());
    Ok(())
}

fn element() -> impl Strategy<Value = Ie> {
    prop_oneof![
        any::<(u8, u8, u8)>().prop_map(|(reference, total, seq)| Ie::Concat8 { reference, total, seq }),
        any::<(u16, u8, u8)>().prop_map(|(reference, total, seq)| Ie::Concat16 { reference, total, seq }),
        any::<(u8, u8)>().prop_map(|(destination, source)| Ie::Ports8 { destination, source }),
        any::<(u16, u16)>().prop_map(|(destination, source)| Ie::Ports16 { destination, source }),
        (0x09u8.., prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(iei, data)| Ie::Other { iei, data }),
    ]
}

proptest! {
    #[test]
    fn split_of_gsm_text_loses_nothing_and_fits_the_limits(text in gsm_text(), limits in limits()) {
        let parts = split_with(&text, limits);
        prop_assert_eq!(parts.encoding, Encoding::Gsm7);
        check_split(&text, limits, &parts)?;
    }

    #[test]
    fn split_of_any_text_loses_nothing_and_fits_the_limits(text in any_text(), limits in limits()) {
        check_split(&text, limits, &split_with(&text, limits))?;
    }

    #[test]
    fn split_of_arbitrary_strings_loses_nothing(text in any::<String>()) {
        let limits = PartLimits::default();
        check_split(&text, limits, &split_with(&text, limits))?;
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = gsm7::decode(&bytes);
        let _ = ucs2::decode(&bytes);
        prop_assert_eq!(latin1::decode(&bytes).chars().count(), bytes.len());
        if let Ok((udh, rest)) = Udh::parse(&bytes) {
            prop_assert_eq!(udh.encoded_len() + rest.len(), bytes.len());
            let _ = udh.concatenation();
        }
    }

    #[test]
    fn unpack_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        count in any::<usize>(),
        fill in any::<u8>(),
    ) {
        let septets = gsm7::unpack(&bytes, count, fill);
        prop_assert!(septets.len() <= count);
        prop_assert!(septets.iter().all(|&s| s < 0x80));
    }

    #[test]
    fn pack_then_unpack_is_identity(
        septets in prop::collection::vec(0u8..0x80, 0..400),
        fill in 0u8..7,
    ) {
        let packed = gsm7::pack(&septets, fill);
        prop_assert_eq!(packed.len(), if septets.is_empty() { 0 } else { (usize::from(fill) + 7 * septets.len()).div_ceil(8) });
        prop_assert_eq!(gsm7::unpack(&packed, septets.len(), fill), septets);
    }

    #[test]
    fn gsm_encode_then_decode_is_identity(text in gsm_text()) {
        let septets = gsm7::encode(&text).expect("sample is GSM");
        prop_assert_eq!(gsm7::decode(&septets), text);
    }

    #[test]
    fn ucs2_encode_then_decode_is_identity(text in any::<String>()) {
        prop_assert_eq!(ucs2::decode(&ucs2::encode(&text)), text);
    }

    #[test]
    fn udh_encode_then_parse_is_identity(
        elements in prop::collection::vec(element(), 0..6),
        rest in prop::collection::vec(any::<u8>(), 0..10),
    ) {
        let udh = Udh::new(elements).expect("small elements fit");
        let mut bytes = udh.encode();
        bytes.extend_from_slice(&rest);
        let (parsed, tail) = Udh::parse(&bytes).expect("own encoding parses");
        prop_assert_eq!(parsed, udh);
        prop_assert_eq!(tail, &rest[..]);
    }

    #[test]
    fn transliterated_polish_russian_and_bulgarian_is_gsm(
        text in prop::collection::vec(
            prop::sample::select(
                "aąćęłńóśźżAĄĆĘŁŃÓŚŹŻ абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ„”–…"
                    .chars()
                    .collect::<Vec<char>>(),
            ),
            0..200,
        )
        .prop_map(String::from_iter)
    ) {
        for scheme in [sms_text::Transliteration::Russian, sms_text::Transliteration::Bulgarian] {
            prop_assert!(gsm7::is_encodable(&sms_text::transliterate_with(&text, scheme)));
        }
        let _ = transliterate(&text);
    }
}
