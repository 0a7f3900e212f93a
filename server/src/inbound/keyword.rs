//! Keywords: what a received text is compared with, and how.
//!
//! Texts and keywords are compared in their [`normalize`]d form: lower
//! case, without diacritics (`ZAŻÓŁĆ` = `zazolc`), whitespace collapsed to
//! single spaces and punctuation trimmed from both ends (`  Stop! ` =
//! `stop`). A keyword is valid by construction ([`Keyword::new`]); which of
//! several matching keywords wins is [`best`]'s order, two keywords
//! [`conflict`] when one of them, sent as a message, would match the other,
//! and they [`overlap`] when any message could match both.

use std::cmp::Ordering;

use crate::storage::fold;

/// Longest keyword, in characters.
pub const MAX_KEYWORD_LEN: usize = 60;

/// How a keyword is compared with a received text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// The whole text is the keyword.
    Exact,
    /// The first word of the text is the keyword (`PIZZA please` → `pizza`).
    Base,
    /// The text contains the keyword as whole words.
    Phrase,
    /// An opt-out word and the keyword (`STOP PIZZA`, `PIZZA STOP`): leave
    /// the list the keyword stands for.
    Remove,
}

impl MatchType {
    pub const ALL: [MatchType; 4] = [Self::Exact, Self::Base, Self::Phrase, Self::Remove];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Base => "base",
            Self::Phrase => "phrase",
            Self::Remove => "remove",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Among equal priorities, and between accounts, the more specific
    /// match wins.
    fn specificity(self) -> u8 {
        match self {
            Self::Exact => 3,
            Self::Remove => 2,
            Self::Base => 1,
            Self::Phrase => 0,
        }
    }
}

/// A text as keywords see it: folded, single-spaced, punctuation trimmed.
pub fn normalize(text: &str) -> String {
    let folded = fold(text);
    let words: Vec<&str> = folded.split(|c: char| c.is_whitespace()).filter(|w| !w.is_empty()).collect();
    let joined = words.join(" ");
    joined.trim_matches(|c: char| !c.is_alphanumeric()).to_owned()
}

/// Why a keyword was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordError {
    #[error("is empty (it needs at least one letter or digit)")]
    Empty,
    #[error("is longer than {MAX_KEYWORD_LEN} characters")]
    TooLong,
    #[error("must be one word for match type {0}")]
    NotOneWord(&'static str),
}

/// A keyword as typed and its normalized key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    pub text: String,
    pub key: String,
    pub match_type: MatchType,
}

impl Keyword {
    pub fn new(text: &str, match_type: MatchType) -> Result<Self, KeywordError> {
        let text = text.trim();
        if text.chars().count() > MAX_KEYWORD_LEN {
            return Err(KeywordError::TooLong);
        }
        let key = normalize(text);
        if key.is_empty() {
            return Err(KeywordError::Empty);
        }
        if match_type == MatchType::Base && key.contains(' ') {
            return Err(KeywordError::NotOneWord(match_type.as_str()));
        }
        Ok(Self { text: text.to_owned(), key, match_type })
    }
}

/// Whether `key` (normalized) of type `match_type` matches the normalized
/// text `text`; `opt_out_words` are the account's words for `remove`.
pub fn matches(match_type: MatchType, key: &str, text: &str, opt_out_words: &[String]) -> bool {
    if text.is_empty() {
        return false;
    }
    match match_type {
        MatchType::Exact => text == key,
        MatchType::Base => text.split(' ').next() == Some(key),
        MatchType::Phrase => contains_words(text, key),
        MatchType::Remove => opt_out_words.iter().any(|w| {
            text.strip_prefix(w.as_str()).and_then(|rest| rest.strip_prefix(' ')) == Some(key)
                || text.strip_suffix(w.as_str()).and_then(|rest| rest.strip_suffix(' ')) == Some(key)
        }),
    }
}

/// `needle` occurs in `haystack` at word boundaries.
fn contains_words(haystack: &str, needle: &str) -> bool {
    let h: Vec<&str> = haystack.split(' ').collect();
    let n: Vec<&str> = needle.split(' ').collect();
    n.len() <= h.len() && h.windows(n.len()).any(|w| w == n.as_slice())
}

/// Two keywords conflict when either, sent as a message, matches the
/// other: then a message could match both, and only their priorities
/// could tell which wins.
pub fn conflict(a: &Keyword, b: &Keyword, opt_out_words: &[String]) -> bool {
    let probe = |k: &Keyword| match k.match_type {
        MatchType::Remove => format!("{} {}", opt_out_words.first().map_or("stop", |w| w.as_str()), k.key),
        _ => k.key.clone(),
    };
    a.key == b.key && a.match_type == b.match_type
        || matches(a.match_type, &a.key, &probe(b), opt_out_words)
        || matches(b.match_type, &b.key, &probe(a), opt_out_words)
}

