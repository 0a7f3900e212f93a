//! Polls and contests: what a poll is ([`PollSpec`], valid by
//! construction), which answer a received text names ([`answer_of`]),
//! whether a vote came in while the poll was open ([`outside`]), its
//! results with percentages ([`results`]) and a contest's reproducible
//! winner draw ([`draw`]). The `poll_answer` action turns a received
//! message into a vote for the inbound worker to store with its match.
//!
//! Not here: keeping polls and votes (`storage::polls`), the HTTP resource
//! (`http::api::v1::polls`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::InboundWorker;
use super::keyword::normalize;
use crate::domain::MessageText;
use crate::storage::{
    InboundJob, InboundOutcome, PollRecord, VoteCount, VoteRequest, VoteStatus, clean_text,
};

/// Longest poll name, in characters.
pub const MAX_NAME_LEN: usize = 100;
/// Longest question, in characters.
pub const MAX_QUESTION_LEN: usize = 1_000;
/// Answers a poll may have at most.
pub const MAX_ANSWERS: usize = 26;
/// Longest answer key (one word), in characters.
pub const MAX_KEY_LEN: usize = 30;
/// Longest answer text, in characters.
pub const MAX_ANSWER_LEN: usize = 200;
/// Longest reply text, in characters.
pub const MAX_REPLY_LEN: usize = 1_000;
/// Winners one draw may pick at most.
pub const MAX_WINNERS: usize = 1_000;
/// Longest seed a draw accepts, in characters.
pub const MAX_SEED_LEN: usize = 200;

/// One answer: the key a voter sends (`A`, `PIZZA`) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerOption {
    /// One word; default: the answer's letter (`A`, `B`, …). A voter may
    /// send the key or the text.
    #[serde(default)]
    pub key: String,
    /// Default: the key.
    #[serde(default)]
    pub text: String,
}

/// Which of one number's votes counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VotePolicy {
    /// One vote per number: later ones are recorded as duplicates.
    First,
    /// The last vote counts: it replaces the number's earlier one.
    Last,
}

impl VotePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Last => "last",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::First, Self::Last].into_iter().find(|p| p.as_str() == s)
    }
}

/// What a poll answers a voter, by outcome; no text, no answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollReplies {
    /// The vote was counted (or replaced the number's earlier vote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<String>,
    /// The number had voted already (one vote per number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<String>,
    /// The poll was not open (not yet, or no longer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
    /// The text named no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

impl PollReplies {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The reply for a stored vote status.
    pub fn for_status(&self, status: VoteStatus) -> Option<&str> {
        match status {
            VoteStatus::Counted | VoteStatus::Replaced => self.counted.as_deref(),
            VoteStatus::Duplicate => self.duplicate.as_deref(),
            VoteStatus::Early | VoteStatus::Late => self.closed.as_deref(),
            VoteStatus::Invalid => self.invalid.as_deref(),
        }
    }
}

/// A refused poll: which field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> PollError {
    PollError { field: field.into(), message: message.into() }
}

/// A poll or contest as checked: name, question, answers with distinct
/// keys and texts, an open window that ends after it starts, a policy, a
/// contest's correct answer among the keys, and reply texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSpec {
    pub name: String,
    pub question: String,
    pub answers: Vec<AnswerOption>,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    pub policy: VotePolicy,
    pub correct_answer: Option<String>,
    pub replies: PollReplies,
}

/// A poll as given, before checking.
#[derive(Debug, Clone, Default)]
pub struct PollDraft {
    pub name: String,
    pub question: String,
    pub answers: Vec<AnswerOption>,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    pub policy: String,
    pub correct_answer: Option<String>,
    pub replies: PollReplies,
}

fn text(field: &str, s: &str, max: usize, multiline: bool) -> Result<String, PollError> {
    clean_text(s, max, multiline)
        .map_err(|e| err(field, e.to_string()))?
        .ok_or_else(|| err(field, "may not be empty"))
}

