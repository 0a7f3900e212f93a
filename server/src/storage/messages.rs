//! Messages: the durable outbound queue, each message's status history, tags
//! and idempotency keys.
//!
//! Every status change is written together with its history entry (on the
//! straight path an entry on the message's trail, `trail.rs`, otherwise a
//! `message_events` row) and, when the message has a `callback_url`, its
//! pending callback, in the same transaction: a change is never stored
//! without its history or its callback.
//! Batches of changes share one transaction (group commit).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::billing::{self, ChargeRefusal, Origin};
use super::search::{self, SearchPlan, SearchQuery};
use super::sql::Sql;
use super::trail;
use super::{Dialect, Store, StoreError, format_micros, ms_to_micros, secs_to_micros};
use crate::domain::{Direction, MessageStatus, MessageText, PhoneNumber, SenderId, new_id};

/// A message accepted by an interface, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub to: PhoneNumber,
    pub from: Option<SenderId>,
    pub text: MessageText,
    pub callback_url: Option<String>,
    pub tags: Vec<String>,
    /// When to send, in microseconds; `None` means now.
    pub send_at: Option<i64>,
    /// The campaign and run that made it, if any.
    pub campaign: Option<CampaignRef>,
    /// Goes also to a number that opted out (a code, a receipt, the answer
    /// to STOP or HELP): an opt-out does not cancel it while it waits.
    pub transactional: bool,
}

impl NewMessage {
    /// A message to send now from the default sender, with nothing else
    /// attached (auto-replies, one-time codes).
    pub fn plain(to: PhoneNumber, text: MessageText) -> Self {
        NewMessage {
            id: new_id(),
            to,
            from: None,
            text,
            callback_url: None,
            tags: Vec::new(),
            send_at: None,
            campaign: None,
            transactional: false,
        }
    }

    /// When it is first due, stored at `now`: its `send_at`, or `now` when
    /// that is unset or past (claims go in order of due time, so a time
    /// given in the past must not put it before what was queued earlier).
    pub fn due_at(&self, now: i64) -> i64 {
        self.send_at.map_or(now, |at| at.max(now))
    }

    /// Its status when stored at `now`: `scheduled` until a `send_at`
    /// still ahead, else `queued`.
    pub fn initial_status(&self, now: i64) -> MessageStatus {
        match self.send_at {
            Some(at) if at > now => MessageStatus::Scheduled,
            _ => MessageStatus::Queued,
        }
    }
}

/// The campaign run a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRef {
    pub campaign_id: String,
    pub run_id: String,
}

/// How long an `Idempotency-Key` is kept: a retry within it gets the first
/// answer; after it the key is free again, and the dispatcher's
/// maintenance deletes it (`Store::prune_idempotency_keys`).
pub const IDEMPOTENCY_KEY_RETENTION_SECS: u64 = 24 * 3_600;

/// Keys older than this (microseconds) at `now` are expired.
pub(super) fn idempotency_cutoff(now: i64) -> i64 {
    now.saturating_sub(secs_to_micros(IDEMPOTENCY_KEY_RETENTION_SECS))
}

/// The stored answer to a request made with an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    pub key: String,
    pub request_hash: String,
    pub status_code: u16,
    pub response: String,
}

/// One interface request to store: its account, messages and key.
#[derive(Debug, Clone)]
pub struct AcceptRequest {
    pub account_id: String,
    /// The user and key that sent it (for usage, quotas and reports).
    pub origin: Origin,
    /// Shared, so that a caller keeps them to try again without the
    /// recipients a refusal names.
    pub messages: Arc<[NewMessage]>,
    pub idempotency: Option<IdempotentRequest>,
    pub now: i64,
    /// The request's audit log entry, stored in the same transaction as its
    /// messages when they are stored (so a send and its record commit
    /// together, in one disk sync).
    pub audit: Option<super::AuditEntry>,
    /// [`Store::opt_out_writes`] as it stood before the caller read the
    /// recipients' opt-outs; `None` when it read none. On SQLite, when it
    /// still stands there inside the write transaction, the opt-outs are
    /// not read again.
    pub opt_out_writes_seen: Option<u64>,
}

impl IdempotentRequest {
    /// What a request with this key gets, the key having been used (and
    /// kept) for a request hashed `earlier_hash` answered so.
    pub(super) fn earlier(
        &self,
        earlier_hash: &str,
        status_code: i64,
        response: String,
    ) -> Result<Accepted, StoreError> {
        if earlier_hash != self.request_hash {
            return Err(StoreError::IdempotencyConflict);
        }
        Ok(Accepted::Replayed { status_code: u16::try_from(status_code).unwrap_or(202), response })
    }
}

impl AcceptRequest {
    /// The recipients of its messages that are not transactional: those an
    /// opt-out refuses.
    pub(super) fn marketing_recipients(&self) -> Vec<&str> {
        self.messages.iter().filter(|m| !m.transactional).map(|m| m.to.as_str()).collect()
    }

    /// The refusal of this request because `opted_out` (some of its
    /// recipients) opted out since it read the opt-outs, the numbers in
    /// its order.
    pub(super) fn opted_out(&self, opted_out: &HashSet<String>) -> StoreError {
        let mut numbers: Vec<String> = Vec::new();
        for m in self.messages.iter().filter(|m| !m.transactional && opted_out.contains(m.to.as_str())) {
            if !numbers.iter().any(|n| n == m.to.as_str()) {
                numbers.push(m.to.as_str().to_owned());
            }
        }
        StoreError::OptedOut(numbers)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Stored,
    /// The same request was made before with this key: its answer.
    Replayed {
        status_code: u16,
        response: String,
    },
}

#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: String,
    pub direction: Direction,
    pub status: MessageStatus,
    pub to: String,
    pub from: Option<String>,
    pub text: String,
    pub encoding: String,
    pub segments: i64,
    pub callback_url: Option<String>,
    pub connector: Option<String>,
    pub smsc_id: Option<String>,
    pub attempts: i64,
    pub error: Option<String>,
    pub send_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
}

/// A sent message (or part) whose delivery report is overdue.
#[derive(Debug, Clone)]
pub struct OverdueReceipt {
    pub message_id: String,
    pub connector: String,
    pub smsc_id: String,
    pub from: Option<String>,
}

/// What one look at the due receipt checks did (`Store::check_receipts`).
#[derive(Debug, Default)]
pub struct ReceiptChecks {
    /// Messages given up on: now `expired`.
    pub expired: usize,
    /// Messages (or parts) to ask the connector about.
    pub overdue: Vec<OverdueReceipt>,
}

/// One part of a long outbound message.
#[derive(Debug, Clone)]
pub struct PartRecord {
    pub seq: i64,
    pub connector: String,
    pub smsc_id: String,
    pub status: String,
    pub detail: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub status: MessageStatus,
    pub at: i64,
    pub detail: Option<String>,
}

/// Filters of the message history; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub to: Option<String>,
    /// Full-text search phrase (storage/search.rs).
    pub q: Option<SearchQuery>,
    pub tag: Option<String>,
    /// Messages to or from this contact's number (contact id).
    pub contact: Option<String>,
    /// Messages to or from the numbers of this group's members (group id).
    pub group: Option<String>,
    /// Messages of this campaign (any run), or of this one run.
    pub campaign: Option<String>,
    pub run: Option<String>,
    pub direction: Option<Direction>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Return messages older than this id (the previous page's last id).
    pub cursor: Option<String>,
    pub limit: usize,
}

/// A message claimed for sending by this node.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: String,
    pub account_id: String,
    pub to: String,
    pub from: Option<String>,
    pub text: String,
    pub attempts: i64,
}

/// What a connector reported, to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The SMSC accepted the message; its id for each part, in order, and
    /// the segments it went out as. Segments other than the message's own
    /// count re-price its charge ([`billing::reprice`]).
    Submitted { message_id: String, connector: String, smsc_ids: Vec<String>, segments: usize },
    /// The SMSC (or the link) refused the message.
    SubmitFailed { message_id: String, connector: String, temporary: bool, reason: String },
    /// A submission its connector never took (retired first): back to the
    /// queue as claimed, its due time kept, no attempt counted.
    NotTaken { message_id: String, connector: String, reason: String },
    /// A delivery report. `status` is `None` for intermediate reports
    /// (accepted, en route) that do not end the message.
    Receipt { connector: String, smsc_id: String, status: Option<MessageStatus>, detail: String },
    /// A message (or one part of one) from a phone.
    Inbound { connector: String, sms: crate::connectors::InboundSms },
}

