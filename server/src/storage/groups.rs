//! Contact groups: named sets of an account's contacts, with their member
//! counts. A contact may be in many groups; deleting a group removes its
//! memberships, never its contacts. Names are unique per account without
//! regard to case.

use std::collections::{BTreeSet, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::contact_writes::is_unique_violation;
use super::{InAccount, Store};
use crate::domain::new_id;

/// Keys per `IN (...)` list.
const CHUNK: usize = 500;
/// Longest group name, in characters.
pub const MAX_GROUP_NAME_LEN: usize = 100;
/// Longest group description, in characters.
pub const MAX_GROUP_DESCRIPTION_LEN: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub members: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Another group of the account already has this name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNameTaken;

/// What a membership change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembersChanged {
    /// Memberships added or removed.
    pub changed: u64,
    /// Contacts that were already members (adding) or were not (removing).
    pub unchanged: u64,
    /// Requested ids that are not contacts of the account.
    pub unknown: Vec<String>,
}

const GROUP_COLUMNS: &str = "g.id, g.name, g.description, g.created_at, g.updated_at,
    (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS members";

fn group_from_row(r: &AnyRow) -> sqlx::Result<GroupRecord> {
    Ok(GroupRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        members: r.try_get("members")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// How group names compare.
pub fn group_name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Store {
    pub async fn create_group(
        &self,
        account_id: &str,
        name: &str,
        description: Option<&str>,
        now: i64,
    ) -> sqlx::Result<Result<GroupRecord, GroupNameTaken>> {
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO contact_groups (id, account_id, name, name_key, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, name_key) DO NOTHING",
        )
        .bind(&id)
        .bind(account_id)
        .bind(name.trim())
        .bind(group_name_key(name))
        .bind(description)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(Err(GroupNameTaken));
        }
        Ok(Ok(GroupRecord {
            id,
            name: name.trim().to_owned(),
            description: description.map(str::to_owned),
            members: 0,
            created_at: now,
            updated_at: now,
        }))
    }

    pub async fn get_group(&self, account_id: &str, id: &str) -> sqlx::Result<Option<GroupRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM contact_groups g WHERE g.id = $1 AND g.account_id = $2"
        )))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| group_from_row(&r))
        .transpose()
    }

    /// A group by id or, failing that, by name (any case).
    pub async fn find_group(&self, account_id: &str, id_or_name: &str) -> sqlx::Result<Option<GroupRecord>> {
        if let Some(g) = self.get_group(account_id, id_or_name.trim()).await? {
            return Ok(Some(g));
        }
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM contact_groups g WHERE g.account_id = $1 AND g.name_key = $2"
        )))
        .bind(account_id)
        .bind(group_name_key(id_or_name))
        .fetch_optional(&self.reader)
        .await?
        .map(|r| group_from_row(&r))
        .transpose()
    }

    /// Every group of the account, by name.
    pub async fn list_groups(&self, account_id: &str) -> sqlx::Result<Vec<GroupRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM contact_groups g WHERE g.account_id = $1 ORDER BY g.name_key"
        )))
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(group_from_row)
        .collect()
    }

    /// Renames a group or changes its description (`Some(None)` clears it).
    /// `Ok(None)` when there is no such group.
    pub async fn update_group(
        &self,
        account_id: &str,
        id: &str,
        name: Option<&str>,
        description: Option<Option<&str>>,
        now: i64,
    ) -> sqlx::Result<Result<Option<GroupRecord>, GroupNameTaken>> {
        let Some(current) = self.get_group(account_id, id).await? else { return Ok(Ok(None)) };
        let name = name.map_or(current.name.clone(), |n| n.trim().to_owned());
        let description = description.map_or(current.description.clone(), |d| d.map(str::to_owned));
        let updated = sqlx::query(
            "UPDATE contact_groups SET name = $1, name_key = $2, description = $3, updated_at = $4
             WHERE id = $5 AND account_id = $6",
        )
        .bind(&name)
        .bind(group_name_key(&name))
        .bind(&description)
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(&self.writer)
        .await;
        match updated {
            Err(e) if is_unique_violation(&e) => Ok(Err(GroupNameTaken)),
            Err(e) => Err(e),
            Ok(_) => Ok(Ok(self.get_group(account_id, id).await?)),
        }
    }

    /// Deletes a group and its memberships; its contacts stay.
    pub async fn delete_group(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM contact_groups WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds (`add`) or removes contacts of the account to or from a group.
    pub async fn change_members(
        &self,
        account_id: &str,
        group_id: &str,
        contact_ids: &[String],
        add: bool,
        now: i64,
    ) -> sqlx::Result<MembersChanged> {
        let mut tx = self.writer.begin().await?;
        let requested: BTreeSet<&String> = contact_ids.iter().collect();
        let requested: Vec<&String> = requested.into_iter().collect();
        let requested_keys: Vec<&str> = requested.iter().map(|s| s.as_str()).collect();
        let query = InAccount { columns: "id", table: "contacts", column: "id", suffix: "" };
        let found: BTreeSet<String> = self
            .select_in_account(&mut tx, query, account_id, &requested_keys)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
        let unknown: Vec<String> =
            requested.iter().filter(|id| !found.contains(**id)).map(|id| (*id).clone()).collect();
        let found: Vec<&str> = found.iter().map(String::as_str).collect();
        let changed = if add {
            let pairs: Vec<(&str, &str)> = found.iter().map(|c| (group_id, *c)).collect();
            self.insert_pairs(&mut tx, "group_members (group_id, contact_id, added_at)", &pairs, Some(now))
                .await?
        } else {
            let mut removed = 0;
            for chunk in found.chunks(CHUNK) {
                let sql = format!(
                    "DELETE FROM group_members WHERE group_id = {} AND contact_id IN ({})",
                    self.dialect.param(1),
                    self.dialect.placeholders(2, chunk.len())
                );
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(group_id);
                for id in chunk {
                    q = q.bind(*id);
                }
                removed += q.execute(&mut *tx).await?.rows_affected();
            }
            removed
        };
        sqlx::query("UPDATE contact_groups SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(group_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(MembersChanged { changed, unchanged: found.len() as u64 - changed, unknown })
    }

    /// The ids of the account's contacts with these numbers (E.164).
    pub async fn contact_ids_by_phones(
        &self,
        account_id: &str,
        phones: &[String],
    ) -> sqlx::Result<HashMap<String, String>> {
        let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
        let query = InAccount { columns: "phone, id", table: "contacts", column: "phone", suffix: "" };
        let mut conn = self.reader.acquire().await?;
        let rows = self.select_in_account(&mut conn, query, account_id, &phones).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// The ids of the named groups, creating those that do not exist yet.
    pub(super) async fn ensure_groups_in(
        &self,
        tx: &mut AnyConnection,
        account_id: &str,
        names: &[String],
        now: i64,
    ) -> sqlx::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            sqlx::query(
                "INSERT INTO contact_groups (id, account_id, name, name_key, description, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, NULL, $5, $6) ON CONFLICT (account_id, name_key) DO NOTHING",
            )
            .bind(new_id())
            .bind(account_id)
            .bind(name.trim())
            .bind(group_name_key(name))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let id: String =
                sqlx::query("SELECT id FROM contact_groups WHERE account_id = $1 AND name_key = $2")
                    .bind(account_id)
                    .bind(group_name_key(name))
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            ids.push(id);
        }
        Ok(ids)
    }
}
