//! Billing over the API: tariffs and their price lists, packages, each
//! account's balance, top-ups and ledger, price quotes, quotas, and the
//! usage reports and monthly statement.
//!
//! Tariffs, packages, accounts' tariffs and top-ups are the platform
//! operator's: only keys of the account named in `billing.operator_account`
//! may change them. Every account reads its own balance, ledger, prices and
//! reports. Amounts are decimal text in the currency's decimals (`"0.07"`)
//! next to integer minor units (`7`); more decimals than the currency has
//! are refused.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::exports::stream_response;
use crate::domain::{Currency, MessageText, PhoneNumber, Prefix, period_of};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{
    AccountBilling, AccountBillingWrite, LedgerEntry, PackageRecord, PackageWrite, PriceEntry, Subscription,
    TariffRecord, TariffWrite, UsageGroup, UsageRow, format_micros, now_micros,
};
use crate::transfer::{ChannelWriter, ExportCell, ExportFormat, PageWriter, XLSX_ROWS_PER_SHEET};

/// Price rows one request may carry (JSON or CSV).
pub const MAX_PRICE_ROWS: usize = 50_000;
/// Largest price-list body (JSON or CSV).
pub const MAX_PRICE_LIST_BYTES: usize = 8 * 1024 * 1024;
/// Longest tariff or package name.
const MAX_NAME_LEN: usize = 100;
/// Longest price description or ledger note.
const MAX_NOTE_LEN: usize = 500;

/// An amount: decimal text and minor units.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Amount {
    #[schema(example = "12.50")]
    pub amount: String,
    #[schema(example = 1250)]
    pub minor: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

fn amount(c: Currency, minor: i64) -> Amount {
    Amount::of(c, minor)
}

impl Amount {
    pub fn of(c: Currency, minor: i64) -> Self {
        Amount { amount: c.format(minor), minor, currency: c.code().to_owned() }
    }
}

/// Refuses the request unless it comes from the platform operator's account.
fn require_operator(auth: &Auth) -> Result<(), ApiError> {
    auth.require_operator("manages tariffs, packages and balances")
}

fn check_name(name: Option<String>) -> Result<String, ApiError> {
    let name = name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::field("name", format!("is required, at most {MAX_NAME_LEN} characters")));
    }
    Ok(name)
}

fn parse_amount(field: &str, c: Currency, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|r| c.parse_amount(r).map_err(|e| ApiError::field(field, e.to_string()))).transpose()
}

fn parse_currency(raw: Option<&str>) -> Result<Currency, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::field("currency", "is required (an ISO 4217 code such as EUR)"))?;
    Currency::parse(raw).map_err(|e| ApiError::field("currency", e.to_string()))
}