/// How submission failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_ms: u64,
    pub max_ms: u64,
    /// After submission, how long to wait for a receipt before querying.
    pub receipt_check_ms: u64,
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`: base, doubling, capped.
    pub fn delay_ms(&self, attempts: u32) -> u64 {
        let factor = 1u64 << attempts.saturating_sub(1).min(32);
        self.base_ms.saturating_mul(factor).min(self.max_ms)
    }
}

/// One status change to record: its history row and, if wanted, its callback.
#[derive(Clone)]
pub(super) struct Transition {
    pub(super) message_id: String,
    pub(super) account_id: String,
    pub(super) to: String,
    pub(super) callback_url: Option<String>,
    pub(super) status: MessageStatus,
    pub(super) detail: Option<String>,
    /// Its history entry is on the message's trail already (`trail.rs`;
    /// the hot path appends it with the status change): no history row.
    pub(super) on_trail: bool,
}

impl Transition {
    fn from_row(row: &AnyRow, status: MessageStatus, detail: Option<String>) -> sqlx::Result<Self> {
        Ok(Self {
            message_id: row.try_get("id")?,
            account_id: row.try_get("account_id")?,
            to: row.try_get("to_number")?,
            callback_url: row.try_get("callback_url")?,
            status,
            detail,
            on_trail: false,
        })
    }

    /// A message moved by [`back_to_queue`]: its status as `row` has it,
    /// the detail saying why it did not go back to the queue when it did not.
    fn back_from_queue(row: &AnyRow, detail: String) -> sqlx::Result<Self> {
        let status: String = row.try_get("status")?;
        let status: MessageStatus = status.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let detail = match status {
            MessageStatus::Canceled => format!("{detail}; campaign canceled"),
            MessageStatus::Scheduled => format!("{detail}; held: campaign paused"),
            _ => detail,
        };
        Self::from_row(row, status, Some(detail))
    }

    /// Marks the transition as on its message's trail when the statement
    /// that returned `row` appended it there (its `on_trail` column).
    fn on_trail_of(mut self, row: &AnyRow) -> sqlx::Result<Self> {
        self.on_trail = row.try_get::<i64, _>("on_trail")? != 0;
        Ok(self)
    }
}

/// The `SET` of a message going back to the queue, due at `due` (an SQL
/// expression): `queued`, unless it belongs to a campaign run that was
/// canceled meanwhile (then `canceled`, its charge refunded with the
/// transition) or paused (then held as pause holds the run's waiting
/// messages: `scheduled` until resumed). A message in the connector's hands
/// when its campaign stopped comes back this way (a temporary failure, a
/// connector retired before taking it, a lease handed back or lost), and
/// the claim does not look at runs. `RETURNING status` says which it was
/// ([`Transition::back_from_queue`]).
fn back_to_queue(due: &str) -> String {
    const RUN: &str = "(SELECT r.status FROM campaign_runs r WHERE r.id = messages.run_id)";
    format!(
        "status = CASE {RUN} WHEN 'canceled' THEN 'canceled' WHEN 'paused' THEN 'scheduled' ELSE 'queued' END,
         next_attempt_at = CASE {RUN} WHEN 'paused' THEN {HELD} ELSE {due} END",
        HELD = super::HELD
    )
}

/// A `RETURNING` column: 1 when the message's history is on its trail (the
/// entry just appended is there), 0 when it is in rows (`trail.rs`). An
/// integer, which both backends decode alike.
const ON_TRAIL: &str = "CASE WHEN messages.trail IS NULL THEN 0 ELSE 1 END AS on_trail";

/// Rows per multi-row INSERT: below both databases' limits on bound values.
const INSERT_CHUNK: usize = 500;
/// Rows changed per statement when recovering or promoting in bulk.
const BULK_CHUNK: i64 = 1_000;

const MESSAGE_COLUMNS: &str = "id, direction, status, to_number, from_addr, body, encoding, segments, \
    callback_url, connector, smsc_id, attempts, error, send_at, created_at, updated_at";

impl Store {
    /// Stores accepted messages (and the idempotency key, if any) in one
    /// transaction. Returns only after the commit.
    pub async fn accept_messages(
        &self,
        account_id: &str,
        messages: &[NewMessage],
        idempotency: Option<&IdempotentRequest>,
        now: i64,
    ) -> Result<Accepted, StoreError> {
        let request = AcceptRequest {
            account_id: account_id.to_owned(),
            origin: Origin::default(),
            messages: messages.into(),
            idempotency: idempotency.cloned(),
            now,
            audit: None,
            opt_out_writes_seen: None,
        };
        self.accept_batch(Arc::from([request])).await?.remove(0)
    }

    /// Stores several requests' messages in one transaction (group commit).
    /// Each request is answered on its own: a request whose idempotency key
    /// was used before stores nothing and gets the earlier answer (or a
    /// conflict), without affecting the others; so does a request with a
    /// recipient that opted out since the request read its opt-outs
    /// (`StoreError::OptedOut`; checked again here under the account's
    /// opt-out lock, so an opt-out either is seen or cancels these
    /// messages after they are stored). (Shared, so the writer
    /// thread can read the requests without a copy while this call keeps
    /// them for the general path, should the writer thread leave them.)
    pub async fn accept_batch(
        &self,
        requests: Arc<[AcceptRequest]>,
    ) -> sqlx::Result<Vec<Result<Accepted, StoreError>>> {
        if self.direct.is_some() {
            let batch = Arc::clone(&requests);
            let rows = batch.iter().map(|r| r.messages.len()).sum();
            let job = move |conn: &mut rusqlite::Connection| super::hot_path::accept(conn, &batch);
            if let Some(Some(answers)) = self.write_direct(rows, job).await? {
                return Ok(answers);
            }
        }
        let mut tx = self.writer.begin().await?;
        // Lock the billing rows of every account in one order first, so
        // concurrent batches never wait on each other in a cycle.
        let mut accounts: Vec<&str> = requests.iter().map(|r| r.account_id.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        // The opt-out locks come first (`inbound::lock_opt_outs`), in the
        // same order.
        for account in &accounts {
            if requests.iter().any(|r| r.account_id == *account && !r.marketing_recipients().is_empty()) {
                super::inbound::lock_opt_outs(&mut tx, account).await?;
            }
        }
        let billed = billing::lock_accounts(&mut tx, &accounts).await?;
        let mut answers = Vec::with_capacity(requests.len());
        let mut stored: Vec<(&str, &NewMessage, i64)> = Vec::new();
        for request in requests.iter() {
            let mut answer = match &request.idempotency {
                Some(idem) => claim_idempotency_key(&mut tx, &request.account_id, idem, request.now).await?,
                None => Ok(Accepted::Stored),
            };
            if matches!(answer, Ok(Accepted::Stored)) {
                let marketing = request.marketing_recipients();
                let opted_out = match marketing.is_empty() {
                    true => HashSet::new(),
                    false => super::inbound::opted_out_in(&mut tx, &request.account_id, &marketing).await?,
                };
                if !opted_out.is_empty() {
                    if let Some(idem) = &request.idempotency {
                        release_idempotency_key(&mut tx, &request.account_id, &idem.key).await?;
                    }
                    answers.push(Err(request.opted_out(&opted_out)));
                    continue;
                }
                let charged = if billed.contains(&request.account_id.as_str()) {
                    let messages: Vec<&NewMessage> = request.messages.iter().collect();
                    billing::reserve(&mut tx, &request.account_id, &messages, &request.origin, request.now)
                        .await?
                } else {
                    Ok(())
                };
                match charged {
                    Ok(()) => stored.extend(
                        request.messages.iter().map(|m| (request.account_id.as_str(), m, request.now)),
                    ),
                    Err(refusal) => {
                        if let Some(idem) = &request.idempotency {
                            release_idempotency_key(&mut tx, &request.account_id, &idem.key).await?;
                        }
                        answer = Err(StoreError::Refused(refusal));
                    }
                }
            }
            answers.push(answer);
        }
        insert_rows(&mut tx, &stored).await?;
        let audits: Vec<super::AuditEntry> = requests
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| matches!(answer, Ok(Accepted::Stored)))
            .filter_map(|(r, _)| r.audit.clone())
            .collect();
        super::audit::insert_audits(&mut tx, self.dialect, &audits, super::now_micros()).await?;
        tx.commit().await?;
        Ok(answers)
    }

    /// The answer to `idem` if its key was used within its retention: the
    /// earlier answer (same request) or a conflict. Read before a request
    /// is checked, so a retry gets its first answer even where the request
    /// would now be refused (a recipient opted out since, a price gone).
    pub async fn idempotent_answer(
        &self,
        account_id: &str,
        idem: &IdempotentRequest,
        now: i64,
    ) -> sqlx::Result<Option<Result<Accepted, StoreError>>> {
        let row = sqlx::query(
            "SELECT request_hash, status_code, response FROM idempotency_keys
             WHERE account_id = $1 AND idem_key = $2 AND created_at >= $3",
        )
        .bind(account_id)
        .bind(&idem.key)
        .bind(idempotency_cutoff(now))
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = row.try_get(0)?;
        Ok(Some(idem.earlier(&hash, row.try_get(1)?, row.try_get(2)?)))
    }

    /// Deletes the idempotency keys past their retention at `now`, a
    /// statement per thousand; returns how many.
    pub async fn prune_idempotency_keys(&self, now: i64) -> sqlx::Result<u64> {
        const PER_STATEMENT: u64 = 1_000;
        let mut pruned = 0;
        loop {
            let done = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM idempotency_keys WHERE (account_id, idem_key) IN (
                     SELECT account_id, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT {PER_STATEMENT})"
            )))
            .bind(idempotency_cutoff(now))
            .execute(&self.writer)
            .await?
            .rows_affected();
            pruned += done;
            if done < PER_STATEMENT {
                return Ok(pruned);
            }
        }
    }

    pub async fn get_message(&self, account_id: &str, id: &str) -> sqlx::Result<Option<MessageRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND account_id = $2"
        )))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut record = message_from_row(&row)?;
        record.tags = self.tags_of(&[record.id.clone()]).await?.remove(&record.id).unwrap_or_default();
        Ok(Some(record))
    }

    /// A message's status history, oldest first: its trail's entries, then
    /// its history rows (`trail.rs`), read in one statement so that a trail
    /// being moved into rows meanwhile is seen in one place or the other.
    pub async fn message_events(&self, id: &str) -> sqlx::Result<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT CAST(0 AS BIGINT) AS part, CAST(0 AS BIGINT) AS seq, trail AS status,
                    CAST(0 AS BIGINT) AS at, CAST(NULL AS TEXT) AS detail
             FROM messages WHERE id = $1 AND trail IS NOT NULL
             UNION ALL
             SELECT CAST(1 AS BIGINT), id, status, at, detail FROM message_events WHERE message_id = $1
             ORDER BY 1, 2",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let text: String = r.try_get(2)?;
            if r.try_get::<i64, _>(0)? == 0 {
                events.extend(trail::parse(&text)?);
            } else {
                events.push(EventRecord {
                    status: text.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    at: r.try_get(3)?,
                    detail: r.try_get(4)?,
                });
            }
        }
        Ok(events)
    }

    /// The history, newest first; one page of at most `filter.limit`.
    pub async fn list_messages(
        &self,
        account_id: &str,
        filter: &MessageFilter,
    ) -> sqlx::Result<Vec<MessageRecord>> {
        let mut records = match filter.q.as_ref().map(|q| q.plan(self.dialect)) {
            Some(SearchPlan::Fts5 { expression }) => {
                let narrow = filter.to.is_some() || filter.contact.is_some() || filter.group.is_some();
                let by_candidates = match narrow {
                    true => self.search_candidates(account_id, filter, &expression).await?,
                    false => None,
                };
                match by_candidates {
                    Some(records) => records,
                    None => self.search_fts5(account_id, filter, &expression).await?,
                }
            }
            Some(SearchPlan::Condition { tsquery }) => {
                self.search_postgres(account_id, filter, tsquery).await?
            }
            None => self.list_plain(account_id, filter).await?,
        };
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let mut tags = self.tags_of(&ids).await?;
        for r in &mut records {
            r.tags = tags.remove(&r.id).unwrap_or_default();
        }
        Ok(records)
    }

    /// The history without a search.
    async fn list_plain(&self, account_id: &str, filter: &MessageFilter) -> sqlx::Result<Vec<MessageRecord>> {
        let sql = plain_query(self.dialect, account_id, filter, None);
        let rows = sql.query().fetch_all(&self.reader).await?;
        rows.iter().map(message_from_row).collect()
    }

    /// A search on PostgreSQL. The planner walks the history newest first
    /// checking each message when it expects many matches, and collects the
    /// matches from the GIN index first when it expects few. When it expects
    /// many and there are few (a phrase of common words that never stand
    /// next to each other), the walk would read the whole history: so it
    /// gets [`search::PG_WALK_BUDGET_MS`], and past that the matches are
    /// collected first.
    async fn search_postgres(
        &self,
        account_id: &str,
        filter: &MessageFilter,
        tsquery: String,
    ) -> sqlx::Result<Vec<MessageRecord>> {
        let walked = if self.search_walk_ms == 0 {
            None
        } else {
            let sql = plain_query(self.dialect, account_id, filter, Some(&tsquery));
            let mut tx = self.reader.begin().await?;
            sqlx::raw_sql(AssertSqlSafe(format!("SET LOCAL statement_timeout = {}", self.search_walk_ms)))
                .execute(&mut *tx)
                .await?;
            let walked = sql.query().fetch_all(&mut *tx).await;
            let _ = tx.rollback().await;
            Some(walked)
        };
        let rows = match walked {
            Some(Ok(rows)) => rows,
            Some(Err(e)) if !search::canceled(&e) => return Err(e),
            _ => {
                let mut sql = Sql::new(self.dialect);
                sql.push("WITH found AS MATERIALIZED (");
                search::pg_matches(&mut sql, &tsquery);
                sql.push(&format!(") SELECT {MESSAGE_COLUMNS} FROM messages WHERE messages.account_id = "))
                    .text(account_id)
                    .push(" AND messages.id IN (SELECT message_id FROM found)");
                history_filters(&mut sql, filter);
                sql.push(" ORDER BY messages.id DESC LIMIT ").int(filter.limit as i64);
                sql.query().fetch_all(&self.reader).await?
            }
        };
        rows.iter().map(message_from_row).collect()
    }

    /// A search on SQLite narrowed by a number, contact or group: their
    /// messages are read newest first and each is looked up in the index,
    /// until a page is full. Reading the index first would visit every
    /// match of a common word. Gives up (`None`) after
    /// [`search::MAX_CANDIDATES`] messages, leaving it to the index.
    async fn search_candidates(
        &self,
        account_id: &str,
        filter: &MessageFilter,
        expression: &str,
    ) -> sqlx::Result<Option<Vec<MessageRecord>>> {
        let mut found = Vec::new();
        let mut page = MessageFilter { q: None, limit: search::CANDIDATE_PAGE, ..filter.clone() };
        let mut seen = 0;
        while seen < search::MAX_CANDIDATES {
            let candidates = self.list_plain(account_id, &page).await?;
            seen += candidates.len();
            let last = candidates.len() < search::CANDIDATE_PAGE;
            page.cursor = candidates.last().map(|m| m.id.clone());
            for m in candidates {
                if search::indexed_match(&self.reader, expression, &m.id).await? {
                    found.push(m);
                    if found.len() >= filter.limit {
                        return Ok(Some(found));
                    }
                }
            }
            if last {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// A search on SQLite: the FTS5 index is read newest key first, joined to
    /// the messages that pass the other filters, and stops after one page.
    /// Keys order like ids by millisecond only, so the rest of the last
    /// page's millisecond is read too and the page is cut in id order.
    async fn search_fts5(
        &self,
        account_id: &str,
        filter: &MessageFilter,
        expression: &str,
    ) -> sqlx::Result<Vec<MessageRecord>> {
        let page = |from: Option<i64>, below: i64, limit: Option<usize>| {
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!(
                "SELECT {MESSAGE_COLUMNS}, message_search.rowid AS search_key
                 FROM message_search JOIN messages ON messages.id = message_search.message_id
                 WHERE message_search MATCH "
            ))
            .text(expression)
            .push(" AND message_search.rowid < ")
            .int(below);
            if let Some(from) = from {
                sql.push(" AND message_search.rowid >= ").int(from);
            }
            sql.push(" AND messages.account_id = ").text(account_id);
            history_filters(&mut sql, filter);
            sql.push(" ORDER BY message_search.rowid DESC");
            if let Some(limit) = limit {
                sql.push(" LIMIT ").int(limit as i64);
            }
            sql
        };
        let first = page(None, search::keys_before(filter.cursor.as_deref()), Some(filter.limit))
            .query()
            .fetch_all(&self.reader)
            .await?;
        let mut rows = Vec::with_capacity(first.len());
        let mut last_key = None;
        for r in &first {
            last_key = Some(r.try_get::<i64, _>("search_key")?);
            rows.push(message_from_row(r)?);
        }
        if let Some(last) = last_key.filter(|_| first.len() >= filter.limit) {
            let rest =
                page(Some(search::bucket_floor(last)), last, None).query().fetch_all(&self.reader).await?;
            for r in &rest {
                rows.push(message_from_row(r)?);
            }
        }
        rows.sort_by(|a, b| b.id.cmp(&a.id));
        rows.truncate(filter.limit);
        Ok(rows)
    }

    async fn tags_of(&self, ids: &[String]) -> sqlx::Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(INSERT_CHUNK) {
            let mut sql = Sql::new(self.dialect);
            sql.push("SELECT message_id, tag FROM message_tags WHERE message_id IN (")
                .list(chunk)
                .push(") ORDER BY tag");
            for row in sql.query().fetch_all(&self.reader).await? {
                out.entry(row.try_get(0)?).or_default().push(row.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// Cancels a message that has not been handed to a connector yet.
    /// Returns false when it is unknown or already on its way.
    pub async fn cancel_message(&self, account_id: &str, id: &str, now: i64) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "UPDATE messages SET status = 'canceled', updated_at = $1
             WHERE id = $2 AND account_id = $3 AND status IN ('scheduled', 'queued')
             RETURNING id, account_id, to_number, callback_url",
        )
        .bind(now)
        .bind(id)
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await?;
        let canceled = record_canceled(&mut tx, &rows, "canceled through the API", now).await?;
        tx.commit().await?;
        Ok(canceled > 0)
    }

    /// Moves scheduled messages whose time has come into the queue.
    pub async fn promote_scheduled(&self, now: i64) -> sqlx::Result<usize> {
        if !self.any_due(MessageStatus::Scheduled, now).await? {
            return Ok(0);
        }
        let sql = format!(
            "WITH picked AS (SELECT id FROM messages
                 WHERE status = 'scheduled' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2{})
             UPDATE messages SET status = 'queued', updated_at = $1
             WHERE status = 'scheduled' AND id IN (SELECT id FROM picked)
             RETURNING id, account_id, to_number, callback_url",
            self.dialect.skip_locked()
        );
        self.bulk_transition(&sql, now, &[], MessageStatus::Queued, "scheduled time reached").await
    }

    /// Whether a message in `status` is due at `now` (its next attempt, or
    /// receipt check, has come). A read: a step of the dispatcher that finds
    /// nothing to do never waits for, or holds, the writer.
    async fn any_due(&self, status: MessageStatus, now: i64) -> sqlx::Result<bool> {
        // The status is spelled out so SQLite can use its partial index.
        let sql = format!(
            "SELECT 1 FROM messages WHERE status = '{}' AND next_attempt_at <= $1 LIMIT 1",
            status.as_str()
        );
        let in_place = |conn: &rusqlite::Connection| conn.prepare_cached(&sql)?.exists([now]);
        if let Some(due) = self.read_in_place("due messages", in_place) {
            return Ok(due);
        }
        Ok(sqlx::query(AssertSqlSafe(sql)).bind(now).fetch_optional(&self.reader).await?.is_some())
    }

    /// Claims up to `limit` due messages for `node`, marking them `sending`
    /// with a lease until `lease_until`. Oldest due first.
    pub async fn claim_due(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> sqlx::Result<Vec<ClaimedMessage>> {
        if !self.any_due(MessageStatus::Queued, now).await? {
            return Ok(Vec::new());
        }
        if self.direct.is_some() {
            let (sql, node) = (claim_sql(self.dialect), node.to_owned());
            let job = move |conn: &mut rusqlite::Connection| {
                super::hot_path::claim(conn, &sql, &node, now, lease_until, limit)
            };
            if let Some(claimed) = self.write_direct(limit, job).await? {
                return Ok(claimed);
            }
        }
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(claim_sql(self.dialect)))
            .bind(node)
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
            .bind(trail::entry(MessageStatus::Sending, now, None))
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut transitions = Vec::with_capacity(rows.len());
        for r in &rows {
            let due: i64 = r.try_get("next_attempt_at")?;
            claimed.push((
                due,
                ClaimedMessage {
                    id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                    to: r.try_get("to_number")?,
                    from: r.try_get("from_addr")?,
                    text: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                },
            ));
            transitions.push(Transition::from_row(r, MessageStatus::Sending, None)?.on_trail_of(r)?);
        }
        record_transitions(&mut tx, &transitions, now).await?;
        tx.commit().await?;
        Ok(in_queue_order(claimed))
    }

    /// Extends the lease on everything `node` holds in `sending`.
    pub async fn renew_leases(&self, node: &str, lease_until: i64) -> sqlx::Result<u64> {
        let done =
            sqlx::query("UPDATE messages SET lease_until = $1 WHERE status = 'sending' AND claimed_by = $2")
                .bind(lease_until)
                .bind(node)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected())
    }

    /// Puts messages left in `sending` back in the queue: those whose lease
    /// expired and, if `node` is given, every one that node holds (used at
    /// that node's start and shutdown). They keep their place in the queue
    /// (a campaign's are canceled or held instead: [`back_to_queue`]).
    pub async fn requeue_sending(&self, node: Option<&str>, now: i64, why: &str) -> sqlx::Result<usize> {
        let sql = format!(
            "WITH picked AS (SELECT id FROM messages
                 WHERE status = 'sending' AND (lease_until < $1 OR claimed_by = $3) LIMIT $2{})
             UPDATE messages SET {}, claimed_by = NULL, lease_until = NULL, updated_at = $1
             WHERE status = 'sending' AND id IN (SELECT id FROM picked)
             RETURNING id, account_id, to_number, callback_url, status",
            self.dialect.skip_locked(),
            back_to_queue("next_attempt_at"),
        );
        self.bulk_rows(&sql, now, &[node.unwrap_or("")], |r| Transition::back_from_queue(r, why.to_owned()))
            .await
    }

    /// Runs a chunked bulk status change until no row is left to change.
    pub(super) async fn bulk_transition(
        &self,
        sql: &str,
        now: i64,
        extra: &[&str],
        status: MessageStatus,
        detail: &str,
    ) -> sqlx::Result<usize> {
        self.bulk_rows(sql, now, extra, |r| Transition::from_row(r, status, Some(detail.to_owned()))).await
    }

    /// [`Self::bulk_transition`] with each row's transition made by `transition`.
    async fn bulk_rows(
        &self,
        sql: &str,
        now: i64,
        extra: &[&str],
        transition: impl Fn(&AnyRow) -> sqlx::Result<Transition>,
    ) -> sqlx::Result<usize> {
        let mut total = 0;
        loop {
            let mut tx = self.writer.begin().await?;
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(BULK_CHUNK);
            for extra in extra {
                q = q.bind(*extra);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let transitions = rows.iter().map(&transition).collect::<sqlx::Result<Vec<_>>>()?;
            record_transitions(&mut tx, &transitions, now).await?;
            tx.commit().await?;
            total += transitions.len();
            if (transitions.len() as i64) < BULK_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Records what connectors reported, emptying `outcomes`; after an
    /// error it holds what is still to be recorded (retry with it). On
    /// SQLite the common reports go through the writer thread in one
    /// transaction (`hot_path.rs`) and the rest through sqlx in a
    /// second; otherwise all of them in one.
    pub async fn apply_outcomes(
        &self,
        outcomes: &mut Vec<Outcome>,
        retry: RetryPolicy,
        now: i64,
    ) -> sqlx::Result<()> {
        if self.direct.is_some() && !outcomes.is_empty() {
            let batch = std::sync::Arc::new(std::mem::take(outcomes));
            let job = {
                let batch = batch.clone();
                move |conn: &mut rusqlite::Connection| super::hot_path::record(conn, &batch, retry, now)
            };
            let done = self.write_direct(batch.len(), job).await;
            // The job has ended (or never ran): the batch is ours again.
            let all = std::sync::Arc::unwrap_or_clone(batch);
            match done {
                Ok(Some(rest)) => *outcomes = rest,
                Ok(None) => *outcomes = all, // not finished there: all through sqlx
                Err(e) => {
                    *outcomes = all;
                    return Err(e);
                }
            }
        }
        if !outcomes.is_empty() {
            self.apply_outcomes_sqlx(outcomes, retry, now).await?;
            outcomes.clear();
        }
        Ok(())
    }

    /// [`Self::apply_outcomes`] through sqlx, in one transaction. The
    /// common cases (one-part submit answers, receipts of known messages)
    /// are written with one statement per batch; the rest one by one.
    async fn apply_outcomes_sqlx(
        &self,
        outcomes: &[Outcome],
        retry: RetryPolicy,
        now: i64,
    ) -> sqlx::Result<()> {
        // Every lookup here is by a key (id, SMSC id). Without statistics
        // (a new or fast-growing table, before autovacuum has analysed it)
        // PostgreSQL guesses that a list of SMSC ids matches thousands of
        // rows and scans the whole table for each batch of receipts
        // (measured: 5-11 ms per batch at 50,000 messages, growing with the
        // table); turned off in the same round trip as the `BEGIN`.
        let mut tx = match self.dialect {
            Dialect::Postgres => self.writer.begin_with("BEGIN; SET LOCAL enable_seqscan = off").await?,
            Dialect::Sqlite => self.writer.begin().await?,
        };
        let mut transitions = Vec::with_capacity(outcomes.len());
        let singles: Vec<SentSingle> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Submitted { message_id, connector, smsc_ids, segments } if smsc_ids.len() == 1 => {
                    Some((message_id.as_str(), connector.as_str(), smsc_ids[0].as_str(), *segments as i64))
                }
                _ => None,
            })
            .collect();
        // Messages that went out in other segments than they were counted
        // in: (id, segments sent).
        let mut resegmented: Vec<(String, i64)> = Vec::new();
        self.mark_sent(&mut tx, &singles, retry, now, &mut transitions, &mut resegmented).await?;
        let mut receipts = Vec::new();
        let mut submitted_ids: Vec<(&str, &str)> = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Submitted { connector, smsc_ids, .. } if smsc_ids.len() == 1 => {
                    submitted_ids.push((connector.as_str(), smsc_ids[0].as_str()));
                }
                Outcome::Submitted { message_id, connector, smsc_ids, segments } => {
                    submitted_ids.extend(smsc_ids.iter().map(|id| (connector.as_str(), id.as_str())));
                    // A one-part message keeps its SMSC id on the message;
                    // a long one keeps one row per part.
                    let single = (smsc_ids.len() == 1).then(|| smsc_ids[0].clone());
                    let row = sqlx::query(
                        "UPDATE messages SET status = 'sent', connector = $1, smsc_id = $2, updated_at = $3,
                             claimed_by = NULL, lease_until = NULL, error = NULL, attempts = attempts + 1,
                             next_attempt_at = $5
                         WHERE id = $4 AND status IN ('sending', 'queued')
                         RETURNING id, account_id, to_number, callback_url, segments",
                    )
                    .bind(connector)
                    .bind(single)
                    .bind(now)
                    .bind(message_id)
                    .bind(now.saturating_add(ms_to_micros(retry.receipt_check_ms)))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tracing::warn!(message_id, connector, "submit answer for a message not being sent");
                        continue;
                    };
                    if row.try_get::<i64, _>("segments")? != *segments as i64 {
                        resegmented.push((message_id.clone(), *segments as i64));
                    }
                    if smsc_ids.len() > 1 {
                        for (seq, smsc_id) in smsc_ids.iter().enumerate() {
                            sqlx::query(
                                "INSERT INTO message_parts (message_id, seq, connector, smsc_id, status, updated_at)
                                 VALUES ($1, $2, $3, $4, 'sent', $5)
                                 ON CONFLICT (message_id, seq) DO UPDATE SET connector = $3, smsc_id = $4,
                                     status = 'sent', detail = NULL, updated_at = $5",
                            )
                            .bind(message_id)
                            .bind(seq as i64 + 1)
                            .bind(connector)
                            .bind(smsc_id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    let detail = accepted(connector, &smsc_ids.join(", "));
                    transitions.push(Transition::from_row(&row, MessageStatus::Sent, Some(detail))?);
                }
                Outcome::SubmitFailed { message_id, connector, temporary, reason } => {
                    let row = sqlx::query(
                        "SELECT id, account_id, to_number, callback_url, attempts FROM messages
                         WHERE id = $1 AND status = 'sending'",
                    )
                    .bind(message_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else { continue };
                    let attempts = row.try_get::<i64, _>("attempts")? + 1;
                    let (status, error, detail) = if !temporary {
                        let detail = format!("{connector}: {reason}");
                        (MessageStatus::Rejected, detail.clone(), detail)
                    } else if attempts >= i64::from(retry.max_attempts) {
                        let detail =
                            format!("gave up after {attempts} attempts; last: {connector}: {reason}");
                        (MessageStatus::Failed, detail.clone(), detail)
                    } else {
                        let delay = retry.delay_ms(attempts as u32);
                        let detail =
                            format!("attempt {attempts} failed ({connector}: {reason}); retry in {delay} ms");
                        let due = now.saturating_add(ms_to_micros(delay));
                        let row = sqlx::query(AssertSqlSafe(format!(
                            "UPDATE messages SET {}, error = $2, attempts = $3, connector = $4, claimed_by = NULL,
                                 lease_until = NULL, updated_at = $5
                             WHERE id = $6 RETURNING id, account_id, to_number, callback_url, status",
                            back_to_queue("$1")
                        )))
                        .bind(due)
                        .bind(reason)
                        .bind(attempts)
                        .bind(connector)
                        .bind(now)
                        .bind(message_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        transitions.push(Transition::back_from_queue(&row, detail)?);
                        continue;
                    };
                    sqlx::query(
                        "UPDATE messages SET status = $1, error = $2, attempts = $3, next_attempt_at = $4,
                             connector = $5, claimed_by = NULL, lease_until = NULL, updated_at = $6
                         WHERE id = $7",
                    )
                    .bind(status.as_str())
                    .bind(&error)
                    .bind(attempts)
                    .bind(now)
                    .bind(connector)
                    .bind(now)
                    .bind(message_id)
                    .execute(&mut *tx)
                    .await?;
                    transitions.push(Transition::from_row(&row, status, Some(detail))?);
                }
                Outcome::NotTaken { message_id, connector: _, reason } => {
                    let row = sqlx::query(AssertSqlSafe(format!(
                        "UPDATE messages SET {}, claimed_by = NULL, lease_until = NULL, updated_at = $1
                         WHERE id = $2 AND status = 'sending'
                         RETURNING id, account_id, to_number, callback_url, status",
                        back_to_queue("next_attempt_at")
                    )))
                    .bind(now)
                    .bind(message_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else { continue };
                    transitions.push(Transition::back_from_queue(&row, format!("re-queued: {reason}"))?);
                }
                Outcome::Receipt { connector, smsc_id, status, detail } => {
                    receipts.push((connector.as_str(), smsc_id.as_str(), *status, detail.as_str()));
                }
                Outcome::Inbound { connector, sms } => {
                    super::inbound::store_inbound(&mut tx, connector, sms, now).await?;
                }
            }
        }
        // A message with a history row to come (written last, below) keeps
        // its history in rows from now on: its trail moves there first, so
        // that no receipt of this batch lands on the trail ahead of that row.
        let to_rows: Vec<&str> =
            transitions.iter().filter(|t| !t.on_trail).map(|t| t.message_id.as_str()).collect();
        if !to_rows.is_empty() {
            spill_trails(&mut tx, &to_rows).await?;
        }
        self.apply_receipts(&mut tx, &receipts, now, &mut transitions).await?;
        self.apply_orphans(&mut tx, &submitted_ids, now, &mut transitions).await?;
        record_transitions(&mut tx, &transitions, now).await?;
        // After the charges of messages now sent were settled.
        resegment(&mut tx, &resegmented, now).await?;
        tx.commit().await
    }

    /// Marks one-part messages `sent` with their SMSC ids, in bulk; those
    /// sent in other segments than counted are added to `resegmented`.
    async fn mark_sent(
        &self,
        tx: &mut AnyConnection,
        sent: &[SentSingle<'_>],
        retry: RetryPolicy,
        now: i64,
        transitions: &mut Vec<Transition>,
        resegmented: &mut Vec<(String, i64)>,
    ) -> sqlx::Result<()> {
        let d = self.dialect;
        for chunk in sent.chunks(INSERT_CHUNK) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", d.placeholders(i * 4 + 3, 4))).collect();
            let sql = format!(
                "WITH v(id, connector, smsc_id, entry) AS (VALUES {})
                 UPDATE messages SET status = 'sent', connector = v.connector, smsc_id = v.smsc_id,
                     updated_at = {}, claimed_by = NULL, lease_until = NULL, error = NULL,
                     attempts = attempts + 1, next_attempt_at = {}, trail = messages.trail || v.entry
                 FROM v WHERE messages.id = v.id AND messages.status IN ('sending', 'queued')
                 RETURNING messages.id, messages.account_id, messages.to_number, messages.callback_url,
                     messages.connector, messages.smsc_id, messages.segments, {ON_TRAIL}",
                values.join(", "),
                d.param(1),
                d.param(2),
            );
            let entries: Vec<String> = chunk
                .iter()
                .map(|(_, connector, smsc_id, _)| {
                    trail::entry(MessageStatus::Sent, now, Some(&accepted(connector, smsc_id)))
                })
                .collect();
            // SQLite numbers plain `?` by position: the two scalars come first
            // in the text (inside VALUES they come after), so bind in text order.
            let mut q = sqlx::query(AssertSqlSafe(sql));
            if d == Dialect::Postgres {
                q = q.bind(now).bind(now.saturating_add(ms_to_micros(retry.receipt_check_ms)));
                for ((id, connector, smsc_id, _), entry) in chunk.iter().zip(&entries) {
                    q = q.bind(*id).bind(*connector).bind(*smsc_id).bind(entry.as_str());
                }
            } else {
                for ((id, connector, smsc_id, _), entry) in chunk.iter().zip(&entries) {
                    q = q.bind(*id).bind(*connector).bind(*smsc_id).bind(entry.as_str());
                }
                q = q.bind(now).bind(now.saturating_add(ms_to_micros(retry.receipt_check_ms)));
            }
            let rows = q.fetch_all(&mut *tx).await?;
            if rows.len() < chunk.len() {
                tracing::warn!(
                    answers = chunk.len(),
                    applied = rows.len(),
                    "submit answers for messages not being sent were ignored"
                );
            }
            let wanted: HashMap<&str, i64> = chunk.iter().map(|(id, _, _, n)| (*id, *n)).collect();
            for r in rows {
                let id: String = r.try_get("id")?;
                if let Some(&n) = wanted.get(id.as_str())
                    && n != r.try_get::<i64, _>("segments")?
                {
                    resegmented.push((id, n));
                }
                let connector: String = r.try_get("connector")?;
                let smsc_id: String = r.try_get("smsc_id")?;
                transitions.push(
                    Transition::from_row(&r, MessageStatus::Sent, Some(accepted(&connector, &smsc_id)))?
                        .on_trail_of(&r)?,
                );
            }
        }
        Ok(())
    }

    /// Applies receipts: those of known one-part messages in bulk, the rest
    /// (parts of long messages, receipts ahead of their submit answer) one
    /// by one.
    async fn apply_receipts(
        &self,
        tx: &mut AnyConnection,
        receipts: &[(&str, &str, Option<MessageStatus>, &str)],
        now: i64,
        transitions: &mut Vec<Transition>,
    ) -> sqlx::Result<()> {
        let d = self.dialect;
        for chunk in receipts.chunks(INSERT_CHUNK) {
            let sql = format!(
                "SELECT id, account_id, to_number, callback_url, status, connector, smsc_id, {ON_TRAIL}
                 FROM messages WHERE smsc_id IN ({})",
                d.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (_, smsc_id, _, _) in chunk {
                q = q.bind(*smsc_id);
            }
            // (connector, smsc id) -> (transition base, current status); the newest message wins.
            let mut known: HashMap<(String, String), (Transition, MessageStatus)> = HashMap::new();
            let mut rows = q.fetch_all(&mut *tx).await?;
            rows.sort_by_key(|r| r.try_get::<String, _>("id").unwrap_or_default());
            for r in &rows {
                let status: String = r.try_get("status")?;
                let status: MessageStatus = status.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let key = (r.try_get("connector")?, r.try_get("smsc_id")?);
                known.insert(key, (Transition::from_row(r, status, None)?.on_trail_of(r)?, status));
            }
            // A message's receipts without a status of their own come before
            // its final one (any after that is a repeat): their entries are
            // appended first, each message's in one change.
            let mut appends: Vec<(String, String)> = Vec::new();
            let mut updates: Vec<(String, MessageStatus, Option<String>, String)> = Vec::new();
            for (connector, smsc_id, status, detail) in chunk {
                let Some((base, current)) = known.get_mut(&(connector.to_string(), smsc_id.to_string()))
                else {
                    if let Some(t) =
                        apply_receipt(tx, connector, smsc_id, *status, detail.to_string(), now).await?
                    {
                        transitions.push(t);
                    }
                    continue;
                };
                if current.is_final() {
                    continue; // a repeated receipt
                }
                let new_status = status.unwrap_or(*current);
                let entry = trail::entry(new_status, now, Some(detail));
                if let Some(final_status) = status {
                    let error = (*final_status != MessageStatus::Delivered).then(|| detail.to_string());
                    updates.push((base.message_id.clone(), *final_status, error, entry));
                    *current = *final_status;
                } else if base.on_trail {
                    match appends.iter_mut().find(|(id, _)| *id == base.message_id) {
                        Some((_, entries)) => entries.push_str(&entry),
                        None => appends.push((base.message_id.clone(), entry)),
                    }
                }
                transitions.push(Transition {
                    status: new_status,
                    detail: Some(detail.to_string()),
                    ..base.clone()
                });
            }
            if !appends.is_empty() {
                let values: Vec<String> =
                    (0..appends.len()).map(|i| format!("({})", d.placeholders(i * 2 + 1, 2))).collect();
                let sql = format!(
                    "WITH v(id, entries) AS (VALUES {})
                     UPDATE messages SET trail = messages.trail || v.entries FROM v WHERE messages.id = v.id",
                    values.join(", ")
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for (id, entries) in &appends {
                    q = q.bind(id.as_str()).bind(entries.as_str());
                }
                q.execute(&mut *tx).await?;
            }
            for part in updates.chunks(INSERT_CHUNK) {
                let values: Vec<String> =
                    (0..part.len()).map(|i| format!("({})", d.placeholders(i * 4 + 2, 4))).collect();
                let sql = format!(
                    "WITH v(id, status, error, entry) AS (VALUES {})
                     UPDATE messages SET status = v.status, error = v.error, updated_at = {},
                         trail = messages.trail || v.entry
                     FROM v WHERE messages.id = v.id",
                    values.join(", "),
                    d.param(1)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                if d == Dialect::Postgres {
                    q = q.bind(now);
                }
                for (id, status, error, entry) in part {
                    q = q.bind(id.as_str()).bind(status.as_str()).bind(error.as_deref()).bind(entry.as_str());
                }
                if d == Dialect::Sqlite {
                    q = q.bind(now);
                }
                q.execute(&mut *tx).await?;
            }
        }
        Ok(())
    }

    /// Applies receipts that arrived before the submit answers just recorded.
    async fn apply_orphans(
        &self,
        tx: &mut AnyConnection,
        submitted: &[(&str, &str)],
        now: i64,
        transitions: &mut Vec<Transition>,
    ) -> sqlx::Result<()> {
        if submitted.is_empty() {
            return Ok(());
        }
        let any: i64 =
            sqlx::query("SELECT COUNT(*) FROM orphan_receipts").fetch_one(&mut *tx).await?.try_get(0)?;
        if any == 0 {
            return Ok(());
        }
        for (connector, smsc_id) in submitted {
            let orphan = sqlx::query(
                "DELETE FROM orphan_receipts WHERE connector = $1 AND smsc_id = $2 RETURNING status, detail",
            )
            .bind(*connector)
            .bind(*smsc_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(o) = orphan {
                let status: Option<String> = o.try_get(0)?;
                let status = status.and_then(|s| s.parse().ok());
                if let Some(t) = apply_receipt(tx, connector, smsc_id, status, o.try_get(1)?, now).await? {
                    transitions.push(t);
                }
            }
        }
        Ok(())
    }

    /// The receipt checks due now, oldest first, up to `limit` messages:
    /// those sent more than `expire_after_secs` ago (and not changed since)
    /// become `expired`, with a history row and callback, and so do their
    /// parts still `sent`; the rest are returned to be asked about, one entry
    /// per part still waiting for its report, and are due again `check_secs`
    /// later. One transaction; a read when no check is due.
    pub async fn check_receipts(
        &self,
        now: i64,
        check_secs: u64,
        expire_after_secs: Option<u64>,
        limit: usize,
    ) -> sqlx::Result<ReceiptChecks> {
        if !self.any_due(MessageStatus::Sent, now).await? {
            return Ok(ReceiptChecks::default());
        }
        let mut tx = self.writer.begin().await?;
        let expired = match expire_after_secs {
            Some(after_secs) => expire_unreported(&mut tx, self.dialect, now, after_secs, limit).await?,
            None => 0,
        };
        let sql = format!(
            "WITH picked AS (SELECT id FROM messages
                 WHERE status = 'sent' AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3{})
             UPDATE messages SET next_attempt_at = $1
             WHERE status = 'sent' AND id IN (SELECT id FROM picked)
             RETURNING id, connector, smsc_id, from_addr",
            self.dialect.skip_locked()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now.saturating_add(secs_to_micros(check_secs)))
            .bind(now)
            .bind(limit.saturating_sub(expired) as i64)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut overdue = Vec::with_capacity(rows.len());
        for r in rows {
            let message_id: String = r.try_get(0)?;
            let connector: Option<String> = r.try_get(1)?;
            let smsc_id: Option<String> = r.try_get(2)?;
            let from: Option<String> = r.try_get(3)?;
            match (connector, smsc_id) {
                (Some(connector), Some(smsc_id)) => {
                    overdue.push(OverdueReceipt { message_id, connector, smsc_id, from })
                }
                _ => {
                    let parts = sqlx::query(
                        "SELECT connector, smsc_id FROM message_parts WHERE message_id = $1 AND status = 'sent'",
                    )
                    .bind(&message_id)
                    .fetch_all(&self.reader)
                    .await?;
                    for p in parts {
                        overdue.push(OverdueReceipt {
                            message_id: message_id.clone(),
                            connector: p.try_get(0)?,
                            smsc_id: p.try_get(1)?,
                            from: from.clone(),
                        });
                    }
                }
            }
        }
        Ok(ReceiptChecks { expired, overdue })
    }

    /// The parts of a long message, in order (empty for a one-part message).
    pub async fn message_parts(&self, message_id: &str) -> sqlx::Result<Vec<PartRecord>> {
        let rows = sqlx::query(
            "SELECT seq, connector, smsc_id, status, detail, updated_at FROM message_parts
             WHERE message_id = $1 ORDER BY seq",
        )
        .bind(message_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PartRecord {
                    seq: r.try_get(0)?,
                    connector: r.try_get(1)?,
                    smsc_id: r.try_get(2)?,
                    status: r.try_get(3)?,
                    detail: r.try_get(4)?,
                    updated_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// How many history entries a message has (0: the message is unknown).
    pub async fn count_events_of(&self, message_id: &str) -> sqlx::Result<i64> {
        Ok(self.message_events(message_id).await?.len() as i64)
    }

    /// How many history entries carry exactly this detail (e.g. recoveries).
    /// Reads every trail: for tests and diagnosis, not for a busy store.
    pub async fn count_events_with_detail(&self, detail: &str) -> sqlx::Result<i64> {
        let in_rows: i64 = sqlx::query("SELECT COUNT(*) FROM message_events WHERE detail = $1")
            .bind(detail)
            .fetch_one(&self.reader)
            .await?
            .try_get(0)?;
        let trails: Vec<String> = sqlx::query_scalar("SELECT trail FROM messages WHERE trail IS NOT NULL")
            .fetch_all(&self.reader)
            .await?;
        let mut on_trails = 0;
        for t in &trails {
            on_trails +=
                trail::parse(t)?.iter().filter(|e| e.detail.as_deref() == Some(detail)).count() as i64;
        }
        Ok(in_rows + on_trails)
    }

    /// Counts messages by status (for tests, the CLI and metrics).
    pub async fn count_by_status(&self) -> sqlx::Result<HashMap<MessageStatus, i64>> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM messages GROUP BY status")
            .fetch_all(&self.reader)
            .await?;
        let mut out = HashMap::new();
        for r in rows {
            let s: String = r.try_get(0)?;
            if let Ok(s) = s.parse() {
                out.insert(s, r.try_get(1)?);
            }
        }
        Ok(out)
    }
}

/// Records an idempotency key with the answer to give (over one past its
/// retention); if the key was used before, returns that earlier answer
/// (same request) or a conflict.
async fn claim_idempotency_key(
    tx: &mut AnyConnection,
    account_id: &str,
    idem: &IdempotentRequest,
    now: i64,
) -> sqlx::Result<Result<Accepted, StoreError>> {
    let inserted = sqlx::query(CLAIM_IDEMPOTENCY_KEY)
        .bind(account_id)
        .bind(&idem.key)
        .bind(&idem.request_hash)
        .bind(i64::from(idem.status_code))
        .bind(&idem.response)
        .bind(now)
        .bind(idempotency_cutoff(now))
        .execute(&mut *tx)
        .await?;
    if inserted.rows_affected() > 0 {
        return Ok(Ok(Accepted::Stored));
    }
    let row = sqlx::query(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE account_id = $1 AND idem_key = $2",
    )
    .bind(account_id)
    .bind(&idem.key)
    .fetch_one(&mut *tx)
    .await?;
    let hash: String = row.try_get(0)?;
    Ok(idem.earlier(&hash, row.try_get(1)?, row.try_get(2)?))
}

/// Stores a key (`$1` account, `$2` key, `$3` request hash, `$4` status,
/// `$5` answer, `$6` now) unless it is kept already: one created before
/// `$7` (past its retention) is taken over. Changes a row only when the
/// key is claimed. (Numbered parameters, as both backends and rusqlite
/// read them: the hot path runs it too.)
pub(super) const CLAIM_IDEMPOTENCY_KEY: &str =
    "INSERT INTO idempotency_keys (account_id, idem_key, request_hash, status_code, response, created_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, idem_key) DO UPDATE SET
         request_hash = excluded.request_hash, status_code = excluded.status_code,
         response = excluded.response, created_at = excluded.created_at
     WHERE idempotency_keys.created_at < $7";

/// Forgets an idempotency key claimed in this transaction by a request
/// that was then refused, so a retry is judged afresh.
async fn release_idempotency_key(tx: &mut AnyConnection, account_id: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE account_id = $1 AND idem_key = $2")
        .bind(account_id)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Cancels the account's messages to `phones` that wait to be sent —
/// scheduled (also those a paused campaign holds) or queued, not yet
/// claimed — except transactional ones, with `why` in their history:
/// the numbers opted out, within the caller's transaction. Returns how
/// many. Called only through `inbound::opted_out_now`, which holds the
/// account's opt-out lock.
pub(super) async fn cancel_waiting_to(
    tx: &mut AnyConnection,
    account_id: &str,
    phones: &[&str],
    why: &str,
    now: i64,
) -> sqlx::Result<usize> {
    let mut canceled = 0;
    let dialect = Dialect::of(tx);
    for chunk in phones.chunks(super::IN_CHUNK) {
        let (now_param, account_param) = (dialect.param(1), dialect.param(2));
        let numbers = dialect.placeholders(3, chunk.len());
        let sql = format!(
            "UPDATE messages SET status = 'canceled', updated_at = {now_param}
             WHERE account_id = {account_param} AND to_number IN ({numbers}) AND direction = 'outbound'
                 AND status IN ('scheduled', 'queued') AND transactional = 0
             RETURNING id, account_id, to_number, callback_url"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(account_id);
        for phone in chunk {
            q = q.bind(*phone);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        canceled += record_canceled(tx, &rows, why, now).await?;
    }
    Ok(canceled)
}

/// Records the history (and callbacks, refunds) of messages just canceled:
/// `rows` are what `UPDATE … SET status = 'canceled' … RETURNING id,
/// account_id, to_number, callback_url` returned. Returns how many.
async fn record_canceled(
    tx: &mut AnyConnection,
    rows: &[AnyRow],
    why: &str,
    now: i64,
) -> sqlx::Result<usize> {
    let transitions = rows
        .iter()
        .map(|r| Transition::from_row(r, MessageStatus::Canceled, Some(why.to_owned())))
        .collect::<sqlx::Result<Vec<_>>>()?;
    record_transitions(tx, &transitions, now).await?;
    Ok(transitions.len())
}