impl PollSpec {
    /// Checks a draft; reply texts must fit `max_segments`
    /// (`messages.max_segments`), as they are sent when a vote comes.
    pub fn new(d: PollDraft, max_segments: usize) -> Result<Self, PollError> {
        let name = text("name", &d.name, MAX_NAME_LEN, false)?;
        let question = text("question", &d.question, MAX_QUESTION_LEN, true)?;
        if d.answers.len() < 2 {
            return Err(err("answers", "a poll needs at least two answers"));
        }
        if d.answers.len() > MAX_ANSWERS {
            return Err(err("answers", format!("at most {MAX_ANSWERS} answers")));
        }
        let mut answers: Vec<AnswerOption> = Vec::with_capacity(d.answers.len());
        for (i, a) in d.answers.iter().enumerate() {
            let letter = char::from(b'A' + i as u8).to_string();
            let key = if a.key.trim().is_empty() { letter } else { a.key.trim().to_owned() };
            let folded = normalize(&key);
            if folded.is_empty() || folded.contains(' ') || key.chars().count() > MAX_KEY_LEN {
                return Err(err(
                    format!("answers[{i}].key"),
                    format!("must be one word of letters or digits, up to {MAX_KEY_LEN} characters"),
                ));
            }
            let answer_text = if a.text.trim().is_empty() {
                key.clone()
            } else {
                text(&format!("answers[{i}].text"), &a.text, MAX_ANSWER_LEN, false)?
            };
            if normalize(&answer_text).is_empty() {
                return Err(err(format!("answers[{i}].text"), "needs at least one letter or digit"));
            }
            // A voter's text must name one answer only.
            for (j, b) in answers.iter().enumerate() {
                let theirs = [normalize(&b.key), normalize(&b.text)];
                if theirs.contains(&folded) {
                    return Err(err(
                        format!("answers[{i}].key"),
                        format!("'{key}' is already answer {}", j + 1),
                    ));
                }
                if theirs.contains(&normalize(&answer_text)) {
                    return Err(err(
                        format!("answers[{i}].text"),
                        format!("'{answer_text}' is already answer {}", j + 1),
                    ));
                }
            }
            answers.push(AnswerOption { key, text: answer_text });
        }
        if let (Some(o), Some(c)) = (d.opens_at, d.closes_at)
            && c <= o
        {
            return Err(err("closes_at", "must be after opens_at"));
        }
        let policy = match d.policy.trim() {
            "" => VotePolicy::First,
            p => VotePolicy::parse(p).ok_or_else(|| err("vote_policy", "must be first or last"))?,
        };
        let correct_answer = match d.correct_answer.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(
                answers
                    .iter()
                    .find(|a| normalize(&a.key) == normalize(c))
                    .map(|a| a.key.clone())
                    .ok_or_else(|| err("correct_answer", format!("'{c}' is not one of the answer keys")))?,
            ),
        };
        let reply = |field: &str, t: &Option<String>| -> Result<Option<String>, PollError> {
            match t {
                Some(t) if t.trim().is_empty() => Ok(None),
                Some(t) => {
                    let field = format!("replies.{field}");
                    let t = text(&field, t, MAX_REPLY_LEN, true)?;
                    MessageText::check_saved(&t, max_segments).map_err(|e| err(&field, e.to_string()))?;
                    Ok(Some(t))
                }
                None => Ok(None),
            }
        };
        let r = &d.replies;
        let replies = PollReplies {
            counted: reply("counted", &r.counted)?,
            duplicate: reply("duplicate", &r.duplicate)?,
            closed: reply("closed", &r.closed)?,
            invalid: reply("invalid", &r.invalid)?,
        };
        Ok(Self {
            name,
            question,
            answers,
            opens_at: d.opens_at,
            closes_at: d.closes_at,
            policy,
            correct_answer,
            replies,
        })
    }

    /// A stored poll read back (it was checked when saved).
    pub fn from_record(p: &PollRecord) -> Self {
        Self {
            name: p.name.clone(),
            question: p.question.clone(),
            answers: serde_json::from_str(&p.answers).unwrap_or_default(),
            opens_at: p.opens_at,
            closes_at: p.closes_at,
            policy: VotePolicy::parse(&p.vote_policy).unwrap_or(VotePolicy::First),
            correct_answer: p.correct_answer.clone(),
            replies: p.replies.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default(),
        }
    }
}

