//! Replies routed back and conversations.
//!
//! Every outbound message sent from one of the account's numbers records a
//! reply route: (recipient, number) → that message, replacing the older
//! one. A reply from the recipient to the number is then linked to it (and
//! to its campaign and run) — or, when it has not gone out (scheduled,
//! held, canceled), to the last message that way that did. The account's
//! pool is its dedicated numbers marked `in_pool`; [`Store::pool_senders`]
//! picks, per recipient, the pool number least recently used for them, so
//! that each number identifies one message per recipient for as long as
//! possible.
//!
//! A conversation is every message to and from one phone, in order; the
//! `conversations` table lists the phones that wrote in, newest first.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::messages::NewMessage;
use super::{Dialect, MessageCounts, Store};
use crate::domain::{Direction, SenderId};

/// Rows per generated statement.
const CHUNK: usize = 400;

/// One phone's conversation as the inbox lists it.
#[derive(Debug, Clone)]
pub struct ConversationRecord {
    pub phone: String,
    pub last_message_id: String,
    pub last_at: i64,
    /// The account's number the phone last wrote to.
    pub number: Option<String>,
    pub received: i64,
}

/// What a received message was linked to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyLink {
    pub message_id: Option<String>,
    pub campaign_id: Option<String>,
    pub run_id: Option<String>,
}

impl Store {
    /// The account's pool numbers, in order.
    pub async fn pool_numbers(&self, account_id: &str) -> sqlx::Result<Vec<String>> {
        sqlx::query("SELECT number FROM numbers WHERE account_id = $1 AND in_pool = 1 ORDER BY number")
            .bind(account_id)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
    }

