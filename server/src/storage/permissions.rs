//! Permissions on recipients: per user or user group, the contact groups
//! and #tags they may send to, and whether any number. A user with no
//! rule (own or through a group) is not restricted; with rules, the union
//! of them applies. Owners and admins are never restricted (the caller
//! decides that, `http/api/v1/permissions.rs`).

use std::collections::HashSet;

use sqlx::Row as _;

use super::{Store, now_micros};

/// Whom a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User,
    Group,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

/// One rule as stored.
#[derive(Debug, Clone, Default)]
pub struct PermissionRule {
    pub any_number: bool,
    /// Contact group ids.
    pub groups: Vec<String>,
    /// Tags, without `#`.
    pub tags: Vec<String>,
}

/// A stored rule with its subject.
#[derive(Debug, Clone)]
pub struct PermissionRecord {
    pub subject: Subject,
    pub subject_id: String,
    pub rule: PermissionRule,
}

impl Store {
    /// Sets the rule of a user or user group (of the account; the caller checked).
    pub async fn put_permission(
        &self,
        account_id: &str,
        subject: Subject,
        subject_id: &str,
        rule: &PermissionRule,
    ) -> sqlx::Result<()> {
        let mut tx = self.writer.begin().await?;
        // Its targets go with it (ON DELETE CASCADE).
        sqlx::query(
            "DELETE FROM send_permissions WHERE account_id = $1 AND subject_kind = $2 AND subject_id = $3",
        )
        .bind(account_id)
        .bind(subject.as_str())
        .bind(subject_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO send_permissions (account_id, subject_kind, subject_id, any_number, updated_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account_id)
        .bind(subject.as_str())
        .bind(subject_id)
        .bind(i64::from(rule.any_number))
        .bind(now_micros())
        .execute(&mut *tx)
        .await?;
        let targets = rule.groups.iter().map(|g| ("group", g)).chain(rule.tags.iter().map(|t| ("tag", t)));
        for (kind, target) in targets {
            sqlx::query(
                "INSERT INTO send_permission_targets (subject_kind, subject_id, target_kind, target)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(subject.as_str())
            .bind(subject_id)
            .bind(kind)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Removes a rule; whether there was one.
    pub async fn delete_permission(
        &self,
        account_id: &str,
        subject: Subject,
        subject_id: &str,
    ) -> sqlx::Result<bool> {
        // Only the account's own rule, and its targets with it (ON DELETE CASCADE).
        let n = sqlx::query(
            "DELETE FROM send_permissions WHERE account_id = $1 AND subject_kind = $2 AND subject_id = $3",
        )
        .bind(account_id)
        .bind(subject.as_str())
        .bind(subject_id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Every rule of the account.
    pub async fn list_permissions(&self, account_id: &str) -> sqlx::Result<Vec<PermissionRecord>> {
        let rows = sqlx::query(
            "SELECT p.subject_kind, p.subject_id, p.any_number, t.target_kind, t.target
             FROM send_permissions p LEFT JOIN send_permission_targets t
               ON t.subject_kind = p.subject_kind AND t.subject_id = p.subject_id
             WHERE p.account_id = $1 ORDER BY p.subject_kind, p.subject_id, t.target_kind, t.target",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        let mut out: Vec<PermissionRecord> = Vec::new();
        for r in &rows {
            let subject = if r.try_get::<String, _>(0)? == "group" { Subject::Group } else { Subject::User };
            let subject_id: String = r.try_get(1)?;
            let fresh = out.last().is_none_or(|l| l.subject != subject || l.subject_id != subject_id);
            if fresh {
                let rule = PermissionRule { any_number: r.try_get::<i64, _>(2)? != 0, ..Default::default() };
                out.push(PermissionRecord { subject, subject_id, rule });
            }
            let last = out.last_mut().expect("pushed above");
            match r.try_get::<Option<String>, _>(3)?.as_deref() {
                Some("group") => last.rule.groups.push(r.try_get(4)?),
                Some("tag") => last.rule.tags.push(r.try_get(4)?),
                _ => {}
            }
        }
        Ok(out)
    }

    /// The rule that applies to `user_id`: the union of their own and
    /// their groups' rules; `None` when there is none (not restricted).
    pub async fn effective_permission(&self, user_id: &str) -> sqlx::Result<Option<PermissionRule>> {
        let rows = sqlx::query(
            "SELECT p.any_number, t.target_kind, t.target
             FROM send_permissions p LEFT JOIN send_permission_targets t
               ON t.subject_kind = p.subject_kind AND t.subject_id = p.subject_id
             WHERE (p.subject_kind = 'user' AND p.subject_id = $1)
                OR (p.subject_kind = 'group' AND p.subject_id IN
                    (SELECT group_id FROM user_group_members WHERE user_id = $2))",
        )
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut rule = PermissionRule::default();
        for r in &rows {
            rule.any_number |= r.try_get::<i64, _>(0)? != 0;
            let target: Option<String> = r.try_get(2)?;
            match (r.try_get::<Option<String>, _>(1)?.as_deref(), target) {
                (Some("group"), Some(g)) if !rule.groups.contains(&g) => rule.groups.push(g),
                (Some("tag"), Some(t)) if !rule.tags.contains(&t) => rule.tags.push(t),
                _ => {}
            }
        }
        Ok(Some(rule))
    }

    /// Which of `numbers` belong to a contact of the account that is in
    /// one of `groups` or has one of `tags`.
    pub async fn numbers_reachable(
        &self,
        account_id: &str,
        numbers: &[&str],
        groups: &[String],
        tags: &[String],
    ) -> sqlx::Result<HashSet<String>> {
        if groups.is_empty() && tags.is_empty() {
            return Ok(HashSet::new());
        }
        let d = self.dialect;
        // Group ids and tags are few (an admin's list); they are bound
        // after each chunk of numbers.
        let mut conn = self.reader.acquire().await?;
        let mut found = HashSet::new();
        for chunk in numbers.chunks(200) {
            let n = chunk.len();
            let g0 = 2 + n;
            let t0 = g0 + groups.len();
            let in_groups = if groups.is_empty() {
                "FALSE".to_owned()
            } else {
                format!(
                    "EXISTS (SELECT 1 FROM group_members gm WHERE gm.contact_id = c.id AND gm.group_id IN ({}))",
                    d.placeholders(g0, groups.len())
                )
            };
            let in_tags = if tags.is_empty() {
                "FALSE".to_owned()
            } else {
                format!(
                    "EXISTS (SELECT 1 FROM contact_tags ct WHERE ct.contact_id = c.id AND ct.tag IN ({}))",
                    d.placeholders(t0, tags.len())
                )
            };
            let suffix = format!(" AND ({in_groups} OR {in_tags})");
            let sql = format!(
                "SELECT c.phone FROM contacts c WHERE c.account_id = {} AND c.phone IN ({}){suffix}",
                d.param(1),
                d.placeholders(2, n)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
            for v in chunk {
                q = q.bind(*v);
            }
            for v in groups.iter().chain(tags) {
                q = q.bind(v.as_str());
            }
            for r in q.fetch_all(&mut *conn).await? {
                found.insert(r.try_get::<String, _>(0)?);
            }
        }
        Ok(found)
    }
}
