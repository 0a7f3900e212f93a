//! Counts of an account's messages over a time window, for the dashboard
//! and the message reports: how many went out and how they ended, how many
//! came in, per hour or day for a chart, or grouped by status, connector or
//! the number's first digits. Reads only.
//!
//! Message ids are UUIDv7, so "created since T" is also "id at least the
//! smallest UUIDv7 of T", which the `(account_id, id)` index serves; the
//! `created_at` condition keeps the answer exact. An id is made after its
//! message's `created_at` is taken (the intake checks the request first, a
//! campaign batch renders its recipients first), never before, so the lower
//! bound is exact; the upper bound on ids lies [`ID_LAG_MICROS`] past the
//! window's end.

use sqlx::Row as _;

use super::Store;
use super::sql::Sql;

/// Messages created in a window, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Outbound messages the SMSC accepted: `sent`, and those since
    /// delivered, undelivered or expired.
    pub sent: i64,
    pub delivered: i64,
    /// `undelivered` and `expired`.
    pub undelivered: i64,
    /// `failed` and `rejected`.
    pub failed: i64,
    /// Inbound messages.
    pub received: i64,
    /// Outbound messages not yet handed over (`scheduled`, `queued`, `sending`).
    pub waiting: i64,
    /// Outbound messages canceled before they were handed over.
    pub canceled: i64,
}

impl MessageCounts {
    /// Whether an outbound message in `status` went out (the SMSC accepted
    /// it): the ones `sent` counts, whose segments an operator charges for.
    pub fn went_out(status: &str) -> bool {
        Self::WENT_OUT.contains(&status)
    }

    /// The statuses of [`Self::went_out`].
    pub const WENT_OUT: [&'static str; 4] = ["sent", "delivered", "undelivered", "expired"];

    pub fn add(&mut self, direction: &str, status: &str, n: i64) {
        if direction == "inbound" {
            self.received += n;
            return;
        }
        if Self::went_out(status) {
            self.sent += n;
        }
        match status {
            "delivered" => self.delivered += n,
            "undelivered" | "expired" => self.undelivered += n,
            "failed" | "rejected" => self.failed += n,
            "scheduled" | "queued" | "sending" => self.waiting += n,
            "canceled" => self.canceled += n,
            _ => {}
        }
    }
}

/// What a message report's rows are grouped by, as the database can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Status,
    /// The connector that carried the message (empty: none yet).
    Connector,
    /// The first digits of the other party's number (`+486`): enough for
    /// its calling code.
    Prefix,
    /// Whole hours since the window's start (`"0"`, `"1"`, …).
    Hour,
}

/// Messages of one group, one direction and one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    pub key: String,
    pub direction: String,
    pub status: String,
    pub messages: i64,
    pub segments: i64,
}

/// One bar of a chart: messages created from `start` to the next bar's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub start: i64,
    pub outbound: i64,
    pub delivered: i64,
    pub inbound: i64,
}

/// How much later than its message's `created_at` an id may have been
/// made: an upper bound on ids this far past a window's end still finds
/// every message created in the window (the intake or a campaign batch takes
/// seconds at worst between the two), and the index still bounds the scan.
const ID_LAG_MICROS: i64 = 3_600_000_000;

/// The smallest UUIDv7 (as stored, lower-case hyphenated) of a time in
/// microseconds: every id made at or after it sorts at or after this.
fn min_id_at(micros: i64) -> String {
    let ms = (micros.max(0) / 1000) as u64 & 0xffff_ffff_ffff;
    format!("{:08x}-{:04x}-0000-0000-000000000000", ms >> 16, ms & 0xffff)
}

