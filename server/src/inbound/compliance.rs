//! Opt-out compliance words: what makes a sender leave or rejoin an
//! account's marketing, or ask for help. These are checked before any
//! keyword, on every number, and no keyword may take them.

use super::keyword::normalize;
use crate::storage::Store;

/// Standard words that opt the sender out (whole message, any case).
pub const STANDARD_OPT_OUT: &[&str] = &["stop", "stopall", "unsubscribe", "cancel", "end", "quit"];
/// Words that opt the sender back in.
pub const OPT_IN: &[&str] = &["start", "unstop"];
/// Words that ask for the account's help text.
pub const HELP: &[&str] = &["help", "info"];
/// Local opt-out words used when the account has set none: Polish
/// `STOP`/`NIE`, Russian and Bulgarian `СТОП`.
pub const DEFAULT_LOCAL_OPT_OUT: &[&str] = &["nie", "стоп"];
/// The help text of an account that has set none.
pub const DEFAULT_HELP_TEXT: &str = "Reply STOP to unsubscribe, START to subscribe again.";
/// Local opt-out words an account may set at most.
pub const MAX_LOCAL_WORDS: usize = 20;

/// What a compliance word asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    OptOut,
    OptIn,
    Help,
}

impl Request {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "opt_out",
            Self::OptIn => "opt_in",
            Self::Help => "help",
        }
    }
}

/// Every opt-out word of an account, normalized: the standard ones and its
/// local ones.
pub fn opt_out_words(local: &[String]) -> Vec<String> {
    let mut words: Vec<String> = STANDARD_OPT_OUT.iter().map(|w| (*w).to_owned()).collect();
    for w in local {
        let w = normalize(w);
        if !w.is_empty() && !words.contains(&w) {
            words.push(w);
        }
    }
    words
}

/// An account's compliance settings, its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The local opt-out words as set (or the defaults).
    pub local: Vec<String>,
    /// Every opt-out word, normalized: the standard ones and the local ones.
    pub words: Vec<String>,
    pub help: String,
}

/// The account's compliance settings.
pub async fn settings(store: &Store, account_id: &str) -> sqlx::Result<Settings> {
    let (help, local) = store.compliance_settings(account_id).await?;
    let local = local.unwrap_or_else(|| DEFAULT_LOCAL_OPT_OUT.iter().map(|w| (*w).to_owned()).collect());
    Ok(Settings {
        words: opt_out_words(&local),
        local,
        help: help.unwrap_or_else(|| DEFAULT_HELP_TEXT.to_owned()),
    })
}

/// What the normalized `text` asks for, if it is a compliance word.
pub fn classify(text: &str, opt_out_words: &[String]) -> Option<Request> {
    if opt_out_words.iter().any(|w| w == text) {
        Some(Request::OptOut)
    } else if OPT_IN.contains(&text) {
        Some(Request::OptIn)
    } else if HELP.contains(&text) {
        Some(Request::Help)
    } else {
        None
    }
}

/// Whether a keyword key would take a compliance word.
pub fn is_reserved(key: &str, opt_out_words: &[String]) -> bool {
    classify(key, opt_out_words).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_local_words_are_recognised_in_any_case_and_with_diacritics() {
        let words = opt_out_words(&["NIE".into(), "СТОП".into()]);
        for t in [
            "STOP",
            "stop!",
            " Stop ",
            "STOPALL",
            "unsubscribe",
            "Cancel",
            "END",
            "quit",
            "Nie",
            "стоп",
            "СТОП",
        ] {
            assert_eq!(classify(&normalize(t), &words), Some(Request::OptOut), "{t}");
        }
        assert_eq!(classify(&normalize("START"), &words), Some(Request::OptIn));
        assert_eq!(classify(&normalize("help"), &words), Some(Request::Help));
        for t in ["stop it", "nie wiem", "", "pizza"] {
            assert_eq!(classify(&normalize(t), &words), None, "{t}");
        }
    }
}
