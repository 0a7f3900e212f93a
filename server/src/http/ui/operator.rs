//! The platform operator's billing pages: tariffs with their price lists,
//! packages, and each account's tariff, alert threshold, packages and
//! top-ups. Every read and write is the billing API's handler
//! (`api::v1::billing`), which refuses any other account
//! (`require_operator`); other accounts see their own billing read-only at
//! `/billing`.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::messages::urlencode;
use super::session::Session;
use super::{FormError, OrPage, PageError, PageResult, Viewer, json_body, render, see_other, with_status};
use crate::http::api::v1::billing::{
    self, Amount, BillingView, LedgerQuery, LedgerView, PackageView, PriceList, PricePage, TariffView,
};
use crate::http::{ApiError, AppState, Auth};

/// Prices shown on one page of a tariff.
const PRICES_PER_PAGE: usize = 200;
/// Ledger entries shown on an account's page.
const LEDGER_ROWS: usize = 20;

/// What a form's API call ended in: done, or refused with the field at
/// fault (shown next to it on the same page, with the API's status).
enum Outcome {
    Done,
    Refused(StatusCode, FormError),
}

/// Runs a form's API call: a client error is the form's to show, anything
/// else is an error page.
async fn outcome<T>(
    v: &Viewer,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<Outcome, PageError> {
    match call.await {
        Ok(_) => Ok(Outcome::Done),
        Err(e) => FormError::or_page(v, e).map(|(status, error)| Outcome::Refused(status, error)),
    }
}

fn money(v: &Viewer, a: &Amount) -> String {
    v.locale.money(&a.amount, &a.currency)
}

/// An optional amount as the API takes it: empty is "not given".
fn opt(s: &str) -> Value {
    let s = s.trim();
    if s.is_empty() { Value::Null } else { json!(s) }
}

// ---- tariffs and packages ----------------------------------------------------

#[derive(Deserialize, Default, Clone)]
pub struct TariffForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    inbound_price: String,
    #[serde(default)]
    number_monthly_fee: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct PackageForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    included_messages: String,
    #[serde(default)]
    overage_price: String,
    #[serde(default)]
    monthly_fee: String,
}

#[derive(Template)]
#[template(path = "operator_prices.html")]
struct PricesPage {
    v: Viewer,
    active: &'static str,
    tariffs: Vec<TariffView>,
    packages: Vec<PackageView>,
    tariff_form: TariffForm,
    tariff_error: FormError,
    package_form: PackageForm,
    package_error: FormError,
}

impl PricesPage {
    fn money(&self, a: &Amount) -> String {
        money(&self.v, a)
    }
}

async fn prices_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    tariff: (TariffForm, FormError),
    package: (PackageForm, FormError),
) -> PageResult {
    let tariffs = billing::list_tariffs(State(state.clone()), auth.clone()).await.page(&v)?.0.tariffs;
    let packages = billing::list_packages(State(state.clone()), auth).await.page(&v)?.0.packages;
    Ok(render(&PricesPage {
        v,
        active: "operator",
        tariffs,
        packages,
        tariff_form: tariff.0,
        tariff_error: tariff.1,
        package_form: package.0,
        package_error: package.1,
    }))
}

fn new_tariff_form() -> TariffForm {
    TariffForm { currency: "EUR".into(), ..Default::default() }
}

fn new_package_form() -> PackageForm {
    PackageForm { currency: "EUR".into(), ..Default::default() }
}

pub async fn prices(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    prices_page(
        &state,
        v,
        auth,
        (new_tariff_form(), FormError::default()),
        (new_package_form(), FormError::default()),
    )
    .await
}

/// Creates a tariff and opens it, to add its prices.
pub async fn create_tariff(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<TariffForm>,
) -> PageResult {
    let made = async {
        let body = json_body(json!({
            "name": f.name, "currency": f.currency.trim(),
            "inbound_price": opt(&f.inbound_price), "number_monthly_fee": opt(&f.number_monthly_fee),
        }))?;
        let response = billing::create_tariff(State(state.clone()), auth.clone(), body).await?;
        super::read_json::<Value>(response).await
    }
    .await;
    match made {
        Ok(t) => Ok(see_other(&format!("/operator/tariffs/{}", t["id"].as_str().unwrap_or_default()))),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let page =
                prices_page(&state, v, auth, (f, error), (new_package_form(), FormError::default())).await?;
            Ok(with_status(page, status))
        }
    }
}

