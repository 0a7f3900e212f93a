//! Who is looking at a page: the signed-in [`Viewer`] (account, user, role,
//! language, time zone, CSRF token), signing in with a username and
//! password and out, and the language picker.
//!
//! Signing in (`identity::sign_in`: argon2id, lockout, no user
//! enumeration) starts a server-side session: a random token in an
//! HttpOnly, SameSite=Strict cookie (Secure when the UI is reached over
//! HTTPS), stored only as its hash, with an expiry and its own CSRF token.
//! Signing out deletes it. Every page checks the session's role against
//! what the page needs, as the API checks its requests.

use askama::Template;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono_tz::Tz;
use serde::Deserialize;

use super::i18n::Locale;
use super::render;
use crate::domain::{Need, Role};
use crate::http::api::v1::permissions;
use crate::http::auth::{client_ip, forbidden};
use crate::http::{AppState, Auth};
use crate::identity::{self, SignInError};
use crate::storage::now_micros;

/// The cookie holding the session token.
const SESSION_COOKIE: &str = "kurier_session";
/// The cookie holding a language chosen in the picker.
const LANG_COOKIE: &str = "kurier_lang";
/// The form field (or `X-CSRF-Token` header, or query parameter) that
/// carries the CSRF token of an unsafe request.
pub const CSRF_FIELD: &str = "_csrf";

/// The person looking at a page, and how to write for them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub signed_in: bool,
    pub account_name: String,
    pub user_name: String,
    /// `None` when no one is signed in.
    pub role: Option<Role>,
    /// The account is the platform operator's (connectors' settings,
    /// routes, tariffs and packages).
    pub operator: bool,
    pub locale: Locale,
    pub tz: Tz,
    pub csrf: String,
}

impl Viewer {
    #[cfg(test)]
    pub fn test(locale: Locale) -> Self {
        Viewer { signed_in: true, csrf: "t".into(), ..Self::anonymous(locale) }
    }

    pub(crate) fn anonymous(locale: Locale) -> Self {
        Viewer {
            signed_in: false,
            account_name: String::new(),
            user_name: String::new(),
            role: None,
            operator: false,
            locale,
            tz: Tz::UTC,
            csrf: String::new(),
        }
    }

    /// Whether the viewer's role allows what `need` names.
    pub fn may(&self, need: Need) -> bool {
        self.role.is_some_and(|r| r.allows(need))
    }

    /// Owners and admins: the account's settings, sender IDs and users.
    pub fn manages(&self) -> bool {
        self.may(Need::Manage)
    }

    /// The role's name as shown beside the user's ("" when signed out).
    pub fn role_name(&self) -> &'static str {
        self.role.map_or("", Role::as_str)
    }

    /// The UI message `key` in the viewer's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.locale.t(key)
    }

    /// A status word (`delivered`) in the viewer's language.
    pub fn status(&self, status: &str) -> String {
        let key = format!("status.{status}");
        if super::i18n::has(&key) { self.locale.t(&key).to_owned() } else { status.to_owned() }
    }

    pub fn num(&self, n: &i64) -> String {
        self.locale.number(*n)
    }

    /// An RFC 3339 time from the API, in the viewer's zone and locale.
    pub fn when(&self, rfc3339: &str) -> String {
        match chrono::DateTime::parse_from_rfc3339(rfc3339) {
            Ok(t) => self.locale.datetime(t.with_timezone(&chrono::Utc), self.tz),
            Err(_) => rfc3339.to_owned(),
        }
    }

    pub fn when_opt(&self, rfc3339: &Option<String>) -> String {
        rfc3339.as_deref().map_or_else(|| self.t("common.none").to_owned(), |t| self.when(t))
    }

    pub fn lang(&self) -> &'static str {
        self.locale.tag()
    }

    pub fn locales(&self) -> [Locale; 4] {
        Locale::ALL
    }
}

/// The language of a request: the picker's cookie, else `Accept-Language`.
fn locale_of(headers: &HeaderMap) -> Locale {
    picked_locale(headers).unwrap_or_else(|| accept_language(headers))
}

/// The language the visitor chose with the picker, if they did.
pub(crate) fn picked_locale(headers: &HeaderMap) -> Option<Locale> {
    cookie(headers, LANG_COOKIE).and_then(Locale::parse)
}

