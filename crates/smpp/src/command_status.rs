//! `CommandStatus`: the result code in a PDU header (spec §5.1.3).
//!
//! This module owns the named SMPP 3.4 error codes, their names and
//! descriptions, and the temporary/permanent split a sender uses to decide
//! whether to retry. Any `u32` is a valid status: vendor codes are kept as-is
//! and shown in hex. It does not decide what a session does with a status.

use std::fmt;

/// The `command_status` header field. Zero (`ESME_ROK`) means success.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CommandStatus(pub u32);

/// Whether a failed submission is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// `ESME_ROK`.
    Ok,
    /// The peer is busy or broken right now; the same PDU may succeed later.
    Temporary,
    /// The PDU itself was refused; retrying it unchanged will fail again.
    Permanent,
}

macro_rules! statuses {
    ($($name:ident = $value:literal, $description:literal;)*) => {
        impl CommandStatus {
            $(
                #[doc = $description]
                pub const $name: CommandStatus = CommandStatus($value);
            )*
        }

        /// (status, name, description) for every named code.
        const TABLE: &[(CommandStatus, &str, &str)] = &[
            $((CommandStatus::$name, stringify!($name), $description),)*
        ];
    };
}

statuses! {
    ESME_ROK = 0x0000_0000, "No error.";
    ESME_RINVMSGLEN = 0x0000_0001, "Message length is invalid.";
    ESME_RINVCMDLEN = 0x0000_0002, "Command length is invalid.";
    ESME_RINVCMDID = 0x0000_0003, "Invalid command id.";
    ESME_RINVBNDSTS = 0x0000_0004, "Incorrect bind status for given command.";
    ESME_RALYBND = 0x0000_0005, "ESME already in bound state.";
    ESME_RINVPRTFLG = 0x0000_0006, "Invalid priority flag.";
    ESME_RINVREGDLVFLG = 0x0000_0007, "Invalid registered delivery flag.";
    ESME_RSYSERR = 0x0000_0008, "System error.";
    ESME_RINVSRCADR = 0x0000_000A, "Invalid source address.";
    ESME_RINVDSTADR = 0x0000_000B, "Invalid destination address.";
    ESME_RINVMSGID = 0x0000_000C, "Message id is invalid.";
    ESME_RBINDFAIL = 0x0000_000D, "Bind failed.";
    ESME_RINVPASWD = 0x0000_000E, "Invalid password.";
    ESME_RINVSYSID = 0x0000_000F, "Invalid system id.";
    ESME_RCANCELFAIL = 0x0000_0011, "cancel_sm failed.";
    ESME_RREPLACEFAIL = 0x0000_0013, "replace_sm failed.";
    ESME_RMSGQFUL = 0x0000_0014, "Message queue full.";
    ESME_RINVSERTYP = 0x0000_0015, "Invalid service type.";
    ESME_RINVNUMDESTS = 0x0000_0033, "Invalid number of destinations.";
    ESME_RINVDLNAME = 0x0000_0034, "Invalid distribution list name.";
    ESME_RINVDESTFLAG = 0x0000_0040, "Destination flag is invalid (submit_multi).";
    ESME_RINVSUBREP = 0x0000_0042, "Invalid 'submit with replace' request.";
    ESME_RINVESMCLASS = 0x0000_0043, "Invalid esm_class field data.";
    ESME_RCNTSUBDL = 0x0000_0044, "Cannot submit to distribution list.";
    ESME_RSUBMITFAIL = 0x0000_0045, "submit_sm or submit_multi failed.";
    ESME_RINVSRCTON = 0x0000_0048, "Invalid source address TON.";
    ESME_RINVSRCNPI = 0x0000_0049, "Invalid source address NPI.";
    ESME_RINVDSTTON = 0x0000_0050, "Invalid destination address TON.";
    ESME_RINVDSTNPI = 0x0000_0051, "Invalid destination address NPI.";
    ESME_RINVSYSTYP = 0x0000_0053, "Invalid system_type field.";
    ESME_RINVREPFLAG = 0x0000_0054, "Invalid replace_if_present flag.";
    ESME_RINVNUMMSGS = 0x0000_0055, "Invalid number of messages.";
    ESME_RTHROTTLED = 0x0000_0058, "Throttling error (ESME has exceeded allowed message limits).";
    ESME_RINVSCHED = 0x0000_0061, "Invalid scheduled delivery time.";
    ESME_RINVEXPIRY = 0x0000_0062, "Invalid message validity period (expiry time).";
    ESME_RINVDFTMSGID = 0x0000_0063, "Predefined message invalid or not found.";
    ESME_RX_T_APPN = 0x0000_0064, "ESME receiver temporary application error code.";
    ESME_RX_P_APPN = 0x0000_0065, "ESME receiver permanent application error code.";
    ESME_RX_R_APPN = 0x0000_0066, "ESME receiver reject message error code.";
    ESME_RQUERYFAIL = 0x0000_0067, "query_sm request failed.";
    ESME_RINVOPTPARSTREAM = 0x0000_00C0, "Error in the optional part of the PDU body.";
    ESME_ROPTPARNOTALLWD = 0x0000_00C1, "Optional parameter not allowed.";
    ESME_RINVPARLEN = 0x0000_00C2, "Invalid parameter length.";
    ESME_RMISSINGOPTPARAM = 0x0000_00C3, "Expected optional parameter missing.";
    ESME_RINVOPTPARAMVAL = 0x0000_00C4, "Invalid optional parameter value.";
    ESME_RDELIVERYFAILURE = 0x0000_00FE, "Delivery failure (used for data_sm_resp).";
    ESME_RUNKNOWNERR = 0x0000_00FF, "Unknown error.";
}