pub async fn create_package(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<PackageForm>,
) -> PageResult {
    let included = f.included_messages.trim();
    let result = outcome(&v, async {
        let included = if included.is_empty() {
            Value::Null
        } else {
            json!(
                included
                    .parse::<i64>()
                    .map_err(|_| ApiError::field("included_messages", "must be a whole number"))?
            )
        };
        let body = json_body(json!({
            "name": f.name, "currency": f.currency.trim(), "included_messages": included,
            "overage_price": opt(&f.overage_price), "monthly_fee": opt(&f.monthly_fee),
        }))?;
        billing::create_package(State(state.clone()), auth.clone(), body).await
    })
    .await?;
    match result {
        Outcome::Done => Ok(see_other("/operator/prices")),
        Outcome::Refused(status, error) => {
            let page =
                prices_page(&state, v, auth, (new_tariff_form(), FormError::default()), (f, error)).await?;
            Ok(with_status(page, status))
        }
    }
}

// ---- one tariff --------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
pub struct PriceForm {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
pub struct AfterQuery {
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "operator_tariff.html")]
struct TariffPage {
    v: Viewer,
    active: &'static str,
    tariff: TariffView,
    prices: PriceList,
    edit: TariffForm,
    edit_error: FormError,
    price: PriceForm,
    price_error: FormError,
    /// A delete refused (the tariff is in use).
    delete_error: String,
}

impl TariffPage {
    fn money(&self, a: &Amount) -> String {
        money(&self.v, a)
    }

    fn enc(&self, s: &str) -> String {
        urlencode(s)
    }

    fn more_href(&self) -> Option<String> {
        self.prices
            .next
            .as_deref()
            .map(|n| format!("/operator/tariffs/{}?after={}", self.tariff.id, urlencode(n)))
    }
}

/// What the tariff's page shows besides the tariff and its prices.
#[derive(Default)]
struct TariffForms {
    edit: Option<TariffForm>,
    edit_error: FormError,
    price: PriceForm,
    price_error: FormError,
    delete_error: String,
}

async fn tariff_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    id: String,
    after: Option<String>,
    forms: TariffForms,
) -> PageResult {
    let tariff = billing::get_tariff(State(state.clone()), auth.clone(), Path(id.clone())).await.page(&v)?.0;
    let page = PricePage { after, limit: Some(PRICES_PER_PAGE) };
    let prices =
        billing::list_prices(State(state.clone()), auth, Path(id), Ok(Query(page))).await.page(&v)?.0;
    let edit = forms.edit.unwrap_or_else(|| TariffForm {
        name: tariff.name.clone(),
        currency: tariff.currency.clone(),
        inbound_price: tariff.inbound_price.amount.clone(),
        number_monthly_fee: tariff.number_monthly_fee.amount.clone(),
    });
    Ok(render(&TariffPage {
        v,
        active: "operator",
        tariff,
        prices,
        edit,
        edit_error: forms.edit_error,
        price: forms.price,
        price_error: forms.price_error,
        delete_error: forms.delete_error,
    }))
}

pub async fn tariff(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Query(q): Query<AfterQuery>,
) -> PageResult {
    tariff_page(&state, v, auth, id, q.after, TariffForms::default()).await
}

