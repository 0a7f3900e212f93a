//! Notifications: event types and their templates, subscribers'
//! preferences (with a log of every change), reported balances, received
//! events and the deliveries each made. What the rows mean — which channel,
//! which window, which event Kurier derives — is `notifications/`'s job.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::Store;
use super::messages::{NewMessage, insert_messages};
use crate::domain::new_id;

/// What became of an SMS delivery handed to the message queue.
#[derive(Debug)]
pub enum SmsHandOver {
    /// Stored as a message: the dispatcher's now.
    Queued,
    /// Not sent: the number opted out of the account's messages.
    OptedOut,
    /// Not stored: the account cannot pay for it.
    Refused(super::ChargeRefusal),
    /// Nothing done: another node took the delivery over when this node's
    /// lease lapsed (it is that node's to send).
    NotHeld,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    pub low_balance_threshold: Option<i64>,
    pub runout_days: i64,
    pub default_language: String,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self { low_balance_threshold: None, runout_days: 3, default_language: "en".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationTemplate {
    pub channel: String,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationType {
    pub id: String,
    pub key: String,
    pub name: String,
    pub urgent: bool,
    pub built_in: bool,
    pub templates: Vec<NotificationTemplate>,
}

/// One preference row: for a contact (or `*`, the account default) and an
/// event type (or `*`, every type).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreferenceRow {
    pub contact_id: String,
    pub type_key: String,
    pub channels: Vec<String>,
    pub extra_phones: Vec<String>,
    pub extra_emails: Vec<String>,
    /// Allowed window, minutes after local midnight.
    pub window: Option<(i64, i64)>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRecord {
    pub contact_id: String,
    pub account_id: String,
    pub balance: i64,
    pub daily_charge: Option<i64>,
    pub currency: Option<String>,
    pub reported_at: i64,
    pub low_alerted: bool,
    pub runout_alerted: bool,
}

/// A delivery to store with its notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub channel: String,
    pub address: String,
    pub language: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub attachments: String,
    pub due_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDelivery {
    pub id: String,
    pub notification_id: String,
    pub account_id: String,
    pub channel: String,
    pub address: String,
    pub language: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub attachments: String,
    pub due_at: i64,
    pub message_id: Option<String>,
    /// The SMS's own status, once it is a message.
    pub message_status: Option<String>,
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: String,
    pub type_key: String,
    pub contact_id: String,
    pub data: String,
    pub derived: bool,
    pub created_at: i64,
    pub deliveries: Vec<NotificationDelivery>,
}

/// One line of the notifications report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub day: String,
    pub type_key: String,
    pub channel: String,
    pub status: String,
    pub count: i64,
}

const DELIVERY_COLUMNS: &str = "d.id, d.notification_id, d.account_id, d.channel, d.address, d.language, d.status, \
    d.reason, d.subject, d.body, d.html, d.attachments, d.due_at, d.message_id, d.attempts, m.status AS message_status";

fn delivery_from_row(r: &AnyRow) -> sqlx::Result<NotificationDelivery> {
    Ok(NotificationDelivery {
        id: r.try_get("id")?,
        notification_id: r.try_get("notification_id")?,
        account_id: r.try_get("account_id")?,
        channel: r.try_get("channel")?,
        address: r.try_get("address")?,
        language: r.try_get("language")?,
        status: r.try_get("status")?,
        reason: r.try_get("reason")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        html: r.try_get("html")?,
        attachments: r.try_get("attachments")?,
        due_at: r.try_get("due_at")?,
        message_id: r.try_get("message_id")?,
        message_status: r.try_get("message_status")?,
        attempts: r.try_get("attempts")?,
    })
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub async fn notification_settings(&self, account_id: &str) -> sqlx::Result<NotificationSettings> {
        let row = sqlx::query(
            "SELECT low_balance_threshold, runout_days, default_language FROM notification_settings
             WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(match row {
            Some(r) => NotificationSettings {
                low_balance_threshold: r.try_get(0)?,
                runout_days: r.try_get(1)?,
                default_language: r.try_get(2)?,
            },
            None => NotificationSettings::default(),
        })
    }

    pub async fn put_notification_settings(
        &self,
        account_id: &str,
        s: &NotificationSettings,
        now: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO notification_settings (account_id, low_balance_threshold, runout_days, default_language,
                 updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id) DO UPDATE SET low_balance_threshold = excluded.low_balance_threshold,
                 runout_days = excluded.runout_days, default_language = excluded.default_language,
                 updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(s.low_balance_threshold)
        .bind(s.runout_days)
        .bind(&s.default_language)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Creates a type with its templates unless the key exists. Returns
    /// false when it existed (nothing is changed then).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_notification_type(
        &self,
        account_id: &str,
        key: &str,
        name: &str,
        urgent: bool,
        built_in: bool,
        templates: &[NotificationTemplate],
        now: i64,
    ) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        let id = new_id();
        let r = sqlx::query(
            "INSERT INTO notification_types (id, account_id, type_key, name, urgent, built_in, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, type_key) DO NOTHING",
        )
        .bind(&id)
        .bind(account_id)
        .bind(key)
        .bind(name)
        .bind(i64::from(urgent))
        .bind(i64::from(built_in))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        for t in templates {
            put_template(&mut tx, &id, t, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn update_notification_type(
        &self,
        account_id: &str,
        key: &str,
        name: Option<&str>,
        urgent: Option<bool>,
    ) -> sqlx::Result<bool> {
        let r = sqlx::query(
            "UPDATE notification_types SET name = COALESCE($1, name), urgent = COALESCE($2, urgent)
             WHERE account_id = $3 AND type_key = $4",
        )
        .bind(name)
        .bind(urgent.map(i64::from))
        .bind(account_id)
        .bind(key)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn list_notification_types(&self, account_id: &str) -> sqlx::Result<Vec<NotificationType>> {
        let types = sqlx::query(
            "SELECT id, type_key, name, urgent, built_in FROM notification_types WHERE account_id = $1
             ORDER BY built_in DESC, type_key",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        let templates = sqlx::query(
            "SELECT t.type_id, t.channel, t.language, t.subject, t.body, t.html FROM notification_templates t
             JOIN notification_types y ON y.id = t.type_id WHERE y.account_id = $1 ORDER BY t.channel, t.language",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        types
            .iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                let mut list = Vec::new();
                for t in &templates {
                    if t.try_get::<String, _>(0)? == id {
                        list.push(NotificationTemplate {
                            channel: t.try_get(1)?,
                            language: t.try_get(2)?,
                            subject: t.try_get(3)?,
                            body: t.try_get(4)?,
                            html: t.try_get(5)?,
                        });
                    }
                }
                Ok(NotificationType {
                    id,
                    key: r.try_get(1)?,
                    name: r.try_get(2)?,
                    urgent: r.try_get::<i64, _>(3)? != 0,
                    built_in: r.try_get::<i64, _>(4)? != 0,
                    templates: list,
                })
            })
            .collect()
    }

    pub async fn notification_type(
        &self,
        account_id: &str,
        key: &str,
    ) -> sqlx::Result<Option<NotificationType>> {
        Ok(self.list_notification_types(account_id).await?.into_iter().find(|t| t.key == key))
    }

    pub async fn put_notification_template(
        &self,
        type_id: &str,
        template: &NotificationTemplate,
        now: i64,
    ) -> sqlx::Result<()> {
        let mut conn = self.writer.acquire().await?;
        put_template(&mut conn, type_id, template, now).await
    }

    pub async fn delete_notification_template(
        &self,
        type_id: &str,
        channel: &str,
        language: &str,
    ) -> sqlx::Result<bool> {
        let r = sqlx::query(
            "DELETE FROM notification_templates WHERE type_id = $1 AND channel = $2 AND language = $3",
        )
        .bind(type_id)
        .bind(channel)
        .bind(language)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The contact's own preference rows and the account's defaults (`*`).
    pub async fn notification_preferences(
        &self,
        account_id: &str,
        contact_id: &str,
    ) -> sqlx::Result<Vec<PreferenceRow>> {
        sqlx::query(
            "SELECT contact_id, type_key, channels, extra_phones, extra_emails, window_start, window_end, time_zone
             FROM notification_preferences WHERE account_id = $1 AND contact_id IN ($2, '*')
             ORDER BY contact_id, type_key",
        )
        .bind(account_id)
        .bind(contact_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            let start: Option<i64> = r.try_get(5)?;
            let end: Option<i64> = r.try_get(6)?;
            Ok(PreferenceRow {
                contact_id: r.try_get(0)?,
                type_key: r.try_get(1)?,
                channels: json_list(&r.try_get::<String, _>(2)?),
                extra_phones: json_list(&r.try_get::<String, _>(3)?),
                extra_emails: json_list(&r.try_get::<String, _>(4)?),
                window: start.zip(end),
                time_zone: r.try_get(7)?,
            })
        })
        .collect()
    }

    /// Replaces every preference row of `contact_id` (or `*`) and records
    /// the change: who made it (`source`, `remote_addr`), before and after.
    pub async fn replace_notification_preferences(
        &self,
        account_id: &str,
        contact_id: &str,
        rows: &[PreferenceRow],
        source: &str,
        remote_addr: Option<&str>,
        now: i64,
    ) -> sqlx::Result<()> {
        let before: Vec<PreferenceRow> = self
            .notification_preferences(account_id, contact_id)
            .await?
            .into_iter()
            .filter(|r| r.contact_id == contact_id)
            .collect();
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM notification_preferences WHERE account_id = $1 AND contact_id = $2")
            .bind(account_id)
            .bind(contact_id)
            .execute(&mut *tx)
            .await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO notification_preferences (account_id, contact_id, type_key, channels, extra_phones,
                     extra_emails, window_start, window_end, time_zone, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(account_id)
            .bind(contact_id)
            .bind(&r.type_key)
            .bind(to_json(&r.channels))
            .bind(to_json(&r.extra_phones))
            .bind(to_json(&r.extra_emails))
            .bind(r.window.map(|w| w.0))
            .bind(r.window.map(|w| w.1))
            .bind(r.time_zone.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO notification_preference_changes (id, account_id, contact_id, source, remote_addr,
                 before_json, after_json, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(account_id)
        .bind(contact_id)
        .bind(source)
        .bind(remote_addr)
        .bind(serde_json::to_string(&before).ok())
        .bind(serde_json::to_string(rows).unwrap_or_default())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Every recorded change of a contact's preferences, oldest first:
    /// (source, remote address, after, time).
    pub async fn notification_preference_changes(
        &self,
        account_id: &str,
        contact_id: &str,
    ) -> sqlx::Result<Vec<(String, Option<String>, String, i64)>> {
        sqlx::query(
            "SELECT source, remote_addr, after_json, at FROM notification_preference_changes
             WHERE account_id = $1 AND contact_id = $2 ORDER BY at, id",
        )
        .bind(account_id)
        .bind(contact_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
    }

    pub async fn subscriber_balance(&self, contact_id: &str) -> sqlx::Result<Option<BalanceRecord>> {
        sqlx::query(
            "SELECT contact_id, account_id, balance, daily_charge, currency, reported_at, low_alerted,
                 runout_alerted FROM subscriber_balances WHERE contact_id = $1",
        )
        .bind(contact_id)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| balance_from_row(&r))
        .transpose()
    }

    /// Balances with a daily charge, for the daily run-out forecast.
    pub async fn charged_balances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<BalanceRecord>> {
        sqlx::query(
            "SELECT contact_id, account_id, balance, daily_charge, currency, reported_at, low_alerted,
                 runout_alerted FROM subscriber_balances
             WHERE daily_charge > 0 AND contact_id > $1 ORDER BY contact_id LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(balance_from_row)
        .collect()
    }

    pub async fn put_subscriber_balance(&self, b: &BalanceRecord) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO subscriber_balances (contact_id, account_id, balance, daily_charge, currency, reported_at,
                 low_alerted, runout_alerted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (contact_id) DO UPDATE SET balance = excluded.balance,
                 daily_charge = excluded.daily_charge, currency = excluded.currency,
                 reported_at = excluded.reported_at, low_alerted = excluded.low_alerted,
                 runout_alerted = excluded.runout_alerted",
        )
        .bind(&b.contact_id)
        .bind(&b.account_id)
        .bind(b.balance)
        .bind(b.daily_charge)
        .bind(b.currency.as_deref())
        .bind(b.reported_at)
        .bind(i64::from(b.low_alerted))
        .bind(i64::from(b.runout_alerted))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The notification stored earlier under this idempotency key.
    pub async fn notification_by_key(
        &self,
        account_id: &str,
        key: &str,
    ) -> sqlx::Result<Option<NotificationRecord>> {
        let id: Option<String> =
            sqlx::query("SELECT id FROM notifications WHERE account_id = $1 AND idem_key = $2")
                .bind(account_id)
                .bind(key)
                .fetch_optional(&self.reader)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        match id {
            Some(id) => self.get_notification(account_id, &id).await,
            None => Ok(None),
        }
    }

    /// Stores an event with its deliveries in one transaction. `None` when
    /// its idempotency key was used meanwhile (by a concurrent request).
    #[allow(clippy::too_many_arguments)]
    pub async fn store_notification(
        &self,
        account_id: &str,
        type_key: &str,
        contact_id: &str,
        idem_key: Option<&str>,
        data: &serde_json::Value,
        derived: bool,
        deliveries: &[NewDelivery],
        now: i64,
    ) -> sqlx::Result<Option<String>> {
        let id = new_id();
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO notifications (id, account_id, type_key, contact_id, idem_key, data, derived, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(account_id)
        .bind(type_key)
        .bind(contact_id)
        .bind(idem_key)
        .bind(data.to_string())
        .bind(i64::from(derived))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        for d in deliveries {
            sqlx::query(
                "INSERT INTO notification_deliveries (id, notification_id, account_id, channel, address, language,
                     status, reason, subject, body, html, attachments, due_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
            )
            .bind(new_id())
            .bind(&id)
            .bind(account_id)
            .bind(&d.channel)
            .bind(&d.address)
            .bind(d.language.as_deref())
            .bind(&d.status)
            .bind(d.reason.as_deref())
            .bind(d.subject.as_deref())
            .bind(&d.body)
            .bind(d.html.as_deref())
            .bind(&d.attachments)
            .bind(d.due_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    pub async fn get_notification(
        &self,
        account_id: &str,
        id: &str,
    ) -> sqlx::Result<Option<NotificationRecord>> {
        let Some(r) = sqlx::query(
            "SELECT id, type_key, contact_id, data, derived, created_at FROM notifications
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        else {
            return Ok(None);
        };
        let deliveries = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries d LEFT JOIN messages m ON m.id = d.message_id
             WHERE d.notification_id = $1 ORDER BY d.channel, d.address"
        )))
        .bind(id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(delivery_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(Some(NotificationRecord {
            id: r.try_get(0)?,
            type_key: r.try_get(1)?,
            contact_id: r.try_get(2)?,
            data: r.try_get(3)?,
            derived: r.try_get::<i64, _>(4)? != 0,
            created_at: r.try_get(5)?,
            deliveries,
        }))
    }

    /// The account's notifications, newest first, after `cursor`; optionally
    /// of one contact.
    pub async fn list_notifications(
        &self,
        account_id: &str,
        contact_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<NotificationRecord>> {
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM notifications WHERE account_id = $1 AND ($2 = '' OR contact_id = $2)
             AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(account_id)
        .bind(contact_id.unwrap_or(""))
        .bind(cursor.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(n) = self.get_notification(account_id, &id).await? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Claims deliveries due by `now` (waiting for their window or queued)
    /// whose lease is free, for `node` until `lease_until`. Only `node`
    /// completes them (`hold_delivery`, `deliver_as_message`,
    /// `finish_delivery`), unless its lease lapses and another node claims
    /// them.
    pub async fn claim_due_deliveries(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> sqlx::Result<Vec<NotificationDelivery>> {
        let sql = format!(
            "WITH picked AS (SELECT id FROM notification_deliveries
                 WHERE status IN ('waiting_window', 'queued') AND due_at <= $1
                 AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at LIMIT $2{})
             UPDATE notification_deliveries SET status = 'queued', claimed_by = $5, lease_until = $4,
                 updated_at = $3
             WHERE id IN (SELECT id FROM picked) RETURNING id",
            self.dialect.skip_locked()
        );
        // Most polls find nothing: look with a read before taking the writer.
        let any = sqlx::query(
            "SELECT 1 FROM notification_deliveries WHERE status IN ('waiting_window', 'queued') AND due_at <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let real_now = super::now_micros();
        let ids: Vec<String> = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(limit as i64)
            .bind(real_now)
            .bind(lease_until)
            .bind(node)
            .fetch_all(&self.writer)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries d LEFT JOIN messages m ON m.id = d.message_id
                 WHERE d.id = $1"
            )))
            .bind(&id)
            .fetch_one(&self.reader)
            .await?;
            out.push(delivery_from_row(&row)?);
        }
        Ok(out)
    }

    /// Keeps a delivery `node` claimed for `node` until `lease_until`, as
    /// it starts sending it; false if another node took it over meanwhile
    /// (or it was settled), and then `node` must not send it.
    pub async fn hold_delivery(&self, node: &str, delivery_id: &str, lease_until: i64) -> sqlx::Result<bool> {
        let held = sqlx::query(
            "UPDATE notification_deliveries SET lease_until = $1
             WHERE id = $2 AND claimed_by = $3 AND status = 'queued'",
        )
        .bind(lease_until)
        .bind(delivery_id)
        .bind(node)
        .execute(&self.writer)
        .await?;
        Ok(held.rows_affected() == 1)
    }

    /// Hands an SMS delivery `node` claimed to the message queue: the
    /// message and the delivery's new state in one transaction. A number
    /// that opted out since the event came gets nothing (the delivery is
    /// `suppressed`); a refusal (balance, price) stores nothing; a delivery
    /// another node took over stores nothing either (`NotHeld`).
    pub async fn deliver_as_message(
        &self,
        node: &str,
        delivery_id: &str,
        message: &NewMessage,
        now: i64,
    ) -> sqlx::Result<SmsHandOver> {
        let mut tx = self.writer.begin().await?;
        // Written first, so the row stays locked (PostgreSQL) until the
        // message is stored: a claim by another node skips it meanwhile.
        let held = sqlx::query(
            "UPDATE notification_deliveries SET updated_at = $1
             WHERE id = $2 AND claimed_by = $3 AND status = 'queued' RETURNING account_id",
        )
        .bind(now)
        .bind(delivery_id)
        .bind(node)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(held) = held else { return Ok(SmsHandOver::NotHeld) };
        let account: String = held.try_get(0)?;
        let to = message.to.as_str();
        if !message.transactional
            && super::inbound::opted_out_in(&mut tx, &account, &[to]).await?.contains(to)
        {
            sqlx::query(
                "UPDATE notification_deliveries SET status = 'suppressed', reason = $1, attempts = attempts + 1,
                     lease_until = NULL, updated_at = $2 WHERE id = $3",
            )
            .bind(super::OPTED_OUT_REASON)
            .bind(now)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(SmsHandOver::OptedOut);
        }
        if let Err(refusal) = insert_messages(&mut tx, &[(account.as_str(), message, now)]).await? {
            return Ok(SmsHandOver::Refused(refusal));
        }
        sqlx::query(
            "UPDATE notification_deliveries SET status = 'sent', message_id = $1, attempts = attempts + 1,
                 lease_until = NULL, updated_at = $2 WHERE id = $3",
        )
        .bind(&message.id)
        .bind(now)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SmsHandOver::Queued)
    }

    /// Records what became of a delivery `node` claimed: `sent`,
    /// `failed`, `bounced`, or back to `queued` for another try at
    /// `retry_at`. Records nothing, and says so (false), if another node
    /// took the delivery over.
    pub async fn finish_delivery(
        &self,
        node: &str,
        delivery_id: &str,
        status: &str,
        reason: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE notification_deliveries SET status = $1, reason = $2, attempts = attempts + 1,
                 due_at = COALESCE($3, due_at), lease_until = NULL, updated_at = $4
             WHERE id = $5 AND claimed_by = $6 AND status = 'queued'",
        )
        .bind(status)
        .bind(reason)
        .bind(retry_at)
        .bind(now)
        .bind(delivery_id)
        .bind(node)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deliveries by day, event type, channel and status. An SMS counts with
    /// its message's state (`delivered`, `undelivered`, …) once it has one.
    pub async fn notification_report(
        &self,
        account_id: &str,
        since: i64,
        until: i64,
    ) -> sqlx::Result<Vec<ReportRow>> {
        let rows = sqlx::query(
            "SELECT n.created_at, n.type_key, d.channel,
                 CASE WHEN d.status = 'sent' AND m.status IS NOT NULL THEN m.status ELSE d.status END
             FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id
             LEFT JOIN messages m ON m.id = d.message_id
             WHERE d.account_id = $1 AND n.created_at >= $2 AND n.created_at < $3",
        )
        .bind(account_id)
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await?;
        let mut counts: std::collections::BTreeMap<(String, String, String, String), i64> =
            Default::default();
        for r in rows {
            let at: i64 = r.try_get(0)?;
            let day = super::format_micros(at)[..10].to_owned();
            *counts.entry((day, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((day, type_key, channel, status), count)| ReportRow {
                day,
                type_key,
                channel,
                status,
                count,
            })
            .collect())
    }
}

fn balance_from_row(r: &AnyRow) -> sqlx::Result<BalanceRecord> {
    Ok(BalanceRecord {
        contact_id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        balance: r.try_get(2)?,
        daily_charge: r.try_get(3)?,
        currency: r.try_get(4)?,
        reported_at: r.try_get(5)?,
        low_alerted: r.try_get::<i64, _>(6)? != 0,
        runout_alerted: r.try_get::<i64, _>(7)? != 0,
    })
}

async fn put_template(
    conn: &mut AnyConnection,
    type_id: &str,
    t: &NotificationTemplate,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO notification_templates (type_id, channel, language, subject, body, html, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (type_id, channel, language) DO UPDATE SET subject = excluded.subject,
             body = excluded.body, html = excluded.html, updated_at = excluded.updated_at",
    )
    .bind(type_id)
    .bind(&t.channel)
    .bind(&t.language)
    .bind(t.subject.as_deref())
    .bind(&t.body)
    .bind(t.html.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
