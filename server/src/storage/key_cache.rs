//! A per-node cache of API key lookups: a request authenticated by a key
//! seen within [`FRESH_FOR`] costs no database read.
//!
//! Every change this node makes to what a lookup returns (revoking a key,
//! a user's role or disabled state, the account's transliteration default)
//! empties the cache once it is committed, so the change takes effect at
//! once here; other nodes see it within [`FRESH_FOR`]. A key's recorded
//! last use is not what a lookup is kept for: a cached copy may hold an
//! older one, and [`KeyCache::note_use`] decides when a use is written.
//! A generation number keeps a lookup that read the database before such a
//! change from putting its stale answer back afterwards.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::accounts::AuthKey;

/// How long a looked-up key is trusted without reading the database again.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// Keys kept at most; beyond that the cache starts over.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub(super) struct KeyCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    keys: HashMap<String, (AuthKey, Instant)>,
    /// Key id -> when this node last recorded its use.
    used: HashMap<String, i64>,
}

impl KeyCache {
    /// The key with this hash, if looked up within [`FRESH_FOR`].
    pub(super) fn get(&self, key_hash: &str) -> Option<AuthKey> {
        let inner = self.inner.lock().ok()?;
        let (key, at) = inner.keys.get(key_hash)?;
        (at.elapsed() < FRESH_FOR).then(|| key.clone())
    }

    /// The generation to give [`KeyCache::put`] for a lookup starting now.
    pub(super) fn generation(&self) -> u64 {
        self.inner.lock().map(|i| i.generation).unwrap_or(u64::MAX)
    }

    /// Keeps what a lookup that started at `generation` read, unless
    /// something changed since.
    pub(super) fn put(&self, key_hash: &str, key: AuthKey, generation: u64) {
        if let Ok(mut inner) = self.inner.lock()
            && inner.generation == generation
        {
            if inner.keys.len() >= MAX_KEYS {
                inner.keys.clear();
            }
            inner.keys.insert(key_hash.to_owned(), (key, Instant::now()));
        }
    }

    /// Whether to record a use of `key_id` at `now` (microseconds): not
    /// when this node recorded one less than `resolution` before. Notes
    /// the use when it answers yes.
    pub(super) fn note_use(&self, key_id: &str, now: i64, resolution: i64) -> bool {
        let Ok(mut inner) = self.inner.lock() else { return true };
        if inner.used.get(key_id).is_some_and(|at| now - at <= resolution) {
            return false;
        }
        if inner.used.len() >= MAX_KEYS {
            inner.used.clear();
        }
        inner.used.insert(key_id.to_owned(), now);
        true
    }

    /// Forgets every key: call after committing a change to keys, users or
    /// accounts.
    pub(super) fn forget(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation += 1;
            inner.keys.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn key(id: &str) -> AuthKey {
        AuthKey {
            key_id: id.into(),
            account_id: "a".into(),
            account_name: "acme".into(),
            user_id: None,
            last_used_at: None,
            transliterate: false,
            role: Role::Owner,
            username: String::new(),
            scopes: Vec::new(),
            allowed_ips: Vec::new(),
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_lookup_older_than_a_change_is_not_kept() {
        let cache = KeyCache::default();
        let before = cache.generation();
        cache.forget();
        cache.put("h", key("k1"), before);
        assert!(cache.get("h").is_none(), "a read from before the change must not be served");
        cache.put("h", key("k1"), cache.generation());
        assert_eq!(cache.get("h").map(|k| k.key_id), Some("k1".to_owned()));
        cache.forget();
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn a_use_is_recorded_once_per_resolution() {
        let cache = KeyCache::default();
        assert!(cache.note_use("k1", 1_000, 100));
        assert!(!cache.note_use("k1", 1_050, 100), "the same use again within the resolution");
        assert!(cache.note_use("k2", 1_050, 100), "another key is its own");
        assert!(!cache.note_use("k1", 1_100, 100));
        assert!(cache.note_use("k1", 1_101, 100), "after the resolution it is recorded again");
    }
}
