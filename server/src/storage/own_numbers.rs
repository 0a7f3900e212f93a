//! Users' own phone numbers: added with a one-time code (stored hashed,
//! with an expiry and an attempt count), usable as sender once verified.
//! The code is made and sent by `http/api/v1/own_numbers.rs`.

use sqlx::Row as _;

use super::{Store, now_micros};
use crate::domain::new_id;

/// Wrong codes before a code is spent.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// What entering a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Verified,
    Wrong,
    /// Expired, or too many wrong attempts: ask for a new code.
    Spent,
    NotFound,
}

impl Store {
    /// Adds (or re-codes) the user's number with a new code's hash.
    pub async fn start_own_number(
        &self,
        account_id: &str,
        user_id: &str,
        phone: &str,
        code_hash: &str,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO user_numbers (id, account_id, user_id, phone, code_hash, code_expires_at, attempts, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)
             ON CONFLICT (user_id, phone) DO UPDATE SET code_hash = excluded.code_hash,
                 code_expires_at = excluded.code_expires_at, attempts = 0",
        )
        .bind(new_id())
        .bind(account_id)
        .bind(user_id)
        .bind(phone)
        .bind(code_hash)
        .bind(expires_at)
        .bind(now_micros())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The user's numbers with the time each was verified.
    pub async fn own_numbers(&self, user_id: &str) -> sqlx::Result<Vec<(String, Option<i64>)>> {
        let rows =
            sqlx::query("SELECT phone, verified_at FROM user_numbers WHERE user_id = $1 ORDER BY phone")
                .bind(user_id)
                .fetch_all(&self.writer)
                .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// Checks an entered code's hash against the stored one. The attempt
    /// is counted first, in one conditional write, so guesses sent at once
    /// (PostgreSQL runs them side by side) are counted one by one and only
    /// `MAX_CODE_ATTEMPTS` of them are ever compared.
    pub async fn check_own_number_code(
        &self,
        user_id: &str,
        phone: &str,
        code_hash: &str,
    ) -> sqlx::Result<CodeCheck> {
        let now = now_micros();
        let mut tx = self.writer.begin().await?;
        let counted = sqlx::query(
            "UPDATE user_numbers SET attempts = attempts + 1
             WHERE user_id = $1 AND phone = $2 AND verified_at IS NULL AND code_hash IS NOT NULL
                 AND code_expires_at >= $3 AND attempts < $4
             RETURNING code_hash",
        )
        .bind(user_id)
        .bind(phone)
        .bind(now)
        .bind(MAX_CODE_ATTEMPTS)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match counted {
            Some(row) if row.try_get::<String, _>(0)? == code_hash => {
                sqlx::query(
                    "UPDATE user_numbers SET verified_at = $1, code_hash = NULL, code_expires_at = NULL
                     WHERE user_id = $2 AND phone = $3",
                )
                .bind(now)
                .bind(user_id)
                .bind(phone)
                .execute(&mut *tx)
                .await?;
                CodeCheck::Verified
            }
            Some(_) => CodeCheck::Wrong,
            // Not counted: no such number, verified already, or the code is spent.
            None => {
                let verified =
                    sqlx::query("SELECT verified_at FROM user_numbers WHERE user_id = $1 AND phone = $2")
                        .bind(user_id)
                        .bind(phone)
                        .fetch_optional(&mut *tx)
                        .await?;
                match verified {
                    None => CodeCheck::NotFound,
                    Some(r) if r.try_get::<Option<i64>, _>(0)?.is_some() => CodeCheck::Verified,
                    Some(_) => CodeCheck::Spent,
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}
