//! Contacts: the address book of an account, with typed custom values,
//! #tag subscriptions and group memberships; and the custom field
//! definitions values are checked against.
//!
//! This file holds the types and the reads; every write goes through the
//! batch engine in `contact_writes` ([`Store::write_contacts`]), which the
//! API, bulk upserts and imports share.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use super::Store;
use super::contact_types::{Email, FieldDef, FieldKind, FieldName, FieldValue, Language, TimeZone, fold};
use super::sql::Sql;
use crate::domain::{PhoneNumber, Tag, new_id};

/// Keys per `IN (...)` list and rows per multi-row INSERT: below both
/// databases' limits on bound values.
pub(super) const CHUNK: usize = 500;
/// Custom fields an account may define.
pub const MAX_CONTACT_FIELDS: usize = 100;

/// A contact as stored, with its custom values, tags and groups.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    pub id: String,
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub external_id: Option<String>,
    pub notes: Option<String>,
    pub opted_out_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Custom values by field name, in name order.
    pub fields: Vec<(String, FieldValue)>,
    /// Tags, lower-cased without `#`, in order.
    pub tags: Vec<String>,
    /// Groups, in name order.
    pub groups: Vec<GroupRef>,
}

/// A group as a contact lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

/// What to change in a contact. `None` leaves an attribute as it is;
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub phone: Option<PhoneNumber>,
    pub name: Option<Option<String>>,
    pub email: Option<Option<Email>>,
    pub language: Option<Option<Language>>,
    pub time_zone: Option<Option<TimeZone>>,
    pub external_id: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    /// `true` records the opt-out (keeping an earlier time); `false`
    /// clears it.
    pub opted_out: Option<bool>,
    /// When the opt-out happened, where that is known (a time read from an
    /// imported file); the write's time otherwise, and never later.
    pub opted_out_at: Option<i64>,
    /// Custom values by field id; `None` removes the value.
    pub fields: Vec<(String, Option<FieldValue>)>,
    pub tags: SetChange<Tag>,
    /// Group ids.
    pub groups: SetChange<String>,
}

/// A change to a set (tags, groups).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SetChange<T> {
    #[default]
    Keep,
    Add(Vec<T>),
    Replace(Vec<T>),
}

/// How a row of a bulk upsert finds the contact it updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchBy {
    /// By number; a row without a known number creates a contact.
    Phone,
    /// By external id; rows without one, or with one not yet known, fall
    /// back to the number (a contact found so adopts the external id).
    ExternalId,
}

/// Which contact a write is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new contact; refused if its number (or external id) is taken.
    New,
    /// An existing contact by id.
    Id(String),
    /// Update the matching contact, or create one.
    Match(MatchBy),
}

#[derive(Debug, Clone)]
pub struct ContactWrite {
    pub target: Target,
    pub changes: ContactChanges,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Created(String),
    Updated(String),
}

impl WriteOutcome {
    pub fn id(&self) -> &str {
        match self {
            Self::Created(id) | Self::Updated(id) => id,
        }
    }
}

/// Why one write was refused; the others of its batch are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// `duplicate`, `not_found`, `missing` or `unknown_group`.
    pub code: &'static str,
    /// The attribute at fault: `phone`, `external_id`, `id`, `groups`.
    pub field: &'static str,
    pub message: String,
}

impl RowProblem {
    pub(super) fn new(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self { code, field, message: message.into() }
    }
}

/// Filters of the contact list; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub group_id: Option<String>,
    pub tag: Option<String>,
    /// Custom values that must match exactly: (field id, stored value).
    pub fields: Vec<(String, String)>,
    /// Part of the name or e-mail (any case, any diacritics), or digits of
    /// the number.
    pub q: Option<String>,
    pub opted_out: Option<bool>,
    /// Continue after this id (the previous page's last).
    pub cursor: Option<String>,
    pub limit: usize,
    /// Oldest first (exports); otherwise newest first.
    pub ascending: bool,
}

/// Why a custom field could not be defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldCreateError {
    Exists,
    TooMany,
}

/// A contact's stored columns.
#[derive(Debug, Clone)]
pub(super) struct ContactRow {
    pub(super) id: String,
    pub(super) phone: String,
    pub(super) name: Option<String>,
    pub(super) email: Option<String>,
    pub(super) language: Option<String>,
    pub(super) time_zone: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) notes: Option<String>,
    pub(super) opted_out_at: Option<i64>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

pub(super) const CONTACT_COLUMNS: &str =
    "id, phone, name, email, language, time_zone, external_id, notes, opted_out_at, created_at, updated_at";