impl Store {
    /// The account's messages created at or after `since` (microseconds).
    pub async fn message_counts(&self, account_id: &str, since: i64) -> sqlx::Result<MessageCounts> {
        let rows = sqlx::query(
            "SELECT direction, status, COUNT(*) FROM messages
             WHERE account_id = $1 AND id >= $2 AND created_at >= $3
             GROUP BY direction, status",
        )
        .bind(account_id)
        .bind(min_id_at(since))
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        let mut counts = MessageCounts::default();
        for row in rows {
            let direction: String = row.try_get(0)?;
            let status: String = row.try_get(1)?;
            counts.add(&direction, &status, row.try_get(2)?);
        }
        Ok(counts)
    }

    /// A bucket for each pair of neighbours in `bounds` (increasing
    /// microseconds, as a zone's days or hours fall), each with the messages
    /// created in `[bounds[i], bounds[i + 1])`, empty ones included.
    pub async fn message_buckets(&self, account_id: &str, bounds: &[i64]) -> sqlx::Result<Vec<Bucket>> {
        let (Some(&start), Some(&end)) = (bounds.first(), bounds.last()) else { return Ok(Vec::new()) };
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT CAST(CASE");
        for (i, bound) in bounds.iter().skip(1).enumerate() {
            sql.push(" WHEN created_at < ").int(*bound).push(&format!(" THEN {i}"));
        }
        sql.push(" END AS BIGINT) AS b, direction, status, COUNT(*) FROM messages WHERE account_id = ")
            .text(account_id)
            .push(" AND id >= ")
            .text(min_id_at(start))
            .push(" AND created_at >= ")
            .int(start)
            .push(" AND created_at < ")
            .int(end)
            .push(" GROUP BY b, direction, status");
        let rows = sql.query().fetch_all(&self.reader).await?;
        let mut buckets: Vec<Bucket> =
            bounds.windows(2).map(|w| Bucket { start: w[0], ..Bucket::default() }).collect();
        for row in rows {
            let b: i64 = row.try_get(0)?;
            let Some(bucket) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) else { continue };
            let direction: String = row.try_get(1)?;
            let status: String = row.try_get(2)?;
            let n: i64 = row.try_get(3)?;
            if direction == "inbound" {
                bucket.inbound += n;
            } else {
                bucket.outbound += n;
                if status == "delivered" {
                    bucket.delivered += n;
                }
            }
        }
        Ok(buckets)
    }
}

impl Store {
    /// The account's messages created in `[since, until)`, counted by
    /// `grouping`, direction and status.
    pub async fn message_groups(
        &self,
        account_id: &str,
        since: i64,
        until: i64,
        grouping: Grouping,
    ) -> sqlx::Result<Vec<GroupCount>> {
        let key = match grouping {
            Grouping::Status => "status",
            Grouping::Connector => "COALESCE(connector, '')",
            Grouping::Prefix => {
                "substr(CASE WHEN direction = 'inbound' THEN COALESCE(from_addr, '') ELSE to_number END, 1, 4)"
            }
            Grouping::Hour => "CAST((created_at - $3) / 3600000000 AS TEXT)",
        };
        let sql = format!(
            "SELECT {key} AS k, direction, status, COUNT(*), CAST(COALESCE(SUM(segments), 0) AS BIGINT)
             FROM messages
             WHERE account_id = $1 AND id >= $2 AND created_at >= $3 AND created_at < $4 AND id < $5
             GROUP BY k, direction, status"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(min_id_at(since))
            .bind(since)
            .bind(until)
            // Ids made up to an hour after their message's creation time sort below this.
            .bind(min_id_at(until.saturating_add(ID_LAG_MICROS)))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(GroupCount {
                    key: row.try_get(0)?,
                    direction: row.try_get(1)?,
                    status: row.try_get(2)?,
                    messages: row.try_get(3)?,
                    segments: row.try_get(4)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_id_of_a_time_sorts_before_every_id_made_then() {
        let t = chrono::Utc::now().timestamp_micros();
        let floor = min_id_at(t - 1000);
        for _ in 0..100 {
            let id = crate::domain::new_id();
            assert!(id >= floor, "{id} < {floor}");
        }
        assert!(min_id_at(t + 60_000_000) > crate::domain::new_id());
    }
}
