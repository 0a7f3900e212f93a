//! Group commit: one writer task per kind of request stores whatever has
//! gathered since its last commit in one transaction and answers each
//! request after that commit. Under load, many requests share one commit
//! (one disk sync); alone, a request waits for nothing but its own.
//!
//! Accepted messages (`Intake`) and audit log entries (`AuditLog`) are
//! written this way, so an API request that sends a message and is audited
//! costs two shared commits rather than one of its own each.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};

/// Requests waiting for a writer at most; senders wait beyond that.
const QUEUE: usize = 4_096;

/// A request a group-commit writer stores.
pub trait Batched: Sized + Send + Sync + 'static {
    type Answer: Send + 'static;
    /// The writer's name in metrics (`kurier_store_write_seconds`).
    const KIND: &'static str;
    /// Rows stored per transaction at most (a request is never split).
    const MAX_BATCH: usize;
    /// Rows this request adds to a transaction.
    fn size(&self) -> usize {
        1
    }
    /// Stores `batch` in one transaction: one answer per request, in order.
    fn commit(
        store: &Store,
        batch: Vec<Self>,
    ) -> impl Future<Output = sqlx::Result<Vec<Result<Self::Answer, StoreError>>>> + Send;
}

type Reply<A> = oneshot::Sender<Result<A, StoreError>>;

/// A handle on a group-commit writer.
pub struct GroupCommit<R: Batched> {
    tx: mpsc::Sender<(R, Reply<R::Answer>)>,
}

impl<R: Batched> Clone for GroupCommit<R> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<R: Batched> GroupCommit<R> {
    /// Starts the writer task; it ends when every handle is dropped.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Stores one request; returns after it is committed.
    pub async fn submit(&self, request: R) -> Result<R::Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run<R: Batched>(store: Store, mut rx: mpsc::Receiver<(R, Reply<R::Answer>)>) {
    let mut held: Option<(R, Reply<R::Answer>)> = None;
    loop {
        let first = match held.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let size = first.0.size();
        let mut batch = vec![first];
        held = fill(&mut batch, size, R::MAX_BATCH, || rx.try_recv().ok(), |r| r.0.size());
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let count = requests.len();
        let started = std::time::Instant::now();
        let committed = R::commit(&store, requests).await;
        crate::telemetry::store_write(R::KIND, started.elapsed().as_secs_f64());
        match committed {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = count, "a group commit failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(message.clone()))));
                }
            }
        }
    }
}

/// Adds to `batch`, whose requests count `size`, those `try_next` has
/// waiting while the total stays within `max` as `size_of` counts them (a
/// request is never split); returns the first that did not fit, to start
/// the next batch.
pub(super) fn fill<T>(
    batch: &mut Vec<T>,
    mut size: usize,
    max: usize,
    mut try_next: impl FnMut() -> Option<T>,
    size_of: impl Fn(&T) -> usize,
) -> Option<T> {
    while size < max {
        let next = try_next()?;
        let more = size_of(&next);
        if more > max - size {
            return Some(next);
        }
        size += more;
        batch.push(next);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn a_batch_takes_what_fits_and_holds_over_the_first_that_does_not() {
        let mut waiting = vec![400, 300, 200, 100].into_iter();
        let mut batch = vec![500];
        let held = fill(&mut batch, 500, 1_000, || waiting.next(), |n| *n);
        assert_eq!(batch, [500, 400]);
        assert_eq!(held, Some(300), "the next batch starts with it");
        assert_eq!(waiting.next(), Some(200), "nothing past it was taken");

        let mut batch = vec![1];
        let mut waiting = vec![usize::MAX].into_iter();
        assert_eq!(fill(&mut batch, 1, 1_000, || waiting.next(), |n| *n), Some(usize::MAX), "never fits");
        let mut waiting = Vec::<usize>::new().into_iter();
        assert_eq!(fill(&mut batch, 1, 1_000, || waiting.next(), |n| *n), None, "nothing waiting");
        assert_eq!(batch, [1]);
    }
}
