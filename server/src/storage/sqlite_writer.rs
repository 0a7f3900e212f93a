//! A plain SQLite connection on a thread of its own, for the write path
//! where sqlx costs more than the SQL: the intake, claims and the
//! recorder's batches of submit answers and receipts (`hot_path.rs`). Through sqlx every statement
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

enum Order {
    Run(Job),
    /// Close the connection and end the thread; answer when done.
    Close(oneshot::Sender<()>),
}

/// The handle on the writer thread; the thread ends when it is closed or
/// with the last handle.
pub(super) struct SqliteWriter {
    orders: mpsc::Sender<Order>,
}

/// The writer thread is gone, or the job panicked.
#[derive(Debug)]
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
        let (orders, queue) = mpsc::channel::<Order>();
        std::thread::Builder::new().name("kurier-sqlite-writer".into()).spawn(move || {
            let mut conn = conn;
            while let Ok(order) = queue.recv() {
                match order {
                    // A panicking job drops its answer (the caller sees
                    // `WriterGone`) and rolls its transaction back on
                    // unwind; the connection stays usable for the next one.
                    Order::Run(job) => {
                        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                            tracing::error!("a job on the SQLite writer thread panicked");
                        }
                    }
                    Order::Close(done) => {
                        drop(conn);
                        let _ = done.send(());
                        return;
                    }
                }
            }
        })?;
        Ok(Self { orders })
    }

    /// Runs `job` on the writer thread and returns its result.
    async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, WriterGone> {
        let (reply, answer) = oneshot::channel();
        self.orders
            .send(Order::Run(Box::new(move |conn| {
                let _ = reply.send(job(conn));
            })))
            .map_err(|_| WriterGone)?;
        answer.await.map_err(|_| WriterGone)
    }

    /// Closes the connection after the jobs sent before; later jobs fail.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.orders.send(Order::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

impl Store {
    /// Runs `job` on the SQLite writer thread while holding the sqlx
    /// writer, so no other write runs meanwhile. `None` when this store has
    /// no such thread (PostgreSQL, an in-memory SQLite database) or the job
    /// did not finish (the thread is gone, or the job panicked and rolled
    /// back): the caller writes through sqlx instead.
    pub(super) async fn write_direct<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> sqlx::Result<Option<R>> {
        let Some(direct) = self.direct.as_ref() else { return Ok(None) };
        let held = self.writer.acquire().await?;
        let done = direct.run(job).await;
        drop(held);
        match done {
            Ok(result) => result.map(Some).map_err(|e| sqlx::Error::AnyDriverError(Box::new(e))),
            Err(WriterGone) => Ok(None),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db").to_string_lossy().into_owned();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);").unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_thread_goes_on() {
        let (_dir, path) = database();
        let writer = SqliteWriter::open(&path, "FULL").unwrap();
        let panicked = writer
            .run(|conn| {
                let tx = conn.transaction().unwrap();
                tx.execute("INSERT INTO t (v) VALUES (1)", []).unwrap();
                panic!("a bug in a job");
            })
            .await;
        assert!(panicked.is_err(), "the caller learns the job did not finish");
        let rows = writer
            .run(|conn| {
                conn.execute("INSERT INTO t (v) VALUES (2)", [])?;
                conn.query_row("SELECT group_concat(v) FROM t", [], |r| r.get::<_, String>(0))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows, "2", "the panicked job's insert was rolled back");
    }

    #[tokio::test]
    async fn after_closing_jobs_are_refused_and_the_file_is_released() {
        let (_dir, path) = database();
        let writer = SqliteWriter::open(&path, "NORMAL").unwrap();
        writer.run(|conn| conn.execute("INSERT INTO t (v) VALUES (3)", [])).await.unwrap().unwrap();
        writer.close().await;
        assert!(writer.run(|_| ()).await.is_err());
        // Its connection is gone: an exclusive lock can be taken at once.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;").unwrap();
        let n: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
