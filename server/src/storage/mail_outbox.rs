//! The e-mail outbox: e-mails that forward received messages or tell a
//! person about one, written in the transaction that stores the match
//! (`inbound`), then claimed, sent and settled by the `mail::outbox`
//! worker. A row is `pending` until it is `sent` or `failed` (refused by
//! the mail server, or still failing when its retry window closed).

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

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

/// What became of one attempt at an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailResult {
    Sent,
    RetryAt(i64, String),
    Failed(String),
}

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
    /// Claims due e-mails, each leased until `lease_until`.
    pub async fn claim_mail(&self, now: i64, lease_until: i64, limit: usize) -> sqlx::Result<Vec<MailJob>> {
        let sql = self.claim_pending_sql("mail_outbox", "id, to_addr, subject, body, attempts, created_at");
        sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
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
                })
            })
            .collect()
    }

    /// Records one attempt at an e-mail and what follows from it.
    pub async fn record_mail_attempt(&self, id: &str, result: &MailResult, now: i64) -> sqlx::Result<()> {
        let (status, next, error) = match result {
            MailResult::Sent => ("sent", now, None),
            MailResult::RetryAt(at, e) => ("pending", *at, Some(e.as_str())),
            MailResult::Failed(e) => ("failed", now, Some(e.as_str())),
        };
        sqlx::query(
            "UPDATE mail_outbox SET status = $1, attempts = attempts + 1, next_attempt_at = $2, lease_until = NULL,
                 last_error = $3, updated_at = $4
             WHERE id = $5",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
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