/// Whether any message could match both keywords — the rule between two
/// accounts on a shared number, where no priority may decide. An exact or
/// remove keyword matches only a few texts, each tried on the other; two
/// base keywords share a message only when they are the same word; any
/// other pair of base and phrase keywords shares one (`ORDER pizza` starts
/// with `order` and contains `pizza`).
pub fn overlap(a: &Keyword, b: &Keyword, opt_out_words: &[String]) -> bool {
    let texts = |k: &Keyword| match k.match_type {
        MatchType::Exact => Some(vec![k.key.clone()]),
        MatchType::Remove => Some(
            opt_out_words.iter().flat_map(|w| [format!("{w} {}", k.key), format!("{} {w}", k.key)]).collect(),
        ),
        MatchType::Base | MatchType::Phrase => None,
    };
    let matched_by = |texts: Vec<String>, k: &Keyword| {
        texts.iter().any(|t| matches(k.match_type, &k.key, t, opt_out_words))
    };
    match (texts(a), texts(b)) {
        (Some(t), _) => matched_by(t, b),
        (None, Some(t)) => matched_by(t, a),
        (None, None) => {
            !(a.match_type == MatchType::Base && b.match_type == MatchType::Base) || a.key == b.key
        }
    }
}

/// A keyword competing for a message.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub keyword: &'a Keyword,
    /// Whose it is: priorities order one account's keywords only.
    pub account: &'a str,
    pub priority: i64,
    /// Creation order: earlier wins the last tie.
    pub created_at: i64,
}

