//! API key authentication: `Authorization: Bearer <key>`. Keys are looked
//! up by their SHA-256 hash; a key's last-use time is kept to the minute.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::credentials;
use crate::storage::now_micros;

/// The account (and key) a request acts for.
#[derive(Debug, Clone)]
pub struct Auth {
    pub account_id: String,
    pub key_id: String,
    /// The user the key belongs to, if any.
    pub user_id: Option<String>,
    /// The account's default for transliterating texts.
    pub transliterate: bool,
}

/// How stale a key's recorded last use may get before it is written again.
const LAST_USED_RESOLUTION_MICROS: i64 = 60_000_000;

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization header; send 'Authorization: Bearer <api key>'")
        })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <api key>'"))?;
        let found = state
            .store
            .find_api_key(&credentials::hash_api_key(key))
            .await?
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
        let now = now_micros();
        if found.last_used_at.is_none_or(|t| now - t > LAST_USED_RESOLUTION_MICROS)
            && let Err(e) = state.store.touch_api_key(&found.key_id, now).await
        {
            tracing::warn!(error = %e, "recording an API key's last use failed");
        }
        Ok(Auth {
            account_id: found.account_id,
            key_id: found.key_id,
            user_id: found.user_id,
            transliterate: found.transliterate,
        })
    }
}