/// The part of a received text that is the answer: what follows the
/// keyword it matched (`VOTE b` → `b`), or the whole text.
pub fn answer_text(text: &str, keyword: Option<&str>) -> String {
    let t = normalize(text);
    let Some(k) = keyword.map(normalize).filter(|k| !k.is_empty()) else { return t };
    let words: Vec<&str> = t.split(' ').collect();
    let kw: Vec<&str> = k.split(' ').collect();
    match words.windows(kw.len()).position(|w| w == kw.as_slice()) {
        Some(at) => words[at + kw.len()..].join(" "),
        None => t,
    }
}

/// The key of the answer a text names: the key or the answer's text
/// (case, diacritics, spacing and surrounding punctuation ignored), or a
/// key as its first word (`B please`).
pub fn answer_of(text: &str, answers: &[AnswerOption]) -> Option<String> {
    let t = normalize(text);
    if t.is_empty() {
        return None;
    }
    let whole = answers.iter().find(|a| normalize(&a.key) == t || normalize(&a.text) == t);
    let first = t.split(' ').next().unwrap_or("").trim_matches(|c: char| !c.is_alphanumeric());
    whole.or_else(|| answers.iter().find(|a| normalize(&a.key) == first)).map(|a| a.key.clone())
}

/// `Early` before the poll opens, `Late` from its close on, else `None`.
pub fn outside(at: i64, opens_at: Option<i64>, closes_at: Option<i64>) -> Option<VoteStatus> {
    if opens_at.is_some_and(|o| at < o) {
        Some(VoteStatus::Early)
    } else if closes_at.is_some_and(|c| at >= c) {
        Some(VoteStatus::Late)
    } else {
        None
    }
}

/// One answer's share of the counted votes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnswerResult {
    pub key: String,
    pub text: String,
    pub votes: i64,
    /// Of the counted votes, rounded to one decimal; 0 when none.
    pub percent: f64,
    /// The contest's correct answer.
    pub correct: bool,
}

/// A poll's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PollResults {
    /// Counted votes (one per number).
    pub counted: i64,
    pub answers: Vec<AnswerResult>,
    /// Votes received but not counted, by reason: `replaced`, `duplicate`,
    /// `early`, `late`, `invalid`.
    pub not_counted: std::collections::BTreeMap<String, i64>,
    /// A contest's correct entrants (counted votes for the correct answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_entrants: Option<i64>,
}

/// `part` of `whole` in percent, rounded to one decimal; 0 of nothing.
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 * 1000.0 / whole as f64).round() / 10.0 }
}

/// Results from the stored vote counts.
pub fn results(spec: &PollSpec, counts: &[VoteCount]) -> PollResults {
    let counted_for = |key: &str| -> i64 {
        counts
            .iter()
            .filter(|c| c.status == VoteStatus::Counted.as_str() && c.answer.as_deref() == Some(key))
            .map(|c| c.votes)
            .sum()
    };
    let counted: i64 =
        counts.iter().filter(|c| c.status == VoteStatus::Counted.as_str()).map(|c| c.votes).sum();
    let answers = spec
        .answers
        .iter()
        .map(|a| {
            let votes = counted_for(&a.key);
            let percent = percent(votes, counted);
            AnswerResult {
                key: a.key.clone(),
                text: a.text.clone(),
                votes,
                percent,
                correct: spec.correct_answer.as_deref() == Some(a.key.as_str()),
            }
        })
        .collect();
    let mut not_counted = std::collections::BTreeMap::new();
    for s in VoteStatus::ALL.into_iter().filter(|s| *s != VoteStatus::Counted) {
        let n = counts.iter().filter(|c| c.status == s.as_str()).map(|c| c.votes).sum();
        not_counted.insert(s.as_str().to_owned(), n);
    }
    PollResults {
        counted,
        answers,
        not_counted,
        correct_entrants: spec.correct_answer.as_deref().map(counted_for),
    }
}

/// A contest's winners: the entrants ordered by SHA-256 of the seed and
/// their number, the first `winners` of them. The same seed and entrants
/// always give the same winners, whatever order the entrants come in.
pub fn draw(seed: &str, entrants: &[String], winners: usize) -> Vec<String> {
    let mut keyed: Vec<([u8; 32], &String)> = entrants
        .iter()
        .map(|e| {
            let mut h = Sha256::new();
            h.update(seed.as_bytes());
            h.update([0]);
            h.update(e.as_bytes());
            (h.finalize().into(), e)
        })
        .collect();
    keyed.sort();
    keyed.dedup_by(|a, b| a.1 == b.1);
    keyed.into_iter().take(winners).map(|(_, e)| e.clone()).collect()
}

