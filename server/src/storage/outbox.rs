//! Outboxes: tables of rows that are `pending` until delivered or given up,
//! leased to one worker while it tries them, every attempt logged in a
//! table of its own, and re-sendable by hand. Webhook callbacks
//! (`webhooks`) and e-mails (`mail_outbox`) are outboxes; this file holds
//! the SQL they share: claiming due rows, holding one for an attempt,
//! listing rows with their attempts, settling a row after an attempt,
//! re-sending one. What a row carries, how it is queued, what its statuses
//! are called and when it is given up stay with each outbox.
//!
//! A claim is named (`claimed_by`: the node and an id new at each claim),
//! and only the claim holding a row attempts and settles it: should its
//! lease lapse and another claim take the row, the first one neither sends
//! (it holds the row before an attempt its lease may not cover) nor
//! records. A re-send leaves a row being tried where it is: that attempt
//! settles it if it delivers; if not, the row is due again at once.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row as _};

use super::{Dialect, Store};

/// A new claim's name: `node`, and an id of its own so that a later claim
/// of the same node is another claim.
pub(super) fn new_claim(node: &str) -> String {
    format!("{node}/{}", crate::domain::new_id())
}

/// A worker's hold on one claimed row: the claim, the lease it holds the
/// row until, and when the row was due as claimed (a re-send since makes
/// it due later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub claim: String,
    pub lease_until: i64,
    pub due: i64,
}

/// One outbox: its table, the table logging the attempts at its rows, and
/// how a listing reads both.
///
/// The table has the columns `id`, `account_id`, `message_id`, `status`
/// (`pending`, the outbox's word for delivered, or `failed`), `attempts`,
/// `next_attempt_at`, `lease_until`, `claimed_by`, `last_error`,
/// `retry_until`, `created_at` and `updated_at`; the log has `id` (in the order attempts
/// were made), `owner`, `at`, `outcome`, `error` and `duration_ms`.
pub(super) struct Outbox<D, A> {
    pub table: &'static str,
    /// The attempt log.
    pub log: &'static str,
    /// The log's column naming the row attempted.
    pub owner: &'static str,
    /// The log's column saying what became of an attempt.
    pub outcome: &'static str,
    /// What a listing selects, `id` among it; `$2` stands for the retry
    /// window (microseconds) of a row never re-sent.
    pub listed: &'static str,
    /// Reads a listed row, given its attempts.
    pub row: fn(&AnyRow, Vec<A>) -> sqlx::Result<D>,
    /// Reads an attempt from a log row `(owner, at, outcome, error,
    /// duration_ms)`, column 1 on.
    pub attempt: fn(&AnyRow) -> sqlx::Result<A>,
}

/// Which rows of an outbox to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter<'a> {
    /// Those of one message (outbound, or an inbound one forwarded or
    /// told about).
    pub message_id: Option<&'a str>,
    /// `pending`, `failed` or the outbox's word for delivered
    /// (`delivered`, `sent`).
    pub status: Option<&'a str>,
    /// One row.
    pub id: Option<&'a str>,
    /// Those older than this one (the previous page's last id).
    pub before: Option<&'a str>,
}

/// One attempt at a row, as logged.
pub(super) struct Attempt<'a, O> {
    pub at: i64,
    /// Written to the log's `outcome` column.
    pub outcome: O,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

