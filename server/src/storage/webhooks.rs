//! Pending callbacks (webhook deliveries) and the log of every attempt.
//! The rows are written together with the status change they report (see
//! `messages`); this file claims, records, lists and re-sends them, with
//! the SQL every outbox shares (`outbox`).

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Row as _};

use super::Store;
use super::outbox::{Attempt, DeliveryFilter, Held, Outbox, new_claim};
use super::sql::Sql;

/// A callback claimed for sending, with the secret to sign it.
#[derive(Debug, Clone)]
pub struct WebhookJob {
    pub id: String,
    pub url: String,
    pub payload: String,
    pub attempts: i64,
    pub secret: String,
    /// No attempt after this time: the callback is given up.
    pub retry_until: i64,
    /// The claim holding it for this worker.
    pub held: Held,
}

#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub at: i64,
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: String,
    pub message_id: Option<String>,
    pub event: String,
    pub url: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    /// When retries stop (created, or last re-sent, plus the window).
    pub retry_until: i64,
    pub log: Vec<AttemptRecord>,
}

/// Callbacks as an outbox: `webhook_attempts` logs each attempt's HTTP
/// status.
const OUTBOX: Outbox<DeliveryRecord, AttemptRecord> = Outbox {
    table: "webhook_deliveries",
    log: "webhook_attempts",
    owner: "delivery_id",
    outcome: "response_status",
    listed: "id, message_id, event, url, payload, status, attempts, next_attempt_at, last_error,
             created_at, COALESCE(retry_until, created_at + $2) AS retry_until",
    row: |r, log| {
        Ok(DeliveryRecord {
            id: r.try_get("id")?,
            message_id: r.try_get("message_id")?,
            event: r.try_get("event")?,
            url: r.try_get("url")?,
            payload: r.try_get("payload")?,
            status: r.try_get("status")?,
            attempts: r.try_get("attempts")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
            last_error: r.try_get("last_error")?,
            created_at: r.try_get("created_at")?,
            retry_until: r.try_get("retry_until")?,
            log,
        })
    },
    attempt: |r| {
        Ok(AttemptRecord {
            at: r.try_get(1)?,
            response_status: r.try_get(2)?,
            error: r.try_get(3)?,
            duration_ms: r.try_get(4)?,
        })
    },
};

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    RetryAt(i64),
    GaveUp,
}

impl Store {
    /// Claims due callbacks for `node`, each leased until `lease_until` so
    /// that no other worker sends it meanwhile; only this claim sends and
    /// records them (`hold_webhook`, `record_webhook_attempt`).
    /// `window` (microseconds) is how long a callback that was never
    /// re-sent is retried after its creation.
    pub async fn claim_webhooks(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
        window: i64,
    ) -> sqlx::Result<Vec<WebhookJob>> {
        let sql = OUTBOX.claim_sql(
            self.dialect,
            "id, account_id, url, payload, attempts, COALESCE(retry_until, created_at + $5)",
        );
        let claim = new_claim(node);
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
            .bind(&claim)
            .bind(window)
            .fetch_all(&self.writer)
            .await?;
        let mut secrets: HashMap<String, String> = HashMap::new();
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            let account_id: String = r.try_get("account_id")?;
            if !secrets.contains_key(&account_id) {
                let (_, secret) = self.account(&account_id).await?.unwrap_or_default();
                secrets.insert(account_id.clone(), secret);
            }
            jobs.push(WebhookJob {
                id: r.try_get("id")?,
                url: r.try_get("url")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                secret: secrets[&account_id].clone(),
                retry_until: r.try_get(5)?,
                held: Held { claim: claim.clone(), lease_until, due: r.try_get(6)? },
            });
        }
        Ok(jobs)
    }

    /// Leaves claimed callbacks unattempted until `until` (their endpoint
    /// is busy), in one statement per chunk; they count no attempt.
    pub async fn defer_webhooks(&self, ids: &[String], until: i64) -> sqlx::Result<()> {
        for chunk in ids.chunks(super::IN_CHUNK) {
            let mut sql = Sql::new(self.dialect);
            sql.push("UPDATE webhook_deliveries SET lease_until = ")
                .int(until)
                .push(" WHERE status = 'pending' AND id IN (")
                .list(chunk)
                .push(")");
            sql.query().execute(&self.writer).await?;
        }
        Ok(())
    }

    /// Makes sure this worker's claim holds `job` until `until`, as an
    /// attempt that may last until then starts (a write only if its lease
    /// ends sooner). False if the claim lapsed and another took the
    /// callback: then it must not be sent.
    pub async fn hold_webhook(&self, job: &mut WebhookJob, until: i64) -> sqlx::Result<bool> {
        OUTBOX.hold(self, &job.id, &mut job.held, until).await
    }

    /// Logs one attempt at a claimed callback and settles the callback by
    /// `result` (a callback re-sent during a failed attempt is due again at
    /// once). Returns false, recording nothing, if the claim lapsed and
    /// another took the callback over.
    pub async fn record_webhook_attempt(
        &self,
        job: &WebhookJob,
        attempt: &AttemptRecord,
        result: AttemptResult,
    ) -> sqlx::Result<bool> {
        let (status, next) = match result {
            AttemptResult::Delivered => (("delivered", true), attempt.at),
            AttemptResult::RetryAt(at) => (("pending", false), at),
            AttemptResult::GaveUp => (("failed", false), attempt.at),
        };
        let logged = Attempt {
            at: attempt.at,
            outcome: attempt.response_status,
            error: attempt.error.as_deref(),
            duration_ms: attempt.duration_ms,
        };
        OUTBOX.record_attempt(self, &job.id, &job.held, logged, status, next).await
    }

    /// Callbacks of an account matching `filter`, newest first, with every
    /// attempt. `window` as for [`Store::claim_webhooks`].
    pub async fn list_webhook_deliveries(
        &self,
        account_id: &str,
        filter: &DeliveryFilter<'_>,
        limit: usize,
        window: i64,
    ) -> sqlx::Result<Vec<DeliveryRecord>> {
        OUTBOX.list(self, account_id, filter, limit, window).await
    }

    /// Sends a callback again, whatever became of it: due now, retried
    /// until `retry_until`, its attempts counted afresh (the log keeps the
    /// earlier ones). One being tried (or waiting in a worker's line) is
    /// not sent twice at once: it stays with that worker, settled by that
    /// attempt if it is delivered, else due again at once. Returns whether
    /// the account has it.
    pub async fn resend_webhook(
        &self,
        account_id: &str,
        id: &str,
        now: i64,
        retry_until: i64,
    ) -> sqlx::Result<bool> {
        OUTBOX.resend(self, account_id, id, now, retry_until).await
    }
}

/// Queues one callback in the caller's transaction, due at once.
pub(super) async fn queue_webhook(
    conn: &mut sqlx::AnyConnection,
    account_id: &str,
    message_id: Option<&str>,
    event: &str,
    url: &str,
    payload: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, account_id, message_id, event, url, payload, status,
             next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7)",
    )
    .bind(crate::domain::new_id())
    .bind(account_id)
    .bind(message_id)
    .bind(event)
    .bind(url)
    .bind(payload)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
