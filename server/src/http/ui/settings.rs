//! The account's settings: time zone, transliteration, quiet hours and the
//! URL received messages are posted to (`GET`/`PATCH /api/v1/account`);
//! the HELP reply and the account's own opt-out words
//! (`GET`/`PATCH /api/v1/compliance`); and, read-only, the low-balance
//! alert the platform operator sets (`GET /api/v1/billing`). Anyone
//! signed in reads them; saving needs an owner or admin, as in the API.

use askama::Template;
use axum::extract::{Form, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::Session;
use super::{FormError, OrPage, PageResult, Viewer, json_body, render, see_other, split_list, with_status};
use crate::http::api::v1::account::{self, AccountView};
use crate::http::api::v1::billing::{self, BillingView};
use crate::http::api::v1::opt_outs::{self, ComplianceView};
use crate::http::{AppState, Auth};

#[derive(Deserialize, Default, Clone)]
pub struct AccountForm {
    #[serde(default)]
    time_zone: String,
    /// A ticked box sends `on`; an unticked one sends nothing.
    #[serde(default)]
    transliterate: Option<String>,
    #[serde(default)]
    quiet_start: String,
    #[serde(default)]
    quiet_end: String,
    #[serde(default)]
    inbound_url: String,
}

impl AccountForm {
    fn of(a: &AccountView) -> Self {
        AccountForm {
            time_zone: a.time_zone.clone(),
            transliterate: a.transliterate.then(|| "on".into()),
            quiet_start: a.quiet_hours.as_ref().map(|q| q.start.clone()).unwrap_or_default(),
            quiet_end: a.quiet_hours.as_ref().map(|q| q.end.clone()).unwrap_or_default(),
            inbound_url: a.inbound_url.clone().unwrap_or_default(),
        }
    }

    /// The API's body: empty quiet hours or URL remove them.
    fn body(&self) -> Value {
        let (start, end) = (self.quiet_start.trim(), self.quiet_end.trim());
        let quiet = if start.is_empty() && end.is_empty() {
            Value::Null
        } else {
            json!({"start": start, "end": end})
        };
        let url = self.inbound_url.trim();
        json!({
            "time_zone": self.time_zone.trim(),
            "transliterate": self.transliterate.is_some(),
            "quiet_hours": quiet,
            "inbound_url": if url.is_empty() { Value::Null } else { json!(url) },
        })
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct ComplianceForm {
    #[serde(default)]
    help_text: String,
    #[serde(default)]
    opt_out_words: String,
}

impl ComplianceForm {
    fn of(c: &ComplianceView) -> Self {
        ComplianceForm { help_text: c.help_text.clone(), opt_out_words: c.opt_out_words.join(", ") }
    }

    /// The API's body: an empty HELP text restores the default; the words
    /// are the account's own, besides the built-in ones.
    fn body(&self) -> Value {
        let help = self.help_text.trim();
        json!({
            "help_text": if help.is_empty() { Value::Null } else { json!(help) },
            "opt_out_words": split_list(&self.opt_out_words),
        })
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    v: Viewer,
    active: &'static str,
    account: AccountForm,
    account_error: FormError,
    compliance: ComplianceForm,
    compliance_error: FormError,
    rules: ComplianceView,
    billing: BillingView,
    /// Saved just now.
    saved: bool,
}

impl SettingsPage {
    fn may_save(&self) -> bool {
        self.v.manages()
    }
}

#[derive(Default)]
struct Forms {
    account: Option<AccountForm>,
    account_error: FormError,
    compliance: Option<ComplianceForm>,
    compliance_error: FormError,
    saved: bool,
}

async fn settings_page(state: &AppState, v: Viewer, auth: Auth, forms: Forms) -> PageResult {
    let a = account::get_account(State(state.clone()), auth.clone()).await.page(&v)?.0;
    let rules = opt_outs::get_compliance(State(state.clone()), auth.clone()).await.page(&v)?.0;
    let billing = billing::get_own_billing(State(state.clone()), auth).await.page(&v)?.0;
    Ok(render(&SettingsPage {
        account: forms.account.unwrap_or_else(|| AccountForm::of(&a)),
        account_error: forms.account_error,
        compliance: forms.compliance.unwrap_or_else(|| ComplianceForm::of(&rules)),
        compliance_error: forms.compliance_error,
        rules,
        billing,
        saved: forms.saved,
        v,
        active: "settings",
    }))
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> PageResult {
    settings_page(&state, v, auth, Forms { saved: q.saved.is_some(), ..Default::default() }).await
}

pub async fn save_account(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<AccountForm>,
) -> PageResult {
    let result = async {
        let body = json_body(f.body())?;
        account::update_account(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/settings?saved=1")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let forms = Forms { account: Some(f), account_error: error, ..Default::default() };
            Ok(with_status(settings_page(&state, v, auth, forms).await?, status))
        }
    }
}

pub async fn save_compliance(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<ComplianceForm>,
) -> PageResult {
    let result = async {
        let body = json_body(f.body())?;
        opt_outs::update_compliance(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/settings?saved=1")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let forms = Forms { compliance: Some(f), compliance_error: error, ..Default::default() };
            Ok(with_status(settings_page(&state, v, auth, forms).await?, status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_quiet_hours_and_url_are_removed_and_the_box_is_a_boolean() {
        let f = AccountForm { time_zone: " Europe/Warsaw ".into(), ..Default::default() };
        assert_eq!(
            f.body(),
            json!({"time_zone": "Europe/Warsaw", "transliterate": false, "quiet_hours": null, "inbound_url": null})
        );
        let f = AccountForm {
            transliterate: Some("on".into()),
            quiet_start: "21:00".into(),
            inbound_url: "https://example.com/in".into(),
            ..Default::default()
        };
        let body = f.body();
        assert_eq!(body["transliterate"], json!(true));
        assert_eq!(
            body["quiet_hours"],
            json!({"start": "21:00", "end": ""}),
            "half a window is the API's to refuse"
        );
        assert_eq!(body["inbound_url"], json!("https://example.com/in"));
    }

    #[test]
    fn opt_out_words_are_a_typed_list_and_an_empty_help_text_restores_the_default() {
        let f = ComplianceForm { help_text: "  ".into(), opt_out_words: "NIE, СТОП;\nbasta".into() };
        assert_eq!(f.body(), json!({"help_text": null, "opt_out_words": ["NIE", "СТОП", "basta"]}));
    }
}
