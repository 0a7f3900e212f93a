//! Billing, as the account sees it: its tariff with the price list, its
//! balance, its packages and their use this month (`GET /api/v1/billing`,
//! `GET /api/v1/billing/prices`); and usage over a month by day, user or
//! country with the monthly statement and its CSV/XLSX files
//! (`GET /api/v1/reports/usage`, `/api/v1/reports/statement*`). Tariffs,
//! packages and top-ups are the operator's, through the API.

use askama::Template;
use axum::extract::{Query, State};
use chrono::{Datelike as _, NaiveDate};
use serde::Deserialize;

use super::session::Session;
use super::{OrPage, PageResult, Viewer, render};
use crate::domain::period_of;
use crate::http::api::v1::billing::{
    self, Amount, BillingView, PriceList, PricePage, StatementQuery, StatementView, UsageQuery, UsageReport,
};
use crate::http::{ApiError, AppState};
use crate::storage::now_micros;

#[derive(Deserialize)]
pub struct PricesQuery {
    /// The last prefix of the previous page of prices.
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    v: Viewer,
    active: &'static str,
    billing: BillingView,
    prices: PriceList,
}

impl BillingPage {
    fn money(&self, a: &Amount) -> String {
        self.v.locale.money(&a.amount, &a.currency)
    }

    /// The link to the next page of prices, if there is one.
    fn more_href(&self) -> Option<String> {
        self.prices.next.as_deref().map(|n| format!("/billing?after={}", super::messages::urlencode(n)))
    }

    /// How much of the packages' segments is used, in percent.
    fn used_percent(&self) -> i64 {
        self.billing
            .package_use
            .as_ref()
            .map_or(0, |u| if u.included > 0 { (u.used * 100 / u.included).min(100) } else { 100 })
    }
}

pub async fn page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(q): Query<PricesQuery>,
) -> PageResult {
    let billing = billing::get_own_billing(State(state.clone()), auth.clone()).await.page(&v)?.0;
    let page = PricePage { after: q.after, limit: Some(PRICES_PER_PAGE) };
    let prices = billing::own_prices(State(state), auth, Ok(Query(page))).await.page(&v)?.0;
    Ok(render(&BillingPage { v, active: "billing", billing, prices }))
}

/// Prices shown on one page.
const PRICES_PER_PAGE: usize = 200;

/// The usage form: a month and how to group it.
#[derive(Deserialize, Default, Clone)]
pub struct UsageForm {
    /// `YYYY-MM`; empty: this month.
    #[serde(default)]
    month: String,
    /// `day`, `user` or `country`.
    #[serde(default)]
    by: String,
}

impl UsageForm {
    fn month(&self) -> String {
        let m = self.month.trim();
        if m.is_empty() { period_of(now_micros()) } else { m.to_owned() }
    }

    /// The API's usage query: the month's first day to the next month's.
    fn usage_query(&self) -> Result<UsageQuery, ApiError> {
        let month = self.month();
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|_| ApiError::field("month", format!("'{month}' is not a month (YYYY-MM)")))?;
        let next = if first.month() == 12 {
            NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
        }
        .ok_or_else(|| ApiError::field("month", "is out of range"))?;
        Ok(UsageQuery {
            group_by: Some(if self.by.is_empty() { "day".into() } else { self.by.clone() }),
            since: Some(first.to_string()),
            until: Some(next.to_string()),
            account: None,
        })
    }

    fn statement_query(&self) -> StatementQuery {
        StatementQuery { month: Some(self.month()), account: None }
    }
}

#[derive(Template)]
#[template(path = "billing_usage.html")]
struct UsagePage {
    v: Viewer,
    active: &'static str,
    month: String,
    usage: UsageReport,
    statement: StatementView,
}

impl UsagePage {
    fn money(&self, a: &Amount) -> String {
        self.v.locale.money(&a.amount, &a.currency)
    }

    fn month_query(&self) -> String {
        super::messages::urlencode(&self.month)
    }

    fn by_key(&self) -> &'static str {
        match self.usage.group_by.as_str() {
            "user" => "billing.by_user",
            "country" => "report.by_country",
            _ => "report.by_day",
        }
    }
}

pub async fn usage(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(form): Query<UsageForm>,
) -> PageResult {
    let q = form.usage_query().page(&v)?;
    let usage = billing::usage_report(State(state.clone()), auth.clone(), Ok(Query(q))).await.page(&v)?.0;
    let statement =
        billing::statement(State(state), auth, Ok(Query(form.statement_query()))).await.page(&v)?.0;
    Ok(render(&UsagePage { v, active: "billing", month: form.month(), usage, statement }))
}

pub async fn statement_csv(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(form): Query<UsageForm>,
) -> PageResult {
    billing::statement_csv(State(state), auth, Ok(Query(form.statement_query()))).await.page(&v)
}

pub async fn statement_xlsx(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(form): Query<UsageForm>,
) -> PageResult {
    billing::statement_xlsx(State(state), auth, Ok(Query(form.statement_query()))).await.page(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_its_first_day_to_the_next_months() {
        let f = UsageForm { month: "2026-12".into(), by: "country".into() };
        let q = f.usage_query().unwrap();
        assert_eq!((q.since.as_deref(), q.until.as_deref()), (Some("2026-12-01"), Some("2027-01-01")));
        assert_eq!(q.group_by.as_deref(), Some("country"));
        let bad = UsageForm { month: "December".into(), by: String::new() };
        assert_eq!(bad.usage_query().err().unwrap().field.as_deref(), Some("month"));
        assert_eq!(UsageForm::default().month(), period_of(now_micros()));
    }
}
