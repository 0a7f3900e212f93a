//! Numbers (long numbers and short codes an account receives on) and the
//! keywords on them. Which keyword wins and when two conflict is decided in
//! `inbound::keyword`; this file keeps them and answers who holds a number.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::Store;
use crate::domain::new_id;

#[derive(Debug, Clone, PartialEq)]
pub struct NumberRecord {
    pub id: String,
    pub account_id: String,
    pub number: String,
    /// `dedicated` or `shared`.
    pub kind: String,
    pub connectors: Vec<String>,
    /// JSON list of actions.
    pub default_actions: String,
    /// In the account's pool of sender numbers.
    pub in_pool: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeywordRecord {
    pub id: String,
    pub account_id: String,
    pub number_id: String,
    pub number: String,
    pub keyword: String,
    pub keyword_key: String,
    pub match_type: String,
    pub priority: i64,
    /// JSON list of actions.
    pub actions: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What to store for a number.
#[derive(Debug, Clone)]
pub struct NumberWrite<'a> {
    pub number: &'a str,
    pub kind: &'a str,
    pub connectors: &'a [String],
    pub default_actions: &'a str,
}

/// What to store for a keyword.
#[derive(Debug, Clone)]
pub struct KeywordWrite<'a> {
    pub keyword: &'a str,
    pub keyword_key: &'a str,
    pub match_type: &'a str,
    pub priority: i64,
    pub actions: &'a str,
}

/// Why a number could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberTaken {
    /// This account already has it.
    Already,
    /// Another account holds it as dedicated, or holds it shared while a
    /// dedicated claim was asked.
    Elsewhere,
}

const NUMBER_COLUMNS: &str =
    "id, account_id, number, kind, connectors, default_actions, in_pool, created_at, updated_at";
const KEYWORD_COLUMNS: &str = "id, account_id, number_id, number, keyword, keyword_key, match_type, priority, actions, created_at, updated_at";