impl ContactRow {
    pub(super) fn from_row(r: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            phone: r.try_get("phone")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            language: r.try_get("language")?,
            time_zone: r.try_get("time_zone")?,
            external_id: r.try_get("external_id")?,
            notes: r.try_get("notes")?,
            opted_out_at: r.try_get("opted_out_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// What `q` searches: the folded name and e-mail.
    pub(super) fn search(&self) -> String {
        let mut s = fold(self.name.as_deref().unwrap_or(""));
        s.push('\t');
        s.push_str(&fold(self.email.as_deref().unwrap_or("")));
        s
    }

    pub(super) fn into_record(self) -> ContactRecord {
        ContactRecord {
            id: self.id,
            phone: self.phone,
            name: self.name,
            email: self.email,
            language: self.language,
            time_zone: self.time_zone,
            external_id: self.external_id,
            notes: self.notes,
            opted_out_at: self.opted_out_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            fields: Vec::new(),
            tags: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl Store {
    pub async fn get_contact(&self, account_id: &str, id: &str) -> sqlx::Result<Option<ContactRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1 AND account_id = $2"
        )))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut records = vec![ContactRow::from_row(&row)?.into_record()];
        self.complete_records(&mut records).await?;
        Ok(records.pop())
    }

    /// The contact with this number, if any.
    pub async fn contact_id_by_phone(
        &self,
        account_id: &str,
        phone: &PhoneNumber,
    ) -> sqlx::Result<Option<String>> {
        sqlx::query("SELECT id FROM contacts WHERE account_id = $1 AND phone = $2")
            .bind(account_id)
            .bind(phone.as_str())
            .fetch_optional(&self.reader)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
    }

    /// The contact with this external id (an id in the customer's own system).
    pub async fn contact_id_by_external_id(
        &self,
        account_id: &str,
        external_id: &str,
    ) -> sqlx::Result<Option<String>> {
        sqlx::query("SELECT id FROM contacts WHERE account_id = $1 AND external_id = $2")
            .bind(account_id)
            .bind(external_id)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
    }

    /// Deletes a contact with its values, tags and memberships. Returns
    /// false when there is no such contact.
    pub async fn delete_contact(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM contacts WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One page of contacts, at most `filter.limit`.
    pub async fn list_contacts(
        &self,
        account_id: &str,
        filter: &ContactFilter,
    ) -> sqlx::Result<Vec<ContactRecord>> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = ")).text(account_id);
        if let Some(g) = &filter.group_id {
            sql.push(" AND EXISTS (SELECT 1 FROM group_members g WHERE g.contact_id = contacts.id AND g.group_id = ")
                .text(g.as_str())
                .push(")");
        }
        if let Some(t) = &filter.tag {
            sql.push(
                " AND EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = contacts.id AND t.tag = ",
            )
            .text(t.as_str())
            .push(")");
        }
        for (field, value) in &filter.fields {
            sql.push(" AND id IN (SELECT contact_id FROM contact_values WHERE field_id = ")
                .text(field.as_str())
                .push(" AND value = ")
                .text(value.as_str())
                .push(")");
        }
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let number_like =
                q.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'));
            if !number_like || !q.chars().any(|c| c.is_ascii_digit()) {
                sql.push(" AND search LIKE ")
                    .text(format!("%{}%", escape_like(&fold(q))))
                    .push(" ESCAPE '\\'");
            } else {
                let digits: String = q.chars().filter(char::is_ascii_digit).collect();
                sql.push(" AND phone LIKE ").text(format!("%{digits}%"));
            }
        }
        if let Some(opted_out) = filter.opted_out {
            sql.push(if opted_out { " AND opted_out_at IS NOT NULL" } else { " AND opted_out_at IS NULL" });
        }
        let (cmp, dir) = if filter.ascending { (">", "ASC") } else { ("<", "DESC") };
        if let Some(cursor) = &filter.cursor {
            sql.push(&format!(" AND id {cmp} ")).text(cursor.as_str());
        }
        sql.push(&format!(" ORDER BY id {dir} LIMIT ")).int(filter.limit as i64);
        let rows = sql.query().fetch_all(&self.reader).await?;
        let mut records = rows
            .iter()
            .map(|r| ContactRow::from_row(r).map(ContactRow::into_record))
            .collect::<sqlx::Result<Vec<_>>>()?;
        self.complete_records(&mut records).await?;
        Ok(records)
    }

