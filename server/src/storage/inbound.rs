//! Messages from phones (MO): stored as `inbound` messages with status
//! `received`; parts of a long message wait in `inbound_parts` until the
//! last one arrives, then become one message.
//!
//! Which account an inbound message belongs to is decided by its number once
//! numbers exist (the two-way messaging issue); until then it is the first
//! account, the one created at first start.

use sqlx::{AnyConnection, Row as _};

use super::messages::encoding_and_segments;
use crate::connectors::InboundSms;
use crate::domain::{Direction, MessageStatus, new_id};

/// Stores one received message or part, within the caller's transaction.
pub(super) async fn store_inbound(
    tx: &mut AnyConnection,
    connector: &str,
    sms: &InboundSms,
    now: i64,
) -> sqlx::Result<()> {
    let text = match sms.concat {
        Some((reference, total, seq)) if total > 1 => {
            sqlx::query(
                "INSERT INTO inbound_parts (connector, from_addr, to_addr, reference, total, seq, body, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (connector, from_addr, to_addr, reference, seq) DO NOTHING",
            )
            .bind(connector)
            .bind(&sms.from)
            .bind(&sms.to)
            .bind(i64::from(reference))
            .bind(i64::from(total))
            .bind(i64::from(seq))
            .bind(&sms.text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let parts: Vec<String> = sqlx::query(
                "SELECT body FROM inbound_parts
                 WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND reference = $4 ORDER BY seq",
            )
            .bind(connector)
            .bind(&sms.from)
            .bind(&sms.to)
            .bind(i64::from(reference))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
            if parts.len() < usize::from(total) {
                return Ok(()); // wait for the rest
            }
            sqlx::query(
                "DELETE FROM inbound_parts WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND reference = $4",
            )
            .bind(connector)
            .bind(&sms.from)
            .bind(&sms.to)
            .bind(i64::from(reference))
            .execute(&mut *tx)
            .await?;
            parts.concat()
        }
        _ => sms.text.clone(),
    };
    let account: String = sqlx::query("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let (encoding, segments) = encoding_and_segments(&text);
    let id = new_id();
    sqlx::query(
        "INSERT INTO messages (id, account_id, direction, status, to_number, from_addr, body, encoding, segments,
             connector, smsc_id, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&id)
    .bind(&account)
    .bind(Direction::Inbound.as_str())
    .bind(MessageStatus::Received.as_str())
    .bind(&sms.to)
    .bind(&sms.from)
    .bind(&text)
    .bind(encoding)
    .bind(segments)
    .bind(connector)
    .bind(sms.smsc_id.as_deref())
    .bind(now)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO message_events (message_id, status, at, detail) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(MessageStatus::Received.as_str())
        .bind(now)
        .bind(format!("via {connector}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}
