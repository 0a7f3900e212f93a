//! Signing in with a username and password, and the sessions that follow.
//!
//! The policy lives here: passwords are checked with argon2id off the async
//! threads, one per CPU at a time (a flood of sign-in forms queues); an unknown username is checked against a dummy hash so it costs
//! the same as a wrong password, and every refusal (unknown user, wrong
//! password, locked or disabled user) is the same [`SignInError::Refused`],
//! so neither the answer nor its timing tells whether a user exists.
//! `auth.max_failed_sign_ins` wrong passwords in a row lock the user for
//! `auth.lockout_secs`; a session lives `auth.session_lifetime_secs`
//! ([`AuthConfig`]). Storage keeps counters and sessions
//! (`storage/users.rs`); HTTP sets the cookie (`http/ui/session.rs`).

pub mod cli;

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::AuthConfig;
use crate::credentials;
use crate::domain::{MAX_PASSWORD_LEN, Username};
use crate::storage::{AuditEntry, SignInUser, Store, now_micros};

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, locked or disabled: never said which.
    #[error("wrong username or password, or too many failed attempts; try again later")]
    Refused,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// A hash of a password nobody knows, checked for unknown usernames.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        credentials::hash_password(&credentials::random_hex(16)).expect("hashing a random password")
    })
}

/// Password hashes computed at once, at most: one per CPU. Each takes
/// argon2id's memory (about 19 MiB) and a core for tens of milliseconds,
/// and anyone can ask for one by posting the sign-in form, so a flood
/// queues here instead of taking the machine's memory and every core.
fn password_work() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)))
}

/// Hashes a password off the async threads (argon2id is meant to be slow).
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    let _permit = password_work().acquire().await?;
    tokio::task::spawn_blocking(move || credentials::hash_password(&password)).await?
}

async fn verify(password: &str, hash: String) -> bool {
    // Bound the work an absurd input can cause; length says nothing about a user.
    let password: String = password.chars().take(MAX_PASSWORD_LEN + 1).collect();
    let Ok(_permit) = password_work().acquire().await else { return false };
    tokio::task::spawn_blocking(move || credentials::verify_password(&password, &hash)).await.unwrap_or(false)
}

/// Checks a username and password from `ip`, under the lockout `policy`;
/// the user on success. Both outcomes for an existing user go to the
/// audit log.
pub async fn sign_in(
    store: &Store,
    policy: &AuthConfig,
    username: &str,
    password: &str,
    ip: &str,
) -> Result<SignInUser, SignInError> {
    let name = Username::parse(username).ok();
    let user = match &name {
        Some(name) => store.user_for_sign_in(name.as_str()).await?,
        None => None,
    };
    let outcome = check(store, policy, user, password).await;
    if let (Some(name), Ok(user) | Err((Some(user), _))) = (&name, &outcome) {
        let entry = AuditEntry {
            account_id: user.account_id.clone(),
            user_id: Some(user.id.clone()),
            username: name.as_str().to_owned(),
            via: "ui",
            action: if outcome.is_ok() { "sign-in" } else { "sign-in refused" }.into(),
            target: "/signin".into(),
            status: if outcome.is_ok() { 303 } else { 401 },
            ip: ip.to_owned(),
            ..AuditEntry::default()
        };
        if let Err(e) = store.record_audit(&entry).await {
            tracing::error!(error = %e, "recording a sign-in in the audit log failed");
        }
    }
    outcome.map_err(|(_, e)| e)
}

/// Confirms a signed-in user's current password (before they change it),
/// under the same lockout policy as signing in: a wrong one counts as a
/// failed sign-in, and a locked user is refused even with the right one.
pub async fn confirm_password(
    store: &Store,
    policy: &AuthConfig,
    user_id: &str,
    password: &str,
) -> Result<(), SignInError> {
    let user = store.user_sign_in_by_id(user_id).await?;
    check(store, policy, user, password).await.map(|_| ()).map_err(|(_, e)| e)
}

type Checked = Result<SignInUser, (Option<SignInUser>, SignInError)>;