/// Saves the tariff's name, inbound price and number fee.
pub async fn update_tariff(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<TariffForm>,
) -> PageResult {
    let result = outcome(&v, async {
        let body = json_body(json!({
            "name": f.name, "inbound_price": opt(&f.inbound_price), "number_monthly_fee": opt(&f.number_monthly_fee),
        }))?;
        billing::update_tariff(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    })
    .await?;
    match result {
        Outcome::Done => Ok(see_other(&format!("/operator/tariffs/{id}"))),
        Outcome::Refused(status, error) => {
            let forms = TariffForms { edit: Some(f), edit_error: error, ..Default::default() };
            Ok(with_status(tariff_page(&state, v, auth, id, None, forms).await?, status))
        }
    }
}

/// The price form's error at its own field: the API names the row
/// (`prices[0].price`), the form has one row.
fn price_error(e: FormError) -> FormError {
    match e.field.strip_prefix("prices[0].") {
        Some(field) => FormError { field: field.to_owned(), message: e.message },
        None => e,
    }
}

/// Adds a price, or changes the price of a prefix already listed.
pub async fn put_price(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<PriceForm>,
) -> PageResult {
    let result = outcome(&v, async {
        let body = json_body(json!({"prices": [{
            "prefix": f.prefix.trim(), "price": f.price.trim(), "description": f.description,
        }]}))?;
        billing::put_prices(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    })
    .await?;
    match result {
        Outcome::Done => Ok(see_other(&format!("/operator/tariffs/{id}"))),
        Outcome::Refused(status, error) => {
            let forms = TariffForms { price: f, price_error: price_error(error), ..Default::default() };
            Ok(with_status(tariff_page(&state, v, auth, id, None, forms).await?, status))
        }
    }
}

pub async fn delete_price(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((id, prefix)): Path<(String, String)>,
) -> PageResult {
    billing::delete_price(State(state), auth, Path((id.clone(), prefix))).await.page(&v)?;
    Ok(see_other(&format!("/operator/tariffs/{id}")))
}

/// Deletes a tariff no account uses; one in use stays, with the reason.
pub async fn delete_tariff(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    match outcome(&v, billing::delete_tariff(State(state.clone()), auth.clone(), Path(id.clone()))).await? {
        Outcome::Done => Ok(see_other("/operator/prices")),
        Outcome::Refused(status, error) => {
            let forms = TariffForms { delete_error: error.message, ..Default::default() };
            Ok(with_status(tariff_page(&state, v, auth, id, None, forms).await?, status))
        }
    }
}

// ---- accounts ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "operator_accounts.html")]
struct AccountsPage {
    v: Viewer,
    active: &'static str,
    accounts: Vec<BillingView>,
}

impl AccountsPage {
    fn money(&self, a: &Amount) -> String {
        money(&self.v, a)
    }
}

pub async fn accounts(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let accounts = billing::list_accounts(State(state), auth).await.page(&v)?.0.accounts;
    Ok(render(&AccountsPage { v, active: "operator", accounts }))
}

#[derive(Deserialize, Default, Clone)]
pub struct AccountBillingForm {
    #[serde(default)]
    tariff: String,
    #[serde(default)]
    low_balance_threshold: String,
    #[serde(default)]
    alert_email: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct TopUpForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct SubscribeForm {
    #[serde(default)]
    package: String,
}

#[derive(Template)]
#[template(path = "operator_account.html")]
struct AccountPage {
    v: Viewer,
    active: &'static str,
    billing: BillingView,
    tariffs: Vec<TariffView>,
    packages: Vec<PackageView>,
    ledger: Vec<LedgerView>,
    settings: AccountBillingForm,
    settings_error: FormError,
    top_up: TopUpForm,
    top_up_error: FormError,
    subscribe_error: FormError,
}

impl AccountPage {
    fn money(&self, a: &Amount) -> String {
        money(&self.v, a)
    }
}

#[derive(Default)]
struct AccountForms {
    settings: Option<AccountBillingForm>,
    settings_error: FormError,
    top_up: TopUpForm,
    top_up_error: FormError,
    subscribe_error: FormError,
}

async fn account_page(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    id: String,
    forms: AccountForms,
) -> PageResult {
    let billing =
        billing::get_account_billing(State(state.clone()), auth.clone(), Path(id.clone())).await.page(&v)?.0;
    let tariffs = billing::list_tariffs(State(state.clone()), auth.clone()).await.page(&v)?.0.tariffs;
    let packages = billing::list_packages(State(state.clone()), auth.clone()).await.page(&v)?.0.packages;
    let q = LedgerQuery { limit: Some(LEDGER_ROWS), cursor: None };
    let ledger =
        billing::account_ledger(State(state.clone()), auth, Path(id), Ok(Query(q))).await.page(&v)?.0.entries;
    let settings = forms.settings.unwrap_or_else(|| AccountBillingForm {
        tariff: billing.tariff.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
        low_balance_threshold: billing
            .low_balance_threshold
            .as_ref()
            .map(|a| a.amount.clone())
            .unwrap_or_default(),
        alert_email: billing.alert_email.clone().unwrap_or_default(),
    });
    Ok(render(&AccountPage {
        v,
        active: "operator",
        billing,
        tariffs,
        packages,
        ledger,
        settings,
        settings_error: forms.settings_error,
        top_up: forms.top_up,
        top_up_error: forms.top_up_error,
        subscribe_error: forms.subscribe_error,
    }))
}

pub async fn account(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    account_page(&state, v, auth, id, AccountForms::default()).await
}

/// The account's page again, with a refused form's error at its field.
async fn refused(
    state: &AppState,
    v: Viewer,
    auth: Auth,
    id: String,
    status: StatusCode,
    forms: AccountForms,
) -> Result<Response, PageError> {
    Ok(with_status(account_page(state, v, auth, id, forms).await?, status))
}

/// Sets the account's tariff (none: not charged), alert threshold and
/// alert address.
pub async fn set_account_billing(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<AccountBillingForm>,
) -> PageResult {
    let result = outcome(&v, async {
        let body = json_body(json!({
            "tariff": opt(&f.tariff), "low_balance_threshold": opt(&f.low_balance_threshold),
            "alert_email": opt(&f.alert_email),
        }))?;
        billing::update_account_billing(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    })
    .await?;
    match result {
        Outcome::Done => Ok(see_other(&format!("/operator/accounts/{id}"))),
        Outcome::Refused(status, error) => {
            let forms = AccountForms { settings: Some(f), settings_error: error, ..Default::default() };
            refused(&state, v, auth, id, status, forms).await
        }
    }
}

/// Adds money to the account (a negative amount takes it back).
pub async fn top_up(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<TopUpForm>,
) -> PageResult {
    let result = outcome(&v, async {
        let body = json_body(json!({"amount": opt(&f.amount), "note": opt(&f.note)}))?;
        billing::top_up(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    })
    .await?;
    match result {
        Outcome::Done => Ok(see_other(&format!("/operator/accounts/{id}"))),
        Outcome::Refused(status, mut error) => {
            if error.field.is_empty() {
                // "the account has no tariff": about the top-up as a whole.
                error.field = "amount".into();
            }
            let forms = AccountForms { top_up: f, top_up_error: error, ..Default::default() };
            refused(&state, v, auth, id, status, forms).await
        }
    }
}

pub async fn subscribe(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(f): Form<SubscribeForm>,
) -> PageResult {
    let result = outcome(&v, async {
        let body = json_body(json!({"package": opt(&f.package)}))?;
        billing::subscribe(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    })
    .await?;
    match result {
        Outcome::Done => Ok(see_other(&format!("/operator/accounts/{id}"))),
        Outcome::Refused(status, mut error) => {
            error.field = "package".into();
            let forms = AccountForms { subscribe_error: error, ..Default::default() };
            refused(&state, v, auth, id, status, forms).await
        }
    }
}

/// Ends a subscription with this month.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((id, sub)): Path<(String, String)>,
) -> PageResult {
    billing::unsubscribe(State(state), auth, Path((id.clone(), sub))).await.page(&v)?;
    Ok(see_other(&format!("/operator/accounts/{id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_rows_error_is_shown_at_the_forms_field() {
        let e =
            price_error(FormError { field: "prices[0].price".into(), message: "too many decimals".into() });
        assert_eq!(e.on("price"), "too many decimals");
        let e = price_error(FormError { field: "tariff".into(), message: "x".into() });
        assert_eq!(e.on("tariff"), "x");
    }

    #[test]
    fn an_empty_amount_is_not_given() {
        assert_eq!(opt("  "), Value::Null);
        assert_eq!(opt(" 0.05 "), json!("0.05"));
    }
}
