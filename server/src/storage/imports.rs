//! Import jobs: their progress and their per-row error reports.
//!
//! Each batch of imported rows is stored together with its error rows and
//! the job's counters in one transaction, so the counters always say
//! exactly what was imported. A job whose worker stopped (the process was
//! killed) is seen as `failed` once it has not moved for a while; importing
//! the file again updates what was imported instead of duplicating it.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use super::contact_writes::{WRITE_ATTEMPTS, is_lost_race};
use super::contacts::{ContactWrite, WriteOutcome};
use super::groups::group_name_key;
use super::{Store, now_micros};
use crate::domain::new_id;

/// Error rows kept per import; beyond it rows are still counted as failed.
pub const MAX_STORED_ERRORS: i64 = 100_000;
/// A running job not updated for this long has lost its worker.
const STALE_IMPORT_MICROS: i64 = 120_000_000;
/// Rows per multi-row INSERT of error rows.
const CHUNK: usize = 500;

/// Where an import job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Received, not started yet.
    Queued,
    Running,
    /// Read to the end; rows with problems are in the error report.
    Completed,
    /// Stopped by a problem with the whole file (see `error`); the counters
    /// say what was imported before (nothing, for problems found while
    /// checking the file before the first row is stored).
    Failed,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            _ => Self::Failed,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: String,
    pub status: ImportStatus,
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// JSON: how each column was read.
    pub columns: Option<String>,
    pub groups: Vec<String>,
    pub rows_total: Option<i64>,
    pub rows_read: i64,
    pub rows_created: i64,
    pub rows_updated: i64,
    pub rows_failed: i64,
    /// Error rows in the report.
    pub errors_stored: i64,
    /// Problems found, in the report or past its limit (a row may have
    /// several).
    pub problems: i64,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// One problem with one row of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRowError {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    /// The column's header, when the problem is in one cell.
    pub column: Option<String>,
    /// The cell's content (shortened), when there is one.
    pub value: Option<String>,
    pub reason: String,
}

/// What the file turned out to be, recorded when reading starts.
#[derive(Debug, Clone, Default)]
pub struct ImportDescription {
    pub format: String,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub columns: String,
    pub rows_total: Option<i64>,
}

/// One batch of an import: valid rows to write (with their row numbers)
/// and the rows refused while reading.
pub struct ImportBatch {
    pub writes: Vec<ContactWrite>,
    pub rows: Vec<u64>,
    pub errors: Vec<ImportRowError>,
    /// Rows refused while reading (one row may have several errors).
    pub failed_rows: u64,
    /// Names of groups each write's contact joins (from a groups column),
    /// besides the job's groups; created if missing.
    pub row_groups: Vec<Vec<String>>,
    /// Rows read so far, this batch included.
    pub rows_read: u64,
    /// The column each attribute came from, to name it in storage errors.
    pub columns: HashMap<&'static str, String>,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
}

const IMPORT_COLUMNS: &str = "id, status, format, encoding, delimiter, columns, groups, rows_total, rows_read,
    rows_created, rows_updated, rows_failed, errors_stored, problems, error_code, error, created_at, updated_at, finished_at";

