//! The queue's hot path on the SQLite writer thread (`sqlite_writer.rs`):
//! storing accepted messages of accounts without a tariff (the intake),
//! claiming due messages, and the recorder's common reports — one-part
//! submit answers, receipts of one-part messages and the receipts that were
//! waiting for those answers (`orphan_receipts`) — with their history,
//! callbacks and charge settlements. The changes are those
//! `Store::accept_batch`, `Store::claim_due` and `Store::apply_outcomes` make
//! through sqlx, with one prepared statement per row instead of one
//! generated statement per chunk, and with each history entry appended to
//! the message's trail by the statement that changes its status instead of
//! a history row of its own (`trail.rs`; a message whose history is already
//! in rows gets rows).
//!
//! Of the reports, everything else is handed back, in order, for the
//! general path: failed submits, long messages and their parts' receipts,
//! answers for messages sent in other segments than they were counted in
//! (their charge is re-priced there; the row read here has the count),
//! inbound messages, receipts that find no message, and receipts that
//! refund a charge (with every later receipt of the same message, so a
//! message's receipts still apply in the order they came). A batch whose
//! answers release a waiting receipt of that kind, and an intake batch with
//! a charged account, are left whole to the general path.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension as _, named_params, params};

use super::billing;
use super::conversations::ReplyRoutes;
use super::inbound::opted_out_in_place;
use super::messages::{
    AcceptRequest, Accepted, CLAIM_IDEMPOTENCY_KEY, ClaimedMessage, NewMessage, Outcome, RetryPolicy,
    Transition, accepted, idempotency_cutoff, in_queue_order, refunds, status_payload,
};
use super::search::SqliteKeys;
use super::trail;
use super::{AuditEntry, StoreError};
use crate::domain::{Direction, MessageStatus, new_id};

