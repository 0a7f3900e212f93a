//! Who a request acts for and whether they may: API key authentication
//! (`Authorization: Bearer <key>`, looked up by the key's SHA-256 hash, its
//! last-use time kept to the minute; a revoked or expired key is refused
//! with 401 and a code saying which, expiry read from the app's clock), and the one permission check every
//! API request passes: the [`Need`] of its method and path against the
//! user's [`Role`] and the key's scopes and IP allow-list. The web UI makes
//! the same check for its pages (`ui/session.rs`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};

use super::AppState;
use super::api::v1::permissions;
use super::error::ApiError;
use crate::credentials;
use crate::domain::{Need, Role, Scope, canonical_ip, in_networks};
use crate::storage::format_micros;

/// The account, user and key a request acts for.
#[derive(Debug, Clone)]
pub struct Auth {
    pub account_id: String,
    /// The API key; `None` for a web UI session.
    pub key_id: Option<String>,
    /// The user the key or session belongs to, if any.
    pub user_id: Option<String>,
    /// The user's name (empty for a key of no user).
    pub username: String,
    /// The user's role; a key of no user acts as the account's owner.
    pub role: Role,
    /// The account's default for transliterating texts.
    pub transliterate: bool,
    /// Whether the account is the platform operator's (the one
    /// `billing.operator_account` names).
    pub operator: bool,
    /// Whether it may manage the account: its role allows it and, for an
    /// API key, so do its scopes (who may see the account's secrets).
    pub manages: bool,
    /// An API key's own limits; `None` for a web UI session. A key never
    /// makes a key beyond them.
    pub key_limits: Option<KeyLimits>,
}

/// What an API key is limited to.
#[derive(Debug, Clone)]
pub struct KeyLimits {
    pub scopes: Vec<Scope>,
    /// Addresses and networks; empty: any.
    pub allowed_ips: Vec<String>,
}

impl Auth {
    /// Refuses unless the role allows `need` (for checks finer than the
    /// path's, e.g. who may make an owner).
    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        if self.role.allows(need) { Ok(()) } else { Err(forbidden(self.role, need)) }
    }

    /// Refuses the request unless it comes from the platform operator's
    /// account; `what` completes "only the platform operator's account …".
    pub(crate) fn require_operator(&self, what: &str) -> Result<(), ApiError> {
        if self.operator {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only the platform operator's account {what}"),
        ))
    }
}

pub(crate) fn forbidden(role: Role, need: Need) -> ApiError {
    let what = match need {
        Need::Read => "read this",
        Need::Send => "send",
        Need::Write => "change contacts, groups, templates or campaigns",
        Need::Manage => "manage the account, its users and keys",
    };
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("the role '{role}' may not {what}"))
}

/// Resources only owners and admins read or change.
const ADMIN_RESOURCES: &[&str] = &["users", "user-groups", "audit", "api-keys", "permissions"];

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `POST templates/preview` and `POST templates/{id}/preview` render
/// without storing anything. Only these: other resources' items may be
/// named "preview" (a tariff, a connector, a tag).
fn is_template_preview(method: &Method, rest: &str) -> bool {
    let mut parts = rest.split('/');
    *method == Method::POST
        && matches!(
            (parts.next(), parts.next(), parts.next(), parts.next()),
            (Some("templates"), Some("preview"), None, None)
                | (Some("templates"), Some(_), Some("preview"), None)
        )
}

/// The resource an API path names (`contacts` for `/api/v1/contacts/x`).
pub(crate) fn api_resource(path: &str) -> &str {
    let rest = path.strip_prefix("/api/v1/").unwrap_or(path);
    rest.split('/').next().unwrap_or("")
}

/// What an API request needs, by its method and path.
pub(crate) fn api_need(method: &Method, path: &str) -> Need {
    let rest = path.strip_prefix("/api/v1/").unwrap_or(path);
    let resource = api_resource(path);
    if ADMIN_RESOURCES.contains(&resource) {
        return Need::Manage;
    }
    if is_safe(method) || is_template_preview(method, rest) {
        return Need::Read;
    }
    // Every user keeps their own language, time zone and password.
    if rest == "me" || rest == "me/password" {
        return Need::Read;
    }
    match resource {
        "messages" | "conversations" | "notifications" | "me" => Need::Send,
        "campaigns" if *method == Method::POST => Need::Send,
        "campaigns"
        | "contacts"
        | "contact-fields"
        | "groups"
        | "imports"
        | "templates"
        | "opt-outs"
        | "notification-links"
        | "notification-preferences" => Need::Write,
        _ => Need::Manage,
    }
}

/// Whether `ip` is in the allow-list (addresses or CIDR networks); an
/// empty list allows every address.
pub(crate) fn ip_allowed(ip: Option<IpAddr>, list: &[String]) -> bool {
    list.is_empty() || ip.is_some_and(|ip| in_networks(ip, list))
}

/// The address a request came from: the TCP peer, or, when the peer is
/// one of `server.trusted_proxies`, the nearest `X-Forwarded-For` address
/// that is not a trusted proxy.
pub(crate) fn client_ip(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    forwarded_client(peer, &parts.headers, &state.config.server.trusted_proxies)
}

/// The request's [`client_ip`], for handlers that record where a change
/// came from.
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts, state)))
    }
}

