//! Message templates and the sender ids an account may use. Template
//! sources are stored as written; checking them is `campaigns::template`'s
//! job, before they get here. Names are unique per account without regard
//! to case.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use super::Store;
use super::contact_writes::is_unique_violation;
use crate::domain::{SenderId, new_id};

/// Longest template name, in characters.
pub const MAX_TEMPLATE_NAME_LEN: usize = 100;

/// A template name as stored, trimmed: one line of 1 to
/// [`MAX_TEMPLATE_NAME_LEN`] characters without control characters. The
/// API and `kurier template add` both check names here; the error reads
/// after the field (`the name may not be empty`).
pub fn template_name(raw: &str) -> Result<String, String> {
    super::clean_text(raw, MAX_TEMPLATE_NAME_LEN, false)
        .map_err(|e| format!("the name {e}"))?
        .ok_or_else(|| "the name may not be empty".to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub id: String,
    pub name: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Another template of the account already has this name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateNameTaken;

/// A sender id on the account's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderRecord {
    pub sender: String,
    pub is_default: bool,
    pub created_at: i64,
}

const TEMPLATE_COLUMNS: &str = "id, name, body, created_at, updated_at";

fn template_from_row(r: &AnyRow) -> sqlx::Result<TemplateRecord> {
    Ok(TemplateRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Store {
    pub async fn create_template(
        &self,
        account_id: &str,
        name: &str,
        body: &str,
        now: i64,
    ) -> sqlx::Result<Result<TemplateRecord, TemplateNameTaken>> {
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO templates (id, account_id, name, name_key, body, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, name_key) DO NOTHING",
        )
        .bind(&id)
        .bind(account_id)
        .bind(name.trim())
        .bind(name_key(name))
        .bind(body)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(Err(TemplateNameTaken));
        }
        Ok(Ok(TemplateRecord {
            id,
            name: name.trim().to_owned(),
            body: body.to_owned(),
            created_at: now,
            updated_at: now,
        }))
    }

    /// A template by id or, failing that, by name (any case).
    pub async fn find_template(
        &self,
        account_id: &str,
        id_or_name: &str,
    ) -> sqlx::Result<Option<TemplateRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE account_id = $1 AND (id = $2 OR name_key = $3)
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
        )))
        .bind(account_id)
        .bind(id_or_name.trim())
        .bind(name_key(id_or_name))
        .fetch_optional(&self.reader)
        .await?
        .map(|r| template_from_row(&r))
        .transpose()
    }

    pub async fn list_templates(&self, account_id: &str) -> sqlx::Result<Vec<TemplateRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE account_id = $1 ORDER BY name_key"
        )))
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(template_from_row)
        .collect()
    }

    /// Renames and/or rewrites a template. `None` when there is no such template.
    pub async fn update_template(
        &self,
        account_id: &str,
        id: &str,
        name: Option<&str>,
        body: Option<&str>,
        now: i64,
    ) -> sqlx::Result<Option<Result<TemplateRecord, TemplateNameTaken>>> {
        let result = sqlx::query(
            "UPDATE templates SET name = COALESCE($1, name), name_key = COALESCE($2, name_key),
             body = COALESCE($3, body), updated_at = $4 WHERE id = $5 AND account_id = $6",
        )
        .bind(name.map(str::trim))
        .bind(name.map(name_key))
        .bind(body)
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(&self.writer)
        .await;
        match result {
            Ok(r) if r.rows_affected() == 0 => Ok(None),
            Ok(_) => Ok(self.find_template(account_id, id).await?.map(Ok)),
            Err(e) if is_unique_violation(&e) => Ok(Some(Err(TemplateNameTaken))),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_template(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let r = sqlx::query("DELETE FROM templates WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The account's sender ids, the default first.
    pub async fn list_senders(&self, account_id: &str) -> sqlx::Result<Vec<SenderRecord>> {
        sqlx::query(
            "SELECT sender, is_default, created_at FROM sender_ids WHERE account_id = $1
             ORDER BY is_default DESC, sender",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok(SenderRecord {
                sender: r.try_get(0)?,
                is_default: r.try_get::<i64, _>(1)? != 0,
                created_at: r.try_get(2)?,
            })
        })
        .collect()
    }

    /// Adds a sender id (or changes whether it is the default); making one
    /// the default makes the others not. Returns false if it existed and
    /// nothing changed.
    pub async fn put_sender(
        &self,
        account_id: &str,
        sender: &SenderId,
        is_default: bool,
        now: i64,
    ) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        if is_default {
            sqlx::query("UPDATE sender_ids SET is_default = 0 WHERE account_id = $1 AND sender <> $2")
                .bind(account_id)
                .bind(sender.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let r = sqlx::query(
            "INSERT INTO sender_ids (account_id, sender, is_default, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, sender) DO UPDATE SET is_default = excluded.is_default
             WHERE sender_ids.is_default <> excluded.is_default",
        )
        .bind(account_id)
        .bind(sender.as_str())
        .bind(i64::from(is_default))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn delete_sender(&self, account_id: &str, sender: &str) -> sqlx::Result<bool> {
        let r = sqlx::query("DELETE FROM sender_ids WHERE account_id = $1 AND sender = $2")
            .bind(account_id)
            .bind(sender)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