/// Stores `requests` in one transaction as `Store::accept_batch` does, one
/// answer per request (a request with a recipient that opted out since it
/// read the opt-outs refused; this thread is SQLite's one writer, so no
/// opt-out commits meanwhile); `None`, with nothing written, when an account among
/// them has a tariff (charging is the general path's).
pub(super) fn accept(
    conn: &mut rusqlite::Connection,
    requests: &[AcceptRequest],
) -> rusqlite::Result<Option<Vec<Result<Accepted, StoreError>>>> {
    let tx = conn.savepoint()?;
    {
        let mut accounts: Vec<&str> = requests.iter().map(|r| r.account_id.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut tariff = tx.prepare_cached("SELECT tariff_id FROM account_billing WHERE account_id = ?1")?;
        for account in accounts {
            let billed: Option<Option<String>> = tariff.query_row([account], |row| row.get(0)).optional()?;
            if billed.flatten().is_some() {
                return Ok(None);
            }
        }
    }
    let mut answers = Vec::with_capacity(requests.len());
    let mut stored: Vec<(&str, &NewMessage, i64)> = Vec::new();
    let mut audits: Vec<&AuditEntry> = Vec::new();
    {
        let mut claim_key = tx.prepare_cached(CLAIM_IDEMPOTENCY_KEY)?;
        let mut earlier = tx.prepare_cached(
            "SELECT request_hash, status_code, response FROM idempotency_keys
             WHERE account_id = ?1 AND idem_key = ?2",
        )?;
        let mut release_key =
            tx.prepare_cached("DELETE FROM idempotency_keys WHERE account_id = ?1 AND idem_key = ?2")?;
        for r in requests {
            let mut answer = match &r.idempotency {
                None => Ok(Accepted::Stored),
                Some(idem) => {
                    let fresh = claim_key.execute(params![
                        r.account_id,
                        idem.key,
                        idem.request_hash,
                        idem.status_code,
                        idem.response,
                        r.now,
                        idempotency_cutoff(r.now)
                    ])? > 0;
                    if fresh {
                        Ok(Accepted::Stored)
                    } else {
                        let (hash, status_code, response): (String, i64, String) = earlier
                            .query_row(params![r.account_id, idem.key], |row| {
                                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                            })?;
                        idem.earlier(&hash, status_code, response)
                    }
                }
            };
            if matches!(answer, Ok(Accepted::Stored)) {
                // One indexed read per request: a number that opted out
                // since the request read the opt-outs refuses it. Skipped
                // when no opt-out was written since that read (this
                // process is the only one writing the file).
                let marketing = r.marketing_recipients();
                let unchanged = r.opt_out_writes_seen == Some(super::Store::opt_out_writes());
                if !marketing.is_empty() && !unchanged {
                    let opted_out = opted_out_in_place(&tx, &r.account_id, &marketing)?;
                    if !opted_out.is_empty() {
                        if let Some(idem) = &r.idempotency {
                            release_key.execute(params![r.account_id, idem.key])?;
                        }
                        answer = Err(r.opted_out(&opted_out));
                    }
                }
            }
            if matches!(answer, Ok(Accepted::Stored)) {
                stored.extend(r.messages.iter().map(|m| (r.account_id.as_str(), m, r.now)));
                audits.extend(r.audit.as_ref());
            }
            answers.push(answer);
        }
    }
    insert_rows(&tx, &stored)?;
    if !audits.is_empty() {
        let mut audit = tx.prepare_cached(
            "INSERT INTO audit_log (id, account_id, user_id, username, api_key_id, via, action, target, status, ip, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let at = super::now_micros();
        for e in audits {
            audit.execute(params![
                new_id(),
                e.account_id,
                e.user_id,
                e.username,
                e.api_key_id,
                e.via,
                e.action,
                e.target,
                e.status,
                e.ip,
                at
            ])?;
        }
    }
    tx.commit()?;
    Ok(Some(answers))
}

/// Inserts messages with their first history entries (on their trails,
/// `trail.rs`), search index entries, tags and reply routes
/// (`messages::insert_rows` through sqlx).
fn insert_rows(tx: &Connection, messages: &[(&str, &NewMessage, i64)]) -> rusqlite::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages (id, account_id, direction, status, to_number, from_addr, body, encoding,
             segments, callback_url, next_attempt_at, send_at, created_at, updated_at, campaign_id, run_id,
             trail, transactional)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15, ?16, ?17)",
    )?;
    let mut tag = tx.prepare_cached("INSERT INTO message_tags (message_id, tag) VALUES (?1, ?2)")?;
    for (account_id, m, now) in messages {
        let status = m.initial_status(*now);
        insert.execute(params![
            m.id,
            account_id,
            Direction::Outbound.as_str(),
            status.as_str(),
            m.to.as_str(),
            m.from.as_ref().map(|s| s.as_str()),
            m.text.as_str(),
            m.text.encoding_name(),
            m.text.segments() as i64,
            m.callback_url,
            m.due_at(*now),
            m.send_at,
            now,
            m.campaign.as_ref().map(|c| c.campaign_id.as_str()),
            m.campaign.as_ref().map(|c| c.run_id.as_str()),
            trail::entry(status, *now, None),
            i64::from(m.transactional),
        ])?;
        for t in &m.tags {
            tag.execute(params![m.id, t])?;
        }
    }
    let texts: Vec<(&str, &str)> =
        messages.iter().map(|(_, m, _)| (m.id.as_str(), m.text.as_str())).collect();
    let mut keys = SqliteKeys::new(&texts);
    if !keys.is_empty() {
        let mut last =
            tx.prepare_cached("SELECT max(rowid) FROM message_search WHERE rowid >= ?1 AND rowid < ?2")?;
        for (ms, start, end) in keys.buckets() {
            keys.last_key(ms, last.query_row(params![start, end], |r| r.get(0))?);
        }
        let mut index =
            tx.prepare_cached("INSERT INTO message_search (rowid, message_id, words) VALUES (?1, ?2, ?3)")?;
        for row in keys.keyed() {
            let (key, id, words) = row.map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
            index.execute(params![key, id, words])?;
        }
    }
    let mut routes = ReplyRoutes::new(messages);
    let accounts = routes.accounts();
    if !accounts.is_empty() {
        let mut numbers = tx.prepare_cached("SELECT number FROM numbers WHERE account_id = ?1")?;
        for account in accounts {
            let set = numbers.query_map([account], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            routes.numbers(account, set);
        }
        let mut route = tx.prepare_cached(
            "INSERT INTO reply_routes (account_id, recipient, number, message_id, used_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account_id, recipient, number)
             DO UPDATE SET message_id = excluded.message_id, used_at = excluded.used_at",
        )?;
        for ((account, recipient, number), (id, now)) in routes.routes() {
            route.execute(params![account, recipient, number, id, now])?;
        }
    }
    Ok(())
}

