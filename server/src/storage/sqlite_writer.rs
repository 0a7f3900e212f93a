//! A plain SQLite connection on a thread of its own, for the write path
//! where sqlx costs more than the SQL: claims and the recorder's batches of
//! submit answers and receipts (`hot_path.rs`). Through sqlx every statement
//! is a hand-off to sqlx's connection thread and every returned row a copy;
//! here a batch is one call that runs its prepared statements in place.
//!
//! It never writes beside the sqlx writer: [`Store::write_direct`] holds the
//! writer pool's only connection while a job runs, so SQLite still has one
//! writer at a time and nobody waits on a busy lock.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::{SQLITE_BUSY_TIMEOUT_MS, Store};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The handle on the writer thread; the thread ends with the last handle.
pub(super) struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
}

/// The writer thread is gone, or the job panicked.
struct WriterGone;

impl SqliteWriter {
    /// Opens `path` (an existing database, already in WAL mode) with the
    /// pool's durability setting and starts the thread.
    pub(super) fn open(path: &str, synchronous: &str) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))?;
        conn.execute_batch(&format!("PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"))?;
        conn.set_prepared_statement_cache_capacity(32);
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("kurier-sqlite-writer".into()).spawn(move || {
            let mut conn = conn;
            while let Ok(job) = queue.recv() {
                // A panicking job drops its answer (the caller sees
                // `WriterGone`) and rolls its transaction back on unwind;
                // the connection stays usable for the next one.
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                    tracing::error!("a job on the SQLite writer thread panicked");
                }
            }
        })?;
        Ok(Self { jobs })
    }

    /// Runs `job` on the writer thread and returns its result.
    async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, WriterGone> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = reply.send(job(conn));
            }))
            .map_err(|_| WriterGone)?;
        answer.await.map_err(|_| WriterGone)
    }
}

impl Store {
    /// Runs `job` on the SQLite writer thread while holding the sqlx
    /// writer, so no other write runs meanwhile. `None` when this store has
    /// no such thread (PostgreSQL, an in-memory SQLite database) or it is
    /// gone: the caller writes through sqlx instead.
    pub(super) async fn write_direct<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> sqlx::Result<Option<R>> {
        let Some(direct) = self.direct.as_ref() else { return Ok(None) };
        let held = self.writer.acquire().await?;
        let done = direct.run(job).await;
        drop(held);
        Ok(done.ok())
    }
}

/// The file of `pool`'s main database; `None` for an in-memory one.
pub(super) async fn database_file(pool: &sqlx::AnyPool) -> sqlx::Result<Option<String>> {
    use sqlx::Row as _;
    let rows = sqlx::query("PRAGMA database_list").fetch_all(pool).await?;
    for r in rows {
        let name: String = r.try_get(1)?;
        let file: Option<String> = r.try_get(2)?;
        if name == "main" {
            return Ok(file.filter(|f| !f.is_empty()));
        }
    }
    Ok(None)
}

/// A rusqlite failure as the store's error type.
pub(super) fn sqlx_error(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(e))
}
