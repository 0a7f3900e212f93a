//! The subscribers' self-service page behind a signed, expiring link
//! (`/preferences/{token}`, made by `POST /api/v1/notification-links`): no
//! account and no session, the link is the key. The subscriber picks the
//! channels of each notification type, another phone or e-mail address and
//! the hours messages may arrive; every change is recorded with the source
//! `self-service`. The page speaks the subscriber's language (their pick,
//! else the contact's language, else the browser's).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::i18n::Locale;
use super::render;
use super::session::{Viewer, accept_language, picked_locale};
use crate::http::AppState;
use crate::http::auth::ClientIp;
use crate::notifications::ensure_built_in;
use crate::notifications::{CHANNELS, effective, page};
use crate::storage::{ContactRecord, NotificationType, PreferenceRow};

/// One notification type as the form shows it.
struct TypeChoice {
    key: String,
    name: String,
    /// Channel, and whether the subscriber gets this type on it.
    channels: Vec<(&'static str, bool)>,
}

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage {
    v: Viewer,
    active: &'static str,
    token: String,
    who: String,
    types: Vec<TypeChoice>,
    window_start: String,
    window_end: String,
    extra_phone: String,
    extra_email: String,
    saved: bool,
    error: String,
}

#[derive(Template)]
#[template(path = "preferences_gone.html")]
struct GonePage {
    v: Viewer,
    active: &'static str,
}

fn hhmm(m: i64) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The language of the page: the picker's cookie, the contact's language,
/// the browser's.
fn locale(headers: &HeaderMap, contact: Option<&ContactRecord>) -> Locale {
    picked_locale(headers)
        .or_else(|| contact.and_then(|c| c.language.as_deref()).and_then(Locale::parse))
        .unwrap_or_else(|| accept_language(headers))
}

struct Context {
    account_id: String,
    contact: ContactRecord,
    types: Vec<NotificationType>,
}

/// The link's account, contact and notification types, or the "not valid"
/// page (a forged, expired or dangling link all look the same).
async fn context(state: &AppState, headers: &HeaderMap, token: &str) -> Result<Context, Response> {
    let gone = || {
        let mut r = render(&GonePage { v: Viewer::anonymous(locale(headers, None)), active: "" });
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    let Some((account_id, contact_id, _)) = page::read(token) else { return Err(gone()) };
    let Ok(Some(account)) = state.store.account_record(&account_id).await else { return Err(gone()) };
    if !page::verify(&account.webhook_secret, token, state.clock.now().timestamp()) {
        return Err(gone());
    }
    let Ok(Some(contact)) = state.store.get_contact(&account_id, &contact_id).await else {
        return Err(gone());
    };
    let Ok(types) = ensure_built_in(&state.store, &account_id, state.clock.now_micros()).await else {
        return Err(gone());
    };
    Ok(Context { account_id, contact, types })
}

/// The form as the stored preferences are.
fn form_page(
    headers: &HeaderMap,
    token: String,
    c: &Context,
    rows: &[PreferenceRow],
    saved: bool,
) -> PreferencesPage {
    let own = rows.iter().find(|r| r.contact_id == c.contact.id);
    let window = rows.iter().find_map(|r| r.window);
    let (window_start, window_end) =
        window.map_or((String::new(), String::new()), |(s, e)| (hhmm(s), hhmm(e)));
    PreferencesPage {
        v: Viewer::anonymous(locale(headers, Some(&c.contact))),
        active: "",
        token,
        who: c.contact.name.clone().unwrap_or_else(|| c.contact.phone.clone()),
        types: c
            .types
            .iter()
            .map(|t| {
                let pref = effective(rows, &c.contact.id, &t.key);
                TypeChoice {
                    key: t.key.clone(),
                    name: t.name.clone(),
                    channels: CHANNELS
                        .iter()
                        .map(|ch| (*ch, pref.channels.iter().any(|p| p == ch)))
                        .collect(),
                }
            })
            .collect(),
        window_start,
        window_end,
        extra_phone: own.and_then(|r| r.extra_phones.first().cloned()).unwrap_or_default(),
        extra_email: own.and_then(|r| r.extra_emails.first().cloned()).unwrap_or_default(),
        saved,
        error: String::new(),
    }
}

/// The form as the subscriber sent it, shown again with why it was refused.
fn submitted_page(
    headers: &HeaderMap,
    token: String,
    c: &Context,
    form: &HashMap<String, String>,
    error: String,
) -> PreferencesPage {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    PreferencesPage {
        v: Viewer::anonymous(locale(headers, Some(&c.contact))),
        active: "",
        token,
        who: c.contact.name.clone().unwrap_or_else(|| c.contact.phone.clone()),
        types: c
            .types
            .iter()
            .map(|t| TypeChoice {
                key: t.key.clone(),
                name: t.name.clone(),
                channels: CHANNELS
                    .iter()
                    .map(|ch| (*ch, form.contains_key(&format!("{}__{ch}", t.key))))
                    .collect(),
            })
            .collect(),
        window_start: field("window_start"),
        window_end: field("window_end"),
        extra_phone: field("extra_phone"),
        extra_email: field("extra_email"),
        saved: false,
        error,
    }
}

pub async fn show(State(state): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let c = match context(&state, &headers, &token).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rows = state.store.notification_preferences(&c.account_id, &c.contact.id).await.unwrap_or_default();
    render(&form_page(&headers, token, &c, &rows, false))
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    ClientIp(from): ClientIp,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let c = match context(&state, &headers, &token).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let current =
        state.store.notification_preferences(&c.account_id, &c.contact.id).await.unwrap_or_default();
    let zone = current.iter().find(|r| r.contact_id == c.contact.id).and_then(|r| r.time_zone.clone());
    let rows = match page::read_form(&c.contact.id, &c.types, &form, zone) {
        Ok(rows) => rows,
        Err(message) => {
            let mut r = render(&submitted_page(&headers, token, &c, &form, message));
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return r;
        }
    };
    // The proxy's forwarded address only when the proxy is trusted.
    let from = from.map(|ip| ip.to_string());
    let now = state.clock.now_micros();
    let written = state
        .store
        .replace_notification_preferences(
            &c.account_id,
            &c.contact.id,
            &rows,
            "self-service",
            from.as_deref(),
            now,
        )
        .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "saving self-service preferences failed");
        let v = Viewer::anonymous(locale(&headers, Some(&c.contact)));
        let message = v.t("prefs.save_failed").to_owned();
        let mut r = render(&submitted_page(&headers, token, &c, &form, message));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return r;
    }
    let rows = state.store.notification_preferences(&c.account_id, &c.contact.id).await.unwrap_or_default();
    render(&form_page(&headers, token, &c, &rows, true))
}