/// Claims up to `limit` due messages for `node` with `sql`
/// (`messages::claim_sql`), in the order they were due.
pub(super) fn claim(
    conn: &mut rusqlite::Connection,
    sql: &str,
    node: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> rusqlite::Result<Vec<ClaimedMessage>> {
    let tx = conn.savepoint()?;
    let mut claimed = Vec::with_capacity(limit);
    let mut transitions = Vec::with_capacity(limit);
    {
        let mut pick = tx.prepare_cached(sql)?;
        let mut rows = pick.query(named_params! {
            "$1": node,
            "$2": lease_until,
            "$3": now,
            "$4": limit as i64,
            "$5": trail::entry(MessageStatus::Sending, now, None),
        })?;
        while let Some(r) = rows.next()? {
            let message = ClaimedMessage {
                id: r.get("id")?,
                account_id: r.get("account_id")?,
                to: r.get("to_number")?,
                from: r.get("from_addr")?,
                text: r.get("body")?,
                attempts: r.get("attempts")?,
            };
            transitions.push(Transition {
                message_id: message.id.clone(),
                account_id: message.account_id.clone(),
                to: message.to.clone(),
                callback_url: r.get("callback_url")?,
                status: MessageStatus::Sending,
                detail: None,
                on_trail: r.get("on_trail")?,
            });
            claimed.push((r.get("next_attempt_at")?, message));
        }
    }
    record_transitions(&tx, &transitions, now)?;
    tx.commit()?;
    Ok(in_queue_order(claimed))
}

/// Records what it can of `outcomes` in one transaction; returns the rest.
pub(super) fn record(
    conn: &mut rusqlite::Connection,
    outcomes: &[Outcome],
    retry: RetryPolicy,
    now: i64,
) -> rusqlite::Result<Vec<Outcome>> {
    let tx = conn.savepoint()?;
    let mut left = Vec::new();
    let mut transitions = Vec::with_capacity(outcomes.len());
    let submitted = mark_sent(&tx, outcomes, retry, now, &mut transitions, &mut left)?;
    let mut receipts = Receipts::new(&tx)?;
    for outcome in outcomes {
        if let Outcome::Receipt { connector, smsc_id, status, detail } = outcome
            && !receipts.apply(connector, smsc_id, *status, detail, now, &mut transitions)?
        {
            left.push(outcome.clone());
        }
    }
    // Receipts that came before the submit answers just recorded.
    let waiting: bool =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM orphan_receipts)")?.query_row([], |r| r.get(0))?;
    if waiting && !submitted.is_empty() {
        let mut take = tx.prepare_cached(
            "DELETE FROM orphan_receipts WHERE connector = ?1 AND smsc_id = ?2 RETURNING status, detail",
        )?;
        for (connector, smsc_id) in submitted {
            let Some((status, detail)) = take
                .query_row(params![connector, smsc_id], |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?
            else {
                continue;
            };
            let status = status.and_then(|s| s.parse().ok());
            if !receipts.apply(connector, smsc_id, status, &detail, now, &mut transitions)? {
                // Handing it on would leave it, between this commit and the
                // general path's, stored nowhere: the general path takes
                // the whole batch instead (this transaction rolls back).
                return Ok(outcomes.to_vec());
            }
        }
    }
    drop(receipts);
    record_transitions(&tx, &transitions, now)?;
    tx.commit()?;
    Ok(left)
}

/// Marks one-part messages `sent` with their SMSC ids; sets aside every
/// outcome that is neither such an answer nor a receipt. Returns the
/// (connector, SMSC id) of each answer, applied or not.
fn mark_sent<'a>(
    tx: &Connection,
    outcomes: &'a [Outcome],
    retry: RetryPolicy,
    now: i64,
    transitions: &mut Vec<Transition>,
    left: &mut Vec<Outcome>,
) -> rusqlite::Result<Vec<(&'a str, &'a str)>> {
    // The row is read first and then changed by its rowid: one lookup by
    // id instead of one for the change and one for the read (and, without
    // RETURNING, no temporary table per statement).
    let mut read = tx.prepare_cached(
        "SELECT rowid, account_id, to_number, callback_url, trail IS NOT NULL, segments FROM messages
         WHERE id = ?1 AND status IN ('sending', 'queued')",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE messages SET status = 'sent', connector = ?1, smsc_id = ?2, updated_at = ?3,
             claimed_by = NULL, lease_until = NULL, error = NULL, attempts = attempts + 1,
             next_attempt_at = ?4, trail = trail || ?5
         WHERE rowid = ?6",
    )?;
    let check_at = now.saturating_add(super::ms_to_micros(retry.receipt_check_ms));
    let mut submitted = Vec::new();
    let mut ignored = 0;
    for outcome in outcomes {
        match outcome {
            Outcome::Submitted { message_id, connector, smsc_ids, segments } if smsc_ids.len() == 1 => {
                let smsc_id = smsc_ids[0].as_str();
                let found = read
                    .query_row([message_id], |r| {
                        let transition = Transition {
                            message_id: message_id.clone(),
                            account_id: r.get(1)?,
                            to: r.get(2)?,
                            callback_url: r.get(3)?,
                            status: MessageStatus::Sent,
                            detail: Some(accepted(connector, smsc_id)),
                            on_trail: r.get(4)?,
                        };
                        Ok((r.get::<_, i64>(0)?, transition, r.get::<_, i64>(5)?))
                    })
                    .optional()?;
                let Some((rowid, transition, counted)) = found else {
                    submitted.push((connector.as_str(), smsc_id));
                    ignored += 1;
                    continue;
                };
                // Sent in other segments than counted (a payload in another
                // coding): re-priced on the general path.
                if counted != *segments as i64 {
                    left.push(outcome.clone());
                    continue;
                }
                submitted.push((connector.as_str(), smsc_id));
                let entry = trail::entry(MessageStatus::Sent, now, transition.detail.as_deref());
                update.execute(params![connector, smsc_id, now, check_at, entry, rowid])?;
                transitions.push(transition);
            }
            Outcome::Receipt { .. } => {}
            other => left.push(other.clone()),
        }
    }
    if ignored > 0 {
        tracing::warn!(
            answers = submitted.len(),
            ignored,
            "submit answers for messages not being sent were ignored"
        );
    }
    Ok(submitted)
}