fn import_from_row(r: &AnyRow) -> sqlx::Result<ImportJob> {
    let status: String = r.try_get("status")?;
    let groups: String = r.try_get("groups")?;
    Ok(ImportJob {
        id: r.try_get("id")?,
        status: ImportStatus::parse(&status),
        format: r.try_get("format")?,
        encoding: r.try_get("encoding")?,
        delimiter: r.try_get("delimiter")?,
        columns: r.try_get("columns")?,
        groups: serde_json::from_str(&groups).unwrap_or_default(),
        rows_total: r.try_get("rows_total")?,
        rows_read: r.try_get("rows_read")?,
        rows_created: r.try_get("rows_created")?,
        rows_updated: r.try_get("rows_updated")?,
        rows_failed: r.try_get("rows_failed")?,
        errors_stored: r.try_get("errors_stored")?,
        problems: r.try_get("problems")?,
        error_code: r.try_get("error_code")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl ImportJob {
    /// Problems found but not in the report (past [`MAX_STORED_ERRORS`]).
    pub fn unlisted_problems(&self) -> i64 {
        (self.problems - self.errors_stored).max(0)
    }
}

impl Store {
    /// Records a new import job (`queued`); returns its id.
    pub async fn create_import(&self, account_id: &str, groups: &[String], now: i64) -> sqlx::Result<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO imports (id, account_id, status, groups, created_at, updated_at)
             VALUES ($1, $2, 'queued', $3, $4, $5)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(serde_json::to_string(groups).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(id)
    }

    /// Marks a job `running` and records what the file is.
    pub async fn start_import(&self, id: &str, d: &ImportDescription, now: i64) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE imports SET status = 'running', format = $1, encoding = $2, delimiter = $3, columns = $4,
             rows_total = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&d.format)
        .bind(&d.encoding)
        .bind(&d.delimiter)
        .bind(&d.columns)
        .bind(d.rows_total)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Shows that a job is alive while it reads without storing.
    pub async fn import_heartbeat(&self, id: &str, now: i64) -> sqlx::Result<()> {
        sqlx::query("UPDATE imports SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Stores one batch: its contacts (each joining `groups` and its row's
    /// groups, created if missing once a row is written), its error rows
    /// and the job's counters, in one transaction.
    pub async fn import_batch(
        &self,
        job_id: &str,
        account_id: &str,
        groups: &[String],
        batch: ImportBatch,
        now: i64,
    ) -> sqlx::Result<BatchCounts> {
        let mut attempt = 1;
        loop {
            match self.import_batch_once(job_id, account_id, groups, &batch, now).await {
                Err(e) if attempt < WRITE_ATTEMPTS && is_lost_race(&e) => attempt += 1,
                other => return other,
            }
        }
    }

    async fn import_batch_once(
        &self,
        job_id: &str,
        account_id: &str,
        groups: &[String],
        batch: &ImportBatch,
        now: i64,
    ) -> sqlx::Result<BatchCounts> {
        let mut write_errors = Vec::new();
        let mut tx = self.writer.begin().await?;
        let outcomes = self.write_contacts_in(&mut tx, account_id, &batch.writes, now).await?;
        // The groups of the rows written (the job's and their own), created
        // if missing: a refused row creates none.
        let written: Vec<(&str, &[String])> = outcomes
            .iter()
            .zip(&batch.row_groups)
            .filter_map(|(outcome, row_groups)| {
                outcome.as_ref().ok().map(|o| (o.id(), row_groups.as_slice()))
            })
            .collect();
        let mut names: Vec<String> = if written.is_empty() { Vec::new() } else { groups.to_vec() };
        names.extend(written.iter().flat_map(|(_, row_groups)| row_groups.iter().cloned()));
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(group_name_key(n)));
        let ids = self.ensure_groups_in(&mut tx, account_id, &names, now).await?;
        let id_of: HashMap<String, String> = names.iter().map(|n| group_name_key(n)).zip(ids).collect();
        let members: Vec<(&str, &str)> = written
            .iter()
            .flat_map(|(contact, row_groups)| {
                groups
                    .iter()
                    .chain(*row_groups)
                    .filter_map(|n| id_of.get(&group_name_key(n)))
                    .map(|g| (g.as_str(), *contact))
            })
            .collect();
        self.insert_pairs(&mut tx, "group_members (group_id, contact_id, added_at)", &members, Some(now))
            .await?;
        let mut counts = BatchCounts { failed: batch.failed_rows, ..BatchCounts::default() };
        for (outcome, row) in outcomes.iter().zip(&batch.rows) {
            match outcome {
                Ok(WriteOutcome::Created(_)) => counts.created += 1,
                Ok(WriteOutcome::Updated(_)) => counts.updated += 1,
                Err(problem) => {
                    counts.failed += 1;
                    write_errors.push(ImportRowError {
                        row: *row,
                        column: batch.columns.get(problem.field).cloned(),
                        value: None,
                        reason: problem.message.clone(),
                    });
                }
            }
        }
        // In row order, a row's reading problems first (the sort is stable);
        // referenced, not copied, since a retry needs the batch again.
        let mut errors: Vec<&ImportRowError> = batch.errors.iter().chain(&write_errors).collect();
        errors.sort_by_key(|e| e.row);
        let stored: i64 = sqlx::query("SELECT errors_stored FROM imports WHERE id = $1")
            .bind(job_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let problems = errors.len();
        let room = (MAX_STORED_ERRORS - stored).max(0) as usize;
        let errors = &errors[..errors.len().min(room)];
        for (n, chunk) in errors.chunks(CHUNK).enumerate() {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", self.dialect.placeholders(i * 6 + 1, 6))).collect();
            let sql = format!(
                "INSERT INTO import_errors (import_id, seq, row_number, column_name, value, reason) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(job_id)
                    .bind(stored + (n * CHUNK + i) as i64 + 1)
                    .bind(e.row as i64)
                    .bind(&e.column)
                    .bind(&e.value)
                    .bind(&e.reason);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE imports SET rows_read = $1, rows_created = rows_created + $2, rows_updated = rows_updated + $3,
             rows_failed = rows_failed + $4, errors_stored = errors_stored + $5, problems = problems + $6,
             updated_at = $7 WHERE id = $8",
        )
        .bind(batch.rows_read as i64)
        .bind(counts.created as i64)
        .bind(counts.updated as i64)
        .bind(counts.failed as i64)
        .bind(errors.len() as i64)
        .bind(problems as i64)
        .bind(now)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Ends a job: `completed`, or `failed` with a code and a message.
    pub async fn finish_import(&self, id: &str, failure: Option<(&str, &str)>, now: i64) -> sqlx::Result<()> {
        let status = if failure.is_some() { ImportStatus::Failed } else { ImportStatus::Completed };
        sqlx::query(
            "UPDATE imports SET status = $1, error_code = $2, error = $3, updated_at = $4, finished_at = $5
             WHERE id = $6",
        )
        .bind(status.as_str())
        .bind(failure.map(|f| f.0))
        .bind(failure.map(|f| f.1))
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A job of the account; one whose worker stopped is marked failed.
    pub async fn get_import(&self, account_id: &str, id: &str) -> sqlx::Result<Option<ImportJob>> {
        self.fail_interrupted_imports(account_id, Some(id)).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1 AND account_id = $2"
        )))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| import_from_row(&r))
        .transpose()
    }

    /// The account's most recent jobs, newest first; those whose worker
    /// stopped are marked failed.
    pub async fn list_imports(&self, account_id: &str, limit: usize) -> sqlx::Result<Vec<ImportJob>> {
        self.fail_interrupted_imports(account_id, None).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {IMPORT_COLUMNS} FROM imports WHERE account_id = $1 ORDER BY id DESC LIMIT $2"
        )))
        .bind(account_id)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(import_from_row)
        .collect()
    }

    /// Marks the account's jobs (or only job `id`) that are queued or
    /// running but have not moved for [`STALE_IMPORT_MICROS`] as failed:
    /// their worker stopped with the process.
    async fn fail_interrupted_imports(&self, account_id: &str, id: Option<&str>) -> sqlx::Result<()> {
        let now = now_micros();
        sqlx::query(
            "UPDATE imports SET status = 'failed', error_code = 'interrupted',
             error = 'Kurier stopped during the import; import the file again (rows already imported are updated, not duplicated)',
             finished_at = $1 WHERE account_id = $2 AND status IN ('queued', 'running') AND updated_at < $3
             AND (id = $4 OR $4 = '')",
        )
        .bind(now)
        .bind(account_id)
        .bind(now - STALE_IMPORT_MICROS)
        .bind(id.unwrap_or_default())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// One page of a job's error rows after `after_seq`, in order, each
    /// with its sequence number (the cursor of the next page).
    pub async fn import_errors(
        &self,
        import_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> sqlx::Result<Vec<(i64, ImportRowError)>> {
        let rows = sqlx::query(
            "SELECT seq, row_number, column_name, value, reason FROM import_errors
             WHERE import_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(import_id)
        .bind(after_seq)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let row: i64 = r.try_get(1)?;
                Ok((
                    r.try_get(0)?,
                    ImportRowError {
                        row: row.max(0) as u64,
                        column: r.try_get(2)?,
                        value: r.try_get(3)?,
                        reason: r.try_get(4)?,
                    },
                ))
            })
            .collect()
    }

    /// The id of the account with this name (for the command line).
    pub async fn account_id_by_name(&self, name: &str) -> sqlx::Result<Option<String>> {
        sqlx::query("SELECT id FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
    }
}
