//! Parses arbitrary text as a delivery receipt: nothing may panic, and once
//! parsed, writing and re-parsing a receipt must not change it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smpp::{DeliveryReceipt, ReceiptDate};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = ReceiptDate::parse(&text);
    if let Ok(receipt) = DeliveryReceipt::parse(&text) {
        assert_eq!(DeliveryReceipt::parse(&receipt.to_text()), Ok(receipt));
    }
});
