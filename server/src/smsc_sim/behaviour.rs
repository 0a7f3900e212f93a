//! The simulator's named behaviours: how it misbehaves on purpose, one name per
//! fault (after Jasmin's test SMSCs: `HappySMSC`, `BlackHoleSMSC`, …).
//!
//! This module owns the [`Behaviour`] enum, its command-line spelling
//! (`throttle-every=10`, parsed by `FromStr` and written back by `Display`),
//! and the pure decision of what to do with one `submit_sm`
//! ([`SubmitVerdict`]). It does not touch sockets: the session carries the
//! verdict out. The switch that lets tests change the behaviour at run time is
//! [`FaultSwitch`].

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use smpp::CommandStatus;

/// How the simulator answers. `Happy` unless a test or the CLI says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Answers everything, accepts every submission, sends receipts.
    #[default]
    Happy,
    /// Binds, then answers nothing at all (no submit_sm_resp, no
    /// enquire_link_resp, no unbind_resp).
    BlackHole,
    /// Answers everything except submit_sm.
    NoResponseOnSubmit,
    /// Refuses every submit_sm with this `command_status`.
    ErrorOnSubmit(u32),
    /// Every n-th submit_sm (counted since the behaviour was set) is refused
    /// with `ESME_RTHROTTLED`; 0 never.
    ThrottleEvery(u32),
    /// Every n-th submit_sm is refused with `ESME_RMSGQFUL`; 0 never.
    QueueFullEvery(u32),
    /// On a session's first submit_sm, sends `unbind` instead of an answer;
    /// the session ends when the client answers (or after a grace period).
    UnbindOnSubmit,
    /// Each session handles n submit_sm normally; the next one drops the TCP
    /// connection with it (and any answer still delayed) unanswered.
    DisconnectAfter(u32),
    /// Writes bytes that are not SMPP right after a successful bind_resp,
    /// then carries on as `Happy`.
    GarbageAfterBind,
    /// Accepts submissions but answers each with a sequence number the
    /// client never used.
    UnknownSequence,
    /// On a session's first submit_sm, writes half of a submit_sm_resp and
    /// closes the connection.
    CloseMidPdu,
}

/// What the session does with one submit_sm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubmitVerdict {
    /// Accept it and answer `ESME_ROK` with a new message id.
    Accept,
    /// Accept it but answer with a wrong sequence number.
    AcceptWrongSequence,
    /// Answer this error status; nothing is stored.
    Refuse(CommandStatus),
    /// Never answer it.
    Ignore,
    /// Leave it unanswered and send `unbind` (once per session).
    Unbind,
    /// Drop the connection now.
    Disconnect,
    /// Write half an answer and close.
    CloseMidPdu,
}

impl Behaviour {
    /// The verdict for a submit_sm that is the `overall`-th since the
    /// behaviour was set and the `in_session`-th of its session (both from 1).
    pub(crate) fn verdict(self, overall: u64, in_session: u64) -> SubmitVerdict {
        let every = |n: u32| n != 0 && overall.is_multiple_of(u64::from(n));
        match self {
            Behaviour::Happy | Behaviour::GarbageAfterBind => SubmitVerdict::Accept,
            Behaviour::BlackHole | Behaviour::NoResponseOnSubmit => SubmitVerdict::Ignore,
            Behaviour::ErrorOnSubmit(status) => SubmitVerdict::Refuse(CommandStatus(status)),
            Behaviour::ThrottleEvery(n) if every(n) => SubmitVerdict::Refuse(CommandStatus::ESME_RTHROTTLED),
            Behaviour::QueueFullEvery(n) if every(n) => SubmitVerdict::Refuse(CommandStatus::ESME_RMSGQFUL),
            Behaviour::ThrottleEvery(_) | Behaviour::QueueFullEvery(_) => SubmitVerdict::Accept,
            Behaviour::UnbindOnSubmit => SubmitVerdict::Unbind,
            Behaviour::DisconnectAfter(n) if in_session > u64::from(n) => SubmitVerdict::Disconnect,
            Behaviour::DisconnectAfter(_) => SubmitVerdict::Accept,
            Behaviour::UnknownSequence => SubmitVerdict::AcceptWrongSequence,
            Behaviour::CloseMidPdu => SubmitVerdict::CloseMidPdu,
        }
    }