/// The client behind `peer` as [`client_ip`] says. Forwarded entries are
/// read from the right (the nearest hop first); an entry that is not an
/// address stops the walk at the last trusted hop.
pub(crate) fn forwarded_client(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[String],
) -> Option<IpAddr> {
    let mut client = canonical_ip(peer?);
    if trusted.is_empty() {
        return Some(client);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        if !ip_allowed(Some(client), trusted) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(ip) => client = canonical_ip(ip),
            Err(_) => break,
        }
    }
    Some(client)
}

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
        super::audit::set_actor(
            parts,
            &found.account_id,
            found.user_id.as_deref(),
            &found.username,
            Some(&found.key_id),
            "api",
        );
        let now = state.clock.now_micros();
        if found.revoked_at.is_some() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "api_key_revoked",
                "this API key was revoked",
            ));
        }
        if let Some(at) = found.expires_at.filter(|at| *at <= now) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "api_key_expired",
                format!("this API key expired at {}", format_micros(at)),
            ));
        }
        if !ip_allowed(client_ip(parts, state), &found.allowed_ips) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "ip_not_allowed",
                "this API key may not be used from this address",
            ));
        }
        let need = api_need(&parts.method, parts.uri.path());
        if !found.role.allows(need) {
            return Err(forbidden(found.role, need));
        }
        let scope = Scope::for_need(need);
        if !found.scopes.contains(&scope) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "scope_missing",
                format!("this API key lacks the scope '{}'", scope.as_str()),
            ));
        }
        if need == Need::Write && permissions::changes_address_book(api_resource(parts.uri.path())) {
            permissions::refuse_address_book_change(state, found.user_id.as_deref(), found.role).await?;
        }
        if let Err(e) = state.store.touch_api_key(&found.key_id, found.last_used_at, now).await {
            tracing::warn!(error = %e, "recording an API key's last use failed");
        }
        Ok(Auth {
            operator: found.account_name == state.config.billing.operator_account,
            account_id: found.account_id,
            key_id: Some(found.key_id),
            user_id: found.user_id,
            username: found.username,
            manages: found.role.allows(Need::Manage) && found.scopes.contains(&Scope::Manage),
            role: found.role,
            transliterate: found.transliterate,
            key_limits: Some(KeyLimits { scopes: found.scopes, allowed_ips: found.allowed_ips }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_what_their_method_and_resource_say() {
        let cases = [
            (Method::GET, "/api/v1/messages", Need::Read),
            (Method::POST, "/api/v1/messages", Need::Send),
            (Method::POST, "/api/v1/conversations/+48600100200/messages", Need::Send),
            (Method::POST, "/api/v1/campaigns", Need::Send),
            (Method::DELETE, "/api/v1/campaigns/x", Need::Write),
            (Method::POST, "/api/v1/contacts", Need::Write),
            (Method::POST, "/api/v1/templates/preview", Need::Read),
            (Method::POST, "/api/v1/templates/t1/preview", Need::Read),
            (Method::DELETE, "/api/v1/templates/preview", Need::Write),
            (Method::PATCH, "/api/v1/tariffs/preview", Need::Manage),
            (Method::DELETE, "/api/v1/tariffs/preview", Need::Manage),
            (Method::PUT, "/api/v1/connectors/preview", Need::Manage),
            (Method::DELETE, "/api/v1/contacts/c1/tags/preview", Need::Write),
            (Method::PATCH, "/api/v1/account", Need::Manage),
            (Method::POST, "/api/v1/numbers", Need::Manage),
            (Method::GET, "/api/v1/users", Need::Manage),
            (Method::GET, "/api/v1/audit", Need::Manage),
            (Method::PATCH, "/api/v1/me", Need::Read),
            (Method::POST, "/api/v1/me/password", Need::Read),
            (Method::POST, "/api/v1/me/numbers", Need::Send),
        ];
        for (m, p, need) in cases {
            assert_eq!(api_need(&m, p), need, "{m} {p}");
        }
    }

    #[test]
    fn allow_lists_take_addresses_and_networks() {
        let list = vec!["10.1.0.0/16".to_owned(), "192.0.2.7".to_owned(), "2001:db8::/32".to_owned()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(ip_allowed(ip("10.1.200.3"), &list));
        assert!(ip_allowed(ip("192.0.2.7"), &list));
        assert!(ip_allowed(ip("::ffff:192.0.2.7"), &list));
        assert!(ip_allowed(ip("2001:db8::1"), &list));
        assert!(!ip_allowed(ip("10.2.0.1"), &list));
        assert!(!ip_allowed(ip("192.0.2.8"), &list));
        assert!(!ip_allowed(None, &list));
        assert!(ip_allowed(None, &[]));
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.2".parse().unwrap());
        let trusted = vec!["10.0.0.0/8".to_owned()];
        // The nearest untrusted hop, not the leftmost (which a client may forge).
        assert_eq!(forwarded_client(ip("10.0.0.1"), &headers, &trusted), ip("203.0.113.9"));
        assert_eq!(forwarded_client(ip("192.0.2.1"), &headers, &trusted), ip("192.0.2.1"), "untrusted peer");
        assert_eq!(forwarded_client(ip("10.0.0.1"), &headers, &[]), ip("10.0.0.1"), "none trusted");
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_client(ip("10.0.0.1"), &headers, &trusted), ip("10.0.0.1"));
        assert_eq!(forwarded_client(ip("::ffff:10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"));
    }
}
