//! Schema migrations, embedded in the binary and applied at start (or by
//! `kurier migrate`). Each migration exists once per dialect with the same
//! meaning; a table `kurier_migrations` records which were applied. A
//! migration may have a step written in Rust, run in the same transaction
//! right after its SQL (e.g. filling a new index with text folded in Rust).

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Executor as _, Row as _};

use super::{Dialect, Store, now_micros};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    then: Option<Step>,
}

/// Work a migration does in Rust after its SQL.
#[derive(Clone, Copy)]
enum Step {
    /// Index every stored message for search.
    IndexMessages,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../../migrations/postgres/0001_foundation.sql"),
        then: None,
    },
    Migration {
        version: 2,
        name: "parts_and_inbound",
        sqlite: include_str!("../../migrations/sqlite/0002_parts_and_inbound.sql"),
        postgres: include_str!("../../migrations/postgres/0002_parts_and_inbound.sql"),
        then: None,
    },
    Migration {
        version: 3,
        name: "contacts",
        sqlite: include_str!("../../migrations/sqlite/0003_contacts.sql"),
        postgres: include_str!("../../migrations/postgres/0003_contacts.sql"),
        then: None,
    },
    Migration {
        version: 4,
        name: "account_settings",
        sqlite: include_str!("../../migrations/sqlite/0004_account_settings.sql"),
        postgres: include_str!("../../migrations/postgres/0004_account_settings.sql"),
        then: None,
    },
    Migration {
        version: 5,
        name: "claim_order",
        sqlite: include_str!("../../migrations/sqlite/0005_claim_order.sql"),
        postgres: include_str!("../../migrations/postgres/0005_claim_order.sql"),
        then: None,
    },
    Migration {
        version: 6,
        name: "message_search",
        sqlite: include_str!("../../migrations/sqlite/0006_message_search.sql"),
        postgres: include_str!("../../migrations/postgres/0006_message_search.sql"),
        then: Some(Step::IndexMessages),
    },
    Migration {
        version: 7,
        name: "campaigns",
        sqlite: include_str!("../../migrations/sqlite/0007_campaigns.sql"),
        postgres: include_str!("../../migrations/postgres/0007_campaigns.sql"),
        then: None,
    },
    Migration {
        version: 8,
        name: "identity",
        sqlite: include_str!("../../migrations/sqlite/0008_identity.sql"),
        postgres: include_str!("../../migrations/postgres/0008_identity.sql"),
        then: None,
    },
    Migration {
        version: 9,
        name: "two_way",
        sqlite: include_str!("../../migrations/sqlite/0009_two_way.sql"),
        postgres: include_str!("../../migrations/postgres/0009_two_way.sql"),
        then: None,
    },
    Migration {
        version: 10,
        name: "notifications",
        sqlite: include_str!("../../migrations/sqlite/0010_notifications.sql"),
        postgres: include_str!("../../migrations/postgres/0010_notifications.sql"),
        then: None,
    },
    Migration {
        version: 11,
        name: "billing",
        sqlite: include_str!("../../migrations/sqlite/0011_billing.sql"),
        postgres: include_str!("../../migrations/postgres/0011_billing.sql"),
        then: None,
    },
    Migration {
        version: 12,
        name: "replies_polls",
        sqlite: include_str!("../../migrations/sqlite/0012_replies_polls.sql"),
        postgres: include_str!("../../migrations/postgres/0012_replies_polls.sql"),
        then: None,
    },
    Migration {
        version: 13,
        name: "bind_leases",
        sqlite: include_str!("../../migrations/sqlite/0013_bind_leases.sql"),
        postgres: include_str!("../../migrations/postgres/0013_bind_leases.sql"),
        then: None,
    },
    Migration {
        version: 14,
        name: "poll_replies",
        sqlite: include_str!("../../migrations/sqlite/0014_poll_replies.sql"),
        postgres: include_str!("../../migrations/postgres/0014_poll_replies.sql"),
        then: None,
    },
    Migration {
        version: 16,
        name: "inbound_webhook",
        sqlite: include_str!("../../migrations/sqlite/0016_inbound_webhook.sql"),
        postgres: include_str!("../../migrations/postgres/0016_inbound_webhook.sql"),
        then: None,
    },
    Migration {
        version: 17,
        name: "api_key_expiry",
        sqlite: include_str!("../../migrations/sqlite/0017_api_key_expiry.sql"),
        postgres: include_str!("../../migrations/postgres/0017_api_key_expiry.sql"),
        then: None,
    },
    Migration {
        version: 18,
        name: "campaign_senders",
        sqlite: include_str!("../../migrations/sqlite/0018_campaign_senders.sql"),
        postgres: include_str!("../../migrations/postgres/0018_campaign_senders.sql"),
        then: None,
    },
    Migration {
        version: 19,
        name: "forward_limits",
        sqlite: include_str!("../../migrations/sqlite/0019_forward_limits.sql"),
        postgres: include_str!("../../migrations/postgres/0019_forward_limits.sql"),
        then: None,
    },
    Migration {
        version: 20,
        name: "managed_connectors",
        sqlite: include_str!("../../migrations/sqlite/0020_managed_connectors.sql"),
        postgres: include_str!("../../migrations/postgres/0020_managed_connectors.sql"),
        then: None,
    },
    Migration {
        version: 21,
        name: "user_preferences",
        sqlite: include_str!("../../migrations/sqlite/0021_user_preferences.sql"),
        postgres: include_str!("../../migrations/postgres/0021_user_preferences.sql"),
        then: None,
    },
    Migration {
        version: 22,
        name: "event_rowids",
        sqlite: include_str!("../../migrations/sqlite/0022_event_rowids.sql"),
        postgres: include_str!("../../migrations/postgres/0022_event_rowids.sql"),
        then: None,
    },
    Migration {
        version: 23,
        name: "message_trail",
        sqlite: include_str!("../../migrations/sqlite/0023_message_trail.sql"),
        postgres: include_str!("../../migrations/postgres/0023_message_trail.sql"),
        then: None,
    },
    Migration {
        version: 24,
        name: "inbound_parts_total",
        sqlite: include_str!("../../migrations/sqlite/0024_inbound_parts_total.sql"),
        postgres: include_str!("../../migrations/postgres/0024_inbound_parts_total.sql"),
        then: None,
    },
    Migration {
        version: 25,
        name: "transactional_messages",
        sqlite: include_str!("../../migrations/sqlite/0025_transactional_messages.sql"),
        postgres: include_str!("../../migrations/postgres/0025_transactional_messages.sql"),
        then: None,
    },
    Migration {
        version: 26,
        name: "claimed_by",
        sqlite: include_str!("../../migrations/sqlite/0026_claimed_by.sql"),
        postgres: include_str!("../../migrations/postgres/0026_claimed_by.sql"),
        then: None,
    },
    Migration {
        version: 27,
        name: "outbox_claims",
        sqlite: include_str!("../../migrations/sqlite/0027_outbox_claims.sql"),
        postgres: include_str!("../../migrations/postgres/0027_outbox_claims.sql"),
        then: None,
    },
    Migration {
        version: 28,
        name: "import_problems",
        sqlite: include_str!("../../migrations/sqlite/0028_import_problems.sql"),
        postgres: include_str!("../../migrations/postgres/0028_import_problems.sql"),
        then: None,
    },
    Migration {
        version: 29,
        name: "idempotency_key_expiry",
        sqlite: include_str!("../../migrations/sqlite/0029_idempotency_key_expiry.sql"),
        postgres: include_str!("../../migrations/postgres/0029_idempotency_key_expiry.sql"),
        then: None,
    },
    Migration {
        version: 30,
        name: "audit_log_order",
        sqlite: include_str!("../../migrations/sqlite/0030_audit_log_order.sql"),
        postgres: include_str!("../../migrations/postgres/0030_audit_log_order.sql"),
        then: None,
    },
    Migration {
        version: 31,
        name: "statement_order",
        sqlite: include_str!("../../migrations/sqlite/0031_statement_order.sql"),
        postgres: include_str!("../../migrations/postgres/0031_statement_order.sql"),
        then: None,
    },
];