fn number_from(r: &AnyRow) -> sqlx::Result<NumberRecord> {
    let connectors: String = r.try_get("connectors")?;
    Ok(NumberRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        number: r.try_get("number")?,
        kind: r.try_get("kind")?,
        connectors: serde_json::from_str(&connectors).unwrap_or_default(),
        default_actions: r.try_get("default_actions")?,
        in_pool: r.try_get::<i64, _>("in_pool")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn keyword_from(r: &AnyRow) -> sqlx::Result<KeywordRecord> {
    Ok(KeywordRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        number_id: r.try_get("number_id")?,
        number: r.try_get("number")?,
        keyword: r.try_get("keyword")?,
        keyword_key: r.try_get("keyword_key")?,
        match_type: r.try_get("match_type")?,
        priority: r.try_get("priority")?,
        actions: r.try_get("actions")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Registers a number for the account, unless it is taken.
    pub async fn create_number(
        &self,
        account_id: &str,
        w: &NumberWrite<'_>,
        now: i64,
    ) -> sqlx::Result<Result<NumberRecord, NumberTaken>> {
        let mut tx = self.writer.begin().await?;
        // Two accounts claiming the same free number at once: one waits.
        super::lock_until_commit(&mut tx, w.number).await?;
        let holders = sqlx::query(AssertSqlSafe(format!(
            "SELECT {NUMBER_COLUMNS} FROM numbers WHERE number = $1 ORDER BY created_at"
        )))
        .bind(w.number)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(number_from)
        .collect::<sqlx::Result<Vec<_>>>()?;
        if holders.iter().any(|h| h.account_id == account_id) {
            return Ok(Err(NumberTaken::Already));
        }
        if !holders.is_empty() && (w.kind == "dedicated" || holders.iter().any(|h| h.kind == "dedicated")) {
            return Ok(Err(NumberTaken::Elsewhere));
        }
        let record = NumberRecord {
            id: new_id(),
            account_id: account_id.to_owned(),
            number: w.number.to_owned(),
            kind: w.kind.to_owned(),
            connectors: w.connectors.to_vec(),
            default_actions: w.default_actions.to_owned(),
            in_pool: false,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO numbers (id, account_id, number, kind, connectors, default_actions, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&record.id)
        .bind(account_id)
        .bind(&record.number)
        .bind(&record.kind)
        .bind(serde_json::to_string(&record.connectors).unwrap_or_else(|_| "[]".into()))
        .bind(&record.default_actions)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(record))
    }

    pub async fn list_numbers(&self, account_id: &str) -> sqlx::Result<Vec<NumberRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {NUMBER_COLUMNS} FROM numbers WHERE account_id = $1 ORDER BY number"
        )))
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(number_from)
        .collect()
    }

    /// The account's number by id or by the number itself.
    pub async fn find_number(
        &self,
        account_id: &str,
        id_or_number: &str,
    ) -> sqlx::Result<Option<NumberRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {NUMBER_COLUMNS} FROM numbers WHERE account_id = $1 AND (id = $2 OR number = $2)"
        )))
        .bind(account_id)
        .bind(id_or_number)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(number_from)
        .transpose()
    }

    /// Whether the account registered `number`, however it is written
    /// (with or without the `+` of an international number).
    pub async fn holds_number(&self, account_id: &str, number: &str) -> sqlx::Result<bool> {
        for spelling in super::number_spellings(number) {
            let held = sqlx::query("SELECT 1 FROM numbers WHERE account_id = $1 AND number = $2")
                .bind(account_id)
                .bind(&spelling)
                .fetch_optional(&self.reader)
                .await?;
            if held.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Changes a number's connectors and default actions.
    pub async fn update_number(
        &self,
        account_id: &str,
        id: &str,
        connectors: Option<&[String]>,
        default_actions: Option<&str>,
        now: i64,
    ) -> sqlx::Result<Option<NumberRecord>> {
        sqlx::query(
            "UPDATE numbers SET connectors = COALESCE($1, connectors), default_actions = COALESCE($2, default_actions),
                 updated_at = $3
             WHERE account_id = $4 AND id = $5",
        )
        .bind(connectors.map(|c| serde_json::to_string(c).unwrap_or_else(|_| "[]".into())))
        .bind(default_actions)
        .bind(now)
        .bind(account_id)
        .bind(id)
        .execute(&self.writer)
        .await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {NUMBER_COLUMNS} FROM numbers WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(number_from).transpose()
    }

    /// Deletes a number with its keywords.
    pub async fn delete_number(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM keywords WHERE account_id = $1 AND number_id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM numbers WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every account's registration of `number` (any of `spellings`),
    /// oldest first.
    pub(super) async fn holders_in(
        conn: &mut AnyConnection,
        spellings: &[String],
    ) -> sqlx::Result<Vec<NumberRecord>> {
        let mut out = Vec::new();
        for s in spellings {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {NUMBER_COLUMNS} FROM numbers WHERE number = $1 ORDER BY created_at, id"
            )))
            .bind(s)
            .fetch_all(&mut *conn)
            .await?;
            for r in &rows {
                out.push(number_from(r)?);
            }
            if !out.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    /// Every account's registration of one of these spellings of a number.
    pub async fn number_holders(&self, spellings: &[String]) -> sqlx::Result<Vec<NumberRecord>> {
        let mut conn = self.reader.acquire().await?;
        Self::holders_in(&mut conn, spellings).await
    }

    /// Keywords on `number`, of every account (shared numbers) or one.
    pub async fn keywords_on(
        &self,
        number: &str,
        account_id: Option<&str>,
    ) -> sqlx::Result<Vec<KeywordRecord>> {
        let rows = match account_id {
            Some(a) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE number = $1 AND account_id = $2 ORDER BY created_at, id"
                )))
                .bind(number)
                .bind(a)
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE number = $1 ORDER BY created_at, id"
                )))
                .bind(number)
                .fetch_all(&self.reader)
                .await?
            }
        };
        rows.iter().map(keyword_from).collect()
    }

    /// Every keyword on `number`, read in `tx` after locking the number's
    /// keywords until it commits: two keywords saved at once on one number
    /// are checked one after the other (PostgreSQL's advisory lock;
    /// SQLite's one writer).
    async fn keywords_locked(conn: &mut AnyConnection, number: &str) -> sqlx::Result<Vec<KeywordRecord>> {
        super::lock_until_commit(conn, &format!("keywords {number}")).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE number = $1 ORDER BY created_at, id"
        )))
        .bind(number)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(keyword_from)
        .collect()
    }

    /// Stores a new keyword if `check`, given every keyword on the number
    /// (of any account), passes it; in one transaction with that read.
    pub async fn create_keyword<E>(
        &self,
        account_id: &str,
        number: &NumberRecord,
        w: &KeywordWrite<'_>,
        now: i64,
        check: impl FnOnce(&[KeywordRecord]) -> Result<(), E>,
    ) -> sqlx::Result<Result<KeywordRecord, E>> {
        let mut tx = self.writer.begin().await?;
        if let Err(e) = check(&Self::keywords_locked(&mut tx, &number.number).await?) {
            return Ok(Err(e));
        }
        let record = KeywordRecord {
            id: new_id(),
            account_id: account_id.to_owned(),
            number_id: number.id.clone(),
            number: number.number.clone(),
            keyword: w.keyword.to_owned(),
            keyword_key: w.keyword_key.to_owned(),
            match_type: w.match_type.to_owned(),
            priority: w.priority,
            actions: w.actions.to_owned(),
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO keywords (id, account_id, number_id, number, keyword, keyword_key, match_type, priority,
                 actions, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&record.id)
        .bind(account_id)
        .bind(&record.number_id)
        .bind(&record.number)
        .bind(&record.keyword)
        .bind(&record.keyword_key)
        .bind(&record.match_type)
        .bind(record.priority)
        .bind(&record.actions)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(record))
    }

    pub async fn list_keywords(
        &self,
        account_id: &str,
        number_id: Option<&str>,
    ) -> sqlx::Result<Vec<KeywordRecord>> {
        let rows = match number_id {
            Some(n) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE account_id = $1 AND number_id = $2
                     ORDER BY number, keyword_key, id"
                )))
                .bind(account_id)
                .bind(n)
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE account_id = $1 ORDER BY number, keyword_key, id"
                )))
                .bind(account_id)
                .fetch_all(&self.reader)
                .await?
            }
        };
        rows.iter().map(keyword_from).collect()
    }

    pub async fn get_keyword(&self, account_id: &str, id: &str) -> sqlx::Result<Option<KeywordRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(keyword_from)
        .transpose()
    }

    /// Changes the keyword `existing` if `check`, given every keyword on
    /// its number, passes it; as [`Store::create_keyword`]. `None` when it
    /// is gone.
    pub async fn update_keyword<E>(
        &self,
        existing: &KeywordRecord,
        w: &KeywordWrite<'_>,
        now: i64,
        check: impl FnOnce(&[KeywordRecord]) -> Result<(), E>,
    ) -> sqlx::Result<Result<Option<KeywordRecord>, E>> {
        let mut tx = self.writer.begin().await?;
        if let Err(e) = check(&Self::keywords_locked(&mut tx, &existing.number).await?) {
            return Ok(Err(e));
        }
        sqlx::query(
            "UPDATE keywords SET keyword = $1, keyword_key = $2, match_type = $3, priority = $4, actions = $5,
                 updated_at = $6
             WHERE account_id = $7 AND id = $8",
        )
        .bind(w.keyword)
        .bind(w.keyword_key)
        .bind(w.match_type)
        .bind(w.priority)
        .bind(w.actions)
        .bind(now)
        .bind(&existing.account_id)
        .bind(&existing.id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEYWORD_COLUMNS} FROM keywords WHERE account_id = $1 AND id = $2"
        )))
        .bind(&existing.account_id)
        .bind(&existing.id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(row.as_ref().map(keyword_from).transpose()?))
    }

    pub async fn delete_keyword(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM keywords WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
