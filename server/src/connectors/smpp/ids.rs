//! SMSC message ids as Kurier reports them, so that the id in a delivery
//! receipt equals the id the SMSC gave in submit_sm_resp.
//!
//! Some SMSCs answer submit_sm in hexadecimal and write receipts in decimal
//! (or the reverse); `receipt_id_format` says which. With `as_is` ids are
//! passed through untouched. With a conversion, both sides are written in
//! one canonical form: the number in the radix of submit_sm_resp, without
//! leading zeros, hexadecimal in lower case. That form is also what query_sm
//! sends (the SMSC's own radix). Ids that are not numbers in the expected
//! radix are passed through unchanged. This module does not parse receipts.

use crate::config::ReceiptIdFormat;

/// The longest SMSC message id, in octets: submit_sm_resp's `message_id`
/// holds at most 64 (spec §5.2.23), so a receipt quoting a longer one
/// matches no submission.
pub const MAX_SMSC_ID_LEN: usize = 64;

/// The id from a submit_sm_resp, as reported in `Submitted`.
pub fn from_submit(id: &str, format: ReceiptIdFormat) -> String {
    let id = id.trim();
    match format {
        ReceiptIdFormat::AsIs => id.to_owned(),
        ReceiptIdFormat::HexToDecimal => parse(id, 16).map_or_else(|| id.to_owned(), |n| format!("{n:x}")),
        ReceiptIdFormat::DecimalToHex => parse(id, 10).map_or_else(|| id.to_owned(), |n| n.to_string()),
    }
}

/// The id quoted by a delivery receipt, as reported in `DeliveryReport`.
pub fn from_receipt(id: &str, format: ReceiptIdFormat) -> String {
    let id = id.trim();
    match format {
        ReceiptIdFormat::AsIs => id.to_owned(),
        ReceiptIdFormat::HexToDecimal => parse(id, 10).map_or_else(|| id.to_owned(), |n| format!("{n:x}")),
        ReceiptIdFormat::DecimalToHex => parse(id, 16).map_or_else(|| id.to_owned(), |n| n.to_string()),
    }
}

/// The id to quote in query_sm: reported ids are already in the SMSC's
/// submit_sm_resp radix.
pub fn to_smsc(id: &str) -> &str {
    id.trim()
}

fn parse(id: &str, radix: u32) -> Option<u128> {
    if id.is_empty() || !id.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(id, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_id_converts_to_the_submit_form_and_leading_zeros_do_not_matter() {
        type Case<'a> = (ReceiptIdFormat, &'a str, &'a str);
        let cases: &[Case] = &[
            (ReceiptIdFormat::AsIs, "0A1b", "0A1b"),
            (ReceiptIdFormat::HexToDecimal, "001A1B", "0006683"),
            (ReceiptIdFormat::HexToDecimal, "1a1b", "6683"),
            (ReceiptIdFormat::DecimalToHex, "0006683", "1A1B"),
            (ReceiptIdFormat::DecimalToHex, "6683", "00001a1b"),
        ];
        for &(format, submit, receipt) in cases {
            assert_eq!(
                from_submit(submit, format),
                from_receipt(receipt, format),
                "{format:?} {submit} {receipt}"
            );
        }
    }

    #[test]
    fn ids_that_are_not_numbers_in_the_expected_radix_pass_through() {
        assert_eq!(from_receipt("msg-17", ReceiptIdFormat::HexToDecimal), "msg-17");
        assert_eq!(from_submit("zz", ReceiptIdFormat::HexToDecimal), "zz");
        assert_eq!(from_submit("12ab", ReceiptIdFormat::DecimalToHex), "12ab");
        let huge = "9".repeat(60);
        assert_eq!(from_receipt(&huge, ReceiptIdFormat::HexToDecimal), huge);
    }
}