    /// Marks a number as in the account's pool or not.
    pub async fn set_in_pool(&self, account_id: &str, id: &str, in_pool: bool) -> sqlx::Result<()> {
        sqlx::query("UPDATE numbers SET in_pool = $1 WHERE account_id = $2 AND id = $3")
            .bind(i64::from(in_pool))
            .bind(account_id)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// For each recipient (E.164), the pool number least recently used for
    /// them: first the numbers never used for them (in pool order), then
    /// the one used longest ago. `None` when the account has no pool.
    pub async fn pool_senders(
        &self,
        account_id: &str,
        recipients: &[&str],
    ) -> sqlx::Result<Option<Vec<String>>> {
        let pool = self.pool_numbers(account_id).await?;
        if pool.is_empty() {
            return Ok(None);
        }
        let mut used: HashMap<(String, String), i64> = HashMap::new();
        let distinct: Vec<&str> = recipients.iter().copied().collect::<HashSet<_>>().into_iter().collect();
        for chunk in distinct.chunks(CHUNK) {
            let sql = format!(
                "SELECT recipient, number, used_at FROM reply_routes WHERE account_id = {} AND recipient IN ({})",
                self.dialect.param(1),
                self.dialect.placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(account_id);
            for r in chunk {
                q = q.bind(*r);
            }
            for row in q.fetch_all(&self.reader).await? {
                used.insert((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?);
            }
        }
        let mut picked: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(recipients.len());
        for r in recipients {
            // A recipient twice in one call gets the next number round.
            let turn = picked.entry(r).or_insert(0);
            let mut order: Vec<(i64, usize)> = pool
                .iter()
                .enumerate()
                .map(|(i, n)| (used.get(&((*r).to_owned(), n.clone())).copied().unwrap_or(i64::MIN), i))
                .collect();
            order.sort();
            out.push(pool[order[*turn % order.len()].1].clone());
            *turn += 1;
        }
        Ok(Some(out))
    }

    /// The conversations of an account, newest activity first (then by
    /// phone); `after` is the previous page's last `(last_at, phone)`, so
    /// conversations sharing a `last_at` are split between pages exactly.
    pub async fn list_conversations(
        &self,
        account_id: &str,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> sqlx::Result<Vec<ConversationRecord>> {
        let (at, phone) = after.unwrap_or((i64::MAX, ""));
        sqlx::query(
            "SELECT phone, last_message_id, last_at, number, received FROM conversations
             WHERE account_id = $1 AND last_at <= $2 AND (last_at < $2 OR phone > $3)
             ORDER BY last_at DESC, phone LIMIT $4",
        )
        .bind(account_id)
        .bind(at)
        .bind(phone)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok(ConversationRecord {
                phone: r.try_get(0)?,
                last_message_id: r.try_get(1)?,
                last_at: r.try_get(2)?,
                number: r.try_get(3)?,
                received: r.try_get(4)?,
            })
        })
        .collect()
    }

    pub async fn get_conversation(
        &self,
        account_id: &str,
        phone: &str,
    ) -> sqlx::Result<Option<ConversationRecord>> {
        sqlx::query(
            "SELECT phone, last_message_id, last_at, number, received FROM conversations
             WHERE account_id = $1 AND phone = $2",
        )
        .bind(account_id)
        .bind(phone)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| {
            Ok(ConversationRecord {
                phone: r.try_get(0)?,
                last_message_id: r.try_get(1)?,
                last_at: r.try_get(2)?,
                number: r.try_get(3)?,
                received: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Ids of the messages to and from `phone` (E.164), newest first, older
    /// than `before`: sent to it, and received from it (written with or
    /// without the `+`).
    pub async fn thread_ids(
        &self,
        account_id: &str,
        phone: &str,
        before: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<String>> {
        let bare = phone.strip_prefix('+').unwrap_or(phone);
        let before = before.unwrap_or("~");
        let mut ids: Vec<String> = Vec::new();
        let sent = sqlx::query(
            "SELECT id FROM messages WHERE account_id = $1 AND to_number = $2 AND direction = $3 AND id < $4
             ORDER BY id DESC LIMIT $5",
        )
        .bind(account_id)
        .bind(phone)
        .bind(Direction::Outbound.as_str())
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        for r in &sent {
            ids.push(r.try_get(0)?);
        }
        for from in [phone, bare] {
            let received = sqlx::query(
                "SELECT id FROM messages WHERE account_id = $1 AND from_addr = $2 AND direction = $3 AND id < $4
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(account_id)
            .bind(from)
            .bind(Direction::Inbound.as_str())
            .bind(before)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?;
            for r in &received {
                ids.push(r.try_get(0)?);
            }
            if phone == bare {
                break;
            }
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(limit);
        Ok(ids)
    }

    /// The account's number `phone` last wrote to or was last written from:
    /// whichever happened later. A message from a name (`Shop`) names no
    /// number the phone can answer, so it is passed over.
    pub async fn last_number_with(&self, account_id: &str, phone: &str) -> sqlx::Result<Option<String>> {
        let ids = self.thread_ids(account_id, phone, None, 20).await?;
        for id in ids {
            let row = sqlx::query("SELECT direction, to_number, from_addr FROM messages WHERE id = $1")
                .bind(&id)
                .fetch_optional(&self.reader)
                .await?;
            let Some(r) = row else { continue };
            let direction: String = r.try_get(0)?;
            let number: Option<String> = if direction == Direction::Inbound.as_str() {
                let to: String = r.try_get(1)?;
                super::number_spellings(&to).into_iter().next()
            } else {
                r.try_get(2)?
            };
            if let Some(n) = number.filter(|n| SenderId::parse(n).is_ok_and(|s| !s.is_alphanumeric())) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// What a received message was linked to.
    pub async fn reply_link(&self, message_id: &str) -> sqlx::Result<ReplyLink> {
        let row = sqlx::query("SELECT reply_to, campaign_id, run_id FROM messages WHERE id = $1")
            .bind(message_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(match row {
            Some(r) => {
                ReplyLink { message_id: r.try_get(0)?, campaign_id: r.try_get(1)?, run_id: r.try_get(2)? }
            }
            None => ReplyLink::default(),
        })
    }
}

/// The last message of the account to `recipient` from `number` that went
/// out: (id, campaign_id, run_id).
async fn last_gone_out(
    tx: &mut AnyConnection,
    account_id: &str,
    recipient: &str,
    number: &str,
) -> sqlx::Result<Option<sqlx::any::AnyRow>> {
    let statuses = MessageCounts::WENT_OUT.map(|s| format!("'{s}'")).join(", ");
    sqlx::query(AssertSqlSafe(format!(
        "SELECT id, campaign_id, run_id FROM messages
         WHERE account_id = $1 AND to_number = $2 AND from_addr = $3 AND direction = $4
           AND status IN ({statuses})
         ORDER BY id DESC LIMIT 1"
    )))
    .bind(account_id)
    .bind(recipient)
    .bind(number)
    .bind(Direction::Outbound.as_str())
    .fetch_optional(&mut *tx)
    .await
}

/// Records the reply routes of messages just stored: each one sent from a
/// number of its account becomes the message a reply to that number answers.
pub(super) async fn record_reply_routes(
    tx: &mut AnyConnection,
    messages: &[(&str, &NewMessage, i64)],
) -> sqlx::Result<()> {
    let mut plan = ReplyRoutes::new(messages);
    for account in plan.accounts() {
        let rows = sqlx::query("SELECT number FROM numbers WHERE account_id = $1")
            .bind(account)
            .fetch_all(&mut *tx)
            .await?;
        let set = rows.iter().map(|r| r.try_get(0)).collect::<sqlx::Result<HashSet<String>>>()?;
        plan.numbers(account, set);
    }
    let routes = plan.routes();
    if routes.is_empty() {
        return Ok(());
    }
    let dialect = Dialect::of(tx);
    for chunk in routes.chunks(CHUNK) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", dialect.placeholders(i * 5 + 1, 5))).collect();
        let sql = format!(
            "INSERT INTO reply_routes (account_id, recipient, number, message_id, used_at) VALUES {}
             ON CONFLICT (account_id, recipient, number)
             DO UPDATE SET message_id = excluded.message_id, used_at = excluded.used_at",
            values.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for ((account, recipient, number), (id, now)) in chunk {
            q = q.bind(*account).bind(*recipient).bind(*number).bind(*id).bind(*now);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// The reply routes of messages just stored, worked out once the numbers
/// of their accounts are known ([`Self::accounts`], [`Self::numbers`]).
pub(super) struct ReplyRoutes<'a> {
    /// Messages sent from a numeric sender, which may be the account's.
    numeric: Vec<&'a (&'a str, &'a NewMessage, i64)>,
    numbers: HashMap<&'a str, HashSet<String>>,
}

/// (account, recipient, number) and the (message, time) a reply answers.
pub(super) type ReplyRoute<'a> = ((&'a str, &'a str, &'a str), (&'a str, i64));

impl<'a> ReplyRoutes<'a> {
    pub(super) fn new(messages: &'a [(&'a str, &'a NewMessage, i64)]) -> Self {
        let numeric = messages
            .iter()
            .filter(|(_, m, _)| m.from.as_ref().is_some_and(|f| !f.is_alphanumeric()))
            .collect();
        Self { numeric, numbers: HashMap::new() }
    }

    /// The accounts whose numbers are needed, each once.
    pub(super) fn accounts(&self) -> Vec<&'a str> {
        let mut accounts: Vec<&str> = self.numeric.iter().map(|(a, _, _)| *a).collect();
        accounts.sort_unstable();
        accounts.dedup();
        accounts
    }

    pub(super) fn numbers(&mut self, account: &'a str, numbers: HashSet<String>) {
        self.numbers.insert(account, numbers);
    }

    /// One route per (account, recipient, number): the last message wins.
    pub(super) fn routes(self) -> Vec<ReplyRoute<'a>> {
        let mut routes: HashMap<(&str, &str, &str), (&str, i64)> = HashMap::new();
        for (account, m, now) in self.numeric {
            let from = m.from.as_ref().map(|f| f.as_str()).unwrap_or_default();
            if self.numbers.get(account).is_some_and(|n| n.contains(from)) {
                routes.insert((account, m.to.as_str(), from), (m.id.as_str(), *now));
            }
        }
        routes.into_iter().collect()
    }
}

/// Links a received message to the message it answers (the last one sent to
/// `sender` from the number it wrote to), that message's campaign and run,
/// and puts it on top of the sender's conversation.
///
/// The reply route names the last message queued that way, recorded when
/// it was stored (the intake's hot path adds no lookup for it); if that one
/// has not gone out (scheduled, held by a campaign, canceled, failed), the
/// last one that did is looked up here instead.
pub(super) async fn link_reply(
    tx: &mut AnyConnection,
    account_id: &str,
    message_id: &str,
    sender: &str,
    to_spellings: &[String],
    now: i64,
) -> sqlx::Result<ReplyLink> {
    let mut link = ReplyLink::default();
    let mut number = to_spellings.first().cloned();
    for spelling in to_spellings {
        let row = sqlx::query(
            "SELECT message_id FROM reply_routes WHERE account_id = $1 AND recipient = $2 AND number = $3",
        )
        .bind(account_id)
        .bind(sender)
        .bind(spelling)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = row {
            let routed: String = r.try_get(0)?;
            let m = sqlx::query("SELECT id, campaign_id, run_id, status FROM messages WHERE id = $1")
                .bind(&routed)
                .fetch_optional(&mut *tx)
                .await?;
            let went_out = match m {
                Some(m) if MessageCounts::went_out(&m.try_get::<String, _>(3)?) => Some(m),
                _ => last_gone_out(tx, account_id, sender, spelling).await?,
            };
            if let Some(m) = went_out {
                link.message_id = Some(m.try_get(0)?);
                link.campaign_id = m.try_get(1)?;
                link.run_id = m.try_get(2)?;
            }
            number = Some(spelling.clone());
            break;
        }
    }
    if link.message_id.is_some() {
        sqlx::query("UPDATE messages SET reply_to = $1, campaign_id = $2, run_id = $3 WHERE id = $4")
            .bind(link.message_id.as_deref())
            .bind(link.campaign_id.as_deref())
            .bind(link.run_id.as_deref())
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO conversations (account_id, phone, last_message_id, last_at, number, received)
         VALUES ($1, $2, $3, $4, $5, 1)
         ON CONFLICT (account_id, phone) DO UPDATE SET last_message_id = excluded.last_message_id,
             last_at = excluded.last_at, number = excluded.number, received = conversations.received + 1",
    )
    .bind(account_id)
    .bind(sender)
    .bind(message_id)
    .bind(now)
    .bind(number.as_deref())
    .execute(&mut *tx)
    .await?;
    Ok(link)
}