/// Charges and inserts new messages with their first history rows and
/// tags, in the caller's transaction. Every way a message enters the queue
/// (API requests through intake, campaign fan-out, notifications, inbound
/// replies) comes through here or, for the intake, through
/// `billing::reserve` and [`insert_rows`]. A refusal (balance, price,
/// quota) of the first account stores nothing; callers storing several
/// accounts' messages at once roll back on a refusal.
pub(super) async fn insert_messages(
    tx: &mut AnyConnection,
    messages: &[(&str, &NewMessage, i64)],
) -> sqlx::Result<Result<(), ChargeRefusal>> {
    insert_messages_for(tx, messages, &Origin::default()).await
}

/// [`insert_messages`] for `origin`, whose user's quota they count against.
pub(super) async fn insert_messages_for(
    tx: &mut AnyConnection,
    messages: &[(&str, &NewMessage, i64)],
    origin: &Origin,
) -> sqlx::Result<Result<(), ChargeRefusal>> {
    let mut by_account: Vec<(&str, i64, Vec<&NewMessage>)> = Vec::new();
    for (account, m, now) in messages {
        match by_account.iter_mut().find(|(a, _, _)| a == account) {
            Some((_, _, list)) => list.push(m),
            None => by_account.push((account, *now, vec![m])),
        }
    }
    by_account.sort_by(|a, b| a.0.cmp(b.0));
    for (account, now, list) in &by_account {
        if let Err(refusal) = billing::reserve(tx, account, list, origin, *now).await? {
            return Ok(Err(refusal));
        }
    }
    insert_rows(tx, messages).await?;
    Ok(Ok(()))
}