/// The browser's preferred language among the UI's, or English.
pub(crate) fn accept_language(headers: &HeaderMap) -> Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Locale::En, Locale::from_accept_language)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// What a page request needs, by its method and path (the UI's
/// counterpart of the API's `api_need`).
/// The first part of a page's path (`contacts` for `/contacts/x`).
fn page_resource(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

fn page_need(method: &Method, path: &str) -> Need {
    let first = page_resource(path);
    if matches!(first, "users" | "user-groups" | "audit" | "api-keys" | "permissions") {
        return Need::Manage;
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || path == "/compose/counter" {
        return Need::Read;
    }
    match first {
        "profile" if path.starts_with("/profile/numbers") => Need::Send,
        "signout" | "language" | "me" | "profile" => Need::Read,
        "compose" | "conversations" => Need::Send,
        "campaigns" if path == "/campaigns" || path.contains("/action/") => Need::Send,
        "contacts" | "groups" | "opt-outs" | "campaigns" | "templates" => Need::Write,
        _ => Need::Manage,
    }
}

/// The stored form of the request's session token, to look the session up
/// again later: a long-lived answer (the dashboard's live stream) ends once
/// the session is gone (signed out, expired, the user disabled or their
/// password reset).
pub(crate) fn session_key(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE).map(identity::session_hash)
}

/// A signed-in request: who it is, and the API's [`Auth`] for calling the
/// API's handlers. Pages redirect to `/signin` without one.
pub struct Session(pub Viewer, pub Auth);

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_signin = || {
            if parts.headers.contains_key("hx-request") {
                // htmx follows the redirect in the whole window.
                ([("hx-redirect", "/signin")], "").into_response()
            } else {
                Redirect::to("/signin").into_response()
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_signin());
        };
        let found = match state.store.find_session(&identity::session_hash(token), now_micros()).await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(to_signin()),
            Err(e) => return Err(crate::http::ApiError::from(e).into_response()),
        };
        let operator = found.account_name == state.config.billing.operator_account;
        // The picker's choice, else the user's own (My profile), else the browser's.
        let locale = picked_locale(&parts.headers)
            .or_else(|| found.language.as_deref().and_then(Locale::parse))
            .unwrap_or_else(|| accept_language(&parts.headers));
        let tz = found.time_zone.as_deref().and_then(|z| z.parse::<Tz>().ok()).unwrap_or(Tz::UTC);
        let viewer = Viewer {
            signed_in: true,
            account_name: found.account_name.clone(),
            user_name: found.username.clone(),
            role: Some(found.role),
            operator,
            locale,
            tz,
            csrf: found.csrf_token,
        };
        crate::http::audit::set_actor(
            parts,
            &found.account_id,
            Some(&found.user_id),
            &found.username,
            None,
            "ui",
        );
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            check_csrf(parts, &viewer.csrf).map_err(|e| super::PageError::new(&viewer, e).into_response())?;
        }
        let need = page_need(&parts.method, parts.uri.path());
        if !found.role.allows(need) {
            return Err(super::PageError::new(&viewer, forbidden(found.role, need)).into_response());
        }
        if need == Need::Write && permissions::changes_address_book(page_resource(parts.uri.path())) {
            permissions::refuse_address_book_change(state, Some(&found.user_id), found.role)
                .await
                .map_err(|e| super::PageError::new(&viewer, e).into_response())?;
        }
        let auth = Auth {
            account_id: found.account_id,
            key_id: None,
            user_id: Some(found.user_id),
            username: found.username,
            manages: found.role.allows(Need::Manage),
            role: found.role,
            transliterate: found.transliterate,
            operator,
            key_limits: None,
        };
        Ok(Session(viewer, auth))
    }
}

/// An unsafe request must carry the session's token in `X-CSRF-Token`
/// (htmx) or in the query (`?_csrf=`, forms post to such URLs).
fn check_csrf(parts: &Parts, expected: &str) -> Result<(), crate::http::ApiError> {
    let from_header = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == CSRF_FIELD).map(|(_, v)| v)
    });
    let sent = from_header.or(from_query).unwrap_or("");
    if credentials_eq(sent, expected) {
        Ok(())
    } else {
        Err(crate::http::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "the form's security token is missing or stale; reload the page and try again",
        ))
    }
}

