//! Accounts, users and API keys: the first-start bootstrap and key lookup.

use sqlx::Row as _;

use super::{Store, now_micros};
use crate::credentials;
use crate::domain::{Role, Scope, new_id};

/// How stale a key's recorded last use may get before it is written again.
const LAST_USED_RESOLUTION_MICROS: i64 = 60_000_000;

/// What the first start created, to be printed once.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub account: String,
    pub username: String,
    /// `None` when the password came from `KURIER_ADMIN_PASSWORD`.
    pub generated_password: Option<String>,
    /// `None` when the key came from `KURIER_ADMIN_API_KEY`.
    pub generated_api_key: Option<String>,
}

/// An API key that authenticated a request.
#[derive(Debug, Clone)]
pub struct AuthKey {
    pub key_id: String,
    pub account_id: String,
    /// The account's name (the operator's account is known by it).
    pub account_name: String,
    pub user_id: Option<String>,
    pub last_used_at: Option<i64>,
    /// The account's default for transliterating texts to the GSM alphabet.
    pub transliterate: bool,
    /// The role of the key's user; a key of no user acts as the account's owner.
    pub role: Role,
    /// The key's user's name, empty for a key of no user.
    pub username: String,
    pub scopes: Vec<Scope>,
    /// Addresses or networks (`10.0.0.0/8`) the key may be used from;
    /// empty: anywhere.
    pub allowed_ips: Vec<String>,
    /// When the key stops working, if ever.
    pub expires_at: Option<i64>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// An API key as its owner sees it later (never the key itself).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub allowed_ips: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// A key to create for a user of the account.
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub user_id: &'a str,
    pub scopes: &'a [Scope],
    pub allowed_ips: &'a [String],
    /// When the key stops working; `None`: never.
    pub expires_at: Option<i64>,
}

fn split_list(stored: &str) -> Vec<String> {
    stored.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// An account as its API shows it.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: String,
    pub name: String,
    pub webhook_secret: String,
    pub transliterate: bool,
}