async fn check(store: &Store, policy: &AuthConfig, user: Option<SignInUser>, password: &str) -> Checked {
    let refused = |user| Err((user, SignInError::Refused));
    let hash = user.as_ref().map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let good = verify(password, hash).await;
    let Some(user) = user else { return refused(None) };
    let now = now_micros();
    if user.disabled || user.locked_until.is_some_and(|t| t > now) {
        return refused(Some(user));
    }
    if !good {
        let lock = i64::try_from(Duration::from_secs(policy.lockout_secs).as_micros()).unwrap_or(i64::MAX);
        let max = i64::from(policy.max_failed_sign_ins);
        match store.record_failed_sign_in(&user.id, now, max, lock).await {
            Ok(true) => tracing::warn!(user = %user.id, "user locked after repeated failed sign-ins"),
            Ok(false) => {}
            Err(e) => return Err((None, e.into())),
        }
        return refused(Some(user));
    }
    match store.record_good_sign_in(&user.id, now_micros()).await {
        Ok(true) => Ok(user),
        Ok(false) => refused(Some(user)),
        Err(e) => Err((None, e.into())),
    }
}

/// A new web UI session for `user`: the cookie's token (only its hash is
/// stored) and the session's CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

/// A session for `user_id` that lives `lifetime`.
pub async fn start_session(
    store: &Store,
    user_id: &str,
    ip: &str,
    lifetime: Duration,
) -> sqlx::Result<NewSession> {
    let token = credentials::random_hex(32);
    let csrf_token = credentials::random_hex(32);
    let expires = now_micros().saturating_add(i64::try_from(lifetime.as_micros()).unwrap_or(i64::MAX));
    store.create_session(&credentials::hash_api_key(&token), user_id, &csrf_token, ip, expires).await?;
    Ok(NewSession { token, csrf_token })
}

/// The hash a session token is stored and looked up by.
pub fn session_hash(token: &str) -> String {
    credentials::hash_api_key(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_checks_wait_while_every_permit_is_taken() {
        let hash = credentials::hash_password("correct horse").unwrap();
        let all = password_work().available_permits() as u32;
        let held = password_work().acquire_many(all).await.unwrap();
        let check = tokio::spawn(async move { verify("correct horse", hash).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!check.is_finished(), "no check runs while the permits are held");
        drop(held);
        assert!(check.await.unwrap(), "it runs once one is free");
    }

    /// A user stored in a fresh SQLite database, with password "right".
    async fn store_with_user(dir: &tempfile::TempDir) -> (Store, String) {
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::open(&url, 2, "normal").await.unwrap();
        let (account, _key) = store.create_account("acme").await.unwrap();
        let hash = credentials::hash_password("right").unwrap();
        let name = Username::parse("anna").unwrap();
        let user = crate::storage::NewUser {
            username: &name,
            display_name: "Anna",
            role: crate::domain::Role::Sender,
            password_hash: &hash,
        };
        let id = store.create_user(&account, user).await.unwrap().unwrap().id;
        (store, id)
    }

    #[tokio::test]
    async fn a_right_password_checked_after_the_lock_fell_is_refused_though_read_before_it() {
        // Checks queue for a permit, so in a burst of guesses each one's copy
        // of the user was read before the failures ahead of it locked her.
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = store_with_user(&dir).await;
        let policy = AuthConfig { max_failed_sign_ins: 2, lockout_secs: 900, ..AuthConfig::default() };
        let stale = store.user_for_sign_in("anna").await.unwrap().unwrap();
        for _ in 0..2 {
            assert!(check(&store, &policy, Some(stale.clone()), "wrong").await.is_err());
        }
        let late = check(&store, &policy, Some(stale), "right").await;
        assert!(matches!(late, Err((Some(_), SignInError::Refused))), "{:?}", late.map(|u| u.id));
        let now = store.user_for_sign_in("anna").await.unwrap().unwrap();
        assert!(now.locked_until.is_some(), "and she stays locked");
        assert_eq!(now.id, id);
        store.close().await;
    }

    #[tokio::test]
    async fn after_a_lock_runs_out_the_count_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = store_with_user(&dir).await;
        let (max, lock) = (2, 1_000_000);
        assert!(!store.record_failed_sign_in(&id, 0, max, lock).await.unwrap());
        assert!(store.record_failed_sign_in(&id, 1, max, lock).await.unwrap(), "locked by the second");
        // The lock ended at 1 + lock; one more wrong password then is a first one.
        assert!(!store.record_failed_sign_in(&id, 2 + lock, max, lock).await.unwrap());
        let user = store.user_for_sign_in("anna").await.unwrap().unwrap();
        assert_eq!(user.locked_until, None);
        assert!(store.record_failed_sign_in(&id, 3 + lock, max, lock).await.unwrap(), "and a second locks");
        store.close().await;
    }
}
