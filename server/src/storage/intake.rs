//! Intake: accepted messages are stored by a group-commit writer
//! (`group_commit.rs`), each request answered after the commit that holds
//! its messages.

use super::group_commit::{Batched, GroupCommit};
use super::messages::{AcceptRequest, Accepted};
use super::{Store, StoreError};

/// The writer of accepted messages.
pub type Intake = GroupCommit<AcceptRequest>;

impl Batched for AcceptRequest {
    type Answer = Accepted;
    const KIND: &'static str = "intake";
    /// Messages stored per transaction at most.
    const MAX_BATCH: usize = 5_000;

    fn size(&self) -> usize {
        self.messages.len()
    }

    async fn commit(store: &Store, batch: Vec<Self>) -> sqlx::Result<Vec<Result<Accepted, StoreError>>> {
        store.accept_batch(batch.into()).await
    }
}
