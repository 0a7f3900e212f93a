//! Users of an account, user groups, failed-sign-in counters and web UI
//! sessions. Password hashing and the sign-in policy live in `identity`;
//! this file only keeps what they decide.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::contact_types::{ValueError, clean_text};
use super::contact_writes::is_unique_violation;
use super::{Store, now_micros};
use crate::domain::{Role, Username, new_id};

/// Longest display name or user group name.
pub const MAX_USER_NAME_LEN: usize = 100;

/// A user's display name as given (the users API, `kurier user create`):
/// at most 100 characters without control characters; empty when blank.
pub fn display_name(given: &str) -> Result<String, ValueError> {
    Ok(clean_text(given, MAX_USER_NAME_LEN, true)?.unwrap_or_default())
}

/// A user as the users API shows it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub account_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Set while a lockout after failed sign-ins lasts.
    pub locked_until: Option<i64>,
    pub disabled: bool,
    pub created_at: i64,
    /// Names of the user groups the user is in.
    pub groups: Vec<String>,
}

/// What signing in needs to know about a username.
#[derive(Debug, Clone)]
pub struct SignInUser {
    pub id: String,
    pub account_id: String,
    pub password_hash: String,
    pub locked_until: Option<i64>,
    pub disabled: bool,
}

/// A user to create.
pub struct NewUser<'a> {
    pub username: &'a Username,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

/// The change would leave the account without an active owner.
#[derive(Debug, thiserror::Error)]
#[error("the account's last owner stays an owner; make another owner first")]
pub struct LastOwner;

/// The username is someone's already (usernames are unique on the platform).
#[derive(Debug, thiserror::Error)]
#[error("the username is taken")]
pub struct UsernameTaken;

/// A user group of an account.
#[derive(Debug, Clone)]
pub struct UserGroupRecord {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// What [`Store::update_user`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserChange<'a> {
    pub role: Option<Role>,
    pub display_name: Option<&'a str>,
    pub disabled: Option<bool>,
    /// The user groups (ids) the user is to be in, and no others.
    pub groups: Option<&'a [String]>,
}

/// A live web UI session and the user it belongs to.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: String,
    pub account_id: String,
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub transliterate: bool,
    /// The user's own UI language (`pl`), if they chose one.
    pub language: Option<String>,
    /// The user's own time zone (`Europe/Warsaw`), if they chose one.
    pub time_zone: Option<String>,
    pub account_name: String,
}

/// A user's own settings for the web UI.
#[derive(Debug, Clone, Default)]
pub struct UserPreferences {
    pub language: Option<String>,
    pub time_zone: Option<String>,
}

const USER_COLUMNS: &str =
    "id, account_id, username, display_name, role, locked_until, disabled_at, created_at";

fn role_of(stored: &str) -> Role {
    // Only valid roles are written; an unknown one (edited by hand) gets the least.
    Role::parse(stored).unwrap_or(Role::Viewer)
}

fn user_of(r: &AnyRow) -> sqlx::Result<UserRecord> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        username: r.try_get(2)?,
        display_name: r.try_get(3)?,
        role: role_of(&r.try_get::<String, _>(4)?),
        locked_until: r.try_get(5)?,
        disabled: r.try_get::<Option<i64>, _>(6)?.is_some(),
        created_at: r.try_get(7)?,
        groups: Vec::new(),
    })
}

