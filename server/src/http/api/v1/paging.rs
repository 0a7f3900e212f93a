//! Cursor pagination, read the same way by every list: `limit` (default
//! 50, at most 500) and `cursor` (the last id of the previous page).

use crate::domain::canonical_id;
use crate::http::ApiError;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// The page size asked for, or a 400 naming `limit`.
pub fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    let limit = asked.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::query("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    Ok(limit)
}

/// The cursor given, as the id it stands for, or a 400 naming `cursor`.
pub fn cursor(given: Option<String>) -> Result<Option<String>, ApiError> {
    given
        .map(|c| canonical_id(&c).ok_or_else(|| ApiError::query("cursor", "is not a cursor from this API")))
        .transpose()
}
