//! Polls and contests: the polls an account runs, every vote received
//! (counted or not, with the message it came in), and contest draws.
//! What a text votes for, whether a poll is open and who wins a draw is
//! decided in `inbound::polls`; this file keeps the records, and records a
//! vote in the inbound worker's transaction so that "one vote per number"
//! holds even when two messages from one phone are matched at once.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::Store;
use super::contact_writes::is_unique_violation;
use crate::domain::new_id;

#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub question: String,
    /// JSON list of `{"key", "text"}`.
    pub answers: String,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    /// `first` or `last`.
    pub vote_policy: String,
    /// A contest's correct answer key.
    pub correct_answer: Option<String>,
    /// JSON object of reply texts by outcome, if any.
    pub replies: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What to store for a poll (already checked).
#[derive(Debug, Clone)]
pub struct PollWrite<'a> {
    pub name: &'a str,
    pub question: &'a str,
    pub answers: &'a str,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    pub vote_policy: &'a str,
    pub correct_answer: Option<&'a str>,
    pub replies: Option<&'a str>,
}

/// Another poll of the account has this name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollNameTaken;

/// What became of one received vote, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoteStatus {
    /// Counts in the results.
    Counted,
    /// Counted once, then replaced by the same number's later vote.
    Replaced,
    /// The number had voted already and only the first vote counts.
    Duplicate,
    /// Before the poll opened.
    Early,
    /// After the poll closed.
    Late,
    /// The text named no answer.
    Invalid,
}

impl VoteStatus {
    pub const ALL: [VoteStatus; 6] =
        [Self::Counted, Self::Replaced, Self::Duplicate, Self::Early, Self::Late, Self::Invalid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counted => "counted",
            Self::Replaced => "replaced",
            Self::Duplicate => "duplicate",
            Self::Early => "early",
            Self::Late => "late",
            Self::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A vote to record with a message's match. The status is decided when it
/// is stored (`Duplicate` needs the number's earlier votes), so the reply
/// for each possible outcome comes along and the stored one is sent.
#[derive(Debug, Clone)]
pub struct VoteRequest {
    pub poll_id: String,
    /// The answer key the text named, if any.
    pub answer: Option<String>,
    /// `Early`, `Late`, or `None` when the poll was open.
    pub outside: Option<VoteStatus>,
    /// The last vote counts (else the first).
    pub last_counts: bool,
    /// The message's text, kept with the vote.
    pub body: String,
    /// When the message was received.
    pub voted_at: i64,
    /// Replies by outcome; the one matching the stored status is sent.
    pub replies: Vec<(VoteStatus, super::NewMessage)>,
}

/// One stored vote.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteRecord {
    pub phone: String,
    pub answer: Option<String>,
    pub body: Option<String>,
    pub message_id: String,
    pub voted_at: i64,
    pub status: String,
}

/// Votes of one poll grouped by answer and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteCount {
    pub answer: Option<String>,
    pub status: String,
    pub votes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrawRecord {
    pub id: String,
    pub poll_id: String,
    pub seed: String,
    pub entrants: i64,
    pub winners: Vec<String>,
    pub drawn_at: i64,
}

/// How often one keyword matched over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordUse {
    pub keyword_id: String,
    pub keyword: String,
    pub number: String,
    pub matches: i64,
}

/// Received messages to one of the account's numbers over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberVolume {
    pub number: String,
    pub messages: i64,
    pub senders: i64,
}

const POLL_COLUMNS: &str = "id, account_id, name, question, answers, opens_at, closes_at, vote_policy, correct_answer, replies, created_at, updated_at";