// ---- tariffs ----------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct TariffView {
    pub id: String,
    pub name: String,
    pub currency: String,
    /// For each received message.
    pub inbound_price: Amount,
    /// Per inbound number, each month.
    pub number_monthly_fee: Amount,
    /// How many prefixes have a price.
    pub prices: i64,
    /// How many accounts use it.
    pub accounts: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TariffRecord> for TariffView {
    fn from(t: TariffRecord) -> Self {
        Self {
            inbound_price: amount(t.currency, t.inbound_price),
            number_monthly_fee: amount(t.currency, t.number_monthly_fee),
            id: t.id,
            name: t.name,
            currency: t.currency.code().to_owned(),
            prices: t.prices,
            accounts: t.accounts,
            created_at: format_micros(t.created_at),
            updated_at: format_micros(t.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TariffList {
    pub tariffs: Vec<TariffView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffInput {
    #[schema(example = "Standard EUR")]
    pub name: Option<String>,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    #[schema(example = "0.01")]
    pub inbound_price: Option<String>,
    #[schema(example = "5.00")]
    pub number_monthly_fee: Option<String>,
    /// Prices to store with a new tariff.
    pub prices: Option<Vec<PriceInput>>,
}

fn tariff_write(input: &TariffInput, current: Option<&TariffRecord>) -> Result<TariffWrite, ApiError> {
    let name = match (&input.name, current) {
        (None, Some(t)) => t.name.clone(),
        (n, _) => check_name(n.clone())?,
    };
    let currency = match (&input.currency, current) {
        (None, Some(t)) => t.currency,
        (c, _) => parse_currency(c.as_deref())?,
    };
    let inbound = parse_amount("inbound_price", currency, input.inbound_price.as_deref())?;
    let fee = parse_amount("number_monthly_fee", currency, input.number_monthly_fee.as_deref())?;
    Ok(TariffWrite {
        name,
        currency,
        inbound_price: inbound.or(current.map(|t| t.inbound_price)).unwrap_or(0),
        number_monthly_fee: fee.or(current.map(|t| t.number_monthly_fee)).unwrap_or(0),
    })
}

async fn find_tariff(state: &AppState, id: &str) -> Result<TariffRecord, ApiError> {
    state.store.tariff(id).await?.ok_or_else(|| ApiError::not_found("tariff"))
}

/// Creates a tariff, optionally with its prices.
#[utoipa::path(post, path = "/api/v1/tariffs", tag = "billing", request_body = TariffInput,
    responses((status = 201, body = TariffView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_tariff(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<TariffInput>,
) -> Result<Response, ApiError> {
    require_operator(&auth)?;
    let input = body.value;
    let w = tariff_write(&input, None)?;
    let prices = input.prices.as_deref().map(|p| price_entries(w.currency, p)).transpose()?;
    let now = now_micros();
    let t = state.store.create_tariff(&w, now).await?;
    if let Some(prices) = prices {
        state.store.put_prices(&t.id, &prices, true, now).await?;
    }
    let t = find_tariff(&state, &t.id).await?;
    Ok((StatusCode::CREATED, Json(TariffView::from(t))).into_response())
}

#[utoipa::path(get, path = "/api/v1/tariffs", tag = "billing",
    responses((status = 200, body = TariffList), (status = 403, body = ErrorBody)))]
pub async fn list_tariffs(State(state): State<AppState>, auth: Auth) -> Result<Json<TariffList>, ApiError> {
    require_operator(&auth)?;
    let tariffs = state.store.list_tariffs().await?.into_iter().map(TariffView::from).collect();
    Ok(Json(TariffList { tariffs }))
}

/// A tariff, by id or name.
#[utoipa::path(get, path = "/api/v1/tariffs/{id}", tag = "billing",
    responses((status = 200, body = TariffView), (status = 404, body = ErrorBody)))]
pub async fn get_tariff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<TariffView>, ApiError> {
    require_operator(&auth)?;
    Ok(Json(find_tariff(&state, &id).await?.into()))
}

/// Changes a tariff's name, currency or fees (fields left out stay).
#[utoipa::path(patch, path = "/api/v1/tariffs/{id}", tag = "billing", request_body = TariffInput,
    responses((status = 200, body = TariffView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_tariff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<TariffInput>,
) -> Result<Json<TariffView>, ApiError> {
    require_operator(&auth)?;
    let current = find_tariff(&state, &id).await?;
    if body.value.prices.is_some() {
        return Err(ApiError::field("prices", "change prices through /api/v1/tariffs/{id}/prices"));
    }
    let w = tariff_write(&body.value, Some(&current))?;
    Ok(Json(state.store.update_tariff(&current.id, &w, now_micros()).await?.into()))
}

/// Deletes a tariff no account uses.
#[utoipa::path(delete, path = "/api/v1/tariffs/{id}", tag = "billing",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_tariff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_operator(&auth)?;
    let t = find_tariff(&state, &id).await?;
    state.store.delete_tariff(&t.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- prices -----------------------------------------------------------------

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Destination prefix, digits with or without `+`: `48`, `+4860`.
    #[schema(example = "48")]
    pub prefix: Option<String>,
    /// Per segment, in the tariff's currency.
    #[schema(example = "0.05")]
    pub price: Option<String>,
    #[schema(example = "Poland")]
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PriceView {
    pub prefix: String,
    pub price: Amount,
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PriceList {
    pub prices: Vec<PriceView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricesInput {
    pub prices: Vec<PriceInput>,
    /// Remove the tariff's other prices (default: add and change only).
    pub replace: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct PricesWritten {
    /// Rows added or changed.
    pub written: usize,
    pub tariff: TariffView,
}

fn price_entries(c: Currency, input: &[PriceInput]) -> Result<Vec<PriceEntry>, ApiError> {
    if input.len() > MAX_PRICE_ROWS {
        return Err(ApiError::field("prices", format!("at most {MAX_PRICE_ROWS} prices per request")));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(input.len());
    for (i, p) in input.iter().enumerate() {
        let entry = price_entry(c, p.prefix.as_deref(), p.price.as_deref(), p.description.as_deref())
            .map_err(|(field, message)| ApiError::field(format!("prices[{i}].{field}"), message))?;
        if !seen.insert(entry.prefix.clone()) {
            return Err(ApiError::field(
                format!("prices[{i}].prefix"),
                format!("prefix {} is listed twice", entry.prefix.as_str()),
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

/// One price row, or the field at fault and why.
fn price_entry(
    c: Currency,
    prefix: Option<&str>,
    price: Option<&str>,
    description: Option<&str>,
) -> Result<PriceEntry, (&'static str, String)> {
    let prefix = Prefix::parse(prefix.ok_or(("prefix", "is required".to_owned()))?)
        .map_err(|e| ("prefix", e.to_string()))?;
    let unit_price = c
        .parse_amount(price.ok_or(("price", "is required".to_owned()))?)
        .map_err(|e| ("price", e.to_string()))?;
    let description = description.map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_NOTE_LEN) {
        return Err(("description", format!("at most {MAX_NOTE_LEN} characters")));
    }
    Ok(PriceEntry { prefix, unit_price, description })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PricePage {
    /// The last prefix of the previous page.
    pub after: Option<String>,
    /// Default 500, at most 5000.
    pub limit: Option<usize>,
}

/// A tariff's prices in prefix order.
#[utoipa::path(get, path = "/api/v1/tariffs/{id}/prices", tag = "billing", params(PricePage),
    responses((status = 200, body = PriceList), (status = 404, body = ErrorBody)))]
pub async fn list_prices(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    query: Result<Query<PricePage>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PriceList>, ApiError> {
    require_operator(&auth)?;
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let t = find_tariff(&state, &id).await?;
    price_page(&state, &t, q).await.map(Json)
}

/// One page of a tariff's prices.
async fn price_page(state: &AppState, t: &TariffRecord, q: PricePage) -> Result<PriceList, ApiError> {
    let limit = q.limit.unwrap_or(500);
    if !(1..=5_000).contains(&limit) {
        return Err(ApiError::query("limit", "must be between 1 and 5000"));
    }
    let rows = state.store.list_prices(&t.id, q.after.as_deref(), limit).await?;
    let next = (rows.len() == limit).then(|| rows.last().map(|p| p.prefix.as_str().to_owned())).flatten();
    let prices = rows
        .into_iter()
        .map(|p| PriceView {
            prefix: p.prefix.as_str().to_owned(),
            price: amount(t.currency, p.unit_price),
            description: p.description,
        })
        .collect();
    Ok(PriceList { prices, next })
}

/// The calling account's own price list: its tariff's prices in prefix
/// order (empty when the account has no tariff and is not charged).
#[utoipa::path(get, path = "/api/v1/billing/prices", tag = "billing", params(PricePage),
    responses((status = 200, body = PriceList), (status = 400, body = ErrorBody)))]
pub async fn own_prices(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<PricePage>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PriceList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let b = find_account(&state, &auth.account_id).await?;
    match &b.tariff {
        Some(t) => price_page(&state, t, q).await.map(Json),
        None => Ok(Json(PriceList { prices: Vec::new(), next: None })),
    }
}

/// Adds or changes prices (with `replace`, the list becomes exactly these).
/// Every row is checked first; one bad row changes nothing.
#[utoipa::path(post, path = "/api/v1/tariffs/{id}/prices", tag = "billing", request_body = PricesInput,
    responses((status = 200, body = PricesWritten), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_prices(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<PricesInput>,
) -> Result<Json<PricesWritten>, ApiError> {
    require_operator(&auth)?;
    let t = find_tariff(&state, &id).await?;
    let entries = price_entries(t.currency, &body.value.prices)?;
    let written =
        state.store.put_prices(&t.id, &entries, body.value.replace == Some(true), now_micros()).await?;
    Ok(Json(PricesWritten { written, tariff: find_tariff(&state, &t.id).await?.into() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: the file becomes the whole price list.
    pub replace: Option<bool>,
}

/// Imports a price list as CSV (`prefix,price[,description]`, a header row
/// optional, `,` or `;` between fields). Every row is checked first: a bad
/// one is reported with its line and nothing changes.
#[utoipa::path(post, path = "/api/v1/tariffs/{id}/prices/import", tag = "billing", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = PricesWritten), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_prices(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<Json<PricesWritten>, ApiError> {
    require_operator(&auth)?;
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let t = find_tariff(&state, &id).await?;
    let entries = read_price_csv(t.currency, &body)?;
    let written = state.store.put_prices(&t.id, &entries, q.replace == Some(true), now_micros()).await?;
    Ok(Json(PricesWritten { written, tariff: find_tariff(&state, &t.id).await?.into() }))
}

/// Reads a CSV price list; errors name the line.
pub(crate) fn read_price_csv(c: Currency, bytes: &[u8]) -> Result<Vec<PriceEntry>, ApiError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| ApiError::field("file", "the price list must be UTF-8 text"))?;
    let delimiter =
        if text.lines().next().is_some_and(|l| l.contains(';') && !l.contains(',')) { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| ApiError::field(format!("line {line}"), e.to_string()))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if line == 1 && record.get(0).is_some_and(|f| f.eq_ignore_ascii_case("prefix")) {
            continue;
        }
        if record.len() < 2 || record.len() > 3 {
            return Err(ApiError::field(
                format!("line {line}"),
                format!("expected prefix,price[,description]; found {} fields", record.len()),
            ));
        }
        let entry = price_entry(c, record.get(0), record.get(1), record.get(2))
            .map_err(|(field, message)| ApiError::field(format!("line {line}: {field}"), message))?;
        if !seen.insert(entry.prefix.clone()) {
            return Err(ApiError::field(
                format!("line {line}: prefix"),
                format!("prefix {} is listed twice", entry.prefix.as_str()),
            ));
        }
        out.push(entry);
        if out.len() > MAX_PRICE_ROWS {
            return Err(ApiError::field("file", format!("at most {MAX_PRICE_ROWS} prices per file")));
        }
    }
    if out.is_empty() {
        return Err(ApiError::field("file", "the price list has no rows"));
    }
    Ok(out)
}

/// Removes one prefix's price.
#[utoipa::path(delete, path = "/api/v1/tariffs/{id}/prices/{prefix}", tag = "billing",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_price(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, prefix)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_operator(&auth)?;
    let t = find_tariff(&state, &id).await?;
    let prefix = Prefix::parse(&prefix).map_err(|_| ApiError::not_found("price"))?;
    if state.store.delete_price(&t.id, &prefix).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("price"))
    }
}

// ---- packages ---------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct PackageView {
    pub id: String,
    pub name: String,
    pub currency: String,
    /// Segments included each month.
    pub included_messages: i64,
    /// Per segment past the included ones.
    pub overage_price: Amount,
    pub monthly_fee: Amount,
    pub created_at: String,
}

impl From<PackageRecord> for PackageView {
    fn from(p: PackageRecord) -> Self {
        Self {
            overage_price: amount(p.currency, p.overage_price),
            monthly_fee: amount(p.currency, p.monthly_fee),
            id: p.id,
            name: p.name,
            currency: p.currency.code().to_owned(),
            included_messages: p.included_messages,
            created_at: format_micros(p.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PackageList {
    pub packages: Vec<PackageView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageInput {
    #[schema(example = "Business 1000")]
    pub name: Option<String>,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    #[schema(example = 1000)]
    pub included_messages: Option<i64>,
    #[schema(example = "0.04")]
    pub overage_price: Option<String>,
    #[schema(example = "30.00")]
    pub monthly_fee: Option<String>,
}

/// Defines a monthly package.
#[utoipa::path(post, path = "/api/v1/packages", tag = "billing", request_body = PackageInput,
    responses((status = 201, body = PackageView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_package(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<PackageInput>,
) -> Result<Response, ApiError> {
    require_operator(&auth)?;
    let input = body.value;
    let name = check_name(input.name)?;
    let currency = parse_currency(input.currency.as_deref())?;
    let included =
        input.included_messages.ok_or_else(|| ApiError::field("included_messages", "is required"))?;
    if !(0..=1_000_000_000).contains(&included) {
        return Err(ApiError::field("included_messages", "must be between 0 and 1000000000"));
    }
    let overage = parse_amount("overage_price", currency, input.overage_price.as_deref())?
        .ok_or_else(|| ApiError::field("overage_price", "is required"))?;
    let fee = parse_amount("monthly_fee", currency, input.monthly_fee.as_deref())?.unwrap_or(0);
    let w = PackageWrite {
        name,
        currency,
        included_messages: included,
        overage_price: overage,
        monthly_fee: fee,
    };
    let p = state.store.create_package(&w, now_micros()).await?;
    Ok((StatusCode::CREATED, Json(PackageView::from(p))).into_response())
}

#[utoipa::path(get, path = "/api/v1/packages", tag = "billing", responses((status = 200, body = PackageList)))]
pub async fn list_packages(State(state): State<AppState>, auth: Auth) -> Result<Json<PackageList>, ApiError> {
    require_operator(&auth)?;
    let packages = state.store.list_packages().await?.into_iter().map(PackageView::from).collect();
    Ok(Json(PackageList { packages }))
}

// ---- accounts (operator) ----------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct PackageUseView {
    /// The month, `YYYY-MM` (UTC).
    pub period: String,
    /// Segments included this month by all packages together.
    pub included: i64,
    pub used: i64,
    pub remaining: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub package: PackageView,
    pub first_period: String,
    /// Set when canceled: the last month it counts in.
    pub last_period: Option<String>,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        Self { id: s.id, package: s.package.into(), first_period: s.first_period, last_period: s.last_period }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BillingView {
    pub account_id: String,
    pub account: String,
    /// False without a tariff: messages are not charged.
    pub charged: bool,
    pub tariff: Option<TariffView>,
    /// Available to spend.
    pub balance: Option<Amount>,
    /// Taken for messages not submitted yet.
    pub reserved: Option<Amount>,
    /// Fees the balance could not pay; the next top-up pays them first.
    pub owed: Option<Amount>,
    pub low_balance_threshold: Option<Amount>,
    pub alert_email: Option<String>,
    pub packages: Vec<SubscriptionView>,
    pub package_use: Option<PackageUseView>,
}

pub(crate) async fn billing_view(state: &AppState, b: AccountBilling) -> Result<BillingView, ApiError> {
    let period = period_of(now_micros());
    let packages: Vec<SubscriptionView> =
        state.store.subscriptions(&b.account_id).await?.into_iter().map(SubscriptionView::from).collect();
    let package_use = if packages.is_empty() {
        None
    } else {
        let u = state.store.package_use(&b.account_id, &period).await?;
        Some(PackageUseView {
            remaining: (u.included - u.used).max(0),
            period: u.period,
            included: u.included,
            used: u.used,
        })
    };
    let c = b.tariff.as_ref().map(|t| t.currency);
    Ok(BillingView {
        account_id: b.account_id,
        account: b.account_name,
        charged: b.tariff.is_some(),
        balance: c.map(|c| amount(c, b.balance)),
        reserved: c.map(|c| amount(c, b.reserved)),
        owed: c.map(|c| amount(c, b.owed)),
        low_balance_threshold: c.zip(b.low_balance_threshold).map(|(c, t)| amount(c, t)),
        alert_email: b.alert_email,
        tariff: b.tariff.map(TariffView::from),
        packages,
        package_use,
    })
}

async fn find_account(state: &AppState, account: &str) -> Result<AccountBilling, ApiError> {
    state.store.account_billing(account).await?.ok_or_else(|| ApiError::not_found("account"))
}

/// The calling account's billing: tariff, balance, packages and their use.
#[utoipa::path(get, path = "/api/v1/billing", tag = "billing", responses((status = 200, body = BillingView)))]
pub async fn get_own_billing(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<BillingView>, ApiError> {
    let b = find_account(&state, &auth.account_id).await?;
    Ok(Json(billing_view(&state, b).await?))
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<BillingView>,
}

/// Every account with its billing (operator).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "billing",
    responses((status = 200, body = AccountList), (status = 403, body = ErrorBody)))]
pub async fn list_accounts(State(state): State<AppState>, auth: Auth) -> Result<Json<AccountList>, ApiError> {
    require_operator(&auth)?;
    let mut accounts = Vec::new();
    for b in state.store.list_account_billing().await? {
        accounts.push(billing_view(&state, b).await?);
    }
    Ok(Json(AccountList { accounts }))
}

/// An account's billing, by id or name (operator).
#[utoipa::path(get, path = "/api/v1/accounts/{account}/billing", tag = "billing",
    responses((status = 200, body = BillingView), (status = 404, body = ErrorBody)))]
pub async fn get_account_billing(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<String>,
) -> Result<Json<BillingView>, ApiError> {
    require_operator(&auth)?;
    let b = find_account(&state, &account).await?;
    Ok(Json(billing_view(&state, b).await?))
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBillingInput {
    /// A tariff id or name; `null` stops charging the account.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub tariff: Option<Option<String>>,
    /// Below this balance an alert is sent (once per crossing); `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub low_balance_threshold: Option<Option<String>>,
    /// Where low-balance alerts go; `null`: nowhere.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub alert_email: Option<Option<String>>,
}

/// Sets an account's tariff, alert threshold and alert address (operator).
#[utoipa::path(patch, path = "/api/v1/accounts/{account}/billing", tag = "billing", request_body = AccountBillingInput,
    responses((status = 200, body = BillingView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_account_billing(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<String>,
    body: JsonBody<AccountBillingInput>,
) -> Result<Json<BillingView>, ApiError> {
    require_operator(&auth)?;
    let b = find_account(&state, &account).await?;
    let input = body.value;
    let mut w = AccountBillingWrite::default();
    let mut currency = b.tariff.as_ref().map(|t| t.currency);
    if let Some(tariff) = input.tariff {
        w.tariff_id = Some(match tariff {
            Some(name) => {
                let t = state
                    .store
                    .tariff(&name)
                    .await?
                    .ok_or_else(|| ApiError::field("tariff", format!("no tariff '{name}'")))?;
                currency = Some(t.currency);
                Some(t.id)
            }
            None => None,
        });
    }
    if let Some(threshold) = input.low_balance_threshold {
        w.low_balance_threshold = Some(match threshold {
            Some(raw) => {
                let c = currency.ok_or_else(|| {
                    ApiError::field("low_balance_threshold", "the account has no tariff (no currency)")
                })?;
                Some(
                    c.parse_amount(&raw)
                        .map_err(|e| ApiError::field("low_balance_threshold", e.to_string()))?,
                )
            }
            None => None,
        });
    }
    if let Some(email) = input.alert_email {
        w.alert_email = Some(match email {
            Some(e) => {
                let parsed = crate::storage::Email::parse(&e)
                    .map_err(|err| ApiError::field("alert_email", err.to_string()))?;
                Some(parsed.as_str().to_owned())
            }
            None => None,
        });
    }
    state.store.set_account_billing(&b.account_id, &w, now_micros()).await?;
    let b = find_account(&state, &b.account_id).await?;
    Ok(Json(billing_view(&state, b).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpInput {
    /// Positive adds money; negative (an adjustment) takes it back.
    #[schema(example = "50.00")]
    pub amount: Option<String>,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerView {
    pub id: String,
    /// `top_up`, `adjustment`, `package_fee`, `number_fee`.
    pub kind: String,
    pub amount: Amount,
    pub balance_after: Amount,
    pub note: Option<String>,
    /// The API key that made it.
    pub created_by: Option<String>,
    pub period: Option<String>,
    pub created_at: String,
}

fn ledger_view(e: LedgerEntry) -> LedgerView {
    let c = Currency::parse(&e.currency).ok();
    let a = |minor: i64| match c {
        Some(c) => amount(c, minor),
        None => Amount { amount: minor.to_string(), minor, currency: e.currency.clone() },
    };
    LedgerView {
        amount: a(e.amount),
        balance_after: a(e.balance_after),
        id: e.id,
        kind: e.kind,
        note: e.note,
        created_by: e.created_by,
        period: e.period,
        created_at: format_micros(e.created_at),
    }
}

/// Adds money to an account (operator); recorded in its ledger.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/top-ups", tag = "billing", request_body = TopUpInput,
    responses((status = 201, body = LedgerView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn top_up(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<String>,
    body: JsonBody<TopUpInput>,
) -> Result<Response, ApiError> {
    require_operator(&auth)?;
    let b = find_account(&state, &account).await?;
    let c = b.tariff.as_ref().map(|t| t.currency).ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "conflict", "the account has no tariff; give it one first")
    })?;
    let raw = body.value.amount.ok_or_else(|| ApiError::field("amount", "is required"))?;
    let minor = c.parse_signed_amount(&raw).map_err(|e| ApiError::field("amount", e.to_string()))?;
    if minor == 0 {
        return Err(ApiError::field("amount", "must not be zero"));
    }
    let note = body.value.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_LEN) {
        return Err(ApiError::field("note", format!("at most {MAX_NOTE_LEN} characters")));
    }
    let entry = state
        .store
        .top_up(&b.account_id, minor, note.as_deref(), auth.key_id.as_deref(), now_micros())
        .await?;
    Ok((StatusCode::CREATED, Json(ledger_view(entry))).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct LedgerList {
    pub entries: Vec<LedgerView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

async fn ledger_list(state: &AppState, account_id: &str, q: LedgerQuery) -> Result<LedgerList, ApiError> {
    let limit = super::paging::limit(q.limit)?;
    let cursor = super::paging::cursor(q.cursor)?;
    let rows = state.store.ledger(account_id, cursor.as_deref(), limit).await?;
    let next_cursor = (rows.len() == limit).then(|| rows.last().map(|e| e.id.clone())).flatten();
    Ok(LedgerList { entries: rows.into_iter().map(ledger_view).collect(), next_cursor })
}

/// The calling account's ledger, newest first.
#[utoipa::path(get, path = "/api/v1/billing/ledger", tag = "billing", params(LedgerQuery),
    responses((status = 200, body = LedgerList)))]
pub async fn own_ledger(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    Ok(Json(ledger_list(&state, &auth.account_id, q).await?))
}

/// An account's ledger (operator).
#[utoipa::path(get, path = "/api/v1/accounts/{account}/ledger", tag = "billing", params(LedgerQuery),
    responses((status = 200, body = LedgerList), (status = 404, body = ErrorBody)))]
pub async fn account_ledger(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<String>,
    query: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerList>, ApiError> {
    require_operator(&auth)?;
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let b = find_account(&state, &account).await?;
    Ok(Json(ledger_list(&state, &b.account_id, q).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeInput {
    /// A package id or name.
    pub package: Option<String>,
}

/// Subscribes an account to a package from this month on (operator); the
/// first month's fee is charged at once.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packages", tag = "billing", request_body = SubscribeInput,
    responses((status = 201, body = SubscriptionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn subscribe(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<String>,
    body: JsonBody<SubscribeInput>,
) -> Result<Response, ApiError> {
    require_operator(&auth)?;
    let b = find_account(&state, &account).await?;
    let name = body.value.package.ok_or_else(|| ApiError::field("package", "is required"))?;
    let p = state
        .store
        .package(&name)
        .await?
        .ok_or_else(|| ApiError::field("package", format!("no package '{name}'")))?;
    let s = state.store.subscribe(&b.account_id, &p.id, now_micros()).await?;
    Ok((StatusCode::CREATED, Json(SubscriptionView::from(s))).into_response())
}

/// Ends a subscription with the current month (operator).
#[utoipa::path(delete, path = "/api/v1/accounts/{account}/packages/{id}", tag = "billing",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_operator(&auth)?;
    let b = find_account(&state, &account).await?;
    if state.store.unsubscribe(&b.account_id, &id, now_micros()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("subscription"))
    }
}

// ---- quotes and quotas ------------------------------------------------------

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuoteQuery {
    /// The recipient.
    pub to: Option<String>,
    /// The text (its segments are counted as it would be sent, so
    /// transliterated when the account transliterates); default one segment.
    pub text: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct QuoteView {
    /// False when the account is not charged (no tariff): sending is free.
    pub charged: bool,
    pub segments: i64,
    pub encoding: String,
    /// The matching price-list prefix.
    pub prefix: Option<String>,
    pub country: Option<String>,
    pub unit_price: Option<Amount>,
    /// Segments covered by this month's packages.
    pub included: i64,
    pub price: Option<Amount>,
}

/// What sending a text to a number costs the calling account now.
#[utoipa::path(get, path = "/api/v1/billing/price", tag = "billing", params(QuoteQuery),
    responses((status = 200, body = QuoteView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn quote(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<QuoteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<QuoteView>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let to = q.to.ok_or_else(|| ApiError::query("to", "is required"))?;
    let to = PhoneNumber::parse(&to, state.region).map_err(|e| ApiError::query("to", e.to_string()))?;
    // Counted as it would be sent: transliterated if the account says so.
    let text = MessageText::to_send(
        q.text.as_deref().unwrap_or("x"),
        auth.transliterate,
        state.config.messages.max_segments,
    )
    .map_err(|e| ApiError::query("text", e.to_string()))?;
    Ok(Json(quote_view(&state, &auth.account_id, &to, &text).await?))
}

/// The price of `segments` to `to` for an account, for a preview: `None`
/// when it is not charged; a refusal (no price) as its message.
pub(crate) async fn price_of(
    state: &AppState,
    account_id: &str,
    to: &PhoneNumber,
    segments: i64,
) -> Result<(Option<Amount>, Option<String>), ApiError> {
    Ok(match state.store.price(account_id, to, segments, now_micros()).await? {
        None => (None, None),
        Some(Ok(q)) => (Some(amount(q.currency, q.amount)), None),
        Some(Err(refusal)) => (None, Some(refusal.to_string())),
    })
}

pub(crate) async fn quote_view(
    state: &AppState,
    account_id: &str,
    to: &PhoneNumber,
    text: &MessageText,
) -> Result<QuoteView, ApiError> {
    let segments = text.segments() as i64;
    let mut view = QuoteView {
        charged: false,
        segments,
        encoding: text.encoding_name().to_owned(),
        prefix: None,
        country: to.country(),
        unit_price: None,
        included: 0,
        price: None,
    };
    match state.store.price(account_id, to, segments, now_micros()).await? {
        None => {}
        Some(Err(refusal)) => return Err(refusal.into()),
        Some(Ok(q)) => {
            view.charged = true;
            view.prefix = Some(q.prefix);
            view.unit_price = Some(amount(q.currency, q.unit_price));
            view.included = q.included;
            view.price = Some(amount(q.currency, q.amount));
        }
    }
    Ok(view)
}

#[derive(Serialize, ToSchema)]
pub struct QuotaView {
    pub user_id: String,
    /// Segments a month; absent: no limit.
    pub monthly_segments: Option<i64>,
    /// Used this month.
    pub used: i64,
}

#[derive(Serialize, ToSchema)]
pub struct QuotaList {
    pub period: String,
    pub users: Vec<QuotaView>,
}

/// The account's users with their monthly quota and this month's use.
#[utoipa::path(get, path = "/api/v1/billing/quotas", tag = "billing", responses((status = 200, body = QuotaList)))]
pub async fn list_quotas(State(state): State<AppState>, auth: Auth) -> Result<Json<QuotaList>, ApiError> {
    let period = period_of(now_micros());
    let users = state
        .store
        .quotas(&auth.account_id, &period)
        .await?
        .into_iter()
        .map(|(user_id, monthly_segments, used)| QuotaView { user_id, monthly_segments, used })
        .collect();
    Ok(Json(QuotaList { period, users }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaInput {
    /// Segments a month; `null` removes the limit.
    pub monthly_segments: Option<i64>,
}

/// Sets or removes a user's monthly quota (messages of charged accounts).
#[utoipa::path(put, path = "/api/v1/billing/quotas/{user_id}", tag = "billing", request_body = QuotaInput,
    responses((status = 200, body = QuotaList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_quota(
    State(state): State<AppState>,
    auth: Auth,
    Path(user_id): Path<String>,
    body: JsonBody<QuotaInput>,
) -> Result<Json<QuotaList>, ApiError> {
    let user =
        state.store.user(&auth.account_id, &user_id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    super::users::require_owner_for_role(&auth, user.role, "act on an owner's keys or quota")?;
    if let Some(n) = body.value.monthly_segments
        && !(0..=1_000_000_000).contains(&n)
    {
        return Err(ApiError::field("monthly_segments", "must be between 0 and 1000000000, or null"));
    }
    state.store.set_quota(&auth.account_id, &user_id, body.value.monthly_segments).await?;
    list_quotas(State(state), auth).await
}

// ---- reports ----------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `day` (default), `user`, `country` or `account` (operator: every account).
    pub group_by: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD`; default: the start of this month.
    pub since: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` (exclusive); default: now.
    pub until: Option<String>,
    /// Operator: report on this account (id or name) instead of its own.
    pub account: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageLine {
    /// The day, user id, country or account name.
    pub key: String,
    pub messages: i64,
    pub segments: i64,
    /// Segments covered by packages.
    pub included: i64,
    pub cost: Amount,
}

#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    pub group_by: String,
    pub since: String,
    pub until: String,
    pub lines: Vec<UsageLine>,
}

fn parse_day_or_time(field: &str, raw: &str) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_micros())
        .ok_or_else(|| {
            ApiError::query(field, "must be RFC 3339 (2026-11-01T00:00:00Z) or a day (2026-11-01)")
        })
}

/// The first microsecond of month `YYYY-MM` and of the month after it.
pub(crate) fn month_bounds(month: &str) -> Option<(i64, i64)> {
    let start = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    if format!("{}", start.format("%Y-%m")) != month {
        return None;
    }
    let next = start.checked_add_months(chrono::Months::new(1))?;
    let micros = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros());
    Some((micros(start)?, micros(next)?))
}

fn usage_line(r: UsageRow) -> UsageLine {
    let cost = match Currency::parse(&r.currency) {
        Ok(c) => amount(c, r.amount),
        Err(_) => Amount { amount: r.amount.to_string(), minor: r.amount, currency: r.currency.clone() },
    };
    UsageLine { key: r.key, messages: r.messages, segments: r.segments, included: r.included, cost }
}

/// Which account a report is on: the caller's, or for the operator any
/// (`None`: every account).
async fn report_account(
    state: &AppState,
    auth: &Auth,
    asked: Option<&str>,
    all: bool,
) -> Result<Option<String>, ApiError> {
    match asked {
        None if all => {
            require_operator(auth)?;
            Ok(None)
        }
        None => Ok(Some(auth.account_id.clone())),
        Some(a) => {
            require_operator(auth)?;
            Ok(Some(find_account(state, a).await?.account_id))
        }
    }
}

/// Charged use and cost, grouped by day, user, destination country or account.
#[utoipa::path(get, path = "/api/v1/reports/usage", tag = "billing", params(UsageQuery),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody)))]
pub async fn usage_report(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsageReport>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let group_name = q.group_by.as_deref().unwrap_or("day");
    let group = match group_name {
        "day" => UsageGroup::Day,
        "user" => UsageGroup::User,
        "country" => UsageGroup::Country,
        "account" => UsageGroup::Account,
        _ => return Err(ApiError::query("group_by", "must be day, user, country or account")),
    };
    let now = now_micros();
    let since = match q.since.as_deref() {
        Some(s) => parse_day_or_time("since", s)?,
        None => month_bounds(&period_of(now)).map_or(0, |(s, _)| s),
    };
    let until = q.until.as_deref().map(|u| parse_day_or_time("until", u)).transpose()?.unwrap_or(now + 1);
    if until <= since {
        return Err(ApiError::query("until", "must be after since"));
    }
    let account = report_account(&state, &auth, q.account.as_deref(), group == UsageGroup::Account).await?;
    let rows = state.store.usage(account.as_deref(), group, since, until).await?;
    Ok(Json(UsageReport {
        group_by: group_name.to_owned(),
        since: format_micros(since),
        until: format_micros(until),
        lines: rows.into_iter().map(usage_line).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// `YYYY-MM`; default: this month.
    pub month: Option<String>,
    /// Operator: another account (id or name).
    pub account: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatementView {
    pub account: String,
    pub month: String,
    pub currency: Option<String>,
    /// Messages charged (refunded ones are not counted).
    pub messages: i64,
    pub segments: i64,
    pub included: i64,
    pub messages_cost: Option<Amount>,
    /// Top-ups, adjustments and fees of the month.
    pub ledger: Vec<LedgerView>,
    pub by_country: Vec<UsageLine>,
    pub by_day: Vec<UsageLine>,
}

async fn statement_input(
    state: &AppState,
    auth: &Auth,
    q: StatementQuery,
) -> Result<(AccountBilling, String, i64, i64), ApiError> {
    let month = q.month.unwrap_or_else(|| period_of(now_micros()));
    let (since, until) =
        month_bounds(&month).ok_or_else(|| ApiError::query("month", "must be a month, YYYY-MM"))?;
    let account = report_account(state, auth, q.account.as_deref(), false).await?.unwrap_or_default();
    let b = find_account(state, &account).await?;
    Ok((b, month, since, until))
}

/// The monthly statement: totals, fees and top-ups, use by country and day.
#[utoipa::path(get, path = "/api/v1/reports/statement", tag = "billing", params(StatementQuery),
    responses((status = 200, body = StatementView), (status = 400, body = ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<StatementQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatementView>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let (b, month, since, until) = statement_input(&state, &auth, q).await?;
    let by_country = state.store.usage(Some(&b.account_id), UsageGroup::Country, since, until).await?;
    let by_day = state.store.usage(Some(&b.account_id), UsageGroup::Day, since, until).await?;
    let c = b.tariff.as_ref().map(|t| t.currency);
    let (messages, segments, included, cost) = by_day
        .iter()
        .filter(|r| c.is_none_or(|c| c.code() == r.currency))
        .fold((0, 0, 0, 0), |t, r| (t.0 + r.messages, t.1 + r.segments, t.2 + r.included, t.3 + r.amount));
    let ledger = state.store.ledger_of_period(&b.account_id, since, until).await?;
    Ok(Json(StatementView {
        account: b.account_name,
        month,
        currency: c.map(|c| c.code().to_owned()),
        messages,
        segments,
        included,
        messages_cost: c.map(|c| amount(c, cost)),
        ledger: ledger.into_iter().map(ledger_view).collect(),
        by_country: by_country.into_iter().map(usage_line).collect(),
        by_day: by_day.into_iter().map(usage_line).collect(),
    }))
}

/// Rows of a statement file read per query.
const STATEMENT_PAGE: usize = 5_000;

/// A statement file's columns.
const STATEMENT_COLUMNS: [&str; 14] = [
    "time",
    "kind",
    "message_id",
    "direction",
    "to",
    "from",
    "country",
    "segments",
    "included",
    "unit_price",
    "amount",
    "state",
    "user",
    "note",
];

async fn statement_file(
    state: AppState,
    auth: Auth,
    q: StatementQuery,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let (b, month, since, until) = statement_input(&state, &auth, q).await?;
    let c = b.tariff.as_ref().map(|t| t.currency);
    let money = move |minor: i64| match c {
        Some(c) => ExportCell::Text(c.format(minor)),
        None => ExportCell::Number(minor as f64),
    };
    let header = STATEMENT_COLUMNS.map(str::to_owned).to_vec();
    let name = format!("statement-{}-{month}", b.account_name);
    let store = state.store.clone();
    // The month's ledger (top-ups and fees, a few lines), then its charged
    // messages a page at a time, each written before the next is read.
    let write = move |out: ChannelWriter| async move {
        let mut writer = PageWriter::start(format, out, header, XLSX_ROWS_PER_SHEET);
        let ledger = store.ledger_of_period(&b.account_id, since, until).await?;
        let rows = ledger
            .into_iter()
            .map(|e| {
                let mut row: Vec<ExportCell> = vec![format_micros(e.created_at).into(), e.kind.into()];
                row.extend(std::iter::repeat_n(ExportCell::Empty, 8));
                row.extend([money(e.amount), ExportCell::Empty, ExportCell::Empty, e.note.into()]);
                row
            })
            .collect();
        let mut going = writer.page(rows).await;
        let mut after: Option<(i64, String)> = None;
        while going {
            let last = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let page = store.charges_of_period(&b.account_id, since, until, last, STATEMENT_PAGE).await?;
            let full = page.len() == STATEMENT_PAGE;
            after = page.last().map(|l| (l.at, l.message_id.clone()));
            let rows = page
                .into_iter()
                .map(|l| {
                    vec![
                        format_micros(l.at).into(),
                        "message".to_owned().into(),
                        l.message_id.into(),
                        l.direction.into(),
                        l.to.into(),
                        l.from.into(),
                        l.country.into(),
                        ExportCell::Number(l.segments as f64),
                        ExportCell::Number(l.included as f64),
                        money(l.unit_price),
                        money(l.amount),
                        l.state.into(),
                        l.user_id.into(),
                        ExportCell::Empty,
                    ]
                })
                .collect();
            going = writer.page(rows).await && full;
        }
        writer.finish().await
    };
    Ok(stream_response(format, &name, write))
}

/// The monthly statement as CSV: ledger entries, then every charged message.
#[utoipa::path(get, path = "/api/v1/reports/statement.csv", tag = "billing", params(StatementQuery),
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn statement_csv(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<StatementQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    statement_file(state, auth, q, ExportFormat::Csv).await
}

/// The monthly statement as XLSX.
#[utoipa::path(get, path = "/api/v1/reports/statement.xlsx", tag = "billing", params(StatementQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)))]
pub async fn statement_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<StatementQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    statement_file(state, auth, q, ExportFormat::Xlsx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_price_lists_are_read_with_or_without_a_header() {
        let eur = Currency::parse("EUR").unwrap();
        let rows = read_price_csv(eur, b"prefix,price,description\n48,0.05,Poland\n+4860,0.04\n\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].prefix.as_str(), rows[0].unit_price), ("48", 5));
        assert_eq!(rows[0].description.as_deref(), Some("Poland"));
        assert_eq!((rows[1].prefix.as_str(), rows[1].unit_price), ("4860", 4));
        let rows = read_price_csv(eur, b"49;0.07;Germany\n").unwrap();
        assert_eq!(rows[0].unit_price, 7);
    }

    #[test]
    fn bad_csv_rows_are_named_by_line() {
        let eur = Currency::parse("EUR").unwrap();
        let cases: &[(&[u8], &str)] = &[
            (b"48,0.055\n", "line 1: price"),
            (b"prefix,price\n48,0.05\nabc,0.05\n", "line 3: prefix"),
            (b"48\n", "line 1"),
            (b"48,0.05\n48,0.06\n", "line 2: prefix"),
            (b"", "file"),
        ];
        for (input, field) in cases {
            let e = read_price_csv(eur, input).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(*field), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn months_have_bounds() {
        let (s, e) = month_bounds("2026-12").unwrap();
        assert_eq!(format_micros(s), "2026-12-01T00:00:00.000Z");
        assert_eq!(format_micros(e), "2027-01-01T00:00:00.000Z");
        assert!(month_bounds("2026-13").is_none());
        assert!(month_bounds("2026-1").is_none());
    }
}
