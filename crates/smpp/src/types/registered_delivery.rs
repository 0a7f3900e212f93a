//! `RegisteredDelivery`: the `registered_delivery` bit field (spec §5.2.17):
//! which receipts and acknowledgements the sender asks for.

use std::ops::BitOr;

/// The `registered_delivery` octet. Combine constants with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RegisteredDelivery(pub u8);

impl RegisteredDelivery {
    /// No receipt, no acknowledgement.
    pub const NONE: RegisteredDelivery = RegisteredDelivery(0x00);
    /// SMSC delivery receipt on final outcome, success or failure (bits 1–0 = 01).
    pub const SMSC_RECEIPT: RegisteredDelivery = RegisteredDelivery(0x01);
    /// SMSC delivery receipt on failure only (bits 1–0 = 10).
    pub const SMSC_RECEIPT_ON_FAILURE: RegisteredDelivery = RegisteredDelivery(0x02);
    /// SME delivery acknowledgement requested (bit 2).
    pub const SME_DELIVERY_ACK: RegisteredDelivery = RegisteredDelivery(0x04);
    /// SME manual/user acknowledgement requested (bit 3).
    pub const SME_USER_ACK: RegisteredDelivery = RegisteredDelivery(0x08);
    /// Intermediate notification requested (bit 4).
    pub const INTERMEDIATE_NOTIFICATION: RegisteredDelivery = RegisteredDelivery(0x10);

    const SMSC_RECEIPT_MASK: u8 = 0x03;

    /// Bits 1–0 ask for some SMSC delivery receipt.
    pub const fn wants_smsc_receipt(self) -> bool {
        self.0 & Self::SMSC_RECEIPT_MASK != 0
    }
}

impl BitOr for RegisteredDelivery {
    type Output = RegisteredDelivery;
    fn bitor(self, rhs: RegisteredDelivery) -> RegisteredDelivery {
        RegisteredDelivery(self.0 | rhs.0)
    }
}