/// The message a receipt is for, as this batch left it.
struct Found {
    /// Its transitions' common fields.
    base: Transition,
    current: MessageStatus,
    rowid: i64,
}

/// Receipts of one-part messages, with what this batch already did to each.
struct Receipts<'t> {
    find: rusqlite::CachedStatement<'t>,
    update: rusqlite::CachedStatement<'t>,
    /// Appends to a trail without a change of status.
    append: rusqlite::CachedStatement<'t>,
    /// (connector, SMSC id) -> its message, or `None` when no message has
    /// that id.
    known: HashMap<(String, String), Option<Found>>,
    /// Messages with a receipt left to the general path.
    deferred: HashSet<String>,
}

impl<'t> Receipts<'t> {
    fn new(tx: &'t Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            // The newest stored message with that SMSC id (rowids grow as
            // messages are stored; the general path's `ORDER BY id DESC`
            // differs only for messages made within milliseconds of each
            // other, which an SMSC never gives the same id); in rowid order
            // SQLite reads its index backwards instead of sorting.
            find: tx.prepare_cached(
                "SELECT id, account_id, to_number, callback_url, status, rowid, trail IS NOT NULL FROM messages
                 WHERE smsc_id = ?1 AND connector = ?2 ORDER BY rowid DESC LIMIT 1",
            )?,
            update: tx.prepare_cached(
                "UPDATE messages SET status = ?1, error = ?2, updated_at = ?3, trail = trail || ?4
                 WHERE rowid = ?5",
            )?,
            append: tx.prepare_cached("UPDATE messages SET trail = trail || ?1 WHERE rowid = ?2")?,
            known: HashMap::new(),
            deferred: HashSet::new(),
        })
    }

    /// Applies one receipt; `false` when it is the general path's to apply.
    fn apply(
        &mut self,
        connector: &str,
        smsc_id: &str,
        status: Option<MessageStatus>,
        detail: &str,
        now: i64,
        transitions: &mut Vec<Transition>,
    ) -> rusqlite::Result<bool> {
        let key = (connector.to_owned(), smsc_id.to_owned());
        if !self.known.contains_key(&key) {
            let found = self
                .find
                .query_row(params![smsc_id, connector], |r| {
                    let status: String = r.get(4)?;
                    let status: MessageStatus = status.parse().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
                    })?;
                    let base = Transition {
                        message_id: r.get(0)?,
                        account_id: r.get(1)?,
                        to: r.get(2)?,
                        callback_url: r.get(3)?,
                        status,
                        detail: None,
                        on_trail: r.get(6)?,
                    };
                    Ok(Found { base, current: status, rowid: r.get(5)? })
                })
                .optional()?;
            self.known.insert(key.clone(), found);
        }
        let Some(Some(Found { base, current, rowid })) = self.known.get_mut(&key) else {
            return Ok(false); // a part of a long message, or a receipt ahead of its answer
        };
        if self.deferred.contains(&base.message_id) {
            return Ok(false);
        }
        if current.is_final() {
            return Ok(true); // a repeated receipt
        }
        if let Some(final_status) = status {
            if refunds(final_status) {
                self.deferred.insert(base.message_id.clone());
                return Ok(false);
            }
            let error = (final_status != MessageStatus::Delivered).then_some(detail);
            let entry = trail::entry(final_status, now, Some(detail));
            self.update.execute(params![final_status.as_str(), error, now, entry, *rowid])?;
            *current = final_status;
        } else if base.on_trail {
            self.append.execute(params![trail::entry(*current, now, Some(detail)), *rowid])?;
        }
        transitions.push(Transition { status: *current, detail: Some(detail.to_owned()), ..base.clone() });
        Ok(true)
    }
}