fn poll_from(r: &AnyRow) -> sqlx::Result<PollRecord> {
    Ok(PollRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        name: r.try_get("name")?,
        question: r.try_get("question")?,
        answers: r.try_get("answers")?,
        opens_at: r.try_get("opens_at")?,
        closes_at: r.try_get("closes_at")?,
        vote_policy: r.try_get("vote_policy")?,
        correct_answer: r.try_get("correct_answer")?,
        replies: r.try_get("replies")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn draw_from(r: &AnyRow) -> sqlx::Result<DrawRecord> {
    let winners: String = r.try_get("winners")?;
    Ok(DrawRecord {
        id: r.try_get("id")?,
        poll_id: r.try_get("poll_id")?,
        seed: r.try_get("seed")?,
        entrants: r.try_get("entrants")?,
        winners: serde_json::from_str(&winners).unwrap_or_default(),
        drawn_at: r.try_get("drawn_at")?,
    })
}

/// The key two poll names are compared by.
pub fn poll_name_key(name: &str) -> String {
    super::group_name_key(name)
}

impl Store {
    pub async fn create_poll(
        &self,
        account_id: &str,
        w: &PollWrite<'_>,
        now: i64,
    ) -> sqlx::Result<Result<PollRecord, PollNameTaken>> {
        let id = new_id();
        let done = sqlx::query(
            "INSERT INTO polls (id, account_id, name, name_key, question, answers, opens_at, closes_at,
                 vote_policy, correct_answer, replies, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(w.name)
        .bind(poll_name_key(w.name))
        .bind(w.question)
        .bind(w.answers)
        .bind(w.opens_at)
        .bind(w.closes_at)
        .bind(w.vote_policy)
        .bind(w.correct_answer)
        .bind(w.replies)
        .bind(now)
        .execute(&self.writer)
        .await;
        match done {
            Err(e) if is_unique_violation(&e) => return Ok(Err(PollNameTaken)),
            r => r?,
        };
        Ok(self.get_poll(account_id, &id).await?.ok_or(PollNameTaken))
    }

    pub async fn update_poll(
        &self,
        account_id: &str,
        id: &str,
        w: &PollWrite<'_>,
        now: i64,
    ) -> sqlx::Result<Result<Option<PollRecord>, PollNameTaken>> {
        let done = sqlx::query(
            "UPDATE polls SET name = $1, name_key = $2, question = $3, answers = $4, opens_at = $5, closes_at = $6,
                 vote_policy = $7, correct_answer = $8, replies = $9, updated_at = $10
             WHERE account_id = $11 AND id = $12",
        )
        .bind(w.name)
        .bind(poll_name_key(w.name))
        .bind(w.question)
        .bind(w.answers)
        .bind(w.opens_at)
        .bind(w.closes_at)
        .bind(w.vote_policy)
        .bind(w.correct_answer)
        .bind(w.replies)
        .bind(now)
        .bind(account_id)
        .bind(id)
        .execute(&self.writer)
        .await;
        match done {
            Err(e) if is_unique_violation(&e) => Ok(Err(PollNameTaken)),
            r => {
                r?;
                Ok(Ok(self.get_poll(account_id, id).await?))
            }
        }
    }

    /// A poll of the account by id or by name.
    pub async fn get_poll(&self, account_id: &str, id_or_name: &str) -> sqlx::Result<Option<PollRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {POLL_COLUMNS} FROM polls WHERE account_id = $1 AND (id = $2 OR name_key = $3)
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
        )))
        .bind(account_id)
        .bind(id_or_name)
        .bind(poll_name_key(id_or_name))
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(poll_from)
        .transpose()
    }

    /// The account's polls, newest first.
    pub async fn list_polls(&self, account_id: &str) -> sqlx::Result<Vec<PollRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {POLL_COLUMNS} FROM polls WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
        )))
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(poll_from)
        .collect()
    }

    /// Deletes a poll with its votes and draws.
    pub async fn delete_poll(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        let owned = sqlx::query("SELECT id FROM polls WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if owned {
            for table in ["poll_votes", "poll_draws"] {
                sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE poll_id = $1")))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM polls WHERE id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(owned)
    }

    /// The poll's votes grouped by answer and status.
    pub async fn poll_vote_counts(&self, poll_id: &str) -> sqlx::Result<Vec<VoteCount>> {
        sqlx::query(
            "SELECT answer, status, COUNT(*) FROM poll_votes WHERE poll_id = $1 GROUP BY answer, status",
        )
        .bind(poll_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| Ok(VoteCount { answer: r.try_get(0)?, status: r.try_get(1)?, votes: r.try_get(2)? }))
        .collect()
    }

    /// Up to `limit` of the poll's votes after vote `after` (an id), in the
    /// order received: (id, vote).
    pub async fn poll_votes_page(
        &self,
        poll_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<(String, VoteRecord)>> {
        sqlx::query(
            "SELECT id, phone, answer, body, message_id, voted_at, status FROM poll_votes
             WHERE poll_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(poll_id)
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                VoteRecord {
                    phone: r.try_get(1)?,
                    answer: r.try_get(2)?,
                    body: r.try_get(3)?,
                    message_id: r.try_get(4)?,
                    voted_at: r.try_get(5)?,
                    status: r.try_get(6)?,
                },
            ))
        })
        .collect()
    }

    /// The numbers whose counted vote is `answer`, in phone order.
    pub async fn poll_voters_for(&self, poll_id: &str, answer: &str) -> sqlx::Result<Vec<String>> {
        sqlx::query(
            "SELECT phone FROM poll_votes WHERE poll_id = $1 AND counted = 1 AND answer = $2 ORDER BY phone",
        )
        .bind(poll_id)
        .bind(answer)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
    }

    pub async fn insert_draw(
        &self,
        poll_id: &str,
        seed: &str,
        entrants: i64,
        winners: &[String],
        now: i64,
    ) -> sqlx::Result<DrawRecord> {
        let record = DrawRecord {
            id: new_id(),
            poll_id: poll_id.to_owned(),
            seed: seed.to_owned(),
            entrants,
            winners: winners.to_vec(),
            drawn_at: now,
        };
        sqlx::query(
            "INSERT INTO poll_draws (id, poll_id, seed, entrants, winners, drawn_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.id)
        .bind(poll_id)
        .bind(seed)
        .bind(entrants)
        .bind(serde_json::to_string(winners).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(record)
    }

    /// The poll's draws, oldest first.
    pub async fn list_draws(&self, poll_id: &str) -> sqlx::Result<Vec<DrawRecord>> {
        sqlx::query(
            "SELECT id, poll_id, seed, entrants, winners, drawn_at FROM poll_draws WHERE poll_id = $1 ORDER BY drawn_at, id",
        )
        .bind(poll_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(draw_from)
        .collect()
    }

    /// Every keyword of the account with how many received messages it
    /// matched in `[since, until)`, most used first.
    pub async fn keyword_use(
        &self,
        account_id: &str,
        since: i64,
        until: i64,
    ) -> sqlx::Result<Vec<KeywordUse>> {
        sqlx::query(
            "SELECT k.id, k.keyword, k.number, COUNT(m.message_id) FROM keywords k
             LEFT JOIN inbound_matches m ON m.keyword_id = k.id AND m.matched_at >= $2 AND m.matched_at < $3
             WHERE k.account_id = $1
             GROUP BY k.id, k.keyword, k.number
             ORDER BY COUNT(m.message_id) DESC, k.keyword, k.id",
        )
        .bind(account_id)
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok(KeywordUse {
                keyword_id: r.try_get(0)?,
                keyword: r.try_get(1)?,
                number: r.try_get(2)?,
                matches: r.try_get(3)?,
            })
        })
        .collect()
    }

    /// Received messages by the number they were sent to, in `[since, until)`.
    pub async fn inbound_volume(
        &self,
        account_id: &str,
        since: i64,
        until: i64,
    ) -> sqlx::Result<Vec<NumberVolume>> {
        sqlx::query(
            "SELECT to_number, COUNT(*), COUNT(DISTINCT from_addr) FROM messages
             WHERE account_id = $1 AND direction = 'inbound' AND created_at >= $2 AND created_at < $3
             GROUP BY to_number ORDER BY COUNT(*) DESC, to_number",
        )
        .bind(account_id)
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| Ok(NumberVolume { number: r.try_get(0)?, messages: r.try_get(1)?, senders: r.try_get(2)? }))
        .collect()
    }
}

