//! Intake: the group-commit writer for accepted messages. Interfaces hand
//! their requests to one task, which stores whatever has gathered since its
//! last commit in one transaction and answers each request after that
//! commit. Under load, many requests share one commit (one disk sync);
//! alone, a request waits for nothing but its own.

use tokio::sync::{mpsc, oneshot};

use super::messages::{AcceptRequest, Accepted};
use super::{Store, StoreError};

/// Requests waiting for the writer at most; senders wait beyond that.
const QUEUE: usize = 4_096;
/// Messages stored per transaction at most (a request is never split).
const MAX_BATCH_MESSAGES: usize = 5_000;

type Reply = oneshot::Sender<Result<Accepted, StoreError>>;

#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<(AcceptRequest, Reply)>,
}

impl Intake {
    /// Starts the writer task; it ends when every `Intake` handle is dropped.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Stores one request's messages; returns after they are committed.
    pub async fn accept(&self, request: AcceptRequest) -> Result<Accepted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<(AcceptRequest, Reply)>) {
    let mut held: Option<(AcceptRequest, Reply)> = None;
    loop {
        let first = match held.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let mut size = first.0.messages.len();
        let mut batch = vec![first];
        while size < MAX_BATCH_MESSAGES {
            match rx.try_recv() {
                Ok(next) if size + next.0.messages.len() <= MAX_BATCH_MESSAGES => {
                    size += next.0.messages.len();
                    batch.push(next);
                }
                Ok(next) => {
                    held = Some(next);
                    break;
                }
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match store.accept_batch(&requests).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = requests.len(), "storing accepted messages failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(message.clone()))));
                }
            }
        }
    }
}