/// Inserts messages (already charged, or not to be charged) with their
/// first history entries (on their trails, `trail.rs`), search index
/// entries, tags and reply routes.
pub(super) async fn insert_rows(
    tx: &mut AnyConnection,
    messages: &[(&str, &NewMessage, i64)],
) -> sqlx::Result<()> {
    let dialect = Dialect::of(tx);
    for chunk in messages.chunks(INSERT_CHUNK) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", dialect.placeholders(i * 18 + 1, 18))).collect();
        let sql = format!(
            "INSERT INTO messages (id, account_id, direction, status, to_number, from_addr, body, encoding,
             segments, callback_url, next_attempt_at, send_at, created_at, updated_at, campaign_id, run_id,
             trail, transactional)
             VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (account_id, m, now) in chunk {
            let due = m.due_at(*now);
            let status = m.initial_status(*now);
            q = q
                .bind(&m.id)
                .bind(*account_id)
                .bind(Direction::Outbound.as_str())
                .bind(status.as_str())
                .bind(m.to.as_str())
                .bind(m.from.as_ref().map(|s| s.as_str().to_owned()))
                .bind(m.text.as_str())
                .bind(m.text.encoding_name())
                .bind(m.text.segments() as i64)
                .bind(m.callback_url.as_deref())
                .bind(due)
                .bind(m.send_at)
                .bind(*now)
                .bind(*now)
                .bind(m.campaign.as_ref().map(|c| c.campaign_id.as_str()))
                .bind(m.campaign.as_ref().map(|c| c.run_id.as_str()))
                .bind(trail::entry(status, *now, None))
                .bind(i64::from(m.transactional));
        }
        q.execute(&mut *tx).await?;
    }
    let texts: Vec<(&str, &str)> =
        messages.iter().map(|(_, m, _)| (m.id.as_str(), m.text.as_str())).collect();
    search::index_messages(tx, &texts).await?;
    let tags: Vec<(&str, &str)> = messages
        .iter()
        .flat_map(|(_, m, _)| m.tags.iter().map(move |t| (m.id.as_str(), t.as_str())))
        .collect();
    for chunk in tags.chunks(INSERT_CHUNK) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", dialect.placeholders(i * 2 + 1, 2))).collect();
        let sql = format!("INSERT INTO message_tags (message_id, tag) VALUES {}", rows.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, tag) in chunk {
            q = q.bind(*id).bind(*tag);
        }
        q.execute(&mut *tx).await?;
    }
    super::conversations::record_reply_routes(tx, messages).await?;
    Ok(())
}