impl CommandStatus {
    /// SMPP 5.0's name for `ESME_RINVOPTPARSTREAM` (same code, 0xC0).
    pub const ESME_RINVTLVSTREAM: CommandStatus = CommandStatus::ESME_RINVOPTPARSTREAM;

    /// The spec name (`"ESME_RTHROTTLED"`), or `None` for an unnamed or
    /// vendor-specific code.
    pub fn name(self) -> Option<&'static str> {
        TABLE.iter().find(|(s, _, _)| *s == self).map(|(_, n, _)| *n)
    }

    /// The spec's one-line description, or `None` for an unnamed code.
    pub fn description(self) -> Option<&'static str> {
        TABLE.iter().find(|(s, _, _)| *s == self).map(|(_, _, d)| *d)
    }

    /// True for `ESME_ROK`.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// True for failures worth retrying later: `ESME_RTHROTTLED`,
    /// `ESME_RMSGQFUL`, `ESME_RSYSERR`, `ESME_RSUBMITFAIL` and
    /// `ESME_RX_T_APPN` (the receiver's own "temporary" code).
    pub const fn is_temporary(self) -> bool {
        matches!(
            self,
            CommandStatus::ESME_RTHROTTLED
                | CommandStatus::ESME_RMSGQFUL
                | CommandStatus::ESME_RSYSERR
                | CommandStatus::ESME_RSUBMITFAIL
                | CommandStatus::ESME_RX_T_APPN
        )
    }

    /// True for every failure that is not [`is_temporary`](Self::is_temporary),
    /// including unnamed vendor codes.
    pub const fn is_permanent(self) -> bool {
        !self.is_ok() && !self.is_temporary()
    }

    /// Ok, temporary or permanent in one value.
    pub const fn class(self) -> StatusClass {
        if self.is_ok() {
            StatusClass::Ok
        } else if self.is_temporary() {
            StatusClass::Temporary
        } else {
            StatusClass::Permanent
        }
    }
}

impl From<u32> for CommandStatus {
    fn from(value: u32) -> Self {
        CommandStatus(value)
    }
}

impl From<CommandStatus> for u32 {
    fn from(status: CommandStatus) -> u32 {
        status.0
    }
}

impl fmt::Display for CommandStatus {
    /// `ESME_RTHROTTLED (0x00000058)`, or just the hex for unnamed codes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

impl fmt::Debug for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "CommandStatus::{name}"),
            None => write!(f, "CommandStatus(0x{:08X})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_codes_have_their_spec_values() {
        let cases = [
            (CommandStatus::ESME_ROK, 0x00),
            (CommandStatus::ESME_RINVCMDLEN, 0x02),
            (CommandStatus::ESME_RINVCMDID, 0x03),
            (CommandStatus::ESME_RSYSERR, 0x08),
            (CommandStatus::ESME_RINVSERTYP, 0x15),
            (CommandStatus::ESME_RINVDSTTON, 0x50),
            (CommandStatus::ESME_RTHROTTLED, 0x58),
            (CommandStatus::ESME_RX_T_APPN, 0x64),
            (CommandStatus::ESME_RINVOPTPARSTREAM, 0xC0),
            (CommandStatus::ESME_RINVTLVSTREAM, 0xC0),
            (CommandStatus::ESME_RMISSINGOPTPARAM, 0xC3),
            (CommandStatus::ESME_RUNKNOWNERR, 0xFF),
        ];
        for (status, value) in cases {
            assert_eq!(status.0, value, "{status}");
        }
    }

    #[test]
    fn names_are_unique_and_every_code_appears_once() {
        for (i, (status, name, _)) in TABLE.iter().enumerate() {
            for (other, other_name, _) in &TABLE[i + 1..] {
                assert_ne!(status, other);
                assert_ne!(name, other_name);
            }
        }
    }

    #[test]
    fn display_shows_the_name_and_hex_or_only_hex_for_vendor_codes() {
        assert_eq!(CommandStatus::ESME_RTHROTTLED.to_string(), "ESME_RTHROTTLED (0x00000058)");
        assert_eq!(CommandStatus(0x0400).to_string(), "0x00000400");
        assert_eq!(CommandStatus(0x0400).name(), None);
    }

    #[test]
    fn throttling_queue_full_system_error_and_submit_failure_are_temporary() {
        for status in [
            CommandStatus::ESME_RTHROTTLED,
            CommandStatus::ESME_RMSGQFUL,
            CommandStatus::ESME_RSYSERR,
            CommandStatus::ESME_RSUBMITFAIL,
            CommandStatus::ESME_RX_T_APPN,
        ] {
            assert_eq!(status.class(), StatusClass::Temporary, "{status}");
        }
    }

    #[test]
    fn address_and_vendor_errors_are_permanent_and_rok_is_neither() {
        for status in [CommandStatus::ESME_RINVDSTADR, CommandStatus::ESME_RX_P_APPN, CommandStatus(0x0400)] {
            assert!(status.is_permanent(), "{status}");
        }
        assert!(!CommandStatus::ESME_ROK.is_permanent());
        assert!(!CommandStatus::ESME_ROK.is_temporary());
        assert_eq!(CommandStatus::ESME_ROK.class(), StatusClass::Ok);
    }
}
