//! The batch engine every contact write goes through (API creates and
//! updates, bulk upserts, import batches).
//!
//! A batch is resolved in memory against what is stored under every key it
//! mentions (ids, numbers, external ids): rows for the same contact merge in
//! order (later values win), and a row that would take another contact's
//! number or external id, or name an unknown group, is refused on its own
//! with the reason. Then the batch is written in a few statements. On
//! PostgreSQL the contacts it may change are locked first, in id order, and
//! new ones are inserted in number order, so that concurrent batches wait
//! for each other; one that still loses a race runs again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::contact_types::FieldValue;
use super::contacts::{
    CHUNK, CONTACT_COLUMNS, ContactRow, ContactWrite, MatchBy, RowProblem, SetChange, Target, WriteOutcome,
};
use super::{Dialect, InAccount, Store};
use crate::domain::{Tag, new_id};

/// Attempts of a batch that lost a race with another writer (its new
/// contact broke a unique index, or a deadlock; possible on PostgreSQL);
/// each attempt resolves against what the other writer stored.
pub(super) const WRITE_ATTEMPTS: usize = 3;

/// Why a message waiting for a contact marked opted out is canceled.
const CONTACT_OPTED_OUT: &str = "the recipient was opted out on its contact";

/// A contact touched by a batch: its new state and what else changes.
struct Pending {
    row: ContactRow,
    is_new: bool,
    /// Its number or external id changes (updated in two steps, so that
    /// contacts of one batch may hand numbers on).
    keys_changed: bool,
    fields: BTreeMap<String, Option<String>>,
    tags_replace: bool,
    tags: BTreeSet<String>,
    groups_replace: bool,
    groups: BTreeSet<String>,
}

impl Pending {
    fn new(row: ContactRow, is_new: bool) -> Self {
        Self {
            row,
            is_new,
            keys_changed: false,
            fields: BTreeMap::new(),
            tags_replace: false,
            tags: BTreeSet::new(),
            groups_replace: false,
            groups: BTreeSet::new(),
        }
    }
}

fn merge_set<T: Clone>(
    replace: &mut bool,
    set: &mut BTreeSet<String>,
    change: &SetChange<T>,
    key: fn(&T) -> String,
) {
    match change {
        SetChange::Keep => {}
        SetChange::Add(items) => set.extend(items.iter().map(key)),
        SetChange::Replace(items) => {
            *replace = true;
            set.clear();
            set.extend(items.iter().map(key));
        }
    }
}

impl Store {
    /// Applies a batch of writes in one transaction. Each write gets its
    /// outcome, or the reason it was refused (nothing of it is stored then).
    pub async fn write_contacts(
        &self,
        account_id: &str,
        writes: &[ContactWrite],
        now: i64,
    ) -> sqlx::Result<Vec<Result<WriteOutcome, RowProblem>>> {
        self.write_contacts_retrying(account_id, writes, now, false).await
    }

    /// [`Store::write_contacts`], all or nothing: when any write is refused,
    /// nothing is stored (the outcomes say which were refused and why).
    pub async fn write_contacts_atomic(
        &self,
        account_id: &str,
        writes: &[ContactWrite],
        now: i64,
    ) -> sqlx::Result<Vec<Result<WriteOutcome, RowProblem>>> {
        self.write_contacts_retrying(account_id, writes, now, true).await
    }

