//! A plain SQLite connection on a thread of its own, for the write path
//! where sqlx costs more than the SQL: the intake, claims and the
//! recorder's batches of submit answers and receipts (`hot_path.rs`).
//! Through sqlx every statement is a hand-off to sqlx's connection thread
//! and every returned row a copy; here a batch is one call that runs its
//! prepared statements in place.
//!
//! Jobs that wait at the same time run as one round: one transaction, each
//! job in a savepoint of its own, one commit (one disk sync) for all, and
//! each answered only after that commit. Small jobs (an intake of a few
//! requests, a claim of a few messages, a few reports) share commits; a
//! round stops taking jobs at about [`ROUND_ROWS`] rows.
//!
//! It never writes beside the sqlx writer: a round runs while the writer
//! pool's only connection is held, so SQLite still has one writer at a time
//! and nobody waits on a busy lock; sqlx's writes get their turn between
//! rounds.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc as async_mpsc, oneshot};

use super::group_commit::fill;
use super::{SQLITE_BUSY_TIMEOUT_MS, Store};

/// What a job's caller gets: its result, or why it has none.
type Answer<R> = Result<R, Box<dyn std::error::Error + Send + Sync>>;

/// A job runs inside its round's transaction and returns what to do once
/// the round has ended: `Ok` when the round committed, else the error.
type Job = Box<dyn FnOnce(&mut Connection) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// Rows a round takes at most (as its jobs estimate them); a job alone may
/// take more. Small jobs share a commit; big ones, whose own work dwarfs a
/// commit, do not wait for each other.
const ROUND_ROWS: usize = 1_000;

enum Order {
    /// Jobs sharing one transaction; `done` once they are all answered.
    Round(Vec<Job>, oneshot::Sender<()>),
    /// Close the connection and end the thread; answer when done.
    Close(oneshot::Sender<()>),
}

enum Request {
    Run { job: Job, rows: usize },
    Close(oneshot::Sender<()>),
}

impl Request {
    /// What it adds to a round; a close joins none (it ends the thread
    /// after the rounds before it).
    fn rows(&self) -> usize {
        match self {
            Request::Run { rows, .. } => *rows,
            Request::Close(_) => usize::MAX,
        }
    }

    fn into_job(self) -> Option<Job> {
        match self {
            Request::Run { job, .. } => Some(job),
            Request::Close(_) => None,
        }
    }
}

/// The handle on the writer thread. Jobs go through a task that gathers
/// those waiting into rounds and holds the sqlx writer (`hold`) while the
/// thread runs a round: SQLite still has one writer at a time, nobody waits
/// on a busy lock, and the sqlx writer gets its turn between rounds. The
/// thread ends when closed or with the last handle.
pub(super) struct SqliteWriter {
    requests: async_mpsc::UnboundedSender<Request>,
}

/// The writer thread is gone, or the job panicked.
#[derive(Debug)]
struct WriterGone;

/// The round's commit failed: nothing of it was stored.
#[derive(Debug, thiserror::Error)]
#[error("committing the writer thread's transaction failed: {0}")]
struct RoundFailed(String);

impl SqliteWriter {
    /// Opens `path` (an existing database, already in WAL mode) with the
    /// pool's durability setting and starts the thread; `hold` is the sqlx
    /// pool whose one connection is SQLite's other writer.
    pub(super) fn open(path: &str, synchronous: &str, hold: sqlx::AnyPool) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))?;
        conn.execute_batch(&format!("PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"))?;
        conn.set_prepared_statement_cache_capacity(64);
        let (orders, queue) = mpsc::channel::<Order>();
        std::thread::Builder::new().name("kurier-sqlite-writer".into()).spawn(move || {
            let mut conn = conn;
            while let Ok(order) = queue.recv() {
                match order {
                    Order::Round(jobs, done) => {
                        let started = std::time::Instant::now();
                        run_round(&mut conn, jobs);
                        crate::telemetry::store_write("round", started.elapsed().as_secs_f64());
                        let _ = done.send(());
                    }
                    Order::Close(done) => {
                        drop(conn);
                        let _ = done.send(());
                        return;
                    }
                }
            }
        })?;
        let (requests, incoming) = async_mpsc::unbounded_channel();
        tokio::spawn(gather(incoming, orders, hold));
        Ok(Self { requests })
    }

    /// Runs `job` on the writer thread, in a round with the jobs waiting
    /// beside it, and returns its result once the round is committed.
    /// `rows` is about how many rows it writes.
    async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
        rows: usize,
    ) -> Result<Answer<R>, WriterGone> {
        let (job, answer) = wrap(job);
        self.requests.send(Request::Run { job, rows }).map_err(|_| WriterGone)?;
        answer.await.map_err(|_| WriterGone)
    }

    /// Closes the connection after the jobs sent before; later jobs fail.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.requests.send(Request::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