/// Arbitrary constant key for PostgreSQL's advisory lock, so that nodes
/// starting together migrate one at a time.
const PG_MIGRATION_LOCK: i64 = 0x6b75_7269_6572;

pub(super) async fn run(store: &Store) -> anyhow::Result<()> {
    let mut conn = store.writer.acquire().await?;
    if store.dialect == Dialect::Postgres {
        sqlx::raw_sql(AssertSqlSafe(format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})")))
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(&mut conn, store.dialect).await;
    if store.dialect == Dialect::Postgres {
        sqlx::raw_sql(AssertSqlSafe(format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})")))
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(conn: &mut sqlx::AnyConnection, dialect: Dialect) -> anyhow::Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS kurier_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM kurier_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    if let Some(newest) = applied.iter().max()
        && *newest > MIGRATIONS.last().map_or(0, |m| m.version)
    {
        anyhow::bail!(
            "the database was migrated by a newer Kurier (schema version {newest}); upgrade Kurier"
        );
    }
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("migration {} ({})", m.version, m.name))?;
        match m.then {
            Some(Step::IndexMessages) => {
                let n = super::search::backfill(&mut tx)
                    .await
                    .with_context(|| format!("migration {} ({}): indexing messages", m.version, m.name))?;
                tracing::info!(messages = n, "indexed the message history for search");
            }
            None => {}
        }
        sqlx::query("INSERT INTO kurier_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite database as Kurier left it at schema version `upto`.
    fn sqlite_at(path: &std::path::Path, upto: i64) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE kurier_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);",
        )
        .unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.version <= upto) {
            conn.execute_batch(m.sqlite).unwrap();
            conn.execute(
                "INSERT INTO kurier_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn history_rows_keep_their_ids_and_order_when_autoincrement_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        sqlite_at(&path, 21);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "INSERT INTO message_events (id, message_id, status, at) VALUES (3, 'm1', 'queued', 10);
                 INSERT INTO message_events (id, message_id, status, at) VALUES (9, 'm1', 'sending', 20);
                 INSERT INTO message_events (id, message_id, status, at) VALUES (12, 'm2', 'queued', 30);",
            )
            .unwrap();
        }
        let store = Store::open(&format!("sqlite://{}", path.display()), 2, "full").await.unwrap();
        let history = store.message_events("m1").await.unwrap();
        let statuses: Vec<String> = history.iter().map(|e| e.status.as_str().to_owned()).collect();
        assert_eq!(statuses, ["queued", "sending"]);
        sqlx::query("INSERT INTO message_events (message_id, status, at) VALUES ('m1', 'sent', 40)")
            .execute(&store.writer)
            .await
            .unwrap();
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM message_events ORDER BY id")
            .fetch_all(&store.reader)
            .await
            .unwrap();
        assert_eq!(ids, [3, 9, 12, 13], "old ids kept, a new row comes after them");
        let table: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'message_events'",
        )
        .fetch_one(&store.reader)
        .await
        .unwrap();
        assert!(!table.contains("AUTOINCREMENT"), "{table}");
        let index: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'message_events_message'",
        )
        .fetch_one(&store.reader)
        .await
        .unwrap();
        assert!(index.contains("message_events (message_id, id)"), "the history's index is back: {index}");
        store.close().await;
    }
}