    /// Whether a bound session ignores every request (not only submit_sm).
    pub(crate) fn ignores_everything(self) -> bool {
        self == Behaviour::BlackHole
    }
}

/// The spellings `FromStr` accepts, for error messages and `--help`.
pub const BEHAVIOUR_NAMES: &str = "happy, black-hole, no-response-on-submit, error-on-submit=STATUS, \
     throttle-every=N, queue-full-every=N, unbind-on-submit, disconnect-after=N, garbage-after-bind, \
     unknown-sequence, close-mid-pdu";

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Happy => f.write_str("happy"),
            Behaviour::BlackHole => f.write_str("black-hole"),
            Behaviour::NoResponseOnSubmit => f.write_str("no-response-on-submit"),
            Behaviour::ErrorOnSubmit(status) => write!(f, "error-on-submit={status:#x}"),
            Behaviour::ThrottleEvery(n) => write!(f, "throttle-every={n}"),
            Behaviour::QueueFullEvery(n) => write!(f, "queue-full-every={n}"),
            Behaviour::UnbindOnSubmit => f.write_str("unbind-on-submit"),
            Behaviour::DisconnectAfter(n) => write!(f, "disconnect-after={n}"),
            Behaviour::GarbageAfterBind => f.write_str("garbage-after-bind"),
            Behaviour::UnknownSequence => f.write_str("unknown-sequence"),
            Behaviour::CloseMidPdu => f.write_str("close-mid-pdu"),
        }
    }
}

/// Why a behaviour spelling was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; expected one of: {BEHAVIOUR_NAMES}")]
pub struct BadBehaviour(String);

impl FromStr for Behaviour {
    type Err = BadBehaviour;

    /// `name` or `name=value`; names in kebab case (`_` also accepted), any case.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let (name, value) = match input.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (input, None),
        };
        let name = name.to_ascii_lowercase().replace('_', "-");
        let count = |what: &str| -> Result<u32, BadBehaviour> {
            let value = value.ok_or_else(|| BadBehaviour(format!("'{name}' needs ={what}")))?;
            let n: u32 = value
                .parse()
                .map_err(|_| BadBehaviour(format!("'{name}={value}': {what} must be a number")))?;
            if n == 0 && name != "disconnect-after" {
                return Err(BadBehaviour(format!("'{name}=0': {what} must be at least 1")));
            }
            Ok(n)
        };
        let plain = |b: Behaviour| match value {
            Some(v) => Err(BadBehaviour(format!("'{name}' takes no value, got '{v}'"))),
            None => Ok(b),
        };
        match name.as_str() {
            "happy" => plain(Behaviour::Happy),
            "black-hole" | "blackhole" => plain(Behaviour::BlackHole),
            "no-response-on-submit" => plain(Behaviour::NoResponseOnSubmit),
            "error-on-submit" => {
                let value = value.ok_or_else(|| BadBehaviour("'error-on-submit' needs =STATUS".into()))?;
                parse_status(value).map(Behaviour::ErrorOnSubmit)
            }
            "throttle-every" => count("N").map(Behaviour::ThrottleEvery),
            "queue-full-every" => count("N").map(Behaviour::QueueFullEvery),
            "unbind-on-submit" => plain(Behaviour::UnbindOnSubmit),
            "disconnect-after" => count("N").map(Behaviour::DisconnectAfter),
            "garbage-after-bind" => plain(Behaviour::GarbageAfterBind),
            "unknown-sequence" => plain(Behaviour::UnknownSequence),
            "close-mid-pdu" => plain(Behaviour::CloseMidPdu),
            _ => Err(BadBehaviour(format!("unknown behaviour '{input}'"))),
        }
    }
}

/// Highest status code searched when a status is given by name.
const MAX_NAMED_STATUS: u32 = 0x1FF;

