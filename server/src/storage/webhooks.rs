//! Pending callbacks (webhook deliveries) and the log of every attempt.
//! The rows are written together with the status change they report (see
//! `messages`); this file claims, records and lists them.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Row as _};

use super::Store;

/// A callback claimed for sending, with the secret to sign it.
#[derive(Debug, Clone)]
pub struct WebhookJob {
    pub id: String,
    pub url: String,
    pub payload: String,
    pub attempts: i64,
    pub secret: String,
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
    pub log: Vec<AttemptRecord>,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    RetryAt(i64),
    GaveUp,
}

impl Store {
    /// Claims due callbacks, each leased until `lease_until` so that no other
    /// worker sends it meanwhile.
    pub async fn claim_webhooks(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> sqlx::Result<Vec<WebhookJob>> {
        let sql = format!(
            "WITH picked AS (SELECT id FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY next_attempt_at LIMIT $3{})
             UPDATE webhook_deliveries SET lease_until = $1
             WHERE id IN (SELECT id FROM picked)
             RETURNING id, account_id, url, payload, attempts",
            self.dialect.skip_locked()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
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
            });
        }
        Ok(jobs)
    }

    pub async fn record_webhook_attempt(
        &self,
        id: &str,
        attempt: &AttemptRecord,
        result: AttemptResult,
    ) -> sqlx::Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, at, response_status, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(attempt.at)
        .bind(attempt.response_status)
        .bind(attempt.error.as_deref())
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await?;
        let (status, next) = match result {
            AttemptResult::Delivered => ("delivered", attempt.at),
            AttemptResult::RetryAt(at) => ("pending", at),
            AttemptResult::GaveUp => ("failed", attempt.at),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,
                 lease_until = NULL, last_error = $3, updated_at = $4
             WHERE id = $5",
        )
        .bind(status)
        .bind(next)
        .bind(attempt.error.as_deref())
        .bind(attempt.at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Callbacks of an account (of one message, if given), newest first, with
    /// every attempt.
    pub async fn list_webhook_deliveries(
        &self,
        account_id: &str,
        message_id: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<DeliveryRecord>> {
        let mut sql = String::from(
            "SELECT id, message_id, event, url, payload, status, attempts, next_attempt_at, last_error, created_at
             FROM webhook_deliveries WHERE account_id = $1",
        );
        if message_id.is_some() {
            sql.push_str(" AND message_id = $3");
        }
        sql.push_str(" ORDER BY id DESC LIMIT $2");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(account_id).bind(limit as i64);
        if let Some(m) = message_id {
            q = q.bind(m);
        }
        let rows = q.fetch_all(&self.reader).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(DeliveryRecord {
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
                log: Vec::new(),
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT delivery_id, at, response_status, error, duration_ms FROM webhook_attempts
             WHERE delivery_id IN ({}) ORDER BY id",
            self.dialect.placeholders(1, out.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for d in &out {
            q = q.bind(&d.id);
        }
        let mut logs: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
        for r in q.fetch_all(&self.reader).await? {
            logs.entry(r.try_get(0)?).or_default().push(AttemptRecord {
                at: r.try_get(1)?,
                response_status: r.try_get(2)?,
                error: r.try_get(3)?,
                duration_ms: r.try_get(4)?,
            });
        }
        for d in &mut out {
            d.log = logs.remove(&d.id).unwrap_or_default();
        }
        Ok(out)
    }
}
