//! Billing work that runs on its own: low-balance alerts (raised in the
//! transaction that took the balance below the account's threshold, once
//! per crossing) are e-mailed here, and the monthly fees of packages and
//! inbound numbers are charged when a month begins. What things cost and
//! how money moves with messages is `storage/billing.rs`; the API is
//! `http/api/v1/billing.rs`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::BillingConfig;
use crate::mail::{Email, Mailer};
use crate::storage::{AlertJob, Store, now_micros, secs_to_micros};

/// Alerts handled per step at most.
const BATCH: usize = 50;

pub struct BillingWorker {
    store: Store,
    mailer: Mailer,
    config: BillingConfig,
}

impl BillingWorker {
    pub fn new(store: Store, mailer: Mailer, config: BillingConfig) -> Self {
        Self { store, mailer, config }
    }

    /// Charges the month's fees not charged yet and sends due alerts.
    /// Returns (fees charged, alerts handled).
    pub async fn step(&self) -> anyhow::Result<(usize, usize)> {
        let now = now_micros();
        let fees = self.store.charge_monthly_fees(now).await?;
        let retry = secs_to_micros(self.config.alert_retry_secs);
        let alerts = self.store.due_alerts(now, retry, BATCH).await?;
        let handled = alerts.len();
        for alert in alerts {
            self.send(&alert).await?;
        }
        Ok((fees, handled))
    }

    async fn send(&self, alert: &AlertJob) -> anyhow::Result<()> {
        let Some(to) = alert.email.as_deref() else {
            self.store.finish_alert(&alert.id, "dropped", Some("the account has no alert_email")).await?;
            return Ok(());
        };
        let c = alert.currency;
        let email = Email {
            to: to.to_owned(),
            subject: format!("Kurier: the balance of {} is low", alert.account_name),
            text: format!(
                "The prepaid balance of account {} is {} {}, below the alert threshold of {} {}.\n\
                 Messages that cost more than the balance are refused. Top up to keep sending.\n",
                alert.account_name,
                c.format(alert.balance),
                c,
                c.format(alert.threshold),
                c,
            ),
            ..Email::default()
        };
        match self.mailer.send(&email).await {
            Ok(()) => self.store.finish_alert(&alert.id, "sent", None).await?,
            Err(e) if e.is_permanent() || alert.attempts >= i64::from(self.config.alert_max_attempts) => {
                tracing::warn!(account = %alert.account_name, error = %e, "low-balance alert not sent");
                self.store.finish_alert(&alert.id, "failed", Some(&e.to_string())).await?;
            }
            Err(e) => {
                tracing::warn!(account = %alert.account_name, error = %e, "low-balance alert will be tried again");
            }
        }
        Ok(())
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let every = Duration::from_secs(self.config.poll_secs.max(1));
        loop {
            if let Err(e) = self.step().await {
                tracing::error!(error = %format!("{e:#}"), "billing step failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