/// Records one vote within the inbound worker's transaction, notes what
/// became of it in `log`, and returns the reply for that outcome, if any.
pub(super) async fn record_vote<'a>(
    tx: &mut AnyConnection,
    v: &'a VoteRequest,
    phone: &str,
    message_id: &str,
    log: &mut Vec<serde_json::Value>,
    events: &mut Vec<serde_json::Value>,
) -> sqlx::Result<Option<&'a super::NewMessage>> {
    let stored = store_vote(tx, v, phone, message_id).await?;
    let Some((status, replaced, name)) = stored else {
        log.push(serde_json::json!({"action": "poll_answer", "skipped": "the poll no longer exists"}));
        return Ok(None);
    };
    log.push(serde_json::json!({"action": "poll_answer", "poll": v.poll_id, "answer": v.answer,
        "status": status.as_str(), "replaced_previous": replaced}));
    events.push(serde_json::json!({"poll_id": v.poll_id, "poll_name": name, "answer": v.answer,
        "status": status.as_str(), "counted": status == VoteStatus::Counted,
        "replaced_previous": replaced,
        "poll_closed": matches!(status, VoteStatus::Early | VoteStatus::Late)}));
    Ok(v.replies.iter().find(|(s, _)| *s == status).map(|(_, m)| m))
}