/// The keyword that takes `text`. Within an account: the highest priority,
/// then the most specific match type, then the longest key, then the
/// oldest. Between accounts (a shared number; [`overlap`] keeps them apart,
/// so only keywords stored before that rule meet here) each account's best
/// competes without its priority.
pub fn best<'a>(
    candidates: impl IntoIterator<Item = (usize, Candidate<'a>)>,
    text: &str,
    opt_out_words: &[String],
) -> Option<usize> {
    let mut per_account: Vec<(usize, Candidate<'a>)> = Vec::new();
    for (i, c) in candidates {
        if !matches(c.keyword.match_type, &c.keyword.key, text, opt_out_words) {
            continue;
        }
        match per_account.iter_mut().find(|(_, b)| b.account == c.account) {
            Some(b) if by_priority(&c, &b.1).is_gt() => *b = (i, c),
            Some(_) => {}
            None => per_account.push((i, c)),
        }
    }
    per_account.into_iter().max_by(|(_, a), (_, b)| by_match(a, b)).map(|(i, _)| i)
}

fn by_priority(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    a.priority.cmp(&b.priority).then_with(|| by_match(a, b))
}

fn by_match(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    a.keyword
        .match_type
        .specificity()
        .cmp(&b.keyword.match_type.specificity())
        .then(a.keyword.key.chars().count().cmp(&b.keyword.key.chars().count()))
        .then(b.created_at.cmp(&a.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(t: &str, m: MatchType) -> Keyword {
        Keyword::new(t, m).unwrap()
    }

    fn stop() -> Vec<String> {
        vec!["stop".into(), "nie".into()]
    }

    #[test]
    fn texts_are_compared_without_case_diacritics_extra_spaces_or_end_punctuation() {
        assert_eq!(normalize("  ZAŻÓŁĆ \t gęślą\njaźń!! "), "zazolc gesla jazn");
        assert_eq!(normalize("Stop."), "stop");
        assert_eq!(normalize("СТОП"), "стоп");
        assert_eq!(normalize("   "), "");
        assert_eq!(normalize("🙂🙂"), "");
    }

    #[test]
    fn each_match_type_matches_what_it_says() {
        let cases = [
            (MatchType::Exact, "pizza", "Pizza!", true),
            (MatchType::Exact, "pizza", "pizza please", false),
            (MatchType::Base, "pizza", "PIZZA please", true),
            (MatchType::Base, "pizza", "pizzas please", false),
            (MatchType::Base, "pizza", "I want pizza", false),
            (MatchType::Phrase, "free pizza", "I want FREE   pizza now", true),
            (MatchType::Phrase, "free pizza", "free pizzas", false),
            (MatchType::Remove, "pizza", "STOP pizza", true),
            (MatchType::Remove, "pizza", "pizza nie", true),
            (MatchType::Remove, "pizza", "pizza", false),
            (MatchType::Remove, "pizza", "stop pasta", false),
        ];
        for (m, key, text, want) in cases {
            assert_eq!(matches(m, key, &normalize(text), &stop()), want, "{m:?} {key} vs {text}");
        }
    }

    #[test]
    fn empty_or_emoji_only_texts_match_nothing() {
        for m in MatchType::ALL {
            assert!(!matches(m, "a", &normalize(" 🙂 "), &stop()));
        }
    }

    #[test]
    fn bad_keywords_are_refused() {
        assert_eq!(Keyword::new("  ", MatchType::Exact), Err(KeywordError::Empty));
        assert_eq!(Keyword::new("!!", MatchType::Exact), Err(KeywordError::Empty));
        assert_eq!(Keyword::new(&"a".repeat(61), MatchType::Exact), Err(KeywordError::TooLong));
        assert!(matches!(Keyword::new("two words", MatchType::Base), Err(KeywordError::NotOneWord(_))));
        assert_eq!(Keyword::new(" Zupa  Dnia ", MatchType::Phrase).unwrap().key, "zupa dnia");
    }

    #[test]
    fn keywords_that_could_take_the_same_message_conflict() {
        let w = stop();
        assert!(conflict(&kw("PIZZA", MatchType::Exact), &kw("pizza", MatchType::Exact), &w));
        assert!(conflict(&kw("Pizza", MatchType::Base), &kw("pizza now", MatchType::Exact), &w));
        assert!(conflict(&kw("pizza", MatchType::Phrase), &kw("pizza", MatchType::Base), &w));
        assert!(!conflict(&kw("pizza", MatchType::Base), &kw("pasta", MatchType::Phrase), &w));
        assert!(!conflict(&kw("pizza", MatchType::Remove), &kw("pizza", MatchType::Exact), &w));
        assert!(conflict(&kw("pizza", MatchType::Remove), &kw("stop", MatchType::Base), &w));
    }

    #[test]
    fn the_highest_priority_then_the_most_specific_keyword_wins() {
        let exact = kw("pizza", MatchType::Exact);
        let base = kw("pizza", MatchType::Base);
        let phrase = kw("pizza", MatchType::Phrase);
        let c = |k, priority, created_at| Candidate { keyword: k, account: "a", priority, created_at };
        let all = || [c(&phrase, 0, 1), c(&base, 0, 2), c(&exact, 0, 3)].into_iter().enumerate();
        assert_eq!(best(all(), "pizza", &[]), Some(2));
        assert_eq!(best(all(), "pizza please", &[]), Some(1));
        assert_eq!(best(all(), "more pizza", &[]), Some(0));
        assert_eq!(best(all(), "pasta", &[]), None);
        let boosted = [c(&phrase, 5, 1), c(&exact, 0, 3)].into_iter().enumerate();
        assert_eq!(best(boosted, "pizza", &[]), Some(0));
    }

    #[test]
    fn keywords_overlap_when_one_message_could_match_both() {
        let w = stop();
        let cases = [
            (kw("order", MatchType::Base), kw("pizza", MatchType::Phrase), true), // ORDER pizza
            (kw("order", MatchType::Base), kw("order", MatchType::Base), true),
            (kw("order", MatchType::Base), kw("pizza", MatchType::Base), false),
            (kw("free pizza", MatchType::Phrase), kw("pasta", MatchType::Phrase), true),
            (kw("pizza", MatchType::Exact), kw("order", MatchType::Base), false),
            (kw("order now", MatchType::Exact), kw("order", MatchType::Base), true),
            (kw("pizza", MatchType::Exact), kw("pizza", MatchType::Phrase), true),
            (kw("pizza", MatchType::Remove), kw("pizza", MatchType::Base), true), // pizza stop
            (kw("pizza", MatchType::Remove), kw("pizza", MatchType::Exact), false),
            (kw("pizza", MatchType::Remove), kw("pasta", MatchType::Remove), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlap(&a, &b, &w), want, "{a:?} {b:?}");
            assert_eq!(overlap(&b, &a, &w), want, "{b:?} {a:?}");
        }
    }

    #[test]
    fn priorities_order_one_accounts_keywords_but_not_another_accounts() {
        let order = kw("order", MatchType::Base);
        let pizza = kw("pizza", MatchType::Phrase);
        let order_pizza = kw("order pizza", MatchType::Exact);
        let c = |k, account, priority, created_at| Candidate { keyword: k, account, priority, created_at };
        let shared = [c(&order, "a", 0, 1), c(&pizza, "b", 5, 2)].into_iter().enumerate();
        assert_eq!(best(shared, "order pizza", &[]), Some(0), "b's priority does not count against a");
        let own = [c(&order, "a", 0, 1), c(&pizza, "a", 5, 2)].into_iter().enumerate();
        assert_eq!(best(own, "order pizza", &[]), Some(1), "a's own priority decides");
        // An account's best competes as it is: b's boosted phrase beats its
        // own exact, then loses to a's base.
        let mixed =
            [c(&order, "a", 0, 1), c(&pizza, "b", 5, 2), c(&order_pizza, "b", 0, 3)].into_iter().enumerate();
        assert_eq!(best(mixed, "order pizza", &[]), Some(0));
    }
}
