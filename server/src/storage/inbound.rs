//! Messages from phones (MO): stored as `inbound` messages with status
//! `received`; parts of a long message wait in `inbound_parts` until the
//! last one arrives, then become one message.
//!
//! A stored message belongs to the account holding the number it was sent
//! to (see `numbers`), or to the first account when nobody holds it, and
//! waits in `inbound_queue` until the `inbound` worker has matched it and
//! run its actions ([`Store::complete_inbound`], one transaction each),
//! which is also when the account it then belongs to is charged for it.
//! Parts whose siblings never come are stored after a timeout as one
//! message flagged `incomplete`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::Store;
use super::contacts::{ContactChanges, ContactWrite, MatchBy, SetChange, Target, WriteOutcome};
use super::mail_outbox::{NewMail, queue_mail};
use super::messages::NewMessage;
use super::messages::encoding_and_segments;
use super::webhooks::queue_webhook;
use crate::connectors::InboundSms;
use crate::domain::{Direction, MessageStatus, PhoneNumber, new_id};

/// Stores one received message or part, within the caller's transaction.
pub(super) async fn store_inbound(
    tx: &mut AnyConnection,
    connector: &str,
    sms: &InboundSms,
    now: i64,
) -> sqlx::Result<()> {
    let text = match sms.concat {
        Some((reference, total, seq)) if total > 1 => {
            let group = PartGroup {
                connector,
                from: &sms.from,
                to: &sms.to,
                reference: i64::from(reference),
                total: i64::from(total),
            };
            group.lock(tx).await?;
            // A part already here is this one again (the SMSC resent it).
            sqlx::query(
                "INSERT INTO inbound_parts (connector, from_addr, to_addr, reference, total, seq, body, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (connector, from_addr, to_addr, reference, total, seq) DO NOTHING",
            )
            .bind(connector)
            .bind(&sms.from)
            .bind(&sms.to)
            .bind(group.reference)
            .bind(group.total)
            .bind(i64::from(seq))
            .bind(&sms.text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let held: i64 = group
                .bind(sqlx::query(
                    "SELECT COUNT(*) FROM inbound_parts
                     WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND reference = $4 AND total = $5",
                ))
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            if held < group.total {
                return Ok(()); // wait for the rest
            }
            group.take(tx).await?.into_iter().map(|(_, body, _)| body).collect()
        }
        _ => sms.text.clone(),
    };
    let detail = format!("via {connector}");
    insert_inbound(tx, connector, &sms.from, &sms.to, &text, sms.smsc_id.as_deref(), false, &detail, now)
        .await?;
    Ok(())
}

/// The parts of one long message in `inbound_parts`: from one sender to
/// one number through one connector, with one reference and one total.
/// (A reference is 8 bits, so two messages may share it; their totals
/// then often tell them apart.)
struct PartGroup<'a> {
    connector: &'a str,
    from: &'a str,
    to: &'a str,
    reference: i64,
    total: i64,
}

impl PartGroup<'_> {
    /// Makes whoever else stores a part of the group or flushes it (another
    /// node, on PostgreSQL) wait until this transaction ends: otherwise two
    /// parts stored at once each see only themselves, and the message is
    /// never completed.
    async fn lock(&self, tx: &mut AnyConnection) -> sqlx::Result<()> {
        let key = format!(
            "inbound_parts\n{}\n{}\n{}\n{}\n{}",
            self.connector, self.from, self.to, self.reference, self.total
        );
        super::lock_until_commit(tx, &key).await
    }

    /// Binds the group to `$1`…`$5` of a statement that names it.
    fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        query
            .bind(self.connector.to_owned())
            .bind(self.from.to_owned())
            .bind(self.to.to_owned())
            .bind(self.reference)
            .bind(self.total)
    }

    /// Removes the group's parts and returns them in order:
    /// (seq, body, received_at). Empty when someone else took them.
    async fn take(&self, tx: &mut AnyConnection) -> sqlx::Result<Vec<(i64, String, i64)>> {
        let mut parts = self
            .bind(sqlx::query(
                "DELETE FROM inbound_parts
                 WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND reference = $4 AND total = $5
                 RETURNING seq, body, received_at",
            ))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<sqlx::Result<Vec<(i64, String, i64)>>>()?;
        parts.sort_by_key(|p| p.0);
        Ok(parts)
    }
}

