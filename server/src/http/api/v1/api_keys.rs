//! `/api/v1/api-keys`: API keys of the account's users, with scopes
//! (`read`, `send`, `manage`) and an optional IP allow-list. A key is shown
//! once, when created; only its hash is kept. Revoking is immediate; a key
//! may be given an expiry, after which it is refused like a revoked one. Owners
//! and admins manage keys (`http/auth.rs`); a key acts with its user's role
//! and never beyond its scopes.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::messages::parse_time;
use crate::domain::{Scope, network_within};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{ApiKeyRecord, NewApiKey, clean_text, format_micros};

/// Most entries in a key's IP allow-list.
pub const MAX_ALLOWED_IPS: usize = 50;
/// Longest key name.
pub const MAX_KEY_NAME_LEN: usize = 100;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// When the key stops working; `null`: never.
    pub expires_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    #[schema(example = "active")]
    pub state: String,
}

impl ApiKeyView {
    /// The key as seen at `now` (microseconds; the app's clock).
    pub fn at(k: ApiKeyRecord, now: i64) -> Self {
        let state = if k.revoked_at.is_some() {
            "revoked"
        } else if k.expires_at.is_some_and(|t| t <= now) {
            "expired"
        } else {
            "active"
        };
        Self {
            id: k.id,
            name: k.name,
            user_id: k.user_id,
            username: k.username,
            prefix: k.prefix,
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            allowed_ips: k.allowed_ips,
            created_at: format_micros(k.created_at),
            last_used_at: k.last_used_at.map(format_micros),
            revoked_at: k.revoked_at.map(format_micros),
            expires_at: k.expires_at.map(format_micros),
            state: state.to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}

/// A new key, with the key itself shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewKeyView {
    #[serde(flatten)]
    pub info: ApiKeyView,
    /// Send it as `Authorization: Bearer <key>`; it is not shown again.
    pub key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    #[schema(example = "billing system")]
    pub name: Option<String>,
    /// The user the key acts as (and with whose role); default: the caller.
    pub user_id: Option<String>,
    /// Default: every scope.
    #[schema(example = json!(["send", "read"]))]
    pub scopes: Option<Vec<String>>,
    /// Addresses or CIDR networks the key may be used from; empty: anywhere.
    #[serde(default)]
    #[schema(example = json!(["203.0.113.5", "10.0.0.0/8"]))]
    pub allowed_ips: Vec<String>,
    /// RFC 3339; the key stops working then. Must be in the future; absent
    /// or `null`: never.
    #[schema(example = "2027-01-01T00:00:00Z")]
    pub expires_at: Option<String>,
}

fn parse_allowed_ips(list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_ALLOWED_IPS {
        return Err(ApiError::field("allowed_ips", format!("at most {MAX_ALLOWED_IPS} entries")));
    }
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let entry = entry.trim();
            let bad = || {
                ApiError::field(
                    format!("allowed_ips[{i}]"),
                    format!("'{entry}' is not an address or network"),
                )
            };
            let (addr, bits) = entry.split_once('/').map_or((entry, None), |(a, b)| (a, Some(b)));
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            if let Some(bits) = bits {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                bits.parse::<u32>().ok().filter(|b| *b <= max).ok_or_else(bad)?;
            }
            Ok(entry.to_owned())
        })
        .collect()
}

/// Every key of the account, newest first (revoked ones too).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "users",
    responses((status = 200, body = ApiKeyList), (status = 403, body = ErrorBody)))]
pub async fn list_keys(State(state): State<AppState>, auth: Auth) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.store.api_keys(&auth.account_id, None).await?;
    let now = state.clock.now_micros();
    Ok(Json(ApiKeyList { keys: keys.into_iter().map(|k| ApiKeyView::at(k, now)).collect() }))
}

/// Create a key for a user; the answer holds the key, shown this once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "users", request_body = ApiKeyInput,
    responses((status = 201, body = NewKeyView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<ApiKeyInput>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let name = clean_text(input.name.as_deref().unwrap_or(""), MAX_KEY_NAME_LEN, false)
        .map_err(|e| ApiError::field("name", format!("the name {e}")))?
        .ok_or_else(|| ApiError::field("name", "is required"))?;
    let user_id = match input.user_id.as_deref().or(auth.user_id.as_deref()) {
        Some(id) => super::users::user_id(id).map_err(|_| ApiError::field("user_id", "no such user"))?,
        None => return Err(ApiError::field("user_id", "is required for a key of no user")),
    };
    let user = state
        .store
        .user(&auth.account_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::field("user_id", "no such user"))?;
    if user.disabled {
        return Err(ApiError::field("user_id", "the user is disabled"));
    }
    super::users::require_owner_for_role(&auth, user.role, "make an owner's key")?;
    // A key makes keys only within its own limits; by default, with them.
    let limits = auth.key_limits.as_ref();
    let scopes = match &input.scopes {
        None => limits.map_or_else(|| Scope::ALL.to_vec(), |l| l.scopes.clone()),
        Some(list) if list.is_empty() => return Err(ApiError::field("scopes", "give at least one scope")),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let field = || format!("scopes[{i}]");
                let scope = Scope::parse(s).map_err(|e| ApiError::field(field(), e.to_string()))?;
                match limits {
                    Some(l) if !l.scopes.contains(&scope) => Err(ApiError::field(
                        field(),
                        format!("this key lacks the scope '{}', so it cannot give it", scope.as_str()),
                    )),
                    _ => Ok(scope),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let mut allowed_ips = parse_allowed_ips(&input.allowed_ips)?;
    if let Some(l) = limits.filter(|l| !l.allowed_ips.is_empty()) {
        if allowed_ips.is_empty() {
            allowed_ips.clone_from(&l.allowed_ips);
        } else if let Some(i) = allowed_ips.iter().position(|e| !network_within(e, &l.allowed_ips)) {
            return Err(ApiError::field(
                format!("allowed_ips[{i}]"),
                format!("'{}' reaches beyond this key's own allowed_ips", allowed_ips[i]),
            ));
        }
    }
    let now = state.clock.now_micros();
    let expires_at = match input.expires_at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let at = parse_time("expires_at", s, ApiError::field)?;
            if at <= now {
                return Err(ApiError::field("expires_at", "must be in the future"));
            }
            Some(at)
        }
    };
    let new =
        NewApiKey { name: &name, user_id: &user.id, scopes: &scopes, allowed_ips: &allowed_ips, expires_at };
    let (record, key) = state.store.create_api_key(&auth.account_id, new).await?;
    Ok((StatusCode::CREATED, Json(NewKeyView { info: ApiKeyView::at(record, now), key })).into_response())
}

/// Revoke a key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "users",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = uuid::Uuid::parse_str(&id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::not_found("API key"))?;
    let key = state.store.api_keys(&auth.account_id, Some(&id)).await?.pop();
    let key = key.ok_or_else(|| ApiError::not_found("API key"))?;
    super::users::require_owner_for(&state, &auth, key.user_id.as_deref()).await?;
    if state.store.revoke_api_key(&auth.account_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key"))
    }
}
