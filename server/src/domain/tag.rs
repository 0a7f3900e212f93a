//! `Tag`: a #tag on a message (and, later, a subscription topic of contacts).
//! Case-insensitive and Unicode-aware: `#Awaria` and `#авария` are tags,
//! stored lower-cased without the `#`.

use std::fmt;

/// Longest tag, in characters.
pub const MAX_TAG_LEN: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("a tag may not be empty")]
    Empty,
    #[error("a tag has at most {MAX_TAG_LEN} characters")]
    TooLong,
    #[error("a tag may contain only letters, digits, '_' and '-'; '{0}' is not allowed")]
    InvalidCharacter(char),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

impl Tag {
    pub fn parse(input: &str) -> Result<Self, TagError> {
        let s = input.trim();
        let s = s.strip_prefix('#').unwrap_or(s);
        if s.is_empty() {
            return Err(TagError::Empty);
        }
        if let Some(bad) = s.chars().find(|c| !is_tag_char(*c)) {
            return Err(TagError::InvalidCharacter(bad));
        }
        if s.chars().count() > MAX_TAG_LEN {
            return Err(TagError::TooLong);
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The `#words` written in a text, in order, without repeats. A `#` must
    /// start the text or follow a non-tag character (so `a#b` is no tag).
    pub fn find_in(text: &str) -> Vec<Tag> {
        let mut tags: Vec<Tag> = Vec::new();
        let mut prev: Option<char> = None;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '#' && !prev.is_some_and(is_tag_char) {
                let start = i + 1;
                let mut end = start;
                while let Some(&(j, d)) = chars.peek() {
                    if !is_tag_char(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                if let Ok(tag) = Tag::parse(&text[start..end])
                    && !tags.contains(&tag)
                {
                    tags.push(tag);
                }
                prev = text[..end].chars().next_back();
                continue;
            }
            prev = Some(c);
        }
        tags
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_case_insensitive_and_unicode_aware() {
        assert_eq!(Tag::parse("#Awaria").unwrap().as_str(), "awaria");
        assert_eq!(Tag::parse("Авария").unwrap().as_str(), "авария");
        assert_eq!(Tag::parse("night-shift_2").unwrap().as_str(), "night-shift_2");
    }

    #[test]
    fn rejects_what_is_not_a_tag() {
        assert_eq!(Tag::parse("#").unwrap_err(), TagError::Empty);
        assert_eq!(Tag::parse("two words").unwrap_err(), TagError::InvalidCharacter(' '));
        assert_eq!(Tag::parse(&"a".repeat(51)).unwrap_err(), TagError::TooLong);
    }

    #[test]
    fn finds_hash_words_in_text() {
        let found: Vec<String> = Tag::find_in("#Awaria at plant 3! #авария #awaria, mail a#b ##x")
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(found, ["#awaria", "#авария", "#x"]);
        assert!(Tag::find_in("no tags here").is_empty());
    }

    proptest! {
        #[test]
        fn finding_tags_never_panics(s in ".{0,200}") {
            for t in Tag::find_in(&s) {
                prop_assert!(Tag::parse(t.as_str()).is_ok());
            }
        }
    }
}