    async fn write_contacts_retrying(
        &self,
        account_id: &str,
        writes: &[ContactWrite],
        now: i64,
        atomic: bool,
    ) -> sqlx::Result<Vec<Result<WriteOutcome, RowProblem>>> {
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.writer.begin().await?;
                let outcomes = self.write_contacts_in(&mut tx, account_id, writes, now).await?;
                if atomic && outcomes.iter().any(Result::is_err) {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(outcomes)
            }
            .await;
            match result {
                Err(e) if attempt < WRITE_ATTEMPTS && is_lost_race(&e) => attempt += 1,
                other => return other,
            }
        }
    }

    /// [`Store::write_contacts`] inside a transaction the caller commits.
    pub(super) async fn write_contacts_in(
        &self,
        tx: &mut AnyConnection,
        account_id: &str,
        writes: &[ContactWrite],
        now: i64,
    ) -> sqlx::Result<Vec<Result<WriteOutcome, RowProblem>>> {
        if writes.iter().any(|w| w.changes.opted_out == Some(true)) {
            // Before the contacts are locked (see `lock_opt_outs`).
            super::inbound::lock_opt_outs(tx, account_id).await?;
        }
        // What is stored under every key the batch mentions.
        let ids: Vec<String> = writes
            .iter()
            .filter_map(|w| match &w.target {
                Target::Id(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let phones: Vec<String> =
            writes.iter().filter_map(|w| w.changes.phone.as_ref().map(|p| p.as_str().to_owned())).collect();
        let external: Vec<String> =
            writes.iter().filter_map(|w| w.changes.external_id.clone().flatten()).collect();
        let mut known: HashMap<String, ContactRow> = HashMap::new();
        for (column, keys) in [("id", &ids), ("phone", &phones), ("external_id", &external)] {
            for row in self.fetch_rows_by(tx, account_id, column, keys).await? {
                known.insert(row.id.clone(), row);
            }
        }
        if self.dialect == Dialect::Postgres && !known.is_empty() {
            // Lock what the batch may change, in id order, and read it again
            // as committed: concurrent batches then wait for each other
            // instead of deadlocking or overwriting each other's changes.
            let mut ids: Vec<String> = known.into_keys().collect();
            ids.sort();
            known =
                self.lock_rows(tx, account_id, &ids).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        let mut by_phone: HashMap<String, String> =
            known.values().map(|r| (r.phone.clone(), r.id.clone())).collect();
        let mut by_external: HashMap<String, String> = known
            .values()
            .filter_map(|r| r.external_id.as_ref().map(|e| (e.clone(), r.id.clone())))
            .collect();
        let group_ids: Vec<String> = writes
            .iter()
            .flat_map(|w| match &w.changes.groups {
                SetChange::Keep => &[][..],
                SetChange::Add(g) | SetChange::Replace(g) => &g[..],
            })
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let known_groups = self.existing_group_ids(tx, account_id, &group_ids).await?;

        // Resolve each write in order against the stored and pending state.
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut outcomes = Vec::with_capacity(writes.len());
        for w in writes {
            let outcome = resolve(
                w,
                &known,
                &mut pending,
                &mut order,
                &mut by_phone,
                &mut by_external,
                &known_groups,
                now,
            );
            outcomes.push(outcome);
        }

        // Write: numbers and external ids that change are parked first, so
        // that any order of updates keeps them unique.
        let parked: Vec<&Pending> =
            order.iter().filter_map(|id| pending.get(id)).filter(|p| !p.is_new && p.keys_changed).collect();
        for p in &parked {
            sqlx::query("UPDATE contacts SET phone = $1, external_id = NULL WHERE id = $2")
                .bind(format!("~{}", p.row.id))
                .bind(&p.row.id)
                .execute(&mut *tx)
                .await?;
        }
        for p in order.iter().filter_map(|id| pending.get(id)).filter(|p| !p.is_new) {
            let r = &p.row;
            sqlx::query(
                "UPDATE contacts SET phone = $1, name = $2, email = $3, language = $4, time_zone = $5,
                 external_id = $6, notes = $7, search = $8, opted_out_at = $9, updated_at = $10 WHERE id = $11",
            )
            .bind(&r.phone)
            .bind(&r.name)
            .bind(&r.email)
            .bind(&r.language)
            .bind(&r.time_zone)
            .bind(&r.external_id)
            .bind(&r.notes)
            .bind(r.search())
            .bind(r.opted_out_at)
            .bind(r.updated_at)
            .bind(&r.id)
            .execute(&mut *tx)
            .await?;
        }
        let mut new: Vec<&ContactRow> =
            order.iter().filter_map(|id| pending.get(id)).filter(|p| p.is_new).map(|p| &p.row).collect();
        // In one order everywhere, so that two batches adding the same
        // numbers wait for each other rather than deadlock.
        new.sort_by(|a, b| a.phone.cmp(&b.phone));
        for chunk in new.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", self.dialect.placeholders(i * 13 + 1, 13)))
                .collect();
            let sql = format!(
                "INSERT INTO contacts (id, account_id, phone, name, email, language, time_zone, external_id,
                 notes, search, opted_out_at, created_at, updated_at) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(&r.id)
                    .bind(account_id)
                    .bind(&r.phone)
                    .bind(&r.name)
                    .bind(&r.email)
                    .bind(&r.language)
                    .bind(&r.time_zone)
                    .bind(&r.external_id)
                    .bind(&r.notes)
                    .bind(r.search())
                    .bind(r.opted_out_at)
                    .bind(r.created_at)
                    .bind(r.updated_at);
            }
            q.execute(&mut *tx).await?;
        }

        // A contact opted out now (or an opted-out contact given a new
        // number) is a number opted out: what waits for it is canceled.
        let opted_out: Vec<&str> = order
            .iter()
            .filter_map(|id| pending.get(id))
            .filter(|p| {
                p.row.opted_out_at.is_some()
                    && known.get(&p.row.id).is_none_or(|k| k.opted_out_at.is_none() || k.phone != p.row.phone)
            })
            .map(|p| p.row.phone.as_str())
            .collect();
        super::inbound::opted_out_now(tx, account_id, &opted_out, CONTACT_OPTED_OUT, now).await?;

        let touched = || order.iter().filter_map(|id| pending.get(id));
        let values: Vec<(&str, &str, &str)> = touched()
            .flat_map(|p| {
                p.fields.iter().filter_map(|(f, v)| v.as_deref().map(|v| (p.row.id.as_str(), f.as_str(), v)))
            })
            .collect();
        for chunk in values.chunks(CHUNK) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", self.dialect.placeholders(i * 3 + 1, 3))).collect();
            let sql = format!(
                "INSERT INTO contact_values (contact_id, field_id, value) VALUES {}
                 ON CONFLICT (contact_id, field_id) DO UPDATE SET value = excluded.value",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (c, f, v) in chunk {
                q = q.bind(*c).bind(*f).bind(*v);
            }
            q.execute(&mut *tx).await?;
        }
        for p in touched().filter(|p| !p.is_new) {
            for (field, _) in p.fields.iter().filter(|(_, v)| v.is_none()) {
                sqlx::query("DELETE FROM contact_values WHERE contact_id = $1 AND field_id = $2")
                    .bind(&p.row.id)
                    .bind(field)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let replaced_tags: Vec<String> =
            touched().filter(|p| p.tags_replace && !p.is_new).map(|p| p.row.id.clone()).collect();
        self.delete_where_in(tx, "contact_tags", "contact_id", &replaced_tags).await?;
        let tags: Vec<(&str, &str)> =
            touched().flat_map(|p| p.tags.iter().map(|t| (p.row.id.as_str(), t.as_str()))).collect();
        self.insert_pairs(tx, "contact_tags (contact_id, tag)", &tags, None).await?;
        let replaced_groups: Vec<String> =
            touched().filter(|p| p.groups_replace && !p.is_new).map(|p| p.row.id.clone()).collect();
        self.delete_where_in(tx, "group_members", "contact_id", &replaced_groups).await?;
        let members: Vec<(&str, &str)> =
            touched().flat_map(|p| p.groups.iter().map(|g| (g.as_str(), p.row.id.as_str()))).collect();
        self.insert_pairs(tx, "group_members (group_id, contact_id, added_at)", &members, Some(now)).await?;
        Ok(outcomes)
    }

    /// Stored contacts whose `column` is one of `keys`.
    async fn fetch_rows_by(
        &self,
        tx: &mut AnyConnection,
        account_id: &str,
        column: &str,
        keys: &[String],
    ) -> sqlx::Result<Vec<ContactRow>> {
        let unique: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        let unique: Vec<&str> = unique.into_iter().collect();
        let query = InAccount { columns: CONTACT_COLUMNS, table: "contacts", column, suffix: "" };
        let rows = self.select_in_account(tx, query, account_id, &unique).await?;
        rows.iter().map(ContactRow::from_row).collect()
    }

    /// Locks the contacts with these ids (sorted) until the transaction
    /// ends and reads them as committed (PostgreSQL).
    async fn lock_rows(
        &self,
        tx: &mut AnyConnection,
        account_id: &str,
        sorted_ids: &[String],
    ) -> sqlx::Result<Vec<ContactRow>> {
        let ids: Vec<&str> = sorted_ids.iter().map(String::as_str).collect();
        let query = InAccount {
            columns: CONTACT_COLUMNS,
            table: "contacts",
            column: "id",
            suffix: " ORDER BY id FOR UPDATE",
        };
        let rows = self.select_in_account(tx, query, account_id, &ids).await?;
        rows.iter().map(ContactRow::from_row).collect()
    }

    async fn existing_group_ids(
        &self,
        tx: &mut AnyConnection,
        account_id: &str,
        ids: &[String],
    ) -> sqlx::Result<HashSet<String>> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let query = InAccount { columns: "id", table: "contact_groups", column: "id", suffix: "" };
        let rows = self.select_in_account(tx, query, account_id, &ids).await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// `DELETE FROM table WHERE column IN (keys)`, in chunks.
    async fn delete_where_in(
        &self,
        tx: &mut AnyConnection,
        table: &str,
        column: &str,
        keys: &[String],
    ) -> sqlx::Result<u64> {
        let mut deleted = 0;
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "DELETE FROM {table} WHERE {column} IN ({})",
                self.dialect.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for k in chunk {
                q = q.bind(k);
            }
            deleted += q.execute(&mut *tx).await?.rows_affected();
        }
        Ok(deleted)
    }

    /// Inserts (a, b[, time]) rows, skipping those already there. Returns
    /// how many were new.
    pub(super) async fn insert_pairs(
        &self,
        tx: &mut AnyConnection,
        table_and_columns: &str,
        pairs: &[(&str, &str)],
        time: Option<i64>,
    ) -> sqlx::Result<u64> {
        let width = if time.is_some() { 3 } else { 2 };
        let mut inserted = 0;
        for chunk in pairs.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", self.dialect.placeholders(i * width + 1, width)))
                .collect();
            let sql =
                format!("INSERT INTO {table_and_columns} VALUES {} ON CONFLICT DO NOTHING", rows.join(", "));
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (a, b) in chunk {
                q = q.bind(*a).bind(*b);
                if let Some(t) = time {
                    q = q.bind(t);
                }
            }
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        Ok(inserted)
    }
}

/// Finds the contact a write is for, checks that it keeps numbers and
/// external ids unique, and applies it to the pending state.
#[allow(clippy::too_many_arguments)]
fn resolve(
    w: &ContactWrite,
    known: &HashMap<String, ContactRow>,
    pending: &mut HashMap<String, Pending>,
    order: &mut Vec<String>,
    by_phone: &mut HashMap<String, String>,
    by_external: &mut HashMap<String, String>,
    known_groups: &HashSet<String>,
    now: i64,
) -> Result<WriteOutcome, RowProblem> {
    let c = &w.changes;
    let phone = c.phone.as_ref().map(|p| p.as_str());
    let external = c.external_id.as_ref().and_then(|e| e.as_deref());
    let current = |id: &str| pending.get(id).map(|p| &p.row).or_else(|| known.get(id));
    let taken_phone = |p: &str| {
        RowProblem::new("duplicate", "phone", format!("{p} is already the number of another contact"))
    };
    let taken_external = |e: &str| {
        RowProblem::new(
            "duplicate",
            "external_id",
            format!("external id '{e}' already belongs to another contact"),
        )
    };
    let missing_phone = || RowProblem::new("missing", "phone", "a new contact needs a phone number");

    let target: Option<String> = match &w.target {
        Target::Id(id) => match current(id) {
            Some(_) => Some(id.clone()),
            None => return Err(RowProblem::new("not_found", "id", "no such contact")),
        },
        Target::New => {
            let p = phone.ok_or_else(missing_phone)?;
            if by_phone.contains_key(p) {
                return Err(taken_phone(p));
            }
            None
        }
        Target::Match(MatchBy::ExternalId) if external.is_some() => {
            let e = external.unwrap_or_default();
            match (by_external.get(e), phone.and_then(|p| by_phone.get(p))) {
                (Some(id), _) => Some(id.clone()),
                (None, Some(id)) => match current(id).and_then(|r| r.external_id.as_deref()) {
                    None => Some(id.clone()),
                    Some(other) => {
                        return Err(RowProblem::new(
                            "duplicate",
                            "phone",
                            format!(
                                "{} is already the number of the contact with external id '{other}'",
                                phone.unwrap_or_default()
                            ),
                        ));
                    }
                },
                (None, None) => None,
            }
        }
        Target::Match(_) => {
            let p = phone
                .ok_or_else(|| RowProblem::new("missing", "phone", "a phone number is needed to match"))?;
            by_phone.get(p).cloned()
        }
    };
    if target.is_none() && phone.is_none() {
        return Err(missing_phone());
    }
    if let Some(p) = phone
        && by_phone.get(p).is_some_and(|holder| Some(holder) != target.as_ref())
    {
        return Err(taken_phone(p));
    }
    if let Some(e) = external
        && by_external.get(e).is_some_and(|holder| Some(holder) != target.as_ref())
    {
        return Err(taken_external(e));
    }
    let groups = match &c.groups {
        SetChange::Keep => &[][..],
        SetChange::Add(g) | SetChange::Replace(g) => &g[..],
    };
    if let Some(g) = groups.iter().find(|g| !known_groups.contains(*g)) {
        return Err(RowProblem::new("unknown_group", "groups", format!("no such group: {g}")));
    }

    let first_touch = target.as_ref().is_none_or(|id| !pending.contains_key(id));
    let id = match target {
        Some(id) => id,
        None => {
            let id = new_id();
            let row = ContactRow {
                id: id.clone(),
                phone: phone.unwrap_or_default().to_owned(),
                name: None,
                email: None,
                language: None,
                time_zone: None,
                external_id: None,
                notes: None,
                opted_out_at: None,
                created_at: now,
                updated_at: now,
            };
            by_phone.insert(row.phone.clone(), id.clone());
            pending.insert(id.clone(), Pending::new(row, true));
            order.push(id.clone());
            id
        }
    };
    if !pending.contains_key(&id) {
        let Some(row) = known.get(&id) else {
            return Err(RowProblem::new("not_found", "id", "no such contact"));
        };
        pending.insert(id.clone(), Pending::new(row.clone(), false));
        order.push(id.clone());
    }
    let Some(p) = pending.get_mut(&id) else {
        return Err(RowProblem::new("not_found", "id", "no such contact"));
    };
    let r = &mut p.row;
    if let Some(new_phone) = phone
        && new_phone != r.phone
    {
        if by_phone.get(&r.phone) == Some(&id) {
            by_phone.remove(&r.phone);
        }
        by_phone.insert(new_phone.to_owned(), id.clone());
        r.phone = new_phone.to_owned();
        p.keys_changed = true;
    }
    if let Some(new_external) = &c.external_id
        && *new_external != r.external_id
    {
        if let Some(old) = &r.external_id
            && by_external.get(old) == Some(&id)
        {
            by_external.remove(old);
        }
        if let Some(e) = new_external {
            by_external.insert(e.clone(), id.clone());
        }
        r.external_id = new_external.clone();
        p.keys_changed = true;
    }
    if let Some(v) = &c.name {
        r.name = v.clone();
    }
    if let Some(v) = &c.email {
        r.email = v.as_ref().map(|e| e.as_str().to_owned());
    }
    if let Some(v) = &c.language {
        r.language = v.as_ref().map(|l| l.as_str().to_owned());
    }
    if let Some(v) = &c.time_zone {
        r.time_zone = v.as_ref().map(|t| t.as_str().to_owned());
    }
    if let Some(v) = &c.notes {
        r.notes = v.clone();
    }
    match c.opted_out {
        Some(true) => r.opted_out_at = r.opted_out_at.or(Some(c.opted_out_at.map_or(now, |at| at.min(now)))),
        Some(false) => r.opted_out_at = None,
        None => {}
    }
    r.updated_at = now;
    for (field, value) in &c.fields {
        p.fields.insert(field.clone(), value.as_ref().map(FieldValue::to_stored));
    }
    merge_set(&mut p.tags_replace, &mut p.tags, &c.tags, |t: &Tag| t.as_str().to_owned());
    merge_set(&mut p.groups_replace, &mut p.groups, &c.groups, |g: &String| g.clone());
    Ok(if p.is_new && first_touch { WriteOutcome::Created(id) } else { WriteOutcome::Updated(id) })
}

/// A statement broke a unique index.
pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

/// A batch lost a race with another writer and may simply run again: it
/// broke a unique index, or PostgreSQL chose it as a deadlock's victim.
pub(super) fn is_lost_race(e: &sqlx::Error) -> bool {
    is_unique_violation(e)
        || e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "40P01" || c == "40001")
}