impl Store {
    /// On an empty database, creates account `default`, user `admin` and one
    /// API key. Returns `None` when accounts already exist.
    pub async fn bootstrap(
        &self,
        admin_password: Option<&str>,
        admin_api_key: Option<&str>,
    ) -> anyhow::Result<Option<Bootstrap>> {
        let mut tx = self.writer.begin().await?;
        let existing: i64 =
            sqlx::query("SELECT COUNT(*) FROM accounts").fetch_one(&mut *tx).await?.try_get(0)?;
        if existing > 0 {
            return Ok(None);
        }
        let now = now_micros();
        let account_id = new_id();
        let user_id = new_id();
        let password = admin_password.map(str::to_owned).unwrap_or_else(credentials::new_password);
        let api_key = admin_api_key.map(str::to_owned).unwrap_or_else(credentials::new_api_key);
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, name, webhook_secret, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&account_id)
        .bind("default")
        .bind(credentials::random_hex(32))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None); // another node bootstrapped at the same moment
        }
        sqlx::query(
            "INSERT INTO users (id, account_id, username, password_hash, role, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user_id)
        .bind(&account_id)
        .bind("admin")
        .bind(credentials::hash_password(&password)?)
        .bind("owner")
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.insert_api_key(&mut tx, &account_id, Some(&user_id), "admin", &api_key, now).await?;
        tx.commit().await?;
        Ok(Some(Bootstrap {
            account: "default".into(),
            username: "admin".into(),
            generated_password: admin_password.is_none().then_some(password),
            generated_api_key: admin_api_key.is_none().then_some(api_key),
        }))
    }

    async fn insert_api_key(
        &self,
        tx: &mut sqlx::AnyConnection,
        account_id: &str,
        user_id: Option<&str>,
        name: &str,
        key: &str,
        now: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, user_id, name, key_hash, key_prefix, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(account_id)
        .bind(user_id)
        .bind(name)
        .bind(credentials::hash_api_key(key))
        .bind(credentials::key_prefix(key))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Creates an account with one API key (used by tests and, later, the
    /// accounts API). Returns the account id and the key.
    pub async fn create_account(&self, name: &str) -> anyhow::Result<(String, String)> {
        let mut tx = self.writer.begin().await?;
        let now = now_micros();
        let account_id = new_id();
        let key = credentials::new_api_key();
        sqlx::query("INSERT INTO accounts (id, name, webhook_secret, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&account_id)
            .bind(name)
            .bind(credentials::random_hex(32))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.insert_api_key(&mut tx, &account_id, None, name, &key, now).await?;
        tx.commit().await?;
        Ok((account_id, key))
    }

    /// Finds an API key by the key's hash whose user (if any) is not
    /// disabled; revoked and expired keys too, for the caller to refuse
    /// with a reason (`http/auth.rs`).
    /// A key seen lately comes from this node's cache (`key_cache.rs`).
    pub async fn find_api_key(&self, key_hash: &str) -> sqlx::Result<Option<AuthKey>> {
        if let Some(key) = self.keys.get(key_hash) {
            return Ok(Some(key));
        }
        let generation = self.keys.generation();
        let found = self.read_api_key(key_hash).await?;
        if let Some(key) = &found {
            self.keys.put(key_hash, key.clone(), generation);
        }
        Ok(found)
    }

    async fn read_api_key(&self, key_hash: &str) -> sqlx::Result<Option<AuthKey>> {
        let row = sqlx::query(
            "SELECT k.id, k.account_id, k.user_id, k.last_used_at, a.transliterate, u.role, u.username,
                    k.scopes, k.allowed_ips, k.expires_at, k.revoked_at, a.name
             FROM api_keys k JOIN accounts a ON a.id = k.account_id LEFT JOIN users u ON u.id = k.user_id
             WHERE k.key_hash = $1 AND u.disabled_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(AuthKey {
                key_id: r.try_get(0)?,
                account_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                last_used_at: r.try_get(3)?,
                transliterate: r.try_get::<i64, _>(4)? != 0,
                role: r
                    .try_get::<Option<String>, _>(5)?
                    .map_or(Role::Owner, |role| Role::parse(&role).unwrap_or(Role::Viewer)),
                username: r.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
                scopes: Scope::split(&r.try_get::<String, _>(7)?),
                allowed_ips: split_list(&r.try_get::<String, _>(8)?),
                expires_at: r.try_get(9)?,
                revoked_at: r.try_get(10)?,
                account_name: r.try_get(11)?,
            })
        })
        .transpose()
    }

    /// Creates a key for a user; returns its record and the key, which is
    /// shown this once (only its hash is kept).
    pub async fn create_api_key(
        &self,
        account_id: &str,
        new: NewApiKey<'_>,
    ) -> sqlx::Result<(ApiKeyRecord, String)> {
        let key = credentials::new_api_key();
        let id = new_id();
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, user_id, name, key_hash, key_prefix, created_at, scopes, allowed_ips,
                                   expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(new.user_id)
        .bind(new.name)
        .bind(credentials::hash_api_key(&key))
        .bind(credentials::key_prefix(&key))
        .bind(now_micros())
        .bind(Scope::join(new.scopes))
        .bind(new.allowed_ips.join(","))
        .bind(new.expires_at)
        .execute(&self.writer)
        .await?;
        let record = self.api_keys(account_id, Some(&id)).await?.pop().ok_or(sqlx::Error::RowNotFound)?;
        Ok((record, key))
    }

    /// The account's keys, newest first (or only key `id`).
    pub async fn api_keys(&self, account_id: &str, id: Option<&str>) -> sqlx::Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT k.id, k.name, k.user_id, u.username, k.key_prefix, k.scopes, k.allowed_ips, k.created_at,
                    k.last_used_at, k.revoked_at, k.expires_at
             FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
             WHERE k.account_id = $1 AND ($2 IS NULL OR k.id = $2) ORDER BY k.id DESC",
        )
        .bind(account_id)
        .bind(id)
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyRecord {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    user_id: r.try_get(2)?,
                    username: r.try_get(3)?,
                    prefix: r.try_get(4)?,
                    scopes: Scope::split(&r.try_get::<String, _>(5)?),
                    allowed_ips: split_list(&r.try_get::<String, _>(6)?),
                    created_at: r.try_get(7)?,
                    last_used_at: r.try_get(8)?,
                    revoked_at: r.try_get(9)?,
                    expires_at: r.try_get(10)?,
                })
            })
            .collect()
    }

    /// Revokes a key of the account; whether it was live.
    pub async fn revoke_api_key(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now_micros())
        .bind(account_id)
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        self.keys.forget();
        Ok(n > 0)
    }

    /// Records a use of the key at `now` if its recorded last use is older
    /// than [`LAST_USED_RESOLUTION_MICROS`] (`last_used_at`, as the caller
    /// read it). Once per key and resolution on this node: requests that
    /// all read the same old time at once write it once, not each.
    pub async fn touch_api_key(&self, key_id: &str, last_used_at: Option<i64>, now: i64) -> sqlx::Result<()> {
        if last_used_at.is_some_and(|t| now - t <= LAST_USED_RESOLUTION_MICROS)
            || !self.keys.note_use(key_id, now, LAST_USED_RESOLUTION_MICROS)
        {
            return Ok(());
        }
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(key_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The account's name and the secret its callbacks are signed with.
    pub async fn account(&self, account_id: &str) -> sqlx::Result<Option<(String, String)>> {
        Ok(self.account_record(account_id).await?.map(|a| (a.name, a.webhook_secret)))
    }

    pub async fn account_record(&self, account_id: &str) -> sqlx::Result<Option<AccountRecord>> {
        let row = sqlx::query("SELECT id, name, webhook_secret, transliterate FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| {
            Ok(AccountRecord {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                webhook_secret: r.try_get(2)?,
                transliterate: r.try_get::<i64, _>(3)? != 0,
            })
        })
        .transpose()
    }

    /// Where every received message of the account is POSTed once matched.
    pub async fn inbound_url(&self, account_id: &str) -> sqlx::Result<Option<String>> {
        let row = sqlx::query("SELECT inbound_url FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten())
    }

    pub async fn set_inbound_url(&self, account_id: &str, url: Option<&str>) -> sqlx::Result<()> {
        sqlx::query("UPDATE accounts SET inbound_url = $1 WHERE id = $2")
            .bind(url)
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Changes the account's default for transliteration.
    pub async fn set_account_transliterate(&self, account_id: &str, on: bool) -> sqlx::Result<()> {
        sqlx::query("UPDATE accounts SET transliterate = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        self.keys.forget();
        Ok(())
    }
}
