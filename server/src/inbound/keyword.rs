//! Keywords: what a received text is compared with, and how.
//!
//! Texts and keywords are compared in their [`normalize`]d form: lower
//! case, without diacritics (`ZAŻÓŁĆ` = `zazolc`), whitespace collapsed to
//! single spaces and punctuation trimmed from both ends (`  Stop! ` =
//! `stop`). A keyword is valid by construction ([`Keyword::new`]); which of
//! several matching keywords wins is [`best`]'s order, and two keywords
//! [`conflict`] when one of them, sent as a message, would match the other.

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

    /// Among equal priorities, the more specific match wins.
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

/// A keyword competing for a message.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub keyword: &'a Keyword,
    pub priority: i64,
    /// Creation order: earlier wins the last tie.
    pub created_at: i64,
}

/// The keyword that takes `text`: highest priority, then the most specific
/// match type, then the longest key, then the oldest.
pub fn best<'a>(
    candidates: impl IntoIterator<Item = (usize, Candidate<'a>)>,
    text: &str,
    opt_out_words: &[String],
) -> Option<usize> {
    candidates
        .into_iter()
        .filter(|(_, c)| matches(c.keyword.match_type, &c.keyword.key, text, opt_out_words))
        .max_by(|(_, a), (_, b)| order(a, b))
        .map(|(i, _)| i)
}

fn order(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    a.priority
        .cmp(&b.priority)
        .then(a.keyword.match_type.specificity().cmp(&b.keyword.match_type.specificity()))
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
        let c = |k, priority, created_at| Candidate { keyword: k, priority, created_at };
        let all = || [c(&phrase, 0, 1), c(&base, 0, 2), c(&exact, 0, 3)].into_iter().enumerate();
        assert_eq!(best(all(), "pizza", &[]), Some(2));
        assert_eq!(best(all(), "pizza please", &[]), Some(1));
        assert_eq!(best(all(), "more pizza", &[]), Some(0));
        assert_eq!(best(all(), "pasta", &[]), None);
        let boosted = [c(&phrase, 5, 1), c(&exact, 0, 3)].into_iter().enumerate();
        assert_eq!(best(boosted, "pizza", &[]), Some(0));
    }
}
