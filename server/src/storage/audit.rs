//! The audit log: who did what, when, from where — one row per user action
//! (every API request that changes something, every UI form, sign-ins),
//! written by `http/audit.rs`, searched by `GET /api/v1/audit`.

use sqlx::{AssertSqlSafe, Row as _};

use super::group_commit::{Batched, GroupCommit};
use super::sql::Sql;
use super::{Dialect, Store, StoreError, now_micros};
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
        let sql = search_sql(self.dialect, account_id, f);
        let rows = sql.query().fetch_all(&self.reader).await?;
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

/// The search for the account's entries matching `f`, newest (highest id)
/// first, read in order from the `(account_id, id)` index.
fn search_sql(d: Dialect, account_id: &str, f: &AuditFilter) -> Sql {
    let mut sql = Sql::new(d);
    sql.push(
        "SELECT id, user_id, username, api_key_id, via, action, target, status, ip, at FROM audit_log
         WHERE account_id = ",
    )
    .text(account_id);
    if let Some(username) = &f.username {
        sql.push(" AND username = ").text(username.trim().to_lowercase());
    }
    if let Some(action) = &f.action {
        sql.push(" AND LOWER(action) LIKE ").text(contains_pattern(action)).push(" ESCAPE '\\'");
    }
    if let Some(ip) = &f.ip {
        sql.push(" AND ip = ").text(ip.trim());
    }
    if let Some(via) = &f.via {
        sql.push(" AND via = ").text(via.as_str());
    }
    if let Some(before) = &f.before {
        sql.push(" AND id < ").text(before.as_str());
    }
    if let Some(since) = f.since {
        sql.push(" AND at >= ").int(since);
    }
    if let Some(until) = f.until {
        sql.push(" AND at < ").int(until);
    }
    sql.push(&format!(" ORDER BY id DESC LIMIT {}", f.limit));
    sql
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_of_the_log_is_read_from_an_index_in_order_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        let store = Store::open(&url, 2, "normal").await.unwrap();
        let filters = [
            AuditFilter { limit: 51, ..AuditFilter::default() },
            AuditFilter { before: Some(new_id()), limit: 51, ..AuditFilter::default() },
            AuditFilter {
                username: Some("sam".into()),
                action: Some("users".into()),
                limit: 51,
                ..AuditFilter::default()
            },
        ];
        for f in filters {
            let explain = Sql::around("EXPLAIN QUERY PLAN ", search_sql(Dialect::Sqlite, "acc", &f), "");
            let rows = explain.query().fetch_all(&store.reader).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>(3).unwrap()).collect();
            assert!(plan.iter().any(|p| p.contains("USING INDEX audit_log_account_id")), "{f:?}: {plan:?}");
            assert!(
                !plan.iter().any(|p| p.contains("TEMP B-TREE")),
                "no sort of the account's whole log: {f:?}: {plan:?}"
            );
        }
        store.close().await;
    }
}
