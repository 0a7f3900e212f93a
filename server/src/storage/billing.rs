//! Billing: tariffs and their price lists, each account's prepaid balance,
//! the charge of every billed message, packages, quotas and the ledger.
//!
//! Money moves only inside the transactions that change what it pays for:
//! a message's cost is reserved in the transaction that stores it
//! ([`reserve`], called by `messages::insert_messages` and the intake),
//! settled when it is submitted and refunded when it is rejected, fails or
//! is canceled ([`apply_transitions`], called where every status change is
//! recorded). Each of these first locks the account's `account_billing` row
//! (an `UPDATE` that changes nothing), so concurrent senders of one account
//! take turns and the balance, guarded by a conditional `UPDATE` and a
//! `CHECK`, never goes below zero. Accounts without a tariff are not
//! charged at all. Deciding what to answer a client is `http`'s business;
//! the e-mail of a low-balance alert is `billing/`'s.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::messages::NewMessage;
use super::sql::Sql;
use super::{Dialect, Store};
use crate::domain::{Currency, PhoneNumber, Prefix, new_id, period_of};

/// Values bound per generated statement at most.
const CHUNK: usize = 400;

/// Why a campaign recipient got no message when the account's tariff has
/// no price for their number (a run's `errors`).
pub const NO_PRICE_REASON: &str = "the account's tariff has no price for the number";

/// Why a send was refused for money (nothing was stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeRefusal {
    #[error("insufficient balance: this costs {needed} {currency}, the balance is {available} {currency}")]
    InsufficientBalance { needed: String, available: String, currency: String },
    /// The numbers (E.164) the tariff has no price for, each once.
    #[error("the account's tariff has no price for {}", .to.join(", "))]
    NoPrice { to: Vec<String> },
    #[error("the monthly quota of this user is {limit} segments; {used} are used and this needs {wanted}")]
    QuotaExceeded { limit: i64, used: i64, wanted: i64 },
}

/// Failures of billing administration that callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("a {0} with this name exists already")]
    NameTaken(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Who made a message: the user and API key, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub user_id: Option<String>,
    pub api_key_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TariffRecord {
    pub id: String,
    pub name: String,
    pub currency: Currency,
    pub inbound_price: i64,
    pub number_monthly_fee: i64,
    pub prices: i64,
    pub accounts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tariff's own fields, validated by the caller.
#[derive(Debug, Clone)]
pub struct TariffWrite {
    pub name: String,
    pub currency: Currency,
    pub inbound_price: i64,
    pub number_monthly_fee: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry {
    pub prefix: Prefix,
    /// Per segment, minor units.
    pub unit_price: i64,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AccountBilling {
    pub account_id: String,
    pub account_name: String,
    pub tariff: Option<TariffRecord>,
    pub balance: i64,
    pub reserved: i64,
    pub owed: i64,
    pub low_balance_threshold: Option<i64>,
    pub low_balance_alerted: bool,
    pub alert_email: Option<String>,
}

/// Changes to an account's billing settings; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AccountBillingWrite {
    /// `Some(None)` takes the tariff away (the account is no longer charged).
    pub tariff_id: Option<Option<String>>,
    pub low_balance_threshold: Option<Option<i64>>,
    pub alert_email: Option<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub id: String,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub note: Option<String>,
    pub created_by: Option<String>,
    pub period: Option<String>,
    pub reference: Option<String>,
    pub created_at: i64,
}

/// What sending to one number costs under an account's tariff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub currency: Currency,
    pub prefix: String,
    pub country: String,
    pub segments: i64,
    /// Segments covered by the period's packages.
    pub included: i64,
    pub unit_price: i64,
    pub amount: i64,
}

#[derive(Debug, Clone)]
pub struct PackageRecord {
    pub id: String,
    pub name: String,
    pub currency: Currency,
    pub included_messages: i64,
    pub overage_price: i64,
    pub monthly_fee: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct PackageWrite {
    pub name: String,
    pub currency: Currency,
    pub included_messages: i64,
    pub overage_price: i64,
    pub monthly_fee: i64,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub package: PackageRecord,
    pub first_period: String,
    pub last_period: Option<String>,
    pub created_at: i64,
}

/// An account's packages in one period: what is included and used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageUse {
    pub period: String,
    pub included: i64,
    pub used: i64,
    /// Per segment past the included ones (the cheapest package's).
    pub overage_price: Option<i64>,
}

/// A low-balance alert waiting to be sent.
#[derive(Debug, Clone)]
pub struct AlertJob {
    pub id: String,
    pub account_id: String,
    pub account_name: String,
    pub balance: i64,
    pub threshold: i64,
    pub currency: Currency,
    pub email: Option<String>,
    pub attempts: i64,
}

/// One row of a usage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub key: String,
    pub messages: i64,
    pub segments: i64,
    pub included: i64,
    pub amount: i64,
    pub currency: String,
}

/// What a usage report is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Account,
    User,
    Day,
    Country,
}

const TARIFF_COLUMNS: &str = "t.id, t.name, t.currency, t.inbound_price, t.number_monthly_fee, t.created_at, \
    t.updated_at, (SELECT COUNT(*) FROM tariff_prices p WHERE p.tariff_id = t.id), \
    (SELECT COUNT(*) FROM account_billing b WHERE b.tariff_id = t.id)";

fn tariff_from_row(r: &AnyRow) -> sqlx::Result<TariffRecord> {
    Ok(TariffRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        currency: currency_of(r.try_get::<String, _>(2)?)?,
        inbound_price: r.try_get(3)?,
        number_monthly_fee: r.try_get(4)?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
        prices: r.try_get(7)?,
        accounts: r.try_get(8)?,
    })
}

