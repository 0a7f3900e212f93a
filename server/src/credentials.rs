//! Credentials: generating, hashing and checking API keys and passwords.
//! No storage and no HTTP here; callers decide where hashes live.
//!
//! API keys are 192 random bits, so a fast hash (SHA-256) is enough to store
//! them safely and look them up by hash. Passwords are chosen by people and
//! get argon2id.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest as _, Sha256};

/// Prefix that makes Kurier keys recognisable (e.g. to secret scanners).
pub const API_KEY_PREFIX: &str = "kur_";

/// `n` random bytes from the operating system, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    hex::encode(buf)
}

/// A new API key, shown to its owner once.
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_hex(24))
}

/// A new password for a generated account: readable, 20 characters.
pub fn new_password() -> String {
    random_hex(10)
}

/// What is stored for an API key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The part of a key that may be shown again later to tell keys apart.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 6).collect()
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), stored_hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_unique_and_hash_stably() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() == API_KEY_PREFIX.len() + 48);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert_eq!(key_prefix(&a).len(), 10);
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