    /// Loads the custom values, tags and groups of `records`.
    pub(super) async fn complete_records(&self, records: &mut [ContactRecord]) -> sqlx::Result<()> {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut fields: HashMap<String, Vec<(String, FieldValue)>> = HashMap::new();
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        let mut groups: HashMap<String, Vec<GroupRef>> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let list = self.dialect.placeholders(1, chunk.len());
            let queries = [
                format!(
                    "SELECT v.contact_id, f.name, f.kind, v.value FROM contact_values v
                     JOIN contact_fields f ON f.id = v.field_id WHERE v.contact_id IN ({list}) ORDER BY f.name"
                ),
                format!("SELECT contact_id, tag FROM contact_tags WHERE contact_id IN ({list}) ORDER BY tag"),
                format!(
                    "SELECT m.contact_id, g.id, g.name FROM group_members m JOIN contact_groups g ON g.id = m.group_id
                     WHERE m.contact_id IN ({list}) ORDER BY g.name_key"
                ),
            ];
            for (i, sql) in queries.into_iter().enumerate() {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                for r in q.fetch_all(&self.reader).await? {
                    let contact: String = r.try_get(0)?;
                    match i {
                        0 => {
                            let kind: String = r.try_get(2)?;
                            let kind: FieldKind = kind.parse().unwrap_or(FieldKind::Text);
                            let value: String = r.try_get(3)?;
                            fields
                                .entry(contact)
                                .or_default()
                                .push((r.try_get(1)?, FieldValue::from_stored(kind, &value)));
                        }
                        1 => tags.entry(contact).or_default().push(r.try_get(1)?),
                        _ => groups
                            .entry(contact)
                            .or_default()
                            .push(GroupRef { id: r.try_get(1)?, name: r.try_get(2)? }),
                    }
                }
            }
        }
        for r in records.iter_mut() {
            r.fields = fields.remove(&r.id).unwrap_or_default();
            r.tags = tags.remove(&r.id).unwrap_or_default();
            r.groups = groups.remove(&r.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Subscribes a contact to a tag (`present`) or unsubscribes it.
    /// Returns `None` when there is no such contact.
    pub async fn set_contact_tag(
        &self,
        account_id: &str,
        contact_id: &str,
        tag: &Tag,
        present: bool,
        now: i64,
    ) -> sqlx::Result<Option<()>> {
        let mut tx = self.writer.begin().await?;
        let found = sqlx::query("UPDATE contacts SET updated_at = $1 WHERE id = $2 AND account_id = $3")
            .bind(now)
            .bind(contact_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        if found.rows_affected() == 0 {
            return Ok(None);
        }
        if present {
            sqlx::query("INSERT INTO contact_tags (contact_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(contact_id)
                .bind(tag.as_str())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM contact_tags WHERE contact_id = $1 AND tag = $2")
                .bind(contact_id)
                .bind(tag.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(()))
    }

    /// The account's custom fields, by name.
    pub async fn contact_fields(&self, account_id: &str) -> sqlx::Result<Vec<FieldDef>> {
        let rows = sqlx::query(
            "SELECT id, name, kind, created_at FROM contact_fields WHERE account_id = $1 ORDER BY name",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                Ok(FieldDef {
                    id: r.try_get(0)?,
                    name: FieldName::from_trusted(r.try_get(1)?),
                    kind: kind.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Defines a custom field.
    pub async fn create_contact_field(
        &self,
        account_id: &str,
        name: &FieldName,
        kind: FieldKind,
        now: i64,
    ) -> sqlx::Result<Result<FieldDef, FieldCreateError>> {
        let mut tx = self.writer.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM contact_fields WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if count >= MAX_CONTACT_FIELDS as i64 {
            return Ok(Err(FieldCreateError::TooMany));
        }
        let def = FieldDef { id: new_id(), name: name.clone(), kind, created_at: now };
        let inserted = sqlx::query(
            "INSERT INTO contact_fields (id, account_id, name, kind, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, name) DO NOTHING",
        )
        .bind(&def.id)
        .bind(account_id)
        .bind(def.name.as_str())
        .bind(kind.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(Err(FieldCreateError::Exists));
        }
        tx.commit().await?;
        Ok(Ok(def))
    }

    /// Removes a custom field and every contact's value of it.
    pub async fn delete_contact_field(&self, account_id: &str, name: &FieldName) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM contact_fields WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many contacts the account has (for tests and summaries).
    pub async fn count_contacts(&self, account_id: &str) -> sqlx::Result<i64> {
        sqlx::query("SELECT COUNT(*) FROM contacts WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&self.reader)
            .await?
            .try_get(0)
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally in LIKE.
pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