/// A fresh random seed for a draw (128 bits, hex).
pub fn new_seed() -> String {
    let mut bytes = [0u8; 16];
    // The system's random source; without it, the time still varies the seed.
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&crate::storage::now_micros().to_le_bytes());
    }
    hex::encode(bytes)
}

impl InboundWorker {
    /// Turns the message into a vote for `poll_id`, with the reply for
    /// each outcome the poll answers.
    pub(super) async fn poll_answer(
        &self,
        o: &mut InboundOutcome,
        job: &InboundJob,
        out: &super::Outgoing,
        poll_id: &str,
        keyword: Option<&str>,
    ) -> anyhow::Result<()> {
        let Some(poll) = self.store.get_poll(&o.account_id, poll_id).await? else {
            o.log.push(json!({"action": "poll_answer", "skipped": "the poll no longer exists"}));
            return Ok(());
        };
        if o.sender_phone.is_none() {
            o.log.push(json!({"action": "poll_answer", "skipped": "the sender is not a phone number"}));
            return Ok(());
        }
        let spec = PollSpec::from_record(&poll);
        let mut replies = Vec::new();
        for status in VoteStatus::ALL {
            if let Some(text) = spec.replies.for_status(status) {
                match self.answer(o, out, text) {
                    Ok(m) => replies.push((status, m)),
                    Err(e) => o.log.push(json!({"action": "poll_answer", "reply_skipped": e})),
                }
            }
        }
        o.votes.push(VoteRequest {
            poll_id: poll.id,
            answer: answer_of(&answer_text(&job.text, keyword), &spec.answers),
            outside: outside(job.received_at, spec.opens_at, spec.closes_at),
            last_counts: spec.policy == VotePolicy::Last,
            body: job.text.clone(),
            voted_at: job.received_at,
            replies,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answers(list: &[(&str, &str)]) -> Vec<AnswerOption> {
        list.iter().map(|(k, t)| AnswerOption { key: (*k).into(), text: (*t).into() }).collect()
    }

    fn draft() -> PollDraft {
        PollDraft {
            name: "Lunch".into(),
            question: "What for lunch?".into(),
            answers: answers(&[("", "Pizza"), ("", "Żurek"), ("", "Pierogi")]),
            ..Default::default()
        }
    }

    #[test]
    fn answers_get_letters_and_are_named_by_key_or_text_in_any_case_and_spelling() {
        let spec = PollSpec::new(draft(), 10).unwrap();
        let keys: Vec<&str> = spec.answers.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["A", "B", "C"]);
        assert_eq!(spec.policy, VotePolicy::First);
        for (text, want) in [
            ("a", Some("A")),
            (" B! ", Some("B")),
            ("zurek", Some("B")),
            ("ŻUREK", Some("B")),
            ("c please", Some("C")),
            ("pizza", Some("A")),
            ("pizza please", None),
            ("D", None),
            ("", None),
            ("🙂", None),
        ] {
            assert_eq!(answer_of(text, &spec.answers).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn the_answer_is_what_follows_the_keyword() {
        assert_eq!(answer_text("VOTE  b", Some("vote")), "b");
        assert_eq!(answer_text("I vote Żurek!", Some("Vote")), "zurek");
        assert_eq!(answer_text("b", Some("vote")), "b");
        assert_eq!(answer_text("VOTE", Some("vote")), "");
        assert_eq!(answer_text("Pizza", None), "pizza");
    }

    #[test]
    fn bad_polls_are_refused_with_the_field_at_fault() {
        type Change = Box<dyn Fn(&mut PollDraft)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|d| d.name = "  ".into()), "name"),
            (Box::new(|d| d.question = String::new()), "question"),
            (Box::new(|d| d.answers.truncate(1)), "answers"),
            (Box::new(|d| d.answers = answers(&[("A", "x"); 27])), "answers"),
            (Box::new(|d| d.answers[1].key = "two words".into()), "answers[1].key"),
            (Box::new(|d| d.answers[1].key = "a".into()), "answers[1].key"),
            (Box::new(|d| d.answers[1].key = "pizza".into()), "answers[1].key"),
            (Box::new(|d| d.answers[2].text = "PIZZA".into()), "answers[2].text"),
            (Box::new(|d| d.answers[2].text = "!!".into()), "answers[2].text"),
            (
                Box::new(|d| {
                    d.opens_at = Some(10);
                    d.closes_at = Some(10);
                }),
                "closes_at",
            ),
            (Box::new(|d| d.policy = "most".into()), "vote_policy"),
            (Box::new(|d| d.correct_answer = Some("Z".into())), "correct_answer"),
            (Box::new(|d| d.replies.counted = Some("bad\u{7}".into())), "replies.counted"),
        ];
        for (change, field) in cases {
            let mut d = draft();
            change(&mut d);
            assert_eq!(PollSpec::new(d, 10).unwrap_err().field, field);
        }
        let mut d = draft();
        d.correct_answer = Some("b".into());
        d.policy = "last".into();
        let spec = PollSpec::new(d, 10).unwrap();
        assert_eq!(spec.correct_answer.as_deref(), Some("B"));
        assert_eq!(spec.policy, VotePolicy::Last);
    }

    #[test]
    fn votes_outside_the_window_are_early_or_late() {
        assert_eq!(outside(5, Some(10), Some(20)), Some(VoteStatus::Early));
        assert_eq!(outside(10, Some(10), Some(20)), None);
        assert_eq!(outside(20, Some(10), Some(20)), Some(VoteStatus::Late));
        assert_eq!(outside(5, None, None), None);
    }

    #[test]
    fn results_count_percentages_and_the_reasons_not_counted() {
        let mut d = draft();
        d.correct_answer = Some("A".into());
        let spec = PollSpec::new(d, 10).unwrap();
        let c = |answer: Option<&str>, status: &str, votes| VoteCount {
            answer: answer.map(str::to_owned),
            status: status.into(),
            votes,
        };
        let r = results(
            &spec,
            &[
                c(Some("A"), "counted", 2),
                c(Some("B"), "counted", 1),
                c(None, "invalid", 4),
                c(Some("A"), "late", 1),
            ],
        );
        assert_eq!(r.counted, 3);
        let shares: Vec<(i64, f64)> = r.answers.iter().map(|a| (a.votes, a.percent)).collect();
        assert_eq!(shares, [(2, 66.7), (1, 33.3), (0, 0.0)]);
        assert_eq!(r.not_counted["invalid"], 4);
        assert_eq!(r.not_counted["late"], 1);
        assert_eq!(r.correct_entrants, Some(2));
        assert!(r.answers[0].correct);
        assert_eq!(results(&spec, &[]).answers[0].percent, 0.0);
    }

    #[test]
    fn a_draw_is_the_same_for_the_same_seed_whatever_the_entrants_order() {
        let entrants: Vec<String> = (0..50).map(|i| format!("+4860010{i:04}")).collect();
        let first = draw("seed-1", &entrants, 3);
        assert_eq!(first.len(), 3);
        let mut reversed = entrants.clone();
        reversed.reverse();
        assert_eq!(draw("seed-1", &reversed, 3), first);
        assert_ne!(draw("seed-2", &entrants, 3), first);
        assert_eq!(draw("seed-1", &entrants, 100).len(), 50);
        assert!(draw("x", &[], 3).is_empty());
        assert_ne!(new_seed(), new_seed());
    }

    proptest! {
        #[test]
        fn any_text_names_at_most_one_answer_without_panicking(text in "\\PC{0,40}") {
            let spec = PollSpec::new(draft(), 10).unwrap();
            let _ = answer_of(&text, &spec.answers);
            let _ = answer_text(&text, Some("vote"));
        }

        #[test]
        fn winners_are_distinct_entrants(n in 0usize..30, k in 0usize..40, seed in "[a-z0-9]{0,12}") {
            let entrants: Vec<String> = (0..n).map(|i| format!("+4860010{i:04}")).collect();
            let w = draw(&seed, &entrants, k);
            prop_assert_eq!(w.len(), k.min(n));
            let set: std::collections::HashSet<&String> = w.iter().collect();
            prop_assert_eq!(set.len(), w.len());
            prop_assert!(w.iter().all(|x| entrants.contains(x)));
        }
    }
}