/// Of the (up to `limit`) sent messages whose receipt check is due first,
/// expires those sent more than `after_secs` ago and not changed since,
/// with their parts still `sent` (`Store::check_receipts`).
async fn expire_unreported(
    tx: &mut AnyConnection,
    dialect: Dialect,
    now: i64,
    after_secs: u64,
    limit: usize,
) -> sqlx::Result<usize> {
    // A number, not a bound value: the statement stays the same from call
    // to call, and prepared.
    let age = i64::try_from(after_secs).unwrap_or(i64::MAX).saturating_mul(1_000_000);
    let detail = if after_secs.is_multiple_of(3_600) {
        format!("no delivery report within {} h", after_secs / 3_600)
    } else {
        format!("no delivery report within {after_secs} s")
    };
    let sql = format!(
        "WITH picked AS (SELECT id FROM messages WHERE status = 'sent' AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2{})
         UPDATE messages SET status = 'expired', error = $3, updated_at = $1
         WHERE status = 'sent' AND updated_at <= $1 - {age} AND id IN (SELECT id FROM picked)
         RETURNING id, account_id, to_number, callback_url",
        dialect.skip_locked()
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(limit as i64)
        .bind(&detail)
        .fetch_all(&mut *tx)
        .await?;
    let transitions = rows
        .iter()
        .map(|r| Transition::from_row(r, MessageStatus::Expired, Some(detail.clone())))
        .collect::<sqlx::Result<Vec<_>>>()?;
    // Their parts still `sent`, a statement per chunk of messages.
    for chunk in transitions.chunks(super::IN_CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|t| t.message_id.as_str()).collect();
        let mut sql = Sql::new(dialect);
        sql.push("UPDATE message_parts SET status = 'expired', detail = ")
            .text(detail.as_str())
            .push(", updated_at = ")
            .int(now)
            .push(" WHERE status = 'sent' AND message_id IN (")
            .list(&ids)
            .push(")");
        sql.query().execute(&mut *tx).await?;
    }
    record_transitions(tx, &transitions, now).await?;
    Ok(transitions.len())
}