/// `0x45`, `69` or `ESME_RSUBMITFAIL`; must not be `ESME_ROK`.
fn parse_status(value: &str) -> Result<u32, BadBehaviour> {
    let parsed = if let Some(hex) = value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        (0..=MAX_NAMED_STATUS)
            .find(|&code| CommandStatus(code).name().is_some_and(|name| name.eq_ignore_ascii_case(value)))
    };
    match parsed {
        Some(0) => Err(BadBehaviour("'error-on-submit' needs an error status, not ESME_ROK".into())),
        Some(code) => Ok(code),
        None => Err(BadBehaviour(format!(
            "'error-on-submit={value}': give a status as 0x45, 69 or ESME_RSUBMITFAIL"
        ))),
    }
}

/// The behaviour in force and the submissions counted since it was set.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch {
    inner: Mutex<(Behaviour, u64)>,
}

impl FaultSwitch {
    pub(crate) fn new(behaviour: Behaviour) -> FaultSwitch {
        FaultSwitch { inner: Mutex::new((behaviour, 0)) }
    }

    pub(crate) fn current(&self) -> Behaviour {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Switches behaviour and restarts the every-n-th count.
    pub(crate) fn set(&self, behaviour: Behaviour) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = (behaviour, 0);
    }

    /// Counts one submit_sm and says what to do with it.
    pub(crate) fn on_submit(&self, in_session: u64) -> SubmitVerdict {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1 += 1;
        guard.0.verdict(guard.1, in_session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_behaviour_reads_back_from_its_own_spelling() {
        let all = [
            Behaviour::Happy,
            Behaviour::BlackHole,
            Behaviour::NoResponseOnSubmit,
            Behaviour::ErrorOnSubmit(0x45),
            Behaviour::ThrottleEvery(10),
            Behaviour::QueueFullEvery(3),
            Behaviour::UnbindOnSubmit,
            Behaviour::DisconnectAfter(5),
            Behaviour::GarbageAfterBind,
            Behaviour::UnknownSequence,
            Behaviour::CloseMidPdu,
        ];
        for b in all {
            assert_eq!(b.to_string().parse::<Behaviour>(), Ok(b), "{b}");
        }
    }

    #[test]
    fn error_statuses_are_read_as_hex_decimal_or_name() {
        for (input, code) in
            [("error-on-submit=0x45", 0x45), ("error-on-submit=8", 8), ("ERROR_ON_SUBMIT=esme_rsyserr", 8)]
        {
            assert_eq!(input.parse::<Behaviour>(), Ok(Behaviour::ErrorOnSubmit(code)), "{input}");
        }
    }

    #[test]
    fn bad_spellings_are_refused_with_the_list_of_names() {
        for input in [
            "",
            "sad",
            "throttle-every",
            "throttle-every=0",
            "throttle-every=x",
            "happy=1",
            "error-on-submit",
            "error-on-submit=0",
            "error-on-submit=ESME_RNOPE",
            "disconnect-after=-1",
        ] {
            let err = input.parse::<Behaviour>().unwrap_err();
            assert!(err.to_string().contains("expected one of"), "{input}: {err}");
        }
    }

    #[test]
    fn throttle_every_third_refuses_the_third_and_sixth() {
        let b = Behaviour::ThrottleEvery(3);
        let refused: Vec<u64> = (1..=7).filter(|&n| b.verdict(n, n) != SubmitVerdict::Accept).collect();
        assert_eq!(refused, [3, 6]);
    }

    #[test]
    fn disconnect_after_two_accepts_two_per_session_then_drops() {
        let b = Behaviour::DisconnectAfter(2);
        assert_eq!(b.verdict(9, 2), SubmitVerdict::Accept);
        assert_eq!(b.verdict(10, 3), SubmitVerdict::Disconnect);
    }

    #[test]
    fn setting_a_behaviour_restarts_the_count() {
        let switch = FaultSwitch::new(Behaviour::ThrottleEvery(2));
        assert_eq!(switch.on_submit(1), SubmitVerdict::Accept);
        switch.set(Behaviour::ThrottleEvery(2));
        assert_eq!(switch.on_submit(2), SubmitVerdict::Accept);
        assert_eq!(switch.on_submit(3), SubmitVerdict::Refuse(CommandStatus::ESME_RTHROTTLED));
    }
}