fn credentials_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The viewer of any request, signed in or not (for the sign-in page).
pub struct MaybeViewer(pub Viewer);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeViewer(Viewer::anonymous(locale_of(&parts.headers))))
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    v: Viewer,
    active: &'static str,
    failed: bool,
}

pub async fn form(MaybeViewer(v): MaybeViewer) -> Response {
    render(&SignInPage { v, active: "", failed: false })
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Whether the UI is reached over HTTPS: the public URL says so, or the
/// reverse proxy in front does (`X-Forwarded-Proto: https`).
fn over_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.server.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
        || headers.get("x-forwarded-proto").is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub async fn sign_in(
    State(state): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    SignInFrom { ip, https, cross_site }: SignInFrom,
    Form(input): Form<SignIn>,
) -> Response {
    if cross_site {
        return refused_cross_site();
    }
    let user = match identity::sign_in(
        &state.store,
        &state.config.auth,
        &input.username,
        &input.password,
        &ip,
    )
    .await
    {
        Ok(user) => user,
        Err(SignInError::Refused) => {
            let mut response = render(&SignInPage { v, active: "", failed: true });
            *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            return response;
        }
        Err(SignInError::Internal(e)) => return crate::http::ApiError::from(e).into_response(),
    };
    let lifetime = std::time::Duration::from_secs(state.config.auth.session_lifetime_secs);
    let session = match identity::start_session(&state.store, &user.id, &ip, lifetime).await {
        Ok(s) => s,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let secure = if https { "; Secure" } else { "" };
    let max_age = lifetime.as_secs();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        session.token
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Where a sign-in comes from: the client's address, whether over HTTPS,
/// and whether the browser says another site sent the form.
pub struct SignInFrom {
    pub ip: String,
    pub https: bool,
    pub cross_site: bool,
}

/// Whether the browser marks the request as sent from another site
/// (`Sec-Fetch-Site: cross-site`): the forms that need no session (sign-in,
/// language) refuse it, so no other site can sign a visitor into an account
/// of its choosing. Browsers without the header are not refused.
fn cross_site(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

fn refused_cross_site() -> Response {
    crate::http::ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "cross_site_form",
        "this form was sent from another site; open Kurier's own page and try again",
    )
    .into_response()
}

impl FromRequestParts<AppState> for SignInFrom {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(SignInFrom {
            ip: client_ip(parts, state).map(|i| i.to_string()).unwrap_or_default(),
            https: over_https(state, &parts.headers),
            cross_site: cross_site(&parts.headers),
        })
    }
}

/// Signing out deletes the session, so its cookie is worthless even if kept.
pub async fn sign_out(State(state): State<AppState>, Session(_, _): Session, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.store.delete_session(&identity::session_hash(token)).await
    {
        return crate::http::ApiError::from(e).into_response();
    }
    let mut response = Redirect::to("/signin").into_response();
    forget_session(&mut response);
    response
}

#[derive(Deserialize)]
pub struct LanguageChoice {
    lang: String,
    #[serde(default)]
    back: String,
}

/// The language picker: remembered in a cookie for a year.
pub async fn set_language(headers: HeaderMap, Form(choice): Form<LanguageChoice>) -> Response {
    if cross_site(&headers) {
        return refused_cross_site();
    }
    let locale = Locale::parse(&choice.lang).unwrap_or_default();
    // Only a path of this site: never redirect elsewhere. Browsers read a
    // backslash as a slash (and drop tabs), so `/\evil.example` is `//evil.example`.
    let back = if choice.back.starts_with('/')
        && !choice.back.starts_with("//")
        && !choice.back.contains('\\')
        && !choice.back.chars().any(char::is_control)
    {
        choice.back
    } else {
        "/".into()
    };
    let mut response = Redirect::to(&back).into_response();
    remember_language(&mut response, locale);
    response
}

/// Remembers `locale` as the picker's choice (a cookie for a year).
pub(crate) fn remember_language(response: &mut Response, locale: Locale) {
    let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000", locale.tag());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// Forgets the picker's choice, so the user's own language applies.
pub(crate) fn forget_language(response: &mut Response) {
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kurier_lang=; Path=/; SameSite=Lax; Max-Age=0"),
    );
}

/// Ends the browser's session cookie (the session itself is gone).
pub(crate) fn forget_session(response: &mut Response) {
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kurier_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
}
