//! My profile (`/profile`), for every signed-in user: their own language
//! and time zone (`/api/v1/me`), a new password with the current one
//! (`/api/v1/me/password`; it ends every session, this one too), and their
//! own phone numbers as senders (`/api/v1/me/numbers`): adding one makes
//! Kurier send it a one-time code, entering the code verifies it. Each is
//! the API's own handler; the numbers need the role that may send, as in
//! the API.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::i18n::Locale;
use super::session::{Session, forget_language, forget_session, remember_language};
use super::{FormError, OrPage, PageError, PageResult, Viewer, json_body, render, see_other, with_status};
use crate::domain::Need;
use crate::http::api::v1::me::{self, MeView};
use crate::http::api::v1::own_numbers::{self, OwnNumberView};
use crate::http::api::v1::templates::SenderView;
use crate::http::{ApiError, AppState, Auth};

#[derive(Deserialize, Default, Clone)]
pub struct PrefsForm {
    #[serde(default)]
    language: String,
    #[serde(default)]
    time_zone: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct NumberForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    v: Viewer,
    active: &'static str,
    me: MeView,
    prefs: PrefsForm,
    prefs_error: FormError,
    password_error: FormError,
    numbers: Vec<OwnNumberView>,
    number: NumberForm,
    number_error: FormError,
    /// The number whose code was refused, with the error.
    code_error: Option<(String, FormError)>,
    /// What was just done: `saved`, `code_sent`, `verified`.
    done: String,
}

impl ProfilePage {
    /// Own numbers are senders: only for roles that may send.
    fn may_send(&self) -> bool {
        self.v.may(Need::Send)
    }

    fn code_error_for(&self, phone: &str) -> &str {
        match &self.code_error {
            Some((p, e)) if p == phone => &e.message,
            _ => "",
        }
    }
}

#[derive(Default)]
struct Forms {
    prefs: Option<PrefsForm>,
    prefs_error: FormError,
    password_error: FormError,
    number: NumberForm,
    number_error: FormError,
    code_error: Option<(String, FormError)>,
    done: String,
}

async fn profile_page(state: &AppState, v: Viewer, auth: Auth, forms: Forms) -> PageResult {
    let me = me::get_me(State(state.clone()), auth.clone()).await.page(&v)?.0;
    let numbers = if v.may(Need::Send) {
        own_numbers::list_own_numbers(State(state.clone()), auth).await.page(&v)?.0.numbers
    } else {
        Vec::new()
    };
    let prefs = forms.prefs.unwrap_or_else(|| PrefsForm {
        language: me.language.clone().unwrap_or_default(),
        time_zone: me.time_zone.clone().unwrap_or_default(),
    });
    Ok(render(&ProfilePage {
        v,
        active: "profile",
        me,
        prefs,
        prefs_error: forms.prefs_error,
        password_error: forms.password_error,
        numbers,
        number: forms.number,
        number_error: forms.number_error,
        code_error: forms.code_error,
        done: forms.done,
    }))
}

#[derive(Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let done = match q.done.as_str() {
        "saved" | "code_sent" | "verified" => q.done,
        _ => String::new(),
    };
    profile_page(&state, v, auth, Forms { done, ..Default::default() }).await
}

/// Saves the user's language and time zone; the page then speaks the new
/// language (the picker's earlier choice is forgotten).
pub async fn save(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<PrefsForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"language": f.language, "time_zone": f.time_zone}))?;
        me::update_me(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(saved) => {
            let mut response = see_other("/profile?done=saved");
            match saved.0.language.as_deref().and_then(Locale::parse) {
                Some(l) => remember_language(&mut response, l),
                None => forget_language(&mut response),
            }
            Ok(response)
        }
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let forms = Forms { prefs: Some(f), prefs_error: error, ..Default::default() };
            Ok(with_status(profile_page(&state, v, auth, forms).await?, status))
        }
    }
}

/// Changes the password; every session ends, so the user signs in again.
pub async fn change_password(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"current_password": f.current_password, "password": f.password}))?;
        me::change_password(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(_) => {
            let mut response = see_other("/signin");
            forget_session(&mut response);
            Ok(response)
        }
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let forms = Forms { password_error: error, ..Default::default() };
            Ok(with_status(profile_page(&state, v, auth, forms).await?, status))
        }
    }
}

/// Adds an own number: Kurier sends it a one-time code.
pub async fn add_number(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<NumberForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"phone": f.phone}))?;
        own_numbers::add_own_number(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/profile?done=code_sent")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let forms = Forms { number: f, number_error: error, ..Default::default() };
            Ok(with_status(profile_page(&state, v, auth, forms).await?, status))
        }
    }
}

/// Enters the code a number received.
pub async fn verify_number(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<NumberForm>,
) -> PageResult {
    let result = async {
        let body = json_body(json!({"code": f.code}))?;
        own_numbers::verify_own_number(
            State(state.clone()),
            auth.clone(),
            axum::extract::Path(f.phone.clone()),
            body,
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/profile?done=verified")),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let forms = Forms { code_error: Some((f.phone, error)), ..Default::default() };
            Ok(with_status(profile_page(&state, v, auth, forms).await?, status))
        }
    }
}

/// The user's verified own numbers that are not among the account's
/// `senders`, for the compose and campaign forms' sender pickers (the API
/// accepts them as `from`); none for a role that does not send.
pub(crate) async fn verified_own_numbers(
    state: &AppState,
    auth: &Auth,
    senders: &[SenderView],
) -> Result<Vec<String>, ApiError> {
    if !auth.role.allows(Need::Send) || auth.user_id.is_none() {
        return Ok(Vec::new());
    }
    let list = own_numbers::list_own_numbers(State(state.clone()), auth.clone()).await?.0.numbers;
    Ok(list
        .into_iter()
        .filter(|n| n.verified && !senders.iter().any(|s| s.sender == n.phone))
        .map(|n| n.phone)
        .collect())
}
