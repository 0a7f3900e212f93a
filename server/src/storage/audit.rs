//! The audit log: who did what, when, from where — one row per user action
//! (every API request that changes something, every UI form, sign-ins),
//! written by `http/audit.rs`, searched by `GET /api/v1/audit`.

use sqlx::{AssertSqlSafe, Row as _};

use super::group_commit::{Batched, GroupCommit};
use super::{Store, StoreError, now_micros};
use crate::domain::new_id;

/// One action to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub account_id: String,
    pub user_id: Option<String>,
    /// The user's name, kept as it was then (empty for a key of no user).
    pub username: String,
    pub api_key_id: Option<String>,
    /// `api`, `ui` or `cli` (the `kurier user` commands).
    pub via: &'static str,
    /// What was done: `POST /api/v1/users/{id}/password`, `sign-in`.
    pub action: String,
    /// The path acted on.
    pub target: String,
    /// The HTTP status of the answer.
    pub status: u16,
    pub ip: String,
}

/// A recorded action.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: String,
    pub entry: AuditEntry,
    pub at: i64,
}

/// What to search for; every part optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub username: Option<String>,
    /// Part of the action (`users`, `POST`).
    pub action: Option<String>,
    pub ip: Option<String>,
    pub via: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Entries older than this id (the previous page's last).
    pub before: Option<String>,
    pub limit: usize,
}

/// The audit log's group-commit writer: every request's entry is stored
/// before its answer, many requests sharing one commit.
pub type AuditLog = GroupCommit<AuditEntry>;

impl Batched for AuditEntry {
    type Answer = ();
    const KIND: &'static str = "audit";
    const MAX_BATCH: usize = 500;

    async fn commit(store: &Store, batch: Vec<Self>) -> sqlx::Result<Vec<Result<(), StoreError>>> {
        store.record_audits(&batch).await?;
        Ok(batch.iter().map(|_| Ok(())).collect())
    }
}

/// Columns of an audit row.
const AUDIT_COLUMNS: usize = 11;

impl Store {
    pub async fn record_audit(&self, e: &AuditEntry) -> sqlx::Result<()> {
        self.record_audits(std::slice::from_ref(e)).await
    }

    /// Stores entries in one statement (one commit), all at the same time.
    pub async fn record_audits(&self, entries: &[AuditEntry]) -> sqlx::Result<()> {
        let mut conn = self.writer.acquire().await?;
        insert_audits(&mut conn, self.dialect, entries, now_micros()).await
    }

    /// The account's entries matching `f`, newest first.
    pub async fn search_audit(&self, account_id: &str, f: &AuditFilter) -> sqlx::Result<Vec<AuditRecord>> {
        let d = self.dialect;
        let mut sql = String::from(
            "SELECT id, user_id, username, api_key_id, via, action, target, status, ip, at FROM audit_log
             WHERE account_id = ",
        );
        sql.push_str(&d.param(1));
        // (condition before the value, the value, after it)
        let texts = [
            (" AND username = ", f.username.as_ref().map(|u| u.trim().to_lowercase()), ""),
            (" AND LOWER(action) LIKE ", f.action.as_deref().map(contains_pattern), " ESCAPE '\\'"),
            (" AND ip = ", f.ip.as_ref().map(|ip| ip.trim().to_owned()), ""),
            (" AND via = ", f.via.clone(), ""),
            (" AND id < ", f.before.clone(), ""),
        ];
        let mut binds: Vec<String> = vec![account_id.to_owned()];
        for (clause, value, after) in texts {
            if let Some(v) = value {
                binds.push(v);
                sql.push_str(clause);
                sql.push_str(&d.param(binds.len()));
                sql.push_str(after);
            }
        }
        let mut ints: Vec<i64> = Vec::new();
        for (clause, v) in [(" AND at >= ", f.since), (" AND at < ", f.until)] {
            if let Some(v) = v {
                ints.push(v);
                sql.push_str(clause);
                sql.push_str(&d.param(binds.len() + ints.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", f.limit));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        for v in &ints {
            q = q.bind(*v);
        }
        let rows = q.fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                let via: String = r.try_get(4)?;
                Ok(AuditRecord {
                    id: r.try_get(0)?,
                    entry: AuditEntry {
                        account_id: account_id.to_owned(),
                        user_id: r.try_get(1)?,
                        username: r.try_get(2)?,
                        api_key_id: r.try_get(3)?,
                        via: match via.as_str() {
                            "ui" => "ui",
                            "cli" => "cli",
                            _ => "api",
                        },
                        action: r.try_get(5)?,
                        target: r.try_get(6)?,
                        status: u16::try_from(r.try_get::<i64, _>(7)?).unwrap_or(0),
                        ip: r.try_get(8)?,
                    },
                    at: r.try_get(9)?,
                })
            })
            .collect()
    }
}

/// A `LIKE` pattern (with `ESCAPE '\'`) for text containing `part`, in
/// lower case to meet `LOWER(column)` (SQLite's `LIKE` ignores ASCII case
/// and PostgreSQL's does not): `%` and `_` in `part` are themselves.
fn contains_pattern(part: &str) -> String {
    let mut pattern = String::from("%");
    for c in part.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Inserts entries in one statement on `conn` (a transaction of the caller's,
/// so an action and its record commit together), all at `at`.
pub(super) async fn insert_audits(
    conn: &mut sqlx::AnyConnection,
    d: super::Dialect,
    entries: &[AuditEntry],
    at: i64,
) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..entries.len())
        .map(|i| format!("({})", d.placeholders(i * AUDIT_COLUMNS + 1, AUDIT_COLUMNS)))
        .collect();
    let sql = format!(
        "INSERT INTO audit_log (id, account_id, user_id, username, api_key_id, via, action, target, status, ip, at)
         VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for e in entries {
        q = q
            .bind(new_id())
            .bind(&e.account_id)
            .bind(e.user_id.as_deref())
            .bind(&e.username)
            .bind(e.api_key_id.as_deref())
            .bind(e.via)
            .bind(&e.action)
            .bind(&e.target)
            .bind(i64::from(e.status))
            .bind(&e.ip)
            .bind(at);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}
