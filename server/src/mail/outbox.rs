//! The e-mail outbox worker: sends the e-mails that forward received
//! messages or tell a person about one (queued by `inbound` with the
//! message's match), like the webhook sender does callbacks — claimed under
//! a lease so several nodes share the work, one SMTP conversation each.
//!
//! A mail server that cannot be reached or answers "try later" gets the
//! e-mail again with exponential backoff (`smtp.retry_base_ms` doubling up
//! to `smtp.retry_max_ms`) until `smtp.retry_window_secs` after it was
//! queued; a refusal (unknown mailbox, no `[smtp]` at all) fails it at once
//! with the reason. Every attempt is logged; an e-mail can be sent again
//! by hand (`/api/v1/emails/deliveries/{id}/resend`), which opens a new
//! window. Nothing is lost on a crash: a claimed e-mail whose lease runs
//! out is claimed again. The lease covers the whole batch (each SMTP
//! conversation lasts `smtp.timeout_secs` at most), and only the claim
//! holding an e-mail sends it and records the attempt: should a lease lapse
//! all the same and another node take the e-mail, the first node neither
//! sends nor records it.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use tokio_util::sync::CancellationToken;

use super::{Email, Mailer};
use crate::config::SmtpConfig;
use crate::storage::{MailJob, MailResult, Store, duration_micros, now_micros};

/// E-mails claimed per step.
const CLAIM_BATCH: usize = 50;
/// E-mails sent at once.
const CONCURRENCY: usize = 4;
/// Added to a lease over what the SMTP conversations it covers may take,
/// for recording their attempts.
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// How often an idle worker looks for due e-mails.
const POLL: Duration = Duration::from_millis(200);

/// How long a batch of `CLAIM_BATCH` e-mails is reserved for this worker:
/// as long as sending them `CONCURRENCY` at a time may take, each SMTP
/// conversation taking `timeout` at most (a slot starts its next e-mail as
/// one ends, so each round of `CONCURRENCY` ends within one `timeout`),
/// plus a margin. A crashed node's e-mails wait this long.
pub fn batch_lease(timeout: Duration) -> Duration {
    let rounds = u32::try_from(CLAIM_BATCH.div_ceil(CONCURRENCY)).unwrap_or(u32::MAX);
    timeout.saturating_mul(rounds).saturating_add(LEASE_MARGIN)
}

pub struct MailOutbox {
    store: Store,
    /// This node's name, in its claims.
    node: String,
    mailer: Mailer,
    retry_base: Duration,
    retry_max: Duration,
    window: Duration,
}

impl MailOutbox {
    pub fn new(store: Store, node: String, config: &SmtpConfig) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            node,
            mailer: Mailer::new(config)?,
            retry_base: Duration::from_millis(config.retry_base_ms),
            retry_max: Duration::from_millis(config.retry_max_ms),
            window: Duration::from_secs(config.retry_window_secs),
        })
    }

    /// Sends every due e-mail once; returns how many were attempted.
    pub async fn step(&self) -> anyhow::Result<usize> {
        let now = now_micros();
        let lease = batch_lease(self.mailer.timeout());
        let jobs =
            self.store.claim_mail(&self.node, now, now + lease.as_micros() as i64, CLAIM_BATCH).await?;
        let n = jobs.len();
        stream::iter(jobs)
            .for_each_concurrent(CONCURRENCY, |mut job| async move {
                if let Err(e) = self.attempt(&mut job).await {
                    tracing::error!(email_id = %job.id, error = %e, "recording an e-mail attempt failed");
                }
            })
            .await;
        Ok(n)
    }

    async fn attempt(&self, job: &mut MailJob) -> anyhow::Result<()> {
        // The claim must hold the e-mail for the whole conversation: lost
        // (the lease lapsed and another node took it), it is that node's.
        let until = now_micros() + self.mailer.timeout().saturating_add(LEASE_MARGIN).as_micros() as i64;
        if !self.store.hold_mail(job, until).await? {
            tracing::warn!(email_id = %job.id, "e-mail taken over by another node; not sent here");
            return Ok(());
        }
        let started = Instant::now();
        let email = Email {
            to: job.to.clone(),
            subject: job.subject.clone(),
            text: job.body.clone(),
            ..Default::default()
        };
        let result = match self.mailer.send(&email).await {
            Ok(()) => MailResult::Sent,
            Err(e) if e.is_permanent() => MailResult::Failed(e.to_string()),
            Err(e) => {
                let now = now_micros();
                let until = job
                    .retry_until
                    .unwrap_or_else(|| job.created_at.saturating_add(duration_micros(self.window)));
                if now >= until {
                    MailResult::Failed(format!("{e}; gave up after retrying for {}s", self.window.as_secs()))
                } else {
                    let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX);
                    let delay = self.retry_base.saturating_mul(1u32 << attempts.min(20)).min(self.retry_max);
                    MailResult::RetryAt(now.saturating_add(duration_micros(delay)).min(until), e.to_string())
                }
            }
        };
        match &result {
            MailResult::Sent => tracing::info!(email_id = %job.id, "e-mail sent"),
            MailResult::RetryAt(_, e) => {
                tracing::warn!(email_id = %job.id, error = %e, "e-mail not sent; will retry")
            }
            MailResult::Failed(e) => tracing::warn!(email_id = %job.id, error = %e, "e-mail failed"),
        }
        let took = started.elapsed().as_millis() as i64;
        if !self.store.record_mail_attempt(job, &result, now_micros(), took).await? {
            tracing::warn!(email_id = %job.id, "e-mail taken over by another node; attempt not recorded here");
        }
        Ok(())
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let busy = match self.step().await {
                Ok(n) => n == CLAIM_BATCH,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "e-mail outbox step failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stays_leased_while_every_e_mail_of_it_takes_the_whole_smtp_timeout() {
        for secs in [1, 30, 120] {
            let timeout = Duration::from_secs(secs);
            let rounds = CLAIM_BATCH.div_ceil(CONCURRENCY) as u32;
            assert!(batch_lease(timeout) > timeout * rounds, "smtp.timeout_secs = {secs}");
        }
    }
}