/// Writes the history row of each transition not on its message's trail,
/// its pending callback, and
/// settles the charges of messages now `sent` (no transition here refunds:
/// claims and receipts that would are the general path's).
fn record_transitions(tx: &Connection, transitions: &[Transition], now: i64) -> rusqlite::Result<()> {
    let mut event = tx.prepare_cached(
        "INSERT INTO message_events (message_id, status, at, detail) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut callback = tx.prepare_cached(
        "INSERT INTO webhook_deliveries (id, account_id, message_id, event, url, payload, status,
             next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'message.status', ?4, ?5, 'pending', ?6, ?6, ?6)",
    )?;
    let mut charge = tx.prepare_cached(
        "SELECT account_id, amount FROM message_charges WHERE message_id = ?1 AND state = 'reserved'",
    )?;
    let mut settle = tx.prepare_cached(
        "UPDATE message_charges SET state = 'settled', updated_at = ?1 WHERE message_id = ?2",
    )?;
    // account -> reserved amount released
    let mut released: BTreeMap<String, i64> = BTreeMap::new();
    for t in transitions {
        if !t.on_trail {
            event.execute(params![t.message_id, t.status.as_str(), now, t.detail])?;
        }
        if let Some(url) = &t.callback_url {
            callback.execute(params![
                new_id(),
                t.account_id,
                t.message_id,
                url,
                status_payload(t, now),
                now
            ])?;
        }
        if t.status == MessageStatus::Sent
            && let Some((account, amount)) = charge
                .query_row([&t.message_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .optional()?
        {
            settle.execute(params![now, t.message_id])?;
            *released.entry(account).or_default() += amount;
        }
    }
    if !released.is_empty() {
        let mut release = tx.prepare_cached(billing::RELEASE_RESERVED)?;
        for (account, amount) in released {
            release.execute(named_params! {"$1": amount, "$2": 0i64, "$3": now, "$4": account})?;
        }
    }
    Ok(())
}