fn currency_of(code: String) -> sqlx::Result<Currency> {
    Currency::parse(&code).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

const PACKAGE_COLUMNS: &str =
    "p.id, p.name, p.currency, p.included_messages, p.overage_price, p.monthly_fee, p.created_at";

fn package_from_row(r: &AnyRow) -> sqlx::Result<PackageRecord> {
    Ok(PackageRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        currency: currency_of(r.try_get::<String, _>(2)?)?,
        included_messages: r.try_get(3)?,
        overage_price: r.try_get(4)?,
        monthly_fee: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    // ---- tariffs and prices -------------------------------------------------

    pub async fn create_tariff(&self, w: &TariffWrite, now: i64) -> Result<TariffRecord, BillingError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO tariffs (id, name, currency, inbound_price, number_monthly_fee, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(&w.name)
        .bind(w.currency.code())
        .bind(w.inbound_price)
        .bind(w.number_monthly_fee)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(|e| if unique_violation(&e) { BillingError::NameTaken("tariff") } else { e.into() })?;
        self.tariff(&id).await?.ok_or(BillingError::NotFound("tariff"))
    }

    /// A tariff by id or name.
    pub async fn tariff(&self, id_or_name: &str) -> sqlx::Result<Option<TariffRecord>> {
        let sql = format!("SELECT {TARIFF_COLUMNS} FROM tariffs t WHERE t.id = $1 OR t.name = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(id_or_name)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(tariff_from_row)
            .transpose()
    }

    pub async fn list_tariffs(&self) -> sqlx::Result<Vec<TariffRecord>> {
        let sql = format!("SELECT {TARIFF_COLUMNS} FROM tariffs t ORDER BY t.name");
        sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.reader).await?.iter().map(tariff_from_row).collect()
    }

    /// Changes a tariff. Its currency may only change while no account with
    /// money uses it.
    pub async fn update_tariff(
        &self,
        id: &str,
        w: &TariffWrite,
        now: i64,
    ) -> Result<TariffRecord, BillingError> {
        let mut tx = self.writer.begin().await?;
        let current: Option<String> = sqlx::query("SELECT currency FROM tariffs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let current = current.ok_or(BillingError::NotFound("tariff"))?;
        if current != w.currency.code() {
            let with_money: i64 = sqlx::query(
                "SELECT COUNT(*) FROM account_billing
                 WHERE tariff_id = $1 AND (balance <> 0 OR reserved <> 0 OR owed <> 0)",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if with_money > 0 {
                return Err(BillingError::Conflict(format!(
                    "{with_money} account(s) on this tariff hold money in {current}; the currency cannot change"
                )));
            }
        }
        sqlx::query(
            "UPDATE tariffs SET name = $1, currency = $2, inbound_price = $3, number_monthly_fee = $4,
                 updated_at = $5 WHERE id = $6",
        )
        .bind(&w.name)
        .bind(w.currency.code())
        .bind(w.inbound_price)
        .bind(w.number_monthly_fee)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| if unique_violation(&e) { BillingError::NameTaken("tariff") } else { e.into() })?;
        tx.commit().await?;
        self.tariff(id).await?.ok_or(BillingError::NotFound("tariff"))
    }

    /// Deletes a tariff no account uses.
    pub async fn delete_tariff(&self, id: &str) -> Result<(), BillingError> {
        let mut tx = self.writer.begin().await?;
        let users: i64 = sqlx::query("SELECT COUNT(*) FROM account_billing WHERE tariff_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if users > 0 {
            return Err(BillingError::Conflict(format!(
                "{users} account(s) use this tariff; give them another tariff first"
            )));
        }
        sqlx::query("DELETE FROM tariff_prices WHERE tariff_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM tariffs WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(BillingError::NotFound("tariff"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A tariff's prices in prefix order, `limit` from after `after`.
    pub async fn list_prices(
        &self,
        tariff_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<PriceEntry>> {
        let rows = sqlx::query(
            "SELECT prefix, unit_price, description FROM tariff_prices
             WHERE tariff_id = $1 AND prefix > $2 ORDER BY prefix LIMIT $3",
        )
        .bind(tariff_id)
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PriceEntry {
                    prefix: Prefix::parse(&r.try_get::<String, _>(0)?)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    unit_price: r.try_get(1)?,
                    description: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Adds or changes prices in one transaction; with `replace`, the
    /// tariff's other prices are removed. Returns how many rows were written.
    pub async fn put_prices(
        &self,
        tariff_id: &str,
        prices: &[PriceEntry],
        replace: bool,
        now: i64,
    ) -> sqlx::Result<usize> {
        let mut tx = self.writer.begin().await?;
        if replace {
            sqlx::query("DELETE FROM tariff_prices WHERE tariff_id = $1")
                .bind(tariff_id)
                .execute(&mut *tx)
                .await?;
        }
        let d = self.dialect;
        for chunk in prices.chunks(CHUNK / 4) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", d.placeholders(i * 4 + 1, 4))).collect();
            let sql = format!(
                "INSERT INTO tariff_prices (tariff_id, prefix, unit_price, description) VALUES {}
                 ON CONFLICT (tariff_id, prefix) DO UPDATE SET unit_price = excluded.unit_price,
                     description = excluded.description",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for p in chunk {
                q = q
                    .bind(tariff_id)
                    .bind(p.prefix.as_str())
                    .bind(p.unit_price)
                    .bind(p.description.as_deref());
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE tariffs SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(tariff_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(prices.len())
    }

    pub async fn delete_price(&self, tariff_id: &str, prefix: &Prefix) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM tariff_prices WHERE tariff_id = $1 AND prefix = $2")
            .bind(tariff_id)
            .bind(prefix.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- accounts -----------------------------------------------------------

    /// An account (by id or name) with its billing state; `None` if unknown.
    pub async fn account_billing(&self, id_or_name: &str) -> sqlx::Result<Option<AccountBilling>> {
        let row = sqlx::query(
            "SELECT a.id, a.name, b.tariff_id, b.balance, b.reserved, b.owed, b.low_balance_threshold,
                 b.low_balance_alerted, b.alert_email
             FROM accounts a LEFT JOIN account_billing b ON b.account_id = a.id
             WHERE a.id = $1 OR a.name = $1",
        )
        .bind(id_or_name)
        .fetch_optional(&self.reader)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let tariff_id: Option<String> = r.try_get(2)?;
        let tariff = match tariff_id {
            Some(t) => self.tariff(&t).await?,
            None => None,
        };
        Ok(Some(AccountBilling {
            account_id: r.try_get(0)?,
            account_name: r.try_get(1)?,
            tariff,
            balance: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
            reserved: r.try_get::<Option<i64>, _>(4)?.unwrap_or(0),
            owed: r.try_get::<Option<i64>, _>(5)?.unwrap_or(0),
            low_balance_threshold: r.try_get(6)?,
            low_balance_alerted: r.try_get::<Option<i64>, _>(7)?.unwrap_or(0) != 0,
            alert_email: r.try_get(8)?,
        }))
    }

    /// Every account with its billing state, by name.
    pub async fn list_account_billing(&self) -> sqlx::Result<Vec<AccountBilling>> {
        let ids: Vec<String> = sqlx::query("SELECT id FROM accounts ORDER BY name")
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(b) = self.account_billing(&id).await? {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Changes an account's tariff, alert threshold or alert address. A
    /// tariff in another currency is refused while the account holds money.
    pub async fn set_account_billing(
        &self,
        account_id: &str,
        w: &AccountBillingWrite,
        now: i64,
    ) -> Result<(), BillingError> {
        let mut tx = self.writer.begin().await?;
        ensure_billing_row(&mut tx, account_id, now).await?;
        let row = lock_account(&mut tx, account_id).await?.ok_or(BillingError::NotFound("account"))?;
        if let Some(new_tariff) = &w.tariff_id {
            if let Some(t) = new_tariff {
                let currency: Option<String> = sqlx::query("SELECT currency FROM tariffs WHERE id = $1")
                    .bind(t)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                let currency = currency.ok_or(BillingError::NotFound("tariff"))?;
                // The money's currency: its tariff's, or, after the tariff
                // was taken away, the currency the ledger last booked in.
                let old_currency: Option<String> = match &row.tariff_id {
                    Some(old) => {
                        sqlx::query_scalar("SELECT currency FROM tariffs WHERE id = $1")
                            .bind(old)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    None => sqlx::query_scalar(
                        "SELECT currency FROM billing_ledger WHERE account_id = $1 ORDER BY id DESC LIMIT 1",
                    )
                    .bind(account_id)
                    .fetch_optional(&mut *tx)
                    .await?,
                };
                let holds_money = row.balance != 0 || row.reserved != 0 || row.owed != 0;
                if holds_money && old_currency.as_deref().is_some_and(|c| c != currency) {
                    return Err(BillingError::Conflict(format!(
                        "the account holds money in {}; a tariff in {currency} cannot be given to it",
                        old_currency.unwrap_or_default()
                    )));
                }
                let packages: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM account_packages ap JOIN packages p ON p.id = ap.package_id
                     WHERE ap.account_id = $1 AND ap.last_period IS NULL AND p.currency <> $2",
                )
                .bind(account_id)
                .bind(&currency)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                if packages > 0 {
                    return Err(BillingError::Conflict(format!(
                        "the account has packages in another currency than {currency}; cancel them first"
                    )));
                }
            }
            sqlx::query("UPDATE account_billing SET tariff_id = $1, updated_at = $2 WHERE account_id = $3")
                .bind(new_tariff.as_deref())
                .bind(now)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(threshold) = w.low_balance_threshold {
            sqlx::query(
                "UPDATE account_billing SET low_balance_threshold = $1, updated_at = $2,
                     low_balance_alerted = CASE WHEN $1 IS NOT NULL AND balance < $1 THEN low_balance_alerted ELSE 0 END
                 WHERE account_id = $3",
            )
            .bind(threshold)
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(email) = &w.alert_email {
            sqlx::query("UPDATE account_billing SET alert_email = $1, updated_at = $2 WHERE account_id = $3")
                .bind(email.as_deref())
                .bind(now)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds money to (or, negative, takes it from) an account's balance and
    /// records it in the ledger. A top-up first pays what the account owes.
    /// An adjustment below zero is refused.
    pub async fn top_up(
        &self,
        account_id: &str,
        amount: i64,
        note: Option<&str>,
        by: Option<&str>,
        now: i64,
    ) -> Result<LedgerEntry, BillingError> {
        let mut tx = self.writer.begin().await?;
        ensure_billing_row(&mut tx, account_id, now).await?;
        let row = lock_account(&mut tx, account_id).await?.ok_or(BillingError::NotFound("account"))?;
        let tariff = row.tariff_id.ok_or_else(|| {
            BillingError::Conflict("the account has no tariff; give it one before adding money".into())
        })?;
        let currency: String = sqlx::query("SELECT currency FROM tariffs WHERE id = $1")
            .bind(&tariff)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let (kind, pays_debt) =
            if amount >= 0 { ("top_up", row.owed.min(amount)) } else { ("adjustment", 0) };
        let new_balance = row.balance + amount - pays_debt;
        if new_balance < 0 {
            return Err(BillingError::Conflict(format!(
                "the balance is {}; taking {} would make it negative",
                row.balance, -amount
            )));
        }
        sqlx::query(
            "UPDATE account_billing SET balance = $1, owed = owed - $2, updated_at = $3,
                 low_balance_alerted = CASE WHEN low_balance_threshold IS NOT NULL AND $1 < low_balance_threshold
                     THEN low_balance_alerted ELSE 0 END
             WHERE account_id = $4",
        )
        .bind(new_balance)
        .bind(pays_debt)
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        let note = match (note, pays_debt) {
            (n, 0) => n.map(str::to_owned),
            (Some(n), d) => Some(format!("{n} ({d} paid what was owed)")),
            (None, d) => Some(format!("{d} paid what was owed")),
        };
        let entry = LedgerEntry {
            id: new_id(),
            kind: kind.into(),
            amount,
            balance_after: new_balance,
            currency,
            note,
            created_by: by.map(str::to_owned),
            period: None,
            reference: None,
            created_at: now,
        };
        insert_ledger(&mut tx, account_id, &entry).await?;
        if amount < 0 {
            raise_alert_if_crossed(&mut tx, account_id, now).await?;
        }
        tx.commit().await?;
        Ok(entry)
    }

    /// The ledger of an account, newest first, `limit` entries before `before`.
    pub async fn ledger(
        &self,
        account_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, amount, balance_after, currency, note, created_by, period, reference, created_at
             FROM billing_ledger WHERE account_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(account_id)
        .bind(before.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// The ledger entries of one period (for statements), oldest first.
    pub async fn ledger_of_period(
        &self,
        account_id: &str,
        since: i64,
        until: i64,
    ) -> sqlx::Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, amount, balance_after, currency, note, created_by, period, reference, created_at
             FROM billing_ledger WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY id",
        )
        .bind(account_id)
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(ledger_from_row).collect()
    }

    // ---- prices for callers -------------------------------------------------

    /// What sending `segments` segments to `to` costs the account now:
    /// `None` when the account has no tariff (it is not charged), a refusal
    /// when its tariff has no price for the number. Packages count as they
    /// stand in the current period.
    pub async fn price(
        &self,
        account_id: &str,
        to: &PhoneNumber,
        segments: i64,
        now: i64,
    ) -> sqlx::Result<Option<Result<Quote, ChargeRefusal>>> {
        let mut conn = self.reader.acquire().await?;
        let Some(pricing) = Pricing::load(&mut conn, account_id, &[to], now).await? else {
            return Ok(None);
        };
        Ok(Some(pricing.quote_all(&[(to, segments)]).map(|mut q| q.remove(0))))
    }

    /// The cost of sending to each of `items` (number, count of such
    /// recipients, segments each) in one go, packages applied in order:
    /// `None` when the account is not charged. Recipients whose number has
    /// no price are counted in the second value.
    pub async fn estimate_cost(
        &self,
        account_id: &str,
        items: &[(PhoneNumber, i64, i64)],
        now: i64,
    ) -> sqlx::Result<Option<(Currency, i64, i64)>> {
        let mut conn = self.reader.acquire().await?;
        let numbers: Vec<&PhoneNumber> = items.iter().map(|(n, _, _)| n).collect();
        let Some(mut pricing) = Pricing::load(&mut conn, account_id, &numbers, now).await? else {
            return Ok(None);
        };
        let mut total = 0i64;
        let mut unpriced = 0i64;
        for (number, count, segments) in items {
            match pricing.line(number, segments.saturating_mul(*count)) {
                Some(line) => total = total.saturating_add(line.amount),
                None => unpriced += count,
            }
        }
        Ok(Some((pricing.currency, total, unpriced)))
    }

    /// The account's packages and their use in `period`.
    pub async fn package_use(&self, account_id: &str, period: &str) -> sqlx::Result<PackageUse> {
        let mut conn = self.reader.acquire().await?;
        package_state(&mut conn, account_id, period).await
    }

    // ---- packages -----------------------------------------------------------

    pub async fn create_package(&self, w: &PackageWrite, now: i64) -> Result<PackageRecord, BillingError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO packages (id, name, currency, included_messages, overage_price, monthly_fee, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&w.name)
        .bind(w.currency.code())
        .bind(w.included_messages)
        .bind(w.overage_price)
        .bind(w.monthly_fee)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(|e| if unique_violation(&e) { BillingError::NameTaken("package") } else { e.into() })?;
        self.package(&id).await?.ok_or(BillingError::NotFound("package"))
    }

    /// A package by id or name.
    pub async fn package(&self, id_or_name: &str) -> sqlx::Result<Option<PackageRecord>> {
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages p WHERE p.id = $1 OR p.name = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(id_or_name)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(package_from_row)
            .transpose()
    }

    pub async fn list_packages(&self) -> sqlx::Result<Vec<PackageRecord>> {
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages p ORDER BY p.name");
        sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.reader).await?.iter().map(package_from_row).collect()
    }

    /// Subscribes an account to a package from the current period on and
    /// charges the first month's fee (what the balance cannot pay is owed).
    pub async fn subscribe(
        &self,
        account_id: &str,
        package_id: &str,
        now: i64,
    ) -> Result<Subscription, BillingError> {
        let mut tx = self.writer.begin().await?;
        ensure_billing_row(&mut tx, account_id, now).await?;
        let row = lock_account(&mut tx, account_id).await?.ok_or(BillingError::NotFound("account"))?;
        let tariff = row.tariff_id.ok_or_else(|| {
            BillingError::Conflict("the account has no tariff; give it one before adding packages".into())
        })?;
        let currency: String = sqlx::query("SELECT currency FROM tariffs WHERE id = $1")
            .bind(&tariff)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages p WHERE p.id = $1");
        let package = sqlx::query(AssertSqlSafe(sql))
            .bind(package_id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(package_from_row)
            .transpose()?
            .ok_or(BillingError::NotFound("package"))?;
        if package.currency.code() != currency {
            return Err(BillingError::Conflict(format!(
                "the package is priced in {}, the account's tariff in {currency}",
                package.currency
            )));
        }
        let id = new_id();
        let period = period_of(now);
        sqlx::query(
            "INSERT INTO account_packages (id, account_id, package_id, first_period, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(&package.id)
        .bind(&period)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        charge_fee(&mut tx, account_id, "package_fee", &period, &id, package.monthly_fee, &currency, now)
            .await?;
        tx.commit().await?;
        Ok(Subscription { id, package, first_period: period, last_period: None, created_at: now })
    }

    /// An account's subscriptions, active ones first.
    pub async fn subscriptions(&self, account_id: &str) -> sqlx::Result<Vec<Subscription>> {
        let sql = format!(
            "SELECT ap.id, ap.first_period, ap.last_period, ap.created_at, {PACKAGE_COLUMNS}
             FROM account_packages ap JOIN packages p ON p.id = ap.package_id
             WHERE ap.account_id = $1 ORDER BY ap.last_period IS NOT NULL, ap.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(account_id).fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(Subscription {
                    id: r.try_get(0)?,
                    first_period: r.try_get(1)?,
                    last_period: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    package: PackageRecord {
                        id: r.try_get(4)?,
                        name: r.try_get(5)?,
                        currency: currency_of(r.try_get::<String, _>(6)?)?,
                        included_messages: r.try_get(7)?,
                        overage_price: r.try_get(8)?,
                        monthly_fee: r.try_get(9)?,
                        created_at: r.try_get(10)?,
                    },
                })
            })
            .collect()
    }

    /// Ends a subscription with the current period (it still counts until
    /// the month is over). False if there is no such active subscription.
    pub async fn unsubscribe(&self, account_id: &str, subscription_id: &str, now: i64) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE account_packages SET last_period = $1
             WHERE id = $2 AND account_id = $3 AND last_period IS NULL",
        )
        .bind(period_of(now))
        .bind(subscription_id)
        .bind(account_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Charges the monthly fees of the current period not charged yet
    /// (packages and inbound numbers) of every charged account. Returns how
    /// many fees were charged.
    pub async fn charge_monthly_fees(&self, now: i64) -> sqlx::Result<usize> {
        let period = period_of(now);
        let accounts: Vec<String> = sqlx::query(
            "SELECT account_id FROM account_billing WHERE tariff_id IS NOT NULL ORDER BY account_id",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
        let mut charged = 0;
        for account in accounts {
            let mut tx = self.writer.begin().await?;
            let Some(row) = lock_account(&mut tx, &account).await? else { continue };
            let Some(tariff) = row.tariff_id else { continue };
            let t = sqlx::query("SELECT currency, number_monthly_fee FROM tariffs WHERE id = $1")
                .bind(&tariff)
                .fetch_one(&mut *tx)
                .await?;
            let currency: String = t.try_get(0)?;
            let number_fee: i64 = t.try_get(1)?;
            let mut fees: Vec<(&str, String, i64)> = Vec::new();
            for r in sqlx::query(
                "SELECT ap.id, p.monthly_fee FROM account_packages ap JOIN packages p ON p.id = ap.package_id
                 WHERE ap.account_id = $1 AND ap.first_period <= $2 AND (ap.last_period IS NULL OR ap.last_period >= $2)",
            )
            .bind(&account)
            .bind(&period)
            .fetch_all(&mut *tx)
            .await?
            {
                fees.push(("package_fee", r.try_get(0)?, r.try_get(1)?));
            }
            if number_fee > 0 {
                for r in sqlx::query("SELECT number FROM numbers WHERE account_id = $1")
                    .bind(&account)
                    .fetch_all(&mut *tx)
                    .await?
                {
                    fees.push(("number_fee", r.try_get(0)?, number_fee));
                }
            }
            for (kind, reference, amount) in fees {
                if charge_fee(&mut tx, &account, kind, &period, &reference, amount, &currency, now).await? {
                    charged += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(charged)
    }

    // ---- quotas -------------------------------------------------------------

    /// Sets (or with `None` removes) a user's monthly quota in segments.
    pub async fn set_quota(
        &self,
        account_id: &str,
        user_id: &str,
        segments: Option<i64>,
    ) -> sqlx::Result<()> {
        match segments {
            Some(n) => {
                sqlx::query(
                    "INSERT INTO user_quotas (account_id, user_id, monthly_segments) VALUES ($1, $2, $3)
                     ON CONFLICT (account_id, user_id) DO UPDATE SET monthly_segments = excluded.monthly_segments",
                )
                .bind(account_id)
                .bind(user_id)
                .bind(n)
                .execute(&self.writer)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM user_quotas WHERE account_id = $1 AND user_id = $2")
                    .bind(account_id)
                    .bind(user_id)
                    .execute(&self.writer)
                    .await?;
            }
        }
        Ok(())
    }

    /// Every user of the account with its quota (if any) and use in `period`.
    pub async fn quotas(
        &self,
        account_id: &str,
        period: &str,
    ) -> sqlx::Result<Vec<(String, Option<i64>, i64)>> {
        let rows = sqlx::query(
            "SELECT u.id, q.monthly_segments, COALESCE(x.segments, 0) FROM users u
             LEFT JOIN user_quotas q ON q.account_id = u.account_id AND q.user_id = u.id
             LEFT JOIN user_usage x ON x.account_id = u.account_id AND x.user_id = u.id AND x.period = $2
             WHERE u.account_id = $1 ORDER BY u.id",
        )
        .bind(account_id)
        .bind(period)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    // ---- alerts -------------------------------------------------------------

    /// Claims low-balance alerts that are due, pushing each one's next try
    /// `retry_micros` later (so a crashed sender's alert is tried again).
    pub async fn due_alerts(&self, now: i64, retry_micros: i64, limit: usize) -> sqlx::Result<Vec<AlertJob>> {
        let sql = format!(
            "WITH picked AS (SELECT id FROM billing_alerts WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $2{})
             UPDATE billing_alerts SET next_attempt_at = $3, attempts = attempts + 1
             WHERE status = 'pending' AND id IN (SELECT id FROM picked) RETURNING id",
            self.dialect.skip_locked()
        );
        let ids: Vec<String> = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(limit as i64)
            .bind(now + retry_micros)
            .fetch_all(&self.writer)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let r = sqlx::query(
                "SELECT al.id, al.account_id, a.name, al.balance, al.threshold, t.currency, b.alert_email, al.attempts
                 FROM billing_alerts al JOIN accounts a ON a.id = al.account_id
                 JOIN account_billing b ON b.account_id = al.account_id
                 JOIN tariffs t ON t.id = b.tariff_id WHERE al.id = $1",
            )
            .bind(&id)
            .fetch_optional(&self.reader)
            .await?;
            match r {
                Some(r) => out.push(AlertJob {
                    id: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    account_name: r.try_get(2)?,
                    balance: r.try_get(3)?,
                    threshold: r.try_get(4)?,
                    currency: currency_of(r.try_get::<String, _>(5)?)?,
                    email: r.try_get(6)?,
                    attempts: r.try_get(7)?,
                }),
                // The account lost its tariff since: nothing to warn about.
                None => self.finish_alert(&id, "dropped", Some("the account has no tariff any more")).await?,
            }
        }
        Ok(out)
    }

    /// Records what became of an alert: `sent`, `failed` or `dropped`.
    pub async fn finish_alert(&self, id: &str, status: &str, error: Option<&str>) -> sqlx::Result<()> {
        sqlx::query("UPDATE billing_alerts SET status = $1, last_error = $2 WHERE id = $3")
            .bind(status)
            .bind(error)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Alerts of an account, newest first (status, balance, threshold, time).
    pub async fn alerts_of(&self, account_id: &str) -> sqlx::Result<Vec<(String, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT status, balance, threshold, created_at FROM billing_alerts WHERE account_id = $1 ORDER BY id DESC",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))).collect()
    }

    // ---- reports ------------------------------------------------------------

    /// Charged use between `since` and `until` (microseconds), grouped. A
    /// `None` account reports on every account. Refunded charges do not count.
    pub async fn usage(
        &self,
        account_id: Option<&str>,
        group: UsageGroup,
        since: i64,
        until: i64,
    ) -> sqlx::Result<Vec<UsageRow>> {
        let key = match group {
            UsageGroup::Account => "a.name",
            UsageGroup::User => "COALESCE(c.user_id, '')",
            UsageGroup::Day => match self.dialect {
                Dialect::Sqlite => "strftime('%Y-%m-%d', c.created_at / 1000000, 'unixepoch')",
                Dialect::Postgres => {
                    "to_char(to_timestamp(c.created_at / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
                }
            },
            UsageGroup::Country => "c.country",
        };
        let sql = format!(
            "SELECT {key} AS k, c.currency, COUNT(*), CAST(SUM(c.segments) AS BIGINT), CAST(SUM(c.included) AS BIGINT), CAST(SUM(c.amount) AS BIGINT)
             FROM message_charges c JOIN accounts a ON a.id = c.account_id
             WHERE c.state <> 'refunded' AND c.created_at >= $1 AND c.created_at < $2
               AND ($3 = '' OR c.account_id = $3)
             GROUP BY {key}, c.currency ORDER BY k, c.currency"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(since)
            .bind(until)
            .bind(account_id.unwrap_or(""))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    key: r.try_get(0)?,
                    currency: r.try_get(1)?,
                    messages: r.try_get(2)?,
                    segments: r.try_get(3)?,
                    included: r.try_get(4)?,
                    amount: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// One account's charged messages between `since` and `until`, oldest
    /// first (by time, then message id), `limit` after `after` (the last
    /// line's time and message id): for statements. Each page starts where
    /// the last ended in the (account, time) index, so a month is read once.
    pub async fn charges_of_period(
        &self,
        account_id: &str,
        since: i64,
        until: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> sqlx::Result<Vec<ChargeLine>> {
        let (from, after_id) = after.map_or((since, ""), |(at, id)| (at.max(since), id));
        let rows = sqlx::query(CHARGES_PAGE)
            .bind(account_id)
            .bind(from)
            .bind(until)
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ChargeLine {
                    message_id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    direction: r.try_get(2)?,
                    to: r.try_get(3)?,
                    from: r.try_get(4)?,
                    country: r.try_get(5)?,
                    segments: r.try_get(6)?,
                    included: r.try_get(7)?,
                    unit_price: r.try_get(8)?,
                    amount: r.try_get(9)?,
                    state: r.try_get(10)?,
                    user_id: r.try_get(11)?,
                })
            })
            .collect()
    }

    /// The charge of one message: (amount, currency, state).
    pub async fn charge_of(&self, message_id: &str) -> sqlx::Result<Option<(i64, String, String)>> {
        sqlx::query("SELECT amount, currency, state FROM message_charges WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }
}

/// A page of an account's charges in a period (`charges_of_period`), in the
/// order of the (account_id, created_at, message_id) index.
const CHARGES_PAGE: &str =
    "SELECT c.message_id, c.created_at, c.direction, m.to_number, m.from_addr, c.country,
         c.segments, c.included, c.unit_price, c.amount, c.state, c.user_id
     FROM message_charges c JOIN messages m ON m.id = c.message_id
     WHERE c.account_id = $1 AND c.created_at >= $2 AND c.created_at < $3
         AND (c.created_at > $2 OR c.message_id > $4)
     ORDER BY c.created_at, c.message_id LIMIT $5";

/// One billed message in a statement.
#[derive(Debug, Clone)]
pub struct ChargeLine {
    pub message_id: String,
    pub at: i64,
    pub direction: String,
    pub to: String,
    pub from: Option<String>,
    pub country: String,
    pub segments: i64,
    pub included: i64,
    pub unit_price: i64,
    pub amount: i64,
    pub state: String,
    pub user_id: Option<String>,
}

fn ledger_from_row(r: &AnyRow) -> sqlx::Result<LedgerEntry> {
    Ok(LedgerEntry {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        amount: r.try_get(2)?,
        balance_after: r.try_get(3)?,
        currency: r.try_get(4)?,
        note: r.try_get(5)?,
        created_by: r.try_get(6)?,
        period: r.try_get(7)?,
        reference: r.try_get(8)?,
        created_at: r.try_get(9)?,
    })
}

async fn insert_ledger(tx: &mut AnyConnection, account_id: &str, e: &LedgerEntry) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO billing_ledger (id, account_id, kind, amount, balance_after, currency, note, created_by,
             period, reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&e.id)
    .bind(account_id)
    .bind(&e.kind)
    .bind(e.amount)
    .bind(e.balance_after)
    .bind(&e.currency)
    .bind(e.note.as_deref())
    .bind(e.created_by.as_deref())
    .bind(e.period.as_deref())
    .bind(e.reference.as_deref())
    .bind(e.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The locked billing row of an account.
struct LockedAccount {
    tariff_id: Option<String>,
    balance: i64,
    reserved: i64,
    owed: i64,
}

async fn ensure_billing_row(tx: &mut AnyConnection, account_id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO account_billing (account_id, updated_at)
         SELECT id, $2 FROM accounts WHERE id = $1 ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Locks an account's billing row for the rest of the transaction (an
/// update that changes nothing) and reads it; `None` without a row.
async fn lock_account(tx: &mut AnyConnection, account_id: &str) -> sqlx::Result<Option<LockedAccount>> {
    let row = sqlx::query(
        "UPDATE account_billing SET balance = balance WHERE account_id = $1
         RETURNING tariff_id, balance, reserved, owed",
    )
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| {
        Ok(LockedAccount {
            tariff_id: r.try_get(0)?,
            balance: r.try_get(1)?,
            reserved: r.try_get(2)?,
            owed: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Locks the billing rows of `accounts` (give them sorted); returns those
/// that pay for messages (have a tariff), the only ones [`reserve`] needs
/// to see. The lock holds their tariff until the transaction ends.
pub(super) async fn lock_accounts<'a>(
    tx: &mut AnyConnection,
    accounts: &[&'a str],
) -> sqlx::Result<Vec<&'a str>> {
    let mut billed = Vec::new();
    for a in accounts {
        if lock_account(tx, a).await?.is_some_and(|l| l.tariff_id.is_some()) {
            billed.push(*a);
        }
    }
    Ok(billed)
}

/// Charges a fee once per (kind, period, reference): from the balance, and
/// what it cannot pay is owed. False if it was charged before.
#[allow(clippy::too_many_arguments)]
async fn charge_fee(
    tx: &mut AnyConnection,
    account_id: &str,
    kind: &str,
    period: &str,
    reference: &str,
    amount: i64,
    currency: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "SELECT 1 FROM billing_ledger WHERE account_id = $1 AND kind = $2 AND period = $3 AND reference = $4",
    )
    .bind(account_id)
    .bind(kind)
    .bind(period)
    .bind(reference)
    .fetch_optional(&mut *tx)
    .await?;
    if done.is_some() {
        return Ok(false);
    }
    let (paid, owed) = take_or_owe(tx, account_id, amount, now).await?;
    let balance_after: i64 = sqlx::query("SELECT balance FROM account_billing WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let what = if kind == "number_fee" { "inbound number" } else { "package" };
    let note = if owed > 0 {
        format!("monthly fee for {what} {reference}, {period}; {owed} owed")
    } else {
        format!("monthly fee for {what} {reference}, {period}")
    };
    let entry = LedgerEntry {
        id: new_id(),
        kind: kind.into(),
        amount: -(paid + owed),
        balance_after,
        currency: currency.into(),
        note: Some(note),
        created_by: None,
        period: Some(period.into()),
        reference: Some(reference.into()),
        created_at: now,
    };
    insert_ledger(tx, account_id, &entry).await?;
    raise_alert_if_crossed(tx, account_id, now).await?;
    Ok(true)
}

/// Takes `amount` from the (locked) balance as far as it goes and records
/// the rest as owed. Returns (paid, owed).
async fn take_or_owe(
    tx: &mut AnyConnection,
    account_id: &str,
    amount: i64,
    now: i64,
) -> sqlx::Result<(i64, i64)> {
    let balance: i64 = sqlx::query("SELECT balance FROM account_billing WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let paid = balance.min(amount).max(0);
    let owed = amount - paid;
    sqlx::query(
        "UPDATE account_billing SET balance = balance - $1, owed = owed + $2, updated_at = $3
         WHERE account_id = $4 AND balance >= $1",
    )
    .bind(paid)
    .bind(owed)
    .bind(now)
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    Ok((paid, owed))
}

/// After the balance went down: if it fell below the threshold and no
/// alert was raised since it was last above, raise one (once per crossing).
async fn raise_alert_if_crossed(tx: &mut AnyConnection, account_id: &str, now: i64) -> sqlx::Result<()> {
    let crossed = sqlx::query(
        "UPDATE account_billing SET low_balance_alerted = 1
         WHERE account_id = $1 AND low_balance_alerted = 0 AND low_balance_threshold IS NOT NULL
           AND balance < low_balance_threshold
         RETURNING balance, low_balance_threshold",
    )
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = crossed {
        sqlx::query(
            "INSERT INTO billing_alerts (id, account_id, balance, threshold, status, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
        )
        .bind(new_id())
        .bind(account_id)
        .bind(r.try_get::<i64, _>(0)?)
        .bind(r.try_get::<i64, _>(1)?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn package_state(conn: &mut AnyConnection, account_id: &str, period: &str) -> sqlx::Result<PackageUse> {
    let r = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(p.included_messages), 0) AS BIGINT), MIN(p.overage_price)
         FROM account_packages ap JOIN packages p ON p.id = ap.package_id
         WHERE ap.account_id = $1 AND ap.first_period <= $2 AND (ap.last_period IS NULL OR ap.last_period >= $2)",
    )
    .bind(account_id)
    .bind(period)
    .fetch_one(&mut *conn)
    .await?;
    let count: i64 = r.try_get(0)?;
    let used: i64 = sqlx::query("SELECT used FROM package_usage WHERE account_id = $1 AND period = $2")
        .bind(account_id)
        .bind(period)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or(0);
    Ok(PackageUse {
        period: period.to_owned(),
        included: r.try_get(1)?,
        used,
        overage_price: if count > 0 { r.try_get(2)? } else { None },
    })
}

/// One message's price.
#[derive(Debug, Clone)]
struct Line {
    prefix: String,
    country: String,
    included: i64,
    unit_price: i64,
    amount: i64,
}

/// What an account pays, loaded for a set of numbers.
struct Pricing {
    currency: Currency,
    /// prefix -> price per segment
    prices: HashMap<String, i64>,
    packages: PackageUse,
    /// Included segments not used yet (decreases as lines are priced).
    remaining: i64,
}

impl Pricing {
    /// `None` when the account has no tariff.
    async fn load(
        conn: &mut AnyConnection,
        account_id: &str,
        numbers: &[&PhoneNumber],
        now: i64,
    ) -> sqlx::Result<Option<Self>> {
        let row = sqlx::query(
            "SELECT t.id, t.currency FROM account_billing b JOIN tariffs t ON t.id = b.tariff_id
             WHERE b.account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let tariff_id: String = row.try_get(0)?;
        let currency = currency_of(row.try_get::<String, _>(1)?)?;
        let mut candidates: HashSet<&str> = HashSet::new();
        for n in numbers {
            let digits = n.digits();
            for len in 1..=digits.len().min(15) {
                candidates.insert(&digits[..len]);
            }
        }
        let candidates: Vec<&str> = candidates.into_iter().collect();
        let dialect = Dialect::of(conn);
        let mut prices = HashMap::new();
        for chunk in candidates.chunks(CHUNK) {
            let sql = format!(
                "SELECT prefix, unit_price FROM tariff_prices WHERE tariff_id = {} AND prefix IN ({})",
                dialect.param(1),
                dialect.placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(&tariff_id);
            for p in chunk {
                q = q.bind(*p);
            }
            for r in q.fetch_all(&mut *conn).await? {
                prices.insert(r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?);
            }
        }
        let packages = package_state(conn, account_id, &period_of(now)).await?;
        let remaining = (packages.included - packages.used).max(0);
        Ok(Some(Self { currency, prices, packages, remaining }))
    }

    /// The longest prefix of `to` with a price.
    fn lookup(&self, to: &PhoneNumber) -> Option<(&str, i64)> {
        let digits = to.digits();
        (1..=digits.len().min(15))
            .rev()
            .find_map(|len| self.prices.get_key_value(&digits[..len]).map(|(k, v)| (k.as_str(), *v)))
    }

    /// Prices `segments` to `to`, taking included segments first. `None`
    /// when the tariff has no price for the number.
    fn line(&mut self, to: &PhoneNumber, segments: i64) -> Option<Line> {
        let (prefix, tariff_price) = self.lookup(to)?;
        let prefix = prefix.to_owned();
        let included = self.remaining.min(segments);
        self.remaining -= included;
        let unit_price = self.packages.overage_price.unwrap_or(tariff_price);
        let amount = (segments - included).saturating_mul(unit_price);
        Some(Line { prefix, country: to.country().unwrap_or_default(), included, unit_price, amount })
    }

    fn quote_all(mut self, items: &[(&PhoneNumber, i64)]) -> Result<Vec<Quote>, ChargeRefusal> {
        let mut out = Vec::with_capacity(items.len());
        for (to, segments) in items {
            let line = self
                .line(to, *segments)
                .ok_or_else(|| ChargeRefusal::NoPrice { to: vec![to.to_string()] })?;
            out.push(Quote {
                currency: self.currency,
                prefix: line.prefix,
                country: line.country,
                segments: *segments,
                included: line.included,
                unit_price: line.unit_price,
                amount: line.amount,
            });
        }
        Ok(out)
    }
}

/// Reserves the cost of one account's new messages, in the transaction
/// that stores them. Every check comes before any write: a refusal leaves
/// the transaction as it was. Accounts without a tariff pass free.
pub(super) async fn reserve(
    tx: &mut AnyConnection,
    account_id: &str,
    messages: &[&NewMessage],
    origin: &Origin,
    now: i64,
) -> sqlx::Result<Result<(), ChargeRefusal>> {
    if messages.is_empty() {
        return Ok(Ok(()));
    }
    let Some(locked) = lock_account(tx, account_id).await? else { return Ok(Ok(())) };
    if locked.tariff_id.is_none() {
        return Ok(Ok(()));
    }
    let numbers: Vec<&PhoneNumber> = messages.iter().map(|m| &m.to).collect();
    let Some(mut pricing) = Pricing::load(tx, account_id, &numbers, now).await? else { return Ok(Ok(())) };
    let period = period_of(now);
    let mut lines = Vec::with_capacity(messages.len());
    let mut total: i64 = 0;
    let mut segments_total: i64 = 0;
    // Every number without a price, so a caller can leave them all out.
    let mut unpriced: Vec<String> = Vec::new();
    for m in messages {
        let segments = m.text.segments() as i64;
        let Some(line) = pricing.line(&m.to, segments) else {
            if !unpriced.iter().any(|n| n == m.to.as_str()) {
                unpriced.push(m.to.to_string());
            }
            continue;
        };
        total = total.saturating_add(line.amount);
        segments_total += segments;
        lines.push((m, segments, line));
    }
    if !unpriced.is_empty() {
        return Ok(Err(ChargeRefusal::NoPrice { to: unpriced }));
    }
    if let Some(user) = &origin.user_id {
        let quota = sqlx::query(
            "SELECT q.monthly_segments, COALESCE(x.segments, 0) FROM user_quotas q
             LEFT JOIN user_usage x ON x.account_id = q.account_id AND x.user_id = q.user_id AND x.period = $3
             WHERE q.account_id = $1 AND q.user_id = $2",
        )
        .bind(account_id)
        .bind(user)
        .bind(&period)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(q) = quota {
            let (limit, used): (i64, i64) = (q.try_get(0)?, q.try_get(1)?);
            if used + segments_total > limit {
                return Ok(Err(ChargeRefusal::QuotaExceeded { limit, used, wanted: segments_total }));
            }
        }
    }
    let insufficient = || ChargeRefusal::InsufficientBalance {
        needed: pricing.currency.format(total),
        available: pricing.currency.format(locked.balance),
        currency: pricing.currency.code().to_owned(),
    };
    if total > locked.balance {
        return Ok(Err(insufficient()));
    }
    let taken = sqlx::query(
        "UPDATE account_billing SET balance = balance - $1, reserved = reserved + $1, updated_at = $2
         WHERE account_id = $3 AND balance >= $1",
    )
    .bind(total)
    .bind(now)
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() == 0 {
        return Ok(Err(insufficient()));
    }
    let dialect = Dialect::of(tx);
    const COLS: usize = 16;
    for chunk in lines.chunks(CHUNK / COLS) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", dialect.placeholders(i * COLS + 1, COLS))).collect();
        let sql = format!(
            "INSERT INTO message_charges (message_id, account_id, user_id, api_key_id, direction, country, prefix,
                 segments, included, unit_price, amount, currency, period, state, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (m, segments, line) in chunk {
            q = q
                .bind(&m.id)
                .bind(account_id)
                .bind(origin.user_id.as_deref())
                .bind(origin.api_key_id.as_deref())
                .bind("outbound")
                .bind(&line.country)
                .bind(&line.prefix)
                .bind(*segments)
                .bind(line.included)
                .bind(line.unit_price)
                .bind(line.amount)
                .bind(pricing.currency.code())
                .bind(&period)
                .bind("reserved")
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *tx).await?;
    }
    let included: i64 = lines.iter().map(|(_, _, l)| l.included).sum();
    if included > 0 {
        add_package_use(tx, account_id, &period, included).await?;
    }
    if let Some(user) = &origin.user_id {
        sqlx::query(
            "INSERT INTO user_usage (account_id, user_id, period, segments) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, user_id, period) DO UPDATE SET segments = user_usage.segments + excluded.segments",
        )
        .bind(account_id)
        .bind(user)
        .bind(&period)
        .bind(segments_total)
        .execute(&mut *tx)
        .await?;
    }
    raise_alert_if_crossed(tx, account_id, now).await?;
    Ok(Ok(()))
}

async fn add_package_use(
    tx: &mut AnyConnection,
    account_id: &str,
    period: &str,
    delta: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO package_usage (account_id, period, used) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, period) DO UPDATE SET used = package_usage.used + excluded.used",
    )
    .bind(account_id)
    .bind(period)
    .bind(delta)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Charges a received message under the account's tariff (what the balance
/// cannot pay is owed: a message from a phone cannot be refused), once it
/// is matched and so known whose it is. A message charged already (when
/// stored, by a version that charged then) is left alone.
pub(super) async fn charge_inbound(
    tx: &mut AnyConnection,
    account_id: &str,
    message_id: &str,
    from: &str,
    now: i64,
) -> sqlx::Result<()> {
    let charged = sqlx::query("SELECT 1 FROM message_charges WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await?;
    if charged.is_some() {
        return Ok(());
    }
    let Some(locked) = lock_account(tx, account_id).await? else { return Ok(()) };
    let Some(tariff) = locked.tariff_id else { return Ok(()) };
    let t = sqlx::query("SELECT currency, inbound_price FROM tariffs WHERE id = $1")
        .bind(&tariff)
        .fetch_one(&mut *tx)
        .await?;
    let currency: String = t.try_get(0)?;
    let price: i64 = t.try_get(1)?;
    let country = PhoneNumber::parse_address(from, None).ok().and_then(|n| n.country()).unwrap_or_default();
    let (paid, owed) = take_or_owe(tx, account_id, price, now).await?;
    sqlx::query(
        "INSERT INTO message_charges (message_id, account_id, direction, country, prefix, segments, included,
             unit_price, amount, currency, period, state, created_at, updated_at)
         VALUES ($1, $2, 'inbound', $3, '', 1, 0, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(message_id)
    .bind(account_id)
    .bind(country)
    .bind(price)
    .bind(paid + owed)
    .bind(currency)
    .bind(period_of(now))
    .bind(if owed > 0 { "owed" } else { "settled" })
    .bind(now)
    .execute(&mut *tx)
    .await?;
    raise_alert_if_crossed(tx, account_id, now).await
}

/// Settles the charges of messages just submitted and refunds those of
/// messages rejected, failed or canceled, in the transaction recording
/// those changes. Messages without a charge are not touched.
/// Releases `$1` of an account's reserved amount and returns `$2` to its
/// balance, re-arming the low-balance alert when the balance rises above
/// it. (`hot_path.rs` binds it by name.)
pub(super) const RELEASE_RESERVED: &str =
    "UPDATE account_billing SET reserved = reserved - $1, balance = balance + $2,
         updated_at = $3,
         low_balance_alerted = CASE WHEN low_balance_threshold IS NOT NULL
             AND balance + $2 < low_balance_threshold THEN low_balance_alerted ELSE 0 END
     WHERE account_id = $4";

pub(super) async fn apply_transitions(
    tx: &mut AnyConnection,
    settled: &[&str],
    refunded: &[&str],
    now: i64,
) -> sqlx::Result<()> {
    let dialect = Dialect::of(tx);
    // (account) -> (reserved released, balance returned)
    let mut moves: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut package_back: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut user_back: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for chunk in settled.chunks(CHUNK) {
        let mut sql = Sql::new(dialect);
        sql.push("UPDATE message_charges SET state = 'settled', updated_at = ")
            .int(now)
            .push(" WHERE state = 'reserved' AND message_id IN (")
            .list(chunk)
            .push(") RETURNING account_id, amount");
        for r in sql.query().fetch_all(&mut *tx).await? {
            moves.entry(r.try_get(0)?).or_default().0 += r.try_get::<i64, _>(1)?;
        }
    }
    for from_state in ["reserved", "settled"] {
        for chunk in refunded.chunks(CHUNK) {
            let mut sql = Sql::new(dialect);
            sql.push("UPDATE message_charges SET state = 'refunded', updated_at = ")
                .int(now)
                .push(&format!(" WHERE state = '{from_state}' AND message_id IN ("))
                .list(chunk)
                .push(") RETURNING account_id, amount, included, period, user_id, segments");
            for r in sql.query().fetch_all(&mut *tx).await? {
                let account: String = r.try_get(0)?;
                let amount: i64 = r.try_get(1)?;
                let included: i64 = r.try_get(2)?;
                let period: String = r.try_get(3)?;
                let user: Option<String> = r.try_get(4)?;
                let segments: i64 = r.try_get(5)?;
                let m = moves.entry(account.clone()).or_default();
                if from_state == "reserved" {
                    m.0 += amount;
                }
                m.1 += amount;
                if included > 0 {
                    *package_back.entry((account.clone(), period.clone())).or_default() += included;
                }
                if let Some(user) = user {
                    *user_back.entry((account, user, period)).or_default() += segments;
                }
            }
        }
    }
    // In account order, so concurrent transactions lock rows alike.
    for (account, (released, returned)) in moves {
        sqlx::query(RELEASE_RESERVED)
            .bind(released)
            .bind(returned)
            .bind(now)
            .bind(&account)
            .execute(&mut *tx)
            .await?;
    }
    for ((account, period), n) in package_back {
        add_package_use(tx, &account, &period, -n).await?;
    }
    for ((account, user, period), n) in user_back {
        sqlx::query(
            "UPDATE user_usage SET segments = segments - $1 WHERE account_id = $2 AND user_id = $3 AND period = $4",
        )
        .bind(n)
        .bind(&account)
        .bind(&user)
        .bind(&period)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Re-prices the settled charges of messages that went out in another
/// number of segments than they were charged for (`sent`: message id,
/// segments sent), in the transaction that records them sent. A segment
/// more costs the charge's unit price, the period's package segments
/// first; what the balance cannot pay is owed (the message is gone, as a
/// received one cannot be refused). A segment fewer is given back, paid
/// segments before included ones. The quota use of the charge's user
/// follows. Messages without a settled charge are left alone.
pub(super) async fn reprice(tx: &mut AnyConnection, sent: &[(String, i64)], now: i64) -> sqlx::Result<()> {
    let dialect = Dialect::of(tx);
    let wanted: HashMap<&str, i64> = sent.iter().map(|(id, n)| (id.as_str(), *n)).collect();
    let ids: Vec<&str> = wanted.keys().copied().collect();
    let mut charges = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut sql = Sql::new(dialect);
        sql.push(
            "SELECT message_id, account_id, user_id, segments, included, unit_price, amount, period
             FROM message_charges WHERE direction = 'outbound' AND state = 'settled' AND message_id IN (",
        )
        .list(chunk)
        .push(")");
        for r in sql.query().fetch_all(&mut *tx).await? {
            charges.push(ChargedMessage {
                message_id: r.try_get(0)?,
                account_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                segments: r.try_get(3)?,
                included: r.try_get(4)?,
                unit_price: r.try_get(5)?,
                amount: r.try_get(6)?,
                period: r.try_get(7)?,
            });
        }
    }
    // In account order, so concurrent transactions lock rows alike; what
    // is given back before what is charged more.
    charges.sort_by_key(|c| (c.account_id.clone(), wanted[c.message_id.as_str()] - c.segments));
    for c in charges {
        let segments = wanted[c.message_id.as_str()];
        let more = segments - c.segments;
        if more == 0 {
            continue;
        }
        lock_account(tx, &c.account_id).await?;
        let (included, amount) = if more > 0 {
            let packages = package_state(tx, &c.account_id, &c.period).await?;
            let take = (packages.included - packages.used).clamp(0, more);
            if take > 0 {
                add_package_use(tx, &c.account_id, &c.period, take).await?;
            }
            let extra = (more - take).saturating_mul(c.unit_price);
            take_or_owe(tx, &c.account_id, extra, now).await?;
            raise_alert_if_crossed(tx, &c.account_id, now).await?;
            (c.included + take, c.amount.saturating_add(extra))
        } else {
            let fewer = -more;
            let paid_back = fewer.min(c.segments - c.included);
            let included_back = fewer - paid_back;
            let back = paid_back.saturating_mul(c.unit_price).min(c.amount);
            sqlx::query(RELEASE_RESERVED)
                .bind(0i64)
                .bind(back)
                .bind(now)
                .bind(&c.account_id)
                .execute(&mut *tx)
                .await?;
            if included_back > 0 {
                add_package_use(tx, &c.account_id, &c.period, -included_back).await?;
            }
            (c.included - included_back, c.amount - back)
        };
        sqlx::query(
            "UPDATE message_charges SET segments = $1, included = $2, amount = $3, updated_at = $4
             WHERE message_id = $5",
        )
        .bind(segments)
        .bind(included)
        .bind(amount)
        .bind(now)
        .bind(&c.message_id)
        .execute(&mut *tx)
        .await?;
        if let Some(user) = &c.user_id {
            sqlx::query(
                "UPDATE user_usage SET segments = segments + $1 WHERE account_id = $2 AND user_id = $3 AND period = $4",
            )
            .bind(more)
            .bind(&c.account_id)
            .bind(user)
            .bind(&c.period)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// A settled charge [`reprice`] changes.
struct ChargedMessage {
    message_id: String,
    account_id: String,
    user_id: Option<String>,
    segments: i64,
    included: i64,
    unit_price: i64,
    amount: i64,
    period: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing(prices: &[(&str, i64)], included: i64, overage: Option<i64>) -> Pricing {
        Pricing {
            currency: Currency::parse("EUR").unwrap(),
            prices: prices.iter().map(|(p, v)| ((*p).to_owned(), *v)).collect(),
            packages: PackageUse { period: "2026-11".into(), included, used: 0, overage_price: overage },
            remaining: included,
        }
    }

    fn number(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s, None).unwrap()
    }

    #[tokio::test]
    async fn a_page_of_a_statement_is_read_in_order_from_an_index_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("billing.db").display());
        let store = Store::open(&url, 2, "normal").await.unwrap();
        let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {CHARGES_PAGE}")))
            .bind("acc")
            .bind(0i64)
            .bind(i64::MAX)
            .bind("")
            .bind(5_000i64)
            .fetch_all(&store.reader)
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>(3).unwrap()).collect();
        assert!(plan.iter().any(|p| p.contains("USING INDEX message_charges_account_time")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "no sort of the whole month: {plan:?}");
        store.close().await;
    }

    #[test]
    fn the_longest_prefix_wins() {
        let mut p = pricing(&[("4", 9), ("48", 5), ("4860", 3)], 0, None);
        let l = p.line(&number("+48600100200"), 2).unwrap();
        assert_eq!((l.prefix.as_str(), l.unit_price, l.amount), ("4860", 3, 6));
        let l = p.line(&number("+48512345678"), 1).unwrap();
        assert_eq!((l.prefix.as_str(), l.amount), ("48", 5));
        assert_eq!(l.country, "PL");
        let l = p.line(&number("+4915112345678"), 1).unwrap();
        assert_eq!(l.prefix, "4");
        assert!(p.line(&number("+12025550123"), 1).is_none());
    }

    #[test]
    fn included_segments_are_used_first_then_overage() {
        let mut p = pricing(&[("48", 5)], 3, Some(2));
        let a = p.line(&number("+48600100200"), 2).unwrap();
        assert_eq!((a.included, a.amount), (2, 0));
        let b = p.line(&number("+48600100201"), 2).unwrap();
        assert_eq!((b.included, b.unit_price, b.amount), (1, 2, 2));
        let c = p.line(&number("+48600100202"), 1).unwrap();
        assert_eq!((c.included, c.amount), (0, 2));
    }
}
