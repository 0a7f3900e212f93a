//! The e-mail outbox: e-mails that forward received messages or tell a
//! person about one, written in the transaction that stores the match
//! (`inbound`), then claimed, sent and settled by the `mail::outbox`
//! worker. A row is `pending` until it is `sent` or `failed` (refused by
//! the mail server, or still failing when its retry window closed). Every
//! attempt is logged (`mail_attempts`), and an e-mail can be sent again by
//! hand, like a webhook callback (the SQL they share is in `outbox`).

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::outbox::{Attempt, DeliveryFilter, Held, Outbox, new_claim};
use super::{Email, Store};

/// One e-mail to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub id: String,
    pub to: Email,
    pub subject: String,
    pub body: String,
}

/// A queued e-mail claimed for sending.
#[derive(Debug, Clone)]
pub struct MailJob {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub created_at: i64,
    /// Set when re-sent by hand: retried until then (else `created_at`
    /// plus the window).
    pub retry_until: Option<i64>,
    /// The claim holding it for this worker.
    pub held: Held,
}

/// An e-mail of the outbox as the API shows it.
#[derive(Debug, Clone)]
pub struct MailRecord {
    pub id: String,
    pub to: String,
    pub subject: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// An e-mail of the outbox with every attempt at it.
#[derive(Debug, Clone)]
pub struct MailDelivery {
    pub id: String,
    pub message_id: Option<String>,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts since it was queued or last re-sent.
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    /// When retries stop.
    pub retry_until: i64,
    pub log: Vec<MailAttempt>,
}

/// One attempt at an e-mail.
#[derive(Debug, Clone)]
pub struct MailAttempt {
    pub at: i64,
    /// `sent`, `retry` (worth another try) or `failed` (refused).
    pub result: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What became of one attempt at an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailResult {
    Sent,
    RetryAt(i64, String),
    Failed(String),
}

/// E-mails as an outbox: `mail_attempts` logs each attempt's result.
const OUTBOX: Outbox<MailDelivery, MailAttempt> = Outbox {
    table: "mail_outbox",
    log: "mail_attempts",
    owner: "email_id",
    outcome: "result",
    listed: "id, message_id, to_addr, subject, body, status, attempts, next_attempt_at, last_error,
             created_at, COALESCE(retry_until, created_at + $2)",
    row: |r, log| {
        Ok(MailDelivery {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            to: r.try_get(2)?,
            subject: r.try_get(3)?,
            body: r.try_get(4)?,
            status: r.try_get(5)?,
            attempts: r.try_get(6)?,
            next_attempt_at: r.try_get(7)?,
            last_error: r.try_get(8)?,
            created_at: r.try_get(9)?,
            retry_until: r.try_get(10)?,
            log,
        })
    },
    attempt: |r| {
        Ok(MailAttempt {
            at: r.try_get(1)?,
            result: r.try_get(2)?,
            error: r.try_get(3)?,
            duration_ms: r.try_get(4)?,
        })
    },
};

/// Queues `mail` (about the received message `message_id`), within the
/// caller's transaction; due at once.
pub(super) async fn queue_mail(
    tx: &mut AnyConnection,
    account_id: &str,
    message_id: &str,
    mail: &NewMail,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, account_id, message_id, to_addr, subject, body, status, next_attempt_at,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7)",
    )
    .bind(&mail.id)
    .bind(account_id)
    .bind(message_id)
    .bind(mail.to.as_str())
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Claims due e-mails for `node`, each leased until `lease_until`; only
    /// this claim sends and records them (`hold_mail`,
    /// `record_mail_attempt`).
    pub async fn claim_mail(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> sqlx::Result<Vec<MailJob>> {
        let sql =
            OUTBOX.claim_sql(self.dialect, "id, to_addr, subject, body, attempts, created_at, retry_until");
        let claim = new_claim(node);
        sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
            .bind(&claim)
            .fetch_all(&self.writer)
            .await?
            .iter()
            .map(|r| {
                Ok(MailJob {
                    id: r.try_get(0)?,
                    to: r.try_get(1)?,
                    subject: r.try_get(2)?,
                    body: r.try_get(3)?,
                    attempts: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                    retry_until: r.try_get(6)?,
                    held: Held { claim: claim.clone(), lease_until, due: r.try_get(7)? },
                })
            })
            .collect()
    }

    /// Makes sure this worker's claim holds `job` until `until`, as an
    /// SMTP conversation that may last until then starts (a write only if
    /// its lease ends sooner). False if the claim lapsed and another took
    /// the e-mail: then it must not be sent.
    pub async fn hold_mail(&self, job: &mut MailJob, until: i64) -> sqlx::Result<bool> {
        OUTBOX.hold(self, &job.id, &mut job.held, until).await
    }

    /// Records one attempt at a claimed e-mail (taking `duration_ms`) and
    /// what follows from it (an e-mail re-sent during an attempt that did
    /// not send it is due again at once). Returns false, recording
    /// nothing, if the claim lapsed and another took the e-mail over.
    pub async fn record_mail_attempt(
        &self,
        job: &MailJob,
        result: &MailResult,
        now: i64,
        duration_ms: i64,
    ) -> sqlx::Result<bool> {
        let (status, next, error, outcome) = match result {
            MailResult::Sent => (("sent", true), now, None, "sent"),
            MailResult::RetryAt(at, e) => (("pending", false), *at, Some(e.as_str()), "retry"),
            MailResult::Failed(e) => (("failed", false), now, Some(e.as_str()), "failed"),
        };
        let attempt = Attempt { at: now, outcome, error, duration_ms };
        OUTBOX.record_attempt(self, &job.id, &job.held, attempt, status, next).await
    }

    /// E-mails of an account matching `filter` (as for webhook
    /// deliveries), newest first, with every attempt. `window`
    /// (microseconds) is how long an e-mail never re-sent is retried.
    pub async fn list_mail_deliveries(
        &self,
        account_id: &str,
        filter: &DeliveryFilter<'_>,
        limit: usize,
        window: i64,
    ) -> sqlx::Result<Vec<MailDelivery>> {
        OUTBOX.list(self, account_id, filter, limit, window).await
    }

    /// Sends an e-mail again, whatever became of it: due now, retried
    /// until `retry_until`, its attempts counted afresh (the log keeps the
    /// earlier ones). One being sent is not sent twice at once: it stays
    /// with that worker, settled by that attempt if it goes, else due
    /// again at once. Returns whether the account has it.
    pub async fn resend_mail(
        &self,
        account_id: &str,
        id: &str,
        now: i64,
        retry_until: i64,
    ) -> sqlx::Result<bool> {
        OUTBOX.resend(self, account_id, id, now, retry_until).await
    }

    /// The e-mails about one received message, oldest first.
    pub async fn mails_of_message(&self, message_id: &str) -> sqlx::Result<Vec<MailRecord>> {
        sqlx::query(
            "SELECT id, to_addr, subject, status, attempts, next_attempt_at, last_error, updated_at
             FROM mail_outbox WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok(MailRecord {
                id: r.try_get(0)?,
                to: r.try_get(1)?,
                subject: r.try_get(2)?,
                status: r.try_get(3)?,
                attempts: r.try_get(4)?,
                next_attempt_at: r.try_get(5)?,
                last_error: r.try_get(6)?,
                updated_at: r.try_get(7)?,
            })
        })
        .collect()
    }
}
