//! User data header: byte-literal encodings, round trips, and rejects.

use sms_text::udh::{IEI_CONCAT_8BIT, IEI_PORTS_16BIT};
use sms_text::{Concat, InformationElement as Ie, Udh, UdhError, gsm7};

#[test]
fn headers_encode_to_the_expected_bytes() {
    let cases: Vec<(&str, Udh, Vec<u8>)> = vec![
        ("empty header is a zero UDHL", Udh::default(), vec![0x00]),
        ("8-bit reference concatenation", Udh::concat8(0x2A, 3, 1), vec![0x05, 0x00, 0x03, 0x2A, 0x03, 0x01]),
        (
            "16-bit reference concatenation",
            Udh::concat16(0x1234, 2, 2),
            vec![0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02],
        ),
        (
            "8-bit ports",
            Udh::new(vec![Ie::Ports8 { destination: 0xF5, source: 0x00 }]).unwrap(),
            vec![0x04, 0x04, 0x02, 0xF5, 0x00],
        ),
        (
            "16-bit WAP push ports with concatenation",
            Udh::new(vec![
                Ie::Ports16 { destination: 2948, source: 9200 },
                Ie::Concat8 { reference: 7, total: 2, seq: 1 },
            ])
            .unwrap(),
            vec![0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01],
        ),
        (
            "unknown element kept raw",
            Udh::new(vec![Ie::Other { iei: 0x24, data: vec![0x01] }]).unwrap(),
            vec![0x03, 0x24, 0x01, 0x01],
        ),
    ];
    for (case, udh, bytes) in cases {
        assert_eq!(udh.encode(), bytes, "{case}: encode");
        assert_eq!(udh.encoded_len(), bytes.len(), "{case}: encoded_len");
        let mut user_data = bytes.clone();
        user_data.extend_from_slice(b"text");
        let (parsed, rest) = Udh::parse(&user_data).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(parsed, udh, "{case}: parse");
        assert_eq!(rest, b"text", "{case}: rest");
    }
}

#[test]
fn truncated_or_inconsistent_headers_are_rejected_with_the_reason() {
    let cases: [(&str, &[u8], UdhError); 6] = [
        ("no bytes at all", &[], UdhError::Empty),
        (
            "UDHL longer than the data",
            &[0x05, 0x00, 0x03, 0x01],
            UdhError::Truncated { udhl: 5, available: 3 },
        ),
        ("element header cut after the IEI", &[0x01, 0x00], UdhError::ElementHeaderTruncated { offset: 0 }),
        (
            "second element header cut",
            &[0x06, 0x00, 0x03, 0x01, 0x02, 0x01, 0x24],
            UdhError::ElementHeaderTruncated { offset: 5 },
        ),
        (
            "element longer than the header",
            &[0x03, 0x00, 0x03, 0x01, 0x02, 0x01],
            UdhError::ElementTruncated { iei: 0x00, len: 3, available: 1 },
        ),
        (
            "concatenation element of the wrong length",
            &[0x04, 0x00, 0x02, 0x01, 0x02],
            UdhError::ElementLength { iei: IEI_CONCAT_8BIT, expected: 3, actual: 2 },
        ),
    ];
    for (case, bytes, error) in cases {
        assert_eq!(Udh::parse(bytes), Err(error), "{case}");
    }
}

#[test]
fn error_messages_name_the_element() {
    let error = Udh::parse(&[0x04, 0x05, 0x02, 0x01, 0x02]).unwrap_err();
    assert_eq!(error, UdhError::ElementLength { iei: IEI_PORTS_16BIT, expected: 4, actual: 2 });
    assert_eq!(error.to_string(), "user data header: element IEI 0x05 must have 4 octets, has 2");
}

#[test]
fn concatenation_info_comes_from_either_reference_size() {
    let (udh, _) = Udh::parse(&[0x05, 0x00, 0x03, 0xAB, 0x04, 0x02]).unwrap();
    assert_eq!(udh.concatenation(), Some(Concat { reference: 0xAB, total: 4, seq: 2 }));
    let (udh, _) = Udh::parse(&[0x06, 0x08, 0x04, 0xAB, 0xCD, 0x04, 0x04]).unwrap();
    assert_eq!(udh.concatenation(), Some(Concat { reference: 0xABCD, total: 4, seq: 4 }));
    let udh = Udh::new(vec![Ie::Ports8 { destination: 1, source: 2 }]).unwrap();
    assert_eq!(udh.concatenation(), None);
}

#[test]
fn the_last_concatenation_element_wins() {
    let udh = Udh::new(vec![
        Ie::Concat8 { reference: 1, total: 2, seq: 1 },
        Ie::Concat16 { reference: 300, total: 3, seq: 3 },
    ])
    .unwrap();
    assert_eq!(udh.concatenation(), Some(Concat { reference: 300, total: 3, seq: 3 }));
}

#[test]
fn concatenation_with_impossible_numbers_is_ignored() {
    for (total, seq) in [(0, 0), (2, 0), (2, 3), (0, 1)] {
        assert_eq!(Udh::concat8(9, total, seq).concatenation(), None, "{seq}/{total}");
    }
}

#[test]
fn building_a_header_rejects_what_the_wire_cannot_carry() {
    assert_eq!(
        Udh::new(vec![Ie::Other { iei: 0x00, data: vec![1, 2, 3] }]),
        Err(UdhError::TypedIeiAsOther { iei: 0x00 })
    );
    assert_eq!(
        Udh::new(vec![Ie::Other { iei: 0x70, data: vec![0; 256] }]),
        Err(UdhError::ElementTooLong { iei: 0x70, len: 256 })
    );
    assert_eq!(
        Udh::new(vec![
            Ie::Other { iei: 0x70, data: vec![0; 200] },
            Ie::Other { iei: 0x71, data: vec![0; 100] },
        ]),
        Err(UdhError::HeaderTooLong { len: 304 })
    );
}

#[test]
fn a_concatenation_header_needs_one_fill_bit_in_gsm() {
    assert_eq!(gsm7::fill_bits_after_udh(Udh::concat8(1, 2, 1).encoded_len()), 1);
    assert_eq!(gsm7::fill_bits_after_udh(Udh::concat16(1, 2, 1).encoded_len()), 0);
}
