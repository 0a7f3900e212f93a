//! `EsmClass`: the `esm_class` bit field (spec §5.2.12): messaging mode
//! (bits 1–0), message type (bits 5–2) and GSM features (bits 7–6).
//!
//! The helpers answer the questions a session asks of a `deliver_sm`: is it
//! a delivery receipt, an intermediate notification, does it carry a UDH.

use std::ops::BitOr;

/// The `esm_class` octet. Combine constants with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EsmClass(pub u8);

impl EsmClass {
    /// Default mode, default message type, no GSM features.
    pub const DEFAULT: EsmClass = EsmClass(0x00);

    /// Messaging mode (bits 1–0): datagram.
    pub const DATAGRAM_MODE: EsmClass = EsmClass(0x01);
    /// Messaging mode (bits 1–0): forward (transaction) mode.
    pub const FORWARD_MODE: EsmClass = EsmClass(0x02);
    /// Messaging mode (bits 1–0): store and forward.
    pub const STORE_AND_FORWARD_MODE: EsmClass = EsmClass(0x03);

    /// Message type (bits 5–2): SMSC delivery receipt (`deliver_sm` only).
    pub const DELIVERY_RECEIPT: EsmClass = EsmClass(0x04);
    /// Message type (bits 5–2): SME delivery acknowledgement.
    pub const DELIVERY_ACK: EsmClass = EsmClass(0x08);
    /// Message type (bits 5–2): SME manual/user acknowledgement.
    pub const USER_ACK: EsmClass = EsmClass(0x10);
    /// Message type (bits 5–2): conversation abort (Korean CDMA).
    pub const CONVERSATION_ABORT: EsmClass = EsmClass(0x18);
    /// Message type (bits 5–2): intermediate delivery notification.
    pub const INTERMEDIATE_NOTIFICATION: EsmClass = EsmClass(0x20);

    /// GSM feature (bit 6): the short message starts with a User Data Header.
    pub const UDHI: EsmClass = EsmClass(0x40);
    /// GSM feature (bit 7): set reply path.
    pub const REPLY_PATH: EsmClass = EsmClass(0x80);

    const MODE_MASK: u8 = 0x03;
    const TYPE_MASK: u8 = 0x3C;

    /// Bits 1–0 only.
    pub const fn messaging_mode(self) -> EsmClass {
        EsmClass(self.0 & Self::MODE_MASK)
    }

    /// Bits 5–2 only.
    pub const fn message_type(self) -> EsmClass {
        EsmClass(self.0 & Self::TYPE_MASK)
    }

    /// Message type is "SMSC delivery receipt" (0x04).
    pub const fn is_delivery_receipt(self) -> bool {
        self.0 & Self::TYPE_MASK == Self::DELIVERY_RECEIPT.0
    }

    /// Message type is "intermediate delivery notification" (0x20).
    pub const fn is_intermediate_notification(self) -> bool {
        self.0 & Self::TYPE_MASK == Self::INTERMEDIATE_NOTIFICATION.0
    }

    /// Either of the above: the body is a receipt text, not a user message.
    pub const fn is_receipt(self) -> bool {
        self.is_delivery_receipt() || self.is_intermediate_notification()
    }

    /// The UDH indicator (0x40) is set.
    pub const fn has_udhi(self) -> bool {
        self.0 & Self::UDHI.0 != 0
    }

    /// The reply-path bit (0x80) is set.
    pub const fn has_reply_path(self) -> bool {
        self.0 & Self::REPLY_PATH.0 != 0
    }

    /// This value with the UDH indicator set.
    pub const fn with_udhi(self) -> EsmClass {
        EsmClass(self.0 | Self::UDHI.0)
    }
}

impl BitOr for EsmClass {
    type Output = EsmClass;
    fn bitor(self, rhs: EsmClass) -> EsmClass {
        EsmClass(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_is_recognised_whatever_the_mode_and_gsm_bits() {
        for extra in [0x00, 0x01, 0x03, 0x40, 0x80, 0xC3] {
            let esm = EsmClass(0x04 | extra);
            assert!(esm.is_delivery_receipt(), "{esm:?}");
            assert!(esm.is_receipt());
            assert!(!esm.is_intermediate_notification());
        }
        assert!(EsmClass(0x20).is_intermediate_notification());
        assert!(EsmClass(0x20).is_receipt());
    }

    #[test]
    fn other_message_types_are_not_receipts() {
        for esm in [0x00, 0x08, 0x10, 0x18, 0x24, 0x40, 0x03] {
            assert!(!EsmClass(esm).is_receipt(), "{esm:#04x}");
        }
    }

    #[test]
    fn udhi_is_bit_six() {
        assert!(EsmClass(0x43).has_udhi());
        assert!(!EsmClass(0x83).has_udhi());
        assert_eq!(EsmClass::DEFAULT.with_udhi(), EsmClass::UDHI);
        assert_eq!(EsmClass::STORE_AND_FORWARD_MODE | EsmClass::UDHI, EsmClass(0x43));
    }
}