impl Store {
    /// The user signing in as `username`, whatever their account.
    pub async fn user_for_sign_in(&self, username: &str) -> sqlx::Result<Option<SignInUser>> {
        let row = sqlx::query(
            "SELECT id, account_id, password_hash, locked_until, disabled_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| {
            Ok(SignInUser {
                id: r.try_get(0)?,
                account_id: r.try_get(1)?,
                password_hash: r.try_get(2)?,
                locked_until: r.try_get(3)?,
                disabled: r.try_get::<Option<i64>, _>(4)?.is_some(),
            })
        })
        .transpose()
    }

    /// Counts a failed sign-in; the `max`-th in a row locks the user until
    /// `now + lock_micros`. Returns whether the user is now locked.
    pub async fn record_failed_sign_in(
        &self,
        user_id: &str,
        now: i64,
        max: i64,
        lock_micros: i64,
    ) -> sqlx::Result<bool> {
        let row = sqlx::query(
            // A lock that has run out starts the count again.
            "UPDATE users SET
                 failed_logins = CASE WHEN locked_until <= $4 THEN 1 ELSE failed_logins + 1 END,
                 locked_until = CASE
                     WHEN (CASE WHEN locked_until <= $4 THEN 1 ELSE failed_logins + 1 END) >= $1 THEN $2
                     WHEN locked_until <= $4 THEN NULL
                     ELSE locked_until END
             WHERE id = $3 RETURNING failed_logins",
        )
        .bind(max)
        .bind(now.saturating_add(lock_micros))
        .bind(user_id)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.is_some_and(|n| n >= max))
    }

    /// A good sign-in clears the failure counter, if the user is still
    /// neither locked nor disabled at `now`: false otherwise. Checked in
    /// the write, because password checks queue (one per CPU), so the user
    /// read before the check may be out of date by the time it ends (a
    /// burst of guesses must not outrun the lockout).
    pub async fn record_good_sign_in(&self, user_id: &str, now: i64) -> sqlx::Result<bool> {
        let row = sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL
             WHERE id = $1 AND disabled_at IS NULL AND (locked_until IS NULL OR locked_until <= $2)
             RETURNING id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    pub async fn create_user(
        &self,
        account_id: &str,
        user: NewUser<'_>,
    ) -> sqlx::Result<Result<UserRecord, UsernameTaken>> {
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO users (id, account_id, username, password_hash, role, created_at, display_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(user.username.as_str())
        .bind(user.password_hash)
        .bind(user.role.as_str())
        .bind(now_micros())
        .bind(user.display_name)
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(Err(UsernameTaken)),
            Err(e) => return Err(e),
        }
        let user = self.user(account_id, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
        Ok(Ok(user))
    }

    /// The account's user `id`, with their groups.
    pub async fn user(&self, account_id: &str, id: &str) -> sqlx::Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut user = user_of(&row)?;
        user.groups = self.groups_of_user(&user.id).await?;
        Ok(Some(user))
    }

    /// Every user of the account, by username.
    pub async fn list_users(&self, account_id: &str) -> sqlx::Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 ORDER BY username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(&self.reader).await?;
        let memberships = sqlx::query(
            "SELECT m.user_id, g.name FROM user_group_members m JOIN user_groups g ON g.id = m.group_id
             WHERE g.account_id = $1 ORDER BY g.name",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        let mut users = rows.iter().map(user_of).collect::<sqlx::Result<Vec<_>>>()?;
        for m in &memberships {
            let user_id: String = m.try_get(0)?;
            if let Some(u) = users.iter_mut().find(|u| u.id == user_id) {
                u.groups.push(m.try_get(1)?);
            }
        }
        Ok(users)
    }

    async fn groups_of_user(&self, user_id: &str) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT g.name FROM user_group_members m JOIN user_groups g ON g.id = m.group_id
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// Changes a user's role, name, disabled state or user groups (ids of
    /// the account's groups: the user is then in exactly those), all in one
    /// transaction. Disabling also ends their sessions and revokes their API
    /// keys.
    pub async fn update_user(
        &self,
        account_id: &str,
        id: &str,
        change: UserChange<'_>,
    ) -> sqlx::Result<Result<(), LastOwner>> {
        let UserChange { role, display_name, disabled, groups } = change;
        let mut tx = self.writer.begin().await?;
        let now = now_micros();
        // Whether this change may take away an active owner: then the
        // account's owners are locked first (on PostgreSQL; SQLite has one
        // writer), so two owners demoting each other at once (two requests,
        // two nodes) cannot both see another owner.
        let leaves = role.is_some_and(|r| r != Role::Owner) || disabled == Some(true);
        let was_owner = leaves && {
            super::lock_until_commit(&mut tx, &format!("owners:{account_id}")).await?;
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM users
                 WHERE account_id = $1 AND id = $2 AND role = 'owner' AND disabled_at IS NULL",
            )
            .bind(account_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
                > 0
        };
        if let Some(groups) = groups {
            sqlx::query("DELETE FROM user_group_members WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for group in groups {
                sqlx::query(
                    "INSERT INTO user_group_members (group_id, user_id)
                     SELECT id, $1 FROM user_groups WHERE id = $2 AND account_id = $3",
                )
                .bind(id)
                .bind(group.as_str())
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(role) = role {
            sqlx::query("UPDATE users SET role = $1 WHERE account_id = $2 AND id = $3")
                .bind(role.as_str())
                .bind(account_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(name) = display_name {
            sqlx::query("UPDATE users SET display_name = $1 WHERE account_id = $2 AND id = $3")
                .bind(name)
                .bind(account_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        match disabled {
            Some(true) => {
                sqlx::query(
                    "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE account_id = $2 AND id = $3",
                )
                .bind(now)
                .bind(account_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM ui_sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND account_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            }
            Some(false) => {
                sqlx::query("UPDATE users SET disabled_at = NULL WHERE account_id = $1 AND id = $2")
                    .bind(account_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        if was_owner {
            let owners: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE account_id = $1 AND role = 'owner' AND disabled_at IS NULL",
            )
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
            if owners == 0 {
                tx.rollback().await?;
                return Ok(Err(LastOwner));
            }
        }
        tx.commit().await?;
        self.keys.forget();
        Ok(Ok(()))
    }

    /// Sets a new password (reset by an admin): clears a lockout and ends
    /// the user's sessions.
    pub async fn set_password(&self, account_id: &str, id: &str, password_hash: &str) -> sqlx::Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL
             WHERE account_id = $2 AND id = $3",
        )
        .bind(password_hash)
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM ui_sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await
    }

    /// Ends a lockout after failed sign-ins (the operator's `kurier user
    /// unlock`); the password stays.
    pub async fn unlock_user(&self, id: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// A user's own language and time zone.
    pub async fn user_preferences(&self, user_id: &str) -> sqlx::Result<UserPreferences> {
        let row = sqlx::query("SELECT language, time_zone FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.writer)
            .await?;
        row.map_or(Ok(UserPreferences::default()), |r| {
            Ok(UserPreferences { language: r.try_get(0)?, time_zone: r.try_get(1)? })
        })
    }

    /// Changes a user's own language and time zone in one statement: a
    /// field given (`Some`) is set (`Some(None)`: back to the default), one
    /// not given is left as it is, even if another change lands meanwhile.
    /// Returns the preferences as stored.
    pub async fn update_user_preferences(
        &self,
        user_id: &str,
        language: Option<Option<&str>>,
        time_zone: Option<Option<&str>>,
    ) -> sqlx::Result<UserPreferences> {
        let row = sqlx::query(
            "UPDATE users SET language = CASE WHEN $1 = 1 THEN $2 ELSE language END,
                 time_zone = CASE WHEN $3 = 1 THEN $4 ELSE time_zone END
             WHERE id = $5 RETURNING language, time_zone",
        )
        .bind(i64::from(language.is_some()))
        .bind(language.flatten())
        .bind(i64::from(time_zone.is_some()))
        .bind(time_zone.flatten())
        .bind(user_id)
        .fetch_optional(&self.writer)
        .await?;
        row.map_or(Ok(UserPreferences::default()), |r| {
            Ok(UserPreferences { language: r.try_get(0)?, time_zone: r.try_get(1)? })
        })
    }

    /// A user's password hash, for confirming their current password.
    pub async fn user_sign_in_by_id(&self, user_id: &str) -> sqlx::Result<Option<SignInUser>> {
        let username: Option<String> = sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.writer)
            .await?;
        match username {
            Some(name) => self.user_for_sign_in(&name).await,
            None => Ok(None),
        }
    }

    // ---- user groups ----------------------------------------------------

    pub async fn list_user_groups(&self, account_id: &str) -> sqlx::Result<Vec<UserGroupRecord>> {
        let groups = sqlx::query("SELECT id, name FROM user_groups WHERE account_id = $1 ORDER BY name")
            .bind(account_id)
            .fetch_all(&self.reader)
            .await?;
        let members = sqlx::query(
            "SELECT m.group_id, u.username FROM user_group_members m
             JOIN user_groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id
             WHERE g.account_id = $1 ORDER BY u.username",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        let mut out = Vec::with_capacity(groups.len());
        for g in &groups {
            let id: String = g.try_get(0)?;
            let mut names = Vec::new();
            for m in &members {
                if m.try_get::<String, _>(0)? == id {
                    names.push(m.try_get(1)?);
                }
            }
            out.push(UserGroupRecord { id, name: g.try_get(1)?, members: names });
        }
        Ok(out)
    }

    /// Creates a group (`Ok(None)`: the name is taken) or, with `id`,
    /// renames it and replaces its members. Members are user ids of the
    /// account; the caller has checked them.
    pub async fn save_user_group(
        &self,
        account_id: &str,
        id: Option<&str>,
        name: &str,
        members: &[String],
    ) -> sqlx::Result<Option<String>> {
        let mut tx = self.writer.begin().await?;
        let id = match id {
            Some(id) => {
                let r = sqlx::query("UPDATE user_groups SET name = $1 WHERE account_id = $2 AND id = $3")
                    .bind(name)
                    .bind(account_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await;
                match r {
                    Err(e) if is_unique_violation(&e) => return Ok(None),
                    r => r?,
                };
                sqlx::query("DELETE FROM user_group_members WHERE group_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id.to_owned()
            }
            None => {
                let id = new_id();
                let r = sqlx::query(
                    "INSERT INTO user_groups (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&id)
                .bind(account_id)
                .bind(name)
                .bind(now_micros())
                .execute(&mut *tx)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => return Ok(None),
                    r => r?,
                };
                id
            }
        };
        for user_id in members {
            sqlx::query("INSERT INTO user_group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Deletes a group; whether it existed.
    pub async fn delete_user_group(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "DELETE FROM send_permissions WHERE account_id = $1 AND subject_kind = 'group' AND subject_id = $2",
        )
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM user_groups WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    // ---- web UI sessions -----------------------------------------------

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        csrf_token: &str,
        ip: &str,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        let now = now_micros();
        let mut tx = self.writer.begin().await?;
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO ui_sessions (token_hash, user_id, csrf_token, ip, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(ip)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// The live session with this token hash, if it has not expired and
    /// its user is not disabled.
    pub async fn find_session(&self, token_hash: &str, now: i64) -> sqlx::Result<Option<SessionUser>> {
        let row = sqlx::query(
            "SELECT u.id, u.account_id, u.username, u.role, s.csrf_token, a.transliterate, u.language, u.time_zone,
                    a.name
             FROM ui_sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(SessionUser {
                user_id: r.try_get(0)?,
                account_id: r.try_get(1)?,
                username: r.try_get(2)?,
                role: role_of(&r.try_get::<String, _>(3)?),
                csrf_token: r.try_get(4)?,
                transliterate: r.try_get::<i64, _>(5)? != 0,
                language: r.try_get(6)?,
                time_zone: r.try_get(7)?,
                account_name: r.try_get(8)?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