/// The account a message to `to` (through `connector`) belongs to: the
/// number's holder (the first to register a shared one; keyword matching
/// may move it to another sharer), else the first account.
async fn account_for(
    tx: &mut AnyConnection,
    connector: &str,
    to: &str,
) -> sqlx::Result<(String, Option<String>)> {
    let holders = Store::holders_in(tx, &number_spellings(to)).await?;
    if let Some(h) =
        holders.iter().find(|h| h.connectors.is_empty() || h.connectors.iter().any(|c| c == connector))
    {
        return Ok((h.account_id.clone(), Some(h.id.clone())));
    }
    let first: String = sqlx::query("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    Ok((first, None))
}

/// The ways an SMSC may write one of our numbers: as registered, with or
/// without the `+` of an international number.
pub fn number_spellings(to: &str) -> Vec<String> {
    let t: String = to.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = vec![t.clone()];
    if let Some(digits) = t.strip_prefix('+') {
        out.push(digits.to_owned());
    } else if crate::domain::PhoneNumber::is_bare_international(&t) {
        out.insert(0, format!("+{t}"));
    }
    out
}

/// Stores one whole received message and queues it for matching.
#[allow(clippy::too_many_arguments)]
async fn insert_inbound(
    tx: &mut AnyConnection,
    connector: &str,
    from: &str,
    to: &str,
    text: &str,
    smsc_id: Option<&str>,
    incomplete: bool,
    detail: &str,
    now: i64,
) -> sqlx::Result<String> {
    let (account, _) = account_for(tx, connector, to).await?;
    let (encoding, segments) = encoding_and_segments(text);
    let id = new_id();
    sqlx::query(
        "INSERT INTO messages (id, account_id, direction, status, to_number, from_addr, body, encoding, segments,
             connector, smsc_id, next_attempt_at, created_at, updated_at, incomplete)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(&account)
    .bind(Direction::Inbound.as_str())
    .bind(MessageStatus::Received.as_str())
    .bind(to)
    .bind(from)
    .bind(text)
    .bind(encoding)
    .bind(segments)
    .bind(connector)
    .bind(smsc_id)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(i64::from(incomplete))
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO message_events (message_id, status, at, detail) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(MessageStatus::Received.as_str())
        .bind(now)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
    super::search::index_messages(tx, &[(&id, text)]).await?;
    sqlx::query("INSERT INTO inbound_queue (message_id, due_at) VALUES ($1, $2)")
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(id)
}

/// A received message claimed for matching.
#[derive(Debug, Clone)]
pub struct InboundJob {
    pub message_id: String,
    pub account_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub connector: String,
    pub received_at: i64,
    pub attempts: i64,
    /// Stored after the reassembly timeout without some of its parts.
    pub incomplete: bool,
}

/// A change of a sender's opt-out state, with the message that asked.
#[derive(Debug, Clone)]
pub struct OptChange {
    /// The accounts it applies to (several on a shared number).
    pub accounts: Vec<String>,
    pub out: bool,
    pub word: String,
}

/// Everything matching decided for one received message, stored at once.
#[derive(Debug, Clone, Default)]
pub struct InboundOutcome {
    pub message_id: String,
    /// The account the message belongs to after matching.
    pub account_id: String,
    pub number_id: Option<String>,
    pub keyword_id: Option<String>,
    /// keyword, default, opt_out, opt_in, help, none
    pub kind: &'static str,
    /// The sender: E.164 when it is a number (however the SMSC wrote it),
    /// else as received. The message is stored with it.
    pub sender: String,
    /// The sender as a number, when it is one (groups need it).
    pub sender_phone: Option<PhoneNumber>,
    /// The number written to, as received.
    pub to: String,
    pub opt: Option<OptChange>,
    /// Group names to add the sender to (created when missing).
    pub add_groups: Vec<String>,
    pub remove_groups: Vec<String>,
    /// Answers to the sender, subject to the auto-reply limit.
    pub replies: Vec<NewMessage>,
    /// Messages to others (forwards, notifications).
    pub sends: Vec<NewMessage>,
    /// (url, JSON payload) of webhook forwards.
    pub webhooks: Vec<(String, String)>,
    /// E-mails: forwards and notifications.
    pub emails: Vec<NewMail>,
    /// Poll answers to record (each may add a reply).
    pub votes: Vec<super::VoteRequest>,
    /// The account's webhook for every received message (`inbound_url`)
    /// and the event to post there; poll votes, known only once stored,
    /// are added to it (`votes`) and make it a `poll.vote` event.
    pub event_hook: Option<(String, serde_json::Value)>,
    /// The other accounts an opt change is for (a STOP on a shared number)
    /// that have an `inbound_url`: (account, url, payload). Each is told
    /// when its own opt-out list changed.
    pub opt_hooks: Vec<(String, String, serde_json::Value)>,
    /// What each action did, for the match record.
    pub log: Vec<serde_json::Value>,
}

/// Things done for one sender per window at most.
#[derive(Debug, Clone, Copy)]
pub struct ReplyLimit {
    pub max: i64,
    pub window_micros: i64,
}

/// The per-sender limits of a match: automatic answers to the sender, and
/// received messages whose SMS and e-mail forwards and notifications go
/// out.
#[derive(Debug, Clone, Copy)]
pub struct InboundLimits {
    pub replies: ReplyLimit,
    pub forwards: ReplyLimit,
}

/// Why an SMS or e-mail forward or notification was not sent.
pub const FORWARD_LIMIT_REASON: &str = "forward limit for this sender reached";

/// Why an answer, SMS forward or SMS notification was not sent.
pub const OPTED_OUT_REASON: &str = "the number opted out of the account's messages";

impl Store {
    /// Claims received messages due for matching, each leased to `node`
    /// until `lease_until`. Only `node` completes them (`complete_inbound`,
    /// `retry_inbound`), unless its lease lapses and another node claims
    /// them.
    pub async fn claim_inbound(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> sqlx::Result<Vec<InboundJob>> {
        let sql = format!(
            "WITH picked AS (SELECT message_id FROM inbound_queue
                 WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY due_at LIMIT $3{})
             UPDATE inbound_queue SET lease_until = $1, claimed_by = $4
             WHERE message_id IN (SELECT message_id FROM picked)
             RETURNING message_id, attempts",
            self.dialect.skip_locked()
        );
        let claimed = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
            .bind(node)
            .fetch_all(&self.writer)
            .await?;
        let mut jobs = Vec::with_capacity(claimed.len());
        for c in claimed {
            let id: String = c.try_get(0)?;
            let attempts: i64 = c.try_get(1)?;
            let row = sqlx::query(
                "SELECT account_id, from_addr, to_number, body, connector, created_at, incomplete FROM messages
                 WHERE id = $1",
            )
            .bind(&id)
            .fetch_optional(&self.writer)
            .await?;
            match row {
                Some(r) => jobs.push(InboundJob {
                    message_id: id,
                    account_id: r.try_get(0)?,
                    from: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                    to: r.try_get(2)?,
                    text: r.try_get(3)?,
                    connector: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                    received_at: r.try_get(5)?,
                    attempts,
                    incomplete: r.try_get::<i64, _>(6)? != 0,
                }),
                None => {
                    sqlx::query("DELETE FROM inbound_queue WHERE message_id = $1")
                        .bind(&id)
                        .execute(&self.writer)
                        .await?;
                }
            }
        }
        Ok(jobs)
    }

    /// Puts a job `node` claimed whose processing failed back for a later
    /// attempt; nothing if another node took it over.
    pub async fn retry_inbound(
        &self,
        node: &str,
        message_id: &str,
        due_at: i64,
        error: &str,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE inbound_queue SET due_at = $1, lease_until = NULL, attempts = attempts + 1, last_error = $2
             WHERE message_id = $3 AND claimed_by = $4",
        )
        .bind(due_at)
        .bind(error)
        .bind(message_id)
        .bind(node)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Messages still waiting to be matched.
    pub async fn inbound_backlog(&self) -> sqlx::Result<i64> {
        sqlx::query("SELECT COUNT(*) FROM inbound_queue").fetch_one(&self.reader).await?.try_get(0)
    }

    /// Stores what matching decided and did, in one transaction: the match,
    /// opt changes, group changes, replies (within `limit`), forwards, and
    /// the message leaves the queue. Returns how many messages were queued,
    /// or `None`, storing nothing, if `node` no longer holds the message's
    /// claim (its lease lapsed and another node took the message over).
    pub async fn complete_inbound(
        &self,
        node: &str,
        o: &InboundOutcome,
        limits: InboundLimits,
        now: i64,
    ) -> sqlx::Result<Option<usize>> {
        let mut tx = self.writer.begin().await?;
        if let Some(opt) = o.opt.as_ref().filter(|opt| opt.out) {
            // Before anything else is locked (see `lock_opt_outs`).
            let mut accounts: Vec<&String> = opt.accounts.iter().collect();
            accounts.sort();
            for account in accounts {
                lock_opt_outs(&mut tx, account).await?;
            }
        }
        // First, so the claim is settled before anything is stored: on
        // PostgreSQL the row stays locked to this transaction, and a claim
        // by another node skips it meanwhile.
        let held = sqlx::query("DELETE FROM inbound_queue WHERE message_id = $1 AND claimed_by = $2")
            .bind(&o.message_id)
            .bind(node)
            .execute(&mut *tx)
            .await?;
        if held.rows_affected() == 0 {
            return Ok(None);
        }
        // Then the sender's limits: its counts are read, then written (see
        // `Allowance`), so a match of the same sender's message on another
        // node waits here until this one is stored (PostgreSQL).
        super::lock_until_commit(&mut tx, &format!("inbound-limits:{}:{}", o.account_id, o.sender)).await?;
        let mut log = o.log.clone();
        // The account the match found, and the sender read as a number.
        sqlx::query(
            "UPDATE messages SET account_id = $1, from_addr = $2
             WHERE id = $3 AND (account_id <> $1 OR from_addr <> $2)",
        )
        .bind(&o.account_id)
        .bind(&o.sender)
        .bind(&o.message_id)
        .execute(&mut *tx)
        .await?;
        if let Some(phone) = &o.sender_phone {
            super::conversations::link_reply(
                &mut tx,
                &o.account_id,
                &o.message_id,
                phone.as_str(),
                &number_spellings(&o.to),
                now,
            )
            .await?;
        }
        if let Some(opt) = &o.opt {
            for account in &opt.accounts {
                let changed = set_opt_out(
                    &mut tx,
                    account,
                    &o.sender,
                    opt.out,
                    "keyword",
                    Some(&o.message_id),
                    Some(&opt.word),
                    now,
                )
                .await?;
                // Another sharer whose word it was hears of its own change
                // (the message is the matched account's: no link to it).
                let hook = o.opt_hooks.iter().find(|(a, ..)| a == account && *a != o.account_id);
                if let Some((_, url, payload)) = hook.filter(|_| changed) {
                    let event = payload["event"].as_str().unwrap_or("message.inbound");
                    queue_webhook(&mut tx, account, None, event, url, &payload.to_string(), now).await?;
                }
            }
        }
        if !o.add_groups.is_empty() {
            match &o.sender_phone {
                Some(phone) => {
                    let ids = self.ensure_groups_in(&mut tx, &o.account_id, &o.add_groups, now).await?;
                    let write = ContactWrite {
                        target: Target::Match(MatchBy::Phone),
                        changes: ContactChanges {
                            phone: Some(phone.clone()),
                            groups: SetChange::Add(ids),
                            ..Default::default()
                        },
                    };
                    let outcome = self.write_contacts_in(&mut tx, &o.account_id, &[write], now).await?;
                    for r in outcome {
                        log.push(match r {
                            Ok(w) => {
                                json!({"action": "add_to_group", "groups": o.add_groups, "contact": w.id(),
                                "created": matches!(w, WriteOutcome::Created(_))})
                            }
                            Err(p) => json!({"action": "add_to_group", "skipped": p.message}),
                        });
                    }
                }
                None => {
                    log.push(json!({"action": "add_to_group", "skipped": "the sender is not a phone number"}))
                }
            }
        }
        for group in &o.remove_groups {
            let removed = sqlx::query(
                "DELETE FROM group_members
                 WHERE group_id IN (SELECT id FROM contact_groups WHERE account_id = $1 AND name_key = $2)
                   AND contact_id IN (SELECT id FROM contacts WHERE account_id = $1 AND phone = $3)",
            )
            .bind(&o.account_id)
            .bind(super::group_name_key(group))
            .bind(&o.sender)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            log.push(json!({"action": "remove_from_group", "group": group, "removed": removed > 0}));
        }
        let mut replies: Vec<&NewMessage> = o.replies.iter().collect();
        let mut votes = Vec::new();
        for v in &o.votes {
            replies.extend(
                super::polls::record_vote(&mut tx, v, &o.sender, &o.message_id, &mut log, &mut votes).await?,
            );
        }
        // No SMS from the account to a number that opted out (its own or
        // a contact's), but for transactional ones: the answers to STOP
        // and HELP. Read here, after this message's own opt change.
        let recipients: Vec<&str> = replies
            .iter()
            .copied()
            .chain(&o.sends)
            .filter(|m| !m.transactional)
            .map(|m| m.to.as_str())
            .collect();
        let opted_out = opted_out_in(&mut tx, &o.account_id, &recipients).await?;
        let refused = |m: &NewMessage| !m.transactional && opted_out.contains(m.to.as_str());
        replies.retain(|r| {
            let keep = !refused(r);
            if !keep {
                log.push(json!({"action": "reply", "skipped": OPTED_OUT_REASON}));
            }
            keep
        });
        // Forwards by SMS and e-mail and notifications: all of a message's
        // or none, counted per received message against the sender's limit.
        let forward_room = if o.sends.is_empty() && o.emails.is_empty() {
            None
        } else {
            Some(
                Allowance::read(&mut tx, "forward_counts", &o.account_id, &o.sender, limits.forwards, now)
                    .await?,
            )
        };
        let forwards = forward_room.as_ref().is_none_or(|r| r.left > 0);
        if !forwards {
            tracing::warn!(message_id = %o.message_id, sender = %o.sender,
                sms = o.sends.len(), emails = o.emails.len(), "{FORWARD_LIMIT_REASON}; forwards skipped");
        }
        let reply_room = if replies.is_empty() {
            None
        } else {
            Some(
                Allowance::read(&mut tx, "auto_reply_counts", &o.account_id, &o.sender, limits.replies, now)
                    .await?,
            )
        };
        let allowed = reply_room.as_ref().map_or(0, |r| usize::try_from(r.left).unwrap_or(0));
        let sends: Vec<&NewMessage> =
            if forwards { o.sends.iter().filter(|m| !refused(m)).collect() } else { Vec::new() };
        // Charged to the account the match gave the message to (on a shared
        // number, the one whose keyword it matched), before its answers.
        super::billing::charge_inbound(&mut tx, &o.account_id, &o.message_id, &o.sender, now).await?;
        // Answers first, then forwards; one the account cannot pay for (no
        // price for its number, the balance short) is left out alone.
        let wanted: Vec<&NewMessage> =
            replies.iter().take(allowed).copied().chain(sends.iter().copied()).collect();
        let mut results = queue_each(&mut tx, &o.account_id, &wanted, now).await?.into_iter();
        let mut queued = 0;
        let mut replied = 0;
        for (i, r) in replies.iter().enumerate() {
            log.push(match (i < allowed).then(|| results.next()).flatten() {
                Some(Ok(())) => {
                    replied += 1;
                    json!({"action": "reply", "message_id": r.id})
                }
                Some(Err(refusal)) => json!({"action": "reply", "skipped": refusal.to_string()}),
                None => json!({"action": "reply", "skipped": "auto-reply limit for this sender reached"}),
            });
        }
        queued += replied;
        // A received message counts against the forward limit when one of
        // its forwards went out.
        let mut forwarded = forwards && !o.emails.is_empty();
        for m in &o.sends {
            let to = m.to.as_str();
            log.push(if !forwards {
                json!({"action": "send", "to": to, "skipped": FORWARD_LIMIT_REASON})
            } else if refused(m) {
                json!({"action": "send", "to": to, "skipped": OPTED_OUT_REASON})
            } else {
                match results.next() {
                    Some(Ok(())) => {
                        queued += 1;
                        forwarded = true;
                        json!({"action": "send", "to": to, "message_id": m.id})
                    }
                    Some(Err(refusal)) => json!({"action": "send", "to": to, "skipped": refusal.to_string()}),
                    None => json!({"action": "send", "to": to, "skipped": "not queued"}),
                }
            });
        }
        if let Some(room) = &reply_room {
            room.spend(&mut tx, replied as i64).await?;
        }
        if let Some(room) = forward_room.as_ref().filter(|_| forwarded) {
            room.spend(&mut tx, 1).await?;
        }
        let mut hooks: Vec<(&str, String)> =
            o.webhooks.iter().map(|(u, p)| (u.as_str(), p.clone())).collect();
        if let Some((url, payload)) = &o.event_hook {
            let mut payload = payload.clone();
            if !votes.is_empty() {
                payload["event"] = json!("poll.vote");
                payload["votes"] = serde_json::Value::Array(votes);
            }
            hooks.push((url.as_str(), payload.to_string()));
        }
        for (url, payload) in &hooks {
            let event = serde_json::from_str::<serde_json::Value>(payload)
                .ok()
                .and_then(|p| p["event"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "message.inbound".to_owned());
            queue_webhook(&mut tx, &o.account_id, Some(&o.message_id), &event, url, payload, now).await?;
            log.push(json!({"action": "forward", "url": url}));
        }
        for mail in &o.emails {
            if forwards {
                queue_mail(&mut tx, &o.account_id, &o.message_id, mail, now).await?;
                log.push(json!({"action": "email", "to": mail.to.as_str(), "email_id": mail.id}));
            } else {
                log.push(json!({"action": "email", "to": mail.to.as_str(), "skipped": FORWARD_LIMIT_REASON}));
            }
        }
        sqlx::query(
            "INSERT INTO inbound_matches (message_id, account_id, number_id, keyword_id, kind, actions, matched_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(&o.message_id)
        .bind(&o.account_id)
        .bind(o.number_id.as_deref())
        .bind(o.keyword_id.as_deref())
        .bind(o.kind)
        .bind(serde_json::Value::Array(log).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(queued))
    }

    /// Stores, as one message flagged incomplete, every long message whose
    /// last part arrived before `before` and whose other parts never came.
    /// Every node runs it: a group another node stored meanwhile (or whose
    /// last part came meanwhile) is left alone.
    pub async fn flush_stale_parts(&self, before: i64, now: i64) -> sqlx::Result<usize> {
        let groups = sqlx::query(
            "SELECT connector, from_addr, to_addr, reference, total FROM inbound_parts
             GROUP BY connector, from_addr, to_addr, reference, total HAVING MAX(received_at) < $1 LIMIT 100",
        )
        .bind(before)
        .fetch_all(&self.writer)
        .await?;
        let mut stored = 0;
        for g in &groups {
            let (connector, from, to): (String, String, String) =
                (g.try_get(0)?, g.try_get(1)?, g.try_get(2)?);
            let group = PartGroup {
                connector: &connector,
                from: &from,
                to: &to,
                reference: g.try_get(3)?,
                total: g.try_get(4)?,
            };
            // One transaction per group, so a flush holds one group's lock
            // at a time.
            let mut tx = self.writer.begin().await?;
            group.lock(&mut tx).await?;
            let parts = group.take(&mut tx).await?;
            if parts.is_empty() || parts.iter().any(|p| p.2 >= before) {
                continue; // stored by another node, or a part just came: rolled back
            }
            let seqs: Vec<String> = parts.iter().map(|p| p.0.to_string()).collect();
            let text: String = parts.into_iter().map(|(_, body, _)| body).collect();
            let detail =
                format!("via {connector}; incomplete: parts {} of {} arrived", seqs.join(","), group.total);
            insert_inbound(&mut tx, &connector, &from, &to, &text, None, true, &detail, now).await?;
            tx.commit().await?;
            stored += 1;
        }
        Ok(stored)
    }

    /// The account's help text and local opt-out words, as stored.
    pub async fn compliance_settings(
        &self,
        account_id: &str,
    ) -> sqlx::Result<(Option<String>, Option<Vec<String>>)> {
        let row = sqlx::query("SELECT help_text, opt_out_words FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.reader)
            .await?;
        let Some(r) = row else { return Ok((None, None)) };
        let words: Option<String> = r.try_get(1)?;
        Ok((r.try_get(0)?, words.and_then(|w| serde_json::from_str(&w).ok())))
    }

    pub async fn set_compliance_settings(
        &self,
        account_id: &str,
        help_text: Option<Option<&str>>,
        words: Option<Option<&[String]>>,
    ) -> sqlx::Result<()> {
        if let Some(h) = help_text {
            sqlx::query("UPDATE accounts SET help_text = $1 WHERE id = $2")
                .bind(h)
                .bind(account_id)
                .execute(&self.writer)
                .await?;
        }
        if let Some(w) = words {
            sqlx::query("UPDATE accounts SET opt_out_words = $1 WHERE id = $2")
                .bind(w.map(|w| serde_json::to_string(w).unwrap_or_else(|_| "[]".into())))
                .bind(account_id)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Opt-outs this process has written so far ([`OPT_OUT_WRITES`]): read
    /// it before reading a request's opt-outs and give it with the request
    /// (`AcceptRequest::opt_out_writes_seen`).
    pub fn opt_out_writes() -> u64 {
        OPT_OUT_WRITES.load(Ordering::SeqCst)
    }

    /// Opts a number out (or back in) by hand, recorded with source `api`.
    pub async fn set_opt_out_by_api(
        &self,
        account_id: &str,
        phone: &str,
        out: bool,
        now: i64,
    ) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        let changed = set_opt_out(&mut tx, account_id, phone, out, "api", None, None, now).await?;
        // The account's webhook for received messages hears of it as of an
        // opt-out word, with the same event names and no source message.
        let url: Option<String> = if changed {
            sqlx::query_scalar("SELECT inbound_url FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?
                .flatten()
        } else {
            None
        };
        if let Some(url) = url {
            let event = if out { "contact.opted_out" } else { "contact.opted_in" };
            let payload =
                json!({"event": event, "source": "api", "phone": phone, "at": super::format_micros(now)});
            queue_webhook(&mut tx, account_id, None, event, &url, &payload.to_string(), now).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Numbers on the account's opt-out list, newest first:
    /// (phone, since, message that asked).
    pub async fn list_opt_outs(
        &self,
        account_id: &str,
        limit: usize,
    ) -> sqlx::Result<Vec<(String, i64, Option<String>)>> {
        sqlx::query(
            "SELECT phone, opted_out_at, message_id FROM opt_outs WHERE account_id = $1
             ORDER BY opted_out_at DESC, phone LIMIT $2",
        )
        .bind(account_id)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
    }

    /// Every opt change of a number: (change, source, message, word, at).
    pub async fn opt_events(&self, account_id: &str, phone: &str) -> sqlx::Result<Vec<OptEvent>> {
        sqlx::query(
            "SELECT change, source, message_id, word, at FROM opt_events WHERE account_id = $1 AND phone = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(phone)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok(OptEvent {
                change: r.try_get(0)?,
                source: r.try_get(1)?,
                message_id: r.try_get(2)?,
                word: r.try_get(3)?,
                at: r.try_get(4)?,
            })
        })
        .collect()
    }

    /// Which of these numbers (E.164) the account may not send marketing
    /// to: on its opt-out list, or a contact who opted out.
    pub async fn opted_out_among(&self, account_id: &str, phones: &[&str]) -> sqlx::Result<HashSet<String>> {
        // This runs for every message request: both lists in one statement,
        // and on SQLite in place unless the list is long (a long read would
        // hold the caller's thread, and the hand-off costs little beside it).
        if phones.len() <= IN_PLACE_MAX_PHONES
            && let Some(out) =
                self.read_in_place("opt-outs", |conn| opted_out_in_place(conn, account_id, phones))
        {
            return Ok(out);
        }
        opted_out_in(&mut *self.reader.acquire().await?, account_id, phones).await
    }

    /// Whether a received message was stored without some of its parts.
    pub async fn is_incomplete(&self, message_id: &str) -> sqlx::Result<bool> {
        let row = sqlx::query("SELECT incomplete FROM messages WHERE id = $1")
            .bind(message_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0) != 0)
    }

    /// What matching decided for a message: (kind, keyword id, actions JSON).
    pub async fn inbound_match(
        &self,
        message_id: &str,
    ) -> sqlx::Result<Option<(String, Option<String>, String)>> {
        sqlx::query("SELECT kind, keyword_id, actions FROM inbound_matches WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }
}

/// Most numbers whose opt-outs are read in place (`sqlite_reader.rs`).
const IN_PLACE_MAX_PHONES: usize = 100;

/// The statement of [`Store::opted_out_among`] for `count` numbers: `$1`
/// the account, `$2`… the numbers, each list written twice and bound once
/// (numbered parameters, as both backends and rusqlite read them).
fn opted_out_sql(count: usize) -> String {
    let numbers = (2..count + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT phone FROM opt_outs WHERE account_id = $1 AND phone IN ({numbers})
         UNION ALL SELECT phone FROM contacts WHERE account_id = $1 AND phone IN ({numbers})
             AND opted_out_at IS NOT NULL"
    )
}

/// [`Store::opted_out_among`] on a connection (within a transaction, or
/// one of the readers).
pub(super) async fn opted_out_in(
    tx: &mut AnyConnection,
    account_id: &str,
    phones: &[&str],
) -> sqlx::Result<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in phones.chunks(super::IN_CHUNK) {
        let mut q = sqlx::query(AssertSqlSafe(opted_out_sql(chunk.len()))).bind(account_id);
        for phone in chunk {
            q = q.bind(*phone);
        }
        for r in q.fetch_all(&mut *tx).await? {
            out.insert(r.try_get::<String, _>(0)?);
        }
    }
    Ok(out)
}

/// [`Store::opted_out_among`] on a SQLite read connection in place
/// (`sqlite_reader.rs`), or on the writer thread's transaction
/// (`hot_path.rs`).
pub(super) fn opted_out_in_place(
    conn: &rusqlite::Connection,
    account_id: &str,
    phones: &[&str],
) -> rusqlite::Result<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in phones.chunks(super::IN_CHUNK) {
        let mut statement = conn.prepare_cached(&opted_out_sql(chunk.len()))?;
        let values = std::iter::once(account_id).chain(chunk.iter().copied());
        let mut rows = statement.query(rusqlite::params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            out.insert(row.get(0)?);
        }
    }
    Ok(out)
}

/// One recorded opt change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptEvent {
    /// `out` or `in`.
    pub change: String,
    /// `keyword` or `api`.
    pub source: String,
    pub message_id: Option<String>,
    pub word: Option<String>,
    pub at: i64,
}

/// Opts `phone` out of (or back into) the account: its opt-out list, its
/// contact if any, and the history (a change only: asking again records
/// nothing). Returns whether anything changed.
#[allow(clippy::too_many_arguments)]
async fn set_opt_out(
    tx: &mut AnyConnection,
    account_id: &str,
    phone: &str,
    out: bool,
    source: &str,
    message_id: Option<&str>,
    word: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    if out {
        lock_opt_outs(tx, account_id).await?;
    }
    let changed = if out {
        sqlx::query(
            "INSERT INTO opt_outs (account_id, phone, opted_out_at, message_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, phone) DO NOTHING",
        )
        .bind(account_id)
        .bind(phone)
        .bind(now)
        .bind(message_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query("DELETE FROM opt_outs WHERE account_id = $1 AND phone = $2")
            .bind(account_id)
            .bind(phone)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    };
    let contact = if out {
        "UPDATE contacts SET opted_out_at = $1, updated_at = $1 WHERE account_id = $2 AND phone = $3 AND opted_out_at IS NULL"
    } else {
        "UPDATE contacts SET opted_out_at = NULL, updated_at = $1 WHERE account_id = $2 AND phone = $3 AND opted_out_at IS NOT NULL"
    };
    let contact_changed =
        sqlx::query(contact).bind(now).bind(account_id).bind(phone).execute(&mut *tx).await?.rows_affected();
    if out {
        let why = match word {
            Some(word) => format!("the recipient opted out: {word}"),
            None => "the recipient was opted out through the API".to_owned(),
        };
        opted_out_now(tx, account_id, &[phone], &why, now).await?;
    }
    let changed = changed + contact_changed > 0;
    if !changed {
        return Ok(false); // asked again: no change to record
    }
    sqlx::query(
        "INSERT INTO opt_events (account_id, phone, change, source, message_id, word, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(account_id)
    .bind(phone)
    .bind(if out { "out" } else { "in" })
    .bind(source)
    .bind(message_id)
    .bind(word)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// Holds the account's opt-out lock until the transaction ends
/// (PostgreSQL; SQLite's one writer does one transaction at a time). Every
/// transaction that opts numbers out of the account, and every one that
/// queues a campaign batch or an API request's messages for it after
/// reading its opt-outs, takes it
/// before any other lock (of a contact, a run, a balance), so that the two
/// never miss each other: the batch either sees the opt-out or is
/// committed before the opt-out cancels what waits.
pub(super) async fn lock_opt_outs(tx: &mut AnyConnection, account_id: &str) -> sqlx::Result<()> {
    super::lock_until_commit(tx, &format!("opt-outs:{account_id}")).await
}

/// Opt-outs this process has written (counted inside each opt-out's
/// transaction, before its commit). A message request that read its
/// recipients' opt-outs when this stood at `n` and finds it still at `n`
/// inside its SQLite write transaction knows no opt-out was written since
/// (SQLite is one process), so it need not read them again there.
pub(super) static OPT_OUT_WRITES: AtomicU64 = AtomicU64::new(0);

/// The numbers have just become opted out of the account, in the caller's
/// transaction — by an opt-out word, by hand through the opt-outs API, or
/// on their contact (the contacts API, the web pages, an import): cancels
/// what waits for them from the account (scheduled, held by a campaign's
/// quiet hours, pacing or pause, or queued; transactional messages wait
/// on), with `why` in each message's history. Every way of opting out
/// comes through here. Returns how many messages were canceled.
pub(super) async fn opted_out_now(
    tx: &mut AnyConnection,
    account_id: &str,
    phones: &[&str],
    why: &str,
    now: i64,
) -> sqlx::Result<usize> {
    if phones.is_empty() {
        return Ok(0);
    }
    // Before the commit, so an intake that commits after this one sees it.
    OPT_OUT_WRITES.fetch_add(1, Ordering::SeqCst);
    lock_opt_outs(tx, account_id).await?;
    super::messages::cancel_waiting_to(tx, account_id, phones, why, now).await
}

/// Queues an account's messages (answers, forwards), each on its own: one
/// the account cannot pay for is left out with the reason, and the others
/// go. Gives each message's result, in order.
async fn queue_each(
    tx: &mut AnyConnection,
    account_id: &str,
    messages: &[&NewMessage],
    now: i64,
) -> sqlx::Result<Vec<Result<(), super::billing::ChargeRefusal>>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(&str, &NewMessage, i64)> = messages.iter().map(|m| (account_id, *m, now)).collect();
    // All at once as a rule; one by one only when that is refused (a
    // refusal leaves the transaction as it was).
    if super::messages::insert_messages(tx, &rows).await?.is_ok() {
        return Ok(vec![Ok(()); rows.len()]);
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(super::messages::insert_messages(tx, std::slice::from_ref(row)).await?);
    }
    Ok(out)
}

/// What a sender may still get within one of its limits (`table`:
/// `auto_reply_counts`, `forward_counts`), read in the caller's
/// transaction; [`Allowance::spend`] counts what was done.
struct Allowance {
    table: &'static str,
    account_id: String,
    phone: String,
    /// When the sender's current window began.
    start: i64,
    /// Done in that window so far.
    sent: i64,
    /// How many more may be done.
    left: i64,
}

impl Allowance {
    async fn read(
        tx: &mut AnyConnection,
        table: &'static str,
        account_id: &str,
        phone: &str,
        limit: ReplyLimit,
        now: i64,
    ) -> sqlx::Result<Self> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT window_start, sent FROM {table} WHERE account_id = $1 AND phone = $2"
        )))
        .bind(account_id)
        .bind(phone)
        .fetch_optional(&mut *tx)
        .await?;
        let (start, sent) = match row {
            Some(r) => {
                let start: i64 = r.try_get(0)?;
                let sent: i64 = r.try_get(1)?;
                if now - start >= limit.window_micros { (now, 0) } else { (start, sent) }
            }
            None => (now, 0),
        };
        Ok(Self {
            table,
            account_id: account_id.to_owned(),
            phone: phone.to_owned(),
            start,
            sent,
            left: (limit.max - sent).max(0),
        })
    }

    /// Counts `done` things (of at most `left`) in the sender's window.
    async fn spend(&self, tx: &mut AnyConnection, done: i64) -> sqlx::Result<()> {
        if done == 0 {
            return Ok(());
        }
        let table = self.table;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (account_id, phone, window_start, sent) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, phone) DO UPDATE SET window_start = $3, sent = $4"
        )))
        .bind(&self.account_id)
        .bind(&self.phone)
        .bind(self.start)
        .bind(self.sent + done.min(self.left))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