/// `job` as a round's job, and where its answer will come.
fn wrap<R: Send + 'static>(
    job: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
) -> (Job, oneshot::Receiver<Answer<R>>) {
    let (reply, answer) = oneshot::channel::<Answer<R>>();
    let job: Job = Box::new(move |conn| {
        let result = job(conn);
        Box::new(move |committed| {
            let answer = match (result, committed) {
                (Err(e), _) => Err(e.into()),
                (Ok(_), Err(why)) => Err(RoundFailed(why.to_owned()).into()),
                (Ok(r), Ok(())) => Ok(r),
            };
            let _ = reply.send(answer);
        })
    });
    (job, answer)
}

/// Gathers the jobs waiting into rounds and hands each to the thread while
/// holding the sqlx writer.
async fn gather(
    mut incoming: async_mpsc::UnboundedReceiver<Request>,
    orders: mpsc::Sender<Order>,
    hold: sqlx::AnyPool,
) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(r) => r,
            None => match incoming.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let (job, rows) = match first {
            Request::Run { job, rows } => (job, rows),
            Request::Close(done) => {
                let _ = orders.send(Order::Close(done));
                return;
            }
        };
        // Unable to hold the sqlx writer (the pool is closed): the jobs are
        // dropped, their callers see `WriterGone` and write through sqlx.
        let Ok(held) = hold.acquire().await else { continue };
        let mut waiting = Vec::new();
        next = fill(&mut waiting, rows, ROUND_ROWS, || incoming.try_recv().ok(), Request::rows);
        let jobs: Vec<Job> =
            std::iter::once(job).chain(waiting.into_iter().filter_map(Request::into_job)).collect();
        let (done, finished) = oneshot::channel();
        if orders.send(Order::Round(jobs, done)).is_err() {
            return;
        }
        let _ = finished.await;
        drop(held);
    }
}

/// Runs `jobs` in one transaction, each in a savepoint of its own (a job
/// that fails or panics rolls back alone), commits once, then answers them.
fn run_round(conn: &mut Connection, jobs: Vec<Job>) {
    // Without the outer transaction each job's savepoint is a transaction
    // of its own, as though it ran alone.
    let outer = run_cached(conn, "BEGIN IMMEDIATE").is_ok();
    let mut finishes = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A panicking job drops its answer (the caller sees `WriterGone`)
        // and rolls its savepoint back on unwind.
        match std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok(finish) => finishes.push(finish),
            Err(_) => tracing::error!("a job on the SQLite writer thread panicked"),
        }
    }
    let committed = if outer {
        run_cached(conn, "COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = %e, jobs = finishes.len(), "the writer thread's commit failed");
            e.to_string()
        })
    } else {
        Ok(())
    };
    for finish in finishes {
        finish(committed.as_ref().map(|_| ()).map_err(String::as_str));
    }
}

/// Runs `sql` as a statement kept prepared (a round's `BEGIN` and `COMMIT`
/// run a thousand times a second under load).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