impl<D, A> Outbox<D, A> {
    /// A query that leases up to `$3` due `pending` rows until `$1` to the
    /// claim `$4`, the time being `$2`, returning `columns` and then, as
    /// the last column, when each row was due.
    pub(super) fn claim_sql(&self, dialect: Dialect, columns: &str) -> String {
        format!(
            "WITH picked AS (SELECT id FROM {table}
                 WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY next_attempt_at LIMIT $3{})
             UPDATE {table} SET lease_until = $1, claimed_by = $4
             WHERE id IN (SELECT id FROM picked)
             RETURNING {columns}, next_attempt_at",
            dialect.skip_locked(),
            table = self.table,
        )
    }

    /// Makes sure `held` holds row `id` until `until` before an attempt
    /// that may last until then: a lease that ends sooner is extended (one
    /// write), if the claim still holds the row. False if it does not (its
    /// lease lapsed and another claim took the row, or the row was
    /// settled): then the attempt must not be made.
    pub(super) async fn hold(
        &self,
        store: &Store,
        id: &str,
        held: &mut Held,
        until: i64,
    ) -> sqlx::Result<bool> {
        if held.lease_until >= until {
            // Nobody claims a row under a live lease.
            return Ok(true);
        }
        let changed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET lease_until = $1 WHERE id = $2 AND claimed_by = $3 AND status = 'pending'",
            self.table
        )))
        .bind(until)
        .bind(id)
        .bind(&held.claim)
        .execute(&store.writer)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        held.lease_until = until;
        Ok(true)
    }

    /// Logs `attempt` at row `id` and settles the row, if `held`'s claim
    /// still holds it: `status`, next due at `next_attempt_at`, one attempt
    /// more, no longer leased. An attempt that did not deliver (`done`
    /// false) at a row re-sent since it was claimed leaves it `pending`
    /// and due when the re-send made it due (its new window kept). Returns
    /// false, recording nothing, if another claim took the row over.
    pub(super) async fn record_attempt<'a, O>(
        &self,
        store: &Store,
        id: &str,
        held: &Held,
        attempt: Attempt<'a, O>,
        (status, done): (&str, bool),
        next_attempt_at: i64,
    ) -> sqlx::Result<bool>
    where
        O: sqlx::Encode<'a, Any> + sqlx::Type<Any>,
    {
        // A re-send made the row due after it was claimed ($7).
        let set = if done {
            "status = $1, next_attempt_at = $2"
        } else {
            "status = CASE WHEN next_attempt_at > $7 THEN 'pending' ELSE $1 END,
             next_attempt_at = CASE WHEN next_attempt_at > $7 THEN next_attempt_at ELSE $2 END"
        };
        let mut tx = store.writer.begin().await?;
        // First, so the claim is settled before the attempt is logged: on
        // PostgreSQL the row stays locked to this transaction.
        let mut settle = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET {set}, attempts = attempts + 1, lease_until = NULL, last_error = $3,
                 updated_at = $4
             WHERE id = $5 AND claimed_by = $6 AND status = 'pending'",
            self.table
        )))
        .bind(status)
        .bind(next_attempt_at)
        .bind(attempt.error)
        .bind(attempt.at)
        .bind(id)
        .bind(&held.claim);
        if !done {
            settle = settle.bind(held.due);
        }
        let settled = settle.execute(&mut *tx).await?.rows_affected();
        if settled == 0 {
            return Ok(false);
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} ({}, at, {}, error, duration_ms) VALUES ($1, $2, $3, $4, $5)",
            self.log, self.owner, self.outcome
        )))
        .bind(id)
        .bind(attempt.at)
        .bind(attempt.outcome)
        .bind(attempt.error)
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rows of an account matching `filter`, newest first, each with every
    /// attempt. `window` is bound as `$2` of [`Outbox::listed`].
    pub(super) async fn list(
        &self,
        store: &Store,
        account_id: &str,
        filter: &DeliveryFilter<'_>,
        limit: usize,
        window: i64,
    ) -> sqlx::Result<Vec<D>> {
        let mut sql = format!("SELECT {} FROM {} WHERE account_id = $1", self.listed, self.table);
        let conditions = [
            ("message_id =", filter.message_id),
            ("status =", filter.status),
            ("id =", filter.id),
            ("id <", filter.before),
        ];
        let mut n = 3;
        for (condition, value) in conditions {
            if value.is_some() {
                n += 1;
                sql.push_str(&format!(" AND {condition} ${n}"));
            }
        }
        sql.push_str(" ORDER BY id DESC LIMIT $3");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(account_id).bind(window).bind(limit as i64);
        for value in conditions.iter().filter_map(|(_, v)| *v) {
            q = q.bind(value);
        }
        let rows = q.fetch_all(&store.reader).await?;
        let ids = rows.iter().map(|r| r.try_get("id")).collect::<sqlx::Result<Vec<String>>>()?;
        let mut logs = self.attempt_logs(store, &ids).await?;
        rows.iter().zip(ids).map(|(r, id)| (self.row)(r, logs.remove(&id).unwrap_or_default())).collect()
    }

    /// The attempt log of each of `ids`, oldest first, in one query.
    async fn attempt_logs(&self, store: &Store, ids: &[String]) -> sqlx::Result<HashMap<String, Vec<A>>> {
        let mut logs: HashMap<String, Vec<A>> = HashMap::new();
        if ids.is_empty() {
            return Ok(logs);
        }
        let sql = format!(
            "SELECT {owner}, at, {}, error, duration_ms FROM {} WHERE {owner} IN ({}) ORDER BY id",
            self.outcome,
            self.log,
            store.dialect.placeholders(1, ids.len()),
            owner = self.owner,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.as_str());
        }
        for r in q.fetch_all(&store.reader).await? {
            logs.entry(r.try_get(0)?).or_default().push((self.attempt)(&r)?);
        }
        Ok(logs)
    }

    /// Sends row `id` again, whatever became of it: due at `now`, retried
    /// until `retry_until`, its attempts counted afresh (the log keeps the
    /// earlier ones). A row being tried keeps its lease: it is not claimed
    /// again while that attempt runs, and is due again after it unless it
    /// delivers (`record_attempt`). Returns whether the account has it.
    pub(super) async fn resend(
        &self,
        store: &Store,
        account_id: &str,
        id: &str,
        now: i64,
        retry_until: i64,
    ) -> sqlx::Result<bool> {
        let changed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET status = 'pending', next_attempt_at = $1, retry_until = $2,
                 attempts = 0, updated_at = $1
             WHERE account_id = $3 AND id = $4",
            self.table
        )))
        .bind(now)
        .bind(retry_until)
        .bind(account_id)
        .bind(id)
        .execute(&store.writer)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }
}
