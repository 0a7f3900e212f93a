//! Reads in place on SQLite: a few read connections used straight from the
//! calling task, for the short reads by key that every message request
//! makes (the opt-out check, `inbound.rs`) and the dispatcher's look for
//! due work before each claim (`messages.rs`).
//!
//! Through sqlx each read is a hand-off to the connection's own thread and
//! back, which on this path costs more than the read itself: at 5,000
//! single requests/s, leaving the opt-out check out saved a fifth of
//! `serve`'s CPU per request (BENCHMARKS.md, *Where the time goes* 18).
//! Here the read runs on the caller's thread instead, so only short reads
//! by index belong here. In WAL mode a reader never waits for the writer;
//! the rare moment SQLite answers "busy" waits at most [`BUSY_TIMEOUT`],
//! and the caller then reads through sqlx.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Read connections: one per core of the machines we run on, so that the
/// runtime's workers seldom wait for each other.
const CONNECTIONS: usize = 2;

/// Longest wait for a lock on the database before giving up on reading here.
const BUSY_TIMEOUT: Duration = Duration::from_millis(100);

pub(super) struct SqliteReader {
    connections: Vec<Mutex<Connection>>,
}

impl SqliteReader {
    /// Opens read connections to the database file at `path`.
    pub(super) fn open(path: &str) -> rusqlite::Result<Self> {
        let connections = (0..CONNECTIONS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                // Readers only: a write through one of these is refused.
                conn.execute_batch("PRAGMA query_only = ON;")?;
                conn.set_prepared_statement_cache_capacity(32);
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self { connections })
    }

    /// Runs `read` on a free connection (or waits for the first), in place.
    pub(super) fn read<R>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> rusqlite::Result<R> {
        // A read that panicked left its connection as it was: no transaction
        // stays open after a statement, so a poisoned lock is still usable.
        let free = self.connections.iter().find_map(|c| match c.try_lock() {
            Ok(conn) => Some(conn),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
        let conn: MutexGuard<'_, Connection> =
            free.unwrap_or_else(|| self.connections[0].lock().unwrap_or_else(PoisonError::into_inner));
        read(&conn)
    }
}

impl super::Store {
    /// `read` on a SQLite read connection in place; `None` when this store
    /// has none (PostgreSQL, an in-memory database) or the read failed
    /// (logged): the caller then reads through sqlx.
    pub(super) fn read_in_place<R>(
        &self,
        what: &str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Option<R> {
        match self.in_place.as_ref()?.read(read) {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::debug!(error = %e, what, "reading in place failed; reading through sqlx");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, String, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db").to_string_lossy().into_owned();
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);").unwrap();
        (dir, path, writer)
    }

    fn count(conn: &Connection) -> rusqlite::Result<i64> {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
    }

    #[test]
    fn a_read_sees_every_commit_before_it_and_cannot_write() {
        let (_dir, path, writer) = database();
        let reader = SqliteReader::open(&path).unwrap();
        assert_eq!(reader.read(count).unwrap(), 0);
        writer.execute("INSERT INTO t (v) VALUES (1)", []).unwrap();
        assert_eq!(reader.read(count).unwrap(), 1, "the writer's commit is seen at once");
        let refused = reader.read(|c| c.execute("INSERT INTO t (v) VALUES (2)", []));
        assert!(refused.is_err(), "a reader refuses writes: {refused:?}");
        assert_eq!(reader.read(count).unwrap(), 1);
    }

    #[test]
    fn reads_at_once_each_get_a_connection_and_one_more_waits() {
        let (_dir, path, _writer) = database();
        let reader = SqliteReader::open(&path).unwrap();
        // Hold every connection: one more read waits for the first and
        // then runs, whichever thread it is on.
        let held: Vec<_> = reader.connections.iter().map(|c| c.lock().unwrap()).collect();
        std::thread::scope(|s| {
            let waiting = s.spawn(|| reader.read(count));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiting.is_finished(), "no connection is free");
            drop(held);
            assert_eq!(waiting.join().unwrap().unwrap(), 0);
        });
    }

    #[test]
    fn a_read_that_panicked_leaves_its_connection_usable() {
        let (_dir, path, _writer) = database();
        let reader = SqliteReader::open(&path).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reader.read(|_| -> rusqlite::Result<()> { panic!("a bug in a read") })
        }));
        assert!(panicked.is_err());
        for _ in 0..CONNECTIONS + 1 {
            assert_eq!(reader.read(count).unwrap(), 0);
        }
    }
}