/// Stores one vote: its status, whether it replaced the number's earlier
/// counted vote, and the poll's name; `None` when the poll was deleted
/// meanwhile.
async fn store_vote(
    tx: &mut AnyConnection,
    v: &VoteRequest,
    phone: &str,
    message_id: &str,
) -> sqlx::Result<Option<(VoteStatus, bool, String)>> {
    let poll =
        sqlx::query("SELECT name FROM polls WHERE id = $1").bind(&v.poll_id).fetch_optional(&mut *tx).await?;
    let Some(poll) = poll else {
        return Ok(None);
    };
    let name: String = poll.try_get(0)?;
    let mut replaced = false;
    let status = match (&v.answer, v.outside) {
        (_, Some(outside)) => outside,
        (None, None) => VoteStatus::Invalid,
        (Some(_), None) => {
            // Which vote counts goes by when each was received, not by when
            // it is processed: a retried or slower one may come in late.
            let earlier: Option<(String, i64)> = sqlx::query_as(
                "SELECT id, voted_at FROM poll_votes WHERE poll_id = $1 AND phone = $2 AND counted = 1",
            )
            .bind(&v.poll_id)
            .bind(phone)
            .fetch_optional(&mut *tx)
            .await?;
            match (earlier, v.last_counts) {
                (Some((_, at)), false) if at <= v.voted_at => VoteStatus::Duplicate,
                (Some((counted, _)), false) => {
                    // This one came first: the one counted so far was the duplicate.
                    sqlx::query("UPDATE poll_votes SET counted = 0, status = 'duplicate' WHERE id = $1")
                        .bind(&counted)
                        .execute(&mut *tx)
                        .await?;
                    VoteStatus::Counted
                }
                (Some((_, at)), true) if at > v.voted_at => VoteStatus::Replaced,
                (Some(_), true) => {
                    sqlx::query(
                        "UPDATE poll_votes SET counted = 0, status = 'replaced' WHERE poll_id = $1 AND phone = $2 AND counted = 1",
                    )
                    .bind(&v.poll_id)
                    .bind(phone)
                    .execute(&mut *tx)
                    .await?;
                    replaced = true;
                    VoteStatus::Counted
                }
                (None, _) => VoteStatus::Counted,
            }
        }
    };
    sqlx::query(
        "INSERT INTO poll_votes (id, poll_id, phone, answer, body, message_id, voted_at, status, counted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(&v.poll_id)
    .bind(phone)
    .bind(v.answer.as_deref())
    .bind(&v.body)
    .bind(message_id)
    .bind(v.voted_at)
    .bind(status.as_str())
    .bind(i64::from(status == VoteStatus::Counted))
    .execute(&mut *tx)
    .await?;
    Ok(Some((status, replaced, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses of `phone`'s votes, oldest vote first, and which counts.
    async fn votes(store: &Store, poll: &str) -> Vec<(i64, String, i64)> {
        sqlx::query_as(
            "SELECT voted_at, status, counted FROM poll_votes WHERE poll_id = $1 ORDER BY voted_at",
        )
        .bind(poll)
        .fetch_all(&store.writer)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn the_vote_that_counts_goes_by_when_it_was_received_whatever_order_it_is_stored_in() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::open(&url, 2, "normal").await.unwrap();
        let (account, _) = store.create_account("acme").await.unwrap();
        for (policy, expected) in [
            ("first", [(100, "counted", 1), (200, "duplicate", 0)]),
            ("last", [(100, "replaced", 0), (200, "counted", 1)]),
        ] {
            let write = PollWrite {
                name: policy,
                question: "Lunch?",
                answers: r#"[{"key":"P","text":"Pizza"}]"#,
                opens_at: None,
                closes_at: None,
                vote_policy: policy,
                correct_answer: None,
                replies: None,
            };
            let poll = store.create_poll(&account, &write, 0).await.unwrap().unwrap();
            // The newer vote is stored first, the older one after it.
            for voted_at in [200, 100] {
                let vote = VoteRequest {
                    poll_id: poll.id.clone(),
                    answer: Some("P".into()),
                    outside: None,
                    last_counts: policy == "last",
                    body: "P".into(),
                    voted_at,
                    replies: Vec::new(),
                };
                let mut tx = store.writer.begin().await.unwrap();
                store_vote(&mut tx, &vote, "+48600100200", &new_id()).await.unwrap().unwrap();
                tx.commit().await.unwrap();
            }
            let expected: Vec<(i64, String, i64)> =
                expected.iter().map(|(at, s, c)| (*at, (*s).to_owned(), *c)).collect();
            assert_eq!(votes(&store, &poll.id).await, expected, "{policy}");
        }
        store.close().await;
    }
}