impl Store {
    /// Runs `job` on the SQLite writer thread (in a savepoint: it must not
    /// begin a transaction of its own) while the sqlx writer is held, so no
    /// other write runs meanwhile; `rows` is about how many rows it writes.
    /// `None` when this store has no such thread (PostgreSQL, an in-memory
    /// SQLite database) or the job did not finish (the thread is gone, or
    /// the job panicked and rolled back): the caller writes through sqlx
    /// instead.
    pub(super) async fn write_direct<R: Send + 'static>(
        &self,
        rows: usize,
        job: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> sqlx::Result<Option<R>> {
        let Some(direct) = self.direct.as_ref() else { return Ok(None) };
        match direct.run(job, rows).await {
            Ok(answer) => answer.map(Some).map_err(sqlx::Error::AnyDriverError),
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

    /// A database with tables `t`, and `parent`/`child` whose foreign key
    /// is checked at commit; its writer thread and sqlx writer.
    async fn writer() -> (tempfile::TempDir, String, SqliteWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db").to_string_lossy().into_owned();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        sqlx::any::install_default_drivers();
        let hold = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        let writer = SqliteWriter::open(&path, "FULL", hold).unwrap();
        (dir, path, writer)
    }

    fn values(path: &str, sql: &str) -> String {
        let conn = Connection::open(path).unwrap();
        conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0)).unwrap().unwrap_or_default()
    }

    fn insert(conn: &mut Connection, v: i64) -> rusqlite::Result<rusqlite::Savepoint<'_>> {
        let sp = conn.savepoint()?;
        sp.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        Ok(sp)
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_its_round_goes_on() {
        let (_dir, path, writer) = writer().await;
        // Sent together, before the gathering task runs: one round.
        let (panicked, other) = tokio::join!(
            writer.run(
                |conn| {
                    let _sp = insert(conn, 1).unwrap();
                    panic!("a bug in a job");
                    #[allow(unreachable_code)]
                    Ok(())
                },
                1
            ),
            writer.run(|conn| insert(conn, 2)?.commit(), 1),
        );
        assert!(panicked.is_err(), "the caller learns the job did not finish");
        other.unwrap().unwrap();
        assert_eq!(
            values(&path, "SELECT group_concat(v) FROM t"),
            "2",
            "the panicked job's insert was rolled back"
        );
        writer.run(|conn| insert(conn, 3)?.commit(), 1).await.unwrap().unwrap();
        assert_eq!(values(&path, "SELECT group_concat(v) FROM t"), "2,3", "the thread goes on");
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_alone_and_its_round_commits() {
        let (_dir, path, writer) = writer().await;
        let (failed, other) = tokio::join!(
            writer.run(
                |conn| {
                    let sp = insert(conn, 1)?;
                    sp.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                    sp.commit()
                },
                1
            ),
            writer.run(|conn| insert(conn, 2)?.commit(), 1),
        );
        let error = failed.unwrap().unwrap_err().to_string();
        assert!(error.contains("no_such_table"), "{error}");
        other.unwrap().unwrap();
        assert_eq!(values(&path, "SELECT group_concat(v) FROM t"), "2");
    }

    #[tokio::test]
    async fn jobs_waiting_together_share_one_commit_and_when_it_fails_none_is_stored() {
        let (_dir, path, writer) = writer().await;
        // The child's parent does not exist: its savepoint is released, but
        // the round's commit fails, for both jobs.
        let orphan = |conn: &mut Connection| {
            let sp = conn.savepoint()?;
            sp.execute("INSERT INTO child (parent) VALUES (7)", [])?;
            sp.commit()
        };
        let (first, second) =
            tokio::join!(writer.run(orphan, 1), writer.run(|conn| insert(conn, 1)?.commit(), 1));
        for answer in [first, second] {
            let error = answer.unwrap().unwrap_err().to_string();
            assert!(error.contains("FOREIGN KEY"), "{error}");
        }
        assert_eq!(values(&path, "SELECT count(*) || '/' || (SELECT count(*) FROM child) FROM t"), "0/0");
        // The next round starts clean.
        writer.run(|conn| insert(conn, 2)?.commit(), 1).await.unwrap().unwrap();
        assert_eq!(values(&path, "SELECT group_concat(v) FROM t"), "2");
    }

    #[tokio::test]
    async fn after_closing_jobs_are_refused_and_the_file_is_released() {
        let (_dir, path, writer) = writer().await;
        writer.run(|conn| insert(conn, 3)?.commit(), 1).await.unwrap().unwrap();
        writer.close().await;
        assert!(writer.run(|_| Ok(()), 1).await.is_err());
        // Its connection is gone: an exclusive lock can be taken at once
        // (the sqlx writer is idle and holds no lock).
        let other = Connection::open(&path).unwrap();
        other.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;").unwrap();
        let n: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