/// Applies one delivery report to the message (or message part) with that
/// SMSC id; stores it as an orphan when none is known yet (the report
/// overtook the submit answer).
async fn apply_receipt(
    tx: &mut AnyConnection,
    connector: &str,
    smsc_id: &str,
    status: Option<MessageStatus>,
    detail: String,
    now: i64,
) -> sqlx::Result<Option<Transition>> {
    let row = sqlx::query(
        "SELECT id, account_id, to_number, callback_url, status FROM messages
         WHERE smsc_id = $1 AND connector = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(smsc_id)
    .bind(connector)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = row {
        return apply_message_receipt(tx, &row, status, detail, now).await;
    }
    let part = sqlx::query(
        "SELECT message_id, seq, status FROM message_parts WHERE smsc_id = $1 AND connector = $2
         ORDER BY message_id DESC LIMIT 1",
    )
    .bind(smsc_id)
    .bind(connector)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(part) = part else {
        sqlx::query(
            "INSERT INTO orphan_receipts (connector, smsc_id, status, detail, received_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (connector, smsc_id) DO UPDATE SET status = $3, detail = $4, received_at = $5",
        )
        .bind(connector)
        .bind(smsc_id)
        .bind(status.map(|s| s.as_str()))
        .bind(&detail)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        return Ok(None);
    };
    let message_id: String = part.try_get(0)?;
    let seq: i64 = part.try_get(1)?;
    let row =
        sqlx::query("SELECT id, account_id, to_number, callback_url, status FROM messages WHERE id = $1")
            .bind(&message_id)
            .fetch_one(&mut *tx)
            .await?;
    let Some(part_status) = status else {
        return apply_message_receipt(tx, &row, None, format!("part {seq}: {detail}"), now).await;
    };
    sqlx::query("UPDATE message_parts SET status = $1, detail = $2, updated_at = $3 WHERE message_id = $4 AND seq = $5")
        .bind(part_status.as_str())
        .bind(&detail)
        .bind(now)
        .bind(&message_id)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    // The message is delivered when every part is; it fails with its first
    // failed part; otherwise it waits for the rest.
    let states: Vec<String> = sqlx::query("SELECT status FROM message_parts WHERE message_id = $1")
        .bind(&message_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
    let total = states.len();
    let delivered = states.iter().filter(|s| *s == "delivered").count();
    let detail = format!("part {seq}/{total}: {detail}");
    let overall = if part_status != MessageStatus::Delivered {
        Some(part_status)
    } else if delivered == total {
        Some(MessageStatus::Delivered)
    } else {
        None
    };
    apply_message_receipt(tx, &row, overall, detail, now).await
}

/// Moves a sent message to the final `status` a receipt gives (or, with
/// `None`, only records the report in its history).
async fn apply_message_receipt(
    tx: &mut AnyConnection,
    row: &AnyRow,
    status: Option<MessageStatus>,
    detail: String,
    now: i64,
) -> sqlx::Result<Option<Transition>> {
    let current: String = row.try_get("status")?;
    let current: MessageStatus = current.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    if current.is_final() {
        tracing::debug!(detail, "receipt for a message already final; ignored");
        return Ok(None);
    }
    let Some(status) = status else {
        return Ok(Some(Transition::from_row(row, current, Some(detail))?));
    };
    let error = (status != MessageStatus::Delivered).then(|| detail.clone());
    let id: String = row.try_get("id")?;
    sqlx::query("UPDATE messages SET status = $1, error = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(error)
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    Ok(Some(Transition::from_row(row, status, Some(detail))?))
}

/// Inserts history rows: (message id, status, time, detail), after the
/// entries on those messages' trails, which move into rows first.
async fn insert_events(
    tx: &mut AnyConnection,
    events: &[(&str, MessageStatus, i64, Option<&str>)],
) -> sqlx::Result<()> {
    let mut ids: Vec<&str> = events.iter().map(|e| e.0).collect();
    ids.sort_unstable();
    ids.dedup();
    spill_trails(tx, &ids).await?;
    insert_event_rows(tx, events).await
}

/// Moves the trails of `ids` into history rows and sets them to NULL: once
/// a message has a history row, its history goes on in rows (`trail.rs`).
async fn spill_trails(tx: &mut AnyConnection, ids: &[&str]) -> sqlx::Result<()> {
    let dialect = Dialect::of(tx);
    for chunk in ids.chunks(INSERT_CHUNK) {
        let mut select = Sql::new(dialect);
        select
            .push("SELECT id, trail FROM messages WHERE trail IS NOT NULL AND id IN (")
            .list(chunk)
            .push(")");
        let rows = select.query().fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            continue;
        }
        let mut entries = Vec::with_capacity(rows.len());
        for r in &rows {
            let (id, text): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            entries.push((id, trail::parse(&text)?));
        }
        let spilled: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
        let rows: Vec<(&str, MessageStatus, i64, Option<&str>)> = entries
            .iter()
            .flat_map(|(id, list)| {
                list.iter().map(move |e| (id.as_str(), e.status, e.at, e.detail.as_deref()))
            })
            .collect();
        insert_event_rows(tx, &rows).await?;
        let mut clear = Sql::new(dialect);
        clear.push("UPDATE messages SET trail = NULL WHERE id IN (").list(&spilled).push(")");
        clear.query().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Inserts history rows as they are.
async fn insert_event_rows(
    tx: &mut AnyConnection,
    events: &[(&str, MessageStatus, i64, Option<&str>)],
) -> sqlx::Result<()> {
    let dialect = Dialect::of(tx);
    for chunk in events.chunks(INSERT_CHUNK) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", dialect.placeholders(i * 4 + 1, 4))).collect();
        let sql =
            format!("INSERT INTO message_events (message_id, status, at, detail) VALUES {}", rows.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, status, at, detail) in chunk {
            q = q.bind(*id).bind(status.as_str()).bind(*at).bind(*detail);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Writes the history row of each transition not on its message's trail
/// and a pending callback for each that has a `callback_url`.
/// A one-part submit answer: (message id, connector, SMSC id, segments sent).
type SentSingle<'a> = (&'a str, &'a str, &'a str, i64);

/// Messages just sent in another number of segments than they were counted
/// in when stored (the connector's coding or concatenation cut them its own
/// way): each keeps the number sent, and its charge is re-priced. Rare (a
/// connector configured unlike the standard count), so a statement each.
async fn resegment(tx: &mut AnyConnection, sent: &[(String, i64)], now: i64) -> sqlx::Result<()> {
    if sent.is_empty() {
        return Ok(());
    }
    for (id, segments) in sent {
        sqlx::query("UPDATE messages SET segments = $1 WHERE id = $2")
            .bind(*segments)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    billing::reprice(tx, sent, now).await
}

async fn record_transitions(
    tx: &mut AnyConnection,
    transitions: &[Transition],
    now: i64,
) -> sqlx::Result<()> {
    if transitions.is_empty() {
        return Ok(());
    }
    let dialect = Dialect::of(tx);
    let events: Vec<(&str, MessageStatus, i64, Option<&str>)> = transitions
        .iter()
        .filter(|t| !t.on_trail)
        .map(|t| (t.message_id.as_str(), t.status, now, t.detail.as_deref()))
        .collect();
    if !events.is_empty() {
        insert_events(tx, &events).await?;
    }
    let settled: Vec<&str> = transitions
        .iter()
        .filter(|t| t.status == MessageStatus::Sent)
        .map(|t| t.message_id.as_str())
        .collect();
    let refunded: Vec<&str> =
        transitions.iter().filter(|t| refunds(t.status)).map(|t| t.message_id.as_str()).collect();
    if !settled.is_empty() || !refunded.is_empty() {
        billing::apply_transitions(tx, &settled, &refunded, now).await?;
    }
    let callbacks: Vec<&Transition> = transitions.iter().filter(|t| t.callback_url.is_some()).collect();
    for chunk in callbacks.chunks(INSERT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = |k: usize| dialect.param(i * 9 + k);
                format!(
                    "({}, {}, {}, {}, {}, {}, 'pending', {}, {}, {})",
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(6),
                    p(7),
                    p(8),
                    p(9)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, account_id, message_id, event, url, payload, status,
                 next_attempt_at, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for t in chunk {
            q = q
                .bind(new_id())
                .bind(&t.account_id)
                .bind(&t.message_id)
                .bind("message.status")
                .bind(t.callback_url.as_deref())
                .bind(status_payload(t, now))
                .bind(now)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Claims due messages: `$1` node, `$2` lease end, `$3` now, `$4` how many,
/// `$5` the `sending` entry, appended to each claimed message's trail.
/// Returns the claimed rows with whether the entry is on the trail
/// (`on_trail`; `trail.rs`); the SQLite writer thread binds it by name.
pub(super) fn claim_sql(dialect: Dialect) -> String {
    format!(
        "WITH picked AS (SELECT id FROM messages
             WHERE status = 'queued' AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $4{})
         UPDATE messages SET status = 'sending', claimed_by = $1, lease_until = $2, updated_at = $3,
             trail = trail || $5
         WHERE status = 'queued' AND id IN (SELECT id FROM picked)
         RETURNING id, account_id, to_number, from_addr, body, attempts, callback_url, next_attempt_at, {ON_TRAIL}",
        dialect.skip_locked()
    )
}

/// Claimed messages, each with its due time, in the order they were due.
pub(super) fn in_queue_order(mut claimed: Vec<(i64, ClaimedMessage)>) -> Vec<ClaimedMessage> {
    claimed.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    claimed.into_iter().map(|(_, m)| m).collect()
}

/// The detail of a `sent` history entry.
pub(super) fn accepted(connector: &str, smsc_ids: &str) -> String {
    format!("accepted by {connector} as {smsc_ids}")
}

/// Whether a message that reaches `status` gets its charge back.
pub(super) fn refunds(status: MessageStatus) -> bool {
    matches!(status, MessageStatus::Rejected | MessageStatus::Failed | MessageStatus::Canceled)
}

/// The body of a `message.status` callback for `t`, recorded at `now`.
pub(super) fn status_payload(t: &Transition, now: i64) -> String {
    json!({
        "event": "message.status",
        "message": {
            "id": t.message_id,
            "to": t.to,
            "status": t.status.as_str(),
            "at": format_micros(now),
            "detail": t.detail,
        },
    })
    .to_string()
}

/// The history of an account with the filters, newest first, one page;
/// with PostgreSQL's search condition when given its `tsquery`.
fn plain_query(dialect: Dialect, account_id: &str, filter: &MessageFilter, tsquery: Option<&str>) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE messages.account_id = "))
        .text(account_id);
    if let Some(tsquery) = tsquery {
        sql.push(" AND messages.id IN (");
        search::pg_matches(&mut sql, tsquery);
        sql.push(")");
    }
    history_filters(&mut sql, filter);
    sql.push(" ORDER BY messages.id DESC LIMIT ").int(filter.limit as i64);
    sql
}

/// The history filters other than the account and the search phrase, as
/// ` AND …` clauses on `messages`.
fn history_filters(sql: &mut Sql, filter: &MessageFilter) {
    if let Some(s) = filter.status {
        sql.push(" AND messages.status = ").text(s.as_str());
    }
    if let Some(d) = filter.direction {
        sql.push(" AND messages.direction = ").text(d.as_str());
    }
    if let Some(to) = &filter.to {
        sql.push(" AND messages.to_number = ").text(to.as_str());
    }
    if let Some(tag) = &filter.tag {
        sql.push(" AND messages.id IN (SELECT message_id FROM message_tags WHERE tag = ")
            .text(tag.to_lowercase())
            .push(")");
    }
    if let Some(contact) = &filter.contact {
        sql.push(" AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = ").text(contact.as_str()).push(
            " AND c.account_id = messages.account_id
                 AND c.phone IN (messages.to_number, messages.from_addr))",
        );
    }
    if let Some(group) = &filter.group {
        sql.push(" AND EXISTS (SELECT 1 FROM group_members gm JOIN contacts c ON c.id = gm.contact_id WHERE gm.group_id = ")
            .text(group.as_str())
            .push(
                " AND c.account_id = messages.account_id
                 AND c.phone IN (messages.to_number, messages.from_addr))",
            );
    }
    if let Some(campaign) = &filter.campaign {
        sql.push(" AND messages.campaign_id = ").text(campaign.as_str());
    }
    if let Some(run) = &filter.run {
        sql.push(" AND messages.run_id = ").text(run.as_str());
    }
    if let Some(since) = filter.since {
        sql.push(" AND messages.created_at >= ").int(since);
    }
    if let Some(until) = filter.until {
        sql.push(" AND messages.created_at < ").int(until);
    }
    if let Some(cursor) = &filter.cursor {
        sql.push(" AND messages.id < ").text(cursor.as_str());
    }
}

fn message_from_row(r: &AnyRow) -> sqlx::Result<MessageRecord> {
    let decode = |e: crate::domain::UnknownStatus| sqlx::Error::Decode(Box::new(e));
    let direction: String = r.try_get("direction")?;
    let status: String = r.try_get("status")?;
    Ok(MessageRecord {
        id: r.try_get("id")?,
        direction: direction.parse().map_err(decode)?,
        status: status.parse().map_err(decode)?,
        to: r.try_get("to_number")?,
        from: r.try_get("from_addr")?,
        text: r.try_get("body")?,
        encoding: r.try_get("encoding")?,
        segments: r.try_get("segments")?,
        callback_url: r.try_get("callback_url")?,
        connector: r.try_get("connector")?,
        smsc_id: r.try_get("smsc_id")?,
        attempts: r.try_get("attempts")?,
        error: r.try_get("error")?,
        send_at: r.try_get("send_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        tags: Vec::new(),
    })
}

/// Encoding name and segment count of a text as stored with a message.
pub(super) fn encoding_and_segments(text: &str) -> (&'static str, i64) {
    let info = sms_text::analyze(text);
    (crate::domain::encoding_name(info.encoding), info.segments as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let p = RetryPolicy { max_attempts: 5, base_ms: 1_000, max_ms: 5_000, receipt_check_ms: 0 };
        assert_eq!([1, 2, 3, 4, 40].map(|a| p.delay_ms(a)), [1_000, 2_000, 4_000, 5_000, 5_000]);
    }
}
